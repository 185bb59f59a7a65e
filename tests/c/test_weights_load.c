/*
 * test_weights_load.c — the three ways weights are held (file mapping; private packed copy made before
 * llamac_model_load returns; the same copy made in the background while the model already runs) give
 * bit-identical logits, including for tokens decoded while the background copy is half done; freeing a model
 * whose copy is still running is clean; once the copy is done, no page of the copied matrices stays resident
 * through the file mapping (no second copy in memory). Model: tests/py/models.py "load-q4_0" (~40 MB, so the
 * copy takes a while), or LLAMAC_TEST_MODEL.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "llamac.h"
#include "check.h"

#define N_TOK 24

static char *model_path(void)
{
    const char *env = getenv("LLAMAC_TEST_MODEL");
    if (env && *env)
        return strdup(env);
    const char *py = getenv("LLAMAC_PYTHON"), *src = getenv("LLAMAC_SOURCE");
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "'%s' '%s/tests/py/models.py' load-q4_0", py && *py ? py : "/usr/bin/python3",
             src && *src ? src : ".");
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

static llamac_model *load(const char *path, int use_mmap, int background)
{
    llamac_model_params mp = llamac_model_default_params();
    mp.use_mmap = use_mmap;
    mp.background = background;
    llamac_model *m = NULL;
    char err[600];
    if (llamac_model_load(path, &mp, &m, err, sizeof err) != LLAMAC_OK) {
        fprintf(stderr, "load failed: %s\n", err);
        exit(2);
    }
    return m;
}

/* Decodes the tokens one at a time (so the first ones run while a background copy is young); returns all
 * logits [N_TOK][n_vocab]. */
static float *run(llamac_model *m, const int32_t *tok, int n_vocab)
{
    llamac_context_params cp = llamac_context_default_params();
    cp.n_ctx = 64;
    cp.n_batch = 1;
    cp.n_threads = 2;
    llamac_context *ctx = NULL;
    char err[600];
    if (llamac_context_create(m, &cp, &ctx, err, sizeof err) != LLAMAC_OK) {
        fprintf(stderr, "context: %s\n", err);
        exit(2);
    }
    float *out = malloc((size_t)N_TOK * n_vocab * sizeof(float));
    for (int i = 0; i < N_TOK; i++) {
        llamac_batch b = {.n_tokens = 1, .tokens = &tok[i]};
        if (llamac_decode(ctx, &b) != LLAMAC_OK) {
            fprintf(stderr, "decode: %s\n", llamac_context_error(ctx));
            exit(2);
        }
        memcpy(out + (size_t)i * n_vocab, llamac_get_logits(ctx, 0), (size_t)n_vocab * sizeof(float));
    }
    llamac_context_free(ctx);
    return out;
}

/* Pages of the process's mapping of `path` (found in /proc/self/maps; the whole file mapped at offset 0) that
 * are present (/proc/self/pagemap bit 63), counted inside each tensor the kernels read (all but the token
 * embedding, which is read by row from the mapping: a fault there may map up to a 2 MiB folio around the row,
 * so pages within 2 MiB of it are not counted); the largest count over one tensor goes to *worst. -1 if
 * unreadable. */
