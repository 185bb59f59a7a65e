/*
 * llamac_eval.h — judging a model's quality on a text: perplexity, and the KL divergence of a (quantized) model
 * from a reference model's saved log-probabilities, as `llamac perplexity`. Included by llamac.h.
 *
 *     llamac_tokens ids = {0};                                   // the text, tokenized once, BOS first
 *     llamac_tokenize(tok, text, len, LLAMAC_TOKENIZE_ADD_BOS, &ids);
 *     llamac_ppl_params pp = llamac_ppl_default_params();       // windows of 512 tokens
 *     pp.kl_base_path = "f16.kllp";                              // optional: save log-probs for a later KL run
 *     llamac_ppl_result r;
 *     char err[512];
 *     if (llamac_perplexity(ctx, ids.ids, (int64_t)ids.n, &pp, NULL, NULL, &r, err, sizeof err) == LLAMAC_OK)
 *         printf("PPL = %.4f +/- %.5f\n", r.ppl, r.ppl_err);
 *     // later, with the quantized model's context (n_ctx >= the file's window, see llamac_kl_file_probe):
 *     llamac_kl_divergence(ctx_q, "f16.kllp", &pp, NULL, NULL, &r, err, sizeof err);   // r.kld, r.same_top, ...
 *
 * Method (llama.cpp's `llama-perplexity`, so figures compare): the tokens are cut into non-overlapping windows
 * of n_window tokens (the tail that does not fill a window is dropped; at least two windows are needed). Each
 * window is decoded alone from position 0 in sequence 0 of the context, its first token replaced by BOS; the
 * logits at positions n_window/2 .. n_window-2 score the token that follows (n_window - 1 - n_window/2 tokens
 * per window), so every scored token has at least half a window of context. NLL = -log softmax(logits)[next];
 * PPL = exp(mean NLL), its error PPL * sqrt(var(NLL) / (N - 1)).
 *
 * KL divergence: the reference run saves, for every scored token, its log-probabilities over the vocabulary
 * (16 bits each on a per-token scale; format in src/eval/kl_file.h), the exact NLL and the top token. The
 * compared run decodes the same tokens (read from the file) and reports llama.cpp's statistics: PPL(Q) and
 * PPL(base), their ratio and difference with errors, KLD(base || Q) per token (mean, quantiles), the change
 * of the right token's probability (Δp = p - p_base: mean, quantiles, RMS) and how often the top tokens agree.
 * KLD sums over the tokens whose base log-probability exceeds -16 (as llama.cpp); Q's log-probabilities are
 * rounded to the base's 16-bit grid where they fall on it, so a model compared with its own file gives
 * exactly 0 (and 100% same top).
 *
 * Deterministic: the same model, tokens and window give bit-identical results whatever the thread count and
 * the context's n_batch (every sum is taken in token order in one thread). The context's sequence 0 is
 * cleared before each window and at the end.
 */
#ifndef LLAMAC_EVAL_H
#define LLAMAC_EVAL_H

#include <stddef.h>
#include <stdint.h>

#include "llamac.h"

