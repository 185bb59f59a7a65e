/*
 * llamac.h — the public API of llamac, a C11 engine for Meta's Llama 3 model family.
 *
 * How to use (error handling shortened):
 *
 *     char err[256];
 *     llamac_model *model;
 *     llamac_model_params mp = llamac_model_default_params();
 *     if (llamac_model_load("model.gguf", &mp, &model, err, sizeof err) != LLAMAC_OK) { puts(err); return 1; }
 *
 *     llamac_context *ctx;
 *     llamac_context_params cp = llamac_context_default_params();
 *     cp.n_ctx = 4096;
 *     llamac_context_create(model, &cp, &ctx, err, sizeof err);
 *
 *     int32_t prompt[] = {128000, 9906};
 *     llamac_batch b = {.n_tokens = 2, .tokens = prompt};        // seq 0, appended, logits for the last token
 *     if (llamac_decode(ctx, &b) != LLAMAC_OK) puts(llamac_context_error(ctx));
 *     const float *logits = llamac_get_logits(ctx, 1);            // [n_vocab]
 *
 *     llamac_context_free(ctx);
 *     llamac_model_free(model);
 *
 * Conventions: every exported name starts with llamac_ / LLAMAC_. Fallible calls return an llamac_status;
 * objects keep their last error message. The library never prints and never exits. *_free(NULL) is a no-op.
 * A NULL handle never crashes a call: getters return 0, -1 (a token id), NULL or "" (error messages), info
 * structs come back zeroed, setters do nothing, and fallible calls return LLAMAC_E_INVALID_ARG.
 * Ownership is stated next to every pointer. A model may be shared by several contexts (one per thread).
 */
#ifndef LLAMAC_H
#define LLAMAC_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define LLAMAC_VERSION "0.1.0"

/* ---------------------------------------------------------------------------------------------------------
 * Status codes
 * ------------------------------------------------------------------------------------------------------- */
typedef enum llamac_status {
    LLAMAC_OK = 0,
    LLAMAC_E_INVALID_ARG,  /* the caller passed an invalid argument (NULL, out-of-range option, bad batch) */
    LLAMAC_E_IO,           /* open/read/write/mmap failed */
    LLAMAC_E_FORMAT,       /* a file or document is malformed (bad magic, truncated, inconsistent) */
    LLAMAC_E_UNSUPPORTED,  /* well-formed but not supported (version, tensor type, architecture) */
    LLAMAC_E_NOMEM,        /* allocation failed */
    LLAMAC_E_MODEL,        /* the model is not a valid Llama 3 model (missing or mis-shaped tensor, bad hparams) */
    LLAMAC_E_TOKEN,        /* a token id is out of range */
    LLAMAC_E_CONTEXT_FULL, /* the sequence would exceed the context size */
    LLAMAC_E_TOKENIZER,    /* the vocabulary is missing or invalid */
    LLAMAC_E_CANCELLED,    /* stopped by a callback */
    LLAMAC_E_INTERNAL,     /* a bug: please report it */
    LLAMAC_E_KV_FULL,      /* the context's KV memory (kv_size) has no free block left; sequences must release
                              positions first. Unlike LLAMAC_E_CONTEXT_FULL this is about all sequences together */
    LLAMAC_E_BUSY,         /* a queue is full (llamac_engine_submit): try again later */
    LLAMAC_E_TIMEOUT       /* a job ran past its time limit (llamac_engine_params.timeout_s) */
} llamac_status;

/* A short static description of a status code ("invalid argument", ...). Never NULL. */
const char *llamac_status_str(llamac_status status);

/* ---------------------------------------------------------------------------------------------------------
 * Tensor types (numbering = ggml's, so GGUF files load unchanged)
 * ------------------------------------------------------------------------------------------------------- */
