/*
 * cmd_generate.c — `llamac generate -m FILE (-p TEXT | --tokens IDS) [-n N] [sampling] [-t N] [--ctx N]`:
 * prefills the prompt, then samples up to N tokens, stopping early at a stop token of the model's vocabulary
 * (<|eot_id|>, <|eom_id|>, <|end_of_text|>), through a library session (llamac_session_begin_tokens). -p TEXT is tokenized with BOS by the model's GGUF vocabulary
 * (special-token text only with --special). Prints only the generated continuation: as text, streamed and
 * never splitting a UTF-8 character, when the model has a vocabulary; as space-separated ids otherwise or with
 * --ids. A newline ends the output only when stdout is a terminal (text mode) or always (ids mode).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

typedef struct generate_out {
    const llamac_tokenizer *tok;
    llamac_detokenizer *detok; /* text mode (special tokens as text, bytes unchanged), or NULL: ids */
    int n;                     /* ids printed */
    int failed;
    int32_t bad_token;
} generate_out;

/* Prints each generated token as it comes (not the stop token that ended the answer). */
static int print_event(void *user, const llamac_session_event *ev)
{
    generate_out *o = user;
    if (ev->token < 0 || (ev->finish == LLAMAC_FINISH_STOP && o->tok && llamac_token_is_stop(o->tok, ev->token)))
        return 0;
    if (o->detok) {
        const char *text;
        size_t len;
        if (llamac_detokenizer_push(o->detok, ev->token, &text, &len) != LLAMAC_OK) {
            o->failed = 1;
            o->bad_token = ev->token;
            return 1;
        }
        fwrite(text, 1, len, stdout);
    } else {
        printf("%s%d", o->n ? " " : "", ev->token);
    }
    o->n++;
    fflush(stdout);
    return 0;
}

