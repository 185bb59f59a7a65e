/*
 * test_kernels.c — every SIMD kernel table available on this CPU against the scalar reference:
 *   - activation quantizers: bit-identical to the reference (ties, zeros, tiny/huge values, NaN/Inf no crash)
 *   - quantized GEMMs (file layout and packed): bit-identical to the reference for every shape, nt 1..17 and
 *     64, and r0/r1 splits; corrupt blocks (NaN/Inf scales, extreme quants) do not crash and match too
 *   - float GEMMs (F32/F16/BF16): within the stated bound of the double reference, and bit-identical across
 *     tilings, splits and between the avx2 and avx512 tables
 *   - quantized GEMMs: the avx2 table has its own kernel for every quantized type, and scalar == avx2 == avx512
 *     bit for bit (NaN/Inf scales included)
 *   - the packed layout round-trips exactly
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/kernels.h"
#include "kernels/pack.h"
#include "kernels/quant_ref.h"
#include "check.h"

#if defined(__x86_64__)
#include <immintrin.h>
#endif

static int same_float(float a, float b)
{
    uint32_t x, y;
    memcpy(&x, &a, 4);
    memcpy(&y, &b, 4);
    return x == y || (a != a && b != b);
}

static void *xalloc(size_t n)
{
    void *p = aligned_alloc(64, (n + 63) & ~(size_t)63);
    if (!p) {
        fprintf(stderr, "out of memory\n");
        exit(2);
    }
    memset(p, 0, (n + 63) & ~(size_t)63);
    return p;
}

/* ---- activation quantizers (Q8_0 and Q8_1: blocks of 32 with a half scale) ---- */
static void test_quantize(const lc_kernels *k, int type)
{
    const lc_kernels *ref = lc_kernels_by_name("scalar");
    const int n = 32 * 40;
    const size_t bb = lc_type_traits_get(type)->bytes;
    float *x = xalloc(n * sizeof(float));
    size_t rb = k->act_row_bytes(type, n);
    CHECK(rb >= lc_row_bytes(type, n), "%s: act row bytes %zu too small", k->name, rb);
    uint8_t *a = xalloc(rb), *b = xalloc(rb);
    for (int trial = 0; trial < 200; trial++) {
        for (int i = 0; i < n; i++) {
            float scale = trial % 5 == 0 ? 1e-30f : trial % 5 == 1 ? 1e4f : 1.0f;
            x[i] = frand() * scale;
        }
        /* blocks with exact ties: amax = 127 so id = 1 and x.5 values must round away from zero */
        for (int blk = 0; blk < 4; blk++) {
            x[blk * 32] = 127.0f;
            for (int j = 1; j < 32; j++)
                x[blk * 32 + j] = (float)((int)(rnd() % 254) - 127) + ((rnd() & 1) ? 0.5f : -0.5f);
        }
        for (int j = 0; j < 32; j++) /* an all-zero block */
            x[4 * 32 + j] = 0.0f;
        if (trial % 7 == 3) { /* NaN and Inf: must not crash; compare only blocks without them */
            x[5 * 32 + 3] = NAN;
            x[6 * 32 + 9] = INFINITY;
        }
        memset(a, 0, rb);
        memset(b, 0, rb);
        k->quantize_row[type](x, a, n);
        ref->quantize_row[type](x, b, n);
        for (int blk = 0; blk < n / 32; blk++) {
            if (trial % 7 == 3 && (blk == 5 || blk == 6))
                continue;
            CHECK(!memcmp(a + blk * bb, b + blk * bb, bb), "%s: quantize_row %s block %d differs (trial %d)",
                  k->name, lc_type_traits_get(type)->name, blk, trial);
        }
        if (rb > lc_row_bytes(type, n)) {
            memcpy(b, a, rb);
            if (type == LLAMAC_TYPE_Q8_0)
                lc_q8x_fill_ext(b, n);
            else
                lc_q81x_fill_ext(b, n);
            CHECK(!memcmp(a, b, rb), "%s: %s extension differs (trial %d)", k->name, lc_type_traits_get(type)->name,
                  trial);
        }
    }
    free(x);
    free(a);
    free(b);
}

