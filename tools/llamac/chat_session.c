/*
 * chat_session.c — see chat_session.h: model loading, conversation set-up, streaming an answer from the library
 * session with Ctrl-C, prefill progress and --trace-tokens, /save and /load.
 */
#include "chat_session.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
static int fail(chat_session *s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(s->err, sizeof s->err, fmt, ap);
    va_end(ap);
    return 1;
}

/* ---- open / close ---- */
int chat_session_open(chat_session *s, const chat_session_opts *o, volatile sig_atomic_t *interrupt)
{
    memset(s, 0, sizeof *s);
    s->interrupt = interrupt;
    s->gp = llamac_gen_default_params();
    s->gp.sampling = o->sp;
    s->gp.max_tokens = o->n_predict;
    if (!(s->model = cli_load_model(&o->co)))
        return 1;
    if (!llamac_model_tokenizer(s->model))
        return cli_error("%s has no vocabulary (tokenizer.ggml.* metadata): chat needs one", o->co.model);

    llamac_chat_format fmt;
    if (o->chat_format) {
        fmt = llamac_chat_format_parse(o->chat_format);
        if (fmt == LLAMAC_CHAT_UNKNOWN)
            return cli_error("--chat-format: '%s' is not one of 3.0, 3.1, 3.2, 3.3", o->chat_format);
    } else {
        llamac_chat_detection det;
        llamac_chat_detect(llamac_model_gguf(s->model), &det);
        fmt = det.format;
        if (fmt == LLAMAC_CHAT_UNKNOWN) {
            fmt = det.fallback;
            if (!o->quiet)
                fprintf(stderr, "llamac: warning: %s; formatting the conversation as %s (use --chat-format to choose)\n",
                        det.message, llamac_chat_format_name(fmt));
        }
    }
    char err[600];
    llamac_context_params cp = llamac_context_default_params();
    cp.n_ctx = cli_ctx_size(&o->co, s->model);
    cp.n_threads = o->co.n_threads;
    cp.kv_type = o->co.kv_type;
    cp.n_batch = 512;
    if (llamac_context_create(s->model, &cp, &s->ctx, err, sizeof err) != LLAMAC_OK)
        return cli_error("%s", err);
    llamac_session_params sp = llamac_session_default_params();
    sp.format = fmt;
    sp.date = o->date;
    if (llamac_session_create(s->ctx, &sp, &s->sess, err, sizeof err) != LLAMAC_OK)
        return cli_error("%s", err);
    s->chat = llamac_session_chat(s->sess);
    llamac_model_info info;
    llamac_model_get_info(s->model, &info);
    llamac_sampler *check;
    if (cli_sampler_create(&s->gp.sampling, info.n_vocab, &check))
        return 1;
    llamac_sampler_free(check);
    if (o->trace_path && llamac_log_open(o->trace_path, &s->trace, err, sizeof err) != LLAMAC_OK)
        return cli_error("--trace-tokens: %s", err);
    return 0;
}

void chat_session_close(chat_session *s)
{
    if (s->trace)
        fclose(s->trace);
    llamac_session_free(s->sess);
    llamac_context_free(s->ctx);
    llamac_model_free(s->model);
    memset(s, 0, sizeof *s);
}

/* ---- conversation ---- */
int chat_session_reset(chat_session *s, const char *system, const char *tools_json)
{
    char *tools = NULL;
    if (tools_json) {
        json_error_t je;
        json_t *t = json_loads(tools_json, 0, &je);
        if (!t)
            return fail(s, "tools: invalid JSON at line %d: %s", je.line, je.text);
        json_t *arr = json_is_object(t) && json_object_get(t, "tools") ? json_object_get(t, "tools") : t;
        if (!json_is_array(arr)) {
            json_decref(t);
            return fail(s, "tools: expected a JSON array of tool definitions (or an object with \"tools\")");
        }
        tools = json_dumps(arr, JSON_COMPACT);
        json_decref(t);
        if (!tools)
            return fail(s, "out of memory");
    }
    llamac_status st = llamac_chat_set_tools_json(s->chat, tools, tools ? strlen(tools) : 0);
    free(tools);
    if (st)
        return fail(s, "tools: %s", llamac_chat_error(s->chat));
    llamac_chat_truncate(s->chat, 0);
    if (system && *system && llamac_chat_add_message(s->chat, "system", system))
        return fail(s, "system prompt: %s", llamac_chat_error(s->chat));
    return 0;
}

