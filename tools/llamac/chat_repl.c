/*
 * chat_repl.c — the `llamac chat` loop: read a line (or a multi-line block), run slash commands, or send a user
 * turn: prefill only the new tokens, stream the answer, run tool calls, handle a full context. Ctrl-C stops the
 * current answer (or prefill) and returns to the prompt; Ctrl-D or /bye exits. When stdin is not a terminal the
 * same loop reads line by line without prompts (scripts and tests).
 */
#include "chat_repl.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "chat_tools.h"
#include "line_input.h"


static volatile sig_atomic_t g_interrupt;

static void on_sigint(int sig)
{
    (void)sig;
    g_interrupt = 1;
}

typedef struct repl {
    chat_session s;
    const chat_repl_opts *o;
    line_input *in;
    int tty;          /* stdin is a terminal */
    int tty_out;      /* stdout is a terminal */
    const char *system;
    char *system_own; /* /system replaced it */
    const char *tools;
} repl;

static void print_text(void *user, const char *text, size_t len)
{
    (void)user;
    fwrite(text, 1, len, stdout);
    fflush(stdout);
}

static void print_stats(repl *r)
{
    const chat_stats *st = &r->s.st;
    printf("prompt: %d tokens in %.2f s (%.1f tok/s) | answer: %d tokens in %.2f s (%.1f tok/s) | "
           "time to first token: %.0f ms | context: %d / %d tokens\n",
           st->prompt_tokens, st->prompt_s, st->prompt_s > 0 ? st->prompt_tokens / st->prompt_s : 0.0,
           st->gen_tokens, st->gen_s, st->gen_s > 0 ? st->gen_tokens / st->gen_s : 0.0, st->ttft_s * 1000.0,
           chat_session_used(&r->s), chat_session_capacity(&r->s));
}

static void help(void)
{
    printf("Commands:\n"
           "  /help              this help\n"
           "  /reset             forget the conversation (keeps the system prompt and tools)\n"
           "  /system TEXT       set the system prompt (and reset the conversation)\n"
           "  /save FILE         save the conversation as OpenAI-style JSON\n"
           "  /load FILE         load a conversation saved with /save (it is re-read into the context)\n"
           "  /stats             speed of the last answer and context use\n"
           "  /set               show sampling settings; /set NAME VALUE changes one\n"
           "                     (temp, top_k, top_p, min_p, repeat_penalty, repeat_last_n, presence_penalty,\n"
           "                     frequency_penalty, seed, n_predict)\n"
           "  /bye               exit (also Ctrl-D)\n"
           "Input: end a line with \\ to continue it; \"\"\" on its own line starts and ends a multi-line block.\n"
           "Ctrl-C stops an answer; at the prompt it clears the line.\n");
}

static int reset(repl *r)
{
    if (chat_session_reset(&r->s, r->system, r->tools)) {
        fprintf(stderr, "llamac: %s\n", r->s.err);
        return 1;
    }
    return 0;
}

/* Recreates the sampler with new parameters, keeping the repetition history of the cache. */
static int apply_sampling(repl *r, const llamac_sampler_params *sp)
{
    llamac_model_info info;
    llamac_model_get_info(r->s.model, &info);
    llamac_sampler *n;
    if (cli_sampler_create(sp, info.n_vocab, &n))
        return 1;
    for (size_t i = 0; i < r->s.cache.n; i++)
        llamac_sampler_accept(n, r->s.cache.ids[i]);
    llamac_sampler_free(r->s.smp);
    r->s.smp = n;
    r->s.sp = *sp;
    return 0;
}

