/*
 * test_gguf_write.c — the GGUF writer: every metadata value type (nested arrays included) and tensor data
 * written in awkward chunks read back identically through the GGUF reader; copy_kv reproduces a file's
 * metadata exactly; replacing/removing keys; alignment from general.alignment; and the failure contract —
 * nothing under the final name until finish() succeeds, the temporary file removed on abort and on every
 * failed finish.
 */
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gguf/gguf.h"
#include "gguf/gguf_write.h"
#include "check.h"

static char g_dir[512];

static const char *path_in(const char *name)
{
    static char buf[4][700];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", g_dir, name);
    return buf[k];
}

static int exists(const char *p)
{
    struct stat sb;
    return stat(p, &sb) == 0;
}

static int count_temp_files(void)
{
    DIR *d = opendir(g_dir);
    int n = 0;
    struct dirent *de;
    while (d && (de = readdir(d)))
        n += strstr(de->d_name, ".tmp-") != NULL;
    if (d)
        closedir(d);
    return n;
}

/* ---- values ---- */
static lc_gguf_value scalar(uint32_t type, uint64_t u, int64_t i, double f)
{
    lc_gguf_value v = {.type = type};
    if (type == LC_GGUF_FLOAT32 || type == LC_GGUF_FLOAT64)
        v.v.f64 = f;
    else if (type == LC_GGUF_INT8 || type == LC_GGUF_INT16 || type == LC_GGUF_INT32 || type == LC_GGUF_INT64)
        v.v.i64 = i;
    else
        v.v.u64 = u;
    return v;
}

static int value_eq(const lc_gguf_value *a, const lc_gguf_value *b)
{
    if (a->type != b->type)
        return 0;
    switch (a->type) {
    case LC_GGUF_FLOAT32: case LC_GGUF_FLOAT64: return a->v.f64 == b->v.f64;
    case LC_GGUF_INT8: case LC_GGUF_INT16: case LC_GGUF_INT32: case LC_GGUF_INT64: return a->v.i64 == b->v.i64;
    case LC_GGUF_STRING: return a->v.str.len == b->v.str.len && memcmp(a->v.str.ptr, b->v.str.ptr, a->v.str.len) == 0;
    case LC_GGUF_ARRAY: {
        if (a->v.arr.elem_type != b->v.arr.elem_type || a->v.arr.n != b->v.arr.n)
            return 0;
        if (a->v.arr.items || b->v.arr.items) {
            for (uint64_t i = 0; i < a->v.arr.n; i++)
                if (!value_eq(&a->v.arr.items[i], &b->v.arr.items[i]))
                    return 0;
            return 1;
        }
        static const int size[LC_GGUF_TYPE_COUNT] = {1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8};
        return a->v.arr.n == 0 || memcmp(a->v.arr.data, b->v.arr.data, a->v.arr.n * size[a->v.arr.elem_type]) == 0;
    }
    default: return a->v.u64 == b->v.u64;
    }
}

static const lc_gguf_value *get(const lc_gguf *g, const char *key)
{
    return lc_gguf_get(g, key);
}

/* Writes a file with every value type and three tensors; returns the tensor data for comparison. */
static uint8_t g_data[3][4096];
static const int64_t g_ne[3][4] = {{64, 1, 1, 1}, {64, 3, 1, 1}, {256, 2, 1, 1}};
static const int g_types[3] = {LLAMAC_TYPE_F32, LLAMAC_TYPE_Q8_0, LLAMAC_TYPE_Q4_K};
static const size_t g_bytes[3] = {256, 3 * 2 * 34, 2 * 144};

