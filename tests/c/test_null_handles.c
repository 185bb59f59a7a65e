/*
 * test_null_handles.c — the public API given NULL handles (the convention in include/llamac.h): getters return
 * 0 / -1 / NULL / "" and zero their info structs, setters and *_free do nothing, fallible calls return
 * LLAMAC_E_INVALID_ARG. A crash here is a failure of the whole program, so every call is made once.
 */
#include <string.h>

#include "check.h"
#include "llamac.h"
#include "llamac_chat.h"
#include "llamac_quantize.h"
#include "llamac_session.h"
#include "llamac_tokenizer.h"

#define INVALID LLAMAC_E_INVALID_ARG

static int all_zero(const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        if (b[i])
            return 0;
    return 1;
}

static int never_called(void *user, int64_t done, int64_t total)
{
    return 1;
}

static void test_gguf(void)
{
    char buf[16] = "x";
    llamac_tensor_info ti;
    llamac_gguf *g = (llamac_gguf *)buf; /* must be reset */
    CHECK(llamac_gguf_open(NULL, &g, buf, sizeof buf) == INVALID && !g, "gguf_open(NULL path)");
    CHECK(llamac_gguf_version(NULL) == 0, "gguf_version");
    CHECK(llamac_gguf_n_kv(NULL) == 0, "gguf_n_kv");
    CHECK(llamac_gguf_kv_key(NULL, 0) == NULL, "gguf_kv_key");
    CHECK(llamac_gguf_kv_format(NULL, 0, buf, sizeof buf, 4) == 0 && buf[0] == 0, "gguf_kv_format");
    CHECK(llamac_gguf_n_tensors(NULL) == 0, "gguf_n_tensors");
    CHECK(llamac_gguf_tensor(NULL, 0, &ti) == INVALID, "gguf_tensor");
    llamac_gguf_close(NULL);
}

static void test_model_context(void)
{
    llamac_model_info mi;
    memset(&mi, 0xAB, sizeof mi);
    llamac_model_get_info(NULL, &mi);
    CHECK(all_zero(&mi, sizeof mi), "model_get_info(NULL) zeroes the info");
    llamac_model_get_info(NULL, NULL);
    CHECK(llamac_model_gguf(NULL) == NULL, "model_gguf");
    CHECK(llamac_model_tokenizer(NULL) == NULL, "model_tokenizer");
    CHECK(llamac_model_wait_loaded(NULL, NULL, 0) == INVALID, "model_wait_loaded");
    CHECK(llamac_model_loaded(NULL) == 0, "model_loaded(NULL)");
    llamac_decode_traffic tr;
    CHECK(llamac_model_decode_traffic(NULL, LLAMAC_KV_F16, &tr) == INVALID, "model_decode_traffic");
    llamac_model *m = (llamac_model *)&mi;
    CHECK(llamac_model_load(NULL, NULL, &m, NULL, 0) == INVALID && !m, "model_load(NULL path)");
    llamac_model_free(NULL);

    llamac_context *ctx = (llamac_context *)&mi;
    CHECK(llamac_context_create(NULL, NULL, &ctx, NULL, 0) == INVALID && !ctx, "context_create(NULL model)");
    CHECK(!strcmp(llamac_context_error(NULL), ""), "context_error");
    CHECK(llamac_context_model(NULL) == NULL, "context_model");
    CHECK(llamac_context_n_ctx(NULL) == 0, "context_n_ctx");
    CHECK(llamac_context_n_seq(NULL) == 0, "context_n_seq");
    CHECK(llamac_context_n_threads(NULL) == 0, "context_n_threads");
    CHECK(llamac_get_logits(NULL, 0) == NULL, "get_logits");
    CHECK(llamac_seq_len(NULL, 0) == 0, "seq_len");
    int32_t tok = 1;
    llamac_batch b = {.n_tokens = 1, .tokens = &tok};
    CHECK(llamac_decode(NULL, &b) == INVALID, "decode");
    CHECK(llamac_seq_truncate(NULL, 0, 0) == INVALID, "seq_truncate");
    llamac_context_set_progress(NULL, never_called, NULL);
    llamac_context_free(NULL);
}

