/*
 * bench_kv_share.c — memory of the paged KV cache when sequences share a prefix: N sequences that start with the
 * same P-token prompt, then each generates G tokens of its own (all N in one batch per step). Modes:
 *
 *   shared   the prompt is decoded once (sequence 0) and llamac_seq_copy gives it to the others (blocks shared,
 *            the partial last one copied on first write);
 *   restore  the prompt is decoded once, the others take its full blocks with llamac_seq_restore_prefix and
 *            decode only the rest;
 *   private  the prompt is decoded once, saved and loaded into every other sequence: each holds its own copy
 *            (what an unshared cache holds, without decoding the prompt N times).
 *
 * Prints peak and current resident memory (VmHWM, VmRSS), the KV statistics and the time; run each mode in its own
 * process so the peaks are separate:
 *
 *   bench_kv_share MODEL --mode shared|restore|private [-t 2] [--prefix 2000] [--n-seq 8] [--gen 32]
 *                  [--kv-block 32] [--kv f16]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench_util.h"
#include "llamac.h"

static int decode(llamac_context *c, const llamac_batch *b)
{
    if (llamac_decode(c, b) == LLAMAC_OK)
        return 0;
    fprintf(stderr, "decode: %s\n", llamac_context_error(c));
    return 1;
}

/* decodes toks[from..to) into seq in batches of n_batch */
static int prefill(llamac_context *c, int seq, const int32_t *toks, int from, int to, int n_batch)
{
    int32_t sid[512];
    for (int i = 0; i < 512; i++)
        sid[i] = seq;
    for (int i = from; i < to; i += n_batch) {
        llamac_batch b = {.n_tokens = to - i < n_batch ? to - i : n_batch, .tokens = toks + i, .seq_id = sid};
        if (decode(c, &b))
            return 1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: bench_kv_share MODEL --mode shared|restore|private [-t N] [--prefix N] [--n-seq N] "
                        "[--gen N] [--kv-block N] [--kv f16]\n");
        return 2;
    }
    const char *mode = "shared";
    int n_threads = 2, prefix = 2000, n_seq = 8, gen = 32, kv_block = 0, kv = LLAMAC_KV_F32;
    const struct {
        const char *name;
        int *value;
    } int_opts[] = {{"-t", &n_threads}, {"--prefix", &prefix}, {"--n-seq", &n_seq}, {"--gen", &gen},
                    {"--kv-block", &kv_block}};
    for (int i = 2; i < argc; i++) {
        int known = 0;
        for (size_t k = 0; k < sizeof int_opts / sizeof int_opts[0] && !known; k++)
            if (!strcmp(argv[i], int_opts[k].name) && i + 1 < argc)
                *int_opts[k].value = atoi(argv[++i]), known = 1;
        if (!known && !strcmp(argv[i], "--mode") && i + 1 < argc)
            mode = argv[++i], known = 1;
        if (!known && !strcmp(argv[i], "--kv") && i + 1 < argc)
            kv = !strcmp(argv[++i], "f16") ? LLAMAC_KV_F16 : LLAMAC_KV_F32, known = 1;
        if (!known) {
            fprintf(stderr, "bench_kv_share: unknown option %s\n", argv[i]);
            return 2;
        }
    }
    if (strcmp(mode, "shared") && strcmp(mode, "restore") && strcmp(mode, "private")) {
        fprintf(stderr, "bench_kv_share: --mode is shared, restore or private\n");
        return 2;
    }
    if (prefix < 2 || n_seq < 1 || n_seq > 64 || gen < 0) {
        fprintf(stderr, "bench_kv_share: bad sizes\n");
        return 2;
    }
    char err[600];
    llamac_model *m;
    llamac_model_params mp = llamac_model_default_params();
    mp.n_threads = n_threads;
    mp.background = 0;
    if (llamac_model_load(argv[1], &mp, &m, err, sizeof err) != LLAMAC_OK) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    llamac_model_info info;
    llamac_model_get_info(m, &info);
    llamac_context_params cp = llamac_context_default_params();
    cp.n_threads = n_threads;
    cp.n_seq_max = n_seq;
    cp.n_ctx = prefix + gen + 16;
    cp.n_batch = 512;
    cp.n_logits = n_seq;
    cp.kv_type = kv;
    cp.kv_block = kv_block;
    llamac_context *c;
    if (llamac_context_create(m, &cp, &c, err, sizeof err) != LLAMAC_OK) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    long rss_load = bench_status_kib("VmRSS:");
    int32_t *toks = malloc(sizeof(int32_t) * (size_t)(prefix + 1));
    for (int i = 0; i <= prefix; i++)
        toks[i] = (int32_t)((i * 7919u + 13) % (unsigned)info.n_vocab);
    double t0 = bench_now();
    if (prefill(c, 0, toks, 0, prefix, cp.n_batch))
        return 1;
    char snap[64];
    snprintf(snap, sizeof snap, "/tmp/bench_kv_share-%d.llkv", (int)getpid());
    if (!strcmp(mode, "private") && llamac_seq_save(c, 0, snap) != LLAMAC_OK) {
        fprintf(stderr, "%s\n", llamac_context_error(c));
        return 1;
    }
    for (int s = 1; s < n_seq; s++) {
        llamac_status st = LLAMAC_OK;
        if (!strcmp(mode, "shared"))
            st = llamac_seq_copy(c, 0, s, -1);
        else if (!strcmp(mode, "private"))
            st = llamac_seq_load(c, s, snap);
        else {
            int got = llamac_seq_restore_prefix(c, s, toks, prefix + 1);
            if (got < 0 || prefill(c, s, toks, got, prefix, cp.n_batch))
                return 1;
        }
        if (st != LLAMAC_OK) {
            fprintf(stderr, "%s\n", llamac_context_error(c));
            return 1;
        }
    }
    if (!strcmp(mode, "private"))
        unlink(snap);
    double t_prompt = bench_now() - t0;
    /* every sequence generates its own tokens, all in one batch per step */
    int32_t bt[64], bs[64];
    for (int g = 0; g < gen; g++) {
        for (int s = 0; s < n_seq; s++)
            bt[s] = (int32_t)(((unsigned)g * 31u + (unsigned)s * 1009u + 7u) % (unsigned)info.n_vocab), bs[s] = s;
        int8_t want[64];
        memset(want, 1, sizeof want);
        llamac_batch b = {.n_tokens = n_seq, .tokens = bt, .seq_id = bs, .logits = want};
        if (decode(c, &b))
            return 1;
    }
    double t_all = bench_now() - t0;
    llamac_kv_stats st;
    llamac_kv_get_stats(c, &st);
    printf("mode %s: %d sequences x (%d shared prompt + %d own) tokens, block %d, kv %s\n", mode, n_seq, prefix, gen,
           st.block_size, kv == LLAMAC_KV_F16 ? "f16" : "f32");
    printf("  KV blocks used %d of %d (%.1f MiB), resident %.1f MiB, prefix hits %llu (%llu tokens)\n", st.n_used,
           st.n_blocks, (double)st.n_used * (double)st.block_bytes / 1048576.0,
           (double)st.resident_bytes / 1048576.0, (unsigned long long)st.prefix_hits,
           (unsigned long long)st.prefix_tokens);
    printf("  rss after load %.1f MiB, peak %.1f MiB, now %.1f MiB; prompt phase %.2f s, total %.2f s\n",
           rss_load / 1024.0, bench_status_kib("VmHWM:") / 1024.0, bench_status_kib("VmRSS:") / 1024.0, t_prompt, t_all);
    free(toks);
    llamac_context_free(c);
    llamac_model_free(m);
    return 0;
}