static void test_quantize_q8_K(const lc_kernels *k)
{
    const lc_kernels *ref = lc_kernels_by_name("scalar");
    if (k->quantize_row[LLAMAC_TYPE_Q8_K] == ref->quantize_row[LLAMAC_TYPE_Q8_K])
        return;
    const int n = 256 * 6;
    float *x = xalloc(n * sizeof(float));
    size_t rb = k->act_row_bytes(LLAMAC_TYPE_Q8_K, n);
    uint8_t *a = xalloc(rb), *b = xalloc(rb);
    for (int trial = 0; trial < 100; trial++) {
        for (int i = 0; i < n; i++)
            x[i] = frand() * (trial % 3 == 0 ? 1e-20f : trial % 3 == 1 ? 3e3f : 1.0f);
        for (int j = 0; j < 256; j++) /* ties: max 127 -> is = -1, x.5 values round to even */
            x[j] = j == 0 ? 127.0f : (float)((int)(rnd() % 254) - 127) + 0.5f;
        x[300] = 5000.0f; /* equal magnitudes: the first one is the signed max */
        x[301] = -5000.0f;
        for (int j = 512; j < 768; j++)
            x[j] = 0.0f;
        if (trial % 5 == 2) {
            x[800] = NAN;
            x[1100] = INFINITY;
        }
        k->quantize_row[LLAMAC_TYPE_Q8_K](x, a, n);
        ref->quantize_row[LLAMAC_TYPE_Q8_K](x, b, n);
        for (int blk = 0; blk < n / 256; blk++) {
            if (trial % 5 == 2 && (blk == 3 || blk == 4))
                continue;
            CHECK(!memcmp(a + blk * 292, b + blk * 292, 292), "%s: quantize_row Q8_K block %d differs (trial %d)",
                  k->name, blk, trial);
        }
    }
    free(x);
    free(a);
    free(b);
}

/* ---- weights ---- */
typedef struct mat {
    int type;
    int64_t n_out, n_in;
    size_t row_bytes;
    uint8_t *raw;
    uint8_t *packed;
    size_t group_bytes;
} mat;

static void put_half(uint8_t *p, float f)
{
    lc_half h = lc_f32_to_half(f);
    memcpy(p, &h, 2);
}

/* random weights; corrupt = 1 puts NaN/Inf scales and extreme quants into some blocks */
static mat make_mat(int type, int64_t n_out, int64_t n_in, int corrupt)
{
    mat m = {type, n_out, n_in, lc_row_bytes(type, n_in), NULL, NULL, 0};
    m.raw = xalloc(m.row_bytes * (size_t)n_out);
    const lc_type_traits *tt = lc_type_traits_get(type);
    float *row = xalloc((size_t)n_in * sizeof(float));
    for (int64_t r = 0; r < n_out; r++) {
        uint8_t *dst = m.raw + (size_t)r * m.row_bytes;
        const lc_pack_layout *L = lc_pack_layout_get(type);
        if (L) {
            /* random bytes cover every quant, scale and min value (e.g. -128 for Q8_0 and Q6_K scales);
             * the half fields get sane values, or NaN/Inf/huge ones when corrupt */
            for (size_t i = 0; i < m.row_bytes; i++)
                dst[i] = (uint8_t)rnd();
            for (int64_t b = 0; b < n_in / L->blck; b++) {
                uint8_t *blk = dst + (size_t)b * tt->bytes;
                for (int h = 0; h < L->nhalf; h++) {
                    float d = frand() * 0.05f;
                    if (corrupt && rnd() % 7 == 0)
                        d = rnd() % 3 == 0 ? NAN : rnd() % 2 ? INFINITY : -INFINITY;
                    if (corrupt && rnd() % 11 == 0)
                        d = 60000.0f; /* huge but finite */
                    put_half(blk + L->half_off[h], d);
                }
            }
        } else {
            for (int64_t i = 0; i < n_in; i++)
                row[i] = frand();
            if (corrupt)
                row[rnd() % n_in] = rnd() % 2 ? NAN : INFINITY;
            tt->from_float(row, dst, n_in);
        }
    }
    free(row);
    if (lc_pack_supported(type) && lc_pack_group_bytes(type, n_in)) { /* BF16 packs even n only */
        m.group_bytes = lc_pack_group_bytes(type, n_in);
        m.packed = xalloc(lc_pack_size(type, n_out, n_in));
        lc_pack_groups(type, m.raw, m.row_bytes, n_out, n_in, m.packed, 0, (n_out + 15) / 16);
    }
    return m;
}

