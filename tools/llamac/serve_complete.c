/*
 * serve_complete.c — POST /v1/chat/completions and /v1/completions: the body parsed (llamac_oai_parse_*), one
 * engine job per choice submitted (checked for context length and a full queue in this thread), then either
 * a whole response after the jobs finished, or a server-sent-event stream.
 *
 * The connection thread blocks on timed waits of the jobs (at most SERVE_WAIT_MS each) and between them asks
 * whether the client went away (serve_client_gone): then the jobs are cancelled, which frees their sequences
 * within one engine step, also during a long prefill when nothing has been written yet. A stream's reader
 * callback does the same; if MHD ends a stream early (the client aborted, a write failed), freeing the stream
 * in the request's completion cancels its jobs.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <microhttpd.h>

#include "serve.h"

struct serve_stream {
    serve_request *rq;            /* borrowed: the stream lives inside its request */
    serve_server *srv;
    llamac_oai_request *oai;
    llamac_oai_stream *st;
    llamac_job *jobs[LLAMAC_OAI_MAX_N];
    int finished[LLAMAC_OAI_MAX_N];
    int n;
    llamac_oai_usage usage;
    char *out;                    /* events not yet handed to MHD: out[off..len) */
    size_t len, off, cap;
    int done;                     /* the last event is in out */
    int gone;
};

/* ---------------------------------------------------------------------------------------------------------
 * Submitting
 * ------------------------------------------------------------------------------------------------------- */
static uint64_t random_seed(serve_server *s)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t z = (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 30) ^ (atomic_fetch_add(&s->next_id, 1) << 17);
    z += 0x9E3779B97F4A7C15ull; /* splitmix64 finaliser */
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static void free_jobs(llamac_job **jobs, int n)
{
    for (int i = 0; i < n; i++) {
        llamac_job_free(jobs[i]);
        jobs[i] = NULL;
    }
}

/* The prompt of a completion as tokens (*owned: to free). */
static int completion_tokens(serve_server *s, const llamac_oai_request *oai, llamac_tokens *ids,
                             llamac_oai_error *e)
{
    if (!oai->prompt)
        return 0;
    if (!s->tok)
        return llamac_oai_fail(e, 400, NULL, NULL, "prompt", "prompt: this model has no vocabulary: give token ids"),
               -1;
    if (llamac_tokenize(s->tok, oai->prompt, oai->prompt_len, LLAMAC_TOKENIZE_ADD_BOS | LLAMAC_TOKENIZE_PARSE_SPECIAL,
                        ids) != LLAMAC_OK)
        return llamac_oai_fail(e, 500, "server_error", NULL, NULL, "tokenizing the prompt failed"), -1;
    return 0;
}

/* Submits the request's n jobs. 0, or -1 with *e filled (nothing left running). */
static int submit_all(serve_server *s, const llamac_oai_request *oai, llamac_job **jobs, int64_t *n_prompt,
                      llamac_oai_error *e)
{
    llamac_tokens ids = {0};
    if (completion_tokens(s, oai, &ids, e))
        return -1;
    const char *param = oai->endpoint == LLAMAC_OAI_CHAT ? "messages" : "prompt";
    int rc = 0;
    for (int i = 0; i < oai->n && !rc; i++) {
        llamac_job_params jp = llamac_job_default_params();
        jp.chat = oai->chat;
        jp.prompt = oai->prompt ? ids.ids : oai->prompt_tokens;
        jp.n_prompt = oai->prompt ? (int64_t)ids.n : oai->n_prompt_tokens;
        jp.gen = oai->gen;
        jp.gen.sampling.seed = oai->seeded ? oai->gen.sampling.seed + (uint64_t)i : random_seed(s);
        char err[512] = "";
        llamac_status st;
        pthread_mutex_lock(&s->engine_lock);
        if (atomic_load(&s->state) != SERVE_READY || !s->engine)
            st = LLAMAC_E_CANCELLED;
        else
            st = llamac_engine_submit(s->engine, &jp, &jobs[i], n_prompt, err, sizeof err);
        pthread_mutex_unlock(&s->engine_lock);
        if (st == LLAMAC_OK)
            continue;
        rc = -1;
        if (st == LLAMAC_E_CONTEXT_FULL)
            llamac_oai_fail(e, 400, "invalid_request_error", "context_length_exceeded", param, "%s", err);
        else if (st == LLAMAC_E_BUSY)
            llamac_oai_fail(e, 503, "server_error", "server_busy", NULL,
                            "the server is busy (the queue is full): retry later");
        else if (st == LLAMAC_E_CANCELLED)
            llamac_oai_fail(e, 503, "server_error", "unavailable", NULL, "the server is %s",
                            atomic_load(&s->state) == SERVE_LOADING ? "loading the model" : "shutting down");
        else if (st == LLAMAC_E_NOMEM)
            llamac_oai_fail(e, 500, "server_error", NULL, NULL, "out of memory");
        else
            llamac_oai_fail(e, 400, "invalid_request_error", NULL, NULL, "%s", err[0] ? err : llamac_status_str(st));
        free_jobs(jobs, i);
    }
    llamac_tokens_free(&ids);
    return rc;
}

