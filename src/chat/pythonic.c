/*
 * pythonic.c — a small parser for the Python call syntax Llama 3.2/3.3 use for tool calls,
 * "[get_weather(city='Paris', days=3), get_time()]", and for 3.1 built-in calls, "brave_search.call(query=\"x\")".
 *
 * Grammar (a subset of Python expressions; nothing is evaluated):
 *   list   := '[' [call (',' call)* [',']] ']'          call := NAME '(' [kwarg (',' kwarg)* [',']] ')'
 *   kwarg  := NAME '=' value                             dotcall := NAME '.call' '(' kwargs ')'
 *   value  := string+ | number | True | False | None | list-of-values | tuple | dict
 *   string := [rRuU]? ('...' | "..." | '''...''' | """...""") with Python escapes (\n \t \\ \' \" \xHH \uXXXX
 *             \UXXXXXXXX \ooo, backslash-newline); adjacent literals are concatenated
 *   number := [+-]? decimal integer or float ("1", "-2.5", "1e3", ".5", "1_000")
 * JSON spellings true/false/null are accepted too (models sometimes mix them in). Values become JSON: tuples and
 * lists arrays, dicts objects (string keys only). Positional arguments, dotted function names in a list,
 * duplicate keywords and anything else are errors with a message naming the offset. Nesting is limited to 64
 * levels; the parser never reads outside s[0..n).
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chat/toolcall.h"

#define MAX_DEPTH 64

typedef struct pp {
    const char *s;
    size_t n, i;
    int depth;
    lc_err *e;
    int failed;
} pp;

static json_t *fail(pp *p, const char *what)
{
    if (!p->failed)
        lc_fail(p->e, LLAMAC_E_FORMAT, "tool call: %s at offset %zu", what, p->i);
    p->failed = 1;
    return NULL;
}

static void skip_ws(pp *p)
{
    while (p->i < p->n && (p->s[p->i] == ' ' || p->s[p->i] == '\t' || p->s[p->i] == '\n' || p->s[p->i] == '\r'))
        p->i++;
}

static int peek(const pp *p)
{
    return p->i < p->n ? (unsigned char)p->s[p->i] : -1;
}

static int is_name_start(int c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static int is_name_char(int c)
{
    return is_name_start(c) || (c >= '0' && c <= '9');
}

/* Reads a NAME into buf; 0 if there is none (or it is too long). */
static int read_name(pp *p, char *buf, size_t size)
{
    size_t start = p->i;
    if (!is_name_start(peek(p)))
        return 0;
    while (is_name_char(peek(p)))
        p->i++;
    size_t len = p->i - start;
    if (len >= size) {
        p->i = start;
        return 0;
    }
    memcpy(buf, p->s + start, len);
    buf[len] = 0;
    return 1;
}

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static void put_utf8(lc_buf *b, unsigned cp)
{
    char u[4];
    if (cp < 0x80) {
        u[0] = (char)cp;
        lc_buf_put(b, u, 1);
    } else if (cp < 0x800) {
        u[0] = (char)(0xC0 | (cp >> 6)), u[1] = (char)(0x80 | (cp & 0x3F));
        lc_buf_put(b, u, 2);
    } else if (cp < 0x10000) {
        u[0] = (char)(0xE0 | (cp >> 12)), u[1] = (char)(0x80 | ((cp >> 6) & 0x3F)), u[2] = (char)(0x80 | (cp & 0x3F));
        lc_buf_put(b, u, 3);
    } else {
        u[0] = (char)(0xF0 | (cp >> 18)), u[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
        u[2] = (char)(0x80 | ((cp >> 6) & 0x3F)), u[3] = (char)(0x80 | (cp & 0x3F));
        lc_buf_put(b, u, 4);
    }
}

/* One string literal (prefix and quotes included) appended to b. Returns 0 after fail(). */
static int string_literal(pp *p, lc_buf *b)
{
    int raw = 0;
    int c = peek(p);
    if (c == 'r' || c == 'R' || c == 'u' || c == 'U') {
        raw = c == 'r' || c == 'R';
        p->i++;
    }
    int q = peek(p);
    if (q != '\'' && q != '"')
        return fail(p, "expected a string"), 0;
    int triple = p->i + 2 < p->n && p->s[p->i + 1] == q && p->s[p->i + 2] == q;
    p->i += triple ? 3 : 1;
    for (;;) {
        if (p->i >= p->n)
            return fail(p, "unterminated string"), 0;
        c = (unsigned char)p->s[p->i];
        if (c == q) {
            if (!triple) {
                p->i++;
                return 1;
            }
            if (p->i + 2 < p->n && p->s[p->i + 1] == q && p->s[p->i + 2] == q) {
                p->i += 3;
                return 1;
            }
        }
        if ((c == '\n' || c == '\r') && !triple)
            return fail(p, "newline inside a string"), 0;
        if (c != '\\' || raw) {
            if (c == '\\' && raw && p->i + 1 < p->n) { /* raw strings keep \x but \' does not end them */
                lc_buf_put(b, p->s + p->i, 2);
                p->i += 2;
                continue;
            }
            lc_buf_putc(b, (char)c);
            p->i++;
            continue;
        }
        if (p->i + 1 >= p->n)
            return fail(p, "unterminated string"), 0;
        int x = (unsigned char)p->s[p->i + 1];
        p->i += 2;
        switch (x) {
        case '\n': break;
        case '\\': lc_buf_putc(b, '\\'); break;
        case '\'': lc_buf_putc(b, '\''); break;
        case '"': lc_buf_putc(b, '"'); break;
        case 'n': lc_buf_putc(b, '\n'); break;
        case 'r': lc_buf_putc(b, '\r'); break;
        case 't': lc_buf_putc(b, '\t'); break;
        case 'a': lc_buf_putc(b, '\a'); break;
        case 'b': lc_buf_putc(b, '\b'); break;
        case 'f': lc_buf_putc(b, '\f'); break;
        case 'v': lc_buf_putc(b, '\v'); break;
        case 'x': case 'u': case 'U': {
            int nd = x == 'x' ? 2 : x == 'u' ? 4 : 8;
            unsigned cp = 0;
            for (int k = 0; k < nd; k++) {
                int h = p->i < p->n ? hexval((unsigned char)p->s[p->i]) : -1;
                if (h < 0)
                    return fail(p, "bad \\x/\\u escape"), 0;
                cp = cp * 16 + (unsigned)h;
                p->i++;
            }
            if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF) || cp == 0)
                return fail(p, "escape is not a usable Unicode character"), 0;
            put_utf8(b, cp);
            break;
        }
        default:
            if (x >= '0' && x <= '7') {
                unsigned cp = (unsigned)(x - '0');
                for (int k = 0; k < 2 && p->i < p->n && p->s[p->i] >= '0' && p->s[p->i] <= '7'; k++)
                    cp = cp * 8 + (unsigned)(p->s[p->i++] - '0');
                if (cp == 0)
                    return fail(p, "NUL character in a string"), 0;
                put_utf8(b, cp);
            } else { /* Python keeps unknown escapes as they are */
                lc_buf_putc(b, '\\');
                lc_buf_putc(b, (char)x);
            }
        }
    }
}