static void test_sampler(void)
{
    float l[2] = {0, 1};
    llamac_token_logprob chosen, top[2];
    CHECK(llamac_sampler_sample(NULL, l) == -1, "sampler_sample");
    CHECK(llamac_sampler_sample_logprobs(NULL, l, 2, &chosen, top) == -1, "sampler_sample_logprobs");
    llamac_sampler *s = (llamac_sampler *)l;
    CHECK(llamac_sampler_clone(NULL, &s) == INVALID && !s, "sampler_clone");
    llamac_sampler_accept(NULL, 1);
    llamac_sampler_reset(NULL);
    llamac_sampler_set_seed(NULL, 1);
    llamac_sampler_free(NULL);
}

static const int32_t tk_dummy = 1;

static void test_tokenizer(void)
{
    llamac_tokenizer_info ti;
    memset(&ti, 0xAB, sizeof ti);
    llamac_tokenizer_get_info(NULL, &ti);
    CHECK(all_zero(&ti, sizeof ti), "tokenizer_get_info(NULL) zeroes the info");
    llamac_tokenizer_get_info(NULL, NULL);
    size_t len = 7;
    CHECK(llamac_token_piece(NULL, 0, &len) == NULL && len == 0, "token_piece");
    CHECK(llamac_token_special(NULL, "<|eot_id|>") == -1, "token_special");
    CHECK(llamac_token_find(NULL, "a", 1) == -1, "token_find");
    CHECK(llamac_token_is_special(NULL, 0) == 0, "token_is_special");
    CHECK(llamac_token_bos(NULL) == -1 && llamac_token_eos(NULL) == -1 && llamac_token_eot(NULL) == -1 &&
              llamac_token_eom(NULL) == -1,
          "bos / eos / eot / eom");
    CHECK(llamac_token_is_stop(NULL, 0) == 0, "token_is_stop");
    const int32_t *ids = (const int32_t *)&ti;
    CHECK(llamac_tokenizer_stop_tokens(NULL, &ids) == 0 && ids == NULL, "tokenizer_stop_tokens");
    llamac_tokens v = {0};
    llamac_text t = {0};
    CHECK(llamac_tokenize(NULL, "a", 1, 0, &v) == INVALID && v.n == 0, "tokenize");
    CHECK(llamac_detokenize(NULL, &tk_dummy, 1, 0, &t) == INVALID, "detokenize");
    llamac_detokenizer *d = (llamac_detokenizer *)&ti;
    CHECK(llamac_detokenizer_create(NULL, 0, &d) == INVALID && !d, "detokenizer_create");
    const char *s = "x";
    len = 3;
    CHECK(llamac_detokenizer_push(NULL, 1, &s, &len) == INVALID, "detokenizer_push");
    CHECK(llamac_detokenizer_flush(NULL, &s, &len) == INVALID, "detokenizer_flush");
    llamac_detokenizer_reset(NULL);
    llamac_detokenizer_free(NULL);
    CHECK(llamac_tokens_push(NULL, 1) == INVALID, "tokens_push");
    llamac_tokens_free(NULL);
    llamac_text_free(NULL);
    llamac_tokenizer *tk = (llamac_tokenizer *)&ti;
    CHECK(llamac_tokenizer_from_gguf(NULL, &tk, NULL, 0) == INVALID && !tk, "tokenizer_from_gguf");
    tk = (llamac_tokenizer *)&ti;
    CHECK(llamac_tokenizer_load(NULL, &tk, NULL, 0) == INVALID && !tk, "tokenizer_load");
    llamac_tokenizer_free(NULL);
}

