/*
 * messages.c — the conversation object (llamac_chat) and its OpenAI-style JSON input: messages, custom tool
 * definitions and built-in tool names, validated with messages that name the offending element.
 *
 * Accepted message shapes (anything else is an error, never silently dropped):
 *   role      "system" | "user" | "assistant" | "tool" | "ipython"
 *   content   string | [ {"type":"text","text":...}, ... ] (joined with "\n") | null/absent only for an
 *             assistant message with tool_calls; tool/ipython messages may also carry any object or array,
 *             which is rendered as JSON
 *   tool_calls (assistant only) [ {"type":"function"?, "function":{"name":..., "arguments": object | JSON text
 *             of an object}} ]; an empty or null tool_calls is treated as absent
 *   "id" of a tool call and "tool_call_id" of a tool message are kept (for the JSON read back), not rendered;
 *   other keys (name, ...) are ignored
 * Tools: [ {"type":"function","function":{"name":..., "description"?: string, "parameters"?: object}} ] or a bare
 * function object {"name":..., ...}; kept verbatim (the templates print the whole object).
 * Built-in tools: identifiers, e.g. brave_search, wolfram_alpha, code_interpreter.
 * Other top-level keys of a request object (model, temperature, tool_choice ...) are ignored.
 */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "chat/chat_internal.h"

static const char *const g_role_names[] = {"system", "user", "assistant", "tool", "ipython"};

const char *lc_role_name(int role)
{
    return role >= 0 && role <= LC_ROLE_IPYTHON ? g_role_names[role] : "?";
}

void lc_chat_msg_clear(lc_chat_msg *m)
{
    free(m->content);
    json_decref(m->content_json);
    for (int i = 0; i < m->n_calls; i++) {
        free(m->calls[i].id);
        free(m->calls[i].name);
        json_decref(m->calls[i].arguments);
    }
    free(m->calls);
    free(m->tool_call_id);
    memset(m, 0, sizeof *m);
}

static void free_builtin(char **names, int n)
{
    for (int i = 0; i < n; i++)
        free(names[i]);
    free(names);
}

static void chat_clear(lc_chat *c)
{
    for (int i = 0; i < c->n_msgs; i++)
        lc_chat_msg_clear(&c->msgs[i]);
    free(c->msgs);
    c->msgs = NULL;
    c->n_msgs = c->cap_msgs = 0;
    json_decref(c->tools);
    c->tools = NULL;
    free_builtin(c->builtin, c->n_builtin);
    c->builtin = NULL;
    c->n_builtin = 0;
}

llamac_status llamac_chat_create(llamac_chat **out)
{
    if (!out)
        return LLAMAC_E_INVALID_ARG;
    *out = calloc(1, sizeof **out);
    return *out ? LLAMAC_OK : LLAMAC_E_NOMEM;
}

void llamac_chat_free(llamac_chat *chat)
{
    if (!chat)
        return;
    chat_clear(chat);
    free(chat);
}

const char *llamac_chat_error(const llamac_chat *chat)
{
    return chat ? chat->err.msg : "";
}

int llamac_chat_n_messages(const llamac_chat *chat)
{
    return chat ? chat->n_msgs : 0;
}

void lc_chat_mark_dirty(lc_chat *c, int i)
{
    if (i < c->dirty_from)
        c->dirty_from = i < 0 ? 0 : i;
}

int lc_chat_dirty_from(const lc_chat *c)
{
    return c->dirty_from;
}

void lc_chat_clear_dirty(lc_chat *c)
{
    c->dirty_from = INT_MAX;
}

llamac_status llamac_chat_truncate(llamac_chat *chat, int n)
{
    if (!chat)
        return LLAMAC_E_INVALID_ARG;
    chat->err.msg[0] = 0;
    if (n < 0 || n > chat->n_msgs)
        return lc_fail(&chat->err, LLAMAC_E_INVALID_ARG, "truncate: %d is not in 0..%d", n, chat->n_msgs);
    for (int i = n; i < chat->n_msgs; i++)
        lc_chat_msg_clear(&chat->msgs[i]);
    if (n < chat->n_msgs)
        lc_chat_mark_dirty(chat, n);
    chat->n_msgs = n;
    return LLAMAC_OK;
}