static int at_string(const pp *p)
{
    int c = peek(p);
    if (c == '\'' || c == '"')
        return 1;
    if ((c == 'r' || c == 'R' || c == 'u' || c == 'U') && p->i + 1 < p->n)
        return p->s[p->i + 1] == '\'' || p->s[p->i + 1] == '"';
    return 0;
}

static json_t *string_value(pp *p)
{
    lc_buf b = {0};
    lc_buf_put(&b, "", 0);
    for (;;) {
        if (!string_literal(p, &b)) {
            lc_buf_free(&b);
            return NULL;
        }
        size_t save = p->i;
        skip_ws(p);
        if (!at_string(p)) {
            p->i = save;
            break;
        }
    }
    json_t *v = b.oom ? NULL : json_stringn(b.p, b.len);
    lc_buf_free(&b);
    return v ? v : fail(p, "string is not valid UTF-8");
}

static json_t *number_value(pp *p)
{
    char buf[128];
    size_t k = 0;
    int is_float = 0, digits = 0;
    int c = peek(p);
    if (c == '-' || c == '+') {
        buf[k++] = (char)c;
        p->i++;
    }
    /* an iteration stores at most two bytes (an exponent's 'e' and its sign), so stop two short of the end:
     * the terminating NUL always fits, and a number that fills the buffer is refused below */
    while (p->i < p->n && k < sizeof buf - 2) {
        c = (unsigned char)p->s[p->i];
        if (c >= '0' && c <= '9') {
            digits++;
        } else if (c == '_' && digits) {
            p->i++;
            continue;
        } else if (c == '.' || c == 'e' || c == 'E') {
            is_float = 1;
            if ((c == 'e' || c == 'E') && p->i + 1 < p->n && (p->s[p->i + 1] == '-' || p->s[p->i + 1] == '+')) {
                buf[k++] = (char)c;
                p->i++;
                c = (unsigned char)p->s[p->i];
            }
        } else {
            break;
        }
        buf[k++] = (char)c;
        p->i++;
    }
    buf[k] = 0;
    if (!digits || k >= sizeof buf - 2)
        return fail(p, k >= sizeof buf - 2 ? "number too long" : "bad number");
    char *end;
    if (!is_float) {
        long long v = strtoll(buf, &end, 10);
        if (*end || (v == LLONG_MAX || v == LLONG_MIN))
            return fail(p, "integer out of range");
        return json_integer(v);
    }
    double d = strtod(buf, &end);
    if (*end || d != d || d - d != 0)
        return fail(p, "bad number");
    return json_real(d);
}

