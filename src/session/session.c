/*
 * session.c — a generation session's lifecycle, its begin, and dropping old turns.
 *
 * begin builds the target: the tokens the sequence must hold before the answer's first token is sampled.
 *   chat:   (cache ++ tail)[0..msg_start[d]) ++ render(messages d..n-1, generation prompt) ++ forced opening,
 *           where d is the first message that is not in the cache unchanged: the chat's own mark of the lowest
 *           message changed since the last begin (truncate, remove, add, tools, load), capped by n_synced, or 0
 *           when the tools are shown differently (tool_choice NONE renders without them);
 *   raw:    the caller's tokens (llamac_session_begin_tokens);
 *   prefill only: the chat target without generation prompt (llamac_session_begin_prefill).
 * Then the longest common prefix of the cache and the target is kept (at least the target's last token is left
 * to decode, for its logits), the prefix cache may extend it (llamac_seq_restore_prefix), and the rest is the
 * prompt to decode. Nothing is changed when begin fails.
 */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "chat/chat_internal.h"
#include "session/session_internal.h"
#include "tok/unicode.h"

llamac_session_params llamac_session_default_params(void)
{
    llamac_session_params p = {.seq = 0, .format = LLAMAC_CHAT_UNKNOWN, .date = NULL};
    return p;
}

llamac_gen_params llamac_gen_default_params(void)
{
    llamac_gen_params p;
    memset(&p, 0, sizeof p);
    p.sampling = llamac_sampler_default_params();
    p.max_tokens = -1;
    p.tool_choice = LLAMAC_TOOL_CHOICE_AUTO;
    p.parse_tool_calls = 1;
    return p;
}

const char *llamac_finish_name(llamac_finish f)
{
    switch (f) {
    case LLAMAC_FINISH_STOP: return "stop";
    case LLAMAC_FINISH_LENGTH: return "length";
    case LLAMAC_FINISH_CONTEXT: return "length";
    case LLAMAC_FINISH_TOOL_CALLS: return "tool_calls";
    case LLAMAC_FINISH_CANCELLED: return "cancelled";
    case LLAMAC_FINISH_ERROR: return "error";
    case LLAMAC_FINISH_NONE: break;
    }
    return "none";
}

static int is_llama3(llamac_chat_format f)
{
    return f == LLAMAC_CHAT_LLAMA3_0 || f == LLAMAC_CHAT_LLAMA3_1 || f == LLAMAC_CHAT_LLAMA3_2 ||
           f == LLAMAC_CHAT_LLAMA3_3;
}

static llamac_status grow_msg(llamac_session *s, int n)
{
    if (n < s->cap_msg)
        return LLAMAC_OK;
    int cap = s->cap_msg ? s->cap_msg : 16;
    while (cap <= n)
        cap *= 2;
    int *p = realloc(s->msg_start, (size_t)cap * sizeof *p);
    if (!p)
        return LLAMAC_E_NOMEM;
    s->msg_start = p;
    s->cap_msg = cap;
    return LLAMAC_OK;
}

