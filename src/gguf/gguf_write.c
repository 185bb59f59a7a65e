/*
 * gguf_write.c — GGUF v3 writer (see gguf_write.h for the contract).
 *
 * Metadata is kept as pre-encoded value bytes per key (so replacing a key keeps its position, as ggml does);
 * tensor infos are kept until begin_data computes the aligned offsets and writes the whole header. Data then
 * streams through a buffered FILE into the temporary file; finish() flushes, fsyncs and renames it. Any
 * failure marks the writer failed, and finish()/abort() remove the temporary file.
 */
#include "gguf/gguf_write.h"

#include "gguf/ggml_types.h"
#include "util/buf.h"
#include "util/file.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define GGUF_MAGIC 0x46554747u
#define GGUF_VERSION 3
#define DEFAULT_ALIGNMENT 32
#define MAX_NAME 1024

static void put_u32(lc_buf *b, uint32_t v)
{
    uint8_t x[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
    lc_buf_put(b, x, 4);
}

static void put_u64(lc_buf *b, uint64_t v)
{
    put_u32(b, (uint32_t)v);
    put_u32(b, (uint32_t)(v >> 32));
}

static void put_str(lc_buf *b, const char *s, uint64_t len)
{
    put_u64(b, len);
    lc_buf_put(b, s, (size_t)len);
}

/* ---- value encoding (the bytes after the type tag) ---- */
static int fixed_size(uint32_t t)
{
    switch (t) {
    case LC_GGUF_UINT8: case LC_GGUF_INT8: case LC_GGUF_BOOL: return 1;
    case LC_GGUF_UINT16: case LC_GGUF_INT16: return 2;
    case LC_GGUF_UINT32: case LC_GGUF_INT32: case LC_GGUF_FLOAT32: return 4;
    case LC_GGUF_UINT64: case LC_GGUF_INT64: case LC_GGUF_FLOAT64: return 8;
    default: return 0;
    }
}

static int enc_value(lc_buf *b, const lc_gguf_value *v, int depth)
{
    uint64_t u = v->v.u64;
    switch (v->type) {
    case LC_GGUF_UINT8: case LC_GGUF_BOOL: { uint8_t x = (uint8_t)u; lc_buf_put(b, &x, 1); return 1; }
    case LC_GGUF_INT8: { int8_t x = (int8_t)v->v.i64; lc_buf_put(b, &x, 1); return 1; }
    case LC_GGUF_UINT16: { uint8_t x[2] = {(uint8_t)u, (uint8_t)(u >> 8)}; lc_buf_put(b, x, 2); return 1; }
    case LC_GGUF_INT16: { uint16_t x = (uint16_t)(int16_t)v->v.i64; lc_buf_put(b, &x, 2); return 1; }
    case LC_GGUF_UINT32: put_u32(b, (uint32_t)u); return 1;
    case LC_GGUF_INT32: put_u32(b, (uint32_t)(int32_t)v->v.i64); return 1;
    case LC_GGUF_UINT64: put_u64(b, u); return 1;
    case LC_GGUF_INT64: put_u64(b, (uint64_t)v->v.i64); return 1;
    case LC_GGUF_FLOAT32: { float f = (float)v->v.f64; lc_buf_put(b, &f, 4); return 1; }
    case LC_GGUF_FLOAT64: { double f = v->v.f64; lc_buf_put(b, &f, 8); return 1; }
    case LC_GGUF_STRING: put_str(b, v->v.str.ptr, v->v.str.len); return 1;
    case LC_GGUF_ARRAY: {
        if (depth >= LC_GGUF_MAX_DEPTH)
            return 0;
        uint32_t et = v->v.arr.elem_type;
        uint64_t n = v->v.arr.n;
        put_u32(b, et);
        put_u64(b, n);
        int es = fixed_size(et);
        if (es) {
            if (n)
                lc_buf_put(b, v->v.arr.data, (size_t)n * (size_t)es); /* already little-endian file bytes */
            return 1;
        }
        if (et != LC_GGUF_STRING && et != LC_GGUF_ARRAY)
            return 0;
        for (uint64_t i = 0; i < n; i++)
            if (v->v.arr.items[i].type != et || !enc_value(b, &v->v.arr.items[i], depth + 1))
                return 0;
        return 1;
    }
    default: return 0;
    }
}

/* ---- the writer ---- */
typedef struct kv_entry {
    char *key;
    uint32_t type;
    uint8_t *val;
    size_t val_len;
} kv_entry;

typedef struct tensor_entry {
    char *name;
    int n_dims;
    int64_t ne[4];
    int type;
    uint64_t n_bytes, offset;
} tensor_entry;

struct lc_gguf_writer {
    lc_outfile out; /* the temporary file (util/file.h) */
    const char *path; /* = out.path, for messages */
    FILE *f;          /* = out.f */
    int failed, started;
    kv_entry *kv;
    int64_t n_kv;
    size_t cap_kv;
    tensor_entry *t;
    int64_t n_t;
    size_t cap_t;
    uint32_t alignment;
    uint64_t data_start, data_size;
    int64_t cur;          /* tensor being written */
    uint64_t cur_written; /* its bytes written so far */
};

#if defined(__GNUC__)
__attribute__((format(printf, 4, 5)))
#endif
static llamac_status fail(lc_gguf_writer *w, lc_err *e, llamac_status st, const char *fmt, ...)
{
    w->failed = 1;
    if (e) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(e->msg, sizeof e->msg, fmt, ap);
        va_end(ap);
    }
    return st;
}

