/*
 * job.c — a job seen from the client: llamac_engine_submit (runs in the caller's thread: checks, copies, renders
 * and counts the prompt, checks that it fits, queues), the event buffers the engine appends to, and
 * llamac_job_wait / cancel / free.
 *
 * Events: the engine appends to job->pending under job->mu; llamac_job_wait swaps pending with the buffers of
 * the previous update (taken) and empties the new pending, so a wait costs no copy and the engine never waits
 * longer than a swap. Both buffers hold at most one job's answer: memory is bounded by max_tokens (or n_ctx).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine/engine_internal.h"
#include "session/session_internal.h"
#include "tok/unicode.h"

llamac_job_params llamac_job_default_params(void)
{
    llamac_job_params p;
    memset(&p, 0, sizeof p);
    p.gen = llamac_gen_default_params();
    return p;
}

/* ---------------------------------------------------------------------------------------------------------
 * Event buffers
 * ------------------------------------------------------------------------------------------------------- */
static void events_clear(lc_job_events *v)
{
    v->text.len = 0;
    if (v->text.p)
        v->text.p[0] = 0;
    v->n = 0;
}

static void events_free(lc_job_events *v)
{
    lc_buf_free(&v->text);
    free(v->tokens);
    free(v->chosen);
    free(v->top);
    memset(v, 0, sizeof *v);
}

static int reserve(void **p, size_t elem, size_t *cap, size_t n)
{
    void *q = lc_array_reserve(*p, elem, cap, n, 1);
    if (!q)
        return 0;
    *p = q;
    return 1;
}

llamac_status lc_job_push_event(llamac_job *job, const llamac_session_event *ev)
{
    llamac_status st = LLAMAC_OK;
    pthread_mutex_lock(&job->mu);
    lc_job_events *v = &job->pending;
    if (ev->len)
        lc_buf_put(&v->text, ev->text, ev->len);
    if (v->text.oom)
        st = LLAMAC_E_NOMEM;
    if (!st && ev->token >= 0) {
        const size_t n = v->n, k = (size_t)(job->n_top > 0 ? job->n_top : 0);
        if (!reserve((void **)&v->tokens, sizeof *v->tokens, &v->cap_tokens, n) ||
            (job->want_logprobs && !reserve((void **)&v->chosen, sizeof *v->chosen, &v->cap_chosen, n)) ||
            (k && !reserve((void **)&v->top, sizeof *v->top, &v->cap_top, (n + 1) * k))) {
            st = LLAMAC_E_NOMEM;
        } else {
            v->tokens[n] = ev->token;
            if (job->want_logprobs)
                v->chosen[n] = ev->chosen;
            if (k)
                memcpy(v->top + n * k, ev->top, k * sizeof *v->top);
            v->n = n + 1;
        }
    }
    if (ev->len > 0 || ev->token >= 0) {
        pthread_cond_broadcast(&job->cv);
        if (job->notify) /* under mu, so that it is never called after llamac_job_free returned */
            job->notify(job->notify_user);
    }
    pthread_mutex_unlock(&job->mu);
    return st;
}

void lc_job_finish(llamac_job *job, llamac_finish finish, llamac_status status, const char *error,
                   const llamac_answer *a)
{
    const double now = lc_now_ms();
    pthread_mutex_lock(&job->mu);
    if (job->finish != LLAMAC_FINISH_NONE) {
        pthread_mutex_unlock(&job->mu);
        return;
    }
    llamac_job_result *r = &job->result;
    memset(r, 0, sizeof *r);
    r->status = status;
    job->result_error = strdup(error ? error : "");
    r->error = job->result_error ? job->result_error : "out of memory";
    if (a && a->content) {
        job->result_content = strndup(a->content, a->content_len); /* content holds no NUL (U+FFFD) */
        r->content_len = job->result_content ? a->content_len : 0;
    }
    r->content = job->result_content ? job->result_content : "";
    if (a && a->tool_calls && (job->result_calls = strdup(a->tool_calls))) {
        r->tool_calls = job->result_calls;
        r->n_tool_calls = a->n_tool_calls;
    }
    if (a) {
        r->prompt_tokens = a->prompt_tokens;
        r->cached_tokens = a->cached_tokens;
        r->completion_tokens = a->completion_tokens;
        r->prompt_ms = a->prompt_ms;
        r->gen_ms = a->gen_ms;
    } else {
        r->prompt_tokens = job->n_prompt;
    }
    r->queue_ms = job->t_admit > 0 ? job->t_admit - job->t_submit : now - job->t_submit;
    r->ttft_ms = job->t_first > 0 ? job->t_first - job->t_submit : 0;
    r->total_ms = now - job->t_submit;
    job->finish = finish;
    pthread_cond_broadcast(&job->cv);
    if (job->notify)
        job->notify(job->notify_user);
    pthread_mutex_unlock(&job->mu);
}

