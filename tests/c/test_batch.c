/*
 * test_batch.c — the public batch API (include/llamac.h) on a generated model:
 *   - several sequences interleaved in one batch (and split over calls, with explicit or implied positions)
 *     give logits bit-identical to each sequence decoded alone in its own context;
 *   - llamac_seq_truncate then re-decoding gives the same logits again, and leaves other sequences alone;
 *   - invalid batches (wrong / repeated / skipped position, sequence id or token out of range, too many logits,
 *     context full, too many tokens, empty) fail with the right status and a message, append nothing, and
 *     leave the cache able to continue exactly; a cancelled decode appends nothing either;
 *   - invalid context parameters and unloadable paths fail cleanly;
 *   - all of it with the default KV block size and with blocks of 16 positions (sequences spanning many blocks;
 *     a cancelled decode gives back the blocks it took). Sharing and the prefix cache: test_kv_paged.c.
 *
 * Model: $LLAMAC_TEST_MODEL, or argv[1], or else the "l31-q8_0" variant of tests/py/models.py, generated (and
 * cached, safely under ctest -j) by running `$LLAMAC_PYTHON $LLAMAC_SOURCE/tests/py/models.py l31-q8_0`.
 * Its activations go through the Q8_0 integer path, the one most sensitive to how rows are batched.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "llamac.h"
#include "check.h"
#include "models.h"

#define N_SEQ 3
#define MAX_LEN 24
static const int g_len[N_SEQ] = {21, 13, 24};
static int32_t g_tok[N_SEQ][MAX_LEN];
static float *g_solo[N_SEQ][MAX_LEN]; /* reference logits of (seq, pos), each sequence decoded alone */
static int g_vocab;
static int g_kv_block; /* kv_block of the contexts under test (0 = default) */

static void *xmalloc(size_t n)
{
    void *p = malloc(n);
    if (!p) {
        fprintf(stderr, "out of memory\n");
        exit(2);
    }
    return p;
}

static llamac_context *new_ctx(llamac_model *m, int n_ctx, int n_seq, int n_batch, int n_logits)
{
    llamac_context_params cp = llamac_context_default_params();
    cp.n_ctx = n_ctx;
    cp.n_seq_max = n_seq;
    cp.n_batch = n_batch;
    cp.n_logits = n_logits;
    cp.n_threads = 2;
    cp.kv_block = g_kv_block;
    llamac_context *c = NULL;
    char err[512];
    llamac_status st = llamac_context_create(m, &cp, &c, err, sizeof err);
    if (st != LLAMAC_OK) {
        fprintf(stderr, "context_create failed: %s\n", err);
        exit(2);
    }
    return c;
}

/* Logits of batch index i equal the solo logits of (seq, pos), bit for bit. */
static void expect_solo(llamac_context *c, int i, int seq, int pos, const char *what)
{
    const float *lg = llamac_get_logits(c, i);
    CHECK(lg != NULL, "%s: no logits for batch index %d", what, i);
    if (lg)
        CHECK(memcmp(lg, g_solo[seq][pos], (size_t)g_vocab * sizeof(float)) == 0,
              "%s: logits of seq %d pos %d differ from the sequence decoded alone", what, seq, pos);
}

/* A batch of (seq, pos) pairs with logits for every token; pos array given or NULL. */
static llamac_status run(llamac_context *c, int n, const int *seqs, const int *poss, int with_pos)
{
    int32_t tok[64], pos[64], sid[64];
    int8_t want[64];
    for (int i = 0; i < n; i++) {
        tok[i] = g_tok[seqs[i]][poss[i]];
        pos[i] = poss[i];
        sid[i] = seqs[i];
        want[i] = 1;
    }
    llamac_batch b = {.n_tokens = n, .tokens = tok, .pos = with_pos ? pos : NULL, .seq_id = sid, .logits = want};
    return llamac_decode(c, &b);
}

