/*
 * gguf.c — GGUF v2/v3 reader: mmap, parse, validate everything (see gguf.h for the invariants it leaves).
 *
 * Every read goes through a cursor that checks the remaining length first, so a truncated or hostile file
 * yields an error naming the field instead of a read past the mapping. Allocations are bounded by the file
 * size: an array of n elements is accepted only if n * (smallest encoding of an element) fits in what is left.
 */
#include "gguf/gguf.h"
#include "gguf/ggml_types.h"
#include "util/file.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define GGUF_MAGIC 0x46554747u /* "GGUF" little-endian */
#define GGUF_DEFAULT_ALIGNMENT 32
#define GGUF_MAX_NAME 1024     /* tensor name / key length limit (ggml uses 64 for names; be lenient) */

/* ---- arena: a list of owned blocks freed together ---- */
typedef struct arena_block {
    struct arena_block *next;
    max_align_t data[];
} arena_block;

static void *arena_alloc(void **arena, size_t size)
{
    if (size > SIZE_MAX - sizeof(arena_block))
        return NULL;
    arena_block *b = calloc(1, sizeof(arena_block) + size);
    if (!b)
        return NULL;
    b->next = *arena;
    *arena = b;
    return b->data;
}

static void arena_free(void *arena)
{
    arena_block *b = arena;
    while (b) {
        arena_block *n = b->next;
        free(b);
        b = n;
    }
}

const char *lc_gguf_type_name(uint32_t type)
{
    static const char *const names[LC_GGUF_TYPE_COUNT] = {"u8",  "i8",  "u16",    "i16", "u32", "i32", "f32",
                                                           "bool", "str", "array", "u64", "i64", "f64"};
    return type < LC_GGUF_TYPE_COUNT ? names[type] : "?";
}

/* ---- cursor ---- */
typedef struct cursor {
    const uint8_t *base;
    uint64_t size;
    uint64_t pos;
    lc_err *e;
    void **arena;
} cursor;

static uint64_t remaining(const cursor *c)
{
    return c->size - c->pos;
}

static llamac_status need(cursor *c, uint64_t n, const char *what)
{
    if (n > remaining(c))
        return lc_fail(c->e, LLAMAC_E_FORMAT,
                       "file truncated: %s needs %" PRIu64 " bytes at offset %" PRIu64 " but the file has %" PRIu64,
                       what, n, c->pos, remaining(c));
    return LLAMAC_OK;
}

static llamac_status rd(cursor *c, void *dst, uint64_t n, const char *what)
{
    llamac_status s = need(c, n, what);
    if (s)
        return s;
    memcpy(dst, c->base + c->pos, n);
    c->pos += n;
    return LLAMAC_OK;
}

static llamac_status rd_u32(cursor *c, uint32_t *v, const char *what)
{
    return rd(c, v, 4, what);
}

static llamac_status rd_u64(cursor *c, uint64_t *v, const char *what)
{
    return rd(c, v, 8, what);
}

static llamac_status rd_str(cursor *c, lc_gguf_str *s, const char *what)
{
    uint64_t len;
    llamac_status st = rd_u64(c, &len, what);
    if (st)
        return st;
    if (len > remaining(c))
        return lc_fail(c->e, LLAMAC_E_FORMAT,
                       "%s: string length %" PRIu64 " at offset %" PRIu64 " exceeds the %" PRIu64
                       " bytes left in the file (truncated or corrupt)",
                       what, len, c->pos - 8, remaining(c));
    s->ptr = (const char *)c->base + c->pos;
    s->len = len;
    c->pos += len;
    return LLAMAC_OK;
}

