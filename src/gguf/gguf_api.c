/*
 * gguf_api.c — the public read-only GGUF view (llamac_gguf_*), including a one-line rendering of any
 * metadata value for `llamac info`.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "gguf/gguf.h"

llamac_status llamac_gguf_open(const char *path, llamac_gguf **out, char *err, size_t err_size)
{
    lc_err e = {{0}};
    if (out)
        *out = NULL;
    llamac_status st = !path || !out ? lc_fail(&e, LLAMAC_E_INVALID_ARG, "llamac_gguf_open: no path or no output")
                                     : lc_gguf_open(path, out, &e);
    if (st)
        lc_err_copy(&e, err, err_size);
    return st;
}

void llamac_gguf_close(llamac_gguf *g)
{
    lc_gguf_close(g);
}

uint32_t llamac_gguf_version(const llamac_gguf *g)
{
    return g ? g->version : 0;
}

int64_t llamac_gguf_n_kv(const llamac_gguf *g)
{
    return g ? g->n_kv : 0;
}

const char *llamac_gguf_kv_key(const llamac_gguf *g, int64_t i)
{
    return g && i >= 0 && i < g->n_kv ? g->kv[i].key : NULL;
}

int64_t llamac_gguf_n_tensors(const llamac_gguf *g)
{
    return g ? g->n_tensors : 0;
}

llamac_status llamac_gguf_tensor(const llamac_gguf *g, int64_t i, llamac_tensor_info *out)
{
    if (!g || i < 0 || i >= g->n_tensors || !out)
        return LLAMAC_E_INVALID_ARG;
    const lc_gguf_tensor *t = &g->tensors[i];
    out->name = t->name;
    out->type = t->type;
    out->n_dims = t->n_dims;
    memcpy(out->ne, t->ne, sizeof out->ne);
    out->offset = t->offset;
    out->n_bytes = t->n_bytes;
    return LLAMAC_OK;
}

/* ---- rendering ---- */
typedef struct sbuf {
    char *p;
    size_t cap, len;
} sbuf;

#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
static void sb_printf(sbuf *b, const char *fmt, ...)
{
    if (b->len + 1 >= b->cap)
        return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    b->len += (size_t)n;
    if (b->len >= b->cap)
        b->len = b->cap - 1;
}

/* A string value, quoted, with control characters escaped and long strings shortened. */
static void sb_str(sbuf *b, lc_gguf_str s)
{
    const uint64_t max = 80;
    sb_printf(b, "\"");
    for (uint64_t i = 0; i < s.len && i < max; i++) {
        unsigned char ch = (unsigned char)s.ptr[i];
        if (ch == '"' || ch == '\\')
            sb_printf(b, "\\%c", ch);
        else if (ch == '\n')
            sb_printf(b, "\\n");
        else if (ch < 0x20 || ch == 0x7f)
            sb_printf(b, "\\x%02x", ch);
        else
            sb_printf(b, "%c", ch);
    }
    sb_printf(b, "\"");
    if (s.len > max)
        sb_printf(b, "...(%" PRIu64 " bytes)", s.len);
}

static void sb_value(sbuf *b, const lc_gguf_value *v, int max_items);

static void sb_scalar_at(sbuf *b, uint32_t et, const uint8_t *p)
{
    lc_gguf_value tmp;
    memset(&tmp, 0, sizeof tmp);
    tmp.type = et;
    switch (et) {
    case LC_GGUF_UINT8: tmp.v.u64 = p[0]; break;
    case LC_GGUF_BOOL: tmp.v.u64 = p[0]; break;
    case LC_GGUF_INT8: tmp.v.i64 = (int8_t)p[0]; break;
    case LC_GGUF_UINT16: { uint16_t x; memcpy(&x, p, 2); tmp.v.u64 = x; break; }
    case LC_GGUF_INT16: { int16_t x; memcpy(&x, p, 2); tmp.v.i64 = x; break; }
    case LC_GGUF_UINT32: { uint32_t x; memcpy(&x, p, 4); tmp.v.u64 = x; break; }
    case LC_GGUF_INT32: { int32_t x; memcpy(&x, p, 4); tmp.v.i64 = x; break; }
    case LC_GGUF_FLOAT32: { float x; memcpy(&x, p, 4); tmp.v.f64 = x; break; }
    case LC_GGUF_UINT64: { uint64_t x; memcpy(&x, p, 8); tmp.v.u64 = x; break; }
    case LC_GGUF_INT64: { int64_t x; memcpy(&x, p, 8); tmp.v.i64 = x; break; }
    case LC_GGUF_FLOAT64: { double x; memcpy(&x, p, 8); tmp.v.f64 = x; break; }
    default: break;
    }
    sb_value(b, &tmp, 0);
}

static size_t elem_size(uint32_t et)
{
    switch (et) {
    case LC_GGUF_UINT8: case LC_GGUF_INT8: case LC_GGUF_BOOL: return 1;
    case LC_GGUF_UINT16: case LC_GGUF_INT16: return 2;
    case LC_GGUF_UINT32: case LC_GGUF_INT32: case LC_GGUF_FLOAT32: return 4;
    default: return 8;
    }
}

static void sb_value(sbuf *b, const lc_gguf_value *v, int max_items)
{
    switch (v->type) {
    case LC_GGUF_UINT8: case LC_GGUF_UINT16: case LC_GGUF_UINT32: case LC_GGUF_UINT64:
        sb_printf(b, "%" PRIu64, v->v.u64);
        break;
    case LC_GGUF_INT8: case LC_GGUF_INT16: case LC_GGUF_INT32: case LC_GGUF_INT64:
        sb_printf(b, "%" PRId64, v->v.i64);
        break;
    case LC_GGUF_FLOAT32: case LC_GGUF_FLOAT64:
        sb_printf(b, "%g", v->v.f64);
        break;
    case LC_GGUF_BOOL:
        sb_printf(b, "%s", v->v.u64 ? "true" : "false");
        break;
    case LC_GGUF_STRING:
        sb_str(b, v->v.str);
        break;
    case LC_GGUF_ARRAY: {
        uint64_t n = v->v.arr.n;
        sb_printf(b, "%s[%" PRIu64 "] [", lc_gguf_type_name(v->v.arr.elem_type), n);
        uint64_t shown = n < (uint64_t)max_items ? n : (uint64_t)max_items;
        for (uint64_t i = 0; i < shown; i++) {
            if (i)
                sb_printf(b, ", ");
            if (v->v.arr.items)
                sb_value(b, &v->v.arr.items[i], max_items);
            else
                sb_scalar_at(b, v->v.arr.elem_type, v->v.arr.data + i * elem_size(v->v.arr.elem_type));
        }
        if (shown < n)
            sb_printf(b, "%s...", shown ? ", " : "");
        sb_printf(b, "]");
        break;
    }
    default:
        sb_printf(b, "?");
    }
}

size_t llamac_gguf_kv_format(const llamac_gguf *g, int64_t i, char *buf, size_t buf_size, int max_items)
{
    if (!buf || buf_size == 0)
        return 0;
    buf[0] = 0;
    if (!g || i < 0 || i >= g->n_kv)
        return 0;
    sbuf b = {buf, buf_size, 0};
    sb_value(&b, &g->kv[i].value, max_items < 0 ? 0 : max_items);
    return b.len;
}
