/*
 * tokens.c — turns a rendered prompt into token ids with a tokenizer.
 *
 * Rules: a run of adjacent text segments is encoded as one piece of plain text (flags 0: no BOS, no special-token
 * parsing, so "<|eot_id|>" typed by a user stays ordinary text); a special segment is looked up by its name. The
 * renderer never puts text segments of different messages next to each other (a special token always separates
 * them), so joining runs never changes message boundaries. This matches a Jinja rendering tokenized as one
 * string whenever no message contains special-token text.
 */
#include <string.h>

#include "chat/chat_internal.h"

llamac_status llamac_chat_prompt_tokens(const llamac_chat_prompt *prompt, const llamac_tokenizer *tok,
                                        llamac_tokens *out, char *err, size_t err_size)
{
    return lc_chat_prompt_tokens_owned(prompt, tok, out, NULL, err, err_size);
}

/* Appends owner to *owners until it is as long as *out. */
static llamac_status own(llamac_tokens *owners, size_t n, int owner)
{
    llamac_status st = LLAMAC_OK;
    while (owners && owners->n < n && !st)
        st = llamac_tokens_push(owners, owner);
    return st;
}

llamac_status lc_chat_prompt_tokens_owned(const llamac_chat_prompt *prompt, const llamac_tokenizer *tok,
                                          llamac_tokens *out, llamac_tokens *owners, char *err, size_t err_size)
{
    lc_err e = {{0}};
    llamac_status st = LLAMAC_OK;
    if (!prompt || !tok || !out || (owners && owners->n != out->n)) {
        st = lc_fail(&e, LLAMAC_E_INVALID_ARG, "chat_prompt_tokens: NULL argument");
        lc_err_copy(&e, err, err_size);
        return st;
    }
    const size_t n0 = out->n;
    /* the text segments of one run all belong to one message (see the note in the loop) */
    const char *text = prompt->text.p;
    int i = 0;
    while (i < prompt->n_segs && st == LLAMAC_OK) {
        const lc_seg *s = &prompt->segs[i];
        if (s->special) {
            int32_t id = llamac_token_special(tok, text + s->off);
            if (id < 0)
                st = lc_fail(&e, LLAMAC_E_TOKENIZER, "the vocabulary has no special token %s (needed by this chat "
                             "format; a Llama 3.0 vocabulary lacks the 3.1 tool tokens)", text + s->off);
            else
                st = llamac_tokens_push(out, id);
            if (!st)
                st = own(owners, out->n, s->message);
            i++;
            continue;
        }
        /* a run of text segments: they are back to back in `text`, separated by NULs, so join via a copy only
         * when the run has more than one segment (it never has within one message; see render.c) */
        int j = i + 1;
        while (j < prompt->n_segs && !prompt->segs[j].special)
            j++;
        if (j == i + 1) {
            st = llamac_tokenize(tok, text + s->off, s->len, 0, out);
        } else {
            lc_buf run = {0};
            for (int k = i; k < j; k++)
                lc_buf_put(&run, text + prompt->segs[k].off, prompt->segs[k].len);
            st = run.oom ? LLAMAC_E_NOMEM : llamac_tokenize(tok, run.p ? run.p : "", run.len, 0, out);
            lc_buf_free(&run);
        }
        if (!st)
            st = own(owners, out->n, s->message);
        if (st)
            lc_fail(&e, st, "tokenizing the chat prompt failed (%s)", llamac_status_str(st));
        i = j;
    }
    if (st) {
        if (!e.msg[0]) /* a failed push of a special token's id */
            lc_fail(&e, st, "tokenizing the chat prompt failed (%s)", llamac_status_str(st));
        out->n = n0;
        if (owners)
            owners->n = n0;
        lc_err_copy(&e, err, err_size);
    }
    return st;
}
