/*
 * test_ops.c — the SIMD per-token operations against the scalar references of core/ops.c:
 *   - vectorized exp: at most 2 ulp from the correctly rounded exp over a dense sweep of the float range,
 *     exact special cases (0 -> 1, -inf -> 0, +inf/overflow -> inf, NaN -> NaN, deep underflow -> 0)
 *   - RMSNorm, SwiGLU, attention (f32 and f16 KV, head_dim 64/128/odd sizes, GQA groups): within stated
 *     bounds of the reference; the avx2 and avx512 tables bit-identical; attention of n_q heads at once
 *     bit-identical to one head at a time (heads never influence each other); attention over a paged KV view
 *     (blocks of 16..4096 positions in scattered order) bit-identical to the same rows stored contiguously
 *   - exp_shifted (the sampler's softmax): every table bit-identical to the scalar reference, which is within
 *     5e-16 relative (2 ulp) of libm's exp over [-708, 0]
 *   - argmax (greedy sampling): every table returns the reference's index and maximum (the first largest, NaN
 *     never winning) for lengths 1..70 and a vocabulary's, with ties, NaN, +-infinity, all -infinity
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/kernels.h"
#include "check.h"

static int same_bits(const float *a, const float *b, int64_t n)
{
    for (int64_t i = 0; i < n; i++) {
        uint32_t x, y;
        memcpy(&x, &a[i], 4);
        memcpy(&y, &b[i], 4);
        if (x != y && !(a[i] != a[i] && b[i] != b[i]))
            return 0;
    }
    return 1;
}

/* distance in units in the last place between float f and the exact value e (double) */
static double ulp_err(float f, double e)
{
    if (isinf(e) || e > 3.4028234663852886e38)
        return isinf(f) && f > 0 ? 0 : 1e9;
    double ulp = e < 1.1754943508222875e-38 ? ldexp(1.0, -149) : ldexp(1.0, ilogb(e) - 23);
    return fabs((double)f - e) / ulp;
}

static void test_exp(const char *name, void (*fn)(float *, const float *, int64_t))
{
    const int64_t n = 1 << 20;
    float *x = malloc(n * sizeof(float)), *y = malloc(n * sizeof(float));
    double worst = 0;
    float worst_x = 0;
    for (int pass = 0; pass < 4; pass++) {
        for (int64_t i = 0; i < n; i++) /* a dense sweep of [-104, 89] plus random points */
            x[i] = pass < 2 ? -104.0f + 193.0f * (float)(i + pass * 0.5) / (float)n : 95.0f * frand();
        fn(y, x, n - 3); /* odd length: the tail path */
        for (int64_t i = 0; i < n - 3; i++) {
            double e = ulp_err(y[i], exp((double)x[i]));
            if (e > worst) {
                worst = e;
                worst_x = x[i];
            }
        }
    }
    printf("%s exp: max error %.2f ulp (at x = %.9g)\n", name, worst, worst_x);
    CHECK(worst <= 2.0, "%s exp: max error %.2f ulp at x = %.9g", name, worst, worst_x);
    float sx[] = {0.0f, -0.0f, -INFINITY, INFINITY, NAN, 89.0f, 200.0f, -200.0f, -103.5f, 88.72f, -87.3f, 1.0f};
    float sy[12];
    fn(sy, sx, 12);
    CHECK(sy[0] == 1.0f && sy[1] == 1.0f, "%s exp(0)", name);
    CHECK(sy[2] == 0.0f && isinf(sy[3]) && sy[4] != sy[4], "%s exp(-inf/inf/nan) = %g %g %g", name, sy[2], sy[3],
          sy[4]);
    CHECK(isinf(sy[5]) && isinf(sy[6]) && sy[7] == 0.0f, "%s exp overflow/underflow", name);
    CHECK(sy[8] >= 0.0f && sy[8] < 1e-44f, "%s exp(-103.5) = %g", name, sy[8]);
    CHECK(isfinite(sy[9]) && ulp_err(sy[9], exp((double)88.72f)) <= 2, "%s exp(88.72) = %g", name, sy[9]);
    CHECK(ulp_err(sy[10], exp((double)-87.3f)) <= 2, "%s exp(-87.3) (near the subnormal boundary) = %g", name,
          sy[10]);
    free(x);
    free(y);
}

