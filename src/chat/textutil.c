/*
 * textutil.c — text helpers for the chat renderer: Python's str.strip() (the Jinja `trim`
 * filter), and a JSON writer that reproduces Python's json.dumps(ensure_ascii=False, indent=...) byte for byte,
 * which is what the transformers `tojson` filter in the Llama 3.1+ templates produces.
 *
 * json.dumps rules reproduced: object keys in insertion order (jansson >= 2.8 keeps it); separators ", " and
 * ": " on one line, "," and ": " with an indent; empty containers as {} and []; strings escape only '"', '\\'
 * and U+0000..U+001F (\n \r \t \b \f, others as \u00xx with lowercase hex), everything else is written as UTF-8;
 * integers in decimal; floats as Python's repr (shortest round-trip digits; exponent form when the decimal
 * exponent is < -4 or >= 16, e.g. 1e-05 and 1e+16; a ".0" suffix otherwise when there is no fraction).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chat/chat_internal.h"

/* ---------------------------------------------------------------------------------------------------------
 * str.strip()
 * ------------------------------------------------------------------------------------------------------- */

/* Decodes the code point at s[i] (s is valid UTF-8); returns its byte length. */
static size_t utf8_at(const unsigned char *s, size_t n, size_t i, unsigned *cp)
{
    unsigned c = s[i];
    if (c < 0x80 || i + 1 >= n) {
        *cp = c;
        return 1;
    }
    if ((c & 0xE0) == 0xC0) {
        *cp = ((c & 0x1F) << 6) | (s[i + 1] & 0x3F);
        return 2;
    }
    if ((c & 0xF0) == 0xE0 && i + 2 < n) {
        *cp = ((c & 0x0F) << 12) | ((unsigned)(s[i + 1] & 0x3F) << 6) | (s[i + 2] & 0x3F);
        return 3;
    }
    if ((c & 0xF8) == 0xF0 && i + 3 < n) {
        *cp = ((c & 0x07) << 18) | ((unsigned)(s[i + 1] & 0x3F) << 12) | ((unsigned)(s[i + 2] & 0x3F) << 6) |
              (s[i + 3] & 0x3F);
        return 4;
    }
    *cp = c;
    return 1;
}

/* Python's str.isspace(): bidirectional class WS, B or S, or category Zs. */
static int py_isspace(unsigned cp)
{
    if ((cp >= 0x09 && cp <= 0x0D) || (cp >= 0x1C && cp <= 0x20))
        return 1;
    switch (cp) {
    case 0x85: case 0xA0: case 0x1680: case 0x2028: case 0x2029: case 0x202F: case 0x205F: case 0x3000:
        return 1;
    }
    return cp >= 0x2000 && cp <= 0x200A;
}

void lc_py_strip(const char *str, size_t len, size_t *start, size_t *n)
{
    const unsigned char *s = (const unsigned char *)str;
    size_t a = 0, b = len;
    while (a < b) {
        unsigned cp;
        size_t k = utf8_at(s, len, a, &cp);
        if (!py_isspace(cp))
            break;
        a += k;
    }
    while (b > a) {
        size_t j = b - 1; /* step back to the start of the last code point */
        while (j > a && (s[j] & 0xC0) == 0x80 && b - j < 4)
            j--;
        unsigned cp;
        utf8_at(s, len, j, &cp);
        if (!py_isspace(cp))
            break;
        b = j;
    }
    *start = a;
    *n = b - a;
}

/* ---------------------------------------------------------------------------------------------------------
 * Python-compatible JSON
 * ------------------------------------------------------------------------------------------------------- */
static void put_json_string(lc_buf *out, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    lc_buf_putc(out, '"');
    size_t run = 0; /* start of the pending run of bytes that need no escape */
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        const char *esc = NULL;
        char u[7];
        if (c == '"')
            esc = "\\\"";
        else if (c == '\\')
            esc = "\\\\";
        else if (c == '\n')
            esc = "\\n";
        else if (c == '\r')
            esc = "\\r";
        else if (c == '\t')
            esc = "\\t";
        else if (c == '\b')
            esc = "\\b";
        else if (c == '\f')
            esc = "\\f";
        else if (c < 0x20) {
            u[0] = '\\', u[1] = 'u', u[2] = '0', u[3] = '0', u[4] = hex[c >> 4], u[5] = hex[c & 15], u[6] = 0;
            esc = u;
        }
        if (esc) {
            lc_buf_put(out, s + run, i - run);
            lc_buf_puts(out, esc);
            run = i + 1;
        }
    }
    lc_buf_put(out, s + run, n - run);
    lc_buf_putc(out, '"');
}