#ifdef __cplusplus
extern "C" {
#endif

#define LLAMAC_PPL_BOS_AUTO (-2) /* the model's BOS when its vocabulary adds one (llama.cpp's rule), else none */

typedef struct llamac_ppl_params {
    int n_window;             /* tokens per window (llama.cpp's -c; default 512); >= 4 */
    int max_windows;          /* evaluate at most this many windows (default 0 = all) */
    int32_t bos;              /* the id put first in each window: LLAMAC_PPL_BOS_AUTO (default), -1 = none,
                                 or an id (llamac_perplexity only: a KL run uses the id its file holds) */
    const char *kl_base_path; /* llamac_perplexity: also save the log-probs here for a later KL run (default
                                 NULL). Written to a temporary file and renamed at the end */
} llamac_ppl_params;

llamac_ppl_params llamac_ppl_default_params(void);

/* Quantiles reported for the KLD and Δp distributions (fractions, the maximum first); median = index 6. */
#define LLAMAC_KL_N_QUANTILES 13
#define LLAMAC_KL_QUANTILES {1.0, 0.999, 0.99, 0.95, 0.90, 0.75, 0.50, 0.25, 0.10, 0.05, 0.01, 0.001, 0.0}

/* Every "_err" is one standard error (llama.cpp's "±"). */
typedef struct llamac_ppl_result {
    int n_window;          /* tokens per window */
    int n_windows;         /* windows evaluated (so far, in a progress callback) */
    int n_windows_total;   /* windows that will be evaluated */
    int64_t n_scored;      /* tokens scored */
    double nll, nll_err;   /* mean negative log-likelihood (nats per token) = ln PPL */
    double ppl, ppl_err;

    int has_kl;            /* the fields below are set (a KL run) */
    double ppl_base, ppl_base_err;
    double ln_ratio, ln_ratio_err;   /* mean ln(PPL(Q) / PPL(base)) */
    double ppl_ratio, ppl_ratio_err; /* PPL(Q) / PPL(base) */
    double ppl_diff, ppl_diff_err;   /* PPL(Q) - PPL(base) */
    double ln_ppl_cor;               /* correlation of ln PPL(Q) and ln PPL(base) over tokens (0 if < 10) */
    double kld, kld_err;             /* mean KL divergence, nats */
    double dp, dp_err;               /* mean Δp (fraction, not %) */
    double dp_rms, dp_rms_err;
    double same_top, same_top_err;   /* fraction of tokens where both models' top token is the same */
    int has_quantiles;               /* set in the final result of a KL run (not in progress callbacks) */
    double kld_q[LLAMAC_KL_N_QUANTILES]; /* at the fractions LLAMAC_KL_QUANTILES (linear interpolation) */
    double dp_q[LLAMAC_KL_N_QUANTILES];
} llamac_ppl_result;

/* Called after each window with the running figures (no quantiles); a non-zero return stops the run
 * (LLAMAC_E_CANCELLED). */
typedef int (*llamac_ppl_progress_fn)(void *user, const llamac_ppl_result *running);

/* Perplexity of the model of ctx on tokens[0..n) (tokenized with BOS first, as above). The context needs
 * n_ctx >= n_window; n_batch and n_logits set how many tokens go into one forward pass (any values give the
 * same result). Errors: LLAMAC_E_INVALID_ARG (too few tokens for two windows: the message says how many are
 * needed; a token out of range), LLAMAC_E_IO (the KL file), the decode's errors. On failure the message is in
 * err and no KL file is left behind. */
llamac_status llamac_perplexity(llamac_context *ctx, const int32_t *tokens, int64_t n, const llamac_ppl_params *p,
                                llamac_ppl_progress_fn progress, void *user, llamac_ppl_result *out, char *err,
                                size_t err_size);

typedef struct llamac_kl_file_info {
    int32_t n_vocab;
    int32_t n_window;
    int32_t n_windows;
    int32_t bos;           /* -1: none */
    int64_t n_tokens;      /* n_windows * n_window */
    uint64_t file_bytes;
} llamac_kl_file_info;

/* Reads and validates the header of a KL file (so the caller can size the context). LLAMAC_E_IO (cannot open,
 * not a regular file), LLAMAC_E_FORMAT (not a llamac log-prob file, truncated, inconsistent),
 * LLAMAC_E_UNSUPPORTED (another version). */
llamac_status llamac_kl_file_probe(const char *path, llamac_kl_file_info *out, char *err, size_t err_size);

/* Compares the model of ctx with the reference log-probs in base_path (made by llamac_perplexity with
 * kl_base_path) on the tokens stored there. p may be NULL; only p->max_windows is used. The file's vocabulary
 * size must be the model's; n_ctx must be >= its window. Every record is validated as it is read. */
llamac_status llamac_kl_divergence(llamac_context *ctx, const char *base_path, const llamac_ppl_params *p,
                                   llamac_ppl_progress_fn progress, void *user, llamac_ppl_result *out, char *err,
                                   size_t err_size);

#ifdef __cplusplus
}
#endif

#endif
