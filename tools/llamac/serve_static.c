/*
 * serve_static.c — GET / and every other non-API path of `llamac serve`: the web chat page. web_static_serve
 * (web_static.c) decides the answer from the embedded files; this file only turns it into a libmicrohttpd
 * response. The bytes are static (MHD_RESPMEM_PERSISTENT: no copy); an unknown path gets the server's JSON 404.
 */
#include <microhttpd.h>

#include "serve.h"
#include "web_static.h"

static void add_header(struct MHD_Response *r, const char *name, const char *value)
{
    if (value)
        MHD_add_response_header(r, name, value);
}

int serve_static(serve_request *rq, const char *method, const char *path)
{
    struct MHD_Connection *c = serve_request_connection(rq);
    const web_static_request wrq = {
        method, path, MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_IF_NONE_MATCH),
        MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_ACCEPT_ENCODING)};
    web_static_answer a;
    if (web_static_serve(&wrq, &a) == 404)
        return serve_reply_fail(rq, 404, "not_found_error", NULL, "%s: not found", path);
    /* MHD sends no body for HEAD and 304 by itself; Content-Length stays the body's for HEAD */
    struct MHD_Response *r = MHD_create_response_from_buffer(a.body_len, (void *)a.body, MHD_RESPMEM_PERSISTENT);
    if (!r)
        return MHD_NO;
    add_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, a.content_type);
    add_header(r, MHD_HTTP_HEADER_ETAG, a.etag);
    add_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, a.cache_control);
    add_header(r, MHD_HTTP_HEADER_CONTENT_ENCODING, a.content_encoding);
    add_header(r, MHD_HTTP_HEADER_VARY, a.vary);
    add_header(r, MHD_HTTP_HEADER_ALLOW, a.allow);
    add_header(r, "Content-Security-Policy", a.content_security_policy);
    add_header(r, "X-Content-Type-Options", a.content_type_options);
    serve_cors_headers(&serve_request_server(rq)->opt, c, r);
    int ret = MHD_queue_response(c, (unsigned)a.status, r);
    MHD_destroy_response(r);
    serve_request_set_status(rq, a.status);
    return ret;
}

int serve_static_exists(const char *path)
{
    const web_static_request wrq = {"GET", path, NULL, NULL};
    web_static_answer a;
    return web_static_serve(&wrq, &a) != 404;
}
