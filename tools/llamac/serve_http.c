/*
 * serve_http.c — the HTTP side of `llamac serve`, on libmicrohttpd: the listening socket, the daemon (one
 * thread per connection, bounded by SERVE_MAX_CONNECTIONS, idle connections closed after SERVE_IDLE_TIMEOUT_S,
 * headers bounded by SERVE_MAX_HEADER_BYTES and SERVE_CONN_MEMORY),
 * the access handler (routing, authentication, bounded request bodies, dispatch to the handlers), and the end
 * of each request (its log line and metrics). Replies and the request's accessors are in serve_request.c.
 *
 * A request's life: MHD calls the access handler first with only the headers (we check their size, route, check
 * the key and the Content-Length, and answer at once when the request is refused), then once per piece of the body (appended,
 * at most SERVE_MAX_BODY bytes), then once with nothing (the handler runs). MHD's completion callback ends it:
 * that is where the request is logged and its state freed, whatever way it ended.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>

#include "serve.h"
#include "serve_request.h"

static const route_def g_routes[] = {
    {"/health", "GET", ROUTE_HEALTH, 0, 0},
    {"/metrics", "GET", ROUTE_METRICS, 0, 0},
    {"/v1/models", "GET", ROUTE_MODELS, 1, 0},
    {"/v1/chat/completions", "POST", ROUTE_CHAT, 1, 1},
    {"/v1/completions", "POST", ROUTE_COMPLETIONS, 1, 1},
    {"/tokenize", "POST", ROUTE_TOKENIZE, 1, 1},
    {"/detokenize", "POST", ROUTE_DETOKENIZE, 1, 1},
};
static const route_def g_page_route = {"(the web page)", "GET", ROUTE_NONE, 0, 0}; /* serve_static.c */

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* ---------------------------------------------------------------------------------------------------------
 * The access handler
 * ------------------------------------------------------------------------------------------------------- */
/* The route of (path, method): *r the definition (or NULL); returns 0, 404 or 405. A GET route also answers
 * HEAD (the same status and headers, no body: libmicrohttpd leaves the body out of answers to HEAD). */
static int find_route(const char *path, const char *method, const route_def **r)
{
    *r = NULL;
    for (size_t i = 0; i < sizeof g_routes / sizeof g_routes[0]; i++) {
        if (strcmp(path, g_routes[i].path))
            continue;
        *r = &g_routes[i];
        if (!strcmp(method, g_routes[i].method) || (!strcmp(g_routes[i].method, "GET") && !strcmp(method, "HEAD")))
            return 0;
        return 405;
    }
    return 404;
}

/* A CORS preflight on a route whose methods are `methods`: 204 with the Access-Control headers, or 403 for an
 * origin not allowed (serve_cors.c decides). */
static int preflight(serve_request *rq, const char *methods)
{
    const char *origin = MHD_lookup_connection_value(rq->conn, MHD_HEADER_KIND, "Origin");
    struct MHD_Response *r = serve_cors_preflight(&rq->srv->opt, rq->conn, methods);
    if (!r)
        return serve_reply_fail(rq, 403, "permission_error", "origin_not_allowed",
                                "cross-origin requests from '%.200s' are not allowed (start the server with "
                                "--cors-origin ORIGIN)",
                                origin && *origin ? origin : "(no Origin header)");
    int ret = MHD_queue_response(rq->conn, MHD_HTTP_NO_CONTENT, r);
    MHD_destroy_response(r);
    if (ret == MHD_YES)
        serve_request_set_status(rq, 204);
    return ret;
}

