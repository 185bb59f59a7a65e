/*
 * weights.c — the private copy of the weights (llamac_model_params.use_mmap = 0) and row access.
 *
 * lc_model_copy_weights reads every tensor's data with pread (the file mapping is never touched, so it does
 * not count in the process's resident memory) into one anonymous region backed by transparent huge pages
 * (2 MiB aligned, MADV_HUGEPAGE): huge pages raise the bandwidth the kernels see by cutting TLB misses.
 * Matrices whose type the kernel table packs (kernels gemm_packed) are converted to the G16 layout
 * (kernels/pack.h) on the way, in the reading thread (a few groups at a time through a 256 KiB buffer that
 * stays in L2, with the kernel table's SIMD packer), so there is never a second resident copy. The work is
 * cut into ~4 MiB tasks spread over a thread pool; each thread faults in (zeroes) its own pages.
 * Afterwards every lc_weight and norm pointer is redirected into the region.
 *
 * Background mode (lc_model_copy_weights_background): only the packed matrices are copied. Their place in the
 * region is bound at once, behind a per-tensor `ready` flag, and a background thread fills them; until a
 * tensor's flag is set the kernels keep reading it from the file mapping. Both layouts give bit-identical
 * results, so the switch is invisible except in speed. When the copy is done, the mapping's pages of the
 * copied tensors are dropped (MADV_DONTNEED), so there is still no second resident copy.
 */
#include <errno.h>
#include <pthread.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "core/model.h"
#include "kernels/pack.h"
#include "kernels/quant.h"
#include "util/threadpool.h"

#define TASK_BYTES ((size_t)4 << 20)
#define BOUNCE_BYTES ((size_t)256 << 10) /* per-thread read buffer of packed tensors: fits L2 */
#define HUGE_ALIGN ((size_t)2 << 20)

/* Reads the packed copy once it is complete (a tied token embedding is also the output matrix): reading rows
 * from the file mapping would fault its pages back in (64 KiB around each row) after they were dropped. */
void lc_weight_row_to_float(const lc_weight *w, int64_t r, float *out)
{
    if (!lc_weight_packed_ready(w)) {
        lc_type_traits_get(w->type)->to_float((const char *)w->data + (size_t)r * w->row_bytes, out, w->n_in);
        return;
    }
    lc_packed_row_to_float(w->type, w->packed, w->n_in, r, out);
}

static void drop_range(const void *p, size_t n)
{
    const uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
    uintptr_t a = ((uintptr_t)p + page - 1) & ~(page - 1);
    uintptr_t b = ((uintptr_t)p + n) & ~(page - 1);
    if (b > a)
        madvise((void *)a, b - a, MADV_DONTNEED);
}

void lc_weight_drop_mapping(const lc_weight *w)
{
    if (w->drop_len)
        drop_range(w->drop_lo, w->drop_len);
}

/* The part of the file mapping to drop for a tensor at [p, p + n): the tensor and the 2 MiB-aligned spans it
 * starts and ends in, within the mapping. A page fault maps more than its page: the pages around it that are
 * in the page cache ("fault-around", 64 KiB) or the whole large folio (up to 2 MiB), which may belong to a
 * neighbouring tensor whose own drop came earlier. */
static void drop_span(const lc_gguf *g, const void *p, size_t n, const void **lo, size_t *len)
{
    const uintptr_t huge = (uintptr_t)2 << 20, m0 = (uintptr_t)g->map, m1 = m0 + g->size;
    uintptr_t a = (uintptr_t)p & ~(huge - 1), b = ((uintptr_t)p + n + huge - 1) & ~(huge - 1);
    a = a < m0 ? m0 : a;
    b = b > m1 ? m1 : b;
    *lo = (const void *)a;
    *len = b - a;
}

typedef struct plan_item {
    const lc_gguf_tensor *t;
    int packed;        /* stored in the G16 layout */
    int now;           /* background mode: a small vector copied before the load returns (not by tasks) */
    size_t off, size;  /* in the region (size 0: not copied) */
    const void *drop_lo; /* background mode: what to drop from the mapping once copied (drop_span) */
    size_t drop_len;
    int64_t n_in, n_out;
    size_t row_bytes, group_bytes;
    _Atomic int64_t left; /* background mode: tasks of this tensor still to run */
    _Atomic int ready;    /* background mode: the packed copy is complete */
} plan_item;

typedef struct copy_task {
    int item;
    uint64_t lo, hi; /* raw: byte range of the tensor; packed: group range */
} copy_task;

