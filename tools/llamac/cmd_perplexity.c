/*
 * cmd_perplexity.c — `llamac perplexity -m MODEL -f TEXT [--ctx N] [--batch N] [-t N] [--kl-base FILE | --kl FILE]`:
 * perplexity of a model on a text, and the KL divergence of a model from a reference's saved log-probs, with
 * llama.cpp's method and statistics (the library does the work: include/llamac_eval.h). This file parses
 * options, reads and tokenizes the text, sizes the context and prints the figures in llama.cpp's layout
 * (--json: every figure, full precision). Ctrl-C stops after the current window.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"


static volatile sig_atomic_t g_interrupted;

static void on_signal(int sig)
{
    (void)sig;
    g_interrupted = 1;
}

static const char *k_usage =
    "usage: llamac perplexity -m MODEL -f TEXT [options]\n"
    "       llamac perplexity -m MODEL -f TEXT --kl-base FILE   (also save the log-probs for a KL run)\n"
    "       llamac perplexity -m MODEL --kl FILE                (KL divergence from the model that made FILE)\n"
    "  -f, --file TEXT   the text (UTF-8), tokenized once with BOS first\n"
    "  -c, --ctx N       window: tokens per evaluation chunk (default 512; 0 = the training context);\n"
    "                    the second half of each window is scored (llama.cpp's method)\n"
    "  -b, --batch N     tokens per forward pass (default 512; the result does not depend on it)\n"
    "  --chunks N        evaluate only the first N windows\n"
    "  -t N              threads (the result does not depend on it)\n"
    "  --kl-base FILE    save the reference log-probs of every scored token to FILE\n"
    "  --kl FILE         compare with FILE: KLD, PPL ratio, Δp and top-token agreement (-f not needed)\n"
    "  --json            print every figure as JSON on stdout instead of the text report\n"
    "  --kv f32|f16, --mmap|--no-mmap\n";

typedef struct report {
    int json;
    int kl;
} report;

static int on_window(void *user, const llamac_ppl_result *r)
{
    report *rp = user;
    if (!rp->json && !rp->kl) {
        printf("[%d]%.4f,", r->n_windows, r->ppl);
        fflush(stdout);
    } else if (!rp->json) {
        printf("%4d    %9.4f ± %9.4f    %10.5f ± %10.5f    %10.5f ± %10.5f    %6.3f ± %6.3f %%    %6.3f ± %6.3f %%\n",
               r->n_windows, r->ppl, r->ppl_err, r->ln_ratio, r->ln_ratio_err, r->kld, r->kld_err,
               100.0 * r->dp_rms, 100.0 * r->dp_rms_err, 100.0 * r->same_top, 100.0 * r->same_top_err);
        fflush(stdout);
    }
    return g_interrupted != 0;
}

static void print_kl(const llamac_ppl_result *r)
{
    static const double fr[LLAMAC_KL_N_QUANTILES] = LLAMAC_KL_QUANTILES;
    printf("\n====== Perplexity statistics ======\n");
    printf("Mean PPL(Q)                   : %10.6f ± %10.6f\n", r->ppl, r->ppl_err);
    printf("Mean PPL(base)                : %10.6f ± %10.6f\n", r->ppl_base, r->ppl_base_err);
    printf("Cor(ln(PPL(Q)), ln(PPL(base))): %6.2f%%\n", 100.0 * r->ln_ppl_cor);
    printf("Mean ln(PPL(Q)/PPL(base))     : %10.6f ± %10.6f\n", r->ln_ratio, r->ln_ratio_err);
    printf("Mean PPL(Q)/PPL(base)         : %10.6f ± %10.6f\n", r->ppl_ratio, r->ppl_ratio_err);
    printf("Mean PPL(Q)-PPL(base)         : %10.6f ± %10.6f\n", r->ppl_diff, r->ppl_diff_err);
    printf("\n====== KL divergence statistics ======\n");
    printf("Mean    KLD: %10.6f ± %10.6f\n", r->kld, r->kld_err);
    for (int i = 0; i < LLAMAC_KL_N_QUANTILES; i++) {
        if (fr[i] == 0.75 || fr[i] == 0.25)
            continue; /* llama.cpp lists these for Δp only */
        if (fr[i] == 1.0)
            printf("Maximum KLD: %10.6f\n", r->kld_q[i]);
        else if (fr[i] == 0.5)
            printf("Median  KLD: %10.6f\n", r->kld_q[i]);
        else if (fr[i] == 0.0)
            printf("Minimum KLD: %10.6f\n", r->kld_q[i]);
        else
            printf("%4.1f%%   KLD: %10.6f\n", 100.0 * fr[i], r->kld_q[i]);
    }
    printf("\n====== Token probability statistics ======\n");
    printf("Mean    Δp: %6.3f ± %5.3f %%\n", 100.0 * r->dp, 100.0 * r->dp_err);
    for (int i = 0; i < LLAMAC_KL_N_QUANTILES; i++) {
        if (fr[i] == 1.0)
            printf("Maximum Δp: %6.3f%%\n", 100.0 * r->dp_q[i]);
        else if (fr[i] == 0.5)
            printf("Median  Δp: %6.3f%%\n", 100.0 * r->dp_q[i]);
        else if (fr[i] == 0.0)
            printf("Minimum Δp: %6.3f%%\n", 100.0 * r->dp_q[i]);
        else
            printf("%4.1f%%   Δp: %6.3f%%\n", 100.0 * fr[i], 100.0 * r->dp_q[i]);
    }
    printf("RMS Δp    : %6.3f ± %5.3f %%\n", 100.0 * r->dp_rms, 100.0 * r->dp_rms_err);
    printf("Same top p: %6.3f ± %5.3f %%\n", 100.0 * r->same_top, 100.0 * r->same_top_err);
}