/* The first call: route, check the key and the announced body size. Returns 1 when the request was answered. */
static int on_headers(serve_request *rq, const char *url, const char *method)
{
    int code = find_route(url, method, &rq->route);
    if (!strcmp(method, "OPTIONS") && rq->srv->opt.n_cors) { /* a CORS preflight: no key asked */
        if (code == 405)
            return preflight(rq, serve_route_allow(rq->route)), 1;
        if (code == 404 && strncmp(url, "/v1/", 4) && serve_static_exists(url))
            return preflight(rq, "GET, HEAD"), 1;
    }
    if (code == 405)
        return serve_reply_fail(rq, 405, "invalid_request_error", NULL, "%s %s: method not allowed (use %s)",
                                method, url, serve_route_allow(rq->route)),
               1;
    if (code == 404) {
        if (strncmp(url, "/v1/", 4) && (!strcmp(method, "GET") || !strcmp(method, "HEAD"))) {
            serve_static(rq, method, url);
            return 1;
        }
        if (strncmp(url, "/v1/", 4) && serve_static_exists(url)) {
            rq->route = &g_page_route; /* for the Allow header */
            return serve_reply_fail(rq, 405, "invalid_request_error", NULL, "%s %s: method not allowed (use %s)",
                                    method, url, serve_route_allow(rq->route)),
                   1;
        }
        serve_reply_fail(rq, 404, "not_found_error", NULL, "%s %s: no such endpoint", method, url);
        return 1;
    }
    if (rq->route->needs_key && rq->srv->opt.api_key &&
        !serve_auth_ok(rq->srv->opt.api_key,
                       MHD_lookup_connection_value(rq->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION))) {
        serve_reply_fail(rq, 401, "authentication_error", "invalid_api_key",
                         "missing or invalid API key (send \"Authorization: Bearer KEY\")");
        return 1;
    }
    const char *cl = MHD_lookup_connection_value(rq->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    if (cl && rq->route->has_body && strtoull(cl, NULL, 10) > SERVE_MAX_BODY) {
        serve_reply_fail(rq, 413, "invalid_request_error", "request_too_large",
                         "the request body is %s bytes; at most %u are accepted", cl, SERVE_MAX_BODY);
        return 1;
    }
    return 0;
}

/* Appends a piece of the body; 0 when the connection should be dropped. The first byte beyond SERVE_MAX_BODY
 * gets the 413 at once, written on the socket by serve_reply_early (MHD cannot queue a response in the middle
 * of an upload, and a chunked upload may never end); the rest of the body is read and thrown away, up to
 * SERVE_MAX_DISCARD bytes, so that the client is not reset before it read the answer. */
static int on_upload(serve_request *rq, const char *data, size_t n)
{
    if (rq->too_big || rq->body_len + n > SERVE_MAX_BODY) {
        if (!rq->too_big) {
            llamac_oai_error e;
            llamac_oai_fail(&e, 413, "invalid_request_error", "request_too_large", NULL,
                            "the request body is larger than %u bytes", SERVE_MAX_BODY);
            serve_reply_early(rq, &e);
        }
        rq->too_big = 1;
        rq->body_len += n; /* counted, not kept */
        return rq->body_len <= SERVE_MAX_DISCARD;
    }
    if (rq->body_len + n + 1 > rq->body_cap) {
        size_t cap = rq->body_cap ? rq->body_cap : 4096;
        while (cap < rq->body_len + n + 1)
            cap *= 2;
        char *p = realloc(rq->body, cap);
        if (!p)
            return 0;
        rq->body = p;
        rq->body_cap = cap;
    }
    memcpy(rq->body + rq->body_len, data, n);
    rq->body_len += n;
    rq->body[rq->body_len] = 0;
    return 1;
}

static enum MHD_Result add_header_bytes(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
    size_t *n = cls;
    (void)kind;
    *n += strlen(key) + (value ? strlen(value) : 0) + 4; /* ": " and CRLF */
    return MHD_YES;
}

/* The size of the request line and headers (as sent, give or take the spaces around the values). */
static size_t header_bytes(struct MHD_Connection *conn, const char *method, const char *url)
{
    size_t n = strlen(method) + strlen(url) + 12; /* " HTTP/1.1\r\n" */
    MHD_get_connection_values(conn, MHD_HEADER_KIND, add_header_bytes, &n);
    MHD_get_connection_values(conn, MHD_GET_ARGUMENT_KIND, add_header_bytes, &n); /* the query string */
    return n;
}

static int dispatch(serve_request *rq)
{
    serve_watch_busy(rq->srv->watch, rq->watched, 1);
    switch (rq->route->r) {
    case ROUTE_HEALTH:
        return serve_health(rq);
    case ROUTE_METRICS:
        return serve_metrics_route(rq);
    case ROUTE_MODELS:
        return serve_models(rq);
    case ROUTE_CHAT:
        return serve_completion(rq, LLAMAC_OAI_CHAT);
    case ROUTE_COMPLETIONS:
        return serve_completion(rq, LLAMAC_OAI_COMPLETION);
    case ROUTE_TOKENIZE:
        return serve_tokenize(rq);
    case ROUTE_DETOKENIZE:
        return serve_detokenize(rq);
    default:
        return serve_reply_fail(rq, 500, "server_error", NULL, "no handler");
    }
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
                                  const char *version, const char *upload_data, size_t *upload_data_size,
                                  void **con_cls)
{
    serve_request *rq = *con_cls;
    if (!rq) {
        if (!(rq = calloc(1, sizeof *rq)))
            return MHD_NO;
        *con_cls = rq;
        rq->srv = cls;
        rq->conn = conn;
        rq->t0_ms = now_ms();
        rq->ttft_ms = -1;
        snprintf(rq->method, sizeof rq->method, "%s", method);
        snprintf(rq->path, sizeof rq->path, "%s", url);
        const union MHD_ConnectionInfo *ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
        rq->watched = ci ? ci->socket_context : NULL;
        size_t hb = header_bytes(conn, method, url);
        if (hb > SERVE_MAX_HEADER_BYTES) { /* larger than SERVE_CONN_MEMORY never gets here: MHD's own 431 */
            serve_reply_fail(rq, 431, "invalid_request_error", "request_header_fields_too_large",
                             "the request line and headers are %zu bytes; at most %u are accepted", hb,
                             SERVE_MAX_HEADER_BYTES);
            return MHD_YES;
        }
        /* A request with a body is checked now, before the body is read (refusing it closes the connection).
         * One without is answered at the next call, once MHD has the whole request: answering now would cost
         * the keep-alive. */
        if (strcmp(method, "GET") && strcmp(method, "HEAD"))
            on_headers(rq, url, method);
        return MHD_YES;
    }
    if (!rq->route && !rq->answered) {
        if (!on_headers(rq, url, method) && !rq->route->has_body)
            return dispatch(rq) == MHD_YES ? MHD_YES : MHD_NO;
        return MHD_YES;
    }
    if (rq->answered) { /* refused at the headers: the body is discarded */
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (*upload_data_size) {
        int ok = on_upload(rq, upload_data, *upload_data_size);
        *upload_data_size = 0;
        return ok ? MHD_YES : MHD_NO;
    }
    if (rq->too_big) /* answered by serve_reply_early, outside MHD: the connection cannot be kept */
        return MHD_NO;
    return dispatch(rq) == MHD_YES ? MHD_YES : MHD_NO;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls, enum MHD_RequestTerminationCode toe)
{
    serve_request *rq = *con_cls;
    serve_server *s = cls;
    if (!rq)
        return;
    *con_cls = NULL;
    serve_watch_busy(s->watch, rq->watched, 0);
    if (toe != MHD_REQUEST_TERMINATED_COMPLETED_OK && rq->stream)
        rq->client_gone = 1;
    serve_stream_free(rq->stream); /* cancels its jobs if still running */
    int status = rq->answered ? rq->status : 499;
    serve_metrics_request(&s->metrics, status);
    serve_log_entry e = {rq->method,           rq->path, status, rq->prompt_tokens, rq->generated_tokens,
                         rq->ttft_ms,          now_ms() - rq->t0_ms, rq->client_gone};
    serve_log_request(s->opt.log_json, &e);
    free(rq->body);
    free(rq);
}

static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
                          enum MHD_ConnectionNotificationCode toe)
{
    serve_server *s = cls;
    if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
        const union MHD_ConnectionInfo *ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
        *socket_context = ci ? serve_watch_open(s->watch, ci->connect_fd) : NULL;
    } else {
        serve_watch_close(s->watch, *socket_context);
        *socket_context = NULL;
    }
}

