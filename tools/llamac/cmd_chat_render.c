/*
 * cmd_chat_render.c — the chat part of `llamac tokenize`: reads an OpenAI-style MESSAGES.json
 * ({"messages":[...], "tools":[...], "builtin_tools":[...]}), picks the chat format from the model file's
 * metadata (or --chat-format), renders the prompt ending with the assistant header, and returns its ids for the
 * tokenize command to print. All formatting rules live in the library (src/chat/).
 *
 * When the model's template is not a Llama 3 template, a warning goes to stderr and the fallback format (from the
 * special tokens, else Llama 3.1) is used; --chat-format makes the choice explicit and silences the warning.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

void cli_chat_opts_init(cli_chat_opts *o)
{
    memset(o, 0, sizeof *o);
}

int cli_chat_opt(cli_chat_opts *o, int argc, char **argv, int *i)
{
    const char *a = argv[*i], *v;
    if (!strcmp(a, "--chat")) {
        if (!(v = cli_arg(argc, argv, i)))
            return -1;
        o->messages_path = v;
        return 1;
    }
    if (!strcmp(a, "--date")) {
        if (!(v = cli_arg(argc, argv, i)))
            return -1;
        o->date = v;
        return 1;
    }
    if (!strcmp(a, "--chat-format")) {
        if (!(v = cli_arg(argc, argv, i)))
            return -1;
        if (llamac_chat_format_parse(v) == LLAMAC_CHAT_UNKNOWN)
            return cli_error("--chat-format: '%s' is not one of 3.0, 3.1, 3.2, 3.3", v), -1;
        o->format = v;
        return 1;
    }
    if (!strcmp(a, "--tools-in-system")) {
        o->tools_in_system = 1;
        return 1;
    }
    if (!strcmp(a, "--show-prompt")) {
        o->show_prompt = 1;
        return 1;
    }
    return 0;
}

const char *cli_chat_usage(void)
{
    return "  --chat FILE          render the OpenAI-style conversation in FILE\n"
           "                       ({\"messages\":[...],\"tools\":[...]}, '-' = stdin) in the model's Llama 3.x\n"
           "                       chat format; prints the prompt's ids, ending with the assistant header\n"
           "  --date \"26 Jul 2024\" the 'Today Date' of Llama 3.1+ system blocks (default: today)\n"
           "  --chat-format F      3.0, 3.1, 3.2 or 3.3 instead of detecting it from the file\n"
           "  --tools-in-system    put custom tool definitions in the system block, not the first user message\n"
           "  --show-prompt        also print the rendered prompt (special tokens inline) to stderr\n";
}

int cli_tokenize_chat(const llamac_tokenizer *tok, const llamac_gguf *gguf, const cli_chat_opts *o,
                      llamac_tokens *out)
{
    llamac_chat_format fmt;
    if (o->format) {
        fmt = llamac_chat_format_parse(o->format);
    } else if (gguf) {
        llamac_chat_detection det;
        llamac_chat_detect(gguf, &det);
        fmt = det.format;
        if (fmt == LLAMAC_CHAT_UNKNOWN) {
            fmt = det.fallback;
            fprintf(stderr, "llamac: warning: %s; using %s formatting (choose with --chat-format)\n", det.message,
                    llamac_chat_format_name(fmt));
        } else if (o->show_prompt) {
            fprintf(stderr, "llamac: chat format %s: %s\n", llamac_chat_format_name(fmt), det.message);
        }
    } else {
        fmt = LLAMAC_CHAT_LLAMA3_1;
        fprintf(stderr, "llamac: warning: no model metadata to detect the chat format; using llama3.1 "
                        "(choose with --chat-format)\n");
    }

    size_t len = 0;
    char *json = cli_read_input("--chat", o->messages_path, &len);
    if (!json)
        return 1;
    llamac_chat *chat = NULL;
    llamac_chat_prompt *prompt = NULL;
    int rc = 0;
    if (llamac_chat_create(&chat) != LLAMAC_OK) {
        rc = cli_error("out of memory");
        goto done;
    }
    if (llamac_chat_load_json(chat, json, len) != LLAMAC_OK) {
        rc = cli_error("%s: %s", o->messages_path, llamac_chat_error(chat));
        goto done;
    }
    if (llamac_chat_n_messages(chat) == 0) {
        rc = cli_error("%s: \"messages\" is empty", o->messages_path);
        goto done;
    }
    llamac_chat_params cp = llamac_chat_default_params(fmt);
    cp.date = o->date;
    cp.tools_in_user_message = !o->tools_in_system;
    if (llamac_chat_render(chat, &cp, 0, &prompt) != LLAMAC_OK) {
        rc = cli_error("%s (%s): %s", o->messages_path, llamac_chat_format_name(fmt), llamac_chat_error(chat));
        goto done;
    }
    if (o->show_prompt) {
        size_t n;
        const char *text = llamac_chat_prompt_text(prompt, &n);
        fwrite(text, 1, n, stderr);
        fputc('\n', stderr);
    }
    char err[600];
    if (llamac_chat_prompt_tokens(prompt, tok, out, err, sizeof err) != LLAMAC_OK)
        rc = cli_error("%s", err);
done:
    llamac_chat_prompt_free(prompt);
    llamac_chat_free(chat);
    free(json);
    return rc;
}

int cli_tokenize_chat_file(const llamac_tokenizer *tok, const char *vocab_path, const cli_chat_opts *o,
                           llamac_tokens *out)
{
    llamac_gguf *g = NULL;
    char err[600];
    /* the vocabulary file was loaded already (a regular file): a GGUF one also carries the chat template */
    if (llamac_gguf_open(vocab_path, &g, err, sizeof err) != LLAMAC_OK)
        g = NULL;
    int rc = cli_tokenize_chat(tok, g, o, out);
    llamac_gguf_close(g);
    return rc;
}
