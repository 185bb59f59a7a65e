/*
 * stream.c — answers as server-sent events, the way OpenAI clients parse them: "data: {chunk}\n\n" events with
 * the same id, created and model in every chunk; a choice's first chunk carries the role (chat); tool calls go
 * out when the answer ended (the session holds back call text until it is parsed) as
 * {index, id, type, function: {name, arguments: ""}} followed by the arguments; a chunk with the finish_reason
 * ends each choice; with include_usage every chunk has "usage": null and a last chunk has "choices": [] and the
 * usage; "data: [DONE]" ends the stream.
 */
#include <stdlib.h>
#include <string.h>

#include "openai/oai_internal.h"
#include "util/buf.h"

struct llamac_oai_stream {
    int chat;
    int logprobs;
    int ignore_eos;
    int include_usage;
    char *id;
    char *model;
    int64_t created;
    const llamac_tokenizer *tok;
    unsigned char started[LLAMAC_OAI_MAX_N]; /* the role chunk of choice i went out */
    int64_t text_offset[LLAMAC_OAI_MAX_N];   /* completion logprobs: bytes of text before the next token */
};

llamac_status llamac_oai_stream_create(const llamac_oai_request *rq, const char *id, int64_t created,
                                       const char *model, const llamac_tokenizer *tok, llamac_oai_stream **out)
{
    if (!out)
        return LLAMAC_E_INVALID_ARG;
    *out = NULL;
    if (!rq || !id)
        return LLAMAC_E_INVALID_ARG;
    llamac_oai_stream *st = calloc(1, sizeof *st);
    if (!st || !(st->id = strdup(id)) || !(st->model = strdup(model ? model : ""))) {
        llamac_oai_stream_free(st);
        return LLAMAC_E_NOMEM;
    }
    st->chat = rq->endpoint == LLAMAC_OAI_CHAT;
    st->logprobs = rq->logprobs;
    st->ignore_eos = rq->gen.ignore_eos;
    st->include_usage = rq->include_usage;
    st->created = created;
    st->tok = tok;
    *out = st;
    return LLAMAC_OK;
}

void llamac_oai_stream_free(llamac_oai_stream *st)
{
    if (!st)
        return;
    free(st->id);
    free(st->model);
    free(st);
}

/* A chunk object with one choice of the given index (NULL choice: "choices": []). */
static json_t *chunk(const llamac_oai_stream *st, json_t *choice)
{
    json_t *root = json_object(), *arr = json_array();
    json_object_set_new(root, "id", lc_oai_string(st->id, strlen(st->id)));
    json_object_set_new(root, "object", json_string(st->chat ? "chat.completion.chunk" : "text_completion"));
    json_object_set_new(root, "created", json_integer(st->created));
    json_object_set_new(root, "model", lc_oai_string(st->model, strlen(st->model)));
    if (choice)
        json_array_append_new(arr, choice);
    json_object_set_new(root, "choices", arr);
    if (st->include_usage)
        json_object_set_new(root, "usage", json_null());
    return root;
}

static json_t *choice_new(int index)
{
    json_t *c = json_object();
    json_object_set_new(c, "index", json_integer(index));
    return c;
}

/* Appends "data: <chunk>\n\n". */
static void emit(lc_buf *b, json_t *root)
{
    char *s = lc_oai_dump(root);
    if (!s) {
        b->oom = 1;
        return;
    }
    lc_buf_printf(b, "data: %s\n\n", s);
    free(s);
}

static char *finish_buf(lc_buf *b)
{
    if (b->oom) {
        lc_buf_free(b);
        return NULL;
    }
    if (!b->p)
        return calloc(1, 1);
    return b->p;
}

/* The chat chunk's delta of choice index, with the role when it is the choice's first chunk. */
static json_t *chat_delta(llamac_oai_stream *st, int index)
{
    json_t *d = json_object();
    if (!st->started[index]) {
        json_object_set_new(d, "role", json_string("assistant"));
        st->started[index] = 1;
    }
    return d;
}