static llamac_status io_fail(lc_gguf_writer *w, lc_err *e, const char *what)
{
    int err = errno;
    w->failed = 1;
    return lc_fail(e, LLAMAC_E_IO, "cannot write '%s' (%s): %s", w->path, what, strerror(err));
}

static char *dup_str(const char *s)
{
    size_t n = strlen(s) + 1;
    char *p = malloc(n);
    if (p)
        memcpy(p, s, n);
    return p;
}

llamac_status lc_gguf_writer_open(const char *path, lc_gguf_writer **out, lc_err *e)
{
    *out = NULL;
    if (!path || !*path)
        return lc_fail(e, LLAMAC_E_INVALID_ARG, "no output path given");
    lc_gguf_writer *w = calloc(1, sizeof *w);
    if (!w)
        return lc_fail(e, LLAMAC_E_NOMEM, "out of memory");
    llamac_status st = lc_outfile_open(&w->out, path, "output file", e);
    if (st) {
        free(w);
        return st;
    }
    w->path = w->out.path;
    w->f = w->out.f;
    w->alignment = DEFAULT_ALIGNMENT;
    *out = w;
    return LLAMAC_OK;
}

void lc_gguf_writer_abort(lc_gguf_writer *w)
{
    if (!w)
        return;
    lc_outfile_abort(&w->out);
    for (int64_t i = 0; i < w->n_kv; i++) {
        free(w->kv[i].key);
        free(w->kv[i].val);
    }
    for (int64_t i = 0; i < w->n_t; i++)
        free(w->t[i].name);
    free(w->kv);
    free(w->t);
    free(w);
}

const char *lc_gguf_writer_temp_path(const lc_gguf_writer *w)
{
    return w->out.tmp;
}

static kv_entry *find_kv(lc_gguf_writer *w, const char *key)
{
    for (int64_t i = 0; i < w->n_kv; i++)
        if (strcmp(w->kv[i].key, key) == 0)
            return &w->kv[i];
    return NULL;
}

static llamac_status check_open_for_meta(lc_gguf_writer *w, lc_err *e)
{
    if (w->failed)
        return lc_fail(e, LLAMAC_E_INVALID_ARG, "the GGUF writer for '%s' already failed", w->path);
    if (w->started)
        return fail(w, e, LLAMAC_E_INVALID_ARG, "%s: metadata and tensors must be added before the data", w->path);
    return LLAMAC_OK;
}

llamac_status lc_gguf_writer_set(lc_gguf_writer *w, const char *key, const lc_gguf_value *v, lc_err *e)
{
    llamac_status st = check_open_for_meta(w, e);
    if (st)
        return st;
    size_t klen = strlen(key);
    if (klen == 0 || klen > MAX_NAME)
        return fail(w, e, LLAMAC_E_INVALID_ARG, "metadata key '%.64s' is empty or too long", key);
    lc_buf b = {0};
    if (!enc_value(&b, v, 0) || b.oom) {
        free(b.p);
        return fail(w, e, b.oom ? LLAMAC_E_NOMEM : LLAMAC_E_FORMAT, "metadata '%s': cannot encode the value (%s)", key,
                    b.oom ? "out of memory" : "bad type");
    }
    kv_entry *k = find_kv(w, key);
    if (k) {
        free(k->val);
    } else {
        kv_entry *p = lc_array_reserve(w->kv, sizeof *p, &w->cap_kv, (size_t)w->n_kv, 1);
        if (!p) {
            free(b.p);
            return fail(w, e, LLAMAC_E_NOMEM, "out of memory adding '%s'", key);
        }
        w->kv = p;
        k = &w->kv[w->n_kv];
        if (!(k->key = dup_str(key))) {
            free(b.p);
            return fail(w, e, LLAMAC_E_NOMEM, "out of memory adding '%s'", key);
        }
        w->n_kv++;
    }
    k->type = v->type;
    k->val = (uint8_t *)b.p;
    k->val_len = b.len;
    return LLAMAC_OK;
}

