/*
 * serve_log.c — one line per request on stderr: method, path, status, prompt and generated tokens, time to
 * first token, total time, and "client-gone" when the client left before its answer was complete. Text by
 * default; one JSON object per line with --log-format json. A single fprintf per line, so lines of concurrent
 * requests never interleave.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "serve.h"

/* The path with quotes, backslashes and control bytes replaced, for both formats. */
static void clean_path(const char *in, char *out, size_t size)
{
    size_t k = 0;
    for (; *in && k + 1 < size; in++)
        out[k++] = (*in == '"' || *in == '\\' || (unsigned char)*in < 0x20 || *in == 0x7f) ? '?' : *in;
    out[k] = 0;
}

void serve_log_request(int json, const serve_log_entry *e)
{
    char path[200], when[32];
    clean_path(e->path, path, sizeof path);
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
    char ttft[32] = "-";
    if (e->ttft_ms >= 0)
        snprintf(ttft, sizeof ttft, "%.1f", e->ttft_ms);
    if (json)
        fprintf(stderr,
                "{\"time\":\"%s\",\"method\":\"%s\",\"path\":\"%s\",\"status\":%d,\"prompt_tokens\":%lld,"
                "\"generated_tokens\":%lld,\"ttft_ms\":%s,\"total_ms\":%.1f,\"client_gone\":%s}\n",
                when, e->method, path, e->status, (long long)e->prompt_tokens, (long long)e->generated_tokens,
                e->ttft_ms >= 0 ? ttft : "null", e->total_ms, e->client_gone ? "true" : "false");
    else
        fprintf(stderr, "%s %s %s %d prompt=%lld gen=%lld ttft_ms=%s total_ms=%.1f%s\n", when, e->method, path,
                e->status, (long long)e->prompt_tokens, (long long)e->generated_tokens, ttft, e->total_ms,
                e->client_gone ? " client-gone" : "");
}