static void free_mat(mat *m)
{
    free(m->raw);
    free(m->packed);
}

/* activation rows for table k: nt rows, stride = k's act_row_bytes */
static uint8_t *make_act(const lc_kernels *k, int act_type, int64_t n, int64_t nt, size_t *stride, float **xf)
{
    float *x = xalloc((size_t)(n * nt) * sizeof(float));
    for (int64_t i = 0; i < n * nt; i++)
        x[i] = frand();
    if (act_type == LLAMAC_TYPE_F32) {
        *stride = (size_t)n * sizeof(float);
        *xf = x;
        return (uint8_t *)x;
    }
    *stride = k->act_row_bytes(act_type, n);
    uint8_t *a = xalloc(*stride * (size_t)nt);
    for (int64_t t = 0; t < nt; t++)
        k->quantize_row[act_type](x + t * n, a + (size_t)t * *stride, n);
    *xf = x;
    return a;
}

static void run_gemm(const lc_kernels *k, const mat *m, int packed, const uint8_t *a, size_t as, int64_t nt,
                     float *y, int64_t ldy, int64_t r0, int64_t r1)
{
    lc_gemm_args g = {packed ? (const void *)m->packed : m->raw, packed ? m->group_bytes : m->row_bytes,
                      a, as, y, ldy, m->n_in, r0, r1, nt};
    if (packed)
        k->gemm_packed[m->type](&g);
    else
        k->gemm[m->type](&g);
}

/* Computes the whole product with the given nt split and row splits; returns y [nt_total][n_out]. */
static void gemm_split(const lc_kernels *k, const mat *m, int packed, const uint8_t *a, size_t as,
                       int64_t nt_total, int64_t tstep, int64_t rstep, int64_t rfirst, float *y)
{
    for (int64_t t0 = 0; t0 < nt_total; t0 += tstep) {
        int64_t nt = nt_total - t0 < tstep ? nt_total - t0 : tstep;
        int64_t r = 0, r1 = rfirst;
        while (r < m->n_out) {
            if (r1 > m->n_out)
                r1 = m->n_out;
            run_gemm(k, m, packed, a + (size_t)t0 * as, as, nt, y + t0 * m->n_out, m->n_out, r, r1);
            r = r1;
            r1 = r + rstep;
        }
    }
}

