/*
 * serve_request.h — the state of one HTTP request of `llamac serve`, shared by the HTTP plumbing (serve_http.c,
 * which creates and ends it) and the replies and accessors the handlers use (serve_request.c). Handlers see only
 * the opaque serve_request of serve.h.
 */
#ifndef LLAMAC_SERVE_REQUEST_H
#define LLAMAC_SERVE_REQUEST_H

#include "serve.h"

typedef enum route {
    ROUTE_NONE = 0,
    ROUTE_HEALTH,
    ROUTE_METRICS,
    ROUTE_MODELS,
    ROUTE_CHAT,
    ROUTE_COMPLETIONS,
    ROUTE_TOKENIZE,
    ROUTE_DETOKENIZE,
} route;

typedef struct route_def {
    const char *path;
    const char *method;
    route r;
    int needs_key;
    int has_body;
} route_def;

/* The Allow header of a 405 on the route: "GET, HEAD" for a GET route, else its method. */
const char *serve_route_allow(const route_def *r);

struct serve_request {
    serve_server *srv;
    struct MHD_Connection *conn;
    char method[16];
    char path[160];
    const route_def *route;
    char *body; /* the upload, NUL-terminated */
    size_t body_len, body_cap;
    int too_big;
    int answered;           /* a response was queued */
    int status;
    double t0_ms;
    int64_t prompt_tokens, generated_tokens;
    double ttft_ms;
    int client_gone;
    serve_stream *stream;
    serve_conn *watched;    /* the connection's entry in the read-deadline watch (may be NULL) */
};

#endif