static void test_chat(void)
{
    llamac_chat_detection det;
    CHECK(llamac_chat_detect(NULL, &det) == INVALID, "chat_detect");
    CHECK(llamac_chat_create(NULL) == INVALID, "chat_create(NULL)");
    CHECK(!strcmp(llamac_chat_error(NULL), ""), "chat_error");
    CHECK(llamac_chat_n_messages(NULL) == 0, "chat_n_messages");
    CHECK(llamac_chat_add_message(NULL, "user", "hi") == INVALID, "chat_add_message");
    CHECK(llamac_chat_add_message_json(NULL, "{}", 2) == INVALID, "chat_add_message_json");
    CHECK(llamac_chat_load_json(NULL, "[]", 2) == INVALID, "chat_load_json");
    CHECK(llamac_chat_set_tools_json(NULL, "[]", 2) == INVALID, "chat_set_tools_json");
    CHECK(llamac_chat_set_builtin_tools(NULL, NULL, 0) == INVALID, "chat_set_builtin_tools");
    CHECK(llamac_chat_truncate(NULL, 0) == INVALID, "chat_truncate");
    llamac_chat_params cp = llamac_chat_default_params(LLAMAC_CHAT_LLAMA3_1);
    llamac_chat_prompt *p = (llamac_chat_prompt *)&cp;
    CHECK(llamac_chat_render(NULL, &cp, 0, &p) == INVALID && !p, "chat_render");
    CHECK(llamac_chat_prompt_n_segments(NULL) == 0, "chat_prompt_n_segments");
    llamac_chat_segment seg;
    CHECK(llamac_chat_prompt_segment(NULL, 0, &seg) == INVALID, "chat_prompt_segment");
    size_t len = 5;
    CHECK(!strcmp(llamac_chat_prompt_text(NULL, &len), "") && len == 0, "chat_prompt_text");
    llamac_tokens v = {0};
    CHECK(llamac_chat_prompt_tokens(NULL, NULL, &v, NULL, 0) == INVALID && v.n == 0, "chat_prompt_tokens");
    llamac_tool_calls tc;
    CHECK(llamac_chat_parse_tool_calls(LLAMAC_CHAT_LLAMA3_1, NULL, 3, &tc, NULL, 0) == INVALID,
          "chat_parse_tool_calls(NULL text)");
    llamac_chat_prompt_free(NULL);
    llamac_chat_free(NULL);
}

static void test_quantize(void)
{
    llamac_quantize_stats st;
    memset(&st, 0xAB, sizeof st);
    CHECK(llamac_quantize(NULL, NULL, NULL, &st, NULL, 0) == INVALID && all_zero(&st, sizeof st), "quantize");
}

