/*
 * export.c — reading a conversation back: each message's role and text, a message as an OpenAI-style JSON object,
 * the tool definitions, and the whole conversation as the {"messages": [...], "tools": [...]} document that
 * llamac_chat_load_json reads (so callers never keep a shadow copy of what they put in).
 *
 * Output shapes (what went in comes back, modulo the normalisations of messages.c):
 *   {"role": R, "content": "text"}                      text content (text parts were joined with "\n")
 *   {"role": "tool", "content": {...}}                 a tool result given as an object or array stays JSON
 *   {"role": "tool", "tool_call_id": ID, ...}          when the message had one
 *   {"role": "assistant", "content": null | "text", "tool_calls": [{"id": ID (if any), "type": "function",
 *    "function": {"name": N, "arguments": "{...}"}}]}   arguments as a JSON string, as OpenAI sends them
 * Arguments are written like Python's json.dumps (the templates' tojson), so numbers keep their short form.
 * Every getter accepts NULL and out-of-range indices (NULL / 0 / LLAMAC_E_INVALID_ARG), never reading outside.
 */
#include <stdlib.h>
#include <string.h>

#include "chat/chat_internal.h"

static const lc_chat_msg *msg_at(const llamac_chat *chat, int i)
{
    return chat && i >= 0 && i < chat->n_msgs ? &chat->msgs[i] : NULL;
}

const char *llamac_chat_message_role(const llamac_chat *chat, int i)
{
    const lc_chat_msg *m = msg_at(chat, i);
    return m ? lc_role_name(m->role) : NULL;
}

const char *llamac_chat_message_content(const llamac_chat *chat, int i, size_t *len)
{
    const lc_chat_msg *m = msg_at(chat, i);
    if (len)
        *len = m && !m->content_json ? m->content_len : 0;
    if (!m)
        return NULL;
    return m->content_json ? "" : m->content;
}

int llamac_chat_message_n_tool_calls(const llamac_chat *chat, int i)
{
    const lc_chat_msg *m = msg_at(chat, i);
    return m ? m->n_calls : 0;
}

/* Appends {"id"?, "type": "function", "function": {"name", "arguments": "..."}} to calls; 0 when out of memory. */
static int call_object(const lc_chat_call *c, json_t *calls)
{
    json_t *call = json_object(), *fn = json_object();
    if (!call || !fn || json_array_append_new(calls, call)) {
        json_decref(fn);
        if (!fn)
            json_decref(call);
        return 0;
    }
    /* call is owned by calls from here on; fn is ours until it is set */
    lc_buf args = {0};
    lc_pyjson_dump(c->arguments, -1, &args);
    int ok = !args.oom && !json_object_set_new(fn, "name", json_string(c->name)) &&
             !json_object_set_new(fn, "arguments", json_stringn(args.p, args.len)) &&
             !(c->id && json_object_set_new(call, "id", json_string(c->id))) &&
             !json_object_set_new(call, "type", json_string("function"));
    if (ok)
        ok = !json_object_set_new(call, "function", fn); /* takes fn, also on failure */
    else
        json_decref(fn);
    lc_buf_free(&args);
    return ok;
}

/* A new reference to the OpenAI object of m, or NULL when out of memory. */
static json_t *message_object(const lc_chat_msg *m)
{
    json_t *o = json_object();
    if (!o || json_object_set_new(o, "role", json_string(lc_role_name(m->role))))
        goto oom;
    json_t *content;
    if (m->content_json)
        content = json_incref(m->content_json);
    else if (!m->has_content)
        content = json_null();
    else
        content = json_stringn(m->content, m->content_len);
    if (!content || json_object_set_new(o, "content", content))
        goto oom;
    if (m->tool_call_id && json_object_set_new(o, "tool_call_id", json_string(m->tool_call_id)))
        goto oom;
    if (m->n_calls) {
        json_t *calls = json_array();
        if (!calls || json_object_set_new(o, "tool_calls", calls))
            goto oom;
        for (int k = 0; k < m->n_calls; k++)
            if (!(call_object(&m->calls[k], calls)))
                goto oom;
    }
    return o;
oom:
    json_decref(o);
    return NULL;
}

static llamac_status dump(json_t *v, char **out)
{
    *out = v ? json_dumps(v, JSON_COMPACT) : NULL;
    json_decref(v);
    return *out ? LLAMAC_OK : LLAMAC_E_NOMEM;
}

llamac_status llamac_chat_message_json(const llamac_chat *chat, int i, char **out)
{
    if (out)
        *out = NULL;
    const lc_chat_msg *m = msg_at(chat, i);
    if (!m || !out)
        return LLAMAC_E_INVALID_ARG;
    return dump(message_object(m), out);
}

llamac_status llamac_chat_tools_json(const llamac_chat *chat, char **out)
{
    if (out)
        *out = NULL;
    if (!chat || !out)
        return LLAMAC_E_INVALID_ARG;
    if (!chat->tools)
        return LLAMAC_OK;
    return dump(json_incref(chat->tools), out);
}

llamac_status llamac_chat_dump_json(const llamac_chat *chat, char **out)
{
    if (out)
        *out = NULL;
    if (!chat || !out)
        return LLAMAC_E_INVALID_ARG;
    json_t *doc = json_object(), *msgs = json_array();
    int bad = !doc || !msgs || json_object_set_new(doc, "messages", msgs);
    for (int i = 0; i < chat->n_msgs && !bad; i++) {
        json_t *m = message_object(&chat->msgs[i]);
        bad = !m || json_array_append_new(msgs, m);
    }
    if (!bad && chat->tools)
        bad = json_object_set(doc, "tools", chat->tools);
    if (!bad && chat->n_builtin) {
        json_t *b = json_array();
        bad = !b || json_object_set_new(doc, "builtin_tools", b);
        for (int i = 0; i < chat->n_builtin && !bad; i++)
            bad = json_array_append_new(b, json_string(chat->builtin[i]));
    }
    if (bad) {
        if (!doc)
            json_decref(msgs);
        json_decref(doc);
        return LLAMAC_E_NOMEM;
    }
    return dump(doc, out);
}