llamac_status llamac_chat_remove(llamac_chat *chat, int first, int n)
{
    if (!chat)
        return LLAMAC_E_INVALID_ARG;
    chat->err.msg[0] = 0;
    if (first < 0 || n < 0 || first > chat->n_msgs || n > chat->n_msgs - first)
        return lc_fail(&chat->err, LLAMAC_E_INVALID_ARG, "remove: messages %d..%d are not in 0..%d", first,
                       first + n - 1, chat->n_msgs - 1);
    if (n == 0)
        return LLAMAC_OK;
    for (int i = first; i < first + n; i++)
        lc_chat_msg_clear(&chat->msgs[i]);
    memmove(chat->msgs + first, chat->msgs + first + n, (size_t)(chat->n_msgs - first - n) * sizeof *chat->msgs);
    chat->n_msgs -= n;
    lc_chat_mark_dirty(chat, first);
    return LLAMAC_OK;
}

/* ---------------------------------------------------------------------------------------------------------
 * Validation helpers
 * ------------------------------------------------------------------------------------------------------- */
static int utf8_valid(const unsigned char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        unsigned c = s[i];
        if (c < 0x80) {
            if (c == 0)
                return 0;
            i++;
            continue;
        }
        size_t k;
        unsigned cp, min;
        if ((c & 0xE0) == 0xC0)
            k = 1, cp = c & 0x1F, min = 0x80;
        else if ((c & 0xF0) == 0xE0)
            k = 2, cp = c & 0x0F, min = 0x800;
        else if ((c & 0xF8) == 0xF0)
            k = 3, cp = c & 0x07, min = 0x10000;
        else
            return 0;
        for (size_t j = 1; j <= k; j++) {
            if (i + j >= n || (s[i + j] & 0xC0) != 0x80)
                return 0;
            cp = (cp << 6) | (s[i + j] & 0x3F);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return 0;
        i += k + 1;
    }
    return 1;
}

static int is_identifier(const char *s)
{
    if (!s || !*s || !((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || *s == '_'))
        return 0;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') || *s == '_'))
            return 0;
    return 1;
}

static int parse_role(const char *s)
{
    for (int r = 0; r <= LC_ROLE_IPYTHON; r++)
        if (!strcmp(s, g_role_names[r]))
            return r;
    return -1;
}

static const char *json_type_name(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT: return "an object";
    case JSON_ARRAY: return "an array";
    case JSON_STRING: return "a string";
    case JSON_INTEGER: case JSON_REAL: return "a number";
    case JSON_TRUE: case JSON_FALSE: return "a boolean";
    case JSON_NULL: return "null";
    }
    return "?";
}

static char *dup_mem(const char *s, size_t n)
{
    char *p = malloc(n + 1);
    if (p) {
        memcpy(p, s, n);
        p[n] = 0;
    }
    return p;
}

/* Is v a non-empty array made only of {"type":"text","text":string} parts? Sets *bad to the index of the
 * first part that is not (or -1). */
static int text_parts(const json_t *v, int *bad)
{
    *bad = -1;
    if (!json_is_array(v) || json_array_size(v) == 0)
        return 0;
    for (size_t i = 0; i < json_array_size(v); i++) {
        json_t *p = json_array_get(v, i), *t = json_object_get(p, "type");
        if (!json_is_object(p) || !json_is_string(t) || strcmp(json_string_value(t), "text") ||
            !json_is_string(json_object_get(p, "text"))) {
            *bad = (int)i;
            return 0;
        }
    }
    return 1;
}