static void test_rmsnorm_swiglu(const lc_kernels *k, const lc_kernels *ref)
{
    static const int64_t sizes[] = {1, 7, 8, 15, 16, 17, 100, 2048, 4099};
    for (size_t si = 0; si < sizeof sizes / sizeof sizes[0]; si++) {
        int64_t n = sizes[si];
        float *x = malloc(n * 4), *w = malloc(n * 4), *u = malloc(n * 4), *y0 = malloc(n * 4), *y1 = malloc(n * 4);
        for (int64_t i = 0; i < n; i++) {
            x[i] = frand() * 3;
            w[i] = 1 + frand() * 0.2f;
            u[i] = frand();
        }
        ref->rmsnorm(y0, x, w, n, 1e-5f);
        k->rmsnorm(y1, x, w, n, 1e-5f);
        /* the scale may differ by the last bit of the double sum's rounding only: 2 ulp of each output */
        for (int64_t i = 0; i < n; i++)
            CHECK(fabsf(y0[i] - y1[i]) <= 2.5e-7f * fabsf(y0[i]) + 1e-37f, "%s rmsnorm n=%lld [%lld]: %.9g vs %.9g",
                  k->name, (long long)n, (long long)i, y1[i], y0[i]);
        for (int64_t i = 0; i < n; i++)
            x[i] = frand() * 30; /* SiLU over a wide range, including exp overflow for -g > 88 */
        if (n > 3) {
            x[0] = -100.0f;
            x[1] = 100.0f;
            x[2] = 0.0f;
        }
        ref->swiglu(y0, x, u, n);
        k->swiglu(y1, x, u, n);
        /* exp within 2 ulp -> silu within ~3 ulp (1 + e and the division add one rounding each) */
        for (int64_t i = 0; i < n; i++)
            CHECK(fabsf(y0[i] - y1[i]) <= 4.8e-7f * fabsf(y0[i]) + 1e-37f, "%s swiglu [%lld] g=%g: %.9g vs %.9g",
                  k->name, (long long)i, x[i], y1[i], y0[i]);
        free(x);
        free(w);
        free(u);
        free(y0);
        free(y1);
    }
}

/* A paged copy of a contiguous K/V (n rows of hd elements, esize bytes each): blocks of 2^lb positions in a
 * pool with K and V of a block side by side plus padding (like the real cache), block ids a random permutation
 * of a larger pool, and every row no position maps to filled with NaN (a kernel reading a wrong row shows). */
typedef struct paged {
    char *mem;
    int32_t *ids;
    lc_kv_view view;
} paged;

static paged make_paged(const void *k, const void *v, int n, int hd, int f16, int lb)
{
    const int bs = 1 << lb, n_blk = (n + bs - 1) / bs, pool = n_blk + 3;
    const size_t rb = (size_t)hd * (f16 ? 2 : 4), slab = (size_t)bs * rb, stride = 2 * slab + 64;
    paged pg;
    pg.mem = malloc((size_t)pool * stride);
    memset(pg.mem, 0xff, (size_t)pool * stride); /* NaN in f32 and f16 */
    int32_t *perm = malloc(sizeof(int32_t) * pool);
    for (int i = 0; i < pool; i++)
        perm[i] = i;
    for (int i = pool - 1; i > 0; i--) {
        int r = (int)(rnd() % (uint64_t)(i + 1));
        int32_t t = perm[i];
        perm[i] = perm[r];
        perm[r] = t;
    }
    pg.ids = perm;
    lc_kv_view vw = {pg.mem, pg.mem + slab, perm, stride, lb, f16};
    pg.view = vw;
    for (int j = 0; j < n; j++) {
        size_t off = lc_kv_row_offset(&pg.view, j, rb);
        memcpy(pg.mem + off, (const char *)k + (size_t)j * rb, rb);
        memcpy(pg.mem + slab + off, (const char *)v + (size_t)j * rb, rb);
    }
    return pg;
}

