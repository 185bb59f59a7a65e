/*
 * quantize_model.c — llamac_quantize: converts every tensor of a GGUF file to the type its file type's mix
 * chooses (quant_mix.c) and writes a new GGUF (gguf_write.c).
 *
 * Flow: open and validate the input (mmap) -> plan every tensor's output type and check that it can be
 * converted -> warn about re-quantization and fallbacks -> write metadata and tensor infos -> stream the
 * tensors in file order. A converted tensor is processed in chunks of rows (~32 MiB of f32 each): the thread
 * pool converts the chunk's rows in parallel (each row: dequantize to f32 if needed, check it is finite,
 * quantize with the type's reference quantizer), then the chunk is written and progress reported. Rows are
 * independent and each is converted by one thread with the same code, so the output never depends on the
 * thread count. Any failure (or a cancel from the progress callback) aborts the writer, which removes the
 * temporary file: the output name only ever holds a complete file.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gguf/gguf.h"
#include "gguf/gguf_write.h"
#include "util/file.h"
#include "kernels/quant.h"
#include "quantize/quant_mix.h"
#include "util/buf.h"
#include "util/threadpool.h"

#define CHUNK_F32_BYTES ((size_t)32 << 20) /* f32 bytes of input rows converted per pool job */
#define COPY_CHUNK ((size_t)64 << 20)      /* bytes of an unchanged tensor written per progress report */

llamac_quantize_params llamac_quantize_default_params(void)
{
    llamac_quantize_params p = {.ftype = LLAMAC_FTYPE_MOSTLY_Q4_K_M, .n_threads = 0};
    return p;
}

typedef struct plan {
    const lc_gguf_tensor *t;
    int out_type;
    int convert, requant, fallback;
    int64_t ne0, rows;
} plan;

typedef struct run {
    const llamac_quantize_params *p;
    const lc_gguf *g;
    lc_gguf_writer *w;
    lc_pool *pool;
    plan *plans;
    float *scratch; /* n_threads rows of max_ne0 floats */
    int64_t max_ne0;
    uint8_t *out_buf;
    size_t out_cap;
    uint64_t bytes_done, bytes_total;
} run;

#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
static void warnf(const llamac_quantize_params *p, const char *fmt, ...)
{
    if (!p->warn)
        return;
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    p->warn(p->user, msg);
}

static int is_quantized(int type)
{
    return type != LLAMAC_TYPE_F32 && type != LLAMAC_TYPE_F16 && type != LLAMAC_TYPE_BF16;
}

static llamac_status report(run *r, int64_t i, lc_err *e)
{
    if (!r->p->progress)
        return LLAMAC_OK;
    const plan *pl = &r->plans[i];
    llamac_quantize_progress pr = {i,           r->g->n_tensors, pl->t->name,     pl->t->type,
                                   pl->out_type, r->bytes_done,   r->bytes_total};
    if (r->p->progress(r->p->user, &pr))
        return lc_fail(e, LLAMAC_E_CANCELLED, "quantization cancelled");
    return LLAMAC_OK;
}

/* ---- model facts for the mix ---- */
static llamac_status mix_info(const lc_gguf *g, int ftype, lc_mix_info *m, lc_err *e)
{
    memset(m, 0, sizeof *m);
    m->ftype = ftype;
    char arch[64] = "llama", key[128];
    lc_gguf_str s;
    llamac_status st = lc_gguf_get_str(g, "general.architecture", 0, &s, e);
    if (st)
        return st;
    if (lc_gguf_get(g, "general.architecture"))
        lc_gguf_str_copy(s, arch, sizeof arch);
    int64_t n_layer = -1, n_head = 1, n_head_kv = -1;
    snprintf(key, sizeof key, "%s.block_count", arch);
    if ((st = lc_gguf_get_i64(g, key, 0, &n_layer, e)))
        return st;
    snprintf(key, sizeof key, "%s.attention.head_count", arch);
    if ((st = lc_gguf_get_i64(g, key, 0, &n_head, e)))
        return st;
    snprintf(key, sizeof key, "%s.attention.head_count_kv", arch);
    if ((st = lc_gguf_get_i64(g, key, 0, &n_head_kv, e)))
        return st;
    if (n_head_kv < 1)
        n_head_kv = n_head;
    int max_layer = -1;
    for (int64_t i = 0; i < g->n_tensors; i++) {
        const char *name = g->tensors[i].name;
        int l;
        if (sscanf(name, "blk.%d.", &l) == 1 && l > max_layer)
            max_layer = l;
        if (strstr(name, "attn_v.weight"))
            m->n_attn_v++;
        if (strcmp(name, "output.weight") == 0)
            m->has_output = 1;
    }
    if (n_layer < 1 || n_layer > 1 << 20)
        n_layer = max_layer + 1;
    m->n_layer = (int)n_layer;
    m->n_gqa = n_head >= 1 && n_head_kv >= 1 ? (int)(n_head / n_head_kv) : 1;
    m->is_70b = strcmp(arch, "llama") == 0 && n_layer == 80 && n_head != n_head_kv;
    return LLAMAC_OK;
}

