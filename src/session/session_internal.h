/*
 * session_internal.h — the generation session (include/llamac_session.h) inside: the session object and the
 * pieces its files share.
 *
 *   session.c       lifecycle, getters, begin (what the cache lacks: the KV invariant), drop_oldest
 *   session_step.c  the state machine: batch / commit / cancel / run, sampling, finishing an answer
 *   answer_text.c   the answer's text: whole UTF-8 pieces, stop strings, holding back a possible tool call
 *   answer_tools.c  tool calls: the forced opening of tool_choice, parsing at the end, OpenAI messages
 *   batch.c         llamac_batch_buf and llamac_decode_tokens (the one chunked-prefill routine)
 *
 * The KV invariant, in the session's terms: cache.ids[0..cache.n) are exactly the tokens of sequence seq. The
 * first n_synced messages of the chat are represented by (cache ++ tail)[0..msg_start[n_synced]): message k by
 * [msg_start[k], msg_start[k+1]), where an answer is the tokens the model generated and tail holds the end of the
 * last answer that was not decoded yet (its last sampled token and/or the stop token that closes it). Tokens of
 * the cache beyond msg_start[n_synced] (tail empty then) are left-overs (a cut answer, an interrupted prefill):
 * the next begin keeps whatever part of them matches the new rendering.
 */
#ifndef LC_SESSION_INTERNAL_H
#define LC_SESSION_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "chat/chat_internal.h"
#include "llamac.h"
#include "util/err.h"

/* ---- answer_text.c ---- */
enum { LC_HOLD_NONE = 0, LC_HOLD_MAYBE = 1, LC_HOLD_CALL = 2 };

typedef struct lc_tok_off {
    size_t raw, plain; /* where the token's bytes start in raw and in plain */
} lc_tok_off;

typedef struct lc_answer_text {
    const llamac_tokenizer *tok;
    lc_buf raw;            /* the answer with special tokens as text (bytes as generated) */
    lc_buf plain;          /* the answer without special tokens (bytes as generated) */
    lc_buf content;      /* plain[0..released) as valid UTF-8 (invalid bytes and NUL -> U+FFFD): the text
                              streamed so far */
    size_t released;       /* bytes of plain already turned into content */
    size_t cut;            /* where a stop string starts in plain (valid when stopped) */
    int stopped;           /* a stop string matched */
    lc_tok_off *offs;      /* [n_offs] one per token pushed */
    size_t n_offs, cap_offs;
    int hold;              /* LC_HOLD_*: text that may be a tool call is not released */
    int detect_calls;      /* look for a tool call opening at all */
    char *stop[LLAMAC_MAX_STOP];
    size_t stop_len[LLAMAC_MAX_STOP];
    int n_stop;
    size_t max_stop;       /* longest stop string */
} lc_answer_text;

/* Starts a new answer: copies the stop strings (valid UTF-8, 1..LC_MAX_STOP_LEN bytes each; checked by the
 * caller), forgets the previous text. */
#define LC_MAX_STOP_LEN 256
llamac_status lc_text_begin(lc_answer_text *t, const llamac_tokenizer *tok, const char *const *stop, int n_stop,
                            int detect_calls);
void lc_text_free(lc_answer_text *t);
/* Appends token id's bytes, looks for stop strings and releases what can be streamed: content grows by the new
 * text. Sets t->stopped when a stop string matched (nothing after it is ever released). */
llamac_status lc_text_push(lc_answer_text *t, int32_t id);
/* Ends the answer as text (the caller found no tool call in it): releases everything up to the stop string, held
 * text included (an incomplete character at the end becomes U+FFFD). */
llamac_status lc_text_finish(lc_answer_text *t);
/* Length of raw up to where the answer ends (the stop string, if one matched). */
size_t lc_text_raw_end(const lc_answer_text *t);