static void compute_solo(llamac_model *m)
{
    for (int s = 0; s < N_SEQ; s++) {
        llamac_context *c = new_ctx(m, 64, 1, 64, 64);
        int8_t want[MAX_LEN];
        memset(want, 1, sizeof want);
        llamac_batch b = {.n_tokens = g_len[s], .tokens = g_tok[s], .logits = want};
        llamac_status st = llamac_decode(c, &b);
        CHECK(st == LLAMAC_OK, "solo decode of seq %d: %s", s, llamac_context_error(c));
        for (int p = 0; p < g_len[s]; p++) {
            g_solo[s][p] = xmalloc((size_t)g_vocab * sizeof(float));
            const float *lg = llamac_get_logits(c, p);
            if (lg)
                memcpy(g_solo[s][p], lg, (size_t)g_vocab * sizeof(float));
            else
                memset(g_solo[s][p], 0xff, (size_t)g_vocab * sizeof(float));
        }
        CHECK(llamac_seq_len(c, 0) == g_len[s], "solo seq_len");
        llamac_context_free(c);
    }
}

/* Decodes the sequences interleaved round-robin from their current lengths up to `upto[s]`, in calls of at most
 * `chunk` tokens, checking every token's logits against the solo run. */
static void interleave(llamac_context *c, const int *upto, int chunk, int with_pos, const char *what)
{
    int next[N_SEQ];
    for (int s = 0; s < N_SEQ; s++)
        next[s] = llamac_seq_len(c, s);
    for (;;) {
        int seqs[64], poss[64], n = 0;
        int progress = 1;
        while (n < chunk && progress) {
            progress = 0;
            for (int s = 0; s < N_SEQ && n < chunk; s++)
                if (next[s] < upto[s]) {
                    seqs[n] = s;
                    poss[n++] = next[s]++;
                    progress = 1;
                }
        }
        if (n == 0)
            break;
        llamac_status st = run(c, n, seqs, poss, with_pos);
        CHECK(st == LLAMAC_OK, "%s: decode failed: %s", what, llamac_context_error(c));
        if (st != LLAMAC_OK)
            return;
        CHECK(llamac_context_error(c)[0] == 0, "%s: error message left after success", what);
        for (int i = 0; i < n; i++)
            expect_solo(c, i, seqs[i], poss[i], what);
    }
    for (int s = 0; s < N_SEQ; s++)
        CHECK(llamac_seq_len(c, s) == upto[s], "%s: seq %d has length %d, expected %d", what, s,
              llamac_seq_len(c, s), upto[s]);
}

static void test_interleaved(llamac_model *m)
{
    llamac_context *c = new_ctx(m, 64, N_SEQ, 32, 32);
    int half[N_SEQ] = {9, 5, 12}, full[N_SEQ];
    for (int s = 0; s < N_SEQ; s++)
        full[s] = g_len[s];
    interleave(c, half, 32, 1, "interleaved, explicit positions");
    interleave(c, full, 7, 0, "interleaved, appended, chunks of 7");
    llamac_context_free(c);

    /* one token per call, mixed order */
    c = new_ctx(m, 64, N_SEQ, 1, 1);
    interleave(c, full, 1, 1, "one token per call");
    llamac_context_free(c);

    /* a batch whose tokens of one sequence are not adjacent, in reverse sequence order */
    c = new_ctx(m, 64, N_SEQ, 32, 32);
    int seqs[6] = {2, 1, 0, 2, 1, 0}, poss[6] = {0, 0, 0, 1, 1, 1};
    CHECK(run(c, 6, seqs, poss, 1) == LLAMAC_OK, "reverse-order batch: %s", llamac_context_error(c));
    for (int i = 0; i < 6; i++)
        expect_solo(c, i, seqs[i], poss[i], "reverse-order batch");
    llamac_context_free(c);
}

