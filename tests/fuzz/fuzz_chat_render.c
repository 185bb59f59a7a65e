/*
 * fuzz_chat_render.c — libFuzzer target for the chat renderer (src/chat/render.c, textutil.c: the Llama 3.x
 * formats, tool definitions as indented JSON, tool calls and results) and prompt tokenization
 * (llamac_chat_prompt_tokens). The input builds a conversation: byte 0 picks the format and options, byte 1
 * the first message to render, then records separated by NUL bytes, each starting with a kind byte: a message of
 * one of the five roles with the rest as content, an OpenAI message object, a tool-definition array, or
 * comma-separated built-in tool names. Oracles: a refusal has a message; the segments joined equal the prompt
 * text; every token id is in range.
 */
#include "fuzz_util.h"

static void add_record(llamac_chat *c, const char *r, size_t n)
{
    static const char *const roles[] = {"system", "user", "assistant", "tool", "ipython"};
    if (n == 0)
        return;
    unsigned kind = (unsigned char)r[0] % 8;
    const char *p = r + 1;
    size_t len = n - 1;
    char *s = malloc(len + 1);
    if (!s)
        return;
    memcpy(s, p, len);
    s[len] = 0;
    if (kind < 5) {
        llamac_chat_add_message(c, roles[kind], s);
    } else if (kind == 5) {
        llamac_chat_add_message_json(c, s, len);
    } else if (kind == 6) {
        llamac_chat_set_tools_json(c, s, len);
    } else {
        const char *names[8];
        int k = 0;
        for (char *t = strtok(s, ","); t && k < 8; t = strtok(NULL, ","))
            names[k++] = t;
        llamac_chat_set_builtin_tools(c, names, k);
    }
    free(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2 || size > 1 << 16)
        return 0;
    static const llamac_chat_format formats[] = {LLAMAC_CHAT_LLAMA3_0, LLAMAC_CHAT_LLAMA3_1, LLAMAC_CHAT_LLAMA3_2,
                                                 LLAMAC_CHAT_LLAMA3_3};
    llamac_chat *c = NULL;
    if (llamac_chat_create(&c) != LLAMAC_OK)
        return 0;
    const char *s = (const char *)data + 2, *end = (const char *)data + size;
    while (s < end) {
        const char *z = memchr(s, 0, (size_t)(end - s));
        size_t n = z ? (size_t)(z - s) : (size_t)(end - s);
        add_record(c, s, n);
        s += n + 1;
    }
    llamac_chat_params p = llamac_chat_default_params(formats[data[0] & 3]);
    p.date = "26 Jul 2024";
    p.tools_in_user_message = (data[0] >> 2) & 1;
    p.add_generation_prompt = (data[0] >> 3) & 1;
    p.tool_content_raw = (data[0] >> 4) & 1;
    const int n_msgs = llamac_chat_n_messages(c);
    const int first = data[1] % (n_msgs + 1);
    llamac_chat_prompt *pr = NULL;
    llamac_status st = llamac_chat_render(c, &p, first, &pr);
    if (st) {
        FUZZ_CHECK(!pr && llamac_chat_error(c)[0], "render refused (status %d) without a message", st);
    } else {
        size_t text_len;
        const char *text = llamac_chat_prompt_text(pr, &text_len);
        size_t at = 0;
        for (int i = 0; i < llamac_chat_prompt_n_segments(pr); i++) {
            llamac_chat_segment seg;
            FUZZ_CHECK(llamac_chat_prompt_segment(pr, i, &seg) == LLAMAC_OK, "segment %d", i);
            FUZZ_CHECK(at + seg.len <= text_len && !memcmp(text + at, seg.text, seg.len),
                       "segment %d differs from the prompt text", i);
            FUZZ_CHECK(seg.message >= first && seg.message <= n_msgs, "segment %d of message %d", i, seg.message);
            at += seg.len;
        }
        FUZZ_CHECK(at == text_len, "segments cover %zu of %zu bytes", at, text_len);
        const llamac_tokenizer *tok = fuzz_tokenizer();
        llamac_tokenizer_info info;
        llamac_tokenizer_get_info(tok, &info);
        llamac_tokens ids = {0};
        char err[256] = "";
        st = llamac_chat_prompt_tokens(pr, tok, &ids, err, sizeof err);
        if (st)
            FUZZ_CHECK(err[0] && ids.n == 0, "prompt tokens refused (status %d) without a message", st);
        for (size_t i = 0; i < ids.n; i++)
            FUZZ_CHECK(ids.ids[i] >= 0 && ids.ids[i] < info.n_vocab, "id %d out of range", ids.ids[i]);
        llamac_tokens_free(&ids);
    }
    llamac_chat_prompt_free(pr);
    llamac_chat_free(c);
    return 0;
}
