/*
 * sampler.c — token sampling: logit bias -> penalties (repetition, presence, frequency) -> top-k -> temperature
 * -> softmax -> min-p -> top-p -> draw, with a seeded xoshiro256** generator; log-probabilities of the raw
 * logits for the OpenAI API. Candidates are ordered by (logit desc, id asc), so equal inputs give equal choices
 * on every machine. The softmax's exponentials come from lc_kernels.exp_shifted (util/exp_nonpos.h in SIMD,
 * the same bits on every CPU): over a 128k vocabulary libm's exp, one call per token, cost ~1 ms per draw.
 *
 * Invariants: the sampler owns its copy of the logit bias (p.logit_bias points into it); cnt[] is all zero
 * between calls (the penalty pass sets and clears only the entries of the tokens in the window), so the work
 * per token is one pass over the vocabulary plus O(window + n_logit_bias), and no full sort unless top-p needs
 * one. Everything a draw depends on (params, history, generator) is in the struct, so a clone draws the same.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "llamac.h"
#include "kernels/quant.h"
#include "util/exp_nonpos.h"

typedef struct cand {
    int32_t id;
    float logit;
    double p;
} cand;

struct llamac_sampler {
    llamac_sampler_params p;  /* p.logit_bias points to bias */
    int n_vocab;
    cand *c;                  /* [n_vocab] scratch candidates */
    float *w;                 /* [n_vocab] scratch logits after bias and penalties (a NaN stays: never drawn) */
    double *pd;               /* [n_vocab] scratch unnormalized probabilities, in id order */
    int32_t *cnt;             /* [n_vocab] scratch occurrence counts, all zero between calls */
    int id_bits;              /* bits that hold n_vocab - 1 */
    llamac_logit_bias *bias;  /* [p.n_logit_bias] owned copy, or NULL */
    int32_t *hist;            /* ring of the last repeat_last_n accepted tokens */
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

static void seed_rng(llamac_sampler *s)
{
    uint64_t x = s->p.seed;
    for (int i = 0; i < 4; i++)
        s->rng[i] = splitmix64(&x);
}

void llamac_sampler_reset(llamac_sampler *s)
{
    if (!s)
        return;
    seed_rng(s);
    s->hist_n = s->hist_pos = 0;
}

void llamac_sampler_set_seed(llamac_sampler *s, uint64_t seed)
{
    if (!s)
        return;
    s->p.seed = seed;
    seed_rng(s);
}

static int is_finite(float x)
{
    return x == x && x != INFINITY && x != -INFINITY;
}

static llamac_status check_params(const llamac_sampler_params *p, int n_vocab)
{
    if (!(p->temperature == p->temperature) || !(p->top_p == p->top_p) || !(p->min_p == p->min_p) ||
        !(p->repeat_penalty > 0) || !is_finite(p->repeat_penalty) || p->repeat_last_n < 0 ||
        p->repeat_last_n > (1 << 20) || !is_finite(p->presence_penalty) || !is_finite(p->frequency_penalty) ||
        p->n_logit_bias < 0 || (p->n_logit_bias > 0 && !p->logit_bias))
        return LLAMAC_E_INVALID_ARG;
    for (int i = 0; i < p->n_logit_bias; i++) {
        const llamac_logit_bias *b = &p->logit_bias[i];
        /* -INFINITY bans; NaN and +INFINITY have no meaning as a shift of a logit */
        if (b->token < 0 || b->token >= n_vocab || !(b->bias == b->bias) || b->bias == INFINITY)
            return LLAMAC_E_INVALID_ARG;
    }
    return LLAMAC_OK;
}

/* A sampler with the parameters p (already checked) and fresh buffers; the caller sets the state. */
static llamac_sampler *alloc_sampler(const llamac_sampler_params *p, int n_vocab)
{
    llamac_sampler *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->p = *p;
    s->n_vocab = n_vocab;
    while ((n_vocab - 1) >> s->id_bits)
        s->id_bits++;
    s->c = malloc((size_t)n_vocab * sizeof *s->c);
    s->w = malloc((size_t)n_vocab * sizeof *s->w);
    s->pd = malloc((size_t)n_vocab * sizeof *s->pd);
    s->cnt = calloc((size_t)n_vocab, sizeof *s->cnt);
    s->hist = malloc((size_t)(p->repeat_last_n ? p->repeat_last_n : 1) * sizeof *s->hist);
    if (p->n_logit_bias > 0) {
        s->bias = malloc((size_t)p->n_logit_bias * sizeof *s->bias);
        if (s->bias)
            memcpy(s->bias, p->logit_bias, (size_t)p->n_logit_bias * sizeof *s->bias);
    }
    s->p.logit_bias = s->bias;
    if (!s->c || !s->w || !s->pd || !s->cnt || !s->hist || (p->n_logit_bias > 0 && !s->bias)) {
        llamac_sampler_free(s);
        return NULL;
    }
    return s;
}

