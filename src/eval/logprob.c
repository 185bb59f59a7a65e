/*
 * logprob.c — log-softmax, NLL, the 16-bit log-probability record and the KL comparison (see logprob.h).
 *
 * Normalisation follows llama.cpp: max = the largest logit, lse = log(sum_i exp(logit_i - max)) with the
 * differences in float and the sum in double; lp_i = (logit_i - max) - lse. Every loop runs in index order in
 * one thread, so the results are the same bit for bit on any machine state.
 */
#include <math.h>

#include "eval/logprob.h"

/* lse of logits[n] (the log of the softmax denominator relative to *max); *top = first index of the max */
static double normaliser(const float *logits, int n, float *max, int32_t *top)
{
    float m = logits[0];
    int32_t t = 0;
    for (int i = 1; i < n; i++)
        if (logits[i] > m) {
            m = logits[i];
            t = i;
        }
    double sum = 0.0;
    for (int i = 0; i < n; i++)
        sum += expf(logits[i] - m);
    *max = m;
    *top = t;
    return log(sum);
}

static uint16_t lp_code(double lp, const lc_lp_record *r)
{
    if (!(r->scale > 0.0f) || !(lp > (double)r->min_lp))
        return 0;
    double c = floor((lp - (double)r->min_lp) / (double)r->scale + 0.5);
    return c >= 65535.0 ? 65535 : (uint16_t)c;
}

static double lp_value(uint16_t code, const lc_lp_record *r)
{
    return (double)r->min_lp + (double)r->scale * (double)code;
}

double lc_lp_nll(const float *logits, int n_vocab, int32_t tok, int32_t *top)
{
    float max;
    double lse = normaliser(logits, n_vocab, &max, top);
    return (double)(max - logits[tok]) + lse;
}

void lc_lp_encode(const float *logits, int n_vocab, int32_t tok, lc_lp_record *rec, uint16_t *codes)
{
    float max;
    double lse = normaliser(logits, n_vocab, &max, &rec->top);
    float lo = logits[0];
    for (int i = 1; i < n_vocab; i++)
        lo = logits[i] < lo ? logits[i] : lo;
    if (lo < max - LC_LP_RANGE)
        lo = max - LC_LP_RANGE;
    rec->nll = (double)(max - logits[tok]) + lse;
    rec->min_lp = (float)((double)(lo - max) - lse);
    rec->scale = (float)((double)(max - lo) / 65535.0);
    for (int i = 0; i < n_vocab; i++)
        codes[i] = lp_code((double)(logits[i] - max) - lse, rec);
}

void lc_lp_compare(const float *logits, int n_vocab, int32_t tok, const lc_lp_record *base,
                   const uint16_t *base_codes, lc_lp_cmp *out)
{
    float max;
    int32_t top;
    double lse = normaliser(logits, n_vocab, &max, &top);
    /* Q's log-prob is replaced by its value on the base's grid when that is within rounding of it: the same
     * rounding the base's own values went through, so identical models compare equal term by term. Far off
     * the grid (below the base's clipped floor) the exact value counts. */
    const double tol = 0.5 * (double)base->scale + 1e-5;
    double sum = 0.0;
    for (int i = 0; i < n_vocab; i++) {
        double lpb = lp_value(base_codes[i], base);
        if (lpb <= LC_LP_KL_FLOOR)
            continue;
        double lq = (double)(logits[i] - max) - lse;
        double on_grid = lp_value(lp_code(lq, base), base);
        if (fabs(on_grid - lq) <= tol)
            lq = on_grid;
        sum += exp(lpb) * (lpb - lq);
    }
    out->nll = (double)(max - logits[tok]) + lse;
    out->nll_base = base->nll;
    out->kld = sum;
    out->dp = exp(-out->nll) - exp(-base->nll);
    out->same_top = top == base->top;
}
