/*
 * test_openai.c — the OpenAI JSON layer (include/llamac_openai.h): request bodies parsed into generation
 * parameters (every field, defaults, nulls, unknown fields, and a 400 naming the field for each wrong value),
 * completions prompts, /tokenize and /detokenize bodies, error bodies, whole responses and stream chunks
 * parsed back with jansson and checked field by field; the stop token that ended an answer gets no logprob
 * entry (whole and streamed, chat and completion), unless ignore_eos made it an ordinary token.
 */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "llamac_openai.h"

static llamac_oai_request *chat(const char *body)
{
    llamac_oai_request *rq = NULL;
    llamac_oai_error e;
    llamac_status st = llamac_oai_parse_chat(body, strlen(body), &rq, &e);
    CHECK(st == LLAMAC_OK && rq, "parse_chat(%s) failed: %s", body, e.message);
    return rq;
}

/* The body must be refused with a 400 naming param. */
static void chat_bad(int line, const char *body, const char *param)
{
    llamac_oai_request *rq = (llamac_oai_request *)1;
    llamac_oai_error e;
    memset(&e, 0, sizeof e);
    llamac_status st = llamac_oai_parse_chat(body, strlen(body), &rq, &e);
    CHECK_AT(line, st != LLAMAC_OK && rq == NULL, "accepted %s", body);
    CHECK_AT(line, e.status == 400, "%s: status %d", body, e.status);
    CHECK_AT(line, !strcmp(e.param, param), "%s: param '%s', want '%s' (%s)", body, e.param, param, e.message);
    CHECK_AT(line, strstr(e.message, param) != NULL, "%s: message '%s' does not name %s", body, e.message, param);
}
#define CHAT_BAD(body, param) chat_bad(__LINE__, body, param)

#define MSG "\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}]"

static void test_chat_defaults(void)
{
    llamac_oai_request *rq = chat("{" MSG "}");
    if (!rq)
        return;
    llamac_sampler_params def = llamac_sampler_default_params();
    CHECK(rq->endpoint == LLAMAC_OAI_CHAT, "endpoint");
    CHECK(rq->n == 1 && !rq->stream && !rq->include_usage && !rq->logprobs && !rq->seeded, "flags");
    CHECK(rq->gen.max_tokens == -1 && !rq->max_tokens_given, "max_tokens %d", rq->gen.max_tokens);
    CHECK(rq->gen.sampling.temperature == def.temperature && rq->gen.sampling.top_p == def.top_p, "sampling");
    CHECK(rq->gen.n_logprobs == 0 && rq->gen.stop[0] == NULL && rq->gen.parse_tool_calls == 1, "gen");
    CHECK(llamac_chat_n_messages(rq->chat) == 1, "messages %d", llamac_chat_n_messages(rq->chat));
    CHECK(rq->model == NULL, "model");
    llamac_oai_request_free(rq);
}