static void job_destroy(llamac_job *job)
{
    pthread_mutex_destroy(&job->mu);
    pthread_cond_destroy(&job->cv);
    free(job->chat_json);
    free(job->prompt);
    for (int i = 0; i < LLAMAC_MAX_STOP; i++)
        free(job->stop[i]);
    free(job->tool_name);
    free(job->bias);
    events_free(&job->pending);
    events_free(&job->taken);
    free(job->result_error);
    free(job->result_content);
    free(job->result_calls);
    free(job);
}

void lc_job_release(llamac_job *job)
{
    pthread_mutex_lock(&job->mu);
    const int left = --job->refs;
    pthread_mutex_unlock(&job->mu);
    if (left == 0)
        job_destroy(job);
}

int lc_job_cancelled(llamac_job *job)
{
    pthread_mutex_lock(&job->mu);
    const int c = job->cancel;
    pthread_mutex_unlock(&job->mu);
    return c;
}

/* ---------------------------------------------------------------------------------------------------------
 * Client calls
 * ------------------------------------------------------------------------------------------------------- */
static struct timespec deadline_in(int ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_sec += ms / 1000;
    ts.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    return ts;
}

llamac_status llamac_job_wait(llamac_job *job, int timeout_ms, llamac_job_update *out)
{
    if (out)
        memset(out, 0, sizeof *out);
    if (!job || !out)
        return LLAMAC_E_INVALID_ARG;
    out->text = "";
    const struct timespec until = deadline_in(timeout_ms > 0 ? timeout_ms : 0);
    pthread_mutex_lock(&job->mu);
    for (;;) {
        if (job->pending.n > 0 || job->pending.text.len > 0 || job->finish != LLAMAC_FINISH_NONE || timeout_ms == 0)
            break;
        if (timeout_ms < 0)
            pthread_cond_wait(&job->cv, &job->mu);
        else if (pthread_cond_timedwait(&job->cv, &job->mu, &until) == ETIMEDOUT)
            break;
    }
    lc_job_events t = job->taken;
    job->taken = job->pending;
    job->pending = t;
    events_clear(&job->pending);
    const llamac_finish finish = job->finish;
    pthread_mutex_unlock(&job->mu);

    lc_job_events *v = &job->taken;
    out->text = v->text.p ? v->text.p : "";
    out->text_len = v->text.len;
    out->n_tokens = (int)v->n;
    out->tokens = v->n ? v->tokens : NULL;
    out->logprobs = v->n && job->want_logprobs ? v->chosen : NULL;
    out->n_top = job->n_top;
    out->top = v->n && job->n_top > 0 ? v->top : NULL;
    out->finish = finish;
    out->result = finish != LLAMAC_FINISH_NONE ? &job->result : NULL;
    return LLAMAC_OK;
}

/* Asks the engine to stop the job; with forget_notify, notify is never called again once this returns. */
static void request_cancel(llamac_job *job, int forget_notify)
{
    pthread_mutex_lock(&job->mu);
    if (job->finish == LLAMAC_FINISH_NONE)
        job->cancel = 1;
    if (forget_notify)
        job->notify = NULL;
    pthread_mutex_unlock(&job->mu);
}

void llamac_job_cancel(llamac_job *job)
{
    if (job)
        request_cancel(job, 0);
}