int chat_session_add(chat_session *s, const char *role, const char *content)
{
    if (llamac_chat_add_message(s->chat, role, content))
        return fail(s, "%s", llamac_chat_error(s->chat));
    return 0;
}

int chat_session_add_json(chat_session *s, const char *json)
{
    if (llamac_chat_add_message_json(s->chat, json, strlen(json)))
        return fail(s, "%s", llamac_chat_error(s->chat));
    return 0;
}

llamac_status chat_session_begin(chat_session *s)
{
    llamac_status st = llamac_session_begin(s->sess, &s->gp);
    if (st)
        fail(s, "%s", llamac_session_error(s->sess));
    return st;
}

/* ---- answering ---- */
static void trace_ids(chat_session *s, const char *what, const int32_t *ids, size_t n)
{
    if (!s->trace)
        return;
    fprintf(s->trace, "{\"%s\":[", what);
    for (size_t i = 0; i < n; i++)
        fprintf(s->trace, "%s%d", i ? "," : "", ids[i]);
    fprintf(s->trace, "]}\n");
    fflush(s->trace);
}

/* Ctrl-C stops a long decode; a prompt that takes a while gets a progress line. */
static int on_progress(void *user, int64_t done, int64_t total)
{
    chat_session *s = user;
    if (s->interrupt && *s->interrupt)
        return 1;
    llamac_model_info info;
    llamac_model_get_info(s->model, &info);
    if (s->show_progress && total > info.n_layer && now_s() - s->t_run > 0.5) {
        fprintf(stderr, "\r[prompt %3d%%]", (int)(100 * done / total));
        s->drawn = 1;
    }
    return 0;
}

static void clear_progress(chat_session *s)
{
    if (s->drawn)
        fprintf(stderr, "\r              \r");
    s->drawn = 0;
}

typedef struct stream {
    chat_session *s;
    chat_text_fn on_text;
    void *user;
    llamac_tokens gen; /* sampled ids, for --trace-tokens */
} stream;

static int on_event(void *user, const llamac_session_event *ev)
{
    stream *st = user;
    clear_progress(st->s);
    if (ev->token >= 0 && st->s->trace)
        llamac_tokens_push(&st->gen, ev->token);
    if (ev->len && st->on_text)
        st->on_text(st->user, ev->text, ev->len);
    return st->s->interrupt && *st->s->interrupt;
}

int chat_session_gen_tokens(const chat_session *s)
{
    const llamac_answer *a = llamac_session_answer(s->sess);
    /* a stop token ended the answer: it is counted by the library, not shown here */
    int stop = a->finish == LLAMAC_FINISH_STOP || a->finish == LLAMAC_FINISH_TOOL_CALLS;
    return (int)a->completion_tokens - (stop && a->completion_tokens > 0);
}

/* Runs the begun answer (or prefill) with progress and Ctrl-C; traces what was decoded and generated. */
static llamac_status run(chat_session *s, chat_text_fn on_text, void *user)
{
    int64_t n_prompt = 0;
    const int32_t *prompt = llamac_session_prompt(s->sess, &n_prompt);
    stream st = {s, on_text, user, {0}};
    s->t_run = now_s();
    s->drawn = 0;
    llamac_context_set_progress(s->ctx, on_progress, s);
    llamac_status rc = llamac_session_run(s->sess, on_event, &st);
    llamac_context_set_progress(s->ctx, NULL, NULL);
    clear_progress(s);
    const llamac_answer *a = llamac_session_answer(s->sess);
    const int prefilled = a->completion_tokens > 0 || a->finish == LLAMAC_FINISH_STOP ||
                          a->finish == LLAMAC_FINISH_LENGTH || a->finish == LLAMAC_FINISH_CONTEXT ||
                          a->finish == LLAMAC_FINISH_TOOL_CALLS;
    if (prefilled)
        trace_ids(s, "prefill", prompt, (size_t)n_prompt);
    int n_gen = chat_session_gen_tokens(s);
    if (n_gen > 0 && (size_t)n_gen <= st.gen.n)
        trace_ids(s, "generated", st.gen.ids, (size_t)n_gen);
    llamac_tokens_free(&st.gen);
    if (rc && rc != LLAMAC_E_CANCELLED)
        fail(s, "%s", llamac_session_error(s->sess));
    return rc;
}

