/*
 * request.c — request bodies of /v1/chat/completions and /v1/completions into an llamac_oai_request.
 *
 * OpenAI's rules: unknown fields are ignored, null means "not given", a wrong type or a value out of range is
 * a 400 whose param and message name the field. The messages and tools are validated by the chat layer
 * (llamac_chat_load_json), whose messages start with the element they are about ("messages[2]: ..."); that
 * prefix becomes the param. Nothing here knows the model: token ids and logit-bias ids are range-checked by
 * whoever runs the request.
 */
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "openai/oai_internal.h"

#define BAD(e, param, ...) llamac_oai_fail((e), 400, "invalid_request_error", NULL, (param), __VA_ARGS__)

static llamac_status oom(llamac_oai_error *e)
{
    return llamac_oai_fail(e, 500, "server_error", NULL, NULL, "out of memory");
}

/* The field, or NULL when absent or null. */
static json_t *field(const json_t *root, const char *name)
{
    json_t *v = json_object_get(root, name);
    return json_is_null(v) ? NULL : v;
}

static llamac_status get_bool(const json_t *root, const char *name, int *out, llamac_oai_error *e)
{
    json_t *v = field(root, name);
    if (!v)
        return LLAMAC_OK;
    if (!json_is_boolean(v))
        return BAD(e, name, "%s: must be a boolean", name);
    *out = json_is_true(v);
    return LLAMAC_OK;
}

static llamac_status get_float(const json_t *root, const char *name, double lo, double hi, float *out,
                               llamac_oai_error *e)
{
    json_t *v = field(root, name);
    if (!v)
        return LLAMAC_OK;
    double d = json_number_value(v);
    if (!json_is_number(v) || !(d >= lo && d <= hi))
        return BAD(e, name, "%s: must be a number in %g..%g", name, lo, hi);
    *out = (float)d;
    return LLAMAC_OK;
}

/* An integer in lo..hi; *given (may be NULL) set to 1 when present. A real with an integral value counts. */
static llamac_status get_int(const json_t *root, const char *name, long long lo, long long hi, long long *out,
                             int *given, llamac_oai_error *e)
{
    json_t *v = field(root, name);
    if (!v)
        return LLAMAC_OK;
    long long x;
    if (json_is_integer(v)) {
        x = json_integer_value(v);
    } else if (json_is_real(v) && json_real_value(v) == floor(json_real_value(v)) &&
               fabs(json_real_value(v)) < 9e18) {
        x = (long long)json_real_value(v);
    } else {
        return BAD(e, name, "%s: must be an integer", name);
    }
    if (x < lo || x > hi)
        return BAD(e, name, "%s: must be in %lld..%lld", name, lo, hi);
    *out = x;
    if (given)
        *given = 1;
    return LLAMAC_OK;
}

static llamac_status parse_stop(const json_t *root, llamac_oai_request *rq, llamac_oai_error *e)
{
    json_t *v = field(root, "stop");
    if (!v)
        return LLAMAC_OK;
    size_t n = json_is_array(v) ? json_array_size(v) : 1;
    if (!json_is_string(v) && !json_is_array(v))
        return BAD(e, "stop", "stop: must be a string or an array of strings");
    if (n > LLAMAC_MAX_STOP)
        return BAD(e, "stop", "stop: at most %d strings", LLAMAC_MAX_STOP);
    for (size_t i = 0; i < n; i++) {
        const json_t *s = json_is_array(v) ? json_array_get(v, i) : v;
        char param[32];
        if (json_is_array(v))
            snprintf(param, sizeof param, "stop[%zu]", i);
        else
            snprintf(param, sizeof param, "stop");
        size_t len = json_string_length(s);
        if (!json_is_string(s) || len < 1 || len > 256 || memchr(json_string_value(s), 0, len))
            return BAD(e, param, "%s: must be a string of 1..256 bytes", param);
        if (!(rq->stop_store[i] = strdup(json_string_value(s))))
            return oom(e);
        rq->gen.stop[i] = rq->stop_store[i];
    }
    return LLAMAC_OK;
}

