/*
 * web_static.c — answers GET/HEAD for the embedded chat page (see web_static.h). Pure functions over the request
 * strings and the generated file table; no allocation, no HTTP library, no global state written.
 */
#include "web_static.h"

#include <string.h>
#include <strings.h>

static const char CSP[] = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                          "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";
static const unsigned char NOT_FOUND[] = "not found\n";
static const unsigned char NOT_ALLOWED[] = "method not allowed: the page answers GET and HEAD\n";

static int is_space(char c) { return c == ' ' || c == '\t'; }

int web_static_etag_matches(const char *inm, const char *etag)
{
    if (!inm || !etag)
        return 0;
    size_t elen = strlen(etag);
    const char *p = inm;
    while (*p) {
        while (*p == ',' || is_space(*p))
            p++;
        if (!*p)
            break;
        if (*p == '*')
            return 1;
        if (p[0] == 'W' && p[1] == '/')
            p += 2;
        if (*p == '"') {
            const char *end = strchr(p + 1, '"');
            if (!end)
                return 0; /* unterminated tag: nothing more to read */
            size_t n = (size_t)(end - p) + 1;
            if (n == elen && memcmp(p, etag, n) == 0)
                return 1;
            p = end + 1;
        }
        while (*p && *p != ',')
            p++; /* garbage after a tag, or a malformed element: skip to the next one */
    }
    return 0;
}

/* The q value of one Accept-Encoding element's parameters [p, end): 0 for q=0 (any number of zero decimals),
 * 1 otherwise (absent or positive; malformed values are taken as acceptable, as if q were absent). */
static int q_positive(const char *p, const char *end)
{
    while (p < end) {
        while (p < end && (*p == ';' || is_space(*p)))
            p++;
        if (end - p >= 2 && (p[0] == 'q' || p[0] == 'Q') && p[1] == '=') {
            p += 2;
            if (p < end && *p == '0') {
                p++;
                if (p < end && *p == '.')
                    p++;
                while (p < end && *p == '0')
                    p++;
                while (p < end && is_space(*p))
                    p++;
                if (p == end || *p == ';')
                    return 0;
            }
            return 1;
        }
        while (p < end && *p != ';')
            p++;
    }
    return 1;
}

int web_static_accepts_gzip(const char *ae)
{
    if (!ae)
        return 0;
    int gzip = -1, star = -1; /* -1: not named; else whether q > 0 */
    const char *p = ae;
    while (*p) {
        while (*p == ',' || is_space(*p))
            p++;
        const char *tok = p;
        while (*p && *p != ',' && *p != ';' && !is_space(*p))
            p++;
        size_t tlen = (size_t)(p - tok);
        const char *params = p;
        while (*p && *p != ',')
            p++;
        int ok = q_positive(params, p);
        if ((tlen == 4 && strncasecmp(tok, "gzip", 4) == 0) || (tlen == 6 && strncasecmp(tok, "x-gzip", 6) == 0))
            gzip = gzip == 1 ? 1 : ok;
        else if (tlen == 1 && *tok == '*')
            star = ok;
    }
    return gzip >= 0 ? gzip : star == 1;
}

static const web_static_file *find_file(const char *path)
{
    size_t n = strcspn(path, "?#");
    if (n == 1 && path[0] == '/')
        path = "/index.html", n = strlen(path);
    for (size_t i = 0; i < web_static_n_files; i++) {
        const char *fp = web_static_files[i].path;
        if (strlen(fp) == n && memcmp(fp, path, n) == 0)
            return &web_static_files[i];
    }
    return NULL;
}

static int error_answer(web_static_answer *a, int status, const unsigned char *body, size_t len)
{
    a->status = status;
    a->content_type = "text/plain; charset=utf-8";
    a->body = body;
    a->body_len = len;
    a->cache_control = "no-store";
    return status;
}

int web_static_serve(const web_static_request *rq, web_static_answer *a)
{
    memset(a, 0, sizeof *a);
    a->content_type_options = "nosniff";
    if (!rq || !rq->method || !rq->path)
        return error_answer(a, 404, NOT_FOUND, sizeof NOT_FOUND - 1);
    int head = strcmp(rq->method, "HEAD") == 0;
    if (!head && strcmp(rq->method, "GET") != 0) {
        a->allow = "GET, HEAD";
        return error_answer(a, 405, NOT_ALLOWED, sizeof NOT_ALLOWED - 1);
    }
    const web_static_file *f = find_file(rq->path);
    if (!f)
        return error_answer(a, 404, NOT_FOUND, sizeof NOT_FOUND - 1);

    int gz = f->gz && f->gz_len < f->len && web_static_accepts_gzip(rq->accept_encoding);
    a->content_type = f->content_type;
    a->cache_control = "no-cache";
    a->vary = "Accept-Encoding";
    a->content_security_policy = CSP;
    a->etag = gz ? f->etag_gz : f->etag;
    if (web_static_etag_matches(rq->if_none_match, f->etag) || web_static_etag_matches(rq->if_none_match, f->etag_gz)) {
        a->status = 304;
        return 304; /* no body, no Content-Encoding: the client keeps the copy it has */
    }
    a->status = 200;
    a->body = gz ? f->gz : f->data;
    a->body_len = gz ? f->gz_len : f->len;
    a->content_encoding = gz ? "gzip" : NULL;
    return 200;
}
