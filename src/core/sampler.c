/*
 * sampler.c — token sampling: repetition penalty -> top-k -> temperature -> softmax -> min-p -> top-p -> draw,
 * with a seeded xoshiro256** generator. Candidates are ordered by (logit desc, id asc), so equal inputs give
 * equal choices on every machine.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "llamac.h"

typedef struct cand {
    int32_t id;
    float logit;
    double p;
} cand;

struct llamac_sampler {
    llamac_sampler_params p;
    int n_vocab;
    cand *c;            /* [n_vocab] */
    int32_t *hist;      /* ring of the last repeat_last_n tokens */
    int hist_n, hist_pos;
    uint64_t rng[4];
};

llamac_sampler_params llamac_sampler_default_params(void)
{
    llamac_sampler_params p = {.temperature = 0.6f, .top_k = 0, .top_p = 0.9f, .min_p = 0.0f,
                               .repeat_penalty = 1.0f, .repeat_last_n = 64, .seed = 0xC0FFEE};
    return p;
}

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

static uint64_t next_u64(uint64_t *s)
{
    uint64_t r = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return r;
}

/* uniform in [0, 1) with 53 random bits */
static double next_unit(uint64_t *s)
{
    return (double)(next_u64(s) >> 11) * (1.0 / 9007199254740992.0);
}

void llamac_sampler_reset(llamac_sampler *s)
{
    uint64_t x = s->p.seed;
    for (int i = 0; i < 4; i++)
        s->rng[i] = splitmix64(&x);
    s->hist_n = s->hist_pos = 0;
}

llamac_status llamac_sampler_create(const llamac_sampler_params *params, int n_vocab, llamac_sampler **out)
{
    if (!out || n_vocab < 1)
        return LLAMAC_E_INVALID_ARG;
    *out = NULL;
    llamac_sampler_params p = params ? *params : llamac_sampler_default_params();
    if (!(p.temperature == p.temperature) || !(p.top_p == p.top_p) || !(p.min_p == p.min_p) ||
        !(p.repeat_penalty > 0) || p.repeat_last_n < 0 || p.repeat_last_n > (1 << 20))
        return LLAMAC_E_INVALID_ARG;
    llamac_sampler *s = calloc(1, sizeof *s);
    if (!s)
        return LLAMAC_E_NOMEM;
    s->p = p;
    s->n_vocab = n_vocab;
    s->c = malloc((size_t)n_vocab * sizeof *s->c);
    s->hist = malloc((size_t)(p.repeat_last_n ? p.repeat_last_n : 1) * sizeof *s->hist);
    if (!s->c || !s->hist) {
        llamac_sampler_free(s);
        return LLAMAC_E_NOMEM;
    }
    llamac_sampler_reset(s);
    *out = s;
    return LLAMAC_OK;
}

void llamac_sampler_free(llamac_sampler *s)
{
    if (!s)
        return;
    free(s->c);
    free(s->hist);
    free(s);
}

void llamac_sampler_accept(llamac_sampler *s, int32_t token)
{
    if (!s || s->p.repeat_last_n == 0)
        return;
    s->hist[s->hist_pos] = token;
    s->hist_pos = (s->hist_pos + 1) % s->p.repeat_last_n;
    if (s->hist_n < s->p.repeat_last_n)
        s->hist_n++;
}

/* a before b: larger logit first, then smaller id */
static int better(const cand *a, const cand *b)
{
    return a->logit > b->logit || (a->logit == b->logit && a->id < b->id);
}

static int cmp_cand(const void *x, const void *y)
{
    const cand *a = x, *b = y;
    return better(a, b) ? -1 : better(b, a) ? 1 : 0;
}

/* restores the heap order of c[0..k) below r (root = the worst kept candidate) */
static void sift_down(cand *c, int k, int r)
{
    for (;;) {
        int w = r, l = 2 * r + 1, rr = l + 1;
        if (l < k && better(&c[w], &c[l]))
            w = l;
        if (rr < k && better(&c[w], &c[rr]))
            w = rr;
        if (w == r)
            return;
        cand t = c[r];
        c[r] = c[w];
        c[w] = t;
        r = w;
    }
}