static void test_chat_fields(void)
{
    llamac_oai_request *rq =
        chat("{\"model\":\"m\",\"messages\":[{\"role\":\"system\",\"content\":\"S\"},"
             "{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"a\"},{\"type\":\"text\",\"text\":\"b\"}]},"
             "{\"role\":\"assistant\",\"content\":null,\"tool_calls\":[{\"id\":\"call_1\",\"type\":\"function\","
             "\"function\":{\"name\":\"get\",\"arguments\":\"{\\\"x\\\":1}\"}}]},"
             "{\"role\":\"tool\",\"tool_call_id\":\"call_1\",\"content\":\"20\"}],"
             "\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"get\",\"parameters\":{\"type\":\"object\"}}}],"
             "\"tool_choice\":{\"type\":\"function\",\"function\":{\"name\":\"get\"}},"
             "\"stream\":true,\"stream_options\":{\"include_usage\":true},\"max_tokens\":50,"
             "\"max_completion_tokens\":40,\"temperature\":0,\"top_p\":0.5,\"seed\":-3,\"stop\":[\"x\",\"yy\"],"
             "\"frequency_penalty\":0.5,\"presence_penalty\":-1.5,\"logprobs\":true,\"top_logprobs\":3,\"n\":2,"
             "\"logit_bias\":{\"15\":2.5,\"7\":-100},\"top_k\":40,\"min_p\":0.05,\"repeat_penalty\":1.1,"
             "\"ignore_eos\":true,\"user\":\"ignored\",\"something_new\":{\"deep\":[1,2]}}");
    if (!rq)
        return;
    const llamac_sampler_params *sp = &rq->gen.sampling;
    CHECK(rq->model && !strcmp(rq->model, "m"), "model");
    CHECK(llamac_chat_n_messages(rq->chat) == 4, "messages %d", llamac_chat_n_messages(rq->chat));
    CHECK(!strcmp(llamac_chat_message_content(rq->chat, 1, NULL), "a\nb"), "text parts joined");
    CHECK(llamac_chat_message_n_tool_calls(rq->chat, 2) == 1, "assistant tool call");
    CHECK(rq->has_tools && rq->gen.tool_choice == LLAMAC_TOOL_CHOICE_NAMED && !strcmp(rq->gen.tool_name, "get"),
          "tool_choice");
    CHECK(rq->stream && rq->include_usage, "stream");
    CHECK(rq->gen.max_tokens == 40 && rq->max_tokens_given, "max_completion_tokens wins: %d", rq->gen.max_tokens);
    CHECK(sp->temperature == 0 && sp->top_p == 0.5f && sp->top_k == 40 && fabsf(sp->min_p - 0.05f) < 1e-7f,
          "sampling");
    CHECK(rq->seeded && sp->seed == (uint64_t)-3, "seed");
    CHECK(rq->gen.stop[0] && !strcmp(rq->gen.stop[0], "x") && rq->gen.stop[1] && !strcmp(rq->gen.stop[1], "yy") &&
              !rq->gen.stop[2],
          "stop list");
    CHECK(sp->frequency_penalty == 0.5f && sp->presence_penalty == -1.5f && fabsf(sp->repeat_penalty - 1.1f) < 1e-6f,
          "penalties");
    CHECK(rq->logprobs && rq->top_logprobs == 3 && rq->gen.n_logprobs == 4, "logprobs");
    CHECK(rq->n == 2 && rq->gen.ignore_eos, "n, ignore_eos");
    CHECK(sp->n_logit_bias == 2, "logit_bias %d", sp->n_logit_bias);
    int saw15 = 0, saw7 = 0;
    for (int i = 0; i < sp->n_logit_bias; i++) {
        saw15 |= sp->logit_bias[i].token == 15 && sp->logit_bias[i].bias == 2.5f;
        saw7 |= sp->logit_bias[i].token == 7 && isinf(sp->logit_bias[i].bias) && sp->logit_bias[i].bias < 0;
    }
    CHECK(saw15 && saw7, "logit_bias values (-100 bans)");
    llamac_oai_request_free(rq);

    /* null means "not given"; a single stop string; tool_choice words */
    rq = chat("{" MSG ",\"temperature\":null,\"stop\":\"END\",\"n\":null,\"tools\":[{\"type\":\"function\","
              "\"function\":{\"name\":\"f\"}}],\"tool_choice\":\"required\"}");
    if (rq) {
        CHECK(rq->gen.sampling.temperature == llamac_sampler_default_params().temperature, "null temperature");
        CHECK(rq->gen.stop[0] && !strcmp(rq->gen.stop[0], "END") && !rq->gen.stop[1], "stop string");
        CHECK(rq->n == 1 && rq->gen.tool_choice == LLAMAC_TOOL_CHOICE_REQUIRED, "required");
        llamac_oai_request_free(rq);
    }
    rq = chat("{" MSG ",\"tool_choice\":\"none\"}");
    if (rq) {
        CHECK(rq->gen.tool_choice == LLAMAC_TOOL_CHOICE_NONE, "none");
        llamac_oai_request_free(rq);
    }
}

