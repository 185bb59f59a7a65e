/*
 * oai_internal.h — helpers shared by the OpenAI JSON files (src/openai/): building JSON values from text that
 * may not be valid UTF-8, dumping them compactly, and the pieces common to whole responses and stream chunks
 * (logprob entries, usage, tool calls).
 */
#ifndef LC_OAI_INTERNAL_H
#define LC_OAI_INTERNAL_H

#include <jansson.h>

#include "llamac_openai.h"

/* A JSON string of s[0..len): invalid UTF-8 bytes become U+FFFD. NULL only when memory ran out. */
json_t *lc_oai_string(const char *s, size_t len);
/* Compact text of v (then released); NULL when v is NULL or memory ran out. */
char *lc_oai_dump(json_t *v);
/* A finite logprob for JSON (-inf becomes -9999, as OpenAI reports impossible tokens). */
double lc_oai_logprob_value(float lp);
/* Chat logprob entry {"token","logprob","bytes","top_logprobs":[...]} of one token. */
json_t *lc_oai_chat_logprob(const llamac_oai_logprob *lp, const llamac_tokenizer *tok);
/* Completion logprobs {"tokens":[],"token_logprobs":[],"top_logprobs":[],"text_offset":[]} and appending one
 * token to it (*offset: text bytes before the token, advanced). */
json_t *lc_oai_completion_logprobs_new(void);
void lc_oai_completion_logprobs_add(json_t *obj, const llamac_oai_logprob *lp, const llamac_tokenizer *tok,
                                    int64_t *offset);
/* 1 when lp is the stop token that ended the answer: a stop token (eos, eot, eom) sampled without ignore_eos
 * always ends it and is no part of the content, so its logprob is not listed (OpenAI lists the logprobs of the
 * returned content's tokens only). With ignore_eos, stop tokens are generated like other tokens and listed. */
int lc_oai_lp_is_end(const llamac_oai_logprob *lp, const llamac_tokenizer *tok, int ignore_eos);
/* {"prompt_tokens","completion_tokens","total_tokens","prompt_tokens_details":{"cached_tokens"}} */
json_t *lc_oai_usage_json(const llamac_oai_usage *u);
/* The answer's tool-call array parsed (NULL when tool_calls is NULL or not a JSON array). */
json_t *lc_oai_tool_calls(const char *tool_calls);

#endif
