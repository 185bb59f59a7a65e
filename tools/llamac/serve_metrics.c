/*
 * serve_metrics.c — the numbers behind GET /metrics, in Prometheus' text format (version 0.0.4): requests by
 * HTTP status and the latency histograms are kept here (one mutex); token counts, queue depth, busy sequences,
 * KV use, cancellations and prefix-cache hits come from the engine's own counters (llamac_engine_get_stats).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "serve.h"

/* seconds */
static const double g_ttft_bounds[SERVE_TTFT_BUCKETS] = {0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120};
static const double g_tpot_bounds[SERVE_TPOT_BUCKETS] = {0.005, 0.01, 0.02, 0.04, 0.06, 0.08,
                                                         0.1,   0.15, 0.25, 0.5,  1};

void serve_metrics_init(serve_metrics *m)
{
    memset(m, 0, sizeof *m);
    pthread_mutex_init(&m->lock, NULL);
}

void serve_metrics_destroy(serve_metrics *m) { pthread_mutex_destroy(&m->lock); }

void serve_metrics_request(serve_metrics *m, int status)
{
    if (status < 100 || status > 599)
        status = 500;
    pthread_mutex_lock(&m->lock);
    m->requests[status]++;
    pthread_mutex_unlock(&m->lock);
}

static void observe(uint64_t *buckets, const double *bounds, int n, double v)
{
    int i = 0;
    while (i < n && v > bounds[i])
        i++;
    buckets[i]++;
}

void serve_metrics_job(serve_metrics *m, const llamac_job_result *r)
{
    pthread_mutex_lock(&m->lock);
    if (r->ttft_ms > 0 && r->completion_tokens > 0) {
        double s = r->ttft_ms / 1e3;
        observe(m->ttft, g_ttft_bounds, SERVE_TTFT_BUCKETS, s);
        m->ttft_sum += s;
        m->ttft_count++;
    }
    if (r->completion_tokens > 1) {
        double s = r->gen_ms / 1e3 / (double)(r->completion_tokens - 1);
        observe(m->tpot, g_tpot_bounds, SERVE_TPOT_BUCKETS, s);
        m->tpot_sum += s;
        m->tpot_count++;
    }
    pthread_mutex_unlock(&m->lock);
}

typedef struct text_buf {
    char *p;
    size_t len, cap;
    int oom;
} text_buf;

