/*
 * test_eval_logprob.c — the per-token arithmetic, the estimators and the log-prob file of src/eval:
 *   - the 16-bit record: every log-prob above the clip is within half a grid step of the exact one, the NLL
 *     and top token are exact, and logits compared with their own record give KLD, Δp exactly 0 (random
 *     logits, all-equal logits, a one-hot distribution with clipped entries);
 *   - the KLD of perturbed logits against a record matches the exact float64 KLD (over base log-probs > -16);
 *   - the estimators: mean ± standard error, the binomial error of same-top, interpolated quantiles;
 *   - the file: write then read gives back the header, tokens and records bit for bit; a truncated, padded or
 *     inconsistent file is refused before any record is read.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "eval/kl_file.h"
#include "eval/logprob.h"
#include "eval/ppl_stats.h"

#define NV 1000

static void exact_lp(const float *l, int n, double *lp)
{
    double m = l[0], s = 0;
    for (int i = 1; i < n; i++)
        m = l[i] > m ? l[i] : m;
    for (int i = 0; i < n; i++)
        s += exp((double)l[i] - m);
    for (int i = 0; i < n; i++)
        lp[i] = (double)l[i] - m - log(s);
}

static void self_compare(const float *l, int n, int32_t tok, const char *what)
{
    lc_lp_record rec;
    uint16_t *codes = malloc((size_t)n * sizeof *codes);
    double *lp = malloc((size_t)n * sizeof *lp);
    lc_lp_encode(l, n, tok, &rec, codes);
    exact_lp(l, n, lp);
    CHECK(fabs(rec.nll + lp[tok]) < 1e-5, "%s: nll %g vs exact %g", what, rec.nll, -lp[tok]);
    int worst = -1;
    double worst_d = 0;
    for (int i = 0; i < n; i++) {
        if (lp[i] < (double)rec.min_lp + 1e-5)
            continue; /* clipped to code 0 */
        double d = fabs((double)rec.min_lp + (double)rec.scale * codes[i] - lp[i]);
        if (d > worst_d)
            worst_d = d, worst = i;
    }
    CHECK(worst_d <= 0.5 * rec.scale + 2e-6, "%s: log-prob %d off its grid value by %g (step %g)", what, worst,
          worst_d, (double)rec.scale);
    lc_lp_cmp c;
    lc_lp_compare(l, n, tok, &rec, codes, &c);
    CHECK(c.kld == 0.0 && c.dp == 0.0 && c.same_top && c.nll == c.nll_base, "%s: self compare kld %g dp %g top %d",
          what, c.kld, c.dp, c.same_top);
    free(codes);
    free(lp);
}

static void test_record(void)
{
    static float l[NV];
    for (int round = 0; round < 20; round++) {
        float scale = 0.5f + (float)round;
        for (int i = 0; i < NV; i++)
            l[i] = scale * frand();
        self_compare(l, NV, (int32_t)(rnd() % NV), "random");
    }
    for (int i = 0; i < NV; i++)
        l[i] = 3.0f;
    self_compare(l, NV, 7, "all equal");
    lc_lp_record rec;
    static uint16_t codes[NV];
    lc_lp_encode(l, NV, 7, &rec, codes);
    CHECK(rec.scale == 0.0f && fabs(rec.nll - log(NV)) < 1e-6 && rec.top == 0, "all equal: scale %g nll %g top %d",
          (double)rec.scale, rec.nll, rec.top);
    for (int i = 0; i < NV; i++)
        l[i] = -1000.0f + (float)(i % 7);
    l[123] = 50.0f;
    self_compare(l, NV, 5, "one-hot");
    lc_lp_encode(l, NV, 5, &rec, codes);
    CHECK(rec.top == 123 && codes[5] == 0 && codes[123] == 65535, "one-hot: top %d, codes %u %u", rec.top,
          codes[5], codes[123]);
}

static void test_kld_accuracy(void)
{
    static float b[NV], q[NV];
    static double lb[NV], lq[NV];
    static uint16_t codes[NV];
    for (int round = 0; round < 10; round++) {
        for (int i = 0; i < NV; i++) {
            b[i] = 4.0f * frand();
            q[i] = b[i] + 0.05f * (float)(round + 1) * frand();
        }
        lc_lp_record rec;
        lc_lp_encode(b, NV, 3, &rec, codes);
        lc_lp_cmp c;
        lc_lp_compare(q, NV, 3, &rec, codes, &c);
        exact_lp(b, NV, lb);
        exact_lp(q, NV, lq);
        double kld = 0;
        for (int i = 0; i < NV; i++)
            if (lb[i] > -16)
                kld += exp(lb[i]) * (lb[i] - lq[i]);
        CHECK(fabs(c.kld - kld) <= 0.02 * kld + 1e-5, "round %d: KLD %g vs exact %g", round, c.kld, kld);
        CHECK(fabs(c.dp - (exp(lq[3]) - exp(lb[3]))) < 1e-6, "round %d: dp %g", round, c.dp);
    }
}

