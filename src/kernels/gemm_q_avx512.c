/*
 * gemm_q_avx512.c — AVX-512 VNNI GEMM for the 32-element quants (Q4_0, Q4_1, Q5_0, Q5_1, Q8_0) with
 * Q8_0x/Q8_1x activations (kernels.h), their activation quantizers, the SIMD G16 packer, and the driver shared
 * with the K-quants (gemm_avx512.h).
 *
 * Layout: weights in the G16 interleaved layout (pack.h), either packed at load (gemm_packed) or packed on
 * the fly from the file layout, kc blocks of one 16-row group at a time, into a stack buffer (gemm).
 *
 * Micro-kernel: 16 rows (one zmm lane per row) x up to TT tokens; for Q4_0 and Q8_0 prefill (packed, more
 * than LC_SMALL_NT tokens) 32 rows (two groups) x up to 4 tokens, which share the activation broadcasts. Per 32-element block b and token t, the
 * exact integer block sum of the reference: vpdpbusd over the 8 quads (weight bytes unsigned, the activation
 * quad broadcast), plus a bias from the activation extension that turns unsigned levels into the signed
 * ones (Q4_0: m8 = -8 * sum(a); Q5_0: 2*m8; Q8_0: weights enter as w ^ 0x80 = w + 128, bias 16*m8). Then,
 * per lane, the reference's float step in its order and with its rounding (no FMA), e.g. for Q4_0:
 *     s = dw * da;  p = (float)isum * s;  acc = acc + p
 * So every output equals the scalar reference (ref_basic.c, ref_legacy.c) bit for bit — for any tile, thread
 * or batch split. Floats are accumulated in registers across all blocks of a chunk; between chunks (raw path
 * only) they are stored to y and reloaded, which does not change them.
 */
#include <immintrin.h>
#include <string.h>

#include "kernels/gemm_avx512.h"
#include "kernels/kernels.h"
#include "kernels/pack.h"

#define TT LC_TT_MAX /* tokens per micro-tile */
#define AINL static inline __attribute__((always_inline))

/* ---------------------------------------------------------------------------------------------------------
 * Q8_0x activation quantizer (bit-identical to lc_q8_0_from_float, plus the extension)
 * ------------------------------------------------------------------------------------------------------- */

