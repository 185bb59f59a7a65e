/*
 * engine.c — the engine's lifecycle and its thread's loop (include/llamac_engine.h; the step is in
 * engine_step.c, the client side in job.c).
 *
 * The loop: wait until a job is queued or running; drop queued jobs that were cancelled or ran out of time;
 * admit queued jobs onto free slots (first in, first out; none while admit_blocked, nor while the KV blocks not
 * reserved by running jobs cannot take the next job's prompt + max_tokens and other jobs run, since they will
 * release memory); run one step. On stop,
 * every running and queued job finishes CANCELLED before the thread returns, so no waiter is left hanging.
 */
#include <stdlib.h>
#include <string.h>

#include "engine/engine_internal.h"
#include "session/session_internal.h"

llamac_engine_params llamac_engine_default_params(void)
{
    llamac_engine_params p;
    memset(&p, 0, sizeof p);
    p.n_parallel = 4;
    p.n_ctx = 4096;
    p.kv_type = LLAMAC_KV_F32;
    p.prefix_cache = 1;
    p.max_queue = 64;
    p.step_tokens = 256;
    p.format = LLAMAC_CHAT_UNKNOWN;
    return p;
}

/* Removes job from the queue (e->mu held). */
static void unqueue(llamac_engine *e, llamac_job *job)
{
    llamac_job **pp = &e->q_head;
    while (*pp && *pp != job)
        pp = &(*pp)->next;
    if (!*pp)
        return;
    *pp = job->next;
    if (e->q_tail == job) {
        e->q_tail = e->q_head;
        while (e->q_tail && e->q_tail->next)
            e->q_tail = e->q_tail->next;
    }
    job->next = NULL;
    e->q_len--;
    e->stats.queue_depth = e->q_len;
}

/* Ends a job that never got a slot (e->mu held; job->mu is taken inside, which the lock order allows). */
static void end_queued(llamac_engine *e, llamac_job *job, llamac_finish finish, llamac_status status,
                       const char *error)
{
    unqueue(e, job);
    e->stats.jobs_finished[finish]++;
    if (status == LLAMAC_E_TIMEOUT)
        e->stats.jobs_timed_out++;
    else if (finish == LLAMAC_FINISH_CANCELLED && status == LLAMAC_OK)
        e->stats.jobs_cancelled++;
    lc_job_finish(job, finish, status, error, NULL);
    lc_job_release(job);
}

/* Drops cancelled and timed-out queued jobs, then fills free slots from the queue's head (e->mu held). */
static void admit(llamac_engine *e)
{
    const double now = lc_now_ms();
    for (llamac_job *job = e->q_head, *next; job; job = next) {
        next = job->next;
        if (lc_job_cancelled(job))
            end_queued(e, job, LLAMAC_FINISH_CANCELLED, LLAMAC_OK, "");
        else if (job->deadline > 0 && now >= job->deadline)
            end_queued(e, job, LLAMAC_FINISH_ERROR, LLAMAC_E_TIMEOUT, "the job timed out while waiting in the queue");
    }
    if (e->admit_blocked && e->busy == 0)
        e->admit_blocked = 0;
    /* Every running job holds a reservation of the blocks its prompt + max_tokens positions may fill; a job is
     * admitted only when its own fits beside them (blocks kept only by the prefix cache count as free: they are
     * evicted on demand), so an admitted job cannot run out of KV memory mid-answer. Alone, a job is always
     * admitted (if even the whole pool is too small it ends KV_FULL rather than wait for ever). */
    const int64_t total = (int64_t)e->stats.kv_blocks_total, bs = e->params.kv_block > 0 ? e->params.kv_block : 1;
    for (int i = 0; i < e->params.n_parallel && e->q_head && !e->admit_blocked; i++) {
        if (e->slot[i].job)
            continue;
        llamac_job *job = e->q_head;
        const int64_t need = (job->n_prompt + (job->gen.max_tokens > 0 ? job->gen.max_tokens : 1) + bs - 1) / bs;
        if (e->busy > 0 && e->kv_reserved + need > total)
            break; /* wait (in queue order) until running jobs end and give their reservation back */
        unqueue(e, job);
        job->order = e->next_order++;
        job->t_admit = 0;
        job->kv_blocks = need;
        e->kv_reserved += need;
        e->slot[i].job = job;
        e->slot[i].added = -1; /* to be started by the step */
        e->busy++;
    }
    e->stats.busy_sequences = e->busy;
}