static void print_json(const llamac_ppl_result *r)
{
    printf("{\"n_window\": %d, \"n_windows\": %d, \"n_scored\": %lld, \"nll\": %.17g, \"nll_err\": %.17g, "
           "\"ppl\": %.17g, \"ppl_err\": %.17g",
           r->n_window, r->n_windows, (long long)r->n_scored, r->nll, r->nll_err, r->ppl, r->ppl_err);
    if (r->has_kl) {
        printf(", \"ppl_base\": %.17g, \"ppl_base_err\": %.17g, \"ln_ratio\": %.17g, \"ln_ratio_err\": %.17g, "
               "\"ppl_ratio\": %.17g, \"ppl_ratio_err\": %.17g, \"ppl_diff\": %.17g, \"ppl_diff_err\": %.17g, "
               "\"ln_ppl_cor\": %.17g, \"kld\": %.17g, \"kld_err\": %.17g, \"dp\": %.17g, \"dp_err\": %.17g, "
               "\"dp_rms\": %.17g, \"dp_rms_err\": %.17g, \"same_top\": %.17g, \"same_top_err\": %.17g",
               r->ppl_base, r->ppl_base_err, r->ln_ratio, r->ln_ratio_err, r->ppl_ratio, r->ppl_ratio_err,
               r->ppl_diff, r->ppl_diff_err, r->ln_ppl_cor, r->kld, r->kld_err, r->dp, r->dp_err, r->dp_rms,
               r->dp_rms_err, r->same_top, r->same_top_err);
        static const double fr[LLAMAC_KL_N_QUANTILES] = LLAMAC_KL_QUANTILES;
        printf(", \"quantiles\": [");
        for (int i = 0; i < LLAMAC_KL_N_QUANTILES; i++)
            printf("%s%.17g", i ? ", " : "", fr[i]);
        printf("], \"kld_q\": [");
        for (int i = 0; i < LLAMAC_KL_N_QUANTILES; i++)
            printf("%s%.17g", i ? ", " : "", r->kld_q[i]);
        printf("], \"dp_q\": [");
        for (int i = 0; i < LLAMAC_KL_N_QUANTILES; i++)
            printf("%s%.17g", i ? ", " : "", r->dp_q[i]);
        printf("]");
    }
    printf("}\n");
}

typedef struct ppl_opts {
    cli_common co;
    const char *text_path, *kl_base, *kl;
    int n_batch, chunks, json;
} ppl_opts;

static int parse(ppl_opts *o, int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        int r = cli_common_opt(&o->co, argc, argv, &i);
        if (r < 0)
            return -1;
        if (r)
            continue;
        const char *a = argv[i], *v;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            fputs(k_usage, stdout);
            return 1;
        } else if (!strcmp(a, "--json")) {
            o->json = 1;
        } else if (!strcmp(a, "-f") || !strcmp(a, "--file")) {
            if (!(o->text_path = cli_arg(argc, argv, &i)))
                return -1;
        } else if (!strcmp(a, "--kl-base")) {
            if (!(o->kl_base = cli_arg(argc, argv, &i)))
                return -1;
        } else if (!strcmp(a, "--kl")) {
            if (!(o->kl = cli_arg(argc, argv, &i)))
                return -1;
        } else if (!strcmp(a, "-b") || !strcmp(a, "--batch")) {
            if (!(v = cli_arg(argc, argv, &i)) || !cli_int(a, v, 1, 1 << 16, &o->n_batch))
                return -1;
        } else if (!strcmp(a, "--chunks")) {
            if (!(v = cli_arg(argc, argv, &i)) || !cli_int(a, v, 1, 1 << 30, &o->chunks))
                return -1;
        } else {
            return cli_error("perplexity: unknown option '%s' (see --help)", a), -1;
        }
    }
    if (o->kl && o->kl_base)
        return cli_error("perplexity: --kl and --kl-base do not go together"), -1;
    if (!o->kl && !o->text_path)
        return cli_error("perplexity: -f TEXT is required (or --kl FILE)"), -1;
    if (o->kl && o->text_path)
        return cli_error("perplexity: --kl compares on the tokens stored in its file; -f is not used with it"), -1;
    return 0;
}