/* attention vs the reference: scores are dot products of length head_dim (FMA in 16 lanes vs sequential),
 * then softmax and a weighted sum; relative 2e-5 of the largest |out| covers both orders comfortably.
 * Every table gives the same bits on a paged view (block sizes 16..4096, scattered blocks) as on one
 * contiguous block. */
static void test_attention(const lc_kernels *k, const lc_kernels *ref, const lc_kernels *other)
{
    static const int hds[] = {64, 128, 32, 80, 72, 18};
    static const int npos[] = {1, 2, 15, 16, 17, 100, 333, 4100};
    static const int lbs[] = {4, 5, 6, 12};
    const int32_t zero = 0;
    for (size_t hi = 0; hi < sizeof hds / sizeof hds[0]; hi++) {
        for (size_t pi = 0; pi < sizeof npos / sizeof npos[0]; pi++) {
            for (int f16 = 0; f16 <= 1; f16++) {
                /* 1..8 query heads: every tiling of the avx512 scores pass (4, 2 and 1 heads) and its mixes */
                int hd = hds[hi], n = npos[pi], n_q = 1 + (int)((hi * 7 + pi * 3 + (size_t)f16 * 5) % 8);
                if (pi == 4) /* more query heads than the kernels take at once */
                    n_q = 18;
                float *q = malloc(sizeof(float) * n_q * hd), *o0 = malloc(sizeof(float) * n_q * hd);
                float *o1 = malloc(sizeof(float) * n_q * hd), *o2 = malloc(sizeof(float) * n_q * hd);
                float *sc = malloc(sizeof(float) * n_q * n);
                void *kv_k = malloc((size_t)n * hd * 4), *kv_v = malloc((size_t)n * hd * 4);
                for (int i = 0; i < n_q * hd; i++)
                    q[i] = frand() * 2;
                for (int i = 0; i < n * hd; i++) {
                    float a = frand() * 2, b = frand();
                    if (f16) {
                        ((lc_half *)kv_k)[i] = lc_f32_to_half(a);
                        ((lc_half *)kv_v)[i] = lc_f32_to_half(b);
                    } else {
                        ((float *)kv_k)[i] = a;
                        ((float *)kv_v)[i] = b;
                    }
                }
                /* contiguous: one block of 2^16 positions */
                lc_kv_view flat = {kv_k, kv_v, &zero, 0, 16, f16};
                ref->attention(o0, q, n_q, &flat, n, hd, sc);
                k->attention(o1, q, n_q, &flat, n, hd, sc);
                float mx = 0;
                for (int i = 0; i < n_q * hd; i++)
                    mx = fmaxf(mx, fabsf(o0[i]));
                int bad = 0;
                for (int i = 0; i < n_q * hd && !bad; i++) {
                    if (fabsf(o0[i] - o1[i]) > 2e-5f * mx) {
                        bad = 1;
                        CHECK(0, "%s attention hd=%d n_pos=%d f16=%d [%d]: %.9g vs %.9g", k->name, hd, n, f16, i, o1[i],
                              o0[i]);
                    }
                }
                /* one head at a time gives the same bits */
                for (int h = 0; h < n_q; h++)
                    k->attention(o2 + h * hd, q + h * hd, 1, &flat, n, hd, sc);
                CHECK(same_bits(o1, o2, (int64_t)n_q * hd), "%s attention hd=%d n_pos=%d: grouped heads differ",
                      k->name, hd, n);
                if (other) {
                    other->attention(o2, q, n_q, &flat, n, hd, sc);
                    CHECK(same_bits(o1, o2, (int64_t)n_q * hd), "attention hd=%d n_pos=%d f16=%d: %s and %s differ", hd,
                          n, f16, k->name, other->name);
                }
                /* paged views: the same bits as contiguous, for this table and the reference */
                for (size_t li = 0; li < sizeof lbs / sizeof lbs[0]; li++) {
                    paged pg = make_paged(kv_k, kv_v, n, hd, f16, lbs[li]);
                    k->attention(o2, q, n_q, &pg.view, n, hd, sc);
                    CHECK(same_bits(o1, o2, (int64_t)n_q * hd),
                          "%s paged attention (block %d) hd=%d n_pos=%d f16=%d differs from contiguous", k->name,
                          1 << lbs[li], hd, n, f16);
                    ref->attention(o2, q, n_q, &pg.view, n, hd, sc);
                    CHECK(same_bits(o0, o2, (int64_t)n_q * hd),
                          "reference paged attention (block %d) hd=%d n_pos=%d f16=%d differs from contiguous",
                          1 << lbs[li], hd, n, f16);
                    free(pg.mem);
                    free(pg.ids);
                }
                free(q);
                free(o0);
                free(o1);
                free(o2);
                free(sc);
                free(kv_k);
                free(kv_v);
            }
        }
    }
}