static void *engine_main(void *arg)
{
    llamac_engine *e = arg;
    for (;;) {
        pthread_mutex_lock(&e->mu);
        while (!e->stop && e->busy == 0 && !e->q_head)
            pthread_cond_wait(&e->cv, &e->mu);
        if (e->stop) {
            pthread_mutex_unlock(&e->mu);
            break;
        }
        admit(e);
        pthread_mutex_unlock(&e->mu);
        lc_engine_step(e);
    }
    for (int i = 0; i < e->params.n_parallel; i++)
        if (e->slot[i].job)
            lc_engine_end_job(e, i, LLAMAC_FINISH_CANCELLED, LLAMAC_E_CANCELLED, "the engine was shut down");
    pthread_mutex_lock(&e->mu);
    while (e->q_head)
        end_queued(e, e->q_head, LLAMAC_FINISH_CANCELLED, LLAMAC_E_CANCELLED, "the engine was shut down");
    pthread_mutex_unlock(&e->mu);
    return NULL;
}

static llamac_status check_params(const llamac_engine_params *p, lc_err *er)
{
    if (p->n_parallel < 1 || p->n_parallel > 256)
        return lc_fail(er, LLAMAC_E_INVALID_ARG, "engine: n_parallel %d is not in 1..256", p->n_parallel);
    if (p->n_ctx < 0)
        return lc_fail(er, LLAMAC_E_INVALID_ARG, "engine: n_ctx %d is negative", p->n_ctx);
    if (p->max_queue < 0 || p->max_queue > 1000000)
        return lc_fail(er, LLAMAC_E_INVALID_ARG, "engine: max_queue %d is not in 0..1000000", p->max_queue);
    if (p->step_tokens < 1 || p->step_tokens > 65536)
        return lc_fail(er, LLAMAC_E_INVALID_ARG, "engine: step_tokens %d is not in 1..65536", p->step_tokens);
    if (!(p->timeout_s >= 0) || p->timeout_s > 1e9)
        return lc_fail(er, LLAMAC_E_INVALID_ARG, "engine: timeout_s is not a number of seconds >= 0");
    return LLAMAC_OK;
}

