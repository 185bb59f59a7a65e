/*
 * fuzz_openai_request.c — libFuzzer target for the OpenAI request parsers (src/openai/request.c, and through
 * them the chat layer's message and tool validation): any body must be accepted or refused with a 400/500 and
 * a message, never crash, leak or read out of bounds; an accepted request must hold consistent values and
 * render a response and a stream. Built by `make fuzz` / `make fuzz-ci` (tests/fuzz/CMakeLists.txt); seeds in
 * tests/fuzz/corpus/fuzz_openai_request/.
 * The seed corpus holds a few valid bodies of every endpoint.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "llamac_openai.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_error(const llamac_oai_error *e)
{
    if ((e->status != 400 && e->status != 500) || !e->message[0] || !e->type)
        abort(); /* refused without a proper error */
}

static void render(const llamac_oai_request *rq)
{
    llamac_oai_logprob lp;
    memset(&lp, 0, sizeof lp);
    lp.chosen.token = 3;
    lp.chosen.logprob = -1.0f;
    lp.n_top = rq->top_logprobs;
    llamac_oai_choice c = {"hi", 2, NULL, LLAMAC_FINISH_STOP, &lp, 1};
    llamac_oai_usage u = {1, 1, 0};
    free(llamac_oai_response_json(rq, "id", 0, "m", &c, 1, &u, NULL));
    llamac_oai_stream *st;
    if (llamac_oai_stream_create(rq, "id", 0, "m", NULL, &st) == LLAMAC_OK) {
        for (int i = 0; i < rq->n; i++) {
            free(llamac_oai_stream_delta(st, i, "x", 1, &lp));
            free(llamac_oai_stream_finish(st, i, LLAMAC_FINISH_LENGTH, NULL));
        }
        free(llamac_oai_stream_end(st, &u));
        llamac_oai_stream_free(st);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *body = (const char *)data;
    llamac_oai_error e;
    llamac_oai_request *rq;
    for (int ep = 0; ep < 2; ep++) {
        llamac_status st = ep == 0 ? llamac_oai_parse_chat(body, size, &rq, &e)
                                   : llamac_oai_parse_completion(body, size, &rq, &e);
        if (st != LLAMAC_OK) {
            if (rq)
                abort();
            check_error(&e);
            continue;
        }
        if (rq->n < 1 || rq->n > LLAMAC_OAI_MAX_N || rq->top_logprobs < 0 ||
            rq->top_logprobs > LLAMAC_MAX_TOP_LOGPROBS || (ep == 0 && !rq->chat) ||
            (ep == 1 && !rq->prompt && rq->n_prompt_tokens <= 0) ||
            rq->gen.n_logprobs != (rq->logprobs ? 1 + rq->top_logprobs : 0))
            abort();
        for (int i = 0; i < LLAMAC_MAX_STOP && rq->gen.stop[i]; i++)
            if (!strlen(rq->gen.stop[i]) || strlen(rq->gen.stop[i]) > 256)
                abort();
        render(rq);
        llamac_oai_request_free(rq);
    }
    char *content;
    size_t len;
    int add, parse;
    if (llamac_oai_parse_tokenize(body, size, &content, &len, &add, &parse, &e) == LLAMAC_OK)
        free(content);
    int32_t *tokens;
    int64_t n;
    if (llamac_oai_parse_detokenize(body, size, &tokens, &n, &e) == LLAMAC_OK) {
        free(llamac_oai_tokens_json(tokens, n));
        free(tokens);
    }
    return 0;
}