/* A NUL-terminated copy of a name/key, rejecting embedded NULs and absurd lengths. */
static llamac_status rd_name(cursor *c, char **out, const char *what)
{
    lc_gguf_str s;
    llamac_status st = rd_str(c, &s, what);
    if (st)
        return st;
    if (s.len == 0 || s.len > GGUF_MAX_NAME)
        return lc_fail(c->e, LLAMAC_E_FORMAT, "%s: length %" PRIu64 " is not in 1..%d", what, s.len, GGUF_MAX_NAME);
    if (memchr(s.ptr, 0, s.len))
        return lc_fail(c->e, LLAMAC_E_FORMAT, "%s: contains a NUL byte", what);
    char *p = arena_alloc(c->arena, s.len + 1);
    if (!p)
        return lc_fail(c->e, LLAMAC_E_NOMEM, "out of memory reading %s", what);
    memcpy(p, s.ptr, s.len);
    p[s.len] = 0;
    *out = p;
    return LLAMAC_OK;
}

static uint64_t scalar_size(uint32_t t)
{
    switch (t) {
    case LC_GGUF_UINT8: case LC_GGUF_INT8: case LC_GGUF_BOOL: return 1;
    case LC_GGUF_UINT16: case LC_GGUF_INT16: return 2;
    case LC_GGUF_UINT32: case LC_GGUF_INT32: case LC_GGUF_FLOAT32: return 4;
    case LC_GGUF_UINT64: case LC_GGUF_INT64: case LC_GGUF_FLOAT64: return 8;
    default: return 0;
    }
}

/* Decodes a fixed-size scalar at p into v. */
static void decode_scalar(uint32_t t, const uint8_t *p, lc_gguf_value *v)
{
    v->type = t;
    switch (t) {
    case LC_GGUF_UINT8: v->v.u64 = p[0]; break;
    case LC_GGUF_BOOL: v->v.u64 = p[0]; break;
    case LC_GGUF_INT8: v->v.i64 = (int8_t)p[0]; break;
    case LC_GGUF_UINT16: { uint16_t x; memcpy(&x, p, 2); v->v.u64 = x; break; }
    case LC_GGUF_INT16: { int16_t x; memcpy(&x, p, 2); v->v.i64 = x; break; }
    case LC_GGUF_UINT32: { uint32_t x; memcpy(&x, p, 4); v->v.u64 = x; break; }
    case LC_GGUF_INT32: { int32_t x; memcpy(&x, p, 4); v->v.i64 = x; break; }
    case LC_GGUF_FLOAT32: { float x; memcpy(&x, p, 4); v->v.f64 = x; break; }
    case LC_GGUF_UINT64: { uint64_t x; memcpy(&x, p, 8); v->v.u64 = x; break; }
    case LC_GGUF_INT64: { int64_t x; memcpy(&x, p, 8); v->v.i64 = x; break; }
    case LC_GGUF_FLOAT64: { double x; memcpy(&x, p, 8); v->v.f64 = x; break; }
    default: break;
    }
}

static llamac_status rd_value(cursor *c, uint32_t type, lc_gguf_value *v, int depth, const char *key);

