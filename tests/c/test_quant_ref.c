/*
 * test_quant_ref.c — the scalar reference of every quant type against ggml's definitions.
 *
 *   (a) hand-written blocks (bytes set one by one) dequantize to values computed by hand from ggml's layout:
 *       max nibbles, high bits set and clear, negative super-scales, negative / extreme sub-block scales,
 *       each of the 8 Q4_K/Q5_K sub-block scales and mins, the packed 6-bit Q3_K scales;
 *   (b) quantize -> dequantize on Gaussian data stays within a per-type relative RMS error bound, and no
 *       type is suspiciously exact (the bounds are ~1.3x the measured errors, and a lower bound catches a
 *       quantizer that silently stores nothing);
 *   (c) vec_dot equals the float64 dot of the dequantized weights and dequantized activations within a stated
 *       bound, and the scalar GEMM returns exactly vec_dot;
 *   (d) NaN/Inf super-scales and NaN/Inf inputs do not crash dequantize, quantize, vec_dot or the GEMM.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gguf/ggml_types.h"
#include "gguf/gguf.h"
#include "kernels/kernels.h"
#include "kernels/quant.h"
#include "check.h"

/* ---- helpers ---- */
#define H_1 0x3C00      /* 1.0 */
#define H_HALF 0x3800   /* 0.5 */
#define H_QUARTER 0x3400
#define H_2 0x4000
#define H_M1 0xBC00     /* -1.0 */
#define H_MHALF 0xB800  /* -0.5 */
#define H_M2 0xC000     /* -2.0 */
#define H_NAN 0x7E00
#define H_INF 0x7C00

static void dequant(int type, const void *blk, float *out, int64_t n)
{
    lc_type_traits_get(type)->to_float(blk, out, n);
}

static void expect_elem(const char *what, const float *y, int e, float want)
{
    CHECK(y[e] == want, "%s: element %d = %.9g, expected %.9g", what, e, (double)y[e], (double)want);
}

/* ============================ (a) hand-written blocks ============================ */
static void test_hand_q4_0_q8_0(void)
{
    lc_block_q4_0 b;
    b.d = H_M2;
    for (int j = 0; j < 16; j++)
        b.qs[j] = (uint8_t)(j | (15 - j) << 4);
    float y[32];
    dequant(LLAMAC_TYPE_Q4_0, &b, y, 32);
    expect_elem("Q4_0", y, 0, 16.0f);   /* (0-8)*-2 */
    expect_elem("Q4_0", y, 15, -14.0f); /* (15-8)*-2 */
    expect_elem("Q4_0", y, 16, -14.0f); /* high nibble of qs[0] = 15 */
    expect_elem("Q4_0", y, 31, 16.0f);

    lc_block_q8_0 c;
    c.d = H_QUARTER;
    for (int j = 0; j < 32; j++)
        c.qs[j] = (int8_t)(j == 0 ? -128 : j == 1 ? 127 : j - 16);
    dequant(LLAMAC_TYPE_Q8_0, &c, y, 32);
    expect_elem("Q8_0", y, 0, -32.0f);
    expect_elem("Q8_0", y, 1, 31.75f);
    expect_elem("Q8_0", y, 20, 1.0f);
}

static void test_hand_q4_1(void)
{
    lc_block_q4_1 b;
    b.d = H_HALF;
    b.m = H_M2;
    for (int j = 0; j < 16; j++)
        b.qs[j] = (uint8_t)(j | (15 - j) << 4);
    float y[32];
    dequant(LLAMAC_TYPE_Q4_1, &b, y, 32);
    expect_elem("Q4_1", y, 0, -2.0f);
    expect_elem("Q4_1", y, 15, 5.5f); /* max low nibble: 15*0.5 - 2 */
    expect_elem("Q4_1", y, 16, 5.5f); /* max high nibble */
    expect_elem("Q4_1", y, 20, 3.5f); /* high nibble of qs[4] = 11 */
    expect_elem("Q4_1", y, 31, -2.0f);
}