static void test_chat_errors(void)
{
    CHAT_BAD("{}", "messages");
    CHAT_BAD("{\"messages\":[]}", "messages");
    CHAT_BAD("{\"messages\":\"hi\"}", "messages");
    CHAT_BAD("{\"messages\":[{\"role\":\"robot\",\"content\":\"x\"}]}", "messages[0]");
    CHAT_BAD("{\"messages\":[{\"role\":\"user\",\"content\":\"x\"},{\"role\":\"user\",\"content\":5}]}",
             "messages[1]");
    CHAT_BAD("{" MSG ",\"temperature\":\"hot\"}", "temperature");
    CHAT_BAD("{" MSG ",\"temperature\":3}", "temperature");
    CHAT_BAD("{" MSG ",\"top_p\":1.5}", "top_p");
    CHAT_BAD("{" MSG ",\"min_p\":-1}", "min_p");
    CHAT_BAD("{" MSG ",\"top_k\":-1}", "top_k");
    CHAT_BAD("{" MSG ",\"top_k\":1.5}", "top_k");
    CHAT_BAD("{" MSG ",\"repeat_penalty\":\"x\"}", "repeat_penalty");
    CHAT_BAD("{" MSG ",\"presence_penalty\":2.5}", "presence_penalty");
    CHAT_BAD("{" MSG ",\"frequency_penalty\":[]}", "frequency_penalty");
    CHAT_BAD("{" MSG ",\"max_tokens\":0}", "max_tokens");
    CHAT_BAD("{" MSG ",\"max_tokens\":\"10\"}", "max_tokens");
    CHAT_BAD("{" MSG ",\"max_completion_tokens\":-5}", "max_completion_tokens");
    CHAT_BAD("{" MSG ",\"n\":0}", "n");
    CHAT_BAD("{" MSG ",\"n\":1000}", "n");
    CHAT_BAD("{" MSG ",\"seed\":\"abc\"}", "seed");
    CHAT_BAD("{" MSG ",\"stream\":1}", "stream");
    CHAT_BAD("{" MSG ",\"response_format\":{\"type\":\"json_object\"}}", "response_format");
    CHAT_BAD("{" MSG ",\"response_format\":\"text\"}", "response_format");
    llamac_oai_request *text = chat("{" MSG ",\"response_format\":{\"type\":\"text\"}}");
    CHECK(text != NULL, "response_format text is accepted");
    llamac_oai_request_free(text);
    CHAT_BAD("{" MSG ",\"stream_options\":true}", "stream_options");
    CHAT_BAD("{" MSG ",\"stream_options\":{\"include_usage\":\"yes\"}}", "stream_options.include_usage");
    CHAT_BAD("{" MSG ",\"stop\":5}", "stop");
    CHAT_BAD("{" MSG ",\"stop\":[\"a\",7]}", "stop[1]");
    CHAT_BAD("{" MSG ",\"stop\":[\"\"]}", "stop[0]");
    CHAT_BAD("{" MSG ",\"logprobs\":\"yes\"}", "logprobs");
    CHAT_BAD("{" MSG ",\"top_logprobs\":2}", "top_logprobs"); /* needs logprobs: true */
    CHAT_BAD("{" MSG ",\"logprobs\":true,\"top_logprobs\":21}", "top_logprobs");
    CHAT_BAD("{" MSG ",\"logit_bias\":[1]}", "logit_bias");
    CHAT_BAD("{" MSG ",\"logit_bias\":{\"abc\":1}}", "logit_bias");
    CHAT_BAD("{" MSG ",\"logit_bias\":{\"5\":101}}", "logit_bias");
    CHAT_BAD("{" MSG ",\"ignore_eos\":\"no\"}", "ignore_eos");
    CHAT_BAD("{" MSG ",\"model\":5}", "model");
    CHAT_BAD("{" MSG ",\"tools\":{}}", "tools");
    CHAT_BAD("{" MSG ",\"tool_choice\":\"sometimes\"}", "tool_choice");
    CHAT_BAD("{" MSG ",\"tool_choice\":\"required\"}", "tool_choice");
    CHAT_BAD("{" MSG ",\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"f\"}}],"
             "\"tool_choice\":{\"type\":\"function\",\"function\":{\"name\":\"g\"}}}",
             "tool_choice");

    /* not JSON / not an object: 400 without a param */
    const char *bad[] = {"", "{", "[]", "nul", "{\"messages\":[}", "{\"a\":1,\"a\":2}"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        llamac_oai_request *rq = NULL;
        llamac_oai_error e;
        llamac_status st = llamac_oai_parse_chat(bad[i], strlen(bad[i]), &rq, &e);
        CHECK(st != LLAMAC_OK && !rq && e.status == 400 && e.param[0] == 0, "body '%s' accepted or bad error",
              bad[i]);
    }
}

static void test_completion(void)
{
    llamac_oai_request *rq = NULL;
    llamac_oai_error e;
    const char *b1 = "{\"prompt\":\"Once\",\"max_tokens\":5,\"logprobs\":2,\"echo\":false}";
    CHECK(llamac_oai_parse_completion(b1, strlen(b1), &rq, &e) == LLAMAC_OK, "%s", e.message);
    if (rq) {
        CHECK(rq->endpoint == LLAMAC_OAI_COMPLETION && rq->prompt && !strcmp(rq->prompt, "Once") &&
                  rq->prompt_len == 4 && !rq->prompt_tokens,
              "string prompt");
        CHECK(rq->logprobs && rq->top_logprobs == 2 && rq->gen.n_logprobs == 3 && rq->gen.max_tokens == 5,
              "logprobs int");
        CHECK(rq->gen.parse_tool_calls == 0 && !rq->chat, "no chat");
        llamac_oai_request_free(rq);
    }
    const char *b2 = "{\"prompt\":[[1,2,3]]}";
    CHECK(llamac_oai_parse_completion(b2, strlen(b2), &rq, &e) == LLAMAC_OK, "%s", e.message);
    if (rq) {
        CHECK(rq->n_prompt_tokens == 3 && rq->prompt_tokens[2] == 3 && !rq->prompt, "token prompt");
        llamac_oai_request_free(rq);
    }
    const char *b3 = "{\"prompt\":[\"only one\"]}";
    CHECK(llamac_oai_parse_completion(b3, strlen(b3), &rq, &e) == LLAMAC_OK, "%s", e.message);
    llamac_oai_request_free(rq);
    const char *bad[] = {"{}", "{\"prompt\":5}", "{\"prompt\":[]}", "{\"prompt\":[\"a\",\"b\"]}",
                         "{\"prompt\":[1,-2]}", "{\"prompt\":[1,\"x\"]}", "{\"prompt\":[1,3000000000]}"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        rq = (llamac_oai_request *)1;
        llamac_status st = llamac_oai_parse_completion(bad[i], strlen(bad[i]), &rq, &e);
        CHECK(st != LLAMAC_OK && !rq && e.status == 400 && !strcmp(e.param, "prompt"), "%s: param '%s'", bad[i],
              e.param);
    }
    const char *b4 = "{\"prompt\":\"x\",\"logprobs\":true}";
    rq = NULL;
    CHECK(llamac_oai_parse_completion(b4, strlen(b4), &rq, &e) != LLAMAC_OK && !strcmp(e.param, "logprobs"),
          "completion logprobs must be an integer");
}