llamac_status llamac_session_create(llamac_context *ctx, const llamac_session_params *params, llamac_session **out,
                                    char *err, size_t err_size)
{
    lc_err e = {{0}};
    llamac_status st = LLAMAC_OK;
    if (out)
        *out = NULL;
    llamac_session_params p = params ? *params : llamac_session_default_params();
    if (!ctx || !out)
        st = lc_fail(&e, LLAMAC_E_INVALID_ARG, "llamac_session_create: ctx and out are required");
    else if (p.seq < 0 || p.seq >= llamac_context_n_seq(ctx))
        st = lc_fail(&e, LLAMAC_E_INVALID_ARG, "session: sequence %d is not in 0..%d", p.seq,
                     llamac_context_n_seq(ctx) - 1);
    else if (p.format != LLAMAC_CHAT_UNKNOWN && !is_llama3(p.format))
        st = lc_fail(&e, LLAMAC_E_INVALID_ARG, "session: %d is not a Llama 3 chat format", (int)p.format);
    llamac_session *s = NULL;
    if (!st && !(s = calloc(1, sizeof *s)))
        st = lc_fail(&e, LLAMAC_E_NOMEM, "out of memory");
    if (!st) {
        const llamac_model *m = llamac_context_model(ctx);
        llamac_model_info info;
        llamac_model_get_info(m, &info);
        s->ctx = ctx;
        s->seq = p.seq;
        s->n_vocab = info.n_vocab;
        s->n_ctx = llamac_context_n_ctx(ctx);
        s->tok = llamac_model_tokenizer(m);
        s->format = p.format;
        if (!is_llama3(s->format)) {
            llamac_chat_detection det;
            llamac_chat_detect(llamac_model_gguf(m), &det);
            s->format = is_llama3(det.format) ? det.format : det.fallback;
        }
        s->close_tok = -1;
        if (s->tok)
            s->close_tok = llamac_token_eot(s->tok) >= 0 ? llamac_token_eot(s->tok) : llamac_token_eos(s->tok);
        s->answer.content = s->answer.raw = "";
        if ((p.date && !(s->date = strdup(p.date))) || llamac_chat_create(&s->chat) || grow_msg(s, 1))
            st = lc_fail(&e, LLAMAC_E_NOMEM, "out of memory");
        else
            s->msg_start[0] = 0;
        if (!st && llamac_batch_buf_init(&s->run_batch, 1))
            st = lc_fail(&e, LLAMAC_E_NOMEM, "out of memory");
        if (!st && llamac_seq_len(ctx, p.seq) > 0) /* the session starts from an empty sequence */
            llamac_seq_truncate(ctx, p.seq, 0);
    }
    if (st) {
        lc_err_copy(&e, err, err_size);
        llamac_session_free(s);
        return st;
    }
    *out = s;
    return LLAMAC_OK;
}

void llamac_session_free(llamac_session *s)
{
    if (!s)
        return;
    lc_text_free(&s->text);
    llamac_tokens_free(&s->cache);
    llamac_tokens_free(&s->tail);
    llamac_tokens_free(&s->prompt);
    llamac_tokens_free(&s->gen);
    llamac_batch_buf_free(&s->run_batch);
    llamac_chat_free(s->chat);
    llamac_sampler_free(s->smp);
    free(s->calls_json);
    free(s->msg_start);
    free(s->date);
    free(s);
}

const char *llamac_session_error(const llamac_session *s)
{
    return s ? s->err.msg : "";
}

llamac_chat *llamac_session_chat(llamac_session *s)
{
    return s ? s->chat : NULL;
}

llamac_chat_format llamac_session_format(const llamac_session *s)
{
    return s ? s->format : LLAMAC_CHAT_UNKNOWN;
}

const llamac_answer *llamac_session_answer(const llamac_session *s)
{
    return s ? &s->answer : NULL;
}

int64_t llamac_session_used(const llamac_session *s)
{
    return s ? (int64_t)s->cache.n : 0;
}

int64_t llamac_session_capacity(const llamac_session *s)
{
    return s ? s->n_ctx : 0;
}

const int32_t *llamac_session_prompt(const llamac_session *s, int64_t *n)
{
    if (n)
        *n = s ? (int64_t)s->prompt.n - s->answer.cached_tokens : 0;
    return s && s->prompt.ids ? s->prompt.ids + s->answer.cached_tokens : NULL;
}

void llamac_session_forget(llamac_session *s)
{
    if (!s)
        return;
    llamac_session_cancel(s);
    llamac_seq_truncate(s->ctx, s->seq, 0);
    s->cache.n = 0;
    s->tail.n = 0;
    s->n_synced = 0;
    s->msg_start[0] = 0;
    if (s->smp)
        llamac_sampler_reset(s->smp);
}

/* ---------------------------------------------------------------------------------------------------------
 * begin
 * ------------------------------------------------------------------------------------------------------- */
static int utf8_ok(const char *s, size_t n)
{
    const uint8_t *u = (const uint8_t *)s;
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        int need, incomplete;
        int l = lc_utf8_decode(u + i, n - i, &cp, &need, &incomplete);
        if (!l)
            return 0;
        i += (size_t)l;
    }
    return 1;
}