static void test_hand_q5(void)
{
    /* Q5_0 with a negative scale: value = (q - 16) * -1 */
    lc_block_q5_0 b;
    b.d = H_M1;
    for (int j = 0; j < 16; j++)
        b.qs[j] = (uint8_t)(j | (15 - j) << 4);
    const uint8_t qh[4] = {0x55, 0x55, 0xAA, 0xAA}; /* u32 0xAAAA5555: even elements 0..15, odd 16..31 */
    memcpy(b.qh, qh, 4);
    float y[32];
    dequant(LLAMAC_TYPE_Q5_0, &b, y, 32);
    expect_elem("Q5_0", y, 0, 0.0f);    /* q = 0 | 16 */
    expect_elem("Q5_0", y, 1, 15.0f);   /* q = 1 */
    expect_elem("Q5_0", y, 14, -14.0f); /* q = 14 | 16 */
    expect_elem("Q5_0", y, 16, 1.0f);   /* high nibble 15, bit 16 clear */
    expect_elem("Q5_0", y, 17, -14.0f); /* high nibble 14, bit 17 set: 30 */
    expect_elem("Q5_0", y, 31, 0.0f);   /* high nibble 0, bit 31 set: 16 */

    lc_block_q5_1 c[2];
    c[0].d = H_QUARTER;
    c[0].m = H_1;
    memset(c[0].qs, 0xFF, 16);
    memset(c[0].qh, 0xFF, 4);
    c[1].d = H_QUARTER;
    c[1].m = H_1;
    memset(c[1].qs, 0, 16);
    const uint8_t qh1[4] = {0x01, 0x00, 0x00, 0x80}; /* bits 0 and 31 */
    memcpy(c[1].qh, qh1, 4);
    float z[64];
    dequant(LLAMAC_TYPE_Q5_1, c, z, 64);
    for (int e = 0; e < 32; e++)
        expect_elem("Q5_1 all-max", z, e, 8.75f); /* 31*0.25 + 1 */
    expect_elem("Q5_1", z, 32, 5.0f);  /* q = 16 */
    expect_elem("Q5_1", z, 33, 1.0f);
    expect_elem("Q5_1", z, 48, 1.0f);
    expect_elem("Q5_1", z, 63, 5.0f);

    lc_block_q8_1 a;
    a.d = H_HALF;
    a.s = 0;
    for (int j = 0; j < 32; j++)
        a.qs[j] = (int8_t)(j - 16);
    dequant(LLAMAC_TYPE_Q8_1, &a, z, 32);
    expect_elem("Q8_1", z, 0, -8.0f);
    expect_elem("Q8_1", z, 31, 7.5f);
}

static void test_hand_q2_K(void)
{
    lc_block_q2_K b;
    b.d = H_HALF;
    b.dmin = H_QUARTER;
    for (int s = 0; s < 16; s++)
        b.scales[s] = (uint8_t)(s | (15 - s) << 4); /* sc = s, m = 15 - s */
    memset(b.qs, 0xE4, 64);                        /* 2-bit groups 0,1,2,3 from the low bits up */
    b.qs[5] = 0x1B;                                /* groups 3,2,1,0 */
    b.qs[32 + 7] = 0x1B;
    float y[256];
    dequant(LLAMAC_TYPE_Q2_K, &b, y, 256);
    expect_elem("Q2_K", y, 0, -3.75f);   /* s0: 0.5*0*0 - 0.25*15 */
    expect_elem("Q2_K", y, 40, -2.25f);  /* s2, q = 1: 0.5*2*1 - 0.25*13 */
    expect_elem("Q2_K", y, 100, 6.75f);  /* s6, q = 3 */
    expect_elem("Q2_K", y, 255, 22.5f);  /* s15, q = 3, m = 0 */
    expect_elem("Q2_K", y, 5, -3.75f + 0.0f); /* s0 has sc = 0 whatever q */
    expect_elem("Q2_K", y, 37, 0.5f * 2 * 2 - 0.25f * 13); /* qs[5] bits 2..3 = 2 */
    expect_elem("Q2_K", y, 69, 0.5f * 4 * 1 - 0.25f * 11);
    expect_elem("Q2_K", y, 101, 0.5f * 6 * 0 - 0.25f * 9);
    expect_elem("Q2_K", y, 135, 0.5f * 8 * 3 - 0.25f * 7); /* second half: qs[39] */
    expect_elem("Q2_K", y, 167, 0.5f * 10 * 2 - 0.25f * 5);
    expect_elem("Q2_K", y, 231, 0.5f * 14 * 0 - 0.25f * 1);
}