typedef struct copy_job {
    const llamac_model *m;
    const lc_kernels *k;
    int fd;
    char *region;
    plan_item *items;
    copy_task *tasks;
    char **bounce; /* per thread, for packed tasks */
    size_t bounce_size;
    _Atomic int failed;
    _Atomic int cancel; /* background mode: the model is being freed */
} copy_job;

static int read_at(const copy_job *j, void *dst, size_t len, uint64_t off)
{
    if (j->fd < 0) {
        memcpy(dst, j->m->gguf->map + off, len);
        return 0;
    }
    char *p = dst;
    while (len) {
        ssize_t r = pread(j->fd, p, len, (off_t)off);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return -1;
        p += r;
        len -= (size_t)r;
        off += (uint64_t)r;
    }
    return 0;
}

static void copy_task_run(copy_job *j, const copy_task *t, int thread)
{
    const plan_item *it = &j->items[t->item];
    char *dst = j->region + it->off;
    if (!it->packed) {
        if (read_at(j, dst + t->lo, t->hi - t->lo, it->t->offset + t->lo))
            atomic_store(&j->failed, 1);
        return;
    }
    /* read a few groups at a time into a bounce buffer that stays in L2, pack them from there */
    const size_t grp_src = (size_t)LC_PACK_ROWS * it->row_bytes;
    const uint64_t per = j->bounce_size / grp_src;
    char *src = j->bounce[thread];
    const int64_t nb = it->n_in / lc_type_traits_get(it->t->type)->blck;
    for (uint64_t g0 = t->lo; g0 < t->hi; g0 += per) {
        uint64_t g1 = g0 + per < t->hi ? g0 + per : t->hi;
        int64_t r0 = (int64_t)g0 * LC_PACK_ROWS, r1 = (int64_t)g1 * LC_PACK_ROWS;
        if (r1 > it->n_out)
            r1 = it->n_out;
        if (read_at(j, src, (size_t)(r1 - r0) * it->row_bytes, it->t->offset + (uint64_t)r0 * it->row_bytes)) {
            atomic_store(&j->failed, 1);
            return;
        }
        for (uint64_t g = g0; g < g1; g++) {
            const void *rows[LC_PACK_ROWS];
            for (int i = 0; i < LC_PACK_ROWS; i++) {
                int64_t r = (int64_t)g * LC_PACK_ROWS + i;
                rows[i] = r < r1 ? src + (size_t)(r - r0) * it->row_bytes : NULL;
            }
            j->k->pack16(it->t->type, rows, 0, nb, dst + g * it->group_bytes);
        }
    }
}

static void copy_task_fn(void *arg, int64_t ti, int thread)
{
    copy_job *j = arg;
    if (atomic_load_explicit(&j->cancel, memory_order_relaxed) || atomic_load_explicit(&j->failed, memory_order_relaxed))
        return;
    const copy_task *t = &j->tasks[ti];
    copy_task_run(j, t, thread);
    plan_item *it = &j->items[t->item];
    if (atomic_fetch_sub_explicit(&it->left, 1, memory_order_acq_rel) == 1 && !atomic_load(&j->failed)) {
        atomic_store_explicit(&it->ready, 1, memory_order_release);
        drop_range(it->drop_lo, it->drop_len); /* the kernels read the copy from now on */
    }
}

/* the plan item whose original data contains p, or NULL */
static const plan_item *find_item(const plan_item *items, int n, const void *p)
{
    for (int i = 0; i < n; i++) {
        const char *d = items[i].t->data;
        if ((const char *)p >= d && (const char *)p < d + items[i].t->n_bytes)
            return &items[i];
    }
    return NULL;
}

static void rebind_weight(lc_weight *w, const plan_item *items, int n, char *region)
{
    const plan_item *it = w->data ? find_item(items, n, w->data) : NULL;
    if (!it)
        return;
    if (it->packed) {
        w->packed = region + it->off;
        w->group_bytes = it->group_bytes;
        w->data = NULL;
    } else {
        w->data = region + it->off + ((const char *)w->data - (const char *)it->t->data);
    }
}

static void rebind_vector(const float **v, const plan_item *items, int n, char *region)
{
    const plan_item *it = find_item(items, n, *v);
    if (it && !it->packed)
        *v = (const float *)(region + it->off + ((const char *)*v - (const char *)it->t->data));
}

static void rebind_norms(llamac_model *m, const plan_item *items, int n, char *region)
{
    rebind_vector(&m->output_norm, items, n, region);
    for (int l = 0; l < m->hp.n_layer; l++) {
        rebind_vector(&m->layers[l].attn_norm, items, n, region);
        rebind_vector(&m->layers[l].ffn_norm, items, n, region);
    }
}