static llamac_status check_params(llamac_session *s, const llamac_gen_params *p, int *n_stop)
{
    if (s->state != LC_IDLE)
        return lc_fail(&s->err, LLAMAC_E_INVALID_ARG, "an answer is running (finish or cancel it first)");
    if (!p)
        return lc_fail(&s->err, LLAMAC_E_INVALID_ARG, "begin: NULL parameters");
    if (p->max_tokens < -1)
        return lc_fail(&s->err, LLAMAC_E_INVALID_ARG, "max_tokens %d is not -1 or more", p->max_tokens);
    if (p->n_logprobs < 0 || p->n_logprobs > LLAMAC_MAX_TOP_LOGPROBS + 1)
        return lc_fail(&s->err, LLAMAC_E_INVALID_ARG, "n_logprobs %d is not in 0..%d", p->n_logprobs,
                       LLAMAC_MAX_TOP_LOGPROBS + 1);
    if ((unsigned)p->tool_choice > LLAMAC_TOOL_CHOICE_NAMED)
        return lc_fail(&s->err, LLAMAC_E_INVALID_ARG, "tool_choice %d is not a tool choice", (int)p->tool_choice);
    int n = 0;
    while (n < LLAMAC_MAX_STOP && p->stop[n])
        n++;
    for (int i = 0; i < n; i++) {
        size_t len = strlen(p->stop[i]);
        if (len == 0 || len > LC_MAX_STOP_LEN || !utf8_ok(p->stop[i], len))
            return lc_fail(&s->err, LLAMAC_E_INVALID_ARG,
                           "stop string %d is empty, longer than %d bytes or not valid UTF-8", i, LC_MAX_STOP_LEN);
    }
    if (n && !s->tok)
        return lc_fail(&s->err, LLAMAC_E_INVALID_ARG, "stop strings need a vocabulary, and the model has none");
    *n_stop = n;
    return LLAMAC_OK;
}

/* The chat target (see the file comment). *d is the first re-rendered message; owners[i] is the message of
 * target token known + i. */
static llamac_status chat_target(llamac_session *s, const llamac_gen_params *p, int gen_prompt, llamac_tokens *target,
                                 llamac_tokens *owners, size_t *known, int *d_out, size_t *n_prefix)
{
    const int n = llamac_chat_n_messages(s->chat);
    if (!s->tok)
        return lc_fail(&s->err, LLAMAC_E_INVALID_ARG, "the model has no vocabulary: only raw token prompts work");
    if (n == 0)
        return lc_fail(&s->err, LLAMAC_E_INVALID_ARG, "the conversation has no messages");
    const int without_tools = p->tool_choice == LLAMAC_TOOL_CHOICE_NONE;
    int d = lc_chat_dirty_from(s->chat);
    if (d > s->n_synced)
        d = s->n_synced;
    if (without_tools != s->synced_without_tools)
        d = 0;
    const size_t k = (size_t)s->msg_start[d];
    llamac_status st = LLAMAC_OK;
    for (size_t i = 0; i < k && !st; i++)
        st = llamac_tokens_push(target, i < s->cache.n ? s->cache.ids[i] : s->tail.ids[i - s->cache.n]);
    llamac_chat_params cp = llamac_chat_default_params(s->format);
    cp.date = s->date;
    cp.add_generation_prompt = gen_prompt;
    llamac_chat_prompt *pr = NULL;
    if (!st && lc_chat_render_ex(s->chat, &cp, d, without_tools, &pr))
        return lc_fail(&s->err, LLAMAC_E_INVALID_ARG, "%s", llamac_chat_error(s->chat));
    llamac_tokens rendered = {0};
    char why[sizeof s->err.msg];
    if (!st && (st = lc_chat_prompt_tokens_owned(pr, s->tok, &rendered, owners, why, sizeof why)))
        lc_fail(&s->err, st == LLAMAC_E_NOMEM ? st : LLAMAC_E_INVALID_ARG, "%s", why);
    llamac_chat_prompt_free(pr);
    for (size_t i = 0; i < rendered.n && !st; i++)
        st = llamac_tokens_push(target, rendered.ids[i]);
    llamac_tokens_free(&rendered);
    if (st == LLAMAC_E_TOKENIZER)
        st = LLAMAC_E_INVALID_ARG;
    if (st == LLAMAC_E_NOMEM)
        lc_fail(&s->err, st, "out of memory");
    const size_t n0 = target->n;
    if (!st && gen_prompt)
        st = lc_tool_prefix(s->chat, s->format, s->tok, p->tool_choice, p->tool_name, target, &s->err);
    while (!st && owners->n < target->n - k)
        st = llamac_tokens_push(owners, n); /* the opening belongs to the answer, message n */
    *n_prefix = st ? 0 : target->n - n0;
    *known = k;
    *d_out = d;
    return st;
}

