/*
 * ppl_stats.h — the running sums of a perplexity / KL run and the figures derived from them (llama.cpp's
 * estimators: mean ± standard error, the covariance of the two NLLs for the ratio's error, binomial error of the
 * same-top fraction, interpolated quantiles). Tokens are added in order by one thread, so the sums, and every
 * figure, are deterministic.
 */
#ifndef LC_EVAL_PPL_STATS_H
#define LC_EVAL_PPL_STATS_H

#include <stdint.h>

#include "eval/logprob.h"
#include "llamac_eval.h"

typedef struct lc_ppl_stats {
    int kl;                    /* KL sums and per-token values are kept */
    int64_t count, cap;        /* tokens added; room in the value arrays */
    int64_t n_same_top;
    double s_nll, s_nll2;
    double s_base, s_base2, s_nll_base;
    double s_kld, s_kld2;
    double s_dp, s_dp2, s_dp4;
    float *kld_values, *dp_values; /* [cap], owned (KL only) */
} lc_ppl_stats;

/* cap = the number of tokens that will be added (KL runs keep one KLD and one Δp per token). 0 or -1 (no
 * memory). */
int lc_ppl_stats_init(lc_ppl_stats *s, int64_t cap, int kl);
void lc_ppl_stats_free(lc_ppl_stats *s);
void lc_ppl_stats_add_nll(lc_ppl_stats *s, double nll);
void lc_ppl_stats_add_cmp(lc_ppl_stats *s, const lc_lp_cmp *c); /* at most cap times */
/* Fills the NLL / PPL fields of out and, for a KL run, the KL fields; with quantiles also sorts the kept
 * values and fills kld_q / dp_q. Leaves the window counts alone. */
void lc_ppl_stats_result(lc_ppl_stats *s, int quantiles, llamac_ppl_result *out);

#endif
