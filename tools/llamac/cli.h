/*
 * cli.h — shared pieces of the llamac program: the subcommands, option parsing helpers, errors.
 * Each subcommand lives in its own cmd_<name>.c and returns the process exit code.
 */
#ifndef LLAMAC_CLI_H
#define LLAMAC_CLI_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "llamac.h"

int cmd_info(int argc, char **argv);
int cmd_logits(int argc, char **argv);
int cmd_generate(int argc, char **argv);
int cmd_tokenize(int argc, char **argv);
int cmd_detokenize(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_quantize(int argc, char **argv);
int cmd_chat(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_serve(int argc, char **argv);

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

/* Common model/context options: -m FILE, -t N, --ctx N (-1: default), --no-mmap, --kv f32|f16. cli_common_opt returns 1
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
/* The context size to use: --ctx N as given (warning when N exceeds the model's training context), 0 = the
 * training context, unset = the smaller of the training context and CLI_DEFAULT_CTX. */
#define CLI_DEFAULT_CTX 8192
int cli_ctx_size(const cli_common *c, const llamac_model *m);
/* Loads the model named by -m (reporting errors). */
llamac_model *cli_load_model(const cli_common *c);

/* Sampling options (cli_sampling.c): --temp, --top-k, --top-p, --min-p, --repeat-penalty, --repeat-last-n,
 * --presence-penalty, --frequency-penalty, -l/--logit-bias, --seed. cli_sampling_opt returns 1 if argv[*i] was
 * one (consumed), 0 if not, -1 on error. cli_sampling_set sets one by its /set name (temp, top_k, top_p, min_p,
 * repeat_penalty, repeat_last_n, presence_penalty, frequency_penalty, seed): 1 ok, 0 unknown name, -1 bad value
 * (reported). cli_sampler_create creates the sampler, reporting a bad parameter: 0, or 1 after an error. */
int cli_sampling_opt(llamac_sampler_params *sp, int argc, char **argv, int *i);
int cli_sampling_set(llamac_sampler_params *sp, const char *name, const char *value);
void cli_sampling_print(FILE *f, const llamac_sampler_params *sp);
const char *cli_sampling_usage(void);
int cli_sampler_create(const llamac_sampler_params *sp, int n_vocab, llamac_sampler **out);


/* Chat prompts for `llamac tokenize --chat` (cmd_chat_render.c). cli_chat_opt consumes --chat FILE,
 * --date D, --chat-format F, --tools-in-system, --show-prompt (returns 1 if consumed, 0 if not, -1 on error);
 * cli_chat_usage is their help text. cli_tokenize_chat renders o->messages_path in the chat format of gguf
 * (detected; NULL gguf: Llama 3.1 with a warning) and appends the ids to *out; returns 0, or 1 after
 * reporting an error. */
typedef struct cli_chat_opts {
    const char *messages_path; /* NULL: no --chat */
    const char *date;          /* NULL: today */
    const char *format;        /* NULL: detect */
    int tools_in_system;
    int show_prompt;
} cli_chat_opts;
void cli_chat_opts_init(cli_chat_opts *o);
int cli_chat_opt(cli_chat_opts *o, int argc, char **argv, int *i);
const char *cli_chat_usage(void);
int cli_tokenize_chat(const llamac_tokenizer *tok, const llamac_gguf *gguf, const cli_chat_opts *o,
                      llamac_tokens *out);
/* The same, detecting the format from vocab_path when it is a GGUF file (else Llama 3.1 with a warning). */
int cli_tokenize_chat_file(const llamac_tokenizer *tok, const char *vocab_path, const cli_chat_opts *o,
                           llamac_tokens *out);

#endif
