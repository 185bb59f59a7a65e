/*
 * weights.c — the loader (weights.h): plans one item per distinct (tensor, transform, slice) of the bind list,
 * copies the items that need it into one private region, binds every destination, and in background mode
 * runs the copy of the packed matrices on a thread while the model already works from the file mappings.
 *
 * The region is anonymous memory backed by transparent huge pages (2 MiB aligned, MADV_HUGEPAGE): huge pages
 * raise the bandwidth the kernels see by cutting TLB misses. Bytes are read with pread (the file mappings are
 * never touched, so they do not count in the process's resident memory), in ~4 MiB tasks over a thread pool;
 * each thread faults in (zeroes) its own pages. Two ways to fill an item:
 *   - direct: raw rows that lie contiguously in the file (no transform, no column slice) are read straight
 *     into their place;
 *   - gathered: everything else (G16 packing, a row transform, a column slice, a vector converted to f32)
 *     reads the stored rows a span at a time into a per-thread bounce buffer that stays in L2, and packs,
 *     reorders, cuts or converts them from there, so there is never a second resident copy.
 * Background mode: an item the mapping can serve meanwhile (a packed matrix with neither transform nor column
 * slice) is bound at once with both layouts, its packed copy behind a `ready` flag that the last of its tasks
 * sets; then its pages of the mapping are dropped (MADV_DONTNEED), and a product that still read the mapping
 * drops them again through the weight's residency hook, so there is no second resident copy either.
 */
#include "load/weights.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "kernels/pack.h"
#include "kernels/quant.h"
#include "util/file.h"
#include "util/threadpool.h"

#define TASK_BYTES ((size_t)4 << 20)
#define BOUNCE_BYTES ((size_t)256 << 10) /* per-thread read buffer of gathered items: fits L2 */
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

enum phase {
    PHASE_MAPPED, /* not copied: bound into the file mapping */
    PHASE_NOW,    /* copied before lc_weights_load returns */
    PHASE_LATER,  /* background mode: copied by the background thread, bound behind `ready` */
};

typedef struct item {
    lc_residency res; /* PHASE_LATER: the hook of the weights bound to this item */
    const lc_source_tensor *t;
    lc_transform tr;
    lc_slice sl;
    int vector;             /* an f32 vector (LC_BIND_VECTOR) */
    int matrix;             /* some entry multiplies with it (LC_BIND_MATRIX) */
    int packed;             /* the copy is in the G16 layout */
    int in_file;            /* the file holds the kept part as the destination reads it (contiguous rows in the
                               model's order; f32 for a vector), so the mapping can serve it */
    int direct;             /* copied by reading the kept bytes straight into place (in_file, not packed) */
    int phase;              /* enum phase */
    int64_t rows;           /* of the whole tensor */
    int64_t row0;           /* first kept row (model order) */
    int64_t n_out, n_in;    /* kept rows and columns */
    size_t src_row_bytes;   /* a whole stored row */
    size_t col_off;         /* bytes into a stored row where the kept columns start */
    size_t row_bytes;       /* a kept row in the file layout */
    size_t group_bytes;     /* packed: bytes per group of 16 rows */
    uint64_t src_off;       /* in_file: file offset of the first kept byte */
    size_t off, size;       /* in the region (size 0: not copied) */
    const void *drop_lo;    /* PHASE_LATER: what to drop from the mapping once copied (drop_span) */
    size_t drop_len;
    _Atomic int64_t left;   /* PHASE_LATER: tasks still to run */
    _Atomic int ready;      /* PHASE_LATER: the packed copy is complete */
} item;

typedef struct copy_task {
    int item;
    uint64_t lo, hi; /* direct: byte range of the kept bytes; gathered: row range (packed: whole groups) */
} copy_task;

struct lc_weights {
    const lc_source *src;
    const lc_kernels *k;
    item *items;
    int n_items;
    copy_task *tasks; /* [0, n_now) before returning, then n_later for the background thread */
    size_t n_now, n_later;
    int *fd;          /* [src->n_files]; -1: read from the mapping instead */
    char **bounce;    /* per thread, for gathered items */
    size_t bounce_size;
    int n_threads;
    char *map, *region; /* the mapping (map_len) and its 2 MiB-aligned start (total bytes used) */
    size_t map_len, total;
    _Atomic int failed; /* 1 + index of a file whose read failed, or 0 */
    _Atomic int cancel; /* being freed: background tasks stop */
    pthread_t thread;
    int thread_started;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int finished;         /* protected by mu */
    llamac_status status; /* valid once finished */
};