char *llamac_oai_stream_delta(llamac_oai_stream *st, int index, const char *text, size_t len,
                              const llamac_oai_logprob *lp)
{
    if (!st || index < 0 || index >= LLAMAC_OAI_MAX_N)
        return NULL;
    lc_buf b = {0};
    if (!text)
        len = 0;
    if (!st->logprobs || lc_oai_lp_is_end(lp, st->tok, st->ignore_eos))
        lp = NULL; /* the stop token that ended the answer is no part of the content: no logprob */
    if (len || lp || (st->chat && !st->started[index])) {
        json_t *c = choice_new(index);
        if (st->chat) {
            json_t *d = chat_delta(st, index);
            json_object_set_new(d, "content", lc_oai_string(text, len));
            json_object_set_new(c, "delta", d);
            json_t *lpo = json_null();
            if (lp) {
                json_t *content = json_array();
                json_array_append_new(content, lc_oai_chat_logprob(lp, st->tok));
                lpo = json_object();
                json_object_set_new(lpo, "content", content);
            }
            json_object_set_new(c, "logprobs", lpo);
        } else {
            json_object_set_new(c, "text", lc_oai_string(text, len));
            json_t *lpo = json_null();
            if (lp) {
                lpo = lc_oai_completion_logprobs_new();
                lc_oai_completion_logprobs_add(lpo, lp, st->tok, &st->text_offset[index]);
            }
            json_object_set_new(c, "logprobs", lpo);
        }
        json_object_set_new(c, "finish_reason", json_null());
        emit(&b, chunk(st, c));
    }
    return finish_buf(&b);
}

/* Two chunks per tool call: its header with empty arguments, then the arguments. */
static void emit_tool_calls(llamac_oai_stream *st, lc_buf *b, int index, const char *tool_calls)
{
    json_t *calls = lc_oai_tool_calls(tool_calls);
    for (size_t k = 0; k < json_array_size(calls); k++) {
        const json_t *call = json_array_get(calls, k);
        const json_t *fn = json_object_get(call, "function");
        const char *args = json_string_value(json_object_get(fn, "arguments"));
        for (int part = 0; part < 2; part++) {
            json_t *tc = json_object(), *f = json_object();
            json_object_set_new(tc, "index", json_integer((json_int_t)k));
            if (part == 0) {
                json_object_set(tc, "id", json_object_get(call, "id"));
                json_object_set_new(tc, "type", json_string("function"));
                json_object_set(f, "name", json_object_get(fn, "name"));
                json_object_set_new(f, "arguments", json_string(""));
            } else {
                json_object_set_new(f, "arguments", lc_oai_string(args ? args : "", args ? strlen(args) : 0));
            }
            json_object_set_new(tc, "function", f);
            json_t *arr = json_array();
            json_array_append_new(arr, tc);
            json_t *d = chat_delta(st, index);
            json_object_set_new(d, "tool_calls", arr);
            json_t *c = choice_new(index);
            json_object_set_new(c, "delta", d);
            json_object_set_new(c, "logprobs", json_null());
            json_object_set_new(c, "finish_reason", json_null());
            emit(b, chunk(st, c));
        }
    }
    json_decref(calls);
}

char *llamac_oai_stream_finish(llamac_oai_stream *st, int index, llamac_finish finish, const char *tool_calls)
{
    if (!st || index < 0 || index >= LLAMAC_OAI_MAX_N)
        return NULL;
    lc_buf b = {0};
    if (st->chat)
        emit_tool_calls(st, &b, index, tool_calls);
    json_t *c = choice_new(index);
    if (st->chat)
        json_object_set_new(c, "delta", chat_delta(st, index));
    else
        json_object_set_new(c, "text", json_string(""));
    json_object_set_new(c, "logprobs", json_null());
    json_object_set_new(c, "finish_reason", json_string(llamac_oai_finish_reason(finish)));
    emit(&b, chunk(st, c));
    return finish_buf(&b);
}

char *llamac_oai_stream_end(llamac_oai_stream *st, const llamac_oai_usage *usage)
{
    if (!st)
        return NULL;
    lc_buf b = {0};
    if (st->include_usage && usage) {
        json_t *root = chunk(st, NULL);
        json_object_set_new(root, "usage", lc_oai_usage_json(usage));
        emit(&b, root);
    }
    lc_buf_puts(&b, "data: [DONE]\n\n");
    return finish_buf(&b);
}