void llamac_job_free(llamac_job *job)
{
    if (!job)
        return;
    request_cancel(job, 1);
    lc_job_release(job);
}

/* ---------------------------------------------------------------------------------------------------------
 * Submit
 * ------------------------------------------------------------------------------------------------------- */
static int utf8_ok(const char *s, size_t n)
{
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        int need, incomplete;
        int l = lc_utf8_decode((const uint8_t *)s + i, n - i, &cp, &need, &incomplete);
        if (!l)
            return 0;
        i += (size_t)l;
    }
    return 1;
}

/* Checks the generation parameters and copies what they point to into the job. */
static llamac_status copy_gen(const llamac_engine *e, llamac_job *job, const llamac_gen_params *g, lc_err *err)
{
    job->gen = *g;
    if (g->max_tokens < -1)
        return lc_fail(err, LLAMAC_E_INVALID_ARG, "max_tokens %d is not -1 or more", g->max_tokens);
    if (g->n_logprobs < 0 || g->n_logprobs > LLAMAC_MAX_TOP_LOGPROBS + 1)
        return lc_fail(err, LLAMAC_E_INVALID_ARG, "n_logprobs %d is not in 0..%d", g->n_logprobs,
                       LLAMAC_MAX_TOP_LOGPROBS + 1);
    if ((unsigned)g->tool_choice > LLAMAC_TOOL_CHOICE_NAMED)
        return lc_fail(err, LLAMAC_E_INVALID_ARG, "tool_choice %d is not a tool choice", (int)g->tool_choice);
    if (g->tool_choice == LLAMAC_TOOL_CHOICE_NAMED && (!g->tool_name || !*g->tool_name))
        return lc_fail(err, LLAMAC_E_INVALID_ARG, "tool_choice NAMED needs a tool_name");
    job->want_logprobs = g->n_logprobs > 0;
    job->n_top = g->n_logprobs > 0 ? g->n_logprobs - 1 : 0;
    for (int i = 0; i < LLAMAC_MAX_STOP; i++) {
        job->gen.stop[i] = NULL;
        if (!g->stop[i])
            break;
        const size_t len = strlen(g->stop[i]);
        if (len == 0 || len > LC_MAX_STOP_LEN || !utf8_ok(g->stop[i], len))
            return lc_fail(err, LLAMAC_E_INVALID_ARG,
                           "stop string %d is empty, longer than %d bytes or not valid UTF-8", i, LC_MAX_STOP_LEN);
        if (!e->tok)
            return lc_fail(err, LLAMAC_E_INVALID_ARG, "stop strings need a vocabulary, and the model has none");
        if (!(job->stop[i] = strdup(g->stop[i])))
            return lc_fail(err, LLAMAC_E_NOMEM, "out of memory");
        job->gen.stop[i] = job->stop[i];
    }
    job->gen.tool_name = NULL;
    if (g->tool_name) {
        if (!(job->tool_name = strdup(g->tool_name)))
            return lc_fail(err, LLAMAC_E_NOMEM, "out of memory");
        job->gen.tool_name = job->tool_name;
    }
    const llamac_sampler_params *sp = &g->sampling;
    if (sp->n_logit_bias < 0 || (sp->n_logit_bias > 0 && !sp->logit_bias))
        return lc_fail(err, LLAMAC_E_INVALID_ARG, "logit_bias: %d entries but no array", sp->n_logit_bias);
    job->gen.sampling.logit_bias = NULL;
    if (sp->n_logit_bias > 0) {
        const size_t n = (size_t)sp->n_logit_bias * sizeof *job->bias;
        if (!(job->bias = malloc(n)))
            return lc_fail(err, LLAMAC_E_NOMEM, "out of memory");
        memcpy(job->bias, sp->logit_bias, n);
        job->gen.sampling.logit_bias = job->bias;
    }
    llamac_sampler *smp = NULL;
    if (llamac_sampler_create(&job->gen.sampling, e->n_vocab, &smp) != LLAMAC_OK)
        return lc_fail(err, LLAMAC_E_INVALID_ARG, "invalid sampling parameters (NaN, a non-finite penalty, a "
                                                  "negative window or a logit_bias token outside 0..%d)",
                       e->n_vocab - 1);
    llamac_sampler_free(smp);
    return LLAMAC_OK;
}