/* ---- residency ---- */
static void drop_range(const void *p, size_t n)
{
    const uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
    uintptr_t a = ((uintptr_t)p + page - 1) & ~(page - 1);
    uintptr_t b = ((uintptr_t)p + n) & ~(page - 1);
    if (b > a)
        madvise((void *)a, b - a, MADV_DONTNEED);
}

static void item_after_read(const lc_residency *r)
{
    const item *it = (const item *)(const void *)((const char *)r - offsetof(item, res));
    drop_range(it->drop_lo, it->drop_len);
}

/* The part of a file mapping to drop for bytes [p, p + n): those bytes and the 2 MiB-aligned spans they start
 * and end in, within the mapping. A page fault maps more than its page: the pages around it that are in the
 * page cache ("fault-around", 64 KiB) or the whole large folio (up to 2 MiB), which may belong to a
 * neighbouring tensor whose own drop came earlier. */
static void drop_span(const lc_source_file *f, const void *p, size_t n, const void **lo, size_t *len)
{
    const uintptr_t huge = (uintptr_t)2 << 20, m0 = (uintptr_t)f->map, m1 = m0 + f->size;
    uintptr_t a = (uintptr_t)p & ~(huge - 1), b = ((uintptr_t)p + n + huge - 1) & ~(huge - 1);
    a = a < m0 ? m0 : a;
    b = b > m1 ? m1 : b;
    *lo = (const void *)a;
    *len = b - a;
}

/* ---- planning ---- */
static int same_item(const item *it, const lc_bind *b)
{
    return it->t == b->tensor && it->vector == (b->kind == LC_BIND_VECTOR) && it->tr.kind == b->transform.kind &&
           it->tr.n_head == b->transform.n_head && it->sl.dim == b->slice.dim &&
           (b->slice.dim == LC_SLICE_NONE || (it->sl.lo == b->slice.lo && it->sl.hi == b->slice.hi));
}

/* Checks one entry and sets the item's geometry from it. */
static llamac_status item_init(item *it, const lc_source *src, const lc_bind *b, lc_err *e)
{
    const lc_source_tensor *t = b->tensor;
    const lc_type_traits *tt = lc_type_traits_get(t->type);
    if (!tt)
        return lc_fail(e, LLAMAC_E_UNSUPPORTED, "tensor '%s' has type %s, which llamac cannot read", t->name,
                       llamac_type_name(t->type));
    it->t = t;
    it->tr = b->transform;
    it->sl = b->slice;
    it->vector = b->kind == LC_BIND_VECTOR;
    it->rows = lc_source_rows(t);
    it->src_row_bytes = lc_row_bytes(t->type, t->ne[0]);
    if (t->file < 0 || t->file >= src->n_files || it->src_row_bytes == 0 ||
        (uint64_t)it->rows * it->src_row_bytes != t->n_bytes || t->offset > src->files[t->file].size ||
        t->n_bytes > src->files[t->file].size - t->offset)
        return lc_fail(e, LLAMAC_E_MODEL, "tensor '%s': its bytes are not where the file says", t->name);
    llamac_status st = lc_transform_check(&it->tr, t->name, it->rows, e);
    if (st)
        return st;
    it->n_out = it->rows;
    it->n_in = t->ne[0];
    const lc_slice *s = &it->sl;
    if (s->dim == LC_SLICE_ROWS) {
        if (s->lo < 0 || s->lo >= s->hi || s->hi > it->rows)
            return lc_fail(e, LLAMAC_E_INVALID_ARG, "tensor '%s': rows %" PRId64 "..%" PRId64 " are not within its %" PRId64
                           " rows", t->name, s->lo, s->hi, it->rows);
        it->row0 = s->lo;
        it->n_out = s->hi - s->lo;
    } else if (s->dim == LC_SLICE_COLS) {
        if (s->lo < 0 || s->lo >= s->hi || s->hi > t->ne[0] || s->lo % tt->blck || s->hi % tt->blck)
            return lc_fail(e, LLAMAC_E_INVALID_ARG, "tensor '%s': columns %" PRId64 "..%" PRId64 " are not whole blocks "
                           "of %" PRId64 " within its %" PRId64 " columns", t->name, s->lo, s->hi, tt->blck, t->ne[0]);
        it->col_off = lc_row_bytes(t->type, s->lo);
        it->n_in = s->hi - s->lo;
    } else if (s->dim != LC_SLICE_NONE) {
        return lc_fail(e, LLAMAC_E_INVALID_ARG, "tensor '%s': unknown slice kind %d", t->name, s->dim);
    }
    if (it->vector && it->n_out != 1)
        return lc_fail(e, LLAMAC_E_MODEL, "tensor '%s' is bound as a vector but has %" PRId64 " rows", t->name,
                       it->n_out);
    if (it->vector && it->tr.kind != LC_TRANSFORM_NONE)
        return lc_fail(e, LLAMAC_E_MODEL, "tensor '%s' is bound as a vector and cannot have a row transform", t->name);
    it->row_bytes = lc_row_bytes(t->type, it->n_in);
    int contiguous = it->tr.kind == LC_TRANSFORM_NONE && (s->dim != LC_SLICE_COLS || it->n_out == 1);
    it->in_file = contiguous && (!it->vector || t->type == LLAMAC_TYPE_F32);
    it->src_off = t->offset + (uint64_t)it->row0 * it->src_row_bytes + it->col_off;
    return LLAMAC_OK;
}

