/*
 * test_sampler.c — the sampling chain (src/core/sampler.c): greedy and its tie rule, seeded determinism, the
 * distributions top-k / top-p / min-p / temperature must produce, the repetition penalty, NaN logits, and the
 * growing partial sort of top-p on a large vocabulary against a full-sort reference.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "llamac.h"
#include "check.h"

static llamac_sampler *make(llamac_sampler_params p, int n)
{
    llamac_sampler *s = NULL;
    llamac_status st = llamac_sampler_create(&p, n, &s);
    if (st != LLAMAC_OK) {
        fprintf(stderr, "sampler_create failed\n");
        exit(1);
    }
    return s;
}

static llamac_sampler_params plain(void)
{
    llamac_sampler_params p = llamac_sampler_default_params();
    p.temperature = 1.0f;
    p.top_k = 0;
    p.top_p = 1.0f;
    p.min_p = 0.0f;
    p.repeat_penalty = 1.0f;
    return p;
}

/* frequencies of n draws */
static void draw(llamac_sampler *s, const float *logits, int n_vocab, int n, double *freq)
{
    for (int i = 0; i < n_vocab; i++)
        freq[i] = 0;
    for (int i = 0; i < n; i++)
        freq[llamac_sampler_sample(s, logits)] += 1.0 / n;
}

static void test_greedy(void)
{
    float l[6] = {0.5f, 2.0f, -1.0f, 2.0f, 1.0f, NAN};
    llamac_sampler_params p = plain();
    p.temperature = 0;
    llamac_sampler *s = make(p, 6);
    CHECK(llamac_sampler_sample(s, l) == 1, "greedy ties go to the lowest id");
    l[1] = NAN;
    CHECK(llamac_sampler_sample(s, l) == 3, "NaN never wins");
    llamac_sampler_free(s);
    p = plain();
    p.top_k = 1;
    s = make(p, 6);
    l[1] = 2.0f;
    for (int i = 0; i < 50; i++)
        CHECK(llamac_sampler_sample(s, l) == 1, "top_k 1 is greedy");
    llamac_sampler_free(s);
}

static void test_distributions(void)
{
    const int N = 200000;
    float l[4] = {logf(0.5f), logf(0.3f), logf(0.2f), -INFINITY};
    double f[4];
    llamac_sampler *s = make(plain(), 4);
    draw(s, l, 4, N, f);
    CHECK(fabs(f[0] - 0.5) < 0.01 && fabs(f[1] - 0.3) < 0.01 && fabs(f[2] - 0.2) < 0.01 && f[3] == 0,
          "plain sampling: %.3f %.3f %.3f %.3f", f[0], f[1], f[2], f[3]);
    llamac_sampler_free(s);

    llamac_sampler_params p = plain();
    p.top_p = 0.75f; /* 0.5 + 0.3 crosses 0.75: keep two, renormalized 0.625 / 0.375 */
    s = make(p, 4);
    draw(s, l, 4, N, f);
    CHECK(fabs(f[0] - 0.625) < 0.01 && fabs(f[1] - 0.375) < 0.01 && f[2] == 0, "top_p: %.3f %.3f %.3f", f[0],
          f[1], f[2]);
    llamac_sampler_free(s);

    p = plain();
    p.min_p = 0.5f; /* keeps p >= 0.25: 0.5 and 0.3 */
    s = make(p, 4);
    draw(s, l, 4, N, f);
    CHECK(fabs(f[0] - 0.625) < 0.01 && f[2] == 0, "min_p: %.3f %.3f %.3f", f[0], f[1], f[2]);
    llamac_sampler_free(s);

    p = plain();
    p.top_k = 2;
    s = make(p, 4);
    draw(s, l, 4, N, f);
    CHECK(fabs(f[0] - 0.625) < 0.01 && f[2] == 0, "top_k 2: %.3f %.3f", f[0], f[2]);
    llamac_sampler_free(s);

    p = plain();
    p.temperature = 0.5f; /* p^2 normalized: 0.25, 0.09, 0.04 over 0.38 */
    s = make(p, 4);
    draw(s, l, 4, N, f);
    CHECK(fabs(f[0] - 0.25 / 0.38) < 0.01 && fabs(f[2] - 0.04 / 0.38) < 0.01, "temperature: %.3f %.3f", f[0], f[2]);
    llamac_sampler_free(s);
}