/* Parses one tool call element into *call. `where` names it in messages ("messages[3].tool_calls[0]"). */
static llamac_status parse_call(const json_t *tc, lc_chat_call *call, const char *where, lc_err *e)
{
    if (!json_is_object(tc))
        return lc_fail(e, LLAMAC_E_FORMAT, "%s: a tool call must be an object, not %s", where, json_type_name(tc));
    const json_t *type = json_object_get(tc, "type");
    if (type && !(json_is_string(type) && !strcmp(json_string_value(type), "function")))
        return lc_fail(e, LLAMAC_E_FORMAT, "%s: \"type\" must be \"function\"", where);
    const json_t *fn = json_object_get(tc, "function");
    if (!fn && json_object_get(tc, "name"))
        fn = tc; /* {"name":..., "arguments":...} without the wrapper */
    if (!json_is_object(fn))
        return lc_fail(e, LLAMAC_E_FORMAT, "%s: missing \"function\" object", where);
    const json_t *name = json_object_get(fn, "name");
    if (!json_is_string(name) || json_string_length(name) == 0)
        return lc_fail(e, LLAMAC_E_FORMAT, "%s: missing or empty function \"name\"", where);
    const json_t *args = json_object_get(fn, "arguments");
    if (!args)
        args = json_object_get(fn, "parameters");
    json_t *obj = NULL;
    if (!args || json_is_null(args)) {
        obj = json_object();
    } else if (json_is_object(args)) {
        obj = json_incref((json_t *)args);
    } else if (json_is_string(args)) {
        json_error_t je;
        obj = json_loadb(json_string_value(args), json_string_length(args), 0, &je);
        if (!obj)
            return lc_fail(e, LLAMAC_E_FORMAT, "%s: \"arguments\" is not valid JSON: %s (at character %d)", where,
                           je.text, je.position);
        if (!json_is_object(obj)) {
            json_decref(obj);
            return lc_fail(e, LLAMAC_E_FORMAT, "%s: \"arguments\" must hold a JSON object", where);
        }
    } else {
        return lc_fail(e, LLAMAC_E_FORMAT, "%s: \"arguments\" must be an object or a JSON string, not %s", where,
                       json_type_name(args));
    }
    const json_t *id = json_object_get(tc, "id");
    if (id && !json_is_null(id) && !json_is_string(id)) {
        json_decref(obj);
        return lc_fail(e, LLAMAC_E_FORMAT, "%s: \"id\" must be a string", where);
    }
    call->name = dup_mem(json_string_value(name), json_string_length(name));
    call->arguments = obj;
    if (json_is_string(id) && !(call->id = dup_mem(json_string_value(id), json_string_length(id))))
        return lc_fail(e, LLAMAC_E_NOMEM, "%s: out of memory", where);
    if (!obj || !call->name)
        return lc_fail(e, LLAMAC_E_NOMEM, "%s: out of memory", where);
    return LLAMAC_OK;
}