static void write_all_types(const char *path)
{
    lc_err e = {{0}};
    lc_gguf_writer *w;
    CHECK(lc_gguf_writer_open(path, &w, &e) == LLAMAC_OK, "open: %s", e.msg);
    if (!w)
        return;
    const char *tmp = lc_gguf_writer_temp_path(w);
    /* an unnamed O_TMPFILE (no name at all until finish), or where the filesystem lacks it a hidden file */
    CHECK(tmp ? strstr(tmp, g_dir) == tmp && strstr(tmp, "/.") && exists(tmp) : count_temp_files() == 0,
          "temp file '%s' not hidden in dir", tmp ? tmp : "");
    CHECK(!exists(path), "final name exists before finish");
    static const uint32_t types[] = {LC_GGUF_UINT8,  LC_GGUF_INT8,  LC_GGUF_UINT16, LC_GGUF_INT16, LC_GGUF_UINT32,
                                     LC_GGUF_INT32,  LC_GGUF_FLOAT32, LC_GGUF_BOOL, LC_GGUF_UINT64, LC_GGUF_INT64,
                                     LC_GGUF_FLOAT64};
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
        char key[64];
        snprintf(key, sizeof key, "t.scalar.%s", lc_gguf_type_name(types[i]));
        lc_gguf_value v = scalar(types[i], types[i] == LC_GGUF_BOOL ? 1 : 0xF0F0F0F0F0F0F0F0ull >> (60 - 4 * i),
                                 -(int64_t)(i + 1) * 3, types[i] == LC_GGUF_FLOAT32 ? -1.5 : 3.141592653589793);
        if (types[i] == LC_GGUF_UINT8)
            v.v.u64 = 0xAB;
        if (types[i] == LC_GGUF_UINT16)
            v.v.u64 = 0xBEEF;
        if (types[i] == LC_GGUF_UINT32)
            v.v.u64 = 0xDEADBEEF;
        CHECK(lc_gguf_writer_set(w, key, &v, &e) == LLAMAC_OK, "set %s: %s", key, e.msg);
    }
    CHECK(lc_gguf_writer_set_str(w, "t.string", "h\xc3\xa9llo \"world\"\n", &e) == LLAMAC_OK, "set string");
    CHECK(lc_gguf_writer_set_str(w, "t.empty", "", &e) == LLAMAC_OK, "set empty string");
    /* arrays: fixed-size elements, strings, nested arrays (array of arrays of strings), empty */
    static const int16_t i16s[5] = {-1, 2, -300, 4000, -32768};
    lc_gguf_value arr = {.type = LC_GGUF_ARRAY};
    arr.v.arr.elem_type = LC_GGUF_INT16;
    arr.v.arr.n = 5;
    arr.v.arr.data = (const uint8_t *)i16s;
    CHECK(lc_gguf_writer_set(w, "t.array.i16", &arr, &e) == LLAMAC_OK, "set i16 array");
    lc_gguf_value strs[3] = {{.type = LC_GGUF_STRING}, {.type = LC_GGUF_STRING}, {.type = LC_GGUF_STRING}};
    const char *words[3] = {"alpha", "", "\xf0\x9f\xa6\x99"};
    for (int i = 0; i < 3; i++) {
        strs[i].v.str.ptr = words[i];
        strs[i].v.str.len = strlen(words[i]);
    }
    lc_gguf_value sarr = {.type = LC_GGUF_ARRAY};
    sarr.v.arr.elem_type = LC_GGUF_STRING;
    sarr.v.arr.n = 3;
    sarr.v.arr.items = strs;
    CHECK(lc_gguf_writer_set(w, "t.array.str", &sarr, &e) == LLAMAC_OK, "set string array");
    lc_gguf_value nested_items[2] = {sarr, arr};
    nested_items[1] = sarr;
    nested_items[1].v.arr.n = 1;
    lc_gguf_value nested = {.type = LC_GGUF_ARRAY};
    nested.v.arr.elem_type = LC_GGUF_ARRAY;
    nested.v.arr.n = 2;
    nested.v.arr.items = nested_items;
    CHECK(lc_gguf_writer_set(w, "t.array.nested", &nested, &e) == LLAMAC_OK, "set nested array");
    lc_gguf_value empty = {.type = LC_GGUF_ARRAY};
    empty.v.arr.elem_type = LC_GGUF_FLOAT32;
    CHECK(lc_gguf_writer_set(w, "t.array.empty", &empty, &e) == LLAMAC_OK, "set empty array");
    CHECK(lc_gguf_writer_set_u32(w, "general.alignment", 64, &e) == LLAMAC_OK, "alignment");
    CHECK(lc_gguf_writer_set_u32(w, "t.replaced", 1, &e) == LLAMAC_OK && lc_gguf_writer_set_u32(w, "t.replaced", 2, &e) == LLAMAC_OK,
          "replace");
    CHECK(lc_gguf_writer_set_u32(w, "t.removed", 1, &e) == LLAMAC_OK && lc_gguf_writer_remove(w, "t.removed") == 1,
          "remove");
    static const char *names[3] = {"a.f32", "b.q8_0", "c.q4_k"};
    for (int i = 0; i < 3; i++) {
        for (size_t k = 0; k < g_bytes[i]; k++)
            g_data[i][k] = (uint8_t)(k * 7 + i * 31 + 1);
        CHECK(lc_gguf_writer_add_tensor(w, names[i], i == 0 ? 1 : 2, g_ne[i], g_types[i], &e) == LLAMAC_OK,
              "add %s: %s", names[i], e.msg);
    }
    CHECK(lc_gguf_writer_begin_data(w, &e) == LLAMAC_OK, "begin_data: %s", e.msg);
    /* chunks of 100 bytes that straddle tensor boundaries */
    static uint8_t all[4096 * 3];
    size_t n = 0;
    for (int i = 0; i < 3; i++) {
        memcpy(all + n, g_data[i], g_bytes[i]);
        n += g_bytes[i];
    }
    for (size_t off = 0; off < n; off += 100)
        CHECK(lc_gguf_writer_write(w, all + off, n - off < 100 ? n - off : 100, &e) == LLAMAC_OK, "write: %s", e.msg);
    uint64_t size = lc_gguf_writer_file_size(w);
    CHECK(lc_gguf_writer_finish(w, &e) == LLAMAC_OK, "finish: %s", e.msg);
    struct stat sb;
    CHECK(stat(path, &sb) == 0 && (uint64_t)sb.st_size == size, "file size %lld, announced %llu",
          (long long)sb.st_size, (unsigned long long)size);
    CHECK(count_temp_files() == 0, "temporary file left after finish");
}

