/*
 * ops.h — RoPE for the forward pass: the cos/sin table of a position and the rotation of q and k heads.
 * (RMSNorm, SwiGLU and attention are kernel-table entries: src/kernels/ops_ref.h and the SIMD files.)
 */
#ifndef LC_OPS_H
#define LC_OPS_H

#include <stdint.h>

/* cos/sin table for one position: cs[2i] = cos(pos*inv_freq[i]), cs[2i+1] = sin(...), i < n_pairs (double
 * precision angles, rounded to float). */
void lc_rope_table(float *cs, const double *inv_freq, int n_pairs, int32_t pos);

/* Rotates the adjacent pairs (x[2i], x[2i+1]) of each of n_heads heads of head_dim elements (Meta / GGUF
 * layout): x' = x * e^{i angle}. */
void lc_rope_apply(float *x, const float *cs, int n_heads, int head_dim);

#endif
