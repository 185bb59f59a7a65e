/*
 * cmd_tokenize.c — `llamac tokenize` and `llamac detokenize`:
 *   llamac tokenize (-m MODEL.gguf | --vocab FILE) [--bos] [--special] [--pieces] [--jsonl]
 *       reads raw bytes from stdin and prints a JSON array of ids; with --pieces an array of
 *       {"id": N, "piece": "text"} objects (plus "hex" when the piece is not valid UTF-8 on its own);
 *       with --jsonl every stdin line is a JSON string, encoded separately, one id array per output line.
 *   llamac tokenize (-m MODEL.gguf | --vocab FILE) --chat MESSAGES.json [--date D] [--chat-format F] ...
 *       renders a chat conversation in the model's Llama 3.x format instead (cmd_chat_render.c).
 *   llamac detokenize (-m MODEL.gguf | --vocab FILE) [--skip-special] [--replace-invalid]
 *       reads a JSON array of ids from stdin and writes the decoded bytes to stdout.
 * FILE is a GGUF, a tokenizer.json or a tokenizer.model (detected by content). Only the vocabulary is read, so
 * -m is fast even for large models.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static llamac_tokenizer *load_vocab(const char *path)
{
    llamac_tokenizer *tok = NULL;
    char err[600];
    if (llamac_tokenizer_load(path, &tok, err, sizeof err) != LLAMAC_OK) {
        cli_error("%s", err);
        return NULL;
    }
    return tok;
}

/* Writes valid UTF-8 text as a JSON string. */
static void put_json_string(FILE *f, const char *s, size_t n)
{
    fputc('"', f);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\')
            fprintf(f, "\\%c", c);
        else if (c == '\n')
            fputs("\\n", f);
        else if (c == '\r')
            fputs("\\r", f);
        else if (c == '\t')
            fputs("\\t", f);
        else if (c < 0x20 || c == 0x7F)
            fprintf(f, "\\u%04x", c);
        else
            fputc(c, f);
    }
    fputc('"', f);
}

static void print_ids(FILE *f, const llamac_tokenizer *tok, const llamac_tokens *ids, int pieces)
{
    fputc('[', f);
    for (size_t i = 0; i < ids->n; i++) {
        if (i)
            fputs(", ", f);
        if (!pieces) {
            fprintf(f, "%d", ids->ids[i]);
            continue;
        }
        size_t n;
        const char *p = llamac_token_piece(tok, ids->ids[i], &n);
        llamac_text text = {0}; /* the piece as valid UTF-8: invalid sequences become U+FFFD */
        if (llamac_detokenize(tok, &ids->ids[i], 1, LLAMAC_DECODE_REPLACE_INVALID, &text) != LLAMAC_OK)
            text.n = 0;
        fprintf(f, "{\"id\": %d, \"piece\": ", ids->ids[i]);
        put_json_string(f, text.data ? text.data : "", text.n);
        int valid = text.n == n && !memcmp(text.data, p, n);
        llamac_text_free(&text);
        if (!valid) {
            fputs(", \"hex\": \"", f);
            for (size_t k = 0; k < n; k++)
                fprintf(f, "%02x", (unsigned char)p[k]);
            fputc('"', f);
        }
        fputc('}', f);
    }
    fputs("]\n", f);
}