/* Decides where an item lives (phase, packed) and its size in the region. */
static void item_place(item *it, const lc_kernels *k, int mode)
{
    int type = it->t->type;
    it->packed = mode != LC_WEIGHTS_MAPPED && it->matrix && k->gemm_packed[type] && lc_pack_supported(type) &&
                 lc_pack_group_bytes(type, it->n_in) > 0; /* e.g. BF16 rows of odd length stay as they are */
    if (mode == LC_WEIGHTS_COPY)
        it->phase = PHASE_NOW;
    else if (mode == LC_WEIGHTS_BACKGROUND && it->packed)
        it->phase = it->in_file ? PHASE_LATER : PHASE_NOW;
    else if (mode == LC_WEIGHTS_BACKGROUND && it->vector)
        /* vectors (the norms; rope_freqs too, though it is read only at load) are copied at once: read from the
         * mapping every token, they would fault in the file's pages around them (2 MiB with file huge pages)
         * after the matrices' are dropped */
        it->phase = PHASE_NOW;
    else
        it->phase = it->in_file ? PHASE_MAPPED : PHASE_NOW; /* e.g. the token embedding stays in the mapping */
    it->direct = it->in_file && !it->packed;
    if (it->phase == PHASE_MAPPED)
        it->size = 0;
    else if (it->packed) {
        it->group_bytes = lc_pack_group_bytes(type, it->n_in);
        it->size = lc_pack_size(type, it->n_out, it->n_in);
    } else if (it->vector)
        it->size = (size_t)it->n_in * sizeof(float);
    else
        it->size = (size_t)it->n_out * it->row_bytes;
}

/* Rows per head of a permuted item (0 without a transform). */
static int64_t head_rows(const item *it)
{
    return it->tr.kind == LC_TRANSFORM_NONE ? 0 : it->rows / it->tr.n_head;
}

/* The bounce buffer a gathered item needs: one span holds at least one output group (packed) or row, plus two
 * heads of stored rows, because a permuted run of model rows reaches at most two partial heads beyond its own
 * length in the file. */
static size_t bounce_need(const item *it)
{
    return (size_t)((it->packed ? LC_PACK_ROWS : 1) + 2 * head_rows(it)) * it->src_row_bytes;
}

/* ~TASK_BYTES of output per task (packed: whole groups of 16 rows) */
static uint64_t rows_per_task(const item *it)
{
    size_t unit = it->packed ? it->group_bytes : it->vector ? (size_t)it->n_in * sizeof(float) : it->row_bytes;
    uint64_t per = TASK_BYTES / (unit ? unit : 1);
    per = per ? per : 1;
    return it->packed ? per * LC_PACK_ROWS : per;
}

