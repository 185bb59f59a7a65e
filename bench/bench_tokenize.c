/*
 * bench_tokenize.c — tokenizer speed on one thread: vocabulary load time and encode throughput.
 *
 *   bench_tokenize --vocab FILE [--loads N] [--seconds S] [--chunk BYTES] [--json] [LABEL=TEXTFILE ...]
 *
 * Load: the vocabulary (GGUF, tokenizer.json or tokenizer.model) is loaded N times (default 5); the best and
 * the median wall time and the median CPU time are reported. CPU time is the figure to trust on a busy
 * machine. Encode: each text file is cut into chunks of --chunk bytes (default 4096, at UTF-8 boundaries, like
 * the prompts a server sees; 0 = the whole file in one call) and encoded repeatedly for about S seconds
 * (default 3); throughput = input bytes / CPU seconds, in MB/s (10^6 bytes). bench/tokenize_bench.py runs this
 * beside the JS reference tokenizer on the same texts.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "llamac.h"

static double wall(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static double cpu(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = n >= 0 ? malloc((size_t)n + 1) : NULL;
    if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    *len = buf ? (size_t)n : 0;
    return buf;
}

int main(int argc, char **argv)
{
    const char *vocab = NULL;
    int loads = 5, json = 0;
    double seconds = 3.0;
    size_t chunk = 4096;
    int first_text = argc;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--vocab") && i + 1 < argc)
            vocab = argv[++i];
        else if (!strcmp(argv[i], "--loads") && i + 1 < argc)
            loads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--seconds") && i + 1 < argc)
            seconds = atof(argv[++i]);
        else if (!strcmp(argv[i], "--chunk") && i + 1 < argc)
            chunk = (size_t)atol(argv[++i]);
        else if (!strcmp(argv[i], "--json"))
            json = 1;
        else if (argv[i][0] != '-') {
            first_text = i;
            break;
        } else {
            fprintf(stderr, "usage: bench_tokenize --vocab FILE [--loads N] [--seconds S] [--chunk BYTES] [--json] "
                            "[LABEL=TEXTFILE ...]\n");
            return 2;
        }
    }
    if (!vocab || loads < 1 || loads > 1000) {
        fprintf(stderr, "bench_tokenize: --vocab FILE is required (and 1 <= --loads <= 1000)\n");
        return 2;
    }
    double w[1000], c[1000];
    llamac_tokenizer *tok = NULL;
    for (int k = 0; k < loads; k++) {
        char err[600];
        llamac_tokenizer_free(tok);
        double w0 = wall(), c0 = cpu();
        if (llamac_tokenizer_load(vocab, &tok, err, sizeof err) != LLAMAC_OK) {
            fprintf(stderr, "bench_tokenize: %s\n", err);
            return 1;
        }
        w[k] = wall() - w0;
        c[k] = cpu() - c0;
    }
    double best = w[0];
    for (int k = 1; k < loads; k++)
        best = w[k] < best ? w[k] : best;
    qsort(w, (size_t)loads, sizeof *w, cmp_double);
    qsort(c, (size_t)loads, sizeof *c, cmp_double);
    if (json)
        printf("{\"what\": \"load\", \"vocab\": \"%s\", \"best_ms\": %.2f, \"median_ms\": %.2f, \"median_cpu_ms\": "
               "%.2f}\n", vocab, best * 1e3, w[loads / 2] * 1e3, c[loads / 2] * 1e3);
    else
        printf("load %s: best %.1f ms, median %.1f ms wall, %.1f ms CPU (%d loads)\n", vocab, best * 1e3,
               w[loads / 2] * 1e3, c[loads / 2] * 1e3, loads);

    for (int i = first_text; i < argc; i++) {
        const char *eq = strchr(argv[i], '=');
        const char *path = eq ? eq + 1 : argv[i];
        char label[64];
        snprintf(label, sizeof label, "%.*s", eq ? (int)(eq - argv[i]) : 63, argv[i]);
        size_t len;
        char *text = read_file(path, &len);
        if (!text) {
            fprintf(stderr, "bench_tokenize: cannot read %s\n", path);
            return 1;
        }
        llamac_tokens ids = {0};
        size_t n_ids = 0, rounds = 0, total = 0;
        double c0 = cpu(), w0 = wall(), dt;
        do {
            size_t at = 0;
            while (at < len) {
                size_t n = chunk && len - at > chunk ? chunk : len - at;
                while (at + n < len && ((unsigned char)text[at + n] & 0xC0) == 0x80)
                    n++; /* end chunks at character boundaries */
                ids.n = 0;
                if (llamac_tokenize(tok, text + at, n, 0, &ids) != LLAMAC_OK) {
                    fprintf(stderr, "bench_tokenize: encode failed\n");
                    return 1;
                }
                n_ids += ids.n;
                at += n;
            }
            total += len;
            rounds++;
            dt = cpu() - c0;
        } while (dt < seconds);
        double dw = wall() - w0;
        if (json)
            printf("{\"what\": \"encode\", \"label\": \"%s\", \"bytes\": %zu, \"tokens\": %zu, \"rounds\": %zu, "
                   "\"cpu_s\": %.3f, \"wall_s\": %.3f, \"mb_per_s\": %.2f}\n", label, len, n_ids / rounds, rounds, dt,
                   dw, (double)total / dt / 1e6);
        else
            printf("encode %-10s %9zu bytes -> %8zu tokens: %7.2f MB/s (CPU time; %.2f MB/s wall)\n", label, len,
                   n_ids / rounds, (double)total / dt / 1e6, (double)total / dw / 1e6);
        llamac_tokens_free(&ids);
        free(text);
    }
    llamac_tokenizer_free(tok);
    return 0;
}
