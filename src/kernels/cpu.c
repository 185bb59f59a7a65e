/*
 * cpu.c — run-time CPU feature detection and the choice of kernel table (once, thread-safe).
 * LLAMAC_KERNELS=scalar|avx2|avx512 forces a path; a path the CPU cannot run falls back to the best one.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kernels/kernels.h"

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
static unsigned long long xgetbv0(void)
{
    unsigned int eax, edx;
    __asm__ volatile("xgetbv" : "=a"(eax), "=d"(edx) : "c"(0));
    return ((unsigned long long)edx << 32) | eax;
}
#endif

static lc_cpu_features g_features;
static lc_kernels g_tables[3]; /* scalar, avx2, avx512 */
static int g_available[3];
static const lc_kernels *g_chosen;
static pthread_once_t g_once = PTHREAD_ONCE_INIT;

static void detect(void)
{
#if defined(__x86_64__) || defined(__i386__)
    unsigned int a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d))
        return;
    int osxsave = (c >> 27) & 1;
    int avx = (c >> 28) & 1;
    g_features.fma = (c >> 12) & 1;
    g_features.f16c = (c >> 29) & 1;
    unsigned long long xcr0 = osxsave ? xgetbv0() : 0;
    int ymm_ok = avx && (xcr0 & 0x6) == 0x6;
    int zmm_ok = ymm_ok && (xcr0 & 0xe0) == 0xe0;
    if (__get_cpuid_count(7, 0, &a, &b, &c, &d)) {
        g_features.avx2 = ymm_ok && ((b >> 5) & 1);
        g_features.avx512f = zmm_ok && ((b >> 16) & 1);
        g_features.avx512dq = zmm_ok && ((b >> 17) & 1);
        g_features.avx512bw = zmm_ok && ((b >> 30) & 1);
        g_features.avx512vl = zmm_ok && ((b >> 31) & 1);
        g_features.avx512vnni = zmm_ok && ((c >> 11) & 1);
    }
    if (__get_cpuid_count(7, 1, &a, &b, &c, &d))
        g_features.avx512bf16 = zmm_ok && ((a >> 5) & 1);
    if (!ymm_ok)
        g_features.fma = g_features.f16c = 0;
#endif
}

static void init_once(void)
{
    detect();
    const lc_cpu_features *f = &g_features;
    lc_kernels_init_scalar(&g_tables[0]);
    g_available[0] = 1;
#if defined(__x86_64__)
    if (f->avx2 && f->fma && f->f16c) {
        g_tables[1] = g_tables[0];
        lc_kernels_init_avx2(&g_tables[1]);
        g_available[1] = 1;
    }
    if (g_available[1] && f->avx512f && f->avx512bw && f->avx512vl && f->avx512dq && f->avx512vnni &&
        f->avx512bf16) {
        g_tables[2] = g_tables[1];
        lc_kernels_init_avx512(&g_tables[2]);
        g_available[2] = 1;
    }
#endif
    int best = g_available[2] ? 2 : g_available[1] ? 1 : 0;
    const char *force = getenv("LLAMAC_KERNELS");
    if (force) {
        for (int i = 0; i < 3; i++)
            if (g_available[i] && strcmp(force, g_tables[i].name) == 0)
                best = i;
    }
    g_chosen = &g_tables[best];
}

const lc_cpu_features *lc_cpu_get_features(void)
{
    pthread_once(&g_once, init_once);
    return &g_features;
}

const lc_kernels *lc_kernels_get(void)
{
    pthread_once(&g_once, init_once);
    return g_chosen;
}

const lc_kernels *lc_kernels_by_name(const char *name)
{
    pthread_once(&g_once, init_once);
    for (int i = 0; i < 3; i++)
        if (g_available[i] && strcmp(name, g_tables[i].name) == 0)
            return &g_tables[i];
    return NULL;
}

const char *llamac_kernel_path(void)
{
    return lc_kernels_get()->name;
}

int llamac_n_cores(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}
