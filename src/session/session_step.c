/*
 * session_step.c — a session's answer as a state machine that never owns the decode loop:
 *
 *   PREFILL --batch/commit (prompt chunks)--> last prompt token decoded: sample --> GEN or finished
 *   GEN     --batch/commit (the sampled token)--> sample --> GEN or finished
 *
 * llamac_session_batch only appends to the caller's batch (recording what it added); llamac_session_commit
 * takes those tokens as cached and, when their logits were asked for, samples. A session's answer depends only
 * on its own tokens, logits and sampler, so sessions stepped together in one batch answer exactly as each
 * stepped alone (the forward pass is bit-identical however batches are made: docs/ARCHITECTURE.md).
 *
 * The last sampled token of an answer is never decoded during the answer (finishing needs no logits after it):
 * it goes to the session's tail with the token that closes the assistant message (the stop token itself when
 * the model produced one, else <|eot_id|>), decoded at the start of the next begin. An answer cut by a stop
 * string is re-rendered from its trimmed text instead (the chat holds the trimmed text; the cache keeps
 * whatever part of the generated tokens matches the rendering).
 */
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "chat/chat_internal.h"
#include "session/session_internal.h"

double lc_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec * 1e-6;
}

int64_t llamac_session_pending(const llamac_session *s)
{
    if (!s)
        return 0;
    if (s->state == LC_PREFILL)
        return (int64_t)s->prompt.n - s->prompt_done;
    return s->state == LC_GEN ? 1 : 0;
}

int llamac_session_batch(llamac_session *s, llamac_batch_buf *b, int max)
{
    if (!s || !b)
        return 0;
    s->n_inflight = 0;
    s->logits_idx = -1;
    const int room = b->capacity - b->batch.n_tokens;
    if (max > room)
        max = room;
    if (max <= 0 || s->state == LC_IDLE)
        return 0;
    const int32_t pos = (int32_t)s->cache.n;
    if (s->state == LC_GEN) {
        s->logits_idx = llamac_batch_buf_add(b, s->next, pos, s->seq, 1);
        s->n_inflight = 1;
        return 1;
    }
    int64_t left = (int64_t)s->prompt.n - s->prompt_done;
    const int k = left < max ? (int)left : max;
    if (s->t_prefill == 0)
        s->t_prefill = lc_now_ms();
    for (int i = 0; i < k; i++) {
        const int64_t j = s->prompt_done + i;
        const int want = j == (int64_t)s->prompt.n - 1 && s->mode != LC_MODE_PREFILL_ONLY;
        int32_t idx = llamac_batch_buf_add(b, s->prompt.ids[j], pos + i, s->seq, want);
        if (want)
            s->logits_idx = idx;
    }
    s->n_inflight = k;
    return k;
}

/* Keeps the running answer's bookkeeping consistent when it ends without its text becoming a chat message: the
 * synced messages are those whose tokens are all in the cache; the rest of the cache is left-over. */
static void unsync_partial(llamac_session *s)
{
    s->tail.n = 0;
    if (s->mode == LC_MODE_RAW)
        return;
    int k = s->n_synced;
    while (k > 0 && (size_t)s->msg_start[k] > s->cache.n)
        k--;
    s->n_synced = k;
}