static void cmd_set(repl *r, char *args)
{
    char *name = strtok(args, " \t"), *value = strtok(NULL, " \t");
    if (!name) {
        cli_sampling_print(stdout, &r->s.sp);
        printf("n_predict %d\n", r->s.n_predict);
        return;
    }
    if (!value) {
        printf("usage: /set NAME VALUE (see /set for the names)\n");
        return;
    }
    if (!strcmp(name, "n_predict")) {
        int v;
        if (cli_int("n_predict", value, -1, 1 << 24, &v))
            r->s.n_predict = v;
        return;
    }
    llamac_sampler_params sp = r->s.sp;
    int k = cli_sampling_set(&sp, name, value);
    if (k == 0)
        printf("unknown setting '%s' (see /set)\n", name);
    else if (k > 0)
        apply_sampling(r, &sp);
}

/* Returns 1 to exit the loop. */
static int slash_command(repl *r, char *line)
{
    char *cmd = line, *args = line + strcspn(line, " \t");
    if (*args)
        *args++ = 0;
    args += strspn(args, " \t");
    if (!strcmp(cmd, "/bye") || !strcmp(cmd, "/exit") || !strcmp(cmd, "/quit"))
        return 1;
    if (!strcmp(cmd, "/help") || !strcmp(cmd, "/?")) {
        help();
    } else if (!strcmp(cmd, "/reset") || !strcmp(cmd, "/clear")) {
        if (!reset(r))
            printf("Conversation reset.\n");
    } else if (!strcmp(cmd, "/system")) {
        free(r->system_own);
        r->system_own = strdup(args);
        r->system = r->system_own;
        if (!reset(r))
            printf(*args ? "System prompt set; conversation reset.\n" : "System prompt removed; conversation reset.\n");
    } else if (!strcmp(cmd, "/save")) {
        if (!*args)
            printf("usage: /save FILE\n");
        else if (chat_session_save(&r->s, args))
            fprintf(stderr, "llamac: %s\n", r->s.err);
        else
            printf("Saved %zu messages to %s.\n", json_array_size(r->s.log), args);
    } else if (!strcmp(cmd, "/load")) {
        g_interrupt = 0;
        if (!*args)
            printf("usage: /load FILE\n");
        else if (chat_session_load(&r->s, args))
            fprintf(stderr, "llamac: %s\n", r->s.err);
        else
            printf("Loaded %zu messages from %s (%d tokens in the context).\n", json_array_size(r->s.log), args,
                   chat_session_used(&r->s));
    } else if (!strcmp(cmd, "/stats")) {
        print_stats(r);
    } else if (!strcmp(cmd, "/set")) {
        cmd_set(r, args);
    } else {
        printf("Unknown command '%s'. Type /help for the commands.\n", cmd);
    }
    return 0;
}

/* Removes the last message (a user turn that could not be sent). */
static void drop_last(repl *r)
{
    size_t n = json_array_size(r->s.log);
    if (n == 0)
        return;
    json_array_remove(r->s.log, n - 1);
    llamac_chat_truncate(r->s.chat, (int)n - 1);
    if (r->s.n_rendered > (int)n - 1)
        r->s.n_rendered = (int)n - 1;
}

static chat_full_policy ask_policy(repl *r)
{
    for (;;) {
        const char *line;
        size_t len;
        printf("The context is full (%d tokens). [d]rop the oldest turns (keeps the system prompt), "
               "[r]eset the conversation, or [c]ancel this message? ",
               chat_session_capacity(&r->s));
        fflush(stdout);
        int got = line_input_read(r->in, "", &line, &len);
        if (got != LINE_OK || line[0] == 'c' || line[0] == 'C')
            return CHAT_FULL_STOP;
        if (line[0] == 'd' || line[0] == 'D')
            return CHAT_FULL_DROP;
        if (line[0] == 'r' || line[0] == 'R')
            return CHAT_FULL_RESET;
    }
}