static llamac_status rd_array(cursor *c, lc_gguf_value *v, int depth, const char *key)
{
    uint32_t et;
    uint64_t n;
    llamac_status st;
    if ((st = rd_u32(c, &et, "array element type")) || (st = rd_u64(c, &n, "array length")))
        return st;
    if (et >= LC_GGUF_TYPE_COUNT)
        return lc_fail(c->e, LLAMAC_E_FORMAT, "key '%s': unknown array element type %u", key, et);
    if (depth >= LC_GGUF_MAX_DEPTH)
        return lc_fail(c->e, LLAMAC_E_FORMAT, "key '%s': arrays nested deeper than %d", key, LC_GGUF_MAX_DEPTH);
    v->type = LC_GGUF_ARRAY;
    v->v.arr.elem_type = et;
    v->v.arr.n = n;
    v->v.arr.data = NULL;
    v->v.arr.items = NULL;
    uint64_t es = scalar_size(et);
    if (es) {
        if (n > remaining(c) / es)
            return lc_fail(c->e, LLAMAC_E_FORMAT,
                           "key '%s': array of %" PRIu64 " %s elements does not fit in the %" PRIu64
                           " bytes left in the file (truncated or corrupt)",
                           key, n, lc_gguf_type_name(et), remaining(c));
        v->v.arr.data = c->base + c->pos;
        if (et == LC_GGUF_BOOL) {
            for (uint64_t i = 0; i < n; i++)
                if (c->base[c->pos + i] > 1)
                    return lc_fail(c->e, LLAMAC_E_FORMAT, "key '%s': bool element %" PRIu64 " is %u, not 0 or 1",
                                   key, i, c->base[c->pos + i]);
        }
        c->pos += n * es;
        return LLAMAC_OK;
    }
    /* strings need >= 8 bytes each, arrays >= 12 */
    uint64_t min = et == LC_GGUF_STRING ? 8 : 12;
    if (n > remaining(c) / min)
        return lc_fail(c->e, LLAMAC_E_FORMAT,
                       "key '%s': array of %" PRIu64 " %s elements does not fit in the %" PRIu64
                       " bytes left in the file (truncated or corrupt)",
                       key, n, lc_gguf_type_name(et), remaining(c));
    if (n == 0)
        return LLAMAC_OK;
    lc_gguf_value *items = arena_alloc(c->arena, n * sizeof(lc_gguf_value));
    if (!items)
        return lc_fail(c->e, LLAMAC_E_NOMEM, "out of memory for key '%s' (%" PRIu64 " elements)", key, n);
    for (uint64_t i = 0; i < n; i++)
        if ((st = rd_value(c, et, &items[i], depth + 1, key)))
            return st;
    v->v.arr.items = items;
    return LLAMAC_OK;
}

static llamac_status rd_value(cursor *c, uint32_t type, lc_gguf_value *v, int depth, const char *key)
{
    if (type >= LC_GGUF_TYPE_COUNT)
        return lc_fail(c->e, LLAMAC_E_FORMAT, "key '%s': unknown value type %u", key, type);
    if (type == LC_GGUF_STRING) {
        v->type = type;
        return rd_str(c, &v->v.str, key);
    }
    if (type == LC_GGUF_ARRAY)
        return rd_array(c, v, depth, key);
    uint64_t es = scalar_size(type);
    llamac_status st = need(c, es, key);
    if (st)
        return st;
    decode_scalar(type, c->base + c->pos, v);
    if (type == LC_GGUF_BOOL && v->v.u64 > 1)
        return lc_fail(c->e, LLAMAC_E_FORMAT, "key '%s': bool value is %" PRIu64 ", not 0 or 1", key, v->v.u64);
    c->pos += es;
    return LLAMAC_OK;
}

/* ---- tensors ---- */
static llamac_status rd_tensor_info(cursor *c, lc_gguf_tensor *t, int64_t idx)
{
    char what[64];
    snprintf(what, sizeof what, "tensor %" PRId64 " name", idx);
    llamac_status st = rd_name(c, &t->name, what);
    if (st)
        return st;
    uint32_t n_dims;
    if ((st = rd_u32(c, &n_dims, "tensor n_dims")))
        return st;
    if (n_dims < 1 || n_dims > 4)
        return lc_fail(c->e, LLAMAC_E_FORMAT, "tensor '%s': n_dims is %u, must be 1..4", t->name, n_dims);
    t->n_dims = (int)n_dims;
    uint64_t nel = 1;
    for (int d = 0; d < 4; d++)
        t->ne[d] = 1;
    for (uint32_t d = 0; d < n_dims; d++) {
        uint64_t ne;
        if ((st = rd_u64(c, &ne, "tensor dimension")))
            return st;
        if (ne == 0 || ne > (uint64_t)INT64_MAX)
            return lc_fail(c->e, LLAMAC_E_FORMAT, "tensor '%s': dimension %u is %" PRIu64 "", t->name, d, ne);
        if (nel > (uint64_t)INT64_MAX / ne)
            return lc_fail(c->e, LLAMAC_E_FORMAT, "tensor '%s': element count overflows", t->name);
        nel *= ne;
        t->ne[d] = (int64_t)ne;
    }
    uint32_t type;
    if ((st = rd_u32(c, &type, "tensor type")))
        return st;
    int64_t blck;
    uint64_t bytes;
    if (!lc_ggml_type_geometry((int)type, &blck, &bytes))
        return lc_fail(c->e, LLAMAC_E_FORMAT, "tensor '%s': unknown tensor type %u", t->name, type);
    t->type = (int)type;
    if (t->ne[0] % blck != 0)
        return lc_fail(c->e, LLAMAC_E_FORMAT,
                       "tensor '%s': row length %" PRId64 " is not a multiple of the %s block size %" PRId64,
                       t->name, t->ne[0], llamac_type_name((int)type), blck);
    uint64_t nblocks = nel / (uint64_t)blck;
    if (nblocks > UINT64_MAX / bytes)
        return lc_fail(c->e, LLAMAC_E_FORMAT, "tensor '%s': byte size overflows", t->name);
    t->n_bytes = nblocks * bytes;
    return rd_u64(c, &t->offset, "tensor offset");
}