static void test_truncate(llamac_model *m)
{
    llamac_context *c = new_ctx(m, 64, N_SEQ, 32, 32);
    int full[N_SEQ];
    for (int s = 0; s < N_SEQ; s++)
        full[s] = g_len[s];
    interleave(c, full, 32, 1, "before truncate");

    CHECK(llamac_seq_truncate(c, 1, 4) == LLAMAC_OK, "truncate: %s", llamac_context_error(c));
    CHECK(llamac_seq_len(c, 1) == 4, "seq 1 length after truncate is %d", llamac_seq_len(c, 1));
    CHECK(llamac_seq_len(c, 0) == g_len[0] && llamac_seq_len(c, 2) == g_len[2], "other sequences changed");
    CHECK(llamac_seq_truncate(c, 2, 1000) == LLAMAC_OK && llamac_seq_len(c, 2) == g_len[2],
          "truncate beyond the length must be a no-op");
    CHECK(llamac_seq_truncate(c, 0, 0) == LLAMAC_OK && llamac_seq_len(c, 0) == 0, "truncate to 0");
    CHECK(llamac_seq_truncate(c, N_SEQ, 0) == LLAMAC_E_INVALID_ARG && llamac_context_error(c)[0],
          "truncate of an unknown sequence must fail with a message");
    CHECK(llamac_seq_truncate(c, -1, 0) == LLAMAC_E_INVALID_ARG, "truncate seq -1");
    CHECK(llamac_seq_truncate(c, 1, -3) == LLAMAC_E_INVALID_ARG && llamac_seq_len(c, 1) == 4, "negative n_keep");
    /* re-decode: seq 0 from scratch and seq 1 from position 4, interleaved; seq 2 untouched */
    interleave(c, full, 5, 0, "after truncate");
    /* truncate in the middle again and continue one token at a time with explicit positions */
    CHECK(llamac_seq_truncate(c, 2, 17) == LLAMAC_OK, "truncate seq 2");
    interleave(c, full, 1, 1, "after second truncate");
    llamac_context_free(c);
}

/* The failed decode appended nothing: lengths unchanged, no stale logits, message present. */
static void expect_reject(llamac_context *c, llamac_status got, llamac_status want, const char *needle,
                          const int *len_before, const char *what)
{
    const char *msg = llamac_context_error(c);
    CHECK(got == want, "%s: status %d (%s), expected %d (%s); message '%s'", what, got, llamac_status_str(got),
          want, llamac_status_str(want), msg);
    CHECK(msg && strstr(msg, needle), "%s: message '%s' does not mention '%s'", what, msg, needle);
    for (int s = 0; s < llamac_context_n_seq(c); s++)
        CHECK(llamac_seq_len(c, s) == len_before[s], "%s: seq %d length changed from %d to %d", what, s,
              len_before[s], llamac_seq_len(c, s));
    CHECK(llamac_get_logits(c, 0) == NULL, "%s: logits still available after a failed decode", what);
}

