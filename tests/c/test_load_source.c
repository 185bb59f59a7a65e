/*
 * test_load_source.c — the tensor source and the loader's bind list (src/load/source.h, src/load/weights.h).
 *
 *  1. Row permutation, end to end: a GGUF file whose attn_q / attn_k rows are stored in Hugging Face's
 *     rotate-half order (written here from a normal test model), opened as a source that declares the
 *     permutation, gives bit-identical logits to the normal file in every mode (file mapping, copy, background
 *     copy); without the declaration the logits differ. Models: "l32-mixed" (tied embeddings; attn_q Q8_0 and
 *     attn_k F16 in layer 0, so both the packed and the raw copy), "l31-q8_0" (rope_freqs, GQA 4).
 *  2. Bind list: a row slice, a column slice, a permuted bind, a permuted row slice and a row converted to an
 *     f32 vector hold exactly the corresponding rows / columns of the whole tensor, in every mode, for a type
 *     the kernels pack and one they do not; a row slice copies just its rows (or nothing with the mapping).
 *  3. Bad entries (rows or columns out of range, columns off block boundaries, a permutation that does not fit
 *     the rows, a source declaring the wrong head count) are refused with a message naming the tensor.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "core/model.h"
#include "gguf/gguf.h"
#include "gguf/gguf_write.h"
#include "kernels/pack.h"
#include "kernels/quant.h"
#include "load/source.h"
#include "load/weights.h"
#include "llamac.h"

#define N_TOK 12

static char *model_path(const char *name)
{
    const char *py = getenv("LLAMAC_PYTHON"), *src = getenv("LLAMAC_SOURCE");
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "'%s' '%s/tests/py/models.py' %s", py && *py ? py : "/usr/bin/python3",
             src && *src ? src : ".", name);
    FILE *p = popen(cmd, "r");
    if (!p)
        return NULL;
    char line[4096] = {0};
    char *ok = fgets(line, sizeof line, p);
    if (pclose(p) != 0 || !ok)
        return NULL;
    line[strcspn(line, "\n")] = 0;
    return strdup(line);
}

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcmp(s + n - k, suffix) == 0;
}

/* heads of attn_q / attn_k rows (0 for other tensors) */
static int64_t heads_of(const char *name, int64_t n_head, int64_t n_head_kv)
{
    return ends_with(name, "attn_q.weight") ? n_head : ends_with(name, "attn_k.weight") ? n_head_kv : 0;
}

/* Writes a copy of the GGUF at in whose attn_q / attn_k rows are in rotate-half order: within each head of hd
 * rows, Meta's row 2*i + p (RoPE pair i, component p) goes to row p*hd/2 + i (what Hugging Face's conversion
 * does: view(n_head, hd/2, 2, n_in).transpose(1, 2)). */
static int write_rotate_half(const char *in, const char *out)
{
    lc_err e;
    lc_gguf *g;
    if (lc_gguf_open(in, &g, &e) != LLAMAC_OK)
        return fprintf(stderr, "%s\n", e.msg), -1;
    int64_t n_head = 0, n_head_kv = 0;
    lc_gguf_get_i64(g, "llama.attention.head_count", 1, &n_head, &e);
    lc_gguf_get_i64(g, "llama.attention.head_count_kv", 1, &n_head_kv, &e);
    lc_gguf_writer *w;
    int bad = lc_gguf_writer_open(out, &w, &e) != LLAMAC_OK;
    bad = bad || lc_gguf_writer_copy_kv(w, g, &e) != LLAMAC_OK;
    for (int64_t t = 0; !bad && t < g->n_tensors; t++)
        bad = lc_gguf_writer_add_tensor(w, g->tensors[t].name, g->tensors[t].n_dims, g->tensors[t].ne,
                                        g->tensors[t].type, &e) != LLAMAC_OK;
    bad = bad || lc_gguf_writer_begin_data(w, &e) != LLAMAC_OK;
    for (int64_t t = 0; !bad && t < g->n_tensors; t++) {
        const lc_gguf_tensor *T = &g->tensors[t];
        int64_t heads = heads_of(T->name, n_head, n_head_kv);
        if (!heads) {
            bad = lc_gguf_writer_write(w, T->data, T->n_bytes, &e) != LLAMAC_OK;
            continue;
        }
        const int64_t rows = T->ne[1], hd = rows / heads;
        const size_t rb = T->n_bytes / (size_t)rows;
        const uint8_t *src = T->data;
        for (int64_t h = 0; !bad && h < heads; h++)
            for (int64_t p = 0; p < 2 && !bad; p++)
                for (int64_t i = 0; i < hd / 2 && !bad; i++) /* stored row h*hd + p*hd/2 + i */
                    bad = lc_gguf_writer_write(w, src + (size_t)(h * hd + 2 * i + p) * rb, rb, &e) != LLAMAC_OK;
    }
    if (bad) {
        fprintf(stderr, "writing %s: %s\n", out, e.msg);
        lc_gguf_writer_abort(w);
    } else if (lc_gguf_writer_finish(w, &e) != LLAMAC_OK) {
        fprintf(stderr, "writing %s: %s\n", out, e.msg);
        bad = 1;
    }
    lc_gguf_close(g);
    return bad ? -1 : 0;
}