static void test_gemm_type(const lc_kernels *k, int type, int64_t n_out, int64_t n_in, int corrupt)
{
    const lc_kernels *ref = lc_kernels_by_name("scalar");
    const lc_type_traits *tt = lc_type_traits_get(type);
    /* the BF16-dot path is exact against its own reference (lc_bf16_dot_bf16), the f32 paths are bounded */
    const int bfdot = type == LLAMAC_TYPE_BF16 && k->act_type[type] == LLAMAC_TYPE_BF16;
    const int exact = bfdot || (type != LLAMAC_TYPE_F32 && type != LLAMAC_TYPE_F16 && type != LLAMAC_TYPE_BF16);
    mat m = make_mat(type, n_out, n_in, corrupt);
    const int64_t NT = 64;
    size_t as;
    float *xf;
    uint8_t *a = make_act(k, k->act_type[type], n_in, NT, &as, &xf);
    float *yref = xalloc((size_t)(NT * n_out) * sizeof(float));
    float *y0 = xalloc((size_t)(NT * n_out) * sizeof(float));
    float *y1 = xalloc((size_t)(NT * n_out) * sizeof(float));
    /* the reference reads the standard prefix of each activation row (same stride) */
    lc_gemm_args g = {m.raw, m.row_bytes, a, as, yref, n_out, n_in, 0, n_out, NT};
    (void)ref;
    if (!bfdot)
        lc_gemm_ref(type, &g);
    else /* from the f32 activations: the reference rounds them itself */
        for (int64_t t = 0; t < NT; t++)
            for (int64_t r = 0; r < n_out; r++)
                yref[t * n_out + r] = lc_bf16_dot_bf16(n_in, m.raw + (size_t)r * m.row_bytes, xf + t * n_in);

    for (int packed = 0; packed <= (k->gemm_packed[type] != NULL && m.packed != NULL); packed++) {
        if (!k->gemm[type])
            continue;
        const char *lay = packed ? "packed" : "raw";
        /* baseline: one call over everything */
        gemm_split(k, &m, packed, a, as, NT, NT, n_out, n_out, y0);
        int bad = 0;
        for (int64_t i = 0; i < NT * n_out && bad < 3; i++) {
            if (exact) {
                if (!same_float(y0[i], yref[i]) && !corrupt) {
                    bad++;
                    CHECK(0, "%s %s %s n_out=%lld n_in=%lld: y[%lld] = %.9g, reference %.9g", k->name, tt->name, lay,
                          (long long)n_out, (long long)n_in, (long long)i, y0[i], yref[i]);
                } else if (corrupt && !same_float(y0[i], yref[i])) {
                    bad++;
                    CHECK(0, "%s %s %s corrupt: y[%lld] = %.9g, reference %.9g", k->name, tt->name, lay, (long long)i,
                          y0[i], yref[i]);
                }
            } else if (!corrupt) {
                /* bound: (n/16 + 4) * 2^-24 * sum |w a| (+ the reference's own final rounding) */
                int64_t t = i / n_out, r = i % n_out;
                float *wr = xalloc((size_t)n_in * sizeof(float));
                tt->to_float(m.raw + (size_t)r * m.row_bytes, wr, n_in);
                double sabs = 0;
                for (int64_t e = 0; e < n_in; e++)
                    sabs += fabs((double)wr[e] * xf[t * n_in + e]);
                free(wr);
                double bound = ((double)n_in / 16 + 5) * ldexp(1.0, -24) * sabs + 1e-30;
                if (fabs((double)y0[i] - yref[i]) > bound) {
                    bad++;
                    CHECK(0, "%s %s n_in=%lld: y[%lld] = %.9g, reference %.9g, bound %.3g", k->name, tt->name,
                          (long long)n_in, (long long)i, y0[i], yref[i], bound);
                }
                if (i > 4 * n_out)
                    i += 7; /* sample the rest */
            }
        }
        /* tilings: nt steps 1..17 and row splits (aligned and not); all must equal y0 bit for bit */
        /* every nt 1..17 (small batches: tiles of 1..8 tokens, one or two per call, with the decode
         * prefetching), 18, 19 and 64 (prefill: 18 and 19 end on 32-row tiles of 2 and 3 tokens); the steps
         * after 64 only with the first row split */
        static const int64_t tsteps[] = {1, 2, 3, 4, 5, 7, 8, 9, 11, 13, 16, 17, 18, 19, 64, 6, 10, 12, 14, 15};
        static const int64_t rsplits[][2] = {{16, 16}, {32, 5}, {1, 3}, {48, 21}, {7, 7}};
        for (size_t ti = 0; ti < sizeof tsteps / sizeof tsteps[0]; ti++) {
            for (size_t ri = 0; ri < sizeof rsplits / sizeof rsplits[0]; ri++) {
                if ((ti + ri) % 2 && n_in > 1024)
                    continue; /* keep big shapes quick */
                if (ti > 14 && ri > 0)
                    continue;
                memset(y1, 0xff, (size_t)(NT * n_out) * sizeof(float));
                gemm_split(k, &m, packed, a, as, NT, tsteps[ti], rsplits[ri][0], rsplits[ri][1], y1);
                int same = 1;
                for (int64_t i = 0; i < NT * n_out; i++)
                    same &= same_float(y0[i], y1[i]);
                CHECK(same, "%s %s %s n_out=%lld n_in=%lld: tiling nt step %lld, row split %lld/%lld differs",
                      k->name, tt->name, lay, (long long)n_out, (long long)n_in, (long long)tsteps[ti],
                      (long long)rsplits[ri][1], (long long)rsplits[ri][0]);
            }
        }
        /* packed == raw */
        if (packed) {
            gemm_split(k, &m, 0, a, as, NT, NT, n_out, n_out, y1);
            int same = 1;
            for (int64_t i = 0; i < NT * n_out; i++)
                same &= same_float(y0[i], y1[i]);
            CHECK(same, "%s %s: packed and raw results differ", k->name, tt->name);
        }
    }
    free(yref);
    free(y0);
    free(y1);
    if ((void *)a != (void *)xf)
        free(a);
    free(xf);
    free_mat(&m);
}

