/*
 * answer_tools.c — tool calls in a session's answers: the opening that tool_choice REQUIRED / NAMED forces on
 * an answer, and the OpenAI-style result of an answer that is a call.
 *
 * Forced openings (docs/CHAT_FORMAT.md, "Tool choice"), the text that starts the assistant's answer:
 *   Llama 3.1        REQUIRED  {"name": "            NAMED  {"name": "NAME", "parameters": 
 *   Llama 3.2, 3.3   REQUIRED  [                     NAMED  [NAME(
 *   a built-in tool (3.1, 3.3)                       NAMED  <|python_tag|>NAME.call(
 *   only built-in tools (3.1, 3.3)  REQUIRED  <|python_tag|>
 * The opening is tokenized on its own (as the model would continue after the header's "\n\n") and counts as
 * part of the answer's text.
 *
 * Call ids are "call_" + 16 hex digits of a 64-bit FNV-1a hash of the answer text, the message's index and the
 * call's position: deterministic, and distinct between the calls of one conversation.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chat/chat_internal.h"
#include "session/session_internal.h"

static const char *tool_name_of(const json_t *t)
{
    const json_t *fn = json_object_get(t, "function");
    return json_string_value(json_object_get(json_is_object(fn) ? fn : t, "name"));
}

static int has_custom(const lc_chat *c, const char *name)
{
    for (size_t i = 0; i < json_array_size(c->tools); i++) {
        const char *n = tool_name_of(json_array_get(c->tools, i));
        if (n && (!name || !strcmp(n, name)))
            return 1;
    }
    return 0;
}

static int has_builtin(const lc_chat *c, llamac_chat_format fmt, const char *name)
{
    if (fmt == LLAMAC_CHAT_LLAMA3_2)
        return 0; /* 3.2 has no built-in tools */
    for (int i = 0; i < c->n_builtin; i++)
        if (!name || !strcmp(c->builtin[i], name))
            return 1;
    return 0;
}

static int is_identifier(const char *s)
{
    if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || *s == '_'))
        return 0;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') || *s == '_'))
            return 0;
    return 1;
}

llamac_status lc_tool_prefix(const llamac_chat *chat, llamac_chat_format fmt, const llamac_tokenizer *tok,
                             llamac_tool_choice choice, const char *name, llamac_tokens *out, lc_err *e)
{
    if (choice == LLAMAC_TOOL_CHOICE_AUTO || choice == LLAMAC_TOOL_CHOICE_NONE)
        return LLAMAC_OK;
    if (choice != LLAMAC_TOOL_CHOICE_REQUIRED && choice != LLAMAC_TOOL_CHOICE_NAMED)
        return lc_fail(e, LLAMAC_E_INVALID_ARG, "tool_choice %d is not a tool choice", (int)choice);
    if (fmt == LLAMAC_CHAT_LLAMA3_0)
        return lc_fail(e, LLAMAC_E_INVALID_ARG, "tool_choice: Llama 3.0 has no tool calls");
    if (!has_custom(chat, NULL) && !has_builtin(chat, fmt, NULL))
        return lc_fail(e, LLAMAC_E_INVALID_ARG, "tool_choice requires a tool call, but the conversation has no tools");
    const int pythonic = fmt != LLAMAC_CHAT_LLAMA3_1;
    int tag = 0;
    lc_buf text = {0};
    if (choice == LLAMAC_TOOL_CHOICE_REQUIRED) {
        if (!has_custom(chat, NULL))
            tag = 1; /* only built-in tools: their calls start with <|python_tag|> */
        else
            lc_buf_puts(&text, pythonic ? "[" : "{\"name\": \"");
    } else {
        if (!name || !*name)
            return lc_fail(e, LLAMAC_E_INVALID_ARG, "tool_choice: no tool name given");
        if (has_builtin(chat, fmt, name)) {
            tag = 1;
            lc_buf_puts(&text, name);
            lc_buf_puts(&text, ".call(");
        } else if (!has_custom(chat, name)) {
            return lc_fail(e, LLAMAC_E_INVALID_ARG, "tool_choice: the conversation has no tool named '%.100s'", name);
        } else if (pythonic) {
            if (!is_identifier(name))
                return lc_fail(e, LLAMAC_E_INVALID_ARG,
                               "tool_choice: '%.100s' cannot be called in the pythonic format (not an identifier)",
                               name);
            lc_buf_puts(&text, "[");
            lc_buf_puts(&text, name);
            lc_buf_puts(&text, "(");
        } else {
            json_t *js = json_string(name);
            lc_buf_puts(&text, "{\"name\": ");
            if (js)
                lc_pyjson_dump(js, -1, &text);
            json_decref(js);
            lc_buf_puts(&text, ", \"parameters\": ");
            if (!js)
                text.oom = 1;
        }
    }
    llamac_status st = text.oom ? LLAMAC_E_NOMEM : LLAMAC_OK;
    const size_t n0 = out->n;
    if (!st && tag) {
        int32_t id = llamac_token_special(tok, "<|python_tag|>");
        st = id < 0 ? lc_fail(e, LLAMAC_E_TOKENIZER, "tool_choice: the vocabulary has no <|python_tag|>")
                    : llamac_tokens_push(out, id);
    }
    if (!st && text.len)
        st = llamac_tokenize(tok, text.p, text.len, 0, out);
    lc_buf_free(&text);
    if (st) {
        out->n = n0;
        if (!e->msg[0])
            lc_fail(e, st, "tool_choice: %s", llamac_status_str(st));
    }
    return st;
}

