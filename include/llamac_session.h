/*
 * llamac_session.h — part of the public API (included by llamac.h): generation sessions.
 *
 * A session is one conversation (or one raw completion) on one sequence of a context: it keeps the messages
 * (an llamac_chat), knows which of their tokens the KV cache already holds, prefills only the rest, samples
 * the answer with its own sampler, stops at a stop token, a stop string, a token limit or a full context (and
 * says which), hands out the answer as whole UTF-8 pieces, turns tool calls into OpenAI-style messages and
 * appends the answer to the conversation. `llamac chat`, `llamac run`, `llamac generate` and `llamac serve`
 * are all built on it.
 *
 * A session never owns the decode loop. Many sessions on one context are stepped together:
 *
 *     llamac_batch_buf b;  llamac_batch_buf_init(&b, n_batch);
 *     for (;;) {                                        // one engine step
 *         llamac_batch_buf_clear(&b);
 *         for each active session s:                    // one token each while generating, prompt chunks
 *             llamac_session_batch(s, &b, budget_for(s));   //   of any size while prefilling
 *         if (b.batch.n_tokens == 0) break;
 *         if (llamac_decode(ctx, &b.batch) != LLAMAC_OK) ...   // nothing was appended: retry or fail sessions
 *         for each session s that added tokens:
 *             llamac_session_commit(s, &ev);            // samples if its logits were in the batch
 *             ... stream ev.text; if (ev.finish) done with s ...
 *     }
 *
 * and one session alone is driven by llamac_session_run (the same functions, in chunks of n_batch).
 *
 * How to use (error handling shortened):
 *
 *     llamac_session *s;
 *     llamac_session_params sp = llamac_session_default_params();   // sequence 0, chat format detected
 *     llamac_session_create(ctx, &sp, &s, err, sizeof err);
 *     llamac_chat_add_message(llamac_session_chat(s), "system", "You are terse.");
 *     llamac_chat_add_message(llamac_session_chat(s), "user", "Hello!");
 *     llamac_gen_params gp = llamac_gen_default_params();
 *     llamac_session_begin(s, &gp);                     // renders what the cache lacks
 *     llamac_session_run(s, on_event, user);            // prefill + generate, streaming through on_event
 *     const llamac_answer *a = llamac_session_answer(s);    // content or tool calls, finish reason, usage
 *     llamac_chat_add_message(llamac_session_chat(s), "user", "And then?");   // the answer is already there
 *     llamac_session_begin(s, &gp);  ...                // prefills only the new turn
 *
 * KV invariant: the sequence holds exactly the tokens the session last decoded (kept in the session), which
 * are the rendering of the conversation's messages except that an answer is represented by the tokens the
 * model generated; the answer's last sampled token and the token that closes it (the stop token the model
 * produced, or <|eot_id|> for an answer cut by a limit or a cancel) are decoded at the start of the next turn.
 * An answer cut by a stop string is stored trimmed and re-rendered by the next begin. Any change to the chat at message k (truncate, remove,
 * tools, system prompt) is noticed at the next begin, which drops the cache from message k onward; with the
 * prefix cache on, begin also reuses any cached blocks that hold the prompt (llamac_seq_restore_prefix).
 * Everything is deterministic: the same conversation, parameters and seed give the same answer bit for bit,
 * whatever other sessions share the batch.
 *
 * Ownership: a session borrows its context (which must outlive it) and owns its chat, sampler and buffers.
 * Event text and answers are valid until the next call on the session.
 */
#ifndef LLAMAC_SESSION_H
#define LLAMAC_SESSION_H

#include "llamac.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------------------------------------------------
 * Building batches
 * ------------------------------------------------------------------------------------------------------- */
/* A batch with room for `capacity` tokens; `batch` is what llamac_decode takes (its arrays point into the
 * buffer). */
typedef struct llamac_batch_buf {
    llamac_batch batch;
    int32_t capacity;
    int32_t *tokens, *pos, *seq_id; /* owned, [capacity] */
    int8_t *logits;                 /* owned, [capacity] */
} llamac_batch_buf;

llamac_status llamac_batch_buf_init(llamac_batch_buf *b, int32_t capacity);
void llamac_batch_buf_free(llamac_batch_buf *b);
void llamac_batch_buf_clear(llamac_batch_buf *b);
/* Appends one token; returns its index in the batch, or -1 when the buffer is full. */
int32_t llamac_batch_buf_add(llamac_batch_buf *b, int32_t token, int32_t pos, int32_t seq_id, int want_logits);

/* Decodes tokens[0..n) appended to sequence seq in batches of at most the context's n_batch tokens (the one
 * chunked-prefill routine; llamac_session_run uses it too). Logits are computed for the last token only
 * (read them with llamac_get_logits(ctx, llamac_decode_tokens_last_index(...))) unless all_logits is 1, in
 * which case on_logits(user, i, logits) is called for every token i in order (batches are then at most the
 * context's n_logits tokens); a non-zero return stops with LLAMAC_E_CANCELLED. Honours the context's progress
 * callback (cancel between layers). On error the sequence is truncated back to where it stood (the message is
 * in llamac_context_error). */
