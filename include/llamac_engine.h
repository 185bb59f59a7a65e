/*
 * llamac_engine.h — part of the public API: the continuous-batching engine behind `llamac serve`.
 *
 * One engine = one context (n_parallel sequences sharing one paged KV pool) + ONE engine thread. Any number of
 * client threads submit jobs (a conversation or raw prompt tokens, with generation parameters); the engine
 * thread runs up to n_parallel of them at once, stepping them together: each step, every generating job adds
 * one token and prefilling jobs add prompt chunks (at most step_tokens prompt tokens per step in total, oldest
 * job first), then one llamac_decode, then each job samples with its own sampler. Jobs join and leave at any
 * step; the others waiting beyond n_parallel queue (at most max_queue, first in first out).
 *
 * The engine thread never waits on a client: it appends each job's events (answer text, token ids,
 * log-probabilities, the finish) to the job's own buffer and wakes whoever waits in llamac_job_wait. A job's
 * buffered memory is bounded by its max_tokens (or n_ctx).
 *
 * How to use (error handling shortened):
 *
 *     llamac_engine *eng;
 *     llamac_engine_params ep = llamac_engine_default_params();
 *     ep.n_parallel = 8;
 *     llamac_engine_create(model, &ep, &eng, err, sizeof err);     // starts the engine thread
 *
 *     // in any client thread:
 *     llamac_job_params jp = llamac_job_default_params();
 *     jp.chat = chat;                                               // copied; or jp.prompt / jp.n_prompt
 *     jp.gen.max_tokens = 256;
 *     llamac_job *job;
 *     int64_t n_prompt;
 *     llamac_status st = llamac_engine_submit(eng, &jp, &job, &n_prompt, err, sizeof err);
 *     if (st == LLAMAC_E_CONTEXT_FULL) ... 400 context_length_exceeded (err gives both numbers)
 *     if (st == LLAMAC_E_BUSY) ... 503/429: the queue is full
 *     llamac_job_update u;
 *     do {
 *         llamac_job_wait(job, 1000, &u);                           // everything new since the last call
 *         send(u.text, u.text_len);  ... u.tokens[0..u.n_tokens), u.logprobs ...
 *         if (client_went_away) llamac_job_cancel(job);             // the sequence is freed within one step
 *     } while (u.finish == LLAMAC_FINISH_NONE);
 *     ... u.result: content, tool_calls, usage, timings ...
 *     llamac_job_free(job);
 *
 *     llamac_engine_free(eng);                                      // cancels everything, joins the thread
 *
 * Sequences and the prefix cache: each of the n_parallel slots keeps one llamac_session across jobs. A job
 * that starts on a slot replaces its conversation; when a job ends, its sequence is released, and with
 * prefix_cache on its full KV blocks stay cached (least recently used evicted first), so a later job whose
 * prompt starts the same way (the next turn of a chat, a shared system prompt) reuses them on any slot
 * (result.cached_tokens > 0). The tokens are bit-identical with and without that reuse.
 *
 * Determinism: a job's tokens depend only on its prompt and parameters (greedy, or seeded sampling): the same
 * whether it runs alone or beside n_parallel - 1 others, whatever step_tokens, the prefix cache and n_threads.
 *
 * KV memory full (llamac_decode says LLAMAC_E_KV_FULL): the youngest running job gives way. If it has not
 * produced a token yet it goes back to the head of the queue (admission waits until another job ends);
 * otherwise it finishes with LLAMAC_FINISH_ERROR and status LLAMAC_E_KV_FULL (message in result.error). The
 * step is then retried. Nothing is ever silently truncated. Admission makes this rare: a job starts only when
 * the KV blocks of its prompt + max_tokens positions fit beside those reserved by the running jobs (else it waits
 * until one ends), so an admitted job cannot run out of KV memory mid-answer unless it alone exceeds the pool.
 *
 * Threads: every function may be called from any thread. A job handle belongs to one client thread at a time
 * (llamac_job_wait's update points into the job). llamac_job_cancel may be called from any thread at any time
 * before llamac_job_free.
 *
 * Ownership: the engine borrows the model (which must outlive it). llamac_engine_submit copies everything it is
 * given (chat, prompt, stop strings, tool name, logit bias). A job handle is the client's until llamac_job_free,
 * which may also be called after llamac_engine_free (a job still running then finished CANCELLED).
 */
