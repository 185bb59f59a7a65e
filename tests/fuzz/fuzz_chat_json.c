/*
 * fuzz_chat_json.c — libFuzzer target for the chat JSON loader (src/chat/messages.c: llamac_chat_load_json,
 * llamac_chat_add_message_json, llamac_chat_set_tools_json and the tool-definition checks) and the JSON export
 * (src/chat/export.c). The first byte picks the entry point, the rest is the document. Oracles: a refusal has a
 * message and leaves the chat as it was; an accepted conversation dumps to JSON that loads back and dumps to the
 * same text (the export is a fixed point), and it renders in every format (or is refused with a message).
 */
#include "fuzz_util.h"

static char *dump(const llamac_chat *c)
{
    char *s = NULL;
    FUZZ_CHECK(llamac_chat_dump_json(c, &s) == LLAMAC_OK && s, "dump failed");
    return s;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > 1 << 18)
        return 0;
    llamac_chat *c = NULL;
    if (llamac_chat_create(&c) != LLAMAC_OK)
        return 0;
    llamac_chat_add_message(c, "user", "before");
    char *before = dump(c);
    const char *json = (const char *)data + 1;
    size_t len = size - 1;
    llamac_status st;
    switch (data[0] % 3) {
    case 0: st = llamac_chat_load_json(c, json, len); break;
    case 1: st = llamac_chat_add_message_json(c, json, len); break;
    default: st = llamac_chat_set_tools_json(c, json, len); break;
    }
    char *after = dump(c);
    if (st) {
        FUZZ_CHECK(llamac_chat_error(c)[0], "refused without a message (status %d)", st);
        FUZZ_CHECK(!strcmp(before, after), "a refused document changed the chat");
    } else {
        llamac_chat *c2 = NULL;
        if (llamac_chat_create(&c2) == LLAMAC_OK) {
            st = llamac_chat_load_json(c2, after, strlen(after));
            FUZZ_CHECK(st == LLAMAC_OK, "export does not load back: %s\n%s", llamac_chat_error(c2), after);
            char *again = dump(c2);
            FUZZ_CHECK(!strcmp(after, again), "export is not a fixed point:\n%s\n%s", after, again);
            free(again);
            llamac_chat_free(c2);
        }
        static const llamac_chat_format formats[] = {LLAMAC_CHAT_LLAMA3_0, LLAMAC_CHAT_LLAMA3_1, LLAMAC_CHAT_LLAMA3_2,
                                                     LLAMAC_CHAT_LLAMA3_3};
        for (size_t f = 0; f < sizeof formats / sizeof formats[0]; f++) {
            llamac_chat_params p = llamac_chat_default_params(formats[f]);
            p.date = "26 Jul 2024";
            llamac_chat_prompt *pr = NULL;
            st = llamac_chat_render(c, &p, 0, &pr);
            FUZZ_CHECK(st == LLAMAC_OK ? pr != NULL : llamac_chat_error(c)[0] != 0,
                       "render: status %d without a message or a prompt", st);
            llamac_chat_prompt_free(pr);
        }
    }
    free(before);
    free(after);
    llamac_chat_free(c);
    return 0;
}