/* ---- planning ---- */
static llamac_status make_plan(run *r, const lc_mix_info *m, llamac_quantize_stats *stats, lc_err *e)
{
    const lc_gguf *g = r->g;
    int64_t n_requant = 0;
    int requant_types[LLAMAC_TYPE_COUNT] = {0};
    for (int64_t i = 0; i < g->n_tensors; i++) {
        const lc_gguf_tensor *t = &g->tensors[i];
        plan *pl = &r->plans[i];
        pl->t = t;
        pl->ne0 = t->ne[0];
        pl->rows = t->ne[1] * t->ne[2] * t->ne[3];
        int wanted;
        pl->out_type = lc_mix_choose(m, t->name, t->ne, t->type, &wanted);
        pl->fallback = wanted != pl->out_type;
        pl->convert = pl->out_type != t->type;
        r->bytes_total += t->n_bytes;
        stats->n_elements += (uint64_t)(pl->ne0 * pl->rows);
        stats->in_data_bytes += t->n_bytes;
        if (!pl->convert) {
            stats->out_data_bytes += t->n_bytes;
            continue;
        }
        const lc_type_traits *in = lc_type_traits_get(t->type), *out = lc_type_traits_get(pl->out_type);
        if (!in || !in->to_float)
            return lc_fail(e, LLAMAC_E_UNSUPPORTED,
                           "tensor '%s' has type %s, which llamac cannot read, so it cannot be converted to %s",
                           t->name, llamac_type_name(t->type) ? llamac_type_name(t->type) : "?",
                           llamac_type_name(pl->out_type));
        if (!out || !out->from_float)
            return lc_fail(e, LLAMAC_E_UNSUPPORTED, "tensor '%s': llamac cannot write type %s", t->name,
                           llamac_type_name(pl->out_type));
        pl->requant = is_quantized(t->type) && is_quantized(pl->out_type);
        if (pl->requant) {
            n_requant++;
            requant_types[t->type] = 1;
        }
        if (pl->fallback) {
            stats->n_fallback++;
            warnf(r->p, "tensor '%s': row length %" PRId64 " is not a multiple of the %s block; using %s instead",
                  t->name, pl->ne0, llamac_type_name(wanted), llamac_type_name(pl->out_type));
        }
        if (pl->ne0 > r->max_ne0)
            r->max_ne0 = pl->ne0;
        stats->n_converted++;
        stats->out_data_bytes += lc_row_bytes(pl->out_type, pl->ne0) * (uint64_t)pl->rows;
    }
    stats->n_requantized = n_requant;
    if (n_requant) {
        char types[256] = "";
        size_t len = 0;
        for (int t = 0; t < LLAMAC_TYPE_COUNT; t++)
            if (requant_types[t] && len < sizeof types - 16)
                len += (size_t)snprintf(types + len, sizeof types - len, "%s%s", len ? ", " : "", llamac_type_name(t));
        warnf(r->p,
              "%" PRId64 " tensors are already quantized (%s) and will be re-quantized: quality suffers compared "
              "with quantizing the original F16/BF16/F32 model",
              n_requant, types);
    }
    return LLAMAC_OK;
}