static llamac_status reserve(llamac_tokens *v, size_t n)
{
    size_t n0 = v->n;
    while (v->cap < n)
        if (llamac_tokens_push(v, 0)) {
            v->n = n0;
            return LLAMAC_E_NOMEM;
        }
    v->n = n0;
    return LLAMAC_OK;
}

/* Everything after the checks. Takes target (moved into s->prompt). A context that is too small or bad sampling
 * parameters change nothing; once they are accepted the previous answer's record is cleared, and the cache and
 * the conversation's bookkeeping change only after every allocation has succeeded. */
static llamac_status apply(llamac_session *s, const llamac_gen_params *p, int n_stop, int mode, llamac_tokens *target,
                           const llamac_tokens *owners, size_t known, int d, size_t n_prefix)
{
    const int n = llamac_chat_n_messages(s->chat);
    const int gen = mode != LC_MODE_PREFILL_ONLY;
    const int64_t need = (int64_t)target->n + (gen && p->max_tokens != 0 ? 1 : 0);
    if (need > s->n_ctx)
        return lc_fail(&s->err, LLAMAC_E_CONTEXT_FULL,
                       "the conversation needs %lld tokens%s but the context holds %d", (long long)target->n,
                       gen ? " and one for the answer" : "", s->n_ctx);
    if (target->n == 0)
        return lc_fail(&s->err, LLAMAC_E_INVALID_ARG, "the prompt is empty");
    llamac_sampler *smp = NULL;
    if (llamac_sampler_create(&p->sampling, s->n_vocab, &smp) != LLAMAC_OK)
        return lc_fail(&s->err, LLAMAC_E_INVALID_ARG, "invalid sampling parameters");
    const int builtin = s->chat->n_builtin > 0 && s->format != LLAMAC_CHAT_LLAMA3_2; /* 3.2 has none */
    const int tools = mode == LC_MODE_CHAT && p->parse_tool_calls && s->format != LLAMAC_CHAT_LLAMA3_0 &&
                      p->tool_choice != LLAMAC_TOOL_CHOICE_NONE && (s->chat->tools || builtin);
    /* the previous answer's text goes now: its fields must not point into the new one */
    free(s->calls_json);
    s->calls_json = NULL;
    memset(&s->answer, 0, sizeof s->answer);
    s->answer.content = s->answer.raw = "";
    llamac_status st = lc_text_begin(&s->text, s->tok, p->stop, n_stop, tools);
    /* a forced tool-call opening (the end of the target) is part of the answer's text */
    for (size_t i = target->n - n_prefix; i < target->n && !st; i++)
        st = lc_text_push(&s->text, target->ids[i]);
    if (st || reserve(&s->cache, target->n) || grow_msg(s, n + 1)) {
        llamac_sampler_free(smp);
        return lc_fail(&s->err, LLAMAC_E_NOMEM, "out of memory");
    }
    llamac_sampler_free(s->smp);
    s->smp = smp;

    /* the cache: keep the common prefix (leaving at least one token to decode for logits), then cached blocks */
    if (llamac_seq_len(s->ctx, s->seq) != (int)s->cache.n) { /* someone else changed the sequence */
        if (llamac_seq_len(s->ctx, s->seq) < (int)s->cache.n)
            s->cache.n = (size_t)llamac_seq_len(s->ctx, s->seq);
        llamac_seq_truncate(s->ctx, s->seq, (int)s->cache.n);
    }
    size_t keep = 0, limit = gen ? target->n - 1 : target->n;
    while (keep < s->cache.n && keep < limit && s->cache.ids[keep] == target->ids[keep])
        keep++;
    if (keep < s->cache.n) {
        llamac_seq_truncate(s->ctx, s->seq, (int)keep);
        s->cache.n = keep;
    }
    int restored = llamac_seq_restore_prefix(s->ctx, s->seq, target->ids, (int)target->n);
    while (restored > 0 && (size_t)restored > s->cache.n && s->cache.n < target->n)
        s->cache.ids[s->cache.n] = target->ids[s->cache.n], s->cache.n++;

    /* the conversation's place in the target */
    if (mode == LC_MODE_RAW) {
        s->n_synced = 0;
        s->msg_start[0] = 0;
        s->answer_msg = -1;
    } else {
        size_t i = 0;
        for (int k = d + 1; k <= n; k++) {
            while (i < owners->n && owners->ids[i] < k)
                i++;
            s->msg_start[k] = (int)(known + i);
        }
        s->n_synced = n;
        s->answer_msg = n;
        s->synced_without_tools = p->tool_choice == LLAMAC_TOOL_CHOICE_NONE;
        lc_chat_clear_dirty(s->chat);
    }
    s->tail.n = 0;
    for (size_t i = 0; i < target->n; i++)
        llamac_sampler_accept(s->smp, target->ids[i]);

    llamac_tokens_free(&s->prompt);
    s->prompt = *target;
    memset(target, 0, sizeof *target);
    s->prompt_done = (int64_t)s->cache.n;
    s->mode = mode;
    s->max_tokens = p->max_tokens;
    s->ignore_eos = p->ignore_eos;
    s->n_logprobs = p->n_logprobs;
    s->parse_calls = tools;
    s->gen.n = 0;
    s->n_inflight = 0;
    s->answer.prompt_tokens = (int64_t)s->prompt.n;
    s->answer.cached_tokens = (int64_t)s->cache.n;
    s->t_begin = lc_now_ms();
    s->t_prefill = s->t_first = s->t_last = 0;
    s->err.msg[0] = 0;
    s->state = LC_PREFILL;
    if (s->prompt_done == (int64_t)s->prompt.n) /* prefill only, and everything was cached already */
        return lc_session_finish(s, LLAMAC_FINISH_STOP, NULL);
    return LLAMAC_OK;
}