typedef enum llamac_type {
    LLAMAC_TYPE_F32 = 0,
    LLAMAC_TYPE_F16 = 1,
    LLAMAC_TYPE_Q4_0 = 2,
    LLAMAC_TYPE_Q4_1 = 3,
    LLAMAC_TYPE_Q5_0 = 6,
    LLAMAC_TYPE_Q5_1 = 7,
    LLAMAC_TYPE_Q8_0 = 8,
    LLAMAC_TYPE_Q8_1 = 9,
    LLAMAC_TYPE_Q2_K = 10,
    LLAMAC_TYPE_Q3_K = 11,
    LLAMAC_TYPE_Q4_K = 12,
    LLAMAC_TYPE_Q5_K = 13,
    LLAMAC_TYPE_Q6_K = 14,
    LLAMAC_TYPE_Q8_K = 15,
    LLAMAC_TYPE_BF16 = 30,
    LLAMAC_TYPE_COUNT = 40 /* bound for tables indexed by type; not a type */
} llamac_type;

/* The type's name as in GGUF tools ("Q4_K", "F16"), or NULL for a number that is no type llamac knows. */
const char *llamac_type_name(int type);

/* ---------------------------------------------------------------------------------------------------------
 * GGUF inspection (read-only view of a file's metadata and tensor table; used by `llamac info`)
 * ------------------------------------------------------------------------------------------------------- */
typedef struct llamac_gguf llamac_gguf;

/* Opens and fully validates a GGUF file (memory-mapped). On failure *out is NULL and err holds a message that
 * names the bad field. The handle owns the mapping; free it with llamac_gguf_close. */
llamac_status llamac_gguf_open(const char *path, llamac_gguf **out, char *err, size_t err_size);
void llamac_gguf_close(llamac_gguf *g);

uint32_t llamac_gguf_version(const llamac_gguf *g);
int64_t llamac_gguf_n_kv(const llamac_gguf *g);
/* Key of entry i (0 <= i < n_kv); valid until llamac_gguf_close. */
const char *llamac_gguf_kv_key(const llamac_gguf *g, int64_t i);
/* Writes a one-line human-readable rendering of value i into buf (arrays are shortened to their first
 * max_items elements and their length). Returns the number of bytes written (excluding NUL). */
size_t llamac_gguf_kv_format(const llamac_gguf *g, int64_t i, char *buf, size_t buf_size, int max_items);

int64_t llamac_gguf_n_tensors(const llamac_gguf *g);
typedef struct llamac_tensor_info {
    const char *name;   /* valid until llamac_gguf_close */
    int type;           /* llamac_type */
    int n_dims;         /* 1..4 */
    int64_t ne[4];      /* ne[0] is the innermost (contiguous) dimension, as in ggml */
    uint64_t offset;    /* from the start of the file */
    uint64_t n_bytes;
} llamac_tensor_info;
llamac_status llamac_gguf_tensor(const llamac_gguf *g, int64_t i, llamac_tensor_info *out);

/* ---------------------------------------------------------------------------------------------------------
 * Model
 * ------------------------------------------------------------------------------------------------------- */
typedef struct llamac_model llamac_model;

typedef struct llamac_model_params {
    int use_mmap;  /* 0 (default): weights are read into private huge-page memory, repacked for the kernels
                      (fastest generation); 1: weights stay in the read-only file mapping (instant load,
                      slower generation) */
    int n_threads; /* threads used while loading (repacking), 0 = all cores */
    int background; /* with use_mmap = 0: 1 (default) = return as soon as the model can run from the file
                       mapping and make the private copy in a background thread, each matrix switching to its
                       copy when that is complete (results are bit-identical either way; generation speeds up
                       as the copy progresses); 0 = make the whole copy before returning */
} llamac_model_params;

llamac_model_params llamac_model_default_params(void);

/* Loads a Llama 3.x model. On failure *out is NULL and err (if not NULL) names the problem. */
llamac_status llamac_model_load(const char *path, const llamac_model_params *params, llamac_model **out,
                                char *err, size_t err_size);
void llamac_model_free(llamac_model *model);

/* Waits until a background weight copy (llamac_model_params.background) is complete; returns at once when
 * there is none. If reading the file failed, returns LLAMAC_E_IO with a message: the model stays usable, running
 * from the file mapping. */