/* Prefills the pending conversation, handling a full context by the policy. 0 ok, 1 the turn is abandoned. */
static int prefill_turn(repl *r)
{
    g_interrupt = 0;
    llamac_status st = chat_session_prefill(&r->s);
    if (st == LLAMAC_E_CONTEXT_FULL) {
        chat_full_policy p = r->o->on_full;
        if (p == CHAT_FULL_DEFAULT)
            p = r->tty ? CHAT_FULL_ASK : CHAT_FULL_DROP;
        if (p == CHAT_FULL_ASK)
            p = ask_policy(r);
        int reserve = r->s.n_predict > 0 && r->s.n_predict < 512 ? r->s.n_predict : 512;
        if (reserve > chat_session_capacity(&r->s) / 4)
            reserve = chat_session_capacity(&r->s) / 4;
        if (p == CHAT_FULL_DROP) {
            int dropped = chat_session_drop_oldest(&r->s, reserve);
            if (dropped > 0) {
                fprintf(stderr, "[context full: dropped the %d oldest messages; re-reading the conversation]\n",
                        dropped);
                st = chat_session_prefill(&r->s);
            }
        } else if (p == CHAT_FULL_RESET) {
            json_t *last = json_incref(json_array_get(r->s.log, json_array_size(r->s.log) - 1));
            if (!reset(r)) {
                fprintf(stderr, "[context full: conversation reset]\n");
                if (chat_session_add_json(&r->s, last) == 0)
                    st = chat_session_prefill(&r->s);
                last = NULL;
            }
            json_decref(last);
        }
        if (st == LLAMAC_E_CONTEXT_FULL) {
            fprintf(stderr, "llamac: this message does not fit: %s (use --ctx, or /reset)\n", r->s.err);
            drop_last(r);
            return 1;
        }
    }
    if (st == LLAMAC_E_CANCELLED) {
        fprintf(stderr, "\n[interrupted]\n");
        drop_last(r);
        return 1;
    }
    if (st) {
        fprintf(stderr, "llamac: %s\n", r->s.err);
        drop_last(r);
        return 1;
    }
    return 0;
}

/* Gets a tool's result: from --tool-exec, or typed by the user. NULL: give up this turn. */
static char *tool_result(repl *r, const char *call_json)
{
    if (r->o->tool_exec) {
        char *out, err[300];
        g_interrupt = 0;
        if (chat_tool_exec(r->o->tool_exec, call_json, strlen(call_json), &g_interrupt, &out, err, sizeof err)) {
            fprintf(stderr, "llamac: tool call failed: %s\n", err);
            /* the model is told, so the conversation can continue */
            size_t n = strlen(err) + 32;
            char *msg = malloc(n);
            if (msg)
                snprintf(msg, n, "error: %s", err);
            return msg;
        }
        return out;
    }
    const char *line;
    size_t len;
    int got = line_input_read(r->in, r->tty ? "tool result> " : NULL, &line, &len);
    if (got != LINE_OK)
        return NULL;
    return strdup(line);
}

/* One exchange: prefill, answer, tool rounds. */
static void answer(repl *r)
{
    const int max_rounds = r->o->max_tool_rounds;
    for (int round = 0; round <= max_rounds; round++) {
        if (prefill_turn(r))
            return;
        llamac_text text = {0};
        llamac_tool_calls calls;
        g_interrupt = 0;
        chat_end end = chat_session_generate(&r->s, print_text, NULL, &text, &calls);
        llamac_text_free(&text);
        if (end == CHAT_END_INTERRUPT)
            printf("\n[interrupted]");
        else if (end == CHAT_END_CONTEXT)
            printf("\n[the context is full: the answer was cut]");
        else if (end == CHAT_END_LIMIT)
            printf("\n[stopped after %d tokens]", r->s.n_predict);
        else if (end == CHAT_END_ERROR)
            fprintf(stderr, "\nllamac: %s", r->s.err);
        printf("\n");
        fflush(stdout);
        if (calls.n_calls == 0 || end != CHAT_END_STOP) {
            free(calls.json);
            return;
        }
        printf("[tool call] %s\n", calls.json);
        fflush(stdout);
        if (round == max_rounds) {
            fprintf(stderr, "llamac: more than %d tool rounds in one answer; stopping (--max-tool-rounds)\n",
                    max_rounds);
            free(calls.json);
            return;
        }
        char *result = tool_result(r, calls.json);
        free(calls.json);
        if (!result)
            return;
        /* a result that is a JSON object or array is passed as such (the template renders it with tojson);
         * anything else as text */
        json_t *val = json_loads(result, JSON_DECODE_ANY, NULL);
        int bad;
        if (json_is_object(val) || json_is_array(val))
            bad = chat_session_add_json(&r->s, json_pack("{s:s, s:o}", "role", "ipython", "content", val));
        else
            bad = (json_decref(val), chat_session_add(&r->s, "ipython", result));
        free(result);
        if (bad) {
            fprintf(stderr, "llamac: %s\n", r->s.err);
            return;
        }
    }
}