static llamac_status begin_chat(llamac_session *s, const llamac_gen_params *p, int mode)
{
    int n_stop = 0;
    llamac_status st = check_params(s, p, &n_stop);
    llamac_tokens target = {0}, owners = {0};
    size_t known = 0, n_prefix = 0;
    int d = 0;
    if (!st)
        st = chat_target(s, p, mode != LC_MODE_PREFILL_ONLY, &target, &owners, &known, &d, &n_prefix);
    if (!st)
        st = apply(s, p, n_stop, mode, &target, &owners, known, d, n_prefix);
    llamac_tokens_free(&target);
    llamac_tokens_free(&owners);
    return st;
}

llamac_status llamac_session_begin(llamac_session *s, const llamac_gen_params *params)
{
    if (!s)
        return LLAMAC_E_INVALID_ARG;
    return begin_chat(s, params, LC_MODE_CHAT);
}

llamac_status llamac_session_begin_prefill(llamac_session *s)
{
    if (!s)
        return LLAMAC_E_INVALID_ARG;
    llamac_gen_params p = llamac_gen_default_params();
    p.max_tokens = 0;
    p.tool_choice = s->synced_without_tools ? LLAMAC_TOOL_CHOICE_NONE : LLAMAC_TOOL_CHOICE_AUTO;
    return begin_chat(s, &p, LC_MODE_PREFILL_ONLY);
}

