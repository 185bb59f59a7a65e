/*
 * ppl_stats.c — sums and estimators of a perplexity / KL run (see ppl_stats.h). The formulas are llama.cpp's
 * (tools/perplexity), so the ± figures mean the same thing.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "eval/ppl_stats.h"

int lc_ppl_stats_init(lc_ppl_stats *s, int64_t cap, int kl)
{
    memset(s, 0, sizeof *s);
    s->kl = kl;
    if (!kl)
        return 0;
    s->kld_values = malloc((size_t)cap * sizeof(float) + 1);
    s->dp_values = malloc((size_t)cap * sizeof(float) + 1);
    if (!s->kld_values || !s->dp_values) {
        lc_ppl_stats_free(s);
        return -1;
    }
    s->cap = cap;
    return 0;
}

void lc_ppl_stats_free(lc_ppl_stats *s)
{
    free(s->kld_values);
    free(s->dp_values);
    s->kld_values = s->dp_values = NULL;
    s->cap = 0;
}

void lc_ppl_stats_add_nll(lc_ppl_stats *s, double nll)
{
    s->s_nll += nll;
    s->s_nll2 += nll * nll;
    s->count++;
}

void lc_ppl_stats_add_cmp(lc_ppl_stats *s, const lc_lp_cmp *c)
{
    if (s->count >= s->cap)
        return;
    s->kld_values[s->count] = (float)c->kld;
    s->dp_values[s->count] = (float)c->dp;
    lc_ppl_stats_add_nll(s, c->nll);
    s->s_base += c->nll_base;
    s->s_base2 += c->nll_base * c->nll_base;
    s->s_nll_base += c->nll * c->nll_base;
    s->s_kld += c->kld;
    s->s_kld2 += c->kld * c->kld;
    s->s_dp += c->dp;
    s->s_dp2 += c->dp * c->dp;
    s->s_dp4 += c->dp * c->dp * c->dp * c->dp;
    s->n_same_top += c->same_top;
}

/* mean of n values with sum and sum of squares, and the standard error of that mean */
static void mean_err(double sum, double sum2, int64_t n, double *mean, double *err)
{
    *mean = *err = 0.0;
    if (n < 1)
        return;
    double m = sum / (double)n, var = sum2 / (double)n - m * m;
    *mean = m;
    *err = var > 0.0 && n > 1 ? sqrt(var / (double)(n - 1)) : 0.0;
}

/* covariance of the two means (llama.cpp: 0 below 10 values) */
static double mean_cov(double sa, double sb, double sab, int64_t n)
{
    if (n < 10)
        return 0.0;
    double c = sab / (double)n - (sa / (double)n) * (sb / (double)n);
    return c / (double)(n - 1);
}

static int cmp_float(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

/* linear interpolation between the sorted values v[n] at fraction f of the way from the first to the last */
static double quantile(const float *v, int64_t n, double f)
{
    if (n < 1)
        return 0.0;
    if (f <= 0.0)
        return v[0];
    if (f >= 1.0)
        return v[n - 1];
    double p = f * (double)(n - 1);
    int64_t i = (int64_t)p;
    p -= (double)i;
    int64_t j = i + 1 < n ? i + 1 : n - 1;
    return (1.0 - p) * v[i] + p * v[j];
}

void lc_ppl_stats_result(lc_ppl_stats *s, int quantiles, llamac_ppl_result *out)
{
    const int64_t n = s->count;
    out->n_scored = n;
    mean_err(s->s_nll, s->s_nll2, n, &out->nll, &out->nll_err);
    out->ppl = exp(out->nll);
    out->ppl_err = out->ppl * out->nll_err;
    out->has_kl = s->kl;
    out->has_quantiles = 0;
    if (!s->kl)
        return;
    double nll_b, nll_b_err;
    mean_err(s->s_base, s->s_base2, n, &nll_b, &nll_b_err);
    out->ppl_base = exp(nll_b);
    out->ppl_base_err = out->ppl_base * nll_b_err;
    const double cov = mean_cov(s->s_nll, s->s_base, s->s_nll_base, n);
    const double den = out->nll_err * nll_b_err;
    out->ln_ppl_cor = den > 0.0 ? cov / den : 0.0;
    out->ln_ratio = out->nll - nll_b;
    double v = out->nll_err * out->nll_err + nll_b_err * nll_b_err - 2.0 * cov;
    out->ln_ratio_err = v > 0.0 ? sqrt(v) : 0.0;
    out->ppl_ratio = exp(out->ln_ratio);
    out->ppl_ratio_err = out->ppl_ratio * out->ln_ratio_err;
    out->ppl_diff = out->ppl - out->ppl_base;
    v = out->ppl_err * out->ppl_err + out->ppl_base_err * out->ppl_base_err - 2.0 * out->ppl * out->ppl_base * cov;
    out->ppl_diff_err = v > 0.0 ? sqrt(v) : 0.0;
    mean_err(s->s_kld, s->s_kld2, n, &out->kld, &out->kld_err);
    mean_err(s->s_dp, s->s_dp2, n, &out->dp, &out->dp_err);
    double mse, mse_err;
    mean_err(s->s_dp2, s->s_dp4, n, &mse, &mse_err);
    out->dp_rms = sqrt(mse);
    out->dp_rms_err = out->dp_rms > 0.0 ? 0.5 / out->dp_rms * mse_err : 0.0;
    out->same_top = n > 0 ? (double)s->n_same_top / (double)n : 0.0;
    out->same_top_err = n > 1 ? sqrt(out->same_top * (1.0 - out->same_top) / (double)(n - 1)) : 0.0;
    if (!quantiles || n < 1)
        return;
    static const double fr[LLAMAC_KL_N_QUANTILES] = LLAMAC_KL_QUANTILES;
    qsort(s->kld_values, (size_t)n, sizeof(float), cmp_float);
    qsort(s->dp_values, (size_t)n, sizeof(float), cmp_float);
    for (int i = 0; i < LLAMAC_KL_N_QUANTILES; i++) {
        out->kld_q[i] = quantile(s->kld_values, n, fr[i]);
        out->dp_q[i] = quantile(s->dp_values, n, fr[i]);
    }
    out->has_quantiles = 1;
}