llamac_status llamac_model_wait_loaded(llamac_model *model, char *err, size_t err_size);
/* 1 when no background weight copy is running any more (complete, failed, or there was none), else 0 (NULL: 0);
 * never blocks. Generation runs at full speed only from the complete copy (servers report it, benchmarks wait). */
int llamac_model_loaded(const llamac_model *model);

typedef struct llamac_model_info {
    char name[128];        /* general.name, or "" */
    char arch[32];         /* general.architecture ("llama") */
    int n_vocab;           /* rows of token_embd */
    int n_embd;            /* model width (dim) */
    int n_layer;
    int n_head;
    int n_head_kv;
    int head_dim;          /* n_embd / n_head */
    int n_ff;              /* SwiGLU hidden size */
    int n_ctx_train;       /* llama.context_length */
    float rope_theta;
    float norm_eps;
    int has_rope_freqs;    /* 1 if the file carries the Llama 3.1 rope_freqs divisors */
    int tied_embeddings;   /* 1 if output.weight is absent and token_embd is used as the output projection */
    int weight_type;       /* llamac_type of most matrix weights (the file's "main" type) */
    uint64_t n_params;
    uint64_t weight_bytes; /* bytes of tensor data */
} llamac_model_info;

void llamac_model_get_info(const llamac_model *model, llamac_model_info *out);

/* The GGUF view of the model file (valid until llamac_model_free); lets callers read any metadata key. */
const llamac_gguf *llamac_model_gguf(const llamac_model *model);

/* The memory one single-token llamac_decode must read, for expressing decode speed as a fraction of the
 * machine's memory bandwidth (`llamac bench`). A token at KV position n_kv (n_kv cached positions before it,
 * plus its own) reads weight_bytes + (n_kv + 1) * kv_bytes_per_pos. Activations and scratch stay in cache and
 * are not counted, so this is a lower bound on the real traffic. */
typedef struct llamac_decode_traffic {
    uint64_t weight_bytes;     /* every layer matrix and norm vector, output_norm, the whole output projection
                                  (all of token_embd when the embeddings are tied) and one token_embd row */
    uint64_t kv_bytes_per_pos; /* K and V of one position over all layers in the given cache type; also the
                                  KV cache memory per position of context */
} llamac_decode_traffic;

/* Fills *out for a cache of kv_type (llamac_kv_type). LLAMAC_E_INVALID_ARG for NULL or an unknown kv_type. */
llamac_status llamac_model_decode_traffic(const llamac_model *model, int kv_type, llamac_decode_traffic *out);

/* ---------------------------------------------------------------------------------------------------------
 * Context: KV cache and scratch for one or more independent sequences; forward pass
 * ------------------------------------------------------------------------------------------------------- */
typedef struct llamac_context llamac_context;

typedef enum llamac_kv_type {
    LLAMAC_KV_F32 = 0, /* exact (default) */
    LLAMAC_KV_F16 = 1  /* half the memory, ~1e-3 relative error in K and V */
} llamac_kv_type;

/*
 * The KV cache is paged: positions are stored in blocks of kv_block positions (K and V of every layer and KV
 * head) taken from one pool of kv_size bytes shared by all sequences. Each sequence is a table of blocks in
 * position order. Sequences may share blocks: llamac_seq_copy shares a prefix without copying it, and with
 * prefix_cache on, the full blocks of released positions are kept (least recently used evicted first) and
 * handed to any later sequence whose tokens start the same way (llamac_seq_restore_prefix). A block shared by
 * several sequences is copied before one of them writes into it. Results are bit-identical whatever the block
 * size, the sharing and the reuse: the attention kernels visit positions in the same order either way.
 */
