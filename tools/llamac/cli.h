/*
 * cli.h — shared pieces of the llamac program: the subcommands, option parsing helpers, errors.
 * Each subcommand lives in its own cmd_<name>.c and returns the process exit code.
 */
#ifndef LLAMAC_CLI_H
#define LLAMAC_CLI_H

#include <stddef.h>
#include <stdint.h>

#include "llamac.h"

int cmd_info(int argc, char **argv);
int cmd_logits(int argc, char **argv);
int cmd_generate(int argc, char **argv);

/* Prints "llamac: <message>" to stderr; returns 1 (the exit code for errors). */
#if defined(__GNUC__)
__attribute__((format(printf, 1, 2)))
#endif
int cli_error(const char *fmt, ...);

/* Option parsing: cli_arg returns the value of option argv[*i] (advancing *i), or NULL after reporting
 * a missing value. cli_int / cli_float parse strictly (whole string, range-checked) and report errors. */
const char *cli_arg(int argc, char **argv, int *i);
int cli_int(const char *opt, const char *s, long lo, long hi, int *out);
int cli_u64(const char *opt, const char *s, uint64_t *out);
int cli_float(const char *opt, const char *s, float *out);

/* Parses a comma-separated list of token ids ("128000,791,1080"). Returns the count (caller frees *out),
 * or -1 after reporting an error. */
int cli_token_list(const char *s, int32_t **out);

/* Common model/context options: -m FILE, -t N, --ctx N, --no-mmap, --kv f32|f16. cli_common_opt returns 1
 * if argv[*i] was one of them (consumed), 0 if not, -1 on error. */
typedef struct cli_common {
    const char *model;
    int n_threads;
    int n_ctx;
    int use_mmap;
    int kv_type;
} cli_common;
void cli_common_init(cli_common *c);
int cli_common_opt(cli_common *c, int argc, char **argv, int *i);
/* Loads the model named by -m (reporting errors). */
llamac_model *cli_load_model(const cli_common *c);

#endif