static void test_tokenize_bodies(void)
{
    char *content = NULL;
    size_t len = 0;
    int add = -1, parse = -1;
    llamac_oai_error e;
    const char *b = "{\"content\":\"a\\u0000b\",\"add_special\":true}";
    CHECK(llamac_oai_parse_tokenize(b, strlen(b), &content, &len, &add, &parse, &e) == LLAMAC_OK, "%s", e.message);
    CHECK(content && len == 3 && content[1] == 0 && add == 1 && parse == 1, "tokenize body");
    free(content);
    b = "{\"content\":7}";
    CHECK(llamac_oai_parse_tokenize(b, strlen(b), &content, &len, &add, &parse, &e) != LLAMAC_OK &&
              !strcmp(e.param, "content") && !content,
          "tokenize content type");
    int32_t *t = NULL;
    int64_t n = -1;
    b = "{\"tokens\":[5,0,128000]}";
    CHECK(llamac_oai_parse_detokenize(b, strlen(b), &t, &n, &e) == LLAMAC_OK && n == 3 && t && t[2] == 128000,
          "detokenize body");
    free(t);
    b = "{\"tokens\":[]}";
    CHECK(llamac_oai_parse_detokenize(b, strlen(b), &t, &n, &e) == LLAMAC_OK && n == 0, "empty tokens");
    free(t);
    b = "{\"tokens\":[1,-1]}";
    CHECK(llamac_oai_parse_detokenize(b, strlen(b), &t, &n, &e) != LLAMAC_OK && !t && !strcmp(e.param, "tokens"),
          "negative id");
    char *js = llamac_oai_tokens_json((const int32_t[]){1, 2}, 2);
    CHECK(js && !strcmp(js, "{\"tokens\":[1,2]}"), "tokens json %s", js ? js : "(null)");
    free(js);
    js = llamac_oai_content_json("a\xff\xe2\x82", 4); /* invalid UTF-8 becomes U+FFFD */
    json_t *v = js ? json_loads(js, 0, NULL) : NULL;
    CHECK(v && !strcmp(json_string_value(json_object_get(v, "content")), "a\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD"),
          "lossy content %s", js ? js : "(null)");
    json_decref(v);
    free(js);
}

static void test_error_json(void)
{
    llamac_oai_error e;
    llamac_oai_fail(&e, 400, "invalid_request_error", "context_length_exceeded", "messages", "too %s", "long");
    char *js = llamac_oai_error_json(&e);
    json_t *v = js ? json_loads(js, 0, NULL) : NULL, *o = json_object_get(v, "error");
    CHECK(o && !strcmp(json_string_value(json_object_get(o, "message")), "too long") &&
              !strcmp(json_string_value(json_object_get(o, "type")), "invalid_request_error") &&
              !strcmp(json_string_value(json_object_get(o, "param")), "messages") &&
              !strcmp(json_string_value(json_object_get(o, "code")), "context_length_exceeded"),
          "error json %s", js ? js : "(null)");
    json_decref(v);
    free(js);
    llamac_oai_fail(&e, 500, "server_error", NULL, NULL, "boom");
    js = llamac_oai_stream_error(&e);
    CHECK(js && !strncmp(js, "data: {\"error\":{", 16) && strstr(js, "\"param\":null") && strstr(js, "\"code\":null") &&
              strstr(js, "\n\ndata: [DONE]\n\n"),
          "stream error %s", js ? js : "(null)");
    free(js);
}

