/*
 * cmd_serve.c — `llamac serve -m MODEL [options]`: an OpenAI-compatible HTTP server with continuous batching.
 * This file only reads the options, starts listening (GET /health answers 503 "loading" at once), loads the
 * model and starts the engine in a loader thread, and waits for SIGINT / SIGTERM; then it stops accepting,
 * cancels every job (llamac_engine_free), closes the connections and exits 0. The pieces: serve.h.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "serve.h"

static const char g_usage[] =
    "usage: llamac serve -m MODEL [options]\n"
    "\n"
    "An OpenAI-compatible HTTP server (POST /v1/chat/completions, POST /v1/completions, GET /v1/models,\n"
    "GET /health, GET /metrics, POST /tokenize, POST /detokenize) that generates for many clients at once.\n"
    "\n"
    "  -m, --model FILE     the model (GGUF)\n"
    "  --host ADDR          address to listen on (default 127.0.0.1; 0.0.0.0 or :: for every interface)\n"
    "  --port N             port (default 8080; 0: any free port, printed at start)\n"
    "  --parallel N         requests generating at once (default 4); more wait in a queue\n"
    "  --ctx N              the most positions one request may use, prompt + answer (default: the model's\n"
    "                       training context, at most 8192; 0: the training context)\n"
    "  --kv-size SIZE       KV memory shared by all requests, e.g. 2G, 512M (default: --parallel x --ctx)\n"
    "  --kv f32|f16         KV cache element type (default f32)\n"
    "  -t, --threads N      decode threads (default: all cores)\n"
    "  --api-key KEY        require \"Authorization: Bearer KEY\" on /v1/* and /tokenize, /detokenize\n"
    "  --api-key-file F     the same, the key read from the first line of F (keeps it out of `ps`)\n"
    "  --max-queue N        requests that may wait beyond --parallel (default 64); one more gets 503\n"
    "  --timeout S          seconds a request may take, queueing included (default 600; 0: no limit)\n"
    "  --log-format F       text (default) or json: one line per request on stderr\n"
    "  --cors-origin ORIGIN let web pages of ORIGIN (e.g. https://app.example.com) call the API from a browser;\n"
    "                       repeatable; * for any origin (default: none, browsers refuse cross-origin calls)\n"
    "  -h, --help           this text\n"
    "\n"
    "Example:\n"
    "  llamac serve -m model.gguf --parallel 8 &\n"
    "  curl http://127.0.0.1:8080/v1/chat/completions -H 'Content-Type: application/json' \\\n"
    "       -d '{\"messages\":[{\"role\":\"user\",\"content\":\"Hello!\"}]}'\n"
    "See docs/SERVER.md.\n";

/* "2G", "512M", "64K", "123" (bytes; powers of 1024). */
static int parse_size(const char *opt, const char *s, uint64_t *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    uint64_t mul = 1;
    if (*end == 'K' || *end == 'k')
        mul = 1ull << 10;
    else if (*end == 'M' || *end == 'm')
        mul = 1ull << 20;
    else if (*end == 'G' || *end == 'g')
        mul = 1ull << 30;
    else if (*end == 'T' || *end == 't')
        mul = 1ull << 40;
    if (mul > 1)
        end++;
    if (*end == 'B' || *end == 'b')
        end++;
    if (errno || end == s || *end || !(v > 0) || v * (double)mul > 1e18)
        return cli_error("option %s: '%s' is not a size (e.g. 2G, 512M)", opt, s), 0;
    *out = (uint64_t)(v * (double)mul);
    return 1;
}

typedef struct loader {
    serve_server *srv;
    cli_common co;
    _Atomic int failed;
    _Atomic int finished;
} loader;

