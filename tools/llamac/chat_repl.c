/*
 * chat_repl.c — the `llamac chat` loop: read a line (or a multi-line block), run slash commands, or send a user
 * turn: prefill only the new tokens, stream the answer, run tool calls, handle a full context. Ctrl-C stops the
 * current answer (or prefill) and returns to the prompt; Ctrl-D or /bye exits. When stdin is not a terminal the
 * same loop reads line by line without prompts (scripts and tests).
 */
#include "chat_repl.h"

#include <jansson.h>
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
    /* for the exit status of a non-interactive run: 1 when every message failed, or a /system, /load or /save
     * command failed */
    int n_messages, n_failed, cmd_failed;
    int turn_ok; /* the current message was answered (set by answer()) */
} repl;

static void print_text(void *user, const char *text, size_t len)
{
    (void)user;
    fwrite(text, 1, len, stdout);
    fflush(stdout);
}

static void print_stats(repl *r)
{
    const llamac_answer *a = llamac_session_answer(r->s.sess);
    const int prompt = (int)(a->prompt_tokens - a->cached_tokens), gen = chat_session_gen_tokens(&r->s);
    const double prompt_s = a->prompt_ms / 1e3, gen_s = a->gen_ms / 1e3;
    printf("prompt: %d tokens in %.2f s (%.1f tok/s) | answer: %d tokens in %.2f s (%.1f tok/s) | "
           "time to first token: %.0f ms | context: %lld / %lld tokens\n",
           prompt, prompt_s, prompt_s > 0 ? prompt / prompt_s : 0.0, gen, gen_s, gen_s > 0 ? gen / gen_s : 0.0,
           a->ttft_ms, (long long)llamac_session_used(r->s.sess), (long long)llamac_session_capacity(r->s.sess));
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

/* Takes new sampling parameters for the next answers (the session makes its sampler at each answer). */
static int apply_sampling(repl *r, const llamac_sampler_params *sp)
{
    llamac_model_info info;
    llamac_model_get_info(r->s.model, &info);
    llamac_sampler *n;
    if (cli_sampler_create(sp, info.n_vocab, &n))
        return 1;
    llamac_sampler_free(n);
    r->s.gp.sampling = *sp;
    return 0;
}

static void cmd_set(repl *r, char *args)
{
    char *name = strtok(args, " \t"), *value = strtok(NULL, " \t");
    if (!name) {
        cli_sampling_print(stdout, &r->s.gp.sampling);
        printf("n_predict %d\n", r->s.gp.max_tokens);
        return;
    }
    if (!value) {
        printf("usage: /set NAME VALUE (see /set for the names)\n");
        return;
    }
    if (!strcmp(name, "n_predict")) {
        int v;
        if (cli_int("n_predict", value, -1, 1 << 24, &v))
            r->s.gp.max_tokens = v;
        return;
    }
    llamac_sampler_params sp = r->s.gp.sampling;
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
        char *prev = r->system_own;
        const char *prev_system = r->system;
        r->system_own = strdup(args);
        r->system = r->system_own;
        if (!r->system_own || reset(r)) { /* refused (not valid UTF-8, out of memory): keep the previous one */
            if (!r->system_own)
                fprintf(stderr, "llamac: out of memory\n");
            free(r->system_own);
            r->system_own = prev;
            r->system = prev_system;
            reset(r);
            r->cmd_failed = 1;
            fprintf(stderr, "llamac: the system prompt was not changed; the conversation was reset\n");
        } else {
            free(prev);
            printf(*args ? "System prompt set; conversation reset.\n" : "System prompt removed; conversation reset.\n");
        }
    } else if (!strcmp(cmd, "/save")) {
        if (!*args)
            printf("usage: /save FILE\n");
        else if (chat_session_save(&r->s, args))
            fprintf(stderr, "llamac: %s\n", r->s.err), r->cmd_failed = 1;
        else
            printf("Saved %d messages to %s.\n", llamac_chat_n_messages(r->s.chat), args);
    } else if (!strcmp(cmd, "/load")) {
        g_interrupt = 0;
        if (!*args)
            printf("usage: /load FILE\n");
        else if (chat_session_load(&r->s, args))
            fprintf(stderr, "llamac: %s\n", r->s.err), r->cmd_failed = 1;
        else
            printf("Loaded %d messages from %s (%lld tokens in the context).\n", llamac_chat_n_messages(r->s.chat),
                   args, (long long)llamac_session_used(r->s.sess));
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
    int n = llamac_chat_n_messages(r->s.chat);
    if (n > 0)
        llamac_chat_truncate(r->s.chat, n - 1);
}

static chat_full_policy ask_policy(repl *r)
{
    for (;;) {
        const char *line;
        size_t len;
        printf("The context is full (%d tokens). [d]rop the oldest turns (keeps the system prompt), "
               "[r]eset the conversation, or [c]ancel this message? ",
               (int)llamac_session_capacity(r->s.sess));
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

/* Begins the answer to the conversation, handling a full context by the policy. 0 ok, 1 the turn is
 * abandoned. */
static int begin_turn(repl *r)
{
    g_interrupt = 0;
    llamac_status st = chat_session_begin(&r->s);
    if (st == LLAMAC_E_CONTEXT_FULL) {
        chat_full_policy p = r->o->on_full;
        if (p == CHAT_FULL_DEFAULT)
            p = r->tty ? CHAT_FULL_ASK : CHAT_FULL_DROP;
        if (p == CHAT_FULL_ASK)
            p = ask_policy(r);
        const int cap = (int)llamac_session_capacity(r->s.sess);
        int reserve = r->s.gp.max_tokens > 0 && r->s.gp.max_tokens < 512 ? r->s.gp.max_tokens : 512;
        if (reserve > cap / 4)
            reserve = cap / 4;
        if (p == CHAT_FULL_DROP) {
            int dropped = llamac_session_drop_oldest(r->s.sess, reserve);
            if (dropped > 0) {
                fprintf(stderr, "[context full: dropped the %d oldest messages; re-reading the conversation]\n",
                        dropped);
                st = chat_session_begin(&r->s);
            }
        } else if (p == CHAT_FULL_RESET) {
            char *last = NULL;
            llamac_chat_message_json(r->s.chat, llamac_chat_n_messages(r->s.chat) - 1, &last);
            if (last && !reset(r)) {
                fprintf(stderr, "[context full: conversation reset]\n");
                if (chat_session_add_json(&r->s, last) == 0)
                    st = chat_session_begin(&r->s);
            }
            free(last);
        }
        if (st == LLAMAC_E_CONTEXT_FULL) {
            fprintf(stderr, "llamac: this message does not fit: %s (use --ctx, or /reset)\n", r->s.err);
            drop_last(r);
            return 1;
        }
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
        if (begin_turn(r))
            return;
        g_interrupt = 0;
        chat_end end = chat_session_generate(&r->s, print_text, NULL);
        if (end == CHAT_END_PREFILL_INTERRUPT) {
            fprintf(stderr, "\n[interrupted]\n");
            drop_last(r);
            return;
        }
        if (round == 0 && end != CHAT_END_ERROR)
            r->turn_ok = 1;
        char *calls = chat_session_tool_calls(&r->s);
        if (end == CHAT_END_INTERRUPT)
            printf("\n[interrupted]");
        else if (end == CHAT_END_CONTEXT)
            printf("\n[the context is full: the answer was cut]");
        else if (end == CHAT_END_LIMIT)
            printf("\n[stopped after %d tokens]", r->s.gp.max_tokens);
        else if (end == CHAT_END_ERROR)
            fprintf(stderr, "\nllamac: %s", r->s.err);
        if (!calls || llamac_session_answer(r->s.sess)->content_len)
            printf("\n");
        fflush(stdout);
        if (!calls)
            return;
        printf("[tool call] %s\n", calls);
        fflush(stdout);
        if (round == max_rounds) {
            fprintf(stderr, "llamac: more than %d tool rounds in one answer; stopping (--max-tool-rounds)\n",
                    max_rounds);
            free(calls);
            return;
        }
        char *result = tool_result(r, calls);
        free(calls);
        if (!result)
            return;
        /* a result that is a JSON object or array is passed as such (the template renders it with tojson);
         * anything else as text */
        json_t *val = json_loads(result, JSON_DECODE_ANY, NULL);
        int bad;
        if (json_is_object(val) || json_is_array(val)) {
            json_t *msg = json_pack("{s:s, s:o}", "role", "ipython", "content", val);
            char *mj = msg ? json_dumps(msg, JSON_COMPACT) : NULL;
            bad = mj ? chat_session_add_json(&r->s, mj) : 1;
            free(mj);
            json_decref(msg);
        } else {
            json_decref(val);
            bad = chat_session_add(&r->s, "ipython", result);
        }
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
           info.name[0] ? info.name : r->o->so.co.model, llamac_chat_format_name(llamac_session_format(r->s.sess)),
           (int)llamac_session_capacity(r->s.sess), llamac_context_n_threads(r->s.ctx), llamac_kernel_path());
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
        r->n_messages++;
        r->turn_ok = 0;
        if (chat_session_add(&r->s, "user", text))
            fprintf(stderr, "llamac: %s\n", r->s.err);
        else
            answer(r);
        r->n_failed += !r->turn_ok;
        free(text);
    }
    if (r->tty) {
        printf("\n");
        return 0;
    }
    /* piped: a script learns from the status that nothing worked (each failure was reported on stderr) */
    if (r->n_messages > 0 && r->n_failed == r->n_messages)
        return cli_error("every message failed (%d)", r->n_messages);
    if (r->cmd_failed)
        return cli_error("a /system, /load or /save command failed");
    return 0;
}

/* `llamac run PROMPT [--json]` */
static int one_shot(repl *r, const char *prompt, int json_out)
{
    if (chat_session_add(&r->s, "user", prompt))
        return cli_error("%s", r->s.err);
    llamac_status st = chat_session_begin(&r->s);
    if (st == LLAMAC_E_CONTEXT_FULL)
        return cli_error("the prompt does not fit: %s (use --ctx)", r->s.err);
    if (st)
        return cli_error("%s", r->s.err);
    chat_end end = chat_session_generate(&r->s, json_out ? NULL : print_text, NULL);
    if (end == CHAT_END_PREFILL_INTERRUPT)
        return cli_error("interrupted");
    if (end == CHAT_END_ERROR)
        return cli_error("%s", r->s.err);
    static const char *const reasons[] = {"stop", "length", "interrupted", "context_full", "error"};
    const llamac_answer *a = llamac_session_answer(r->s.sess);
    char *calls = chat_session_tool_calls(&r->s);
    if (json_out) {
        char *mj = NULL;
        llamac_chat_message_json(r->s.chat, llamac_chat_n_messages(r->s.chat) - 1, &mj);
        json_t *msg = mj ? json_loads(mj, 0, NULL) : NULL;
        free(mj);
        const int n_prompt = (int)a->prompt_tokens, n_gen = chat_session_gen_tokens(&r->s);
        const double prompt_s = a->prompt_ms / 1e3, gen_s = a->gen_ms / 1e3;
        llamac_model_info info;
        llamac_model_get_info(r->s.model, &info);
        json_t *doc = json_pack(
            "{s:s, s:s, s:o?, s:s, s:{s:i, s:i, s:i}, s:{s:f, s:f, s:f, s:f, s:f}}", "model",
            info.name[0] ? info.name : r->o->so.co.model, "chat_format",
            llamac_chat_format_name(llamac_session_format(r->s.sess)), "message", msg, "finish_reason",
            calls ? "tool_calls" : reasons[end], "usage", "prompt_tokens", n_prompt, "completion_tokens", n_gen,
            "total_tokens", n_prompt + n_gen, "timings", "prompt_s", prompt_s, "prompt_tokens_per_s",
            prompt_s > 0 ? n_prompt / prompt_s : 0.0, "generation_s", gen_s, "generation_tokens_per_s",
            gen_s > 0 ? n_gen / gen_s : 0.0, "time_to_first_token_s", a->ttft_ms / 1e3);
        if (doc) {
            json_dumpf(doc, stdout, JSON_INDENT(2) | JSON_ENSURE_ASCII);
            printf("\n");
        }
        json_decref(doc);
    } else {
        if (calls)
            printf("[tool call] %s", calls);
        printf("\n");
        if (end == CHAT_END_CONTEXT)
            fprintf(stderr, "llamac: the context is full: the answer was cut (use --ctx)\n");
    }
    free(calls);
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
