/*
 * test_alloc_fail.c — allocation-failure injection (issue 14): for every N, the N-th allocation of an operation
 * fails, and the operation must return a status with a message (or succeed without needing it), free everything
 * it took, and not crash. Operations: tokenizer load, model load, context creation, chat rendering + prompt
 * tokens, a session turn (create, prefill, 4 tokens), quantization (all on the bundled tiny model).
 *
 * This executable is linked with -Wl,--wrap over malloc, calloc, realloc, free, strdup and strndup, and over
 * mmap/munmap and pthread_create (the "link: wrap-alloc" line below asks tests/CMakeLists.txt for that), so every
 * allocation of the library — and of jansson, pointed at the same functions with json_set_alloc_funcs — every
 * mapping (file maps, the private weight copy, scratch arenas, the KV pool) and every thread it starts (the
 * thread pool, the background weight copy) goes through the counters here: a failing mmap returns MAP_FAILED
 * with ENOMEM, a failing pthread_create EAGAIN. Leaks (allocations and mappings) are found by the live balance
 * after each run (and by LeakSanitizer in `make asan`).
 * link: wrap-alloc
 */
#include <jansson.h>
#include <stdatomic.h>
#include <string.h>
#include <errno.h>
#include <pthread.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "llamac.h"

void *__real_malloc(size_t n);
void *__real_calloc(size_t k, size_t n);
void *__real_realloc(void *p, size_t n);
void __real_free(void *p);
void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t k, size_t n);
void *__wrap_realloc(void *p, size_t n);
void __wrap_free(void *p);
char *__wrap_strdup(const char *s);
char *__wrap_strndup(const char *s, size_t n);
void *__real_mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off);
int __real_munmap(void *addr, size_t len);
int __real_pthread_create(pthread_t *t, const pthread_attr_t *a, void *(*fn)(void *), void *arg);
void *__wrap_mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off);
int __wrap_munmap(void *addr, size_t len);
int __wrap_pthread_create(pthread_t *t, const pthread_attr_t *a, void *(*fn)(void *), void *arg);

static atomic_long g_count;   /* allocations since the counter was reset */
static atomic_long g_fail_at; /* the allocation number that fails (0: none) */
static atomic_long g_live;    /* allocations not yet freed */
static atomic_int g_failed;   /* an injected failure happened */

static int should_fail(void)
{
    long k = atomic_fetch_add(&g_count, 1) + 1;
    long f = atomic_load(&g_fail_at);
    if (f && k == f) {
        atomic_store(&g_failed, 1);
        return 1;
    }
    return 0;
}

void *__wrap_malloc(size_t n)
{
    if (should_fail())
        return NULL;
    void *p = __real_malloc(n);
    if (p)
        atomic_fetch_add(&g_live, 1);
    return p;
}

void *__wrap_calloc(size_t k, size_t n)
{
    if (should_fail())
        return NULL;
    void *p = __real_calloc(k, n);
    if (p)
        atomic_fetch_add(&g_live, 1);
    return p;
}

void *__wrap_realloc(void *p, size_t n)
{
    if (should_fail())
        return NULL;
    void *q = __real_realloc(p, n);
    if (q && !p)
        atomic_fetch_add(&g_live, 1);
    return q;
}

void __wrap_free(void *p)
{
    if (p)
        atomic_fetch_sub(&g_live, 1);
    __real_free(p);
}

char *__wrap_strdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *p = __wrap_malloc(n);
    if (p)
        memcpy(p, s, n);
    return p;
}

char *__wrap_strndup(const char *s, size_t n)
{
    size_t l = strnlen(s, n);
    char *p = __wrap_malloc(l + 1);
    if (p) {
        memcpy(p, s, l);
        p[l] = 0;
    }
    return p;
}

void *__wrap_mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
    if (should_fail()) {
        errno = ENOMEM;
        return MAP_FAILED;
    }
    void *p = __real_mmap(addr, len, prot, flags, fd, off);
    if (p != MAP_FAILED)
        atomic_fetch_add(&g_live, 1); /* the library unmaps whole mappings only */
    return p;
}

int __wrap_munmap(void *addr, size_t len)
{
    int r = __real_munmap(addr, len);
    if (r == 0)
        atomic_fetch_sub(&g_live, 1);
    return r;
}

int __wrap_pthread_create(pthread_t *t, const pthread_attr_t *a, void *(*fn)(void *), void *arg)
{
    if (should_fail())
        return EAGAIN;
    return __real_pthread_create(t, a, fn, arg);
}

