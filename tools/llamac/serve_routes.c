/*
 * serve_routes.c — the endpoints of `llamac serve` that answer at once: GET /health, GET /v1/models,
 * GET /metrics, POST /tokenize and POST /detokenize (llama.cpp's shapes).
 */
#include <stdlib.h>
#include <string.h>

#include "serve.h"

int serve_health(serve_request *rq)
{
    int state = atomic_load(&serve_request_server(rq)->state);
    if (state == SERVE_READY)
        return serve_reply_json(rq, 200, strdup("{\"status\":\"ok\"}"));
    return serve_reply_json(rq, 503, strdup(state == SERVE_LOADING ? "{\"status\":\"loading\"}"
                                                                   : "{\"status\":\"stopping\"}"));
}

int serve_models(serve_request *rq)
{
    serve_server *s = serve_request_server(rq);
    return serve_reply_json(rq, 200, llamac_oai_models_json(s->model_name, s->started));
}

int serve_metrics_route(serve_request *rq)
{
    serve_server *s = serve_request_server(rq);
    pthread_mutex_lock(&s->engine_lock);
    char *text = serve_metrics_text(&s->metrics, s->engine, s->watch);
    pthread_mutex_unlock(&s->engine_lock);
    return serve_reply_text(rq, 200, "text/plain; version=0.0.4; charset=utf-8", text);
}

/* The tokenizer, or a 503 (loading) / 400 (no vocabulary) reply. */
static const llamac_tokenizer *need_tokenizer(serve_request *rq, int *ret)
{
    serve_server *s = serve_request_server(rq);
    if (atomic_load(&s->state) != SERVE_READY) {
        *ret = serve_reply_fail(rq, 503, "server_error", "unavailable", "the server is not ready");
        return NULL;
    }
    if (!s->tok)
        *ret = serve_reply_fail(rq, 400, "invalid_request_error", NULL, "this model has no vocabulary");
    return s->tok;
}

int serve_tokenize(serve_request *rq)
{
    size_t len, clen;
    const char *body = serve_request_body(rq, &len);
    char *content;
    int add_special, parse_special, ret = 0;
    llamac_oai_error e;
    if (llamac_oai_parse_tokenize(body, len, &content, &clen, &add_special, &parse_special, &e))
        return serve_reply_error(rq, &e);
    const llamac_tokenizer *tok = need_tokenizer(rq, &ret);
    if (!tok) {
        free(content);
        return ret;
    }
    llamac_tokens ids = {0};
    unsigned flags = (add_special ? LLAMAC_TOKENIZE_ADD_BOS : 0) | (parse_special ? LLAMAC_TOKENIZE_PARSE_SPECIAL : 0);
    llamac_status st = llamac_tokenize(tok, content, clen, flags, &ids);
    free(content);
    if (st) {
        llamac_tokens_free(&ids);
        return serve_reply_fail(rq, 500, "server_error", NULL, "tokenize: %s", llamac_status_str(st));
    }
    ret = serve_reply_json(rq, 200, llamac_oai_tokens_json(ids.ids, (int64_t)ids.n));
    llamac_tokens_free(&ids);
    return ret;
}

int serve_detokenize(serve_request *rq)
{
    size_t len;
    const char *body = serve_request_body(rq, &len);
    int32_t *tokens;
    int64_t n;
    int ret = 0;
    llamac_oai_error e;
    if (llamac_oai_parse_detokenize(body, len, &tokens, &n, &e))
        return serve_reply_error(rq, &e);
    const llamac_tokenizer *tok = need_tokenizer(rq, &ret);
    if (!tok) {
        free(tokens);
        return ret;
    }
    llamac_text text = {0};
    llamac_status st = llamac_detokenize(tok, tokens, (size_t)n, 0, &text);
    free(tokens);
    if (st == LLAMAC_E_TOKEN || st == LLAMAC_E_INVALID_ARG) {
        llamac_text_free(&text);
        return serve_reply_fail(rq, 400, "invalid_request_error", NULL, "tokens: a token id is out of range");
    }
    if (st) {
        llamac_text_free(&text);
        return serve_reply_fail(rq, 500, "server_error", NULL, "detokenize: %s", llamac_status_str(st));
    }
    ret = serve_reply_json(rq, 200, llamac_oai_content_json(text.data, text.n));
    llamac_text_free(&text);
    return ret;
}
