/*
 * serve.h — the pieces of `llamac serve` (cmd_serve.c) and how they meet. One concern per file:
 *   serve_http.c     libmicrohttpd plumbing: the daemon, the access handler (routing, auth, bounded uploads),
 *                    dispatch to the handlers, the end of each request (log line, metrics)
 *   serve_request.c  what handlers do with a request (serve_request.h): body, replies, client-gone detection
 *   serve_routes.c   the endpoints that answer at once: /health, /v1/models, /tokenize, /detokenize, /metrics
 *   serve_complete.c /v1/chat/completions and /v1/completions: submitting jobs, waiting, streaming
 *   serve_metrics.c  counters and histograms, the Prometheus text
 *   serve_log.c      the one log line per request (text or JSON)
 *   serve_auth.c     the API key (Bearer, compared in constant time)
 *   serve_watch.c    the deadline for receiving a request (slowloris clients; 2 s under connection pressure)
 *   serve_static.c   GET / and other non-API paths (the web page)
 *   serve_cors.c     cross-origin requests (--cors-origin): the Access-Control headers, preflights
 * The library does the work (llamac_engine.h: jobs; llamac_openai.h: the JSON); these files only carry bytes
 * between HTTP and those two.
 *
 * Threads: libmicrohttpd runs one thread per connection (bounded by a connection limit). A completion request
 * blocks its own connection thread on timed waits of its jobs, checking between waits whether the client went
 * away. All shared state is in one serve_server (no globals besides the signal handling in cmd_serve.c).
 */
#ifndef LLAMAC_SERVE_H
#define LLAMAC_SERVE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "llamac.h"
#include "llamac_engine.h"
#include "llamac_openai.h"

#define SERVE_MAX_BODY (8u << 20)     /* bytes of a request body (413 beyond) */
#define SERVE_MAX_DISCARD ((size_t)1 << 30) /* after the 413, the rest of a body is read and dropped up to this,
                                               then the connection is closed */
#define SERVE_MAX_HEADER_BYTES (32u << 10) /* request line + headers (our 431 in OpenAI's shape beyond) */
#define SERVE_CONN_MEMORY ((size_t)64 << 10) /* libmicrohttpd's memory per connection: headers that do not fit
                                                get ITS 431 (HTML, no hook for JSON in 0.9.x) and a close */
#define SERVE_MAX_CONNECTIONS 256     /* open connections (= connection threads) */
#define SERVE_IDLE_TIMEOUT_S 30       /* a connection idle (or sending too slowly) for this long is closed */
#define SERVE_WAIT_MS 100             /* the longest wait on a job between two client-gone checks */
#define SERVE_READ_DEADLINE_S 30      /* the most time a connection may take to deliver a request (headers and
                                         body), or stay idle between requests: slow clients are cut */
#define SERVE_PRESSURE_CONNECTIONS 192 /* from this many open connections on (3/4 of the limit) ... */
#define SERVE_MAX_CORS_ORIGINS 16    /* --cors-origin given at most this often */
#define SERVE_PRESSURE_DEADLINE_S 2   /* ... the read deadline is this: idle and slowloris sockets cannot hold
                                         the connection slots (threads) that well-behaved clients need */

/* ---- metrics (serve_metrics.c) ---- */
#define SERVE_TTFT_BUCKETS 12
#define SERVE_TPOT_BUCKETS 11
typedef struct serve_metrics {
    pthread_mutex_t lock;
    uint64_t requests[600];                        /* by HTTP status */
    uint64_t ttft[SERVE_TTFT_BUCKETS + 1];         /* cumulative counts come at render; last = +Inf */
    double ttft_sum;
    uint64_t ttft_count;
    uint64_t tpot[SERVE_TPOT_BUCKETS + 1];
    double tpot_sum;
    uint64_t tpot_count;
    uint64_t client_gone;
} serve_metrics;

void serve_metrics_init(serve_metrics *m);
void serve_metrics_destroy(serve_metrics *m);
void serve_metrics_request(serve_metrics *m, int status);
/* One finished job's timings (ttft_ms <= 0: no token). */
void serve_metrics_job(serve_metrics *m, const llamac_job_result *r);
/* The Prometheus text (malloc'd); eng may be NULL (still loading), watch may be NULL. */
struct serve_watch;
char *serve_metrics_text(serve_metrics *m, llamac_engine *eng, struct serve_watch *watch);

/* ---- the server ---- */
typedef enum serve_state { SERVE_LOADING = 0, SERVE_READY, SERVE_STOPPING } serve_state;

typedef struct serve_options {
    const char *model_path;
    const char *host;
    int port;
    int n_parallel;
    int n_ctx;             /* -1: the engine's default */
    uint64_t kv_size;
    int n_threads;
    int max_queue;
    double timeout_s;
    int log_json;
    char *api_key;         /* malloc'd, or NULL: no authentication */
    const char *cors[SERVE_MAX_CORS_ORIGINS]; /* --cors-origin values (argv strings); "*": any origin */
    int n_cors;
} serve_options;

typedef struct serve_server {
    serve_options opt;
    char model_name[256];              /* what /v1/models and the responses call the model */
    int64_t started;                   /* unix time */
    _Atomic int state;                 /* serve_state */
    pthread_mutex_t engine_lock;       /* held around submit, so that shutdown never frees an engine in use */
    llamac_engine *engine;             /* NULL until loaded */
    llamac_model *model;
    const llamac_tokenizer *tok;       /* the model's, or NULL */
    _Atomic uint64_t next_id;          /* response ids */
    serve_metrics metrics;
    struct MHD_Daemon *daemon;
    struct serve_watch *watch;         /* the read deadline (serve_watch.c) */
    int listen_fd;                     /* ours (MHD_OPTION_LISTEN_SOCKET), closed by serve_http_stop */
} serve_server;