/* the avx2 and avx512 float GEMMs perform the same arithmetic */
static void test_float_paths_agree(void)
{
    const lc_kernels *k2 = lc_kernels_by_name("avx2"), *k5 = lc_kernels_by_name("avx512");
    if (!k2 || !k5 || k2->gemm[LLAMAC_TYPE_F16] == lc_kernels_by_name("scalar")->gemm[LLAMAC_TYPE_F16])
        return;
    /* (BF16 is not among them when the avx512 table uses the BF16 dot products: test_gemm_type checks it
     * against its own reference) */
    static const int types[] = {LLAMAC_TYPE_F32, LLAMAC_TYPE_F16, LLAMAC_TYPE_BF16};
    for (int ti = 0; ti < 3 - (k5->act_type[LLAMAC_TYPE_BF16] == LLAMAC_TYPE_BF16); ti++) {
        mat m = make_mat(types[ti], 37, 333, 0);
        size_t as;
        float *xf;
        uint8_t *a = make_act(k5, LLAMAC_TYPE_F32, 333, 9, &as, &xf);
        float y2[9 * 37], y5[9 * 37];
        run_gemm(k2, &m, 0, a, as, 9, y2, 37, 0, 37);
        run_gemm(k5, &m, 0, a, as, 9, y5, 37, 0, 37);
        int same = 1;
        for (int i = 0; i < 9 * 37; i++)
            same &= same_float(y2[i], y5[i]);
        CHECK(same, "%s: avx2 and avx512 results differ", lc_type_traits_get(types[ti])->name);
        free(xf);
        free_mat(&m);
    }
}

/* Every quantized type has its own kernels in the avx2 table (not the scalar fallback), and the scalar,
 * avx2 and avx512 tables give the same bits, corrupt blocks (NaN/Inf scales) included; each table quantizes
 * the activations itself (the SIMD rows carry the Q8_0x/Q8_1x extension). */
static void test_quant_paths_agree(void)
{
    const lc_kernels *ks = lc_kernels_by_name("scalar");
    const lc_kernels *kp[2] = {lc_kernels_by_name("avx2"), lc_kernels_by_name("avx512")};
    static const int types[] = {LLAMAC_TYPE_Q4_0, LLAMAC_TYPE_Q8_0, LLAMAC_TYPE_Q4_1, LLAMAC_TYPE_Q5_0,
                                LLAMAC_TYPE_Q5_1, LLAMAC_TYPE_Q2_K, LLAMAC_TYPE_Q3_K, LLAMAC_TYPE_Q4_K,
                                LLAMAC_TYPE_Q5_K, LLAMAC_TYPE_Q6_K};
    for (size_t ti = 0; ti < sizeof types / sizeof types[0]; ti++) {
        const lc_type_traits *tt = lc_type_traits_get(types[ti]);
        if (kp[0])
            CHECK(kp[0]->gemm[types[ti]] != ks->gemm[types[ti]] && kp[0]->gemm_packed[types[ti]] != NULL,
                  "avx2: %s has no kernel of its own", tt->name);
        for (int corrupt = 0; corrupt <= 1; corrupt++) {
            const int64_t n_out = 37, n_in = tt->blck == 256 ? 768 : 160, nt = 11;
            mat m = make_mat(types[ti], n_out, n_in, corrupt);
            float *y[3];
            for (int p = 0; p < 3; p++) {
                const lc_kernels *k = p == 0 ? ks : kp[p - 1];
                y[p] = xalloc((size_t)(nt * n_out) * sizeof(float));
                if (!k)
                    continue;
                rnd_seed(1234 + ti); /* the same activations for every table */
                size_t as;
                float *xf;
                uint8_t *a = make_act(k, tt->vec_dot_type, n_in, nt, &as, &xf);
                for (int packed = 0; packed <= (p > 0); packed++) {
                    run_gemm(k, &m, packed, a, as, nt, y[p], n_out, 0, n_out);
                    int same = 1;
                    for (int64_t i = 0; i < nt * n_out; i++)
                        same &= same_float(y[p][i], y[0][i]);
                    CHECK(same, "%s%s: %s %s differs from scalar", tt->name, corrupt ? " corrupt" : "", k->name,
                          packed ? "packed" : "raw");
                }
                free(a);
                free(xf);
            }
            for (int p = 0; p < 3; p++)
                free(y[p]);
            free_mat(&m);
        }
    }
}

