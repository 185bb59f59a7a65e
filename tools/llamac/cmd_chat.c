/*
 * cmd_chat.c — `llamac chat` (interactive REPL, chat_repl.c) and `llamac run` (one-shot, Ollama-style; the
 * REPL when no prompt is given). Both parse the same options into chat_session_opts.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "chat_repl.h"

static void usage(const char *cmd)
{
    printf("usage: llamac %s -m MODEL %s[options]\n", cmd, strcmp(cmd, "run") ? "" : "[PROMPT] ");
    printf("  -s, --system TEXT       system prompt\n"
           "  --system-file F         system prompt from a file\n"
           "  --tools F               custom tools (JSON array of OpenAI tool definitions, or {\"tools\": [...]})\n"
           "  --tool-exec CMD         run CMD for each tool call (the call JSON on its stdin, the result on its\n"
           "                          stdout) instead of asking for the result\n"
           "  --max-tool-rounds N     tool results fed back per message before stopping (default 8)\n"
           "  -n N                    at most N tokens per answer (default: until the context is full)\n"
           "  --ctx N                 context size in tokens (default: the model's, at most 8192)\n"
           "  -t N                    threads (default: all cores)\n"
           "  --chat-format 3.x       override the detected chat format (3.0, 3.1, 3.2, 3.3)\n"
           "  --date D                the \"Today Date\" of the 3.1+ system header (default: today)\n"
           "  --on-context-full P     ask | drop (oldest turns, keeping the system prompt) | reset | stop\n"
           "                          (default: ask on a terminal, drop otherwise)\n"
           "  --trace-tokens F        write the token ids sent to the model, one JSON line per prefill\n"
           "  --kv f32|f16, --mmap|--no-mmap\n");
    if (!strcmp(cmd, "run"))
        printf("  --json                  print the answer with usage and timings as one JSON object\n");
    printf("%s", cli_sampling_usage());
    printf("Sampling defaults: Meta's (temp 0.6, top-p 0.9).\n");
}

/* Parses the options shared by chat and run; positional arguments are returned through *prompt (run only). */
static int parse(const char *cmd, int argc, char **argv, chat_repl_opts *o, const char **prompt, int *json_out)
{
    memset(o, 0, sizeof *o);
    cli_common_init(&o->so.co);
    o->so.sp = llamac_sampler_default_params();
    o->so.n_predict = -1;
    o->on_full = CHAT_FULL_DEFAULT;
    o->max_tool_rounds = 8;
    for (int i = 1; i < argc; i++) {
        int r = cli_common_opt(&o->so.co, argc, argv, &i);
        if (!r)
            r = cli_sampling_opt(&o->so.sp, argc, argv, &i);
        if (r < 0)
            return 1;
        if (r)
            continue;
        const char *a = argv[i], *v;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(cmd);
            exit(0);
        } else if (!strcmp(a, "-s") || !strcmp(a, "--system")) {
            if (!(o->system = cli_arg(argc, argv, &i)))
                return 1;
        } else if (!strcmp(a, "--system-file")) {
            if (!(v = cli_arg(argc, argv, &i)))
                return 1;
            free(o->system_buf);
            if (!(o->system_buf = cli_read_input("--system-file", v, NULL)))
                return 1;
            o->system = o->system_buf;
        } else if (!strcmp(a, "--tools")) {
            if (!(v = cli_arg(argc, argv, &i)))
                return 1;
            free(o->tools_buf);
            if (!(o->tools_buf = cli_read_input("--tools", v, NULL)))
                return 1;
        } else if (!strcmp(a, "--tool-exec")) {
            if (!(o->tool_exec = cli_arg(argc, argv, &i)))
                return 1;
        } else if (!strcmp(a, "--max-tool-rounds")) {
            if (!(v = cli_arg(argc, argv, &i)) || !cli_int(a, v, 0, 1000, &o->max_tool_rounds))
                return 1;
        } else if (!strcmp(a, "-n") || !strcmp(a, "--n-predict")) {
            if (!(v = cli_arg(argc, argv, &i)) || !cli_int(a, v, -1, 1 << 24, &o->so.n_predict))
                return 1;
        } else if (!strcmp(a, "--chat-format")) {
            if (!(o->so.chat_format = cli_arg(argc, argv, &i)))
                return 1;
        } else if (!strcmp(a, "--date")) {
            if (!(o->so.date = cli_arg(argc, argv, &i)))
                return 1;
        } else if (!strcmp(a, "--trace-tokens")) {
            if (!(o->so.trace_path = cli_arg(argc, argv, &i)))
                return 1;
        } else if (!strcmp(a, "--on-context-full")) {
            if (!(v = cli_arg(argc, argv, &i)))
                return 1;
            if (!strcmp(v, "ask"))
                o->on_full = CHAT_FULL_ASK;
            else if (!strcmp(v, "drop"))
                o->on_full = CHAT_FULL_DROP;
            else if (!strcmp(v, "reset"))
                o->on_full = CHAT_FULL_RESET;
            else if (!strcmp(v, "stop"))
                o->on_full = CHAT_FULL_STOP;
            else
                return cli_error("--on-context-full: '%s' is not ask, drop, reset or stop", v);
        } else if (json_out && !strcmp(a, "--json")) {
            *json_out = 1;
        } else if (a[0] == '-' && a[1]) {
            return cli_error("%s: unknown option '%s' (see llamac %s --help)", cmd, a, cmd);
        } else if (prompt && !*prompt) {
            *prompt = a;
        } else {
            return cli_error("%s: unexpected argument '%s'", cmd, a);
        }
    }
    if (!o->so.co.model)
        return cli_error("%s: no model given (-m FILE)", cmd);
    return 0;
}

static void free_opts(chat_repl_opts *o)
{
    free(o->system_buf);
    free(o->tools_buf);
}

int cmd_chat(int argc, char **argv)
{
    chat_repl_opts o;
    int rc = parse("chat", argc, argv, &o, NULL, NULL);
    if (!rc)
        rc = chat_repl_run(&o, NULL, 0);
    free_opts(&o);
    return rc;
}

int cmd_run(int argc, char **argv)
{
    chat_repl_opts o;
    const char *prompt = NULL;
    int json_out = 0;
    int rc = parse("run", argc, argv, &o, &prompt, &json_out);
    if (!rc)
        rc = chat_repl_run(&o, prompt, json_out);
    free_opts(&o);
    return rc;
}
