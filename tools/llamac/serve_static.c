/*
 * serve_static.c — GET / and every other non-API path of `llamac serve`: the web chat page. For now a small
 * placeholder page at "/" (and 404 elsewhere); the web page (tools/llamac/web_static.c, web_static_serve)
 * replaces this body.
 */
#include <stdlib.h>
#include <string.h>

#include "serve.h"

static const char g_placeholder[] =
    "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>llamac</title></head>\n"
    "<body><h1>llamac serve</h1><p>An OpenAI-compatible server: POST /v1/chat/completions, "
    "POST /v1/completions, GET /v1/models, GET /health, GET /metrics.</p></body></html>\n";

int serve_static(serve_request *rq, const char *method, const char *path)
{
    (void)method; /* HEAD: MHD sends the headers only */
    if (!strcmp(path, "/") || !strcmp(path, "/index.html"))
        return serve_reply_text(rq, 200, "text/html; charset=utf-8", strdup(g_placeholder));
    return serve_reply_fail(rq, 404, "not_found_error", NULL, "%s: not found", path);
}
