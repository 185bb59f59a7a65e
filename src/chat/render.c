/*
 * render.c — renders a conversation into prompt segments (plain text, or one special token by name) following
 * the Hugging Face chat templates of Llama 3.0 (tokenizer_config.json), 3.1/3.3 and 3.2 (shared/data/templates/),
 * statement by statement. docs/CHAT_FORMAT.md lists the rules and the few deliberate differences.
 *
 * Invariants: the first segment of a rendering from message 0 is <|begin_of_text|> and no other segment is; every
 * segment is attributed to one message (BOS and the system block to message 0, the tool-definition user block
 * to the user message it wraps, the generation prompt to n_messages), and each message's segments start with
 * <|start_header_id|> (or BOS) and end with <|eot_id|>/<|eom_id|>, so renderings of consecutive message ranges
 * concatenate to the full rendering (see llamac_chat.h). Adjacent text of one message is merged into one segment.
 */
#include <stdio.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "chat/chat_internal.h"

#define SP_BOS "<|begin_of_text|>"
#define SP_START "<|start_header_id|>"
#define SP_END "<|end_header_id|>"
#define SP_EOT "<|eot_id|>"
#define SP_EOM "<|eom_id|>"
#define SP_PYTHON "<|python_tag|>"

/* The fixed wording of the 3.1/3.2/3.3 templates. */
#define TXT_KNOWLEDGE "Cutting Knowledge Date: December 2023\n"
#define TXT_FORMAT \
    "Respond in the format {\"name\": function name, \"parameters\": dictionary of argument name and its value}."
#define TXT_NO_VARS "Do not use variables.\n\n"
#define TXT_TOOLS_SYSTEM \
    "You have access to the following functions. To call a function, please respond with JSON for a function call."
#define TXT_TOOLS_USER \
    "Given the following functions, please respond with a JSON for a function call " \
    "with its proper arguments that best answers the given prompt.\n\n"

typedef struct rctx {
    llamac_chat_prompt *p;
    int first; /* segments of messages < first are not emitted */
    int owner; /* message the output currently belongs to */
} rctx;

static void add_seg(rctx *r, int special, const char *s, size_t n)
{
    llamac_chat_prompt *p = r->p;
    if (r->owner < r->first || p->oom)
        return;
    if (!special && n == 0)
        return;
    lc_seg *last = p->n_segs ? &p->segs[p->n_segs - 1] : NULL;
    if (!special && last && !last->special && last->message == r->owner) {
        p->text.len--; /* drop the NUL that ended the last segment, extend it */
        lc_buf_put(&p->text, s, n);
        lc_buf_putc(&p->text, 0);
        last->len += n;
        p->oom |= p->text.oom;
        return;
    }
    lc_seg *ns = p->n_segs < INT_MAX ? lc_array_reserve(p->segs, sizeof *ns, &p->cap_segs, (size_t)p->n_segs, 1)
                                     : NULL;
    if (!ns) {
        p->oom = 1;
        return;
    }
    p->segs = ns;
    lc_seg *sg = &p->segs[p->n_segs++];
    sg->special = special;
    sg->off = p->text.len;
    sg->len = n;
    sg->message = r->owner;
    lc_buf_put(&p->text, s, n);
    lc_buf_putc(&p->text, 0);
    p->oom |= p->text.oom;
}

static void sp(rctx *r, const char *name)
{
    add_seg(r, 1, name, strlen(name));
}

static void txt(rctx *r, const char *s)
{
    add_seg(r, 0, s, strlen(s));
}

static void txt_n(rctx *r, const char *s, size_t n)
{
    add_seg(r, 0, s, n);
}

static void txt_trimmed(rctx *r, const lc_chat_msg *m)
{
    size_t a, n;
    lc_py_strip(m->content, m->content_len, &a, &n);
    txt_n(r, m->content + a, n);
}