typedef int (*llamac_logits_fn)(void *user, int64_t i, const float *logits);
llamac_status llamac_decode_tokens(llamac_context *ctx, int seq, const int32_t *tokens, int64_t n, int all_logits,
                                   llamac_logits_fn on_logits, void *user);
/* The batch index of the last token of the last llamac_decode_tokens call (for llamac_get_logits). */
int llamac_decode_tokens_last_index(const llamac_context *ctx);

/* ---------------------------------------------------------------------------------------------------------
 * Sessions
 * ------------------------------------------------------------------------------------------------------- */
typedef struct llamac_session llamac_session;

typedef struct llamac_session_params {
    int seq;                    /* the context's sequence this session uses (default 0); one session per seq */
    llamac_chat_format format;  /* default LLAMAC_CHAT_UNKNOWN: detected from the model's file (the detection's
                                   fallback when the file's template is not a Llama 3 one) */
    const char *date;           /* the chat's "Today Date" (copied; NULL = today) */
} llamac_session_params;

llamac_session_params llamac_session_default_params(void);
/* The session starts from an empty sequence (seq is cleared). A model without a vocabulary can only run raw
 * token prompts (llamac_session_begin_tokens; events then carry ids and no text, and there are no stop tokens).
 * On failure *out is NULL and err names the problem. */
llamac_status llamac_session_create(llamac_context *ctx, const llamac_session_params *params, llamac_session **out,
                                    char *err, size_t err_size);
void llamac_session_free(llamac_session *s);
/* The message of the last failed call ("" if none); valid until the next call on s. */
const char *llamac_session_error(const llamac_session *s);
/* The conversation. Change it freely between answers (never while one is running). */
llamac_chat *llamac_session_chat(llamac_session *s);
llamac_chat_format llamac_session_format(const llamac_session *s);
/* Forgets the cache (the next begin prefills the whole conversation) and resets the sampler. */
void llamac_session_forget(llamac_session *s);

typedef enum llamac_tool_choice {
    LLAMAC_TOOL_CHOICE_AUTO = 0, /* the model decides */
    LLAMAC_TOOL_CHOICE_NONE,     /* tools are not offered for this answer (rendered without them) */
    LLAMAC_TOOL_CHOICE_REQUIRED, /* the answer is a tool call (the answer is started with the format's call
                                    opening, so the model continues a call) */
    LLAMAC_TOOL_CHOICE_NAMED     /* the answer calls tool_name */
} llamac_tool_choice;

#define LLAMAC_MAX_STOP 16
typedef struct llamac_gen_params {
    llamac_sampler_params sampling;
    int max_tokens;             /* the most answer tokens, stop token included (default -1: until the context is
                                   full; 0: only the prompt is decoded, the answer is empty) */
    const char *stop[LLAMAC_MAX_STOP]; /* stop strings (copied by begin; NULL entries end the list; each 1..256
                                   bytes of UTF-8): the answer ends before the first occurrence, which is never
                                   streamed */
    int ignore_eos;             /* 1: stop tokens do not end the answer (they are generated like other special
                                   tokens: in raw, not in content) */
    int n_logprobs;             /* 0 (default): none; 1..LLAMAC_MAX_TOP_LOGPROBS+1: each event carries the
                                   chosen token's log-probability and the n_logprobs - 1 top alternatives */
    llamac_tool_choice tool_choice;
    const char *tool_name;      /* with LLAMAC_TOOL_CHOICE_NAMED (copied) */
    int parse_tool_calls;       /* 1 (default): answers that are tool calls become tool_calls messages */
} llamac_gen_params;

llamac_gen_params llamac_gen_default_params(void);

/* Starts an answer: renders what the cache lacks (the pending stop token, new messages, the assistant
 * header), reuses cached blocks, and sets the sampler (made anew from params.sampling: the same conversation,
 * parameters and seed give the same answer). Errors: LLAMAC_E_CONTEXT_FULL when the prompt plus one answer token
 * cannot fit in n_ctx (nothing changed: drop turns or forget), LLAMAC_E_INVALID_ARG for bad parameters, an
 * empty conversation, one the format cannot render, or an answer still running (message in
 * llamac_session_error). */
llamac_status llamac_session_begin(llamac_session *s, const llamac_gen_params *params);
/* Starts reading the conversation into the cache without answering it (no assistant header; e.g. right after
 * loading a saved chat, so that the next answer starts at once). Driven like an answer (llamac_session_run, or
 * batch / commit); it finishes with LLAMAC_FINISH_STOP, no text and no message added. Errors as begin. */
llamac_status llamac_session_begin_prefill(llamac_session *s);
/* Starts a raw completion: the sequence is to hold prompt[0..n) (no chat rendering; the common prefix with
 * what the cache holds is kept) and the answer continues it. The answer is not added to the chat. */
llamac_status llamac_session_begin_tokens(llamac_session *s, const int32_t *prompt, int64_t n,
                                          const llamac_gen_params *params);