/* The chat's prompt as the slot's session will render it from an empty cache: every message, the generation
 * prompt, the tools unless tool_choice is NONE, and the forced tool-call opening of REQUIRED / NAMED. Counts
 * its tokens into job->n_prompt and keeps the conversation as JSON for the engine thread. */
static llamac_status count_chat(const llamac_engine *e, llamac_job *job, const llamac_chat *chat, lc_err *err)
{
    if (!e->tok)
        return lc_fail(err, LLAMAC_E_INVALID_ARG, "the model has no vocabulary: only raw token prompts work");
    if (llamac_chat_n_messages(chat) == 0)
        return lc_fail(err, LLAMAC_E_INVALID_ARG, "the conversation has no messages");
    llamac_status st = llamac_chat_dump_json(chat, &job->chat_json);
    if (st)
        return lc_fail(err, st, "the conversation cannot be copied: %s", llamac_chat_error(chat));
    llamac_chat *copy = NULL;
    if ((st = llamac_chat_create(&copy)))
        return lc_fail(err, st, "out of memory");
    if ((st = llamac_chat_load_json(copy, job->chat_json, strlen(job->chat_json)))) {
        lc_fail(err, st, "the conversation cannot be copied: %s", llamac_chat_error(copy));
        llamac_chat_free(copy);
        return st;
    }
    llamac_chat_params cp = llamac_chat_default_params(e->params.format);
    cp.date = e->params.date;
    llamac_chat_prompt *pr = NULL;
    llamac_tokens ids = {0};
    char why[sizeof err->msg];
    st = lc_chat_render_ex(copy, &cp, 0, job->gen.tool_choice == LLAMAC_TOOL_CHOICE_NONE, &pr);
    if (st)
        lc_fail(err, st == LLAMAC_E_NOMEM ? st : LLAMAC_E_INVALID_ARG, "%s", llamac_chat_error(copy));
    else if ((st = llamac_chat_prompt_tokens(pr, e->tok, &ids, why, sizeof why)))
        lc_fail(err, st == LLAMAC_E_NOMEM ? st : LLAMAC_E_INVALID_ARG, "%s", why);
    else
        st = lc_tool_prefix(copy, e->params.format, e->tok, job->gen.tool_choice, job->gen.tool_name, &ids, err);
    if (st && st != LLAMAC_E_NOMEM)
        st = LLAMAC_E_INVALID_ARG;
    job->n_prompt = (int64_t)ids.n;
    llamac_tokens_free(&ids);
    llamac_chat_prompt_free(pr);
    llamac_chat_free(copy);
    return st;
}

static llamac_status copy_prompt(const llamac_engine *e, llamac_job *job, const llamac_job_params *p, lc_err *err)
{
    if (p->n_prompt <= 0 || !p->prompt)
        return lc_fail(err, LLAMAC_E_INVALID_ARG, "a job needs a conversation or a non-empty prompt");
    if (p->n_prompt > e->params.n_ctx) {
        job->n_prompt = p->n_prompt;
        return LLAMAC_OK; /* refused by the length check, with both numbers */
    }
    for (int64_t i = 0; i < p->n_prompt; i++)
        if (p->prompt[i] < 0 || p->prompt[i] >= e->n_vocab)
            return lc_fail(err, LLAMAC_E_INVALID_ARG, "prompt token %lld is %d, outside the vocabulary 0..%d",
                           (long long)i, p->prompt[i], e->n_vocab - 1);
    if (!(job->prompt = malloc((size_t)p->n_prompt * sizeof *job->prompt)))
        return lc_fail(err, LLAMAC_E_NOMEM, "out of memory");
    memcpy(job->prompt, p->prompt, (size_t)p->n_prompt * sizeof *job->prompt);
    job->n_prompt = p->n_prompt;
    return LLAMAC_OK;
}