llamac_status llamac_sampler_create(const llamac_sampler_params *params, int n_vocab, llamac_sampler **out)
{
    if (!out)
        return LLAMAC_E_INVALID_ARG;
    *out = NULL;
    if (n_vocab < 1)
        return LLAMAC_E_INVALID_ARG;
    llamac_sampler_params p = params ? *params : llamac_sampler_default_params();
    llamac_status st = check_params(&p, n_vocab);
    if (st != LLAMAC_OK)
        return st;
    llamac_sampler *s = alloc_sampler(&p, n_vocab);
    if (!s)
        return LLAMAC_E_NOMEM;
    llamac_sampler_reset(s);
    *out = s;
    return LLAMAC_OK;
}

llamac_status llamac_sampler_clone(const llamac_sampler *s, llamac_sampler **out)
{
    if (!out)
        return LLAMAC_E_INVALID_ARG;
    *out = NULL;
    if (!s)
        return LLAMAC_E_INVALID_ARG;
    llamac_sampler *d = alloc_sampler(&s->p, s->n_vocab);
    if (!d)
        return LLAMAC_E_NOMEM;
    memcpy(d->hist, s->hist, (size_t)s->hist_n * sizeof *s->hist);
    d->hist_n = s->hist_n;
    d->hist_pos = s->hist_pos;
    memcpy(d->rng, s->rng, sizeof d->rng);
    *out = d;
    return LLAMAC_OK;
}