static llamac_status parse_logit_bias(const json_t *root, llamac_oai_request *rq, llamac_oai_error *e)
{
    json_t *v = field(root, "logit_bias");
    if (!v)
        return LLAMAC_OK;
    if (!json_is_object(v))
        return BAD(e, "logit_bias", "logit_bias: must be an object {\"token id\": bias}");
    size_t n = json_object_size(v);
    if (n > LLAMAC_OAI_MAX_LOGIT_BIAS)
        return BAD(e, "logit_bias", "logit_bias: at most %d entries", LLAMAC_OAI_MAX_LOGIT_BIAS);
    if (!n)
        return LLAMAC_OK;
    if (!(rq->logit_bias_store = calloc(n, sizeof *rq->logit_bias_store)))
        return oom(e);
    const char *key;
    json_t *val;
    int k = 0;
    json_object_foreach(v, key, val) {
        char *end;
        long id = strtol(key, &end, 10);
        if (!*key || *end || id < 0 || id > INT32_MAX)
            return BAD(e, "logit_bias", "logit_bias: key '%.64s' is not a token id", key);
        double b = json_number_value(val);
        if (!json_is_number(val) || !(b >= -100 && b <= 100))
            return BAD(e, "logit_bias", "logit_bias[%s]: must be a number in -100..100", key);
        rq->logit_bias_store[k].token = (int32_t)id;
        rq->logit_bias_store[k].bias = b <= -100 ? -INFINITY : (float)b; /* -100 bans, as OpenAI documents */
        k++;
    }
    rq->gen.sampling.logit_bias = rq->logit_bias_store;
    rq->gen.sampling.n_logit_bias = k;
    return LLAMAC_OK;
}

/* The fields both endpoints share. */
static llamac_status parse_common(const json_t *root, llamac_oai_request *rq, llamac_oai_error *e)
{
    llamac_status st;
    llamac_sampler_params *sp = &rq->gen.sampling;
    json_t *model = field(root, "model");
    if (model && !json_is_string(model))
        return BAD(e, "model", "model: must be a string");
    if (model && !(rq->model = strdup(json_string_value(model))))
        return oom(e);
    long long x = 0, seed = 0;
    int given = 0;
    if ((st = get_bool(root, "stream", &rq->stream, e)))
        return st;
    json_t *so = field(root, "stream_options");
    if (so && !json_is_object(so))
        return BAD(e, "stream_options", "stream_options: must be an object");
    if (so) {
        json_t *iu = field(so, "include_usage");
        if (iu && !json_is_boolean(iu))
            return BAD(e, "stream_options.include_usage", "stream_options.include_usage: must be a boolean");
        rq->include_usage = json_is_true(iu);
    }
    /* max_completion_tokens (the newer name) wins over max_tokens */
    if ((st = get_int(root, "max_tokens", 1, INT_MAX, &x, &rq->max_tokens_given, e)))
        return st;
    if ((st = get_int(root, "max_completion_tokens", 1, INT_MAX, &x, &rq->max_tokens_given, e)))
        return st;
    if (rq->max_tokens_given)
        rq->gen.max_tokens = (int)x;
    if ((st = get_float(root, "temperature", 0, 2, &sp->temperature, e)) ||
        (st = get_float(root, "top_p", 0, 1, &sp->top_p, e)) ||
        (st = get_float(root, "min_p", 0, 1, &sp->min_p, e)) ||
        (st = get_float(root, "repeat_penalty", 0, 10, &sp->repeat_penalty, e)) ||
        (st = get_float(root, "presence_penalty", -2, 2, &sp->presence_penalty, e)) ||
        (st = get_float(root, "frequency_penalty", -2, 2, &sp->frequency_penalty, e)))
        return st;
    x = sp->top_k;
    if ((st = get_int(root, "top_k", 0, INT_MAX, &x, NULL, e)))
        return st;
    sp->top_k = (int)x;
    if ((st = get_int(root, "seed", LLONG_MIN, LLONG_MAX, &seed, &rq->seeded, e)))
        return st;
    if (rq->seeded)
        sp->seed = (uint64_t)seed;
    x = 1;
    if ((st = get_int(root, "n", 1, LLAMAC_OAI_MAX_N, &x, &given, e)))
        return st;
    rq->n = (int)x;
    if ((st = get_bool(root, "ignore_eos", &rq->gen.ignore_eos, e)) || (st = parse_stop(root, rq, e)) ||
        (st = parse_logit_bias(root, rq, e)))
        return st;
    return LLAMAC_OK;
}