static const char *MODE_NAMES[] = {"mapped", "copy", "background"};

static llamac_model_params mode_params(int mode)
{
    llamac_model_params mp = llamac_model_default_params();
    mp.use_mmap = mode == LC_WEIGHTS_MAPPED;
    mp.background = mode == LC_WEIGHTS_BACKGROUND;
    mp.n_threads = 2;
    return mp;
}

/* The file at path as a source; declare: attn_q / attn_k rows are declared rotate-half (n_head_q heads for
 * attn_q; -1: the file's head count). NULL on failure (message in e). */
static llamac_model *load_declared(const char *path, int mode, int declare, int n_head_q, lc_err *e)
{
    lc_source *src;
    if (lc_source_open_gguf(path, &src, e) != LLAMAC_OK)
        return NULL;
    int64_t n_head = 0, n_head_kv = 0;
    lc_source_get_i64(src, "llama.attention.head_count", 1, &n_head, e);
    lc_source_get_i64(src, "llama.attention.head_count_kv", 1, &n_head_kv, e);
    for (int64_t t = 0; declare && t < src->n_tensors; t++) {
        int64_t heads = heads_of(src->tensors[t].name, n_head_q >= 0 ? n_head_q : n_head, n_head_kv);
        if (heads)
            src->tensors[t].transform = (lc_transform){LC_TRANSFORM_ROPE_HALF_TO_INTERLEAVED, (int)heads};
    }
    llamac_model_params mp = mode_params(mode);
    llamac_model *m = NULL;
    if (lc_model_load_source(src, &mp, &m, e) != LLAMAC_OK)
        return NULL;
    return m;
}

/* Decodes N_TOK tokens one at a time; returns all logits [N_TOK][n_vocab]. */
static float *run(llamac_model *m)
{
    llamac_model_info info;
    llamac_model_get_info(m, &info);
    llamac_context_params cp = llamac_context_default_params();
    cp.n_ctx = 32;
    cp.n_batch = 1;
    cp.n_threads = 2;
    llamac_context *ctx = NULL;
    char err[600];
    if (llamac_context_create(m, &cp, &ctx, err, sizeof err) != LLAMAC_OK) {
        fprintf(stderr, "context: %s\n", err);
        exit(2);
    }
    float *out = malloc((size_t)N_TOK * info.n_vocab * sizeof(float));
    for (int i = 0; i < N_TOK; i++) {
        int32_t tok = (int32_t)((i * 7919u + 13u) % (unsigned)info.n_vocab);
        llamac_batch b = {.n_tokens = 1, .tokens = &tok};
        if (llamac_decode(ctx, &b) != LLAMAC_OK) {
            fprintf(stderr, "decode: %s\n", llamac_context_error(ctx));
            exit(2);
        }
        memcpy(out + (size_t)i * info.n_vocab, llamac_get_logits(ctx, 0), (size_t)info.n_vocab * sizeof(float));
    }
    llamac_context_free(ctx);
    return out;
}