static void test_hand_q3_K(void)
{
    /* sub-block scales -32, 31, -1, 0, 1, 5, -7, 10, -20, 20, 3, -3, 15, -15, 30, -31 packed by hand */
    static const int sc[16] = {-32, 31, -1, 0, 1, 5, -7, 10, -20, 20, 3, -3, 15, -15, 30, -31};
    static const uint8_t packed[12] = {0xC0, 0x4F, 0x3F, 0xD0, 0xF1, 0x15, 0xE9, 0x1A, 0x88, 0x7B, 0xE5, 0x1A};
    lc_block_q3_K b;
    b.d = H_HALF;
    memcpy(b.scales, packed, 12);
    for (int l = 0; l < 32; l++)
        b.hmask[l] = (uint8_t)(l & 1 ? 0xAA : 0x55);
    memset(b.qs, 0xE4, 64); /* low 2 bits of element 32g+l (+128h) = g */
    float y[256];
    dequant(LLAMAC_TYPE_Q3_K, &b, y, 256);
    expect_elem("Q3_K", y, 0, 0.0f);      /* q = 0 (high bit set) */
    expect_elem("Q3_K", y, 1, 64.0f);     /* sc -32, high bit clear: q = -4 */
    expect_elem("Q3_K", y, 16, 0.0f);     /* sc 31, q = 0 */
    expect_elem("Q3_K", y, 17, -62.0f);   /* sc 31, q = -4 */
    expect_elem("Q3_K", y, 32, 1.5f);     /* sc -1, q = 1 - 4 */
    expect_elem("Q3_K", y, 33, -0.5f);    /* sc -1, q = 1 */
    expect_elem("Q3_K", y, 200, 15.0f);   /* sc 15, q = 2 */
    expect_elem("Q3_K", y, 230, -15.0f);  /* sc 30, q = 3 - 4 */
    expect_elem("Q3_K", y, 255, -46.5f);  /* sc -31, q = 3 */
    /* every sub-block's scale: element 16s+2 has l even, g = (16s+2)%128/32 */
    for (int s = 0; s < 16; s++) {
        int e = 16 * s + 2, g = (e % 128) / 32;
        int high = (0x55 >> (e / 32)) & 1;
        float want = 0.5f * (float)sc[s] * (float)(g - (high ? 0 : 4));
        expect_elem("Q3_K scale", y, e, want);
    }
    /* negative super-scale flips everything */
    b.d = H_MHALF;
    float z[256];
    dequant(LLAMAC_TYPE_Q3_K, &b, z, 256);
    for (int e = 0; e < 256; e++)
        CHECK(z[e] == -y[e], "Q3_K negative d: element %d", e);
}

/* Q4_K scales/mins: sc = {1,63,10,33,17,48,5,62}, m = {0,2,63,31,40,16,9,1}, packed by hand */
static const uint8_t k4_packed[12] = {0x41, 0xFF, 0x0A, 0xE1, 0x80, 0x42, 0x3F, 0x1F, 0x81, 0x00, 0x95, 0x1E};

static void test_hand_q4_K(void)
{
    lc_block_q4_K b;
    b.d = H_1;
    b.dmin = H_HALF;
    memcpy(b.scales, k4_packed, 12);
    for (int k = 0; k < 128; k++)
        b.qs[k] = (uint8_t)((k & 15) | (15 - (k & 15)) << 4);
    float y[256];
    dequant(LLAMAC_TYPE_Q4_K, &b, y, 256);
    /* one element in each sub-block (covers all 8 scales and mins) */
    expect_elem("Q4_K s0", y, 15, 15.0f);    /* sc 1,  m 0,  q 15 (max nibble) */
    expect_elem("Q4_K s1", y, 32, 944.0f);   /* sc 63, m 2,  q 15 (high nibble) */
    expect_elem("Q4_K s2", y, 70, 28.5f);    /* sc 10, m 63, q 6 */
    expect_elem("Q4_K s3", y, 100, 347.5f);  /* sc 33, m 31, q 11 */
    expect_elem("Q4_K s4", y, 140, 184.0f);  /* sc 17, m 40, q 12 */
    expect_elem("Q4_K s5", y, 170, 232.0f);  /* sc 48, m 16, q 5 */
    expect_elem("Q4_K s6", y, 200, 35.5f);   /* sc 5,  m 9,  q 8 */
    expect_elem("Q4_K s7", y, 230, 557.5f);  /* sc 62, m 1,  q 9 */
    expect_elem("Q4_K", y, 0, 0.0f);
    expect_elem("Q4_K", y, 63, -1.0f);       /* q 0: -dmin*m = -0.5*2 */
    expect_elem("Q4_K", y, 64, -31.5f);
    expect_elem("Q4_K", y, 255, -0.5f);
}