static void check_all_types(const char *path)
{
    lc_err e = {{0}};
    lc_gguf *g;
    CHECK(lc_gguf_open(path, &g, &e) == LLAMAC_OK, "reopen: %s", e.msg);
    if (!g)
        return;
    CHECK(g->version == 3 && g->alignment == 64, "version %u alignment %u", g->version, g->alignment);
    const lc_gguf_value *v;
    CHECK((v = get(g, "t.scalar.u8")) && v->type == LC_GGUF_UINT8 && v->v.u64 == 0xAB, "u8");
    CHECK((v = get(g, "t.scalar.u16")) && v->v.u64 == 0xBEEF, "u16");
    CHECK((v = get(g, "t.scalar.u32")) && v->v.u64 == 0xDEADBEEF, "u32");
    CHECK((v = get(g, "t.scalar.i8")) && v->type == LC_GGUF_INT8 && v->v.i64 == -6, "i8");
    CHECK((v = get(g, "t.scalar.i16")) && v->v.i64 == -12, "i16");
    CHECK((v = get(g, "t.scalar.i32")) && v->v.i64 == -18, "i32");
    CHECK((v = get(g, "t.scalar.i64")) && v->v.i64 == -30, "i64");
    CHECK((v = get(g, "t.scalar.u64")) && v->type == LC_GGUF_UINT64 && v->v.u64 == 0xF0F0F0F0F0F0F0F0ull >> 28, "u64");
    CHECK((v = get(g, "t.scalar.f32")) && v->type == LC_GGUF_FLOAT32 && v->v.f64 == -1.5, "f32");
    CHECK((v = get(g, "t.scalar.f64")) && v->v.f64 == 3.141592653589793, "f64");
    CHECK((v = get(g, "t.scalar.bool")) && v->type == LC_GGUF_BOOL && v->v.u64 == 1, "bool");
    CHECK((v = get(g, "t.string")) && v->v.str.len == strlen("h\xc3\xa9llo \"world\"\n"), "string");
    CHECK((v = get(g, "t.empty")) && v->type == LC_GGUF_STRING && v->v.str.len == 0, "empty string");
    CHECK((v = get(g, "t.array.i16")) && v->v.arr.n == 5 && v->v.arr.elem_type == LC_GGUF_INT16 &&
              memcmp(v->v.arr.data, (const int16_t[]){-1, 2, -300, 4000, -32768}, 10) == 0,
          "i16 array");
    CHECK((v = get(g, "t.array.str")) && v->v.arr.n == 3 && v->v.arr.items[2].v.str.len == 4 &&
              memcmp(v->v.arr.items[0].v.str.ptr, "alpha", 5) == 0 && v->v.arr.items[1].v.str.len == 0,
          "string array");
    CHECK((v = get(g, "t.array.nested")) && v->v.arr.n == 2 && v->v.arr.items[0].v.arr.n == 3 &&
              v->v.arr.items[1].v.arr.n == 1 && v->v.arr.items[1].v.arr.items[0].v.str.len == 5,
          "nested array");
    CHECK((v = get(g, "t.array.empty")) && v->v.arr.n == 0 && v->v.arr.elem_type == LC_GGUF_FLOAT32, "empty array");
    CHECK((v = get(g, "t.replaced")) && v->v.u64 == 2, "replaced value");
    CHECK(!get(g, "t.removed"), "removed key still present");
    CHECK(g->n_tensors == 3, "%lld tensors", (long long)g->n_tensors);
    for (int i = 0; i < 3 && i < g->n_tensors; i++) {
        const lc_gguf_tensor *t = &g->tensors[i];
        CHECK(t->type == g_types[i] && t->n_bytes == g_bytes[i] && t->ne[0] == g_ne[i][0] && t->ne[1] == g_ne[i][1],
              "tensor %d info", i);
        CHECK(t->n_dims == (i == 0 ? 1 : 2), "tensor %d dims", i);
        CHECK((t->offset - g->data_offset) % 64 == 0, "tensor %d offset not aligned", i);
        CHECK(memcmp(t->data, g_data[i], g_bytes[i]) == 0, "tensor %d data", i);
    }
    lc_gguf_close(g);
}

