/*
 * test_tok_vectors.c — golden token ids and behaviour of the Llama 3 tokenizer on the reference vocabularies
 * ($LLAMAC_SHARED/data: Meta's tokenizer.model and the HF tokenizer.json), each checked for both sources:
 *   - llama.cpp's 44 public vectors (ggml-vocab-llama-bpe.gguf.inp/.out) and Meta's test ids;
 *   - the reference doc's examples (contractions, digits, whitespace, CRLF, NBSP, combining marks, CJK, emoji);
 *   - the 588 tokens reachable only through the whole-piece lookup encode to themselves;
 *   - special tokens: parsed only on request, BOS at most once, names (Llama 3.0 vs 3.1), stop tokens;
 *   - decoding: Meta's decode example, streaming never emits half a character, U+FFFD replacement.
 */
#include <jansson.h>

#include "tok_test.h"

static llamac_tokenizer *g_model, *g_json; /* tokenizer.model (3.1 names), tokenizer.json (3.0 names) */

static void expect_ids(llamac_tokenizer *tok, const char *name, const char *text, size_t len, unsigned flags,
                       const int32_t *want, size_t n_want)
{
    llamac_tokens ids = {0};
    llamac_status st = llamac_tokenize(tok, text, len, flags, &ids);
    int same = st == LLAMAC_OK && ids.n == n_want && (n_want == 0 || !memcmp(ids.ids, want, n_want * 4));
    CHECK(same, "[%s] encode(\"%.*s\") (flags %u) gives %zu ids, want %zu%s", name, (int)(len > 60 ? 60 : len), text,
          flags, ids.n, n_want, st ? " (error)" : "");
    if (!same && g_fail <= CHECK_MAX_SHOWN) {
        fprintf(stderr, "   got:");
        for (size_t i = 0; i < ids.n && i < 40; i++)
            fprintf(stderr, " %d", ids.ids[i]);
        fprintf(stderr, "\n  want:");
        for (size_t i = 0; i < n_want && i < 40; i++)
            fprintf(stderr, " %d", want[i]);
        fputc('\n', stderr);
    }
    llamac_tokens_free(&ids);
}

#define EXPECT(tok, name, text, flags, ...)                                                                   \
    do {                                                                                                       \
        static const int32_t w_[] = {__VA_ARGS__};                                                             \
        expect_ids(tok, name, text, sizeof(text) - 1, flags, w_, sizeof w_ / sizeof w_[0]);                    \
    } while (0)

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    if (buf) {
        buf[n] = 0;
        *len = (size_t)n;
    }
    return buf;
}

static void llama_cpp_vectors(llamac_tokenizer *tok, const char *name)
{
    char path[1024];
    size_t ni, no;
    char *inp = read_file(shared_path("ggml-vocab-llama-bpe.gguf.inp", path, sizeof path), &ni);
    char *out = read_file(shared_path("ggml-vocab-llama-bpe.gguf.out", path, sizeof path), &no);
    CHECK(inp && out, "cannot read the llama.cpp vectors");
    if (!inp || !out)
        return;
    const char *sep = "\n__ggml_vocab_test__\n";
    char *p = inp, *q = out;
    int cases = 0;
    for (;;) {
        char *end = strstr(p, sep);
        if (!end)
            break;
        char *eol = strchr(q, '\n');
        if (!eol)
            break;
        *eol = 0;
        int32_t want[512];
        size_t nw = 0;
        for (char *t = q; *t;) {
            char *e2;
            long v = strtol(t, &e2, 10);
            if (e2 == t)
                break;
            want[nw++] = (int32_t)v;
            t = e2;
        }
        expect_ids(tok, name, p, (size_t)(end - p), 0, want, nw);
        cases++;
        p = end + strlen(sep);
        q = eol + 1;
    }
    CHECK(cases == 44, "[%s] read %d llama.cpp cases, want 44", name, cases);
    free(inp);
    free(out);
}

