/*
 * bench_mem.h — memory measurements for `llamac bench`: the machine's read bandwidth (a probe run with the
 * benchmark's own thread count, in the same process run) and the process's resident memory.
 * Reusable by any tool in tools/llamac; nothing here knows about models.
 */
#ifndef LLAMAC_BENCH_MEM_H
#define LLAMAC_BENCH_MEM_H

#include <stddef.h>
#include <stdint.h>

#define BENCH_BW_MAX_PASSES 64

typedef struct bench_bw {
    double best_gbs;         /* the fastest pass, GB/s (1e9 bytes/s): the machine's capability, since noise
                                from other processes only ever slows a pass down */
    double median_gbs;       /* median over the passes */
    int n_passes;
    int n_threads;
    size_t bytes;            /* buffer size; each pass reads all of it once */
    double huge_fraction;    /* share of the buffer the kernel backed with transparent huge pages, or -1 if
                                /proc/self/smaps could not tell */
} bench_bw;

/* Read bandwidth: n_threads threads sum disjoint slices of one anonymous buffer of `bytes` (asked for huge
 * pages with MADV_HUGEPAGE, written once before timing), all together, n_passes times (a barrier between
 * passes). Runs in a forked child, so the caller's resident and peak memory are untouched; call it while the
 * caller has no other threads. Returns 0, or -1 with a message in err. */
int bench_mem_read_bw(size_t bytes, int n_threads, int n_passes, bench_bw *out, char *err, size_t err_size);

/* VmRSS and VmHWM (peak resident) of this process in bytes, from /proc/self/status. Returns 0, or -1 (then
 * both are 0). */
int bench_mem_rss(uint64_t *rss, uint64_t *hwm);

/* Median of n values (n >= 1; v is reordered). */
double bench_median(double *v, int n);

#endif