typedef void (*bind_fn)(lc_weight *w, const plan_item *items, int n, char *region);

/* Calls bind on every matrix the forward pass reads through the kernels: the output (if not tied) and the
 * seven per-layer matrices. The token embedding is bound by the callers (it is read by row, not by kernels). */
enum { LC_LAYER_MATRICES = 7 };
static void layer_matrices(lc_layer *L, lc_weight *ws[LC_LAYER_MATRICES])
{
    lc_weight *all[LC_LAYER_MATRICES] = {&L->wq, &L->wk, &L->wv, &L->wo, &L->w_gate, &L->w_up, &L->w_down};
    memcpy(ws, all, sizeof all);
}

static void bind_matrices(llamac_model *m, bind_fn bind, const plan_item *items, int n, char *region)
{
    bind(&m->output, items, n, region);
    for (int l = 0; l < m->hp.n_layer; l++) {
        lc_weight *ws[LC_LAYER_MATRICES];
        layer_matrices(&m->layers[l], ws);
        for (int i = 0; i < LC_LAYER_MATRICES; i++)
            bind(ws[i], items, n, region);
    }
}

/* 1 if tensor t is bound as a matrix (output or a layer weight) */
static int is_matrix(llamac_model *m, const lc_gguf_tensor *t)
{
    if (m->output.data == t->data)
        return 1;
    for (int l = 0; l < m->hp.n_layer; l++) {
        lc_weight *ws[LC_LAYER_MATRICES];
        layer_matrices(&m->layers[l], ws);
        for (int i = 0; i < LC_LAYER_MATRICES; i++)
            if (ws[i]->data == t->data)
                return 1;
    }
    return 0;
}


/* Everything one copy needs; in background mode it lives until the model is freed (the weights' ready
 * flags point into items). */
typedef struct lc_load_state {
    copy_job j;
    plan_item *items;
    int n_items;
    size_t n_tasks;
    char *map, *region;
    size_t map_len, total;
    int n_threads;
    pthread_t thread;
    int thread_started;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int finished;          /* protected by mu */
    llamac_status status;  /* valid once finished */
    char path[512];
} lc_load_state;