llamac_status lc_gguf_writer_set_u32(lc_gguf_writer *w, const char *key, uint32_t v, lc_err *e)
{
    lc_gguf_value val = {.type = LC_GGUF_UINT32};
    val.v.u64 = v;
    return lc_gguf_writer_set(w, key, &val, e);
}

llamac_status lc_gguf_writer_set_str(lc_gguf_writer *w, const char *key, const char *s, lc_err *e)
{
    lc_gguf_value val = {.type = LC_GGUF_STRING};
    val.v.str.ptr = s;
    val.v.str.len = strlen(s);
    return lc_gguf_writer_set(w, key, &val, e);
}

llamac_status lc_gguf_writer_copy_kv(lc_gguf_writer *w, const lc_gguf *src, lc_err *e)
{
    for (int64_t i = 0; i < src->n_kv; i++) {
        llamac_status st = lc_gguf_writer_set(w, src->kv[i].key, &src->kv[i].value, e);
        if (st)
            return st;
    }
    return LLAMAC_OK;
}

int lc_gguf_writer_remove(lc_gguf_writer *w, const char *key)
{
    kv_entry *k = find_kv(w, key);
    if (!k || w->started)
        return 0;
    free(k->key);
    free(k->val);
    int64_t i = k - w->kv;
    memmove(k, k + 1, (size_t)(w->n_kv - i - 1) * sizeof *k);
    w->n_kv--;
    return 1;
}

llamac_status lc_gguf_writer_add_tensor(lc_gguf_writer *w, const char *name, int n_dims, const int64_t ne[4],
                                        int type, lc_err *e)
{
    llamac_status st = check_open_for_meta(w, e);
    if (st)
        return st;
    int64_t blck;
    uint64_t bytes;
    if (!lc_ggml_type_geometry(type, &blck, &bytes))
        return fail(w, e, LLAMAC_E_INVALID_ARG, "tensor '%s': unknown type", name);
    if (n_dims < 1 || n_dims > 4 || strlen(name) == 0 || strlen(name) > MAX_NAME)
        return fail(w, e, LLAMAC_E_INVALID_ARG, "tensor '%.64s': bad name or dimension count", name);
    uint64_t nel = 1;
    for (int d = 0; d < n_dims; d++) {
        if (ne[d] < 1 || nel > (uint64_t)INT64_MAX / (uint64_t)ne[d])
            return fail(w, e, LLAMAC_E_INVALID_ARG, "tensor '%s': bad dimensions", name);
        nel *= (uint64_t)ne[d];
    }
    if (ne[0] % blck != 0)
        return fail(w, e, LLAMAC_E_INVALID_ARG, "tensor '%s': row length is not a multiple of the %s block size",
                    name, llamac_type_name(type));
    for (int64_t i = 0; i < w->n_t; i++)
        if (strcmp(w->t[i].name, name) == 0)
            return fail(w, e, LLAMAC_E_INVALID_ARG, "duplicate tensor name '%s'", name);
    tensor_entry *p = lc_array_reserve(w->t, sizeof *p, &w->cap_t, (size_t)w->n_t, 1);
    if (!p)
        return fail(w, e, LLAMAC_E_NOMEM, "out of memory adding '%s'", name);
    w->t = p;
    tensor_entry *t = &w->t[w->n_t];
    memset(t, 0, sizeof *t);
    if (!(t->name = dup_str(name)))
        return fail(w, e, LLAMAC_E_NOMEM, "out of memory adding '%s'", name);
    t->n_dims = n_dims;
    for (int d = 0; d < 4; d++)
        t->ne[d] = d < n_dims ? ne[d] : 1;
    t->type = type;
    t->n_bytes = nel / (uint64_t)blck * bytes;
    w->n_t++;
    return LLAMAC_OK;
}

static uint64_t align_up(uint64_t x, uint32_t a)
{
    return (x + a - 1) / a * a;
}

static llamac_status write_zeros(lc_gguf_writer *w, uint64_t n, lc_err *e)
{
    static const uint8_t zeros[256];
    while (n) {
        size_t k = n < sizeof zeros ? (size_t)n : sizeof zeros;
        if (fwrite(zeros, 1, k, w->f) != k)
            return io_fail(w, e, "padding");
        n -= k;
    }
    return LLAMAC_OK;
}