static void test_response(void)
{
    llamac_oai_request *rq = chat("{" MSG ",\"n\":2,\"logprobs\":true,\"top_logprobs\":1}");
    if (!rq)
        return;
    llamac_oai_logprob lp = {{5, -0.5f}, 1, {{5, -0.5f}}};
    llamac_oai_logprob lp_inf = {{6, -INFINITY}, 0, {{0, 0}}};
    llamac_oai_logprob lps[2] = {lp, lp_inf};
    const char *calls = "[{\"id\":\"call_a\",\"type\":\"function\",\"function\":{\"name\":\"f\",\"arguments\":"
                        "\"{\\\"q\\\":1}\"}}]";
    llamac_oai_choice ch[2] = {{"Hello", 5, NULL, LLAMAC_FINISH_LENGTH, lps, 2},
                               {"", 0, calls, LLAMAC_FINISH_TOOL_CALLS, NULL, 0}};
    llamac_oai_usage u = {10, 7, 4};
    char *js = llamac_oai_response_json(rq, "chatcmpl-1", 1700000000, "tiny", ch, 2, &u, NULL);
    json_t *v = js ? json_loads(js, 0, NULL) : NULL;
    CHECK(v != NULL, "response is not JSON: %s", js ? js : "(null)");
    if (v) {
        json_t *c0 = json_array_get(json_object_get(v, "choices"), 0);
        json_t *c1 = json_array_get(json_object_get(v, "choices"), 1);
        CHECK(!strcmp(json_string_value(json_object_get(v, "object")), "chat.completion") &&
                  !strcmp(json_string_value(json_object_get(v, "id")), "chatcmpl-1") &&
                  json_integer_value(json_object_get(v, "created")) == 1700000000,
              "header");
        CHECK(!strcmp(json_string_value(json_object_get(json_object_get(c0, "message"), "content")), "Hello") &&
                  !strcmp(json_string_value(json_object_get(c0, "finish_reason")), "length"),
              "choice 0");
        json_t *lc = json_object_get(json_object_get(c0, "logprobs"), "content");
        CHECK(json_array_size(lc) == 2 &&
                  json_real_value(json_object_get(json_array_get(lc, 0), "logprob")) == -0.5 &&
                  json_array_size(json_object_get(json_array_get(lc, 0), "top_logprobs")) == 1 &&
                  json_real_value(json_object_get(json_array_get(lc, 1), "logprob")) == -9999.0,
              "logprobs");
        json_t *m1 = json_object_get(c1, "message");
        json_t *tc = json_array_get(json_object_get(m1, "tool_calls"), 0);
        CHECK(json_is_null(json_object_get(m1, "content")) &&
                  !strcmp(json_string_value(json_object_get(tc, "id")), "call_a") &&
                  !strcmp(json_string_value(json_object_get(json_object_get(tc, "function"), "arguments")),
                          "{\"q\":1}") &&
                  !strcmp(json_string_value(json_object_get(c1, "finish_reason")), "tool_calls"),
              "tool call choice");
        json_t *us = json_object_get(v, "usage");
        CHECK(json_integer_value(json_object_get(us, "prompt_tokens")) == 10 &&
                  json_integer_value(json_object_get(us, "completion_tokens")) == 7 &&
                  json_integer_value(json_object_get(us, "total_tokens")) == 17 &&
                  json_integer_value(json_object_get(json_object_get(us, "prompt_tokens_details"), "cached_tokens")) ==
                      4,
              "usage");
    }
    json_decref(v);
    free(js);
    llamac_oai_request_free(rq);

    llamac_oai_error e;
    const char *b = "{\"prompt\":\"x\"}";
    CHECK(llamac_oai_parse_completion(b, strlen(b), &rq, &e) == LLAMAC_OK, "completion");
    llamac_oai_choice c = {" world", 6, NULL, LLAMAC_FINISH_STOP, NULL, 0};
    js = llamac_oai_response_json(rq, "cmpl-1", 1, "tiny", &c, 1, &u, NULL);
    v = js ? json_loads(js, 0, NULL) : NULL;
    json_t *c0 = json_array_get(json_object_get(v, "choices"), 0);
    CHECK(v && !strcmp(json_string_value(json_object_get(v, "object")), "text_completion") &&
              !strcmp(json_string_value(json_object_get(c0, "text")), " world") &&
              json_is_null(json_object_get(c0, "logprobs")) &&
              !strcmp(json_string_value(json_object_get(c0, "finish_reason")), "stop"),
          "completion response %s", js ? js : "(null)");
    json_decref(v);
    free(js);
    llamac_oai_request_free(rq);
}

/* Splits SSE text into its data payloads (JSON values, or NULL for [DONE]); returns how many. */
static int sse_events(const char *text, json_t **out, int max, int *done)
{
    int n = 0;
    *done = 0;
    const char *p = text;
    while (*p) {
        CHECK(!strncmp(p, "data: ", 6), "event does not start with 'data: ': %.40s", p);
        if (strncmp(p, "data: ", 6))
            return n;
        p += 6;
        const char *end = strstr(p, "\n\n");
        CHECK(end != NULL, "event not ended by a blank line");
        if (!end)
            return n;
        if (!strncmp(p, "[DONE]", 6)) {
            CHECK(!*done, "two [DONE]");
            *done = 1;
        } else if (n < max) {
            CHECK(!*done, "event after [DONE]");
            out[n++] = json_loadb(p, (size_t)(end - p), 0, NULL);
            CHECK(out[n - 1] != NULL, "event is not JSON: %.60s", p);
        }
        p = end + 2;
    }
    return n;
}

