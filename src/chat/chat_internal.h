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
    char *id;          /* the OpenAI call id ("call_..."), or NULL when the message had none */
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
    char *tool_call_id;   /* tool/ipython messages: the call answered ("tool_call_id"), or NULL; not rendered */
} lc_chat_msg;

struct llamac_chat {
    lc_chat_msg *msgs;
    int n_msgs;
    size_t cap_msgs;
    json_t *tools;         /* array of tool definitions (owned), or NULL: no custom tools */
    char **builtin;        /* built-in tool names, or NULL */
    int n_builtin;
    int dirty_from;        /* the lowest index of a message changed (added, removed, replaced) since
                              lc_chat_clear_dirty, 0 after a change of tools, INT_MAX when nothing changed */
    lc_err err;
};
typedef struct llamac_chat lc_chat;

/* ---- change tracking (for a generation session keeping the conversation in a KV cache) ---- */
/* Records that messages from index i on may differ from what a session last rendered. */
void lc_chat_mark_dirty(lc_chat *c, int i);
/* The lowest changed message index since the last lc_chat_clear_dirty (INT_MAX: no change). */
int lc_chat_dirty_from(const lc_chat *c);
void lc_chat_clear_dirty(lc_chat *c);

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

/* llamac_chat_render with one more option: without_tools = 1 renders as if the conversation had no custom and
 * no built-in tools (tool_choice "none" of a generation session). */
llamac_status lc_chat_render_ex(llamac_chat *chat, const llamac_chat_params *params, int first_message,
                                int without_tools, llamac_chat_prompt **out);

/* llamac_chat_prompt_tokens that also appends, for each id, the index of the message its segment belongs to
 * (owners may be NULL). On error both arrays keep their previous contents. */
llamac_status lc_chat_prompt_tokens_owned(const llamac_chat_prompt *prompt, const llamac_tokenizer *tok,
                                          llamac_tokens *out, llamac_tokens *owners, char *err, size_t err_size);

struct llamac_chat_prompt {
    lc_buf text;   /* segments back to back, each followed by a NUL (so each is a C string) */
    lc_seg *segs;
    int n_segs;
    size_t cap_segs;
    lc_buf joined; /* lazily built llamac_chat_prompt_text() */
    int oom;
};

#endif