static void test_round_trip_and_copy(void)
{
    const char *a = path_in("all.gguf"), *b = path_in("copy.gguf");
    write_all_types(a);
    check_all_types(a);
    /* copy_kv: every pair, in order, identical */
    lc_err e = {{0}};
    lc_gguf *g;
    if (lc_gguf_open(a, &g, &e) != LLAMAC_OK) {
        CHECK(0, "open: %s", e.msg);
        return;
    }
    lc_gguf_writer *w;
    CHECK(lc_gguf_writer_open(b, &w, &e) == LLAMAC_OK, "open copy");
    CHECK(lc_gguf_writer_copy_kv(w, g, &e) == LLAMAC_OK, "copy_kv: %s", e.msg);
    CHECK(lc_gguf_writer_set_u32(w, "general.file_type", 15, &e) == LLAMAC_OK, "set file_type");
    for (int64_t i = 0; i < g->n_tensors; i++)
        lc_gguf_writer_add_tensor(w, g->tensors[i].name, g->tensors[i].n_dims, g->tensors[i].ne, g->tensors[i].type,
                                  &e);
    CHECK(lc_gguf_writer_begin_data(w, &e) == LLAMAC_OK, "begin: %s", e.msg);
    for (int64_t i = 0; i < g->n_tensors; i++)
        lc_gguf_writer_write(w, g->tensors[i].data, g->tensors[i].n_bytes, &e);
    CHECK(lc_gguf_writer_finish(w, &e) == LLAMAC_OK, "finish copy: %s", e.msg);
    lc_gguf *c;
    if (lc_gguf_open(b, &c, &e) != LLAMAC_OK) {
        CHECK(0, "open copy: %s", e.msg);
        lc_gguf_close(g);
        return;
    }
    CHECK(c->n_kv == g->n_kv + 1, "copy has %lld keys, source %lld", (long long)c->n_kv, (long long)g->n_kv);
    for (int64_t i = 0; i < g->n_kv && i < c->n_kv; i++)
        CHECK(strcmp(c->kv[i].key, g->kv[i].key) == 0 && value_eq(&c->kv[i].value, &g->kv[i].value),
              "key %lld (%s) differs after copy", (long long)i, g->kv[i].key);
    CHECK(strcmp(c->kv[c->n_kv - 1].key, "general.file_type") == 0, "appended key is last");
    for (int64_t i = 0; i < g->n_tensors && i < c->n_tensors; i++)
        CHECK(c->tensors[i].n_bytes == g->tensors[i].n_bytes &&
                  memcmp(c->tensors[i].data, g->tensors[i].data, g->tensors[i].n_bytes) == 0,
              "tensor %lld differs after copy", (long long)i);
    lc_gguf_close(c);
    lc_gguf_close(g);
}

