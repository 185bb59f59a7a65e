/*
 * llamac_quantize.h — converting a GGUF model to another weight type ("quantizing"), as `llamac quantize`.
 * Included by llamac.h.
 *
 *     llamac_quantize_params qp = llamac_quantize_default_params();
 *     qp.ftype = llamac_ftype_from_name("Q4_K_M");
 *     llamac_quantize_stats st;
 *     char err[512];
 *     if (llamac_quantize("model-f16.gguf", "model-q4_k_m.gguf", &qp, &st, err, sizeof err) != LLAMAC_OK)
 *         puts(err);                                     // no output file exists in that case
 *
 * The file type chooses a type per tensor with llama.cpp's mixes (e.g. Q4_K_M: Q4_K matrices, Q6_K for
 * output.weight and for attn_v / ffn_down in the "use more bits" layers; norms stay F32; see
 * src/quantize/quant_mix.h). Inputs may be F32, F16 or BF16 (best) or already quantized (re-quantizing loses
 * quality; the warn callback says so). All metadata is copied; general.file_type and
 * general.quantization_version are set as llama.cpp does. The output is written to a temporary file in the
 * destination directory and renamed at the end: an interrupted or failed run never leaves a file under the
 * output name. The result does not depend on n_threads.
 */
#ifndef LLAMAC_QUANTIZE_H
#define LLAMAC_QUANTIZE_H

#include <stddef.h>
#include <stdint.h>

#include "llamac.h"

#ifdef __cplusplus
extern "C" {
#endif

/* File types (numbering = llama.cpp's LLAMA_FTYPE_*, stored as general.file_type). */
typedef enum llamac_ftype {
    LLAMAC_FTYPE_ALL_F32 = 0,
    LLAMAC_FTYPE_MOSTLY_F16 = 1,
    LLAMAC_FTYPE_MOSTLY_Q4_0 = 2,
    LLAMAC_FTYPE_MOSTLY_Q4_1 = 3,
    LLAMAC_FTYPE_MOSTLY_Q8_0 = 7,
    LLAMAC_FTYPE_MOSTLY_Q5_0 = 8,
    LLAMAC_FTYPE_MOSTLY_Q5_1 = 9,
    LLAMAC_FTYPE_MOSTLY_Q2_K = 10,
    LLAMAC_FTYPE_MOSTLY_Q3_K_S = 11,
    LLAMAC_FTYPE_MOSTLY_Q3_K_M = 12,
    LLAMAC_FTYPE_MOSTLY_Q3_K_L = 13,
    LLAMAC_FTYPE_MOSTLY_Q4_K_S = 14,
    LLAMAC_FTYPE_MOSTLY_Q4_K_M = 15,
    LLAMAC_FTYPE_MOSTLY_Q5_K_S = 16,
    LLAMAC_FTYPE_MOSTLY_Q5_K_M = 17,
    LLAMAC_FTYPE_MOSTLY_Q6_K = 18,
    LLAMAC_FTYPE_MOSTLY_BF16 = 32
} llamac_ftype;

/* "Q4_K_M", "F16", ... for a file type llamac can write; NULL otherwise. */
const char *llamac_ftype_name(int ftype);
/* The file type of a name (case-insensitive; "Q3_K", "Q4_K", "Q5_K" are llama.cpp's aliases of the _M
 * types); -1 if unknown. */
int llamac_ftype_from_name(const char *name);
/* The file types llamac can write, for listings: llamac_ftype_by_index(i) for 0 <= i < llamac_ftype_count(). */
int llamac_ftype_count(void);
int llamac_ftype_by_index(int i);

/* Progress of a running quantization, passed to the progress callback. */
typedef struct llamac_quantize_progress {
    int64_t tensor;       /* index of the tensor being processed */
    int64_t n_tensors;
    const char *name;     /* its name (valid during the call) */
    int type_in;          /* its type in the input file */
    int type_out;         /* its type in the output file (= type_in when copied unchanged) */
    uint64_t bytes_done;  /* input tensor bytes processed so far, over the whole file */
    uint64_t bytes_total; /* input tensor bytes of the whole file */
} llamac_quantize_progress;

typedef struct llamac_quantize_params {
    int ftype;     /* llamac_ftype (default LLAMAC_FTYPE_MOSTLY_Q4_K_M) */
    int n_threads; /* worker threads (default 0 = number of cores) */
    /* Optional, called on the calling thread after each chunk of work (at least once per tensor); return
     * non-zero to cancel (llamac_quantize then returns LLAMAC_E_CANCELLED and removes its partial output). */
    int (*progress)(void *user, const llamac_quantize_progress *p);
    /* Optional: non-fatal notes, one sentence each (re-quantization of quantized inputs, type fallbacks for
     * row lengths a type cannot hold). Called on the calling thread. */
    void (*warn)(void *user, const char *message);
    void *user; /* passed to both callbacks */
} llamac_quantize_params;

llamac_quantize_params llamac_quantize_default_params(void);

typedef struct llamac_quantize_stats {
    int64_t n_tensors;
    int64_t n_converted;   /* tensors whose type changed */
    int64_t n_requantized; /* of those, tensors that were already quantized in the input */
    int64_t n_fallback;    /* tensors that got a fallback type because of their row length */
    uint64_t n_elements;   /* elements of all tensors */
    uint64_t in_data_bytes, out_data_bytes; /* tensor data, without headers and padding */
    uint64_t in_file_bytes, out_file_bytes;
} llamac_quantize_stats;

/* Converts in_path to out_path (which may name the same file: it is replaced only at the end). On failure
 * out_path is untouched (no partial file), err (if not NULL) names the problem, and stats (if not NULL) is
 * zeroed. */
llamac_status llamac_quantize(const char *in_path, const char *out_path, const llamac_quantize_params *params,
                              llamac_quantize_stats *stats, char *err, size_t err_size);

#ifdef __cplusplus
}
#endif

#endif /* LLAMAC_QUANTIZE_H */
