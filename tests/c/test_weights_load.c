/*
 * test_weights_load.c — the three ways weights are held (file mapping; private packed copy made before
 * llamac_model_load returns; the same copy made in the background while the model already runs) give
 * bit-identical logits, including for tokens decoded while the background copy is half done; freeing a model
 * whose copy is still running is clean. Model: tests/py/models.py "load-q4_0" (~40 MB, so the copy takes a
 * while), or LLAMAC_TEST_MODEL.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
        float *c = run(bg, tok, info.n_vocab);
        CHECK(memcmp(c, ref, bytes) == 0, "trial %d: after the background copy the logits differ", trial);
        free(b);
        free(c);
        llamac_model_free(bg);
    }
    /* freed while the copy runs: must stop it cleanly (ASan/LSan catch leaks and use-after-free) */
    for (int i = 0; i < 3; i++)
        llamac_model_free(load(path, 0, 1));
    llamac_model *mm2 = load(path, 1, 1); /* background without a copy (mmap): wait returns at once */
    CHECK(llamac_model_wait_loaded(mm2, NULL, 0) == LLAMAC_OK, "wait_loaded on a mapped model");
    llamac_model_free(mm2);

    free(ref);
    free(path);
    return check_finish("test_weights_load");
}