static void test_hand_q5_K(void)
{
    lc_block_q5_K b;
    b.d = H_1;
    b.dmin = H_HALF;
    memcpy(b.scales, k4_packed, 12);
    for (int k = 0; k < 128; k++)
        b.qs[k] = (uint8_t)((k & 15) | (15 - (k & 15)) << 4);
    for (int l = 0; l < 32; l++)
        b.qh[l] = (uint8_t)(l & 1 ? 0xFF : 0x00);
    b.qh[2] = 0x81; /* fifth bit for sub-blocks 0 and 7 only */
    float y[256];
    dequant(LLAMAC_TYPE_Q5_K, &b, y, 256);
    expect_elem("Q5_K", y, 15, 31.0f);      /* q 15 + 16 (max) */
    expect_elem("Q5_K", y, 32, 944.0f);     /* q 15, no high bit */
    expect_elem("Q5_K", y, 33, 1889.0f);    /* sc 63, q 14 + 16, m 2 */
    expect_elem("Q5_K", y, 2, 18.0f);       /* qh[2] bit 0 */
    expect_elem("Q5_K", y, 226, 1797.5f);   /* qh[2] bit 7: sc 62, q 13 + 16 */
    expect_elem("Q5_K", y, 194, 5.5f);      /* qh[2] bit 6 clear: sc 5, q 2, m 9 */
    expect_elem("Q5_K", y, 255, 62.0f * 16 - 0.5f); /* q 0 + 16 (l = 31 odd) */
}

static void test_hand_q6_K(void)
{
    static const int8_t sc[16] = {-128, 127, 1, -1, 0, 64, -64, 2, 3, -3, 100, -100, 7, 50, -50, 10};
    lc_block_q6_K b;
    b.d = H_MHALF; /* negative super-scale */
    memcpy(b.scales, sc, 16);
    for (int k = 0; k < 128; k++)
        b.ql[k] = (uint8_t)k;
    memset(b.qh, 0xE4, 64); /* high 2 bits of group g = g */
    float y[256];
    dequant(LLAMAC_TYPE_Q6_K, &b, y, 256);
    expect_elem("Q6_K", y, 0, -2048.0f);  /* sc -128, q -32 */
    expect_elem("Q6_K", y, 16, 2032.0f);  /* sc 127, q -32 */
    expect_elem("Q6_K", y, 33, 7.5f);     /* sc 1, q = (1 | 1<<4) - 32 */
    expect_elem("Q6_K", y, 90, -32.0f);   /* sc 64, high nibble of ql[26] = 1, q = 33 - 32 */
    expect_elem("Q6_K", y, 127, -19.0f);  /* sc 2, q = (3 | 3<<4) - 32 = 19 */
    expect_elem("Q6_K", y, 128, 48.0f);   /* second half: sc 3, q -32 */
    expect_elem("Q6_K", y, 175, 50.0f);   /* sc 100, q = (15 | 16) - 32 */
    expect_elem("Q6_K", y, 255, -115.0f); /* sc 10, q = (7 | 48) - 32 = 23 */
    expect_elem("Q6_K", y, 70, 0.0f);     /* sc 0 */
}

static void test_hand_q8_K(void)
{
    lc_block_q8_K b;
    memset(&b, 0, sizeof b);
    b.d = -0.25f;
    for (int e = 0; e < 256; e++)
        b.qs[e] = (int8_t)(e % 255 - 127);
    float y[256];
    dequant(LLAMAC_TYPE_Q8_K, &b, y, 256);
    expect_elem("Q8_K", y, 0, 31.75f);
    expect_elem("Q8_K", y, 254, -31.75f);
    expect_elem("Q8_K", y, 127, 0.0f);
}

/* ============================ (b) round trip ============================ */
static uint64_t g_rng = 0x9E3779B97F4A7C15ull;
static double urand(void)
{
    g_rng ^= g_rng >> 12;
    g_rng ^= g_rng << 25;
    g_rng ^= g_rng >> 27;
    return (double)((g_rng * 0x2545F4914F6CDD1Dull) >> 11) / 9007199254740992.0;
}
static float grand(void)
{
    double u1 = urand(), u2 = urand();
    if (u1 < 1e-300)
        u1 = 1e-300;
    return (float)(sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2));
}