/* Adds the finished answer to the chat and sets the tail. */
static llamac_status record_answer(llamac_session *s, const char *message_json)
{
    const int n = s->answer_msg;
    /* the chat must not change while an answer runs; if it did, its mark is kept for the next begin */
    const int dirty = llamac_chat_n_messages(s->chat) != n ? 0 : lc_chat_dirty_from(s->chat);
    llamac_status st = message_json ? llamac_chat_add_message_json(s->chat, message_json, strlen(message_json))
                                    : llamac_chat_add_message(s->chat, "assistant", s->text.content.p);
    if (st) {
        unsync_partial(s);
        return lc_fail(&s->err, st, "the answer could not be added to the conversation: %s",
                       llamac_chat_error(s->chat));
    }
    const int32_t last = s->gen.ids[s->gen.n - 1];
    const int ended_by_stop_token = !s->ignore_eos && s->tok && llamac_token_is_stop(s->tok, last);
    s->tail.n = 0;
    if (s->text.stopped) { /* the chat holds the trimmed text: re-render it at the next begin */
        s->n_synced = n;
    } else {
        st = llamac_tokens_push(&s->tail, last);
        if (!st && !ended_by_stop_token && s->close_tok >= 0)
            st = llamac_tokens_push(&s->tail, s->close_tok);
        s->msg_start[n + 1] = (int)(s->cache.n + s->tail.n);
        s->n_synced = n + 1;
        if (st) {
            unsync_partial(s);
            return lc_fail(&s->err, st, "out of memory");
        }
    }
    lc_chat_clear_dirty(s->chat);
    if (dirty != INT_MAX)
        lc_chat_mark_dirty(s->chat, dirty);
    return LLAMAC_OK;
}

llamac_status lc_session_finish(llamac_session *s, llamac_finish why, llamac_session_event *ev)
{
    llamac_status st = LLAMAC_OK;
    char *message_json = NULL;
    int n_calls = 0;
    const size_t raw_end = lc_text_raw_end(&s->text);
    if (why == LLAMAC_FINISH_STOP && s->parse_calls && s->text.hold != LC_HOLD_NONE && s->gen.n > 0) {
        st = lc_tool_calls_parse(s->format, s->text.raw.p, raw_end, s->answer_msg, &s->calls_json, &n_calls,
                                 &message_json, &s->err);
        if (n_calls)
            why = LLAMAC_FINISH_TOOL_CALLS;
    }
    if (!st && !n_calls)
        st = lc_text_finish(&s->text);
    if (st)
        why = LLAMAC_FINISH_ERROR;
    if (s->mode == LC_MODE_RAW || s->mode == LC_MODE_PREFILL_ONLY || s->gen.n == 0 || why == LLAMAC_FINISH_ERROR)
        unsync_partial(s);
    else if ((st = record_answer(s, message_json)))
        why = LLAMAC_FINISH_ERROR;
    free(message_json);

    llamac_answer *a = &s->answer;
    a->finish = why;
    a->content = n_calls ? "" : s->text.content.p;
    a->content_len = n_calls ? 0 : s->text.content.len;
    a->raw = s->text.raw.p;
    a->raw_len = raw_end;
    a->tool_calls = s->calls_json;
    a->n_tool_calls = n_calls;
    a->completion_tokens = (int64_t)s->gen.n;
    a->ttft_ms = s->t_first > 0 ? s->t_first - s->t_begin : 0;
    a->gen_ms = s->t_first > 0 ? s->t_last - s->t_first : 0;
    s->state = LC_IDLE;
    s->n_inflight = 0;
    if (ev)
        ev->finish = why;
    return st;
}

/* The draw itself: the sampler's token (and log-probabilities when asked for) from logits. */
static int32_t draw(llamac_session *s, const float *logits, llamac_token_logprob *chosen, llamac_token_logprob *top)
{
    if (s->n_logprobs > 0)
        return llamac_sampler_sample_logprobs(s->smp, logits, s->n_logprobs - 1, chosen, top);
    return llamac_sampler_sample(s->smp, logits);
}

