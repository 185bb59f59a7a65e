/*
 * chat_internal.h — shared internals of src/chat/: the conversation object, the
 * Python-compatible JSON writer (the HF templates' `tojson`), Unicode trimming and the prompt segment list.
 *
 * Invariants: a lc_chat holds only validated messages (known role; text content is valid UTF-8 without NUL;
 * tool calls have a non-empty name and an object of arguments); json_t values stored here are owned (one
 * reference each). Text is built in lc_buf (util/buf.h), whose out-of-memory state is sticky, so callers check
 * once at the end.
 */
#ifndef LC_CHAT_INTERNAL_H
#define LC_CHAT_INTERNAL_H

#include <jansson.h>
#include <stddef.h>

#include "llamac.h"
#include "util/buf.h"
#include "util/err.h"

/* ---- roles and messages ---- */
enum lc_role { LC_ROLE_SYSTEM, LC_ROLE_USER, LC_ROLE_ASSISTANT, LC_ROLE_TOOL, LC_ROLE_IPYTHON };

typedef struct lc_chat_call {
    char *name;
    json_t *arguments; /* an object (owned) */
} lc_chat_call;

typedef struct lc_chat_msg {
    int role;             /* enum lc_role */
    char *content;        /* UTF-8 text; "" when absent; never NULL */
    size_t content_len;
    int has_content;      /* 0: "content" was null/absent (only allowed with tool_calls) */
    json_t *content_json; /* tool/ipython messages whose content is an object or a non-text array (owned) */
    lc_chat_call *calls;
    int n_calls;
} lc_chat_msg;

struct llamac_chat {
    lc_chat_msg *msgs;
    int n_msgs;
    size_t cap_msgs;
    json_t *tools;         /* array of tool definitions (owned), or NULL: no custom tools */
    char **builtin;        /* built-in tool names, or NULL */
    int n_builtin;
    lc_err err;
};
typedef struct llamac_chat lc_chat;

const char *lc_role_name(int role);
void lc_chat_msg_clear(lc_chat_msg *m);

/* ---- Python json.dumps(ensure_ascii=False) as used by the transformers `tojson` filter ----
 * indent < 0: one line with ", " and ": " separators; indent >= 0: newlines and that many spaces per level with
 * "," and ": ". Floats are written like Python's repr (1.0, 1e+16, 1e-05). */
void lc_pyjson_dump(const json_t *v, int indent, lc_buf *out);

/* ---- str.strip(): removes leading/trailing characters that Python's str.isspace() accepts ---- */
void lc_py_strip(const char *s, size_t len, size_t *start, size_t *n);

/* ---- rendered prompt ---- */
typedef struct lc_seg {
    int special;
    size_t off, len; /* into text */
    int message;
} lc_seg;

struct llamac_chat_prompt {
    lc_buf text;   /* segments back to back, each followed by a NUL (so each is a C string) */
    lc_seg *segs;
    int n_segs;
    size_t cap_segs;
    lc_buf joined; /* lazily built llamac_chat_prompt_text() */
    int oom;
};

#endif
