/*
 * chat_session.c — see chat_session.h: a conversation, its KV cache, prefill of only the new tokens, and the
 * streaming generation loop with stop tokens, interruption and tool-call detection.
 */
#include "chat_session.h"

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

int chat_session_used(const chat_session *s)
{
    return (int)s->cache.n;
}

int chat_session_capacity(const chat_session *s)
{
    return llamac_context_n_ctx(s->ctx);
}

/* ---- open / close ---- */
int chat_session_open(chat_session *s, const chat_session_opts *o, volatile sig_atomic_t *interrupt)
{
    memset(s, 0, sizeof *s);
    s->pending = -1;
    s->interrupt = interrupt;
    s->sp = o->sp;
    s->n_predict = o->n_predict;
    s->n_batch = 512;
    if (!(s->model = cli_load_model(&o->co)))
        return 1;
    s->tok = llamac_model_tokenizer(s->model);
    if (!s->tok)
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
    s->cparams = llamac_chat_default_params(fmt);
    s->cparams.date = o->date;

    char err[600];
    llamac_context_params cp = llamac_context_default_params();
    cp.n_ctx = cli_ctx_size(&o->co, s->model);
    cp.n_threads = o->co.n_threads;
    cp.kv_type = o->co.kv_type;
    cp.n_batch = s->n_batch;
    if (llamac_context_create(s->model, &cp, &s->ctx, err, sizeof err) != LLAMAC_OK)
        return cli_error("%s", err);
    llamac_model_info info;
    llamac_model_get_info(s->model, &info);
    if (cli_sampler_create(&s->sp, info.n_vocab, &s->smp))
        return 1;
    if (llamac_chat_create(&s->chat) != LLAMAC_OK || !(s->log = json_array()))
        return cli_error("out of memory");
    if (o->trace_path && !(s->trace = fopen(o->trace_path, "w")))
        return cli_error("cannot write --trace-tokens file '%s'", o->trace_path);
    return 0;
}

void chat_session_close(chat_session *s)
{
    if (s->trace)
        fclose(s->trace);
    json_decref(s->log);
    json_decref(s->tools);
    llamac_chat_free(s->chat);
    llamac_tokens_free(&s->cache);
    llamac_sampler_free(s->smp);
    llamac_context_free(s->ctx);
    llamac_model_free(s->model);
    memset(s, 0, sizeof *s);
}

/* ---- conversation ---- */
static void forget_cache(chat_session *s)
{
    llamac_seq_truncate(s->ctx, 0, 0);
    s->cache.n = 0;
    s->pending = -1;
    s->n_rendered = 0;
    llamac_sampler_reset(s->smp);
}

/* Rebuilds s->chat from s->log and s->tools. */
static int rebuild_chat(chat_session *s)
{
    llamac_chat *c;
    if (llamac_chat_create(&c) != LLAMAC_OK)
        return fail(s, "out of memory");
    if (s->tools) {
        char *tj = json_dumps(s->tools, JSON_COMPACT);
        llamac_status st = tj ? llamac_chat_set_tools_json(c, tj, strlen(tj)) : LLAMAC_E_NOMEM;
        free(tj);
        if (st) {
            fail(s, "tools: %s", llamac_chat_error(c));
            llamac_chat_free(c);
            return 1;
        }
    }
    size_t i;
    json_t *m;
    json_array_foreach(s->log, i, m) {
        char *mj = json_dumps(m, JSON_COMPACT);
        llamac_status st = mj ? llamac_chat_add_message_json(c, mj, strlen(mj)) : LLAMAC_E_NOMEM;
        free(mj);
        if (st) {
            fail(s, "message %zu: %s", i, llamac_chat_error(c));
            llamac_chat_free(c);
            return 1;
        }
    }
    llamac_chat_free(s->chat);
    s->chat = c;
    return 0;
}