/* Parses a message object into *m (cleared on error). */
static llamac_status parse_message(const json_t *jm, lc_chat_msg *m, const char *where, lc_err *e)
{
    char sub[96];
    llamac_status st;
    memset(m, 0, sizeof *m);
    if (!json_is_object(jm))
        return lc_fail(e, LLAMAC_E_FORMAT, "%s: a message must be an object, not %s", where, json_type_name(jm));
    const json_t *role = json_object_get(jm, "role");
    if (!json_is_string(role))
        return lc_fail(e, LLAMAC_E_FORMAT, "%s: missing \"role\" (a string)", where);
    m->role = parse_role(json_string_value(role));
    if (m->role < 0)
        return lc_fail(e, LLAMAC_E_FORMAT,
                       "%s: unknown role '%.40s' (expected system, user, assistant, tool or ipython)", where,
                       json_string_value(role));
    const int is_tool = m->role == LC_ROLE_TOOL || m->role == LC_ROLE_IPYTHON;

    const json_t *calls = json_object_get(jm, "tool_calls");
    if (calls && !json_is_null(calls) && !(json_is_array(calls) && json_array_size(calls) == 0)) {
        if (m->role != LC_ROLE_ASSISTANT)
            return lc_fail(e, LLAMAC_E_FORMAT, "%s: only assistant messages may have \"tool_calls\"", where);
        if (!json_is_array(calls))
            return lc_fail(e, LLAMAC_E_FORMAT, "%s: \"tool_calls\" must be an array", where);
        size_t n = json_array_size(calls);
        m->calls = calloc(n, sizeof *m->calls);
        if (!m->calls)
            return lc_fail(e, LLAMAC_E_NOMEM, "%s: out of memory", where);
        for (size_t i = 0; i < n; i++) {
            snprintf(sub, sizeof sub, "%s.tool_calls[%zu]", where, i);
            m->n_calls = (int)i + 1;
            if ((st = parse_call(json_array_get(calls, i), &m->calls[i], sub, e))) {
                lc_chat_msg_clear(m);
                return st;
            }
        }
    }

    const json_t *content = json_object_get(jm, "content");
    int bad;
    lc_buf text = {0};
    if (!content || json_is_null(content)) {
        if (m->n_calls == 0) {
            lc_chat_msg_clear(m);
            return lc_fail(e, LLAMAC_E_FORMAT, "%s: missing \"content\"", where);
        }
    } else if (json_is_string(content)) {
        lc_buf_put(&text, json_string_value(content), json_string_length(content));
        m->has_content = 1;
    } else if (text_parts(content, &bad)) {
        for (size_t i = 0; i < json_array_size(content); i++) {
            const json_t *t = json_object_get(json_array_get(content, i), "text");
            if (i)
                lc_buf_putc(&text, '\n');
            lc_buf_put(&text, json_string_value(t), json_string_length(t));
        }
        m->has_content = 1;
    } else if (!is_tool && json_is_array(content) && json_array_size(content) == 0) {
        m->has_content = 1; /* no parts: empty text */
    } else if (is_tool && (json_is_object(content) || json_is_array(content))) {
        m->content_json = json_incref((json_t *)content);
        m->has_content = 1;
    } else {
        lc_chat_msg_clear(m);
        if (json_is_array(content))
            return lc_fail(e, LLAMAC_E_FORMAT,
                           "%s: content[%d] is not a {\"type\":\"text\",\"text\":...} part (only text is supported)",
                           where, bad);
        return lc_fail(e, LLAMAC_E_FORMAT, "%s: \"content\" must be a string or an array of text parts, not %s",
                       where, json_type_name(content));
    }
    if (!text.p)
        lc_buf_put(&text, "", 0);
    if (text.oom) {
        lc_buf_free(&text);
        lc_chat_msg_clear(m);
        return lc_fail(e, LLAMAC_E_NOMEM, "%s: out of memory", where);
    }
    if (strlen(text.p) != text.len) {
        lc_buf_free(&text);
        lc_chat_msg_clear(m);
        return lc_fail(e, LLAMAC_E_FORMAT, "%s: content contains a NUL character", where);
    }
    m->content = text.p;
    m->content_len = text.len;
    const json_t *tcid = json_object_get(jm, "tool_call_id");
    if (is_tool && json_is_string(tcid) &&
        !(m->tool_call_id = dup_mem(json_string_value(tcid), json_string_length(tcid)))) {
        lc_chat_msg_clear(m);
        return lc_fail(e, LLAMAC_E_NOMEM, "%s: out of memory", where);
    }
    return LLAMAC_OK;
}

/* Tool definitions are rendered into the prompt as indented JSON (4 spaces per level), so deep nesting costs
 * quadratic text: both are bounded before anything is rendered. */
#define TOOLS_MAX_DEPTH 64
#define TOOLS_MAX_TEXT ((size_t)1 << 20) /* about 250k tokens, more than any Llama 3 context */

/* Adds an upper bound of v's rendered size to *total; 1 when past TOOLS_MAX_TEXT (stops early), -1 when nested
 * deeper than TOOLS_MAX_DEPTH. */