#if defined(__x86_64__)
/* a bf16 with a random sign and mantissa and an exponent drawn from [e0, e0 + span) */
static uint16_t rand_bf16(int e0, int span)
{
    return (uint16_t)((rnd() & 0x807fu) | (uint16_t)((e0 + (int)(rnd() % (uint64_t)span)) << 7));
}

/* The scalar emulation of the AVX512_BF16 instructions equals the hardware bit for bit: vcvtne2ps2bf16
 * (denormal inputs, ties, NaN, Inf) and vdpbf16ps (the order of its two fused steps, cancellation, denormal
 * inputs and results flushed, overflow). NaN results only need to be NaN (payloads are not part of the
 * contract). */
__attribute__((target("avx512f,avx512bw,avx512bf16"))) static void test_bf16_instructions(const lc_kernels *k)
{
    long bad_cvt = 0, bad_dp = 0, bad_row = 0;
    for (int it = 0; it < 60000; it++) {
        uint32_t u[32];
        for (int i = 0; i < 32; i++) {
            u[i] = (uint32_t)rnd();
            if (it % 4 == 0)
                u[i] &= 0x807fffffu; /* zeros and denormals */
            else if (it % 4 == 1)
                u[i] |= 0x7f800000u; /* Inf and NaN */
            else if (it % 4 == 2)
                u[i] = (u[i] & 0xffff0000u) | (rnd() % 2 ? 0x8000u : 0x7fffu); /* ties and near-ties */
        }
        float f[32];
        memcpy(f, u, sizeof f);
        __m512bh c = _mm512_cvtne2ps_pbh(_mm512_loadu_ps(f + 16), _mm512_loadu_ps(f));
        uint16_t hc[32];
        memcpy(hc, &c, sizeof hc);
        for (int i = 0; i < 32; i++)
            bad_cvt += hc[i] != lc_f32_to_bf16_daz(f[i]);
        /* the table's activation converter (any length; it writes exactly n elements) */
        uint16_t row[34];
        int n = 1 + it % 32;
        row[n] = 0x5a5a;
        k->quantize_row[LLAMAC_TYPE_BF16](f, row, n);
        for (int i = 0; i < n; i++)
            bad_row += row[i] != lc_f32_to_bf16_daz(f[i]);
        bad_row += row[n] != 0x5a5a;

        /* operand ranges: moderate, tiny (denormal products and results), huge (overflow), and accumulators
         * that nearly cancel the first product (so the order and the rounding of the two steps show) */
        int mode = it % 4;
        int e0 = mode == 0 ? 118 : mode == 1 ? 0 : mode == 2 ? 60 : 200, span = mode == 3 ? 55 : 20;
        uint16_t w[32], a[32];
        float acc[16];
        for (int l = 0; l < 16; l++) {
            for (int h = 0; h < 2; h++) {
                w[2 * l + h] = rand_bf16(e0, span);
                a[2 * l + h] = rand_bf16(mode == 2 ? 127 - (e0 - 127) : e0, span);
            }
            float p = lc_bf16_to_f32(w[2 * l + 1]) * lc_bf16_to_f32(a[2 * l + 1]);
            uint32_t v;
            memcpy(&v, &p, 4);
            v = (v ^ 0x80000000u) ^ (uint32_t)(rnd() % 64);
            if (rnd() % 2)
                v = (uint32_t)rnd() & (mode == 1 ? 0x81ffffffu : 0xffffffffu);
            memcpy(&acc[l], &v, 4);
        }
        __m512bh W, A;
        memcpy(&W, w, sizeof w);
        memcpy(&A, a, sizeof a);
        float out[16];
        _mm512_storeu_ps(out, _mm512_dpbf16_ps(_mm512_loadu_ps(acc), W, A));
        for (int l = 0; l < 16; l++)
            bad_dp += !same_float(out[l], lc_bf16_dot2(acc[l], w[2 * l], w[2 * l + 1], a[2 * l], a[2 * l + 1]));
    }
    CHECK(bad_cvt == 0, "vcvtne2ps2bf16: %ld of %d conversions differ from lc_f32_to_bf16_daz", bad_cvt, 60000 * 32);
    CHECK(bad_row == 0, "%s quantize_row[BF16]: %ld elements differ from lc_f32_to_bf16_daz", k->name, bad_row);
    CHECK(bad_dp == 0, "vdpbf16ps: %ld of %d lanes differ from lc_bf16_dot2", bad_dp, 60000 * 16);
}
#endif

