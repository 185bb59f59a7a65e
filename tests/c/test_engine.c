/*
 * test_engine.c — the continuous-batching engine (include/llamac_engine.h) on the bundled tiny-kjv model:
 *   - 16 concurrent jobs (raw and chat prompts of different lengths, greedy and seeded, some with logprobs: their
 *     draws run on the context's threads) give exactly the tokens, log-probabilities and text of the same jobs
 *     run one at a time, with prompt chunks spread over many steps;
 *   - cancelling in the middle of a long prefill frees the sequence (busy 0, no KV positions held);
 *   - queue full -> LLAMAC_E_BUSY; prompt + max_tokens beyond n_ctx -> LLAMAC_E_CONTEXT_FULL with both numbers;
 *   - a second job with the same prompt start reuses cached KV blocks and gives the tokens it gives without the
 *     prefix cache;
 *   - timeouts; a KV pool too small for all jobs: admission reserves prompt + max_tokens, so every job completes
 *     (none requeued or stopped KV_FULL), a job bigger than the pool ends KV_FULL alone (never a hang);
 *   - freeing the engine and jobs with jobs in flight (no hang; ASan checks for leaks);
 *   - client threads submitting chats at once (parallel rendering and tokenizing) get the answers one client gets;
 *   - log-probabilities in updates, notify;
 *   - NULL handles.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "check.h"
#include "llamac.h"
#include "llamac_engine.h"

#define MAXT 64

static const char *env_or(const char *name, const char *dflt)
{
    const char *v = getenv(name);
    return v && *v ? v : dflt;
}

/* The outcome of one job. */
typedef struct outcome {
    int32_t tokens[MAXT];
    float logprob[MAXT], top_logprob[MAXT][2]; /* with logprobs: the chosen token's and 2 alternatives' */
    int32_t top_token[MAXT][2];
    int n;
    char text[4096];
    size_t text_len;
    llamac_finish finish;
    llamac_status status;
    int64_t prompt_tokens, cached_tokens, completion_tokens;
    char content[4096];
} outcome;

/* Waits for the job to finish, collecting its updates. */
static void collect(llamac_job *job, outcome *o)
{
    memset(o, 0, sizeof *o);
    llamac_job_update u;
    for (;;) {
        if (llamac_job_wait(job, 10000, &u) != LLAMAC_OK)
            break;
        for (int i = 0; i < u.n_tokens && o->n < MAXT; i++) {
            if (u.logprobs && u.n_top == 2) {
                o->logprob[o->n] = u.logprobs[i].logprob;
                for (int t = 0; t < 2; t++) {
                    o->top_token[o->n][t] = u.top[i * 2 + t].token;
                    o->top_logprob[o->n][t] = u.top[i * 2 + t].logprob;
                }
            }
            o->tokens[o->n++] = u.tokens[i];
        }
        if (u.text_len && o->text_len + u.text_len < sizeof o->text) {
            memcpy(o->text + o->text_len, u.text, u.text_len);
            o->text_len += u.text_len;
        }
        if (u.finish != LLAMAC_FINISH_NONE) {
            o->finish = u.finish;
            o->status = u.result->status;
            o->prompt_tokens = u.result->prompt_tokens;
            o->cached_tokens = u.result->cached_tokens;
            o->completion_tokens = u.result->completion_tokens;
            snprintf(o->content, sizeof o->content, "%s", u.result->content);
            break;
        }
    }
}

static llamac_engine *engine(llamac_model *m, int n_parallel, int step_tokens, int prefix_cache, uint64_t kv_size)
{
    char err[512];
    llamac_engine_params ep = llamac_engine_default_params();
    ep.n_parallel = n_parallel;
    ep.n_ctx = 512;
    ep.step_tokens = step_tokens;
    ep.prefix_cache = prefix_cache;
    ep.kv_size = kv_size;
    ep.n_threads = 2;
    ep.date = "26 Jul 2024";
    llamac_engine *e = NULL;
    if (llamac_engine_create(m, &ep, &e, err, sizeof err) != LLAMAC_OK) {
        fprintf(stderr, "engine: %s\n", err);
        exit(2);
    }
    return e;
}

/* A job's request: raw tokens or a chat, greedy or seeded. */
typedef struct request {
    int32_t prompt[480];
    int n_prompt;
    llamac_chat *chat;
    int max_tokens;
    float temperature;
    uint64_t seed;
    int ignore_eos, n_logprobs;
} request;

static int64_t g_last_n; /* the prompt count of the last submit() */