/* ---- the operations: each returns its status, with the message in err ---- */
static char g_model[1024], g_out[1024];
static llamac_model *g_loaded; /* for the operations that need a model */

static llamac_status op_tokenizer(char *err, size_t n)
{
    llamac_tokenizer *tok = NULL;
    llamac_status st = llamac_tokenizer_load(g_model, &tok, err, n);
    if (!st) {
        llamac_tokens ids = {0};
        st = llamac_tokenize(tok, "Hello world, in the beginning", 29, LLAMAC_TOKENIZE_ADD_BOS, &ids);
        if (st)
            snprintf(err, n, "tokenize: status %d", st); /* the API has no message for NOMEM here */
        llamac_tokens_free(&ids);
    }
    llamac_tokenizer_free(tok);
    return st;
}

static int g_model_copy; /* op_model: the private-copy load instead of the mapped one */
static int g_background; /* op_model: copy the weights on a background thread, 2 threads */

static llamac_status op_model(char *err, size_t n)
{
    llamac_model_params mp = llamac_model_default_params();
    mp.use_mmap = !g_model_copy;
    mp.background = g_background;
    mp.n_threads = g_background ? 2 : 1;
    llamac_model *m = NULL;
    llamac_status st = llamac_model_load(g_model, &mp, &m, err, n);
    if (!st && g_background && (st = llamac_model_wait_loaded(m, err, n)) && !err[0])
        snprintf(err, n, "model wait: status %d", st);
    llamac_model_free(m);
    return st;
}

static int g_ctx_threads = 1; /* op_context: 2 starts a thread pool worker */

static llamac_status op_context(char *err, size_t n)
{
    llamac_context_params cp = llamac_context_default_params();
    cp.n_ctx = 64;
    cp.n_batch = 16;
    cp.n_threads = g_ctx_threads;
    llamac_context *ctx = NULL;
    llamac_status st = llamac_context_create(g_loaded, &cp, &ctx, err, n);
    llamac_context_free(ctx);
    return st;
}

static llamac_status op_chat(char *err, size_t n)
{
    static const char doc[] =
        "{\"messages\":[{\"role\":\"system\",\"content\":\"Be brief.\"},{\"role\":\"user\",\"content\":\"Hi\"},"
        "{\"role\":\"assistant\",\"tool_calls\":[{\"type\":\"function\",\"function\":{\"name\":\"f\","
        "\"arguments\":{\"a\":[1,2]}}}]},{\"role\":\"tool\",\"content\":{\"t\":20}}],"
        "\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"f\",\"description\":\"d\","
        "\"parameters\":{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"array\"}}}}}]}";
    llamac_chat *c = NULL;
    llamac_status st = llamac_chat_create(&c);
    if (st) {
        snprintf(err, n, "chat_create: status %d", st);
        return st;
    }
    llamac_chat_prompt *pr = NULL;
    st = llamac_chat_load_json(c, doc, sizeof doc - 1);
    if (!st) {
        llamac_chat_params p = llamac_chat_default_params(LLAMAC_CHAT_LLAMA3_1);
        p.date = "26 Jul 2024";
        st = llamac_chat_render(c, &p, 0, &pr);
    }
    if (st)
        snprintf(err, n, "%s", llamac_chat_error(c));
    if (!st) {
        llamac_tokens ids = {0};
        st = llamac_chat_prompt_tokens(pr, llamac_model_tokenizer(g_loaded), &ids, err, n);
        llamac_tokens_free(&ids);
    }
    llamac_chat_prompt_free(pr);
    llamac_chat_free(c);
    return st;
}

static llamac_context *g_ctx; /* for the session operation */

static llamac_status op_session(char *err, size_t n)
{
    llamac_session *s = NULL;
    llamac_session_params sp = llamac_session_default_params();
    sp.format = LLAMAC_CHAT_LLAMA3_1;
    sp.date = "26 Jul 2024";
    llamac_status st = llamac_session_create(g_ctx, &sp, &s, err, n);
    if (st)
        return st;
    llamac_gen_params gp = llamac_gen_default_params();
    gp.max_tokens = 4;
    gp.sampling.temperature = 0;
    st = llamac_chat_add_message(llamac_session_chat(s), "user", "In the beginning");
    if (st)
        snprintf(err, n, "%s", llamac_chat_error(llamac_session_chat(s)));
    if (!st && ((st = llamac_session_begin(s, &gp)) || (st = llamac_session_run(s, NULL, NULL))))
        snprintf(err, n, "%s", llamac_session_error(s));
    llamac_session_free(s);
    llamac_seq_truncate(g_ctx, 0, 0);
    return st;
}

