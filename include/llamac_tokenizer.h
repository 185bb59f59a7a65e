/*
 * llamac_tokenizer.h — part of the public API (included by llamac.h): the Llama 3 tokenizer.
 *
 * A byte-level BPE tokenizer with the Llama 3 pre-tokenizer regex, exact to Meta's ids. It works for any
 * GPT-2-style byte-level BPE vocabulary that uses the Llama 3 pre-tokenizer (the 128256-token Llama 3 one, or
 * a small self-trained one). Algorithm, data sources and the invalid-UTF-8 rule: docs/TOKENIZER.md.
 *
 * How to use (error handling shortened):
 *
 *     char err[256];
 *     llamac_tokenizer *tok;                        // or: llamac_model_tokenizer(model), owned by the model
 *     if (llamac_tokenizer_load("tokenizer.json", &tok, err, sizeof err) != LLAMAC_OK) { puts(err); return 1; }
 *
 *     llamac_tokens ids = {0};                      // a growable id array; every call appends to it
 *     llamac_tokenize(tok, "Hello world", 11, LLAMAC_TOKENIZE_ADD_BOS, &ids);   // [128000, 9906, 1917]
 *     llamac_tokens_push(&ids, llamac_token_eot(tok));                        // append a special id directly
 *
 *     llamac_text text = {0};
 *     llamac_detokenize(tok, ids.ids, ids.n, 0, &text);  // "<|begin_of_text|>Hello world<|eot_id|>"
 *
 *     llamac_detokenizer *d;                        // streaming: never emits half a UTF-8 character
 *     llamac_detokenizer_create(tok, LLAMAC_DECODE_SKIP_SPECIAL, &d);
 *     const char *s; size_t n;
 *     llamac_detokenizer_push(d, id, &s, &n);  fwrite(s, 1, n, stdout);       // for each generated id
 *     llamac_detokenizer_flush(d, &s, &n);     fwrite(s, 1, n, stdout);       // at the end
 *
 *     llamac_detokenizer_free(d); llamac_text_free(&text); llamac_tokens_free(&ids); llamac_tokenizer_free(tok);
 *
 * Thread safety: a tokenizer is immutable after loading; every function taking a const llamac_tokenizer * may
 * be called from many threads at once. A llamac_detokenizer (or llamac_tokens / llamac_text) belongs to one
 * thread at a time.
 */
#ifndef LLAMAC_TOKENIZER_H
#define LLAMAC_TOKENIZER_H

#include "llamac.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct llamac_tokenizer llamac_tokenizer;

/* ---------------------------------------------------------------------------------------------------------
 * Loading
 * ------------------------------------------------------------------------------------------------------- */

/* Loads a vocabulary from a file, detecting the kind by content:
 *   - a GGUF file (magic "GGUF") with tokenizer.ggml.* metadata (model "gpt2", pre "llama-bpe");
 *   - a Hugging Face tokenizer.json (BPE model with the Llama 3 Split regex and ByteLevel);
 *   - Meta's tokenizer.model (lines "base64 rank"); the 256 special tokens that follow the ranks are then the
 *     Llama 3.1+ set (<|begin_of_text|>, <|end_of_text|>, ..., <|eom_id|>, <|eot_id|>, <|python_tag|>, ...).
 * Validates it (duplicate tokens, merges naming unknown tokens, missing byte tokens, sizes). A vocabulary of
 * another kind (SentencePiece, another pre-tokenizer) fails with LLAMAC_E_UNSUPPORTED and a message saying
 * "not a Llama 3 tokenizer". On failure *out is NULL and err (if not NULL) holds the message.
 * The tokenizer owns all its memory (it keeps no reference to the file); free it with llamac_tokenizer_free. */
llamac_status llamac_tokenizer_load(const char *path, llamac_tokenizer **out, char *err, size_t err_size);

/* The same from an open GGUF view (the view may be closed afterwards). LLAMAC_E_TOKENIZER if the file has no
 * tokenizer.ggml.model key. */
llamac_status llamac_tokenizer_from_gguf(const llamac_gguf *gguf, llamac_tokenizer **out, char *err,
                                         size_t err_size);

void llamac_tokenizer_free(llamac_tokenizer *tok);

