/*
 * detect.c — which Llama 3 chat format a model file uses, from its metadata: tokenizer.chat_template first
 * (recognised by distinctive substrings of the Meta/HF templates), then special-token names in
 * tokenizer.ggml.tokens (<|eom_id|> / <|python_tag|> exist from 3.1 on), then general.name ("Llama-3.2-3B...").
 *
 * A template that is present but not a Llama 3 template always yields LLAMAC_CHAT_UNKNOWN: such a model was
 * trained on another format even if its vocabulary is Llama 3's. The caller decides whether to fall back.
 */
#include <stdio.h>
#include <string.h>

#include "chat/chat_internal.h"
#include "gguf/gguf.h"

const char *llamac_chat_format_name(llamac_chat_format format)
{
    switch (format) {
    case LLAMAC_CHAT_LLAMA3_0: return "llama3";
    case LLAMAC_CHAT_LLAMA3_1: return "llama3.1";
    case LLAMAC_CHAT_LLAMA3_2: return "llama3.2";
    case LLAMAC_CHAT_LLAMA3_3: return "llama3.3";
    case LLAMAC_CHAT_UNKNOWN: break;
    }
    return "unknown";
}

static int lower(int c)
{
    return c >= 'A' && c <= 'Z' ? c + 32 : c;
}

llamac_chat_format llamac_chat_format_parse(const char *name)
{
    if (!name)
        return LLAMAC_CHAT_UNKNOWN;
    const char *p = name;
    if (lower(p[0]) == 'l' && lower(p[1]) == 'l' && lower(p[2]) == 'a' && lower(p[3]) == 'm' && lower(p[4]) == 'a') {
        p += 5;
        if (*p == '-' || *p == '_' || *p == ' ')
            p++;
    }
    if (!strcmp(p, "3") || !strcmp(p, "3.0"))
        return LLAMAC_CHAT_LLAMA3_0;
    if (!strcmp(p, "3.1"))
        return LLAMAC_CHAT_LLAMA3_1;
    if (!strcmp(p, "3.2"))
        return LLAMAC_CHAT_LLAMA3_2;
    if (!strcmp(p, "3.3"))
        return LLAMAC_CHAT_LLAMA3_3;
    return LLAMAC_CHAT_UNKNOWN;
}

static int has(const char *s, size_t n, const char *needle)
{
    return memmem(s, n, needle, strlen(needle)) != NULL;
}

llamac_chat_format llamac_chat_detect_template(const char *t, size_t n)
{
    if (!t)
        return LLAMAC_CHAT_UNKNOWN;
    if (!has(t, n, "<|start_header_id|>") || !has(t, n, "<|end_header_id|>") || !has(t, n, "<|eot_id|>"))
        return LLAMAC_CHAT_UNKNOWN;
    if (has(t, n, "Cutting Knowledge Date")) {
        if (has(t, n, "builtin_tools"))
            return LLAMAC_CHAT_LLAMA3_1; /* 3.1 and 3.3 share this template */
        if (has(t, n, "strftime_now"))
            return LLAMAC_CHAT_LLAMA3_2;
        return LLAMAC_CHAT_LLAMA3_1;
    }
    return LLAMAC_CHAT_LLAMA3_0;
}

/* general.name -> Llama 3 version: "Meta Llama 3.1 8B Instruct", "Llama-3.2-1B", "Meta-Llama-3-8B-Instruct". */
static llamac_chat_format format_from_name(const char *s)
{
    for (const char *p = s; *p; p++) {
        if (!(lower(p[0]) == 'l' && lower(p[1]) == 'l' && lower(p[2]) == 'a' && lower(p[3]) == 'm' &&
              lower(p[4]) == 'a'))
            continue;
        const char *q = p + 5;
        if (*q == '-' || *q == '_' || *q == ' ')
            q++;
        if (*q != '3')
            continue;
        q++;
        if (*q >= '0' && *q <= '9') /* "llama-30b" */
            continue;
        if ((*q == '.' || *q == '_') && q[1] >= '0' && q[1] <= '9' && !(q[2] >= '0' && q[2] <= '9')) {
            switch (q[1]) {
            case '0': return LLAMAC_CHAT_LLAMA3_0;
            case '1': return LLAMAC_CHAT_LLAMA3_1;
            case '2': return LLAMAC_CHAT_LLAMA3_2;
            case '3': return LLAMAC_CHAT_LLAMA3_3;
            default: return LLAMAC_CHAT_UNKNOWN; /* a later version: not one this code knows */
            }
        }
        return LLAMAC_CHAT_LLAMA3_0;
    }
    return LLAMAC_CHAT_UNKNOWN;
}

/* A short hint at what a foreign template is. */
static const char *foreign_hint(const char *t, size_t n)
{
    static const struct { const char *marker, *what; } k[] = {
        {"<|im_start|>", "it uses ChatML <|im_start|>"}, {"[INST]", "it uses [INST] (Llama 2 / Mistral)"},
        {"<start_of_turn>", "it uses Gemma's <start_of_turn>"}, {"<|user|>", "it uses <|user|> turns"},
        {"<｜User｜>", "it uses DeepSeek's <｜User｜>"}, {"<|start_header_id|>", "it lacks <|eot_id|>"},
    };
    for (size_t i = 0; i < sizeof k / sizeof k[0]; i++)
        if (has(t, n, k[i].marker))
            return k[i].what;
    return "no Llama 3 header tokens";
}

