/*
 * perplexity.c — llamac_perplexity and llamac_kl_divergence (method in include/llamac_eval.h): the windows are
 * decoded one after the other in sequence 0 with llamac_decode_tokens; the first half of a window without
 * logits, the second half with all of them, each scored token handed to the per-token arithmetic (logprob.h)
 * and the sums (ppl_stats.h) in order. A reference run may also write every record to a log-prob file
 * (kl_file.h); a KL run reads them back in the same order.
 */
#include <stdlib.h>
#include <string.h>

#include "eval/kl_file.h"
#include "eval/logprob.h"
#include "eval/ppl_stats.h"
#include "llamac_eval.h"

llamac_ppl_params llamac_ppl_default_params(void)
{
    llamac_ppl_params p = {.n_window = 512, .max_windows = 0, .bos = LLAMAC_PPL_BOS_AUTO, .kl_base_path = NULL};
    return p;
}

typedef struct run_state {
    const int32_t *window; /* [n_window] as decoded (BOS first) */
    int first, n_window, n_vocab;
    lc_ppl_stats stats;
    lc_kl_writer *writer;  /* reference run: records go here */
    lc_kl_reader *reader;  /* KL run: records come from here */
    uint16_t *codes;       /* [n_vocab] */
    llamac_status st;      /* the failure inside on_logits, if any */
    lc_err err;
} run_state;

static int on_logits(void *user, int64_t i, const float *logits)
{
    run_state *s = user;
    const int64_t pos = s->first + i;
    if (pos > s->n_window - 2) /* the last position has no next token */
        return 0;
    const int32_t next = s->window[pos + 1];
    lc_lp_record rec;
    if (s->reader) {
        if ((s->st = lc_kl_reader_next(s->reader, &rec, s->codes, &s->err)))
            return 1;
        lc_lp_cmp c;
        lc_lp_compare(logits, s->n_vocab, next, &rec, s->codes, &c);
        lc_ppl_stats_add_cmp(&s->stats, &c);
    } else if (s->writer) {
        lc_lp_encode(logits, s->n_vocab, next, &rec, s->codes);
        lc_ppl_stats_add_nll(&s->stats, rec.nll);
        if ((s->st = lc_kl_writer_add(s->writer, &rec, s->codes, &s->err)))
            return 1;
    } else {
        int32_t top;
        lc_ppl_stats_add_nll(&s->stats, lc_lp_nll(logits, s->n_vocab, next, &top));
    }
    return 0;
}

typedef struct run_args {
    const int32_t *tokens; /* [n_windows * n_window] */
    int n_window, n_windows;
    int32_t bos;           /* -1: none */
    lc_kl_writer *writer;
    lc_kl_reader *reader;
    llamac_ppl_progress_fn progress;
    void *user;
} run_args;

static int model_vocab(const llamac_context *ctx)
{
    llamac_model_info info;
    llamac_model_get_info(llamac_context_model(ctx), &info);
    return info.n_vocab;
}