static llamac_status parse_root(const char *body, size_t len, json_t **root, llamac_oai_error *e)
{
    json_error_t je;
    *root = body ? json_loadb(body, len, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &je) : NULL;
    if (!*root)
        return BAD(e, NULL, "the body is not valid JSON: %s (at byte %d)", body ? je.text : "no body",
                   body ? je.position : 0);
    if (!json_is_object(*root)) {
        json_decref(*root);
        *root = NULL;
        return BAD(e, NULL, "the body must be a JSON object");
    }
    return LLAMAC_OK;
}

static llamac_status new_request(llamac_oai_endpoint ep, llamac_oai_request **out, llamac_oai_error *e)
{
    llamac_oai_request *rq = calloc(1, sizeof *rq);
    if (!rq)
        return oom(e);
    rq->endpoint = ep;
    rq->gen = llamac_gen_default_params();
    rq->gen.parse_tool_calls = ep == LLAMAC_OAI_CHAT;
    rq->n = 1;
    *out = rq;
    return LLAMAC_OK;
}

void llamac_oai_request_free(llamac_oai_request *rq)
{
    if (!rq)
        return;
    free(rq->model);
    llamac_chat_free(rq->chat);
    free(rq->prompt);
    free(rq->prompt_tokens);
    for (int i = 0; i < LLAMAC_MAX_STOP; i++)
        free(rq->stop_store[i]);
    free(rq->tool_name_store);
    free(rq->logit_bias_store);
    free(rq);
}

/* Does tools[] define a function called name? */
static int has_tool(const json_t *tools, const char *name)
{
    for (size_t i = 0; i < json_array_size(tools); i++) {
        const json_t *fn = json_object_get(json_array_get(tools, i), "function");
        const char *n = json_string_value(json_object_get(fn, "name"));
        if (n && !strcmp(n, name))
            return 1;
    }
    return 0;
}

static llamac_status parse_tool_choice(const json_t *root, llamac_oai_request *rq, llamac_oai_error *e)
{
    json_t *v = field(root, "tool_choice"), *tools = field(root, "tools");
    if (!v)
        return LLAMAC_OK;
    const char *s = json_string_value(v);
    if (s && !strcmp(s, "auto"))
        rq->gen.tool_choice = LLAMAC_TOOL_CHOICE_AUTO;
    else if (s && !strcmp(s, "none"))
        rq->gen.tool_choice = LLAMAC_TOOL_CHOICE_NONE;
    else if (s && !strcmp(s, "required"))
        rq->gen.tool_choice = LLAMAC_TOOL_CHOICE_REQUIRED;
    else if (json_is_object(v)) {
        const char *name = json_string_value(json_object_get(json_object_get(v, "function"), "name"));
        if (!name)
            return BAD(e, "tool_choice", "tool_choice: an object must be {\"type\":\"function\",\"function\":"
                                         "{\"name\":...}}");
        if (!has_tool(tools, name))
            return BAD(e, "tool_choice", "tool_choice: no tool named '%.64s' in tools", name);
        if (!(rq->tool_name_store = strdup(name)))
            return oom(e);
        rq->gen.tool_choice = LLAMAC_TOOL_CHOICE_NAMED;
        rq->gen.tool_name = rq->tool_name_store;
    } else {
        return BAD(e, "tool_choice", "tool_choice: must be \"auto\", \"none\", \"required\" or a named function");
    }
    if (rq->gen.tool_choice == LLAMAC_TOOL_CHOICE_REQUIRED && !rq->has_tools)
        return BAD(e, "tool_choice", "tool_choice: \"required\" needs tools");
    return LLAMAC_OK;
}

/* The chat layer's message starts with the element it is about ("messages[2].content: ..."): that is the
 * param. */
static void chat_error(const llamac_chat *chat, llamac_oai_error *e)
{
    const char *msg = llamac_chat_error(chat);
    char param[128] = "messages";
    if (!strncmp(msg, "messages[", 9) || !strncmp(msg, "tools", 5)) {
        size_t n = strcspn(msg, ": ");
        if (n < sizeof param)
            snprintf(param, sizeof param, "%.*s", (int)n, msg);
    } else if (strstr(msg, "tool")) {
        snprintf(param, sizeof param, "tools");
    }
    BAD(e, param, "%s", msg);
}

