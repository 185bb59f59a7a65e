/*
 * test_buf.c — the growable-memory helper (src/util/buf.c): lc_array_reserve's growth, its refusal of sizes
 * that overflow (leaving the array untouched), and lc_buf's appends, printf (short and long), NUL termination
 * and sticky out-of-memory state.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "util/buf.h"

static void test_array(void)
{
    size_t cap = 0;
    int32_t *a = lc_array_reserve(NULL, sizeof *a, &cap, 0, 0);
    CHECK(a && cap >= 1, "an empty reserve still allocates (cap %zu)", cap);
    size_t n = 0;
    int ok = 1;
    for (int i = 0; i < 100000; i++) {
        int32_t *b = lc_array_reserve(a, sizeof *a, &cap, n, 1);
        if (!b) {
            ok = 0;
            break;
        }
        a = b;
        a[n++] = i;
        ok &= cap >= n;
    }
    int same = 1;
    for (int i = 0; i < 100000; i++)
        same &= a[i] == i;
    CHECK(ok && same, "100000 pushes keep their values");
    CHECK(cap < 2 * 131072 + 1, "capacity doubles, no more: %zu", cap);
    size_t before = cap;
    CHECK(lc_array_reserve(a, sizeof *a, &cap, n, 0) == a && cap == before, "no growth when there is room");
    CHECK(lc_array_reserve(a, sizeof *a, &cap, SIZE_MAX - 3, 10) == NULL && cap == before, "n + extra overflows");
    CHECK(lc_array_reserve(a, sizeof *a, &cap, 0, SIZE_MAX / 2) == NULL && cap == before, "bytes overflow");
    CHECK(lc_array_reserve(a, 0, &cap, 0, 1) == NULL, "zero element size refused");
    CHECK(a[99999] == 99999, "a refused reserve leaves the array alone");
    free(a);
}

static void test_buf(void)
{
    lc_buf b = {0};
    lc_buf_puts(&b, "");
    CHECK(b.p && b.len == 0 && b.p[0] == 0, "an empty append gives an empty C string");
    lc_buf_puts(&b, "abc");
    lc_buf_putc(&b, 'd');
    lc_buf_put(&b, "e\0f", 3);
    CHECK(b.len == 7 && !memcmp(b.p, "abcde\0f", 8), "put / puts / putc, NULs inside, NUL after");
    lc_buf_printf(&b, "[%d|%s]", 42, "x");
    CHECK(b.len == 13 && !strcmp(b.p + 7, "[42|x]"), "printf: '%s'", b.p + 7);
    char big[1000];
    memset(big, 'z', sizeof big - 1);
    big[sizeof big - 1] = 0;
    lc_buf_printf(&b, "<%s>%d", big, 7);
    CHECK(b.len == 13 + 1002 && b.p[13] == '<' && b.p[13 + 1000] == '>' && !strcmp(b.p + 13 + 1001, "7"),
          "a long printf (%zu bytes)", b.len);
    CHECK(b.cap > b.len && !b.oom, "room for the NUL");
    size_t len = b.len;
    b.oom = 1; /* as after a failed append */
    lc_buf_puts(&b, "more");
    lc_buf_printf(&b, "%d", 1);
    CHECK(b.len == len, "appends after a failure are ignored");
    lc_buf_put(&b, "", SIZE_MAX); /* would overflow: stays failed, nothing written */
    b.oom = 0;
    lc_buf_put(&b, "", SIZE_MAX);
    CHECK(b.oom && b.len == len, "an append of SIZE_MAX bytes fails cleanly");
    lc_buf_free(&b);
    CHECK(!b.p && !b.len && !b.cap && !b.oom, "free resets the buffer");
    lc_buf_free(&b);
}

int main(void)
{
    test_array();
    test_buf();
    return check_finish("test_buf");
}