static void test_validation(llamac_model *m)
{
    /* n_ctx 20, 3 sequences, batches of at most 8 tokens, at most 4 of them with logits */
    llamac_context *c = new_ctx(m, 20, N_SEQ, 8, 4);
    int seqs[8], poss[8];
    /* prefix: seq 0 has 3 tokens, seq 1 has 2 */
    int s0[5] = {0, 0, 0, 1, 1}, p0[5] = {0, 1, 2, 0, 1};
    int8_t w4[5] = {1, 1, 1, 1, 0};
    int32_t tok[16], pos[16], sid[16];
    for (int i = 0; i < 5; i++) {
        tok[i] = g_tok[s0[i]][p0[i]];
        pos[i] = p0[i];
        sid[i] = s0[i];
    }
    llamac_batch b = {.n_tokens = 5, .tokens = tok, .pos = pos, .seq_id = sid, .logits = w4};
    CHECK(llamac_decode(c, &b) == LLAMAC_OK, "prefix: %s", llamac_context_error(c));
    int len[N_SEQ] = {3, 2, 0};
    llamac_status st;

    /* wrong positions: one too far, a repeat of a cached one, a gap inside the batch */
    seqs[0] = 0, poss[0] = 4;
    expect_reject(c, run(c, 1, seqs, poss, 1), LLAMAC_E_INVALID_ARG, "position", len, "position beyond the end");
    seqs[0] = 1, poss[0] = 1;
    expect_reject(c, run(c, 1, seqs, poss, 1), LLAMAC_E_INVALID_ARG, "position", len, "position already cached");
    seqs[0] = 2, poss[0] = 0, seqs[1] = 2, poss[1] = 2;
    expect_reject(c, run(c, 2, seqs, poss, 1), LLAMAC_E_INVALID_ARG, "position", len, "gap inside the batch");
    seqs[0] = 2, poss[0] = 1, seqs[1] = 2, poss[1] = 0;
    expect_reject(c, run(c, 2, seqs, poss, 1), LLAMAC_E_INVALID_ARG, "position", len, "positions out of order");
    /* sequence ids */
    for (int bad = -1; bad <= N_SEQ; bad += N_SEQ + 1) {
        tok[0] = g_tok[0][3], pos[0] = 3, sid[0] = 0;
        tok[1] = g_tok[0][4], pos[1] = 0, sid[1] = bad;
        llamac_batch bb = {.n_tokens = 2, .tokens = tok, .pos = pos, .seq_id = sid};
        expect_reject(c, llamac_decode(c, &bb), LLAMAC_E_INVALID_ARG, "sequence id", len, "sequence id out of range");
    }
    /* token ids: n_vocab and -1 (after a valid token of the same batch, which must not be appended either) */
    int32_t bad_tok[2] = {g_vocab, -1};
    for (int k = 0; k < 2; k++) {
        tok[0] = g_tok[0][3], sid[0] = 0;
        tok[1] = bad_tok[k], sid[1] = 0;
        llamac_batch bb = {.n_tokens = 2, .tokens = tok, .seq_id = sid};
        expect_reject(c, llamac_decode(c, &bb), LLAMAC_E_TOKEN, "vocabulary", len, "token id out of range");
    }
    /* too many logits: 5 requested, the context allows 4 */
    for (int i = 0; i < 5; i++)
        seqs[i] = 2, poss[i] = i;
    expect_reject(c, run(c, 5, seqs, poss, 1), LLAMAC_E_INVALID_ARG, "logits", len, "too many logits");
    /* more tokens than n_batch */
    for (int i = 0; i < 9; i++)
        tok[i] = g_tok[2][i], sid[i] = 2;
    llamac_batch big = {.n_tokens = 9, .tokens = tok, .seq_id = sid};
    expect_reject(c, llamac_decode(c, &big), LLAMAC_E_INVALID_ARG, "n_batch", len, "batch larger than n_batch");
    /* empty batches */
    llamac_batch empty = {.n_tokens = 0, .tokens = tok};
    expect_reject(c, llamac_decode(c, &empty), LLAMAC_E_INVALID_ARG, "empty", len, "zero tokens");
    llamac_batch notok = {.n_tokens = 3, .tokens = NULL};
    expect_reject(c, llamac_decode(c, &notok), LLAMAC_E_INVALID_ARG, "empty", len, "NULL tokens");
    expect_reject(c, llamac_decode(c, NULL), LLAMAC_E_INVALID_ARG, "empty", len, "NULL batch");
    CHECK(llamac_decode(NULL, &b) == LLAMAC_E_INVALID_ARG, "NULL context");

    /* context full: fill seq 2 to 18 of 20 (in batches of 4 logits), then ask for 3 more */
    {
        const int upto = 18;
        while (len[2] < upto) {
            int n = 0;
            while (n < 4 && len[2] + n < upto)
                seqs[n] = 2, poss[n] = len[2] + n, n++;
            st = run(c, n, seqs, poss, 1);
            CHECK(st == LLAMAC_OK, "filling seq 2: %s", llamac_context_error(c));
            if (st != LLAMAC_OK)
                break;
            for (int i = 0; i < n; i++)
                expect_solo(c, i, 2, poss[i], "filling seq 2 after rejected batches");
            len[2] += n;
        }
        for (int i = 0; i < 3; i++)
            seqs[i] = 2, poss[i] = 18 + i;
        expect_reject(c, run(c, 3, seqs, poss, 1), LLAMAC_E_CONTEXT_FULL, "full", len, "context full");
        /* the two that still fit are accepted */
        st = run(c, 2, seqs, poss, 1);
        CHECK(st == LLAMAC_OK, "last two positions: %s", llamac_context_error(c));
        if (st == LLAMAC_OK) {
            expect_solo(c, 0, 2, 18, "at the end of the context");
            expect_solo(c, 1, 2, 19, "at the end of the context");
            len[2] = 20;
        }
        seqs[0] = 2, poss[0] = 20;
        expect_reject(c, run(c, 1, seqs, poss, 0), LLAMAC_E_CONTEXT_FULL, "full", len, "one past a full context");
    }
    /* after all the rejections, seq 0 continues exactly (its cache was not touched) */
    for (int i = 0; i < 4; i++)
        seqs[i] = 0, poss[i] = 3 + i;
    CHECK(run(c, 4, seqs, poss, 1) == LLAMAC_OK, "continue seq 0: %s", llamac_context_error(c));
    for (int i = 0; i < 4; i++)
        expect_solo(c, i, 0, 3 + i, "seq 0 after rejected batches");
    /* logits only where asked; indices out of range give NULL */
    int8_t some[2] = {0, 1};
    tok[0] = g_tok[1][2], tok[1] = g_tok[1][3], sid[0] = sid[1] = 1;
    llamac_batch part = {.n_tokens = 2, .tokens = tok, .seq_id = sid, .logits = some};
    CHECK(llamac_decode(c, &part) == LLAMAC_OK, "partial logits: %s", llamac_context_error(c));
    CHECK(llamac_get_logits(c, 0) == NULL, "logits of a token that did not ask for them");
    expect_solo(c, 1, 1, 3, "partial logits");
    CHECK(llamac_get_logits(c, 2) == NULL && llamac_get_logits(c, -1) == NULL, "out-of-range logits index");
    llamac_context_free(c);
}