/* Relative RMS error bounds on N(0,1) data (about 1.25x the errors measured on this data, listed below and in
 * docs/QUANT_FORMATS.md), and a floor that only a broken (too exact, e.g. copying) quantizer would go below. */
typedef struct rt_case {
    int type;
    double max_rel, min_rel;
} rt_case;

static const rt_case g_rt[] = {
    /* measured:  F16 0.00021  BF16 0.00166  Q8_0 0.00539  Q4_0 0.0863  Q4_1 0.0780  Q5_0 0.0430  Q5_1 0.0378
     *            Q8_1 0.00539 Q2_K 0.2992   Q3_K 0.1513   Q4_K 0.0717  Q5_K 0.0363  Q6_K 0.0178  Q8_K 0.00713 */
    {LLAMAC_TYPE_F16, 2.8e-4, 1e-5},   {LLAMAC_TYPE_BF16, 2.1e-3, 5e-4},  {LLAMAC_TYPE_Q8_0, 7.0e-3, 1e-3},
    {LLAMAC_TYPE_Q4_0, 1.10e-1, 5e-2}, {LLAMAC_TYPE_Q4_1, 1.00e-1, 4e-2}, {LLAMAC_TYPE_Q5_0, 5.6e-2, 2e-2},
    {LLAMAC_TYPE_Q5_1, 4.9e-2, 1.5e-2}, {LLAMAC_TYPE_Q8_1, 7.0e-3, 1e-3}, {LLAMAC_TYPE_Q2_K, 3.6e-1, 1.5e-1},
    {LLAMAC_TYPE_Q3_K, 1.9e-1, 8e-2},  {LLAMAC_TYPE_Q4_K, 9.2e-2, 4e-2},  {LLAMAC_TYPE_Q5_K, 4.7e-2, 1.5e-2},
    {LLAMAC_TYPE_Q6_K, 2.3e-2, 8e-3},  {LLAMAC_TYPE_Q8_K, 9.0e-3, 1e-3},
};

static double rel_rms(const float *x, const float *y, int64_t n)
{
    double e = 0, s = 0;
    for (int64_t i = 0; i < n; i++) {
        e += ((double)x[i] - y[i]) * ((double)x[i] - y[i]);
        s += (double)x[i] * x[i];
    }
    return sqrt(e / s);
}

static void test_round_trip(void)
{
    const int64_t n = 256 * 256;
    float *x = malloc(n * sizeof *x), *y = malloc(n * sizeof *y);
    void *q = malloc(n * 4);
    for (int64_t i = 0; i < n; i++)
        x[i] = grand();
    printf("round trip on %lld N(0,1) values (relative RMS error):\n", (long long)n);
    for (size_t c = 0; c < sizeof g_rt / sizeof g_rt[0]; c++) {
        const lc_type_traits *t = lc_type_traits_get(g_rt[c].type);
        CHECK(t && t->from_float && t->to_float, "type %d has no quantizer", g_rt[c].type);
        if (!t || !t->from_float)
            continue;
        t->from_float(x, q, n);
        t->to_float(q, y, n);
        double r = rel_rms(x, y, n);
        printf("  %-5s %.5f  (bound %.4f)\n", t->name, r, g_rt[c].max_rel);
        CHECK(r < g_rt[c].max_rel, "%s round trip error %.5f >= bound %.5f", t->name, r, g_rt[c].max_rel);
        CHECK(r > g_rt[c].min_rel, "%s round trip error %.6f is implausibly small (< %.6f)", t->name, r,
              g_rt[c].min_rel);
        /* a second quantization of the dequantized values must not drift far (idempotence-ish) */
        float *z = malloc(n * sizeof *z);
        t->from_float(y, q, n);
        t->to_float(q, z, n);
        double r2 = rel_rms(y, z, n);
        CHECK(r2 <= r, "%s requantization error %.5f exceeds first error %.5f", t->name, r2, r);
        free(z);
    }
    /* all-zero and constant inputs: exact zeros, no NaN */
    for (size_t c = 0; c < sizeof g_rt / sizeof g_rt[0]; c++) {
        const lc_type_traits *t = lc_type_traits_get(g_rt[c].type);
        memset(x, 0, 512 * sizeof *x);
        t->from_float(x, q, 512);
        t->to_float(q, y, 512);
        int ok = 1;
        for (int i = 0; i < 512; i++)
            ok &= y[i] == 0.0f;
        CHECK(ok, "%s: zeros do not round-trip to zeros", t->name);
        for (int i = 0; i < 512; i++)
            x[i] = 0.75f;
        t->from_float(x, q, 512);
        t->to_float(q, y, 512);
        double worst = 0;
        for (int i = 0; i < 512; i++)
            worst = fmax(worst, fabs((double)y[i] - 0.75));
        CHECK(worst < 0.75 * 0.07, "%s: constant 0.75 comes back with error %g", t->name, worst);
    }
    free(x);
    free(y);
    free(q);
}

