/*
 * chat_session.h — the glue between `llamac chat` / `llamac run` and a library session (llamac_session.h):
 * loading the model, the chat format warning, the conversation's set-up (system prompt, --tools), streaming an
 * answer with Ctrl-C and a prefill progress line, --trace-tokens, /save and /load. The conversation, its KV
 * cache, stop tokens and tool calls are the library's.
 */
#ifndef LLAMAC_CHAT_SESSION_H
#define LLAMAC_CHAT_SESSION_H

#include <signal.h>
#include <stdio.h>

#include "cli.h"

typedef enum chat_end {
    CHAT_END_STOP = 0,   /* the model produced a stop token (or a tool call) */
    CHAT_END_LIMIT,      /* -n tokens generated */
    CHAT_END_INTERRUPT,  /* Ctrl-C while answering */
    CHAT_END_CONTEXT,    /* the context filled up */
    CHAT_END_ERROR,
    CHAT_END_PREFILL_INTERRUPT /* Ctrl-C before the first token: nothing was answered */
} chat_end;

typedef struct chat_session {
    llamac_model *model;
    llamac_context *ctx;
    llamac_session *sess;
    llamac_chat *chat;        /* the session's */
    llamac_gen_params gp;     /* sampling and -n (max_tokens) */
    FILE *trace;              /* --trace-tokens FILE: one JSON object of ids per prefill and per answer */
    int show_progress;        /* draw prefill progress on stderr */
    volatile sig_atomic_t *interrupt;
    double t_run;             /* progress drawing */
    int drawn;
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

/* Loads the model, checks it has a vocabulary, detects the chat format, creates the context and the session.
 * Returns 0, or 1 after reporting the error. */
int chat_session_open(chat_session *s, const chat_session_opts *o, volatile sig_atomic_t *interrupt);
void chat_session_close(chat_session *s);

/* Sets the system prompt (NULL: none) and custom tools (JSON array text, or {"tools": [...]}; NULL: none) and
 * clears the conversation. Returns 0 or 1 (error in s->err). */
int chat_session_reset(chat_session *s, const char *system, const char *tools_json);

/* Appends a message (role, plain text content) / an OpenAI-style message object to the conversation. 0 or 1. */
int chat_session_add(chat_session *s, const char *role, const char *content);
int chat_session_add_json(chat_session *s, const char *json);

/* Starts the answer (llamac_session_begin): LLAMAC_OK, LLAMAC_E_CONTEXT_FULL (nothing done: drop turns or
 * reset), or another error (message in s->err). */
llamac_status chat_session_begin(chat_session *s);

/* Prefills the rest of the prompt and generates the answer, streaming text through on_text; the answer is
 * added to the conversation (as a tool call message when it is one). See llamac_session_answer for it. */
typedef void (*chat_text_fn)(void *user, const char *text, size_t len);
chat_end chat_session_generate(chat_session *s, chat_text_fn on_text, void *user);

/* The answer's tool calls as [{"name": ..., "arguments": {...}}] (malloc'd), or NULL when it has none. */
char *chat_session_tool_calls(chat_session *s);
/* Generated tokens of the last answer, its stop token excluded. */
int chat_session_gen_tokens(const chat_session *s);

/* /save and /load: the conversation as {"messages": [...], "tools": [...]}. 0 or 1 (error in s->err). /load
 * reads the loaded conversation into the context at once. */
int chat_session_save(chat_session *s, const char *path);
int chat_session_load(chat_session *s, const char *path);

#endif