static void test_permuted_file(const char *name)
{
    char *path = model_path(name);
    CHECK(path != NULL, "cannot generate the test model %s", name);
    if (!path)
        return;
    const char *build = getenv("LLAMAC_BUILD");
    char rot[4200];
    snprintf(rot, sizeof rot, "%s/test-models/%s-rotate-half-%d.gguf", build && *build ? build : ".", name,
             (int)getpid());
    CHECK(write_rotate_half(path, rot) == 0, "%s: cannot write the rotate-half copy", name);
    char err[600];
    llamac_model_params mp = mode_params(LC_WEIGHTS_COPY);
    llamac_model *ref_m = NULL;
    CHECK(llamac_model_load(path, &mp, &ref_m, err, sizeof err) == LLAMAC_OK, "%s: %s", name, err);
    if (!ref_m)
        return;
    llamac_model_info info;
    llamac_model_get_info(ref_m, &info);
    const size_t bytes = (size_t)N_TOK * info.n_vocab * sizeof(float);
    float *ref = run(ref_m);
    llamac_model_free(ref_m);

    lc_err e = {{0}};
    for (int mode = LC_WEIGHTS_MAPPED; mode <= LC_WEIGHTS_BACKGROUND; mode++) {
        llamac_model *m = load_declared(rot, mode, 1, -1, &e);
        CHECK(m != NULL, "%s %s: loading the declared rotate-half file: %s", name, MODE_NAMES[mode], e.msg);
        if (!m)
            continue;
        float *got = run(m); /* in background mode this races the copy */
        CHECK(memcmp(got, ref, bytes) == 0, "%s %s: rotate-half file + declared permutation: logits differ", name,
              MODE_NAMES[mode]);
        free(got);
        CHECK(llamac_model_wait_loaded(m, err, sizeof err) == LLAMAC_OK, "%s: wait: %s", name, err);
        got = run(m);
        CHECK(memcmp(got, ref, bytes) == 0, "%s %s: after the copy: logits differ", name, MODE_NAMES[mode]);
        free(got);
        llamac_model_free(m);
    }
    /* the same file without the declaration is a different model */
    llamac_model *m = load_declared(rot, LC_WEIGHTS_COPY, 0, -1, &e);
    CHECK(m != NULL, "%s: loading the rotate-half file undeclared: %s", name, e.msg);
    if (m) {
        float *got = run(m);
        CHECK(memcmp(got, ref, bytes) != 0, "%s: the rotate-half file gives the same logits undeclared", name);
        free(got);
        llamac_model_free(m);
    }
    /* a declaration whose head count does not match head_dim is refused, naming the tensor */
    m = load_declared(rot, LC_WEIGHTS_COPY, 1, (int)info.n_head * 2, &e);
    CHECK(m == NULL && strstr(e.msg, "attn_q.weight") != NULL,
          "%s: a permutation over the wrong number of heads must be refused naming attn_q (got: %s)", name,
          m ? "loaded" : e.msg);
    llamac_model_free(m);
    free(ref);
    unlink(rot);
    free(path);
}

/* ---- bind list ---- */
static void row_of(const lc_weight *w, int64_t r, float *out)
{
    lc_weight_row_to_float(w, r, out);
}

/* Model row r of a tensor stored rotate-half with heads of hd rows: the stored row (independent of
 * lc_transform_row: pair i, component p of head h is stored at h*hd + p*hd/2 + i). */
static int64_t rotated_source_row(int64_t r, int64_t hd)
{
    int64_t h = r / hd, j = r % hd, i = j / 2, p = j % 2;
    return h * hd + p * (hd / 2) + i;
}

enum { B_FULL, B_ROWS, B_COLS, B_PERM, B_PERM_ROWS, B_VEC, B_SHARED, N_BINDS };