static void test_seed_and_penalty(void)
{
    enum { V = 1000 };
    float *l = malloc(V * sizeof *l);
    for (int i = 0; i < V; i++)
        l[i] = (float)sin(i * 0.37) * 3.0f;
    llamac_sampler_params p = llamac_sampler_default_params();
    p.seed = 42;
    llamac_sampler *a = make(p, V), *b = make(p, V);
    int same = 1;
    for (int i = 0; i < 200; i++)
        same &= llamac_sampler_sample(a, l) == llamac_sampler_sample(b, l);
    CHECK(same, "the same seed gives the same draws");
    llamac_sampler_reset(a);
    llamac_sampler_free(b);
    p.seed = 43;
    b = make(p, V);
    int diff = 0;
    for (int i = 0; i < 200; i++)
        diff |= llamac_sampler_sample(a, l) != llamac_sampler_sample(b, l);
    CHECK(diff, "different seeds differ");
    llamac_sampler_free(a);
    llamac_sampler_free(b);

    p = plain();
    p.temperature = 0;
    p.repeat_penalty = 100.0f;
    p.repeat_last_n = 4;
    a = make(p, V);
    int best = llamac_sampler_sample(a, l);
    llamac_sampler_accept(a, best);
    int next = llamac_sampler_sample(a, l);
    CHECK(next != best, "a penalized token loses");
    for (int i = 0; i < 4; i++)
        llamac_sampler_accept(a, 7); /* pushes `best` out of the window of 4 */
    CHECK(llamac_sampler_sample(a, l) == best, "the penalty window slides");
    llamac_sampler_free(a);
    free(l);
}

typedef struct pi {
    double p;
    int id;
} pi;

static int cmp_pi(const void *x, const void *y)
{
    const pi *a = x, *b = y;
    return a->p > b->p ? -1 : a->p < b->p ? 1 : a->id - b->id;
}

/* top-p over a flat vocabulary whose nucleus is larger than the first partial sort (256), so the sort has to
 * grow: membership, and that every nucleus token keeps its own probability (a partial sort that lost or
 * duplicated candidates while growing would leave some out and overweight others) */
static void test_top_p_large(int V, double top_p, int draws)
{
    float *l = malloc(V * sizeof *l);
    pi *ref = malloc(V * sizeof *ref);
    double sum = 0;
    for (int i = 0; i < V; i++) {
        l[i] = (float)(((unsigned)i * 2654435761u) % 1000) / 1000.0f;
        ref[i].p = exp((double)l[i]);
        ref[i].id = i;
        sum += ref[i].p;
    }
    qsort(ref, V, sizeof *ref, cmp_pi);
    double cum = 0;
    int k = 0;
    while (cum < top_p * sum)
        cum += ref[k++].p;
    char *in = calloc(V, 1);
    for (int i = 0; i < k; i++)
        in[ref[i].id] = 1;
    llamac_sampler_params p = plain();
    p.top_p = (float)top_p;
    llamac_sampler *s = make(p, V);
    int *count = calloc(V, sizeof *count);
    int outside = 0;
    for (int i = 0; i < draws; i++) {
        int t = llamac_sampler_sample(s, l);
        outside += !in[t];
        count[t]++;
    }
    CHECK(k > 256, "the nucleus (%d) should exceed the first partial sort", k);
    CHECK(outside == 0, "%d draws fell outside the top-p nucleus of %d tokens", outside, k);
    for (int i = 0; i < 8; i++) {
        double want = ref[i].p / cum, got = (double)count[ref[i].id] / draws;
        CHECK(fabs(got - want) < 5 * sqrt(want / draws), "token %d: frequency %.5f, expected %.5f", ref[i].id, got,
              want);
    }
    int reached = 0;
    for (int i = 0; i < k; i++)
        reached += count[ref[i].id] > 0;
    CHECK(draws / k < 20 || reached > k * 95 / 100, "only %d of the %d nucleus tokens were ever drawn", reached, k);
    llamac_sampler_free(s);
    free(count);
    free(in);
    free(ref);
    free(l);
}

int main(void)
{
    test_greedy();
    test_distributions();
    test_seed_and_penalty();
    test_top_p_large(20000, 0.03, 12000); /* nucleus ~ 380: one growth step */
    test_top_p_large(100000, 0.5, 300);   /* nucleus ~ 50k: grows to a full sort */
    return check_finish("test_sampler");
}
