/*
 * bench_engine.c — the continuous-batching engine without HTTP: N clients each stream one raw-prompt completion
 * (greedy, ignore_eos, -n tokens) through llamac_engine, waiting on their job in a thread of their own as the
 * server's connection threads do; and, for reference, the same context shape driven by hand (one llamac_decode
 * per step carrying every sequence's token, greedy sampling): the cost the engine adds is the difference.
 *
 *   bench_engine MODEL [-t 2] [--clients 1,8] [-n 128] [--prompt 64] [--parallel 16] [--ctx 1024] [--reps 3]
 *                [--mode engine|decode|both]
 *
 * Prints per client count: aggregate tok/s (all answer tokens / wall time from the first submit to the last
 * finish), per-stream tok/s (median over streams of (tokens - 1) / (last token - first token)), and the
 * process CPU time per generated token. Each figure is the median of --reps runs. Not a test.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_util.h"
#include "llamac.h"
#include "llamac_engine.h"

typedef struct opts {
    const char *model;
    int threads, n, prompt, parallel, ctx, reps;
    int clients[16], n_clients;
    int engine, decode;
} opts;

typedef struct client {
    llamac_engine *e;
    const opts *o;
    int index;
    double t_first, t_last;
    int64_t tokens;
    int failed;
} client;

static void make_prompt(int32_t *p, int n, int who, int n_vocab)
{
    uint64_t x = 0x9E3779B97F4A7C15ull * (uint64_t)(who + 1);
    for (int i = 0; i < n; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        p[i] = (int32_t)(x % (uint64_t)(n_vocab < 32000 ? n_vocab : 32000));
    }
}

static void *client_main(void *arg)
{
    client *c = arg;
    const opts *o = c->o;
    const llamac_model *m = llamac_engine_model(c->e);
    llamac_model_info info;
    llamac_model_get_info(m, &info);
    int32_t *prompt = malloc((size_t)o->prompt * sizeof *prompt);
    if (!prompt) {
        c->failed = 1;
        return NULL;
    }
    make_prompt(prompt, o->prompt, c->index, info.n_vocab);
    llamac_job_params jp = llamac_job_default_params();
    jp.prompt = prompt;
    jp.n_prompt = o->prompt;
    jp.gen.max_tokens = o->n;
    jp.gen.ignore_eos = 1;
    jp.gen.sampling.temperature = 0;
    llamac_job *job = NULL;
    char err[256];
    if (llamac_engine_submit(c->e, &jp, &job, NULL, err, sizeof err) != LLAMAC_OK) {
        fprintf(stderr, "bench_engine: submit: %s\n", err);
        c->failed = 1;
        free(prompt);
        return NULL;
    }
    llamac_job_update u;
    do {
        llamac_job_wait(job, -1, &u);
        if (u.n_tokens > 0) {
            double now = bench_now();
            if (c->t_first == 0)
                c->t_first = now;
            c->t_last = now;
            c->tokens += u.n_tokens;
        }
    } while (u.finish == LLAMAC_FINISH_NONE);
    if (u.finish != LLAMAC_FINISH_LENGTH)
        c->failed = 1;
    llamac_job_free(job);
    free(prompt);
    return NULL;
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, bench_cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

typedef struct result {
    double agg, stream, cpu_ms;
} result;

static int run_engine(llamac_model *m, const opts *o, int n_clients, result *r)
{
    llamac_engine_params ep = llamac_engine_default_params();
    ep.n_parallel = o->parallel;
    ep.n_ctx = o->ctx;
    ep.n_threads = o->threads;
    ep.max_queue = 64;
    ep.prefix_cache = 0; /* every run decodes its prompts */
    llamac_engine *e = NULL;
    char err[600];
    if (llamac_engine_create(m, &ep, &e, err, sizeof err) != LLAMAC_OK) {
        fprintf(stderr, "bench_engine: %s\n", err);
        return 1;
    }
    client *cl = calloc((size_t)n_clients, sizeof *cl);
    pthread_t *th = calloc((size_t)n_clients, sizeof *th);
    double *rates = calloc((size_t)n_clients, sizeof *rates);
    int bad = !cl || !th || !rates;
    const double t0 = bench_now(), c0 = bench_cpu_now();
    for (int i = 0; i < n_clients && !bad; i++) {
        cl[i] = (client){.e = e, .o = o, .index = i};
        if (pthread_create(&th[i], NULL, client_main, &cl[i])) {
            bad = 1;
            n_clients = i;
        }
    }
    int64_t tokens = 0;
    double t_end = t0;
    for (int i = 0; i < n_clients; i++) {
        pthread_join(th[i], NULL);
        bad |= cl[i].failed;
        tokens += cl[i].tokens;
        if (cl[i].t_last > t_end)
            t_end = cl[i].t_last;
        rates[i] = cl[i].tokens > 1 ? (double)(cl[i].tokens - 1) / (cl[i].t_last - cl[i].t_first) : 0;
    }
    const double cpu = bench_cpu_now() - c0;
    if (!bad) {
        r->agg = (double)tokens / (t_end - t0);
        r->stream = median(rates, n_clients);
        r->cpu_ms = cpu * 1e3 / (double)tokens;
    }
    llamac_engine_free(e);
    free(cl);
    free(th);
    free(rates);
    return bad;
}

