/*
 * response.c — whole (non-stream) answers: a chat.completion or text_completion object with its choices,
 * logprobs and usage, as OpenAI returns them (the logprobs of the content's tokens: not of the stop token that
 * ended the answer).
 */
#include <stdlib.h>
#include <string.h>

#include "openai/oai_internal.h"

static json_t *chat_message(const llamac_oai_choice *c)
{
    json_t *m = json_object(), *calls = lc_oai_tool_calls(c->tool_calls);
    json_object_set_new(m, "role", json_string("assistant"));
    if (calls && json_array_size(calls)) {
        json_object_set_new(m, "content", json_null());
        json_object_set_new(m, "tool_calls", calls);
    } else {
        json_decref(calls);
        json_object_set_new(m, "content", lc_oai_string(c->content, c->content ? c->content_len : 0));
    }
    return m;
}

static json_t *logprobs_of(const llamac_oai_request *rq, const llamac_oai_choice *c, const llamac_tokenizer *tok)
{
    if (!rq->logprobs)
        return json_null();
    if (rq->endpoint == LLAMAC_OAI_COMPLETION) {
        json_t *o = lc_oai_completion_logprobs_new();
        int64_t offset = 0;
        for (int64_t i = 0; c->logprobs && i < c->n_logprobs; i++)
            if (!lc_oai_lp_is_end(&c->logprobs[i], tok, rq->gen.ignore_eos))
                lc_oai_completion_logprobs_add(o, &c->logprobs[i], tok, &offset);
        return o;
    }
    json_t *content = json_array();
    for (int64_t i = 0; c->logprobs && i < c->n_logprobs; i++)
        if (!lc_oai_lp_is_end(&c->logprobs[i], tok, rq->gen.ignore_eos))
            json_array_append_new(content, lc_oai_chat_logprob(&c->logprobs[i], tok));
    json_t *o = json_object();
    json_object_set_new(o, "content", content);
    return o;
}

char *llamac_oai_response_json(const llamac_oai_request *rq, const char *id, int64_t created, const char *model,
                               const llamac_oai_choice *choices, int n_choices, const llamac_oai_usage *usage,
                               const llamac_tokenizer *tok)
{
    if (!rq || !id || (n_choices > 0 && !choices))
        return NULL;
    int chat = rq->endpoint == LLAMAC_OAI_CHAT;
    json_t *root = json_object(), *arr = json_array();
    json_object_set_new(root, "id", lc_oai_string(id, strlen(id)));
    json_object_set_new(root, "object", json_string(chat ? "chat.completion" : "text_completion"));
    json_object_set_new(root, "created", json_integer(created));
    json_object_set_new(root, "model", lc_oai_string(model ? model : "", model ? strlen(model) : 0));
    for (int i = 0; i < n_choices; i++) {
        const llamac_oai_choice *c = &choices[i];
        json_t *ch = json_object();
        json_object_set_new(ch, "index", json_integer(i));
        if (chat)
            json_object_set_new(ch, "message", chat_message(c));
        else
            json_object_set_new(ch, "text", lc_oai_string(c->content, c->content ? c->content_len : 0));
        json_object_set_new(ch, "logprobs", logprobs_of(rq, c, tok));
        json_object_set_new(ch, "finish_reason", json_string(llamac_oai_finish_reason(c->finish)));
        json_array_append_new(arr, ch);
    }
    json_object_set_new(root, "choices", arr);
    if (usage)
        json_object_set_new(root, "usage", lc_oai_usage_json(usage));
    return lc_oai_dump(root);
}