static llamac_status parse_chat_fields(const json_t *root, llamac_oai_request *rq, llamac_oai_error *e)
{
    llamac_status st;
    json_t *msgs = field(root, "messages"), *tools = field(root, "tools");
    if (!json_is_array(msgs) || !json_array_size(msgs))
        return BAD(e, "messages", "messages: must be a non-empty array of messages");
    if (tools && !json_is_array(tools))
        return BAD(e, "tools", "tools: must be an array");
    rq->has_tools = json_array_size(tools) > 0;
    /* JSON mode and structured outputs are not implemented: refuse them rather than answer in free text */
    json_t *rf = field(root, "response_format");
    if (rf) {
        const json_t *type = json_is_object(rf) ? json_object_get(rf, "type") : NULL;
        if (!json_is_string(type) || strcmp(json_string_value(type), "text"))
            return BAD(e, "response_format", "response_format: only {\"type\": \"text\"} is supported");
    }
    /* the chat layer reads exactly the OpenAI subset {"messages", "tools"} */
    json_t *sub = json_object();
    json_object_set(sub, "messages", msgs);
    if (rq->has_tools)
        json_object_set(sub, "tools", tools);
    char *text = lc_oai_dump(sub);
    if (!text || llamac_chat_create(&rq->chat) != LLAMAC_OK) {
        free(text);
        return oom(e);
    }
    st = llamac_chat_load_json(rq->chat, text, strlen(text));
    free(text);
    if (st == LLAMAC_E_NOMEM)
        return oom(e);
    if (st) {
        chat_error(rq->chat, e);
        return LLAMAC_E_INVALID_ARG;
    }
    if ((st = parse_tool_choice(root, rq, e)))
        return st;
    json_t *lp = field(root, "logprobs");
    if (lp && !json_is_boolean(lp))
        return BAD(e, "logprobs", "logprobs: must be a boolean");
    rq->logprobs = json_is_true(lp);
    long long top = 0;
    int given = 0;
    if ((st = get_int(root, "top_logprobs", 0, LLAMAC_MAX_TOP_LOGPROBS, &top, &given, e)))
        return st;
    if (given && !rq->logprobs)
        return BAD(e, "top_logprobs", "top_logprobs: needs \"logprobs\": true");
    rq->top_logprobs = (int)top;
    return LLAMAC_OK;
}

/* The start shared by the body parsers: checks out, parses the JSON root and makes an empty request. On failure
 * nothing is left allocated. */
static llamac_status begin_parse(llamac_oai_endpoint ep, const char *fn, const char *body, size_t len,
                                 llamac_oai_request **out, json_t **root, llamac_oai_request **rq,
                                 llamac_oai_error *e)
{
    *rq = NULL;
    if (!out)
        return BAD(e, NULL, "%s: NULL argument", fn);
    *out = NULL;
    llamac_status st = parse_root(body, len, root, e);
    if (st)
        return st;
    if ((st = new_request(ep, rq, e)))
        json_decref(*root);
    return st;
}

llamac_status llamac_oai_parse_chat(const char *body, size_t len, llamac_oai_request **out, llamac_oai_error *e)
{
    llamac_oai_error scratch;
    if (!e)
        e = &scratch;
    json_t *root;
    llamac_oai_request *rq;
    llamac_status st = begin_parse(LLAMAC_OAI_CHAT, "parse_chat", body, len, out, &root, &rq, e);
    if (st)
        return st;
    if (!(st = parse_chat_fields(root, rq, e)))
        st = parse_common(root, rq, e);
    json_decref(root);
    if (st) {
        llamac_oai_request_free(rq);
        return st;
    }
    rq->gen.n_logprobs = rq->logprobs ? 1 + rq->top_logprobs : 0;
    *out = rq;
    return LLAMAC_OK;
}