static int tools_weight(const json_t *v, int level, size_t *total)
{
    if (level > TOOLS_MAX_DEPTH)
        return -1;
    *total += 4 * (size_t)level + 2;
    if (json_is_object(v)) {
        const char *k;
        json_t *x;
        json_object_foreach((json_t *)v, k, x) {
            *total += strlen(k) + 4;
            int r = tools_weight(x, level + 1, total);
            if (r)
                return r;
        }
    } else if (json_is_array(v)) {
        for (size_t i = 0; i < json_array_size(v); i++) {
            int r = tools_weight(json_array_get(v, i), level + 1, total);
            if (r)
                return r;
        }
    } else if (json_is_string(v)) {
        *total += json_string_length(v) + 2;
    } else {
        *total += 24;
    }
    return *total > TOOLS_MAX_TEXT;
}

static llamac_status parse_tools(const json_t *tools, json_t **out, lc_err *e)
{
    *out = NULL;
    if (!tools || json_is_null(tools))
        return LLAMAC_OK;
    if (!json_is_array(tools))
        return lc_fail(e, LLAMAC_E_FORMAT, "\"tools\" must be an array, not %s", json_type_name(tools));
    size_t weight = 0;
    int w = tools_weight(tools, 0, &weight);
    if (w < 0)
        return lc_fail(e, LLAMAC_E_FORMAT, "the tool definitions are nested more than %d levels deep", TOOLS_MAX_DEPTH);
    if (w > 0)
        return lc_fail(e, LLAMAC_E_FORMAT, "the tool definitions would take more than %zu bytes of prompt text",
                       TOOLS_MAX_TEXT);
    for (size_t i = 0; i < json_array_size(tools); i++) {
        const json_t *t = json_array_get(tools, i), *fn = t;
        if (!json_is_object(t))
            return lc_fail(e, LLAMAC_E_FORMAT, "tools[%zu]: a tool must be an object, not %s", i, json_type_name(t));
        const json_t *type = json_object_get(t, "type");
        if (type) {
            if (!json_is_string(type) || strcmp(json_string_value(type), "function"))
                return lc_fail(e, LLAMAC_E_FORMAT, "tools[%zu]: unsupported tool type (only \"function\")", i);
            fn = json_object_get(t, "function");
            if (!json_is_object(fn))
                return lc_fail(e, LLAMAC_E_FORMAT, "tools[%zu]: missing \"function\" object", i);
        }
        const json_t *name = json_object_get(fn, "name"), *desc = json_object_get(fn, "description"),
                     *params = json_object_get(fn, "parameters");
        if (!json_is_string(name) || json_string_length(name) == 0)
            return lc_fail(e, LLAMAC_E_FORMAT, "tools[%zu]: missing or empty function \"name\"", i);
        if (desc && !json_is_string(desc))
            return lc_fail(e, LLAMAC_E_FORMAT, "tools[%zu] (%s): \"description\" must be a string", i,
                           json_string_value(name));
        if (params && !json_is_object(params))
            return lc_fail(e, LLAMAC_E_FORMAT, "tools[%zu] (%s): \"parameters\" must be an object (a JSON schema)",
                           i, json_string_value(name));
    }
    if (json_array_size(tools) > 0)
        *out = json_incref((json_t *)tools);
    return LLAMAC_OK;
}

static llamac_status parse_builtin(const json_t *b, char ***out, int *n_out, lc_err *e)
{
    *out = NULL;
    *n_out = 0;
    if (!b || json_is_null(b))
        return LLAMAC_OK;
    if (!json_is_array(b))
        return lc_fail(e, LLAMAC_E_FORMAT, "\"builtin_tools\" must be an array of names");
    size_t n = json_array_size(b);
    for (size_t i = 0; i < n; i++)
        if (!is_identifier(json_string_value(json_array_get(b, i))))
            return lc_fail(e, LLAMAC_E_FORMAT, "builtin_tools[%zu]: not a tool name (e.g. \"brave_search\")", i);
    if (n == 0)
        return LLAMAC_OK;
    char **names = calloc(n, sizeof *names);
    if (!names)
        return lc_fail(e, LLAMAC_E_NOMEM, "out of memory");
    for (size_t i = 0; i < n; i++)
        if (!(names[i] = strdup(json_string_value(json_array_get(b, i))))) {
            free_builtin(names, (int)n);
            return lc_fail(e, LLAMAC_E_NOMEM, "out of memory");
        }
    *out = names;
    *n_out = (int)n;
    return LLAMAC_OK;
}

