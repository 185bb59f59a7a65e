/*
 * quant.h — tensor types: ggml-compatible block layouts, the scalar reference for each type, and the table
 * of fast kernels chosen once at run time.
 *
 * Two layers:
 *   1. lc_type_traits (types.c + ref_*.c): per type, the block geometry and the *reference* conversions —
 *      dequantize, quantize, and the dot product of one weight row with one activation row. These are plain C,
 *      always compiled, and define what every fast path must compute.
 *   2. lc_kernels (kernels_*.c, chosen in cpu.c): per type, the activation converter and the GEMM used by the
 *      forward pass. The "scalar" table is built from the references; "avx2"/"avx512" replace entries.
 *
 * Invariants every kernel must keep (the engine's determinism rule):
 *   - Y[t][r] depends only on weight row r and activation row t: never on nt, r0/r1, the thread count or
 *     where a tile starts. A GEMM tile must perform, for each (r, t), exactly the operations the single-row
 *     path performs, in the same order.
 *   - Activations are converted per row (lc_kernels.quantize_row), so a row converts identically in any batch.
 *
 * Activation ("vec_dot") types: F32/F16/BF16 weights take f32 activations (LLAMAC_TYPE_F32 rows); Q4_0, Q5_0,
 * Q8_0 take Q8_0 rows; Q4_1, Q5_1 take Q8_1 rows (Q8_0 plus s = d*sum(q), for the min term); K-quants take Q8_K
 * rows (super-blocks of 256 with per-16 sums). Bit-level layouts of every block: docs/QUANT_FORMATS.md.
 */
#ifndef LC_QUANT_H
#define LC_QUANT_H

#include <stddef.h>
#include <stdint.h>

#include "llamac.h"

/* ---- block layouts (identical to ggml's ggml-common.h; all little-endian, scales are IEEE half) ---- */
typedef uint16_t lc_half;

#define LC_QK4_0 32
typedef struct {
    lc_half d;                 /* scale */
    uint8_t qs[LC_QK4_0 / 2];  /* element j in low nibble of qs[j], element j+16 in high nibble; value q-8 */
} lc_block_q4_0;

#define LC_QK4_1 32
typedef struct {
    lc_half d, m;              /* value = d*q + m */
    uint8_t qs[LC_QK4_1 / 2];
} lc_block_q4_1;

#define LC_QK5_0 32
typedef struct {
    lc_half d;
    uint8_t qh[4];             /* 5th bit of element j is bit j of qh (as uint32 little-endian) */
    uint8_t qs[LC_QK5_0 / 2];  /* value = d*(q-16) */
} lc_block_q5_0;

#define LC_QK5_1 32
typedef struct {
    lc_half d, m;
    uint8_t qh[4];
    uint8_t qs[LC_QK5_1 / 2];  /* value = d*q + m */
} lc_block_q5_1;

#define LC_QK8_0 32
typedef struct {
    lc_half d;
    int8_t qs[LC_QK8_0];
} lc_block_q8_0;

#define LC_QK8_1 32
typedef struct {
    lc_half d;                 /* scale */
    lc_half s;                 /* d * sum(qs) */
    int8_t qs[LC_QK8_1];
} lc_block_q8_1;

#define LC_QK_K 256
#define LC_K_SCALE_SIZE 12
typedef struct {
    uint8_t scales[LC_QK_K / 16]; /* 4-bit scale (low) and 4-bit min (high) per 16 elements */
    uint8_t qs[LC_QK_K / 4];      /* 2-bit quants */
    lc_half d, dmin;
} lc_block_q2_K;

typedef struct {
    uint8_t hmask[LC_QK_K / 8];   /* high bit */
    uint8_t qs[LC_QK_K / 4];      /* low 2 bits */
    uint8_t scales[12];           /* 16 scales of 6 bits */
    lc_half d;
} lc_block_q3_K;

typedef struct {
    lc_half d, dmin;
    uint8_t scales[LC_K_SCALE_SIZE]; /* 8 scales and 8 mins of 6 bits */
    uint8_t qs[LC_QK_K / 2];
} lc_block_q4_K;