static int cmp_offset(const void *a, const void *b)
{
    const lc_gguf_tensor *x = *(const lc_gguf_tensor *const *)a, *y = *(const lc_gguf_tensor *const *)b;
    return x->offset < y->offset ? -1 : x->offset > y->offset;
}

static llamac_status validate_tensors(lc_gguf *g, lc_err *e)
{
    uint64_t data_size = g->size - g->data_offset;
    for (int64_t i = 0; i < g->n_tensors; i++) {
        lc_gguf_tensor *t = &g->tensors[i];
        if (t->offset % g->alignment != 0)
            return lc_fail(e, LLAMAC_E_FORMAT, "tensor '%s': offset %" PRIu64 " is not a multiple of alignment %u",
                           t->name, t->offset, g->alignment);
        if (t->offset > data_size || t->n_bytes > data_size - t->offset)
            return lc_fail(e, LLAMAC_E_FORMAT,
                           "tensor '%s': data [%" PRIu64 ", +%" PRIu64 ") lies outside the file's %" PRIu64
                           " data bytes (file truncated?)",
                           t->name, t->offset, t->n_bytes, data_size);
        t->offset += g->data_offset;
        t->data = g->map + t->offset;
    }
    if (g->n_tensors < 2)
        return LLAMAC_OK;
    /* duplicate names and overlapping data: sort pointers by offset / by name */
    lc_gguf_tensor **by = malloc((size_t)g->n_tensors * sizeof *by);
    if (!by)
        return lc_fail(e, LLAMAC_E_NOMEM, "out of memory validating tensors");
    for (int64_t i = 0; i < g->n_tensors; i++)
        by[i] = &g->tensors[i];
    qsort(by, (size_t)g->n_tensors, sizeof *by, cmp_offset);
    llamac_status st = LLAMAC_OK;
    for (int64_t i = 1; i < g->n_tensors && !st; i++)
        if (by[i - 1]->offset + by[i - 1]->n_bytes > by[i]->offset)
            st = lc_fail(e, LLAMAC_E_FORMAT, "tensors '%s' and '%s' overlap in the file", by[i - 1]->name,
                         by[i]->name);
    free(by);
    if (st)
        return st;
    return LLAMAC_OK;
}

