/*
 * threadpool.c — see threadpool.h.
 *
 * A job is published through one 64-bit atomic `ticket` = (generation << 32) | next task index. A thread claims
 * a task with a compare-and-swap that also checks the generation, so a worker that wakes late can never take a
 * task of a job it did not see published, and the caller never waits for workers that were descheduled: it runs
 * tasks itself and waits only until every *claimed* task is done (`done` == n_tasks). This keeps the pool fast
 * when the machine is oversubscribed (no barrier on all workers). Workers spin on the ticket for a while after a
 * job (decode issues hundreds of small jobs per token), then sleep on a condition variable.
 *
 * The job description (fn, arg, n_tasks) is written before the ticket is published and is not changed until the
 * job is done, so a thread that claimed a task of generation g reads g's description. Before a new description is
 * written the ticket is closed (a generation with no claimable task), so no late claim on the previous
 * generation can succeed while the description changes (lc_pool_run).
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

#define SPIN_ITERS 100000

struct lc_pool {
    int n_threads;
    pthread_t *threads;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int n_sleeping; /* protected by mu */
    int stop;       /* protected by mu */

    _Atomic uint64_t ticket; /* generation << 32 | next task */
    _Atomic int64_t done;    /* tasks finished in the current job */
    lc_task_fn fn;
    void *arg;
    _Atomic int64_t n_tasks; /* atomic: a worker of the previous job may read it while it is set (see lc_pool_run) */
};

typedef struct worker_arg {
    lc_pool *pool;
    int id;
} worker_arg;

/* Claims and runs tasks of generation gen until none is left (or a newer job is published). */
static void run_tasks(lc_pool *p, uint32_t gen, int thread)
{
    uint64_t v = atomic_load_explicit(&p->ticket, memory_order_acquire);
    for (;;) {
        if ((uint32_t)(v >> 32) != gen)
            return;
        int64_t t = (int64_t)(v & 0xffffffffu);
        if (t >= atomic_load_explicit(&p->n_tasks, memory_order_acquire))
            return;
        if (!atomic_compare_exchange_weak_explicit(&p->ticket, &v, v + 1, memory_order_acq_rel,
                                                   memory_order_acquire))
            continue; /* v reloaded */
        p->fn(p->arg, t, thread);
        atomic_fetch_add_explicit(&p->done, 1, memory_order_acq_rel);
        v = atomic_load_explicit(&p->ticket, memory_order_acquire);
    }
}

static void *worker_main(void *varg)
{
    worker_arg *wa = varg;
    lc_pool *p = wa->pool;
    int id = wa->id;
    free(wa);
    uint32_t seen = 0;
    for (;;) {
        uint32_t gen;
        int spins = 0;
        while ((gen = (uint32_t)(atomic_load_explicit(&p->ticket, memory_order_acquire) >> 32)) == seen) {
            if (++spins < SPIN_ITERS) {
                CPU_RELAX();
                continue;
            }
            pthread_mutex_lock(&p->mu);
            p->n_sleeping++;
            while (!p->stop && (uint32_t)(atomic_load_explicit(&p->ticket, memory_order_acquire) >> 32) == seen)
                pthread_cond_wait(&p->cv, &p->mu);
            p->n_sleeping--;
            int stop = p->stop;
            pthread_mutex_unlock(&p->mu);
            if (stop)
                return NULL;
            spins = 0;
        }
        seen = gen;
        pthread_mutex_lock(&p->mu);
        int stop = p->stop;
        pthread_mutex_unlock(&p->mu);
        if (stop)
            return NULL;
        run_tasks(p, gen, id);
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
        /* bump the generation (no tasks) so spinning workers notice */
        uint64_t v = atomic_load_explicit(&p->ticket, memory_order_acquire);
        atomic_store_explicit(&p->n_tasks, 0, memory_order_relaxed);
        atomic_store_explicit(&p->ticket, ((v >> 32) + 1) << 32, memory_order_release);
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
    /* Close the previous job before changing the description: a worker that read the ticket of its last task
     * (index == its n_tasks) and then reads the new n_tasks would otherwise claim that index with a
     * compare-and-swap the unchanged ticket still accepts, and run the new job's fn with a stale task index (or
     * a half-written description). The closing ticket (a generation of its own, no task claimable) makes that
     * compare-and-swap fail: whoever reads the new n_tasks (acquire) also sees the closing ticket. */
    uint64_t v = atomic_load_explicit(&p->ticket, memory_order_relaxed);
    uint32_t gen = (uint32_t)(v >> 32) + 1;
    atomic_store_explicit(&p->ticket, ((uint64_t)gen << 32) | 0xffffffffu, memory_order_seq_cst);
    p->fn = fn;
    p->arg = arg;
    atomic_store_explicit(&p->n_tasks, n_tasks, memory_order_release);
    atomic_store_explicit(&p->done, 0, memory_order_relaxed);
    gen++;
    atomic_store_explicit(&p->ticket, (uint64_t)gen << 32, memory_order_release);
    pthread_mutex_lock(&p->mu);
    if (p->n_sleeping)
        pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    run_tasks(p, gen, 0);
    while (atomic_load_explicit(&p->done, memory_order_acquire) < n_tasks)
        CPU_RELAX();
}
