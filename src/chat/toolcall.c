/*
 * toolcall.c — turns a model's answer into OpenAI-style tool calls ([{"name":..., "arguments":{...}}]).
 *
 * Recognised (after trimming whitespace, a trailing <|eom_id|>/<|eot_id|>, and an optional leading
 * <|python_tag|>):
 *   {"name": N, "parameters"|"arguments": {...}}   also {"type":"function", ...} and {"type":"function",
 *                                                  "function":{...}}, and a JSON array of such objects
 *   <function=N>{...}</function> ...               one or more, the closing tag optional (Meta's 3.1 format)
 *   [f(a=1, b='x'), g()]                           Llama 3.2/3.3 pythonic list (pythonic.c)
 *   NAME.call(query="...")                         3.1 built-in tools (brave_search, wolfram_alpha, ...)
 *   anything else after <|python_tag|>             code_interpreter: {"code": text}
 * Decision rule: text that cannot be anything but a call attempt (JSON or a call list after <|python_tag|>,
 * "<function=", "NAME.call(", "[f(" ... "]") and does not parse is an error (LLAMAC_E_FORMAT); other text is an
 * ordinary answer (kind NONE). Nothing here reads outside the given bytes.
 */
#include <stdlib.h>
#include <string.h>

#include "chat/toolcall.h"

static int starts_with(const char *s, size_t n, const char *lit)
{
    size_t k = strlen(lit);
    return n >= k && !memcmp(s, lit, k);
}

static int ends_with(const char *s, size_t n, const char *lit)
{
    size_t k = strlen(lit);
    return n >= k && !memcmp(s + n - k, lit, k);
}

static void strip(const char **s, size_t *n)
{
    size_t a, k;
    lc_py_strip(*s, *n, &a, &k);
    *s += a;
    *n = k;
}

/* Normalises one JSON call object into {"name":..., "arguments":{...}}. Returns NULL with *why set when o is
 * not a call object. */
static json_t *json_call(const json_t *o, int require_args, const char **why)
{
    if (!json_is_object(o))
        return *why = "not a JSON object", NULL;
    const json_t *type = json_object_get(o, "type"), *fn = json_object_get(o, "function");
    if (json_is_string(type) && !strcmp(json_string_value(type), "function") && json_is_object(fn))
        o = fn;
    const json_t *name = json_object_get(o, "name");
    if (!json_is_string(name) || json_string_length(name) == 0)
        return *why = "the JSON object has no \"name\"", NULL;
    const json_t *args = json_object_get(o, "parameters");
    if (!args)
        args = json_object_get(o, "arguments");
    if (!args && require_args) /* {"name": "Bob", "age": 3} is an answer, not a call */
        return *why = "the JSON object has no \"parameters\"", NULL;
    json_t *a;
    if (!args || json_is_null(args)) {
        a = json_object();
    } else if (json_is_object(args)) {
        a = json_deep_copy(args);
    } else if (json_is_string(args)) {
        a = json_loadb(json_string_value(args), json_string_length(args), 0, NULL);
        if (a && !json_is_object(a)) {
            json_decref(a);
            a = NULL;
        }
        if (!a)
            return *why = "\"arguments\" is a string that does not hold a JSON object", NULL;
    } else {
        return *why = "\"parameters\" must be an object", NULL;
    }
    json_t *c = a ? json_object() : NULL;
    if (!c || json_object_set(c, "name", (json_t *)name) || json_object_set_new(c, "arguments", a)) {
        if (!c)
            json_decref(a);
        json_decref(c);
        return *why = "out of memory", NULL;
    }
    return c;
}