static void txt_json(rctx *r, const json_t *v, int indent)
{
    lc_buf b = {0};
    lc_pyjson_dump(v, indent, &b);
    if (b.oom)
        r->p->oom = 1;
    else
        txt_n(r, b.p, b.len);
    lc_buf_free(&b);
}

static void header(rctx *r, const char *role)
{
    sp(r, SP_START);
    txt(r, role);
    sp(r, SP_END);
    txt(r, "\n\n");
}

/* Today's local date as strftime("%d %b %Y") in the C locale ("05 Aug 2024"). */
static void today(char *buf, size_t size)
{
    static const char *const mon[12] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                        "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    time_t t = time(NULL);
    struct tm tmv;
    if (t == (time_t)-1 || !localtime_r(&t, &tmv)) {
        snprintf(buf, size, "26 Jul 2024");
        return;
    }
    snprintf(buf, size, "%02d %s %04d", tmv.tm_mday, mon[tmv.tm_mon % 12], tmv.tm_year + 1900);
}

static int is_builtin(const lc_chat *c, const char *name)
{
    for (int i = 0; i < c->n_builtin; i++)
        if (!strcmp(c->builtin[i], name))
            return 1;
    return 0;
}

static void tool_list(rctx *r, const lc_chat *c)
{
    for (size_t i = 0; i < json_array_size(c->tools); i++) {
        txt_json(r, json_array_get(c->tools, i), 4);
        txt(r, "\n\n");
    }
}

/* An assistant message with a tool call, 3.1/3.2/3.3. */
static void render_call(rctx *r, const lc_chat *c, const lc_chat_call *call, int builtin_mode)
{
    header(r, "assistant");
    if (builtin_mode && is_builtin(c, call->name)) {
        sp(r, SP_PYTHON);
        txt(r, call->name);
        txt(r, ".call(");
        const char *key;
        json_t *val;
        int first = 1;
        json_object_foreach(call->arguments, key, val) {
            if (!first)
                txt(r, ", ");
            first = 0;
            txt(r, key);
            txt(r, "=\"");
            if (json_is_string(val))
                txt_n(r, json_string_value(val), json_string_length(val));
            else /* the template would fail on a non-string; we write its JSON */
                txt_json(r, val, -1);
            txt(r, "\"");
        }
        txt(r, ")");
    } else {
        txt(r, "{\"name\": \"");
        txt(r, call->name);
        txt(r, "\", \"parameters\": ");
        txt_json(r, call->arguments, -1);
        txt(r, "}");
    }
    sp(r, builtin_mode ? SP_EOM : SP_EOT);
}

static llamac_status render_llama3_0(rctx *r, lc_chat *c, int without_tools)
{
    if (!without_tools && (c->tools || c->n_builtin))
        return lc_fail(&c->err, LLAMAC_E_UNSUPPORTED,
                       "Llama 3.0 has no tool-calling format: remove the tools or render as Llama 3.1+");
    for (int i = 0; i < c->n_msgs; i++) {
        const lc_chat_msg *m = &c->msgs[i];
        if (m->n_calls || m->role == LC_ROLE_TOOL || m->role == LC_ROLE_IPYTHON)
            return lc_fail(&c->err, LLAMAC_E_UNSUPPORTED,
                           "message %d: Llama 3.0 has no tool calls or tool results (render as Llama 3.1+)", i);
    }
    r->owner = 0;
    sp(r, SP_BOS);
    for (int i = 0; i < c->n_msgs; i++) {
        r->owner = i;
        header(r, lc_role_name(c->msgs[i].role));
        txt_trimmed(r, &c->msgs[i]);
        sp(r, SP_EOT);
    }
    return LLAMAC_OK;
}