static llamac_status push_msg(lc_chat *c, lc_chat_msg *m)
{
    lc_chat_msg *p = c->n_msgs < INT_MAX ? lc_array_reserve(c->msgs, sizeof *p, &c->cap_msgs, (size_t)c->n_msgs, 1)
                                          : NULL;
    if (!p)
        return lc_fail(&c->err, LLAMAC_E_NOMEM, "out of memory");
    c->msgs = p;
    c->msgs[c->n_msgs++] = *m;
    return LLAMAC_OK;
}

static json_t *load(const char *json, size_t len, const char *what, lc_err *e)
{
    json_error_t je;
    json_t *v = json_loadb(json, len, 0, &je);
    if (!v)
        lc_fail(e, LLAMAC_E_FORMAT, "%s is not valid JSON: %s (line %d, column %d)", what, je.text, je.line,
                je.column);
    return v;
}

/* ---------------------------------------------------------------------------------------------------------
 * Public API
 * ------------------------------------------------------------------------------------------------------- */
llamac_status llamac_chat_add_message(llamac_chat *chat, const char *role, const char *content)
{
    if (!chat)
        return LLAMAC_E_INVALID_ARG;
    chat->err.msg[0] = 0;
    if (!role || !content)
        return lc_fail(&chat->err, LLAMAC_E_INVALID_ARG, "add_message: NULL role or content");
    lc_chat_msg m = {0};
    m.role = parse_role(role);
    if (m.role < 0)
        return lc_fail(&chat->err, LLAMAC_E_INVALID_ARG,
                       "unknown role '%.40s' (expected system, user, assistant, tool or ipython)", role);
    size_t n = strlen(content);
    if (!utf8_valid((const unsigned char *)content, n))
        return lc_fail(&chat->err, LLAMAC_E_INVALID_ARG, "message content is not valid UTF-8");
    m.content = dup_mem(content, n);
    if (!m.content)
        return lc_fail(&chat->err, LLAMAC_E_NOMEM, "out of memory");
    m.content_len = n;
    m.has_content = 1;
    llamac_status st = push_msg(chat, &m);
    if (st)
        lc_chat_msg_clear(&m);
    else
        lc_chat_mark_dirty(chat, chat->n_msgs - 1);
    return st;
}

llamac_status llamac_chat_add_message_json(llamac_chat *chat, const char *json, size_t len)
{
    if (!chat)
        return LLAMAC_E_INVALID_ARG;
    chat->err.msg[0] = 0;
    if (!json)
        return lc_fail(&chat->err, LLAMAC_E_INVALID_ARG, "add_message_json: NULL text");
    json_t *v = load(json, len, "the message", &chat->err);
    if (!v)
        return LLAMAC_E_FORMAT;
    char where[32];
    snprintf(where, sizeof where, "message %d", chat->n_msgs);
    lc_chat_msg m;
    llamac_status st = parse_message(v, &m, where, &chat->err);
    json_decref(v);
    if (st)
        return st;
    if ((st = push_msg(chat, &m)))
        lc_chat_msg_clear(&m);
    else
        lc_chat_mark_dirty(chat, chat->n_msgs - 1);
    return st;
}