llamac_status llamac_engine_create(llamac_model *model, const llamac_engine_params *params, llamac_engine **out,
                                   char *err, size_t err_size)
{
    lc_err er = {{0}};
    if (out)
        *out = NULL;
    llamac_engine_params p = params ? *params : llamac_engine_default_params();
    llamac_status st = LLAMAC_OK;
    if (!model || !out)
        st = lc_fail(&er, LLAMAC_E_INVALID_ARG, "llamac_engine_create: model and out are required");
    else
        st = check_params(&p, &er);
    llamac_engine *e = NULL;
    if (!st && !(e = calloc(1, sizeof *e)))
        st = lc_fail(&er, LLAMAC_E_NOMEM, "out of memory");
    if (st) {
        lc_err_copy(&er, err, err_size);
        return st;
    }
    pthread_mutex_init(&e->mu, NULL);
    pthread_cond_init(&e->cv, NULL);
    e->model = model;
    if (p.date && !(e->date_copy = strdup(p.date)))
        st = lc_fail(&er, LLAMAC_E_NOMEM, "out of memory");
    p.date = e->date_copy;
    llamac_model_info info;
    llamac_model_get_info(model, &info);
    e->n_vocab = info.n_vocab;
    e->tok = llamac_model_tokenizer(model);

    llamac_context_params cp = llamac_context_default_params();
    cp.n_ctx = p.n_ctx;
    cp.n_seq_max = p.n_parallel;
    cp.n_batch = p.step_tokens + p.n_parallel;
    cp.n_logits = p.n_parallel;
    cp.n_threads = p.n_threads;
    cp.kv_type = p.kv_type;
    cp.kv_block = p.kv_block;
    cp.kv_size = p.kv_size;
    cp.prefix_cache = p.prefix_cache;
    char cerr[sizeof er.msg];
    if (!st && (st = llamac_context_create(model, &cp, &e->ctx, cerr, sizeof cerr)))
        lc_fail(&er, st, "%s", cerr);
    if (!st && (!(e->slot = calloc((size_t)p.n_parallel, sizeof *e->slot)) ||
                llamac_batch_buf_init(&e->batch, cp.n_batch)))
        st = lc_fail(&er, LLAMAC_E_NOMEM, "out of memory");
    for (int i = 0; !st && i < p.n_parallel; i++) {
        llamac_session_params sp = llamac_session_default_params();
        sp.seq = i;
        sp.format = p.format;
        sp.date = p.date;
        if ((st = llamac_session_create(e->ctx, &sp, &e->slot[i].session, cerr, sizeof cerr)))
            lc_fail(&er, st, "%s", cerr);
    }
    if (!st) {
        p.n_ctx = llamac_context_n_ctx(e->ctx);
        p.n_threads = llamac_context_n_threads(e->ctx);
        p.format = llamac_session_format(e->slot[0].session);
        llamac_kv_stats kv;
        llamac_kv_get_stats(e->ctx, &kv);
        p.kv_size = (uint64_t)kv.n_blocks * kv.block_bytes;
        p.kv_block = kv.block_size;
        e->params = p;
        e->stats.n_parallel = p.n_parallel;
        lc_engine_snapshot_kv(e);
        if (pthread_create(&e->thread, NULL, engine_main, e) != 0)
            st = lc_fail(&er, LLAMAC_E_NOMEM, "engine: cannot start the engine thread");
        else
            e->thread_started = 1;
    }
    if (st) {
        e->params.n_parallel = p.n_parallel;
        llamac_engine_free(e);
        lc_err_copy(&er, err, err_size);
        return st;
    }
    *out = e;
    return LLAMAC_OK;
}

void llamac_engine_free(llamac_engine *e)
{
    if (!e)
        return;
    if (e->thread_started) {
        pthread_mutex_lock(&e->mu);
        e->stop = 1;
        pthread_cond_broadcast(&e->cv);
        pthread_mutex_unlock(&e->mu);
        pthread_join(e->thread, NULL);
    }
    if (e->slot)
        for (int i = 0; i < e->params.n_parallel; i++)
            llamac_session_free(e->slot[i].session);
    free(e->slot);
    llamac_batch_buf_free(&e->batch);
    llamac_context_free(e->ctx);
    pthread_mutex_destroy(&e->mu);
    pthread_cond_destroy(&e->cv);
    free(e->date_copy);
    free(e);
}

void llamac_engine_get_params(const llamac_engine *e, llamac_engine_params *out)
{
    if (!out)
        return;
    if (!e) {
        memset(out, 0, sizeof *out);
        return;
    }
    *out = e->params;
}

const llamac_model *llamac_engine_model(const llamac_engine *e)
{
    return e ? e->model : NULL;
}

void llamac_engine_get_stats(const llamac_engine *e, llamac_engine_stats *out)
{
    if (!out)
        return;
    memset(out, 0, sizeof *out);
    if (!e)
        return;
    llamac_engine *m = (llamac_engine *)e; /* the mutex is not part of the engine's logical state */
    pthread_mutex_lock(&m->mu);
    *out = m->stats;
    pthread_mutex_unlock(&m->mu);
}