/* "<function=NAME>{json}</function>" repeated. */
static llamac_status function_tags(const char *s, size_t n, json_t *calls, lc_err *e)
{
    static const char open[] = "<function=", close[] = "</function>";
    while (n > 0) {
        if (!starts_with(s, n, open))
            return lc_fail(e, LLAMAC_E_FORMAT, "tool call: expected '<function=' but found '%.*s'",
                           (int)(n < 20 ? n : 20), s);
        s += sizeof open - 1, n -= sizeof open - 1;
        size_t k = 0;
        while (k < n && s[k] != '>' && s[k] != '<' && s[k] != '\n' && s[k] != '{')
            k++;
        if (k == 0 || k >= n || s[k] != '>' || k > 200)
            return lc_fail(e, LLAMAC_E_FORMAT, "tool call: bad function name in <function=...>");
        json_t *name = json_stringn(s, k);
        if (!name)
            return lc_fail(e, LLAMAC_E_FORMAT, "tool call: the name in <function=...> is not valid UTF-8");
        s += k + 1, n -= k + 1;
        json_error_t je;
        json_t *args = json_loadb(s, n, JSON_DISABLE_EOF_CHECK, &je);
        if (!args || !json_is_object(args)) {
            json_decref(name);
            json_decref(args);
            return lc_fail(e, LLAMAC_E_FORMAT, "tool call: <function=...> arguments are not a JSON object%s%s",
                           args ? "" : ": ", args ? "" : je.text);
        }
        size_t used = (size_t)je.position;
        if (used > n)
            used = n;
        s += used, n -= used;
        json_t *c = json_object();
        if (!c) {
            json_decref(name);
            json_decref(args);
            return lc_fail(e, LLAMAC_E_NOMEM, "out of memory");
        }
        if (json_object_set_new(c, "name", name) || json_object_set_new(c, "arguments", args) ||
            json_array_append_new(calls, c)) {
            json_decref(c);
            return lc_fail(e, LLAMAC_E_NOMEM, "out of memory");
        }
        strip(&s, &n);
        if (starts_with(s, n, close)) {
            s += sizeof close - 1, n -= sizeof close - 1;
            strip(&s, &n);
        }
    }
    return LLAMAC_OK;
}

static llamac_status set_result(json_t *calls, llamac_tool_call_kind kind, llamac_tool_calls *out, lc_err *e)
{
    lc_buf b = {0};
    lc_pyjson_dump(calls, -1, &b);
    int n = (int)json_array_size(calls);
    json_decref(calls);
    if (b.oom) {
        lc_buf_free(&b);
        return lc_fail(e, LLAMAC_E_NOMEM, "out of memory");
    }
    out->kind = kind;
    out->n_calls = n;
    out->json = b.p;
    return LLAMAC_OK;
}