/* Appends item i's tasks (or counts them when tasks is NULL). */
static size_t add_tasks(const item *it, int i, copy_task *tasks, size_t n)
{
    if (it->direct) {
        for (uint64_t b = 0; b < it->size; b += TASK_BYTES, n++)
            if (tasks)
                tasks[n] = (copy_task){i, b, b + TASK_BYTES < it->size ? b + TASK_BYTES : it->size};
        return n;
    }
    uint64_t per = rows_per_task(it), rows = (uint64_t)it->n_out;
    for (uint64_t r = 0; r < rows; r += per, n++)
        if (tasks)
            tasks[n] = (copy_task){i, r, r + per < rows ? r + per : rows};
    return n;
}

static int cmp_file_order(const void *a, const void *b)
{
    const item *x = *(const item *const *)a, *y = *(const item *const *)b;
    if (x->t->file != y->t->file)
        return x->t->file < y->t->file ? -1 : 1;
    if (x->src_off != y->src_off)
        return x->src_off < y->src_off ? -1 : 1;
    return x->t->offset < y->t->offset ? -1 : x->t->offset > y->t->offset;
}

/* Builds the items of binds (item_of[b] = the item of entry b), places them, lays out the region in file order,
 * and makes the task lists. */
static llamac_status plan(lc_weights *ws, const lc_bind *binds, int n, int mode, int *item_of, lc_err *e)
{
    ws->items = calloc(n ? (size_t)n : 1, sizeof *ws->items);
    if (!ws->items)
        return lc_fail(e, LLAMAC_E_NOMEM, "out of memory");
    for (int b = 0; b < n; b++) {
        if (!binds[b].tensor || (binds[b].kind == LC_BIND_VECTOR ? !binds[b].v : !binds[b].w))
            return lc_fail(e, LLAMAC_E_INVALID_ARG, "bind entry %d has no tensor or destination", b);
        int i = 0;
        while (i < ws->n_items && !same_item(&ws->items[i], &binds[b]))
            i++;
        if (i == ws->n_items) {
            llamac_status st = item_init(&ws->items[i], ws->src, &binds[b], e);
            if (st)
                return st;
            ws->n_items++;
        }
        ws->items[i].matrix |= binds[b].kind == LC_BIND_MATRIX;
        item_of[b] = i;
    }
    item **order = malloc((ws->n_items ? (size_t)ws->n_items : 1) * sizeof *order);
    if (!order)
        return lc_fail(e, LLAMAC_E_NOMEM, "out of memory");
    for (int i = 0; i < ws->n_items; i++) {
        order[i] = &ws->items[i];
        item_place(order[i], ws->k, mode);
    }
    qsort(order, (size_t)ws->n_items, sizeof *order, cmp_file_order);
    size_t n_now = 0, n_later = 0;
    for (int i = 0; i < ws->n_items; i++) {
        item *it = order[i];
        it->res.after_read = item_after_read;
        it->off = ws->total;
        ws->total += (it->size + 63) & ~(size_t)63;
        if (!it->direct && it->phase != PHASE_MAPPED && bounce_need(it) > ws->bounce_size)
            ws->bounce_size = bounce_need(it);
        size_t tasks = it->phase == PHASE_MAPPED ? 0 : add_tasks(it, 0, NULL, 0);
        atomic_init(&it->left, (int64_t)tasks);
        atomic_init(&it->ready, 0);
        if (it->phase == PHASE_LATER) {
            n_later += tasks;
            drop_span(&ws->src->files[it->t->file], ws->src->files[it->t->file].map + it->src_off,
                      (size_t)it->n_out * it->row_bytes, &it->drop_lo, &it->drop_len);
        } else {
            n_now += tasks;
        }
    }
    if (ws->bounce_size && ws->bounce_size < BOUNCE_BYTES)
        ws->bounce_size = BOUNCE_BYTES;
    ws->tasks = calloc(n_now + n_later ? n_now + n_later : 1, sizeof *ws->tasks);
    if (!ws->tasks) {
        free(order);
        return lc_fail(e, LLAMAC_E_NOMEM, "out of memory");
    }
    for (int i = 0; i < ws->n_items; i++) {
        item *it = order[i];
        int idx = (int)(it - ws->items);
        if (it->phase == PHASE_NOW)
            ws->n_now = add_tasks(it, idx, ws->tasks, ws->n_now);
    }
    for (int i = 0; i < ws->n_items; i++) {
        item *it = order[i];
        if (it->phase == PHASE_LATER)
            ws->n_later = add_tasks(it, (int)(it - ws->items), ws->tasks + n_now, ws->n_later);
    }
    free(order);
    return LLAMAC_OK;
}

