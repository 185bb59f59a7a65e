/*
 * weights.h — the loader: puts a model's tensors in memory from a tensor source (source.h), following a bind
 * list, and owns whatever memory that takes.
 *
 * The model (core/model.c) checks the source's shapes against its hyperparameters and writes one bind list:
 * for every weight it needs, an entry naming the destination (an lc_weight, or a pointer to an f32 vector),
 * the source tensor, the row transform to apply, the slice to keep (all, a row range, or a column range: one
 * rank's share) and whether the kernels multiply with it. lc_weights_load fills every destination in one pass:
 *
 *     lc_bind binds[] = {{LC_BIND_MATRIX, t_q, t_q->transform, {LC_SLICE_NONE, 0, 0}, &layer->wq, NULL}, ...};
 *     lc_weights *ws;
 *     lc_weights_load(src, binds, n, LC_WEIGHTS_BACKGROUND, 0, &ws, e);  // every destination usable now
 *     ...
 *     lc_weights_free(ws);  // stops a background copy, unmaps the private copy
 *
 * Modes. MAPPED: destinations point into the source's file mappings; only what cannot be read there in the
 * model's layout is copied (a transformed or column-sliced tensor, a norm vector stored in another type than
 * f32). COPY: everything is copied into one private huge-page region before lc_weights_load returns, with the
 * matrices of a type the kernels pack in the G16 layout (kernels/pack.h). BACKGROUND: like COPY, but the packed
 * matrices the mapping can serve meanwhile are copied by a background thread, each behind its own `ready` flag;
 * the rest (vectors, transformed matrices) is in place before lc_weights_load returns. Both layouts of a matrix
 * give bit-identical products, so the switch is invisible except in speed.
 *
 * Entries with the same tensor, transform and slice share one copy (a tied token embedding is both the row
 * table and the output matrix). The bind list and its source tensors need not outlive the call; the source
 * (its mappings) must outlive the lc_weights.
 */
#ifndef LC_WEIGHTS_H
#define LC_WEIGHTS_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "load/source.h"
#include "util/err.h"

/* The loader's hook on the pages of a weight's file mapping while a background copy of it runs: a product
 * that read the weight from `data` (the mapping) calls after_read once it is done, and the loader drops those
 * pages again, so the process never holds a matrix twice (file pages and copy). */
typedef struct lc_residency lc_residency;
struct lc_residency {
    void (*after_read)(const lc_residency *r);
};

/* A matrix as the kernels read it. Row r of n_in elements; y = W x means y[r] = dot(row r, x). */
typedef struct lc_weight {
    const char *name;   /* the source tensor's name (for messages) */
    int type;           /* llamac_type */
    const void *data;   /* n_out rows, row_bytes apart (file layout), in a mapping or the private copy; NULL
                           when only the packed copy is kept */
    size_t row_bytes;   /* lc_row_bytes(type, n_in) */
    int64_t n_in;       /* elements per row (reduction length) */
    int64_t n_out;      /* rows */
    const void *packed; /* the same matrix in the G16 layout (kernels/pack.h) for gemm_packed, or NULL */
    size_t group_bytes; /* bytes per packed group of 16 rows */
    const _Atomic int *ready; /* background copy: 1 once `packed` is filled (until then use `data`); NULL:
                                 `packed` (if any) is complete */
    const lc_residency *residency; /* background copy: told after a product read `data`; NULL otherwise */
} lc_weight;

/* 1 if the kernels should read w's packed copy (it exists and is complete). Both layouts give identical bits,
 * so a product may switch between them at any time. */
static inline int lc_weight_packed_ready(const lc_weight *w)
{
    return w->packed && (!w->ready || atomic_load_explicit(w->ready, memory_order_acquire));
}

/* Row r of w as f32 (from the file layout, or the packed copy once it is complete). */
void lc_weight_row_to_float(const lc_weight *w, int64_t r, float *out);

enum lc_bind_kind {
    LC_BIND_MATRIX, /* w: multiplied by the kernels (packed in a copy when the kernel table packs its type) */
    LC_BIND_ROWS,   /* w: read row by row (the token embedding); shares a packed copy if another entry has one */
    LC_BIND_VECTOR, /* v: one row, as f32 (converted when the source stores another type) */
};

enum lc_slice_dim { LC_SLICE_NONE, LC_SLICE_ROWS, LC_SLICE_COLS };

/* The part of a tensor to keep: rows [lo, hi) of the model's row order (after the transform), or columns
 * [lo, hi) of every row (lo and hi whole blocks of the type). */
typedef struct lc_slice {
    int dim; /* enum lc_slice_dim */
    int64_t lo, hi;
} lc_slice;

typedef struct lc_bind {
    int kind;                       /* enum lc_bind_kind */
    const lc_source_tensor *tensor; /* of the source given to lc_weights_load */
    lc_transform transform;         /* normally tensor->transform */
    lc_slice slice;
    lc_weight *w;    /* MATRIX, ROWS: filled in completely (n_in, n_out are the slice's) */
    const float **v; /* VECTOR: set to the vector's first element */
} lc_bind;

enum lc_weights_mode { LC_WEIGHTS_MAPPED, LC_WEIGHTS_COPY, LC_WEIGHTS_BACKGROUND };

/* Owns the private copy, the background thread and the ready flags the weights point to. */
typedef struct lc_weights lc_weights;

/* Fills every destination of binds[0..n) (see the modes above) with n_threads threads (0 = all cores). Fails
 * with a message naming the tensor if an entry cannot apply (slice out of range or not on block boundaries,
 * transform that does not fit, vector with more than one row), LLAMAC_E_IO naming the file if reading failed,
 * LLAMAC_E_NOMEM. On failure nothing stays allocated and the destinations must not be used. */
llamac_status lc_weights_load(const lc_source *src, const lc_bind *binds, int n, int mode, int n_threads,
                              lc_weights **out, lc_err *e);

/* Waits for a background copy (returns at once without one); LLAMAC_E_IO with a message if reading failed:
 * the weights then keep working from the mappings. */
llamac_status lc_weights_wait(lc_weights *ws, lc_err *e);

/* 1 once no background copy is running (finished, failed, or there was none); never blocks. */
int lc_weights_finished(lc_weights *ws);

/* Stops and joins a background copy, unmaps the private copy and frees ws (NULL: no-op). */
void lc_weights_free(lc_weights *ws);

/* Bytes of the private copy (0 if nothing was copied). */
size_t lc_weights_copy_bytes(const lc_weights *ws);

#endif