#ifndef LLAMAC_ENGINE_H
#define LLAMAC_ENGINE_H

#include "llamac.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct llamac_engine llamac_engine;
typedef struct llamac_job llamac_job;

/* ---------------------------------------------------------------------------------------------------------
 * Engine
 * ------------------------------------------------------------------------------------------------------- */
typedef struct llamac_engine_params {
    int n_parallel;       /* jobs generating at once = sequences of the context (default 4, 1..256) */
    int n_ctx;            /* the most positions ONE job may use, prompt + answer (default 4096; 0 = the model's
                             training context) */
    uint64_t kv_size;     /* bytes of KV memory shared by all jobs (default 0 = room for n_parallel * n_ctx) */
    int kv_type;          /* llamac_kv_type (default LLAMAC_KV_F32) */
    int kv_block;         /* positions per KV block (default 0 = the context's default) */
    int prefix_cache;     /* 1 (default): reuse KV blocks of earlier jobs with the same prompt start */
    int n_threads;        /* decode worker threads (default 0 = number of cores) */
    int max_queue;        /* jobs that may wait beyond the n_parallel running ones (default 64, 0..1000000);
                             one more -> LLAMAC_E_BUSY */
    int step_tokens;      /* the most prompt tokens prefilled per engine step over all prefilling jobs, so that
                             running streams are not stalled by a long prompt (default 256, 1..65536) */
    double timeout_s;     /* seconds a job may take from submission to its end, queueing included (default 0 =
                             none); a job past it finishes with LLAMAC_FINISH_ERROR, status LLAMAC_E_TIMEOUT */
    llamac_chat_format format; /* chat format (default LLAMAC_CHAT_UNKNOWN: detected from the model file) */
    const char *date;     /* the chats' "Today Date" (copied; NULL = today) */
} llamac_engine_params;

llamac_engine_params llamac_engine_default_params(void);

/* Creates the context and starts the engine thread. The model must outlive the engine. On failure *out is NULL
 * and err names the problem (LLAMAC_E_INVALID_ARG for a bad parameter, context errors as
 * llamac_context_create). */
llamac_status llamac_engine_create(llamac_model *model, const llamac_engine_params *params, llamac_engine **out,
                                   char *err, size_t err_size);
/* Cancels every queued and running job (they finish LLAMAC_FINISH_CANCELLED, so their waiters wake), stops and
 * joins the engine thread, frees the context. Job handles stay valid until llamac_job_free. */
void llamac_engine_free(llamac_engine *e);

/* The parameters in effect (defaults resolved: n_ctx, kv_size, format ...). Zeroed for NULL. */
void llamac_engine_get_params(const llamac_engine *e, llamac_engine_params *out);
const llamac_model *llamac_engine_model(const llamac_engine *e);

/* ---------------------------------------------------------------------------------------------------------
 * Jobs
 * ------------------------------------------------------------------------------------------------------- */
/* Called from the ENGINE thread after new events were appended to the job (and once when it finished), with the
 * job's lock held. It must return at once without calling any llamac function (e.g. write a byte to an eventfd
 * or pipe that an event loop watches); the events are then read with llamac_job_wait(job, 0, ...). It is never
 * called after llamac_job_free returned, so notify_user may be released then. */
typedef void (*llamac_job_notify_fn)(void *user);

