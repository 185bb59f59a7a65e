/*
 * fuzz_gguf.c — libFuzzer target for the GGUF reader (src/gguf/gguf.c: header, metadata, tensor table) and what
 * reads GGUF metadata next: the vocabulary loader (src/tok/vocab_gguf.c) and chat-format detection
 * (src/chat/detect.c). Any input must be accepted or refused with a status and a message, never crash or read
 * outside the input. Oracles on an accepted file: every tensor lies inside the file, after the data offset, and
 * each is found by name; an accepted vocabulary has a piece for every id and encodes and decodes a sample.
 */
#include "fuzz_util.h"

#include "gguf/gguf.h"
#include "tok/tok.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    lc_gguf *g = NULL;
    lc_err e = {{0}};
    llamac_status st = lc_gguf_open_memory(data, size, &g, &e);
    if (st) {
        FUZZ_CHECK(e.msg[0], "refused without a message (status %d)", st);
        return 0;
    }
    FUZZ_CHECK(g->data_offset <= size, "data offset %llu past the end", (unsigned long long)g->data_offset);
    for (int64_t i = 0; i < g->n_tensors; i++) {
        const lc_gguf_tensor *t = &g->tensors[i];
        FUZZ_CHECK(t->offset >= g->data_offset && t->offset <= size && t->n_bytes <= size - t->offset,
                   "tensor %lld outside the file", (long long)i);
        FUZZ_CHECK(lc_gguf_find_tensor(g, t->name) == t, "tensor '%s' not found by name", t->name);
    }
    for (int64_t i = 0; i < g->n_kv; i++)
        FUZZ_CHECK(lc_gguf_get(g, g->kv[i].key) != NULL, "key %lld not found by name", (long long)i);

    llamac_chat_detection det;
    llamac_chat_detect(g, &det);

    lc_vocab *v = NULL;
    if (lc_vocab_from_gguf(g, &v, &e) == LLAMAC_OK) {
        llamac_tokenizer_info info;
        llamac_tokenizer_get_info(v, &info);
        for (int32_t id = 0; id < info.n_vocab && id < 4096; id++) {
            size_t n;
            const char *p = llamac_token_piece(v, id, &n);
            FUZZ_CHECK(p != NULL, "id %d has no piece", id);
        }
        llamac_tokens ids = {0};
        static const char text[] = "Hello, world! 123 \xc3\xa9t\xc3\xa9 <|eot_id|>";
        if (llamac_tokenize(v, text, sizeof text - 1, LLAMAC_TOKENIZE_PARSE_SPECIAL, &ids) == LLAMAC_OK) {
            llamac_text out = {0};
            llamac_detokenize(v, ids.ids, ids.n, 0, &out);
            llamac_text_free(&out);
        }
        llamac_tokens_free(&ids);
        lc_vocab_free(v);
    }
    lc_gguf_close(g);
    return 0;
}