#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
static void tb_printf(text_buf *b, const char *fmt, ...)
{
    for (;;) {
        if (b->oom)
            return;
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(b->p ? b->p + b->len : NULL, b->p ? b->cap - b->len : 0, fmt, ap);
        va_end(ap);
        if (n < 0) {
            b->oom = 1;
            return;
        }
        if (b->p && b->len + (size_t)n < b->cap) {
            b->len += (size_t)n;
            return;
        }
        size_t cap = b->cap ? 2 * b->cap : 4096;
        while (cap < b->len + (size_t)n + 1)
            cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p) {
            b->oom = 1;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
}

static void histogram(text_buf *b, const char *name, const char *help, const uint64_t *buckets,
                      const double *bounds, int n, double sum, uint64_t count)
{
    tb_printf(b, "# HELP %s %s\n# TYPE %s histogram\n", name, help, name);
    uint64_t cum = 0;
    for (int i = 0; i < n; i++) {
        cum += buckets[i];
        tb_printf(b, "%s_bucket{le=\"%g\"} %llu\n", name, bounds[i], (unsigned long long)cum);
    }
    cum += buckets[n];
    tb_printf(b, "%s_bucket{le=\"+Inf\"} %llu\n%s_sum %.6f\n%s_count %llu\n", name, (unsigned long long)cum, name,
              sum, name, (unsigned long long)count);
}

static void counter(text_buf *b, const char *name, const char *type, const char *help, unsigned long long v)
{
    tb_printf(b, "# HELP %s %s\n# TYPE %s %s\n%s %llu\n", name, help, name, type, name, v);
}

char *serve_metrics_text(serve_metrics *m, llamac_engine *eng, serve_watch *watch)
{
    int open_conns;
    uint64_t cut;
    serve_watch_counts(watch, &open_conns, &cut);
    llamac_engine_stats es;
    llamac_engine_get_stats(eng, &es); /* zeroed while loading */
    text_buf b = {0};
    pthread_mutex_lock(&m->lock);
    tb_printf(&b, "# HELP llamac_requests_total HTTP requests answered, by status\n"
                  "# TYPE llamac_requests_total counter\n");
    for (int s = 100; s < 600; s++)
        if (m->requests[s])
            tb_printf(&b, "llamac_requests_total{status=\"%d\"} %llu\n", s, (unsigned long long)m->requests[s]);
    histogram(&b, "llamac_time_to_first_token_seconds", "time from submission to the first generated token",
              m->ttft, g_ttft_bounds, SERVE_TTFT_BUCKETS, m->ttft_sum, m->ttft_count);
    histogram(&b, "llamac_time_per_output_token_seconds", "mean time between generated tokens, per request",
              m->tpot, g_tpot_bounds, SERVE_TPOT_BUCKETS, m->tpot_sum, m->tpot_count);
    pthread_mutex_unlock(&m->lock);
    counter(&b, "llamac_prompt_tokens_total", "counter", "prompt tokens of started requests (cached included)",
            (unsigned long long)es.prompt_tokens);
    counter(&b, "llamac_generated_tokens_total", "counter", "generated tokens", (unsigned long long)es.generated_tokens);
    counter(&b, "llamac_queue_depth", "gauge", "requests waiting for a sequence", (unsigned long long)es.queue_depth);
    counter(&b, "llamac_busy_sequences", "gauge", "sequences prefilling or generating",
            (unsigned long long)es.busy_sequences);
    counter(&b, "llamac_parallel_sequences", "gauge", "sequences (--parallel)", (unsigned long long)es.n_parallel);
    counter(&b, "llamac_weights_loaded", "gauge",
            "1 once the background copy of the weights is complete (full generation speed), 0 while it runs",
            (unsigned long long)llamac_model_loaded(llamac_engine_model(eng)));
    counter(&b, "llamac_kv_positions_used", "gauge", "KV positions held by all sequences",
            (unsigned long long)es.kv_positions_used);
    counter(&b, "llamac_kv_positions_capacity", "gauge", "KV positions the memory holds (--kv-size)",
            (unsigned long long)es.kv_positions_capacity);
    counter(&b, "llamac_cancellations_total", "counter", "jobs cancelled (client gone, stream aborted)",
            (unsigned long long)es.jobs_cancelled);
    counter(&b, "llamac_timeouts_total", "counter", "jobs ended by --timeout", (unsigned long long)es.jobs_timed_out);
    counter(&b, "llamac_rejected_busy_total", "counter", "requests refused with 503: queue full",
            (unsigned long long)es.jobs_rejected_busy);
    counter(&b, "llamac_prefix_cache_hits_total", "counter", "jobs that reused cached KV blocks",
            (unsigned long long)es.prefix_cache_hits);
    counter(&b, "llamac_prefix_cache_tokens_total", "counter", "prompt tokens reused from the prefix cache",
            (unsigned long long)es.prompt_tokens_cached);
    counter(&b, "llamac_engine_steps_total", "counter", "engine steps (batched decodes)", (unsigned long long)es.steps);
    counter(&b, "llamac_http_connections", "gauge", "open HTTP connections (at most 256)",
            (unsigned long long)open_conns);
    counter(&b, "llamac_http_connections_cut_total", "counter",
            "connections cut for not delivering a request in time (slow, idle, or under connection pressure)",
            (unsigned long long)cut);
    if (b.oom) {
        free(b.p);
        return NULL;
    }
    return b.p;
}