static llamac_status render_llama3_1(rctx *r, lc_chat *c, const llamac_chat_params *prm, int without_tools)
{
    const int builtin_mode = !without_tools && prm->format != LLAMAC_CHAT_LLAMA3_2 && c->n_builtin > 0;
    const int tools = !without_tools && c->tools != NULL;
    const int n = c->n_msgs;
    int idx = 0;
    char date[64];
    if (prm->date) {
        size_t len = strlen(prm->date);
        if (len >= sizeof date)
            return lc_fail(&c->err, LLAMAC_E_INVALID_ARG, "date string too long (at most %zu bytes)",
                           sizeof date - 1);
        memcpy(date, prm->date, len + 1);
    } else {
        today(date, sizeof date);
    }

    /* Pre-check what the template would refuse, so nothing is half-rendered. */
    int first_user = -1;
    if (n > 0 && c->msgs[0].role == LC_ROLE_SYSTEM)
        idx = 1;
    if (tools && prm->tools_in_user_message) {
        if (idx >= n)
            return lc_fail(&c->err, LLAMAC_E_UNSUPPORTED,
                           "tools go into the first user message, but there is no user message after the system "
                           "message (or set tools_in_user_message = 0)");
        if (c->msgs[idx].role != LC_ROLE_USER)
            return lc_fail(&c->err, LLAMAC_E_UNSUPPORTED,
                           "message %d: tools go into the first user message, but the first message after the "
                           "system message is a %s message", idx, lc_role_name(c->msgs[idx].role));
        first_user = idx;
    }
    for (int i = idx; i < n; i++)
        if (c->msgs[i].n_calls > 1)
            return lc_fail(&c->err, LLAMAC_E_UNSUPPORTED,
                           "message %d: %d tool calls in one message; the Llama 3.x templates support a single "
                           "tool call per assistant message", i, c->msgs[i].n_calls);

    /* BOS and the system block (message 0) */
    r->owner = 0;
    sp(r, SP_BOS);
    header(r, "system");
    if (builtin_mode || tools)
        txt(r, "Environment: ipython\n");
    if (builtin_mode) {
        txt(r, "Tools: ");
        int k = 0;
        for (int i = 0; i < c->n_builtin; i++) {
            if (!strcmp(c->builtin[i], "code_interpreter"))
                continue;
            if (k++)
                txt(r, ", ");
            txt(r, c->builtin[i]);
        }
        txt(r, "\n\n");
    }
    txt(r, TXT_KNOWLEDGE);
    txt(r, "Today Date: ");
    txt(r, date);
    txt(r, "\n\n");
    if (tools && !prm->tools_in_user_message) {
        txt(r, TXT_TOOLS_SYSTEM);
        txt(r, TXT_FORMAT);
        txt(r, TXT_NO_VARS);
        tool_list(r, c);
    }
    if (idx == 1)
        txt_trimmed(r, &c->msgs[0]);
    sp(r, SP_EOT);

    for (int i = idx; i < n; i++) {
        const lc_chat_msg *m = &c->msgs[i];
        r->owner = i;
        if (i == first_user) {
            header(r, "user");
            txt(r, TXT_TOOLS_USER);
            txt(r, TXT_FORMAT);
            txt(r, TXT_NO_VARS);
            tool_list(r, c);
            txt_trimmed(r, m);
            sp(r, SP_EOT);
        } else if (m->n_calls) {
            render_call(r, c, &m->calls[0], builtin_mode);
        } else if (m->role == LC_ROLE_TOOL || m->role == LC_ROLE_IPYTHON) {
            header(r, "ipython");
            if (m->content_json) {
                txt_json(r, m->content_json, -1);
            } else if (prm->tool_content_raw) {
                txt_n(r, m->content, m->content_len);
            } else { /* Jinja: a string "is iterable", so the template applies tojson to it */
                json_t *s = json_stringn(m->content, m->content_len);
                if (!s)
                    return lc_fail(&c->err, LLAMAC_E_NOMEM, "out of memory");
                txt_json(r, s, -1);
                json_decref(s);
            }
            sp(r, SP_EOT);
        } else {
            header(r, lc_role_name(m->role));
            txt_trimmed(r, m);
            sp(r, SP_EOT);
        }
    }
    return LLAMAC_OK;
}