int chat_session_reset(chat_session *s, const char *system, const char *tools_json)
{
    json_t *tools = NULL;
    if (tools_json) {
        json_error_t je;
        tools = json_loads(tools_json, 0, &je);
        if (!tools)
            return fail(s, "tools: invalid JSON at line %d: %s", je.line, je.text);
        if (json_is_object(tools) && json_object_get(tools, "tools")) {
            json_t *inner = json_incref(json_object_get(tools, "tools"));
            json_decref(tools);
            tools = inner;
        }
        if (!json_is_array(tools)) {
            json_decref(tools);
            return fail(s, "tools: expected a JSON array of tool definitions (or an object with \"tools\")");
        }
    }
    json_t *log = json_array();
    if (system && *system)
        json_array_append_new(log, json_pack("{s:s, s:s}", "role", "system", "content", system));
    json_t *old_log = s->log, *old_tools = s->tools;
    s->log = log;
    s->tools = tools;
    if (rebuild_chat(s)) {
        json_decref(log);
        json_decref(tools);
        s->log = old_log;
        s->tools = old_tools;
        return 1;
    }
    json_decref(old_log);
    json_decref(old_tools);
    forget_cache(s);
    return 0;
}

int chat_session_add_json(chat_session *s, json_t *msg)
{
    char *mj = json_dumps(msg, JSON_COMPACT);
    llamac_status st = mj ? llamac_chat_add_message_json(s->chat, mj, strlen(mj)) : LLAMAC_E_NOMEM;
    free(mj);
    if (st) {
        json_decref(msg);
        return fail(s, "%s", llamac_chat_error(s->chat));
    }
    json_array_append_new(s->log, msg);
    return 0;
}

int chat_session_add(chat_session *s, const char *role, const char *content)
{
    json_t *m = json_pack("{s:s, s:s}", "role", role, "content", content);
    if (!m)
        return fail(s, "message is not valid UTF-8");
    return chat_session_add_json(s, m);
}

/* ---- prefill ---- */
typedef struct progress_state {
    chat_session *s;
    double t0;
    int drawn;
} progress_state;

static int on_progress(void *user, int64_t done, int64_t total)
{
    progress_state *p = user;
    if (p->s->interrupt && *p->s->interrupt)
        return 1;
    if (p->s->show_progress && total > 0 && now_s() - p->t0 > 0.5) {
        fprintf(stderr, "\r[prompt %3d%%]", (int)(100 * done / total));
        p->drawn = 1;
    }
    return 0;
}

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

/* Decodes ids (appending them to the cache); on failure the cache and KV are as before. */
static llamac_status feed(chat_session *s, const int32_t *ids, size_t n, int is_prompt)
{
    size_t base = s->cache.n;
    progress_state ps = {s, now_s(), 0};
    llamac_context_set_progress(s->ctx, is_prompt ? on_progress : NULL, &ps);
    llamac_status st = LLAMAC_OK;
    for (size_t off = 0; off < n && !st; off += (size_t)s->n_batch) {
        size_t nb = n - off < (size_t)s->n_batch ? n - off : (size_t)s->n_batch;
        llamac_batch b = {.n_tokens = (int32_t)nb, .tokens = ids + off};
        st = llamac_decode(s->ctx, &b);
        s->last_nb = st ? 0 : (int)nb;
        if (!st)
            for (size_t i = 0; i < nb && !st; i++)
                st = llamac_tokens_push(&s->cache, ids[off + i]);
    }
    llamac_context_set_progress(s->ctx, NULL, NULL);
    if (ps.drawn)
        fprintf(stderr, "\r              \r");
    if (st) {
        if (st != LLAMAC_E_CANCELLED)
            fail(s, "%s", llamac_context_error(s->ctx)[0] ? llamac_context_error(s->ctx) : llamac_status_str(st));
        llamac_seq_truncate(s->ctx, 0, (int)base);
        s->cache.n = base;
        return st;
    }
    if (is_prompt)
        trace_ids(s, "prefill", ids, n);
    for (size_t i = 0; i < n; i++)
        llamac_sampler_accept(s->smp, ids[i]);
    return LLAMAC_OK;
}