static int g_cancel_after;
static int cancel_cb(void *user, int64_t done, int64_t total)
{
    (void)user;
    (void)total;
    return done >= g_cancel_after;
}

static void test_cancel(llamac_model *m)
{
    llamac_context *c = new_ctx(m, 64, 1, 32, 32);
    int seqs[MAX_LEN], poss[MAX_LEN];
    for (int i = 0; i < MAX_LEN; i++)
        seqs[i] = 0, poss[i] = i;
    CHECK(run(c, 4, seqs, poss, 1) == LLAMAC_OK, "prefix");
    g_cancel_after = 1;
    llamac_context_set_progress(c, cancel_cb, NULL);
    int len[1] = {4};
    llamac_kv_stats before, after;
    llamac_kv_get_stats(c, &before);
    /* 20 tokens: with blocks of 16 the decode takes a second block before it is cancelled */
    expect_reject(c, run(c, 20, seqs + 4, poss + 4, 1), LLAMAC_E_CANCELLED, "cancel", len, "cancelled decode");
    llamac_kv_get_stats(c, &after);
    CHECK(after.n_used == before.n_used && after.n_free == before.n_free,
          "a cancelled decode kept blocks: %d used before, %d after", before.n_used, after.n_used);
    llamac_context_set_progress(c, NULL, NULL);
    CHECK(run(c, 4, seqs + 4, poss + 4, 1) == LLAMAC_OK, "after cancel: %s", llamac_context_error(c));
    for (int i = 0; i < 4; i++)
        expect_solo(c, i, 0, 4 + i, "after a cancelled decode");
    llamac_context_free(c);
}