/* ---- converting rows ---- */
typedef struct conv_job {
    const lc_type_traits *in, *out;
    int in_type;
    const uint8_t *src; /* first row of the chunk */
    size_t in_rb, out_rb;
    uint8_t *dst;
    int64_t ne0, n_rows, rows_per_task, row0;
    float *scratch;
    _Atomic int64_t bad_row; /* smallest row (absolute) with a non-finite value, or INT64_MAX */
} conv_job;

static void conv_task(void *arg, int64_t task, int thread)
{
    conv_job *j = arg;
    float *f = j->scratch + (size_t)thread * (size_t)j->ne0;
    int64_t r0 = task * j->rows_per_task, r1 = r0 + j->rows_per_task < j->n_rows ? r0 + j->rows_per_task : j->n_rows;
    for (int64_t r = r0; r < r1; r++) {
        const uint8_t *s = j->src + (size_t)r * j->in_rb;
        j->in->to_float(s, f, j->ne0); /* F32 input: a copy, which also fixes any misalignment */
        int finite = 1;
        for (int64_t k = 0; k < j->ne0; k++)
            finite &= (f[k] - f[k]) == 0.0f; /* false for NaN and +-inf */
        if (!finite) {
            int64_t row = j->row0 + r, cur = atomic_load(&j->bad_row);
            while (row < cur && !atomic_compare_exchange_weak(&j->bad_row, &cur, row))
                ;
            continue;
        }
        j->out->from_float(f, j->dst + (size_t)r * j->out_rb, j->ne0);
    }
}

static llamac_status convert_tensor(run *r, int64_t i, lc_err *e)
{
    const plan *pl = &r->plans[i];
    const lc_gguf_tensor *t = pl->t;
    conv_job j = {0};
    j.in = lc_type_traits_get(t->type);
    j.out = lc_type_traits_get(pl->out_type);
    j.in_type = t->type;
    j.in_rb = lc_row_bytes(t->type, pl->ne0);
    j.out_rb = lc_row_bytes(pl->out_type, pl->ne0);
    j.ne0 = pl->ne0;
    j.scratch = r->scratch;
    int64_t chunk_rows = (int64_t)(CHUNK_F32_BYTES / ((size_t)pl->ne0 * sizeof(float)));
    if (chunk_rows < 1)
        chunk_rows = 1;
    if (chunk_rows > pl->rows)
        chunk_rows = pl->rows;
    size_t need = (size_t)chunk_rows * j.out_rb;
    uint8_t *b = lc_array_reserve(r->out_buf, 1, &r->out_cap, 0, need);
    if (!b)
        return lc_fail(e, LLAMAC_E_NOMEM, "out of memory converting '%s'", t->name);
    r->out_buf = b;
    j.dst = r->out_buf;
    int nth = lc_pool_n_threads(r->pool);
    for (int64_t row0 = 0; row0 < pl->rows; row0 += chunk_rows) {
        j.row0 = row0;
        j.n_rows = pl->rows - row0 < chunk_rows ? pl->rows - row0 : chunk_rows;
        j.src = (const uint8_t *)t->data + (size_t)row0 * j.in_rb;
        j.rows_per_task = (j.n_rows + 4 * nth - 1) / (4 * nth);
        atomic_store(&j.bad_row, INT64_MAX);
        lc_pool_run(r->pool, conv_task, &j, (j.n_rows + j.rows_per_task - 1) / j.rows_per_task);
        int64_t bad = atomic_load(&j.bad_row);
        if (bad != INT64_MAX)
            return lc_fail(e, LLAMAC_E_FORMAT, "tensor '%s' has a NaN or infinite value in row %" PRId64
                           "; refusing to convert it", t->name, bad);
        llamac_status st = lc_gguf_writer_write(r->w, j.dst, (size_t)j.n_rows * j.out_rb, e);
        if (st)
            return st;
        r->bytes_done += (uint64_t)j.n_rows * j.in_rb;
        if ((st = report(r, i, e)))
            return st;
    }
    return LLAMAC_OK;
}

static llamac_status copy_tensor(run *r, int64_t i, lc_err *e)
{
    const lc_gguf_tensor *t = r->plans[i].t;
    for (uint64_t off = 0; off < t->n_bytes; off += COPY_CHUNK) {
        size_t n = t->n_bytes - off < COPY_CHUNK ? (size_t)(t->n_bytes - off) : COPY_CHUNK;
        llamac_status st = lc_gguf_writer_write(r->w, (const uint8_t *)t->data + off, n, e);
        if (st)
            return st;
        r->bytes_done += n;
        if ((st = report(r, i, e)))
            return st;
    }
    return LLAMAC_OK;
}