static void test_failures(void)
{
    lc_err e = {{0}};
    lc_gguf_writer *w = NULL;
    /* unwritable destination: nothing created */
    const char *bad = path_in("no-such-dir/x.gguf");
    CHECK(lc_gguf_writer_open(bad, &w, &e) == LLAMAC_E_IO && !w, "open in a missing directory");
    CHECK(strstr(e.msg, "cannot create the output file") != NULL, "message: %s", e.msg);
    CHECK(lc_gguf_writer_open(path_in(""), &w, &e) == LLAMAC_E_INVALID_ARG, "directory path: %s", e.msg);

    /* abort removes the temporary file */
    const char *p = path_in("aborted.gguf");
    CHECK(lc_gguf_writer_open(p, &w, &e) == LLAMAC_OK, "open");
    lc_gguf_writer_set_u32(w, "k", 1, &e);
    lc_gguf_writer_abort(w);
    CHECK(!exists(p) && count_temp_files() == 0, "abort left files");

    /* finish with missing data fails and removes the temporary file */
    const int64_t ne[4] = {32, 2, 1, 1};
    CHECK(lc_gguf_writer_open(p, &w, &e) == LLAMAC_OK, "open");
    lc_gguf_writer_add_tensor(w, "t", 2, ne, LLAMAC_TYPE_Q8_0, &e);
    lc_gguf_writer_begin_data(w, &e);
    uint8_t buf[200] = {0};
    CHECK(lc_gguf_writer_write(w, buf, 34, &e) == LLAMAC_OK, "partial write");
    CHECK(lc_gguf_writer_finish(w, &e) != LLAMAC_OK && strstr(e.msg, "not fully written"), "finish incomplete: %s",
          e.msg);
    CHECK(!exists(p) && count_temp_files() == 0, "failed finish left files");

    /* too much data, and a bad row length, make the writer fail; finish then fails too */
    CHECK(lc_gguf_writer_open(p, &w, &e) == LLAMAC_OK, "open");
    lc_gguf_writer_add_tensor(w, "t", 2, ne, LLAMAC_TYPE_Q8_0, &e);
    lc_gguf_writer_begin_data(w, &e);
    CHECK(lc_gguf_writer_write(w, buf, 200, &e) != LLAMAC_OK, "writing past the declared data");
    CHECK(lc_gguf_writer_finish(w, &e) != LLAMAC_OK, "finish after a failure");
    CHECK(!exists(p) && count_temp_files() == 0, "failed writer left files");
    CHECK(lc_gguf_writer_open(p, &w, &e) == LLAMAC_OK, "open");
    const int64_t odd[4] = {100, 2, 1, 1};
    CHECK(lc_gguf_writer_add_tensor(w, "t", 2, odd, LLAMAC_TYPE_Q4_K, &e) == LLAMAC_E_INVALID_ARG,
          "row length 100 accepted for Q4_K");
    CHECK(lc_gguf_writer_add_tensor(w, "u", 2, ne, LLAMAC_TYPE_F32, &e) != LLAMAC_OK, "writer not sticky-failed");
    lc_gguf_writer_abort(w);
    /* duplicate tensor names and a bad alignment are rejected */
    CHECK(lc_gguf_writer_open(p, &w, &e) == LLAMAC_OK, "open");
    lc_gguf_writer_add_tensor(w, "t", 2, ne, LLAMAC_TYPE_F32, &e);
    CHECK(lc_gguf_writer_add_tensor(w, "t", 2, ne, LLAMAC_TYPE_F32, &e) != LLAMAC_OK, "duplicate name");
    lc_gguf_writer_abort(w);
    CHECK(lc_gguf_writer_open(p, &w, &e) == LLAMAC_OK, "open");
    lc_gguf_writer_set_u32(w, "general.alignment", 48, &e);
    CHECK(lc_gguf_writer_begin_data(w, &e) == LLAMAC_E_FORMAT, "alignment 48 accepted");
    lc_gguf_writer_abort(w);
    CHECK(!exists(p) && count_temp_files() == 0, "left files");

    /* an existing file under the final name is replaced only by a complete file */
    FILE *f = fopen(p, "wb");
    fputs("old", f);
    fclose(f);
    CHECK(lc_gguf_writer_open(p, &w, &e) == LLAMAC_OK, "open over an existing file");
    lc_gguf_writer_add_tensor(w, "t", 2, ne, LLAMAC_TYPE_Q8_0, &e);
    lc_gguf_writer_begin_data(w, &e);
    lc_gguf_writer_abort(w);
    struct stat sb;
    CHECK(stat(p, &sb) == 0 && sb.st_size == 3, "an aborted run damaged the existing file");
    unlink(p);
}

int main(void)
{
    const char *build = getenv("LLAMAC_BUILD");
    snprintf(g_dir, sizeof g_dir, "%s/test-scratch", build ? build : "/tmp");
    mkdir(g_dir, 0777);
    snprintf(g_dir + strlen(g_dir), sizeof g_dir - strlen(g_dir), "/gguf-write-%d", (int)getpid());
    if (mkdir(g_dir, 0777) != 0) {
        printf("cannot create %s\n", g_dir);
        return 1;
    }
    test_round_trip_and_copy();
    test_failures();
    unlink(path_in("all.gguf"));
    unlink(path_in("copy.gguf"));
    CHECK(rmdir(g_dir) == 0, "scratch directory not empty at the end");
    return check_finish("test_gguf_write");
}