static llamac_status op_quantize(char *err, size_t n)
{
    llamac_quantize_params qp = llamac_quantize_default_params();
    qp.ftype = llamac_ftype_from_name("Q8_0");
    qp.n_threads = 1;
    llamac_status st = llamac_quantize(g_model, g_out, &qp, NULL, err, n);
    struct stat sb;
    if (st)
        CHECK(stat(g_out, &sb) != 0, "quantize failed (%s) but left '%s'", err, g_out);
    unlink(g_out);
    return st;
}

/* Runs op once counting allocations, then once per allocation with that one failing. */
static void inject(const char *name, llamac_status (*op)(char *, size_t))
{
    char err[600];
    long live0 = atomic_load(&g_live);
    atomic_store(&g_fail_at, 0);
    atomic_store(&g_count, 0);
    llamac_status st = op(err, sizeof err);
    long total = atomic_load(&g_count);
    CHECK(st == LLAMAC_OK, "%s: fails without injection: %s", name, err);
    CHECK(atomic_load(&g_live) == live0, "%s: %ld allocations not freed", name, atomic_load(&g_live) - live0);
    int n_refused = 0;
    for (long k = 1; k <= total; k++) {
        err[0] = 0;
        atomic_store(&g_failed, 0);
        atomic_store(&g_count, 0);
        atomic_store(&g_fail_at, k);
        st = op(err, sizeof err);
        atomic_store(&g_fail_at, 0);
        long leaked = atomic_load(&g_live) - live0;
        CHECK(leaked == 0, "%s: allocation %ld failing leaks %ld allocations (status %d)", name, k, leaked, st);
        atomic_store(&g_live, live0); /* report each leak once */
        if (st) {
            n_refused++;
            CHECK(err[0], "%s: allocation %ld failing gives status %d without a message", name, k, st);
        }
    }
    printf("%s: %ld allocations, each failed once: %d refused with a message, %ld tolerated\n", name, total,
           n_refused, total - n_refused);
}

int main(void)
{
    json_set_alloc_funcs(__wrap_malloc, __wrap_free);
    const char *src = getenv("LLAMAC_SOURCE");
    snprintf(g_model, sizeof g_model, "%s/models/tiny-kjv.gguf", src ? src : ".");
    const char *build = getenv("LLAMAC_BUILD");
    snprintf(g_out, sizeof g_out, "%s/alloc-fail-%ld.gguf", build ? build : "/tmp", (long)getpid());

    inject("tokenizer load", op_tokenizer);
    inject("model load (mapped)", op_model);
    g_model_copy = 1;
    inject("model load (private copy)", op_model);
    llamac_model_params mp = llamac_model_default_params();
    mp.use_mmap = 1;
    char err[600];
    if (llamac_model_load(g_model, &mp, &g_loaded, err, sizeof err) == LLAMAC_OK) {
        inject("context creation", op_context);
        g_ctx_threads = 2;
        inject("context creation (2 threads)", op_context);
        g_ctx_threads = 1;
        inject("chat rendering", op_chat);
        llamac_context_params cp = llamac_context_default_params();
        cp.n_ctx = 128;
        cp.n_threads = 1;
        if (llamac_context_create(g_loaded, &cp, &g_ctx, err, sizeof err) == LLAMAC_OK)
            inject("session (create, prefill, 4 tokens)", op_session);
        else
            CHECK(0, "context: %s", err);
        llamac_context_free(g_ctx);
        llamac_model_free(g_loaded);
    } else {
        CHECK(0, "cannot load %s: %s", g_model, err);
    }
    inject("quantization", op_quantize);

    /* a quantized copy: its matrices are packed, so a background load really starts its copy thread */
    char q8[1024];
    snprintf(q8, sizeof q8, "%s/alloc-fail-%ld-q8.gguf", build ? build : "/tmp", (long)getpid());
    llamac_quantize_params qp = llamac_quantize_default_params();
    qp.ftype = llamac_ftype_from_name("Q8_0");
    if (llamac_quantize(g_model, q8, &qp, NULL, err, sizeof err) == LLAMAC_OK) {
        snprintf(g_model, sizeof g_model, "%s", q8);
        g_background = 1;
        inject("Q8_0 model load (packed copy on a background thread)", op_model);
        g_background = 0;
        unlink(q8);
    } else {
        CHECK(0, "quantize for the background load: %s", err);
    }
    return check_finish("alloc_fail");
}