static json_t *value(pp *p);

/* Items of a list/tuple up to `close`; returns an array. */
static json_t *sequence(pp *p, int close, int *n_commas)
{
    json_t *arr = json_array();
    *n_commas = 0;
    if (!arr)
        return fail(p, "out of memory");
    skip_ws(p);
    while (peek(p) != close) {
        json_t *v = value(p);
        if (!v || json_array_append_new(arr, v)) {
            json_decref(arr);
            return fail(p, "bad list item");
        }
        skip_ws(p);
        if (peek(p) == ',') {
            p->i++;
            ++*n_commas;
            skip_ws(p);
        } else if (peek(p) != close) {
            json_decref(arr);
            return fail(p, close == ']' ? "expected ',' or ']'" : "expected ',' or ')'");
        }
    }
    p->i++;
    return arr;
}

static json_t *dict(pp *p)
{
    json_t *obj = json_object();
    if (!obj)
        return fail(p, "out of memory");
    skip_ws(p);
    while (peek(p) != '}') {
        if (!at_string(p)) {
            json_decref(obj);
            return fail(p, "dict keys must be strings");
        }
        json_t *k = string_value(p);
        if (!k) {
            json_decref(obj);
            return NULL;
        }
        skip_ws(p);
        if (peek(p) != ':') {
            json_decref(k);
            json_decref(obj);
            return fail(p, "expected ':' in a dict");
        }
        p->i++;
        skip_ws(p);
        json_t *v = value(p);
        if (!v || json_object_setn_new(obj, json_string_value(k), json_string_length(k), v)) {
            json_decref(k);
            json_decref(obj);
            return fail(p, "bad dict value");
        }
        json_decref(k);
        skip_ws(p);
        if (peek(p) == ',') {
            p->i++;
            skip_ws(p);
        } else if (peek(p) != '}') {
            json_decref(obj);
            return fail(p, "expected ',' or '}'");
        }
    }
    p->i++;
    return obj;
}

static json_t *value(pp *p)
{
    if (++p->depth > MAX_DEPTH) {
        p->depth--;
        return fail(p, "nesting too deep");
    }
    json_t *v = NULL;
    skip_ws(p);
    int c = peek(p), n_commas;
    char name[16];
    if (at_string(p)) {
        v = string_value(p);
    } else if ((c >= '0' && c <= '9') || c == '-' || c == '+' || c == '.') {
        v = number_value(p);
    } else if (c == '[') {
        p->i++;
        v = sequence(p, ']', &n_commas);
    } else if (c == '(') {
        p->i++;
        v = sequence(p, ')', &n_commas);
        if (v && json_array_size(v) == 1 && n_commas == 0) { /* "(x)" is x, not a tuple */
            json_t *x = json_incref(json_array_get(v, 0));
            json_decref(v);
            v = x;
        }
    } else if (c == '{') {
        p->i++;
        v = dict(p);
    } else if (read_name(p, name, sizeof name)) {
        if (!strcmp(name, "True") || !strcmp(name, "true"))
            v = json_true();
        else if (!strcmp(name, "False") || !strcmp(name, "false"))
            v = json_false();
        else if (!strcmp(name, "None") || !strcmp(name, "null"))
            v = json_null();
        else
            v = fail(p, "a value must be a literal (string, number, True/False/None, list, dict), not a name");
    } else {
        v = fail(p, c < 0 ? "unexpected end of input" : "expected a value");
    }
    p->depth--;
    return v;
}