/* The error of a job that ended with LLAMAC_FINISH_ERROR or was cancelled by the server. */
static void job_error(const llamac_job_result *r, llamac_finish finish, llamac_oai_error *e)
{
    if (finish == LLAMAC_FINISH_CANCELLED)
        llamac_oai_fail(e, 503, "server_error", "unavailable", NULL, "the request was cancelled: the server is "
                                                                    "shutting down");
    else if (r && r->status == LLAMAC_E_TIMEOUT)
        llamac_oai_fail(e, 504, "server_error", "timeout", NULL, "%s", r->error[0] ? r->error : "timed out");
    else if (r && r->status == LLAMAC_E_KV_FULL)
        llamac_oai_fail(e, 503, "server_error", "kv_full", NULL, "%s", r->error);
    else
        llamac_oai_fail(e, 500, "server_error", NULL, NULL, "%s", r && r->error[0] ? r->error : "generation failed");
}

static void add_usage(llamac_oai_usage *u, const llamac_job_result *r, int first)
{
    if (first) {
        u->prompt_tokens = r->prompt_tokens;
        u->cached_tokens = r->cached_tokens;
    }
    u->completion_tokens += r->completion_tokens;
}

/* ---------------------------------------------------------------------------------------------------------
 * Whole responses
 * ------------------------------------------------------------------------------------------------------- */
typedef struct lp_list {
    llamac_oai_logprob *v;
    int64_t n, cap;
} lp_list;

static int lp_append(lp_list *l, const llamac_job_update *u)
{
    for (int t = 0; t < u->n_tokens && u->logprobs; t++) {
        if (l->n == l->cap) {
            int64_t cap = l->cap ? 2 * l->cap : 64;
            llamac_oai_logprob *p = realloc(l->v, (size_t)cap * sizeof *p);
            if (!p)
                return -1;
            l->v = p;
            l->cap = cap;
        }
        llamac_oai_logprob *lp = &l->v[l->n++];
        memset(lp, 0, sizeof *lp);
        lp->chosen = u->logprobs[t];
        lp->n_top = u->n_top < LLAMAC_MAX_TOP_LOGPROBS ? u->n_top : LLAMAC_MAX_TOP_LOGPROBS;
        if (u->top)
            memcpy(lp->top, u->top + (size_t)t * (size_t)u->n_top, (size_t)lp->n_top * sizeof lp->top[0]);
    }
    return 0;
}

static int whole_response(serve_request *rq, llamac_oai_request *oai, llamac_job **jobs)
{
    serve_server *s = serve_request_server(rq);
    const llamac_job_result *res[LLAMAC_OAI_MAX_N] = {0};
    llamac_finish fin[LLAMAC_OAI_MAX_N] = {0};
    lp_list lps[LLAMAC_OAI_MAX_N];
    memset(lps, 0, sizeof lps);
    int left = oai->n, gone = 0, oom = 0;
    while (left > 0 && !gone) {
        int waited = 0;
        for (int i = 0; i < oai->n; i++) {
            if (fin[i])
                continue;
            llamac_job_update u;
            llamac_job_wait(jobs[i], waited ? 0 : SERVE_WAIT_MS, &u);
            waited = 1;
            if (oai->logprobs && lp_append(&lps[i], &u))
                oom = 1;
            if (u.finish != LLAMAC_FINISH_NONE) {
                fin[i] = u.finish;
                res[i] = u.result;
                left--;
                if (res[i])
                    serve_metrics_job(&s->metrics, res[i]);
            }
        }
        if (left > 0 && serve_client_gone(rq))
            gone = 1;
    }
    int ret;
    if (gone) {
        serve_request_mark_gone(rq);
        ret = MHD_NO; /* drop the connection: nobody reads the answer */
    } else {
        llamac_oai_choice ch[LLAMAC_OAI_MAX_N];
        llamac_oai_usage usage = {0};
        llamac_oai_error e;
        int failed = -1;
        for (int i = 0; i < oai->n; i++) {
            const llamac_job_result *r = res[i];
            if (fin[i] == LLAMAC_FINISH_ERROR || fin[i] == LLAMAC_FINISH_CANCELLED || !r)
                failed = i;
            ch[i] = (llamac_oai_choice){r ? r->content : "", r ? r->content_len : 0, r ? r->tool_calls : NULL,
                                        fin[i], lps[i].v, lps[i].n};
            if (r)
                add_usage(&usage, r, i == 0);
        }
        serve_request_note_tokens(rq, usage.prompt_tokens, usage.completion_tokens);
        if (res[0])
            serve_request_note_ttft(rq, res[0]->ttft_ms);
        if (failed >= 0) {
            job_error(res[failed], fin[failed], &e);
            ret = serve_reply_error(rq, &e);
        } else if (oom) {
            ret = serve_reply_fail(rq, 500, "server_error", NULL, "out of memory");
        } else {
            char id[64];
            serve_new_id(s, oai->endpoint == LLAMAC_OAI_CHAT ? "chatcmpl-" : "cmpl-", id, sizeof id);
            ret = serve_reply_json(rq, 200,
                                   llamac_oai_response_json(oai, id, (int64_t)time(NULL), s->model_name, ch, oai->n,
                                                            &usage, s->tok));
        }
    }
    for (int i = 0; i < oai->n; i++)
        free(lps[i].v);
    free_jobs(jobs, oai->n);
    return ret;
}