static llamac_status prefill(chat_session *s, int generation_prompt)
{
    int n_msg = llamac_chat_n_messages(s->chat);
    llamac_chat_params cp = s->cparams;
    cp.add_generation_prompt = generation_prompt;
    if (s->n_rendered >= n_msg && !generation_prompt && s->pending < 0)
        return LLAMAC_OK;
    llamac_chat_prompt *p = NULL;
    if (llamac_chat_render(s->chat, &cp, s->n_rendered, &p) != LLAMAC_OK) {
        fail(s, "%s", llamac_chat_error(s->chat));
        return LLAMAC_E_INVALID_ARG;
    }
    llamac_tokens ids = {0};
    llamac_status st = LLAMAC_OK;
    if (s->pending >= 0)
        st = llamac_tokens_push(&ids, s->pending);
    char err[400];
    if (!st && (st = llamac_chat_prompt_tokens(p, s->tok, &ids, err, sizeof err)) != LLAMAC_OK)
        fail(s, "%s", err);
    llamac_chat_prompt_free(p);
    if (!st && s->cache.n + ids.n + 1 > (size_t)chat_session_capacity(s)) {
        snprintf(s->err, sizeof s->err, "the conversation needs %zu tokens but the context holds %d",
                 s->cache.n + ids.n + 1, chat_session_capacity(s));
        st = LLAMAC_E_CONTEXT_FULL;
    }
    if (!st) {
        double t0 = now_s();
        st = feed(s, ids.ids, ids.n, 1);
        if (!st) {
            s->st.prompt_tokens = (int)ids.n;
            s->st.prompt_s = now_s() - t0;
            s->st.total_prompt += (long)ids.n;
            s->n_rendered = n_msg;
            s->pending = -1;
        }
    }
    llamac_tokens_free(&ids);
    return st;
}

llamac_status chat_session_prefill(chat_session *s)
{
    return prefill(s, 1);
}

/* ---- generation ---- */

/* Converts parsed calls [{"name","arguments"}] into an OpenAI assistant message with tool_calls. */
static json_t *tool_call_message(const char *calls_json)
{
    json_t *calls = json_loads(calls_json, 0, NULL);
    if (!json_is_array(calls)) {
        json_decref(calls);
        return NULL;
    }
    json_t *tc = json_array();
    size_t i;
    json_t *c;
    json_array_foreach(calls, i, c) {
        json_t *fn = json_pack("{s:O, s:O}", "name", json_object_get(c, "name"), "arguments",
                               json_object_get(c, "arguments"));
        if (!fn)
            continue;
        char id[32];
        snprintf(id, sizeof id, "call_%zu", i);
        json_array_append_new(tc, json_pack("{s:s, s:s, s:o}", "id", id, "type", "function", "function", fn));
    }
    json_decref(calls);
    return json_pack("{s:s, s:o}", "role", "assistant", "tool_calls", tc);
}