static uint64_t fnv1a(uint64_t h, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++) {
        h ^= b[i];
        h *= 0x100000001b3ull;
    }
    return h;
}

/* {"id": ..., "type": "function", "function": {"name": ..., "arguments": "..."}} from {"name", "arguments"} */
static json_t *openai_call(const json_t *c, const char *raw, size_t n, int msg_index, size_t k)
{
    lc_buf args = {0};
    lc_pyjson_dump(json_object_get(c, "arguments"), -1, &args);
    uint64_t h = fnv1a(0xcbf29ce484222325ull, raw, n);
    int64_t where[2] = {msg_index, (int64_t)k};
    h = fnv1a(h, where, sizeof where);
    char id[32];
    snprintf(id, sizeof id, "call_%016llx", (unsigned long long)h);
    json_t *out = args.oom ? NULL
                           : json_pack("{s:s, s:s, s:{s:O, s:s#}}", "id", id, "type", "function", "function", "name",
                                       json_object_get(c, "name"), "arguments", args.p, args.len);
    lc_buf_free(&args);
    return out;
}

llamac_status lc_tool_calls_parse(llamac_chat_format fmt, const char *raw, size_t n, int msg_index,
                                  char **calls_json, int *n_calls, char **message_json, lc_err *e)
{
    *calls_json = *message_json = NULL;
    *n_calls = 0;
    llamac_tool_calls tc;
    char why[256];
    llamac_status st = llamac_chat_parse_tool_calls(fmt, raw, n, &tc, why, sizeof why);
    if (st == LLAMAC_E_NOMEM)
        return lc_fail(e, st, "out of memory");
    if (st || tc.n_calls == 0) { /* an ordinary answer, or a malformed call: the text is the answer */
        free(tc.json);
        return LLAMAC_OK;
    }
    json_t *parsed = json_loads(tc.json, 0, NULL), *calls = json_array(), *msg = NULL;
    free(tc.json);
    int bad = !json_is_array(parsed) || !calls;
    for (size_t k = 0; !bad && k < json_array_size(parsed); k++)
        bad = json_array_append_new(calls, openai_call(json_array_get(parsed, k), raw, n, msg_index, k)) != 0;
    if (!bad)
        msg = json_pack("{s:s, s:n, s:O}", "role", "assistant", "content", "tool_calls", calls);
    if (msg) {
        *calls_json = json_dumps(calls, JSON_COMPACT);
        *message_json = json_dumps(msg, JSON_COMPACT);
        *n_calls = (int)json_array_size(calls);
    }
    json_decref(parsed);
    json_decref(calls);
    json_decref(msg);
    if (!*calls_json || !*message_json) {
        free(*calls_json);
        free(*message_json);
        *calls_json = *message_json = NULL;
        *n_calls = 0;
        return lc_fail(e, LLAMAC_E_NOMEM, "out of memory");
    }
    return LLAMAC_OK;
}