static void test_bad_params(llamac_model *m)
{
    struct {
        int n_ctx, n_seq, n_batch, kv;
        const char *needle;
    } cases[] = {{-1, 1, 8, 0, "context size"}, {64, 0, 8, 0, "n_seq_max"}, {64, 1, 0, 0, "n_batch"},
                 {64, 1, 8, 7, "KV cache type"}, {1 << 25, 1, 8, 0, "context size"}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        llamac_context_params cp = llamac_context_default_params();
        cp.n_ctx = cases[i].n_ctx;
        cp.n_seq_max = cases[i].n_seq;
        cp.n_batch = cases[i].n_batch;
        cp.kv_type = cases[i].kv;
        llamac_context *sentinel = (llamac_context *)&cp, *c = sentinel; /* must be reset to NULL */
        char err[256] = "";
        llamac_status st = llamac_context_create(m, &cp, &c, err, sizeof err);
        CHECK(st == LLAMAC_E_INVALID_ARG && c == NULL && strstr(err, cases[i].needle),
              "context params case %zu: status %d, ctx %p, message '%s'", i, st, (void *)c, err);
        if (c != sentinel)
            llamac_context_free(c);
    }
    llamac_model *bad = (llamac_model *)m;
    char err[512] = "";
    llamac_status st = llamac_model_load("/nonexistent/model.gguf", NULL, &bad, err, sizeof err);
    CHECK(st == LLAMAC_E_IO && bad == NULL && strstr(err, "/nonexistent/model.gguf"), "missing file: %d '%s'", st,
          err);
    st = llamac_model_load(NULL, NULL, &bad, err, sizeof err);
    CHECK(st == LLAMAC_E_INVALID_ARG, "NULL path: %d", st);
    /* a tiny error buffer is filled without overflow */
    char small[8];
    memset(small, 'x', sizeof small);
    st = llamac_model_load("/nonexistent/model.gguf", NULL, &bad, small, 5);
    CHECK(st == LLAMAC_E_IO && memchr(small, 0, 5) != NULL && small[5] == 'x', "small error buffer");
}

int main(int argc, char **argv)
{
    char *path = test_model_path(argc, argv, "l31-q8_0");
    if (!path) {
        fprintf(stderr, "test_batch: could not get a model (set LLAMAC_TEST_MODEL or LLAMAC_SOURCE)\n");
        return 1;
    }
    llamac_model *m = NULL;
    char err[512];
    if (llamac_model_load(path, NULL, &m, err, sizeof err) != LLAMAC_OK) {
        fprintf(stderr, "test_batch: cannot load %s: %s\n", path, err);
        return 1;
    }
    llamac_model_info info;
    llamac_model_get_info(m, &info);
    g_vocab = info.n_vocab;
    uint32_t r = 12345;
    for (int s = 0; s < N_SEQ; s++)
        for (int p = 0; p < MAX_LEN; p++) {
            r = r * 1103515245u + 12345u;
            g_tok[s][p] = (int32_t)((r >> 8) % (uint32_t)g_vocab);
        }
    g_tok[1][0] = g_tok[0][0]; /* two sequences sharing a first token */

    compute_solo(m);
    for (int k = 0; k < 2; k++) {
        g_kv_block = k ? 16 : 0;
        test_interleaved(m);
        test_truncate(m);
        test_validation(m);
        test_cancel(m);
    }
    test_bad_params(m);

    for (int s = 0; s < N_SEQ; s++)
        for (int p = 0; p < g_len[s]; p++)
            free(g_solo[s][p]);
    llamac_model_free(m);
    free(path);
    printf("test_batch: model %s, n_vocab %d\n", info.name, g_vocab);
    return check_finish("test_batch");
}