static void common_vectors(llamac_tokenizer *t, const char *n)
{
    /* Meta llama/test_tokenizer.py */
    EXPECT(t, n, "This is a test sentence.", LLAMAC_TOKENIZE_ADD_BOS, 128000, 2028, 374, 264, 1296, 11914, 13);
    /* reference doc 2.7 */
    EXPECT(t, n, "Hello world", 0, 9906, 1917);
    EXPECT(t, n, "I'm", 0, 40, 2846);
    EXPECT(t, n, "I'M", 0, 40, 28703);
    EXPECT(t, n, "don't", 0, 15357, 956);
    EXPECT(t, n, "12345678", 0, 4513, 10961, 2495);
    EXPECT(t, n, "1234567890", 0, 4513, 10961, 16474, 15);
    EXPECT(t, n, "   ", 0, 262);
    EXPECT(t, n, "a   b", 0, 64, 256, 293);
    EXPECT(t, n, "\r\n", 0, 319);
    EXPECT(t, n, "\n\n\n", 0, 1432);
    EXPECT(t, n, "hi   ", 0, 6151, 262);
    EXPECT(t, n, "   hi", 0, 256, 15960);
    EXPECT(t, n, "\xF0\x9F\x98\x80", 0, 76460, 222);
    EXPECT(t, n, "\xE4\xBD\xA0\xE5\xA5\xBD\xEF\xBC\x8C\xE4\xB8\x96\xE7\x95\x8C", 0, 57668, 53901, 3922, 102616);
    EXPECT(t, n, "a\xC2\xA0\xC2\xA0" "b", 0, 64, 4194, 115648);
    EXPECT(t, n, "cafe\xCC\x81", 0, 936, 1897, 54939);
    EXPECT(t, n, "caf\xC3\xA9", 0, 936, 59958);
    EXPECT(t, n, " Vi\xE1\xBB\x87t", 0, 101798);
    EXPECT(t, n, "\n\n", 0, 271);
    EXPECT(t, n, "", 0);
    EXPECT(t, n, "", LLAMAC_TOKENIZE_ADD_BOS, 128000);
    /* special text is plain text unless asked */
    EXPECT(t, n, "<|eot_id|>", LLAMAC_TOKENIZE_PARSE_SPECIAL, 128009);
    EXPECT(t, n, "<|begin_of_text|>hi", LLAMAC_TOKENIZE_PARSE_SPECIAL | LLAMAC_TOKENIZE_ADD_BOS, 128000, 6151);
    EXPECT(t, n, "<|begin_of_text|>hi", LLAMAC_TOKENIZE_ADD_BOS, 128000, 27, 91, 7413, 3659, 4424, 91, 29, 6151);
    EXPECT(t, n, "a<|eot_id|><|eot_id|>b", LLAMAC_TOKENIZE_PARSE_SPECIAL, 64, 128009, 128009, 65);
    EXPECT(t, n, "<|eot_id", LLAMAC_TOKENIZE_PARSE_SPECIAL, 27, 91, 68, 354, 851);
    /* full chat prompt (llama-models 3.2 text_prompt_format.md), specials parsed */
    EXPECT(t, n,
           "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nYou are a helpful assistant<|eot_id|>"
           "<|start_header_id|>user<|end_header_id|>\n\nWho are you?<|eot_id|><|start_header_id|>assistant"
           "<|end_header_id|>\n\n",
           LLAMAC_TOKENIZE_PARSE_SPECIAL | LLAMAC_TOKENIZE_ADD_BOS, 128000, 128006, 9125, 128007, 271, 2675, 527, 264,
           11190, 18328, 128009, 128006, 882, 128007, 271, 15546, 527, 499, 30, 128009, 128006, 78191, 128007, 271);
}

static void bos_once(llamac_tokenizer *t)
{
    llamac_tokens ids = {0};
    llamac_tokenize(t, "x", 1, LLAMAC_TOKENIZE_ADD_BOS, &ids);
    llamac_tokenize(t, "y", 1, LLAMAC_TOKENIZE_ADD_BOS, &ids); /* appending: no second BOS */
    CHECK(ids.n == 3 && ids.ids[0] == 128000 && ids.ids[1] == 87 && ids.ids[2] == 88, "BOS added twice or lost");
    CHECK(llamac_tokenize(t, "x", 1, 1u << 7, &ids) == LLAMAC_E_INVALID_ARG && ids.n == 3, "unknown flag accepted");
    llamac_tokens_free(&ids);
    CHECK(ids.ids == NULL && ids.n == 0, "llamac_tokens_free does not reset");
}