static void test_stream(void)
{
    llamac_oai_request *rq = chat("{" MSG ",\"stream\":true,\"stream_options\":{\"include_usage\":true}}");
    if (!rq)
        return;
    llamac_oai_stream *st = NULL;
    CHECK(llamac_oai_stream_create(rq, "chatcmpl-9", 5, "tiny", NULL, &st) == LLAMAC_OK && st, "create");
    if (!st) {
        llamac_oai_request_free(rq);
        return;
    }
    char all[8192] = "";
    char *parts[6];
    parts[0] = llamac_oai_stream_delta(st, 0, "", 0, NULL); /* role */
    parts[1] = llamac_oai_stream_delta(st, 0, "", 0, NULL); /* nothing */
    parts[2] = llamac_oai_stream_delta(st, 0, "Hel", 3, NULL);
    const char *calls = "[{\"id\":\"call_z\",\"type\":\"function\",\"function\":{\"name\":\"f\",\"arguments\":\"{}\"}}]";
    parts[3] = llamac_oai_stream_finish(st, 0, LLAMAC_FINISH_TOOL_CALLS, calls);
    llamac_oai_usage u = {3, 2, 0};
    parts[4] = llamac_oai_stream_end(st, &u);
    parts[5] = NULL;
    CHECK(parts[1] && parts[1][0] == 0, "an empty delta sends nothing");
    for (int i = 0; i < 5; i++) {
        CHECK(parts[i] != NULL, "part %d NULL", i);
        if (parts[i] && strlen(all) + strlen(parts[i]) < sizeof all)
            strcat(all, parts[i]);
        free(parts[i]);
    }
    json_t *ev[16] = {0};
    int done;
    int n = sse_events(all, ev, 16, &done);
    CHECK(done && n == 6, "events %d (want role, text, call header, call args, finish, usage), done %d", n, done);
    for (int i = 0; i < n; i++) {
        CHECK(ev[i] && !strcmp(json_string_value(json_object_get(ev[i], "id")), "chatcmpl-9") &&
                  !strcmp(json_string_value(json_object_get(ev[i], "object")), "chat.completion.chunk") &&
                  json_object_get(ev[i], "usage"),
              "chunk %d header", i);
    }
    if (n == 6) {
        json_t *d0 = json_object_get(json_array_get(json_object_get(ev[0], "choices"), 0), "delta");
        CHECK(!strcmp(json_string_value(json_object_get(d0, "role")), "assistant"), "first delta has the role");
        json_t *d1 = json_object_get(json_array_get(json_object_get(ev[1], "choices"), 0), "delta");
        CHECK(!json_object_get(d1, "role") && !strcmp(json_string_value(json_object_get(d1, "content")), "Hel"),
              "text delta");
        json_t *t2 = json_array_get(
            json_object_get(json_object_get(json_array_get(json_object_get(ev[2], "choices"), 0), "delta"), "tool_calls"),
            0);
        CHECK(json_integer_value(json_object_get(t2, "index")) == 0 &&
                  !strcmp(json_string_value(json_object_get(t2, "id")), "call_z") &&
                  !strcmp(json_string_value(json_object_get(t2, "type")), "function") &&
                  !strcmp(json_string_value(json_object_get(json_object_get(t2, "function"), "name")), "f") &&
                  !strcmp(json_string_value(json_object_get(json_object_get(t2, "function"), "arguments")), ""),
              "tool call header");
        json_t *t3 = json_array_get(
            json_object_get(json_object_get(json_array_get(json_object_get(ev[3], "choices"), 0), "delta"), "tool_calls"),
            0);
        CHECK(!json_object_get(t3, "id") &&
                  !strcmp(json_string_value(json_object_get(json_object_get(t3, "function"), "arguments")), "{}"),
              "tool call arguments");
        json_t *c4 = json_array_get(json_object_get(ev[4], "choices"), 0);
        CHECK(!strcmp(json_string_value(json_object_get(c4, "finish_reason")), "tool_calls"), "finish chunk");
        CHECK(json_array_size(json_object_get(ev[5], "choices")) == 0 &&
                  json_integer_value(json_object_get(json_object_get(ev[5], "usage"), "total_tokens")) == 5,
              "usage chunk");
        for (int i = 0; i < 4; i++)
            CHECK(json_is_null(json_object_get(json_array_get(json_object_get(ev[i], "choices"), 0), "finish_reason")),
                  "chunk %d has no finish_reason", i);
    }
    for (int i = 0; i < n; i++)
        json_decref(ev[i]);
    llamac_oai_stream_free(st);
    llamac_oai_request_free(rq);

    /* a completion stream without include_usage: no usage field, no usage chunk, logprobs per token */
    llamac_oai_error e;
    const char *b = "{\"prompt\":\"x\",\"stream\":true,\"logprobs\":0}";
    CHECK(llamac_oai_parse_completion(b, strlen(b), &rq, &e) == LLAMAC_OK, "completion stream");
    if (llamac_oai_stream_create(rq, "cmpl-2", 5, "tiny", NULL, &st) == LLAMAC_OK) {
        llamac_oai_logprob lp = {{9, -1.0f}, 0, {{0, 0}}};
        char *a = llamac_oai_stream_delta(st, 0, "ab", 2, &lp);
        char *f = llamac_oai_stream_finish(st, 0, LLAMAC_FINISH_STOP, NULL);
        char *z = llamac_oai_stream_end(st, &u);
        CHECK(a && strstr(a, "\"text\":\"ab\"") && strstr(a, "\"token_logprobs\":[-1") && !strstr(a, "usage"),
              "completion delta %s", a ? a : "(null)");
        CHECK(f && strstr(f, "\"finish_reason\":\"stop\""), "completion finish");
        CHECK(z && !strcmp(z, "data: [DONE]\n\n"), "completion end '%s'", z ? z : "(null)");
        free(a);
        free(f);
        free(z);
        llamac_oai_stream_free(st);
    }
    llamac_oai_request_free(rq);
}

