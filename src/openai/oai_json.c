/*
 * oai_json.c — the small JSON pieces of the OpenAI API that requests, responses and streams share: error
 * bodies, strings from text that may hold invalid UTF-8 (token pieces cut a character in two), logprob entries,
 * usage, and the one-line bodies of /v1/models, /tokenize and /detokenize.
 *
 * Invariant: every string handed to jansson went through lc_oai_string, so a dump never fails on bad UTF-8.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "openai/oai_internal.h"
#include "util/buf.h"

llamac_status llamac_oai_fail(llamac_oai_error *e, int status, const char *type, const char *code,
                              const char *param, const char *fmt, ...)
{
    if (!e)
        return LLAMAC_E_INVALID_ARG;
    e->status = status;
    e->type = type ? type : "invalid_request_error";
    e->code = code;
    snprintf(e->param, sizeof e->param, "%s", param ? param : "");
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->message, sizeof e->message, fmt, ap);
    va_end(ap);
    return LLAMAC_E_INVALID_ARG;
}

static json_t *error_object(const llamac_oai_error *e)
{
    json_t *o = json_object();
    json_object_set_new(o, "message", lc_oai_string(e->message, strlen(e->message)));
    json_object_set_new(o, "type", json_string(e->type ? e->type : "server_error"));
    json_object_set_new(o, "param", e->param[0] ? lc_oai_string(e->param, strlen(e->param)) : json_null());
    json_object_set_new(o, "code", e->code ? json_string(e->code) : json_null());
    json_t *root = json_object();
    json_object_set_new(root, "error", o);
    return root;
}

char *llamac_oai_error_json(const llamac_oai_error *e)
{
    if (!e)
        return NULL;
    return lc_oai_dump(error_object(e));
}

char *llamac_oai_stream_error(const llamac_oai_error *e)
{
    char *js = llamac_oai_error_json(e);
    if (!js)
        return NULL;
    lc_buf b = {0};
    lc_buf_printf(&b, "data: %s\n\ndata: [DONE]\n\n", js);
    free(js);
    if (b.oom) {
        lc_buf_free(&b);
        return NULL;
    }
    return b.p;
}

/* Length of the valid UTF-8 character at s[0..n), or 0 when it is not one (overlong forms, surrogates and
 * code points above U+10FFFF are invalid, as jansson requires). */
static size_t utf8_char_len(const unsigned char *s, size_t n)
{
    unsigned c = s[0];
    size_t len;
    unsigned cp;
    if (c < 0x80)
        return 1;
    if (c >= 0xC2 && c <= 0xDF) {
        len = 2;
        cp = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        cp = c & 0x0F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        cp = c & 0x07;
    } else {
        return 0;
    }
    if (n < len)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3F);
    }
    if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)) ||
        (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return len;
}

json_t *lc_oai_string(const char *s, size_t len)
{
    if (!s)
        return json_string("");
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0;
    int clean = 1;
    while (i < len) {
        size_t k = utf8_char_len(u + i, len - i);
        if (!k) {
            clean = 0;
            break;
        }
        i += k;
    }
    if (clean)
        return json_stringn(s, len);
    lc_buf b = {0};
    for (i = 0; i < len;) {
        size_t k = utf8_char_len(u + i, len - i);
        if (k) {
            lc_buf_put(&b, s + i, k); /* NUL included: jansson strings may hold it (dumped as \u0000) */
            i += k;
        } else {
            lc_buf_puts(&b, "\xEF\xBF\xBD");
            i++;
        }
    }
    json_t *v = b.oom ? NULL : json_stringn(b.p ? b.p : "", b.len);
    lc_buf_free(&b);
    return v;
}

char *lc_oai_dump(json_t *v)
{
    if (!v)
        return NULL;
    char *s = json_dumps(v, JSON_COMPACT | JSON_REAL_PRECISION(9));
    json_decref(v);
    return s;
}

double lc_oai_logprob_value(float lp)
{
    if (isnan(lp))
        return -9999.0;
    return lp < -9999.0f ? -9999.0 : (double)lp;
}

static json_t *bytes_array(const char *s, size_t len)
{
    json_t *a = json_array();
    for (size_t i = 0; i < len; i++)
        json_array_append_new(a, json_integer((unsigned char)s[i]));
    return a;
}

static json_t *token_entry(llamac_token_logprob t, const llamac_tokenizer *tok)
{
    size_t len = 0;
    const char *piece = tok ? llamac_token_piece(tok, t.token, &len) : NULL;
    json_t *o = json_object();
    json_object_set_new(o, "token", lc_oai_string(piece ? piece : "", piece ? len : 0));
    json_object_set_new(o, "logprob", json_real(lc_oai_logprob_value(t.logprob)));
    json_object_set_new(o, "bytes", bytes_array(piece, piece ? len : 0));
    return o;
}