static void *load_main(void *arg)
{
    loader *ld = arg;
    serve_server *s = ld->srv;
    llamac_model *m = cli_load_model(&ld->co);
    if (!m) {
        atomic_store(&ld->failed, 1);
        atomic_store(&ld->finished, 1);
        return NULL;
    }
    llamac_engine_params ep = llamac_engine_default_params();
    ep.n_parallel = s->opt.n_parallel;
    ep.n_ctx = cli_ctx_size(&ld->co, m);
    ep.kv_size = s->opt.kv_size;
    ep.kv_type = ld->co.kv_type;
    ep.n_threads = ld->co.n_threads;
    ep.max_queue = s->opt.max_queue;
    ep.timeout_s = s->opt.timeout_s;
    llamac_engine *eng = NULL;
    char err[600];
    if (atomic_load(&s->state) == SERVE_STOPPING ||
        llamac_engine_create(m, &ep, &eng, err, sizeof err) != LLAMAC_OK) {
        if (atomic_load(&s->state) != SERVE_STOPPING) {
            cli_error("%s", err);
            atomic_store(&ld->failed, 1);
        }
        llamac_model_free(m);
        atomic_store(&ld->finished, 1);
        return NULL;
    }
    llamac_engine_get_params(eng, &ep);
    pthread_mutex_lock(&s->engine_lock);
    s->model = m;
    s->tok = llamac_model_tokenizer(m);
    s->engine = eng;
    int expected = SERVE_LOADING;
    atomic_compare_exchange_strong(&s->state, &expected, SERVE_READY);
    pthread_mutex_unlock(&s->engine_lock);
    fprintf(stderr, "llamac serve: model loaded: %s (%d parallel, context %d per request, kv %.0f MiB)\n",
            s->model_name, ep.n_parallel, ep.n_ctx, (double)ep.kv_size / (1 << 20));
    atomic_store(&ld->finished, 1);
    return NULL;
}

/* Parses the options into s->opt and co; returns -1 to exit 0 (--help), 1 on error, 0 to run. */
static int parse_options(int argc, char **argv, serve_server *s, cli_common *co)
{
    const char *key_file = NULL, *key = NULL, *v;
    for (int i = 1; i < argc; i++) {
        const char *o = argv[i];
        int r = cli_common_opt(co, argc, argv, &i);
        if (r < 0)
            return 1;
        if (r)
            continue;
        if (!strcmp(o, "-h") || !strcmp(o, "--help")) {
            fputs(g_usage, stdout);
            return -1;
        }
        int ok = 1;
        if (!strcmp(o, "--host"))
            ok = (v = cli_arg(argc, argv, &i)) != NULL && (s->opt.host = v);
        else if (!strcmp(o, "--port"))
            ok = (v = cli_arg(argc, argv, &i)) && cli_int(o, v, 0, 65535, &s->opt.port);
        else if (!strcmp(o, "--parallel") || !strcmp(o, "-np"))
            ok = (v = cli_arg(argc, argv, &i)) && cli_int(o, v, 1, 256, &s->opt.n_parallel);
        else if (!strcmp(o, "--kv-size"))
            ok = (v = cli_arg(argc, argv, &i)) && parse_size(o, v, &s->opt.kv_size);
        else if (!strcmp(o, "--max-queue"))
            ok = (v = cli_arg(argc, argv, &i)) && cli_int(o, v, 0, 1000000, &s->opt.max_queue);
        else if (!strcmp(o, "--timeout")) {
            float t = 0;
            ok = (v = cli_arg(argc, argv, &i)) && cli_float(o, v, &t);
            if (ok && !(t >= 0))
                ok = !cli_error("option --timeout: '%s' is not a number of seconds >= 0", v);
            s->opt.timeout_s = t;
        } else if (!strcmp(o, "--api-key"))
            ok = (key = cli_arg(argc, argv, &i)) != NULL;
        else if (!strcmp(o, "--api-key-file"))
            ok = (key_file = cli_arg(argc, argv, &i)) != NULL;
        else if (!strcmp(o, "--log-format")) {
            ok = (v = cli_arg(argc, argv, &i)) != NULL;
            if (ok && strcmp(v, "text") && strcmp(v, "json"))
                ok = !cli_error("option --log-format: '%s' is not text or json", v);
            s->opt.log_json = ok && !strcmp(v, "json");
        } else if (!strcmp(o, "--cors-origin")) {
            ok = (v = cli_arg(argc, argv, &i)) != NULL;
            if (ok && (!*v || strlen(v) > 200 || strpbrk(v, " \t\r\n,")))
                ok = !cli_error("option --cors-origin: '%s' is not an origin (scheme://host[:port], or *)", v);
            if (ok && s->opt.n_cors == SERVE_MAX_CORS_ORIGINS)
                ok = !cli_error("option --cors-origin: at most %d origins", SERVE_MAX_CORS_ORIGINS);
            if (ok)
                s->opt.cors[s->opt.n_cors++] = v;
        } else
            return cli_error("serve: unknown option '%s' (try 'llamac serve --help')", o);
        if (!ok)
            return 1;
    }
    if (!co->model)
        return cli_error("serve: no model given (-m FILE; try 'llamac serve --help')");
    if (key && key_file)
        return cli_error("serve: give --api-key or --api-key-file, not both");
    if (key && !*key)
        return cli_error("serve: --api-key is empty");
    if (key && !(s->opt.api_key = strdup(key)))
        return cli_error("out of memory");
    if (key_file && !(s->opt.api_key = serve_auth_read_key_file(key_file)))
        return 1;
    s->opt.model_path = co->model;
    return 0;
}

