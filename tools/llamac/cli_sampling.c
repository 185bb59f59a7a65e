/*
 * cli_sampling.c — the sampling options shared by generate, chat and run, and by the REPL's /set command.
 * The --logit-bias entries live in one program-wide table (at most CLI_MAX_LOGIT_BIAS) that the parameters
 * point to; the sampler copies them when it is created.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
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
    {"presence_penalty", "--presence-penalty", 0, offsetof(llamac_sampler_params, presence_penalty), -100, 100},
    {"frequency_penalty", "--frequency-penalty", 0, offsetof(llamac_sampler_params, frequency_penalty), -100, 100},
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

#define CLI_MAX_LOGIT_BIAS 1024
static llamac_logit_bias g_bias[CLI_MAX_LOGIT_BIAS];
static int g_n_bias;

/* "TOKEN+BIAS" or "TOKEN-BIAS" (llama.cpp's form: 15043+1, 15043-inf bans the token) */
static int add_logit_bias(llamac_sampler_params *sp, const char *v)
{
    char *end;
    errno = 0;
    long tok = strtol(v, &end, 10);
    if (errno || end == v || *v == '-' || *v == '+' || (*end != '+' && *end != '-') || tok > INT32_MAX)
        return cli_error("--logit-bias: '%s' is not TOKEN+BIAS or TOKEN-BIAS (e.g. 15043+1, 15043-inf)", v), 0;
    const char *num = end;
    float bias = strtof(num, &end);
    if (end == num + 1 || *end || bias != bias || bias == INFINITY)
        return cli_error("--logit-bias: '%s': the bias must be a number or -inf", v), 0;
    if (g_n_bias == CLI_MAX_LOGIT_BIAS)
        return cli_error("--logit-bias: at most %d entries", CLI_MAX_LOGIT_BIAS), 0;
    g_bias[g_n_bias++] = (llamac_logit_bias){.token = (int32_t)tok, .bias = bias};
    sp->logit_bias = g_bias;
    sp->n_logit_bias = g_n_bias;
    return 1;
}

int cli_sampling_opt(llamac_sampler_params *sp, int argc, char **argv, int *i)
{
    if (!strcmp(argv[*i], "--logit-bias") || !strcmp(argv[*i], "-l")) {
        const char *v = cli_arg(argc, argv, i);
        return v && add_logit_bias(sp, v) ? 1 : -1;
    }
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
    fprintf(f,
            "temp %g, top_k %d, top_p %g, min_p %g, repeat_penalty %g, repeat_last_n %d, presence_penalty %g, "
            "frequency_penalty %g, seed %llu",
            (double)sp->temperature, sp->top_k, (double)sp->top_p, (double)sp->min_p, (double)sp->repeat_penalty,
            sp->repeat_last_n, (double)sp->presence_penalty, (double)sp->frequency_penalty,
            (unsigned long long)sp->seed);
    if (sp->n_logit_bias > 0)
        fprintf(f, ", logit_bias");
    for (int i = 0; i < sp->n_logit_bias; i++)
        fprintf(f, " %d%+g", sp->logit_bias[i].token, (double)sp->logit_bias[i].bias);
    fputc('\n', f);
}

int cli_sampler_create(const llamac_sampler_params *sp, int n_vocab, llamac_sampler **out)
{
    for (int i = 0; i < sp->n_logit_bias; i++)
        if (sp->logit_bias[i].token >= n_vocab)
            return cli_error("--logit-bias: token %d is outside the vocabulary (0..%d)", sp->logit_bias[i].token,
                             n_vocab - 1);
    if (llamac_sampler_create(sp, n_vocab, out) != LLAMAC_OK)
        return cli_error("invalid sampling parameters");
    return 0;
}

const char *cli_sampling_usage(void)
{
    return "  --temp T            temperature (0 = greedy)\n"
           "  --top-k K           keep the K most likely tokens (0 = off)\n"
           "  --top-p P           nucleus sampling (1 = off)\n"
           "  --min-p P           drop tokens below P x the best probability (0 = off)\n"
           "  --repeat-penalty R  penalize tokens of the last --repeat-last-n (1 = off)\n"
           "  --repeat-last-n N   window of every penalty (default 64)\n"
           "  --presence-penalty P   subtract P once from every token in the window (0 = off; OpenAI's, -2..2)\n"
           "  --frequency-penalty F  subtract F per occurrence in the window (0 = off; OpenAI's, -2..2)\n"
           "  -l, --logit-bias TOKEN(+|-)BIAS\n"
           "                      add BIAS to TOKEN's logit (repeatable; 15043-inf bans token 15043)\n"
           "  --seed S            random seed\n";
}