static long mapped_matrix_pages(const llamac_model *m, const char *path, long *worst, char *worst_name, size_t wn)
{
    char real[4096];
    if (!realpath(path, real))
        return -1;
    FILE *f = fopen("/proc/self/maps", "r");
    if (!f)
        return -1;
    char line[8192];
    uintptr_t base = 0;
    while (fgets(line, sizeof line, f)) {
        unsigned long lo, hi, off;
        char file[4096] = "";
        if (sscanf(line, "%lx-%lx %*s %lx %*s %*s %4095s", &lo, &hi, &off, file) == 4 && off == 0 &&
            strcmp(file, real) == 0)
            base = lo;
    }
    fclose(f);
    FILE *pm = fopen("/proc/self/pagemap", "rb");
    if (!base || !pm) {
        if (pm)
            fclose(pm);
        return -1;
    }
    const uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
    const llamac_gguf *g = llamac_model_gguf(m);
    const uint64_t near = (uint64_t)2 << 20;
    uint64_t te_lo = 0, te_hi = 0;
    for (int64_t i = 0; i < llamac_gguf_n_tensors(g); i++) {
        llamac_tensor_info t;
        if (llamac_gguf_tensor(g, i, &t) == LLAMAC_OK && strcmp(t.name, "token_embd.weight") == 0) {
            te_lo = t.offset > near ? t.offset - near : 0;
            te_hi = t.offset + t.n_bytes + near;
        }
    }
    long total = 0;
    *worst = 0;
    for (int64_t i = 0; i < llamac_gguf_n_tensors(g); i++) {
        llamac_tensor_info t;
        if (llamac_gguf_tensor(g, i, &t) != LLAMAC_OK || t.n_dims < 2 || strcmp(t.name, "token_embd.weight") == 0)
            continue;
        long n = 0;
        for (uintptr_t a = (base + t.offset + page - 1) / page; a < (base + t.offset + t.n_bytes) / page; a++) {
            uint64_t e = 0;
            if (fseek(pm, (long)(a * 8), SEEK_SET) != 0 || fread(&e, 8, 1, pm) != 1) {
                fclose(pm);
                return -1;
            }
            uint64_t off = (uint64_t)(a * page - base);
            n += (off < te_lo || off >= te_hi) ? (long)(e >> 63) : 0;
        }
        total += n;
        if (n > *worst) {
            *worst = n;
            snprintf(worst_name, wn, "%s", t.name);
        }
    }
    fclose(pm);
    return total;
}

int main(void)
{
    char *path = model_path();
    if (!path) {
        fprintf(stderr, "cannot generate the test model\n");
        return 2;
    }
    llamac_model *ref_m = load(path, 0, 0);
    llamac_model_info info;
    llamac_model_get_info(ref_m, &info);
    int32_t tok[N_TOK];
    for (int i = 0; i < N_TOK; i++)
        tok[i] = (int32_t)((i * 7919u + 13u) % (unsigned)info.n_vocab);
    float *ref = run(ref_m, tok, info.n_vocab);
    llamac_model_free(ref_m);
    size_t bytes = (size_t)N_TOK * info.n_vocab * sizeof(float);

    llamac_model *mm = load(path, 1, 0);
    float *a = run(mm, tok, info.n_vocab);
    CHECK(memcmp(a, ref, bytes) == 0, "file mapping vs private copy: logits differ");
    free(a);
    llamac_model_free(mm);

    for (int trial = 0; trial < 3; trial++) {
        llamac_model *bg = load(path, 0, 1);
        float *b = run(bg, tok, info.n_vocab); /* races the copy */
        CHECK(memcmp(b, ref, bytes) == 0, "trial %d: decoding during the background copy changed the logits", trial);
        char err[600];
        CHECK(llamac_model_wait_loaded(bg, err, sizeof err) == LLAMAC_OK, "wait_loaded: %s", err);
        CHECK(llamac_model_loaded(bg) == 1, "trial %d: model_loaded is not 1 after wait_loaded", trial);
        float *c = run(bg, tok, info.n_vocab);
        CHECK(memcmp(c, ref, bytes) == 0, "trial %d: after the background copy the logits differ", trial);
        char wname[128] = "";
        long worst = 0, pages = mapped_matrix_pages(bg, path, &worst, wname, sizeof wname);
        CHECK(pages >= 0, "cannot read /proc/self/maps or pagemap");
        CHECK(pages == 0,
              "trial %d: %ld pages of the copied matrices (%ld in %s) still resident through the file mapping",
              trial, pages, worst, wname);
        free(b);
        free(c);
        llamac_model_free(bg);
    }
    /* freed while the copy runs: must stop it cleanly (ASan/LSan catch leaks and use-after-free) */
    for (int i = 0; i < 3; i++)
        llamac_model_free(load(path, 0, 1));
    llamac_model *mm2 = load(path, 1, 1); /* background without a copy (mmap): wait returns at once */
    CHECK(llamac_model_wait_loaded(mm2, NULL, 0) == LLAMAC_OK, "wait_loaded on a mapped model");
    CHECK(llamac_model_loaded(mm2) == 1, "model_loaded on a mapped model");
    llamac_model_free(mm2);

    free(ref);
    free(path);
    return check_finish("test_weights_load");
}