/* Plans the copy (background: the packed matrices only), maps the region and prepares tasks and buffers. */
static llamac_status prepare(llamac_model *m, const char *path, int n_threads, int background, lc_load_state *ls,
                             lc_err *e)
{
    const lc_gguf *g = m->gguf;
    const lc_kernels *k = lc_kernels_get();
    int n = (int)g->n_tensors;
    plan_item *items = calloc((size_t)n + 1, sizeof *items);
    if (!items)
        return lc_fail(e, LLAMAC_E_NOMEM, "out of memory");
    ls->items = items;
    ls->n_items = n;
    size_t total = 0, n_tasks = 0, bounce = 0;
    for (int i = 0; i < n; i++) {
        plan_item *it = &items[i];
        it->t = &g->tensors[i];
        it->n_in = it->t->ne[0];
        it->n_out = it->t->ne[1] * it->t->ne[2] * it->t->ne[3];
        it->row_bytes = lc_row_bytes(it->t->type, it->n_in);
        it->packed = k->gemm_packed[it->t->type] && lc_pack_supported(it->t->type) && is_matrix(m, it->t);
        drop_span(g, it->t->data, it->t->n_bytes, &it->drop_lo, &it->drop_len);
        uint64_t tasks;
        if (it->packed) {
            it->group_bytes = lc_pack_group_bytes(it->t->type, it->n_in);
            it->size = lc_pack_size(it->t->type, it->n_out, it->n_in);
            uint64_t groups = (uint64_t)(it->n_out + LC_PACK_ROWS - 1) / LC_PACK_ROWS;
            uint64_t per = TASK_BYTES / it->group_bytes ? TASK_BYTES / it->group_bytes : 1;
            tasks = (groups + per - 1) / per;
            size_t src = (size_t)LC_PACK_ROWS * it->row_bytes; /* at least one group */
            bounce = src > bounce ? src : bounce;
        } else if (background) {
            /* vectors (the norms; rope_freqs too, though it is read only at load) are copied at once: read
             * from the mapping every token, they would fault in the file's pages around them (2 MiB with file
             * huge pages) after the matrices' are dropped; the rest (the token embedding, if not packed)
             * stays in the mapping */
            it->now = it->n_out == 1;
            it->size = it->now ? it->t->n_bytes : 0;
            tasks = 0;
        } else {
            it->size = it->t->n_bytes;
            tasks = (it->size + TASK_BYTES - 1) / TASK_BYTES;
        }
        n_tasks += tasks;
        atomic_init(&it->left, (int64_t)tasks);
        atomic_init(&it->ready, 0);
        it->off = total;
        total += (it->size + 63) & ~(size_t)63;
    }
    ls->total = total;
    if (total == 0)
        return LLAMAC_OK;
    ls->map_len = total + HUGE_ALIGN;
    char *map = mmap(NULL, ls->map_len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (map == MAP_FAILED)
        return lc_fail(e, LLAMAC_E_NOMEM, "cannot allocate %zu MiB for the weights", total >> 20);
    ls->map = map;
    ls->region = (char *)(((uintptr_t)map + HUGE_ALIGN - 1) & ~(uintptr_t)(HUGE_ALIGN - 1));
#ifdef MADV_HUGEPAGE
    madvise(ls->region, total, MADV_HUGEPAGE);
#endif
    if (n_threads <= 0)
        n_threads = llamac_n_cores();
    ls->n_threads = n_threads;
    if (bounce && bounce < BOUNCE_BYTES)
        bounce = BOUNCE_BYTES;
    copy_job *j = &ls->j;
    j->m = m;
    j->k = k;
    j->fd = open(path, O_RDONLY | O_CLOEXEC);
    j->region = ls->region;
    j->items = items;
    j->tasks = calloc(n_tasks ? n_tasks : 1, sizeof(copy_task));
    j->bounce = calloc((size_t)n_threads, sizeof(char *));
    j->bounce_size = bounce;
    if (!j->tasks || !j->bounce)
        return lc_fail(e, LLAMAC_E_NOMEM, "out of memory while loading the weights");
    for (int t = 0; bounce && t < n_threads; t++)
        if (!(j->bounce[t] = malloc(bounce)))
            return lc_fail(e, LLAMAC_E_NOMEM, "out of memory while loading the weights");
    size_t nt = 0;
    for (int i = 0; i < n; i++) {
        const plan_item *it = &items[i];
        if (it->packed) {
            uint64_t groups = (uint64_t)(it->n_out + LC_PACK_ROWS - 1) / LC_PACK_ROWS;
            uint64_t per = TASK_BYTES / it->group_bytes ? TASK_BYTES / it->group_bytes : 1;
            for (uint64_t g0 = 0; g0 < groups; g0 += per)
                j->tasks[nt++] = (copy_task){i, g0, g0 + per < groups ? g0 + per : groups};
        } else if (!it->now) {
            for (uint64_t b = 0; b < it->size; b += TASK_BYTES)
                j->tasks[nt++] = (copy_task){i, b, b + TASK_BYTES < it->size ? b + TASK_BYTES : it->size};
        }
    }
    ls->n_tasks = nt;
    snprintf(ls->path, sizeof ls->path, "%s", path);
    return LLAMAC_OK;
}

/* Runs the copy tasks on a pool of the planned size; returns the outcome. */
static llamac_status run_copy(lc_load_state *ls)
{
    lc_pool *pool = lc_pool_create(ls->n_threads);
    if (!pool)
        return LLAMAC_E_NOMEM;
    lc_pool_run(pool, copy_task_fn, &ls->j, (int64_t)ls->n_tasks);
    lc_pool_free(pool);
    return atomic_load(&ls->j.failed) ? LLAMAC_E_IO : LLAMAC_OK;
}

/* Frees the buffers a finished copy no longer needs (items stay: the weights' ready flags live there). */
static void release_buffers(lc_load_state *ls)
{
    for (int t = 0; ls->j.bounce && t < ls->n_threads; t++)
        free(ls->j.bounce[t]);
    free(ls->j.bounce);
    ls->j.bounce = NULL;
    free(ls->j.tasks);
    ls->j.tasks = NULL;
    if (ls->j.fd >= 0)
        close(ls->j.fd);
    ls->j.fd = -1;
}

static void destroy(lc_load_state *ls)
{
    release_buffers(ls);
    free(ls->items);
    free(ls);
}

/* a copy that failed or has nothing to copy: unmap and free */
static llamac_status discard(lc_load_state *ls, llamac_status st)
{
    if (ls->map)
        munmap(ls->map, ls->map_len);
    destroy(ls);
    return st;
}

static lc_load_state *new_state(void)
{
    lc_load_state *ls = calloc(1, sizeof *ls);
    if (ls) {
        ls->j.fd = -1;
        pthread_mutex_init(&ls->mu, NULL);
        pthread_cond_init(&ls->cv, NULL);
    }
    return ls;
}

llamac_status lc_model_copy_weights(llamac_model *m, const char *path, int n_threads, lc_err *e)
{
    lc_load_state *ls = new_state();
    if (!ls)
        return lc_fail(e, LLAMAC_E_NOMEM, "out of memory");
    llamac_status st = prepare(m, path, n_threads, 0, ls, e);
    if (!st && ls->total) {
        st = run_copy(ls);
        if (st == LLAMAC_E_NOMEM)
            lc_fail(e, st, "out of memory while loading the weights");
        else if (st)
            lc_fail(e, st, "reading the weights from '%s' failed", path);
    }
    if (st || !ls->total)
        return discard(ls, st);
    char *region = ls->region;
    plan_item *items = ls->items;
    int n = ls->n_items;
    mprotect(region, ls->total, PROT_READ);
    rebind_weight(&m->tok_embd, items, n, region);
    bind_matrices(m, rebind_weight, items, n, region);
    rebind_norms(m, items, n, region);
    m->weight_copy = ls->map;
    m->weight_copy_size = ls->map_len;
    destroy(ls);
    return LLAMAC_OK;
}

/* background mode: the weight keeps its mapping data and gains the packed copy behind its ready flag */
static void bind_background(lc_weight *w, const plan_item *items, int n, char *region)
{
    plan_item *it = w->data ? (plan_item *)find_item(items, n, w->data) : NULL;
    if (!it || !it->packed)
        return;
    w->packed = region + it->off;
    w->group_bytes = it->group_bytes;
    w->ready = &it->ready;
    w->drop_lo = it->drop_lo;
    w->drop_len = it->drop_len;
}

static void *background_main(void *arg)
{
    lc_load_state *ls = arg;
    llamac_status st = run_copy(ls);
    int cancelled = atomic_load(&ls->j.cancel);
    if (!st && !cancelled) {
        mprotect(ls->region, ls->total, PROT_READ);
        /* the kernels now read the copies (each tensor's mapping was dropped when its copy became ready, and
         * again by any product that was still reading it then: lc_matmul) */
    }
    release_buffers(ls);
    pthread_mutex_lock(&ls->mu);
    ls->status = cancelled ? LLAMAC_E_CANCELLED : st;
    ls->finished = 1;
    pthread_cond_broadcast(&ls->cv);
    pthread_mutex_unlock(&ls->mu);
    return NULL;
}

llamac_status lc_model_copy_weights_background(llamac_model *m, const char *path, int n_threads, lc_err *e)
{
    lc_load_state *ls = new_state();
    if (!ls)
        return lc_fail(e, LLAMAC_E_NOMEM, "out of memory");
    llamac_status st = prepare(m, path, n_threads, 1, ls, e);
    if (st || !ls->total)
        return discard(ls, st);
    char *region = ls->region;
    plan_item *items = ls->items;
    int n = ls->n_items;
    for (int i = 0; i < n; i++)
        if (items[i].now && read_at(&ls->j, region + items[i].off, items[i].size, items[i].t->offset))
            return discard(ls, lc_fail(e, LLAMAC_E_IO, "reading the weights from '%s' failed", path));
    rebind_norms(m, items, n, region);
    bind_background(&m->tok_embd, items, n, region);
    bind_matrices(m, bind_background, items, n, region);
    m->weight_copy = ls->map;
    m->weight_copy_size = ls->map_len;
    m->loading = ls;
    if (pthread_create(&ls->thread, NULL, background_main, ls) != 0) {
        /* no thread: copy now instead */
        background_main(ls);
        return ls->status ? lc_fail(e, ls->status, "reading the weights from '%s' failed", path) : LLAMAC_OK;
    }
    ls->thread_started = 1;
    return LLAMAC_OK;
}

llamac_status lc_model_wait_weights(llamac_model *m, lc_err *e)
{
    lc_load_state *ls = m->loading;
    if (!ls)
        return LLAMAC_OK;
    pthread_mutex_lock(&ls->mu);
    while (!ls->finished)
        pthread_cond_wait(&ls->cv, &ls->mu);
    llamac_status st = ls->status;
    pthread_mutex_unlock(&ls->mu);
    if (st)
        return lc_fail(e, st, "reading the weights from '%s' failed; the model keeps running from the file mapping",
                       ls->path);
    return LLAMAC_OK;
}

void lc_model_stop_weights(llamac_model *m)
{
    lc_load_state *ls = m->loading;
    if (!ls)
        return;
    atomic_store(&ls->j.cancel, 1);
    if (ls->thread_started)
        pthread_join(ls->thread, NULL);
    pthread_mutex_destroy(&ls->mu);
    pthread_cond_destroy(&ls->cv);
    destroy(ls);
    m->loading = NULL;
}
