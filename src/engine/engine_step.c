/*
 * engine_step.c — one engine step (engine thread only):
 *
 *   1. every running job: cancelled -> ended CANCELLED; past its deadline -> ended ERROR (LLAMAC_E_TIMEOUT);
 *      just admitted -> started (its conversation replaces the slot session's, begin renders it and reuses
 *      cached KV blocks);
 *   2. the batch, jobs oldest first: each generating job adds its 1 token, then prefilling jobs add prompt chunks
 *      while the step's budget of step_tokens prompt tokens lasts (so a long prompt is spread over many steps
 *      and running streams keep their pace);
 *   3. one llamac_decode. LLAMAC_E_KV_FULL: the youngest job gives way (back to the queue if it has produced
 *      nothing yet and others run, else ended ERROR with LLAMAC_E_KV_FULL) and the batch is rebuilt without it;
 *      each retry removes one job, so this ends. Any other error ends the batch's jobs ERROR;
 *   4. the jobs whose logits were in the batch draw their tokens, spread over the context's threads (each has
 *      its own sampler, so the draws do not depend on the split); then every job in the batch commits, oldest
 *      first, and its event is appended to the job's buffer; a finished answer ends the job.
 *
 * Ending a job releases its sequence (llamac_session_forget), so with the prefix cache on its full blocks stay
 * cached for later jobs; the statistics are updated before the job's waiter is woken.
 */
#include <stdio.h>
#include <string.h>

#include "core/context.h"
#include "engine/engine_internal.h"
#include "session/session_internal.h"

void lc_engine_snapshot_kv(llamac_engine *e)
{
    llamac_kv_stats kv;
    llamac_kv_get_stats(e->ctx, &kv);
    pthread_mutex_lock(&e->mu);
    e->stats.kv_positions_used = kv.n_positions;
    e->stats.kv_positions_capacity = (int64_t)kv.n_blocks * kv.block_size;
    e->stats.kv_blocks_used = kv.n_used;
    e->stats.kv_blocks_cached = kv.n_cached;
    e->stats.kv_blocks_total = kv.n_blocks;
    e->stats.busy_sequences = e->busy;
    e->stats.queue_depth = e->q_len;
    pthread_mutex_unlock(&e->mu);
}

void lc_engine_end_job(llamac_engine *e, int i, llamac_finish finish, llamac_status status, const char *error)
{
    lc_slot *sl = &e->slot[i];
    llamac_job *job = sl->job;
    llamac_session *s = sl->session;
    const int started = sl->added >= 0;
    if (started && llamac_session_pending(s) > 0) {
        llamac_session_cancel(s); /* what was held back (a possible stop string) is released now */
        if (s->final_ev.len)
            lc_job_push_event(job, &s->final_ev);
    }
    const llamac_answer *a = started ? llamac_session_answer(s) : NULL;
    llamac_session_forget(s);
    sl->job = NULL;
    sl->added = 0;
    pthread_mutex_lock(&e->mu);
    e->busy--;
    e->kv_reserved -= job->kv_blocks;
    job->kv_blocks = 0;
    e->admit_blocked = 0;
    e->stats.jobs_finished[finish]++;
    if (finish == LLAMAC_FINISH_CANCELLED && status == LLAMAC_OK)
        e->stats.jobs_cancelled++;
    if (status == LLAMAC_E_TIMEOUT)
        e->stats.jobs_timed_out++;
    if (status == LLAMAC_E_KV_FULL)
        e->stats.jobs_kv_full++;
    if (a) {
        e->stats.prompt_tokens += (uint64_t)a->prompt_tokens;
        e->stats.prompt_tokens_cached += (uint64_t)a->cached_tokens;
        e->stats.prefix_cache_hits += a->cached_tokens > 0;
    }
    pthread_mutex_unlock(&e->mu);
    lc_engine_snapshot_kv(e);
    lc_job_finish(job, finish, status, error, a);
    lc_job_release(job);
}