chat_end chat_session_generate(chat_session *s, chat_text_fn on_text, void *user)
{
    llamac_status rc = run(s, on_text, user);
    const llamac_answer *a = llamac_session_answer(s->sess);
    if (rc == LLAMAC_E_CANCELLED || a->finish == LLAMAC_FINISH_CANCELLED)
        return a->completion_tokens > 0 ? CHAT_END_INTERRUPT : CHAT_END_PREFILL_INTERRUPT;
    if (rc || a->finish == LLAMAC_FINISH_ERROR)
        return CHAT_END_ERROR;
    switch (a->finish) {
    case LLAMAC_FINISH_LENGTH: return CHAT_END_LIMIT;
    case LLAMAC_FINISH_CONTEXT: return CHAT_END_CONTEXT;
    default: return CHAT_END_STOP;
    }
}

char *chat_session_tool_calls(chat_session *s)
{
    const llamac_answer *a = llamac_session_answer(s->sess);
    if (a->finish != LLAMAC_FINISH_TOOL_CALLS)
        return NULL;
    llamac_tool_calls calls;
    if (llamac_chat_parse_tool_calls(llamac_session_format(s->sess), a->raw, a->raw_len, &calls, NULL, 0))
        return NULL;
    return calls.json;
}

/* ---- save / load ---- */
int chat_session_save(chat_session *s, const char *path)
{
    char *text = NULL;
    if (llamac_chat_dump_json(s->chat, &text))
        return fail(s, "out of memory");
    json_t *doc = json_loads(text, 0, NULL); /* re-dumped indented, for people reading the file */
    free(text);
    text = doc ? json_dumps(doc, JSON_INDENT(2)) : NULL;
    json_decref(doc);
    if (!text)
        return fail(s, "out of memory");
    char err[600];
    llamac_output *out = NULL;
    llamac_status st = llamac_output_open(path, &out, err, sizeof err);
    if (!st && fputs(text, llamac_output_stream(out)) < 0) {
        llamac_output_abort(out);
        st = LLAMAC_E_IO;
        snprintf(err, sizeof err, "cannot write '%s'", path);
    } else if (!st) {
        st = llamac_output_commit(out, err, sizeof err);
    }
    free(text);
    return st ? fail(s, "%s", err) : 0;
}

int chat_session_load(chat_session *s, const char *path)
{
    char *text = NULL, err[600];
    size_t len = 0;
    if (llamac_read_file(path, CLI_FILE_MAX, &text, &len, err, sizeof err))
        return fail(s, "%s", err);
    llamac_status st = llamac_chat_load_json(s->chat, text, len);
    free(text);
    if (st)
        return fail(s, "%s: %s", path, llamac_chat_error(s->chat));
    st = llamac_session_begin_prefill(s->sess);
    if (!st)
        st = run(s, NULL, NULL);
    if (st == LLAMAC_E_CANCELLED)
        return fail(s, "interrupted: the conversation is loaded but not prefilled (it will be with the next message)");
    if (st == LLAMAC_E_CONTEXT_FULL)
        return fail(s, "loaded, but %s: the oldest turns will be dropped with the next message",
                    llamac_session_error(s->sess));
    if (st)
        return fail(s, "%s", llamac_session_error(s->sess));
    return 0;
}