static int argmax(const float *l, int n)
{
    int b = 0;
    for (int i = 1; i < n; i++)
        if (l[i] > l[b])
            b = i;
    return b;
}

/* The same context shape as the engine's, driven by hand: prompts one after another, then one decode per step
 * with every sequence's next token, greedy. */
static int run_decode(llamac_model *m, const opts *o, int n_clients, result *r)
{
    llamac_model_info info;
    llamac_model_get_info(m, &info);
    llamac_context_params cp = llamac_context_default_params();
    cp.n_ctx = o->ctx;
    cp.n_seq_max = o->parallel;
    cp.n_batch = 256 + o->parallel;
    cp.n_logits = o->parallel;
    cp.n_threads = o->threads;
    cp.prefix_cache = 0;
    llamac_context *ctx = NULL;
    char err[600];
    if (llamac_context_create(m, &cp, &ctx, err, sizeof err) != LLAMAC_OK) {
        fprintf(stderr, "bench_engine: %s\n", err);
        return 1;
    }
    int32_t *prompt = malloc((size_t)o->prompt * sizeof *prompt), tok[256], seq[256], pos[256];
    int8_t want[256];
    int bad = !prompt || n_clients > 256;
    const double t0 = bench_now(), c0 = bench_cpu_now();
    double t_first = 0;
    for (int s = 0; s < n_clients && !bad; s++) {
        make_prompt(prompt, o->prompt, s, info.n_vocab);
        bad = llamac_decode_tokens(ctx, s, prompt, o->prompt, 0, NULL, NULL) != LLAMAC_OK;
        tok[s] = bad ? 0 : argmax(llamac_get_logits(ctx, llamac_decode_tokens_last_index(ctx)), info.n_vocab);
        seq[s] = s, pos[s] = o->prompt, want[s] = 1;
    }
    t_first = bench_now();
    int64_t tokens = n_clients;
    for (int step = 1; step < o->n && !bad; step++) {
        llamac_batch b = {.n_tokens = n_clients, .tokens = tok, .pos = pos, .seq_id = seq, .logits = want};
        if (llamac_decode(ctx, &b) != LLAMAC_OK) {
            fprintf(stderr, "bench_engine: decode: %s\n", llamac_context_error(ctx));
            bad = 1;
            break;
        }
        for (int s = 0; s < n_clients; s++) {
            tok[s] = argmax(llamac_get_logits(ctx, s), info.n_vocab);
            pos[s]++;
        }
        tokens += n_clients;
    }
    const double t_end = bench_now(), cpu = bench_cpu_now() - c0;
    if (!bad) {
        r->agg = (double)tokens / (t_end - t0);
        r->stream = (double)(o->n - 1) / (t_end - t_first);
        r->cpu_ms = cpu * 1e3 / (double)tokens;
    }
    free(prompt);
    llamac_context_free(ctx);
    return bad;
}