/* Reads one user input (a line, a continued line, or a """ block). LINE_OK with *text set (malloc'ed). */
static int read_input(repl *r, char **text)
{
    const char *line;
    size_t len;
    int got = line_input_read(r->in, r->tty ? ">>> " : NULL, &line, &len);
    if (got != LINE_OK)
        return got;
    line_input_remember(r->in, line);
    size_t cap = len + 64, n = 0;
    char *buf = malloc(cap);
    if (!buf)
        return LINE_EOF;
    int block = !strcmp(line, "\"\"\"");
    int cont = !block && len && line[len - 1] == '\\';
    if (!block) {
        memcpy(buf, line, cont ? len - 1 : len);
        n = cont ? len - 1 : len;
    }
    while (block || cont) {
        got = line_input_read(r->in, r->tty ? "... " : NULL, &line, &len);
        if (got == LINE_INTERRUPTED) {
            free(buf);
            return LINE_INTERRUPTED;
        }
        if (got == LINE_EOF)
            break;
        if (block && !strcmp(line, "\"\"\""))
            break;
        cont = !block && len && line[len - 1] == '\\';
        size_t take = cont ? len - 1 : len;
        if (n + take + 2 > cap) {
            char *nb = realloc(buf, (cap = (n + take + 2) * 2));
            if (!nb) {
                free(buf);
                return LINE_EOF;
            }
            buf = nb;
        }
        if (n || block)
            buf[n++] = '\n';
        memcpy(buf + n, line, take);
        n += take;
    }
    if (block && n && buf[0] == '\n')
        memmove(buf, buf + 1, --n);
    buf[n] = 0;
    *text = buf;
    return LINE_OK;
}

static void banner(repl *r)
{
    llamac_model_info info;
    llamac_model_get_info(r->s.model, &info);
    printf("llamac chat — %s (%s format, context %d, %d threads, %s kernels)\n",
           info.name[0] ? info.name : r->o->so.co.model, llamac_chat_format_name(r->s.cparams.format),
           chat_session_capacity(&r->s), llamac_context_n_threads(r->s.ctx), llamac_kernel_path());
    printf("Type a message, /help for commands, Ctrl-D or /bye to exit.\n");
}

static int repl_loop(repl *r)
{
    if (r->tty)
        banner(r);
    for (;;) {
        g_interrupt = 0;
        char *text = NULL;
        int got = read_input(r, &text);
        if (got == LINE_EOF)
            break;
        if (got == LINE_INTERRUPTED)
            continue;
        char *p = text + strspn(text, " \t\r\n");
        if (!*p) {
            free(text);
            continue;
        }
        if (p[0] == '/' && !strchr(p, '\n')) {
            int quit = slash_command(r, p);
            free(text);
            if (quit)
                break;
            continue;
        }
        if (chat_session_add(&r->s, "user", text))
            fprintf(stderr, "llamac: %s\n", r->s.err);
        else
            answer(r);
        free(text);
    }
    if (r->tty)
        printf("\n");
    return 0;
}