chat_end chat_session_generate(chat_session *s, chat_text_fn on_text, void *user, llamac_text *answer,
                               llamac_tool_calls *calls)
{
    memset(calls, 0, sizeof *calls);
    llamac_tokens gen = {0};
    llamac_detokenizer *dt = NULL;
    chat_end end = CHAT_END_ERROR;
    const int32_t eot = llamac_token_eot(s->tok) >= 0 ? llamac_token_eot(s->tok) : llamac_token_eos(s->tok);
    const int32_t python_tag = llamac_token_special(s->tok, "<|python_tag|>");
    int quiet_call = 0; /* the answer opened with <|python_tag|>: show the parsed call instead of raw text */
    if (llamac_detokenizer_create(s->tok, LLAMAC_DECODE_SKIP_SPECIAL, &dt) != LLAMAC_OK) {
        fail(s, "out of memory");
        return CHAT_END_ERROR;
    }
    double t0 = now_s(), t_first = 0;
    const float *logits = s->last_nb > 0 ? llamac_get_logits(s->ctx, s->last_nb - 1) : NULL;
    if (!logits) {
        fail(s, "no logits to sample from (nothing was prefilled)");
        goto out;
    }
    for (;;) {
        if (s->interrupt && *s->interrupt) {
            end = CHAT_END_INTERRUPT;
            s->pending = eot;
            break;
        }
        if (s->n_predict >= 0 && (int)gen.n >= s->n_predict) {
            end = CHAT_END_LIMIT;
            s->pending = eot;
            break;
        }
        if (s->cache.n + 2 > (size_t)chat_session_capacity(s)) {
            end = CHAT_END_CONTEXT;
            s->pending = eot;
            break;
        }
        int32_t t = llamac_sampler_sample(s->smp, logits);
        if (!t_first)
            t_first = now_s();
        if (llamac_token_is_stop(s->tok, t)) {
            end = CHAT_END_STOP;
            s->pending = t;
            break;
        }
        if (gen.n == 0 && t == python_tag)
            quiet_call = 1;
        const char *txt;
        size_t len;
        if (llamac_detokenizer_push(dt, t, &txt, &len) != LLAMAC_OK) {
            fail(s, "the model produced token %d, outside its vocabulary", t);
            goto out;
        }
        if (len && on_text && !quiet_call)
            on_text(user, txt, len);
        llamac_tokens_push(&gen, t);
        if (feed(s, &t, 1, 0) != LLAMAC_OK)
            goto out;
        logits = llamac_get_logits(s->ctx, 0);
    }
    {
        const char *txt;
        size_t len;
        llamac_detokenizer_flush(dt, &txt, &len);
        if (len && on_text && !quiet_call)
            on_text(user, txt, len);
    }
    double t_end = now_s();
    s->st.gen_tokens = (int)gen.n;
    s->st.gen_s = t_first ? t_end - t_first : 0;
    s->st.ttft_s = t_first ? t_first - t0 + s->st.prompt_s : 0;
    s->st.total_gen += (long)gen.n;
    if (s->trace && gen.n)
        trace_ids(s, "generated", gen.ids, gen.n);

    /* the answer with special tokens as text (for tool-call parsing), and the plain content */
    llamac_detokenize(s->tok, gen.ids, gen.n, 0, answer);
    if (answer->data == NULL)
        llamac_detokenize(s->tok, NULL, 0, 0, answer);
    json_t *msg = NULL;
    char perr[300] = "";
    if (s->cparams.format != LLAMAC_CHAT_LLAMA3_0 &&
        llamac_chat_parse_tool_calls(s->cparams.format, answer->data ? answer->data : "", answer->n, calls, perr,
                                     sizeof perr) == LLAMAC_OK &&
        calls->n_calls > 0)
        msg = tool_call_message(calls->json);
    if (!msg) {
        llamac_text plain = {0};
        llamac_detokenize(s->tok, gen.ids, gen.n, LLAMAC_DECODE_SKIP_SPECIAL | LLAMAC_DECODE_REPLACE_INVALID, &plain);
        msg = json_pack("{s:s, s:s#}", "role", "assistant", "content", plain.data ? plain.data : "", plain.data ? plain.n : 0);
        llamac_text_free(&plain);
    }
    if (msg) {
        char *mj = json_dumps(msg, JSON_COMPACT);
        if (mj && llamac_chat_add_message_json(s->chat, mj, strlen(mj)) == LLAMAC_OK) {
            json_array_append(s->log, msg);
            s->n_rendered = llamac_chat_n_messages(s->chat);
        }
        free(mj);
        json_decref(msg);
    }
    if (end == CHAT_END_ERROR)
        end = CHAT_END_STOP;
out:
    llamac_detokenizer_free(dt);
    llamac_tokens_free(&gen);
    return end;
}

/* ---- context full ---- */
static const char *role_of(json_t *msg)
{
    const char *r = json_string_value(json_object_get(msg, "role"));
    return r ? r : "";
}