/* ============================ (c) vec_dot vs float64 ============================ */
static int is_min_type(int t) /* Q4_1/Q5_1: the activation's s = d*sum(q) is stored as a half */
{
    return t == LLAMAC_TYPE_Q4_1 || t == LLAMAC_TYPE_Q5_1;
}

static void test_vec_dot(void)
{
    static const int types[] = {LLAMAC_TYPE_F32,  LLAMAC_TYPE_F16,  LLAMAC_TYPE_BF16, LLAMAC_TYPE_Q4_0,
                                LLAMAC_TYPE_Q8_0, LLAMAC_TYPE_Q4_1, LLAMAC_TYPE_Q5_0, LLAMAC_TYPE_Q5_1,
                                LLAMAC_TYPE_Q2_K, LLAMAC_TYPE_Q3_K, LLAMAC_TYPE_Q4_K, LLAMAC_TYPE_Q5_K,
                                LLAMAC_TYPE_Q6_K};
    const lc_kernels *ks = lc_kernels_by_name("scalar");
    const int64_t n = 256 * 16, rows = 8;
    float *w = malloc(rows * n * sizeof *w), *a = malloc(n * sizeof *a);
    float *wd = malloc(n * sizeof *wd), *ad = malloc(n * sizeof *ad);
    void *wq = malloc(rows * n * 4), *aq = malloc(n * 4);
    float y[8];
    for (int64_t i = 0; i < rows * n; i++)
        w[i] = grand() * 0.05f + (i % 7 == 0 ? 0.02f : 0.0f); /* a mean offset exercises the mins */
    for (int64_t i = 0; i < n; i++)
        a[i] = grand() * 3.0f;
    for (size_t k = 0; k < sizeof types / sizeof types[0]; k++) {
        const lc_type_traits *t = lc_type_traits_get(types[k]);
        const lc_type_traits *at = lc_type_traits_get(t->vec_dot_type);
        CHECK(t->vec_dot != NULL, "%s has no vec_dot", t->name);
        CHECK(ks->gemm[types[k]] != NULL, "%s has no scalar GEMM", t->name);
        size_t rb = lc_row_bytes(types[k], n);
        for (int64_t r = 0; r < rows; r++)
            t->from_float(w + r * n, (char *)wq + r * rb, n);
        at->from_float(a, aq, n);
        at->to_float(aq, ad, n);
        lc_gemm_args g = {wq, rb, aq, lc_row_bytes(t->vec_dot_type, n), y, rows, n, 0, rows, 1};
        ks->gemm[types[k]](&g);
        double worst = 0;
        for (int64_t r = 0; r < rows; r++) {
            const void *row = (const char *)wq + r * rb;
            t->to_float(row, wd, n);
            double ref = 0, mag = 0;
            for (int64_t i = 0; i < n; i++) {
                ref += (double)wd[i] * ad[i];
                mag += fabs((double)wd[i] * ad[i]);
            }
            float got = t->vec_dot(n, row, aq);
            /* bound: float accumulation over n/blck blocks, plus the half-rounded s of Q8_1 */
            double bound = 1e-5 * mag;
            if (is_min_type(types[k])) {
                const int64_t nb = n / 32;
                const lc_block_q8_1 *ab = aq;
                for (int64_t b = 0; b < nb; b++) {
                    float m = lc_half_to_f32(types[k] == LLAMAC_TYPE_Q4_1 ? ((const lc_block_q4_1 *)row)[b].m
                                                                           : ((const lc_block_q5_1 *)row)[b].m);
                    bound += fabs((double)m * lc_half_to_f32(ab[b].s)) * (1.0 / 2048.0);
                }
            }
            double err = fabs((double)got - ref);
            worst = fmax(worst, err / mag);
            CHECK(err <= bound, "%s row %lld: vec_dot %.9g vs float64 %.9g (err %.3g > bound %.3g)", t->name,
                  (long long)r, (double)got, ref, err, bound);
            CHECK(memcmp(&y[r], &got, sizeof got) == 0, "%s row %lld: GEMM %.9g != vec_dot %.9g", t->name,
                  (long long)r, (double)y[r], (double)got);
        }
        printf("  vec_dot %-5s worst |err| / sum|w*a| = %.2e\n", t->name, worst);
    }
    free(w);
    free(a);
    free(wd);
    free(ad);
    free(wq);
    free(aq);
}