/* the window: from the KL file, else --ctx (default 512, 0 = training context) */
static int window_size(const ppl_opts *o, const llamac_model *m, int *out)
{
    if (o->kl) {
        llamac_kl_file_info fi;
        char err[600];
        if (llamac_kl_file_probe(o->kl, &fi, err, sizeof err) != LLAMAC_OK)
            return cli_error("%s", err);
        if (o->co.n_ctx > 0 && o->co.n_ctx != fi.n_window)
            return cli_error("perplexity: %s was made with windows of %d tokens, not --ctx %d", o->kl,
                             fi.n_window, o->co.n_ctx);
        *out = fi.n_window;
        return 0;
    }
    if (o->co.n_ctx < 0) {
        *out = 512;
        return 0;
    }
    *out = cli_ctx_size(&o->co, m);
    return 0;
}

static int tokenize_text(const ppl_opts *o, const llamac_model *m, llamac_tokens *ids)
{
    const llamac_tokenizer *tok = llamac_model_tokenizer(m);
    if (!tok)
        return cli_error("perplexity: %s has no vocabulary to tokenize the text with", o->co.model);
    size_t len = 0;
    char *text = cli_read_input("text", o->text_path, &len);
    if (!text)
        return 1;
    llamac_tokenizer_info ti;
    llamac_tokenizer_get_info(tok, &ti);
    llamac_status st = llamac_tokenize(tok, text, len, ti.add_bos ? LLAMAC_TOKENIZE_ADD_BOS : 0, ids);
    free(text);
    if (st)
        return cli_error("perplexity: tokenizing %s failed: %s", o->text_path, llamac_status_str(st));
    return 0;
}

int cmd_perplexity(int argc, char **argv)
{
    ppl_opts o = {.n_batch = 512};
    cli_common_init(&o.co);
    int r = parse(&o, argc, argv);
    if (r)
        return r < 0 ? 1 : 0;
    llamac_model *m = cli_load_model(&o.co);
    if (!m)
        return 1;
    int rc = 1, n_window = 0;
    llamac_context *ctx = NULL;
    llamac_tokens ids = {0};
    char err[600];
    if (window_size(&o, m, &n_window) || (!o.kl && tokenize_text(&o, m, &ids)))
        goto done;
    llamac_context_params cp = llamac_context_default_params();
    cp.n_ctx = n_window;
    cp.n_batch = o.n_batch < n_window ? o.n_batch : n_window;
    cp.n_logits = cp.n_batch;
    cp.n_threads = o.co.n_threads;
    cp.kv_type = o.co.kv_type;
    cp.prefix_cache = 0;
    if (llamac_context_create(m, &cp, &ctx, err, sizeof err) != LLAMAC_OK) {
        cli_error("%s", err);
        goto done;
    }
    llamac_ppl_params pp = llamac_ppl_default_params();
    pp.n_window = n_window;
    pp.max_windows = o.chunks;
    pp.kl_base_path = o.kl_base;
    report rp = {o.json, o.kl != NULL};
    signal(SIGINT, on_signal);
    if (!o.json)
        fprintf(stderr, "perplexity: %s, windows of %d tokens, batch %d%s\n", o.kl ? "KL divergence" : "perplexity",
                n_window, cp.n_batch, o.kl_base ? ", saving log-probs" : "");
    if (o.kl && !o.json)
        printf("chunk             PPL               ln(PPL(Q)/PPL(base))          KL Divergence              "
               "Δp RMS            Same top p\n");
    llamac_ppl_result res;
    llamac_status st = o.kl ? llamac_kl_divergence(ctx, o.kl, &pp, on_window, &rp, &res, err, sizeof err)
                            : llamac_perplexity(ctx, ids.ids, (int64_t)ids.n, &pp, on_window, &rp, &res, err,
                                                sizeof err);
    signal(SIGINT, SIG_DFL);
    if (st) {
        if (!o.json)
            printf("\n");
        cli_error("perplexity: %s", err);
        goto done;
    }
    if (o.json)
        print_json(&res);
    else if (o.kl)
        print_kl(&res);
    else
        printf("\nFinal estimate: PPL = %.4f +/- %.5f\n", res.ppl, res.ppl_err);
    rc = 0;
done:
    llamac_tokens_free(&ids);
    llamac_context_free(ctx);
    llamac_model_free(m);
    return rc;
}
