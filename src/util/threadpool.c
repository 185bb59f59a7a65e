/*
 * threadpool.c — see threadpool.h. A job is published by bumping `generation`; workers spin on it for a
 * while, then sleep on a condition variable. Tasks are claimed with an atomic counter. Every worker checks in
 * after each job and the caller waits for all of them, so no worker can still be touching a job's counters
 * when the next job resets them.
 */
#include "util/threadpool.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define CPU_RELAX() _mm_pause()
#else
#define CPU_RELAX() ((void)0)
#endif

#define SPIN_ITERS 200000

struct lc_pool {
    int n_threads;
    pthread_t *threads;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int n_sleeping; /* protected by mu */
    int stop;       /* protected by mu */
    _Atomic int stopping;

    _Atomic uint64_t generation;
    lc_task_fn fn;
    void *arg;
    int64_t n_tasks;
    _Atomic int64_t next;
    _Atomic int checked_in; /* workers that finished the current job */
};

typedef struct worker_arg {
    lc_pool *pool;
    int id;
} worker_arg;

static void run_tasks(lc_pool *p, int thread)
{
    for (;;) {
        int64_t t = atomic_fetch_add_explicit(&p->next, 1, memory_order_relaxed);
        if (t >= p->n_tasks)
            break;
        p->fn(p->arg, t, thread);
    }
}

static void *worker_main(void *varg)
{
    worker_arg *wa = varg;
    lc_pool *p = wa->pool;
    int id = wa->id;
    free(wa);
    uint64_t seen = 0;
    for (;;) {
        uint64_t g;
        int spins = 0;
        while ((g = atomic_load_explicit(&p->generation, memory_order_acquire)) == seen) {
            if (++spins < SPIN_ITERS) {
                CPU_RELAX();
                continue;
            }
            pthread_mutex_lock(&p->mu);
            p->n_sleeping++;
            while (!p->stop && atomic_load_explicit(&p->generation, memory_order_acquire) == seen)
                pthread_cond_wait(&p->cv, &p->mu);
            p->n_sleeping--;
            int stop = p->stop;
            pthread_mutex_unlock(&p->mu);
            if (stop)
                return NULL;
            spins = 0;
        }
        seen = g;
        if (atomic_load_explicit(&p->stopping, memory_order_acquire))
            return NULL;
        run_tasks(p, id);
        atomic_fetch_add_explicit(&p->checked_in, 1, memory_order_acq_rel);
    }
}

lc_pool *lc_pool_create(int n_threads)
{
    if (n_threads < 1)
        n_threads = 1;
    lc_pool *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->n_threads = n_threads;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    if (n_threads > 1) {
        p->threads = calloc((size_t)n_threads - 1, sizeof(pthread_t));
        if (!p->threads) {
            lc_pool_free(p);
            return NULL;
        }
        for (int i = 1; i < n_threads; i++) {
            worker_arg *wa = malloc(sizeof *wa);
            if (!wa || (wa->pool = p, wa->id = i, pthread_create(&p->threads[i - 1], NULL, worker_main, wa))) {
                free(wa);
                p->n_threads = i; /* threads 1..i-1 exist */
                lc_pool_free(p);
                return NULL;
            }
        }
    }
    return p;
}

void lc_pool_free(lc_pool *p)
{
    if (!p)
        return;
    if (p->threads) {
        pthread_mutex_lock(&p->mu);
        p->stop = 1;
        atomic_store_explicit(&p->stopping, 1, memory_order_release);
        atomic_fetch_add_explicit(&p->generation, 1, memory_order_acq_rel);
        pthread_cond_broadcast(&p->cv);
        pthread_mutex_unlock(&p->mu);
        for (int i = 1; i < p->n_threads; i++)
            pthread_join(p->threads[i - 1], NULL);
        free(p->threads);
    }
    pthread_cond_destroy(&p->cv);
    pthread_mutex_destroy(&p->mu);
    free(p);
}

int lc_pool_n_threads(const lc_pool *p)
{
    return p->n_threads;
}

void lc_pool_run(lc_pool *p, lc_task_fn fn, void *arg, int64_t n_tasks)
{
    if (n_tasks <= 0)
        return;
    if (p->n_threads == 1 || n_tasks == 1) {
        for (int64_t t = 0; t < n_tasks; t++)
            fn(arg, t, 0);
        return;
    }
    p->fn = fn;
    p->arg = arg;
    p->n_tasks = n_tasks;
    atomic_store_explicit(&p->next, 0, memory_order_relaxed);
    atomic_store_explicit(&p->checked_in, 0, memory_order_relaxed);
    atomic_fetch_add_explicit(&p->generation, 1, memory_order_acq_rel);
    pthread_mutex_lock(&p->mu);
    if (p->n_sleeping)
        pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    run_tasks(p, 0);
    while (atomic_load_explicit(&p->checked_in, memory_order_acquire) < p->n_threads - 1)
        CPU_RELAX();
}
