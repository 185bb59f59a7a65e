/*
 * check.h — the shared scaffolding of the C tests (tests/c/test_*.c), header-only:
 *   - CHECK(cond, fmt, ...) counts a check and, if cond is false, a failure; the first CHECK_MAX_SHOWN failures
 *     are printed to stderr as "FAIL file:line: message" (the message arguments are evaluated only then);
 *   - check_finish(name) prints "name: N checks, M failures" and gives main's exit status (1 if any failed);
 *   - rnd() / frand(): a deterministic xorshift64 generator, seeded 0x9E3779B97F4A7C15 unless rnd_seed is called,
 *     so a test sees the same inputs on every run;
 *   - check_read_file(path, &len): a whole file in a malloc'd buffer (one byte more, zero), or NULL.
 */
#ifndef LLAMAC_TEST_CHECK_H
#define LLAMAC_TEST_CHECK_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#define CHECK_MAX_SHOWN 30

static int g_checks, g_fail;

/* Counts one check made at file:line. Returns 1 if it failed and is among the first CHECK_MAX_SHOWN failures:
 * "FAIL file:line: " is then printed on stderr, and the caller prints the rest of the message. */
static inline int check_report(int ok, const char *file, int line)
{
    g_checks++;
    if (ok || ++g_fail > CHECK_MAX_SHOWN)
        return 0;
    fprintf(stderr, "FAIL %s:%d: ", file, line);
    return 1;
}

/* CHECK_AT: the same, for a helper that reports at its caller's line. */
#define CHECK_AT(line, cond, ...)                                                                             \
    do {                                                                                                      \
        if (check_report(!!(cond), __FILE__, (line))) {                                                       \
            fprintf(stderr, __VA_ARGS__);                                                                     \
            fputc('\n', stderr);                                                                              \
        }                                                                                                     \
    } while (0)
#define CHECK(cond, ...) CHECK_AT(__LINE__, cond, __VA_ARGS__)

/* The summary line (on stderr if anything failed); returns the exit status for main. */
static inline int check_finish(const char *name)
{
    FILE *out = g_fail ? stderr : stdout;
    fprintf(out, "%s: %d checks, %d failures", name, g_checks, g_fail);
    if (g_fail > CHECK_MAX_SHOWN)
        fprintf(out, " (the first %d shown)", CHECK_MAX_SHOWN);
    fputc('\n', out);
    return g_fail != 0;
}

/* xorshift64 (shifts 13, 7, 17); one state per test program. */
static inline uint64_t *rnd_state(void)
{
    static uint64_t state = 0x9E3779B97F4A7C15ull;
    return &state;
}
static inline void rnd_seed(uint64_t seed) { *rnd_state() = seed; }
/* Advances the state and returns it. */
static inline uint64_t rnd64(void)
{
    uint64_t *s = rnd_state();
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}
/* 32 random bits: bits 16..47 of the state. */
static inline uint32_t rnd(void) { return (uint32_t)(rnd64() >> 16); }
/* Uniform in [-1, 1) on a grid of 2^-23. */
static inline float frand(void) { return (float)((rnd() & 0xffffff) / 8388608.0 - 1.0); }

/* The whole file at path (malloc'd, len bytes plus a terminating zero), or NULL. */
static inline unsigned char *check_read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    unsigned char *buf = NULL;
    long n = fseek(f, 0, SEEK_END) == 0 ? ftell(f) : -1;
    if (n >= 0 && fseek(f, 0, SEEK_SET) == 0 && (buf = malloc((size_t)n + 1))) {
        *len = fread(buf, 1, (size_t)n, f);
        buf[*len] = 0;
    }
    fclose(f);
    return buf;
}

#endif