/* The tokenizer of a model loaded from a GGUF that carries tokenizer.ggml.* metadata, or NULL if the file has
 * none. Owned by the model: valid until llamac_model_free (do not free it). */
const llamac_tokenizer *llamac_model_tokenizer(const llamac_model *model);

typedef enum llamac_vocab_source {
    LLAMAC_VOCAB_GGUF = 1,     /* tokenizer.ggml.* metadata */
    LLAMAC_VOCAB_HF_JSON = 2,  /* Hugging Face tokenizer.json */
    LLAMAC_VOCAB_TIKTOKEN = 3  /* Meta tokenizer.model */
} llamac_vocab_source;

typedef struct llamac_tokenizer_info {
    int32_t n_vocab;    /* number of ids (0..n_vocab-1), special tokens included */
    int32_t n_special;  /* special (control / added) tokens */
    int32_t n_merges;   /* BPE pair rules */
    int source;         /* llamac_vocab_source */
    int add_bos;        /* the vocabulary's own "add BOS" default (GGUF tokenizer.ggml.add_bos_token; else 1) */
    int max_token_len;  /* longest ordinary token in bytes */
} llamac_tokenizer_info;

void llamac_tokenizer_get_info(const llamac_tokenizer *tok, llamac_tokenizer_info *out);

/* ---------------------------------------------------------------------------------------------------------
 * Growable arrays (caller-owned structs; start them as {0}; every producer appends)
 * ------------------------------------------------------------------------------------------------------- */
typedef struct llamac_tokens {
    int32_t *ids; /* malloc'ed by the library; free with llamac_tokens_free */
    size_t n;     /* ids in use */
    size_t cap;   /* allocated ids */
} llamac_tokens;

llamac_status llamac_tokens_push(llamac_tokens *v, int32_t id); /* LLAMAC_E_NOMEM if growing fails */
void llamac_tokens_free(llamac_tokens *v);                       /* frees ids and resets *v to {0} */

typedef struct llamac_text {
    char *data;   /* malloc'ed; always NUL-terminated after a successful append (the bytes may contain NULs) */
    size_t n;     /* bytes in use, excluding the terminating NUL */
    size_t cap;
} llamac_text;

void llamac_text_free(llamac_text *t); /* frees data and resets *t to {0} */

/* ---------------------------------------------------------------------------------------------------------
 * Encoding
 * ------------------------------------------------------------------------------------------------------- */
enum {
    /* Put BOS (<|begin_of_text|>) at the start of the sequence. BOS is added at most once and only at the
     * start: nothing is added when out already holds ids, or when the text itself begins with BOS (with
     * LLAMAC_TOKENIZE_PARSE_SPECIAL and "<|begin_of_text|>..."). No-op for a vocabulary without BOS. */
    LLAMAC_TOKENIZE_ADD_BOS = 1 << 0,
    /* Recognize special-token text (e.g. "<|eot_id|>") in the input and emit the special id. Without this
     * flag such text is encoded as ordinary characters: user text can never inject a special token. */
    LLAMAC_TOKENIZE_PARSE_SPECIAL = 1 << 1
};

/* Encodes the bytes text[0..len) (any bytes: UTF-8 is expected, invalid UTF-8 is encoded byte-exactly, see
 * docs/TOKENIZER.md) and APPENDS the ids to *out. On error *out keeps its previous contents.
 * Errors: LLAMAC_E_INVALID_ARG (NULL arguments, unknown flags), LLAMAC_E_NOMEM. */
llamac_status llamac_tokenize(const llamac_tokenizer *tok, const char *text, size_t len, unsigned flags,
                              llamac_tokens *out);

/* ---------------------------------------------------------------------------------------------------------
 * Tokens and special tokens
 * ------------------------------------------------------------------------------------------------------- */

/* The bytes of token id: ordinary tokens give their raw bytes (possibly an incomplete UTF-8 sequence),
 * special tokens their text ("<|eot_id|>"). *len is set (may be NULL). The bytes are followed by a NUL.
 * Valid until llamac_tokenizer_free. NULL (and *len = 0) if id is out of range. */
const char *llamac_token_piece(const llamac_tokenizer *tok, int32_t id, size_t *len);