llamac_chat_params llamac_chat_default_params(llamac_chat_format format)
{
    llamac_chat_params p = {.format = format, .date = NULL, .add_generation_prompt = 1,
                            .tools_in_user_message = 1, .tool_content_raw = 0};
    return p;
}

void llamac_chat_prompt_free(llamac_chat_prompt *prompt)
{
    if (!prompt)
        return;
    lc_buf_free(&prompt->text);
    lc_buf_free(&prompt->joined);
    free(prompt->segs);
    free(prompt);
}

llamac_status llamac_chat_render(llamac_chat *chat, const llamac_chat_params *params, int first_message,
                                 llamac_chat_prompt **out)
{
    return lc_chat_render_ex(chat, params, first_message, 0, out);
}

llamac_status lc_chat_render_ex(llamac_chat *chat, const llamac_chat_params *params, int first_message,
                                int without_tools, llamac_chat_prompt **out)
{
    if (out)
        *out = NULL;
    if (!chat)
        return LLAMAC_E_INVALID_ARG;
    chat->err.msg[0] = 0;
    if (!params || !out)
        return lc_fail(&chat->err, LLAMAC_E_INVALID_ARG, "render: NULL params or out");
    const llamac_chat_format f = params->format;
    if (f != LLAMAC_CHAT_LLAMA3_0 && f != LLAMAC_CHAT_LLAMA3_1 && f != LLAMAC_CHAT_LLAMA3_2 &&
        f != LLAMAC_CHAT_LLAMA3_3)
        return lc_fail(&chat->err, LLAMAC_E_INVALID_ARG, "render: format %d is not a Llama 3 chat format", (int)f);
    if (first_message < 0 || first_message > chat->n_msgs)
        return lc_fail(&chat->err, LLAMAC_E_INVALID_ARG, "render: first message %d is not in 0..%d", first_message,
                       chat->n_msgs);
    llamac_chat_prompt *p = calloc(1, sizeof *p);
    if (!p)
        return lc_fail(&chat->err, LLAMAC_E_NOMEM, "out of memory");
    rctx r = {.p = p, .first = first_message, .owner = 0};
    llamac_status st = f == LLAMAC_CHAT_LLAMA3_0 ? render_llama3_0(&r, chat, without_tools)
                                                 : render_llama3_1(&r, chat, params, without_tools);
    if (st == LLAMAC_OK && params->add_generation_prompt) {
        r.owner = chat->n_msgs;
        header(&r, "assistant");
    }
    if (st == LLAMAC_OK && p->oom) /* a failed append: the segments may point past the text */
        st = lc_fail(&chat->err, LLAMAC_E_NOMEM, "out of memory while rendering");
    if (st == LLAMAC_OK) { /* the display text */
        for (int i = 0; i < p->n_segs; i++)
            lc_buf_put(&p->joined, p->text.p + p->segs[i].off, p->segs[i].len);
        lc_buf_put(&p->joined, "", 0);
        if (p->oom || p->joined.oom)
            st = lc_fail(&chat->err, LLAMAC_E_NOMEM, "out of memory while rendering");
    }
    if (st) {
        llamac_chat_prompt_free(p);
        return st;
    }
    *out = p;
    return LLAMAC_OK;
}

int llamac_chat_prompt_n_segments(const llamac_chat_prompt *prompt)
{
    return prompt ? prompt->n_segs : 0;
}

llamac_status llamac_chat_prompt_segment(const llamac_chat_prompt *prompt, int i, llamac_chat_segment *out)
{
    if (!prompt || !out || i < 0 || i >= prompt->n_segs)
        return LLAMAC_E_INVALID_ARG;
    const lc_seg *s = &prompt->segs[i];
    out->is_special = s->special;
    out->text = prompt->text.p + s->off;
    out->len = s->len;
    out->message = s->message;
    return LLAMAC_OK;
}

const char *llamac_chat_prompt_text(const llamac_chat_prompt *prompt, size_t *len)
{
    if (len)
        *len = prompt ? prompt->joined.len : 0;
    return prompt && prompt->joined.p ? prompt->joined.p : "";
}