/* Samples from logits and moves the answer on (or finishes it). */
static llamac_status sample(llamac_session *s, const float *logits, llamac_session_event *ev)
{
    if (s->max_tokens >= 0 && (int64_t)s->gen.n >= s->max_tokens)
        return lc_session_finish(s, LLAMAC_FINISH_LENGTH, ev);
    int32_t t;
    if (s->pre_valid) { /* drawn by lc_session_predraw from these logits */
        t = s->pre_token;
        if (s->n_logprobs > 0) {
            ev->chosen = s->pre_chosen;
            memcpy(ev->top, s->pre_top, sizeof ev->top);
        }
    } else {
        t = draw(s, logits, &ev->chosen, ev->top);
    }
    if (s->n_logprobs > 0)
        ev->n_top = s->n_logprobs - 1;
    s->t_last = lc_now_ms();
    if (s->t_first == 0)
        s->t_first = s->t_last;
    if (t < 0 || t >= s->n_vocab) {
        lc_fail(&s->err, LLAMAC_E_INTERNAL, "the sampler returned token %d, outside the vocabulary", t);
        lc_session_finish(s, LLAMAC_FINISH_ERROR, ev);
        return LLAMAC_E_INTERNAL;
    }
    ev->token = t;
    if (llamac_tokens_push(&s->gen, t)) {
        lc_fail(&s->err, LLAMAC_E_NOMEM, "out of memory");
        lc_session_finish(s, LLAMAC_FINISH_ERROR, ev);
        return LLAMAC_E_NOMEM;
    }
    llamac_sampler_accept(s->smp, t);
    s->answer.completion_tokens = (int64_t)s->gen.n;
    if (!s->ignore_eos && s->tok && llamac_token_is_stop(s->tok, t))
        return lc_session_finish(s, LLAMAC_FINISH_STOP, ev);
    if (lc_text_push(&s->text, t)) {
        lc_fail(&s->err, LLAMAC_E_NOMEM, "out of memory");
        lc_session_finish(s, LLAMAC_FINISH_ERROR, ev);
        return LLAMAC_E_NOMEM;
    }
    if (s->text.stopped)
        return lc_session_finish(s, LLAMAC_FINISH_STOP, ev);
    if (s->max_tokens >= 0 && (int64_t)s->gen.n >= s->max_tokens)
        return lc_session_finish(s, LLAMAC_FINISH_LENGTH, ev);
    if (s->cache.n >= (size_t)s->n_ctx)
        return lc_session_finish(s, LLAMAC_FINISH_CONTEXT, ev);
    s->next = t;
    s->state = LC_GEN;
    return LLAMAC_OK;
}

static void event_init(llamac_session_event *ev)
{
    memset(ev, 0, sizeof *ev);
    ev->text = "";
    ev->token = -1;
}

static llamac_status commit(llamac_session *s, llamac_session_event *ev)
{
    const int k = s->n_inflight;
    s->n_inflight = 0;
    llamac_status st = LLAMAC_OK;
    if (s->state == LC_PREFILL) {
        for (int i = 0; i < k && !st; i++)
            st = llamac_tokens_push(&s->cache, s->prompt.ids[s->prompt_done + i]);
        if (st) { /* the KV holds them; the mirror could not: forget both */
            s->cache.n = 0;
            llamac_seq_truncate(s->ctx, s->seq, 0);
            s->n_synced = 0;
            s->tail.n = 0;
            lc_fail(&s->err, st, "out of memory");
            lc_session_finish(s, LLAMAC_FINISH_ERROR, ev);
            return st;
        }
        s->prompt_done += k;
        if (s->prompt_done < (int64_t)s->prompt.n)
            return LLAMAC_OK;
        s->answer.prompt_ms = lc_now_ms() - s->t_prefill;
        if (s->mode == LC_MODE_PREFILL_ONLY)
            return lc_session_finish(s, LLAMAC_FINISH_STOP, ev);
    } else if ((st = llamac_tokens_push(&s->cache, s->next))) {
        llamac_seq_truncate(s->ctx, s->seq, (int)s->cache.n);
        lc_fail(&s->err, st, "out of memory");
        lc_session_finish(s, LLAMAC_FINISH_ERROR, ev);
        return st;
    }
    const float *logits = s->logits_idx >= 0 ? llamac_get_logits(s->ctx, s->logits_idx) : NULL;
    if (!logits) {
        lc_fail(&s->err, LLAMAC_E_INVALID_ARG, "the batch did not carry the logits of the session's last token");
        lc_session_finish(s, LLAMAC_FINISH_ERROR, ev);
        return LLAMAC_E_INVALID_ARG;
    }
    return sample(s, logits, ev);
}

