/*
 * serve_request.c — what a handler of `llamac serve` does with its request: read the body, record what the log
 * and metrics need, answer (JSON, text, OpenAI error bodies), and ask whether the client is still there (a poll
 * and a one-byte peek on the connection's socket: EOF or an error means it left, bytes waiting mean it is there).
 */
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <microhttpd.h>

#include "serve.h"
#include "serve_request.h"

serve_server *serve_request_server(serve_request *rq) { return rq->srv; }
struct MHD_Connection *serve_request_connection(serve_request *rq) { return rq->conn; }

const char *serve_request_body(serve_request *rq, size_t *len)
{
    *len = rq->body_len;
    return rq->body ? rq->body : "";
}

void serve_request_note_tokens(serve_request *rq, int64_t prompt_tokens, int64_t generated_tokens)
{
    rq->prompt_tokens = prompt_tokens;
    rq->generated_tokens = generated_tokens;
}

void serve_request_note_ttft(serve_request *rq, double ttft_ms) { rq->ttft_ms = ttft_ms; }

void serve_request_mark_gone(serve_request *rq) { rq->client_gone = 1; }

void serve_request_set_status(serve_request *rq, int status)
{
    rq->status = status;
    rq->answered = 1;
}

void serve_request_set_stream(serve_request *rq, serve_stream *ss) { rq->stream = ss; }

void serve_request_generating(serve_request *rq, int on)
{
    MHD_set_connection_option(rq->conn, MHD_CONNECTION_OPTION_TIMEOUT, on ? 0u : (unsigned)SERVE_IDLE_TIMEOUT_S);
}

void serve_new_id(serve_server *s, const char *prefix, char *out, size_t size)
{
    uint64_t n = atomic_fetch_add(&s->next_id, 1);
    /* unique within the server (the counter) and across restarts (the start time) */
    snprintf(out, size, "%s%08llx%016llx", prefix, (unsigned long long)(s->started & 0xffffffff),
             (unsigned long long)n);
}

int serve_client_gone(serve_request *rq)
{
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(rq->conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    if (!ci)
        return 0;
    struct pollfd p = {.fd = ci->connect_fd, .events = POLLIN | POLLRDHUP};
    if (poll(&p, 1, 0) <= 0)
        return 0;
    if (p.revents & (POLLERR | POLLHUP | POLLNVAL))
        return 1;
    char c;
    ssize_t n = recv(p.fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
    /* EOF, or a reset; bytes waiting (a pipelined request) mean the client is still there */
    return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR);
}

/* ---------------------------------------------------------------------------------------------------------
 * Replies
 * ------------------------------------------------------------------------------------------------------- */
const char *serve_route_allow(const route_def *r)
{
    return r && !strcmp(r->method, "GET") ? "GET, HEAD" : r ? r->method : "";
}

int serve_reply_text(serve_request *rq, int status, const char *content_type, char *body)
{
    if (!body) {
        status = 500;
        content_type = "application/json";
        body = strdup("{\"error\":{\"message\":\"out of memory\",\"type\":\"server_error\",\"param\":null,"
                      "\"code\":null}}");
        if (!body)
            return MHD_NO;
    }
    struct MHD_Response *r = MHD_create_response_from_buffer(strlen(body), body, MHD_RESPMEM_MUST_FREE);
    if (!r) {
        free(body);
        return MHD_NO;
    }
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
    if (status == 503)
        MHD_add_response_header(r, MHD_HTTP_HEADER_RETRY_AFTER, "1");
    if (status == 401)
        MHD_add_response_header(r, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer");
    if (status == 405 && rq->route)
        MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, serve_route_allow(rq->route));
    serve_cors_headers(&rq->srv->opt, rq->conn, r);
    int ret = MHD_queue_response(rq->conn, (unsigned)status, r);
    MHD_destroy_response(r);
    if (ret == MHD_YES) {
        rq->status = status;
        rq->answered = 1;
    }
    return ret;
}

int serve_reply_json(serve_request *rq, int status, char *body)
{
    return serve_reply_text(rq, status, "application/json", body);
}

int serve_reply_error(serve_request *rq, const llamac_oai_error *e)
{
    return serve_reply_json(rq, e->status, llamac_oai_error_json(e));
}

int serve_reply_fail(serve_request *rq, int status, const char *type, const char *code, const char *fmt, ...)
{
    llamac_oai_error e;
    llamac_oai_fail(&e, status, type, code, NULL, "%s", "");
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e.message, sizeof e.message, fmt, ap);
    va_end(ap);
    return serve_reply_error(rq, &e);
}

int serve_reply_early(serve_request *rq, const llamac_oai_error *e)
{
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(rq->conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    char *body = llamac_oai_error_json(e);
    if (!ci || !body) {
        free(body);
        return MHD_NO;
    }
    char head[256];
    int hn = snprintf(head, sizeof head,
                      "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nConnection: close\r\n"
                      "Content-Length: %zu\r\n\r\n",
                      e->status, e->status == 413 ? "Content Too Large" : "Error", strlen(body));
    const char *parts[2] = {head, body};
    size_t lens[2] = {(size_t)hn, strlen(body)};
    int ok = 1;
    for (int i = 0; i < 2 && ok; i++) {
        size_t off = 0;
        int tries = 0;
        while (off < lens[i] && ok) { /* the socket is non-blocking: wait for room, at most ~2 s */
            ssize_t n = send(ci->connect_fd, parts[i] + off, lens[i] - off, MSG_NOSIGNAL);
            if (n > 0) {
                off += (size_t)n;
            } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) && tries++ < 20) {
                struct pollfd p = {.fd = ci->connect_fd, .events = POLLOUT};
                poll(&p, 1, 100);
            } else {
                ok = 0;
            }
        }
    }
    free(body);
    shutdown(ci->connect_fd, SHUT_WR); /* the answer is complete; what the client still sends is read and dropped */
    rq->status = e->status;
    rq->answered = 1;
    return ok ? MHD_YES : MHD_NO;
}
