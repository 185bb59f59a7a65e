/*
 * ggml_types.h — the one catalogue of ggml tensor type numbers: name and block geometry (elements per block,
 * bytes per block) of every type a GGUF file may name, including the many llamac cannot compute with (so a
 * file's sizes can be validated and its types named in messages). The kernel folder's trait table
 * (kernels/types.c) takes its geometry from here (LC_GGML_BLCK_<T> / LC_GGML_BYTES_<T>), so the numbers are
 * written once.
 */
#ifndef LC_GGML_TYPES_H
#define LC_GGML_TYPES_H

#include <stdint.h>

/* X(NAME, number, elements per block, bytes per block) */
#define LC_FOR_EACH_GGML_TYPE(X)                                                                              \
    X(F32, 0, 1, 4) X(F16, 1, 1, 2) X(Q4_0, 2, 32, 18) X(Q4_1, 3, 32, 20) X(Q5_0, 6, 32, 22)                   \
    X(Q5_1, 7, 32, 24) X(Q8_0, 8, 32, 34) X(Q8_1, 9, 32, 36) X(Q2_K, 10, 256, 84) X(Q3_K, 11, 256, 110)         \
    X(Q4_K, 12, 256, 144) X(Q5_K, 13, 256, 176) X(Q6_K, 14, 256, 210) X(Q8_K, 15, 256, 292)                     \
    X(IQ2_XXS, 16, 256, 66) X(IQ2_XS, 17, 256, 74) X(IQ3_XXS, 18, 256, 98) X(IQ1_S, 19, 256, 50)               \
    X(IQ4_NL, 20, 32, 18) X(IQ3_S, 21, 256, 110) X(IQ2_S, 22, 256, 82) X(IQ4_XS, 23, 256, 136)                 \
    X(I8, 24, 1, 1) X(I16, 25, 1, 2) X(I32, 26, 1, 4) X(I64, 27, 1, 8) X(F64, 28, 1, 8) X(IQ1_M, 29, 256, 56)  \
    X(BF16, 30, 1, 2) X(TQ1_0, 34, 256, 54) X(TQ2_0, 35, 256, 66) X(MXFP4, 39, 32, 17)

#define LC_GGML_GEOMETRY_CONSTANTS(T, num, blck, bytes) LC_GGML_BLCK_##T = blck, LC_GGML_BYTES_##T = bytes,
enum { LC_FOR_EACH_GGML_TYPE(LC_GGML_GEOMETRY_CONSTANTS) LC_GGML_TYPE_NUMBERS = 40 };
#undef LC_GGML_GEOMETRY_CONSTANTS

/* Block geometry of any ggml type number; returns 0 for a number that names no type. */
int lc_ggml_type_geometry(int type, int64_t *blck, uint64_t *bytes);

#endif
