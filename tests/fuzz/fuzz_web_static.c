/*
 * fuzz_web_static.c — libFuzzer target for the chat page's request handling (tools/llamac/web_static.c): the
 * If-None-Match and Accept-Encoding parsers and the path lookup must accept any bytes, never read past a string's
 * end, and always give one of the documented answers. Built by `make fuzz` / `make fuzz-ci` with
 * tools/llamac/web_static.c and the generated file table (tests/fuzz/CMakeLists.txt).
 *
 * The input is cut at its first three NUL bytes into method, path, If-None-Match and Accept-Encoding (missing
 * parts are NULL headers); each part is copied into its own exact-size buffer so ASan sees any over-read.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "web_static.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *part[4] = {NULL, NULL, NULL, NULL};
    size_t at = 0;
    for (int i = 0; i < 4 && at <= size; i++) {
        const uint8_t *end = memchr(data + at, 0, size - at);
        size_t n = end ? (size_t)(end - (data + at)) : size - at;
        part[i] = malloc(n + 1);
        if (!part[i])
            abort();
        memcpy(part[i], data + at, n);
        part[i][n] = 0;
        at += n + 1;
    }
    web_static_request rq = {part[0] ? part[0] : "GET", part[1] ? part[1] : "/", part[2], part[3]};
    web_static_answer a;
    int st = web_static_serve(&rq, &a);
    if (st != a.status || (st != 200 && st != 304 && st != 404 && st != 405))
        abort();
    if (st == 200 && (!a.body || !a.body_len || !a.etag || !a.content_type))
        abort();
    if (st == 304 && (a.body_len || !a.etag || a.content_encoding))
        abort();
    if (a.content_encoding && (a.body[0] != 0x1f || a.body[1] != 0x8b))
        abort();
    volatile unsigned char sink = 0;
    for (size_t i = 0; i < a.body_len; i += 4096)
        sink ^= a.body[i]; /* the body is readable */
    (void)sink;
    (void)web_static_etag_matches(part[2], part[3] ? part[3] : "\"x\"");
    for (int i = 0; i < 4; i++)
        free(part[i]);
    return 0;
}