int cmd_tokenize(int argc, char **argv)
{
    const char *path = NULL;
    unsigned flags = 0;
    int pieces = 0, jsonl = 0, r;
    cli_chat_opts chat;
    cli_chat_opts_init(&chat);
    for (int i = 1; i < argc; i++) {
        const char *o = argv[i];
        if ((r = cli_chat_opt(&chat, argc, argv, &i)) != 0) {
            if (r < 0)
                return 1;
        } else if (!strcmp(o, "-m") || !strcmp(o, "--model") || !strcmp(o, "--vocab")) {
            if (!(path = cli_arg(argc, argv, &i)))
                return 1;
        } else if (!strcmp(o, "--bos")) {
            flags |= LLAMAC_TOKENIZE_ADD_BOS;
        } else if (!strcmp(o, "--special")) {
            flags |= LLAMAC_TOKENIZE_PARSE_SPECIAL;
        } else if (!strcmp(o, "--pieces")) {
            pieces = 1;
        } else if (!strcmp(o, "--jsonl")) {
            jsonl = 1;
        } else if (!strcmp(o, "-h") || !strcmp(o, "--help")) {
            printf("usage: llamac tokenize (-m MODEL.gguf | --vocab tokenizer.json|tokenizer.model) [--bos] [--special]\n"
                   "                       [--pieces] [--jsonl]\n"
                   "Reads raw bytes from stdin and prints the token ids as a JSON array.\n"
                   "  --bos      start with <|begin_of_text|>\n"
                   "  --special  recognize special-token text such as <|eot_id|> (default: plain text)\n"
                   "  --pieces   print {\"id\": N, \"piece\": TEXT} objects instead of bare ids\n"
                   "  --jsonl    each input line is a JSON string; print one id array per line\n"
                   "%s", cli_chat_usage());
            return 0;
        } else {
            return cli_error("tokenize: unknown option '%s'", o);
        }
    }
    if (!path)
        return cli_error("tokenize: give a vocabulary with -m MODEL.gguf or --vocab FILE");
    if (chat.messages_path && (flags || jsonl))
        return cli_error("tokenize: --chat renders its own special tokens; it excludes --bos, --special, --jsonl");
    if (!chat.messages_path && (chat.date || chat.format || chat.tools_in_system || chat.show_prompt))
        return cli_error("tokenize: --date, --chat-format, --tools-in-system and --show-prompt need --chat");
    llamac_tokenizer *tok = load_vocab(path);
    if (!tok)
        return 1;
    if (chat.messages_path) {
        llamac_tokens ids = {0};
        int rc = cli_tokenize_chat_file(tok, path, &chat, &ids);
        if (!rc)
            print_ids(stdout, tok, &ids, pieces);
        if (!rc && fflush(stdout) != 0)
            rc = cli_error("tokenize: cannot write stdout");
        llamac_tokens_free(&ids);
        llamac_tokenizer_free(tok);
        return rc;
    }
    size_t len;
    char *in = cli_read_input("tokenize", "-", &len);
    if (!in) {
        llamac_tokenizer_free(tok);
        return 1;
    }
    int rc = 0;
    llamac_tokens ids = {0};
    if (!jsonl) {
        llamac_status st = llamac_tokenize(tok, in, len, flags, &ids);
        if (st)
            rc = cli_error("tokenize: %s", llamac_status_str(st));
        else
            print_ids(stdout, tok, &ids, pieces);
    } else {
        size_t line = 0;
        for (char *p = in; p < in + len && !rc;) {
            char *nl = memchr(p, '\n', (size_t)(in + len - p));
            size_t n = nl ? (size_t)(nl - p) : (size_t)(in + len - p);
            line++;
            if (n) {
                json_error_t jerr;
                json_t *j = json_loadb(p, n, JSON_DECODE_ANY | JSON_ALLOW_NUL, &jerr);
                if (!json_is_string(j)) {
                    rc = cli_error("tokenize: stdin line %zu is not a JSON string", line);
                } else {
                    ids.n = 0;
                    llamac_status st = llamac_tokenize(tok, json_string_value(j), json_string_length(j), flags, &ids);
                    if (st)
                        rc = cli_error("tokenize: %s", llamac_status_str(st));
                    else
                        print_ids(stdout, tok, &ids, pieces);
                }
                json_decref(j);
            }
            p = nl ? nl + 1 : in + len;
        }
    }
    if (fflush(stdout) != 0)
        rc = cli_error("tokenize: cannot write stdout");
    llamac_tokens_free(&ids);
    free(in);
    llamac_tokenizer_free(tok);
    return rc;
}

int cmd_detokenize(int argc, char **argv)
{
    const char *path = NULL;
    unsigned flags = 0;
    for (int i = 1; i < argc; i++) {
        const char *o = argv[i];
        if (!strcmp(o, "-m") || !strcmp(o, "--model") || !strcmp(o, "--vocab")) {
            if (!(path = cli_arg(argc, argv, &i)))
                return 1;
        } else if (!strcmp(o, "--skip-special")) {
            flags |= LLAMAC_DECODE_SKIP_SPECIAL;
        } else if (!strcmp(o, "--replace-invalid")) {
            flags |= LLAMAC_DECODE_REPLACE_INVALID;
        } else if (!strcmp(o, "-h") || !strcmp(o, "--help")) {
            printf("usage: llamac detokenize (-m MODEL.gguf | --vocab tokenizer.json|tokenizer.model)\n"
                   "                         [--skip-special] [--replace-invalid]\n"
                   "Reads a JSON array of token ids from stdin and writes the decoded bytes to stdout.\n");
            return 0;
        } else {
            return cli_error("detokenize: unknown option '%s'", o);
        }
    }
    if (!path)
        return cli_error("detokenize: give a vocabulary with -m MODEL.gguf or --vocab FILE");
    size_t len;
    char *in = cli_read_input("detokenize", "-", &len);
    if (!in)
        return 1;
    json_error_t jerr;
    json_t *j = json_loadb(in, len, 0, &jerr);
    free(in);
    if (!json_is_array(j)) {
        json_decref(j);
        return cli_error("detokenize: stdin is not a JSON array of token ids");
    }
    llamac_tokens ids = {0};
    size_t i;
    json_t *x;
    int rc = 0;
    json_array_foreach(j, i, x) {
        if (!json_is_integer(x) || json_integer_value(x) < INT32_MIN || json_integer_value(x) > INT32_MAX) {
            rc = cli_error("detokenize: element %zu is not an integer token id", i);
            break;
        }
        if (llamac_tokens_push(&ids, (int32_t)json_integer_value(x))) {
            rc = cli_error("out of memory");
            break;
        }
    }
    json_decref(j);
    llamac_tokenizer *tok = rc ? NULL : load_vocab(path);
    if (!rc && !tok)
        rc = 1;
    if (!rc) {
        llamac_text text = {0};
        llamac_status st = llamac_detokenize(tok, ids.ids, ids.n, flags, &text);
        if (st == LLAMAC_E_TOKEN) {
            llamac_tokenizer_info info;
            llamac_tokenizer_get_info(tok, &info);
            rc = cli_error("detokenize: a token id is outside 0..%d", info.n_vocab - 1);
        } else if (st) {
            rc = cli_error("detokenize: %s", llamac_status_str(st));
        } else if (fwrite(text.data, 1, text.n, stdout) != text.n || fflush(stdout) != 0) {
            rc = cli_error("detokenize: cannot write stdout");
        }
        llamac_text_free(&text);
    }
    llamac_tokens_free(&ids);
    llamac_tokenizer_free(tok);
    return rc;
}