typedef struct llamac_context_params {
    int n_ctx;      /* the most positions one sequence may hold (default 4096; 0 = the model's training context) */
    int n_seq_max;  /* independent sequences, ids 0..n_seq_max-1 (default 1) */
    int n_batch;    /* the most tokens one llamac_decode call may carry (default 512) */
    int n_logits;   /* the most tokens of one batch that may request logits (default 0 = n_seq_max);
                       each costs n_vocab floats of memory */
    int n_threads;  /* worker threads (default 0 = number of cores) */
    int kv_type;    /* llamac_kv_type */
    int kv_block;   /* positions per KV block: a power of two in 16..4096 (default 0 = 32) */
    uint64_t kv_size; /* bytes of KV memory shared by all sequences, rounded down to whole blocks (default 0 =
                         room for n_seq_max sequences of n_ctx positions). Reserved as address space only:
                         memory becomes resident as blocks are first used, and returns to the system when
                         many blocks are free */
    int prefix_cache; /* 1 (default): keep full blocks of released positions for reuse (LRU); 0: free them */
} llamac_context_params;

llamac_context_params llamac_context_default_params(void);

/* Allocates the KV cache and all scratch memory up front (never inside llamac_decode). The model must outlive
 * the context. */
llamac_status llamac_context_create(llamac_model *model, const llamac_context_params *params,
                                    llamac_context **out, char *err, size_t err_size);
void llamac_context_free(llamac_context *ctx);

/* The message of the last failed call on ctx ("" if none). Valid until the next call on ctx. */
const char *llamac_context_error(const llamac_context *ctx);
const llamac_model *llamac_context_model(const llamac_context *ctx);
int llamac_context_n_ctx(const llamac_context *ctx);
int llamac_context_n_seq(const llamac_context *ctx);
int llamac_context_n_threads(const llamac_context *ctx);

/*
 * A batch: n_tokens tokens, each with a position and a sequence id. Tokens of different sequences may be mixed
 * freely (continuous batching). Within one sequence, tokens must appear in increasing position order and
 * continue that sequence exactly: the first one at position llamac_seq_len(seq), the next one position + 1, ...
 * Each token attends to its own sequence's positions 0..pos.
 *
 *   tokens   [n_tokens]  token ids (required)
 *   pos      [n_tokens]  positions, or NULL: each token appended to its sequence
 *   seq_id   [n_tokens]  sequence ids in [0, n_seq_max), or NULL: all 0
 *   logits   [n_tokens]  1 where logits are wanted, or NULL: only the batch's last token
 *
 * The arrays are borrowed for the duration of the call.
 */
typedef struct llamac_batch {
    int32_t n_tokens;
    const int32_t *tokens;
    const int32_t *pos;
    const int32_t *seq_id;
    const int8_t *logits;
} llamac_batch;

/* Runs the forward pass for the batch and appends its K/V to the cache. The result is bit-identical whatever
 * the thread count and however a sequence's tokens are split over calls. On error nothing is appended. */
llamac_status llamac_decode(llamac_context *ctx, const llamac_batch *batch);

/* Logits [n_vocab] of batch token i of the last llamac_decode, or NULL if they were not requested.
 * Valid until the next llamac_decode on ctx. */
const float *llamac_get_logits(const llamac_context *ctx, int i);

/* ---- sequences and the KV cache (see the paged-KV note above llamac_context_params) ---- */

/* Number of cached positions of sequence seq (0 for an unknown seq). */
int llamac_seq_len(const llamac_context *ctx, int seq);
/* Forgets positions n_keep.. of sequence seq (n_keep = 0 clears it). */
llamac_status llamac_seq_truncate(llamac_context *ctx, int seq, int n_keep);
/* Removes positions p0..p1-1 of sequence seq (p1 < 0: to the end, the same as truncating to p0). When p1 is
 * inside the sequence, the later positions move down by p1 - p0 and their keys are rotated back by that many
 * positions (RoPE shift, as llama.cpp's context shift): fast, but those positions then differ from what
 * decoding the shortened text would give (in the last bits for the first layer; more in later layers, whose
 * K/V still reflect the removed text), so they are never offered to the prefix cache. Shared blocks are copied
 * first: LLAMAC_E_KV_FULL (nothing changed) when the pool has no room for the copies. */
llamac_status llamac_seq_remove(llamac_context *ctx, int seq, int p0, int p1);
/* Makes sequence dst hold the first n_pos positions of sequence src (dst's previous positions are released):
 * whole blocks are shared, not copied; a shared partial block is copied when either sequence writes into it.
 * n_pos < 0: all of src; src == dst truncates to n_pos. */