typedef enum llamac_finish {
    LLAMAC_FINISH_NONE = 0,     /* still running */
    LLAMAC_FINISH_STOP,         /* a stop token or a stop string */
    LLAMAC_FINISH_LENGTH,       /* max_tokens reached */
    LLAMAC_FINISH_CONTEXT,      /* the sequence reached n_ctx */
    LLAMAC_FINISH_TOOL_CALLS,   /* the answer is one or more tool calls */
    LLAMAC_FINISH_CANCELLED,    /* llamac_session_cancel */
    LLAMAC_FINISH_ERROR         /* see llamac_session_error */
} llamac_finish;

/* "stop", "length", "length" (context), "tool_calls", "cancelled", "error" (OpenAI's finish_reason words). */
const char *llamac_finish_name(llamac_finish f);

typedef struct llamac_session_event {
    const char *text;           /* new answer text, whole UTF-8 characters, possibly empty (text that may be
                                   the start of a stop string or of a tool call is held back) */
    size_t len;
    int32_t token;              /* the token sampled in this step, or -1 */
    int n_top;                  /* with n_logprobs: entries in top */
    llamac_token_logprob chosen;
    llamac_token_logprob top[LLAMAC_MAX_TOP_LOGPROBS];
    llamac_finish finish;       /* set on the last event of an answer */
} llamac_session_event;

/* Tokens the session needs decoded before its next event: the rest of the prompt while prefilling, 1 while
 * generating, 0 when the answer is finished (or not begun). */
int64_t llamac_session_pending(const llamac_session *s);
/* Adds up to max of those tokens to b (positions and sequence id filled in; logits requested for the last
 * prompt token and for every generated token). Returns the number added. The session does not change until
 * llamac_session_commit, so after a failed llamac_decode the same call adds the same tokens again (each call
 * replaces what the previous uncommitted one added). */
int llamac_session_batch(llamac_session *s, llamac_batch_buf *b, int max);
/* After llamac_decode succeeded on the batch: takes the tokens added as cached and, when the batch held the
 * logits the session waited for, samples the next token and fills *ev. Returns LLAMAC_OK (also when the answer
 * finished: see ev->finish) or an error (the answer then finishes with LLAMAC_FINISH_ERROR). */
llamac_status llamac_session_commit(llamac_session *s, llamac_session_event *ev);
/* Ends the running answer now (what was generated is kept, as after a stop token). */
void llamac_session_cancel(llamac_session *s);

/* Drives the session alone until the answer finishes: the prompt in chunks of n_batch (llamac_decode_tokens),
 * then one token per decode. on_event (may be NULL) sees every event with a token, text or finish; returning
 * non-zero cancels (on_event then sees the final event). The context's progress callback can cancel a decode:
 * LLAMAC_E_CANCELLED, the answer finished CANCELLED. A failed decode returns its status, the answer finished
 * ERROR. Returns LLAMAC_OK when the answer finished otherwise (see the answer's finish). */
typedef int (*llamac_session_event_fn)(void *user, const llamac_session_event *ev);
llamac_status llamac_session_run(llamac_session *s, llamac_session_event_fn on_event, void *user);

typedef struct llamac_answer {
    llamac_finish finish;
    const char *content;        /* the answer text without special tokens and without the stop string ("" for
                                   a tool call) */
    size_t content_len;
    const char *raw;            /* the answer with special tokens as text (what tool-call parsing saw) */
    size_t raw_len;
    const char *tool_calls;     /* NULL, or a JSON array of OpenAI tool calls:
                                   [{"id":"call_...","type":"function","function":{"name":..,"arguments":"{..}"}}]
                                   (arguments is a JSON string, as OpenAI sends it) */
    int n_tool_calls;
    int64_t prompt_tokens;      /* tokens of the whole prompt (cached or not) */
    int64_t cached_tokens;      /* of those, already in the cache (earlier turns, or the prefix cache) */
    int64_t completion_tokens;  /* generated tokens (the stop token included) */
    double prompt_ms;           /* time to decode the uncached prompt */
    double ttft_ms;             /* from begin to the first sampled token */
    double gen_ms;              /* from the first to the last sampled token */
} llamac_answer;

/* The last answer (finish NONE while it runs). */
const llamac_answer *llamac_session_answer(const llamac_session *s);
/* The tokens the last begin left to decode (the prompt minus what the cache held: for a log such as
 * `llamac chat --trace-tokens`); *n gets their number. Valid until the next begin. */
const int32_t *llamac_session_prompt(const llamac_session *s, int64_t *n);

/* Positions the session's sequence holds / may hold (n_ctx). */
int64_t llamac_session_used(const llamac_session *s);
int64_t llamac_session_capacity(const llamac_session *s);

/* Drops the oldest turns after the system message (never the last message) until the conversation's prompt
 * plus `reserve` answer tokens fits in n_ctx. Returns the number of messages dropped (0: nothing could be
 * dropped), or -1 on error. The cache is kept up to the end of the system message. */
int llamac_session_drop_oldest(llamac_session *s, int reserve);

#ifdef __cplusplus
}
#endif

#endif