static void test_pack_roundtrip(void)
{
    static const int types[] = {LLAMAC_TYPE_Q4_0, LLAMAC_TYPE_Q8_0, LLAMAC_TYPE_Q4_1, LLAMAC_TYPE_Q5_0,
                                LLAMAC_TYPE_Q5_1, LLAMAC_TYPE_Q2_K, LLAMAC_TYPE_Q3_K, LLAMAC_TYPE_Q4_K,
                                LLAMAC_TYPE_Q5_K, LLAMAC_TYPE_Q6_K, LLAMAC_TYPE_BF16};
    for (size_t ti = 0; ti < sizeof types / sizeof types[0]; ti++) {
        const int64_t n = 512;
        mat m = make_mat(types[ti], 21, n, 0);
        const lc_type_traits *tt = lc_type_traits_get(types[ti]);
        float a[512], b[512];
        for (int64_t r = 0; r < 21; r++) {
            tt->to_float(m.raw + (size_t)r * m.row_bytes, a, n);
            lc_packed_row_to_float(types[ti], m.packed, n, r, b);
            CHECK(!memcmp(a, b, sizeof a), "%s: packed row %lld does not round-trip", tt->name, (long long)r);
        }
        /* every table's packer writes the same bytes as the portable one (rows 16..20 + 11 NULL rows) */
        static const char *paths[] = {"scalar", "avx2", "avx512"};
        for (int p = 0; p < 3; p++) {
            const lc_kernels *k = lc_kernels_by_name(paths[p]);
            if (!k)
                continue;
            size_t gb = lc_pack_group_bytes(types[ti], n);
            uint8_t *x = xalloc(gb), *y = xalloc(gb);
            const void *rows[16];
            for (int r = 0; r < 16; r++)
                rows[r] = r < 5 ? m.raw + (size_t)(16 + r) * m.row_bytes : NULL;
            memset(x, 0x5a, gb);
            memset(y, 0xa5, gb);
            const int64_t nblk = n / lc_pack_layout_get(types[ti])->blck;
            k->pack16(types[ti], rows, 0, nblk, x);
            lc_pack_group_blocks(types[ti], rows, 0, nblk, y);
            CHECK(!memcmp(x, y, gb), "%s: %s pack16 differs from the portable packer", tt->name, k->name);
            free(x);
            free(y);
        }
        CHECK(lc_pack_group_bytes(types[ti], n) % 64 == 0 &&
                  lc_pack_group_bytes(types[ti], n) <= 16 * m.row_bytes + 62,
              "%s: group size %zu", tt->name, lc_pack_group_bytes(types[ti], n));
        free_mat(&m);
    }
}