int lc_oai_lp_is_end(const llamac_oai_logprob *lp, const llamac_tokenizer *tok, int ignore_eos)
{
    return lp && tok && !ignore_eos && llamac_token_is_stop(tok, lp->chosen.token);
}

json_t *lc_oai_chat_logprob(const llamac_oai_logprob *lp, const llamac_tokenizer *tok)
{
    json_t *o = token_entry(lp->chosen, tok), *top = json_array();
    for (int i = 0; i < lp->n_top && i < LLAMAC_MAX_TOP_LOGPROBS; i++)
        if (lp->top[i].token >= 0)
            json_array_append_new(top, token_entry(lp->top[i], tok));
    json_object_set_new(o, "top_logprobs", top);
    return o;
}

json_t *lc_oai_completion_logprobs_new(void)
{
    json_t *o = json_object();
    json_object_set_new(o, "tokens", json_array());
    json_object_set_new(o, "token_logprobs", json_array());
    json_object_set_new(o, "top_logprobs", json_array());
    json_object_set_new(o, "text_offset", json_array());
    return o;
}

void lc_oai_completion_logprobs_add(json_t *obj, const llamac_oai_logprob *lp, const llamac_tokenizer *tok,
                                    int64_t *offset)
{
    size_t len = 0;
    const char *piece = tok ? llamac_token_piece(tok, lp->chosen.token, &len) : NULL;
    json_array_append_new(json_object_get(obj, "tokens"), lc_oai_string(piece ? piece : "", piece ? len : 0));
    json_array_append_new(json_object_get(obj, "token_logprobs"),
                          json_real(lc_oai_logprob_value(lp->chosen.logprob)));
    json_t *top = json_object();
    for (int i = 0; i < lp->n_top && i < LLAMAC_MAX_TOP_LOGPROBS; i++) {
        size_t tl = 0;
        const char *tp = lp->top[i].token >= 0 && tok ? llamac_token_piece(tok, lp->top[i].token, &tl) : NULL;
        json_t *key = tp ? lc_oai_string(tp, tl) : NULL;
        if (key && json_string_length(key) == strlen(json_string_value(key)))
            json_object_set_new(top, json_string_value(key), json_real(lc_oai_logprob_value(lp->top[i].logprob)));
        json_decref(key);
    }
    json_array_append_new(json_object_get(obj, "top_logprobs"), top);
    json_array_append_new(json_object_get(obj, "text_offset"), json_integer(*offset));
    *offset += (int64_t)len;
}

json_t *lc_oai_usage_json(const llamac_oai_usage *u)
{
    json_t *o = json_object();
    json_object_set_new(o, "prompt_tokens", json_integer(u->prompt_tokens));
    json_object_set_new(o, "completion_tokens", json_integer(u->completion_tokens));
    json_object_set_new(o, "total_tokens", json_integer(u->prompt_tokens + u->completion_tokens));
    json_t *d = json_object();
    json_object_set_new(d, "cached_tokens", json_integer(u->cached_tokens));
    json_object_set_new(o, "prompt_tokens_details", d);
    return o;
}

json_t *lc_oai_tool_calls(const char *tool_calls)
{
    if (!tool_calls)
        return NULL;
    json_t *v = json_loads(tool_calls, 0, NULL);
    if (!json_is_array(v)) {
        json_decref(v);
        return NULL;
    }
    return v;
}

const char *llamac_oai_finish_reason(llamac_finish f)
{
    switch (f) {
    case LLAMAC_FINISH_LENGTH:
    case LLAMAC_FINISH_CONTEXT:
        return "length";
    case LLAMAC_FINISH_TOOL_CALLS:
        return "tool_calls";
    case LLAMAC_FINISH_ERROR:
        return "error";
    default:
        return "stop";
    }
}

char *llamac_oai_models_json(const char *model, int64_t created)
{
    json_t *m = json_object();
    json_object_set_new(m, "id", lc_oai_string(model ? model : "", model ? strlen(model) : 0));
    json_object_set_new(m, "object", json_string("model"));
    json_object_set_new(m, "created", json_integer(created));
    json_object_set_new(m, "owned_by", json_string("llamac"));
    json_t *data = json_array();
    json_array_append_new(data, m);
    json_t *root = json_object();
    json_object_set_new(root, "object", json_string("list"));
    json_object_set_new(root, "data", data);
    return lc_oai_dump(root);
}

char *llamac_oai_tokens_json(const int32_t *tokens, int64_t n)
{
    json_t *a = json_array();
    for (int64_t i = 0; i < n; i++)
        json_array_append_new(a, json_integer(tokens[i]));
    json_t *root = json_object();
    json_object_set_new(root, "tokens", a);
    return lc_oai_dump(root);
}

char *llamac_oai_content_json(const char *text, size_t len)
{
    json_t *root = json_object();
    json_object_set_new(root, "content", lc_oai_string(text, len));
    return lc_oai_dump(root);
}