/* `llamac run PROMPT [--json]` */
static int one_shot(repl *r, const char *prompt, int json_out)
{
    if (chat_session_add(&r->s, "user", prompt))
        return cli_error("%s", r->s.err);
    llamac_status st = chat_session_prefill(&r->s);
    if (st == LLAMAC_E_CONTEXT_FULL)
        return cli_error("the prompt does not fit: %s (use --ctx)", r->s.err);
    if (st)
        return cli_error("%s", st == LLAMAC_E_CANCELLED ? "interrupted" : r->s.err);
    llamac_text text = {0};
    llamac_tool_calls calls;
    chat_end end = chat_session_generate(&r->s, json_out ? NULL : print_text, NULL, &text, &calls);
    if (end == CHAT_END_ERROR) {
        llamac_text_free(&text);
        free(calls.json);
        return cli_error("%s", r->s.err);
    }
    static const char *const reasons[] = {"stop", "length", "interrupted", "context_full", "error"};
    if (json_out) {
        json_t *msg = json_array_get(r->s.log, json_array_size(r->s.log) - 1);
        const chat_stats *stt = &r->s.st;
        llamac_model_info info;
        llamac_model_get_info(r->s.model, &info);
        json_t *doc = json_pack(
            "{s:s, s:s, s:O, s:s, s:{s:i, s:i, s:i}, s:{s:f, s:f, s:f, s:f, s:f}}", "model",
            info.name[0] ? info.name : r->o->so.co.model, "chat_format", llamac_chat_format_name(r->s.cparams.format),
            "message", msg, "finish_reason", calls.n_calls ? "tool_calls" : reasons[end], "usage", "prompt_tokens",
            stt->prompt_tokens, "completion_tokens", stt->gen_tokens, "total_tokens",
            stt->prompt_tokens + stt->gen_tokens, "timings", "prompt_s", stt->prompt_s, "prompt_tokens_per_s",
            stt->prompt_s > 0 ? stt->prompt_tokens / stt->prompt_s : 0.0, "generation_s", stt->gen_s,
            "generation_tokens_per_s", stt->gen_s > 0 ? stt->gen_tokens / stt->gen_s : 0.0, "time_to_first_token_s",
            stt->ttft_s);
        if (doc) {
            json_dumpf(doc, stdout, JSON_INDENT(2) | JSON_ENSURE_ASCII);
            printf("\n");
        }
        json_decref(doc);
    } else {
        if (calls.n_calls)
            printf("[tool call] %s", calls.json);
        printf("\n");
        if (end == CHAT_END_CONTEXT)
            fprintf(stderr, "llamac: the context is full: the answer was cut (use --ctx)\n");
    }
    llamac_text_free(&text);
    free(calls.json);
    return end == CHAT_END_INTERRUPT ? 130 : 0;
}

int chat_repl_run(const chat_repl_opts *o, const char *prompt, int json_out)
{
    repl r;
    memset(&r, 0, sizeof r);
    r.o = o;
    r.tty = isatty(STDIN_FILENO);
    r.tty_out = isatty(STDOUT_FILENO);
    r.system = o->system;
    r.tools = o->tools_buf;
    struct sigaction sa, old;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigint;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &old); /* no SA_RESTART: a read at the prompt returns EINTR */

    int rc = 1;
    chat_session_opts so = o->so;
    so.quiet = json_out;
    if (chat_session_open(&r.s, &so, &g_interrupt))
        goto out;
    r.s.show_progress = isatty(STDERR_FILENO);
    if (reset(&r))
        goto out;
    if (prompt) {
        rc = one_shot(&r, prompt, json_out);
        goto out;
    }
    const char *home = getenv("HOME");
    char hist[1024];
    if (home)
        snprintf(hist, sizeof hist, "%s/.llamac_history", home);
    r.in = line_input_open(r.tty, home ? hist : NULL);
    if (!r.in) {
        cli_error("out of memory");
        goto out;
    }
    rc = repl_loop(&r);
out:
    line_input_close(r.in);
    chat_session_close(&r.s);
    free(r.system_own);
    sigaction(SIGINT, &old, NULL);
    return rc;
}
