/*
 * engine_internal.h — the continuous-batching engine (include/llamac_engine.h) inside: the engine and job
 * objects and the pieces their files share.
 *
 *   engine.c       lifecycle (create / free), the engine thread's loop: admission from the queue, statistics
 *   engine_step.c  one engine step: cancel / timeout checks, starting jobs on slots, building the batch (each
 *                  generating job 1 token, prefill chunks within step_tokens, oldest first), llamac_decode, the
 *                  KV-full policy, commit + events, ending jobs
 *   job.c          the client side: submit (checks, copies, the prompt's token count), the event buffers,
 *                  wait / cancel / free
 *
 * Threads and locks. The engine thread alone touches the context, the sessions and slot[]. engine.mu guards the
 * queue, busy, stop, admit_blocked and the statistics; job.mu guards the job's event buffers, its finish, its
 * cancel flag and its reference count. Lock order: engine.mu before job.mu; no thread holds job.mu while it
 * takes engine.mu. The engine thread never waits for a client: appending to a job only takes job.mu, which
 * clients hold only to swap buffers.
 *
 * A job has two references while it is queued or running (the client's, the engine's) and is freed by whoever
 * drops the last one, so a client may free its handle at any time, and may keep it after llamac_engine_free.
 */
#ifndef LC_ENGINE_INTERNAL_H
#define LC_ENGINE_INTERNAL_H

#include <pthread.h>
#include <stdint.h>

#include "llamac.h"
#include "util/buf.h"
#include "util/err.h"

/* The events appended by the engine and not yet taken by the client (or the client's last update). */
typedef struct lc_job_events {
    lc_buf text;
    int32_t *tokens;               /* [n] */
    llamac_token_logprob *chosen;  /* [n] when n_top >= 0 logprobs are wanted */
    llamac_token_logprob *top;     /* [n * n_top] */
    size_t n, cap_tokens, cap_chosen, cap_top;
} lc_job_events;

struct llamac_job {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int refs;                      /* 2 while queued or running (client + engine), else 1 */
    int cancel;                    /* the client asked to stop */

    /* the request (immutable after submit) */
    char *chat_json;               /* the conversation (llamac_chat_dump_json), or NULL for a raw prompt */
    int32_t *prompt;               /* [n_prompt] raw prompt ids (NULL for a chat) */
    int64_t n_prompt;              /* the prompt's token count (chat: rendered at submit) */
    llamac_gen_params gen;         /* pointers into the copies below */
    char *stop[LLAMAC_MAX_STOP];
    char *tool_name;
    llamac_logit_bias *bias;
    int want_logprobs, n_top;
    double t_submit, deadline;     /* ms (lc_now_ms); deadline 0 = none */
    llamac_job_notify_fn notify;
    void *notify_user;

    /* under mu: appended by the engine, swapped out by llamac_job_wait */
    lc_job_events pending;
    llamac_finish finish;          /* set once, with result */
    llamac_job_result result;
    char *result_error, *result_content, *result_calls; /* owned strings of result */

    /* the client's side (only the client thread): what the last update points into */
    lc_job_events taken;
    int finish_taken;

    /* the engine thread's side */
    llamac_job *next;              /* queue link */
    uint64_t order;                /* admission number: smaller = older */
    int64_t kv_blocks;             /* KV blocks reserved at admission: prompt + max_tokens positions, rounded up */
    int64_t n_generated;           /* tokens sampled */
    double t_admit, t_first;
};

/* One sequence of the context with its session, and the job running on it (NULL: free). */
typedef struct lc_slot {
    llamac_session *session;
    llamac_job *job;
    int added;                     /* tokens the session put in the current batch */
} lc_slot;

struct llamac_engine {
    llamac_engine_params params;   /* resolved; date points to date_copy */
    char *date_copy;
    llamac_model *model;
    llamac_context *ctx;
    const llamac_tokenizer *tok;   /* the model's, or NULL */
    int n_vocab;

    pthread_t thread;
    int thread_started;
    pthread_mutex_t mu;
    pthread_cond_t cv;

    /* under mu */
    int stop;
    llamac_job *q_head, *q_tail;
    int q_len;
    int busy;                      /* slots holding a job */
    int admit_blocked;             /* a job was sent back for lack of KV memory: admit none until one ends */
    int64_t kv_reserved;           /* sum of the running jobs' kv_blocks */
    llamac_engine_stats stats;

    /* engine thread only */
    lc_slot *slot;                 /* [n_parallel] */
    llamac_batch_buf batch;        /* step_tokens + n_parallel tokens */
    uint64_t next_order;
};

/* ---- job.c ---- */
/* Appends one session event to the job (text, token, logprobs). LLAMAC_E_NOMEM when a buffer cannot grow. */
llamac_status lc_job_push_event(llamac_job *job, const llamac_session_event *ev);
/* Sets the job's finish and result (copying the strings), wakes the waiter and calls notify. */
void lc_job_finish(llamac_job *job, llamac_finish finish, llamac_status status, const char *error,
                   const llamac_answer *a);
/* Drops one reference; frees the job when it was the last. */
void lc_job_release(llamac_job *job);
/* 1 if the client asked to cancel. */
int lc_job_cancelled(llamac_job *job);

/* ---- engine_step.c ---- */
/* Starts the jobs just put on slots, then runs one step (one llamac_decode) if any job has tokens to add. */
void lc_engine_step(llamac_engine *e);
/* Ends the job on slot i: stops its session, releases the sequence (its full blocks stay in the prefix cache),
 * records the result and gives the slot back. */
void lc_engine_end_job(llamac_engine *e, int i, llamac_finish finish, llamac_status status, const char *error);
/* Takes a snapshot of the KV figures into the statistics (engine thread; takes e->mu). */
void lc_engine_snapshot_kv(llamac_engine *e);

#endif