/* The Llama 3 vocabulary (stop tokens 128001 <|end_of_text|>, 128008 <|eom_id|>, 128009 <|eot_id|>). */
static llamac_tokenizer *load_vocab(void)
{
    const char *shared = getenv("LLAMAC_SHARED");
    char path[1024], err[512];
    snprintf(path, sizeof path, "%s/data/llama3_tokenizer.model", shared ? shared : "../shared");
    llamac_tokenizer *t = NULL;
    CHECK(llamac_tokenizer_load(path, &t, err, sizeof err) == LLAMAC_OK, "cannot load %s: %s", path, err);
    return t;
}

/* Entries of the chat logprobs list of choice 0 in a whole response, or of one stream chunk; -1: none. */
static int64_t chat_lp_count(const char *js, const char *first_token)
{
    json_t *v = js ? json_loads(js, 0, NULL) : NULL;
    json_t *c0 = json_array_get(json_object_get(v, "choices"), 0);
    json_t *lc = json_object_get(json_object_get(c0, "logprobs"), "content");
    int64_t n = lc ? (int64_t)json_array_size(lc) : -1;
    if (n > 0 && first_token &&
        strcmp(json_string_value(json_object_get(json_array_get(lc, 0), "token")), first_token))
        n = -2;
    json_decref(v);
    return n;
}

