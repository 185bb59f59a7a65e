/*
 * quant_mix.h — which type each tensor gets when a model is quantized to a "file type" (Q4_K_M, ...):
 * llama.cpp's quantization mixes, written from its documented rules (llama-quant.cpp), for the tensors of
 * Llama models. Pure functions of the tensor's name/shape and a few model facts, so they are unit-tested
 * directly (tests/c/test_quant_mix.c).
 *
 * Rules (default type D of the file type; "layer i of n"; use_more_bits(i, n) = i < n/8 || i >= 7n/8 ||
 * (i - n/8) % 3 == 2):
 *   - only tensors whose name ends in "weight", with >= 2 dimensions, not "*_norm.weight" are converted;
 *     everything else (norms, rope_freqs, 1-D tensors) is copied unchanged;
 *   - F32/F16/BF16 file types: every converted tensor becomes D (no mix);
 *   - output.weight (or token_embd.weight when the model has no output.weight): Q8_0 if its row length is not
 *     a multiple of D's block, else Q6_K unless D is Q8_0;
 *   - attn_v: Q2_K -> Q4_K if n_head/n_head_kv >= 4 else Q3_K; Q3_K_M -> Q5_K in layers 0-1 else Q4_K;
 *     Q3_K_L -> Q5_K; Q4_K_M/Q5_K_M -> Q6_K where use_more_bits; Q4_K_S -> Q5_K in layers 0-3;
 *     then a 70B-shaped model (80 layers, GQA) raises Q3_K/Q4_K to Q5_K;
 *   - ffn_down: Q2_K -> Q3_K; Q3_K_M -> Q5_K for i < n/16 else Q4_K; Q3_K_L -> Q5_K;
 *     Q4_K_M/Q5_K_M -> Q6_K where use_more_bits; Q4_K_S -> Q5_K for i < n/8;
 *   - attn_output: Q2_K -> Q3_K; Q3_K_M -> Q4_K; Q3_K_L -> Q5_K;
 *   - a choice whose block does not divide the row length falls back: Q4_K -> Q5_0, Q5_K -> Q5_1,
 *     Q6_K -> Q8_0, Q2_K/Q3_K -> Q4_0 (llama.cpp uses IQ4_NL, which llamac does not implement), and anything
 *     that still does not fit -> F16.
 */
#ifndef LC_QUANT_MIX_H
#define LC_QUANT_MIX_H

#include <stdint.h>

typedef struct lc_mix_info {
    int ftype;      /* llamac_ftype */
    int n_layer;    /* block_count: the "n" of ffn_down's layer position */
    int n_attn_v;   /* number of attn_v tensors: the "n" of attn_v's layer position */
    int n_gqa;      /* n_head / n_head_kv (1 if unknown) */
    int is_70b;     /* llama.cpp's 70B rule: 80 layers and n_head != n_head_kv */
    int has_output; /* output.weight exists (otherwise token_embd is also the output projection) */
} lc_mix_info;

/* The tensor type a file type converts matrices to by default; -1 if ftype is not one llamac writes. */
int lc_ftype_default_type(int ftype);

/* The type tensor `name` (ne[0] innermost, in_type its current type) gets under the mix; in_type itself when
 * the tensor is copied unchanged. *wanted (if not NULL) receives the mix's choice before the fallback step:
 * it differs from the result exactly when the row length is not a multiple of that type's block size. */
int lc_mix_choose(const lc_mix_info *m, const char *name, const int64_t ne[4], int in_type, int *wanted);

#endif