/* The sequence and KV-cache operations, batch buffers and sessions (issue 11's additions). */
static void test_kv_session(void)
{
    int32_t tok[4] = {1, 2, 3, 4};
    CHECK(llamac_seq_len(NULL, 0) == 0, "seq_len");
    CHECK(llamac_seq_truncate(NULL, 0, 0) == INVALID, "seq_truncate");
    CHECK(llamac_seq_remove(NULL, 0, 0, -1) == INVALID, "seq_remove");
    CHECK(llamac_seq_copy(NULL, 0, 1, -1) == INVALID, "seq_copy");
    CHECK(llamac_seq_tokens(NULL, 0, tok, 1) == INVALID, "seq_tokens");
    CHECK(llamac_seq_restore_prefix(NULL, 0, tok, 4) < 0, "seq_restore_prefix");
    CHECK(llamac_seq_save(NULL, 0, "/nonexistent/x") == INVALID, "seq_save");
    CHECK(llamac_seq_load(NULL, 0, "/nonexistent/x") == INVALID, "seq_load");
    llamac_kv_clear(NULL);
    llamac_kv_stats ks;
    memset(&ks, 0xAB, sizeof ks);
    llamac_kv_get_stats(NULL, &ks);
    CHECK(all_zero(&ks, sizeof ks), "kv_get_stats(NULL) zeroes the stats");
    llamac_kv_get_stats(NULL, NULL);

    CHECK(llamac_batch_buf_init(NULL, 4) == INVALID, "batch_buf_init(NULL)");
    llamac_batch_buf b;
    memset(&b, 0, sizeof b);
    CHECK(llamac_batch_buf_add(&b, 1, 0, 0, 1) == -1, "batch_buf_add on an empty buffer");
    CHECK(llamac_batch_buf_add(NULL, 1, 0, 0, 1) == -1, "batch_buf_add(NULL)");
    llamac_batch_buf_clear(NULL);
    llamac_batch_buf_free(NULL);
    CHECK(llamac_decode_tokens(NULL, 0, tok, 4, 0, NULL, NULL) == INVALID, "decode_tokens");
    CHECK(llamac_decode_tokens_last_index(NULL) < 0, "decode_tokens_last_index");

    llamac_session_params sp = llamac_session_default_params();
    llamac_session *s = (llamac_session *)&ks; /* must be reset */
    char err[64] = "x";
    CHECK(llamac_session_create(NULL, &sp, &s, err, sizeof err) == INVALID && !s && err[0], "session_create(NULL)");
    llamac_gen_params gp = llamac_gen_default_params();
    CHECK(!strcmp(llamac_session_error(NULL), ""), "session_error");
    CHECK(llamac_session_chat(NULL) == NULL, "session_chat");
    CHECK(llamac_session_begin(NULL, &gp) == INVALID, "session_begin");
    CHECK(llamac_session_begin_prefill(NULL) == INVALID, "session_begin_prefill");
    CHECK(llamac_session_begin_tokens(NULL, tok, 4, &gp) == INVALID, "session_begin_tokens");
    CHECK(llamac_session_pending(NULL) == 0, "session_pending");
    CHECK(llamac_session_batch(NULL, &b, 4) == 0, "session_batch");
    llamac_session_event ev;
    CHECK(llamac_session_commit(NULL, &ev) == INVALID, "session_commit");
    CHECK(llamac_session_run(NULL, NULL, NULL) == INVALID, "session_run");
    CHECK(llamac_session_answer(NULL) == NULL, "session_answer");
    int64_t n = 7;
    CHECK(llamac_session_prompt(NULL, &n) == NULL && n == 0, "session_prompt");
    CHECK(llamac_session_used(NULL) == 0 && llamac_session_capacity(NULL) == 0, "session_used/capacity");
    CHECK(llamac_session_drop_oldest(NULL, 0) == -1, "session_drop_oldest");
    CHECK(strcmp(llamac_finish_name((llamac_finish)99), "") != 0, "finish_name of an unknown value is a word");
    llamac_session_cancel(NULL);
    llamac_session_forget(NULL);
    llamac_session_free(NULL);

    CHECK(llamac_chat_remove(NULL, 0, 1) == INVALID, "chat_remove");
    CHECK(llamac_chat_message_role(NULL, 0) == NULL, "chat_message_role");
    size_t len = 3;
    const char *c = llamac_chat_message_content(NULL, 0, &len);
    CHECK((c == NULL || !strcmp(c, "")) && len == 0, "chat_message_content");
    CHECK(llamac_chat_message_n_tool_calls(NULL, 0) == 0, "chat_message_n_tool_calls");
    char *out = (char *)err;
    CHECK(llamac_chat_message_json(NULL, 0, &out) == INVALID && !out, "chat_message_json");
    out = (char *)err;
    CHECK(llamac_chat_tools_json(NULL, &out) == INVALID && !out, "chat_tools_json");
    out = (char *)err;
    CHECK(llamac_chat_dump_json(NULL, &out) == INVALID && !out, "chat_dump_json");
}

int main(void)
{
    test_gguf();
    test_model_context();
    test_sampler();
    test_tokenizer();
    test_chat();
    test_quantize();
    test_kv_session();
    return check_finish("test_null_handles");
}