void lc_session_predraw(llamac_session *s)
{
    s->pre_valid = 0;
    if (s->state == LC_IDLE || s->n_inflight == 0)
        return;
    if (s->state == LC_PREFILL &&
        (s->prompt_done + s->n_inflight < (int64_t)s->prompt.n || s->mode == LC_MODE_PREFILL_ONLY))
        return; /* commit ends or continues the prefill without a draw */
    if (s->max_tokens >= 0 && (int64_t)s->gen.n >= s->max_tokens)
        return; /* sample() finishes with LENGTH first */
    const float *logits = s->logits_idx >= 0 ? llamac_get_logits(s->ctx, s->logits_idx) : NULL;
    if (!logits)
        return; /* commit reports it */
    s->pre_token = draw(s, logits, &s->pre_chosen, s->pre_top);
    s->pre_valid = 1;
}

llamac_status llamac_session_commit(llamac_session *s, llamac_session_event *ev)
{
    llamac_session_event dummy;
    if (!ev)
        ev = &dummy;
    event_init(ev);
    if (!s)
        return LLAMAC_E_INVALID_ARG;
    if (s->state == LC_IDLE || s->n_inflight == 0)
        return LLAMAC_OK;
    const size_t c0 = s->text.content.len;
    llamac_status st = commit(s, ev);
    s->pre_valid = 0;
    ev->text = s->text.content.p + c0;
    ev->len = s->text.content.len - c0;
    return st;
}

/* Ends the running answer now, leaving its last event (the text still held back) in s->final_ev. */
static void end_now(llamac_session *s, llamac_finish why)
{
    event_init(&s->final_ev);
    const size_t c0 = s->text.content.len;
    s->n_inflight = 0;
    lc_session_finish(s, why, &s->final_ev);
    s->final_ev.text = s->text.content.p + c0;
    s->final_ev.len = s->text.content.len - c0;
}

void llamac_session_cancel(llamac_session *s)
{
    if (s && s->state != LC_IDLE)
        end_now(s, LLAMAC_FINISH_CANCELLED);
}

static int wants(const llamac_session_event *ev)
{
    return ev->token >= 0 || ev->len > 0 || ev->finish != LLAMAC_FINISH_NONE;
}

llamac_status llamac_session_run(llamac_session *s, llamac_session_event_fn on_event, void *user)
{
    if (!s)
        return LLAMAC_E_INVALID_ARG;
    if (s->state == LC_IDLE)
        return lc_fail(&s->err, LLAMAC_E_INVALID_ARG, "no answer is running (call llamac_session_begin first)");
    llamac_session_event ev;
    while (s->state != LC_IDLE) {
        llamac_status st;
        if (s->state == LC_PREFILL) { /* the whole prompt in chunks of the context's n_batch */
            if (s->t_prefill == 0)
                s->t_prefill = lc_now_ms();
            const int64_t left = (int64_t)s->prompt.n - s->prompt_done;
            st = llamac_decode_tokens(s->ctx, s->seq, s->prompt.ids + s->prompt_done, left, 0, NULL, NULL);
            s->n_inflight = (int)left;
            s->logits_idx = s->mode == LC_MODE_PREFILL_ONLY ? -1 : llamac_decode_tokens_last_index(s->ctx);
        } else {
            llamac_batch_buf_clear(&s->run_batch);
            llamac_session_batch(s, &s->run_batch, 1);
            st = llamac_decode(s->ctx, &s->run_batch.batch);
        }
        if (st) { /* nothing of this step was decoded */
            const char *why = llamac_context_error(s->ctx);
            lc_fail(&s->err, st, "%s", why && *why ? why : llamac_status_str(st));
            end_now(s, st == LLAMAC_E_CANCELLED ? LLAMAC_FINISH_CANCELLED : LLAMAC_FINISH_ERROR);
            if (on_event)
                on_event(user, &s->final_ev);
            return st;
        }
        st = llamac_session_commit(s, &ev);
        if (on_event && wants(&ev) && on_event(user, &ev) && ev.finish == LLAMAC_FINISH_NONE) {
            llamac_session_cancel(s);
            on_event(user, &s->final_ev);
        }
        if (st)
            return st;
    }
    return LLAMAC_OK;
}