static llamac_status parse(llamac_chat_format fmt, const char *s, size_t n, llamac_tool_calls *out, lc_err *e)
{
    strip(&s, &n);
    for (;;) { /* trailing end-of-message tokens */
        if (ends_with(s, n, "<|eom_id|>") || ends_with(s, n, "<|eot_id|>"))
            n -= 10;
        else
            break;
        strip(&s, &n);
    }
    int tag = 0;
    if (starts_with(s, n, "<|python_tag|>")) {
        tag = 1;
        s += 14, n -= 14;
        strip(&s, &n);
    }
    if (fmt == LLAMAC_CHAT_LLAMA3_0)
        return LLAMAC_OK; /* Llama 3.0 has no tool calls */
    if (n == 0)
        return tag ? lc_fail(e, LLAMAC_E_FORMAT, "tool call: nothing after <|python_tag|>") : LLAMAC_OK;
    if (memchr(s, 0, n))
        return tag ? lc_fail(e, LLAMAC_E_FORMAT, "tool call: NUL byte in the call") : LLAMAC_OK;
    size_t k = 1;
    while (k < n && (s[k] == ' ' || s[k] == '\n' || s[k] == '\t' || s[k] == '\r'))
        k++;
    if (s[0] == '[' && k == n - 1 && s[k] == ']')
        return LLAMAC_OK; /* "[]": an empty call list is no call */

    json_t *calls = json_array();
    if (!calls)
        return lc_fail(e, LLAMAC_E_NOMEM, "out of memory");
    llamac_status st;
    const char *why = NULL;

    if (starts_with(s, n, "<function=")) {
        if ((st = function_tags(s, n, calls, e))) {
            json_decref(calls);
            return st;
        }
        return set_result(calls, LLAMAC_TOOL_CALL_FUNCTION_TAG, out, e);
    }

    const int json_obj = s[0] == '{', json_arr = s[0] == '[' && k < n && s[k] == '{';
    if (json_obj || json_arr) {
        json_error_t je;
        json_t *v = json_loadb(s, n, 0, &je);
        const int attempt = tag || (s[n - 1] == (json_obj ? '}' : ']') && memmem(s, n, "\"name\"", 6));
        if (!v) {
            json_decref(calls);
            return attempt ? lc_fail(e, LLAMAC_E_FORMAT, "tool call: malformed JSON: %s (at character %d)", je.text,
                                     je.position)
                           : LLAMAC_OK;
        }
        for (size_t i = 0; i < (json_obj ? 1 : json_array_size(v)); i++) {
            json_t *c = json_call(json_obj ? v : json_array_get(v, i), !tag, &why);
            if (!c || json_array_append_new(calls, c)) { /* valid JSON that is not a call: data, unless tagged */
                json_decref(v);
                json_decref(calls);
                return tag ? lc_fail(e, LLAMAC_E_FORMAT, "tool call: %s", why ? why : "out of memory") : LLAMAC_OK;
            }
        }
        json_decref(v);
        if (json_array_size(calls) == 0) {
            json_decref(calls);
            return tag ? lc_fail(e, LLAMAC_E_FORMAT, "tool call: empty JSON array") : LLAMAC_OK;
        }
        return set_result(calls, LLAMAC_TOOL_CALL_JSON, out, e);
    }
    json_decref(calls);

    if (s[0] == '[') {
        json_t *list;
        if (lc_pyparse_call_list(s, n, &list, e) == LLAMAC_OK)
            return set_result(list, LLAMAC_TOOL_CALL_PYTHONIC, out, e);
        const int attempt = lc_py_looks_like_call(s + 1, n - 1);
        if (attempt && (tag || s[n - 1] == ']'))
            return LLAMAC_E_FORMAT; /* message already in e */
        e->msg[0] = 0;
        if (!tag)
            return LLAMAC_OK;
    } else if (lc_py_looks_like_call(s, n)) {
        size_t j = 0;
        while (j < n && ((s[j] >= 'a' && s[j] <= 'z') || (s[j] >= 'A' && s[j] <= 'Z') || (s[j] >= '0' && s[j] <= '9') ||
                         s[j] == '_'))
            j++;
        if (starts_with(s + j, n - j, ".call(")) {
            json_t *call;
            if ((st = lc_pyparse_dotcall(s, n, &call, e)))
                return st;
            json_t *arr = json_array();
            if (!arr || json_array_append_new(arr, call)) {
                json_decref(arr);
                return lc_fail(e, LLAMAC_E_NOMEM, "out of memory");
            }
            return set_result(arr, LLAMAC_TOOL_CALL_BUILTIN, out, e);
        }
    }
    if (!tag)
        return LLAMAC_OK;
    /* code interpreter: the raw text after <|python_tag|> */
    json_t *args = json_object(), *call = json_object(), *arr = json_array();
    json_t *code = json_stringn(s, n);
    if (!code) {
        json_decref(args), json_decref(call), json_decref(arr);
        return lc_fail(e, LLAMAC_E_FORMAT, "tool call: the code after <|python_tag|> is not valid UTF-8");
    }
    if (!args || !call || !arr || json_object_set_new(args, "code", code) ||
        json_object_set_new(call, "name", json_string("code_interpreter")) ||
        json_object_set_new(call, "arguments", args) || json_array_append_new(arr, call)) {
        json_decref(arr);
        return lc_fail(e, LLAMAC_E_NOMEM, "out of memory");
    }
    return set_result(arr, LLAMAC_TOOL_CALL_CODE, out, e);
}

llamac_status llamac_chat_parse_tool_calls(llamac_chat_format format, const char *text, size_t len,
                                           llamac_tool_calls *out, char *err, size_t err_size)
{
    lc_err e = {{0}};
    if (out)
        memset(out, 0, sizeof *out);
    if (!out || (!text && len)) {
        lc_fail(&e, LLAMAC_E_INVALID_ARG, "parse_tool_calls: NULL argument");
        lc_err_copy(&e, err, err_size);
        return LLAMAC_E_INVALID_ARG;
    }
    if (format != LLAMAC_CHAT_LLAMA3_0 && format != LLAMAC_CHAT_LLAMA3_1 && format != LLAMAC_CHAT_LLAMA3_2 &&
        format != LLAMAC_CHAT_LLAMA3_3) {
        lc_fail(&e, LLAMAC_E_INVALID_ARG, "parse_tool_calls: %d is not a Llama 3 chat format", (int)format);
        lc_err_copy(&e, err, err_size);
        return LLAMAC_E_INVALID_ARG;
    }
    llamac_status st = parse(format, text ? text : "", len, out, &e);
    if (st) {
        memset(out, 0, sizeof *out);
        if (!e.msg[0])
            lc_fail(&e, st, "tool call: malformed");
    }
    lc_err_copy(&e, err, err_size);
    return st;
}