static void whole_piece_tokens(llamac_tokenizer *t, const char *name)
{
    char path[1024];
    size_t n;
    char *js = read_file(shared_path("llama3_tokens_requiring_whole_piece_lookup.json", path, sizeof path), &n);
    json_t *arr = js ? json_loadb(js, n, 0, NULL) : NULL;
    CHECK(json_is_array(arr) && json_array_size(arr) == 588, "cannot read the whole-piece list");
    size_t i;
    json_t *x;
    json_array_foreach(arr, i, x) {
        int32_t id = (int32_t)json_integer_value(x);
        size_t len;
        const char *p = llamac_token_piece(t, id, &len);
        llamac_tokens ids = {0};
        llamac_tokenize(t, p, len, 0, &ids);
        CHECK(ids.n == 1 && ids.ids[0] == id, "[%s] token %d does not encode to itself (%zu ids)", name, id, ids.n);
        llamac_tokens_free(&ids);
    }
    json_decref(arr);
    free(js);
}

static void special_names(void)
{
    char path[1024];
    size_t n;
    char *js = read_file(shared_path("special_tokens.json", path, sizeof path), &n);
    json_t *root = js ? json_loadb(js, n, 0, NULL) : NULL;
    const char *set[2] = {"llama3_1", "llama3_0"};
    llamac_tokenizer *tok[2] = {g_model, g_json};
    for (int k = 0; k < 2; k++) {
        json_t *names = json_object_get(root, set[k]);
        CHECK(json_object_size(names) == 256, "special_tokens.json: %s missing", set[k]);
        const char *key;
        json_t *v;
        json_object_foreach(names, key, v) {
            int32_t id = atoi(key);
            size_t len;
            const char *p = llamac_token_piece(tok[k], id, &len);
            CHECK(p && !strcmp(p, json_string_value(v)), "%s: id %d is '%s', want '%s'", set[k], id, p ? p : "(null)",
                  json_string_value(v));
            CHECK(llamac_token_special(tok[k], json_string_value(v)) == id, "lookup of %s", json_string_value(v));
            CHECK(llamac_token_is_special(tok[k], id), "id %d not special", id);
        }
    }
    CHECK(llamac_token_special(g_model, "<|eot|>") == -1 && llamac_token_special(g_model, "") == -1 &&
              llamac_token_special(g_model, "hello") == -1, "lookup of a non-special name");
    CHECK(llamac_token_find(g_model, " world", 6) == 1917 && llamac_token_find(g_model, "<|eot_id|>", 10) == -1,
          "llamac_token_find");
    CHECK(!llamac_token_is_special(g_model, 9906) && !llamac_token_is_special(g_model, -1) &&
              !llamac_token_is_special(g_model, 128256), "is_special of ordinary / out-of-range ids");
    json_decref(root);
    free(js);
}

static void stop_tokens(void)
{
    const int32_t *ids;
    int n = llamac_tokenizer_stop_tokens(g_model, &ids);
    CHECK(n == 3 && ids[0] == 128001 && ids[1] == 128008 && ids[2] == 128009, "3.1 stop set (got %d ids)", n);
    n = llamac_tokenizer_stop_tokens(g_json, &ids);
    CHECK(n == 2 && ids[0] == 128001 && ids[1] == 128009, "3.0 stop set (got %d ids)", n);
    CHECK(llamac_token_bos(g_model) == 128000 && llamac_token_eos(g_model) == 128001 &&
              llamac_token_eot(g_model) == 128009 && llamac_token_eom(g_model) == 128008, "3.1 well-known ids");
    CHECK(llamac_token_eom(g_json) == -1 && llamac_token_eot(g_json) == 128009, "3.0 has no eom");
    CHECK(llamac_token_is_stop(g_model, 128008) && !llamac_token_is_stop(g_json, 128008) &&
              !llamac_token_is_stop(g_model, 128000) && !llamac_token_is_stop(g_model, -5), "is_stop");
    llamac_tokenizer_info info;
    llamac_tokenizer_get_info(g_model, &info);
    CHECK(info.n_vocab == 128256 && info.n_special == 256 && info.source == LLAMAC_VOCAB_TIKTOKEN &&
              info.max_token_len == 128, "info: n_vocab %d n_special %d max_len %d", info.n_vocab, info.n_special,
          info.max_token_len);
    llamac_tokenizer_get_info(g_json, &info);
    CHECK(info.n_vocab == 128256 && info.n_merges == 280147 && info.source == LLAMAC_VOCAB_HF_JSON, "json info");
}

