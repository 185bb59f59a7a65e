/*
 * logprob.h — the per-token arithmetic of perplexity and KL divergence: log-softmax, the negative
 * log-likelihood of the next token, the 16-bit log-probability record a reference run saves, and the
 * comparison of a model's logits with such a record.
 *
 * The record (one per scored token; on disk in kl_file.h): lp_i = log softmax(logits)_i is stored as a 16-bit
 * code on a per-token grid, lp ~ min_lp + scale * code. min_lp is the smallest log-prob, but never more than
 * 16 below the largest (lower ones are stored as code 0), and scale = (max_lp - min_lp) / 65535, so the grid
 * step is at most 2.4e-4 nats (llama.cpp's scheme). The exact NLL of the right token and the top token (the
 * first index of the largest logit) are kept beside the codes.
 *
 * Invariant: the same logits give the same record bit for bit, and comparing logits with the record they gave
 * yields KLD 0 exactly: the compared log-probs go through the same encoding on the base's grid (see
 * lc_lp_compare).
 */
#ifndef LC_EVAL_LOGPROB_H
#define LC_EVAL_LOGPROB_H

#include <stdint.h>

#define LC_LP_RANGE 16.0f  /* log-probs more than this below the largest one are clipped to code 0 */
#define LC_LP_KL_FLOOR -16.0 /* KLD sums over the base's log-probs above this (llama.cpp's cut) */

typedef struct lc_lp_record {
    double nll;      /* -log p(right token), exact */
    float scale;     /* grid step (>= 0) */
    float min_lp;    /* the log-prob of code 0 (<= 0) */
    int32_t top;     /* argmax of the logits (first index of the largest) */
} lc_lp_record;

/* NLL of token tok and the top token of logits[n_vocab]. */
double lc_lp_nll(const float *logits, int n_vocab, int32_t tok, int32_t *top);

/* Fills rec and codes[n_vocab] for logits and the right token tok. */
void lc_lp_encode(const float *logits, int n_vocab, int32_t tok, lc_lp_record *rec, uint16_t *codes);

/* One token of a KL run: model Q's logits against the base's record. */
typedef struct lc_lp_cmp {
    double nll;       /* Q's NLL of the right token */
    double nll_base;  /* the base's (exact, from the record) */
    double kld;       /* sum over i with lp_base_i > LC_LP_KL_FLOOR of p_base_i * (lp_base_i - lp_q_i) */
    double dp;        /* p_q(right) - p_base(right) */
    int same_top;     /* 1 if Q's top token is the base's */
} lc_lp_cmp;

void lc_lp_compare(const float *logits, int n_vocab, int32_t tok, const lc_lp_record *base,
                   const uint16_t *base_codes, lc_lp_cmp *out);

#endif