static void start_job(llamac_engine *e, int i)
{
    lc_slot *sl = &e->slot[i];
    llamac_job *job = sl->job;
    llamac_session *s = sl->session;
    char msg[sizeof s->err.msg + 64];
    job->t_admit = lc_now_ms();
    llamac_session_forget(s);
    llamac_status st;
    if (job->chat_json) {
        llamac_chat *chat = llamac_session_chat(s);
        st = llamac_chat_load_json(chat, job->chat_json, strlen(job->chat_json));
        if (st) {
            snprintf(msg, sizeof msg, "%s", llamac_chat_error(chat));
            lc_engine_end_job(e, i, LLAMAC_FINISH_ERROR, st, msg);
            return;
        }
        st = llamac_session_begin(s, &job->gen);
    } else {
        st = llamac_session_begin_tokens(s, job->prompt, job->n_prompt, &job->gen);
    }
    if (st) { /* the session's answer is not this job's (added stays -1) */
        snprintf(msg, sizeof msg, "%s", llamac_session_error(s));
        lc_engine_end_job(e, i, LLAMAC_FINISH_ERROR, st, msg);
        return;
    }
    sl->added = 0; /* started: the session holds this job's answer */
    const int64_t n = llamac_session_answer(s)->prompt_tokens, mt = job->gen.max_tokens;
    if (mt >= 0 && n + mt > e->params.n_ctx) { /* the rendering changed since submit (the date, at midnight) */
        snprintf(msg, sizeof msg, "the prompt has %lld tokens and max_tokens is %lld: %lld tokens exceed the context "
                 "of %d tokens", (long long)n, (long long)mt, (long long)(n + mt), e->params.n_ctx);
        lc_engine_end_job(e, i, LLAMAC_FINISH_ERROR, LLAMAC_E_CONTEXT_FULL, msg);
    }
}

/* The running slots, oldest job first. Returns their number. */
static int by_age(const llamac_engine *e, int *idx)
{
    int k = 0;
    for (int i = 0; i < e->params.n_parallel; i++) {
        if (!e->slot[i].job)
            continue;
        int j = k++;
        while (j > 0 && e->slot[idx[j - 1]].job->order > e->slot[i].job->order) {
            idx[j] = idx[j - 1];
            j--;
        }
        idx[j] = i;
    }
    return k;
}

/* The KV pool is full: the youngest job gives way (see the file comment). */
static void kv_full(llamac_engine *e, const int *idx, int k)
{
    const int v = idx[k - 1];
    lc_slot *sl = &e->slot[v];
    llamac_job *job = sl->job;
    if (job->n_generated == 0 && k > 1) {
        llamac_session_cancel(sl->session);
        llamac_session_forget(sl->session);
        sl->job = NULL;
        sl->added = 0;
        job->t_admit = 0;
        pthread_mutex_lock(&e->mu);
        job->next = e->q_head;
        e->q_head = job;
        if (!e->q_tail)
            e->q_tail = job;
        e->q_len++;
        e->busy--;
        e->kv_reserved -= job->kv_blocks;
        job->kv_blocks = 0;
        e->admit_blocked = 1;
        e->stats.jobs_requeued++;
        pthread_mutex_unlock(&e->mu);
        return;
    }
    llamac_kv_stats kv;
    llamac_kv_get_stats(e->ctx, &kv);
    char msg[320];
    snprintf(msg, sizeof msg,
             "the KV memory is full (%d blocks of %d positions; %d positions held by %d running jobs): this job, "
             "the youngest, was stopped so that the others can go on",
             kv.n_blocks, kv.block_size, kv.n_positions, k);
    lc_engine_end_job(e, v, LLAMAC_FINISH_ERROR, LLAMAC_E_KV_FULL, msg);
}

/* Ends the jobs that were cancelled or ran out of time, and starts the ones just admitted. */
static void check_jobs(llamac_engine *e)
{
    const double now = lc_now_ms();
    for (int i = 0; i < e->params.n_parallel; i++) {
        llamac_job *job = e->slot[i].job;
        if (!job)
            continue;
        if (lc_job_cancelled(job)) {
            lc_engine_end_job(e, i, LLAMAC_FINISH_CANCELLED, LLAMAC_OK, "");
        } else if (job->deadline > 0 && now >= job->deadline) {
            char msg[128];
            snprintf(msg, sizeof msg, "the job ran past its time limit of %.3f s",
                     (job->deadline - job->t_submit) * 1e-3);
            lc_engine_end_job(e, i, LLAMAC_FINISH_ERROR, LLAMAC_E_TIMEOUT, msg);
        } else if (e->slot[i].added < 0) {
            start_job(e, i);
        }
    }
}