/* exp_shifted: every table gives the scalar reference's bits (tails of 1..17, NaN, -infinity, the -708 cut),
 * and the reference is within 5e-16 relative (2 ulp) of libm's exp over [-708, 0] */
static void test_exp_shifted(const lc_kernels *k, const lc_kernels *ref)
{
    enum { N = 4099 };
    float *x = malloc(N * sizeof *x);
    double *y0 = malloc(N * sizeof *y0), *y1 = malloc(N * sizeof *y1);
    const double shift = 3.25, scales[] = {1.0, 1.0 / 0.6, 1.0 / 0.01, 0.5};
    for (int si = 0; si < 4; si++) {
        const double scale = scales[si];
        for (int i = 0; i < N; i++)
            x[i] = (float)(shift - fabs((double)frand()) * 800.0 / scale * (i % 3 ? 0.05 : 1.0));
        x[0] = (float)shift;
        x[1] = NAN;
        x[2] = -INFINITY;
        x[3] = (float)(shift - 708.0 / scale);
        x[4] = (float)(shift - 707.9 / scale);
        for (int n = 1; n <= 17; n++) {
            ref->exp_shifted(y0, x, n, shift, scale);
            k->exp_shifted(y1, x, n, shift, scale);
            CHECK(memcmp(y0, y1, (size_t)n * sizeof *y0) == 0, "%s exp_shifted n=%d scale %g: bits differ from scalar",
                  k->name, n, scale);
        }
        ref->exp_shifted(y0, x, N, shift, scale);
        k->exp_shifted(y1, x, N, shift, scale);
        CHECK(memcmp(y0, y1, N * sizeof *y0) == 0, "%s exp_shifted scale %g: bits differ from scalar", k->name, scale);
        CHECK(y0[0] == 1.0 && y0[1] == 0.0 && y0[2] == 0.0, "exp_shifted: exp(0) %g, NaN -> %g, -inf -> %g", y0[0],
              y0[1], y0[2]);
        double worst = 0;
        for (int i = 0; i < N; i++) {
            const double v = ((double)x[i] - shift) * scale;
            if (v > -708.0) {
                const double e = exp(v), rel = fabs(y0[i] - e) / e;
                worst = rel > worst ? rel : worst;
            } else {
                CHECK(y0[i] == 0.0, "exp_shifted(%g) = %g below the cut", v, y0[i]);
            }
        }
        CHECK(worst < 5e-16, "exp_shifted scale %g: relative error %g against libm", scale, worst);
    }
    free(x);
    free(y0);
    free(y1);
}