int main(void)
{
    static const char *paths[] = {"avx2", "avx512"};
    static const int types[] = {LLAMAC_TYPE_Q4_0, LLAMAC_TYPE_Q8_0, LLAMAC_TYPE_F32, LLAMAC_TYPE_F16,
                                LLAMAC_TYPE_BF16, LLAMAC_TYPE_Q4_K, LLAMAC_TYPE_Q6_K, LLAMAC_TYPE_Q5_K,
                                LLAMAC_TYPE_Q3_K, LLAMAC_TYPE_Q2_K, LLAMAC_TYPE_Q4_1, LLAMAC_TYPE_Q5_0,
                                LLAMAC_TYPE_Q5_1};
    /* the last shape of each list has activation rows long enough that the GEMMs split the 64 tokens into
     * L2-sized token blocks */
    static const int64_t shapes[][2] = {{1, 32}, {16, 32}, {17, 64}, {33, 96}, {5, 160}, {40, 1024}, {70, 2080},
                                        {21, 16384}};
    static const int64_t kshapes[][2] = {{1, 256}, {16, 512}, {17, 256}, {33, 768}, {40, 2304}, {21, 16384}};
    static const int64_t fshapes[][2] = {{1, 1}, {3, 15}, {17, 17}, {9, 31}, {33, 100}, {40, 1030}};
    test_pack_roundtrip();
#if defined(__x86_64__)
    if (lc_kernels_by_name("avx512") && lc_kernels_by_name("avx512")->act_type[LLAMAC_TYPE_BF16] == LLAMAC_TYPE_BF16)
        test_bf16_instructions(lc_kernels_by_name("avx512"));
#endif
    for (int p = 0; p < 2; p++) {
        const lc_kernels *k = lc_kernels_by_name(paths[p]);
        if (!k) {
            printf("%s: not available on this CPU, skipped\n", paths[p]);
            continue;
        }
        test_quantize(k, LLAMAC_TYPE_Q8_0);
        test_quantize(k, LLAMAC_TYPE_Q8_1);
        test_quantize_q8_K(k);
        for (size_t ti = 0; ti < sizeof types / sizeof types[0]; ti++) {
            int is_float = types[ti] == LLAMAC_TYPE_F32 || types[ti] == LLAMAC_TYPE_F16 ||
                           types[ti] == LLAMAC_TYPE_BF16;
            int is_k = lc_type_traits_get(types[ti])->blck == 256;
            if (is_float) {
                for (size_t s = 0; s < sizeof fshapes / sizeof fshapes[0]; s++)
                    test_gemm_type(k, types[ti], fshapes[s][0], fshapes[s][1], 0);
            }
            if (is_k) {
                for (size_t s = 0; s < sizeof kshapes / sizeof kshapes[0]; s++)
                    test_gemm_type(k, types[ti], kshapes[s][0], kshapes[s][1], 0);
                test_gemm_type(k, types[ti], 33, 512, 1);
                continue;
            }
            for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
                test_gemm_type(k, types[ti], shapes[s][0], shapes[s][1], 0);
            test_gemm_type(k, types[ti], 33, 128, 1);
        }
        printf("%s: checked\n", k->name);
    }
    test_float_paths_agree();
    test_quant_paths_agree();
    /* F32/F16 rows long enough (80 and 40 KB) that the float decode's runs of rows are capped at 256 KiB
     * (3-6 rows per run); last, so that the random data of every test above stays as it was (random BF16 bits
     * in some draws overflow the f32 sums) */
    for (int p = 0; p < 2; p++)
        for (int f = 0; f < 2 && lc_kernels_by_name(paths[p]); f++)
            test_gemm_type(lc_kernels_by_name(paths[p]), f ? LLAMAC_TYPE_F16 : LLAMAC_TYPE_F32, 40, 20000, 0);
    return check_finish("test_kernels");
}