static void test_stats(void)
{
    lc_ppl_stats s;
    CHECK(lc_ppl_stats_init(&s, 10, 1) == 0, "init");
    for (int i = 1; i <= 10; i++) {
        lc_lp_cmp c = {.nll = i, .nll_base = i, .kld = i / 100.0, .dp = 0, .same_top = i <= 7};
        lc_ppl_stats_add_cmp(&s, &c);
    }
    llamac_ppl_result r;
    memset(&r, 0, sizeof r);
    lc_ppl_stats_result(&s, 1, &r);
    CHECK(r.n_scored == 10 && fabs(r.nll - 5.5) < 1e-12 && fabs(r.nll_err - sqrt(8.25 / 9)) < 1e-12,
          "nll %g ± %g", r.nll, r.nll_err);
    CHECK(fabs(r.ppl - exp(5.5)) < 1e-9 && fabs(r.ppl_err - exp(5.5) * sqrt(8.25 / 9)) < 1e-9, "ppl %g", r.ppl);
    CHECK(r.ln_ratio == 0.0 && fabs(r.ln_ppl_cor - 1.0) < 1e-9, "ratio %g cor %g", r.ln_ratio, r.ln_ppl_cor);
    CHECK(fabs(r.same_top - 0.7) < 1e-12 && fabs(r.same_top_err - sqrt(0.7 * 0.3 / 9)) < 1e-12, "same top %g ± %g",
          r.same_top, r.same_top_err);
    /* quantiles: max, 99.9%, ..., median (index 6), ..., min of 0.01..0.10 */
    CHECK(fabs(r.kld_q[0] - 0.10) < 1e-7 && fabs(r.kld_q[6] - 0.055) < 1e-7 && fabs(r.kld_q[12] - 0.01) < 1e-7 &&
              fabs(r.kld_q[3] - (0.01 + 0.95 * 9 * 0.01)) < 1e-7,
          "quantiles %g %g %g %g", r.kld_q[0], r.kld_q[6], r.kld_q[12], r.kld_q[3]);
    lc_ppl_stats_free(&s);
}

static void test_file(void)
{
    char path[] = "/tmp/test_eval_logprob-XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0, "mkstemp");
    close(fd);
    const uint32_t nv = 50, win = 9, nw = 3;
    lc_kl_header h;
    lc_kl_header_make(&h, nv, win, nw, 49);
    CHECK(h.n_scored == 4 && h.file_bytes == 64 + 4 * 27 + 12 * (20 + 100ull), "header sizes %u %llu", h.n_scored,
          (unsigned long long)h.file_bytes);
    int32_t toks[27];
    for (int i = 0; i < 27; i++)
        toks[i] = (int32_t)(rnd() % nv);
    lc_err e;
    lc_kl_writer w;
    CHECK(lc_kl_writer_open(&w, path, &h, toks, &e) == LLAMAC_OK, "writer open: %s", e.msg);
    lc_lp_record recs[12];
    static uint16_t codes[12][50], back[50];
    float l[50];
    for (int k = 0; k < 12; k++) {
        for (uint32_t i = 0; i < nv; i++)
            l[i] = (float)(frand() * 10);
        lc_lp_encode(l, (int)nv, k % 50, &recs[k], codes[k]);
        CHECK(lc_kl_writer_add(&w, &recs[k], codes[k], &e) == LLAMAC_OK, "add %d", k);
    }
    CHECK(lc_kl_writer_finish(&w, &e) == LLAMAC_OK, "finish: %s", e.msg);
    lc_kl_reader r;
    CHECK(lc_kl_reader_open(&r, path, &e) == LLAMAC_OK, "reader: %s", e.msg);
    CHECK(r.h.n_vocab == nv && r.h.n_window == win && r.h.n_windows == nw && r.h.bos == 49 &&
              !memcmp(r.tokens, toks, sizeof toks),
          "header/tokens read back differ");
    for (int k = 0; k < 12; k++) {
        lc_lp_record rec;
        CHECK(lc_kl_reader_next(&r, &rec, back, &e) == LLAMAC_OK, "record %d: %s", k, e.msg);
        CHECK(rec.nll == recs[k].nll && rec.scale == recs[k].scale && rec.min_lp == recs[k].min_lp &&
                  rec.top == recs[k].top && !memcmp(back, codes[k], sizeof back),
              "record %d differs", k);
    }
    CHECK(lc_kl_reader_next(&r, &recs[0], back, &e) != LLAMAC_OK, "a 13th record was read");
    lc_kl_reader_close(&r);
    /* damaged copies, parsed from memory */
    size_t len = 0;
    uint8_t *data = (uint8_t *)check_read_file(path, &len);
    CHECK(data && len == h.file_bytes, "file length %zu", len);
    lc_kl_header h2;
    CHECK(lc_kl_header_parse(data, len, len, &h2, &e) == LLAMAC_OK, "good header refused: %s", e.msg);
    CHECK(lc_kl_header_parse(data, len, len - 1, &h2, &e) == LLAMAC_E_FORMAT && strstr(e.msg, "truncated"),
          "truncated: %s", e.msg);
    CHECK(lc_kl_header_parse(data, len, len + 1, &h2, &e) != LLAMAC_OK && strstr(e.msg, "too long"), "padded: %s",
          e.msg);
    data[28]++; /* n_scored */
    CHECK(lc_kl_header_parse(data, len, len, &h2, &e) != LLAMAC_OK && strstr(e.msg, "inconsistent"),
          "bad n_scored: %s", e.msg);
    data[28]--;
    data[8] = 9; /* version */
    CHECK(lc_kl_header_parse(data, len, len, &h2, &e) == LLAMAC_E_UNSUPPORTED, "version 9: %s", e.msg);
    free(data);
    unlink(path);
}

int main(void)
{
    test_record();
    test_kld_accuracy();
    test_stats();
    test_file();
    return check_finish("test_eval_logprob");
}