static void test_binds_on(const lc_source *src, const lc_source_tensor *t)
{
    const int64_t R = lc_source_rows(t), C = t->ne[0], blck = lc_type_traits_get(t->type)->blck;
    const int64_t hd = R % 32 == 0 ? 32 : 2, r_lo = 5, r_hi = R - 3;
    const int64_t c_lo = C >= 3 * blck ? blck : 0, c_hi = C >= 3 * blck ? C - blck : C;
    const int64_t p_lo = hd, p_hi = R >= 3 * hd ? 3 * hd : R; /* whole heads, as one rank's share */
    const int64_t v_row = R / 2;
    for (int mode = LC_WEIGHTS_MAPPED; mode <= LC_WEIGHTS_BACKGROUND; mode++) {
        lc_weight w[N_BINDS];
        const float *vec = NULL;
        const lc_transform none = {LC_TRANSFORM_NONE, 0}, perm = {LC_TRANSFORM_ROPE_HALF_TO_INTERLEAVED, (int)(R / hd)};
        lc_bind b[N_BINDS] = {
            [B_FULL] = {LC_BIND_MATRIX, t, none, {LC_SLICE_NONE, 0, 0}, &w[B_FULL], NULL},
            [B_ROWS] = {LC_BIND_MATRIX, t, none, {LC_SLICE_ROWS, r_lo, r_hi}, &w[B_ROWS], NULL},
            [B_COLS] = {LC_BIND_MATRIX, t, none, {LC_SLICE_COLS, c_lo, c_hi}, &w[B_COLS], NULL},
            [B_PERM] = {LC_BIND_MATRIX, t, perm, {LC_SLICE_NONE, 0, 0}, &w[B_PERM], NULL},
            [B_PERM_ROWS] = {LC_BIND_MATRIX, t, perm, {LC_SLICE_ROWS, p_lo, p_hi}, &w[B_PERM_ROWS], NULL},
            [B_VEC] = {LC_BIND_VECTOR, t, none, {LC_SLICE_ROWS, v_row, v_row + 1}, NULL, &vec},
            [B_SHARED] = {LC_BIND_ROWS, t, none, {LC_SLICE_NONE, 0, 0}, &w[B_SHARED], NULL},
        };
        lc_weights *ws = NULL;
        lc_err e = {{0}};
        CHECK(lc_weights_load(src, b, N_BINDS, mode, 2, &ws, &e) == LLAMAC_OK, "%s %s: %s", t->name,
              MODE_NAMES[mode], e.msg);
        if (!ws)
            continue;
        CHECK(lc_weights_wait(ws, &e) == LLAMAC_OK, "%s: wait: %s", t->name, e.msg);
        CHECK(w[B_ROWS].n_out == r_hi - r_lo && w[B_ROWS].n_in == C, "%s: row slice shape", t->name);
        CHECK(w[B_COLS].n_out == R && w[B_COLS].n_in == c_hi - c_lo, "%s: column slice shape", t->name);
        CHECK(w[B_PERM_ROWS].n_out == p_hi - p_lo, "%s: permuted row slice shape", t->name);
        CHECK(w[B_SHARED].packed == w[B_FULL].packed && w[B_SHARED].data == w[B_FULL].data,
              "%s %s: two entries of the same tensor do not share one copy", t->name, MODE_NAMES[mode]);
        float *full = malloc((size_t)C * sizeof(float)), *got = malloc((size_t)C * sizeof(float));
        int bad_rows = 0, bad_cols = 0, bad_perm = 0, bad_perm_rows = 0;
        for (int64_t r = 0; r < R; r++) {
            row_of(&w[B_FULL], r, full);
            if (r >= r_lo && r < r_hi) {
                row_of(&w[B_ROWS], r - r_lo, got);
                bad_rows += memcmp(got, full, (size_t)C * sizeof(float)) != 0;
            }
            row_of(&w[B_COLS], r, got);
            bad_cols += memcmp(got, full + c_lo, (size_t)(c_hi - c_lo) * sizeof(float)) != 0;
            if (r == v_row)
                CHECK(memcmp(vec, full, (size_t)C * sizeof(float)) == 0, "%s %s: row %lld as an f32 vector differs",
                      t->name, MODE_NAMES[mode], (long long)r);
        }
        for (int64_t r = 0; r < R; r++) {
            row_of(&w[B_FULL], rotated_source_row(r, hd), full);
            row_of(&w[B_PERM], r, got);
            bad_perm += memcmp(got, full, (size_t)C * sizeof(float)) != 0;
            if (r >= p_lo && r < p_hi) {
                row_of(&w[B_PERM_ROWS], r - p_lo, got);
                bad_perm_rows += memcmp(got, full, (size_t)C * sizeof(float)) != 0;
            }
        }
        CHECK(bad_rows == 0, "%s %s: %d rows of the row slice differ", t->name, MODE_NAMES[mode], bad_rows);
        CHECK(bad_cols == 0, "%s %s: %d rows of the column slice differ", t->name, MODE_NAMES[mode], bad_cols);
        CHECK(bad_perm == 0, "%s %s: %d rows of the permuted bind differ", t->name, MODE_NAMES[mode], bad_perm);
        CHECK(bad_perm_rows == 0, "%s %s: %d rows of the permuted row slice differ", t->name, MODE_NAMES[mode],
              bad_perm_rows);
        free(full);
        free(got);
        lc_weights_free(ws);

        /* a row slice alone copies just its rows; with the mapping it points there and copies nothing */
        lc_weight ws_only;
        lc_bind one = {LC_BIND_MATRIX, t, none, {LC_SLICE_ROWS, r_lo, r_hi}, &ws_only, NULL};
        CHECK(lc_weights_load(src, &one, 1, mode, 2, &ws, &e) == LLAMAC_OK, "%s: %s", t->name, e.msg);
        if (!ws)
            continue;
        const lc_kernels *k = lc_kernels_get();
        int packs = mode != LC_WEIGHTS_MAPPED && k->gemm_packed[t->type] && lc_pack_supported(t->type);
        size_t want = packs ? lc_pack_size(t->type, r_hi - r_lo, C)
                            : mode == LC_WEIGHTS_MAPPED || mode == LC_WEIGHTS_BACKGROUND
                                  ? 0
                                  : (size_t)(r_hi - r_lo) * lc_row_bytes(t->type, C);
        want = (want + 63) & ~(size_t)63;
        CHECK(lc_weights_copy_bytes(ws) == want, "%s %s: a row slice copied %zu bytes, expected %zu", t->name,
              MODE_NAMES[mode], lc_weights_copy_bytes(ws), want);
        if (mode == LC_WEIGHTS_MAPPED)
            CHECK(ws_only.data == src->files[t->file].map + t->offset + (size_t)r_lo * lc_row_bytes(t->type, C),
                  "%s: a mapped row slice does not point at its rows in the file", t->name);
        lc_weights_free(ws);
    }
}