/* Id of the special token whose text is name (e.g. "<|eot_id|>"), or -1 if there is none. */
int32_t llamac_token_special(const llamac_tokenizer *tok, const char *name);
/* Id of the ordinary token whose bytes are exactly bytes[0..len), or -1. */
int32_t llamac_token_find(const llamac_tokenizer *tok, const char *bytes, size_t len);

/* 1 if id is a special (control or added) token, else 0 (also for out-of-range ids). */
int llamac_token_is_special(const llamac_tokenizer *tok, int32_t id);

/* Well-known ids, or -1 when the vocabulary has none. Taken from the GGUF metadata when present
 * (tokenizer.ggml.bos_token_id, ...), else from the token names (<|begin_of_text|>, <|end_of_text|>,
 * <|eot_id|>, <|eom_id|>). EOS is <|end_of_text|> (or the GGUF eos_token_id, which instruct files set to
 * <|eot_id|>). */
int32_t llamac_token_bos(const llamac_tokenizer *tok);
int32_t llamac_token_eos(const llamac_tokenizer *tok);
int32_t llamac_token_eot(const llamac_tokenizer *tok);
int32_t llamac_token_eom(const llamac_tokenizer *tok);

/* Stop tokens end a generation: the union of EOS, EOT and EOM as above (Llama 3.0: <|end_of_text|> and
 * <|eot_id|>; 3.1+: also <|eom_id|>). llamac_token_is_stop returns 1 for them, else 0. */
int llamac_token_is_stop(const llamac_tokenizer *tok, int32_t id);
/* The stop ids (ascending, at most 8); *ids valid until llamac_tokenizer_free. Returns the count. */
int llamac_tokenizer_stop_tokens(const llamac_tokenizer *tok, const int32_t **ids);

/* ---------------------------------------------------------------------------------------------------------
 * Decoding
 * ------------------------------------------------------------------------------------------------------- */
enum {
    /* Leave special tokens out (default: they are written as their text, like Meta's decode()). */
    LLAMAC_DECODE_SKIP_SPECIAL = 1 << 0,
    /* Replace each invalid UTF-8 sequence with U+FFFD (maximal-subpart rule) so the output is always valid
     * UTF-8, e.g. for JSON. Default: bytes are written unchanged, so decode(encode(x)) == x for any bytes. */
    LLAMAC_DECODE_REPLACE_INVALID = 1 << 1
};

/* Appends the text of ids[0..n) to *out. LLAMAC_E_TOKEN if an id is out of range (nothing appended),
 * LLAMAC_E_INVALID_ARG, LLAMAC_E_NOMEM. */
llamac_status llamac_detokenize(const llamac_tokenizer *tok, const int32_t *ids, size_t n, unsigned flags,
                                llamac_text *out);

/* Streaming decoder for generation: push ids one at a time and get the text that is complete so far. Bytes
 * of a UTF-8 character split across tokens are held back until the character is complete, so a character is
 * never emitted half. Bytes that can never become valid UTF-8 are released as soon as that is certain
 * (unchanged, or as U+FFFD with LLAMAC_DECODE_REPLACE_INVALID). Without REPLACE_INVALID the concatenation of
 * all outputs (including flush) equals llamac_detokenize of the same ids with the same flags.
 * The tokenizer must outlive the detokenizer. */
typedef struct llamac_detokenizer llamac_detokenizer;

llamac_status llamac_detokenizer_create(const llamac_tokenizer *tok, unsigned flags, llamac_detokenizer **out);
void llamac_detokenizer_free(llamac_detokenizer *d);
/* Feeds one id. *text / *len receive the bytes that became ready (possibly none); they point into d and are
 * valid until the next call on d. LLAMAC_E_TOKEN for an out-of-range id (d is unchanged). */
llamac_status llamac_detokenizer_push(llamac_detokenizer *d, int32_t id, const char **text, size_t *len);
/* Ends the stream: releases any held-back bytes (an incomplete character at the very end). d is then empty
 * and may be reused. */
llamac_status llamac_detokenizer_flush(llamac_detokenizer *d, const char **text, size_t *len);
/* Drops held-back bytes without releasing them. */
void llamac_detokenizer_reset(llamac_detokenizer *d);

#ifdef __cplusplus
}
#endif

#endif
