/*
 * cmd_info.c — `llamac info -m FILE [--all]`: the file's metadata (arrays shortened), tensor table, and, if it
 * is a model llamac can run, the derived hyperparameters.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"

int cmd_info(int argc, char **argv)
{
    const char *path = NULL;
    int all = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-m") || !strcmp(argv[i], "--model")) {
            if (!(path = cli_arg(argc, argv, &i)))
                return 1;
        } else if (!strcmp(argv[i], "--all")) {
            all = 1;
        } else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            printf("usage: llamac info -m FILE [--all]\n  --all  print whole arrays' first 64 items\n");
            return 0;
        } else {
            return cli_error("info: unknown option '%s'", argv[i]);
        }
    }
    if (!path)
        return cli_error("info: no model given (-m FILE)");
    llamac_gguf *g;
    char err[600];
    if (llamac_gguf_open(path, &g, err, sizeof err) != LLAMAC_OK)
        return cli_error("%s", err);
    printf("file: %s\nGGUF version: %u\nmetadata: %" PRId64 " keys\n", path, llamac_gguf_version(g),
           llamac_gguf_n_kv(g));
    char buf[4096];
    for (int64_t i = 0; i < llamac_gguf_n_kv(g); i++) {
        llamac_gguf_kv_format(g, i, buf, sizeof buf, all ? 64 : 8);
        printf("  %-40s %s\n", llamac_gguf_kv_key(g, i), buf);
    }
    int64_t nt = llamac_gguf_n_tensors(g);
    printf("tensors: %" PRId64 "\n", nt);
    printf("  %-32s %-6s %-24s %14s %14s\n", "name", "type", "shape", "offset", "bytes");
    uint64_t total = 0;
    for (int64_t i = 0; i < nt; i++) {
        llamac_tensor_info t;
        llamac_gguf_tensor(g, i, &t);
        char shape[64];
        int n = 0;
        for (int d = 0; d < t.n_dims; d++)
            n += snprintf(shape + n, sizeof shape - (size_t)n, "%s%" PRId64, d ? " x " : "", t.ne[d]);
        const char *tn = llamac_type_name(t.type);
        printf("  %-32s %-6s %-24s %14" PRIu64 " %14" PRIu64 "\n", t.name, tn ? tn : "?", shape, t.offset, t.n_bytes);
        total += t.n_bytes;
    }
    printf("tensor data: %.2f MiB\n", (double)total / (1024.0 * 1024.0));
    llamac_gguf_close(g);

    llamac_model_params mp = llamac_model_default_params();
    llamac_model *m;
    if (llamac_model_load(path, &mp, &m, err, sizeof err) != LLAMAC_OK) {
        printf("model: not loadable: %s\n", err);
        return 1;
    }
    llamac_model_info in;
    llamac_model_get_info(m, &in);
    printf("model: %s (%s)\n", in.name[0] ? in.name : "(unnamed)", in.arch);
    printf("  n_vocab %d, n_embd %d, n_layer %d, n_head %d, n_head_kv %d, head_dim %d, n_ff %d\n", in.n_vocab,
           in.n_embd, in.n_layer, in.n_head, in.n_head_kv, in.head_dim, in.n_ff);
    printf("  context %d, rope_theta %g, rms_eps %g, rope_freqs %s, embeddings %s\n", in.n_ctx_train,
           (double)in.rope_theta, (double)in.norm_eps, in.has_rope_freqs ? "yes (Llama 3.1 scaling)" : "no",
           in.tied_embeddings ? "tied (no output.weight)" : "separate output.weight");
    printf("  parameters %.3f B, weights %s, %.2f MiB\n", (double)in.n_params / 1e9,
           llamac_type_name(in.weight_type), (double)in.weight_bytes / (1024.0 * 1024.0));
    printf("  kernels: %s\n", llamac_kernel_path());
    llamac_model_free(m);
    return 0;
}