/* ---------------------------------------------------------------------------------------------------------
 * The daemon
 * ------------------------------------------------------------------------------------------------------- */
static int listen_socket(const char *host, int port, char *err, size_t err_size, int *ipv6)
{
    struct addrinfo hints = {0}, *res = NULL;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE;
    char ports[16];
    snprintf(ports, sizeof ports, "%d", port);
    int rc = getaddrinfo(host, ports, &hints, &res);
    if (rc) {
        snprintf(err, err_size, "--host %s: %s", host, gai_strerror(rc));
        return -1;
    }
    int fd = -1, saved = 0;
    for (struct addrinfo *a = res; a; a = a->ai_next) {
        fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
        if (fd < 0) {
            saved = errno;
            continue;
        }
        int one = 1;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (!bind(fd, a->ai_addr, a->ai_addrlen) && !listen(fd, 128)) {
            *ipv6 = a->ai_family == AF_INET6;
            break;
        }
        saved = errno;
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    if (fd < 0)
        snprintf(err, err_size, "cannot listen on %s:%d: %s", host, port, strerror(saved));
    return fd;
}

int serve_http_start(serve_server *s, char *err, size_t err_size)
{
    int ipv6 = 0;
    s->watch = serve_watch_create(SERVE_READ_DEADLINE_S, SERVE_PRESSURE_CONNECTIONS, SERVE_PRESSURE_DEADLINE_S);
    int fd = listen_socket(s->opt.host, s->opt.port, err, err_size, &ipv6);
    if (fd < 0) {
        serve_watch_free(s->watch);
        s->watch = NULL;
        return -1;
    }
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    if (!getsockname(fd, (struct sockaddr *)&ss, &sl))
        s->opt.port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                                     : ((struct sockaddr_in *)&ss)->sin_port);
    /* no MHD_USE_ERROR_LOG: its messages are about clients that went away, which the request log says */
    unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ITC |
                     (ipv6 ? MHD_USE_IPv6 : 0);
    s->daemon = MHD_start_daemon(flags, 0, NULL, NULL, on_request, s, MHD_OPTION_LISTEN_SOCKET, fd,
                                 MHD_OPTION_CONNECTION_LIMIT, (unsigned)SERVE_MAX_CONNECTIONS,
                                 MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)SERVE_IDLE_TIMEOUT_S,
                                 MHD_OPTION_CONNECTION_MEMORY_LIMIT, SERVE_CONN_MEMORY,
                                 MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
                                 MHD_OPTION_NOTIFY_CONNECTION, on_connection, s, MHD_OPTION_END);
    s->listen_fd = fd;
    if (!s->daemon) {
        close(fd);
        s->listen_fd = -1;
        serve_watch_free(s->watch);
        s->watch = NULL;
        snprintf(err, err_size, "cannot start the HTTP daemon on %s:%d", s->opt.host, s->opt.port);
        return -1;
    }
    return 0;
}

void serve_http_quiesce(serve_server *s)
{
    if (s->daemon)
        MHD_quiesce_daemon(s->daemon);
}

void serve_http_stop(serve_server *s)
{
    if (s->daemon)
        MHD_stop_daemon(s->daemon);
    s->daemon = NULL;
    serve_watch_free(s->watch); /* after the daemon: every connection has been reported closed */
    s->watch = NULL;
    if (s->listen_fd >= 0)
        close(s->listen_fd);
    s->listen_fd = -1;
}