/* Fills the batch (see the file comment) and decodes it, handling a full KV pool. Returns the number of running
 * jobs in idx (oldest first) whose tokens were decoded, 0 when there was nothing to do or the decode failed. */
static int decode_step(llamac_engine *e, int *idx)
{
    for (;;) {
        const int k = by_age(e, idx);
        if (k == 0)
            return 0;
        llamac_batch_buf_clear(&e->batch);
        for (int j = 0; j < k; j++) {
            lc_slot *sl = &e->slot[idx[j]];
            sl->added = 0;
            if (sl->job->n_generated > 0)
                sl->added = llamac_session_batch(sl->session, &e->batch, 1);
        }
        int budget = e->params.step_tokens;
        for (int j = 0; j < k && budget > 0; j++) {
            lc_slot *sl = &e->slot[idx[j]];
            if (sl->job->n_generated == 0) {
                sl->added = llamac_session_batch(sl->session, &e->batch, budget);
                budget -= sl->added;
            }
        }
        if (e->batch.batch.n_tokens == 0)
            return 0;
        const llamac_status st = llamac_decode(e->ctx, &e->batch.batch);
        if (st == LLAMAC_OK)
            return k;
        if (st == LLAMAC_E_KV_FULL) {
            kv_full(e, idx, k);
            continue;
        }
        char msg[600];
        snprintf(msg, sizeof msg, "decode failed: %s", llamac_context_error(e->ctx));
        for (int j = 0; j < k; j++)
            if (e->slot[idx[j]].added > 0)
                lc_engine_end_job(e, idx[j], LLAMAC_FINISH_ERROR, st, msg);
        return 0;
    }
}

typedef struct predraw_arg {
    llamac_engine *e;
    const int *idx;
} predraw_arg;

static void predraw_task(void *varg, int64_t j, int thread)
{
    (void)thread;
    const predraw_arg *a = varg;
    lc_slot *sl = &a->e->slot[a->idx[j]];
    if (sl->added > 0)
        lc_session_predraw(sl->session);
}

void lc_engine_step(llamac_engine *e)
{
    check_jobs(e);
    int idx[256];
    const int k = decode_step(e, idx);
    if (k == 0) {
        lc_engine_snapshot_kv(e);
        return;
    }
    pthread_mutex_lock(&e->mu);
    e->stats.steps++;
    pthread_mutex_unlock(&e->mu);
    if (k > 1) { /* the draws on the context's threads (each session its own sampler), the commits in order */
        predraw_arg a = {e, idx};
        lc_pool_run(e->ctx->pool, predraw_task, &a, k);
    }
    for (int j = 0; j < k; j++) {
        const int i = idx[j];
        lc_slot *sl = &e->slot[i];
        if (sl->added <= 0)
            continue;
        llamac_job *job = sl->job;
        llamac_session_event ev;
        const llamac_status st = llamac_session_commit(sl->session, &ev);
        if (ev.token >= 0) {
            job->n_generated++;
            if (job->t_first == 0)
                job->t_first = lc_now_ms();
            pthread_mutex_lock(&e->mu); /* counted before the job's waiter can see the token */
            e->stats.generated_tokens++;
            pthread_mutex_unlock(&e->mu);
        }
        const llamac_status pst = lc_job_push_event(job, &ev);
        if (ev.finish != LLAMAC_FINISH_NONE)
            lc_engine_end_job(e, i, ev.finish, st, st ? llamac_session_error(sl->session) : "");
        else if (pst)
            lc_engine_end_job(e, i, LLAMAC_FINISH_ERROR, pst, "out of memory (the job's event buffer)");
    }
    lc_engine_snapshot_kv(e);
}
