/*
 * matmul.c — see matmul.h. Tasks are (product, row chunk) pairs; a chunk covers all activation rows.
 */
#include "core/matmul.h"

#include <stdatomic.h>
#include <string.h>

void lc_act_bind(lc_act *a, const float *x, int64_t ldx, int64_t n, int nt)
{
    a->x = x;
    a->ldx = ldx;
    a->n = n;
    a->nt = nt;
    a->n_slots = 0;
}

typedef struct conv_job {
    lc_quantize_row_fn fn;
    const float *x;
    int64_t ldx, n;
    char *dst;
    size_t stride;
} conv_job;

static void conv_task(void *arg, int64_t t, int thread)
{
    conv_job *j = arg;
    j->fn(j->x + t * j->ldx, j->dst + (size_t)t * j->stride, j->n);
}

/* Returns the activation rows in type `type` and their stride. */
static const void *act_get(lc_pool *pool, const lc_kernels *k, lc_act *a, int type, size_t *stride)
{
    if (type == LLAMAC_TYPE_F32) {
        *stride = (size_t)a->ldx * sizeof(float);
        return a->x;
    }
    size_t rb = k->act_row_bytes(type, a->n);
    *stride = rb;
    for (int s = 0; s < a->n_slots; s++)
        if (a->slot_type[s] == type)
            return a->slot_buf[s];
    int s = a->n_slots < LC_ACT_SLOTS ? a->n_slots++ : LC_ACT_SLOTS - 1;
    a->slot_type[s] = type;
    conv_job j = {k->quantize_row[type], a->x, a->ldx, a->n, a->slot_buf[s], rb};
    lc_pool_run(pool, conv_task, &j, a->nt);
    return a->slot_buf[s];
}

typedef struct mm_job {
    const lc_kernels *k;
    int n;
    const lc_mm *mm;
    const void *act[8];
    size_t act_stride[8];
    int nt;
    int64_t chunk[8];      /* rows per task, per product */
    int64_t first_task[9]; /* task index where product i starts */
    _Atomic int mapped[8]; /* product i read (some of) its weights from `data` while a copy was under way */
} mm_job;

static void mm_task(void *arg, int64_t task, int thread)
{
    mm_job *j = arg;
    int i = 0;
    while (task >= j->first_task[i + 1])
        i++;
    const lc_mm *m = &j->mm[i];
    const lc_weight *w = m->w;
    int64_t r0 = (task - j->first_task[i]) * j->chunk[i];
    int64_t r1 = r0 + j->chunk[i] < w->n_out ? r0 + j->chunk[i] : w->n_out;
    if (lc_weight_packed_ready(w)) {
        lc_gemm_args g = {w->packed, w->group_bytes, j->act[i], j->act_stride[i], m->y, m->ldy, w->n_in, r0, r1, j->nt};
        j->k->gemm_packed[w->type](&g);
    } else {
        if (w->residency)
            atomic_store_explicit(&j->mapped[i], 1, memory_order_relaxed);
        lc_gemm_args g = {w->data, w->row_bytes, j->act[i], j->act_stride[i], m->y, m->ldy, w->n_in, r0, r1, j->nt};
        j->k->gemm[w->type](&g);
    }
}

void lc_matmul(lc_pool *pool, const lc_kernels *k, lc_act *a, const lc_mm *mm, int n)
{
    mm_job j;
    j.k = k;
    j.n = n;
    j.mm = mm;
    j.nt = a->nt;
    int nth = lc_pool_n_threads(pool);
    j.first_task[0] = 0;
    for (int i = 0; i < n; i++) {
        j.act[i] = act_get(pool, k, a, k->act_type[mm[i].w->type], &j.act_stride[i]);
        /* about 4 tasks per thread per product, in multiples of 16 rows */
        int64_t rows = mm[i].w->n_out;
        int64_t chunk = (rows + 4 * nth - 1) / (4 * nth);
        chunk = (chunk + 15) / 16 * 16;
        if (nth == 1)
            chunk = rows;
        j.chunk[i] = chunk;
        j.first_task[i + 1] = j.first_task[i] + (rows + chunk - 1) / chunk;
        atomic_init(&j.mapped[i], 0);
    }
    lc_pool_run(pool, mm_task, &j, j.first_task[n]);
    /* tell the loader which weights were read from the file mapping while their copy was under way (also when
     * the copy became ready during the product): it releases those pages again (load/weights.h) */
    for (int i = 0; i < n; i++)
        if (atomic_load_explicit(&j.mapped[i], memory_order_relaxed))
            mm[i].w->residency->after_read(mm[i].w->residency);
}