static int rendered_length(chat_session *s, int *n_tokens)
{
    llamac_chat_prompt *p = NULL;
    llamac_chat_params cp = s->cparams;
    if (llamac_chat_render(s->chat, &cp, 0, &p) != LLAMAC_OK)
        return fail(s, "%s", llamac_chat_error(s->chat));
    llamac_tokens ids = {0};
    char err[300];
    llamac_status st = llamac_chat_prompt_tokens(p, s->tok, &ids, err, sizeof err);
    llamac_chat_prompt_free(p);
    *n_tokens = (int)ids.n;
    llamac_tokens_free(&ids);
    return st ? fail(s, "%s", err) : 0;
}

int chat_session_drop_oldest(chat_session *s, int reserve)
{
    size_t n = json_array_size(s->log);
    size_t first = 0;
    json_t *m0 = json_array_get(s->log, 0);
    if (m0 && !strcmp(role_of(m0), "system"))
        first = 1;
    int dropped = 0, len = 0;
    for (;;) {
        if (rendered_length(s, &len))
            return -1;
        if (len + reserve <= chat_session_capacity(s))
            break;
        /* the turn at `first`: a user message and everything up to the next user message; never the last
         * message (the one being asked) */
        n = json_array_size(s->log);
        size_t end = first + 1;
        while (end < n && strcmp(role_of(json_array_get(s->log, end)), "user"))
            end++;
        if (end >= n)
            break;
        for (size_t k = first; k < end; k++) {
            json_array_remove(s->log, first);
            dropped++;
        }
        if (rebuild_chat(s))
            return -1;
    }
    if (len + reserve > chat_session_capacity(s))
        return dropped ? dropped : 0;
    if (dropped)
        forget_cache(s);
    return dropped;
}

/* ---- save / load ---- */
int chat_session_save(chat_session *s, const char *path)
{
    json_t *doc = json_pack("{s:O}", "messages", s->log);
    if (s->tools)
        json_object_set(doc, "tools", s->tools);
    size_t tl = strlen(path) + 32;
    char *tmp = malloc(tl);
    if (!doc || !tmp) {
        json_decref(doc);
        free(tmp);
        return fail(s, "out of memory");
    }
    snprintf(tmp, tl, "%s.tmp.%ld", path, (long)getpid());
    int rc = json_dump_file(doc, tmp, JSON_INDENT(2)) == 0 && rename(tmp, path) == 0 ? 0 : 1;
    if (rc) {
        unlink(tmp);
        fail(s, "cannot write '%s'", path);
    }
    free(tmp);
    json_decref(doc);
    return rc;
}

int chat_session_load(chat_session *s, const char *path)
{
    json_error_t je;
    json_t *doc = json_load_file(path, 0, &je);
    if (!doc)
        return fail(s, "%s: %s (line %d)", path, je.text, je.line);
    json_t *msgs = json_object_get(doc, "messages");
    if (!json_is_array(msgs)) {
        json_decref(doc);
        return fail(s, "%s: expected an object with a \"messages\" array", path);
    }
    json_t *tools = json_object_get(doc, "tools");
    json_t *old_log = s->log, *old_tools = s->tools;
    s->log = json_incref(msgs);
    s->tools = json_is_array(tools) ? json_incref(tools) : NULL;
    json_decref(doc);
    if (rebuild_chat(s)) {
        char why[sizeof s->err];
        snprintf(why, sizeof why, "%s", s->err);
        json_decref(s->log);
        json_decref(s->tools);
        s->log = old_log;
        s->tools = old_tools;
        return fail(s, "%s: %s", path, why);
    }
    json_decref(old_log);
    json_decref(old_tools);
    forget_cache(s);
    llamac_status st = prefill(s, 0);
    if (st == LLAMAC_E_CANCELLED)
        return fail(s, "interrupted: the conversation is loaded but not prefilled (it will be with the next message)");
    if (st == LLAMAC_E_CONTEXT_FULL) {
        char why[sizeof s->err];
        snprintf(why, sizeof why, "%s", s->err);
        return fail(s, "loaded, but %s: the oldest turns will be dropped with the next message", why);
    }
    return st ? 1 : 0;
}