/* Maps the region and opens the files and buffers the tasks read through. */
static llamac_status prepare(lc_weights *ws, int n_threads, lc_err *e)
{
    if (ws->total == 0)
        return LLAMAC_OK;
    ws->map_len = ws->total + HUGE_ALIGN;
    char *map = mmap(NULL, ws->map_len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (map == MAP_FAILED)
        return lc_fail(e, LLAMAC_E_NOMEM, "cannot allocate %zu MiB for the weights", ws->total >> 20);
    ws->map = map;
    ws->region = (char *)(((uintptr_t)map + HUGE_ALIGN - 1) & ~(uintptr_t)(HUGE_ALIGN - 1));
#ifdef MADV_HUGEPAGE
    madvise(ws->region, ws->total, MADV_HUGEPAGE);
#endif
    ws->n_threads = n_threads > 0 ? n_threads : llamac_n_cores();
    ws->fd = malloc((size_t)ws->src->n_files * sizeof *ws->fd);
    if (!ws->fd)
        return lc_fail(e, LLAMAC_E_NOMEM, "out of memory while loading the weights");
    for (int f = 0; f < ws->src->n_files; f++) { /* a file that cannot be opened is read from its mapping */
        lc_err ignored;
        lc_open_regular(ws->src->files[f].path, NULL, &ws->fd[f], &ignored);
    }
    ws->bounce = calloc((size_t)ws->n_threads, sizeof(char *));
    if (!ws->bounce)
        return lc_fail(e, LLAMAC_E_NOMEM, "out of memory while loading the weights");
    for (int t = 0; ws->bounce_size && t < ws->n_threads; t++)
        if (!(ws->bounce[t] = malloc(ws->bounce_size)))
            return lc_fail(e, LLAMAC_E_NOMEM, "out of memory while loading the weights");
    return LLAMAC_OK;
}

/* ---- copying ---- */
static int read_at(const lc_weights *ws, int file, void *dst, size_t len, uint64_t off)
{
    if (ws->fd[file] < 0) {
        memcpy(dst, ws->src->files[file].map + off, len);
        return 0;
    }
    char *p = dst;
    while (len) {
        ssize_t r = pread(ws->fd[file], p, len, (off_t)off);
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

static void fail_file(lc_weights *ws, int file)
{
    int none = 0;
    atomic_compare_exchange_strong(&ws->failed, &none, file + 1);
}

/* Rows [r0, r1) of a gathered item: reads the stored rows they come from a span at a time into the bounce
 * buffer and packs, reorders, cuts or converts them into dst (the item's place in the region). */
static void gather(lc_weights *ws, const item *it, int64_t r0, int64_t r1, char *buf, char *dst)
{
    const int file = it->t->file;
    const size_t srb = it->src_row_bytes;
    int64_t per = (int64_t)(ws->bounce_size / srb) - 2 * head_rows(it);
    if (it->packed)
        per -= per % LC_PACK_ROWS;
    const lc_pack_layout *L = lc_pack_layout_get(it->t->type);
    const int64_t nb = L ? it->n_in / L->blck : 0; /* blocks of the packed layout (BF16: pairs) */
    for (int64_t a = r0; a < r1; a += per) {
        int64_t b = a + per < r1 ? a + per : r1, lo = it->row0 + a, hi = it->row0 + b - 1;
        if (it->tr.kind != LC_TRANSFORM_NONE) {
            lo = INT64_MAX;
            hi = -1;
            for (int64_t r = a; r < b; r++) {
                int64_t s = lc_transform_row(&it->tr, it->rows, it->row0 + r);
                lo = s < lo ? s : lo;
                hi = s > hi ? s : hi;
            }
        }
        if (read_at(ws, file, buf, (size_t)(hi + 1 - lo) * srb, it->t->offset + (uint64_t)lo * srb)) {
            fail_file(ws, file);
            return;
        }
#define STORED(r) (buf + (size_t)(lc_transform_row(&it->tr, it->rows, it->row0 + (r)) - lo) * srb + it->col_off)
        if (it->packed) {
            for (int64_t g = a / LC_PACK_ROWS; g * LC_PACK_ROWS < b; g++) {
                const void *rows[LC_PACK_ROWS];
                for (int i = 0; i < LC_PACK_ROWS; i++) {
                    int64_t r = g * LC_PACK_ROWS + i;
                    rows[i] = r < b ? STORED(r) : NULL;
                }
                ws->k->pack16(it->t->type, rows, 0, nb, dst + (size_t)g * it->group_bytes);
            }
        } else if (it->vector) {
            lc_type_traits_get(it->t->type)->to_float(STORED(0), (float *)(void *)dst, it->n_in);
        } else {
            for (int64_t r = a; r < b; r++)
                memcpy(dst + (size_t)r * it->row_bytes, STORED(r), it->row_bytes);
        }
#undef STORED
    }
}

typedef struct task_job {
    lc_weights *ws;
    const copy_task *tasks;
} task_job;

static void copy_task_fn(void *arg, int64_t ti, int thread)
{
    const task_job *job = arg;
    lc_weights *ws = job->ws;
    if (atomic_load_explicit(&ws->cancel, memory_order_relaxed) || atomic_load_explicit(&ws->failed, memory_order_relaxed))
        return;
    const copy_task *t = &job->tasks[ti];
    item *it = &ws->items[t->item];
    char *dst = ws->region + it->off;
    if (it->direct) {
        if (read_at(ws, it->t->file, dst + t->lo, t->hi - t->lo, it->src_off + t->lo))
            fail_file(ws, it->t->file);
    } else {
        gather(ws, it, (int64_t)t->lo, (int64_t)t->hi, ws->bounce[thread], dst);
    }
    if (atomic_fetch_sub_explicit(&it->left, 1, memory_order_acq_rel) == 1 && !atomic_load(&ws->failed) &&
        it->phase == PHASE_LATER) {
        atomic_store_explicit(&it->ready, 1, memory_order_release);
        drop_range(it->drop_lo, it->drop_len); /* the kernels read the copy from now on */
    }
}

/* Runs tasks [first, first + n) on a pool of n_threads; LLAMAC_E_IO if a read failed. */
static llamac_status run_tasks(lc_weights *ws, size_t first, size_t n, int n_threads)
{
    if (n == 0)
        return LLAMAC_OK;
    lc_pool *pool = lc_pool_create(n_threads);
    if (!pool)
        return LLAMAC_E_NOMEM;
    task_job job = {ws, ws->tasks + first};
    lc_pool_run(pool, copy_task_fn, &job, (int64_t)n);
    lc_pool_free(pool);
    return atomic_load(&ws->failed) ? LLAMAC_E_IO : LLAMAC_OK;
}

/* Frees what a finished copy no longer needs (items stay: the weights' ready flags and hooks live there). */
static void release_buffers(lc_weights *ws)
{
    for (int t = 0; ws->bounce && t < ws->n_threads; t++)
        free(ws->bounce[t]);
    free(ws->bounce);
    ws->bounce = NULL;
    free(ws->tasks);
    ws->tasks = NULL;
    for (int f = 0; ws->fd && f < ws->src->n_files; f++)
        if (ws->fd[f] >= 0)
            close(ws->fd[f]);
    free(ws->fd);
    ws->fd = NULL;
}

static const char *failed_path(const lc_weights *ws)
{
    int f = atomic_load(&ws->failed);
    return f > 0 ? ws->src->files[f - 1].path : ws->src->files[0].path;
}

/* ---- binding ---- */
static void bind_entry(const lc_weights *ws, const item *it, const lc_bind *b)
{
    const uint8_t *mapped = ws->src->files[it->t->file].map + it->src_off;
    char *copy = ws->region ? ws->region + it->off : NULL;
    if (b->kind == LC_BIND_VECTOR) {
        *b->v = (const float *)(const void *)(it->phase == PHASE_MAPPED ? (const char *)mapped : copy);
        return;
    }
    lc_weight *w = b->w;
    *w = (lc_weight){.name = it->t->name, .type = it->t->type, .row_bytes = it->row_bytes, .n_in = it->n_in,
                     .n_out = it->n_out};
    if (it->phase != PHASE_NOW)
        w->data = mapped;
    else if (!it->packed)
        w->data = copy;
    if (it->packed) {
        w->packed = copy;
        w->group_bytes = it->group_bytes;
    }
    if (it->phase == PHASE_LATER) {
        w->ready = &it->ready;
        w->residency = &it->res;
    }
}

/* ---- lifetime ---- */
static void *background_main(void *arg)
{
    lc_weights *ws = arg;
    llamac_status st = run_tasks(ws, ws->n_now, ws->n_later, ws->n_threads);
    int cancelled = atomic_load(&ws->cancel);
    if (!st && !cancelled)
        mprotect(ws->region, ws->total, PROT_READ);
    release_buffers(ws);
    pthread_mutex_lock(&ws->mu);
    ws->status = cancelled ? LLAMAC_E_CANCELLED : st;
    ws->finished = 1;
    pthread_cond_broadcast(&ws->cv);
    pthread_mutex_unlock(&ws->mu);
    return NULL;
}

void lc_weights_free(lc_weights *ws)
{
    if (!ws)
        return;
    atomic_store(&ws->cancel, 1);
    if (ws->thread_started)
        pthread_join(ws->thread, NULL);
    release_buffers(ws);
    pthread_mutex_destroy(&ws->mu);
    pthread_cond_destroy(&ws->cv);
    if (ws->map)
        munmap(ws->map, ws->map_len);
    free(ws->items);
    free(ws);
}

llamac_status lc_weights_load(const lc_source *src, const lc_bind *binds, int n, int mode, int n_threads,
                              lc_weights **out, lc_err *e)
{
    *out = NULL;
    lc_weights *ws = calloc(1, sizeof *ws);
    int *item_of = malloc((n > 0 ? (size_t)n : 1) * sizeof *item_of);
    if (!ws || !item_of) {
        free(ws);
        free(item_of);
        return lc_fail(e, LLAMAC_E_NOMEM, "out of memory");
    }
    pthread_mutex_init(&ws->mu, NULL);
    pthread_cond_init(&ws->cv, NULL);
    ws->src = src;
    ws->k = lc_kernels_get();
    ws->finished = 1; /* until a background thread runs */
    llamac_status st = plan(ws, binds, n, mode, item_of, e);
    if (!st)
        st = prepare(ws, n_threads, e);
    if (!st) {
        /* only vectors to do: not worth a pool */
        int heavy = 0;
        for (size_t i = 0; i < ws->n_now && !heavy; i++)
            heavy = !ws->items[ws->tasks[i].item].vector;
        st = run_tasks(ws, 0, ws->n_now, heavy ? ws->n_threads : 1);
        if (st == LLAMAC_E_NOMEM)
            lc_fail(e, st, "out of memory while loading the weights");
        else if (st)
            lc_fail(e, st, "reading the weights from '%s' failed", failed_path(ws));
    }
    if (st) {
        free(item_of);
        lc_weights_free(ws);
        return st;
    }
    for (int b = 0; b < n; b++)
        bind_entry(ws, &ws->items[item_of[b]], &binds[b]);
    free(item_of);
    *out = ws;
    if (ws->n_later == 0) {
        if (ws->region)
            mprotect(ws->region, ws->total, PROT_READ);
        release_buffers(ws);
        return LLAMAC_OK;
    }
    ws->finished = 0;
    if (pthread_create(&ws->thread, NULL, background_main, ws) != 0) {
        background_main(ws); /* no thread: copy now instead */
        if (ws->status) {
            st = lc_fail(e, ws->status, "reading the weights from '%s' failed", failed_path(ws));
            lc_weights_free(ws);
            *out = NULL;
            return st;
        }
        return LLAMAC_OK;
    }
    ws->thread_started = 1;
    return LLAMAC_OK;
}

llamac_status lc_weights_wait(lc_weights *ws, lc_err *e)
{
    if (!ws)
        return LLAMAC_OK;
    pthread_mutex_lock(&ws->mu);
    while (!ws->finished)
        pthread_cond_wait(&ws->cv, &ws->mu);
    llamac_status st = ws->status;
    pthread_mutex_unlock(&ws->mu);
    if (st)
        return lc_fail(e, st, "reading the weights from '%s' failed; the model keeps running from the file mapping",
                       failed_path(ws));
    return LLAMAC_OK;
}

int lc_weights_finished(lc_weights *ws)
{
    if (!ws)
        return 1;
    pthread_mutex_lock(&ws->mu);
    const int f = ws->finished;
    pthread_mutex_unlock(&ws->mu);
    return f;
}

size_t lc_weights_copy_bytes(const lc_weights *ws)
{
    return ws ? ws->total : 0;
}