typedef struct llamac_job_params {
    const llamac_chat *chat;  /* the conversation to answer, with its tools (copied at submit), or NULL for a raw
                                 completion of prompt[0..n_prompt) */
    const int32_t *prompt;    /* raw prompt token ids (copied), used when chat is NULL; the answer is not parsed
                                 for tool calls */
    int64_t n_prompt;
    llamac_gen_params gen;    /* sampling (seed), max_tokens (-1 = until n_ctx), stop, ignore_eos, n_logprobs,
                                 tool_choice / tool_name, parse_tool_calls; everything pointed to is copied */
    double timeout_s;         /* 0 (default): the engine's timeout_s; > 0: this job's own */
    llamac_job_notify_fn notify; /* optional (NULL default) */
    void *notify_user;
} llamac_job_params;

llamac_job_params llamac_job_default_params(void);

/* Runs in the caller's thread: checks the parameters, copies them, renders and tokenizes the conversation, and
 * checks that the prompt plus the answer fit: prompt tokens + max_tokens <= n_ctx (max_tokens -1: prompt + 1
 * <= n_ctx, and the answer is then limited to n_ctx - prompt tokens, finishing "length"). Then queues the job and returns its handle in *out and the prompt's token count in *n_prompt_tokens
 * (may be NULL). Errors (*out NULL, message in err): LLAMAC_E_CONTEXT_FULL ("the prompt has P tokens and
 * max_tokens is M: P + M = ... exceeds the context of N"), LLAMAC_E_BUSY when max_queue jobs already wait,
 * LLAMAC_E_INVALID_ARG (bad parameters, an empty or unrenderable conversation, a token id out of range, the
 * model has no vocabulary for a chat), LLAMAC_E_CANCELLED when the engine is shutting down, LLAMAC_E_NOMEM.
 * n_prompt_tokens is set also for CONTEXT_FULL. */
llamac_status llamac_engine_submit(llamac_engine *e, const llamac_job_params *params, llamac_job **out,
                                   int64_t *n_prompt_tokens, char *err, size_t err_size);

/* The summary of a finished job (llamac_answer plus the engine's timings). */
typedef struct llamac_job_result {
    llamac_status status;       /* LLAMAC_OK (also for llamac_job_cancel), or why the job ended with
                                   LLAMAC_FINISH_ERROR: LLAMAC_E_TIMEOUT, LLAMAC_E_KV_FULL, LLAMAC_E_CONTEXT_FULL,
                                   LLAMAC_E_NOMEM, ...; LLAMAC_E_CANCELLED with LLAMAC_FINISH_CANCELLED when
                                   llamac_engine_free ended the job */
    const char *error;          /* the message ("" when status is LLAMAC_OK) */
    const char *content;        /* the whole answer text (as llamac_answer.content; "" for tool calls) */
    size_t content_len;
    const char *tool_calls;     /* NULL or the OpenAI tool_calls JSON array (as llamac_answer.tool_calls) */
    int n_tool_calls;
    int64_t prompt_tokens;      /* usage: the whole prompt */
    int64_t cached_tokens;      /* of those, reused from the prefix cache (not computed) */
    int64_t completion_tokens;  /* generated tokens (a stop token included) */
    double queue_ms;            /* submission -> a sequence was given to the job */
    double prompt_ms;           /* prefill of the uncached prompt (across steps, shared with other jobs) */
    double ttft_ms;             /* submission -> the first token (0 if none) */
    double gen_ms;              /* first token -> last token (per-token latency = gen_ms / (completion - 1)) */
    double total_ms;            /* submission -> finish */
} llamac_job_result;

/* What happened since the previous llamac_job_wait. text, tokens, logprobs and top are valid until the next
 * llamac_job_wait or llamac_job_free on the same job; result (which never changes once set) until
 * llamac_job_free. */
