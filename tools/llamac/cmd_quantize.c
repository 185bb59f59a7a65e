/*
 * cmd_quantize.c — `llamac quantize IN.gguf OUT.gguf TYPE [--threads N] [-v]`: converts a model to another
 * weight type with llamac_quantize (the library does the work). This file only parses options, draws the
 * progress bar on stderr when it is a terminal, prints warnings and the summary, and turns Ctrl-C, SIGTERM and
 * SIGHUP into a clean cancel. OUT is never left half written and no temporary file is left behind, even on
 * SIGKILL: the library writes an unnamed O_TMPFILE and names it only when complete (include/llamac_file.h).
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

static volatile sig_atomic_t g_interrupted;

static void on_signal(int sig)
{
    (void)sig;
    g_interrupted = 1;
}

typedef struct ui {
    int bar;        /* draw a progress bar (stderr is a terminal) */
    int verbose;    /* list every tensor */
    int64_t listed; /* tensors listed so far (verbose) */
    int bar_drawn;
} ui;

static void clear_bar(ui *u)
{
    if (u->bar_drawn) {
        fputs("\r\033[K", stderr);
        u->bar_drawn = 0;
    }
}

static void on_warn(void *user, const char *msg)
{
    ui *u = user;
    clear_bar(u);
    fprintf(stderr, "llamac: warning: %s\n", msg);
}

static int on_progress(void *user, const llamac_quantize_progress *p)
{
    ui *u = user;
    if (u->verbose && p->tensor >= u->listed) {
        clear_bar(u);
        const char *ti = llamac_type_name(p->type_in), *to = llamac_type_name(p->type_out);
        printf("[%4lld/%4lld] %-40s %-5s -> %s\n", (long long)p->tensor + 1, (long long)p->n_tensors, p->name,
               ti ? ti : "?", p->type_in == p->type_out ? "(copied)" : to ? to : "?");
        fflush(stdout);
        u->listed = p->tensor + 1;
    }
    if (u->bar) {
        double f = p->bytes_total ? (double)p->bytes_done / (double)p->bytes_total : 1.0;
        int width = 30, filled = (int)(f * width + 0.5);
        char bar[64];
        for (int i = 0; i < width; i++)
            bar[i] = i < filled ? '#' : '.';
        bar[width] = 0;
        fprintf(stderr, "\r\033[K[%s] %5.1f%%  %lld/%lld %.40s", bar, 100.0 * f, (long long)p->tensor + 1,
                (long long)p->n_tensors, p->name);
        fflush(stderr);
        u->bar_drawn = 1;
    }
    return g_interrupted != 0;
}

static void usage(FILE *f)
{
    fprintf(f, "usage: llamac quantize IN.gguf OUT.gguf TYPE [--threads N] [-v]\n\n"
               "Converts a model to another weight type, choosing per tensor as llama.cpp's mixes do.\n"
               "IN should be F32, F16 or BF16 (re-quantizing a quantized model works but loses quality).\n\n"
               "TYPE is one of:");
    for (int i = 0; i < llamac_ftype_count(); i++)
        fprintf(f, " %s", llamac_ftype_name(llamac_ftype_by_index(i)));
    fprintf(f, "\n     (Q3_K, Q4_K, Q5_K are aliases of the _M types)\n\n"
               "  -t, --threads N  worker threads (default: all cores; the result does not depend on it)\n"
               "  -v, --verbose    list every tensor with its input and output type\n");
}

static double mib(uint64_t b)
{
    return (double)b / (1024.0 * 1024.0);
}

int cmd_quantize(int argc, char **argv)
{
    const char *pos[3];
    int n_pos = 0, n_threads = 0, verbose = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(a, "-t") || !strcmp(a, "--threads")) {
            if (!(v = cli_arg(argc, argv, &i)) || !cli_int(a, v, 1, 1024, &n_threads))
                return 1;
            n_threads = cli_clamp_threads(a, n_threads);
        } else if (!strcmp(a, "-v") || !strcmp(a, "--verbose")) {
            verbose = 1;
        } else if (a[0] == '-' && a[1]) {
            return cli_error("quantize: unknown option '%s' (try 'llamac quantize --help')", a);
        } else if (n_pos < 3) {
            pos[n_pos++] = a;
        } else {
            return cli_error("quantize: too many arguments ('%s'); usage: llamac quantize IN OUT TYPE", a);
        }
    }
    if (n_pos < 3) {
        usage(stderr);
        return 2;
    }
    int ftype = llamac_ftype_from_name(pos[2]);
    if (ftype < 0) {
        cli_error("quantize: unknown type '%s'", pos[2]);
        usage(stderr);
        return 1;
    }

    ui u = {.bar = isatty(STDERR_FILENO), .verbose = verbose};
    llamac_quantize_params qp = llamac_quantize_default_params();
    qp.ftype = ftype;
    qp.n_threads = n_threads;
    qp.progress = on_progress;
    qp.warn = on_warn;
    qp.user = &u;

    struct sigaction sa, old_int, old_term, old_hup;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);
    sigaction(SIGHUP, &sa, &old_hup);

    llamac_quantize_stats st;
    char err[600];
    llamac_status rc = llamac_quantize(pos[0], pos[1], &qp, &st, err, sizeof err);
    clear_bar(&u);
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
    sigaction(SIGHUP, &old_hup, NULL);
    if (rc == LLAMAC_E_CANCELLED)
        return cli_error("quantize: interrupted; '%s' was not written", pos[1]);
    if (rc)
        return cli_error("quantize: %s", err);

    uint64_t n = st.n_elements ? st.n_elements : 1;
    printf("quantized %s -> %s as %s\n", pos[0], pos[1], llamac_ftype_name(ftype));
    printf("  tensors: %lld (%lld converted, %lld copied unchanged", (long long)st.n_tensors,
           (long long)st.n_converted, (long long)(st.n_tensors - st.n_converted));
    if (st.n_fallback)
        printf(", %lld with a fallback type", (long long)st.n_fallback);
    if (st.n_requantized)
        printf(", %lld re-quantized", (long long)st.n_requantized);
    printf(")\n");
    printf("  tensor data: %.2f MiB -> %.2f MiB (%.3f -> %.3f bits per weight, %.2fx smaller)\n",
           mib(st.in_data_bytes), mib(st.out_data_bytes), 8.0 * (double)st.in_data_bytes / (double)n,
           8.0 * (double)st.out_data_bytes / (double)n,
           st.out_data_bytes ? (double)st.in_data_bytes / (double)st.out_data_bytes : 0.0);
    printf("  file: %.2f MiB -> %.2f MiB\n", mib(st.in_file_bytes), mib(st.out_file_bytes));
    return 0;
}