typedef struct {
    lc_half d, dmin;
    uint8_t scales[LC_K_SCALE_SIZE];
    uint8_t qh[LC_QK_K / 8];
    uint8_t qs[LC_QK_K / 2];
} lc_block_q5_K;

typedef struct {
    uint8_t ql[LC_QK_K / 2];      /* low 4 bits */
    uint8_t qh[LC_QK_K / 4];      /* high 2 bits */
    int8_t scales[LC_QK_K / 16];  /* 8-bit scales */
    lc_half d;
} lc_block_q6_K;

typedef struct {
    float d;                      /* f32 scale (unlike the other blocks) */
    int8_t qs[LC_QK_K];
    int16_t bsums[LC_QK_K / 16];  /* sum of each 16 quants */
} lc_block_q8_K;

/* ---- half / bfloat16 conversion (exact; round-to-nearest-even when narrowing) ---- */
float lc_half_to_f32(lc_half h);
lc_half lc_f32_to_half(float f);
float lc_bf16_to_f32(uint16_t b);
uint16_t lc_f32_to_bf16(float f);

/* ---- per-type reference traits ---- */
typedef struct lc_type_traits {
    const char *name;
    int64_t blck;        /* elements per block */
    size_t bytes;        /* bytes per block */
    int vec_dot_type;    /* activation row type for dot products with this weight type; -1 if not a weight type */
    /* dequantize n elements (n % blck == 0) */
    void (*to_float)(const void *x, float *y, int64_t n);
    /* quantize n elements (n % blck == 0); NULL if llamac cannot write this type */
    void (*from_float)(const float *x, void *y, int64_t n);
    /* dot product of a weight row (this type) with an activation row (vec_dot_type), n elements */
    float (*vec_dot)(int64_t n, const void *w, const void *a);
} lc_type_traits;

/* The traits of a type, or NULL if the number is not a type llamac implements. */
const lc_type_traits *lc_type_traits_get(int type);

/* Bytes of a row of n elements of this type; 0 if n is not a multiple of the block size or type unknown. */
size_t lc_row_bytes(int type, int64_t n);

/* ---- fast kernels ---- */

/* One GEMM call: for r in [r0, r1) and t in [0, nt):
 *     y[t * ldy + r] = dot(weight row r, activation row t)
 * w: weight rows of w_type, w_stride bytes apart (for gemm_packed: the packed matrix of pack.h, w_stride =
 * bytes per group of 16 rows); a: activation rows (vec_dot_type, as written by the same table's quantize_row),
 * a_stride bytes apart; n: elements per row (the reduction length). */
typedef struct lc_gemm_args {
    const void *w;
    size_t w_stride;
    const void *a;
    size_t a_stride;
    float *y;
    int64_t ldy;
    int64_t n;
    int64_t r0, r1;
    int64_t nt;
} lc_gemm_args;

typedef void (*lc_gemm_fn)(const lc_gemm_args *args);

/* Float decode tiles read several runs of consecutive rows at once (one weight stream each, which the hardware
 * prefetcher follows): the most rows per run, i.e. runs of ~256 KiB of weights (gemm_f_avx2.c, gemm_f_avx512.c) */
static inline int64_t lc_gemm_dec_run_rows(const lc_gemm_args *g)
{
    const int64_t b = ((int64_t)256 << 10) / (int64_t)(g->w_stride ? g->w_stride : 1);
    return b < 1 ? 1 : b;
}

/*
 * The cached K and V of one (layer, KV head) as the attention kernels read them (the paged KV cache,
 * core/kv_cache.h): position j is row (j & (2^block_log2 - 1)) of block blocks[j >> block_log2]; a row is
 * head_dim elements (f32, or f16 when f16 is 1); rows of one block are contiguous; the same row of block b lies
 * b * block_stride bytes after block 0's. block_log2 >= 4, so 16 positions starting at a multiple of 16 always
 * sit in one block. A contiguous cache is the view with one block (blocks = {0}, block_log2 >= log2(n_pos)).
 */
typedef struct lc_kv_view {
    const char *k, *v;     /* row 0 of block 0 (for K, for V) */
    const int32_t *blocks; /* [ceil(n_pos / 2^block_log2)] block ids in position order */
    size_t block_stride;   /* bytes from a row of block b to the same row of block b + 1 */
    int block_log2;        /* log2 of the positions per block, 4..30 */
    int f16;               /* 1: rows are IEEE half, 0: f32 */
} lc_kv_view;

