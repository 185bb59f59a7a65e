/*
 * test_threadpool.c — the thread pool (src/util/threadpool.c) directly: every task of a job runs exactly once
 * for many task and thread counts (1 thread, more threads than tasks, more threads than cores), `thread` is in
 * range and never used by two tasks at the same time (so it may index per-thread scratch), many repeated runs
 * on one pool, nested jobs on per-thread inner pools, empty jobs, and create/free without any run.
 */
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "check.h"
#include "util/threadpool.h"

#define MAX_THREADS 16

typedef struct job {
    _Atomic int *count;          /* [n_tasks] runs of each task */
    _Atomic int busy[MAX_THREADS]; /* 1 while a task runs with that thread id */
    _Atomic int bad_thread;      /* a thread id out of range */
    _Atomic int overlap;         /* a thread id used by two tasks at once */
    int n_threads;
    int yield_every;             /* > 0: some tasks yield the CPU, to mix up the claiming order */
} job;

static void task(void *arg, int64_t t, int thread)
{
    job *j = arg;
    if (thread < 0 || thread >= j->n_threads) {
        atomic_fetch_add(&j->bad_thread, 1);
    } else {
        int zero = 0;
        if (!atomic_compare_exchange_strong(&j->busy[thread], &zero, 1))
            atomic_fetch_add(&j->overlap, 1);
    }
    atomic_fetch_add(&j->count[t], 1);
    if (j->yield_every && t % j->yield_every == 0)
        sched_yield();
    if (thread >= 0 && thread < j->n_threads)
        atomic_store(&j->busy[thread], 0);
}

/* Runs n_tasks tasks `runs` times on pool; returns 1 if each ran exactly `runs` times with sane thread ids. */
static int run_checked(lc_pool *pool, int64_t n_tasks, int runs, int yield_every)
{
    job j = {.n_threads = lc_pool_n_threads(pool), .yield_every = yield_every};
    j.count = calloc(n_tasks > 0 ? (size_t)n_tasks : 1, sizeof *j.count);
    for (int r = 0; r < runs; r++)
        lc_pool_run(pool, task, &j, n_tasks);
    int ok = !atomic_load(&j.bad_thread) && !atomic_load(&j.overlap);
    for (int64_t t = 0; t < n_tasks; t++)
        ok &= atomic_load(&j.count[t]) == runs;
    free(j.count);
    return ok;
}

static void test_counts(void)
{
    static const int threads[] = {1, 2, 3, 4, 8, MAX_THREADS};
    static const int64_t tasks[] = {0, 1, 2, 3, 5, 7, 16, 17, 100, 1000, 4097, 100000};
    for (size_t a = 0; a < sizeof threads / sizeof threads[0]; a++) {
        lc_pool *pool = lc_pool_create(threads[a]);
        CHECK(pool && lc_pool_n_threads(pool) == threads[a], "pool of %d threads", threads[a]);
        if (!pool)
            continue;
        for (size_t b = 0; b < sizeof tasks / sizeof tasks[0]; b++)
            CHECK(run_checked(pool, tasks[b], 1, tasks[b] < 1000 ? 3 : 0), "%d threads, %lld tasks", threads[a],
                  (long long)tasks[b]);
        lc_pool_free(pool);
    }
}

/* many small jobs back to back on one pool: workers spinning between jobs must never take a task twice or
 * miss the next job */
static void test_repeated(void)
{
    lc_pool *pool = lc_pool_create(4);
    CHECK(run_checked(pool, 3, 3000, 0), "3000 runs of 3 tasks");
    CHECK(run_checked(pool, 64, 500, 0), "500 runs of 64 tasks");
    CHECK(run_checked(pool, 1, 200, 0), "200 runs of 1 task");
    CHECK(run_checked(pool, 0, 10, 0), "empty jobs");
    CHECK(run_checked(pool, 9, 200, 2), "200 runs of 9 tasks, some yielding");
    lc_pool_free(pool);
}

typedef struct outer {
    lc_pool *inner[MAX_THREADS];
    _Atomic int failed;
    int inner_tasks;
} outer;

static void outer_task(void *arg, int64_t t, int thread)
{
    outer *o = arg;
    /* a thread runs one task at a time, so its own inner pool is never used by two jobs at once */
    if (!run_checked(o->inner[thread], o->inner_tasks + t % 5, 1, 0))
        atomic_fetch_add(&o->failed, 1);
}

static void test_nested(void)
{
    lc_pool *pool = lc_pool_create(3);
    outer o = {.inner_tasks = 20};
    for (int i = 0; i < 3; i++)
        o.inner[i] = lc_pool_create(2);
    job j = {.n_threads = 3};
    _Atomic int count[40] = {0};
    j.count = count;
    for (int r = 0; r < 5; r++) {
        lc_pool_run(pool, outer_task, &o, 40);
        lc_pool_run(pool, task, &j, 40); /* the outer pool stays usable for plain jobs in between */
    }
    int ok = 1;
    for (int t = 0; t < 40; t++)
        ok &= atomic_load(&count[t]) == 5;
    CHECK(!atomic_load(&o.failed), "%d nested jobs went wrong", atomic_load(&o.failed));
    CHECK(ok && !atomic_load(&j.bad_thread) && !atomic_load(&j.overlap), "plain jobs between nested ones");
    for (int i = 0; i < 3; i++)
        lc_pool_free(o.inner[i]);
    lc_pool_free(pool);
}

static void test_lifecycle(void)
{
    for (int n = 1; n <= MAX_THREADS; n *= 2) {
        lc_pool *pool = lc_pool_create(n);
        CHECK(pool != NULL, "create %d", n);
        lc_pool_free(pool); /* no run: the workers are asleep or still spinning on the first ticket */
    }
    lc_pool *pool = lc_pool_create(0);
    CHECK(pool && lc_pool_n_threads(pool) == 1, "0 threads means 1");
    CHECK(run_checked(pool, 10, 1, 0), "the caller alone runs everything");
    lc_pool_free(pool);
    lc_pool_free(NULL);
}

int main(void)
{
    test_counts();
    test_repeated();
    test_nested();
    test_lifecycle();
    return check_finish("test_threadpool");
}