static void decoding(llamac_tokenizer *t, const char *name)
{
    static const int32_t meta[] = {128000, 2028, 374, 264, 1296, 11914, 13, 128001};
    llamac_text s = {0};
    CHECK(llamac_detokenize(t, meta, 8, 0, &s) == LLAMAC_OK &&
              !strcmp(s.data, "<|begin_of_text|>This is a test sentence.<|end_of_text|>"), "[%s] Meta decode", name);
    s.n = 0;
    CHECK(llamac_detokenize(t, meta, 8, LLAMAC_DECODE_SKIP_SPECIAL, &s) == LLAMAC_OK &&
              !strcmp(s.data, "This is a test sentence."), "[%s] skip special", name);
    static const int32_t bad[] = {9906, 128256};
    size_t before = s.n;
    CHECK(llamac_detokenize(t, bad, 2, 0, &s) == LLAMAC_E_TOKEN && s.n == before, "[%s] bad id", name);
    /* 😀 = 76460 222: the first token is an incomplete character */
    static const int32_t emoji[] = {76460, 222};
    s.n = 0;
    CHECK(llamac_detokenize(t, emoji, 1, LLAMAC_DECODE_REPLACE_INVALID, &s) == LLAMAC_OK &&
              !strcmp(s.data, "\xEF\xBF\xBD"), "[%s] lone prefix replaced", name);
    llamac_detokenizer *d;
    CHECK(llamac_detokenizer_create(t, 0, &d) == LLAMAC_OK, "create");
    const char *out;
    size_t n;
    llamac_detokenizer_push(d, emoji[0], &out, &n);
    CHECK(n == 0, "[%s] half a character emitted (%zu bytes)", name, n);
    llamac_detokenizer_push(d, emoji[1], &out, &n);
    CHECK(n == 4 && !memcmp(out, "\xF0\x9F\x98\x80", 4), "[%s] character not completed", name);
    llamac_detokenizer_push(d, emoji[0], &out, &n);
    CHECK(llamac_detokenizer_push(d, 999999, &out, &n) == LLAMAC_E_TOKEN, "bad id in stream");
    llamac_detokenizer_push(d, 9906, &out, &n); /* "Hello" breaks the pending sequence: raw bytes, then Hello */
    CHECK(n == 8 && !memcmp(out, "\xF0\x9F\x98Hello", 8), "[%s] broken sequence: %zu bytes", name, n);
    llamac_detokenizer_push(d, emoji[0], &out, &n);
    llamac_detokenizer_flush(d, &out, &n);
    CHECK(n == 3 && !memcmp(out, "\xF0\x9F\x98", 3), "[%s] flush", name);
    llamac_detokenizer_free(d);

    /* Streaming a multilingual text: chunks are whole characters and add up to the text. */
    const char *text = "Ça va? 😀👩‍👩‍👧 你好，世界 — Việt Nam, ग्रन्थ, ខ្មែរ, عربى, 𝔘𝔫𝔦𝔠𝔬𝔡𝔢 ½ Ⅷ\r\n";
    llamac_tokens ids = {0};
    llamac_tokenize(t, text, strlen(text), 0, &ids);
    llamac_detokenizer_create(t, LLAMAC_DECODE_REPLACE_INVALID, &d);
    llamac_text all = {0};
    int split = 0;
    for (size_t i = 0; i < ids.n; i++) {
        size_t len;
        llamac_token_piece(t, ids.ids[i], &len);
        llamac_detokenizer_push(d, ids.ids[i], &out, &n);
        if (n && ((unsigned char)out[n - 1] & 0xC0) == 0xC0)
            split = 1;
        if (n && (((unsigned char)out[0]) & 0xC0) == 0x80)
            split = 1;
        for (size_t k = 0; k < n; k++)
            CHECK(!(out[k] == (char)0xEF && k + 2 < n && out[k + 1] == (char)0xBF && out[k + 2] == (char)0xBD),
                  "[%s] U+FFFD in a valid stream", name);
        all.n += 0;
        char *nd = realloc(all.data, all.n + n + 1);
        all.data = nd;
        memcpy(all.data + all.n, out, n);
        all.n += n;
    }
    llamac_detokenizer_flush(d, &out, &n);
    CHECK(n == 0, "[%s] bytes left at the end of a valid stream", name);
    CHECK(!split, "[%s] a chunk split a character", name);
    CHECK(all.n == strlen(text) && !memcmp(all.data, text, all.n), "[%s] stream does not add up", name);
    llamac_text_free(&all);
    llamac_detokenizer_free(d);
    llamac_tokens_free(&ids);
    llamac_text_free(&s);
}