static llamac_status check_fits(const llamac_engine *e, const llamac_job *job, lc_err *err)
{
    const int n_ctx = e->params.n_ctx;
    const int64_t mt = job->gen.max_tokens;
    if (mt < 0 && job->n_prompt + 1 > n_ctx)
        return lc_fail(err, LLAMAC_E_CONTEXT_FULL,
                       "the prompt has %lld tokens, which leaves no room for an answer in the context of %d tokens",
                       (long long)job->n_prompt, n_ctx);
    if (mt >= 0 && job->n_prompt + mt > n_ctx)
        return lc_fail(err, LLAMAC_E_CONTEXT_FULL,
                       "the prompt has %lld tokens and max_tokens is %lld: %lld tokens exceed the context of %d "
                       "tokens",
                       (long long)job->n_prompt, (long long)mt, (long long)(job->n_prompt + mt), n_ctx);
    return LLAMAC_OK;
}

static llamac_status enqueue(llamac_engine *e, llamac_job *job, lc_err *err)
{
    llamac_status st = LLAMAC_OK;
    pthread_mutex_lock(&e->mu);
    if (e->stop) {
        st = lc_fail(err, LLAMAC_E_CANCELLED, "the engine is shutting down");
    } else if (e->q_len + e->busy >= e->params.n_parallel + e->params.max_queue) {
        e->stats.jobs_rejected_busy++;
        st = lc_fail(err, LLAMAC_E_BUSY, "busy: %d jobs run and %d wait (at most %d may wait)", e->busy, e->q_len,
                     e->params.max_queue);
    } else {
        job->refs = 2;
        if (e->q_tail)
            e->q_tail->next = job;
        else
            e->q_head = job;
        e->q_tail = job;
        e->q_len++;
        e->stats.jobs_submitted++;
        e->stats.queue_depth = e->q_len;
        pthread_cond_broadcast(&e->cv);
    }
    pthread_mutex_unlock(&e->mu);
    return st;
}

llamac_status llamac_engine_submit(llamac_engine *e, const llamac_job_params *params, llamac_job **out,
                                   int64_t *n_prompt_tokens, char *err, size_t err_size)
{
    lc_err er = {{0}};
    llamac_status st = LLAMAC_OK;
    if (out)
        *out = NULL;
    if (n_prompt_tokens)
        *n_prompt_tokens = 0;
    if (!e || !params || !out) {
        lc_fail(&er, LLAMAC_E_INVALID_ARG, "llamac_engine_submit: engine, params and out are required");
        lc_err_copy(&er, err, err_size);
        return LLAMAC_E_INVALID_ARG;
    }
    llamac_job *job = calloc(1, sizeof *job);
    if (!job) {
        lc_fail(&er, LLAMAC_E_NOMEM, "out of memory");
        lc_err_copy(&er, err, err_size);
        return LLAMAC_E_NOMEM;
    }
    pthread_mutex_init(&job->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&job->cv, &ca);
    pthread_condattr_destroy(&ca);
    job->refs = 1;
    job->t_submit = lc_now_ms();
    const double timeout_s = params->timeout_s > 0 ? params->timeout_s : e->params.timeout_s;
    job->deadline = timeout_s > 0 ? job->t_submit + timeout_s * 1e3 : 0;
    job->notify = params->notify;
    job->notify_user = params->notify_user;

    st = copy_gen(e, job, &params->gen, &er);
    if (!st)
        st = params->chat ? count_chat(e, job, params->chat, &er) : copy_prompt(e, job, params, &er);
    if (!st && job->n_prompt == 0)
        st = lc_fail(&er, LLAMAC_E_INVALID_ARG, "the prompt is empty");
    if (n_prompt_tokens)
        *n_prompt_tokens = job->n_prompt;
    if (!st && (st = check_fits(e, job, &er))) {
        pthread_mutex_lock(&e->mu);
        e->stats.jobs_rejected_context++;
        pthread_mutex_unlock(&e->mu);
    }
    if (!st)
        st = enqueue(e, job, &er);
    if (st) {
        lc_err_copy(&er, err, err_size);
        job_destroy(job);
        return st;
    }
    *out = job;
    return LLAMAC_OK;
}