static int parse(int argc, char **argv, opts *o)
{
    *o = (opts){.threads = 2, .n = 128, .prompt = 64, .parallel = 16, .ctx = 1024, .reps = 3, .engine = 1,
                .decode = 1};
    o->clients[0] = 1, o->clients[1] = 8, o->n_clients = 2;
    if (argc < 2 || argv[1][0] == '-')
        return 1;
    o->model = argv[1];
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v)
            return 1;
        i++;
        if (!strcmp(a, "-t"))
            o->threads = atoi(v);
        else if (!strcmp(a, "-n"))
            o->n = atoi(v);
        else if (!strcmp(a, "--prompt"))
            o->prompt = atoi(v);
        else if (!strcmp(a, "--parallel"))
            o->parallel = atoi(v);
        else if (!strcmp(a, "--ctx"))
            o->ctx = atoi(v);
        else if (!strcmp(a, "--reps"))
            o->reps = atoi(v);
        else if (!strcmp(a, "--mode")) {
            o->engine = !strcmp(v, "engine") || !strcmp(v, "both");
            o->decode = !strcmp(v, "decode") || !strcmp(v, "both");
            if (!o->engine && !o->decode)
                return 1;
        } else if (!strcmp(a, "--clients")) {
            o->n_clients = 0;
            for (const char *p = v; *p && o->n_clients < 16;) {
                o->clients[o->n_clients++] = atoi(p);
                p = strchr(p, ',');
                if (!p)
                    break;
                p++;
            }
        } else {
            return 1;
        }
    }
    for (int k = 0; k < o->n_clients; k++)
        if (o->clients[k] < 1 || o->clients[k] > o->parallel)
            return 1;
    return o->n < 2 || o->prompt < 1 || o->reps < 1 || o->prompt + o->n > o->ctx;
}

int main(int argc, char **argv)
{
    opts o;
    if (parse(argc, argv, &o)) {
        fprintf(stderr, "usage: bench_engine MODEL [-t 2] [--clients 1,8] [-n 128] [--prompt 64] [--parallel 16] "
                        "[--ctx 1024] [--reps 3] [--mode engine|decode|both]\n"
                        "  (clients 1..parallel, prompt + n <= ctx)\n");
        return 2;
    }
    llamac_model_params mp = llamac_model_default_params();
    llamac_model *m = NULL;
    char err[600];
    if (llamac_model_load(o.model, &mp, &m, err, sizeof err) != LLAMAC_OK) {
        fprintf(stderr, "bench_engine: %s\n", err);
        return 1;
    }
    if (llamac_model_wait_loaded(m, err, sizeof err) != LLAMAC_OK) /* measure the complete copy */
        fprintf(stderr, "bench_engine: %s\n", err);
    printf("model %s, %d threads, %d tokens per stream, %d-token prompts, %d parallel, median of %d runs\n\n",
           o.model, o.threads, o.n, o.prompt, o.parallel, o.reps);
    printf("| mode | clients | agg tok/s | tok/s per stream | CPU ms per token |\n| --- | ---: | ---: | ---: | ---: |\n");
    int rc = 0;
    for (int mode = 0; mode < 2 && !rc; mode++) {
        if ((mode == 0 && !o.decode) || (mode == 1 && !o.engine))
            continue;
        for (int k = 0; k < o.n_clients && !rc; k++) {
            double agg[64], st[64], cpu[64];
            int reps = o.reps < 64 ? o.reps : 64;
            for (int r = 0; r < reps && !rc; r++) {
                result res = {0};
                rc = mode == 0 ? run_decode(m, &o, o.clients[k], &res) : run_engine(m, &o, o.clients[k], &res);
                agg[r] = res.agg, st[r] = res.stream, cpu[r] = res.cpu_ms;
            }
            if (!rc)
                printf("| %s | %d | %.1f | %.1f | %.2f |\n", mode == 0 ? "decode" : "engine", o.clients[k],
                       median(agg, reps), median(st, reps), median(cpu, reps));
            fflush(stdout);
        }
    }
    llamac_model_free(m);
    return rc;
}