/* prompt: a string, an array of token ids, or an array holding exactly one of those. */
static llamac_status parse_prompt(const json_t *root, llamac_oai_request *rq, llamac_oai_error *e)
{
    json_t *p = field(root, "prompt");
    if (json_is_array(p) && json_array_size(p) == 1 &&
        (json_is_string(json_array_get(p, 0)) || json_is_array(json_array_get(p, 0))))
        p = json_array_get(p, 0);
    if (json_is_string(p)) {
        rq->prompt_len = json_string_length(p);
        if (!(rq->prompt = malloc(rq->prompt_len + 1)))
            return oom(e);
        memcpy(rq->prompt, json_string_value(p), rq->prompt_len + 1);
        return LLAMAC_OK;
    }
    if (!json_is_array(p) || !json_array_size(p))
        return BAD(e, "prompt", "prompt: must be a string or a non-empty array of token ids (batches of "
                                "prompts are not supported)");
    size_t n = json_array_size(p);
    if (!(rq->prompt_tokens = malloc(n * sizeof *rq->prompt_tokens)))
        return oom(e);
    for (size_t i = 0; i < n; i++) {
        json_t *t = json_array_get(p, i);
        if (!json_is_integer(t) || json_integer_value(t) < 0 || json_integer_value(t) > INT32_MAX)
            return BAD(e, "prompt", "prompt[%zu]: must be a token id (an integer >= 0)", i);
        rq->prompt_tokens[i] = (int32_t)json_integer_value(t);
    }
    rq->n_prompt_tokens = (int64_t)n;
    return LLAMAC_OK;
}

llamac_status llamac_oai_parse_completion(const char *body, size_t len, llamac_oai_request **out,
                                          llamac_oai_error *e)
{
    llamac_oai_error scratch;
    if (!e)
        e = &scratch;
    json_t *root;
    llamac_oai_request *rq;
    llamac_status st = begin_parse(LLAMAC_OAI_COMPLETION, "parse_completion", body, len, out, &root, &rq, e);
    if (st)
        return st;
    long long top = 0;
    if (!(st = parse_prompt(root, rq, e)) && !(st = parse_common(root, rq, e)) &&
        !(st = get_int(root, "logprobs", 0, LLAMAC_MAX_TOP_LOGPROBS, &top, &rq->logprobs, e)))
        rq->top_logprobs = (int)top;
    json_decref(root);
    if (st) {
        llamac_oai_request_free(rq);
        return st;
    }
    rq->gen.n_logprobs = rq->logprobs ? 1 + rq->top_logprobs : 0;
    *out = rq;
    return LLAMAC_OK;
}

llamac_status llamac_oai_parse_tokenize(const char *body, size_t len, char **content, size_t *content_len,
                                        int *add_special, int *parse_special, llamac_oai_error *e)
{
    llamac_oai_error scratch;
    if (!e)
        e = &scratch;
    if (!content || !content_len || !add_special || !parse_special)
        return BAD(e, NULL, "parse_tokenize: NULL argument");
    *content = NULL;
    *add_special = 0;
    *parse_special = 1;
    json_t *root;
    llamac_status st = parse_root(body, len, &root, e);
    if (st)
        return st;
    json_t *c = field(root, "content");
    if (!json_is_string(c))
        st = BAD(e, "content", "content: must be a string");
    else if (!(st = get_bool(root, "add_special", add_special, e)) &&
             !(st = get_bool(root, "parse_special", parse_special, e))) {
        *content_len = json_string_length(c);
        if (!(*content = malloc(*content_len + 1)))
            st = oom(e);
        else
            memcpy(*content, json_string_value(c), *content_len + 1);
    }
    json_decref(root);
    return st;
}

llamac_status llamac_oai_parse_detokenize(const char *body, size_t len, int32_t **tokens, int64_t *n,
                                          llamac_oai_error *e)
{
    llamac_oai_error scratch;
    if (!e)
        e = &scratch;
    if (!tokens || !n)
        return BAD(e, NULL, "parse_detokenize: NULL argument");
    *tokens = NULL;
    *n = 0;
    json_t *root;
    llamac_status st = parse_root(body, len, &root, e);
    if (st)
        return st;
    json_t *a = field(root, "tokens");
    size_t k = json_array_size(a);
    if (!json_is_array(a))
        st = BAD(e, "tokens", "tokens: must be an array of token ids");
    else if (k && !(*tokens = malloc(k * sizeof **tokens)))
        st = oom(e);
    for (size_t i = 0; !st && i < k; i++) {
        json_t *t = json_array_get(a, i);
        if (!json_is_integer(t) || json_integer_value(t) < 0 || json_integer_value(t) > INT32_MAX)
            st = BAD(e, "tokens", "tokens[%zu]: must be a token id (an integer >= 0)", i);
        else
            (*tokens)[i] = (int32_t)json_integer_value(t);
    }
    json_decref(root);
    if (st) {
        free(*tokens);
        *tokens = NULL;
        return st;
    }
    *n = (int64_t)k;
    return LLAMAC_OK;
}
