/*
 * test_session.c — generation sessions (include/llamac_session.h) on small real models:
 *   - llamac_batch_buf and llamac_decode_tokens (chunking is bit-identical, all logits, errors roll back);
 *   - incremental prefill: the next turn decodes only the tail of the last answer and the new messages, and
 *     the cached state answers exactly as a fresh prefill of the same tokens;
 *   - chat edits (truncate, remove, tools, system prompt) re-render from the right message; forget;
 *   - stop strings (split over tokens, at the start) are never streamed, trim the answer, and the next turn
 *     re-renders the trimmed message; text that may start a stop string is held back;
 *   - max_tokens -> LENGTH, a full context -> CONTEXT (then CONTEXT_FULL, drop_oldest keeps the system prompt);
 *   - tool calls (pythonic 3.2, JSON 3.1) -> OpenAI messages with ids, TOOL_CALLS, nothing streamed; tool_choice
 *     none / required / named render as docs/CHAT_FORMAT.md says; cancel keeps the answer;
 *   - whole UTF-8 pieces (a character split over byte tokens); raw token prompts; logprobs;
 *   - and the key property: sessions stepped together through one batch per step (staggered, different prompts,
 *     lengths, greedy and seeded sampling, stop strings, two turns each) give exactly the tokens, texts and
 *     finishes of each session run alone with llamac_session_run.
 *
 * Models: models/tiny-kjv.gguf (bundled, Llama 3.1-style vocabulary and template), and "chain" models with the
 * real Llama 3 vocabulary whose greedy output is scripted (tests/py/chain_model.py, generated on first use with
 * $LLAMAC_PYTHON under $LLAMAC_BUILD/test-models, as in test_chat_repl.py).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "llamac.h"

#define DATE "26 Jul 2024"
#define EOT 128009

static const char *env_or(const char *name, const char *dflt)
{
    const char *v = getenv(name);
    return v && *v ? v : dflt;
}

static llamac_model *load(const char *path)
{
    char err[512];
    llamac_model *m = NULL;
    llamac_model_params mp = llamac_model_default_params();
    mp.use_mmap = 1;
    if (!path || llamac_model_load(path, &mp, &m, err, sizeof err) != LLAMAC_OK) {
        fprintf(stderr, "cannot load %s: %s\n", path ? path : "(no path)", path ? err : "");
        exit(2);
    }
    return m;
}

/* The path of a chain model (tests/py/chain_model.py) for variant and the token chain, generated if needed. */
static char *chain_model(const char *variant, const int32_t *chain, int n)
{
    static char cmd[16384];
    int k = snprintf(cmd, sizeof cmd,
                     "'%s' -c 'import sys; sys.path.insert(0, \"%s/tests/py\"); import chain_model; "
                     "print(chain_model.chain_model_path(\"%s\", [",
                     env_or("LLAMAC_PYTHON", "/usr/bin/python3"), env_or("LLAMAC_SOURCE", "."), variant);
    for (int i = 0; i < n; i++)
        k += snprintf(cmd + k, sizeof cmd - (size_t)k, "%s%d", i ? "," : "", chain[i]);
    snprintf(cmd + k, sizeof cmd - (size_t)k, "]))'");
    FILE *p = popen(cmd, "r");
    char line[4096] = {0};
    char *ok = p ? fgets(line, sizeof line, p) : NULL;
    int rc = p ? pclose(p) : -1;
    if (!ok || rc != 0) {
        fprintf(stderr, "cannot make the chain model (%s)\n", cmd);
        exit(2);
    }
    line[strcspn(line, "\n")] = 0;
    return strdup(line);
}

static llamac_context *context_pc(llamac_model *m, int n_ctx, int n_seq, int n_batch, int prefix_cache)
{
    char err[512];
    llamac_context_params cp = llamac_context_default_params();
    cp.prefix_cache = prefix_cache;
    cp.n_ctx = n_ctx;
    cp.n_seq_max = n_seq;
    cp.n_batch = n_batch;
    cp.n_threads = 2;
    llamac_context *c = NULL;
    if (llamac_context_create(m, &cp, &c, err, sizeof err) != LLAMAC_OK) {
        fprintf(stderr, "context: %s\n", err);
        exit(2);
    }
    return c;
}

static llamac_context *context(llamac_model *m, int n_ctx, int n_seq, int n_batch)
{
    return context_pc(m, n_ctx, n_seq, n_batch, 1);
}

static llamac_session *session(llamac_context *c, int seq)
{
    char err[512];
    llamac_session_params sp = llamac_session_default_params();
    sp.seq = seq;
    sp.date = DATE;
    llamac_session *s = NULL;
    if (llamac_session_create(c, &sp, &s, err, sizeof err) != LLAMAC_OK) {
        fprintf(stderr, "session: %s\n", err);
        exit(2);
    }
    return s;
}

static llamac_gen_params greedy(int max_tokens)
{
    llamac_gen_params gp = llamac_gen_default_params();
    gp.sampling.temperature = 0;
    gp.max_tokens = max_tokens;
    return gp;
}

/* ---- what a run streamed ---- */
#define MAX_EV 1024
typedef struct events {
    int n;
    int32_t tok[MAX_EV];
    size_t off[MAX_EV + 1]; /* text of event i: text[off[i]..off[i+1]) */
    char text[16384];
    size_t len;
    llamac_finish finish;
    int cancel_after;       /* > 0: ask to cancel after that many events */
    int utf8_bad;           /* an event's text was not whole UTF-8 */
} events;