void llamac_sampler_free(llamac_sampler *s)
{
    if (!s)
        return;
    free(s->c);
    free(s->w);
    free(s->pd);
    free(s->cnt);
    free(s->bias);
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

/* Adds the logit bias, then the penalties of the tokens in the window, to w[i] = logits[i]:
 * repetition (divides a positive logit, multiplies a negative one), then presence and frequency
 * (logit -= presence * (count > 0) + frequency * count). Touches only the biased and the window's tokens. */
static void bias_and_penalize(llamac_sampler *s, float *w)
{
    const int n = s->n_vocab;
    for (int i = 0; i < s->p.n_logit_bias; i++)
        w[s->bias[i].token] += s->bias[i].bias;
    const float rp = s->p.repeat_penalty, pp = s->p.presence_penalty, fp = s->p.frequency_penalty;
    if (rp == 1.0f && pp == 0.0f && fp == 0.0f)
        return;
    int32_t *cnt = s->cnt;
    for (int h = 0; h < s->hist_n; h++) {
        int32_t t = s->hist[h];
        if (t >= 0 && t < n)
            cnt[t]++;
    }
    /* each distinct token once, at its first occurrence in the ring; clearing cnt marks it done */
    for (int h = 0; h < s->hist_n; h++) {
        int32_t t = s->hist[h];
        if (t < 0 || t >= n || cnt[t] == 0)
            continue;
        float l = w[t];
        if (rp != 1.0f)
            l = l > 0 ? l / rp : l * rp;
        l -= pp + fp * (float)cnt[t];
        w[t] = l;
        cnt[t] = 0;
    }
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

/* c[0..k) = the k best tokens of w[0..n) (NaN read as -infinity), sorted: top_k's result without writing n
 * candidates first (a token enters the heap only when it beats the worst kept one). */
static void best_of(cand *c, const float *w, int n, int k)
{
    for (int i = 0; i < k; i++) {
        c[i].id = i;
        c[i].logit = w[i] == w[i] ? w[i] : -INFINITY;
    }
    for (int i = k / 2 - 1; i >= 0; i--)
        sift_down(c, k, i);
    /* a later token beats the worst kept one only with a larger logit (a tie loses on id; NaN never beats) */
    float worst = c[0].logit;
    for (int i = k; i < n; i++)
        if (w[i] > worst) {
            c[0].id = i;
            c[0].logit = w[i];
            sift_down(c, k, 0);
            worst = c[0].logit;
        }
    qsort(c, (size_t)k, sizeof *c, cmp_cand);
}

/* Unsigned keys in (logit desc) order: -0 counts as +0, as the comparison above has them equal. */
static uint32_t desc_key(float f)
{
    uint32_t u;
    if (f == 0.0f)
        f = 0.0f;
    memcpy(&u, &f, sizeof u);
    u = (u & 0x80000000u) ? ~u : (u | 0x80000000u); /* ascending with f */
    return ~u;
}

static float key_logit(uint32_t k)
{
    uint32_t u = ~k;
    u = (u & 0x80000000u) ? (u & 0x7fffffffu) : ~u;
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

/* Puts into c[0..return) the best candidates of c[0..m) (any order) in (logit desc, id asc) order: at least
 * those that hold `limit` of the mass (all m when they do not). For a large top-p nucleus, where a heap over 128k
 * candidates cost ~25 ms: an LSD radix sort, 11 bits a pass, of the 64-bit keys (logit key << id_bits | id),
 * held in c's own memory (16 bytes a candidate = two key arrays); each p waits in p_by_id[id]. */
static int sort_all(cand *c, int m, int id_bits, double *p_by_id, double limit)
{
    _Static_assert(sizeof(cand) == 2 * sizeof(uint64_t), "two keys fit in a candidate");
    uint64_t *a = (uint64_t *)(void *)c;
    double mass[2048] = {0}; /* by the key's top 11 bits (sign, exponent, 2 mantissa bits) */
    for (int i = 0; i < m; i++) { /* a[i] overlaps c[i / 2], read already */
        const cand x = c[i];
        const uint32_t key = desc_key(x.logit);
        p_by_id[x.id] = x.p;
        mass[key >> 21] += x.p;
        a[i] = (uint64_t)key << id_bits | (uint32_t)x.id;
    }
    /* Only the buckets up to the one where the mass reaches top_p can hold the nucleus: keep those. The margin
     * covers the summation order (the nucleus loop adds the same values sorted; n * 2^-53 relative at most). */
    double cum = 0;
    for (int d = 0; d < 2048; d++) {
        cum += mass[d];
        if (cum > limit * (1.0 + 1e-9)) {
            int k = 0;
            for (int i = 0; i < m; i++)
                if ((int)(a[i] >> (id_bits + 21)) <= d)
                    a[k++] = a[i];
            m = k;
            break;
        }
    }
    uint64_t *b = a + m;
    uint32_t cnt[2048];
    for (int shift = 0; shift < 32 + id_bits; shift += 11) {
        memset(cnt, 0, sizeof cnt);
        for (int i = 0; i < m; i++)
            cnt[(a[i] >> shift) & 2047]++;
        if (cnt[(a[0] >> shift) & 2047] == (uint32_t)m)
            continue; /* one digit for all: the order stays */
        uint32_t at = 0;
        for (int d = 0; d < 2048; d++) {
            const uint32_t n = cnt[d];
            cnt[d] = at;
            at += n;
        }
        for (int i = 0; i < m; i++)
            b[cnt[(a[i] >> shift) & 2047]++] = a[i];
        uint64_t *t = a;
        a = b;
        b = t;
    }
    if (a != (uint64_t *)(void *)c) {
        memcpy(b, a, (size_t)m * sizeof *a);
        a = b;
    }
    const uint64_t id_mask = ((uint64_t)1 << id_bits) - 1;
    for (int i = m - 1; i >= 0; i--) { /* c[i] overlaps a[2i], a[2i + 1], read already (or past the end) */
        const uint64_t k = a[i];
        const int32_t id = (int32_t)(k & id_mask);
        c[i].id = id;
        c[i].logit = key_logit((uint32_t)(k >> id_bits));
        c[i].p = p_by_id[id];
    }
    return m;
}

/* min-p (unless applied already), top-p and the draw over the candidates c[0..m) whose p are set (sum = their
 * total; sorted: c is in (logit desc, id asc) order already). */
static int32_t draw_candidates(llamac_sampler *s, cand *c, int m, double sum, int sorted, int min_p_done)
{
    if (s->p.min_p > 0.0f && !min_p_done) {
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
        /* The nucleus is usually a few dozen tokens: a heap picks the best 256 in order; only when they hold
         * less than top_p of the mass (a flat distribution) are all candidates sorted, by radix. */
        double limit = s->p.top_p * sum;
        int have = sorted ? m : (m < 256 ? m : 256);
        if (!sorted)
            top_k(c, m, have);
        double cum;
        int k;
        for (int sorted_all = 0;; sorted_all = 1) {
            cum = 0;
            k = 0;
            while (k < have && cum < limit)
                cum += c[k++].p;
            if (cum >= limit || have == m || sorted_all)
                break; /* (after sort_all only c[0..have) are candidates; they hold the nucleus) */
            have = sort_all(c, m, s->id_bits, s->pd, limit);
        }
        m = k;
        sum = cum;
    }
    double r = next_unit(s->rng) * sum, acc = 0;
    int last = 0; /* if rounding lets r reach sum: the last candidate that can be drawn (never a banned one) */
    for (int i = 0; i < m; i++) {
        acc += c[i].p;
        if (r < acc)
            return c[i].id;
        if (c[i].p > 0)
            last = i;
    }
    return c[last].id;
}

/* The sum of v[0..n) in a fixed order (four interleaved partial sums, then added in order): the same on every
 * machine, and four times shorter a dependency chain than one running sum. */
static double sum4(const double *v, int n)
{
    double a0 = 0, a1 = 0, a2 = 0, a3 = 0;
    int i = 0;
    for (; i + 4 <= n; i += 4) {
        a0 += v[i];
        a1 += v[i + 1];
        a2 += v[i + 2];
        a3 += v[i + 3];
    }
    for (; i < n; i++)
        a0 += v[i];
    return (a0 + a1) + (a2 + a3);
}

/* The tokens with a logit >= cut and p > 0 as candidates c[0..m), in id order; *mass = the sum of their p. */
static int collect(cand *c, const float *w, const double *pd, int n, float cut, double *mass)
{
    int m = 0;
    double sum = 0;
    for (int i = 0; i < n; i++)
        if (w[i] >= cut && pd[i] > 0) {
            c[m].id = i;
            c[m].logit = w[i];
            c[m].p = pd[i];
            sum += pd[i];
            m++;
        }
    *mass = sum;
    return m;
}

/* Sampling over the whole vocabulary (no top-k), w = the adjusted logits, mx their maximum (finite). The
 * probabilities are computed once into pd, in id order, without building n candidates: min-p is a threshold
 * on pd; without top-p the draw walks pd in id order; with top-p only the tokens whose logit is within 20 x
 * temperature of the best (p >= e^-20 of the best's) become candidates when their mass already holds top_p of
 * the total, else every token does. The nucleus is a prefix of the (logit desc, id asc) order, and so is that
 * set, so the nucleus found in it is the one the whole vocabulary gives. */
static int32_t sample_vocab(llamac_sampler *s, const float *w, float mx)
{
    const int n = s->n_vocab;
    double *pd = s->pd;
    lc_kernels_get()->exp_shifted(pd, w, n, (double)mx, 1.0 / (double)s->p.temperature);
    const double min_p = s->p.min_p > 0.0f ? (double)s->p.min_p : 0.0;
    if (min_p > 0) {
        for (int i = 0; i < n; i++)
            if (pd[i] < min_p)
                pd[i] = 0; /* dropped: a zero is never drawn */
    }
    const double sum = sum4(pd, n);
    if (s->p.top_p >= 1.0f) {
        double r = next_unit(s->rng) * sum, acc = 0;
        int last = 0;
        for (int i = 0; i < n; i++) {
            acc += pd[i];
            if (r < acc)
                return i;
            if (pd[i] > 0)
                last = i;
        }
        return last;
    }
    const double limit = s->p.top_p * sum;
    double mass;
    int m = collect(s->c, w, pd, n, mx - 20.0f * s->p.temperature, &mass);
    if (!(mass > limit * (1.0 + 1e-9))) /* margin: the nucleus loop sums the same values in another order */
        m = collect(s->c, w, pd, n, -INFINITY, &mass);
    if (m == 0)
        return 0;
    return draw_candidates(s, s->c, m, sum, 0, 1); /* min-p is applied already (pd zeroed) */
}

int32_t llamac_sampler_sample(llamac_sampler *s, const float *logits)
{
    if (!s || !logits)
        return -1;
    const int n = s->n_vocab;
    float mx;
    if (s->p.temperature <= 0.0f && s->p.n_logit_bias == 0 && s->p.repeat_penalty == 1.0f &&
        s->p.presence_penalty == 0.0f && s->p.frequency_penalty == 0.0f)
        return (int32_t)lc_kernels_get()->argmax(logits, n, &mx); /* what the path below picks, read-only */
    float *w = s->w;
    memcpy(w, logits, (size_t)n * sizeof *w);
    bias_and_penalize(s, w);
    /* NaN logits never win (nor are they drawn: exp_shifted gives them 0, collect skips them, and top-k's
     * candidates read them as -infinity); the first largest logit (ties: the smaller id) */
    const int best = (int)lc_kernels_get()->argmax(w, n, &mx);
    if (s->p.temperature <= 0.0f || mx == -INFINITY)
        return best;
    if (mx == INFINITY) /* a +infinity logit (an overflowed model): the first one is certain */
        return best;
    if (!(s->p.top_k > 0 && s->p.top_k < n))
        return sample_vocab(s, w, mx);
    cand *c = s->c;
    const int m = s->p.top_k;
    best_of(c, w, n, m);
    double sum = 0;
    for (int i = 0; i < m; i++) {
        c[i].p = lc_exp_nonpos(((double)c[i].logit - (double)mx) * (1.0 / (double)s->p.temperature));
        sum += c[i].p;
    }
    return draw_candidates(s, c, m, sum, 1, 0);
}

/* The raw logit as a double; NaN counts as -infinity, as in sampling. */
static double raw_logit(const float *logits, int i)
{
    float l = logits[i];
    return l == l ? (double)l : -INFINITY;
}

/* Inserts token i into top[0..*have) (at most n entries), kept sorted by (logit desc, id asc). Tokens arrive in
 * increasing id order, so a tie with a kept entry never displaces it. */
static void keep_top(llamac_token_logprob *top, double *val, int *have, int n, int i, double l)
{
    if (*have == n && !(l > val[n - 1]))
        return;
    int k = *have < n ? (*have)++ : n - 1;
    while (k > 0 && l > val[k - 1]) {
        top[k] = top[k - 1];
        val[k] = val[k - 1];
        k--;
    }
    top[k].token = i;
    val[k] = l;
}

/* l - log_z, where log_z = -infinity (every logit -infinity) gives -infinity rather than NaN */
static float logprob(double l, double log_z)
{
    return log_z > -INFINITY ? (float)(l - log_z) : -INFINITY;
}

int32_t llamac_sampler_sample_logprobs(llamac_sampler *s, const float *logits, int n_top,
                                       llamac_token_logprob *chosen, llamac_token_logprob *top)
{
    int32_t id = llamac_sampler_sample(s, logits);
    if (id < 0)
        return id;
    const int n = s->n_vocab;
    if (n_top < 0 || !top)
        n_top = 0;
    if (n_top > LLAMAC_MAX_TOP_LOGPROBS)
        n_top = LLAMAC_MAX_TOP_LOGPROBS;
    /* log-softmax in double, reduced in a fixed order: the same numbers on every machine and thread count */
    double mx = -INFINITY, val[LLAMAC_MAX_TOP_LOGPROBS];
    int have = 0, want = n_top < n ? n_top : n;
    for (int i = 0; i < n; i++) {
        double l = raw_logit(logits, i);
        if (l > mx)
            mx = l;
        if (want > 0)
            keep_top(top, val, &have, want, i, l);
    }
    double log_z = -INFINITY;
    if (mx == INFINITY) {
        log_z = INFINITY;
    } else if (mx > -INFINITY) {
        lc_kernels_get()->exp_shifted(s->pd, logits, n, mx, 1.0); /* NaN -> 0, as -infinity */
        log_z = mx + log(sum4(s->pd, n));
    }
    for (int k = 0; k < have; k++)
        top[k].logprob = logprob(val[k], log_z);
    for (int k = have; k < n_top; k++) {
        top[k].token = -1;
        top[k].logprob = -INFINITY;
    }
    if (chosen) {
        chosen->token = id;
        chosen->logprob = logprob(raw_logit(logits, id), log_z);
    }
    return id;
}