static void test_stop_token_logprob(void)
{
    llamac_tokenizer *tok = load_vocab();
    if (!tok)
        return;
    CHECK(llamac_token_is_stop(tok, 128009) && !llamac_token_is_stop(tok, 9906), "stop tokens of the vocabulary");
    /* "Hello" (9906) then <|eot_id|> (128009): the content is "Hello", one logprob entry */
    llamac_oai_logprob lps[2] = {{{9906, -0.25f}, 0, {{0, 0}}}, {{128009, -0.5f}, 0, {{0, 0}}}};
    llamac_oai_choice ch = {"Hello", 5, NULL, LLAMAC_FINISH_STOP, lps, 2};
    llamac_oai_usage u = {3, 2, 0};
    for (int ignore = 0; ignore < 2; ignore++) {
        llamac_oai_request *rq = chat(ignore ? "{" MSG ",\"logprobs\":true,\"ignore_eos\":true}"
                                             : "{" MSG ",\"logprobs\":true}");
        if (!rq)
            continue;
        char *js = llamac_oai_response_json(rq, "chatcmpl-3", 1, "tiny", &ch, 1, &u, tok);
        int64_t n = chat_lp_count(js, "Hello");
        CHECK(n == (ignore ? 2 : 1), "ignore_eos %d: %lld chat logprob entries (want %d): %s", ignore, (long long)n,
              ignore ? 2 : 1, js ? js : "(null)");
        CHECK(js && (ignore != 0) == (strstr(js, "eot_id") != NULL), "ignore_eos %d: the stop token listed: %s",
              ignore, js ? js : "(null)");
        free(js);
        llamac_oai_stream *st = NULL;
        rq->stream = 1;
        if (llamac_oai_stream_create(rq, "chatcmpl-4", 1, "tiny", tok, &st) == LLAMAC_OK) {
            char *role = llamac_oai_stream_delta(st, 0, "", 0, NULL);
            char *a = llamac_oai_stream_delta(st, 0, "Hello", 5, &lps[0]);
            char *b = llamac_oai_stream_delta(st, 0, "", 0, &lps[1]);
            CHECK(chat_lp_count(a ? a + 6 : NULL, "Hello") == 1, "stream: the content token's logprob: %s",
                  a ? a : "(null)");
            if (ignore)
                CHECK(b && chat_lp_count(b + 6, NULL) == 1 && strstr(b, "eot_id"),
                      "stream with ignore_eos: the stop token is listed: '%s'", b ? b : "(null)");
            else
                CHECK(b && !*b, "stream: an event for the stop token that ended the answer: '%s'", b ? b : "(null)");
            free(role);
            free(a);
            free(b);
            llamac_oai_stream_free(st);
        }
        llamac_oai_request_free(rq);
    }
    /* a completion: tokens / token_logprobs / text_offset without the stop token */
    llamac_oai_request *rq = NULL;
    llamac_oai_error e;
    const char *body = "{\"prompt\":\"x\",\"logprobs\":0}";
    CHECK(llamac_oai_parse_completion(body, strlen(body), &rq, &e) == LLAMAC_OK, "completion");
    if (rq) {
        char *js = llamac_oai_response_json(rq, "cmpl-3", 1, "tiny", &ch, 1, &u, tok);
        json_t *v = js ? json_loads(js, 0, NULL) : NULL;
        json_t *lp = json_object_get(json_array_get(json_object_get(v, "choices"), 0), "logprobs");
        CHECK(json_array_size(json_object_get(lp, "tokens")) == 1 &&
                  json_array_size(json_object_get(lp, "token_logprobs")) == 1 &&
                  json_array_size(json_object_get(lp, "text_offset")) == 1,
              "completion logprobs with the stop token: %s", js ? js : "(null)");
        json_decref(v);
        free(js);
        llamac_oai_stream *st = NULL;
        if (llamac_oai_stream_create(rq, "cmpl-4", 1, "tiny", tok, &st) == LLAMAC_OK) {
            char *b = llamac_oai_stream_delta(st, 0, "", 0, &lps[1]);
            CHECK(b && !*b, "completion stream: an event for the stop token: '%s'", b ? b : "(null)");
            free(b);
            llamac_oai_stream_free(st);
        }
        llamac_oai_request_free(rq);
    }
    llamac_tokenizer_free(tok);
}

/* logit_bias takes up to LLAMAC_OAI_MAX_LOGIT_BIAS entries (a Llama 3 vocabulary has 1352 tokens that are pieces
 * of a character, which a client may ban all at once) and refuses one more, naming the field */
static void test_logit_bias_cap(void)
{
    for (int n = LLAMAC_OAI_MAX_LOGIT_BIAS; n <= LLAMAC_OAI_MAX_LOGIT_BIAS + 1; n++) {
        size_t cap = (size_t)n * 16 + 256, len = 0;
        char *body = malloc(cap);
        CHECK(body != NULL, "malloc");
        if (!body)
            return;
        len += (size_t)snprintf(body + len, cap - len, "{" MSG ",\"logit_bias\":{");
        for (int i = 0; i < n; i++)
            len += (size_t)snprintf(body + len, cap - len, "%s\"%d\":-100", i ? "," : "", 1000 + i);
        snprintf(body + len, cap - len, "}}");
        if (n == LLAMAC_OAI_MAX_LOGIT_BIAS) {
            llamac_oai_request *rq = chat(body);
            const llamac_sampler_params *sp = rq ? &rq->gen.sampling : NULL;
            CHECK(sp && sp->n_logit_bias == n, "logit_bias of %d entries: %d kept", n, sp ? sp->n_logit_bias : -1);
            llamac_oai_request_free(rq);
        } else {
            CHAT_BAD(body, "logit_bias");
        }
        free(body);
    }
}

static void test_misc(void)
{
    CHECK(!strcmp(llamac_oai_finish_reason(LLAMAC_FINISH_CONTEXT), "length") &&
              !strcmp(llamac_oai_finish_reason(LLAMAC_FINISH_TOOL_CALLS), "tool_calls") &&
              !strcmp(llamac_oai_finish_reason(LLAMAC_FINISH_STOP), "stop"),
          "finish reasons");
    char *js = llamac_oai_models_json("tiny.gguf", 12);
    CHECK(js && strstr(js, "\"object\":\"list\"") && strstr(js, "\"id\":\"tiny.gguf\""), "models %s",
          js ? js : "(null)");
    free(js);
    llamac_oai_request_free(NULL);
    llamac_oai_stream_free(NULL);
    CHECK(llamac_oai_parse_chat(NULL, 0, NULL, NULL) != LLAMAC_OK, "NULL out");
}

int main(void)
{
    test_chat_defaults();
    test_chat_fields();
    test_chat_errors();
    test_completion();
    test_tokenize_bodies();
    test_error_json();
    test_response();
    test_stream();
    test_stop_token_logprob();
    test_logit_bias_cap();
    test_misc();
    return check_finish("test_openai");
}