/* moves the k best candidates to the front (sorted) using a min-heap of size k */
static void top_k(cand *c, int n, int k)
{
    for (int i = k / 2 - 1; i >= 0; i--)
        sift_down(c, k, i);
    for (int i = k; i < n; i++) {
        if (!better(&c[i], &c[0]))
            continue;
        cand t = c[0]; /* swap, not overwrite: the array stays a permutation, so top-p can grow k later */
        c[0] = c[i];
        c[i] = t;
        sift_down(c, k, 0);
    }
    qsort(c, (size_t)k, sizeof *c, cmp_cand);
}

int32_t llamac_sampler_sample(llamac_sampler *s, const float *logits)
{
    const int n = s->n_vocab;
    cand *c = s->c;
    for (int i = 0; i < n; i++) {
        c[i].id = i;
        c[i].logit = logits[i];
    }
    if (s->p.repeat_penalty != 1.0f) {
        for (int h = 0; h < s->hist_n; h++) {
            int32_t t = s->hist[h];
            if (t < 0 || t >= n || c[t].id < 0)
                continue;
            float l = logits[t];
            c[t].logit = l > 0 ? l / s->p.repeat_penalty : l * s->p.repeat_penalty;
            c[t].id = -1 - t; /* mark as penalized once */
        }
        for (int h = 0; h < s->hist_n; h++) {
            int32_t t = s->hist[h];
            if (t >= 0 && t < n && c[t].id < 0)
                c[t].id = t;
        }
    }
    /* NaN logits never win */
    for (int i = 0; i < n; i++)
        if (c[i].logit != c[i].logit)
            c[i].logit = -INFINITY;
    if (s->p.temperature <= 0.0f) {
        int best = 0;
        for (int i = 1; i < n; i++)
            if (better(&c[i], &c[best]))
                best = i;
        return c[best].id;
    }
    int m = n, sorted = 0;
    if (s->p.top_k > 0 && s->p.top_k < n) {
        m = s->p.top_k;
        top_k(c, n, m);
        sorted = 1;
    }
    double mx = -INFINITY;
    for (int i = 0; i < m; i++)
        if (c[i].logit > mx)
            mx = c[i].logit;
    if (mx == -INFINITY)
        return c[0].id;
    double sum = 0;
    for (int i = 0; i < m; i++) {
        c[i].p = exp(((double)c[i].logit - mx) / s->p.temperature);
        sum += c[i].p;
    }
    if (s->p.min_p > 0.0f) {
        /* the largest p is exp(0) = 1 before normalization */
        int k = 0;
        for (int i = 0; i < m; i++)
            if (c[i].p >= s->p.min_p)
                c[k++] = c[i];
        m = k;
        sum = 0;
        for (int i = 0; i < m; i++)
            sum += c[i].p;
    }
    if (s->p.top_p < 1.0f) {
        /* The nucleus is usually a few dozen tokens: sort only the best `have` candidates, growing it until
         * they hold top_p of the mass (a full sort of 128k candidates would cost more than a small model's
         * forward pass). */
        double limit = s->p.top_p * sum;
        int have = sorted ? m : (m < 256 ? m : 256);
        for (;;) {
            if (!sorted || have < m)
                top_k(c, m, have);
            double cum = 0;
            int k = 0;
            while (k < have && cum < limit)
                cum += c[k++].p;
            if (cum >= limit || have == m) {
                m = k;
                sum = cum;
                break;
            }
            have = have * 8 < m ? have * 8 : m;
        }
    }
    double r = next_unit(s->rng) * sum, acc = 0;
    for (int i = 0; i < m; i++) {
        acc += c[i].p;
        if (r < acc)
            return c[i].id;
    }
    return c[m - 1].id;
}
