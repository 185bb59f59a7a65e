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
    double pass_gbs[BENCH_BW_MAX_PASSES]; /* [n_passes] GB/s of each pass, in pass order */
    char isa[16];            /* the read loop used: "avx512", "avx2", "sse2" or "scalar" */
} bench_bw;

/* Read bandwidth: n_threads threads sum disjoint slices of one anonymous buffer of `bytes` (asked for huge
 * pages with MADV_HUGEPAGE, written once before timing), all together, n_passes times (a barrier between
 * passes). The read loop is the widest the CPU has (AVX-512, AVX2, SSE2, else plain 64-bit adds), chosen at
 * run time; LLAMAC_KERNELS=avx2|scalar narrows it like the library's kernels. Runs in a forked child, so the caller's resident and peak memory are untouched; call it while the
 * caller has no other threads. Returns 0, or -1 with a message in err. */
int bench_mem_read_bw(size_t bytes, int n_threads, int n_passes, bench_bw *out, char *err, size_t err_size);

/* VmRSS and VmHWM (peak resident) of this process in bytes, from /proc/self/status. Returns 0, or -1 (then
 * both are 0). */
int bench_mem_rss(uint64_t *rss, uint64_t *hwm);

/* Median of n values (n >= 1; v is reordered). */
double bench_median(double *v, int n);

/* CLOCK_MONOTONIC in seconds. */
double bench_now_s(void);

/* The read loop bench_mem_read_bw uses on this CPU (see bench_bw.isa). */
const char *bench_mem_isa(void);

#endif
