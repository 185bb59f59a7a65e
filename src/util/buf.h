/*
 * buf.h — the library's one growable-memory helper: a byte buffer (string builder) and a reserve function for
 * arrays of any element type. Every growable buffer and array in src/ goes through these, so the capacity
 * arithmetic (doubling, overflow checks) is written once.
 *
 * Invariants of an lc_buf (start it as {0}): len < cap and p[len] == 0 once anything was appended, so p is a C
 * string when the bytes hold no NUL; after a failed append oom stays 1, the contents stop at the last
 * successful append and further appends are ignored, so a caller checks once at the end.
 */
#ifndef LC_BUF_H
#define LC_BUF_H

#include <stddef.h>

/* Returns an array (of elem-byte elements, *cap of them allocated at p; p may be NULL when *cap is 0) with room
 * for n + extra elements, growing it by doubling (at least 16 elements); *cap is updated. Returns NULL, with
 * p and *cap unchanged (the caller still owns p), when the size overflows or memory runs out. Never returns
 * NULL on success, even for n + extra == 0. */
void *lc_array_reserve(void *p, size_t elem, size_t *cap, size_t n, size_t extra);

typedef struct lc_buf {
    char *p;    /* malloc'ed, NUL-terminated (see above); free with lc_buf_free */
    size_t len; /* bytes in use, excluding the NUL */
    size_t cap;
    int oom;    /* an append failed (sticky) */
} lc_buf;

void lc_buf_put(lc_buf *b, const void *s, size_t n);
void lc_buf_puts(lc_buf *b, const char *s);
void lc_buf_putc(lc_buf *b, char c);
#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
void lc_buf_printf(lc_buf *b, const char *fmt, ...);
/* Frees p and resets *b to {0}. */
void lc_buf_free(lc_buf *b);

#endif