llamac_status llamac_session_begin_tokens(llamac_session *s, const int32_t *prompt, int64_t n,
                                          const llamac_gen_params *params)
{
    if (!s)
        return LLAMAC_E_INVALID_ARG;
    int n_stop = 0;
    llamac_status st = check_params(s, params, &n_stop);
    if (st)
        return st;
    if (n < 1 || !prompt)
        return lc_fail(&s->err, LLAMAC_E_INVALID_ARG, "begin_tokens: the prompt is empty");
    if (params->tool_choice == LLAMAC_TOOL_CHOICE_REQUIRED || params->tool_choice == LLAMAC_TOOL_CHOICE_NAMED)
        return lc_fail(&s->err, LLAMAC_E_INVALID_ARG, "begin_tokens: tool_choice needs a conversation");
    if (n > s->n_ctx)
        return lc_fail(&s->err, LLAMAC_E_CONTEXT_FULL, "the prompt of %lld tokens does not fit in the context of %d",
                       (long long)n, s->n_ctx);
    llamac_tokens target = {0}, owners = {0};
    for (int64_t i = 0; i < n && !st; i++) {
        if (prompt[i] < 0 || prompt[i] >= s->n_vocab)
            st = lc_fail(&s->err, LLAMAC_E_TOKEN, "prompt token %lld: id %d is outside the vocabulary (0..%d)",
                         (long long)i, prompt[i], s->n_vocab - 1);
        else if (llamac_tokens_push(&target, prompt[i]))
            st = lc_fail(&s->err, LLAMAC_E_NOMEM, "out of memory");
    }
    if (!st)
        st = apply(s, params, n_stop, LC_MODE_RAW, &target, &owners, 0, 0, 0);
    llamac_tokens_free(&target);
    return st;
}

/* ---------------------------------------------------------------------------------------------------------
 * context full
 * ------------------------------------------------------------------------------------------------------- */
static int rendered_length(llamac_session *s, int64_t *len)
{
    llamac_chat_params cp = llamac_chat_default_params(s->format);
    cp.date = s->date;
    llamac_chat_prompt *pr = NULL;
    if (lc_chat_render_ex(s->chat, &cp, 0, s->synced_without_tools, &pr)) {
        lc_fail(&s->err, LLAMAC_E_INVALID_ARG, "%s", llamac_chat_error(s->chat));
        return -1;
    }
    llamac_tokens ids = {0};
    char why[sizeof s->err.msg];
    llamac_status st = llamac_chat_prompt_tokens(pr, s->tok, &ids, why, sizeof why);
    llamac_chat_prompt_free(pr);
    *len = (int64_t)ids.n;
    llamac_tokens_free(&ids);
    if (st) {
        lc_fail(&s->err, st, "%s", why);
        return -1;
    }
    return 0;
}

int llamac_session_drop_oldest(llamac_session *s, int reserve_tokens)
{
    if (!s)
        return -1;
    if (s->state != LC_IDLE) {
        lc_fail(&s->err, LLAMAC_E_INVALID_ARG, "an answer is running (finish or cancel it first)");
        return -1;
    }
    if (!s->tok) {
        lc_fail(&s->err, LLAMAC_E_INVALID_ARG, "the model has no vocabulary");
        return -1;
    }
    const char *r0 = llamac_chat_message_role(s->chat, 0);
    const int first = r0 && !strcmp(r0, "system") ? 1 : 0;
    int dropped = 0;
    for (;;) {
        int64_t len;
        if (rendered_length(s, &len))
            return -1;
        if (len + reserve_tokens <= s->n_ctx)
            break;
        /* the turn at `first`: a message and everything up to the next user message; never the last message */
        const int n = llamac_chat_n_messages(s->chat);
        int end = first + 1;
        while (end < n && strcmp(llamac_chat_message_role(s->chat, end), "user"))
            end++;
        if (end >= n)
            break;
        if (llamac_chat_remove(s->chat, first, end - first)) {
            lc_fail(&s->err, LLAMAC_E_NOMEM, "%s", llamac_chat_error(s->chat));
            return -1;
        }
        dropped += end - first;
    }
    return dropped;
}