/* The name /v1/models and the responses give: the model file's name. */
static void model_name(const char *path, char *out, size_t size)
{
    const char *b = strrchr(path, '/');
    snprintf(out, size, "%s", b ? b + 1 : path);
}

int cmd_serve(int argc, char **argv)
{
    static serve_server s; /* large (metrics); one per process */
    memset(&s, 0, sizeof s);
    s.opt.host = "127.0.0.1";
    s.opt.port = 8080;
    s.opt.n_parallel = 4;
    s.opt.max_queue = 64;
    s.opt.timeout_s = 600;
    s.listen_fd = -1;
    loader ld;
    memset(&ld, 0, sizeof ld);
    cli_common_init(&ld.co);
    int rc = parse_options(argc, argv, &s, &ld.co);
    if (rc)
        return rc < 0 ? 0 : (free(s.opt.api_key), 1);
    model_name(s.opt.model_path, s.model_name, sizeof s.model_name);
    s.started = (int64_t)time(NULL);
    atomic_store(&s.state, SERVE_LOADING);
    pthread_mutex_init(&s.engine_lock, NULL);
    serve_metrics_init(&s.metrics);

    /* SIGINT / SIGTERM are taken by sigtimedwait below: blocked here, before any thread starts */
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGINT);
    sigaddset(&stop, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop, NULL);
    signal(SIGPIPE, SIG_IGN);

    char err[512];
    if (serve_http_start(&s, err, sizeof err)) {
        cli_error("serve: %s", err);
        free(s.opt.api_key);
        return 1;
    }
    fprintf(stderr, "llamac serve: listening on http://%s%s%s:%d (loading %s)\n", strchr(s.opt.host, ':') ? "[" : "",
            s.opt.host, strchr(s.opt.host, ':') ? "]" : "", s.opt.port, s.opt.model_path);
    ld.srv = &s;
    pthread_t loader_thread;
    int have_loader = !pthread_create(&loader_thread, NULL, load_main, &ld);
    if (!have_loader)
        atomic_store(&ld.failed, 1);

    int sig = 0;
    const struct timespec tick = {0, 200 * 1000 * 1000};
    while (!atomic_load(&ld.failed)) {
        sig = sigtimedwait(&stop, NULL, &tick);
        if (sig == SIGINT || sig == SIGTERM)
            break;
    }
    int failed = atomic_load(&ld.failed);
    if (!failed)
        fprintf(stderr, "llamac serve: %s: stopping\n", sig == SIGINT ? "SIGINT" : "SIGTERM");
    atomic_store(&s.state, SERVE_STOPPING);
    serve_http_quiesce(&s);
    pthread_mutex_lock(&s.engine_lock);
    llamac_engine *eng = s.engine;
    s.engine = NULL;
    pthread_mutex_unlock(&s.engine_lock);
    llamac_engine_free(eng); /* every job finishes CANCELLED: the waiting requests answer and end */
    serve_http_stop(&s);
    if (have_loader)
        pthread_join(loader_thread, NULL);
    llamac_model_free(s.model);
    serve_metrics_destroy(&s.metrics);
    pthread_mutex_destroy(&s.engine_lock);
    free(s.opt.api_key);
    return failed ? 1 : 0;
}