/* "(k=v, ...)" starting at '(' -> object */
static json_t *kwargs(pp *p, const char *fname)
{
    char key[128];
    json_t *obj = json_object();
    if (!obj)
        return fail(p, "out of memory");
    if (peek(p) != '(') {
        json_decref(obj);
        return fail(p, "expected '(' after the function name");
    }
    p->i++;
    skip_ws(p);
    while (peek(p) != ')') {
        size_t save = p->i;
        int named = read_name(p, key, sizeof key);
        skip_ws(p);
        if (!named || peek(p) != '=' || (p->i + 1 < p->n && p->s[p->i + 1] == '=')) {
            p->i = save;
            json_decref(obj);
            char msg[200];
            snprintf(msg, sizeof msg, "positional argument in the call to %.64s (arguments must be name=value)", fname);
            return fail(p, msg);
        }
        p->i++;
        if (json_object_get(obj, key)) {
            json_decref(obj);
            return fail(p, "keyword argument repeated");
        }
        json_t *v = value(p);
        if (!v || json_object_set_new(obj, key, v)) {
            json_decref(obj);
            return fail(p, "bad argument value");
        }
        skip_ws(p);
        if (peek(p) == ',') {
            p->i++;
            skip_ws(p);
        } else if (peek(p) != ')') {
            json_decref(obj);
            return fail(p, "expected ',' or ')' in an argument list");
        }
    }
    p->i++;
    return obj;
}

static json_t *make_call(const char *name, json_t *args)
{
    json_t *c = json_object();
    if (!c || json_object_set_new(c, "name", json_string(name)) || json_object_set_new(c, "arguments", args)) {
        json_decref(c);
        return NULL;
    }
    return c;
}

llamac_status lc_pyparse_call_list(const char *s, size_t n, json_t **calls, lc_err *e)
{
    pp p = {.s = s, .n = n, .e = e};
    char name[128];
    *calls = NULL;
    skip_ws(&p);
    if (peek(&p) != '[')
        return lc_fail(e, LLAMAC_E_FORMAT, "tool call: expected '['");
    p.i++;
    json_t *arr = json_array();
    if (!arr)
        return lc_fail(e, LLAMAC_E_NOMEM, "out of memory");
    skip_ws(&p);
    while (peek(&p) != ']') {
        if (!read_name(&p, name, sizeof name)) {
            fail(&p, "expected a function name");
            goto bad;
        }
        skip_ws(&p);
        if (peek(&p) == '.') {
            fail(&p, "dotted function names are not supported in a call list");
            goto bad;
        }
        json_t *args = kwargs(&p, name);
        if (!args)
            goto bad;
        json_t *c = make_call(name, args);
        if (!c || json_array_append_new(arr, c)) {
            lc_fail(e, LLAMAC_E_NOMEM, "out of memory");
            goto bad;
        }
        skip_ws(&p);
        if (peek(&p) == ',') {
            p.i++;
            skip_ws(&p);
        } else if (peek(&p) != ']') {
            fail(&p, peek(&p) < 0 ? "unterminated call list" : "expected ',' or ']' after a call");
            goto bad;
        }
    }
    p.i++;
    skip_ws(&p);
    if (p.i != n) {
        fail(&p, "text after the call list");
        goto bad;
    }
    if (json_array_size(arr) == 0) {
        fail(&p, "empty call list");
        goto bad;
    }
    *calls = arr;
    return LLAMAC_OK;
bad:
    json_decref(arr);
    return LLAMAC_E_FORMAT;
}

llamac_status lc_pyparse_dotcall(const char *s, size_t n, json_t **call, lc_err *e)
{
    pp p = {.s = s, .n = n, .e = e};
    char name[128];
    *call = NULL;
    skip_ws(&p);
    if (!read_name(&p, name, sizeof name))
        return lc_fail(e, LLAMAC_E_FORMAT, "tool call: expected a tool name");
    if (p.n - p.i < 5 || memcmp(p.s + p.i, ".call", 5))
        return lc_fail(e, LLAMAC_E_FORMAT, "tool call: expected '%s.call(...)'", name);
    p.i += 5;
    json_t *args = kwargs(&p, name);
    if (!args)
        return LLAMAC_E_FORMAT;
    skip_ws(&p);
    if (p.i != n) {
        json_decref(args);
        fail(&p, "text after the built-in tool call");
        return LLAMAC_E_FORMAT;
    }
    if (!(*call = make_call(name, args)))
        return lc_fail(e, LLAMAC_E_NOMEM, "out of memory");
    return LLAMAC_OK;
}

int lc_py_looks_like_call(const char *s, size_t n)
{
    pp p = {.s = s, .n = n};
    char name[128];
    skip_ws(&p);
    if (!read_name(&p, name, sizeof name))
        return 0;
    skip_ws(&p);
    return peek(&p) == '(' || (p.n - p.i >= 6 && !memcmp(p.s + p.i, ".call(", 6));
}