/* roundf (half away from zero) for every float: t = trunc(x); x - t is exact; add sign(x) if |x - t| >= 0.5 */
AINL __m512 round_away(__m512 x)
{
    const __m512 sign = _mm512_castsi512_ps(_mm512_set1_epi32((int)0x80000000u));
    __m512 t = _mm512_roundscale_ps(x, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
    __m512 frac = _mm512_abs_ps(_mm512_sub_ps(x, t));
    __mmask16 up = _mm512_cmp_ps_mask(frac, _mm512_set1_ps(0.5f), _CMP_GE_OQ);
    __m512 one = _mm512_or_ps(_mm512_and_ps(x, sign), _mm512_set1_ps(1.0f));
    return _mm512_mask_add_ps(t, up, t, one);
}

static void quantize_row_q8_0x(const float *x, void *y, int64_t n)
{
    lc_block_q8_0 *b = y;
    const int64_t nb = n / 32;
    char *ext = (char *)y + lc_q8x_ext_offset(n);
    for (int64_t i = 0; i < nb; i++) {
        __m512 v0 = _mm512_loadu_ps(x + 32 * i), v1 = _mm512_loadu_ps(x + 32 * i + 16);
        /* max_ps returns its second operand when the first is NaN: NaNs are skipped, as fmaxf does */
        __m512 m = _mm512_max_ps(_mm512_abs_ps(v0), _mm512_setzero_ps());
        m = _mm512_max_ps(_mm512_abs_ps(v1), m);
        float amax = _mm512_reduce_max_ps(m);
        float d = amax / 127.0f;
        float id = d != 0.0f ? 1.0f / d : 0.0f;
        b[i].d = (lc_half)_cvtss_sh(d, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
        __m512 vid = _mm512_set1_ps(id);
        __m512i q0 = _mm512_cvttps_epi32(round_away(_mm512_mul_ps(v0, vid)));
        __m512i q1 = _mm512_cvttps_epi32(round_away(_mm512_mul_ps(v1, vid)));
        _mm_storeu_si128((__m128i *)b[i].qs, _mm512_cvtepi32_epi8(q0));
        _mm_storeu_si128((__m128i *)(b[i].qs + 16), _mm512_cvtepi32_epi8(q1));
        /* sums of the stored (int8) values */
        __m512i s8 = _mm512_add_epi32(_mm512_cvtepi8_epi32(_mm512_cvtepi32_epi8(q0)),
                                      _mm512_cvtepi8_epi32(_mm512_cvtepi32_epi8(q1)));
        float df = _cvtsh_ss(b[i].d);
        int32_t m8 = -8 * _mm512_reduce_add_epi32(s8);
        memcpy(ext + 4 * i, &df, 4);
        memcpy(ext + 4 * (nb + i), &m8, 4);
    }
}

/* Q8_1x: like Q8_0 (NaN -> 0), plus s = half((float)sum(q) * d), and the extension (kernels.h) */
static void quantize_row_q8_1x(const float *x, void *y, int64_t n)
{
    lc_block_q8_1 *b = y;
    const int64_t nb = n / 32;
    char *ext = (char *)y + lc_q81x_ext_offset(n);
    for (int64_t i = 0; i < nb; i++) {
        __m512 v0 = _mm512_loadu_ps(x + 32 * i), v1 = _mm512_loadu_ps(x + 32 * i + 16);
        __m512 m = _mm512_max_ps(_mm512_abs_ps(v0), _mm512_setzero_ps());
        m = _mm512_max_ps(_mm512_abs_ps(v1), m);
        float amax = _mm512_reduce_max_ps(m);
        float d = amax / 127.0f;
        float id = d != 0.0f ? 1.0f / d : 0.0f;
        b[i].d = (lc_half)_cvtss_sh(d, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
        __m512 vid = _mm512_set1_ps(id);
        __m512i q[2];
        for (int h = 0; h < 2; h++) {
            __m512 r = round_away(_mm512_mul_ps(h ? v1 : v0, vid));
            __mmask16 ok = _mm512_cmp_ps_mask(r, r, _CMP_ORD_Q);
            r = _mm512_min_ps(_mm512_max_ps(r, _mm512_set1_ps(-127.0f)), _mm512_set1_ps(127.0f));
            q[h] = _mm512_maskz_mov_epi32(ok, _mm512_cvttps_epi32(r));
            _mm_storeu_si128((__m128i *)(b[i].qs + 16 * h), _mm512_cvtepi32_epi8(q[h]));
        }
        int sum = _mm512_reduce_add_epi32(_mm512_add_epi32(q[0], q[1]));
        b[i].s = (lc_half)_cvtss_sh((float)sum * d, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
        float df = _cvtsh_ss(b[i].d), sf = _cvtsh_ss(b[i].s);
        memcpy(ext + 4 * i, &df, 4);
        memcpy(ext + 4 * (nb + i), &sf, 4);
    }
}

/* ---------------------------------------------------------------------------------------------------------
 * Micro-kernels on one packed chunk: 16 rows x tt tokens, nblk blocks
 * ------------------------------------------------------------------------------------------------------- */

typedef lc_act_tile act_tile;

AINL __m512i bcast32(const uint8_t *p)
{
    int32_t v;
    memcpy(&v, p, 4);
    return _mm512_set1_epi32(v);
}

/* acc + vpdpbusd(w, the 4 bytes at p broadcast), the broadcast folded into the instruction as an
 * embedded-broadcast memory operand (GCC does not fold it for vpdpbusd by itself): fewer instructions per
 * byte lets the out-of-order window cover more of the weight stream in decode */
AINL __m512i dpbusd_b(__m512i acc, __m512i w, const uint8_t *p)
{
    __asm__("vpdpbusd %2%{1to16%}, %1, %0" : "+v"(acc) : "v"(w), "m"(*(const int32_t *)p));
    return acc;
}

AINL float load_f32(const uint8_t *p)
{
    float v;
    memcpy(&v, p, 4);
    return v;
}

/* Float step of the reference: acc += (float)isum * (dw * da) */
AINL __m512 block_accumulate(__m512 acc, __m512i isum, __m512 dw, float da)
{
    __m512 s = _mm512_mul_ps(dw, _mm512_set1_ps(da));
    return _mm512_add_ps(acc, _mm512_mul_ps(_mm512_cvtepi32_ps(isum), s));
}

/* Q4_0, one block b (activation block ab0 + b) for tt tokens: c[t] += the block's float step */
AINL void q4_0_block(const uint8_t *sc, const uint8_t *qv, int64_t b, const act_tile *a, int64_t ab0, const int tt,
                     __m512 *c)
{
    const __m512i m4 = _mm512_set1_epi8(0x0f);
    const act_tile at = *a;
    const int64_t ab = ab0 + b;
    /* few tokens: two integer chains per token (low and high nibbles) to halve the dependency chain;
     * integer sums are exact, so this does not change the result */
    __m512i is[TT], is2[TT];
#pragma GCC unroll 8
    for (int t = 0; t < tt; t++) {
        is[t] = bcast32(at.row[t] + at.ext + 4 * (at.nb + ab));
        is2[t] = _mm512_setzero_si512();
    }
    const uint8_t *q = qv + (size_t)b * 256;
    if (tt <= 2) {
        /* decode: the high nibbles enter as (v & 0xf0) = 16 * q (still unsigned bytes); their chain is
         * divided by 16 once per block (exact: a multiple of 16), which saves a shift per vector. The body
         * is left to the hardware prefetcher (pf_body 0). */
        const __m512i m4h = _mm512_set1_epi8((char)0xf0);
        __m512i is3[TT], is4[TT]; /* four short chains per token: the dpbusd latency, not the width, limits */
#pragma GCC unroll 2
        for (int t = 0; t < tt; t++)
            is3[t] = is4[t] = _mm512_setzero_si512();
#pragma GCC unroll 4
        for (int j = 0; j < 4; j++) {
            __m512i v = _mm512_load_si512(q + 64 * j);
            /* one load per vector: GCC would fold it into both vpandd (two loads per vector, measured slower) */
            __asm__("" : "+v"(v));
            __m512i lo = _mm512_and_si512(v, m4), hi16 = _mm512_and_si512(v, m4h);
#pragma GCC unroll 2
            for (int t = 0; t < tt; t++) {
                const uint8_t *aq = at.row[t] + (size_t)ab * sizeof(lc_block_q8_0) + 2;
                if (j & 1) {
                    is3[t] = dpbusd_b(is3[t], lo, aq + 4 * j);
                    is4[t] = dpbusd_b(is4[t], hi16, aq + 16 + 4 * j);
                } else {
                    is[t] = dpbusd_b(is[t], lo, aq + 4 * j);
                    is2[t] = dpbusd_b(is2[t], hi16, aq + 16 + 4 * j);
                }
            }
        }
#pragma GCC unroll 2
        for (int t = 0; t < tt; t++)
            is[t] = _mm512_add_epi32(_mm512_add_epi32(is[t], is3[t]),
                                     _mm512_srai_epi32(_mm512_add_epi32(is2[t], is4[t]), 4));
    } else {
        if (at.pf) /* small batches: more work per byte, the stream needs the prefetch */
            lc_prefetch_ahead(q, 256);
#pragma GCC unroll 4
        for (int j = 0; j < 4; j++) {
            __m512i v = _mm512_load_si512(q + 64 * j);
            __m512i lo = _mm512_and_si512(v, m4);
            __m512i hi = _mm512_and_si512(_mm512_srli_epi16(v, 4), m4);
#pragma GCC unroll 8
            for (int t = 0; t < tt; t++) {
                const uint8_t *aq = at.row[t] + (size_t)ab * sizeof(lc_block_q8_0) + 2;
                is[t] = _mm512_dpbusd_epi32(is[t], lo, bcast32(aq + 4 * j));
                is[t] = _mm512_dpbusd_epi32(is[t], hi, bcast32(aq + 16 + 4 * j));
            }
        }
    }
    __m512 dw = _mm512_cvtph_ps(_mm256_load_si256((const __m256i *)(sc + (size_t)b * 32)));
#pragma GCC unroll 8
    for (int t = 0; t < tt; t++)
        c[t] = block_accumulate(c[t], is[t], dw, load_f32(at.row[t] + at.ext + 4 * ab));
}

/* Q4_0: sc = nblk x 16 halves, qv = nblk x 4 vectors; blocks ab0.. of the activations. Decode (1-2 tokens)
 * takes two blocks per iteration (the blocks stay in order: the same float steps): the loop is bound by how
 * many blocks the out-of-order window overlaps, not by the vpdpbusd ports */
AINL void q4_0_tile(const uint8_t *sc, const uint8_t *qv, int64_t nblk, const act_tile *a, int64_t ab0,
                    const int tt, __m512 *acc)
{
    __m512 c[TT];
    const act_tile at = *a; /* local copies: no aliasing with the accumulators */
#pragma GCC unroll 8
    for (int t = 0; t < tt; t++)
        c[t] = acc[t];
    int64_t b = 0;
    if (tt <= 2)
        for (; b + 2 <= nblk; b += 2) {
            q4_0_block(sc, qv, b, &at, ab0, tt, c);
            q4_0_block(sc, qv, b + 1, &at, ab0, tt, c);
        }
    for (; b < nblk; b++)
        q4_0_block(sc, qv, b, &at, ab0, tt, c);
#pragma GCC unroll 8
    for (int t = 0; t < tt; t++)
        acc[t] = c[t];
}

/* Q4_0 prefill, 32 rows (two groups, the second gstride bytes on) x tt tokens: each activation broadcast feeds
 * both groups' vpdpbusd, which halves the loads per vpdpbusd (at 16 rows x 8 tokens the broadcasts, one per
 * vpdpbusd, kept the load ports busier than the vpdpbusd port). Per (row, token) the same integer sum and
 * float step as q4_0_tile. */
#define Q4_0_TT2 4
AINL void q4_0_tile2(const uint8_t *sc, const uint8_t *qv, size_t gs, int64_t nblk, const act_tile *a, int64_t ab0,
                     const int tt, __m512 *acc)
{
    const __m512i m4 = _mm512_set1_epi8(0x0f);
    __m512 c[2 * Q4_0_TT2];
    const act_tile at = *a;
#pragma GCC unroll 16
    for (int t = 0; t < 2 * tt; t++)
        c[t] = acc[t];
    for (int64_t b = 0; b < nblk; b++) {
        const int64_t ab = ab0 + b;
        __m512i is[2 * Q4_0_TT2];
        __m512i ih[2 * Q4_0_TT2]; /* the high nibbles' chains: two chains of 4 vpdpbusd per (row, token) */
#pragma GCC unroll 8
        for (int t = 0; t < tt; t++) {
            is[2 * t] = is[2 * t + 1] = bcast32(at.row[t] + at.ext + 4 * (at.nb + ab));
            ih[2 * t] = ih[2 * t + 1] = _mm512_setzero_si512();
        }
        const uint8_t *q0 = qv + (size_t)b * 256, *q1 = q0 + gs;
#pragma GCC unroll 4
        for (int j = 0; j < 4; j++) {
            __m512i v0 = _mm512_load_si512(q0 + 64 * j), v1 = _mm512_load_si512(q1 + 64 * j);
            __m512i lo0 = _mm512_and_si512(v0, m4), hi0 = _mm512_and_si512(_mm512_srli_epi16(v0, 4), m4);
            __m512i lo1 = _mm512_and_si512(v1, m4), hi1 = _mm512_and_si512(_mm512_srli_epi16(v1, 4), m4);
#pragma GCC unroll 8
            for (int t = 0; t < tt; t++) {
                const uint8_t *aq = at.row[t] + (size_t)ab * sizeof(lc_block_q8_0) + 2;
                __m512i x = bcast32(aq + 4 * j), y = bcast32(aq + 16 + 4 * j);
                is[2 * t] = _mm512_dpbusd_epi32(is[2 * t], lo0, x);
                is[2 * t + 1] = _mm512_dpbusd_epi32(is[2 * t + 1], lo1, x);
                ih[2 * t] = _mm512_dpbusd_epi32(ih[2 * t], hi0, y);
                ih[2 * t + 1] = _mm512_dpbusd_epi32(ih[2 * t + 1], hi1, y);
            }
        }
#pragma GCC unroll 16
        for (int t = 0; t < 2 * tt; t++)
            is[t] = _mm512_add_epi32(is[t], ih[t]);
        __m512 dw0 = _mm512_cvtph_ps(_mm256_load_si256((const __m256i *)(sc + (size_t)b * 32)));
        __m512 dw1 = _mm512_cvtph_ps(_mm256_load_si256((const __m256i *)(sc + gs + (size_t)b * 32)));
#pragma GCC unroll 8
        for (int t = 0; t < tt; t++) {
            float da = load_f32(at.row[t] + at.ext + 4 * ab);
            c[2 * t] = block_accumulate(c[2 * t], is[2 * t], dw0, da);
            c[2 * t + 1] = block_accumulate(c[2 * t + 1], is[2 * t + 1], dw1, da);
        }
    }
#pragma GCC unroll 16
    for (int t = 0; t < 2 * tt; t++)
        acc[t] = c[t];
}

/*
 * Q8_0: both operands signed. vpdpbusd needs one unsigned operand, so the weights go in as unsigned bytes
 * w + 128 (xor 0x80) and the bias 128 * sum(a) is removed exactly: isum = dpbusd(w ^ 0x80, a) - 128 * sum(a),
 * with sum(a) = -m8 / 8 from the extension, i.e. isum starts at 16 * m8.
 */
AINL void q8_0_tile(const uint8_t *sc, const uint8_t *qv, int64_t nblk, const act_tile *a, int64_t ab0,
                    const int tt, __m512 *acc)
{
    const __m512i flip = _mm512_set1_epi8((char)0x80);
    __m512 c[TT];
    const act_tile at = *a; /* local copies: no aliasing with the accumulators */
#pragma GCC unroll 8
    for (int t = 0; t < tt; t++)
        c[t] = acc[t];
    for (int64_t b = 0; b < nblk; b++) {
        const int64_t ab = ab0 + b;
        __m512i is[TT];
#pragma GCC unroll 8
        for (int t = 0; t < tt; t++)
            is[t] = _mm512_slli_epi32(bcast32(at.row[t] + at.ext + 4 * (at.nb + ab)), 4);
        const uint8_t *q = qv + (size_t)b * 512; /* decode: the hardware prefetcher follows it (pf_body 0) */
        if (at.pf && tt > 2) /* small batches: more work per byte, the stream needs the prefetch */
            lc_prefetch_ahead(q, 512);
#pragma GCC unroll 8
        for (int j = 0; j < 8; j++) {
            __m512i w = _mm512_xor_si512(_mm512_load_si512(q + 64 * j), flip);
#pragma GCC unroll 8
            for (int t = 0; t < tt; t++) {
                const uint8_t *aq = at.row[t] + (size_t)ab * sizeof(lc_block_q8_0) + 2;
                is[t] = tt > 2 ? dpbusd_b(is[t], w, aq + 4 * j) : _mm512_dpbusd_epi32(is[t], w, bcast32(aq + 4 * j));
            }
        }
        __m512 dw = _mm512_cvtph_ps(_mm256_load_si256((const __m256i *)(sc + (size_t)b * 32)));
#pragma GCC unroll 8
        for (int t = 0; t < tt; t++)
            c[t] = block_accumulate(c[t], is[t], dw, load_f32(at.row[t] + at.ext + 4 * ab));
    }
#pragma GCC unroll 8
    for (int t = 0; t < tt; t++)
        acc[t] = c[t];
}

/* Q8_0 prefill, 32 rows x tt tokens, like q4_0_tile2: one broadcast per two vpdpbusd, and even and odd quads in
 * separate chains (two chains of 4 vpdpbusd per row and token). The same integer sum and float step as
 * q8_0_tile. */
#define Q8_0_TT2 4
AINL void q8_0_tile2(const uint8_t *sc, const uint8_t *qv, size_t gs, int64_t nblk, const act_tile *a, int64_t ab0,
                     const int tt, __m512 *acc)
{
    const __m512i flip = _mm512_set1_epi8((char)0x80);
    __m512 c[2 * Q8_0_TT2];
    const act_tile at = *a;
#pragma GCC unroll 16
    for (int t = 0; t < 2 * tt; t++)
        c[t] = acc[t];
    for (int64_t b = 0; b < nblk; b++) {
        const int64_t ab = ab0 + b;
        __m512i is[2 * Q8_0_TT2], io[2 * Q8_0_TT2];
#pragma GCC unroll 8
        for (int t = 0; t < tt; t++) {
            is[2 * t] = is[2 * t + 1] = _mm512_slli_epi32(bcast32(at.row[t] + at.ext + 4 * (at.nb + ab)), 4);
            io[2 * t] = io[2 * t + 1] = _mm512_setzero_si512();
        }
        const uint8_t *q0 = qv + (size_t)b * 512, *q1 = q0 + gs;
#pragma GCC unroll 8
        for (int j = 0; j < 8; j++) {
            __m512i w0 = _mm512_xor_si512(_mm512_load_si512(q0 + 64 * j), flip);
            __m512i w1 = _mm512_xor_si512(_mm512_load_si512(q1 + 64 * j), flip);
#pragma GCC unroll 8
            for (int t = 0; t < tt; t++) {
                __m512i x = bcast32(at.row[t] + (size_t)ab * sizeof(lc_block_q8_0) + 2 + 4 * j);
                if (j & 1) {
                    io[2 * t] = _mm512_dpbusd_epi32(io[2 * t], w0, x);
                    io[2 * t + 1] = _mm512_dpbusd_epi32(io[2 * t + 1], w1, x);
                } else {
                    is[2 * t] = _mm512_dpbusd_epi32(is[2 * t], w0, x);
                    is[2 * t + 1] = _mm512_dpbusd_epi32(is[2 * t + 1], w1, x);
                }
            }
        }
        __m512 dw0 = _mm512_cvtph_ps(_mm256_load_si256((const __m256i *)(sc + (size_t)b * 32)));
        __m512 dw1 = _mm512_cvtph_ps(_mm256_load_si256((const __m256i *)(sc + gs + (size_t)b * 32)));
#pragma GCC unroll 8
        for (int t = 0; t < tt; t++) {
            float da = load_f32(at.row[t] + at.ext + 4 * ab);
            c[2 * t] = block_accumulate(c[2 * t], _mm512_add_epi32(is[2 * t], io[2 * t]), dw0, da);
            c[2 * t + 1] = block_accumulate(c[2 * t + 1], _mm512_add_epi32(is[2 * t + 1], io[2 * t + 1]), dw1, da);
        }
    }
#pragma GCC unroll 16
    for (int t = 0; t < 2 * tt; t++)
        acc[t] = c[t];
}

/*
 * Q4_1, Q5_0, Q5_1. Q5 fifth bits: the body starts with the qh vector (lane r = row r's 32 bits); for quad j
 * the bits of elements 4j..4j+3 (low nibbles) sit in byte j/2 at bit 4*(j%2), those of 16+4j.. in byte
 * 2 + j/2. A byte shuffle copies that byte to the 4 bytes of its lane and a bit test against 1, 2, 4, 8 (<< 4
 * for odd j) yields a 64-bit mask, one bit per quant byte, which adds 16.
 * Q4_1/Q5_1 (unsigned q, Q8_1x activations): acc += (dw * da) * (float)isum + mw * sa
 * Q5_0 (q - 16, Q8_0x activations): isum = dpbusd(q, a) + 2 * m8;  acc += (float)isum * (dw * da)
 */
AINL __mmask64 q5_bits(__m512i qh, int byte, int odd)
{
    const __m512i idx = _mm512_set4_epi32(0x0c0c0c0c + 0x01010101 * byte, 0x08080808 + 0x01010101 * byte,
                                          0x04040404 + 0x01010101 * byte, 0x01010101 * byte);
    const __m512i bits = _mm512_set1_epi32(odd ? (int)0x80402010 : 0x08040201);
    return _mm512_test_epi8_mask(_mm512_shuffle_epi8(qh, idx), bits);
}

AINL void l32_tile(const int kind, const uint8_t *head, const uint8_t *body, int64_t nblk, const act_tile *a,
                   int64_t ab0, const int tt, __m512 *acc)
{
    enum { Q41, Q50, Q51 };
    const int has_qh = kind != Q41, has_min = kind != Q50;
    const size_t abytes = has_min ? sizeof(lc_block_q8_1) : sizeof(lc_block_q8_0);
    const size_t bbytes = has_qh ? 320 : 256, hstride = has_min ? 64 : 32;
    const __m512i m4 = _mm512_set1_epi8(0x0f), x10 = _mm512_set1_epi8(0x10);
    const act_tile at = *a;
    __m512 c[TT];
#pragma GCC unroll 8
    for (int t = 0; t < tt; t++)
        c[t] = acc[t];
    for (int64_t b = 0; b < nblk; b++) {
        const int64_t ab = ab0 + b;
        const uint8_t *bb = body + (size_t)b * bbytes;
        if (at.pf)
            lc_prefetch_ahead(bb, bbytes);
        __m512i is[TT];
#pragma GCC unroll 8
        for (int t = 0; t < tt; t++) /* Q5_0: isum starts at 2 * m8 = -16 * sum(a) */
            is[t] = kind == Q50 ? _mm512_slli_epi32(bcast32(at.row[t] + at.ext + 4 * (at.nb + ab)), 1)
                                : _mm512_setzero_si512();
        const __m512i qh = has_qh ? _mm512_load_si512(bb) : _mm512_setzero_si512();
        const uint8_t *q = bb + (has_qh ? 64 : 0);
#pragma GCC unroll 4
        for (int j = 0; j < 4; j++) {
            __m512i v = _mm512_load_si512(q + 64 * j);
            __m512i lo = _mm512_and_si512(v, m4), hi = _mm512_and_si512(_mm512_srli_epi16(v, 4), m4);
            if (has_qh) {
                lo = _mm512_mask_add_epi8(lo, q5_bits(qh, j / 2, j % 2), lo, x10);
                hi = _mm512_mask_add_epi8(hi, q5_bits(qh, 2 + j / 2, j % 2), hi, x10);
            }
#pragma GCC unroll 8
            for (int t = 0; t < tt; t++) {
                const uint8_t *aq = at.row[t] + (size_t)ab * abytes + (has_min ? 4 : 2);
                is[t] = _mm512_dpbusd_epi32(is[t], lo, bcast32(aq + 4 * j));
                is[t] = _mm512_dpbusd_epi32(is[t], hi, bcast32(aq + 16 + 4 * j));
            }
        }
        const __m512 dw = _mm512_cvtph_ps(_mm256_load_si256((const __m256i *)(head + (size_t)b * hstride)));
        if (!has_min) {
#pragma GCC unroll 8
            for (int t = 0; t < tt; t++)
                c[t] = block_accumulate(c[t], is[t], dw, load_f32(at.row[t] + at.ext + 4 * ab));
            continue;
        }
        const __m512 mw = _mm512_cvtph_ps(_mm256_load_si256((const __m256i *)(head + (size_t)b * hstride + 32)));
#pragma GCC unroll 8
        for (int t = 0; t < tt; t++) {
            __m512 p = _mm512_mul_ps(_mm512_mul_ps(dw, _mm512_set1_ps(load_f32(at.row[t] + at.ext + 4 * ab))),
                                     _mm512_cvtepi32_ps(is[t]));
            __m512 mq = _mm512_mul_ps(mw, _mm512_set1_ps(load_f32(at.row[t] + at.ext + 4 * (at.nb + ab))));
            c[t] = _mm512_add_ps(c[t], _mm512_add_ps(p, mq));
        }
    }
#pragma GCC unroll 8
    for (int t = 0; t < tt; t++)
        acc[t] = c[t];
}

AINL void q4_1_tile(const uint8_t *h, const uint8_t *q, int64_t n, const act_tile *a, int64_t b, const int tt,
                    __m512 *c)
{
    l32_tile(0, h, q, n, a, b, tt, c);
}

AINL void q5_0_tile(const uint8_t *h, const uint8_t *q, int64_t n, const act_tile *a, int64_t b, const int tt,
                    __m512 *c)
{
    l32_tile(1, h, q, n, a, b, tt, c);
}

AINL void q5_1_tile(const uint8_t *h, const uint8_t *q, int64_t n, const act_tile *a, int64_t b, const int tt,
                    __m512 *c)
{
    l32_tile(2, h, q, n, a, b, tt, c);
}

/* ---------------------------------------------------------------------------------------------------------
 * On-the-fly packing of one group chunk from the file layout (same bytes as pack.c writes)
 * ------------------------------------------------------------------------------------------------------- */

/* 16 rows x 16 bytes at rows[r] + off  ->  4 vectors: vector j lane r = dword j of row r */
AINL void transpose16x4(const uint8_t *const rows[16], size_t off, __m512i out[4])
{
    __m512i z[4];
    for (int k = 0; k < 4; k++) {
        __m512i v = _mm512_castsi128_si512(_mm_loadu_si128((const __m128i *)(rows[k] + off)));
        v = _mm512_inserti32x4(v, _mm_loadu_si128((const __m128i *)(rows[k + 4] + off)), 1);
        v = _mm512_inserti32x4(v, _mm_loadu_si128((const __m128i *)(rows[k + 8] + off)), 2);
        z[k] = _mm512_inserti32x4(v, _mm_loadu_si128((const __m128i *)(rows[k + 12] + off)), 3);
    }
    /* lane L of z[k] is row k + 4L; a 4x4 dword transpose inside each 128-bit lane gives dword j of rows
     * 4L..4L+3 in lane L of out[j], i.e. out[j] dword 4L + k = row 4L + k, dword j */
    __m512i t0 = _mm512_unpacklo_epi32(z[0], z[1]), t1 = _mm512_unpackhi_epi32(z[0], z[1]);
    __m512i t2 = _mm512_unpacklo_epi32(z[2], z[3]), t3 = _mm512_unpackhi_epi32(z[2], z[3]);
    out[0] = _mm512_unpacklo_epi64(t0, t2);
    out[1] = _mm512_unpackhi_epi64(t0, t2);
    out[2] = _mm512_unpacklo_epi64(t1, t3);
    out[3] = _mm512_unpackhi_epi64(t1, t3);
}

static const uint8_t g_zero_block[64] __attribute__((aligned(64)));

/* the 16-bit values at blk[r] + off, r = 0..15, as 16 halves (two 64-bit gathers; storing 16 halves to
 * memory and reloading them as one vector stalls on store forwarding, and assembling them in general
 * registers measured slower) */
AINL __m256i gather_halves(const uint8_t *const blk[16], size_t off)
{
    __m512i p0 = _mm512_add_epi64(_mm512_loadu_si512(blk), _mm512_set1_epi64((long long)off));
    __m512i p1 = _mm512_add_epi64(_mm512_loadu_si512(blk + 8), _mm512_set1_epi64((long long)off));
    __m128i h0 = _mm512_cvtepi64_epi16(_mm512_i64gather_epi64(p0, NULL, 1));
    __m128i h1 = _mm512_cvtepi64_epi16(_mm512_i64gather_epi64(p1, NULL, 1));
    return _mm256_inserti128_si256(_mm256_castsi128_si256(h0), h1, 1);
}

/* The G16 packer of the 32-element types with one half scale (Q4_0: qbytes 16, Q8_0: qbytes 32): scales
 * (nblk x 32 bytes, padded to 64), then the quant vectors; the same bytes as pack.c writes. */
AINL void pack_chunk_q(const uint8_t *const rows[16], int64_t b0, int64_t nblk, const int qbytes, uint8_t *buf)
{
    const int bbytes = 2 + qbytes;
    size_t qstart = ((size_t)nblk * 32 + 63) & ~(size_t)63;
    memset(buf + (size_t)nblk * 32, 0, qstart - (size_t)nblk * 32);
    for (int64_t b = 0; b < nblk; b++) {
        const uint8_t *blk[16];
        for (int r = 0; r < 16; r++)
            blk[r] = rows[r] ? rows[r] + (size_t)(b0 + b) * bbytes : g_zero_block;
        _mm256_store_si256((__m256i *)(buf + (size_t)b * 32), gather_halves(blk, 0));
        uint8_t *q = buf + qstart + (size_t)b * 16 * qbytes;
        __m512i v[4];
        transpose16x4(blk, 2, v);
        for (int j = 0; j < 4; j++)
            _mm512_store_si512(q + 64 * j, v[j]);
        if (qbytes == 32) {
            transpose16x4(blk, 18, v);
            for (int j = 0; j < 4; j++)
                _mm512_store_si512(q + 256 + 64 * j, v[j]);
        }
    }
}

static void pack_q4_0(const uint8_t *const rows[16], int64_t b0, int64_t nblk, uint8_t *buf)
{
    pack_chunk_q(rows, b0, nblk, 16, buf);
}

static void pack_q8_0(const uint8_t *const rows[16], int64_t b0, int64_t nblk, uint8_t *buf)
{
    pack_chunk_q(rows, b0, nblk, 32, buf);
}

static const uint8_t g_zero_row_block[256] __attribute__((aligned(64))); /* >= any block */

/* The G16 packer of any packable type (same bytes as lc_pack_group_blocks): the body fields go through
 * transpose16x4 in 16-byte pieces, the rest (the half fields and 4-12 byte tails) by plain copies. */
void lc_avx512_pack16(int type, const void *const rows_v[16], int64_t b0, int64_t nblk, void *dst)
{
    if (type == LLAMAC_TYPE_BF16) {
        lc_avx512_pack16_bf16(rows_v, b0, nblk, dst);
        return;
    }
    const lc_pack_layout *L = lc_pack_layout_get(type);
    const uint8_t *const *rows = (const uint8_t *const *)rows_v;
    uint8_t *buf = dst;
    const size_t hused = (size_t)nblk * L->nhalf * 32, hb = (hused + 63) & ~(size_t)63;
    const size_t bbody = (size_t)16 * (L->block_bytes - 2 * L->nhalf);
    memset(buf + hused, 0, hb - hused);
    for (int64_t b = 0; b < nblk; b++) {
        const uint8_t *blk[16];
        for (int r = 0; r < 16; r++)
            blk[r] = rows[r] ? rows[r] + (size_t)(b0 + b) * L->block_bytes : g_zero_row_block;
        for (int i = 0; i < L->nhalf; i++)
            _mm256_storeu_si256((__m256i *)(buf + ((size_t)b * L->nhalf + i) * 32),
                                gather_halves(blk, (size_t)L->half_off[i]));
        uint8_t *out = buf + hb + (size_t)b * bbody;
        for (int f = 0; f < L->nbody; f++) {
            const int F = L->body_bytes[f], off = L->body_off[f];
            int j = 0;
            for (; j + 16 <= F; j += 16) {
                __m512i v[4];
                transpose16x4(blk, (size_t)(off + j), v);
                for (int k = 0; k < 4; k++)
                    _mm512_storeu_si512(out + (size_t)(j / 4 + k) * 64, v[k]);
            }
            for (; j < F; j += 4)
                for (int r = 0; r < 16; r++)
                    memcpy(out + (size_t)(j / 4) * 64 + 4 * r, blk[r] + off + j, 4);
            out += (size_t)F * 16;
        }
    }
}

/* ---------------------------------------------------------------------------------------------------------
 * Driver (gemm_avx512.h)
 * ------------------------------------------------------------------------------------------------------- */

LC_DEFINE_TILES8(q4_0)
_Static_assert(Q4_0_TT2 == 4 && Q8_0_TT2 == 4, "LC_DEFINE_TILES2 makes tiles of 1-4 tokens");
LC_DEFINE_TILES2(q4_0)
LC_DEFINE_TILES2(q8_0)
LC_DEFINE_TILES8(q8_0)

LC_DEFINE_TILES8(q4_1)
LC_DEFINE_TILES8(q5_0)
LC_DEFINE_TILES8(q5_1)
LC_PACK16_SIMD(pack_q4_1, LLAMAC_TYPE_Q4_1)
LC_PACK16_SIMD(pack_q5_0, LLAMAC_TYPE_Q5_0)
LC_PACK16_SIMD(pack_q5_1, LLAMAC_TYPE_Q5_1)

/* q8x: the activations carry the Q8_0x/Q8_1x extension (both at the same offsets relative to their rows) */
static const lc_qgemm512 g_q4_0 = {LLAMAC_TYPE_Q4_0, 8, q4_0_tiles, 1, pack_q4_0, 64, 0, q4_0_tiles2, Q4_0_TT2};
static const lc_qgemm512 g_q8_0 = {LLAMAC_TYPE_Q8_0, 8, q8_0_tiles, 1, pack_q8_0, 64, 0, q8_0_tiles2, Q8_0_TT2};
static const lc_qgemm512 g_q4_1 = {LLAMAC_TYPE_Q4_1, 8, q4_1_tiles, 2, pack_q4_1, 64, 1, NULL, 0};
static const lc_qgemm512 g_q5_0 = {LLAMAC_TYPE_Q5_0, 8, q5_0_tiles, 1, pack_q5_0, 64, 1, NULL, 0};
static const lc_qgemm512 g_q5_1 = {LLAMAC_TYPE_Q5_1, 8, q5_1_tiles, 2, pack_q5_1, 64, 1, NULL, 0};

static inline __mmask16 lane_mask(int64_t grp, int64_t r0, int64_t r1)
{
    int64_t lo = r0 - grp * 16, hi = r1 - grp * 16;
    lo = lo < 0 ? 0 : lo;
    hi = hi > 16 ? 16 : hi;
    return (__mmask16)(((1u << hi) - 1u) & ~((1u << lo) - 1u));
}

/* One pass of all tokens over one run of blocks (ab0 .. ab0+nblk) of group grp; first: start from zero. */
static void run_chunk(const lc_qgemm512 *qd, const lc_gemm_args *g, const uint8_t *head, const uint8_t *body,
                      int64_t nblk, int64_t ab0, int64_t grp, __mmask16 mask, int first, int stream)
{
    act_tile a;
    a.ext = qd->q8x == 1 ? lc_q8x_ext_offset(g->n) : qd->q8x == 2 ? lc_q81x_ext_offset(g->n) : 0;
    a.nb = g->n / 32;
    for (int64_t t0 = 0; t0 < g->nt; t0 += qd->tt) {
        int tt = g->nt - t0 < qd->tt ? (int)(g->nt - t0) : qd->tt;
        a.pf = stream && t0 == 0 && g->nt <= LC_SMALL_NT;
        __m512 acc[TT];
        for (int t = 0; t < tt; t++) {
            a.row[t] = (const uint8_t *)g->a + (size_t)(t0 + t) * g->a_stride;
            float *yp = g->y + (t0 + t) * g->ldy + grp * 16;
            acc[t] = first ? _mm512_setzero_ps() : _mm512_maskz_loadu_ps(mask, yp);
        }
        qd->tiles[tt](head, body, nblk, &a, ab0, acc);
        for (int t = 0; t < tt; t++)
            _mm512_mask_storeu_ps(g->y + (t0 + t) * g->ldy + grp * 16, mask, acc[t]);
    }
}

/* Prefill over two whole packed groups grp, grp + 1 with the 32-row tiles. */
static void run_pair(const lc_qgemm512 *qd, const lc_gemm_args *g, const uint8_t *head, const uint8_t *body,
                     int64_t nblk, int64_t grp, __mmask16 m0, __mmask16 m1)
{
    act_tile a;
    a.ext = qd->q8x == 1 ? lc_q8x_ext_offset(g->n) : qd->q8x == 2 ? lc_q81x_ext_offset(g->n) : 0;
    a.nb = g->n / 32;
    a.pf = 0;
    for (int64_t t0 = 0; t0 < g->nt; t0 += qd->tt2) {
        int tt = g->nt - t0 < qd->tt2 ? (int)(g->nt - t0) : qd->tt2;
        __m512 acc[2 * LC_TT_MAX];
        for (int t = 0; t < tt; t++) {
            a.row[t] = (const uint8_t *)g->a + (size_t)(t0 + t) * g->a_stride;
            acc[2 * t] = acc[2 * t + 1] = _mm512_setzero_ps();
        }
        qd->tiles2[tt](head, body, g->w_stride, nblk, &a, 0, acc);
        for (int t = 0; t < tt; t++) {
            float *yp = g->y + (t0 + t) * g->ldy + grp * 16;
            _mm512_mask_storeu_ps(yp, m0, acc[2 * t]);
            _mm512_mask_storeu_ps(yp + 16, m1, acc[2 * t + 1]);
        }
    }
}

void lc_qgemm512_run(const lc_qgemm512 *qd, const lc_gemm_args *g, int packed)
{
    /* Prefill: token blocks of ~384 KiB of activations, which stay in L2 while every row group of the call
     * passes over them (a group's weights stay in L1 across the block's token tiles). */
    int64_t tb = ((int64_t)384 << 10) / (int64_t)g->a_stride;
    tb = tb < 16 ? 16 : tb & ~(int64_t)7;
    if (g->nt > tb) {
        for (int64_t t0 = 0; t0 < g->nt; t0 += tb) {
            lc_gemm_args h = *g;
            h.a = (const uint8_t *)g->a + (size_t)t0 * g->a_stride;
            h.y = g->y + t0 * g->ldy;
            h.nt = g->nt - t0 < tb ? g->nt - t0 : tb;
            lc_qgemm512_run(qd, &h, packed);
        }
        return;
    }
    const lc_pack_layout *L = lc_pack_layout_get(qd->type);
    const int64_t nb = g->n / L->blck;
    if (packed) {
        const size_t hb = lc_pack_quant_offset(qd->type, g->n);
        if (g->nt <= LC_SMALL_NT && qd->pf_body) { /* the tiles prefetch LC_PF_DIST ahead; fetch the start */
            const uint8_t *start = (const uint8_t *)g->w + (size_t)(g->r0 / 16) * g->w_stride;
            size_t len = (size_t)((g->r1 + 15) / 16 - g->r0 / 16) * g->w_stride;
            len = len < LC_PF_DIST ? len : LC_PF_DIST;
            for (size_t off = 0; off < len; off += 64)
                _mm_prefetch((const char *)start + off, _MM_HINT_T1);
        }
        for (int64_t grp = g->r0 / 16; grp * 16 < g->r1; grp++) {
            const uint8_t *base = (const uint8_t *)g->w + (size_t)grp * g->w_stride;
            if (qd->tiles2 && g->nt > LC_SMALL_NT && (grp + 1) * 16 < g->r1) {
                run_pair(qd, g, base, base + hb, nb, grp, lane_mask(grp, g->r0, g->r1),
                         lane_mask(grp + 1, g->r0, g->r1));
                grp++;
                continue;
            }
            if (g->nt <= LC_SMALL_NT && !qd->pf_body) /* the group's head into L1 first: the body is one stream */
                for (size_t off = 0; off < hb; off += 64)
                    _mm_prefetch((const char *)base + off, _MM_HINT_T0);
            run_chunk(qd, g, base, base + hb, nb, 0, grp, lane_mask(grp, g->r0, g->r1), 1, 1);
        }
        return;
    }
    uint8_t buf[36864] __attribute__((aligned(64))); /* kc blocks of 16 rows of any type (see the descs) */
    for (int64_t grp = g->r0 / 16; grp * 16 < g->r1; grp++) {
        const uint8_t *rows[16];
        for (int r = 0; r < 16; r++) {
            int64_t row = grp * 16 + r;
            rows[r] = row >= g->r0 && row < g->r1 ? (const uint8_t *)g->w + (size_t)row * g->w_stride : NULL;
        }
        __mmask16 mask = lane_mask(grp, g->r0, g->r1);
        for (int64_t b0 = 0; b0 < nb; b0 += qd->kc) {
            int64_t nblk = nb - b0 < qd->kc ? nb - b0 : qd->kc;
            /* the 16 row pieces are 16 streams the hardware prefetcher follows poorly (and the file mapping
             * has 4 KiB pages): fetch this chunk into L1 and the next group's into L2 ahead of use */
            const size_t cb = (size_t)nblk * L->block_bytes;
            for (int r = 0; r < 16; r++) {
                int64_t row = grp * 16 + r;
                if (rows[r])
                    for (size_t off = 0; off < cb; off += 64)
                        _mm_prefetch((const char *)rows[r] + (size_t)b0 * L->block_bytes + off, _MM_HINT_T0);
                if (row + 16 < g->r1)
                    for (size_t off = 0; off < cb; off += 64)
                        _mm_prefetch((const char *)g->w + (size_t)(row + 16) * g->w_stride +
                                         (size_t)b0 * L->block_bytes + off, _MM_HINT_T1);
            }
            qd->pack(rows, b0, nblk, buf);
            size_t hb = ((size_t)nblk * L->nhalf * 32 + 63) & ~(size_t)63;
            run_chunk(qd, g, buf, buf + hb, nblk, b0, grp, mask, b0 == 0, 0);
        }
    }
}

#define ENTRIES(t)                                                                                            \
    static void gemm_##t##_packed(const lc_gemm_args *g) { lc_qgemm512_run(&g_##t, g, 1); }                 \
    static void gemm_##t##_raw(const lc_gemm_args *g) { lc_qgemm512_run(&g_##t, g, 0); }
ENTRIES(q4_0)
ENTRIES(q8_0)
ENTRIES(q4_1)
ENTRIES(q5_0)
ENTRIES(q5_1)
#undef ENTRIES

void lc_init_gemm_q_avx512(lc_kernels *k)
{
    k->quantize_row[LLAMAC_TYPE_Q8_0] = quantize_row_q8_0x;
    k->quantize_row[LLAMAC_TYPE_Q8_1] = quantize_row_q8_1x;
    k->act_row_bytes = lc_simd_act_row_bytes;
#define SET(T, t)                                                                                             \
    k->gemm[LLAMAC_TYPE_##T] = gemm_##t##_raw;                                                                \
    k->gemm_packed[LLAMAC_TYPE_##T] = gemm_##t##_packed;
    SET(Q4_0, q4_0)
    SET(Q8_0, q8_0)
    SET(Q4_1, q4_1)
    SET(Q5_0, q5_0)
    SET(Q5_1, q5_1)
#undef SET
    k->pack16 = lc_avx512_pack16;
    lc_init_gemm_k_avx512(k);
}