/* ---------------------------------------------------------------------------------------------------------
 * Streams
 * ------------------------------------------------------------------------------------------------------- */
static void out_put(serve_stream *ss, char *events)
{
    if (!events) {
        ss->gone = 1; /* out of memory: end the stream */
        return;
    }
    size_t n = strlen(events);
    if (ss->len + n > ss->cap) {
        size_t cap = ss->cap ? ss->cap : 4096;
        while (cap < ss->len + n)
            cap *= 2;
        char *p = realloc(ss->out, cap);
        if (!p) {
            free(events);
            ss->gone = 1;
            return;
        }
        ss->out = p;
        ss->cap = cap;
    }
    memcpy(ss->out + ss->len, events, n);
    ss->len += n;
    free(events);
}

static void stream_cancel(serve_stream *ss)
{
    for (int i = 0; i < ss->n; i++)
        if (ss->jobs[i])
            llamac_job_cancel(ss->jobs[i]);
}

/* The events of one update of choice i. */
static void stream_update(serve_stream *ss, int i, const llamac_job_update *u)
{
    if (u->logprobs && u->n_tokens > 0) {
        for (int t = 0; t < u->n_tokens; t++) {
            llamac_oai_logprob lp;
            memset(&lp, 0, sizeof lp);
            lp.chosen = u->logprobs[t];
            lp.n_top = u->n_top < LLAMAC_MAX_TOP_LOGPROBS ? u->n_top : LLAMAC_MAX_TOP_LOGPROBS;
            if (u->top)
                memcpy(lp.top, u->top + (size_t)t * (size_t)u->n_top, (size_t)lp.n_top * sizeof lp.top[0]);
            out_put(ss, llamac_oai_stream_delta(ss->st, i, t == 0 ? u->text : "", t == 0 ? u->text_len : 0, &lp));
        }
    } else if (u->text_len) {
        out_put(ss, llamac_oai_stream_delta(ss->st, i, u->text, u->text_len, NULL));
    }
    if (u->finish == LLAMAC_FINISH_NONE)
        return;
    ss->finished[i] = 1;
    const llamac_job_result *r = u->result;
    if (r) {
        serve_metrics_job(&ss->srv->metrics, r);
        add_usage(&ss->usage, r, i == 0);
        if (i == 0)
            serve_request_note_ttft(ss->rq, r->ttft_ms);
    }
    if (u->finish == LLAMAC_FINISH_ERROR || u->finish == LLAMAC_FINISH_CANCELLED) {
        llamac_oai_error e;
        job_error(r, u->finish, &e);
        out_put(ss, llamac_oai_stream_error(&e));
        stream_cancel(ss);
        ss->done = 1;
        return;
    }
    out_put(ss, llamac_oai_stream_finish(ss->st, i, u->finish, r ? r->tool_calls : NULL));
}

/* Waits (at most SERVE_WAIT_MS) for news of the jobs and turns it into events. */
static void stream_step(serve_stream *ss)
{
    int waited = 0, left = 0;
    for (int i = 0; i < ss->n && !ss->done; i++) {
        if (ss->finished[i])
            continue;
        llamac_job_update u;
        llamac_job_wait(ss->jobs[i], waited ? 0 : SERVE_WAIT_MS, &u);
        waited = 1;
        stream_update(ss, i, &u);
        left += !ss->finished[i];
    }
    if (!ss->done && !left) {
        out_put(ss, llamac_oai_stream_end(ss->st, &ss->usage));
        ss->done = 1;
    }
    if (ss->done) {
        serve_request_note_tokens(ss->rq, ss->usage.prompt_tokens, ss->usage.completion_tokens);
        serve_request_generating(ss->rq, 0);
    } else if (serve_client_gone(ss->rq)) {
        ss->gone = 1;
    }
}