int cmd_generate(int argc, char **argv)
{
    cli_common co;
    cli_common_init(&co);
    const char *tokens_s = NULL, *prompt = NULL;
    int n_predict = 64, ubatch = 512, print_ids = 0, parse_special = 0;
    llamac_sampler_params sp = llamac_sampler_default_params();
    for (int i = 1; i < argc; i++) {
        int r = cli_common_opt(&co, argc, argv, &i);
        if (!r)
            r = cli_sampling_opt(&sp, argc, argv, &i);
        if (r < 0)
            return 1;
        if (r)
            continue;
        const char *o = argv[i], *v = NULL;
        int ok = 1;
        if (!strcmp(o, "--tokens")) {
            ok = (tokens_s = cli_arg(argc, argv, &i)) != NULL;
        } else if (!strcmp(o, "-p") || !strcmp(o, "--prompt")) {
            ok = (prompt = cli_arg(argc, argv, &i)) != NULL;
        } else if (!strcmp(o, "--ids")) {
            print_ids = 1;
        } else if (!strcmp(o, "--special")) {
            parse_special = 1;
        } else if (!strcmp(o, "-n") || !strcmp(o, "--n-predict")) {
            ok = (v = cli_arg(argc, argv, &i)) && cli_int(o, v, 0, 1 << 24, &n_predict);
        } else if (!strcmp(o, "--ubatch") || !strcmp(o, "-ub")) {
            ok = (v = cli_arg(argc, argv, &i)) && cli_int(o, v, 1, 65536, &ubatch);
        } else if (!strcmp(o, "-h") || !strcmp(o, "--help")) {
            printf("usage: llamac generate -m FILE (-p TEXT | --tokens IDS) [-n N] [sampling options]\n"
                   "                       [-t N] [--ctx N] [--ubatch N] [--kv f32|f16] [--mmap|--no-mmap] [--special] [--ids]\n"
                   "  -p TEXT    prompt text, tokenized with BOS by the model's vocabulary\n"
                   "  --special  recognize special-token text (<|eot_id|>, ...) in the -p prompt\n"
                   "  --ids      print the generated token ids instead of text\n"
                   "Sampling options:\n%s",
                   cli_sampling_usage());
            return 0;
        } else {
            return cli_error("generate: unknown option '%s'", o);
        }
        if (!ok)
            return 1;
    }
    if (!tokens_s && !prompt)
        return cli_error("generate: give a prompt with -p TEXT or --tokens IDS");
    if (prompt && tokens_s)
        return cli_error("generate: give either -p TEXT or --tokens IDS, not both");
    int32_t *toks = NULL;
    int n = 0;
    if (tokens_s && (n = cli_token_list(tokens_s, &toks)) < 0)
        return 1;
    llamac_model *m = cli_load_model(&co);
    if (!m) {
        free(toks);
        return 1;
    }
    const llamac_tokenizer *tok = llamac_model_tokenizer(m);
    if (prompt) {
        if (!tok) {
            llamac_model_free(m);
            return cli_error("generate: %s has no vocabulary (tokenizer.ggml.*); give the prompt with --tokens",
                             co.model);
        }
        llamac_tokens pt = {0};
        unsigned fl = LLAMAC_TOKENIZE_ADD_BOS | (parse_special ? LLAMAC_TOKENIZE_PARSE_SPECIAL : 0);
        llamac_status tst = llamac_tokenize(tok, prompt, strlen(prompt), fl, &pt);
        if (tst || pt.n == 0 || pt.n > INT32_MAX) {
            llamac_tokens_free(&pt);
            llamac_model_free(m);
            return cli_error("generate: cannot tokenize the prompt: %s", llamac_status_str(tst));
        }
        toks = pt.ids; /* malloc'ed: freed with free() below */
        n = (int)pt.n;
    }
    llamac_detokenizer *detok = NULL;
    if (tok && !print_ids && llamac_detokenizer_create(tok, 0, &detok) != LLAMAC_OK) {
        free(toks);
        llamac_model_free(m);
        return cli_error("out of memory");
    }
    int rc = 1;
    llamac_context *ctx = NULL;
    llamac_session *sess = NULL;
    char err[600];
    llamac_context_params cp = llamac_context_default_params();
    cp.n_ctx = cli_ctx_size(&co, m);
    cp.n_threads = co.n_threads;
    cp.kv_type = co.kv_type;
    cp.n_batch = ubatch;
    if (llamac_context_create(m, &cp, &ctx, err, sizeof err) != LLAMAC_OK ||
        llamac_session_create(ctx, NULL, &sess, err, sizeof err) != LLAMAC_OK) {
        cli_error("%s", err);
        goto done;
    }
    llamac_model_info info;
    llamac_model_get_info(m, &info);
    llamac_sampler *check;
    if (cli_sampler_create(&sp, info.n_vocab, &check))
        goto done;
    llamac_sampler_free(check);
    llamac_gen_params gp = llamac_gen_default_params();
    gp.sampling = sp;
    gp.max_tokens = n_predict;
    llamac_status st = llamac_session_begin_tokens(sess, toks, n, &gp);
    if (st == LLAMAC_E_CONTEXT_FULL) {
        cli_error("generate: the prompt of %d tokens does not fit in the context of %d (use --ctx)", n,
                  llamac_context_n_ctx(ctx));
        goto done;
    }
    generate_out out = {tok, detok, 0, 0, -1};
    if (st || (st = llamac_session_run(sess, print_event, &out)) != LLAMAC_OK) {
        cli_error("%s", llamac_session_error(sess));
        goto done;
    }
    if (out.bad_token >= 0 && out.failed) {
        cli_error("generate: the model produced token %d, outside its vocabulary", out.bad_token);
        goto done;
    }
    if (llamac_session_answer(sess)->finish == LLAMAC_FINISH_CONTEXT)
        fprintf(stderr, "\nllamac: context full after %lld generated tokens (use --ctx)\n",
                (long long)llamac_session_answer(sess)->completion_tokens);
    if (detok) {
        const char *text;
        size_t len;
        llamac_detokenizer_flush(detok, &text, &len);
        fwrite(text, 1, len, stdout);
        if (isatty(STDOUT_FILENO))
            printf("\n");
    } else {
        printf("\n");
    }
    fflush(stdout);
    rc = 0;
done:
    llamac_detokenizer_free(detok);
    free(toks);
    llamac_session_free(sess);
    llamac_context_free(ctx);
    llamac_model_free(m);
    return rc;
}