/* Byte offset of position j's row from base (view->k or view->v); row_bytes = head_dim * element size. */
static inline size_t lc_kv_row_offset(const lc_kv_view *kv, int64_t j, size_t row_bytes)
{
    return (size_t)kv->blocks[j >> kv->block_log2] * kv->block_stride +
           (size_t)(j & (((int64_t)1 << kv->block_log2) - 1)) * row_bytes;
}
typedef void (*lc_quantize_row_fn)(const float *x, void *y, int64_t n);

typedef struct lc_kernels {
    const char *name;                                 /* "scalar", "avx2", "avx512" */
    lc_quantize_row_fn quantize_row[LLAMAC_TYPE_COUNT]; /* indexed by activation type (F32, Q8_0, Q8_K) */
    /* Bytes of one activation row of n elements as this table's quantize_row writes it: the type's standard
     * blocks, possibly followed by table-specific extra data the GEMMs use (see kernels.h). */
    size_t (*act_row_bytes)(int act_type, int64_t n);
    lc_gemm_fn gemm[LLAMAC_TYPE_COUNT];                 /* indexed by weight type; NULL = not implemented */
    /* GEMM on weights packed at load (pack.h), indexed by weight type; NULL = this table does not pack the
     * type. Same results as gemm[] bit for bit. */
    lc_gemm_fn gemm_packed[LLAMAC_TYPE_COUNT];
    /* Packs blocks [b0, b0+nblk) of 16 rows (NULL = zero row) of a packable type into the G16 layout
     * (quant/pack.h; lc_pack_group_blocks is the portable version, used by the scalar table). */
    void (*pack16)(int type, const void *const rows[16], int64_t b0, int64_t nblk, void *dst);
    /* Activation row type gemm[w] reads, per weight type (the traits' vec_dot_type unless a table says
     * otherwise). The avx512 table sets BF16 -> BF16: its BF16 GEMM takes activations rounded to bf16 by its
     * quantize_row[BF16] (lc_f32_to_bf16_daz) and uses the AVX512_BF16 dot products, so its results are
     * lc_bf16_dot_bf16's (quant_ref.h), not the exact f32 path's. */
    int act_type[LLAMAC_TYPE_COUNT];

    /* Per-token operations of the forward pass (scalar references in core/ops.c, same signatures). Each is
     * a pure function of its inputs with a fixed reduction order. */
    void (*rmsnorm)(float *y, const float *x, const float *w, int64_t n, float eps);
    void (*swiglu)(float *h, const float *g, const float *u, int64_t n);
    /* causal attention of n_q query heads sharing one KV head over cached positions 0..n_pos-1 (ops_ref.h) */
    void (*attention)(float *out, const float *q, int n_q, const lc_kv_view *kv, int n_pos, int head_dim,
                      float *scores);
    /* y[i] = lc_exp_nonpos(((double)x[i] - shift) * scale) (util/exp_nonpos.h; x[i] <= shift, scale > 0): the
     * sampler's softmax over the vocabulary. Every table gives the scalar function's bits (the same operations
     * in the same order, no FMA), so a draw does not depend on the CPU. */
    void (*exp_shifted)(double *y, const float *x, int64_t n, double shift, double scale);
    /* The first index of the largest of x[0..n) (1 <= n < 2^31), NaN never the largest; *max = that value. With
     * no element above -infinity: 0 and -infinity. Greedy sampling over the vocabulary. */
    int64_t (*argmax)(const float *x, int64_t n, float *max);
} lc_kernels;

/* The table for this CPU, chosen on first call (thread-safe); LLAMAC_KERNELS=scalar|avx2|avx512 forces a path
 * (an unavailable forced path falls back to the best available one). */
const lc_kernels *lc_kernels_get(void);
/* A specific table, or NULL if this CPU cannot run it (tests compare paths against "scalar"). */
const lc_kernels *lc_kernels_by_name(const char *name);

/* The scalar table's GEMM (reference dot per element); also the fallback for entries a fast table lacks. */
void lc_gemm_ref(int w_type, const lc_gemm_args *args);

#endif