/* argmax on one array: the reference's index and maximum, which is the first largest by a plain loop here too */
static void check_argmax(const lc_kernels *k, const lc_kernels *ref, const float *x, int64_t n, const char *what)
{
    float m0 = 0, m1 = 1;
    const int64_t i0 = ref->argmax(x, n, &m0), i1 = k->argmax(x, n, &m1);
    int64_t want = 0;
    for (int64_t i = 1; i < n; i++)
        if (x[i] > x[want] || (x[want] != x[want] && x[i] == x[i]))
            want = i;
    const float wm = x[want] == x[want] ? x[want] : -INFINITY;
    if (wm == -INFINITY)
        want = 0;
    CHECK(i0 == want && (m0 == wm || (m0 != m0 && wm != wm)), "reference argmax %s n=%lld: %lld (%g), want %lld (%g)",
          what, (long long)n, (long long)i0, m0, (long long)want, wm);
    CHECK(i1 == i0 && memcmp(&m0, &m1, sizeof m0) == 0, "%s argmax %s n=%lld: %lld (%g), reference %lld (%g)", k->name,
          what, (long long)n, (long long)i1, m1, (long long)i0, m0);
}

static void test_argmax(const lc_kernels *k, const lc_kernels *ref)
{
    enum { N = 128256 };
    float *x = malloc(N * sizeof *x);
    for (int n = 1; n <= 70; n++) {
        for (int trial = 0; trial < 40; trial++) {
            for (int i = 0; i < n; i++) /* few distinct values: many ties */
                x[i] = (float)(int)(frand() * 3.0f);
            if (trial % 4 == 1)
                x[(int)(frand() * 0.49f * (float)n + 0.5f * (float)n) % n] = NAN;
            if (trial % 4 == 2)
                for (int i = 0; i < n; i++)
                    x[i] = i % 3 ? -INFINITY : NAN;
            if (trial % 8 == 3)
                x[n - 1] = INFINITY;
            if (trial % 8 == 7)
                x[0] = NAN;
            check_argmax(k, ref, x, n, "small");
        }
    }
    for (int i = 0; i < N; i++)
        x[i] = frand() * 10.0f;
    check_argmax(k, ref, x, N, "vocabulary");
    x[77777] = 50.0f;
    x[99999] = 50.0f;
    x[123] = NAN;
    check_argmax(k, ref, x, N, "vocabulary, tie");
    free(x);
}

static void test_paths_agree(const lc_kernels *a, const lc_kernels *b)
{
    const int64_t n = 4133;
    float *x = malloc(n * 4), *w = malloc(n * 4), *y0 = malloc(n * 4), *y1 = malloc(n * 4);
    for (int64_t i = 0; i < n; i++) {
        x[i] = frand() * 20;
        w[i] = frand();
    }
    a->rmsnorm(y0, x, w, n, 1e-6f);
    b->rmsnorm(y1, x, w, n, 1e-6f);
    CHECK(same_bits(y0, y1, n), "rmsnorm: %s and %s differ", a->name, b->name);
    a->swiglu(y0, x, w, n);
    b->swiglu(y1, x, w, n);
    CHECK(same_bits(y0, y1, n), "swiglu: %s and %s differ", a->name, b->name);
    lc_avx2_exp(y0, x, n);
    lc_avx512_exp(y1, x, n);
    CHECK(same_bits(y0, y1, n), "exp: avx2 and avx512 differ");
    free(x);
    free(w);
    free(y0);
    free(y1);
}

int main(void)
{
    rnd_seed(0x2545F4914F6CDD1Dull);
    const lc_kernels *ref = lc_kernels_by_name("scalar");
    const lc_kernels *k2 = lc_kernels_by_name("avx2"), *k5 = lc_kernels_by_name("avx512");
    test_exp_shifted(ref, ref); /* the reference's accuracy */
    test_argmax(ref, ref);
    if (k2) {
        test_exp("avx2", lc_avx2_exp);
        test_rmsnorm_swiglu(k2, ref);
        test_attention(k2, ref, NULL);
        test_exp_shifted(k2, ref);
        test_argmax(k2, ref);
    }
    if (k5) {
        test_exp("avx512", lc_avx512_exp);
        test_rmsnorm_swiglu(k5, ref);
        test_attention(k5, ref, k2);
        test_exp_shifted(k5, ref);
        test_argmax(k5, ref);
    }
    if (k2 && k5)
        test_paths_agree(k2, k5);
    return check_finish("test_ops");
}
