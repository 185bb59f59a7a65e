/*
 * llamac_openai.h — the OpenAI HTTP API's JSON, with no HTTP in it: request bodies of /v1/chat/completions and
 * /v1/completions (and llama.cpp's /tokenize, /detokenize) parsed into generation parameters, and answers
 * rendered as OpenAI clients read them (whole responses, server-sent-event stream chunks, logprobs, errors).
 * `llamac serve` is built on it; so could any other front end (a socket, a pipe, a test).
 *
 * How to use (error handling shortened):
 *
 *     llamac_oai_error e;
 *     llamac_oai_request *rq;
 *     if (llamac_oai_parse_chat(body, len, &rq, &e) != LLAMAC_OK) {
 *         char *js = llamac_oai_error_json(&e);          // {"error":{"message","type","param","code"}}
 *         reply(e.status, js); free(js); return;
 *     }
 *     ... run rq->chat with rq->gen (rq->n times, seed + i when rq->seeded) ...
 *     llamac_oai_stream *st;                             // streaming:
 *     llamac_oai_stream_create(rq, "chatcmpl-1", time(NULL), "model", tok, &st);
 *     for each event of choice i: send(llamac_oai_stream_delta(st, i, text, len, ev_logprob_or_NULL));
 *     at its end:                 send(llamac_oai_stream_finish(st, i, answer_finish, answer_tool_calls));
 *     at the end of all:          send(llamac_oai_stream_end(st, &usage));   // usage chunk, "data: [DONE]"
 *     llamac_oai_stream_free(st);  llamac_oai_request_free(rq);
 *
 * Validation follows OpenAI: unknown fields are ignored, a JSON null means "not given", a value of the wrong
 * type or out of range is a 400 naming the field in `param` and in the message ("temperature: must be a number
 * in 0..2"). Sampling defaults are the library's (llamac_sampler_default_params: Meta's temperature 0.6,
 * top_p 0.9), not OpenAI's 1.0 / 1.0.
 *
 * Every function returning char * returns a malloc'd NUL-terminated string (release with free()), NULL only
 * when memory ran out. Nothing here keeps global state; all of it may be used from many threads at once.
 */
#ifndef LLAMAC_OPENAI_H
#define LLAMAC_OPENAI_H

#include "llamac.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------------------------------------------------
 * Errors
 * ------------------------------------------------------------------------------------------------------- */
typedef struct llamac_oai_error {
    int status;           /* the HTTP status: 400, 401, 404, 405, 413, 500, 503, 504 */
    const char *type;     /* static: "invalid_request_error", "authentication_error", "not_found_error",
                             "server_error", ... */
    const char *code;     /* static or NULL: "context_length_exceeded", "invalid_api_key", ... */
    char param[128];      /* the offending field ("messages[1].content", "temperature"), "" when none */
    char message[512];
} llamac_oai_error;

/* Fills *e (param may be NULL). Returns LLAMAC_E_INVALID_ARG, so a parser can `return llamac_oai_fail(...)`. */
#if defined(__GNUC__)
__attribute__((format(printf, 6, 7)))
#endif
llamac_status llamac_oai_fail(llamac_oai_error *e, int status, const char *type, const char *code,
                              const char *param, const char *fmt, ...);
/* {"error":{"message":..,"type":..,"param":..|null,"code":..|null}} */
char *llamac_oai_error_json(const llamac_oai_error *e);

/* ---------------------------------------------------------------------------------------------------------
 * Requests
 * ------------------------------------------------------------------------------------------------------- */
typedef enum llamac_oai_endpoint {
    LLAMAC_OAI_CHAT = 0,   /* /v1/chat/completions */
    LLAMAC_OAI_COMPLETION  /* /v1/completions */
} llamac_oai_endpoint;

#define LLAMAC_OAI_MAX_N 16       /* the most choices ("n") one request may ask for */
#define LLAMAC_OAI_MAX_LOGIT_BIAS 4096 /* the most logit_bias entries (a Llama 3 vocabulary has 1352 tokens that
                                          * are pieces of a character: a client may ban them all) */

typedef struct llamac_oai_request {
    llamac_oai_endpoint endpoint;
    char *model;                  /* "model" as given, NULL when absent (owned) */
    llamac_chat *chat;            /* chat: the messages and tools (owned) */
    char *prompt;                 /* completion: a text prompt (owned), or NULL */
    size_t prompt_len;
    int32_t *prompt_tokens;       /* completion: a token-id prompt (owned, ids >= 0 unchecked against the
                                     vocabulary), or NULL */
    int64_t n_prompt_tokens;
    llamac_gen_params gen;        /* everything the answer needs; its stop strings, tool name and logit bias
                                     point into this request */
    int max_tokens_given;         /* 1 when max_tokens / max_completion_tokens was given (gen.max_tokens) */
    int seeded;                   /* 1 when "seed" was given (gen.sampling.seed); else the caller picks one */
    int n;                        /* choices, 1..LLAMAC_OAI_MAX_N */
    int stream;
    int include_usage;            /* stream_options.include_usage */
    int logprobs;                 /* 1 when log-probabilities are wanted (then gen.n_logprobs = 1 + top) */
    int top_logprobs;             /* alternatives per token, 0..LLAMAC_MAX_TOP_LOGPROBS */
    int has_tools;                /* chat: "tools" is a non-empty array */
    /* owned storage behind gen's pointers */
    char *stop_store[LLAMAC_MAX_STOP];
    char *tool_name_store;
    llamac_logit_bias *logit_bias_store;
} llamac_oai_request;

