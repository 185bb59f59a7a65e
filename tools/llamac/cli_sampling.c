/*
 * cli_sampling.c — the sampling options shared by generate, chat and run, and by the REPL's /set command.
 */
#include <stdio.h>
#include <string.h>

#include "cli.h"

/* name in /set, option, kind (0 float, 1 int, 2 u64), offset, range */
typedef struct samp_opt {
    const char *name;
    const char *opt;
    int kind;
    size_t off;
    double lo, hi;
} samp_opt;

static const samp_opt g_opts[] = {
    {"temp", "--temp", 0, offsetof(llamac_sampler_params, temperature), 0, 100},
    {"top_k", "--top-k", 1, offsetof(llamac_sampler_params, top_k), 0, 1 << 30},
    {"top_p", "--top-p", 0, offsetof(llamac_sampler_params, top_p), 0, 1},
    {"min_p", "--min-p", 0, offsetof(llamac_sampler_params, min_p), 0, 1},
    {"repeat_penalty", "--repeat-penalty", 0, offsetof(llamac_sampler_params, repeat_penalty), 0.01, 100},
    {"repeat_last_n", "--repeat-last-n", 1, offsetof(llamac_sampler_params, repeat_last_n), 0, 1 << 20},
    {"seed", "--seed", 2, offsetof(llamac_sampler_params, seed), 0, 0},
};

static int set_value(llamac_sampler_params *sp, const samp_opt *o, const char *label, const char *v)
{
    char *base = (char *)sp + o->off;
    if (o->kind == 0) {
        float f;
        if (!cli_float(label, v, &f))
            return 0;
        if (f < o->lo || f > o->hi) {
            cli_error("%s: %g is not in %g..%g", label, (double)f, o->lo, o->hi);
            return 0;
        }
        memcpy(base, &f, sizeof f);
    } else if (o->kind == 1) {
        int i;
        if (!cli_int(label, v, (long)o->lo, (long)o->hi, &i))
            return 0;
        memcpy(base, &i, sizeof i);
    } else {
        uint64_t u;
        if (!cli_u64(label, v, &u))
            return 0;
        memcpy(base, &u, sizeof u);
    }
    return 1;
}

int cli_sampling_opt(llamac_sampler_params *sp, int argc, char **argv, int *i)
{
    for (size_t k = 0; k < sizeof g_opts / sizeof g_opts[0]; k++) {
        if (strcmp(argv[*i], g_opts[k].opt) != 0)
            continue;
        const char *v = cli_arg(argc, argv, i);
        return v && set_value(sp, &g_opts[k], g_opts[k].opt, v) ? 1 : -1;
    }
    return 0;
}

int cli_sampling_set(llamac_sampler_params *sp, const char *name, const char *value)
{
    for (size_t k = 0; k < sizeof g_opts / sizeof g_opts[0]; k++)
        if (!strcmp(name, g_opts[k].name))
            return set_value(sp, &g_opts[k], name, value) ? 1 : -1;
    return 0;
}

void cli_sampling_print(FILE *f, const llamac_sampler_params *sp)
{
    fprintf(f, "temp %g, top_k %d, top_p %g, min_p %g, repeat_penalty %g, repeat_last_n %d, seed %llu\n",
            (double)sp->temperature, sp->top_k, (double)sp->top_p, (double)sp->min_p, (double)sp->repeat_penalty,
            sp->repeat_last_n, (unsigned long long)sp->seed);
}

const char *cli_sampling_usage(void)
{
    return "  --temp T            temperature (0 = greedy)\n"
           "  --top-k K           keep the K most likely tokens (0 = off)\n"
           "  --top-p P           nucleus sampling (1 = off)\n"
           "  --min-p P           drop tokens below P x the best probability (0 = off)\n"
           "  --repeat-penalty R  penalize tokens of the last --repeat-last-n (1 = off)\n"
           "  --repeat-last-n N   window of the repetition penalty\n"
           "  --seed S            random seed\n";
}
