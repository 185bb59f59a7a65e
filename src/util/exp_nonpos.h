/*
 * exp_nonpos.h — exp(x) in double for x <= 0, in plain C the compiler can vectorize (softmax over a vocabulary:
 * the sampler, log-probabilities). glibc's exp is a call per element that no loop vectorizes; over a 128k
 * vocabulary it cost more than a small model's whole sampling step.
 *
 * Method: x = k ln2 + r with k = round(x / ln2) (the 1.5 * 2^52 rounding trick, exact in round-to-nearest),
 * r by Cody-Waite (ln2 split so that k * LN2_HI is exact for |k| < 2^11), |r| <= ln2 / 2; exp(r) by its Taylor
 * series to degree 13 (truncation < 4e-18 relative) by Estrin's scheme; 2^k built in the exponent bits.
 * Within 2 ulp (5e-16 relative) of libm's exp over [-708, 0] (tests/c/test_ops.c). The same operations in the
 * same order on every machine: the library is compiled as ISO C11 (-std=c11, no GNU extensions), where GCC
 * does not contract a * b + c into an FMA, so a build with -march=native gives the same numbers as a generic
 * one; the SIMD versions (lc_kernels.exp_shifted) repeat these operations and give the same bits.
 *
 * x <= -708 (including -infinity) gives 0; NaN gives 0. x must be <= 0 (x > 0 is not handled).
 */
#ifndef LLAMAC_UTIL_EXP_NONPOS_H
#define LLAMAC_UTIL_EXP_NONPOS_H

#include <stdint.h>
#include <string.h>

static inline double lc_exp_nonpos(double x)
{
    const int live = x > -708.0; /* false for NaN; no branch, so loops over it vectorize */
    x = live ? x : -708.0;
    const double shift = 0x1.8p52; /* adding it rounds x / ln2 to an integer in the low mantissa bits */
    double t = x * 0x1.71547652b82fep0 + shift;
    double k = t - shift;
    double r = x - k * 0x1.62e42fee00000p-1; /* exact: LN2_HI has 21 trailing zero bits, |k| < 2^11 */
    r = r - k * 0x1.a39ef35793c76p-33;
    /* the Taylor polynomial by Estrin's scheme: a dependency chain of ~7 operations instead of Horner's 26 */
    const double r2 = r * r, r4 = r2 * r2, r8 = r4 * r4;
    const double a0 = 1.0 + r, a1 = 0.5 + r * (1.0 / 6.0), a2 = 1.0 / 24.0 + r * (1.0 / 120.0),
                 a3 = 1.0 / 720.0 + r * (1.0 / 5040.0), a4 = 1.0 / 40320.0 + r * (1.0 / 362880.0),
                 a5 = 1.0 / 3628800.0 + r * (1.0 / 39916800.0), a6 = 1.0 / 479001600.0 + r * (1.0 / 6227020800.0);
    const double b0 = a0 + r2 * a1, b1 = a2 + r2 * a3, b2 = a4 + r2 * a5;
    const double c0 = b0 + r4 * b1, c1 = b2 + r4 * a6;
    const double p = c0 + r8 * c1;
    /* t's bits are those of shift plus k (|k| < 2^51); (bits + 1023) << 52 keeps the low 12 bits: k + 1023 in
     * 1..2046, a normal power of two */
    uint64_t b;
    memcpy(&b, &t, sizeof b);
    b = (b + 1023u) << 52;
    double s;
    memcpy(&s, &b, sizeof s);
    return live ? p * s : 0.0;
}

#endif