llamac_status llamac_chat_load_json(llamac_chat *chat, const char *json, size_t len)
{
    if (!chat)
        return LLAMAC_E_INVALID_ARG;
    chat->err.msg[0] = 0;
    if (!json)
        return lc_fail(&chat->err, LLAMAC_E_INVALID_ARG, "load_json: NULL text");
    json_t *root = load(json, len, "the messages file", &chat->err);
    if (!root)
        return LLAMAC_E_FORMAT;
    lc_chat tmp = {0};
    llamac_status st = LLAMAC_OK;
    const json_t *msgs = json_object_get(root, "messages");
    if (!json_is_object(root)) {
        st = lc_fail(&chat->err, LLAMAC_E_FORMAT, "the messages file must hold an object {\"messages\": [...]}");
        goto done;
    }
    if (!json_is_array(msgs)) {
        st = lc_fail(&chat->err, LLAMAC_E_FORMAT, "missing \"messages\" array");
        goto done;
    }
    for (size_t i = 0; i < json_array_size(msgs); i++) {
        char where[32];
        snprintf(where, sizeof where, "messages[%zu]", i);
        lc_chat_msg m;
        if ((st = parse_message(json_array_get(msgs, i), &m, where, &chat->err)))
            goto done;
        if ((st = push_msg(&tmp, &m))) {
            lc_chat_msg_clear(&m);
            snprintf(chat->err.msg, sizeof chat->err.msg, "%s", tmp.err.msg);
            goto done;
        }
    }
    if ((st = parse_tools(json_object_get(root, "tools"), &tmp.tools, &chat->err)))
        goto done;
    if ((st = parse_builtin(json_object_get(root, "builtin_tools"), &tmp.builtin, &tmp.n_builtin, &chat->err)))
        goto done;
    chat_clear(chat);
    chat->msgs = tmp.msgs;
    chat->n_msgs = tmp.n_msgs;
    chat->cap_msgs = tmp.cap_msgs;
    chat->tools = tmp.tools;
    chat->builtin = tmp.builtin;
    chat->n_builtin = tmp.n_builtin;
    lc_chat_mark_dirty(chat, 0);
    json_decref(root);
    return LLAMAC_OK;
done:
    chat_clear(&tmp);
    json_decref(root);
    return st;
}

llamac_status llamac_chat_set_tools_json(llamac_chat *chat, const char *json, size_t len)
{
    if (!chat)
        return LLAMAC_E_INVALID_ARG;
    chat->err.msg[0] = 0;
    json_t *v = NULL, *tools = NULL;
    if (json) {
        if (!(v = load(json, len, "the tools", &chat->err)))
            return LLAMAC_E_FORMAT;
    }
    llamac_status st = parse_tools(v, &tools, &chat->err);
    json_decref(v);
    if (st)
        return st;
    json_decref(chat->tools);
    chat->tools = tools;
    lc_chat_mark_dirty(chat, 0);
    return LLAMAC_OK;
}

llamac_status llamac_chat_set_builtin_tools(llamac_chat *chat, const char *const *names, int n)
{
    if (!chat)
        return LLAMAC_E_INVALID_ARG;
    chat->err.msg[0] = 0;
    if (n < 0 || (n > 0 && !names))
        return lc_fail(&chat->err, LLAMAC_E_INVALID_ARG, "set_builtin_tools: bad arguments");
    json_t *arr = json_array();
    if (!arr)
        return lc_fail(&chat->err, LLAMAC_E_NOMEM, "out of memory");
    for (int i = 0; i < n; i++) {
        json_t *s = names[i] ? json_string(names[i]) : NULL;
        if (!s || json_array_append_new(arr, s)) {
            json_decref(arr);
            return lc_fail(&chat->err, LLAMAC_E_INVALID_ARG, "set_builtin_tools: name %d is NULL or not UTF-8", i);
        }
    }
    char **out;
    int n_out;
    llamac_status st = parse_builtin(arr, &out, &n_out, &chat->err);
    json_decref(arr);
    if (st)
        return st;
    free_builtin(chat->builtin, chat->n_builtin);
    chat->builtin = out;
    chat->n_builtin = n_out;
    lc_chat_mark_dirty(chat, 0);
    return LLAMAC_OK;
}