static int utf8_whole(const char *s, size_t n)
{
    for (size_t i = 0; i < n;) {
        unsigned char c = (unsigned char)s[i];
        size_t k = c < 0x80 ? 1 : (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : (c & 0xF8) == 0xF0 ? 4 : 0;
        if (!k || i + k > n)
            return 0;
        for (size_t j = 1; j < k; j++)
            if (((unsigned char)s[i + j] & 0xC0) != 0x80)
                return 0;
        i += k;
    }
    return 1;
}

static int record(void *user, const llamac_session_event *ev)
{
    events *e = user;
    if (e->n < MAX_EV && e->len + ev->len < sizeof e->text) {
        e->off[e->n] = e->len;
        e->tok[e->n] = ev->token;
        memcpy(e->text + e->len, ev->text, ev->len);
        e->len += ev->len;
        e->text[e->len] = 0;
        e->off[++e->n] = e->len;
    }
    if (!utf8_whole(ev->text, ev->len))
        e->utf8_bad = 1;
    if (ev->finish)
        e->finish = ev->finish;
    return e->cancel_after > 0 && e->n >= e->cancel_after;
}

/* Tokens of a run (events with a token). */
static int gen_tokens(const events *e, int32_t *out)
{
    int n = 0;
    for (int i = 0; i < e->n; i++)
        if (e->tok[i] >= 0)
            out[n++] = e->tok[i];
    return n;
}

static int run(llamac_session *s, events *e)
{
    int cancel = e->cancel_after;
    memset(e, 0, sizeof *e);
    e->cancel_after = cancel;
    llamac_status st = llamac_session_run(s, record, e);
    CHECK(st == LLAMAC_OK, "run: %s", llamac_session_error(s));
    return st == LLAMAC_OK;
}

/* ---- reference renderings ---- */
static llamac_tokens render(llamac_chat *chat, llamac_chat_format fmt, const llamac_tokenizer *tok, int first,
                            int gen_prompt)
{
    llamac_chat_params cp = llamac_chat_default_params(fmt);
    cp.date = DATE;
    cp.add_generation_prompt = gen_prompt;
    llamac_chat_prompt *p = NULL;
    llamac_tokens ids = {0};
    char err[256];
    if (llamac_chat_render(chat, &cp, first, &p) != LLAMAC_OK ||
        llamac_chat_prompt_tokens(p, tok, &ids, err, sizeof err) != LLAMAC_OK)
        CHECK(0, "reference render failed: %s", llamac_chat_error(chat));
    llamac_chat_prompt_free(p);
    return ids;
}

/* The conversation of s copied without its tools. */
static llamac_chat *copy_without_tools(llamac_session *s)
{
    char *dump = NULL;
    llamac_chat *c = NULL;
    llamac_chat_create(&c);
    llamac_chat_dump_json(llamac_session_chat(s), &dump);
    CHECK(dump && llamac_chat_load_json(c, dump, strlen(dump)) == LLAMAC_OK, "copy of the chat");
    llamac_chat_set_tools_json(c, NULL, 0);
    llamac_chat_set_builtin_tools(c, NULL, 0);
    free(dump);
    return c;
}

static int same(const int32_t *a, int64_t na, const int32_t *b, int64_t nb)
{
    return na == nb && (na == 0 || !memcmp(a, b, (size_t)na * sizeof *a));
}

/* The prompt left to decode by the last begin == want[from..]. */
static void check_prompt_at(int line, llamac_session *s, const llamac_tokens *want, int64_t from, const char *what)
{
    int64_t n = 0;
    const int32_t *p = llamac_session_prompt(s, &n);
    CHECK_AT(line, from >= 0 && (size_t)from <= want->n && same(p, n, want->ids + from, (int64_t)want->n - from),
             "%s: the prompt to decode (%lld tokens) is not the reference from %lld (%zu tokens)", what,
             (long long)n, (long long)from, want->n);
}
#define CHECK_PROMPT(s, want, from, what) check_prompt_at(__LINE__, s, want, from, what)

/* ---------------------------------------------------------------------------------------------------------
 * batches and llamac_decode_tokens
 * ------------------------------------------------------------------------------------------------------- */
static int first_logits_row(void *user, int64_t i, const float *logits)
{
    float **rows = user;
    memcpy(rows[i], logits, 4096 * sizeof(float));
    return 0;
}

static int stop_at_3(void *user, int64_t i, const float *logits)
{
    (void)user;
    (void)logits;
    return i == 3;
}

static void test_decode_tokens(llamac_model *m)
{
    llamac_batch_buf b;
    CHECK(llamac_batch_buf_init(&b, 2) == LLAMAC_OK, "batch_buf_init");
    CHECK(llamac_batch_buf_add(&b, 5, 0, 0, 0) == 0 && llamac_batch_buf_add(&b, 6, 1, 0, 1) == 1 &&
              llamac_batch_buf_add(&b, 7, 2, 0, 1) == -1 && b.batch.n_tokens == 2 && b.batch.logits[1] == 1,
          "batch_buf_add fills, then refuses when full");
    llamac_batch_buf_clear(&b);
    CHECK(b.batch.n_tokens == 0, "batch_buf_clear");
    llamac_batch_buf_free(&b);
    llamac_batch_buf_free(&b);
    CHECK(llamac_batch_buf_init(&b, 0) == LLAMAC_E_INVALID_ARG, "capacity 0");

    enum { N = 30 };
    int32_t toks[N];
    for (int i = 0; i < N; i++)
        toks[i] = (int32_t)(100 + 37 * i % 3000);
    float *ref[N], *got[N];
    for (int i = 0; i < N; i++) {
        ref[i] = malloc(4096 * sizeof(float));
        got[i] = malloc(4096 * sizeof(float));
    }
    llamac_context *one = context(m, 64, 1, 64); /* everything in one batch */
    llamac_context_params cp = llamac_context_default_params();
    char err[256];
    cp.n_ctx = 64, cp.n_batch = 64, cp.n_logits = 64, cp.n_threads = 2;
    llamac_context *all = NULL;
    llamac_context_create(m, &cp, &all, err, sizeof err);
    CHECK(llamac_decode_tokens(all, 0, toks, N, 1, first_logits_row, ref) == LLAMAC_OK, "all logits, one batch");
    CHECK(llamac_decode_tokens(one, 0, toks, N, 0, NULL, NULL) == LLAMAC_OK, "one batch");
    const float *last_one = llamac_get_logits(one, llamac_decode_tokens_last_index(one));
    CHECK(last_one && !memcmp(last_one, ref[N - 1], 4096 * sizeof(float)), "last logits of one batch");

    llamac_context *small = context(m, 64, 2, 7); /* chunks of 7, on sequence 1 */
    CHECK(llamac_decode_tokens(small, 1, toks, N, 0, NULL, NULL) == LLAMAC_OK, "chunks of 7");
    CHECK(llamac_decode_tokens_last_index(small) == (N - 1) % 7, "last index %d", llamac_decode_tokens_last_index(small));
    const float *last = llamac_get_logits(small, llamac_decode_tokens_last_index(small));
    CHECK(last && !memcmp(last, ref[N - 1], 4096 * sizeof(float)), "chunked prefill is bit-identical");
    CHECK(llamac_seq_len(small, 1) == N && llamac_seq_len(small, 0) == 0, "sequence lengths");

    cp.n_batch = 7, cp.n_logits = 4;
    llamac_context *rows = NULL;
    llamac_context_create(m, &cp, &rows, err, sizeof err);
    CHECK(llamac_decode_tokens(rows, 0, toks, N, 1, first_logits_row, got) == LLAMAC_OK, "all logits, chunks");
    int same_rows = 1;
    for (int i = 0; i < N; i++)
        same_rows &= !memcmp(got[i], ref[i], 4096 * sizeof(float));
    CHECK(same_rows, "every row equals the one-batch logits");

    /* errors roll the sequence back */
    int32_t bad[N];
    memcpy(bad, toks, sizeof bad);
    bad[20] = 99999;
    CHECK(llamac_decode_tokens(small, 0, toks, 5, 0, NULL, NULL) == LLAMAC_OK, "5 tokens");
    CHECK(llamac_decode_tokens(small, 0, bad, N, 0, NULL, NULL) == LLAMAC_E_TOKEN && llamac_seq_len(small, 0) == 5 &&
              strstr(llamac_context_error(small), "vocabulary"),
          "a bad token in the third chunk: %s, length %d", llamac_context_error(small), llamac_seq_len(small, 0));
    CHECK(llamac_decode_tokens(rows, 0, toks, 8, 1, stop_at_3, NULL) == LLAMAC_E_CANCELLED &&
              llamac_seq_len(rows, 0) == N,
          "a callback stop rolls back");
    CHECK(llamac_decode_tokens(small, 0, toks, 60, 0, NULL, NULL) == LLAMAC_E_CONTEXT_FULL &&
              llamac_seq_len(small, 0) == 5,
          "too many tokens");
    CHECK(llamac_decode_tokens(small, 5, toks, 1, 0, NULL, NULL) == LLAMAC_E_INVALID_ARG, "bad sequence");
    CHECK(llamac_decode_tokens(small, 0, toks, 1, 1, NULL, NULL) == LLAMAC_E_INVALID_ARG, "all_logits without callback");
    CHECK(llamac_decode_tokens(small, 0, toks, 0, 0, NULL, NULL) == LLAMAC_OK, "nothing to decode");
    for (int i = 0; i < N; i++) {
        free(ref[i]);
        free(got[i]);
    }
    llamac_context_free(one);
    llamac_context_free(all);
    llamac_context_free(small);
    llamac_context_free(rows);
}

/* ---------------------------------------------------------------------------------------------------------
 * incremental prefill and chat edits (tiny-kjv)
 * ------------------------------------------------------------------------------------------------------- */
static void test_incremental(llamac_model *m)
{
    const llamac_tokenizer *tok = llamac_model_tokenizer(m);
    llamac_context *c = context(m, 512, 1, 64);
    llamac_session *s = session(c, 0);
    const llamac_chat_format fmt = llamac_session_format(s);
    CHECK(fmt == LLAMAC_CHAT_LLAMA3_1, "tiny-kjv is detected as Llama 3.1 (%d)", (int)fmt);
    llamac_chat *chat = llamac_session_chat(s);
    llamac_chat_add_message(chat, "system", "You are terse.");
    llamac_chat_add_message(chat, "user", "Tell me about Moses.");
    llamac_gen_params gp = llamac_gen_default_params();
    gp.sampling.temperature = 0.7f;
    gp.sampling.seed = 5;
    gp.sampling.repeat_penalty = 1.1f;
    gp.max_tokens = 12;

    /* turn 1: everything */
    CHECK(llamac_session_begin(s, &gp) == LLAMAC_OK, "begin: %s", llamac_session_error(s));
    llamac_tokens t1 = render(chat, fmt, tok, 0, 1);
    CHECK_PROMPT(s, &t1, 0, "turn 1");
    CHECK(llamac_session_pending(s) == (int64_t)t1.n, "pending = the whole prompt");
    events e1;
    e1.cancel_after = 0;
    run(s, &e1);
    int32_t g1[MAX_EV];
    int n1 = gen_tokens(&e1, g1);
    const llamac_answer *a = llamac_session_answer(s);
    CHECK(a->prompt_tokens == (int64_t)t1.n && a->cached_tokens == 0 && a->completion_tokens == n1 && n1 > 0,
          "turn 1 counts: %lld %lld %lld", (long long)a->prompt_tokens, (long long)a->cached_tokens,
          (long long)a->completion_tokens);
    CHECK(a->finish == LLAMAC_FINISH_LENGTH || a->finish == LLAMAC_FINISH_STOP, "turn 1 finish %d", a->finish);
    CHECK(e1.finish == a->finish && !strcmp(e1.text, a->content) && a->content_len == e1.len,
          "the streamed text is the answer");
    CHECK(a->prompt_ms >= 0 && a->ttft_ms >= a->prompt_ms && a->gen_ms >= 0, "timings");
    const int64_t used1 = llamac_session_used(s);
    CHECK(used1 == (int64_t)t1.n + n1 - 1, "the cache holds the prompt and all answer tokens but the last");
    CHECK(llamac_chat_n_messages(chat) == 3 && !strcmp(llamac_chat_message_role(chat, 2), "assistant") &&
              !strcmp(llamac_chat_message_content(chat, 2, NULL), a->content),
          "the answer is the chat's third message");
    const int stopped1 = a->finish == LLAMAC_FINISH_STOP;
    const int32_t last1 = g1[n1 - 1];

    /* turn 2: only the tail of the answer and the new message */
    llamac_chat_add_message(chat, "user", "Who was Aaron?");
    CHECK(llamac_session_begin(s, &gp) == LLAMAC_OK, "begin 2: %s", llamac_session_error(s));
    llamac_tokens want2 = {0};
    llamac_tokens_push(&want2, last1);
    if (!stopped1)
        llamac_tokens_push(&want2, llamac_token_eot(tok));
    llamac_tokens r3 = render(chat, fmt, tok, 3, 1);
    for (size_t i = 0; i < r3.n; i++)
        llamac_tokens_push(&want2, r3.ids[i]);
    CHECK(llamac_session_answer(s)->cached_tokens == used1, "turn 2 reuses the whole cache");
    CHECK_PROMPT(s, &want2, 0, "turn 2");
    events e2;
    e2.cancel_after = 0;
    run(s, &e2);
    int32_t g2[MAX_EV];
    int n2 = gen_tokens(&e2, g2);

    /* the same tokens prefilled from scratch give the same answer */
    llamac_tokens full = {0};
    for (size_t i = 0; i < t1.n; i++)
        llamac_tokens_push(&full, t1.ids[i]);
    for (int i = 0; i < n1 - 1; i++)
        llamac_tokens_push(&full, g1[i]);
    for (size_t i = 0; i < want2.n; i++)
        llamac_tokens_push(&full, want2.ids[i]);
    llamac_context *c2 = context(m, 512, 1, 512);
    llamac_session *fresh = session(c2, 0);
    CHECK(llamac_session_begin_tokens(fresh, full.ids, (int64_t)full.n, &gp) == LLAMAC_OK, "fresh begin_tokens");
    events ef;
    ef.cancel_after = 0;
    run(fresh, &ef);
    int32_t gf[MAX_EV];
    int nf = gen_tokens(&ef, gf);
    CHECK(same(g2, n2, gf, nf) && !strcmp(e2.text, ef.text), "the cached conversation answers like a fresh prefill");
    CHECK(llamac_chat_n_messages(llamac_session_chat(fresh)) == 0, "a raw completion is not added to the chat");

    /* edits: truncate after the first answer and ask something else -> re-rendered from message 3 */
    const int64_t msg3 = used1 + (stopped1 ? 1 : 2);
    llamac_chat_truncate(chat, 3);
    llamac_chat_add_message(chat, "user", "Who was Miriam?");
    CHECK(llamac_session_begin(s, &gp) == LLAMAC_OK, "begin after truncate");
    llamac_tokens r3b = render(chat, fmt, tok, 3, 1);
    CHECK(llamac_session_answer(s)->cached_tokens >= msg3, "truncate: the first turn stays cached (%lld < %lld)",
          (long long)llamac_session_answer(s)->cached_tokens, (long long)msg3);
    {
        /* the cached part beyond msg3 is the user header that the new message shares */
        int64_t shared = llamac_session_answer(s)->cached_tokens - msg3;
        CHECK_PROMPT(s, &r3b, shared, "truncate");
    }
    llamac_session_cancel(s);
    CHECK(llamac_session_answer(s)->finish == LLAMAC_FINISH_CANCELLED && llamac_chat_n_messages(chat) == 4,
          "cancel before the first token adds nothing");

    /* remove the first turn: the system message stays cached */
    llamac_chat_remove(chat, 1, 2); /* system, user(Miriam) */
    llamac_tokens sys_only = {0};
    {
        llamac_tokens all0 = render(chat, fmt, tok, 0, 0), from1 = render(chat, fmt, tok, 1, 0);
        sys_only.n = all0.n - from1.n;
        llamac_tokens_free(&all0);
        llamac_tokens_free(&from1);
    }
    CHECK(llamac_session_begin(s, &gp) == LLAMAC_OK, "begin after remove");
    llamac_tokens tr = render(chat, fmt, tok, 0, 1);
    int64_t cached = llamac_session_answer(s)->cached_tokens;
    CHECK(cached >= (int64_t)sys_only.n, "remove: the system message stays cached (%lld < %zu)", (long long)cached,
          sys_only.n);
    CHECK_PROMPT(s, &tr, cached, "remove");
    events e3;
    e3.cancel_after = 3;
    run(s, &e3);
    CHECK(e3.finish == LLAMAC_FINISH_CANCELLED && llamac_session_answer(s)->completion_tokens == 3 &&
              llamac_chat_n_messages(chat) == 3,
          "cancel from the event callback keeps the answer (finish %d, %lld tokens)", e3.finish,
          (long long)llamac_session_answer(s)->completion_tokens);
    int32_t g3[MAX_EV];
    gen_tokens(&e3, g3);
    llamac_chat_add_message(chat, "user", "Go on.");
    CHECK(llamac_session_begin(s, &gp) == LLAMAC_OK, "begin after cancel");
    int64_t np = 0;
    const int32_t *p = llamac_session_prompt(s, &np);
    CHECK(np > 2 && p[0] == g3[2] && p[1] == llamac_token_eot(tok), "a cancelled answer is closed with <|eot_id|>");
    llamac_session_cancel(s);

    /* tools change the system block: re-rendered from message 0, the common prefix kept */
    const char *tools = "[{\"type\":\"function\",\"function\":{\"name\":\"verse\",\"parameters\":{\"type\":\"object\"}}}]";
    llamac_chat_set_tools_json(chat, tools, strlen(tools));
    CHECK(llamac_session_begin(s, &gp) == LLAMAC_OK, "begin with tools: %s", llamac_session_error(s));
    llamac_tokens tt = render(chat, fmt, tok, 0, 1);
    cached = llamac_session_answer(s)->cached_tokens;
    CHECK(cached > 0 && cached < (int64_t)sys_only.n, "tools: only the start of the system block stays (%lld)",
          (long long)cached);
    CHECK_PROMPT(s, &tt, cached, "tools");
    llamac_session_cancel(s);
    /* tool_choice none renders without them */
    gp.tool_choice = LLAMAC_TOOL_CHOICE_NONE;
    CHECK(llamac_session_begin(s, &gp) == LLAMAC_OK, "begin, tool_choice none");
    llamac_chat *plain = copy_without_tools(s);
    llamac_tokens tn = render(plain, fmt, tok, 0, 1);
    CHECK_PROMPT(s, &tn, llamac_session_answer(s)->cached_tokens, "tool_choice none");
    llamac_session_cancel(s);
    gp.tool_choice = LLAMAC_TOOL_CHOICE_AUTO;

    /* forget: everything again */
    llamac_session_forget(s);
    CHECK(llamac_session_used(s) == 0 && llamac_seq_len(c, 0) == 0, "forget empties the sequence");
    /* (the prefix cache may still hand back whole blocks of what was forgotten) */
    CHECK(llamac_session_begin(s, &gp) == LLAMAC_OK, "begin after forget");
    CHECK_PROMPT(s, &tt, llamac_session_answer(s)->cached_tokens, "forget");
    CHECK(llamac_session_begin(s, &gp) == LLAMAC_E_INVALID_ARG && strstr(llamac_session_error(s), "running"),
          "begin while an answer runs");
    llamac_session_cancel(s);

    llamac_chat_free(plain);
    llamac_tokens_free(&t1), llamac_tokens_free(&want2), llamac_tokens_free(&r3), llamac_tokens_free(&full);
    llamac_tokens_free(&r3b), llamac_tokens_free(&tr), llamac_tokens_free(&tt), llamac_tokens_free(&tn);
    llamac_session_free(fresh);
    llamac_context_free(c2);
    llamac_session_free(s);
    llamac_context_free(c);
}

/* ---------------------------------------------------------------------------------------------------------
 * stop strings, limits, context (the "talk" chain: Hello world againHello world again...)
 * ------------------------------------------------------------------------------------------------------- */
static void one_answer(llamac_session *s, const char *user, const llamac_gen_params *gp, events *e)
{
    llamac_chat_truncate(llamac_session_chat(s), 0);
    llamac_chat_add_message(llamac_session_chat(s), "user", user);
    CHECK(llamac_session_begin(s, gp) == LLAMAC_OK, "begin: %s", llamac_session_error(s));
    e->cancel_after = 0;
    run(s, e);
}

static void test_stop_strings(llamac_model *m)
{
    const llamac_tokenizer *tok = llamac_model_tokenizer(m);
    llamac_context *c = context(m, 256, 1, 64);
    llamac_session *s = session(c, 0);
    const llamac_chat_format fmt = llamac_session_format(s);
    llamac_chat *chat = llamac_session_chat(s);
    events e;
    llamac_gen_params gp = greedy(40);

    /* a stop string across two tokens (" world" | " again") */
    gp.stop[0] = "d ag";
    one_answer(s, "Say hello", &gp, &e);
    const llamac_answer *a = llamac_session_answer(s);
    CHECK(a->finish == LLAMAC_FINISH_STOP && !strcmp(a->content, "Hello worl") && !strcmp(e.text, "Hello worl") &&
              a->completion_tokens == 3,
          "stop 'd ag': '%s' streamed '%s' (%lld tokens)", a->content, e.text, (long long)a->completion_tokens);
    CHECK(a->raw_len == 10 && !memcmp(a->raw, "Hello worl", 10), "raw ends at the stop string");
    CHECK(e.n == 3 && e.off[1] == 5 && e.off[2] - e.off[1] == 5 && e.off[3] == e.off[2],
          "events: 'Hello', ' worl' (the 'd' held back), ''");
    CHECK(!strcmp(llamac_chat_message_content(chat, 1, NULL), "Hello worl"), "the chat holds the trimmed answer");
    /* the next turn re-renders the trimmed answer, keeping what matches of the generated tokens */
    const int64_t prompt1 = a->prompt_tokens;
    llamac_chat_add_message(chat, "user", "More");
    gp.stop[0] = NULL;
    CHECK(llamac_session_begin(s, &gp) == LLAMAC_OK, "begin after a stop string");
    llamac_tokens t = render(chat, fmt, tok, 0, 1);
    int64_t cached = llamac_session_answer(s)->cached_tokens;
    CHECK(cached > prompt1 && cached < prompt1 + 2, "cached %lld: the prompt and 'Hello' (prompt %lld)",
          (long long)cached, (long long)prompt1);
    CHECK_PROMPT(s, &t, cached, "after a stop string");
    llamac_session_cancel(s);
    llamac_tokens_free(&t);

    /* across three tokens; at the very start; never */
    gp.stop[0] = "world againHe";
    one_answer(s, "Say hello", &gp, &e);
    CHECK(!strcmp(llamac_session_answer(s)->content, "Hello ") && !strcmp(e.text, "Hello "), "three tokens: '%s'",
          e.text);
    gp.stop[0] = "zzz";
    gp.stop[1] = "Hello";
    one_answer(s, "Say hello", &gp, &e);
    CHECK(!strcmp(llamac_session_answer(s)->content, "") && e.len == 0 &&
              llamac_session_answer(s)->finish == LLAMAC_FINISH_STOP,
          "a stop string at the start: '%s'", e.text);
    /* held back while it might still match, released when it cannot */
    gp.stop[0] = "againHello there";
    gp.stop[1] = NULL;
    gp.max_tokens = 6;
    one_answer(s, "Say hello", &gp, &e);
    a = llamac_session_answer(s);
    CHECK(a->finish == LLAMAC_FINISH_LENGTH && !strcmp(a->content, "Hello world againHello world again") &&
              !strcmp(e.text, a->content),
          "nothing lost: '%s'", e.text);
    CHECK(e.n == 6 && e.off[3] - e.off[2] == 1 && e.off[4] == e.off[3] && e.off[5] - e.off[4] == 16 &&
              e.off[6] - e.off[5] == 6,
          "events ' ' (again held), '' (againHello held), 'againHello world', then ' again' at the end");
    CHECK(!e.utf8_bad, "whole UTF-8");

    /* max_tokens -> LENGTH, the next turn closes the answer with <|eot_id|> */
    gp = greedy(5);
    one_answer(s, "Say hello", &gp, &e);
    a = llamac_session_answer(s);
    CHECK(a->finish == LLAMAC_FINISH_LENGTH && a->completion_tokens == 5 &&
              !strcmp(a->content, "Hello world againHello world"),
          "max_tokens 5: '%s'", a->content);
    llamac_chat_add_message(chat, "user", "More");
    CHECK(llamac_session_begin(s, &gp) == LLAMAC_OK, "begin after LENGTH");
    int64_t np = 0;
    const int32_t *p = llamac_session_prompt(s, &np);
    CHECK(np > 2 && p[0] == 1917 && p[1] == EOT, "the tail: ' world' then <|eot_id|>");
    llamac_session_cancel(s);
    gp = greedy(0);
    int n_msg = llamac_chat_n_messages(chat);
    CHECK(llamac_session_begin(s, &gp) == LLAMAC_OK, "max_tokens 0");
    run(s, &e);
    CHECK(llamac_session_answer(s)->finish == LLAMAC_FINISH_LENGTH && e.len == 0 &&
              llamac_session_answer(s)->completion_tokens == 0 && llamac_chat_n_messages(chat) == n_msg,
          "max_tokens 0: nothing generated, nothing added");

    /* bad stop strings */
    gp = greedy(4);
    gp.stop[0] = "";
    CHECK(llamac_session_begin(s, &gp) == LLAMAC_E_INVALID_ARG, "empty stop string");
    gp.stop[0] = "\xff";
    CHECK(llamac_session_begin(s, &gp) == LLAMAC_E_INVALID_ARG, "invalid UTF-8 stop string");
    gp = greedy(4);
    gp.n_logprobs = LLAMAC_MAX_TOP_LOGPROBS + 2;
    CHECK(llamac_session_begin(s, &gp) == LLAMAC_E_INVALID_ARG, "n_logprobs too large");
    gp = greedy(4);
    gp.sampling.temperature = NAN;
    CHECK(llamac_session_begin(s, &gp) == LLAMAC_E_INVALID_ARG, "NaN temperature");
    llamac_session_free(s);
    llamac_context_free(c);

    /* a full context: CONTEXT, then CONTEXT_FULL, then drop_oldest keeps the system message */
    c = context(m, 80, 1, 64);
    s = session(c, 0);
    chat = llamac_session_chat(s);
    llamac_chat_add_message(chat, "system", "Be brief.");
    llamac_chat_add_message(chat, "user", "Talk");
    gp = greedy(-1);
    CHECK(llamac_session_begin(s, &gp) == LLAMAC_OK, "begin (80 positions)");
    run(s, &e);
    a = llamac_session_answer(s);
    CHECK(a->finish == LLAMAC_FINISH_CONTEXT && llamac_session_used(s) == 80 &&
              a->completion_tokens == 80 - a->prompt_tokens + 1,
          "CONTEXT after %lld tokens, %lld used", (long long)a->completion_tokens, (long long)llamac_session_used(s));
    CHECK(!strcmp(llamac_finish_name(a->finish), "length"), "finish name");
    llamac_chat_add_message(chat, "user", "Again");
    CHECK(llamac_session_begin(s, &gp) == LLAMAC_E_CONTEXT_FULL && llamac_session_used(s) == 80 &&
              strstr(llamac_session_error(s), "context"),
          "a full context refuses the next turn: %s", llamac_session_error(s));
    CHECK(llamac_session_drop_oldest(s, 8) == 2 && llamac_chat_n_messages(chat) == 2 &&
              !strcmp(llamac_chat_message_content(chat, 1, NULL), "Again"),
          "drop_oldest drops the first turn");
    CHECK(llamac_session_begin(s, &gp) == LLAMAC_OK, "begin after dropping: %s", llamac_session_error(s));
    llamac_tokens tt = render(chat, fmt, tok, 0, 1), from1 = render(chat, fmt, tok, 1, 1);
    cached = llamac_session_answer(s)->cached_tokens;
    CHECK(cached >= (int64_t)(tt.n - from1.n), "the system message stays cached (%lld)", (long long)cached);
    CHECK_PROMPT(s, &tt, cached, "after drop_oldest");
    llamac_session_cancel(s);
    CHECK(llamac_session_drop_oldest(s, 8) == 0, "nothing more to drop");
    llamac_tokens_free(&tt);
    llamac_tokens_free(&from1);
    llamac_session_free(s);
    llamac_context_free(c);
}

/* ---------------------------------------------------------------------------------------------------------
 * tool calls
 * ------------------------------------------------------------------------------------------------------- */
static const char *TOOLS = "[{\"type\":\"function\",\"function\":{\"name\":\"get_weather\",\"description\":\"Weather\","
                           "\"parameters\":{\"type\":\"object\",\"properties\":{\"city\":{\"type\":\"string\"}}}}}]";

/* The first call's id in a tool_calls JSON array, checking the OpenAI shape. */
static void check_call(int line, const char *calls, const char *args, char *id_out)
{
    const char *id = calls ? strstr(calls, "\"id\":\"call_") : NULL;
    CHECK_AT(line, calls && calls[0] == '[' && id && strstr(calls, "\"type\":\"function\"") &&
                 strstr(calls, "\"function\":{\"name\":\"get_weather\",\"arguments\":") && strstr(calls, args),
             "tool_calls: %s", calls ? calls : "(null)");
    if (id && id_out) {
        memcpy(id_out, id + 6, 21);
        id_out[21] = 0;
    }
}

/* A session on a new context asked about the weather with TOOLS, its first answer run into *e. The context keeps
 * no prefix cache, so that after llamac_session_forget the whole prompt is decoded (and can be checked). */
static llamac_session *weather(llamac_model *m, llamac_chat_format want, llamac_context **c, events *e)
{
    *c = context_pc(m, 1024, 1, 256, 0);
    llamac_session *s = session(*c, 0);
    CHECK(llamac_session_format(s) == want, "the chain model's format is %d", (int)want);
    llamac_chat *chat = llamac_session_chat(s);
    llamac_chat_set_tools_json(chat, TOOLS, strlen(TOOLS));
    llamac_chat_add_message(chat, "user", "Weather in Paris?");
    llamac_gen_params gp = greedy(40);
    CHECK(llamac_session_begin(s, &gp) == LLAMAC_OK, "begin: %s", llamac_session_error(s));
    e->cancel_after = 0;
    run(s, e);
    return s;
}

static void test_tools_pythonic(llamac_model *m)
{
    const llamac_tokenizer *tok = llamac_model_tokenizer(m);
    llamac_context *c;
    events e;
    llamac_session *s = weather(m, LLAMAC_CHAT_LLAMA3_2, &c, &e);
    const llamac_chat_format fmt = llamac_session_format(s);
    llamac_chat *chat = llamac_session_chat(s);
    llamac_gen_params gp = greedy(40);
    const llamac_answer *a = llamac_session_answer(s);
    char id1[32] = "", id2[32] = "";
    CHECK(a->finish == LLAMAC_FINISH_TOOL_CALLS && a->n_tool_calls == 1 && a->content_len == 0 && e.len == 0 &&
              e.finish == LLAMAC_FINISH_TOOL_CALLS,
          "a pythonic call: finish %d, content '%s', streamed '%s'", a->finish, a->content, e.text);
    CHECK(a->raw_len == 27 && !memcmp(a->raw, "[get_weather(city='Paris')]", 27), "raw '%s'", a->raw);
    CHECK(!strcmp(llamac_finish_name(a->finish), "tool_calls"), "finish name");
    check_call(__LINE__, a->tool_calls, "\"{\\\"city\\\": \\\"Paris\\\"}\"", id1);
    CHECK(llamac_chat_n_messages(chat) == 2 && llamac_chat_message_n_tool_calls(chat, 1) == 1, "the call message");
    char *mj = NULL;
    llamac_chat_message_json(chat, 1, &mj);
    CHECK(mj && strstr(mj, id1) && strstr(mj, "\"content\":null"), "message json %s", mj ? mj : "");
    free(mj);
    /* the tool result: only the stop token and the new message are decoded */
    char result[256];
    snprintf(result, sizeof result, "{\"role\":\"tool\",\"tool_call_id\":\"%s\",\"content\":\"21 C\"}", id1);
    llamac_chat_add_message_json(chat, result, strlen(result));
    CHECK(llamac_session_begin(s, &gp) == LLAMAC_OK, "begin after the call");
    llamac_tokens want = {0}, r2 = render(chat, fmt, tok, 2, 1);
    llamac_tokens_push(&want, EOT);
    for (size_t i = 0; i < r2.n; i++)
        llamac_tokens_push(&want, r2.ids[i]);
    CHECK_PROMPT(s, &want, 0, "after a tool call");
    run(s, &e);
    check_call(__LINE__, llamac_session_answer(s)->tool_calls, "Paris", id2);
    CHECK(id1[0] && id2[0] && strcmp(id1, id2), "call ids differ: %s %s", id1, id2);

    /* tool_choice none: rendered without tools, the call text is the answer */
    gp.tool_choice = LLAMAC_TOOL_CHOICE_NONE;
    llamac_chat_truncate(chat, 1);
    CHECK(llamac_session_begin(s, &gp) == LLAMAC_OK, "begin, none");
    llamac_chat *plain = copy_without_tools(s);
    llamac_tokens tn = render(plain, fmt, tok, 0, 1);
    CHECK_PROMPT(s, &tn, llamac_session_answer(s)->cached_tokens, "tool_choice none");
    run(s, &e);
    a = llamac_session_answer(s);
    CHECK(a->finish == LLAMAC_FINISH_STOP && !strcmp(a->content, "[get_weather(city='Paris')]") &&
              !strcmp(e.text, a->content) && !a->tool_calls,
          "none: '%s'", a->content);
    /* parse_tool_calls 0: the same */
    gp.tool_choice = LLAMAC_TOOL_CHOICE_AUTO;
    gp.parse_tool_calls = 0;
    llamac_chat_truncate(chat, 1);
    CHECK(llamac_session_begin(s, &gp) == LLAMAC_OK, "begin, no parsing");
    run(s, &e);
    CHECK(llamac_session_answer(s)->finish == LLAMAC_FINISH_STOP && !strcmp(e.text, "[get_weather(city='Paris')]"),
          "parse_tool_calls 0: '%s'", e.text);
    gp.parse_tool_calls = 1;

    /* required: the answer starts with "[" (rendered as part of the prompt), the model continues the call */
    gp.tool_choice = LLAMAC_TOOL_CHOICE_REQUIRED;
    llamac_chat_truncate(chat, 1);
    llamac_session_forget(s); /* the whole prompt is to decode */
    CHECK(llamac_session_begin(s, &gp) == LLAMAC_OK, "begin, required: %s", llamac_session_error(s));
    int64_t np = 0;
    const int32_t *p = llamac_session_prompt(s, &np);
    CHECK(np >= 5 && p[np - 1] == 58 && p[np - 2] == 271 && p[np - 3] == 128007, "required opens with '['");
    run(s, &e);
    a = llamac_session_answer(s);
    CHECK(a->finish == LLAMAC_FINISH_TOOL_CALLS && a->raw[0] == '[' && a->completion_tokens == 7,
          "required: finish %d raw '%s'", a->finish, a->raw);
    /* named: "[get_weather(" */
    gp.tool_choice = LLAMAC_TOOL_CHOICE_NAMED;
    gp.tool_name = "get_weather";
    llamac_chat_truncate(chat, 1);
    llamac_session_forget(s); /* the whole prompt is to decode */
    CHECK(llamac_session_begin(s, &gp) == LLAMAC_OK, "begin, named: %s", llamac_session_error(s));
    llamac_tokens opening = {0};
    llamac_tokenize(tok, "[get_weather(", 13, 0, &opening);
    p = llamac_session_prompt(s, &np);
    CHECK(np > (int64_t)opening.n && same(p + np - opening.n, (int64_t)opening.n, opening.ids, (int64_t)opening.n) &&
              p[np - opening.n - 1] == 271,
          "named opens with '[get_weather('");
    llamac_session_cancel(s);
    gp.tool_name = "nope";
    CHECK(llamac_session_begin(s, &gp) == LLAMAC_E_INVALID_ARG && strstr(llamac_session_error(s), "nope"),
          "named: an unknown tool");
    llamac_chat_set_tools_json(chat, NULL, 0);
    gp.tool_choice = LLAMAC_TOOL_CHOICE_REQUIRED;
    CHECK(llamac_session_begin(s, &gp) == LLAMAC_E_INVALID_ARG, "required without tools");
    /* without tools the call is plain text, streamed */
    gp.tool_choice = LLAMAC_TOOL_CHOICE_AUTO;
    CHECK(llamac_session_begin(s, &gp) == LLAMAC_OK, "begin without tools");
    run(s, &e);
    CHECK(llamac_session_answer(s)->finish == LLAMAC_FINISH_STOP && !strcmp(e.text, "[get_weather(city='Paris')]"),
          "no tools: '%s'", e.text);

    llamac_chat_free(plain);
    llamac_tokens_free(&want), llamac_tokens_free(&r2), llamac_tokens_free(&tn), llamac_tokens_free(&opening);
    llamac_session_free(s);
    llamac_context_free(c);
}

/* chain2 (3.1): "\n\n" -> {"name": "get_weather","parameters":{"city":"Paris"}} <|eot_id|> -> Y -> 0xC3 -> 0xA9 ->
 * W -> <|eom_id|> */
static const int32_t JSON_CALL[] = {5018, 609, 794, 330, 456, 70464, 2247, 14105, 23118, 9103, 3332, 60704, 32075};
#define N_JSON_CALL 13

static void test_tools_json_and_utf8(llamac_model *m, int32_t y, int32_t b_c3, int32_t b_a9, int32_t w)
{
    const llamac_tokenizer *tok = llamac_model_tokenizer(m);
    llamac_context *c;
    events e;
    llamac_session *s = weather(m, LLAMAC_CHAT_LLAMA3_1, &c, &e);
    llamac_chat *chat = llamac_session_chat(s);
    llamac_gen_params gp = greedy(40);
    const llamac_answer *a = llamac_session_answer(s);
    CHECK(a->finish == LLAMAC_FINISH_TOOL_CALLS && a->completion_tokens == N_JSON_CALL + 1 && e.len == 0,
          "a JSON call: finish %d, %lld tokens, streamed '%s'", a->finish, (long long)a->completion_tokens, e.text);
    check_call(__LINE__, a->tool_calls, "\"{\\\"city\\\": \\\"Paris\\\"}\"", NULL);

    /* required: {"name": " opens the answer and is part of it */
    gp.tool_choice = LLAMAC_TOOL_CHOICE_REQUIRED;
    llamac_chat_truncate(chat, 1);
    llamac_session_forget(s); /* the whole prompt is to decode */
    CHECK(llamac_session_begin(s, &gp) == LLAMAC_OK, "begin, required");
    int64_t np = 0;
    const int32_t *p = llamac_session_prompt(s, &np);
    CHECK(np > 5 && same(p + np - 4, 4, JSON_CALL, 4) && p[np - 5] == 271, "required opens with {\"name\": \"");
    run(s, &e);
    a = llamac_session_answer(s);
    CHECK(a->finish == LLAMAC_FINISH_TOOL_CALLS && !strncmp(a->raw, "{\"name\": \"get_weather\"", 22) &&
              a->completion_tokens == N_JSON_CALL - 4 + 1,
          "required: raw '%s'", a->raw);
    /* named */
    gp.tool_choice = LLAMAC_TOOL_CHOICE_NAMED;
    gp.tool_name = "get_weather";
    llamac_chat_truncate(chat, 1);
    llamac_session_forget(s); /* the whole prompt is to decode */
    CHECK(llamac_session_begin(s, &gp) == LLAMAC_OK, "begin, named");
    llamac_tokens opening = {0};
    const char *open = "{\"name\": \"get_weather\", \"parameters\": ";
    llamac_tokenize(tok, open, strlen(open), 0, &opening);
    p = llamac_session_prompt(s, &np);
    CHECK(np > (int64_t)opening.n && same(p + np - opening.n, (int64_t)opening.n, opening.ids, (int64_t)opening.n),
          "named opens with %s", open);
    llamac_session_cancel(s);
    CHECK(!strncmp(llamac_session_answer(s)->raw, open, strlen(open)), "the opening is part of the answer");
    llamac_tokens_free(&opening);

    /* whole UTF-8 pieces: Y -> 0xC3 | 0xA9 (é split over two byte tokens) -> W -> <|eom_id|> */
    gp = greedy(10);
    int32_t prompt[2] = {llamac_token_bos(tok), y};
    CHECK(llamac_session_begin_tokens(s, prompt, 2, &gp) == LLAMAC_OK, "begin_tokens");
    run(s, &e);
    a = llamac_session_answer(s);
    CHECK(e.n == 4 && e.tok[0] == b_c3 && e.off[1] == 0 && e.tok[1] == b_a9 && e.off[2] == 2 &&
              !memcmp(e.text, "\xc3\xa9", 2) && e.tok[2] == w && a->finish == LLAMAC_FINISH_STOP,
          "é is streamed whole, once both bytes are there (%d events, '%s')", e.n, e.text);
    CHECK(!e.utf8_bad, "whole UTF-8");
    gp.max_tokens = 1;
    CHECK(llamac_session_begin_tokens(s, prompt, 2, &gp) == LLAMAC_OK, "begin_tokens, 1 token");
    run(s, &e);
    CHECK(e.n == 1 && !strcmp(e.text, "\xef\xbf\xbd") && llamac_session_answer(s)->finish == LLAMAC_FINISH_LENGTH,
          "half a character at the end becomes U+FFFD: '%s'", e.text);
    CHECK(llamac_session_answer(s)->cached_tokens == 2 - 1, "begin_tokens keeps the common prefix");
    llamac_session_free(s);
    llamac_context_free(c);
}

/* ---------------------------------------------------------------------------------------------------------
 * raw prompts and logprobs (tiny-kjv)
 * ------------------------------------------------------------------------------------------------------- */
static void test_raw_and_logprobs(llamac_model *m)
{
    const llamac_tokenizer *tok = llamac_model_tokenizer(m);
    llamac_context *c = context(m, 256, 1, 64);
    llamac_session *s = session(c, 0);
    llamac_tokens a = {0};
    llamac_tokenize(tok, "And the LORD spake unto Moses, saying,", 38, LLAMAC_TOKENIZE_ADD_BOS, &a);
    llamac_gen_params gp = greedy(10);
    gp.n_logprobs = 4;
    gp.ignore_eos = 1; /* the model's greedy answer to this raw prompt is <|eot_id|> at once */
    CHECK(llamac_session_begin_tokens(s, a.ids, (int64_t)a.n, &gp) == LLAMAC_OK, "begin_tokens");
    llamac_batch_buf b;
    llamac_batch_buf_init(&b, 16);
    int ok = 1, n_ev = 0;
    int32_t g[16];
    while (llamac_session_pending(s) > 0) {
        llamac_batch_buf_clear(&b);
        llamac_session_batch(s, &b, 16);
        if (llamac_decode(c, &b.batch) != LLAMAC_OK) {
            CHECK(0, "decode: %s", llamac_context_error(c));
            break;
        }
        llamac_session_event ev;
        CHECK(llamac_session_commit(s, &ev) == LLAMAC_OK, "commit: %s", llamac_session_error(s));
        if (ev.token < 0)
            continue;
        g[n_ev++] = ev.token;
        ok &= ev.n_top == 3 && ev.chosen.token == ev.token && ev.top[0].token == ev.token && ev.chosen.logprob <= 0 &&
              ev.top[0].logprob >= ev.top[1].logprob && ev.top[1].logprob >= ev.top[2].logprob;
    }
    CHECK(ok && n_ev == 10, "greedy logprobs: the chosen token is the top one (%d events)", n_ev);
    CHECK(llamac_session_answer(s)->finish == LLAMAC_FINISH_LENGTH && g[0] == llamac_token_eot(tok) &&
              strstr(llamac_session_answer(s)->raw, "<|eot_id|>") == llamac_session_answer(s)->raw,
          "ignore_eos: the stop token is generated as text");
    /* the continuation of prompt + answer reuses everything decoded */
    llamac_tokens more = {0};
    for (size_t i = 0; i < a.n; i++)
        llamac_tokens_push(&more, a.ids[i]);
    for (int i = 0; i < n_ev; i++)
        llamac_tokens_push(&more, g[i]);
    llamac_tokenize(tok, " and", 4, 0, &more);
    gp.n_logprobs = 0;
    CHECK(llamac_session_begin_tokens(s, more.ids, (int64_t)more.n, &gp) == LLAMAC_OK &&
              llamac_session_answer(s)->cached_tokens == (int64_t)a.n + n_ev - 1,
          "begin_tokens keeps the common prefix (%lld)", (long long)llamac_session_answer(s)->cached_tokens);
    llamac_session_cancel(s);
    /* a diverging prompt keeps the part before the divergence */
    more.ids[5] = more.ids[5] == 100 ? 101 : 100;
    CHECK(llamac_session_begin_tokens(s, more.ids, (int64_t)more.n, &gp) == LLAMAC_OK &&
              llamac_session_answer(s)->cached_tokens == 5,
          "divergence at 5");
    llamac_session_cancel(s);
    int32_t bad = 99999;
    CHECK(llamac_session_begin_tokens(s, &bad, 1, &gp) == LLAMAC_E_TOKEN && strstr(llamac_session_error(s), "vocabulary"),
          "a token outside the vocabulary");
    CHECK(llamac_session_begin_tokens(s, a.ids, 0, &gp) == LLAMAC_E_INVALID_ARG, "an empty prompt");
    llamac_chat_truncate(llamac_session_chat(s), 0);
    CHECK(llamac_session_begin(s, &gp) == LLAMAC_E_INVALID_ARG, "an empty conversation");
    CHECK(llamac_session_run(s, NULL, NULL) == LLAMAC_E_INVALID_ARG, "run without begin");
    llamac_session_event ev;
    CHECK(llamac_session_commit(s, &ev) == LLAMAC_OK && ev.token == -1 && ev.finish == LLAMAC_FINISH_NONE,
          "commit without anything in flight");
    CHECK(llamac_session_batch(s, &b, 16) == 0 && llamac_session_pending(s) == 0, "nothing pending");
    /* NULL-safety */
    llamac_session_free(NULL);
    llamac_session_cancel(NULL);
    llamac_session_forget(NULL);
    CHECK(!llamac_session_chat(NULL) && !strcmp(llamac_session_error(NULL), "") && llamac_session_used(NULL) == 0 &&
              llamac_session_pending(NULL) == 0 && !llamac_session_answer(NULL),
          "NULL session");
    llamac_session *bad_s = NULL;
    char err[256];
    llamac_session_params sp = llamac_session_default_params();
    sp.seq = 3;
    CHECK(llamac_session_create(c, &sp, &bad_s, err, sizeof err) == LLAMAC_E_INVALID_ARG && !bad_s &&
              strstr(err, "sequence"),
          "sequence out of range: %s", err);
    llamac_batch_buf_free(&b);
    llamac_tokens_free(&a);
    llamac_tokens_free(&more);
    llamac_session_free(s);
    llamac_context_free(c);
}

/* ---------------------------------------------------------------------------------------------------------
 * the key property: sessions stepped together == each alone
 * ------------------------------------------------------------------------------------------------------- */
#define NS 6
typedef struct plan {
    const char *user[2];
    int max_tokens;
    float temp;
    uint64_t seed;
    const char *stop;
    int raw;        /* a raw completion instead of a chat */
    int start_step; /* the batched run begins this session at this step */
} plan;

static const plan PLANS[NS] = {
    {{"Tell me about Moses.", "And Aaron?"}, 20, 0, 0, NULL, 0, 0},
    {{"Who was David?", "What did he sing?"}, 33, 0.8f, 7, NULL, 0, 2},
    {{"In the beginning", NULL}, 25, 0, 0, NULL, 1, 1},
    {{"What does John 3:16 say?", "Again."}, 14, 0.9f, 1234, NULL, 0, 5},
    {{"Speak of the sea.", "More."}, 40, 0.7f, 99, "LORD", 0, 0},
    {{"Bless me.", "Thank you."}, 9, 0, 0, NULL, 0, 7},
};

typedef struct outcome {
    events ev[2];
} outcome;

static llamac_gen_params plan_params(const plan *p)
{
    llamac_gen_params gp = llamac_gen_default_params();
    gp.sampling.temperature = p->temp;
    gp.sampling.seed = p->seed;
    gp.max_tokens = p->max_tokens;
    gp.stop[0] = p->stop;
    return gp;
}

static int plan_begin(llamac_session *s, const plan *p, int turn, const llamac_tokenizer *tok)
{
    llamac_gen_params gp = plan_params(p);
    if (p->raw) {
        llamac_tokens t = {0};
        llamac_tokenize(tok, p->user[0], strlen(p->user[0]), LLAMAC_TOKENIZE_ADD_BOS, &t);
        llamac_status st = llamac_session_begin_tokens(s, t.ids, (int64_t)t.n, &gp);
        llamac_tokens_free(&t);
        return st == LLAMAC_OK;
    }
    if (turn == 0)
        llamac_chat_add_message(llamac_session_chat(s), "system", "You are a scribe.");
    llamac_chat_add_message(llamac_session_chat(s), "user", p->user[turn]);
    return llamac_session_begin(s, &gp) == LLAMAC_OK;
}

static void test_batched_equals_alone(llamac_model *m)
{
    const llamac_tokenizer *tok = llamac_model_tokenizer(m);
    static outcome alone[NS], together[NS];
    for (int i = 0; i < NS; i++) { /* each alone, in its own context */
        llamac_context *c = context(m, 512, 1, 512);
        llamac_session *s = session(c, 0);
        for (int turn = 0; turn < 2 && PLANS[i].user[turn]; turn++) {
            CHECK(plan_begin(s, &PLANS[i], turn, tok), "alone %d: %s", i, llamac_session_error(s));
            alone[i].ev[turn].cancel_after = 0;
            run(s, &alone[i].ev[turn]);
        }
        llamac_session_free(s);
        llamac_context_free(c);
    }
    /* together: one context, one batch per step, prompts in chunks of at most 7 tokens */
    llamac_context *c = context(m, 512, NS, 48);
    llamac_session *s[NS];
    int turn[NS] = {0}, begun[NS] = {0}, done[NS] = {0};
    for (int i = 0; i < NS; i++)
        s[i] = session(c, i);
    llamac_batch_buf b;
    llamac_batch_buf_init(&b, 48);
    int n_done = 0, steps = 0, max_batch = 0;
    while (n_done < NS && steps < 2000) {
        for (int i = 0; i < NS; i++)
            if (!begun[i] && steps >= PLANS[i].start_step) {
                CHECK(plan_begin(s[i], &PLANS[i], turn[i], tok), "together %d: %s", i, llamac_session_error(s[i]));
                begun[i] = 1;
            }
        llamac_batch_buf_clear(&b);
        int added[NS] = {0};
        for (int i = 0; i < NS; i++)
            if (begun[i] && !done[i])
                added[i] = llamac_session_batch(s[i], &b, 7);
        steps++;
        if (b.batch.n_tokens == 0)
            continue;
        if (b.batch.n_tokens > max_batch)
            max_batch = b.batch.n_tokens;
        if (llamac_decode(c, &b.batch) != LLAMAC_OK) {
            CHECK(0, "decode: %s", llamac_context_error(c));
            break;
        }
        for (int i = 0; i < NS; i++) {
            if (!added[i])
                continue;
            llamac_session_event ev;
            CHECK(llamac_session_commit(s[i], &ev) == LLAMAC_OK, "commit %d: %s", i, llamac_session_error(s[i]));
            events *e = &together[i].ev[turn[i]];
            if (ev.token >= 0 || ev.len || ev.finish)
                record(e, &ev);
            if (ev.finish) {
                turn[i]++;
                if (turn[i] < 2 && PLANS[i].user[turn[i]]) {
                    memset(&together[i].ev[turn[i]], 0, sizeof(events));
                    CHECK(plan_begin(s[i], &PLANS[i], turn[i], tok), "together %d turn 2", i);
                } else {
                    done[i] = 1;
                    n_done++;
                }
            }
        }
    }
    if (getenv("TEST_SESSION_VERBOSE")) {
        printf("batched: %d steps, largest batch %d\n", steps, max_batch);
        for (int i = 0; i < NS; i++)
            printf("  %d: %d/%d events, finish %d/%d: %.60s | %.60s\n", i, together[i].ev[0].n, together[i].ev[1].n,
                   together[i].ev[0].finish, together[i].ev[1].finish, together[i].ev[0].text, together[i].ev[1].text);
    }
    CHECK(n_done == NS && max_batch > 7, "all sessions finished (%d steps, largest batch %d)", steps, max_batch);
    for (int i = 0; i < NS; i++)
        for (int t = 0; t < 2 && PLANS[i].user[t]; t++) {
            const events *x = &alone[i].ev[t], *y = &together[i].ev[t];
            int32_t gx[MAX_EV], gy[MAX_EV];
            int nx = gen_tokens(x, gx), ny = gen_tokens(y, gy);
            int same_events = x->n == y->n;
            for (int k = 0; same_events && k < x->n; k++)
                same_events = x->tok[k] == y->tok[k] && x->off[k + 1] == y->off[k + 1];
            CHECK(nx > 0 && same(gx, nx, gy, ny) && same_events && !strcmp(x->text, y->text) &&
                      x->finish == y->finish,
                  "session %d turn %d: together differs from alone (%d vs %d tokens, finish %d vs %d)\n  '%s'\n  '%s'",
                  i, t, nx, ny, x->finish, y->finish, x->text, y->text);
        }
    CHECK(alone[4].ev[0].finish == LLAMAC_FINISH_STOP || alone[4].ev[1].finish == LLAMAC_FINISH_STOP ||
              !strstr(alone[4].ev[0].text, "LORD"),
          "the stop string plan");
    for (int i = 0; i < NS; i++)
        llamac_session_free(s[i]);
    llamac_batch_buf_free(&b);
    llamac_context_free(c);
}

int main(void)
{
    char kjv_path[4096];
    snprintf(kjv_path, sizeof kjv_path, "%s/models/tiny-kjv.gguf", env_or("LLAMAC_SOURCE", "."));
    llamac_model *kjv = load(kjv_path);
    test_decode_tokens(kjv);
    test_incremental(kjv);
    test_raw_and_logprobs(kjv);
    test_batched_equals_alone(kjv);
    llamac_model_free(kjv);

    const int32_t talk[] = {271, 9906, 1917, 1578, 9906};
    char *talk_path = chain_model("l31", talk, 5);
    llamac_model *tm = load(talk_path);
    test_stop_strings(tm);
    /* chain2's extra tokens, from the same vocabulary */
    const llamac_tokenizer *tok = llamac_model_tokenizer(tm);
    const int32_t y = llamac_token_find(tok, "Once", 4), w = llamac_token_find(tok, " ok", 3);
    const int32_t b_c3 = llamac_token_find(tok, "\xc3", 1), b_a9 = llamac_token_find(tok, "\xa9", 1);
    CHECK(y >= 0 && w >= 0 && b_c3 >= 0 && b_a9 >= 0, "byte tokens");
    llamac_model_free(tm);

    const int32_t call[] = {271, 58, 456, 70464, 44602, 1151, 60704, 52128, EOT};
    char *tool_path = chain_model("l32", call, 9);
    llamac_model *toolm = load(tool_path);
    test_tools_pythonic(toolm);
    llamac_model_free(toolm);

    int32_t chain2[N_JSON_CALL + 7];
    int n2 = 0;
    chain2[n2++] = 271;
    for (int i = 0; i < N_JSON_CALL; i++)
        chain2[n2++] = JSON_CALL[i];
    chain2[n2++] = EOT;
    chain2[n2++] = y;
    chain2[n2++] = b_c3;
    chain2[n2++] = b_a9;
    chain2[n2++] = w;
    chain2[n2++] = 128008;
    char *json_path = chain_model("l31", chain2, n2);
    llamac_model *jm = load(json_path);
    test_tools_json_and_utf8(jm, y, b_c3, b_a9, w);
    llamac_model_free(jm);
    free(talk_path);
    free(tool_path);
    free(json_path);
    return check_finish("test_session");
}
