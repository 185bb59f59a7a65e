/*
 * gemm_q_avx2.c — AVX2 GEMM for Q4_0 and Q8_0 weights with Q8_0x activations, and the Q8_0x quantizer.
 *
 * Same G16 layout, tiling and float arithmetic as gemm_q_avx512.c (each 16-row group is two 8-lane halves),
 * so results equal the scalar reference bit for bit. AVX2 has no VNNI; the exact integer block sums come from
 *   Q4_0: maddubs(nibbles 0..15, activation bytes) -> int16 pair sums; all 8 quads of a block are added in
 *         int16 (at most 16 * 15 * 127 = 30480, no overflow), then madd(ones) -> int32, plus m8 = -8*sum(a)
 *   Q8_0: maddubs(|w|, sign(a, w)) per quad (pair sums <= 2 * 128 * 127, no saturation), madd(ones) -> int32
 */
#include <immintrin.h>
#include <string.h>

#include "quant/kernels.h"
#include "quant/pack.h"

#define TT 4  /* tokens per micro-tile (16 ymm registers) */
#define KC 64 /* blocks per on-the-fly packed chunk (raw path) */
#define AINL static inline __attribute__((always_inline))

/* ---- Q8_0x quantizer (bit-identical to lc_q8_0_from_float) ---- */

