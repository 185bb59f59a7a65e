/*
 * buf.c — growable memory (see buf.h): lc_array_reserve for arrays, lc_buf for bytes. Capacities double, so
 * appending n items costs O(n) amortized; every size computation is checked against SIZE_MAX first.
 */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/buf.h"

void *lc_array_reserve(void *p, size_t elem, size_t *cap, size_t n, size_t extra)
{
    if (elem == 0 || n > SIZE_MAX - extra)
        return NULL;
    size_t need = n + extra;
    if (p && need <= *cap)
        return p;
    size_t c = *cap >= 16 ? *cap : 16;
    while (c < need) {
        if (c > SIZE_MAX / 2)
            return NULL;
        c *= 2;
    }
    if (c > SIZE_MAX / elem)
        return NULL;
    void *np = realloc(p, c * elem);
    if (!np)
        return NULL;
    *cap = c;
    return np;
}

void lc_buf_put(lc_buf *b, const void *s, size_t n)
{
    if (b->oom)
        return;
    char *p = n < SIZE_MAX ? lc_array_reserve(b->p, 1, &b->cap, b->len, n + 1) : NULL; /* + the NUL */
    if (!p) {
        b->oom = 1;
        return;
    }
    b->p = p;
    if (n)
        memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = 0;
}

void lc_buf_puts(lc_buf *b, const char *s)
{
    lc_buf_put(b, s, strlen(s));
}

void lc_buf_putc(lc_buf *b, char c)
{
    lc_buf_put(b, &c, 1);
}

void lc_buf_printf(lc_buf *b, const char *fmt, ...)
{
    if (b->oom)
        return;
    char small[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0) {
        b->oom = 1; /* an encoding error: treat like a failed append */
        return;
    }
    if ((size_t)n < sizeof small) {
        lc_buf_put(b, small, (size_t)n);
        return;
    }
    char *p = lc_array_reserve(b->p, 1, &b->cap, b->len, (size_t)n + 1);
    if (!p) {
        b->oom = 1;
        return;
    }
    b->p = p;
    va_start(ap, fmt);
    vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

void lc_buf_free(lc_buf *b)
{
    free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
    b->oom = 0;
}