static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    serve_stream *ss = cls;
    (void)pos;
    for (;;) {
        if (ss->off < ss->len) {
            size_t n = ss->len - ss->off < max ? ss->len - ss->off : max;
            memcpy(buf, ss->out + ss->off, n);
            ss->off += n;
            if (ss->off == ss->len)
                ss->off = ss->len = 0;
            return (ssize_t)n;
        }
        if (ss->gone) {
            stream_cancel(ss);
            serve_request_mark_gone(ss->rq);
            return MHD_CONTENT_READER_END_WITH_ERROR;
        }
        if (ss->done)
            return MHD_CONTENT_READER_END_OF_STREAM;
        stream_step(ss);
    }
}

void serve_stream_free(serve_stream *ss)
{
    if (!ss)
        return;
    free_jobs(ss->jobs, ss->n);
    llamac_oai_stream_free(ss->st);
    llamac_oai_request_free(ss->oai);
    free(ss->out);
    free(ss);
}

static int stream_response(serve_request *rq, llamac_oai_request *oai, llamac_job **jobs)
{
    serve_server *s = serve_request_server(rq);
    serve_stream *ss = calloc(1, sizeof *ss);
    char id[64];
    serve_new_id(s, oai->endpoint == LLAMAC_OAI_CHAT ? "chatcmpl-" : "cmpl-", id, sizeof id);
    if (!ss || llamac_oai_stream_create(oai, id, (int64_t)time(NULL), s->model_name, s->tok, &ss->st)) {
        free(ss);
        free_jobs(jobs, oai->n);
        llamac_oai_request_free(oai);
        return serve_reply_fail(rq, 500, "server_error", NULL, "out of memory");
    }
    ss->rq = rq;
    ss->srv = s;
    ss->oai = oai;
    ss->n = oai->n;
    memcpy(ss->jobs, jobs, sizeof ss->jobs[0] * (size_t)oai->n);
    serve_request_set_stream(rq, ss); /* owned by the request from here on */
    if (oai->endpoint == LLAMAC_OAI_CHAT) /* the role chunks go out at once: the client sees the headers */
        for (int i = 0; i < ss->n; i++)
            out_put(ss, llamac_oai_stream_delta(ss->st, i, "", 0, NULL));
    struct MHD_Response *r = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16 * 1024, stream_read, ss, NULL);
    if (!r)
        return MHD_NO;
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "text/event-stream");
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
    serve_cors_headers(&serve_request_server(rq)->opt, serve_request_connection(rq), r);
    int ret = MHD_queue_response(serve_request_connection(rq), MHD_HTTP_OK, r);
    MHD_destroy_response(r);
    serve_request_set_status(rq, 200);
    return ret;
}

/* ---------------------------------------------------------------------------------------------------------
 * The handler
 * ------------------------------------------------------------------------------------------------------- */
int serve_completion(serve_request *rq, llamac_oai_endpoint ep)
{
    serve_server *s = serve_request_server(rq);
    size_t len;
    const char *body = serve_request_body(rq, &len);
    llamac_oai_request *oai;
    llamac_oai_error e;
    llamac_status st = ep == LLAMAC_OAI_CHAT ? llamac_oai_parse_chat(body, len, &oai, &e)
                                             : llamac_oai_parse_completion(body, len, &oai, &e);
    if (st)
        return serve_reply_error(rq, &e);
    if (atomic_load(&s->state) != SERVE_READY) {
        llamac_oai_request_free(oai);
        return serve_reply_fail(rq, 503, "server_error", "unavailable", "the server is %s",
                                atomic_load(&s->state) == SERVE_LOADING ? "loading the model" : "shutting down");
    }
    llamac_job *jobs[LLAMAC_OAI_MAX_N] = {0};
    int64_t n_prompt = 0;
    if (submit_all(s, oai, jobs, &n_prompt, &e)) {
        serve_request_note_tokens(rq, n_prompt, 0);
        llamac_oai_request_free(oai);
        return serve_reply_error(rq, &e);
    }
    serve_request_note_tokens(rq, n_prompt, 0);
    serve_request_generating(rq, 1);
    if (oai->stream)
        return stream_response(rq, oai, jobs); /* takes oai and the jobs */
    int ret = whole_response(rq, oai, jobs);
    serve_request_generating(rq, 0);
    llamac_oai_request_free(oai);
    return ret;
}
