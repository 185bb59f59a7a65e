/*
 * serve_cors.c — cross-origin requests from browsers (`--cors-origin ORIGIN`, repeatable; `*` for any origin).
 * Off by default: without the option no answer carries Access-Control-* headers and OPTIONS gets 405, so a page
 * of another origin cannot call the API (the same origin — the built-in chat page — needs nothing).
 *
 * With it, every answer to a request whose Origin is allowed carries Access-Control-Allow-Origin (the origin
 * itself, or `*` when any is allowed) and `Vary: Origin`, and a preflight (OPTIONS on a route, with
 * Access-Control-Request-Method) gets 204 with the route's methods, the request headers it asked for (when they
 * are plain header names; else Authorization and Content-Type) and a max age — no API key is asked for a
 * preflight: browsers never send one. A preflight from an origin not allowed gets a 403 naming it (answered by
 * serve_http.c: this file only builds headers and responses, it does not reply).
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <microhttpd.h>

#include "serve.h"

#define CORS_MAX_REQUEST_HEADERS 1024 /* the longest Access-Control-Request-Headers echoed back */

/* The value of Access-Control-Allow-Origin for this request's Origin, or NULL (no CORS headers). */
static const char *allowed_origin(const serve_options *o, const char *origin)
{
    if (!o->n_cors || !origin || !*origin)
        return NULL;
    for (int i = 0; i < o->n_cors; i++) {
        if (!strcmp(o->cors[i], "*"))
            return "*";
        if (!strcasecmp(o->cors[i], origin))
            return o->cors[i];
    }
    return NULL;
}

static const char *origin_of(struct MHD_Connection *conn)
{
    return MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Origin");
}

void serve_cors_headers(const serve_options *o, struct MHD_Connection *conn, struct MHD_Response *r)
{
    if (!o->n_cors)
        return;
    MHD_add_response_header(r, MHD_HTTP_HEADER_VARY, "Origin");
    const char *allow = allowed_origin(o, origin_of(conn));
    if (allow)
        MHD_add_response_header(r, "Access-Control-Allow-Origin", allow);
}

/* 1 when s is a comma-separated list of header names (token characters, spaces, commas) and not too long. */
static int plain_header_list(const char *s)
{
    size_t n = 0;
    for (; s[n]; n++) {
        unsigned char c = (unsigned char)s[n];
        if (n >= CORS_MAX_REQUEST_HEADERS || !(isalnum(c) || strchr("-_.!#$%&'*+^`|~, ", c)))
            return 0;
    }
    return n > 0;
}

struct MHD_Response *serve_cors_preflight(const serve_options *o, struct MHD_Connection *conn, const char *methods)
{
    if (!allowed_origin(o, origin_of(conn)))
        return NULL;
    const char *want = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Access-Control-Request-Headers");
    struct MHD_Response *r = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
    if (!r)
        return NULL;
    serve_cors_headers(o, conn, r);
    MHD_add_response_header(r, "Access-Control-Allow-Methods", methods);
    MHD_add_response_header(r, "Access-Control-Allow-Headers",
                            want && plain_header_list(want) ? want : "Authorization, Content-Type");
    MHD_add_response_header(r, "Access-Control-Max-Age", "600");
    char allow_hdr[64];
    snprintf(allow_hdr, sizeof allow_hdr, "%s, OPTIONS", methods);
    MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, allow_hdr);
    return r;
}
