/*
 * fuzz_toolcall.c — libFuzzer target for the tool-call parser (src/chat/toolcall.c and pythonic.c: JSON calls,
 * <function=...> tags, pythonic lists, built-in NAME.call(...), code) in every chat format. Any model output must
 * give OK (a call or an ordinary answer) or LLAMAC_E_FORMAT with a message; an accepted call list is a JSON array
 * of n_calls objects, each with a string "name" and an object "arguments".
 */
#include <jansson.h>

#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 1 << 16)
        return 0;
    static const llamac_chat_format formats[] = {LLAMAC_CHAT_LLAMA3_0, LLAMAC_CHAT_LLAMA3_1, LLAMAC_CHAT_LLAMA3_2,
                                                 LLAMAC_CHAT_LLAMA3_3};
    /* a copy of exactly size bytes, so reading past the end is caught */
    char *text = malloc(size ? size : 1);
    if (!text)
        return 0;
    memcpy(text, data, size);
    for (size_t f = 0; f < sizeof formats / sizeof formats[0]; f++) {
        llamac_tool_calls tc = {0};
        char err[256] = "";
        llamac_status st = llamac_chat_parse_tool_calls(formats[f], text, size, &tc, err, sizeof err);
        if (st) {
            FUZZ_CHECK(st == LLAMAC_E_FORMAT && err[0] && !tc.json, "status %d, message '%s'", st, err);
            continue;
        }
        if (tc.n_calls == 0) {
            FUZZ_CHECK(!tc.json, "no calls but JSON");
            continue;
        }
        FUZZ_CHECK(formats[f] != LLAMAC_CHAT_LLAMA3_0, "a tool call in Llama 3.0");
        json_error_t je;
        json_t *arr = json_loads(tc.json, 0, &je);
        FUZZ_CHECK(json_is_array(arr) && json_array_size(arr) == (size_t)tc.n_calls, "bad call list: %s", tc.json);
        for (size_t i = 0; i < json_array_size(arr); i++) {
            json_t *c = json_array_get(arr, i);
            FUZZ_CHECK(json_is_string(json_object_get(c, "name")) && json_is_object(json_object_get(c, "arguments")),
                       "call %zu malformed: %s", i, tc.json);
        }
        json_decref(arr);
        free(tc.json);
    }
    free(text);
    return 0;
}