/* Python repr(float) for a finite double. */
static void put_py_float(lc_buf *out, double x)
{
    char tmp[40];
    if (!isfinite(x)) { /* not reachable from parsed JSON; written as Python would */
        lc_buf_puts(out, isnan(x) ? "NaN" : x > 0 ? "Infinity" : "-Infinity");
        return;
    }
    int prec;
    for (prec = 1; prec <= 17; prec++) {
        snprintf(tmp, sizeof tmp, "%.*e", prec - 1, x);
        if (strtod(tmp, NULL) == x)
            break;
    }
    /* tmp = [-]d[.ddd]e[+-]XX : collect digits and the decimal exponent */
    const char *p = tmp;
    int neg = 0;
    if (*p == '-')
        neg = 1, p++;
    char digits[24];
    int nd = 0;
    for (; *p && *p != 'e'; p++)
        if (*p >= '0' && *p <= '9')
            digits[nd++] = *p;
    int exp10 = atoi(p + 1);
    while (nd > 1 && digits[nd - 1] == '0')
        nd--;
    digits[nd] = 0;
    if (neg)
        lc_buf_putc(out, '-');
    if (exp10 < -4 || exp10 >= 16) {
        lc_buf_putc(out, digits[0]);
        if (nd > 1) {
            lc_buf_putc(out, '.');
            lc_buf_put(out, digits + 1, (size_t)nd - 1);
        }
        lc_buf_printf(out, "e%c%02d", exp10 < 0 ? '-' : '+', exp10 < 0 ? -exp10 : exp10);
    } else if (exp10 < 0) {
        lc_buf_puts(out, "0.");
        for (int i = 0; i < -exp10 - 1; i++)
            lc_buf_putc(out, '0');
        lc_buf_put(out, digits, (size_t)nd);
    } else {
        int int_digits = exp10 + 1;
        for (int i = 0; i < int_digits; i++)
            lc_buf_putc(out, i < nd ? digits[i] : '0');
        lc_buf_putc(out, '.');
        if (nd > int_digits)
            lc_buf_put(out, digits + int_digits, (size_t)(nd - int_digits));
        else
            lc_buf_putc(out, '0');
    }
}

static void newline_indent(lc_buf *out, int indent, int level)
{
    lc_buf_putc(out, '\n');
    for (int i = 0; i < indent * level; i++)
        lc_buf_putc(out, ' ');
}

static void dump(const json_t *v, int indent, int level, lc_buf *out)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT: {
        if (json_object_size(v) == 0) {
            lc_buf_puts(out, "{}");
            return;
        }
        lc_buf_putc(out, '{');
        const char *key;
        json_t *val;
        int first = 1;
        json_object_foreach((json_t *)v, key, val) {
            if (!first)
                lc_buf_puts(out, indent >= 0 ? "," : ", ");
            first = 0;
            if (indent >= 0)
                newline_indent(out, indent, level + 1);
            put_json_string(out, key, strlen(key));
            lc_buf_puts(out, ": ");
            dump(val, indent, level + 1, out);
        }
        if (indent >= 0)
            newline_indent(out, indent, level);
        lc_buf_putc(out, '}');
        return;
    }
    case JSON_ARRAY: {
        size_t n = json_array_size(v);
        if (n == 0) {
            lc_buf_puts(out, "[]");
            return;
        }
        lc_buf_putc(out, '[');
        for (size_t i = 0; i < n; i++) {
            if (i)
                lc_buf_puts(out, indent >= 0 ? "," : ", ");
            if (indent >= 0)
                newline_indent(out, indent, level + 1);
            dump(json_array_get(v, i), indent, level + 1, out);
        }
        if (indent >= 0)
            newline_indent(out, indent, level);
        lc_buf_putc(out, ']');
        return;
    }
    case JSON_STRING:
        put_json_string(out, json_string_value(v), json_string_length(v));
        return;
    case JSON_INTEGER:
        lc_buf_printf(out, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        return;
    case JSON_REAL:
        put_py_float(out, json_real_value(v));
        return;
    case JSON_TRUE:
        lc_buf_puts(out, "true");
        return;
    case JSON_FALSE:
        lc_buf_puts(out, "false");
        return;
    case JSON_NULL:
        lc_buf_puts(out, "null");
        return;
    }
}

void lc_pyjson_dump(const json_t *v, int indent, lc_buf *out)
{
    dump(v, indent, 0, out);
}