static void expect_refused(const lc_source *src, lc_bind b, const char *what)
{
    lc_weights *ws = NULL;
    lc_err e = {{0}};
    llamac_status st = lc_weights_load(src, &b, 1, LC_WEIGHTS_COPY, 1, &ws, &e);
    CHECK(st != LLAMAC_OK && ws == NULL && strstr(e.msg, b.tensor->name) != NULL,
          "%s: must be refused naming '%s' (status %d, message: %s)", what, b.tensor->name, (int)st, e.msg);
    lc_weights_free(ws);
}

static void test_binds(const char *name)
{
    char *path = model_path(name);
    CHECK(path != NULL, "cannot generate the test model %s", name);
    if (!path)
        return;
    lc_source *src;
    lc_err e = {{0}};
    CHECK(lc_source_open_gguf(path, &src, &e) == LLAMAC_OK, "%s: %s", name, e.msg);
    const lc_kernels *k = lc_kernels_get();
    const lc_source_tensor *packable = NULL, *raw = NULL;
    for (int64_t i = 0; i < src->n_tensors; i++) {
        const lc_source_tensor *t = &src->tensors[i];
        if (t->n_dims != 2 || strncmp(t->name, "blk.", 4) != 0)
            continue;
        if (k->gemm_packed[t->type] && lc_pack_supported(t->type)) {
            if (!packable)
                packable = t;
        } else if (!raw) {
            raw = t;
        }
    }
    CHECK(raw != NULL, "%s: no matrix of a type the kernels do not pack", name);
    if (packable)
        test_binds_on(src, packable);
    else
        fprintf(stderr, "note: kernel table %s packs no type of %s\n", k->name, name);
    if (raw)
        test_binds_on(src, raw);

    const lc_source_tensor *t = packable ? packable : raw;
    const int64_t R = lc_source_rows(t), C = t->ne[0];
    lc_weight w;
    const lc_transform none = {LC_TRANSFORM_NONE, 0};
    expect_refused(src, (lc_bind){LC_BIND_MATRIX, t, none, {LC_SLICE_ROWS, 0, R + 1}, &w, NULL}, "rows past the end");
    expect_refused(src, (lc_bind){LC_BIND_MATRIX, t, none, {LC_SLICE_ROWS, 4, 4}, &w, NULL}, "an empty row range");
    expect_refused(src, (lc_bind){LC_BIND_MATRIX, t, none, {LC_SLICE_COLS, 0, C + 32}, &w, NULL},
                   "columns past the end");
    if (lc_type_traits_get(t->type)->blck > 1)
        expect_refused(src, (lc_bind){LC_BIND_MATRIX, t, none, {LC_SLICE_COLS, 1, C}, &w, NULL},
                       "columns off block boundaries");
    expect_refused(src, (lc_bind){LC_BIND_MATRIX, t, {LC_TRANSFORM_ROPE_HALF_TO_INTERLEAVED, (int)R}, {0, 0, 0}, &w, NULL},
                   "a permutation over heads of one row");
    expect_refused(src, (lc_bind){LC_BIND_MATRIX, t, {LC_TRANSFORM_ROPE_HALF_TO_INTERLEAVED, 0}, {0, 0, 0}, &w, NULL},
                   "a permutation over zero heads");
    const float *v;
    expect_refused(src, (lc_bind){LC_BIND_VECTOR, t, none, {LC_SLICE_NONE, 0, 0}, NULL, &v}, "a matrix as a vector");
    lc_source_close(src);
    free(path);
}

int main(void)
{
    test_permuted_file("l32-mixed");
    test_permuted_file("l31-q8_0");
    test_binds("l32-mixed");
    return check_finish("test_load_source");
}