static llamac_status run(llamac_context *ctx, const run_args *a, llamac_ppl_result *out, lc_err *e)
{
    memset(out, 0, sizeof *out);
    out->n_window = a->n_window;
    out->n_windows_total = a->n_windows;
    run_state s = {.first = a->n_window / 2, .n_window = a->n_window, .n_vocab = model_vocab(ctx),
                   .writer = a->writer, .reader = a->reader};
    const int64_t n_scored = (int64_t)(a->n_window - 1 - s.first) * a->n_windows;
    int32_t *buf = malloc((size_t)a->n_window * sizeof *buf);
    s.codes = malloc((size_t)s.n_vocab * sizeof *s.codes);
    if (!buf || !s.codes || lc_ppl_stats_init(&s.stats, n_scored, a->reader != NULL)) {
        free(buf);
        free(s.codes);
        return lc_fail(e, LLAMAC_E_NOMEM, "out of memory");
    }
    s.window = buf;
    llamac_status st = LLAMAC_OK;
    for (int w = 0; w < a->n_windows && !st; w++) {
        memcpy(buf, a->tokens + (size_t)w * a->n_window, (size_t)a->n_window * sizeof *buf);
        if (a->bos >= 0)
            buf[0] = a->bos;
        llamac_seq_truncate(ctx, 0, 0);
        st = llamac_decode_tokens(ctx, 0, buf, s.first, 0, NULL, NULL);
        if (!st)
            st = llamac_decode_tokens(ctx, 0, buf + s.first, a->n_window - s.first, 1, on_logits, &s);
        if (st) {
            if (s.st)
                *e = s.err, st = s.st;
            else
                lc_fail(e, st, "window %d: %s", w + 1, llamac_context_error(ctx));
            break;
        }
        out->n_windows = w + 1;
        lc_ppl_stats_result(&s.stats, 0, out);
        if (a->progress && a->progress(a->user, out))
            st = lc_fail(e, LLAMAC_E_CANCELLED, "stopped after window %d", w + 1);
    }
    llamac_seq_truncate(ctx, 0, 0);
    if (!st)
        lc_ppl_stats_result(&s.stats, 1, out);
    lc_ppl_stats_free(&s.stats);
    free(buf);
    free(s.codes);
    return st;
}

/* the context can hold a window in sequence 0 */
static llamac_status check_context(const llamac_context *ctx, int n_window, lc_err *e)
{
    if (n_window < 4 || n_window > (int)LC_KL_MAX_WINDOW)
        return lc_fail(e, LLAMAC_E_INVALID_ARG, "the window must be 4..%u tokens, not %d", LC_KL_MAX_WINDOW,
                       n_window);
    if (n_window > llamac_context_n_ctx(ctx))
        return lc_fail(e, LLAMAC_E_INVALID_ARG, "a window of %d tokens does not fit in the context (n_ctx %d)",
                       n_window, llamac_context_n_ctx(ctx));
    return LLAMAC_OK;
}

static int32_t resolve_bos(const llamac_context *ctx, int32_t bos)
{
    if (bos != LLAMAC_PPL_BOS_AUTO)
        return bos < 0 ? -1 : bos;
    const llamac_tokenizer *tok = llamac_model_tokenizer(llamac_context_model(ctx));
    if (!tok)
        return -1;
    llamac_tokenizer_info ti;
    llamac_tokenizer_get_info(tok, &ti);
    return ti.add_bos ? llamac_token_bos(tok) : -1;
}

static llamac_status perplexity(llamac_context *ctx, const int32_t *tokens, int64_t n, const llamac_ppl_params *p,
                                llamac_ppl_progress_fn progress, void *user, llamac_ppl_result *out, lc_err *e)
{
    llamac_status st = check_context(ctx, p->n_window, e);
    if (st)
        return st;
    const int n_vocab = model_vocab(ctx);
    if (n < 2 * (int64_t)p->n_window)
        return lc_fail(e, LLAMAC_E_INVALID_ARG, "the text has %lld tokens: perplexity with a window of %d needs at "
                       "least %d (two windows); use a longer text or a smaller window", (long long)n, p->n_window,
                       2 * p->n_window);
    for (int64_t i = 0; i < n; i++)
        if (tokens[i] < 0 || tokens[i] >= n_vocab)
            return lc_fail(e, LLAMAC_E_INVALID_ARG, "token %lld is %d, outside the vocabulary of %d", (long long)i,
                           tokens[i], n_vocab);
    int64_t n_windows = n / p->n_window;
    if (p->max_windows > 0 && n_windows > p->max_windows)
        n_windows = p->max_windows;
    if (n_windows > INT32_MAX / 2 || n_windows * p->n_window > (int64_t)LC_KL_MAX_TOKENS)
        return lc_fail(e, LLAMAC_E_INVALID_ARG, "too many tokens (%lld)", (long long)n);
    run_args a = {.tokens = tokens, .n_window = p->n_window, .n_windows = (int)n_windows,
                  .bos = resolve_bos(ctx, p->bos), .progress = progress, .user = user};
    if (a.bos >= n_vocab)
        return lc_fail(e, LLAMAC_E_INVALID_ARG, "BOS id %d is outside the vocabulary of %d", a.bos, n_vocab);
    lc_kl_writer writer;
    if (p->kl_base_path) {
        lc_kl_header h;
        lc_kl_header_make(&h, (uint32_t)n_vocab, (uint32_t)a.n_window, (uint32_t)a.n_windows, a.bos);
        if ((st = lc_kl_writer_open(&writer, p->kl_base_path, &h, tokens, e)))
            return st;
        a.writer = &writer;
    }
    st = run(ctx, &a, out, e);
    if (a.writer) {
        if (st)
            lc_kl_writer_abort(&writer);
        else
            st = lc_kl_writer_finish(&writer, e);
    }
    return st;
}

