/*
 * web_static.h — the chat page's files (web/index.html, app.css, app.js), embedded in the binary at build time,
 * answered without any HTTP library: the server's glue (serve_static.c) turns a web_static_answer into a response.
 *
 *     web_static_request rq = {"GET", "/", if_none_match_or_NULL, accept_encoding_or_NULL};
 *     web_static_answer a;
 *     web_static_serve(&rq, &a);   // a.status is 200, 304, 404 or 405; every header field is set or NULL
 *
 * Invariants: every answer points only at static storage (the embedded files, string literals), so it stays valid
 * for the life of the process and needs no freeing (libmicrohttpd: MHD_RESPMEM_PERSISTENT). Header values are
 * never built from request text. The request strings are hostile: they are only read, up to their terminating NUL.
 * Each file exists identity-encoded and gzip -9n-compressed; the gzip copy is chosen only when Accept-Encoding
 * accepts gzip (q > 0). ETags are the SHA-256 of the file's bytes (gzip copy: with a "-gz" suffix); an
 * If-None-Match naming either copy's tag (or "*") gives 304. All files are sent with Cache-Control: no-cache, so a
 * new build's page shows on the next load while unchanged files cost one 304.
 */
#ifndef LLAMAC_WEB_STATIC_H
#define LLAMAC_WEB_STATIC_H

#include <stddef.h>

typedef struct web_static_request {
    const char *method;          /* "GET", "HEAD", ... (required) */
    const char *path;            /* URL path, "/" or "/app.js"; a "?query" is ignored (required) */
    const char *if_none_match;   /* If-None-Match header or NULL */
    const char *accept_encoding; /* Accept-Encoding header or NULL */
} web_static_request;

typedef struct web_static_answer {
    int status;                    /* 200, 304, 404 or 405 */
    const char *content_type;      /* "text/html; charset=utf-8", ... */
    const unsigned char *body;     /* the bytes to send (200 and the error pages); for HEAD the HTTP layer sends
                                      the headers only, Content-Length still being body_len */
    size_t body_len;
    const char *etag;              /* quoted strong ETag (200 and 304) or NULL */
    const char *cache_control;     /* "no-cache" (files), "no-store" (error pages) */
    const char *content_encoding;  /* "gzip" or NULL */
    const char *vary;              /* "Accept-Encoding" for files, NULL otherwise */
    const char *allow;             /* "GET, HEAD" on 405, else NULL */
    const char *content_security_policy; /* for the page: only same-origin scripts, styles and fetches */
    const char *content_type_options;    /* "nosniff" */
} web_static_answer;

/* Fills *a for the request and returns a->status. Never fails: a bad request yields a 404 or 405 answer. */
int web_static_serve(const web_static_request *rq, web_static_answer *a);

/* One embedded file, as the build generates it (web_assets.c, from cmake/embed_web.cmake). */
typedef struct web_static_file {
    const char *path;              /* "/index.html" */
    const char *content_type;
    const unsigned char *data;
    size_t len;
    const unsigned char *gz;       /* gzip -9n of data */
    size_t gz_len;
    const char *etag;              /* "\"<sha256 hex>\"" */
    const char *etag_gz;           /* "\"<sha256 hex>-gz\"" */
} web_static_file;

extern const web_static_file web_static_files[];
extern const size_t web_static_n_files;

/* Exposed for tests and the fuzz target: 1 if the If-None-Match list names `etag` (quoted) or "*", weak
 * comparison (a W/ prefix is ignored); 1 if Accept-Encoding accepts gzip (gzip, x-gzip or * with q > 0). */
int web_static_etag_matches(const char *if_none_match, const char *etag);
int web_static_accepts_gzip(const char *accept_encoding);

#endif