/* Parse a request body (any bytes; len of them). On success *out is a new request; on failure *out is NULL
 * and *e says why (status 400, or 500 when memory ran out). */
llamac_status llamac_oai_parse_chat(const char *body, size_t len, llamac_oai_request **out, llamac_oai_error *e);
llamac_status llamac_oai_parse_completion(const char *body, size_t len, llamac_oai_request **out,
                                          llamac_oai_error *e);
void llamac_oai_request_free(llamac_oai_request *rq);

/* /tokenize: {"content": string, "add_special": bool (default false), "parse_special": bool (default true)}.
 * *content is malloc'd (free()). /detokenize: {"tokens": [int, ...]}; *tokens malloc'd (free(); NULL when
 * empty). */
llamac_status llamac_oai_parse_tokenize(const char *body, size_t len, char **content, size_t *content_len,
                                        int *add_special, int *parse_special, llamac_oai_error *e);
llamac_status llamac_oai_parse_detokenize(const char *body, size_t len, int32_t **tokens, int64_t *n,
                                          llamac_oai_error *e);
/* {"tokens":[...]} and {"content":"..."} (invalid UTF-8 replaced by U+FFFD). */
char *llamac_oai_tokens_json(const int32_t *tokens, int64_t n);
char *llamac_oai_content_json(const char *text, size_t len);

/* ---------------------------------------------------------------------------------------------------------
 * Answers
 * ------------------------------------------------------------------------------------------------------- */
/* One generated token's log-probability and alternatives (an llamac_session_event's chosen / top / n_top). */
typedef struct llamac_oai_logprob {
    llamac_token_logprob chosen;
    int n_top;
    llamac_token_logprob top[LLAMAC_MAX_TOP_LOGPROBS];
} llamac_oai_logprob;

typedef struct llamac_oai_usage {
    int64_t prompt_tokens;
    int64_t completion_tokens;
    int64_t cached_tokens;
} llamac_oai_usage;

/* One finished choice of a whole (non-stream) response. */
typedef struct llamac_oai_choice {
    const char *content;          /* chat: the message content; completion: the text */
    size_t content_len;
    const char *tool_calls;       /* NULL, or the answer's JSON array of tool calls (llamac_answer.tool_calls) */
    llamac_finish finish;
    const llamac_oai_logprob *logprobs;   /* one per generated token when the request asked, else NULL (the
                                             stop token that ended the answer may be among them: it is left
                                             out of the JSON, which lists the content's tokens only) */
    int64_t n_logprobs;
} llamac_oai_choice;

/* OpenAI's finish_reason word: "stop", "length", "tool_calls" (cancelled: "stop"; error: "error"). */
const char *llamac_oai_finish_reason(llamac_finish f);

/* The whole response: a chat.completion or a text_completion object, choices in order. tok (may be NULL) gives
 * the logprob entries their token text and bytes. */
char *llamac_oai_response_json(const llamac_oai_request *rq, const char *id, int64_t created, const char *model,
                               const llamac_oai_choice *choices, int n_choices, const llamac_oai_usage *usage,
                               const llamac_tokenizer *tok);

/* Streaming: every function returns zero or more whole events ("data: {...}\n\n"), "" when there is nothing
 * to send. The same id, created and model go into every chunk; a choice's first chunk carries the role. */
typedef struct llamac_oai_stream llamac_oai_stream;

llamac_status llamac_oai_stream_create(const llamac_oai_request *rq, const char *id, int64_t created,
                                       const char *model, const llamac_tokenizer *tok, llamac_oai_stream **out);
void llamac_oai_stream_free(llamac_oai_stream *st);
/* New text of choice `index` (may be empty) and the log-probability of the token behind it (NULL when the
 * request did not ask or no token was sampled). Nothing is sent for an empty delta without a logprob, except
 * a choice's first (role) chunk. The logprob of a stop token that ended the answer (without ignore_eos) is
 * not sent: like whole responses, the stream lists the logprobs of the content's tokens only. */
char *llamac_oai_stream_delta(llamac_oai_stream *st, int index, const char *text, size_t len,
                              const llamac_oai_logprob *lp);
/* Choice `index` ended: its tool calls (NULL, or the answer's JSON array) go out as deltas
 * {index, id, type, function: {name, arguments: ""}} then the arguments, then a chunk with the finish_reason. */
char *llamac_oai_stream_finish(llamac_oai_stream *st, int index, llamac_finish finish, const char *tool_calls);
/* After every choice finished: with include_usage a chunk with "choices": [] and the usage, then
 * "data: [DONE]". usage may be NULL (no usage chunk). */
char *llamac_oai_stream_end(llamac_oai_stream *st, const llamac_oai_usage *usage);
/* An error after the response headers went out: data: {"error": {...}} then "data: [DONE]". */
char *llamac_oai_stream_error(const llamac_oai_error *e);

/* GET /v1/models: {"object":"list","data":[{"id":model,"object":"model","created":..,"owned_by":"llamac"}]} */
char *llamac_oai_models_json(const char *model, int64_t created);

#ifdef __cplusplus
}
#endif

#endif
