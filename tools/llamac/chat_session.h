/*
 * chat_session.h — one conversation with a model, as `llamac chat` and `llamac run` hold it: the messages
 * (an llamac_chat plus a JSON copy for /save), the KV cache of sequence 0, and the generation loop.
 *
 * Invariant: the KV cache holds exactly the tokens in `cache` (the rendering of messages 0..n_rendered-1,
 * where the last assistant message is represented by the tokens the model generated), except that the stop
 * token that ended the last answer is held in `pending` and is fed at the start of the next prefill (the
 * template closes every assistant message with <|eot_id|> / <|eom_id|>). So each turn prefills only its own
 * new tokens: pending stop + render(first = n_rendered) (docs/CHAT_FORMAT.md, "multi-turn").
 */
#ifndef LLAMAC_CHAT_SESSION_H
#define LLAMAC_CHAT_SESSION_H

#include <jansson.h>
#include <signal.h>
#include <stdio.h>

#include "cli.h"

typedef struct chat_stats {
    int prompt_tokens;   /* last turn */
    double prompt_s;
    int gen_tokens;
    double gen_s;
    double ttft_s;       /* from the end of input to the first generated token */
    long total_prompt, total_gen;
} chat_stats;

typedef enum chat_end {
    CHAT_END_STOP = 0,   /* the model produced a stop token */
    CHAT_END_LIMIT,      /* -n tokens generated */
    CHAT_END_INTERRUPT,  /* Ctrl-C */
    CHAT_END_CONTEXT,    /* the context filled up */
    CHAT_END_ERROR
} chat_end;

typedef struct chat_session {
    llamac_model *model;
    const llamac_tokenizer *tok;
    llamac_context *ctx;
    llamac_sampler *smp;
    llamac_sampler_params sp;
    llamac_chat *chat;
    json_t *log;              /* the messages as OpenAI-style JSON (array), in step with chat */
    json_t *tools;            /* the custom tools (array) or NULL */
    llamac_chat_params cparams;
    llamac_tokens cache;      /* ids in the KV cache of sequence 0 */
    int32_t pending;          /* stop id to feed first at the next prefill, or -1 */
    int n_rendered;           /* messages whose tokens are in the cache */
    int n_predict;            /* max tokens per answer (-1: until the context is full) */
    int n_batch;
    int last_nb;              /* tokens in the last decode call (its last one has logits) */
    FILE *trace;              /* --trace-tokens FILE: one JSON array of ids per decode call */
    int show_progress;        /* draw prefill progress on stderr */
    volatile sig_atomic_t *interrupt;
    chat_stats st;
    char err[600];
} chat_session;

typedef struct chat_session_opts {
    cli_common co;
    llamac_sampler_params sp;
    const char *chat_format;  /* NULL: detect */
    const char *date;         /* NULL: today */
    const char *trace_path;
    int n_predict;
    int quiet;                /* no warnings about the chat format */
} chat_session_opts;

/* Loads the model, checks it has a vocabulary, detects the chat format, creates the context and sampler.
 * Returns 0, or 1 after reporting the error. */
int chat_session_open(chat_session *s, const chat_session_opts *o, volatile sig_atomic_t *interrupt);
void chat_session_close(chat_session *s);

/* Sets the system prompt (NULL: none) and custom tools (JSON array text, NULL: none): clears the conversation
 * and the cache. Returns 0 or 1 (error in s->err). */
int chat_session_reset(chat_session *s, const char *system, const char *tools_json);

/* Appends a message (role, plain text content) to the conversation (not yet prefilled). 0 or 1. */
int chat_session_add(chat_session *s, const char *role, const char *content);
/* Appends an OpenAI-style message object (takes a reference on msg). 0 or 1. */
int chat_session_add_json(chat_session *s, json_t *msg);

/* Prefills what is not in the cache yet (pending stop + new messages + assistant header). Returns LLAMAC_OK,
 * LLAMAC_E_CONTEXT_FULL (nothing done: call chat_session_drop_oldest or reset), LLAMAC_E_CANCELLED (Ctrl-C;
 * the cache is unchanged), or another error (message in s->err). */
llamac_status chat_session_prefill(chat_session *s);

/* Generates the assistant's answer, streaming text through on_text, adds it to the conversation (as a tool
 * call message when it is one) and returns why it ended. The answer text (special tokens as text) is left in
 * *answer (caller frees with llamac_text_free); *calls receives parsed tool calls (kind NONE if none; caller
 * frees calls->json). */
typedef void (*chat_text_fn)(void *user, const char *text, size_t len);
chat_end chat_session_generate(chat_session *s, chat_text_fn on_text, void *user, llamac_text *answer,
                               llamac_tool_calls *calls);

/* Drops the oldest turns after the system message until the conversation fits with room for an answer of
 * `reserve` tokens, then re-prefills from the end of the system message. Returns the number of messages
 * dropped (0: nothing could be dropped) or -1 on error. */
int chat_session_drop_oldest(chat_session *s, int reserve);

/* Tokens the cache holds / can hold. */
int chat_session_used(const chat_session *s);
int chat_session_capacity(const chat_session *s);

/* /save and /load: the conversation as {"messages": [...], "tools": [...]}. 0 or 1 (error in s->err). */
int chat_session_save(chat_session *s, const char *path);
int chat_session_load(chat_session *s, const char *path);

#endif
