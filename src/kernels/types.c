/*
 * types.c — the table of tensor types llamac implements (block geometry + scalar reference functions).
 * Block geometry comes from the ggml catalogue (gguf/ggml_types.h). To add a type: define its block in quant.h,
 * its reference in a ref_*.c file (declared in quant_ref.h),
 * add a row here, and (optionally) fast kernels in kernels_*.c. See docs/ADDING_A_QUANT_TYPE.md.
 */
#include "gguf/ggml_types.h"
#include "kernels/quant_ref.h"

#define ROW(T, vdt, fn)                                                                                        \
    [LLAMAC_TYPE_##T] = {#T, LC_GGML_BLCK_##T, LC_GGML_BYTES_##T, vdt, lc_##fn##_to_float, lc_##fn##_from_float, \
                         lc_##fn##_vec_dot}

/* An activation-only type: readable and writable, but never the weight side of a dot product. */
#define ACT_ROW(T, fn)                                                                                         \
    [LLAMAC_TYPE_##T] = {#T, LC_GGML_BLCK_##T, LC_GGML_BYTES_##T, -1, lc_##fn##_to_float, lc_##fn##_from_float, NULL}

static const lc_type_traits g_traits[LLAMAC_TYPE_COUNT] = {
    ROW(F32, LLAMAC_TYPE_F32, f32),
    ROW(F16, LLAMAC_TYPE_F32, f16),
    ROW(BF16, LLAMAC_TYPE_F32, bf16),
    ROW(Q4_0, LLAMAC_TYPE_Q8_0, q4_0),
    ROW(Q8_0, LLAMAC_TYPE_Q8_0, q8_0),
    ROW(Q4_1, LLAMAC_TYPE_Q8_1, q4_1),
    ROW(Q5_0, LLAMAC_TYPE_Q8_0, q5_0),
    ROW(Q5_1, LLAMAC_TYPE_Q8_1, q5_1),
    ACT_ROW(Q8_1, q8_1),
    ROW(Q2_K, LLAMAC_TYPE_Q8_K, q2_K),
    ROW(Q3_K, LLAMAC_TYPE_Q8_K, q3_K),
    ROW(Q4_K, LLAMAC_TYPE_Q8_K, q4_K),
    ROW(Q5_K, LLAMAC_TYPE_Q8_K, q5_K),
    ROW(Q6_K, LLAMAC_TYPE_Q8_K, q6_K),
    ACT_ROW(Q8_K, q8_K),
};

const lc_type_traits *lc_type_traits_get(int type)
{
    if (type < 0 || type >= LLAMAC_TYPE_COUNT || !g_traits[type].name)
        return NULL;
    return &g_traits[type];
}

/* The block structs must have ggml's exact sizes (no padding), or files would not read back. */
#define SAME_SIZE(T, blk) _Static_assert(sizeof(lc_block_##blk) == LC_GGML_BYTES_##T, #T " block size");
SAME_SIZE(Q4_0, q4_0) SAME_SIZE(Q4_1, q4_1) SAME_SIZE(Q5_0, q5_0) SAME_SIZE(Q5_1, q5_1) SAME_SIZE(Q8_0, q8_0)
SAME_SIZE(Q8_1, q8_1) SAME_SIZE(Q2_K, q2_K) SAME_SIZE(Q3_K, q3_K) SAME_SIZE(Q4_K, q4_K) SAME_SIZE(Q5_K, q5_K)
SAME_SIZE(Q6_K, q6_K) SAME_SIZE(Q8_K, q8_K)
#undef SAME_SIZE

size_t lc_row_bytes(int type, int64_t n)
{
    const lc_type_traits *t = lc_type_traits_get(type);
    if (!t || n < 0 || n % t->blck != 0)
        return 0;
    return (size_t)(n / t->blck) * t->bytes;
}