AINL __m256 round_away(__m256 x)
{
    const __m256 sign = _mm256_castsi256_ps(_mm256_set1_epi32((int)0x80000000u));
    __m256 t = _mm256_round_ps(x, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
    __m256 frac = _mm256_andnot_ps(sign, _mm256_sub_ps(x, t));
    __m256 up = _mm256_cmp_ps(frac, _mm256_set1_ps(0.5f), _CMP_GE_OQ);
    __m256 one = _mm256_or_ps(_mm256_and_ps(x, sign), _mm256_set1_ps(1.0f));
    return _mm256_add_ps(t, _mm256_and_ps(up, one));
}

static void quantize_row_q8_0x(const float *x, void *y, int64_t n)
{
    lc_block_q8_0 *b = y;
    const int64_t nb = n / 32;
    char *ext = (char *)y + lc_q8x_ext_offset(n);
    const __m256 sign = _mm256_castsi256_ps(_mm256_set1_epi32((int)0x80000000u));
    for (int64_t i = 0; i < nb; i++) {
        __m256 v[4];
        __m256 m = _mm256_setzero_ps();
        for (int j = 0; j < 4; j++) {
            v[j] = _mm256_loadu_ps(x + 32 * i + 8 * j);
            m = _mm256_max_ps(_mm256_andnot_ps(sign, v[j]), m); /* NaN skipped, as fmaxf */
        }
        __m128 m4 = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
        m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
        m4 = _mm_max_ss(m4, _mm_movehdup_ps(m4));
        float amax = _mm_cvtss_f32(m4);
        float d = amax / 127.0f;
        float id = d != 0.0f ? 1.0f / d : 0.0f;
        b[i].d = (lc_half)_cvtss_sh(d, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
        __m256 vid = _mm256_set1_ps(id);
        __m256i q[4];
        for (int j = 0; j < 4; j++)
            q[j] = _mm256_cvttps_epi32(round_away(_mm256_mul_ps(v[j], vid)));
        __m256i p = _mm256_packs_epi16(_mm256_packs_epi32(q[0], q[1]), _mm256_packs_epi32(q[2], q[3]));
        p = _mm256_permutevar8x32_epi32(p, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
        _mm256_storeu_si256((__m256i *)b[i].qs, p);
        /* sum of the stored bytes (what the GEMM multiplies) */
        __m256i s = _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_set1_epi8(1), p), _mm256_set1_epi16(1));
        __m128i s4 = _mm_add_epi32(_mm256_castsi256_si128(s), _mm256_extracti128_si256(s, 1));
        s4 = _mm_add_epi32(s4, _mm_shuffle_epi32(s4, 0x4e));
        s4 = _mm_add_epi32(s4, _mm_shuffle_epi32(s4, 0xb1));
        float df = _cvtsh_ss(b[i].d);
        int32_t m8 = -8 * _mm_cvtsi128_si32(s4);
        memcpy(ext + 4 * i, &df, 4);
        memcpy(ext + 4 * (nb + i), &m8, 4);
    }
}

/* ---- micro-kernels: 16 rows (two halves) x tt tokens over one packed chunk ---- */

typedef struct act_tile {
    const uint8_t *row[TT];
    size_t ext;
    int64_t nb;
} act_tile;

AINL __m256i bcast32(const uint8_t *p)
{
    int32_t v;
    memcpy(&v, p, 4);
    return _mm256_set1_epi32(v);
}

AINL float load_f32(const uint8_t *p)
{
    float v;
    memcpy(&v, p, 4);
    return v;
}

AINL __m256 block_accumulate(__m256 acc, __m256i isum, __m256 dw, float da)
{
    __m256 s = _mm256_mul_ps(dw, _mm256_set1_ps(da));
    return _mm256_add_ps(acc, _mm256_mul_ps(_mm256_cvtepi32_ps(isum), s));
}

AINL void q4_0_tile(const uint8_t *sc, const uint8_t *qv, int64_t nblk, const act_tile *a, int64_t ab0,
                    const int tt, __m256 *acc)
{
    const __m256i m4 = _mm256_set1_epi8(0x0f), ones = _mm256_set1_epi16(1);
    const act_tile at = *a;
    __m256 c[2 * TT];
#pragma GCC unroll 8
    for (int i = 0; i < 2 * tt; i++)
        c[i] = acc[i];
    for (int64_t b = 0; b < nblk; b++) {
        const int64_t ab = ab0 + b;
        const uint8_t *q = qv + (size_t)b * 256;
        __m256 dw[2];
        for (int h = 0; h < 2; h++)
            dw[h] = _mm256_cvtph_ps(_mm_load_si128((const __m128i *)(sc + (size_t)b * 32 + 16 * h)));
#pragma GCC unroll 2
        for (int h = 0; h < 2; h++) {
            __m256i s16[TT];
#pragma GCC unroll 4
            for (int t = 0; t < tt; t++)
                s16[t] = _mm256_setzero_si256();
#pragma GCC unroll 4
            for (int j = 0; j < 4; j++) {
                __m256i v = _mm256_load_si256((const __m256i *)(q + 64 * j + 32 * h));
                __m256i lo = _mm256_and_si256(v, m4);
                __m256i hi = _mm256_and_si256(_mm256_srli_epi16(v, 4), m4);
#pragma GCC unroll 4
                for (int t = 0; t < tt; t++) {
                    const uint8_t *aq = at.row[t] + (size_t)ab * sizeof(lc_block_q8_0) + 2;
                    s16[t] = _mm256_add_epi16(s16[t], _mm256_maddubs_epi16(lo, bcast32(aq + 4 * j)));
                    s16[t] = _mm256_add_epi16(s16[t], _mm256_maddubs_epi16(hi, bcast32(aq + 16 + 4 * j)));
                }
            }
#pragma GCC unroll 4
            for (int t = 0; t < tt; t++) {
                __m256i is = _mm256_add_epi32(_mm256_madd_epi16(s16[t], ones),
                                              bcast32(at.row[t] + at.ext + 4 * (at.nb + ab)));
                c[2 * t + h] = block_accumulate(c[2 * t + h], is, dw[h], load_f32(at.row[t] + at.ext + 4 * ab));
            }
        }
    }
#pragma GCC unroll 8
    for (int i = 0; i < 2 * tt; i++)
        acc[i] = c[i];
}

AINL void q8_0_tile(const uint8_t *sc, const uint8_t *qv, int64_t nblk, const act_tile *a, int64_t ab0,
                    const int tt, __m256 *acc)
{
    const __m256i ones = _mm256_set1_epi16(1);
    const act_tile at = *a;
    __m256 c[2 * TT];
#pragma GCC unroll 8
    for (int i = 0; i < 2 * tt; i++)
        c[i] = acc[i];
    for (int64_t b = 0; b < nblk; b++) {
        const int64_t ab = ab0 + b;
        const uint8_t *q = qv + (size_t)b * 512;
        __m256 dw[2];
        for (int h = 0; h < 2; h++)
            dw[h] = _mm256_cvtph_ps(_mm_load_si128((const __m128i *)(sc + (size_t)b * 32 + 16 * h)));
#pragma GCC unroll 2
        for (int h = 0; h < 2; h++) {
            __m256i is[TT];
#pragma GCC unroll 4
            for (int t = 0; t < tt; t++)
                is[t] = _mm256_setzero_si256();
#pragma GCC unroll 8
            for (int j = 0; j < 8; j++) {
                __m256i w = _mm256_load_si256((const __m256i *)(q + 64 * j + 32 * h));
                __m256i aw = _mm256_abs_epi8(w);
#pragma GCC unroll 4
                for (int t = 0; t < tt; t++) {
                    const uint8_t *aq = at.row[t] + (size_t)ab * sizeof(lc_block_q8_0) + 2;
                    __m256i sa = _mm256_sign_epi8(bcast32(aq + 4 * j), w);
                    is[t] = _mm256_add_epi32(is[t], _mm256_madd_epi16(_mm256_maddubs_epi16(aw, sa), ones));
                }
            }
#pragma GCC unroll 4
            for (int t = 0; t < tt; t++)
                c[2 * t + h] = block_accumulate(c[2 * t + h], is[t], dw[h], load_f32(at.row[t] + at.ext + 4 * ab));
        }
    }
#pragma GCC unroll 8
    for (int i = 0; i < 2 * tt; i++)
        acc[i] = c[i];
}

/* ---- on-the-fly packing (same bytes as pack.c) ---- */

static const uint8_t g_zero_block[64] __attribute__((aligned(64)));

static void pack_chunk(const uint8_t *const rows[16], const size_t rstride[16], int64_t b0, int64_t nblk,
                       int qbytes, uint8_t *buf)
{
    size_t qstart = ((size_t)nblk * 32 + 63) & ~(size_t)63;
    for (int64_t b = 0; b < nblk; b++) {
        uint8_t *q = buf + qstart + (size_t)b * 16 * qbytes;
        for (int r = 0; r < 16; r++) {
            const uint8_t *blk = rows[r] + (size_t)(b0 + b) * rstride[r];
            memcpy(buf + (size_t)b * 32 + 2 * r, blk, 2);
            for (int j = 0; j < qbytes / 4; j++)
                memcpy(q + 64 * j + 4 * r, blk + 2 + 4 * j, 4);
        }
    }
}

/* ---- drivers ---- */

typedef void (*tile_fn)(const uint8_t *sc, const uint8_t *qv, int64_t nblk, const act_tile *a, int64_t ab0,
                        __m256 *acc);

#define DEFINE_TILES(NAME)                                                                                    \
    static void NAME##_t1(const uint8_t *s, const uint8_t *q, int64_t n, const act_tile *a, int64_t b, __m256 *c) \
    { NAME##_tile(s, q, n, a, b, 1, c); }                                                                     \
    static void NAME##_t2(const uint8_t *s, const uint8_t *q, int64_t n, const act_tile *a, int64_t b, __m256 *c) \
    { NAME##_tile(s, q, n, a, b, 2, c); }                                                                     \
    static void NAME##_t3(const uint8_t *s, const uint8_t *q, int64_t n, const act_tile *a, int64_t b, __m256 *c) \
    { NAME##_tile(s, q, n, a, b, 3, c); }                                                                     \
    static void NAME##_t4(const uint8_t *s, const uint8_t *q, int64_t n, const act_tile *a, int64_t b, __m256 *c) \
    { NAME##_tile(s, q, n, a, b, 4, c); }                                                                     \
    static const tile_fn NAME##_tiles[TT + 1] = {NULL, NAME##_t1, NAME##_t2, NAME##_t3, NAME##_t4};

DEFINE_TILES(q4_0)
DEFINE_TILES(q8_0)

typedef struct qtype_desc {
    int type, qbytes, bbytes;
    const tile_fn *tiles;
} qtype_desc;

static const qtype_desc g_q4_0 = {LLAMAC_TYPE_Q4_0, 16, sizeof(lc_block_q4_0), q4_0_tiles};
static const qtype_desc g_q8_0 = {LLAMAC_TYPE_Q8_0, 32, sizeof(lc_block_q8_0), q8_0_tiles};

/* stores lanes [lo, hi) of the 16 (two halves) */
static void store_lanes(float *y, const __m256 v[2], int lo, int hi)
{
    float tmp[16];
    _mm256_storeu_ps(tmp, v[0]);
    _mm256_storeu_ps(tmp + 8, v[1]);
    if (lo == 0 && hi == 16) {
        memcpy(y, tmp, sizeof tmp);
        return;
    }
    for (int i = lo; i < hi; i++)
        y[i] = tmp[i];
}

static void load_lanes(__m256 v[2], const float *y, int lo, int hi)
{
    float tmp[16] = {0};
    for (int i = lo; i < hi; i++)
        tmp[i] = y[i];
    v[0] = _mm256_loadu_ps(tmp);
    v[1] = _mm256_loadu_ps(tmp + 8);
}

static void run_chunk(const qtype_desc *qd, const lc_gemm_args *g, const uint8_t *sc, const uint8_t *qv,
                      int64_t nblk, int64_t ab0, int64_t grp, int lo, int hi, int first)
{
    act_tile a;
    a.ext = lc_q8x_ext_offset(g->n);
    a.nb = g->n / 32;
    for (int64_t t0 = 0; t0 < g->nt; t0 += TT) {
        int tt = g->nt - t0 < TT ? (int)(g->nt - t0) : TT;
        __m256 acc[2 * TT];
        for (int t = 0; t < tt; t++) {
            a.row[t] = (const uint8_t *)g->a + (size_t)(t0 + t) * g->a_stride;
            if (first)
                acc[2 * t] = acc[2 * t + 1] = _mm256_setzero_ps();
            else
                load_lanes(acc + 2 * t, g->y + (t0 + t) * g->ldy + grp * 16, lo, hi);
        }
        qd->tiles[tt](sc, qv, nblk, &a, ab0, acc);
        for (int t = 0; t < tt; t++)
            store_lanes(g->y + (t0 + t) * g->ldy + grp * 16, acc + 2 * t, lo, hi);
    }
}

static void lane_range(int64_t grp, const lc_gemm_args *g, int *lo, int *hi)
{
    int64_t l = g->r0 - grp * 16, h = g->r1 - grp * 16;
    *lo = l < 0 ? 0 : (int)l;
    *hi = h > 16 ? 16 : (int)h;
}

static void gemm_packed(const qtype_desc *qd, const lc_gemm_args *g)
{
    const size_t qoff = lc_pack_quant_offset(qd->type, g->n);
    for (int64_t grp = g->r0 / 16; grp * 16 < g->r1; grp++) {
        const uint8_t *base = (const uint8_t *)g->w + (size_t)grp * g->w_stride;
        int lo, hi;
        lane_range(grp, g, &lo, &hi);
        run_chunk(qd, g, base, base + qoff, g->n / 32, 0, grp, lo, hi, 1);
    }
}

static void gemm_raw(const qtype_desc *qd, const lc_gemm_args *g)
{
    uint8_t buf[KC * 32 + KC * 16 * 32] __attribute__((aligned(64)));
    const int64_t nb = g->n / 32;
    for (int64_t grp = g->r0 / 16; grp * 16 < g->r1; grp++) {
        const uint8_t *rows[16];
        size_t rstride[16];
        for (int r = 0; r < 16; r++) {
            int64_t row = grp * 16 + r;
            int in = row >= g->r0 && row < g->r1;
            rows[r] = in ? (const uint8_t *)g->w + (size_t)row * g->w_stride : g_zero_block;
            rstride[r] = in ? (size_t)qd->bbytes : 0;
        }
        int lo, hi;
        lane_range(grp, g, &lo, &hi);
        for (int64_t b0 = 0; b0 < nb; b0 += KC) {
            int64_t nblk = nb - b0 < KC ? nb - b0 : KC;
            pack_chunk(rows, rstride, b0, nblk, qd->qbytes, buf);
            size_t qstart = ((size_t)nblk * 32 + 63) & ~(size_t)63;
            run_chunk(qd, g, buf, buf + qstart, nblk, b0, grp, lo, hi, b0 == 0);
        }
    }
}

static void gemm_q4_0_packed(const lc_gemm_args *g) { gemm_packed(&g_q4_0, g); }
static void gemm_q8_0_packed(const lc_gemm_args *g) { gemm_packed(&g_q8_0, g); }
static void gemm_q4_0_raw(const lc_gemm_args *g) { gemm_raw(&g_q4_0, g); }
static void gemm_q8_0_raw(const lc_gemm_args *g) { gemm_raw(&g_q8_0, g); }

void lc_init_gemm_q_avx2(lc_kernels *k)
{
    k->quantize_row[LLAMAC_TYPE_Q8_0] = quantize_row_q8_0x;
    k->quantize_row[LLAMAC_TYPE_Q8_1] = lc_quantize_q8_1x_portable; /* act_row_bytes makes room for Q8_1x */
    k->act_row_bytes = lc_simd_act_row_bytes;
    k->gemm[LLAMAC_TYPE_Q4_0] = gemm_q4_0_raw;
    k->gemm[LLAMAC_TYPE_Q8_0] = gemm_q8_0_raw;
    k->gemm_packed[LLAMAC_TYPE_Q4_0] = gemm_q4_0_packed;
    k->gemm_packed[LLAMAC_TYPE_Q8_0] = gemm_q8_0_packed;
}
