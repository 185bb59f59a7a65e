/*
 * main.c — the llamac program: dispatches to a subcommand (cmd_*.c). Thin by design: all work happens in
 * the library (include/llamac.h).
 */
#include <stdio.h>
#include <string.h>

#include "cli.h"

typedef struct command {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
} command;

static const command g_commands[] = {
    {"info", cmd_info, "show a model file's metadata and tensor table"},
    {"logits", cmd_logits, "write the logits of every position of a token sequence (float32 LE)"},
    {"chat", cmd_chat, "talk with a model in the terminal (Llama 3 chat format, streaming, tools)"},
    {"run", cmd_run, "answer one prompt in the chat format (or chat without a prompt), Ollama-style"},
    {"serve", cmd_serve, "an OpenAI-compatible HTTP server that answers many clients at once"},
    {"generate", cmd_generate, "generate a continuation of a prompt"},
    {"tokenize", cmd_tokenize, "print the token ids of stdin (JSON array)"},
    {"detokenize", cmd_detokenize, "decode a JSON array of token ids from stdin"},
    {"bench", cmd_bench, "measure prompt and generation speed against the memory bandwidth"},
    {"quantize", cmd_quantize, "convert a model to another weight type (Q4_K_M, Q8_0, F16, ...)"},
};

static void usage(FILE *f)
{
    fprintf(f, "llamac %s — Llama 3 inference engine\n\nusage: llamac COMMAND [options]\n\ncommands:\n",
            LLAMAC_VERSION);
    for (size_t i = 0; i < sizeof g_commands / sizeof g_commands[0]; i++)
        fprintf(f, "  %-10s %s\n", g_commands[i].name, g_commands[i].summary);
    fprintf(f, "\nRun 'llamac COMMAND --help' for the options of a command.\n");
}

int main(int argc, char **argv)
{
    if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "help")) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (!strcmp(argv[1], "--version")) {
        printf("llamac %s (kernels: %s)\n", LLAMAC_VERSION, llamac_kernel_path());
        return 0;
    }
    for (size_t i = 0; i < sizeof g_commands / sizeof g_commands[0]; i++)
        if (!strcmp(argv[1], g_commands[i].name))
            return g_commands[i].run(argc - 1, argv + 1);
    cli_error("unknown command '%s' (try 'llamac --help')", argv[1]);
    return 2;
}
