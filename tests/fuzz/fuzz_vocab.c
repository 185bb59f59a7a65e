/*
 * fuzz_vocab.c — libFuzzer target for the vocabulary file parsers other than GGUF (src/tok/vocab_hf.c:
 * Hugging Face tokenizer.json; src/tok/vocab_tiktoken.c: Meta's tokenizer.model). The first byte picks the
 * parser. Any input is accepted or refused with a message; an accepted vocabulary encodes and decodes a sample
 * with in-range ids.
 */
#include "fuzz_util.h"

#include "tok/tok.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    lc_vocab *v = NULL;
    lc_err e = {{0}};
    const char *p = (const char *)data + 1;
    llamac_status st = (data[0] & 1) ? lc_vocab_from_tiktoken(p, size - 1, &v, &e)
                                     : lc_vocab_from_hf_json(p, size - 1, &v, &e);
    if (st) {
        FUZZ_CHECK(e.msg[0], "refused without a message (status %d)", st);
        return 0;
    }
    llamac_tokenizer_info info;
    llamac_tokenizer_get_info(v, &info);
    llamac_tokens ids = {0};
    static const char text[] = "Hello, world! 123 \xc3\xa9t\xc3\xa9 \xff";
    if (llamac_tokenize(v, text, sizeof text - 1, 0, &ids) == LLAMAC_OK) {
        for (size_t i = 0; i < ids.n; i++)
            FUZZ_CHECK(ids.ids[i] >= 0 && ids.ids[i] < info.n_vocab, "id %d out of range", ids.ids[i]);
        llamac_text out = {0};
        llamac_detokenize(v, ids.ids, ids.n, 0, &out);
        llamac_text_free(&out);
    }
    llamac_tokens_free(&ids);
    lc_vocab_free(v);
    return 0;
}
