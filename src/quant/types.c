/*
 * types.c — the table of tensor types llamac implements (block geometry + scalar reference functions).
 * To add a type: define its block in quant.h, its reference in a ref_*.c file (declared in quant_ref.h),
 * add a row here, and (optionally) fast kernels in kernels_*.c. See docs/ADDING_A_QUANT_TYPE.md.
 */
#include "quant/quant_ref.h"

#define ROW(T, nm, blk, sz, vdt, fn)                                                                          \
    [LLAMAC_TYPE_##T] = {nm, blk, sz, vdt, lc_##fn##_to_float, lc_##fn##_from_float, lc_##fn##_vec_dot}

/* An activation-only type: readable and writable, but never the weight side of a dot product. */
#define ACT_ROW(T, nm, blk, sz, fn)                                                                           \
    [LLAMAC_TYPE_##T] = {nm, blk, sz, -1, lc_##fn##_to_float, lc_##fn##_from_float, NULL}

static const lc_type_traits g_traits[LLAMAC_TYPE_COUNT] = {
    ROW(F32, "F32", 1, 4, LLAMAC_TYPE_F32, f32),
    ROW(F16, "F16", 1, 2, LLAMAC_TYPE_F32, f16),
    ROW(BF16, "BF16", 1, 2, LLAMAC_TYPE_F32, bf16),
    ROW(Q4_0, "Q4_0", LC_QK4_0, sizeof(lc_block_q4_0), LLAMAC_TYPE_Q8_0, q4_0),
    ROW(Q8_0, "Q8_0", LC_QK8_0, sizeof(lc_block_q8_0), LLAMAC_TYPE_Q8_0, q8_0),
    ROW(Q4_1, "Q4_1", LC_QK4_1, sizeof(lc_block_q4_1), LLAMAC_TYPE_Q8_1, q4_1),
    ROW(Q5_0, "Q5_0", LC_QK5_0, sizeof(lc_block_q5_0), LLAMAC_TYPE_Q8_0, q5_0),
    ROW(Q5_1, "Q5_1", LC_QK5_1, sizeof(lc_block_q5_1), LLAMAC_TYPE_Q8_1, q5_1),
    ACT_ROW(Q8_1, "Q8_1", LC_QK8_1, sizeof(lc_block_q8_1), q8_1),
    ROW(Q2_K, "Q2_K", LC_QK_K, sizeof(lc_block_q2_K), LLAMAC_TYPE_Q8_K, q2_K),
    ROW(Q3_K, "Q3_K", LC_QK_K, sizeof(lc_block_q3_K), LLAMAC_TYPE_Q8_K, q3_K),
    ROW(Q4_K, "Q4_K", LC_QK_K, sizeof(lc_block_q4_K), LLAMAC_TYPE_Q8_K, q4_K),
    ROW(Q5_K, "Q5_K", LC_QK_K, sizeof(lc_block_q5_K), LLAMAC_TYPE_Q8_K, q5_K),
    ROW(Q6_K, "Q6_K", LC_QK_K, sizeof(lc_block_q6_K), LLAMAC_TYPE_Q8_K, q6_K),
    ACT_ROW(Q8_K, "Q8_K", LC_QK_K, sizeof(lc_block_q8_K), q8_K),
};

const lc_type_traits *lc_type_traits_get(int type)
{
    if (type < 0 || type >= LLAMAC_TYPE_COUNT || !g_traits[type].name)
        return NULL;
    return &g_traits[type];
}

/* The block structs must have ggml's exact sizes (no padding), or files would not read back. */
_Static_assert(sizeof(lc_block_q4_0) == 18 && sizeof(lc_block_q4_1) == 20, "Q4 block size");
_Static_assert(sizeof(lc_block_q5_0) == 22 && sizeof(lc_block_q5_1) == 24, "Q5 block size");
_Static_assert(sizeof(lc_block_q8_0) == 34 && sizeof(lc_block_q8_1) == 36, "Q8 block size");
_Static_assert(sizeof(lc_block_q2_K) == 84 && sizeof(lc_block_q3_K) == 110, "Q2_K/Q3_K block size");
_Static_assert(sizeof(lc_block_q4_K) == 144 && sizeof(lc_block_q5_K) == 176, "Q4_K/Q5_K block size");
_Static_assert(sizeof(lc_block_q6_K) == 210 && sizeof(lc_block_q8_K) == 292, "Q6_K/Q8_K block size");

size_t lc_row_bytes(int type, int64_t n)
{
    const lc_type_traits *t = lc_type_traits_get(type);
    if (!t || n < 0 || n % t->blck != 0)
        return 0;
    return (size_t)(n / t->blck) * t->bytes;
}

/* Names of every ggml type number (including ones llamac does not implement), for messages. */
static const char *const g_ggml_names[LLAMAC_TYPE_COUNT] = {
    [0] = "F32", [1] = "F16", [2] = "Q4_0", [3] = "Q4_1", [6] = "Q5_0", [7] = "Q5_1", [8] = "Q8_0",
    [9] = "Q8_1", [10] = "Q2_K", [11] = "Q3_K", [12] = "Q4_K", [13] = "Q5_K", [14] = "Q6_K", [15] = "Q8_K",
    [16] = "IQ2_XXS", [17] = "IQ2_XS", [18] = "IQ3_XXS", [19] = "IQ1_S", [20] = "IQ4_NL", [21] = "IQ3_S",
    [22] = "IQ2_S", [23] = "IQ4_XS", [24] = "I8", [25] = "I16", [26] = "I32", [27] = "I64", [28] = "F64",
    [29] = "IQ1_M", [30] = "BF16", [34] = "TQ1_0", [35] = "TQ2_0", [39] = "MXFP4",
};

const char *llamac_type_name(int type)
{
    if (type < 0 || type >= LLAMAC_TYPE_COUNT)
        return NULL;
    return g_ggml_names[type];
}