llamac_status llamac_seq_copy(llamac_context *ctx, int src, int dst, int n_pos);
/* Copies the token ids held at positions 0..n-1 of sequence seq into out (n <= llamac_seq_len). */
llamac_status llamac_seq_tokens(const llamac_context *ctx, int seq, int32_t *out, int n);
/* Prefix cache: extends sequence seq, whose cached tokens must equal tokens[0..llamac_seq_len), with cached
 * full blocks holding the following tokens (from released sequences or from other live sequences), without
 * computing anything. At most n_tokens - 1 positions end up cached (the last token must still be decoded to
 * get logits). Returns the new length of seq (unchanged when nothing matches, when the length is not a whole
 * number of blocks, or when prefix_cache is 0); a negative status code on bad arguments. */
int llamac_seq_restore_prefix(llamac_context *ctx, int seq, const int32_t *tokens, int n_tokens);
/* Releases every sequence and empties the prefix cache. */
void llamac_kv_clear(llamac_context *ctx);

typedef struct llamac_kv_stats {
    int block_size;           /* positions per block */
    int n_blocks;             /* blocks in the pool (kv_size / block_bytes) */
    int n_used;               /* blocks held by at least one sequence */
    int n_cached;             /* blocks held only by the prefix cache (reusable, evicted when needed) */
    int n_free;               /* n_blocks - n_used - n_cached */
    int n_positions;          /* positions held by all sequences (a shared position counts once per sequence) */
    uint64_t block_bytes;     /* K and V of one block */
    uint64_t resident_bytes;  /* KV memory currently backed by RAM */
    uint64_t prefix_hits;     /* llamac_seq_restore_prefix calls that restored at least one block */
    uint64_t prefix_tokens;   /* positions restored by them in total */
} llamac_kv_stats;
void llamac_kv_get_stats(const llamac_context *ctx, llamac_kv_stats *out);

/* Saves sequence seq (its tokens and K/V) to a file: magic "LLKV", format version, the model's shape and the
 * KV type; written to a temporary name and renamed. llamac_seq_load replaces sequence seq with a saved one,
 * refusing (LLAMAC_E_FORMAT / LLAMAC_E_UNSUPPORTED, with a message naming the problem) a file that is not a
 * snapshot, is truncated, has another version, or was made with another model shape or KV type; also
 * LLAMAC_E_CONTEXT_FULL for more positions than n_ctx and LLAMAC_E_KV_FULL when the pool has no room for a
 * second copy (the old positions are released only after the new ones are read). On any error the sequence is
 * unchanged. Loaded positions are never offered to the prefix cache (their origin cannot be checked). */
llamac_status llamac_seq_save(llamac_context *ctx, int seq, const char *path);
llamac_status llamac_seq_load(llamac_context *ctx, int seq, const char *path);

/* Optional progress/cancel callback polled between layers of a long decode: return non-zero to cancel
 * (llamac_decode then returns LLAMAC_E_CANCELLED and appends nothing). done and total count token-layers. */
typedef int (*llamac_progress_fn)(void *user, int64_t done, int64_t total);
void llamac_context_set_progress(llamac_context *ctx, llamac_progress_fn fn, void *user);

/* ---------------------------------------------------------------------------------------------------------
 * Sampling
 * ------------------------------------------------------------------------------------------------------- */
typedef struct llamac_sampler llamac_sampler;

/* The chain, applied in this order: logit bias, penalties (repetition, presence, frequency), top-k,
 * temperature, softmax, min-p, top-p, draw. temperature <= 0 means greedy (argmax after bias and penalties;
 * ties go to the lowest id). */
typedef struct llamac_logit_bias {
    int32_t token;
    float bias;            /* added to the token's logit; -INFINITY bans the token (NaN, +INFINITY refused);
                              several entries for one token add up */
} llamac_logit_bias;

