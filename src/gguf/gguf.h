/*
 * gguf.h — internal view of a GGUF file (versions 2 and 3), memory-mapped and fully validated at open.
 *
 * Layout (little-endian): magic "GGUF", u32 version, u64 n_tensors, u64 n_kv, then n_kv key/value pairs,
 * then n_tensors tensor infos (name, u32 n_dims, u64 ne[n_dims], u32 type, u64 offset), padding to
 * general.alignment (default 32), then the tensor data; each offset is relative to the data start.
 *
 * After lc_gguf_open succeeds, every structure below is consistent: strings lie inside the file, arrays have
 * the announced number of elements, every tensor has a known type, 1..4 dims >= 1 with no overflow, a size
 * that is a whole number of blocks, and data inside the file at an aligned offset. Nothing points outside the
 * mapping. Keys and tensor names are NUL-terminated copies; string *values* point into the mapping and carry
 * their length (they are not NUL-terminated).
 */
#ifndef LC_GGUF_H
#define LC_GGUF_H

#include <stddef.h>
#include <stdint.h>

#include "llamac.h"
#include "util/err.h"

enum lc_gguf_type {
    LC_GGUF_UINT8 = 0,
    LC_GGUF_INT8 = 1,
    LC_GGUF_UINT16 = 2,
    LC_GGUF_INT16 = 3,
    LC_GGUF_UINT32 = 4,
    LC_GGUF_INT32 = 5,
    LC_GGUF_FLOAT32 = 6,
    LC_GGUF_BOOL = 7,
    LC_GGUF_STRING = 8,
    LC_GGUF_ARRAY = 9,
    LC_GGUF_UINT64 = 10,
    LC_GGUF_INT64 = 11,
    LC_GGUF_FLOAT64 = 12,
    LC_GGUF_TYPE_COUNT
};

#define LC_GGUF_MAX_DEPTH 8 /* nesting limit for arrays of arrays */

typedef struct lc_gguf_str {
    const char *ptr; /* into the mapping; not NUL-terminated */
    uint64_t len;
} lc_gguf_str;

typedef struct lc_gguf_value lc_gguf_value;
struct lc_gguf_value {
    uint32_t type; /* enum lc_gguf_type */
    union {
        uint64_t u64;  /* all unsigned integer types and bool */
        int64_t i64;   /* signed integer types */
        double f64;    /* FLOAT32 and FLOAT64 */
        lc_gguf_str str;
        struct {
            uint32_t elem_type;
            uint64_t n;
            const uint8_t *data;        /* fixed-size element types: n packed elements in the mapping */
            const lc_gguf_value *items; /* STRING and ARRAY elements: n parsed values */
        } arr;
    } v;
};

typedef struct lc_gguf_kv {
    char *key;
    lc_gguf_value value;
} lc_gguf_kv;

typedef struct lc_gguf_tensor {
    char *name;
    int type;          /* ggml type number (may be one llamac cannot compute with; see lc_type_traits_get) */
    int n_dims;
    int64_t ne[4];     /* ne[0] innermost; unused dims are 1 */
    uint64_t offset;   /* absolute file offset */
    uint64_t n_bytes;
    const void *data;  /* into the mapping */
} lc_gguf_tensor;

typedef struct llamac_gguf lc_gguf;
struct llamac_gguf {
    const uint8_t *map;
    uint64_t size;
    uint32_t version;
    uint32_t alignment;
    uint64_t data_offset;
    int64_t n_kv;
    lc_gguf_kv *kv;
    int64_t n_tensors;
    lc_gguf_tensor *tensors;
    void *arena; /* owned allocations (lc_gguf_value items) */
    int borrowed; /* map is the caller's memory (lc_gguf_open_memory), not a mapping to unmap */
};

llamac_status lc_gguf_open(const char *path, lc_gguf **out, lc_err *e);
/* Parses a GGUF image in memory (for fuzzing and tests): data must outlive the returned handle, which points into
 * it. Same validation and messages as lc_gguf_open. */
llamac_status lc_gguf_open_memory(const void *data, size_t size, lc_gguf **out, lc_err *e);
void lc_gguf_close(lc_gguf *g);

const lc_gguf_value *lc_gguf_get(const lc_gguf *g, const char *key);
const lc_gguf_tensor *lc_gguf_find_tensor(const lc_gguf *g, const char *name);

/* Typed getters. They return LLAMAC_OK and set *out; LLAMAC_E_FORMAT (with a message naming the key) if the
 * key is present with an incompatible type or an out-of-range value; and, if the key is missing, LLAMAC_OK
 * with *out left untouched when `required` is 0, else LLAMAC_E_MODEL. Integers of any width convert when the
 * value fits. */
llamac_status lc_gguf_get_i64(const lc_gguf *g, const char *key, int required, int64_t *out, lc_err *e);
llamac_status lc_gguf_get_f64(const lc_gguf *g, const char *key, int required, double *out, lc_err *e);
llamac_status lc_gguf_get_bool(const lc_gguf *g, const char *key, int required, int *out, lc_err *e);
/* *out points into the mapping (not NUL-terminated). */
llamac_status lc_gguf_get_str(const lc_gguf *g, const char *key, int required, lc_gguf_str *out, lc_err *e);

/* Copies a string value into buf as a NUL-terminated string (truncated to fit). */
void lc_gguf_str_copy(lc_gguf_str s, char *buf, size_t size);

const char *lc_gguf_type_name(uint32_t type);

#endif