/* ============================ (d) NaN / Inf ============================ */
static void set_super_scale(int type, void *blk, uint16_t h)
{
    switch (type) {
    case LLAMAC_TYPE_Q4_0: ((lc_block_q4_0 *)blk)->d = h; break;
    case LLAMAC_TYPE_Q8_0: ((lc_block_q8_0 *)blk)->d = h; break;
    case LLAMAC_TYPE_Q4_1: ((lc_block_q4_1 *)blk)->d = h; ((lc_block_q4_1 *)blk)->m = h; break;
    case LLAMAC_TYPE_Q5_0: ((lc_block_q5_0 *)blk)->d = h; break;
    case LLAMAC_TYPE_Q5_1: ((lc_block_q5_1 *)blk)->d = h; ((lc_block_q5_1 *)blk)->m = h; break;
    case LLAMAC_TYPE_Q2_K: ((lc_block_q2_K *)blk)->d = h; ((lc_block_q2_K *)blk)->dmin = h; break;
    case LLAMAC_TYPE_Q3_K: ((lc_block_q3_K *)blk)->d = h; break;
    case LLAMAC_TYPE_Q4_K: ((lc_block_q4_K *)blk)->d = h; ((lc_block_q4_K *)blk)->dmin = h; break;
    case LLAMAC_TYPE_Q5_K: ((lc_block_q5_K *)blk)->d = h; ((lc_block_q5_K *)blk)->dmin = h; break;
    case LLAMAC_TYPE_Q6_K: ((lc_block_q6_K *)blk)->d = h; break;
    default: break;
    }
}

static void test_nonfinite(void)
{
    static const int types[] = {LLAMAC_TYPE_Q4_0, LLAMAC_TYPE_Q8_0, LLAMAC_TYPE_Q4_1, LLAMAC_TYPE_Q5_0,
                                LLAMAC_TYPE_Q5_1, LLAMAC_TYPE_Q2_K, LLAMAC_TYPE_Q3_K, LLAMAC_TYPE_Q4_K,
                                LLAMAC_TYPE_Q5_K, LLAMAC_TYPE_Q6_K};
    static const uint16_t bad[] = {H_NAN, H_INF, 0xFC00 /* -inf */};
    const lc_kernels *ks = lc_kernels_by_name("scalar");
    const int64_t n = 512;
    float x[512], y[512];
    unsigned char wq[4 * 512], aq[4 * 512];
    for (int i = 0; i < n; i++)
        x[i] = grand();
    for (size_t k = 0; k < sizeof types / sizeof types[0]; k++) {
        const lc_type_traits *t = lc_type_traits_get(types[k]);
        const lc_type_traits *at = lc_type_traits_get(t->vec_dot_type);
        for (size_t b = 0; b < sizeof bad / sizeof bad[0]; b++) {
            t->from_float(x, wq, n);
            set_super_scale(types[k], wq, bad[b]); /* first block only */
            t->to_float(wq, y, n);
            int finite_rest = 1;
            for (int i = (int)t->blck; i < n; i++)
                finite_rest &= isfinite(y[i]) != 0;
            CHECK(finite_rest, "%s: a bad scale in block 0 leaked into later blocks", t->name);
            at->from_float(x, aq, n);
            float d = t->vec_dot(n, wq, aq);
            float g1;
            lc_gemm_args g = {wq, lc_row_bytes(types[k], n), aq, lc_row_bytes(t->vec_dot_type, n), &g1, 1, n, 0, 1, 1};
            ks->gemm[types[k]](&g);
            CHECK(memcmp(&g1, &d, sizeof d) == 0 || (isnan(g1) && isnan(d)), "%s: GEMM differs with bad scale",
                  t->name);
        }
    }
    /* quantizers on NaN / Inf inputs: complete, and finite blocks elsewhere in the row stay finite */
    static const int all[] = {LLAMAC_TYPE_Q4_0, LLAMAC_TYPE_Q8_0, LLAMAC_TYPE_Q4_1, LLAMAC_TYPE_Q5_0,
                              LLAMAC_TYPE_Q5_1, LLAMAC_TYPE_Q8_1, LLAMAC_TYPE_Q2_K, LLAMAC_TYPE_Q3_K,
                              LLAMAC_TYPE_Q4_K, LLAMAC_TYPE_Q5_K, LLAMAC_TYPE_Q6_K, LLAMAC_TYPE_Q8_K};
    for (int i = 0; i < n; i++)
        x[i] = grand();
    x[3] = NAN;
    x[40] = INFINITY;
    x[100] = -INFINITY;
    for (size_t k = 0; k < sizeof all / sizeof all[0]; k++) {
        const lc_type_traits *t = lc_type_traits_get(all[k]);
        t->from_float(x, wq, n);
        t->to_float(wq, y, n);
        int ok = 1;
        for (int i = 256; i < n; i++)
            ok &= isfinite(y[i]) != 0;
        CHECK(ok, "%s: non-finite inputs in the first 256 values spoiled the rest", t->name);
    }
    /* activation blocks with a NaN scale (Q8_K's f32 d) */
    lc_block_q8_K a;
    lc_type_traits_get(LLAMAC_TYPE_Q8_K)->from_float(x + 256, &a, 256);
    a.d = NAN;
    lc_type_traits_get(LLAMAC_TYPE_Q4_K)->from_float(x + 256, wq, 256);
    float d = lc_type_traits_get(LLAMAC_TYPE_Q4_K)->vec_dot(256, wq, &a);
    CHECK(isnan(d), "Q4_K . Q8_K with a NaN activation scale gave %g, expected NaN", (double)d);
}