typedef struct llamac_job_update {
    const char *text;           /* new answer text: whole UTF-8 characters, never the stop string, nothing of a
                                   tool call (as llamac_session_event.text, concatenated) */
    size_t text_len;
    int n_tokens;               /* new sampled tokens */
    const int32_t *tokens;      /* [n_tokens] */
    const llamac_token_logprob *logprobs; /* [n_tokens] the chosen tokens' log-probabilities, or NULL without
                                   gen.n_logprobs */
    int n_top;                  /* alternatives per token (gen.n_logprobs - 1, or 0) */
    const llamac_token_logprob *top; /* [n_tokens * n_top]: token i's alternatives at top[i * n_top ..], most
                                   likely first */
    llamac_finish finish;       /* LLAMAC_FINISH_NONE while the job runs; once set, every later wait returns at
                                   once with it (and nothing new) */
    const llamac_job_result *result; /* NULL until finish is set */
} llamac_job_update;

/* Waits until the job has something new or has finished, at most timeout_ms (< 0: no limit, 0: just look), and
 * fills *out with it. Returns LLAMAC_OK (an update with no text, no tokens and finish NONE means the time ran
 * out), LLAMAC_E_INVALID_ARG for NULL arguments. */
llamac_status llamac_job_wait(llamac_job *job, int timeout_ms, llamac_job_update *out);

/* Asks the engine to stop the job (the client went away, or aborted the stream): a queued job is dropped, a
 * running one is stopped within one engine step, also in the middle of a long prefill, and its sequence freed.
 * The job then finishes LLAMAC_FINISH_CANCELLED (what was generated is kept in the result). No effect on a
 * finished job. */
void llamac_job_cancel(llamac_job *job);
/* Cancels the job if it still runs and releases the handle (the engine drops its own reference within one
 * step). Never blocks on the engine. */
void llamac_job_free(llamac_job *job);

/* ---------------------------------------------------------------------------------------------------------
 * Statistics (for /metrics)
 * ------------------------------------------------------------------------------------------------------- */
/* A consistent snapshot (taken by the engine thread after each step; counters count since creation). The
 * engine keeps no histograms: each job's timings are in its result (ttft_ms, gen_ms ...), from which the server
 * builds its own. */
typedef struct llamac_engine_stats {
    int queue_depth;            /* jobs waiting for a sequence */
    int busy_sequences;         /* jobs holding a sequence (prefilling or generating) */
    int n_parallel;
    int64_t kv_positions_used;  /* positions held by all sequences */
    int64_t kv_positions_capacity; /* positions the KV pool holds (blocks * block size) */
    int kv_blocks_used, kv_blocks_cached, kv_blocks_total; /* see llamac_kv_stats */
    uint64_t jobs_submitted;    /* accepted by llamac_engine_submit */
    uint64_t jobs_rejected_busy;    /* LLAMAC_E_BUSY */
    uint64_t jobs_rejected_context; /* LLAMAC_E_CONTEXT_FULL */
    uint64_t jobs_finished[LLAMAC_FINISH_ERROR + 1]; /* by llamac_finish (index LLAMAC_FINISH_NONE unused) */
    uint64_t jobs_cancelled;    /* finished CANCELLED by llamac_job_cancel / llamac_job_free */
    uint64_t jobs_timed_out;    /* finished ERROR with LLAMAC_E_TIMEOUT */
    uint64_t jobs_kv_full;      /* finished ERROR with LLAMAC_E_KV_FULL */
    uint64_t jobs_requeued;     /* sent back to the queue when the KV memory was full */
    uint64_t prompt_tokens;     /* prompt tokens of started jobs (cached included) */
    uint64_t prompt_tokens_cached; /* of those, reused from the prefix cache */
    uint64_t generated_tokens;  /* sampled tokens */
    uint64_t prefix_cache_hits; /* jobs that reused at least one cached KV block */
    uint64_t steps;             /* engine steps (llamac_decode calls that succeeded) */
} llamac_engine_stats;

/* Fills *out (zeroed for a NULL engine). Thread-safe, never waits for a step. */
void llamac_engine_get_stats(const llamac_engine *e, llamac_engine_stats *out);

#ifdef __cplusplus
}
#endif

#endif