typedef struct llamac_sampler_params {
    float temperature;     /* default 0.6 (Meta's recommended setting for Llama 3 Instruct) */
    int top_k;             /* default 0 (off); <= 0 disables */
    float top_p;           /* default 0.9 (Meta's); >= 1 disables */
    float min_p;           /* default 0 (off); <= 0 disables */
    float repeat_penalty;  /* default 1.0 (off); > 1 discourages tokens seen in the last repeat_last_n */
    int repeat_last_n;     /* default 64; the window of every penalty */
    float presence_penalty;  /* default 0 (off): subtracted once from the logit of every token in the window
                                (OpenAI's presence_penalty, -2..2) */
    float frequency_penalty; /* default 0 (off): subtracted per occurrence in the window (OpenAI's
                                frequency_penalty, -2..2) */
    const llamac_logit_bias *logit_bias; /* n_logit_bias entries (copied by llamac_sampler_create), or NULL */
    int n_logit_bias;
    uint64_t seed;         /* default 0xC0FFEE; same seed + same logits = same draws */
} llamac_sampler_params;

llamac_sampler_params llamac_sampler_default_params(void);
/* LLAMAC_E_INVALID_ARG for a bad parameter (NaN, a non-finite penalty, negative window, a logit_bias token
 * outside 0..n_vocab-1). */
llamac_status llamac_sampler_create(const llamac_sampler_params *params, int n_vocab, llamac_sampler **out);
void llamac_sampler_free(llamac_sampler *s);
/* A copy of s with the same parameters, history and generator state (to fork a sequence). */
llamac_status llamac_sampler_clone(const llamac_sampler *s, llamac_sampler **out);
/* Picks a token from logits [n_vocab] (not modified). -1 if s or logits is NULL. */
int32_t llamac_sampler_sample(llamac_sampler *s, const float *logits);

/* Log-probabilities, as the OpenAI API reports them: log-softmax of the model's raw logits (before bias,
 * penalties and temperature). */
typedef struct llamac_token_logprob {
    int32_t token;
    float logprob;
} llamac_token_logprob;
#define LLAMAC_MAX_TOP_LOGPROBS 20
/* Like llamac_sampler_sample (the same token for the same state), and also fills *chosen with the picked
 * token's log-probability and top[0..n_top) with the n_top (clamped to 0..LLAMAC_MAX_TOP_LOGPROBS) most likely
 * tokens, most likely first (ties: lower id first; entries beyond n_vocab get token -1, logprob -INFINITY).
 * chosen and top may be NULL. Computed in double in a fixed order: the same values on every machine. */
int32_t llamac_sampler_sample_logprobs(llamac_sampler *s, const float *logits, int n_top,
                                       llamac_token_logprob *chosen, llamac_token_logprob *top);
/* Records a token (prompt or generated) in the penalty history. */
void llamac_sampler_accept(llamac_sampler *s, int32_t token);
/* Forgets the history and restarts the generator from the seed. */
void llamac_sampler_reset(llamac_sampler *s);
/* Restarts the generator from a new seed (the history is kept). */
void llamac_sampler_set_seed(llamac_sampler *s, uint64_t seed);

/* ---------------------------------------------------------------------------------------------------------
 * System
 * ------------------------------------------------------------------------------------------------------- */
/* Name of the kernel path chosen for this CPU ("avx512", "avx2", "scalar"); LLAMAC_KERNELS forces one. */
const char *llamac_kernel_path(void);
/* Number of online CPU cores. */
int llamac_n_cores(void);

#ifdef __cplusplus
}
#endif

/* The rest of the public API, one header per concern. */
#include "llamac_tokenizer.h" /* vocabulary, encode/decode, special and stop tokens */
#include "llamac_chat.h"      /* Llama 3.x chat formats and tool calls */
#include "llamac_quantize.h"  /* converting models to other weight types (llamac quantize) */
#include "llamac_session.h"   /* generation sessions: a conversation on one sequence, batched stepping */
#include "llamac_file.h"      /* reading inputs and writing outputs safely (regular files, atomic replace) */
#include "llamac_eval.h"      /* perplexity and KL divergence (llamac perplexity) */
#include "llamac_engine.h"    /* the continuous-batching engine: many jobs on one context, one thread */

#endif /* LLAMAC_H */