/* ============================ table ============================ */
static void test_table(void)
{
    static const struct {
        int type;
        int64_t blck;
        size_t bytes;
        int vdt;
    } want[] = {
        {LLAMAC_TYPE_Q4_1, 32, 20, LLAMAC_TYPE_Q8_1}, {LLAMAC_TYPE_Q5_0, 32, 22, LLAMAC_TYPE_Q8_0},
        {LLAMAC_TYPE_Q5_1, 32, 24, LLAMAC_TYPE_Q8_1}, {LLAMAC_TYPE_Q8_1, 32, 36, -1},
        {LLAMAC_TYPE_Q2_K, 256, 84, LLAMAC_TYPE_Q8_K}, {LLAMAC_TYPE_Q3_K, 256, 110, LLAMAC_TYPE_Q8_K},
        {LLAMAC_TYPE_Q4_K, 256, 144, LLAMAC_TYPE_Q8_K}, {LLAMAC_TYPE_Q5_K, 256, 176, LLAMAC_TYPE_Q8_K},
        {LLAMAC_TYPE_Q6_K, 256, 210, LLAMAC_TYPE_Q8_K}, {LLAMAC_TYPE_Q8_K, 256, 292, -1},
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        const lc_type_traits *t = lc_type_traits_get(want[i].type);
        CHECK(t != NULL, "type %d missing from the table", want[i].type);
        if (!t)
            continue;
        CHECK(t->blck == want[i].blck && t->bytes == want[i].bytes, "%s: block %lld/%zu", t->name,
              (long long)t->blck, t->bytes);
        CHECK(t->vec_dot_type == want[i].vdt, "%s: vec_dot_type %d", t->name, t->vec_dot_type);
        CHECK((t->vec_dot != NULL) == (want[i].vdt >= 0), "%s: vec_dot presence", t->name);
        int64_t gb;
        uint64_t gbytes;
        CHECK(lc_ggml_type_geometry(want[i].type, &gb, &gbytes) && gb == t->blck && gbytes == t->bytes,
              "%s: geometry differs from the GGUF reader's table", t->name);
    }
}

int main(void)
{
    test_table();
    test_hand_q4_0_q8_0();
    test_hand_q4_1();
    test_hand_q5();
    test_hand_q2_K();
    test_hand_q3_K();
    test_hand_q4_K();
    test_hand_q5_K();
    test_hand_q6_K();
    test_hand_q8_K();
    test_round_trip();
    test_vec_dot();
    test_nonfinite();
    return check_finish("test_quant_ref");
}