static int cmp_str_ptr(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Finds a repeated string among n (sorting a copy of the pointers); returns it or NULL. */
static const char *find_duplicate(const char **names, int64_t n)
{
    qsort(names, (size_t)n, sizeof *names, cmp_str_ptr);
    for (int64_t i = 1; i < n; i++)
        if (strcmp(names[i - 1], names[i]) == 0)
            return names[i];
    return NULL;
}

static llamac_status check_duplicates(lc_gguf *g, lc_err *e)
{
    int64_t n = g->n_kv > g->n_tensors ? g->n_kv : g->n_tensors;
    const char **names = malloc((size_t)(n ? n : 1) * sizeof *names);
    if (!names)
        return lc_fail(e, LLAMAC_E_NOMEM, "out of memory validating names");
    for (int64_t i = 0; i < g->n_kv; i++)
        names[i] = g->kv[i].key;
    const char *dup = find_duplicate(names, g->n_kv);
    llamac_status st = LLAMAC_OK;
    if (dup) {
        st = lc_fail(e, LLAMAC_E_FORMAT, "duplicate metadata key '%s'", dup);
    } else {
        for (int64_t i = 0; i < g->n_tensors; i++)
            names[i] = g->tensors[i].name;
        if ((dup = find_duplicate(names, g->n_tensors)))
            st = lc_fail(e, LLAMAC_E_FORMAT, "duplicate tensor name '%s'", dup);
    }
    free(names);
    return st;
}

#define GGUF_MAX_TENSORS 65536
#define GGUF_MAX_KV 65536

static llamac_status parse(lc_gguf *g, lc_err *e)
{
    cursor c = {g->map, g->size, 0, e, &g->arena};
    uint32_t magic;
    llamac_status st;
    if (g->size < 4)
        return lc_fail(e, LLAMAC_E_FORMAT, "not a GGUF file: only %" PRIu64 " bytes", g->size);
    if ((st = rd_u32(&c, &magic, "magic")))
        return st;
    if (magic != GGUF_MAGIC)
        return lc_fail(e, LLAMAC_E_FORMAT, "not a GGUF file: bad magic 0x%08x (expected \"GGUF\")", magic);
    if ((st = rd_u32(&c, &g->version, "version")))
        return st;
    if (g->version == 1)
        return lc_fail(e, LLAMAC_E_UNSUPPORTED, "GGUF version 1 is not supported (only 2 and 3); re-convert the model");
    if (g->version > 0xffff && (g->version & 0xffff) == 0)
        return lc_fail(e, LLAMAC_E_UNSUPPORTED, "big-endian GGUF files are not supported");
    if (g->version != 2 && g->version != 3)
        return lc_fail(e, LLAMAC_E_UNSUPPORTED, "unsupported GGUF version %u (supported: 2, 3)", g->version);
    uint64_t n_tensors, n_kv;
    if ((st = rd_u64(&c, &n_tensors, "tensor count")) || (st = rd_u64(&c, &n_kv, "metadata count")))
        return st;
    if (n_tensors > GGUF_MAX_TENSORS)
        return lc_fail(e, LLAMAC_E_FORMAT, "absurd tensor count %" PRIu64 " (at most %d)", n_tensors, GGUF_MAX_TENSORS);
    if (n_kv > GGUF_MAX_KV)
        return lc_fail(e, LLAMAC_E_FORMAT, "absurd metadata count %" PRIu64 " (at most %d)", n_kv, GGUF_MAX_KV);
    /* smallest encodings: a metadata entry 13 bytes, a tensor info 24 (both counts are <= 65536 here) */
    if (n_kv * 13 + n_tensors * 24 > remaining(&c))
        return lc_fail(e, LLAMAC_E_FORMAT,
                       "file truncated: %" PRIu64 " metadata entries and %" PRIu64 " tensor infos cannot fit in the %"
                       PRIu64 " bytes after the header",
                       n_kv, n_tensors, remaining(&c));
    g->kv = arena_alloc(&g->arena, (n_kv ? n_kv : 1) * sizeof(lc_gguf_kv));
    g->tensors = arena_alloc(&g->arena, (n_tensors ? n_tensors : 1) * sizeof(lc_gguf_tensor));
    if (!g->kv || !g->tensors)
        return lc_fail(e, LLAMAC_E_NOMEM, "out of memory for the GGUF tables");
    for (uint64_t i = 0; i < n_kv; i++) {
        lc_gguf_kv *kv = &g->kv[i];
        uint32_t type;
        char what[64];
        snprintf(what, sizeof what, "metadata key %" PRIu64, i);
        if ((st = rd_name(&c, &kv->key, what)) || (st = rd_u32(&c, &type, "metadata value type")))
            return st;
        if ((st = rd_value(&c, type, &kv->value, 0, kv->key)))
            return st;
        g->n_kv = (int64_t)i + 1;
    }
    g->alignment = GGUF_DEFAULT_ALIGNMENT;
    const lc_gguf_value *al = lc_gguf_get(g, "general.alignment");
    if (al) {
        if (al->type != LC_GGUF_UINT32)
            return lc_fail(e, LLAMAC_E_FORMAT, "general.alignment has type %s, expected u32",
                           lc_gguf_type_name(al->type));
        if (al->v.u64 == 0 || (al->v.u64 & (al->v.u64 - 1)) != 0 || al->v.u64 > (1u << 20))
            return lc_fail(e, LLAMAC_E_FORMAT, "general.alignment is %" PRIu64 ", not a power of two <= 1 MiB",
                           al->v.u64);
        g->alignment = (uint32_t)al->v.u64;
    }
    for (uint64_t i = 0; i < n_tensors; i++) {
        if ((st = rd_tensor_info(&c, &g->tensors[i], (int64_t)i)))
            return st;
        g->n_tensors = (int64_t)i + 1;
    }
    uint64_t data = (c.pos + g->alignment - 1) / g->alignment * g->alignment;
    if (n_tensors > 0 && data > g->size)
        return lc_fail(e, LLAMAC_E_FORMAT, "file truncated: tensor data would start at %" PRIu64 " past the end (%" PRIu64 ")",
                       data, g->size);
    g->data_offset = data > g->size ? g->size : data;
    if ((st = check_duplicates(g, e)))
        return st;
    return validate_tensors(g, e);
}

llamac_status lc_gguf_open(const char *path, lc_gguf **out, lc_err *e)
{
    *out = NULL;
    int fd;
    llamac_status st = lc_open_regular(path, "GGUF file", &fd, e);
    if (st)
        return st;
    struct stat sb;
    if (fstat(fd, &sb) != 0) {
        int err = errno;
        close(fd);
        return lc_fail(e, LLAMAC_E_IO, "cannot stat '%s': %s", path, strerror(err));
    }
    lc_gguf *g = calloc(1, sizeof *g);
    if (!g) {
        close(fd);
        return lc_fail(e, LLAMAC_E_NOMEM, "out of memory");
    }
    g->size = (uint64_t)sb.st_size;
    if (g->size == 0) {
        close(fd);
        free(g);
        return lc_fail(e, LLAMAC_E_FORMAT, "'%s' is empty, not a GGUF file", path);
    }
    void *m = mmap(NULL, (size_t)g->size, PROT_READ, MAP_PRIVATE, fd, 0);
    int mmap_errno = errno;
    close(fd);
    if (m == MAP_FAILED) {
        free(g);
        return lc_fail(e, LLAMAC_E_IO, "cannot map '%s': %s", path, strerror(mmap_errno));
    }
    g->map = m;
    st = parse(g, e);
    if (st) {
        char inner[sizeof e->msg];
        snprintf(inner, sizeof inner, "%s", e->msg);
        lc_fail(e, st, "%s: %s", path, inner);
        lc_gguf_close(g);
        return st;
    }
    *out = g;
    return LLAMAC_OK;
}

llamac_status lc_gguf_open_memory(const void *data, size_t size, lc_gguf **out, lc_err *e)
{
    *out = NULL;
    if (!data || size == 0)
        return lc_fail(e, LLAMAC_E_FORMAT, "empty input, not a GGUF file");
    lc_gguf *g = calloc(1, sizeof *g);
    if (!g)
        return lc_fail(e, LLAMAC_E_NOMEM, "out of memory");
    g->map = data;
    g->size = size;
    g->borrowed = 1;
    llamac_status st = parse(g, e);
    if (st) {
        lc_gguf_close(g);
        return st;
    }
    *out = g;
    return LLAMAC_OK;
}

void lc_gguf_close(lc_gguf *g)
{
    if (!g)
        return;
    if (g->map && !g->borrowed)
        munmap((void *)g->map, (size_t)g->size);
    arena_free(g->arena);
    free(g);
}

const lc_gguf_value *lc_gguf_get(const lc_gguf *g, const char *key)
{
    for (int64_t i = 0; i < g->n_kv; i++)
        if (strcmp(g->kv[i].key, key) == 0)
            return &g->kv[i].value;
    return NULL;
}

const lc_gguf_tensor *lc_gguf_find_tensor(const lc_gguf *g, const char *name)
{
    for (int64_t i = 0; i < g->n_tensors; i++)
        if (strcmp(g->tensors[i].name, name) == 0)
            return &g->tensors[i];
    return NULL;
}

static int is_unsigned(uint32_t t)
{
    return t == LC_GGUF_UINT8 || t == LC_GGUF_UINT16 || t == LC_GGUF_UINT32 || t == LC_GGUF_UINT64;
}

static int is_signed(uint32_t t)
{
    return t == LC_GGUF_INT8 || t == LC_GGUF_INT16 || t == LC_GGUF_INT32 || t == LC_GGUF_INT64;
}

static llamac_status missing(const char *key, int required, lc_err *e)
{
    return required ? lc_fail(e, LLAMAC_E_MODEL, "required metadata key '%s' is missing", key) : LLAMAC_OK;
}

llamac_status lc_gguf_get_i64(const lc_gguf *g, const char *key, int required, int64_t *out, lc_err *e)
{
    const lc_gguf_value *v = lc_gguf_get(g, key);
    if (!v)
        return missing(key, required, e);
    if (is_unsigned(v->type)) {
        if (v->v.u64 > (uint64_t)INT64_MAX)
            return lc_fail(e, LLAMAC_E_FORMAT, "metadata '%s': value %" PRIu64 " is out of range", key, v->v.u64);
        *out = (int64_t)v->v.u64;
    } else if (is_signed(v->type)) {
        *out = v->v.i64;
    } else {
        return lc_fail(e, LLAMAC_E_FORMAT, "metadata '%s' has type %s, expected an integer", key,
                       lc_gguf_type_name(v->type));
    }
    return LLAMAC_OK;
}

llamac_status lc_gguf_get_f64(const lc_gguf *g, const char *key, int required, double *out, lc_err *e)
{
    const lc_gguf_value *v = lc_gguf_get(g, key);
    if (!v)
        return missing(key, required, e);
    if (v->type == LC_GGUF_FLOAT32 || v->type == LC_GGUF_FLOAT64)
        *out = v->v.f64;
    else if (is_unsigned(v->type))
        *out = (double)v->v.u64;
    else if (is_signed(v->type))
        *out = (double)v->v.i64;
    else
        return lc_fail(e, LLAMAC_E_FORMAT, "metadata '%s' has type %s, expected a number", key,
                       lc_gguf_type_name(v->type));
    return LLAMAC_OK;
}

llamac_status lc_gguf_get_bool(const lc_gguf *g, const char *key, int required, int *out, lc_err *e)
{
    const lc_gguf_value *v = lc_gguf_get(g, key);
    if (!v)
        return missing(key, required, e);
    if (v->type != LC_GGUF_BOOL)
        return lc_fail(e, LLAMAC_E_FORMAT, "metadata '%s' has type %s, expected bool", key,
                       lc_gguf_type_name(v->type));
    *out = (int)v->v.u64;
    return LLAMAC_OK;
}

llamac_status lc_gguf_get_str(const lc_gguf *g, const char *key, int required, lc_gguf_str *out, lc_err *e)
{
    const lc_gguf_value *v = lc_gguf_get(g, key);
    if (!v)
        return missing(key, required, e);
    if (v->type != LC_GGUF_STRING)
        return lc_fail(e, LLAMAC_E_FORMAT, "metadata '%s' has type %s, expected string", key,
                       lc_gguf_type_name(v->type));
    *out = v->v.str;
    return LLAMAC_OK;
}

void lc_gguf_str_copy(lc_gguf_str s, char *buf, size_t size)
{
    if (!size)
        return;
    size_t n = s.len < size - 1 ? (size_t)s.len : size - 1;
    memcpy(buf, s.ptr, n);
    buf[n] = 0;
}