static void replacement(llamac_tokenizer *t)
{
    /* maximal subparts: E0 80 -> 2 x FFFD (80 can't follow E0); F0 9F 98 41 -> FFFD A; C0 -> FFFD; ED A0 80 -> 3 */
    static const struct {
        const char *in, *out;
    } cases[] = {{"a\xE0\x80z", "a\xEF\xBF\xBD\xEF\xBF\xBDz"},
                 {"\xF0\x9F\x98" "A", "\xEF\xBF\xBD" "A"},
                 {"\xC0", "\xEF\xBF\xBD"},
                 {"\xED\xA0\x80", "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD"},
                 {"\xFF\xFE", "\xEF\xBF\xBD\xEF\xBF\xBD"},
                 {"ok \xE2\x82\xAC", "ok \xE2\x82\xAC"}};
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        llamac_tokens ids = {0};
        llamac_text s = {0}, raw = {0};
        llamac_tokenize(t, cases[k].in, strlen(cases[k].in), 0, &ids);
        llamac_detokenize(t, ids.ids, ids.n, LLAMAC_DECODE_REPLACE_INVALID, &s);
        llamac_detokenize(t, ids.ids, ids.n, 0, &raw);
        CHECK(s.data && !strcmp(s.data, cases[k].out), "replacement case %zu", k);
        CHECK(raw.data && !strcmp(raw.data, cases[k].in), "raw round trip case %zu", k);
        llamac_tokens_free(&ids);
        llamac_text_free(&s);
        llamac_text_free(&raw);
    }
}

int main(void)
{
    g_model = load_shared("llama3_tokenizer.model");
    g_json = load_shared("llama3_hf_tokenizer.json");
    if (!g_model || !g_json)
        return check_finish("test_tok_vectors");
    llamac_tokenizer *both[2] = {g_model, g_json};
    const char *names[2] = {"tokenizer.model", "tokenizer.json"};
    for (int k = 0; k < 2; k++) {
        llama_cpp_vectors(both[k], names[k]);
        common_vectors(both[k], names[k]);
        whole_piece_tokens(both[k], names[k]);
        decoding(both[k], names[k]);
        bos_once(both[k]);
    }
    /* 3.1 names only in tokenizer.model */
    EXPECT(g_model, "tokenizer.model", "<|python_tag|>x<|eom_id|>", LLAMAC_TOKENIZE_PARSE_SPECIAL, 128010, 87, 128008);
    EXPECT(g_json, "tokenizer.json", "<|python_tag|>x", LLAMAC_TOKENIZE_PARSE_SPECIAL, 27, 91, 12958, 9556, 91, 29,
           87);
    special_names();
    stop_tokens();
    replacement(g_model);
    CHECK(llamac_model_tokenizer(NULL) == NULL, "llamac_model_tokenizer(NULL)");
    llamac_tokenizer_free(g_model);
    llamac_tokenizer_free(g_json);
    llamac_tokenizer_free(NULL);
    return check_finish("test_tok_vectors");
}