/* ---- answer_tools.c ---- */
/* The forced opening of an answer for tool_choice REQUIRED / NAMED (see docs/CHAT_FORMAT.md); appends its
 * tokens to *out. LLAMAC_E_INVALID_ARG (message in e) when the conversation has no such tool or the format
 * has no tool calls. */
llamac_status lc_tool_prefix(const llamac_chat *chat, llamac_chat_format fmt, const llamac_tokenizer *tok,
                             llamac_tool_choice choice, const char *name, llamac_tokens *out, lc_err *e);
/* Parses raw[0..n) as tool calls. On success with calls: *calls_json is the OpenAI array with ids
 * ("call_" + 16 hex digits from the text, the message index and the call's position) and *message_json the
 * assistant message for the chat (both malloc'd). Both NULL when the text is not a (well-formed) call. */
llamac_status lc_tool_calls_parse(llamac_chat_format fmt, const char *raw, size_t n, int msg_index,
                                  char **calls_json, int *n_calls, char **message_json, lc_err *e);

/* ---- the session ---- */
enum lc_state { LC_IDLE = 0, LC_PREFILL, LC_GEN };
enum lc_mode { LC_MODE_CHAT = 0, LC_MODE_RAW, LC_MODE_PREFILL_ONLY };

struct llamac_session {
    llamac_context *ctx;            /* borrowed */
    const llamac_tokenizer *tok;    /* the model's (NULL: no vocabulary, raw token mode only) */
    int seq, n_vocab, n_ctx;
    llamac_chat_format format;
    char *date;                     /* owned, or NULL: today */
    llamac_chat *chat;              /* owned */
    llamac_sampler *smp;            /* owned; made by each begin */
    lc_err err;

    /* the cache and the conversation's place in it (see the invariant above) */
    llamac_tokens cache;
    int *msg_start;                 /* [cap_msg] */
    int cap_msg;
    int n_synced;
    llamac_tokens tail;
    int synced_without_tools;       /* the synced messages were rendered for tool_choice NONE */

    /* the answer being made */
    int state, mode;
    llamac_tokens prompt;           /* tokens to decode before sampling (the target minus the cache) */
    int64_t prompt_done;
    int32_t next;                   /* LC_GEN: the sampled token to decode next */
    int n_inflight, logits_idx;     /* what the last llamac_session_batch added, and where its logits are */
    int answer_msg;                 /* the index the answer gets in the chat */
    int max_tokens, ignore_eos, n_logprobs, parse_calls;
    int32_t close_tok;              /* the token that closes a cut assistant message (<|eot_id|>), or -1 */
    llamac_tokens gen;              /* sampled tokens */
    lc_answer_text text;
    char *calls_json;               /* the answer's tool calls (OpenAI array), or NULL */
    llamac_answer answer;
    double t_begin, t_prefill, t_first, t_last; /* ms; t_prefill = 0 until the first prompt batch */
    llamac_session_event final_ev;  /* the last event (cancel) */
    int pre_valid;                  /* lc_session_predraw drew the next commit's token: pre_* (commit clears it) */
    int32_t pre_token;
    llamac_token_logprob pre_chosen, pre_top[LLAMAC_MAX_TOP_LOGPROBS];
    llamac_batch_buf run_batch;     /* llamac_session_run's, made on first use */
};

/* session_step.c: finishes the running answer (bookkeeping of cache, tail and chat; answer fields). ev (may be
 * NULL) gets the released text and the finish reason. Returns an error when adding the answer to the chat
 * failed (the finish is then ERROR). */
llamac_status lc_session_finish(llamac_session *s, llamac_finish why, llamac_session_event *ev);
double lc_now_ms(void);
/* session_step.c: draws now, from the decoded batch's logits, the token the next llamac_session_commit would
 * draw (if it would draw one: the same tests in the same order), so that the engine can sample its sessions on
 * several threads between llamac_decode and the commits; the draw is the same either way (each session has its
 * own sampler). Touches only s's sampler and pre_* fields: one thread per session. */
void lc_session_predraw(llamac_session *s);

#endif
