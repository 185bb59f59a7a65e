/*
 * ref_util.h — small helpers shared by the reference quantizers (ref_*.c): rounding and clamping that are
 * defined for every float input (NaN and huge values give a clamped level instead of undefined behaviour).
 */
#ifndef LC_REF_UTIL_H
#define LC_REF_UTIL_H

#include <math.h>
#include <stdint.h>
#include <string.h>

/* Round to nearest, ties to even (as ggml's nearest_int); NaN -> 0, magnitudes beyond 2^22 saturate.
 * Adding 1.5 * 2^23 moves any |v| < 2^22 into [2^23, 2^24), where the float spacing is exactly 1, so the
 * addition itself rounds (to nearest even, the default mode) and the integer sits in the low mantissa bits.
 * Same result as lrintf, without the library call (this runs ~20 times per element in the K-quant searches). */
static inline int lc_nearest(float v)
{
    if (!(v > -4194303.0f && v < 4194303.0f))
        return v != v ? 0 : v > 0 ? 4194303 : -4194303;
    float t = v + 12582912.0f;
    uint32_t bits;
    memcpy(&bits, &t, sizeof bits);
    return (int)(bits & 0x007fffffu) - 0x00400000;
}

static inline int lc_clampi(int v, int lo, int hi)
{
    return v < lo ? lo : v > hi ? hi : v;
}

#endif
