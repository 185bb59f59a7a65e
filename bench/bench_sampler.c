/*
 * bench_sampler.c — CPU time of one draw (llamac_sampler_sample) over a Llama 3 sized vocabulary, one thread.
 *
 *   bench_sampler [--vocab N] [--draws N] [--seed S] [--only TEXT]
 *
 * Logit shapes: "flat" (normal, sd 1: a random-weight model, or a real one far from sure of the next token:
 * the top-p nucleus holds most of the vocabulary) and "peaked" (the same plus one token 12 above the rest and a
 * few dozen 4-8 above: a real model mid-sentence). Settings: greedy, temperature 0.6/top-p 0.9 (the library's
 * defaults), temperature 1/top-p 1 (OpenAI's), temperature 1/top-p 0.95/top-k 40 (llama.cpp's), and temperature
 * 0.8 with logprobs (5). Prints microseconds per draw: the median over 5 batches of CPU time. A benchmark, not a
 * test: it asserts nothing.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <math.h>

#include "bench_util.h"
#include "llamac.h"

static uint64_t rs = 0x12345678u;
static double unit(void)
{
    rs ^= rs << 13;
    rs ^= rs >> 7;
    rs ^= rs << 17;
    return (double)(rs >> 11) * (1.0 / 9007199254740992.0);
}

static float normal(void)
{
    double u = unit(), v = unit();
    return (float)(sqrt(-2.0 * log(u + 1e-300)) * cos(6.283185307179586 * v));
}

typedef struct setting {
    const char *name;
    float temperature, top_p;
    int top_k, logprobs;
} setting;

int main(int argc, char **argv)
{
    int n_vocab = 128256, draws = 200;
    const char *only = NULL; /* run only the settings whose name contains it */
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--vocab") && i + 1 < argc)
            n_vocab = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--draws") && i + 1 < argc)
            draws = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--only") && i + 1 < argc)
            only = argv[++i];
        else if (!strcmp(argv[i], "--seed") && i + 1 < argc)
            rs = strtoull(argv[++i], NULL, 10) | 1;
        else {
            fprintf(stderr, "usage: bench_sampler [--vocab N] [--draws N] [--seed S] [--only TEXT]\n");
            return 2;
        }
    }
    if (n_vocab < 64 || draws < 1) {
        fprintf(stderr, "bench_sampler: --vocab must be >= 64 and --draws >= 1\n");
        return 2;
    }
    float *flat = malloc((size_t)n_vocab * sizeof *flat), *peaked = malloc((size_t)n_vocab * sizeof *peaked);
    if (!flat || !peaked)
        return 1;
    for (int i = 0; i < n_vocab; i++)
        peaked[i] = flat[i] = normal();
    for (int i = 0; i < 40; i++)
        peaked[(i * 7919 + 13) % n_vocab] += 4.0f + (float)(i % 5);
    peaked[4242 % n_vocab] += 12.0f;
    const setting set[] = {
        {"greedy", 0.0f, 1.0f, 0, 0},
        {"t0.6 top-p 0.9", 0.6f, 0.9f, 0, 0},
        {"t1 top-p 1", 1.0f, 1.0f, 0, 0},
        {"t1 top-p 0.95 top-k 40", 1.0f, 0.95f, 40, 0},
        {"t0.8 logprobs 5", 0.8f, 1.0f, 0, 5},
    };
    printf("| setting | flat us/draw | peaked us/draw |\n| --- | ---: | ---: |\n");
    for (size_t k = 0; k < sizeof set / sizeof set[0]; k++) {
        if (only && !strstr(set[k].name, only))
            continue;
        double med[2];
        for (int shape = 0; shape < 2; shape++) {
            const float *logits = shape ? peaked : flat;
            llamac_sampler_params p = llamac_sampler_default_params();
            p.temperature = set[k].temperature;
            p.top_p = set[k].top_p;
            p.top_k = set[k].top_k;
            llamac_sampler *s;
            if (llamac_sampler_create(&p, n_vocab, &s))
                return 1;
            double t[5];
            llamac_token_logprob chosen, top[8];
            long sink = 0;
            for (int b = 0; b < 5; b++) {
                double c0 = bench_cpu_now();
                for (int d = 0; d < draws; d++)
                    sink += set[k].logprobs ? llamac_sampler_sample_logprobs(s, logits, set[k].logprobs, &chosen, top)
                                            : llamac_sampler_sample(s, logits);
                t[b] = (bench_cpu_now() - c0) / draws * 1e6;
            }
            qsort(t, 5, sizeof t[0], bench_cmp_double);
            med[shape] = t[2];
            llamac_sampler_free(s);
            if (sink == -1)
                printf("?");
        }
        printf("| %s | %.1f | %.1f |\n", set[k].name, med[0], med[1]);
    }
    free(flat);
    free(peaked);
    return 0;
}
