/*
 * chat_repl.h — the interactive loop of `llamac chat` (and `llamac run` without a prompt), and the one-shot
 * answer of `llamac run PROMPT`.
 */
#ifndef LLAMAC_CHAT_REPL_H
#define LLAMAC_CHAT_REPL_H

#include "chat_session.h"

typedef enum chat_full_policy {
    CHAT_FULL_DEFAULT = 0, /* ask on a terminal, drop otherwise */
    CHAT_FULL_ASK,
    CHAT_FULL_DROP,        /* drop the oldest turns (keeping the system prompt) and re-prefill */
    CHAT_FULL_RESET,       /* start over with the system prompt and the new message */
    CHAT_FULL_STOP         /* refuse the message */
} chat_full_policy;

typedef struct chat_repl_opts {
    chat_session_opts so;
    const char *system;
    char *system_buf;      /* owned: --system-file contents */
    char *tools_buf;       /* owned: --tools contents */
    const char *tool_exec;
    int max_tool_rounds;   /* tool results fed back per user message before giving up (default 8) */
    chat_full_policy on_full;
} chat_repl_opts;

/* prompt == NULL: interactive REPL (line by line when stdin is not a terminal). Otherwise answer prompt once
 * (as JSON with json_out). Returns the exit code. */
int chat_repl_run(const chat_repl_opts *o, const char *prompt, int json_out);

#endif