llamac_status lc_gguf_writer_begin_data(lc_gguf_writer *w, lc_err *e)
{
    llamac_status st = check_open_for_meta(w, e);
    if (st)
        return st;
    kv_entry *al = find_kv(w, "general.alignment");
    if (al) {
        uint32_t a = 0;
        if (al->type == LC_GGUF_UINT32)
            a = (uint32_t)al->val[0] | (uint32_t)al->val[1] << 8 | (uint32_t)al->val[2] << 16 |
                (uint32_t)al->val[3] << 24;
        if (a == 0 || (a & (a - 1)) != 0 || a > (1u << 20))
            return fail(w, e, LLAMAC_E_FORMAT, "%s: general.alignment must be a u32 power of two up to 1 MiB",
                        w->path);
        w->alignment = a;
    }
    uint64_t off = 0;
    for (int64_t i = 0; i < w->n_t; i++) {
        w->t[i].offset = off;
        off = align_up(off + w->t[i].n_bytes, w->alignment);
    }
    w->data_size = off;
    lc_buf b = {0};
    put_u32(&b, GGUF_MAGIC);
    put_u32(&b, GGUF_VERSION);
    put_u64(&b, (uint64_t)w->n_t);
    put_u64(&b, (uint64_t)w->n_kv);
    for (int64_t i = 0; i < w->n_kv; i++) {
        put_str(&b, w->kv[i].key, strlen(w->kv[i].key));
        put_u32(&b, w->kv[i].type);
        lc_buf_put(&b, w->kv[i].val, w->kv[i].val_len);
    }
    for (int64_t i = 0; i < w->n_t; i++) {
        const tensor_entry *t = &w->t[i];
        put_str(&b, t->name, strlen(t->name));
        put_u32(&b, (uint32_t)t->n_dims);
        for (int d = 0; d < t->n_dims; d++)
            put_u64(&b, (uint64_t)t->ne[d]);
        put_u32(&b, (uint32_t)t->type);
        put_u64(&b, t->offset);
    }
    if (b.oom) {
        free(b.p);
        return fail(w, e, LLAMAC_E_NOMEM, "out of memory building the header of '%s'", w->path);
    }
    w->data_start = align_up(b.len, w->alignment);
    size_t wrote = fwrite(b.p, 1, b.len, w->f);
    free(b.p);
    if (wrote != b.len)
        return io_fail(w, e, "header");
    w->started = 1;
    w->cur = 0;
    w->cur_written = 0;
    return write_zeros(w, w->data_start - b.len, e);
}

llamac_status lc_gguf_writer_write(lc_gguf_writer *w, const void *data, size_t n, lc_err *e)
{
    if (w->failed)
        return lc_fail(e, LLAMAC_E_INVALID_ARG, "the GGUF writer for '%s' already failed", w->path);
    if (!w->started)
        return fail(w, e, LLAMAC_E_INVALID_ARG, "%s: tensor data written before begin_data", w->path);
    const uint8_t *p = data;
    while (n > 0) {
        if (w->cur >= w->n_t)
            return fail(w, e, LLAMAC_E_INTERNAL, "%s: more tensor data than the declared tensors hold", w->path);
        tensor_entry *t = &w->t[w->cur];
        uint64_t left = t->n_bytes - w->cur_written;
        size_t k = n < left ? n : (size_t)left;
        if (fwrite(p, 1, k, w->f) != k)
            return io_fail(w, e, t->name);
        p += k;
        n -= k;
        w->cur_written += k;
        if (w->cur_written == t->n_bytes) {
            llamac_status st = write_zeros(w, align_up(t->n_bytes, w->alignment) - t->n_bytes, e);
            if (st)
                return st;
            w->cur++;
            w->cur_written = 0;
        }
    }
    return LLAMAC_OK;
}

uint64_t lc_gguf_writer_file_size(const lc_gguf_writer *w)
{
    return w->data_start + w->data_size;
}

llamac_status lc_gguf_writer_finish(lc_gguf_writer *w, lc_err *e)
{
    llamac_status st = LLAMAC_OK;
    if (w->failed)
        st = lc_fail(e, LLAMAC_E_INVALID_ARG, "the GGUF writer for '%s' already failed", w->path);
    else if (!w->started)
        st = lc_fail(e, LLAMAC_E_INTERNAL, "%s: finish before begin_data", w->path);
    else if (w->cur != w->n_t)
        st = lc_fail(e, LLAMAC_E_INTERNAL, "%s: tensor '%s' and later ones were not fully written", w->path,
                     w->t[w->cur].name);
    if (!st) {
        w->f = NULL;
        st = lc_outfile_commit(&w->out, e); /* fsyncs and renames; frees the outfile either way */
    }
    lc_gguf_writer_abort(w);
    return st;
}
