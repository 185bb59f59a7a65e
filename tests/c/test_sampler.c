/*
 * test_sampler.c — the sampling chain (src/core/sampler.c): greedy and its tie rule, seeded determinism, the
 * distributions top-k / top-p / min-p / temperature must produce, the repetition penalty, NaN logits, and the
 * growing partial sort of top-p on a large vocabulary against a full-sort reference; logit bias (and bans),
 * presence/frequency penalties against a direct computation, log-probabilities against a double-precision
 * reference, clones and reseeding, and the parameters create must refuse.
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

/* Plain greedy takes a one-pass argmax over the raw logits; a logit bias of 0 sends the same logits through the
 * candidate path. Both must choose the same token: ties, NaN, -infinity, all NaN, a NaN or -infinity first. */
static void test_greedy_fast_path(void)
{
    enum { V = 4099, TRIALS = 400 };
    float *l = malloc(V * sizeof *l);
    llamac_sampler_params p = plain();
    p.temperature = 0;
    llamac_sampler *fast = make(p, V);
    llamac_logit_bias zero = {.token = 7, .bias = 0.0f};
    p.logit_bias = &zero;
    p.n_logit_bias = 1;
    llamac_sampler *full = make(p, V);
    uint64_t x = 12345;
    int wrong = 0;
    for (int t = 0; t < TRIALS; t++) {
        const int kind = t % 8;
        for (int i = 0; i < V; i++) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            const int r = (int)(x % 1000);
            /* few distinct values, so ties are common */
            l[i] = kind == 0 ? (float)(r % 5) : kind == 1 ? (r < 500 ? NAN : (float)(r % 3))
                 : kind == 2 ? -INFINITY : kind == 3 ? NAN : kind == 4 ? (r < 990 ? -INFINITY : NAN)
                 : (float)(r % 50) * 0.25f - 3.0f;
        }
        if (kind == 5)
            l[0] = NAN;
        if (kind == 6)
            l[0] = -INFINITY;
        if (kind == 7)
            l[V - 1] = 1e9f;
        const int32_t a = llamac_sampler_sample(fast, l), b = llamac_sampler_sample(full, l);
        wrong += a != b;
    }
    CHECK(wrong == 0, "greedy fast path: %d of %d choices differ from the candidate path", wrong, TRIALS);
    for (int i = 0; i < V; i++)
        l[i] = NAN;
    CHECK(llamac_sampler_sample(fast, l) == 0, "greedy over all-NaN logits picks token 0");
    llamac_sampler_free(fast);
    llamac_sampler_free(full);
    free(l);
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

/* A tied nucleus larger than the first partial sort (the full sort's path): with every logit equal (+0 and -0
 * alternating, which compare equal) the order is by id, so top-p 0.4 of 1000 keeps ids 0..~399, and every
 * draw lands there; a sort that broke ties another way (or split +0 from -0) would draw above it. */
static void test_top_p_ties(void)
{
    enum { V = 1000 };
    float l[V];
    for (int i = 0; i < V; i++)
        l[i] = i % 2 ? -0.0f : 0.0f;
    l[V - 1] = -1.0f;
    llamac_sampler_params p = plain();
    p.top_p = 0.4f;
    llamac_sampler *s = make(p, V);
    int lo = V, hi = -1;
    for (int i = 0; i < 4000; i++) {
        const int t = llamac_sampler_sample(s, l);
        lo = t < lo ? t : lo;
        hi = t > hi ? t : hi;
    }
    CHECK(lo < 10 && hi >= 390 && hi <= 401, "top-p over tied logits drew ids %d..%d, want 0..~399 by id", lo, hi);
    llamac_sampler_free(s);
}

/* top-k over ties: with every logit equal (+0/-0) but a NaN at 5 and a best at 999, top-k 40 keeps 999 and the
 * 39 smallest other ids (0..4, 6..39); draws land only there */
static void test_top_k_ties(void)
{
    enum { V = 1000 };
    float l[V];
    for (int i = 0; i < V; i++)
        l[i] = i % 2 ? -0.0f : 0.0f;
    l[5] = NAN;
    l[V - 1] = 1.0f;
    llamac_sampler_params p = plain();
    p.top_k = 40;
    llamac_sampler *s = make(p, V);
    int bad = 0, seen39 = 0, seen999 = 0;
    for (int i = 0; i < 4000; i++) {
        const int t = llamac_sampler_sample(s, l);
        bad += !(t == V - 1 || (t < 40 && t != 5));
        seen39 += t == 39;
        seen999 += t == V - 1;
    }
    CHECK(!bad && seen39 > 0 && seen999 > 0, "top-k over ties: %d draws outside, id 39 %d times, 999 %d times", bad,
          seen39, seen999);
    llamac_sampler_free(s);
}