/* ---- per request (serve_http.c) ---- */
typedef struct serve_request serve_request;

/* The reply of a handler: a status and a body, or a stream (serve_complete.c). */
int serve_reply_json(serve_request *rq, int status, char *body);       /* takes body (malloc'd) */
int serve_reply_text(serve_request *rq, int status, const char *content_type, char *body); /* takes body */
int serve_reply_error(serve_request *rq, const llamac_oai_error *e);
#if defined(__GNUC__)
__attribute__((format(printf, 5, 6)))
#endif
int serve_reply_fail(serve_request *rq, int status, const char *type, const char *code, const char *fmt, ...);
/* Writes a whole error response on the socket at once, outside MHD, and ends the connection's sending side: for
 * refusing an upload while it is still arriving (MHD queues responses only before or after a body). The
 * request must then end with MHD_NO. */
int serve_reply_early(serve_request *rq, const llamac_oai_error *e);
/* 1 when the client closed its end of the connection (EOF or an error on the socket). */
int serve_client_gone(serve_request *rq);
/* What the request log and metrics record about the work done. */
void serve_request_note_tokens(serve_request *rq, int64_t prompt_tokens, int64_t generated_tokens);
void serve_request_note_ttft(serve_request *rq, double ttft_ms);
void serve_request_mark_gone(serve_request *rq);
/* Records the status of a response queued without serve_reply_* (a stream). */
void serve_request_set_status(serve_request *rq, int status);
serve_server *serve_request_server(serve_request *rq);
const char *serve_request_body(serve_request *rq, size_t *len);
/* Lifts the idle timeout while a job runs (nothing is sent during a long prefill) and restores it after. */
void serve_request_generating(serve_request *rq, int on);
struct MHD_Connection *serve_request_connection(serve_request *rq);
/* A new response id: prefix + 24 hex digits. */
void serve_new_id(serve_server *s, const char *prefix, char *out, size_t size);

/* Listens on --host:--port (port 0: any; s->opt.port then holds the one chosen) and starts the daemon. */
int serve_http_start(serve_server *s, char *err, size_t err_size);
/* Stops accepting connections (those open are served on). */
void serve_http_quiesce(serve_server *s);
/* Closes every connection and joins their threads (requests must not be waiting on jobs any more). */
void serve_http_stop(serve_server *s);

/* ---- handlers ---- */
int serve_health(serve_request *rq);
int serve_models(serve_request *rq);
int serve_metrics_route(serve_request *rq);
int serve_tokenize(serve_request *rq);
int serve_detokenize(serve_request *rq);
int serve_completion(serve_request *rq, llamac_oai_endpoint ep);

/* Streams keep their state in the request; serve_http.c frees it when the request ends. */
typedef struct serve_stream serve_stream;
void serve_stream_free(serve_stream *ss);
void serve_request_set_stream(serve_request *rq, serve_stream *ss);

/* ---- slow clients (serve_watch.c) ---- */
typedef struct serve_watch serve_watch;
typedef struct serve_conn serve_conn;
/* Starts the watchdog thread: a connection not answering a request is cut after deadline_s, or after
 * pressure_deadline_s while at least `pressure` connections are open. NULL when it cannot (connections are
 * then bounded by the idle timeout only). */
serve_watch *serve_watch_create(double deadline_s, int pressure, double pressure_deadline_s);
void serve_watch_free(serve_watch *w);
/* A connection opened (its socket) / closed (before its socket is). */
serve_conn *serve_watch_open(serve_watch *w, int fd);
void serve_watch_close(serve_watch *w, serve_conn *c);
/* Its request is being answered (busy 1: not cut), or it is done (busy 0: the deadline starts again). */
void serve_watch_busy(serve_watch *w, serve_conn *c, int busy);
/* Connections open now, and cut by the deadline since the start (for /metrics). */
void serve_watch_counts(serve_watch *w, int *open, uint64_t *cut);

/* ---- log (serve_log.c) ---- */
typedef struct serve_log_entry {
    const char *method;
    const char *path;
    int status;
    int64_t prompt_tokens;
    int64_t generated_tokens;
    double ttft_ms;        /* < 0: none */
    double total_ms;
    int client_gone;
} serve_log_entry;
void serve_log_request(int json, const serve_log_entry *e);

/* ---- auth (serve_auth.c) ---- */
/* Reads the key of --api-key-file (first line, trimmed); NULL after printing an error. */
char *serve_auth_read_key_file(const char *path);
/* 1 when the Authorization header value is "Bearer <key>" (constant time in the key's length). */
int serve_auth_ok(const char *key, const char *authorization);

/* ---- static pages (serve_static.c) ---- */
/* GET / and every non-API path: method "GET" or "HEAD". Returns the MHD result of queueing the answer. */
int serve_static(serve_request *rq, const char *method, const char *path);
/* 1 when path is one of the page's files (another method than GET / HEAD then gets a 405). */
int serve_static_exists(const char *path);

/* ---- cross-origin requests (serve_cors.c) ---- */
struct MHD_Response;
/* Adds Vary: Origin and, when the Origin of the request on conn is allowed, Access-Control-Allow-Origin
 * (nothing without --cors-origin). Every response of the server goes through this. */
void serve_cors_headers(const serve_options *o, struct MHD_Connection *conn, struct MHD_Response *r);
/* The 204 answer to an OPTIONS preflight on a route whose methods are `methods`, or NULL when the request's
 * origin is not allowed (the caller answers 403) or memory ran out. Only called with --cors-origin given. */
struct MHD_Response *serve_cors_preflight(const serve_options *o, struct MHD_Connection *conn, const char *methods);

#endif