llamac_status llamac_chat_detect(const llamac_gguf *g, llamac_chat_detection *out)
{
    if (!g || !out)
        return LLAMAC_E_INVALID_ARG;
    memset(out, 0, sizeof *out);

    char name[128] = "";
    const lc_gguf_value *v = lc_gguf_get(g, "general.name");
    if (v && v->type == LC_GGUF_STRING)
        lc_gguf_str_copy(v->v.str, name, sizeof name);
    const llamac_chat_format by_name = name[0] ? format_from_name(name) : LLAMAC_CHAT_UNKNOWN;

    /* special-token names */
    int has_eom = 0, has_python = 0, has_eot = 0, has_header = 0;
    v = lc_gguf_get(g, "tokenizer.ggml.tokens");
    if (v && v->type == LC_GGUF_ARRAY && v->v.arr.elem_type == LC_GGUF_STRING) {
        for (uint64_t i = 0; i < v->v.arr.n; i++) {
            lc_gguf_str s = v->v.arr.items[i].v.str;
            if (s.len < 10 || s.len > 19 || s.ptr[0] != '<' || s.ptr[1] != '|')
                continue;
#define IS(lit) (s.len == sizeof(lit) - 1 && !memcmp(s.ptr, lit, s.len))
            has_eom |= IS("<|eom_id|>");
            has_python |= IS("<|python_tag|>");
            has_eot |= IS("<|eot_id|>");
            has_header |= IS("<|start_header_id|>");
#undef IS
        }
    }
    llamac_chat_format by_tokens = LLAMAC_CHAT_UNKNOWN;
    if (has_eot && has_header)
        by_tokens = (has_eom || has_python) ? LLAMAC_CHAT_LLAMA3_1 : LLAMAC_CHAT_LLAMA3_0;
    if (by_tokens == LLAMAC_CHAT_LLAMA3_1 && (by_name == LLAMAC_CHAT_LLAMA3_2 || by_name == LLAMAC_CHAT_LLAMA3_3))
        by_tokens = by_name;

    out->fallback = by_tokens ? by_tokens : by_name ? by_name : LLAMAC_CHAT_LLAMA3_1;

    v = lc_gguf_get(g, "tokenizer.chat_template");
    if (v && v->type == LC_GGUF_STRING) {
        out->has_template = 1;
        const char *t = v->v.str.ptr;
        size_t n = (size_t)v->v.str.len;
        llamac_chat_format f = llamac_chat_detect_template(t, n);
        if (f == LLAMAC_CHAT_UNKNOWN) {
            out->source = LLAMAC_CHAT_SRC_NONE;
            snprintf(out->message, sizeof out->message,
                     "the model's chat template is not a Llama 3 template (%s); Llama 3 formatting (%s) may not "
                     "match what the model was trained on", foreign_hint(t, n), llamac_chat_format_name(out->fallback));
            return LLAMAC_OK;
        }
        if (f == LLAMAC_CHAT_LLAMA3_1 && by_name == LLAMAC_CHAT_LLAMA3_3)
            f = LLAMAC_CHAT_LLAMA3_3;
        out->template_is_llama3 = 1;
        out->format = f;
        out->fallback = f;
        out->source = LLAMAC_CHAT_SRC_TEMPLATE;
        snprintf(out->message, sizeof out->message, "chat template recognised as %s%s",
                 llamac_chat_format_name(f), f == LLAMAC_CHAT_LLAMA3_3 ? " (3.1 template, general.name says 3.3)" : "");
        return LLAMAC_OK;
    }
    if (by_tokens) {
        out->format = by_tokens;
        out->source = LLAMAC_CHAT_SRC_SPECIAL_TOKENS;
        snprintf(out->message, sizeof out->message, "no chat template; special tokens (%s) say %s%s",
                 by_tokens == LLAMAC_CHAT_LLAMA3_0 ? "no <|eom_id|>/<|python_tag|>" : "<|eom_id|>/<|python_tag|>",
                 llamac_chat_format_name(by_tokens),
                 by_tokens >= LLAMAC_CHAT_LLAMA3_2 ? " (version from general.name)" : "");
        return LLAMAC_OK;
    }
    if (by_name) {
        out->format = by_name;
        out->source = LLAMAC_CHAT_SRC_NAME;
        snprintf(out->message, sizeof out->message,
                 "no chat template or Llama 3 special tokens; general.name '%s' says %s", name,
                 llamac_chat_format_name(by_name));
        return LLAMAC_OK;
    }
    out->source = LLAMAC_CHAT_SRC_NONE;
    snprintf(out->message, sizeof out->message,
             "no chat template, no Llama 3 special tokens and no Llama 3 name: the chat format is unknown");
    return LLAMAC_OK;
}