static llamac_job *submit(llamac_engine *e, const request *r)
{
    char err[512];
    llamac_job_params jp = llamac_job_default_params();
    jp.chat = r->chat;
    jp.prompt = r->prompt;
    jp.n_prompt = r->n_prompt;
    jp.gen.max_tokens = r->max_tokens;
    jp.gen.sampling.temperature = r->temperature;
    jp.gen.sampling.seed = r->seed;
    jp.gen.ignore_eos = r->ignore_eos;
    jp.gen.n_logprobs = r->n_logprobs;
    llamac_job *job = NULL;
    int64_t n = -1;
    llamac_status st = llamac_engine_submit(e, &jp, &job, &n, err, sizeof err);
    CHECK(st == LLAMAC_OK && job && n > 0, "submit: %s", err);
    CHECK(!r->chat ? n == r->n_prompt : 1, "submit: %lld prompt tokens, not %d", (long long)n, r->n_prompt);
    g_last_n = n;
    return job;
}

static void random_prompt(request *r, int n)
{
    r->n_prompt = n;
    for (int i = 0; i < n; i++)
        r->prompt[i] = (int32_t)(rnd() % 3800); /* ordinary tokens (specials start at 3840) */
}

/* 16 concurrent jobs == the same jobs alone. */
static void test_concurrent_equals_alone(llamac_model *m)
{
    enum { NJ = 16 };
    static request req[NJ];
    static outcome together[NJ], alone[NJ];
    for (int i = 0; i < NJ; i++) {
        request *r = &req[i];
        memset(r, 0, sizeof *r);
        r->max_tokens = 12 + i % 5;
        r->temperature = i % 2 ? 0.9f : 0.0f;
        r->seed = 1000 + (uint64_t)i;
        r->ignore_eos = i % 3 != 0;
        r->n_logprobs = i % 5 == 1 ? 3 : 0; /* drawn on the pool's threads beside the others */
        if (i % 4 == 3) {
            llamac_chat_create(&r->chat);
            llamac_chat_add_message(r->chat, "system", "You answer in the words of the King James Bible.");
            char q[128];
            snprintf(q, sizeof q, "Who begat whom, in chapter %d?", i);
            llamac_chat_add_message(r->chat, "user", q);
        } else {
            random_prompt(r, 5 + (i * 37) % 200);
        }
    }
    llamac_engine *e = engine(m, NJ, 37, 1, 0);
    llamac_job *jobs[NJ];
    int64_t n_sub[NJ];
    for (int i = 0; i < NJ; i++) {
        jobs[i] = submit(e, &req[i]);
        n_sub[i] = g_last_n;
    }
    for (int i = 0; i < NJ; i++) {
        collect(jobs[i], &together[i]);
        llamac_job_free(jobs[i]);
        CHECK(together[i].prompt_tokens == n_sub[i], "job %d: submit counted %lld prompt tokens, the session %lld", i,
              (long long)n_sub[i], (long long)together[i].prompt_tokens);
    }
    llamac_engine_stats st;
    llamac_engine_get_stats(e, &st);
    CHECK(st.jobs_submitted == NJ && st.busy_sequences == 0 && st.queue_depth == 0, "stats after the batch run");
    uint64_t gen = 0, fin = 0;
    for (int i = 0; i < NJ; i++)
        gen += (uint64_t)together[i].completion_tokens;
    for (int f = 1; f <= LLAMAC_FINISH_ERROR; f++)
        fin += st.jobs_finished[f];
    CHECK(st.generated_tokens == gen && fin == NJ, "generated %llu (answers %llu), finished %llu",
          (unsigned long long)st.generated_tokens, (unsigned long long)gen, (unsigned long long)fin);
    CHECK(st.jobs_finished[LLAMAC_FINISH_ERROR] == 0, "no errors");
    llamac_engine_free(e);

    e = engine(m, 1, 512, 0, 0);
    for (int i = 0; i < NJ; i++) {
        llamac_job *job = submit(e, &req[i]);
        collect(job, &alone[i]);
        llamac_job_free(job);
    }
    llamac_engine_free(e);
    for (int i = 0; i < NJ; i++) {
        const outcome *x = &together[i], *y = &alone[i];
        CHECK(x->n > 0 && x->n == y->n && !memcmp(x->tokens, y->tokens, (size_t)x->n * sizeof x->tokens[0]),
              "job %d: %d tokens together, %d alone, or different tokens", i, x->n, y->n);
        CHECK(x->finish == y->finish && x->finish != LLAMAC_FINISH_ERROR, "job %d: finish %d vs %d", i,
              (int)x->finish, (int)y->finish);
        CHECK(x->text_len == y->text_len && !memcmp(x->text, y->text, x->text_len), "job %d: text differs", i);
        CHECK(!memcmp(x->logprob, y->logprob, sizeof x->logprob) && !memcmp(x->top_token, y->top_token,
              sizeof x->top_token) && !memcmp(x->top_logprob, y->top_logprob, sizeof x->top_logprob) &&
              (!req[i].n_logprobs || (x->logprob[0] <= 0 && x->top_token[0][0] >= 0)),
              "job %d: log-probabilities differ together and alone", i);
        CHECK(!strcmp(x->content, y->content) && !strcmp(x->content, x->text), "job %d: content '%s' vs '%s'", i,
              x->content, x->text);
        CHECK(x->completion_tokens == x->n && x->prompt_tokens == y->prompt_tokens, "job %d: usage", i);
        if (!req[i].chat && req[i].ignore_eos)
            CHECK(x->n == req[i].max_tokens && x->finish == LLAMAC_FINISH_LENGTH, "job %d: max_tokens", i);
    }
    for (int i = 0; i < NJ; i++)
        llamac_chat_free(req[i].chat);
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Cancel in the middle of a long prefill (one prompt token per step). */
static void test_cancel_prefill(llamac_model *m)
{
    static request r;
    memset(&r, 0, sizeof r);
    random_prompt(&r, 480);
    r.max_tokens = 30;
    r.ignore_eos = 1;
    llamac_engine *e = engine(m, 2, 1, 1, 0);
    llamac_job *job = submit(e, &r);
    llamac_engine_stats st;
    int seen = 0;
    for (int i = 0; i < 20000 && !seen; i++) {
        llamac_engine_get_stats(e, &st);
        seen = st.kv_positions_used > 0;
        if (!seen)
            sleep_ms(1);
    }
    CHECK(seen && st.busy_sequences == 1 && st.kv_positions_used < 480, "the prefill is under way (%lld positions)",
          (long long)st.kv_positions_used);
    llamac_job_cancel(job);
    outcome o;
    collect(job, &o);
    CHECK(o.finish == LLAMAC_FINISH_CANCELLED && o.status == LLAMAC_OK, "cancelled: finish %d", (int)o.finish);
    CHECK(o.n < r.max_tokens, "stopped before the answer was complete");
    llamac_engine_get_stats(e, &st);
    CHECK(st.busy_sequences == 0 && st.kv_positions_used == 0 && st.jobs_cancelled == 1,
          "sequence released: busy %d, %lld positions, %llu cancelled", st.busy_sequences,
          (long long)st.kv_positions_used, (unsigned long long)st.jobs_cancelled);
    llamac_job_cancel(job); /* no effect on a finished job */
    llamac_job_update u;
    CHECK(llamac_job_wait(job, -1, &u) == LLAMAC_OK && u.finish == LLAMAC_FINISH_CANCELLED && u.n_tokens == 0 &&
              u.result,
          "a finished job's wait returns at once");
    llamac_job_free(job);
    llamac_engine_free(e);
}

/* Queue full, context full, bad parameters. */
static void test_refusals(llamac_model *m)
{
    static request r;
    memset(&r, 0, sizeof r);
    char err[512];
    llamac_engine_params ep = llamac_engine_default_params();
    ep.n_parallel = 1;
    ep.max_queue = 1;
    ep.n_ctx = 512;
    ep.n_threads = 2;
    llamac_engine *e = NULL;
    CHECK(llamac_engine_create(m, &ep, &e, err, sizeof err) == LLAMAC_OK, "engine: %s", err);
    random_prompt(&r, 10);
    r.max_tokens = 500;
    r.ignore_eos = 1;
    llamac_job *a = submit(e, &r), *b = submit(e, &r), *c = NULL;
    llamac_job_params jp = llamac_job_default_params();
    jp.prompt = r.prompt;
    jp.n_prompt = 10;
    jp.gen.max_tokens = 5;
    CHECK(llamac_engine_submit(e, &jp, &c, NULL, err, sizeof err) == LLAMAC_E_BUSY && !c && strstr(err, "busy"),
          "queue full: %s", err);

    int64_t n = 0;
    int32_t long_prompt[500];
    for (int i = 0; i < 500; i++)
        long_prompt[i] = i;
    jp.prompt = long_prompt;
    jp.n_prompt = 500;
    jp.gen.max_tokens = 20;
    CHECK(llamac_engine_submit(e, &jp, &c, &n, err, sizeof err) == LLAMAC_E_CONTEXT_FULL && !c && n == 500 &&
              strstr(err, "500") && strstr(err, "20") && strstr(err, "512"),
          "context full: %s", err);
    llamac_chat *chat;
    llamac_chat_create(&chat);
    static char big[6000];
    for (size_t i = 0; i + 1 < sizeof big; i++)
        big[i] = i % 7 == 6 ? ' ' : (char)('a' + i % 5);
    llamac_chat_add_message(chat, "user", big);
    jp.chat = chat;
    jp.gen.max_tokens = -1;
    CHECK(llamac_engine_submit(e, &jp, &c, &n, err, sizeof err) == LLAMAC_E_CONTEXT_FULL && n > 512 &&
              strstr(err, "512"),
          "chat context full (%lld tokens): %s", (long long)n, err);
    llamac_chat_free(chat);
    jp.chat = NULL;
    jp.n_prompt = 3;
    jp.gen.max_tokens = 3;
    long_prompt[1] = 99999;
    CHECK(llamac_engine_submit(e, &jp, &c, NULL, err, sizeof err) == LLAMAC_E_INVALID_ARG && strstr(err, "99999"),
          "token out of range: %s", err);
    long_prompt[1] = 1;
    jp.gen.n_logprobs = 99;
    CHECK(llamac_engine_submit(e, &jp, &c, NULL, err, sizeof err) == LLAMAC_E_INVALID_ARG, "bad n_logprobs");
    jp.gen.n_logprobs = 0;
    jp.gen.sampling.temperature = -1.0f / 0.0f * 0.0f; /* NaN */
    CHECK(llamac_engine_submit(e, &jp, &c, NULL, err, sizeof err) == LLAMAC_E_INVALID_ARG, "NaN temperature");
    llamac_engine_stats st;
    llamac_engine_get_stats(e, &st);
    CHECK(st.jobs_rejected_busy == 1 && st.jobs_rejected_context == 2 && st.jobs_submitted == 2,
          "refusal counters: busy %llu, context %llu, submitted %llu", (unsigned long long)st.jobs_rejected_busy,
          (unsigned long long)st.jobs_rejected_context, (unsigned long long)st.jobs_submitted);
    /* free with jobs in flight: b (queued) released by its client first, a (running) kept across the engine's
     * end */
    llamac_job_free(b);
    llamac_engine_free(e);
    outcome o;
    collect(a, &o);
    CHECK(o.finish == LLAMAC_FINISH_CANCELLED && o.status == LLAMAC_E_CANCELLED && o.n < 500 &&
              o.completion_tokens == o.n,
          "shut down: finish %d status %d", (int)o.finish, (int)o.status);
    llamac_job_free(a);
}

/* Client threads submitting chats at once (rendering and tokenizing in parallel) get what one client gets. */
enum { NCLIENT = 4, PER_CLIENT = 3 };
typedef struct client {
    llamac_engine *e;
    int id;
    llamac_status status[PER_CLIENT];
    outcome o[PER_CLIENT];
} client;

static void client_request(request *r, int id, int k)
{
    memset(r, 0, sizeof *r);
    llamac_chat_create(&r->chat);
    char q[160];
    snprintf(q, sizeof q, "Speak of the %d tribes and the %d elders of the land, verse %d.", id + 2, k + 3, id * k);
    llamac_chat_add_message(r->chat, "user", q);
    r->max_tokens = 10;
    r->temperature = 0.7f;
    r->seed = (uint64_t)(id * 10 + k);
}

static void *client_main(void *arg)
{
    client *c = arg;
    for (int k = 0; k < PER_CLIENT; k++) {
        request r;
        client_request(&r, c->id, k);
        llamac_job_params jp = llamac_job_default_params(); /* no CHECK here: check.h counts from one thread */
        jp.chat = r.chat;
        jp.gen.max_tokens = r.max_tokens;
        jp.gen.sampling.temperature = r.temperature;
        jp.gen.sampling.seed = r.seed;
        llamac_job *job = NULL;
        c->status[k] = llamac_engine_submit(c->e, &jp, &job, NULL, NULL, 0);
        llamac_chat_free(r.chat);
        if (job)
            collect(job, &c->o[k]);
        llamac_job_free(job);
    }
    return NULL;
}

static void test_client_threads(llamac_model *m)
{
    static client cl[NCLIENT];
    llamac_engine *e = engine(m, 3, 16, 1, 0);
    pthread_t th[NCLIENT];
    for (int i = 0; i < NCLIENT; i++) {
        cl[i].e = e;
        cl[i].id = i;
        pthread_create(&th[i], NULL, client_main, &cl[i]);
    }
    for (int i = 0; i < NCLIENT; i++)
        pthread_join(th[i], NULL);
    llamac_engine_free(e);
    e = engine(m, 1, 512, 0, 0);
    for (int i = 0; i < NCLIENT; i++)
        for (int k = 0; k < PER_CLIENT; k++) {
            request r;
            client_request(&r, i, k);
            llamac_job *job = submit(e, &r);
            llamac_chat_free(r.chat);
            outcome o;
            collect(job, &o);
            llamac_job_free(job);
            const outcome *x = &cl[i].o[k];
            CHECK(cl[i].status[k] == LLAMAC_OK, "client %d job %d: submit %d", i, k, (int)cl[i].status[k]);
            CHECK(x->n > 0 && x->n == o.n && !memcmp(x->tokens, o.tokens, (size_t)o.n * sizeof o.tokens[0]) &&
                      !strcmp(x->content, o.content) && x->finish == o.finish,
                  "client %d job %d: the same answer from one client", i, k);
        }
    llamac_engine_free(e);
}

/* The prefix cache: a second job starting like the first reuses its blocks, with the same tokens. */
static void test_prefix_cache(llamac_model *m)
{
    static request first, second;
    memset(&first, 0, sizeof first);
    random_prompt(&first, 100);
    first.max_tokens = 8;
    first.ignore_eos = 1;
    second = first;
    for (int i = 100; i < 130; i++)
        second.prompt[i] = (int32_t)(rnd() % 3800);
    second.n_prompt = 130;
    outcome o1, o2, ref;
    llamac_engine *e = engine(m, 2, 64, 1, 0);
    llamac_job *job = submit(e, &first);
    collect(job, &o1);
    llamac_job_free(job);
    job = submit(e, &second);
    collect(job, &o2);
    llamac_job_free(job);
    CHECK(o1.cached_tokens == 0 && o2.cached_tokens >= 64 && o2.cached_tokens < 130 && o2.prompt_tokens == 130,
          "prefix hit: %lld of %lld cached", (long long)o2.cached_tokens, (long long)o2.prompt_tokens);
    static outcome raw2;
    raw2 = o2;
    llamac_engine_stats st;
    llamac_engine_get_stats(e, &st);
    CHECK(st.prefix_cache_hits == 1 && st.prompt_tokens_cached == (uint64_t)o2.cached_tokens &&
              st.prompt_tokens == 230,
          "prefix stats");

    /* the next turn of a chat */
    llamac_chat *chat;
    llamac_chat_create(&chat);
    llamac_chat_add_message(chat, "system", "You speak as the prophets did, and you are brief about it.");
    llamac_chat_add_message(chat, "user", "What is the beginning of wisdom?");
    request cr = {.chat = chat, .max_tokens = 10};
    job = submit(e, &cr);
    collect(job, &o1);
    llamac_job_free(job);
    llamac_chat_add_message(chat, "assistant", o1.content);
    llamac_chat_add_message(chat, "user", "And the end of it?");
    job = submit(e, &cr);
    collect(job, &o2);
    llamac_job_free(job);
    CHECK(o2.cached_tokens >= 32 && o2.finish != LLAMAC_FINISH_ERROR, "next turn: %lld of %lld cached",
          (long long)o2.cached_tokens, (long long)o2.prompt_tokens);
    llamac_engine_free(e);

    e = engine(m, 2, 64, 0, 0);
    job = submit(e, &cr);
    collect(job, &ref);
    llamac_job_free(job);
    CHECK(ref.cached_tokens == 0 && ref.n == o2.n &&
              !memcmp(ref.tokens, o2.tokens, (size_t)ref.n * sizeof ref.tokens[0]),
          "next turn: the same tokens without the prefix cache");
    job = submit(e, &second);
    collect(job, &ref);
    llamac_job_free(job);
    CHECK(ref.cached_tokens == 0 && ref.n == raw2.n && ref.n == 8 &&
              !memcmp(ref.tokens, raw2.tokens, (size_t)ref.n * sizeof ref.tokens[0]),
          "raw prompt: the same tokens without the prefix cache (%d vs %d tokens, finish %d vs %d)", ref.n, raw2.n,
          (int)ref.finish, (int)raw2.finish);
    llamac_engine_free(e);
    llamac_chat_free(chat);
}

/* Tools and tool_choice: submit counts the prompt as the session renders it (tool definitions, forced opening). */
static void test_tools_count(llamac_model *m)
{
    llamac_chat *chat;
    llamac_chat_create(&chat);
    const char *tools = "[{\"type\":\"function\",\"function\":{\"name\":\"get_verse\",\"description\":"
                        "\"Look up a verse\",\"parameters\":{\"type\":\"object\",\"properties\":"
                        "{\"ref\":{\"type\":\"string\"}}}}}]";
    CHECK(llamac_chat_set_tools_json(chat, tools, strlen(tools)) == LLAMAC_OK, "tools: %s", llamac_chat_error(chat));
    llamac_chat_add_message(chat, "user", "Find me the verse about the mustard seed.");
    llamac_engine *e = engine(m, 2, 64, 1, 0);
    const llamac_tool_choice choices[] = {LLAMAC_TOOL_CHOICE_AUTO, LLAMAC_TOOL_CHOICE_NONE,
                                          LLAMAC_TOOL_CHOICE_REQUIRED, LLAMAC_TOOL_CHOICE_NAMED};
    int64_t counts[4];
    for (int c = 0; c < 4; c++) {
        char err[512];
        llamac_job_params jp = llamac_job_default_params();
        jp.chat = chat;
        jp.gen.max_tokens = 4;
        jp.gen.tool_choice = choices[c];
        jp.gen.tool_name = "get_verse";
        llamac_job *job = NULL;
        counts[c] = -1;
        CHECK(llamac_engine_submit(e, &jp, &job, &counts[c], err, sizeof err) == LLAMAC_OK, "choice %d: %s", c, err);
        outcome o;
        if (job)
            collect(job, &o);
        llamac_job_free(job);
        CHECK(job && o.prompt_tokens == counts[c] && o.finish != LLAMAC_FINISH_ERROR,
              "choice %d: submit counted %lld, the session %lld (finish %d)", c, (long long)counts[c],
              (long long)o.prompt_tokens, (int)o.finish);
    }
    CHECK(counts[1] < counts[0] && counts[2] > counts[0] && counts[3] > counts[0],
          "the tools and the forced opening are counted");
    llamac_engine_free(e);
    llamac_chat_free(chat);
}

/* Stop strings are copied at submit (the caller's buffer is clobbered right after) and end the answer before
 * their first occurrence, as the session does. */
static void test_stop_copied(llamac_model *m)
{
    llamac_chat *chat;
    llamac_chat_create(&chat);
    llamac_chat_add_message(chat, "user", "Tell me of the days of Noah.");
    request r = {.chat = chat, .max_tokens = 40, .ignore_eos = 1};
    llamac_engine *e = engine(m, 2, 64, 1, 0);
    llamac_job *job = submit(e, &r);
    outcome full, cut;
    collect(job, &full);
    llamac_job_free(job);
    /* the stop string: 3 bytes from the middle of the answer */
    char stop[8] = {0};
    const size_t at = full.text_len / 2;
    CHECK(full.text_len >= 10, "an answer to cut (%zu bytes)", full.text_len);
    memcpy(stop, full.text + at, 3);
    char err[256];
    llamac_job_params jp = llamac_job_default_params();
    jp.chat = chat;
    jp.gen.max_tokens = 40;
    jp.gen.ignore_eos = 1;
    jp.gen.sampling.temperature = 0;
    jp.gen.stop[0] = stop;
    CHECK(llamac_engine_submit(e, &jp, &job, NULL, err, sizeof err) == LLAMAC_OK, "submit: %s", err);
    memset(stop, 'x', 7);
    llamac_chat_free(chat); /* the job holds its own copy */
    collect(job, &cut);
    llamac_job_free(job);
    const char *first = NULL;
    char needle[4] = {0};
    memcpy(needle, full.text + at, 3);
    first = strstr(full.text, needle);
    CHECK(first && cut.finish == LLAMAC_FINISH_STOP && cut.text_len == (size_t)(first - full.text) &&
              !memcmp(cut.text, full.text, cut.text_len) && !strcmp(cut.content, cut.text),
          "cut at the stop string '%s': %zu bytes, finish %d\nfull: '%s'\ncut:  '%s'", needle, cut.text_len,
          (int)cut.finish, full.text, cut.text);
    llamac_engine_free(e);
}

static void test_timeout(llamac_model *m)
{
    static request r;
    memset(&r, 0, sizeof r);
    random_prompt(&r, 20);
    r.max_tokens = 5;
    llamac_engine *e = engine(m, 1, 64, 1, 0);
    char err[256];
    llamac_job_params jp = llamac_job_default_params();
    jp.prompt = r.prompt;
    jp.n_prompt = r.n_prompt;
    jp.gen.max_tokens = 5;
    jp.timeout_s = 1e-9;
    llamac_job *job = NULL;
    CHECK(llamac_engine_submit(e, &jp, &job, NULL, err, sizeof err) == LLAMAC_OK, "submit: %s", err);
    outcome o;
    collect(job, &o);
    llamac_job_update u;
    llamac_job_wait(job, 0, &u);
    CHECK(o.finish == LLAMAC_FINISH_ERROR && o.status == LLAMAC_E_TIMEOUT && u.result &&
              strstr(u.result->error, "time"),
          "timed out: finish %d, status %d", (int)o.finish, (int)o.status);
    llamac_job_free(job);
    llamac_engine_stats st;
    llamac_engine_get_stats(e, &st);
    CHECK(st.jobs_timed_out == 1 && st.jobs_finished[LLAMAC_FINISH_ERROR] == 1, "timeout counted");
    llamac_engine_free(e);
}

/* notify: counts calls; the first one holds the engine thread past the job's time limit (a test may break the
 * "return at once" rule to make a timeout certain). */
static int g_notified;
static void on_notify(void *user)
{
    if (g_notified++ == 0 && user)
        sleep_ms(300);
}

/* Log-probabilities in updates, notify, and a job that runs past its time limit after its first token. */
static void test_logprobs_notify_timeout(llamac_model *m)
{
    static request r;
    memset(&r, 0, sizeof r);
    random_prompt(&r, 30);
    llamac_engine *e = engine(m, 2, 64, 1, 0);
    char err[256];
    llamac_job_params jp = llamac_job_default_params();
    jp.prompt = r.prompt;
    jp.n_prompt = r.n_prompt;
    jp.gen.max_tokens = 6;
    jp.gen.ignore_eos = 1;
    jp.gen.n_logprobs = 4;
    jp.notify = on_notify;
    llamac_job *job = NULL;
    g_notified = 0;
    CHECK(llamac_engine_submit(e, &jp, &job, NULL, err, sizeof err) == LLAMAC_OK, "submit: %s", err);
    int n = 0, bad = 0;
    llamac_job_update u;
    do {
        llamac_job_wait(job, -1, &u);
        for (int i = 0; i < u.n_tokens; i++, n++) {
            bad += !u.logprobs || u.n_top != 3 || !u.top || u.logprobs[i].token != u.tokens[i] ||
                   !(u.logprobs[i].logprob <= 0) || u.top[i * 3].logprob < u.top[i * 3 + 2].logprob;
        }
    } while (u.finish == LLAMAC_FINISH_NONE);
    CHECK(n == 6 && !bad && u.finish == LLAMAC_FINISH_LENGTH, "logprobs: %d tokens, %d bad", n, bad);
    CHECK(g_notified >= 2, "notify called %d times", g_notified);
    llamac_job_free(job);

    jp.gen.max_tokens = 100;
    jp.gen.n_logprobs = 0;
    jp.timeout_s = 0.1;
    jp.notify_user = &g_notified; /* sleep in the first notify */
    g_notified = 0;
    CHECK(llamac_engine_submit(e, &jp, &job, NULL, err, sizeof err) == LLAMAC_OK, "submit: %s", err);
    outcome o;
    collect(job, &o);
    CHECK(o.finish == LLAMAC_FINISH_ERROR && o.status == LLAMAC_E_TIMEOUT && o.n >= 1 && o.n < 100 &&
              o.completion_tokens == o.n,
          "timed out while running: finish %d status %d after %d tokens", (int)o.finish, (int)o.status, o.n);
    llamac_job_free(job);
    llamac_engine_stats st;
    llamac_engine_get_stats(e, &st);
    CHECK(st.jobs_timed_out == 1 && st.busy_sequences == 0 && st.kv_positions_used == 0, "running timeout counted");
    llamac_engine_free(e);
}

/* A KV pool with room for fewer positions than the jobs need. Admission reserves each job's prompt + max_tokens
 * positions, so the jobs that fit run together and the others wait: every job completes, none is sent back or
 * stopped for lack of memory, and each gives the tokens it gives alone. (Admission by prompt length alone would
 * start three of these and run out of blocks mid-answer.) A job bigger than the whole pool runs alone and ends
 * KV_FULL, never hangs; the job queued behind it then runs. */
static void test_kv_full(llamac_model *m)
{
    enum { NJ = 4 };
    static request req[NJ];
    outcome o[NJ], ref;
    llamac_decode_traffic tr;
    llamac_model_decode_traffic(m, LLAMAC_KV_F32, &tr);
    llamac_engine *e = engine(m, NJ, 64, 1, tr.kv_bytes_per_pos * 320); /* 10 blocks of 32 positions */
    llamac_job *jobs[NJ];
    for (int i = 0; i < NJ; i++) {
        memset(&req[i], 0, sizeof req[i]);
        random_prompt(&req[i], 100);
        req[i].max_tokens = 60; /* 160 positions: 5 blocks, so two jobs at a time */
        req[i].ignore_eos = 1;
        jobs[i] = submit(e, &req[i]);
    }
    int ok = 0;
    for (int i = 0; i < NJ; i++) {
        collect(jobs[i], &o[i]);
        llamac_job_free(jobs[i]);
        ok += o[i].finish == LLAMAC_FINISH_LENGTH && o[i].n == 60;
        CHECK(o[i].finish == LLAMAC_FINISH_LENGTH, "job %d: finish %d status %d", i, (int)o[i].finish,
              (int)o[i].status);
    }
    llamac_engine_stats st;
    llamac_engine_get_stats(e, &st);
    CHECK(ok == NJ && st.jobs_requeued == 0 && st.jobs_kv_full == 0 && st.busy_sequences == 0,
          "%d of %d completed, %llu requeued, %llu KV-full errors", ok, NJ, (unsigned long long)st.jobs_requeued,
          (unsigned long long)st.jobs_kv_full);

    /* one job needs 100 + 400 positions of the 320: it runs alone and ends KV_FULL; the next one waits for it */
    request big = req[0], next = req[1];
    big.max_tokens = 400;
    llamac_job *jb = submit(e, &big), *jn = submit(e, &next);
    outcome ob, on;
    collect(jb, &ob);
    collect(jn, &on);
    llamac_job_free(jb);
    llamac_job_free(jn);
    CHECK(ob.finish == LLAMAC_FINISH_ERROR && ob.status == LLAMAC_E_KV_FULL && ob.completion_tokens > 0,
          "a job bigger than the pool: finish %d status %d", (int)ob.finish, (int)ob.status);
    CHECK(on.finish == LLAMAC_FINISH_LENGTH && on.n == 60 && !memcmp(on.tokens, o[1].tokens, sizeof on.tokens[0] * 60),
          "the job queued behind it: finish %d, %d tokens", (int)on.finish, on.n);
    llamac_engine_free(e);

    e = engine(m, 1, 512, 0, 0);
    for (int i = 0; i < NJ; i++) {
        llamac_job *job = submit(e, &req[i]);
        collect(job, &ref);
        llamac_job_free(job);
        CHECK(ref.n == o[i].n && !memcmp(ref.tokens, o[i].tokens, (size_t)ref.n * sizeof ref.tokens[0]),
              "job %d: the same tokens as alone", i);
    }
    llamac_engine_free(e);
}

static void test_null(void)
{
    char err[64];
    llamac_engine *e = (llamac_engine *)err;
    CHECK(llamac_engine_create(NULL, NULL, &e, err, sizeof err) == LLAMAC_E_INVALID_ARG && !e, "create(NULL)");
    llamac_job *j = (llamac_job *)err;
    int64_t n = 7;
    CHECK(llamac_engine_submit(NULL, NULL, &j, &n, err, sizeof err) == LLAMAC_E_INVALID_ARG && !j && n == 0,
          "submit(NULL)");
    llamac_job_update u;
    CHECK(llamac_job_wait(NULL, 0, &u) == LLAMAC_E_INVALID_ARG, "wait(NULL)");
    llamac_engine_stats st;
    st.steps = 5;
    llamac_engine_get_stats(NULL, &st);
    CHECK(st.steps == 0, "stats(NULL)");
    CHECK(llamac_engine_model(NULL) == NULL, "model(NULL)");
    llamac_job_cancel(NULL);
    llamac_job_free(NULL);
    llamac_engine_free(NULL);
    CHECK(strcmp(llamac_status_str(LLAMAC_E_BUSY), "unknown status") &&
              strcmp(llamac_status_str(LLAMAC_E_TIMEOUT), "unknown status"),
          "status names");
}

int main(void)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/models/tiny-kjv.gguf", env_or("LLAMAC_SOURCE", "."));
    char err[512];
    llamac_model *m = NULL;
    llamac_model_params mp = llamac_model_default_params();
    mp.use_mmap = 1;
    if (llamac_model_load(path, &mp, &m, err, sizeof err) != LLAMAC_OK) {
        fprintf(stderr, "cannot load %s: %s\n", path, err);
        return 2;
    }
    test_null();
    test_refusals(m);
    test_timeout(m);
    test_tools_count(m);
    test_stop_copied(m);
    test_cancel_prefill(m);
    test_logprobs_notify_timeout(m);
    test_prefix_cache(m);
    test_concurrent_equals_alone(m);
    test_kv_full(m);
    test_client_threads(m);
    llamac_model_free(m);
    return check_finish("test_engine");
}
