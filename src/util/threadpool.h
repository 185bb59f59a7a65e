/*
 * threadpool.h — a fixed pool of worker threads for data-parallel loops.
 *
 * lc_pool_run(pool, fn, arg, n_tasks) calls fn(arg, task, thread) for every task in [0, n_tasks), spread over
 * the pool's threads (the caller's thread takes part as thread 0), and returns when all are done. Tasks are
 * handed out dynamically, so which thread runs a task varies between runs: a task must write only its own
 * outputs and compute them the same way whichever thread runs it (this is what keeps results independent of
 * the thread count). `thread` is in [0, n_threads) and may index per-thread scratch.
 *
 * Workers spin briefly after a job (decode issues hundreds of small jobs per token) and then sleep.
 * Not re-entrant: one lc_pool_run at a time per pool.
 */
#ifndef LC_THREADPOOL_H
#define LC_THREADPOOL_H

#include <stdint.h>

typedef struct lc_pool lc_pool;
typedef void (*lc_task_fn)(void *arg, int64_t task, int thread);

/* n_threads >= 1 (1 = no workers, everything runs on the caller). Returns NULL on allocation failure. */
lc_pool *lc_pool_create(int n_threads);
void lc_pool_free(lc_pool *pool);
int lc_pool_n_threads(const lc_pool *pool);
void lc_pool_run(lc_pool *pool, lc_task_fn fn, void *arg, int64_t n_tasks);

#endif
