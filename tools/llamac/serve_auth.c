/*
 * serve_auth.c — the API key of `llamac serve`: read from --api-key-file, and checked on every /v1 route and
 * /tokenize, /detokenize as "Authorization: Bearer KEY". The comparison takes the same time whatever bytes
 * differ (it depends on the lengths only), so the key cannot be guessed byte by byte from response times.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cli.h"
#include "serve.h"

char *serve_auth_read_key_file(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        cli_error("--api-key-file %s: cannot open it", path);
        return NULL;
    }
    char line[1024];
    char *got = fgets(line, sizeof line, f);
    fclose(f);
    if (!got) {
        cli_error("--api-key-file %s: the file is empty", path);
        return NULL;
    }
    size_t n = strlen(line);
    while (n && (line[n - 1] == '\n' || line[n - 1] == '\r' || line[n - 1] == ' ' || line[n - 1] == '\t'))
        line[--n] = 0;
    if (!n) {
        cli_error("--api-key-file %s: the first line is empty", path);
        return NULL;
    }
    return strdup(line);
}

int serve_auth_ok(const char *key, const char *authorization)
{
    if (!key)
        return 1;
    if (!authorization || strncasecmp(authorization, "Bearer ", 7))
        return 0;
    const char *given = authorization + 7;
    while (*given == ' ')
        given++;
    size_t kn = strlen(key), gn = strlen(given);
    unsigned diff = (unsigned)(kn != gn);
    for (size_t i = 0; i < kn; i++) /* reads given cyclically: never past its end, same work for any content */
        diff |= (unsigned)(unsigned char)key[i] ^ (unsigned)(unsigned char)(gn ? given[i % gn] : 0);
    return diff == 0;
}