llamac_status llamac_perplexity(llamac_context *ctx, const int32_t *tokens, int64_t n, const llamac_ppl_params *p,
                                llamac_ppl_progress_fn progress, void *user, llamac_ppl_result *out, char *err,
                                size_t err_size)
{
    lc_err e = {{0}};
    llamac_ppl_params def = llamac_ppl_default_params();
    llamac_status st;
    if (!ctx || !out || (n > 0 && !tokens) || n < 0)
        st = lc_fail(&e, LLAMAC_E_INVALID_ARG, "llamac_perplexity: bad arguments");
    else
        st = perplexity(ctx, tokens, n, p ? p : &def, progress, user, out, &e);
    lc_err_copy(&e, err, err_size);
    return st;
}

llamac_status llamac_kl_file_probe(const char *path, llamac_kl_file_info *out, char *err, size_t err_size)
{
    lc_err e = {{0}};
    lc_kl_reader r;
    llamac_status st = !path || !out ? lc_fail(&e, LLAMAC_E_INVALID_ARG, "llamac_kl_file_probe: bad arguments")
                                     : lc_kl_reader_open(&r, path, &e);
    if (!st) {
        out->n_vocab = (int32_t)r.h.n_vocab;
        out->n_window = (int32_t)r.h.n_window;
        out->n_windows = (int32_t)r.h.n_windows;
        out->bos = r.h.bos;
        out->n_tokens = (int64_t)r.h.n_tokens;
        out->file_bytes = r.h.file_bytes;
        lc_kl_reader_close(&r);
    }
    lc_err_copy(&e, err, err_size);
    return st;
}

static llamac_status kl_divergence(llamac_context *ctx, const char *path, const llamac_ppl_params *p,
                                   llamac_ppl_progress_fn progress, void *user, llamac_ppl_result *out, lc_err *e)
{
    lc_kl_reader r;
    llamac_status st = lc_kl_reader_open(&r, path, e);
    if (st)
        return st;
    const int n_vocab = model_vocab(ctx);
    if ((int64_t)r.h.n_vocab != n_vocab)
        st = lc_fail(e, LLAMAC_E_INVALID_ARG, "%s was made with a vocabulary of %u tokens, this model has %d",
                     path, r.h.n_vocab, n_vocab);
    else
        st = check_context(ctx, (int)r.h.n_window, e);
    if (!st) {
        run_args a = {.tokens = r.tokens, .n_window = (int)r.h.n_window, .n_windows = (int)r.h.n_windows,
                      .bos = r.h.bos, .reader = &r, .progress = progress, .user = user};
        if (p && p->max_windows > 0 && a.n_windows > p->max_windows)
            a.n_windows = p->max_windows;
        st = run(ctx, &a, out, e);
    }
    lc_kl_reader_close(&r);
    return st;
}

llamac_status llamac_kl_divergence(llamac_context *ctx, const char *base_path, const llamac_ppl_params *p,
                                   llamac_ppl_progress_fn progress, void *user, llamac_ppl_result *out, char *err,
                                   size_t err_size)
{
    lc_err e = {{0}};
    llamac_status st = !ctx || !base_path || !out
                           ? lc_fail(&e, LLAMAC_E_INVALID_ARG, "llamac_kl_divergence: bad arguments")
                           : kl_divergence(ctx, base_path, p, progress, user, out, &e);
    lc_err_copy(&e, err, err_size);
    return st;
}