static llamac_status quantize_open(run *r, const char *out_path, int ftype, llamac_quantize_stats *stats, lc_err *e)
{
    const lc_gguf *g = r->g;
    lc_mix_info m;
    llamac_status st = mix_info(g, ftype, &m, e);
    if (st)
        return st;
    r->plans = calloc((size_t)(g->n_tensors ? g->n_tensors : 1), sizeof *r->plans);
    if (!r->plans)
        return lc_fail(e, LLAMAC_E_NOMEM, "out of memory");
    if ((st = make_plan(r, &m, stats, e)))
        return st;
    int nth = r->p->n_threads > 0 ? r->p->n_threads : llamac_n_cores();
    if (!(r->pool = lc_pool_create(nth)))
        return lc_fail(e, LLAMAC_E_NOMEM, "cannot create %d worker threads", nth);
    if (r->max_ne0 > 0 &&
        !(r->scratch = malloc((size_t)lc_pool_n_threads(r->pool) * (size_t)r->max_ne0 * sizeof(float))))
        return lc_fail(e, LLAMAC_E_NOMEM, "out of memory");
    if ((st = lc_gguf_writer_open(out_path, &r->w, e)) || (st = lc_gguf_writer_copy_kv(r->w, g, e)) ||
        (st = lc_gguf_writer_set_u32(r->w, "general.quantization_version", 2, e)) ||
        (st = lc_gguf_writer_set_u32(r->w, "general.file_type", (uint32_t)ftype, e)))
        return st;
    for (int64_t i = 0; i < g->n_tensors; i++) {
        const lc_gguf_tensor *t = &g->tensors[i];
        if ((st = lc_gguf_writer_add_tensor(r->w, t->name, t->n_dims, t->ne, r->plans[i].out_type, e)))
            return st;
    }
    return lc_gguf_writer_begin_data(r->w, e);
}

llamac_status llamac_quantize(const char *in_path, const char *out_path, const llamac_quantize_params *params,
                              llamac_quantize_stats *stats, char *err, size_t err_size)
{
    lc_err e = {{0}};
    llamac_quantize_stats local;
    llamac_quantize_stats *s = stats ? stats : &local;
    memset(s, 0, sizeof *s);
    llamac_quantize_params p = params ? *params : llamac_quantize_default_params();
    llamac_status st = LLAMAC_OK;
    if (!in_path || !out_path)
        st = lc_fail(&e, LLAMAC_E_INVALID_ARG, "llamac_quantize: input and output paths are required");
    else if (lc_ftype_default_type(p.ftype) < 0)
        st = lc_fail(&e, LLAMAC_E_INVALID_ARG, "unknown or unsupported file type %d", p.ftype);
    else
        st = lc_output_check(out_path, "output file", &e); /* before any work (the writer checks again) */
    run r = {.p = &p};
    lc_gguf *g = NULL;
    if (!st)
        st = lc_gguf_open(in_path, &g, &e);
    r.g = g;
    if (!st)
        st = quantize_open(&r, out_path, p.ftype, s, &e);
    for (int64_t i = 0; !st && i < g->n_tensors; i++)
        st = r.plans[i].convert ? convert_tensor(&r, i, &e) : copy_tensor(&r, i, &e);
    if (!st) {
        s->out_file_bytes = lc_gguf_writer_file_size(r.w);
        st = lc_gguf_writer_finish(r.w, &e); /* frees the writer either way */
        r.w = NULL;
    }
    if (!st) {
        s->n_tensors = g->n_tensors;
        s->in_file_bytes = g->size;
    }
    lc_gguf_writer_abort(r.w); /* error paths: removes the temporary file */
    lc_pool_free(r.pool);
    free(r.scratch);
    free(r.out_buf);
    free(r.plans);
    lc_gguf_close(g);
    if (st) {
        memset(s, 0, sizeof *s);
        lc_err_copy(&e, err, err_size);
    }
    return st;
}