/* the index of the largest value, ties to the lowest index (the greedy rule) */
static int argmax(const float *v, int n)
{
    int b = 0;
    for (int i = 1; i < n; i++)
        if (v[i] > v[b])
            b = i;
    return b;
}

static void test_logit_bias(void)
{
    enum { V = 300 };
    float l[V];
    for (int i = 0; i < V; i++)
        l[i] = (float)sin(i * 0.71) * 2.0f;
    int best = argmax(l, V);
    llamac_sampler_params p = plain();
    p.temperature = 0;
    llamac_logit_bias *b = malloc(2 * sizeof *b);
    b[0] = (llamac_logit_bias){.token = 17, .bias = 10.0f};
    p.logit_bias = b;
    p.n_logit_bias = 1;
    llamac_sampler *s = make(p, V);
    b[0].token = 18; /* the sampler keeps its own copy */
    free(b);
    CHECK(best != 17 && llamac_sampler_sample(s, l) == 17, "a +10 bias makes token 17 the greedy choice");
    llamac_sampler_free(s);

    /* a bias that only just closes the gap: ties go to the lower id */
    llamac_logit_bias up = {.token = V - 1, .bias = l[best] - l[V - 1]};
    float shifted = l[V - 1] + up.bias;
    p.logit_bias = &up;
    s = make(p, V);
    CHECK(llamac_sampler_sample(s, l) == (shifted > l[best] ? V - 1 : best), "bias to a tie");
    llamac_sampler_free(s);

    /* ban the greedy choice: the runner-up wins; two entries for one token add up */
    llamac_logit_bias ban[3] = {{best, -INFINITY}, {5, 1.0f}, {5, 1.5f}};
    float ref[V];
    memcpy(ref, l, sizeof ref);
    ref[best] = -INFINITY;
    ref[5] += 1.0f;
    ref[5] += 1.5f;
    p.logit_bias = ban;
    p.n_logit_bias = 3;
    s = make(p, V);
    CHECK(llamac_sampler_sample(s, l) == argmax(ref, V), "-INFINITY bans the greedy choice");
    llamac_sampler_free(s);

    /* ban while sampling: flat logits, top-k larger than the vocabulary left, the banned tokens never come */
    float flat[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    llamac_logit_bias bans[2] = {{0, -INFINITY}, {7, -INFINITY}};
    p = plain();
    p.logit_bias = bans;
    p.n_logit_bias = 2;
    double f[8];
    for (int variant = 0; variant < 3; variant++) {
        p.top_k = variant == 1 ? 8 : 0;
        p.top_p = variant == 2 ? 0.99f : 1.0f;
        s = make(p, 8);
        draw(s, flat, 8, 30000, f);
        CHECK(f[0] == 0 && f[7] == 0 && fabs(f[3] - 1.0 / 6) < 0.015, "ban (variant %d): %.3f %.3f %.3f", variant,
              f[0], f[7], f[3]);
        llamac_sampler_free(s);
    }
}

/* The greedy choice under penalties, against the formulas applied directly to random logits and histories:
 * repetition first (divide a positive logit, multiply a negative one), then
 * logit -= presence * (count > 0) + frequency * count over the last repeat_last_n accepted tokens. */
static void test_penalties(void)
{
    enum { V = 40, TRIALS = 2000 };
    float l[V], ref[V];
    int changed = 0, wrong = 0;
    for (int trial = 0; trial < TRIALS; trial++) {
        llamac_sampler_params p = plain();
        p.temperature = 0;
        p.repeat_last_n = 1 + (int)(rnd() % 12);
        p.repeat_penalty = trial % 3 == 0 ? 1.0f : 1.0f + (float)(rnd() % 100) / 100.0f;
        p.presence_penalty = trial % 5 == 0 ? 0.0f : frand();
        p.frequency_penalty = trial % 7 == 0 ? 0.0f : frand() * 0.5f;
        llamac_sampler *s = make(p, V);
        int n_hist = (int)(rnd() % 24), hist[24];
        for (int i = 0; i < n_hist; i++) {
            hist[i] = (int)(rnd() % 10); /* few distinct tokens: repeats in the window */
            llamac_sampler_accept(s, hist[i]);
        }
        for (int i = 0; i < V; i++)
            ref[i] = l[i] = frand();
        int count[V] = {0};
        int from = n_hist > p.repeat_last_n ? n_hist - p.repeat_last_n : 0;
        for (int i = from; i < n_hist; i++)
            count[hist[i]]++;
        for (int t = 0; t < V; t++) {
            if (!count[t])
                continue;
            if (p.repeat_penalty != 1.0f)
                ref[t] = ref[t] > 0 ? ref[t] / p.repeat_penalty : ref[t] * p.repeat_penalty;
            ref[t] -= p.presence_penalty + p.frequency_penalty * (float)count[t];
        }
        int want = argmax(ref, V);
        changed += want != argmax(l, V);
        wrong += llamac_sampler_sample(s, l) != want;
        llamac_sampler_free(s);
    }
    CHECK(wrong == 0, "penalties: %d of %d greedy choices differ from the direct computation", wrong, TRIALS);
    CHECK(changed > TRIALS / 10, "the penalties changed only %d of %d choices: the test is too weak", changed,
          TRIALS);

    /* the distribution: two equal logits, token 0 seen twice with frequency 0.5 -> logits -1, 0 */
    llamac_sampler_params p = plain();
    p.frequency_penalty = 0.5f;
    llamac_sampler *s = make(p, 2);
    llamac_sampler_accept(s, 0);
    llamac_sampler_accept(s, 0);
    float two[2] = {0, 0};
    double f[2], want = exp(-1.0) / (1 + exp(-1.0));
    draw(s, two, 2, 100000, f);
    CHECK(fabs(f[0] - want) < 0.01, "frequency penalty distribution: %.4f, expected %.4f", f[0], want);
    llamac_sampler_free(s);
    /* presence: once, whatever the count */
    p = plain();
    p.presence_penalty = 1.0f;
    s = make(p, 2);
    for (int i = 0; i < 5; i++)
        llamac_sampler_accept(s, 0);
    draw(s, two, 2, 100000, f);
    CHECK(fabs(f[0] - want) < 0.01, "presence penalty distribution: %.4f, expected %.4f", f[0], want);
    llamac_sampler_free(s);
}

typedef struct lp_ref {
    double l;
    int id;
} lp_ref;

static int cmp_lp(const void *x, const void *y)
{
    const lp_ref *a = x, *b = y;
    return a->l > b->l ? -1 : a->l < b->l ? 1 : a->id - b->id;
}

static void test_logprobs(void)
{
    /* a small vocabulary: the top list covers it all and the probabilities sum to one */
    enum { S = 12 };
    float sl[S];
    for (int i = 0; i < S; i++)
        sl[i] = frand() * 4.0f;
    sl[3] = sl[8]; /* a tie */
    llamac_sampler *s = make(plain(), S);
    llamac_token_logprob chosen, top[LLAMAC_MAX_TOP_LOGPROBS + 1];
    for (int i = 0; i <= LLAMAC_MAX_TOP_LOGPROBS; i++)
        top[i] = (llamac_token_logprob){.token = 12345, .logprob = 1.0f};
    int id = llamac_sampler_sample_logprobs(s, sl, 16, &chosen, top);
    double sum = 0;
    int ordered = 1;
    for (int i = 0; i < S; i++) {
        sum += exp((double)top[i].logprob);
        if (i > 0)
            ordered &= top[i - 1].logprob > top[i].logprob ||
                       (top[i - 1].logprob == top[i].logprob && top[i - 1].token < top[i].token);
    }
    CHECK(fabs(sum - 1.0) < 1e-6, "logprobs of the whole vocabulary sum to %.9f", sum);
    CHECK(ordered, "top logprobs: most likely first, ties lower id first");
    CHECK(top[S].token == -1 && top[S].logprob == -INFINITY && top[15].token == -1,
          "entries beyond the vocabulary are empty");
    CHECK(top[16].token == 12345, "nothing written past n_top");
    CHECK(chosen.token == id && id >= 0 && id < S, "chosen token %d", chosen.token);
    int found = 0;
    for (int i = 0; i < S; i++)
        if (top[i].token == id)
            found = top[i].logprob == chosen.logprob;
    CHECK(found, "the chosen logprob matches its entry in the top list");
    llamac_sampler_free(s);

    /* a Llama 3 sized vocabulary against a full-sort double reference, with ties; bias, penalties and a low
     * temperature do not change the log-probabilities (they are of the raw logits) */
    enum { V = 128256 };
    float *l = malloc(V * sizeof *l);
    lp_ref *ref = malloc(V * sizeof *ref);
    for (int i = 0; i < V; i++)
        l[i] = (float)(int)(frand() * 2000.0f) / 100.0f; /* a coarse grid: many ties */
    double mx = -INFINITY, z = 0;
    for (int i = 0; i < V; i++)
        mx = l[i] > mx ? l[i] : mx;
    for (int i = 0; i < V; i++)
        z += exp(l[i] - mx);
    for (int i = 0; i < V; i++) {
        ref[i].l = l[i] - mx - log(z);
        ref[i].id = i;
    }
    double chosen_ref[8];
    for (int i = 0; i < 8; i++)
        chosen_ref[i] = ref[i].l;
    qsort(ref, V, sizeof *ref, cmp_lp);
    CHECK(ref[0].l == ref[1].l || ref[1].l == ref[2].l || ref[5].l == ref[6].l, "the data should have ties at the top");
    llamac_logit_bias bias[2] = {{ref[0].id, -INFINITY}, {3, 30.0f}};
    llamac_sampler_params p = llamac_sampler_default_params();
    p.logit_bias = bias;
    p.n_logit_bias = 2;
    p.presence_penalty = 0.7f;
    p.repeat_penalty = 1.3f;
    p.top_k = 40;
    p.seed = 99;
    llamac_sampler *a = make(p, V), *b = make(p, V);
    int same = 1, top_ok = 1, chosen_ok = 1;
    for (int step = 0; step < 20; step++) {
        int ta = llamac_sampler_sample(a, l);
        int tb = llamac_sampler_sample_logprobs(b, l, LLAMAC_MAX_TOP_LOGPROBS, &chosen, top);
        same &= ta == tb;
        for (int k = 0; k < LLAMAC_MAX_TOP_LOGPROBS; k++)
            top_ok &= top[k].token == ref[k].id && fabs(top[k].logprob - ref[k].l) < 1e-5;
        chosen_ok &= chosen.token == tb && (tb >= 8 || fabs(chosen.logprob - chosen_ref[tb]) < 1e-5);
        llamac_sampler_accept(a, ta);
        llamac_sampler_accept(b, tb);
    }
    CHECK(same, "sample_logprobs picks what sample picks from the same state");
    CHECK(top_ok, "the top %d logprobs match the double reference (order, ties, values)", LLAMAC_MAX_TOP_LOGPROBS);
    CHECK(chosen_ok, "the chosen token's logprob");
    /* n_top out of range is clamped, NULL outputs are allowed */
    top[LLAMAC_MAX_TOP_LOGPROBS].token = 777;
    llamac_sampler_sample_logprobs(b, l, 1000, NULL, top);
    CHECK(top[LLAMAC_MAX_TOP_LOGPROBS].token == 777 && top[0].token == ref[0].id, "n_top clamped to the maximum");
    CHECK(llamac_sampler_sample_logprobs(b, l, -3, NULL, NULL) >= 0, "no outputs");
    llamac_sampler_free(a);
    llamac_sampler_free(b);
    free(ref);
    free(l);
}

/* a clone draws what the original draws, from the same state on, for 100 steps */
static void test_clone_and_seed(void)
{
    enum { V = 5000 };
    float *l = malloc(V * sizeof *l);
    for (int i = 0; i < V; i++)
        l[i] = frand() * 3.0f;
    llamac_logit_bias bias[1] = {{42, 2.0f}};
    llamac_sampler_params p = llamac_sampler_default_params();
    p.temperature = 1.1f;
    p.top_k = 200;
    p.top_p = 0.97f;
    p.min_p = 0.01f;
    p.repeat_penalty = 1.2f;
    p.presence_penalty = 0.3f;
    p.frequency_penalty = 0.2f;
    p.logit_bias = bias;
    p.n_logit_bias = 1;
    p.seed = 5;
    llamac_sampler *a = make(p, V), *c = NULL;
    for (int i = 0; i < 10; i++)
        llamac_sampler_accept(a, llamac_sampler_sample(a, l));
    CHECK(llamac_sampler_clone(a, &c) == LLAMAC_OK && c, "clone");
    int same = 1, distinct = 0, prev = -1;
    for (int i = 0; i < 100; i++) {
        int ta = llamac_sampler_sample(a, l), tc = llamac_sampler_sample(c, l);
        same &= ta == tc;
        distinct += ta != prev;
        prev = ta;
        llamac_sampler_accept(a, ta);
        llamac_sampler_accept(c, tc);
        l[i] += 0.5f; /* the logits change between steps */
    }
    CHECK(same, "a clone and its original draw the same");
    CHECK(distinct > 50, "the draws should vary (%d changes)", distinct);
    /* the clone owns its buffers */
    llamac_sampler_free(a);
    CHECK(llamac_sampler_sample(c, l) >= 0, "the clone outlives its original");
    llamac_sampler *d = NULL;
    CHECK(llamac_sampler_clone(NULL, &d) == LLAMAC_E_INVALID_ARG && !d, "clone of NULL");
    CHECK(llamac_sampler_clone(c, NULL) == LLAMAC_E_INVALID_ARG, "clone to NULL");
    llamac_sampler_free(c);

    /* set_seed: the draws of a fresh sampler with that seed; the history stays */
    p = plain();
    p.seed = 1;
    a = make(p, V);
    p.seed = 77;
    llamac_sampler *b = make(p, V);
    llamac_sampler_set_seed(a, 77);
    same = 1;
    for (int i = 0; i < 100; i++)
        same &= llamac_sampler_sample(a, l) == llamac_sampler_sample(b, l);
    CHECK(same, "set_seed gives the draws of that seed");
    llamac_sampler_free(a);
    llamac_sampler_free(b);
    p.temperature = 0;
    p.presence_penalty = 100.0f;
    a = make(p, V);
    int best = llamac_sampler_sample(a, l);
    llamac_sampler_accept(a, best);
    llamac_sampler_set_seed(a, 3);
    CHECK(llamac_sampler_sample(a, l) != best, "set_seed keeps the history");
    llamac_sampler_reset(a);
    CHECK(llamac_sampler_sample(a, l) == best, "reset forgets it");
    llamac_sampler_free(a);
    free(l);
}

static void test_invalid(void)
{
    llamac_logit_bias good = {3, 1.0f}, bad_lo = {-1, 1.0f}, bad_hi = {10, 1.0f}, bad_nan = {3, NAN},
                      bad_inf = {3, INFINITY};
    for (int k = 0; k < 14; k++) {
        llamac_sampler_params p = llamac_sampler_default_params();
        int n_vocab = 10;
        switch (k) {
        case 0: p.temperature = NAN; break;
        case 1: p.repeat_last_n = -1; break;
        case 2: p.logit_bias = &bad_lo; p.n_logit_bias = 1; break;
        case 3: p.logit_bias = &bad_hi; p.n_logit_bias = 1; break;
        case 4: p.logit_bias = &bad_nan; p.n_logit_bias = 1; break;
        case 5: p.logit_bias = &bad_inf; p.n_logit_bias = 1; break;
        case 6: p.logit_bias = NULL; p.n_logit_bias = 1; break;
        case 7: p.logit_bias = &good; p.n_logit_bias = -1; break;
        case 8: p.presence_penalty = NAN; break;
        case 9: p.frequency_penalty = INFINITY; break;
        case 10: p.presence_penalty = -INFINITY; break;
        case 11: p.repeat_penalty = 0; break;
        case 12: p.top_p = NAN; break;
        case 13: n_vocab = 0; break;
        }
        llamac_sampler *s = (llamac_sampler *)&good; /* must be reset to NULL */
        CHECK(llamac_sampler_create(&p, n_vocab, &s) == LLAMAC_E_INVALID_ARG && s == NULL,
              "invalid parameters %d accepted", k);
    }
    llamac_sampler_params p = llamac_sampler_default_params();
    CHECK(llamac_sampler_create(&p, 10, NULL) == LLAMAC_E_INVALID_ARG, "NULL out");
    p.logit_bias = &good;
    p.n_logit_bias = 1;
    p.presence_penalty = -2.0f;
    p.frequency_penalty = 2.0f;
    llamac_sampler *s = NULL;
    CHECK(llamac_sampler_create(&p, 10, &s) == LLAMAC_OK && s, "valid parameters");
    llamac_sampler_free(s);
    float l[2] = {0, 1};
    CHECK(llamac_sampler_sample(NULL, l) == -1, "sample with a NULL sampler");
    llamac_sampler_accept(NULL, 1);
    llamac_sampler_reset(NULL);
    llamac_sampler_set_seed(NULL, 1);
    llamac_sampler_free(NULL);
}

int main(void)
{
    test_greedy();
    test_greedy_fast_path();
    test_distributions();
    test_seed_and_penalty();
    test_top_p_large(20000, 0.03, 12000); /* nucleus ~ 380: the full sort */
    test_top_p_large(100000, 0.5, 300);   /* nucleus ~ 50k: the full sort */
    test_top_p_ties();
    test_top_k_ties();
    test_logit_bias();
    test_penalties();
    test_logprobs();
    test_clone_and_seed();
    test_invalid();
    return check_finish("test_sampler");
}
