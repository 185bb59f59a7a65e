/*
 * kl_file.h — the log-probability file of a reference run (`llamac perplexity --kl-base FILE`), read back by a
 * KL run (`--kl FILE`). Our own format; all numbers little-endian.
 *
 *   header, 64 bytes:
 *     0  magic "LLAMACLP"            8  u32 version (1)            12 u32 header bytes (64)
 *     16 u32 n_vocab                 20 u32 n_window               24 u32 n_windows
 *     28 u32 n_scored (per window: n_window - 1 - n_window/2)      32 i32 bos (-1: none)
 *     36 u32 record bytes (20 + 2 n_vocab)                         40 u64 n_tokens (n_windows * n_window)
 *     48 u64 file bytes (the whole file)                           56 u64 reserved (0)
 *   tokens: i32 [n_tokens], each in [0, n_vocab): the evaluated text, window after window, as tokenized
 *     (before the BOS that replaces each window's first token)
 *   records: n_windows * n_scored of { f64 nll, f32 scale, f32 min_lp, i32 top, u16 codes[n_vocab] }
 *     in token order (logprob.h)
 *
 * Everything is validated before use: the magic, the version, each size against the others and against the
 * file's real length (a truncated or padded file is refused before any record is read), every token id, and
 * every record as it is read (finite values in their ranges, top < n_vocab). The reader never allocates more
 * than the file's length. Writing goes to a temporary file beside the destination, renamed at the end.
 */
#ifndef LC_EVAL_KL_FILE_H
#define LC_EVAL_KL_FILE_H

#include <stdint.h>
#include <stdio.h>

#include "eval/logprob.h"
#include "util/err.h"
#include "util/file.h"

#define LC_KL_MAGIC "LLAMACLP"
#define LC_KL_VERSION 1u
#define LC_KL_HEADER_BYTES 64u
#define LC_KL_RECORD_HEAD 20u
#define LC_KL_MAX_VOCAB (1u << 24)
#define LC_KL_MAX_WINDOW (1u << 20)
#define LC_KL_MAX_TOKENS (1ull << 34)
#define LC_KL_MAX_WINDOWS (1u << 30) /* so a window count always fits an int */

typedef struct lc_kl_header {
    uint32_t n_vocab, n_window, n_windows, n_scored, record_bytes;
    int32_t bos;
    uint64_t n_tokens, file_bytes;
} lc_kl_header;

/* A consistent header for these sizes (file_bytes 0 if they are out of range). */
void lc_kl_header_make(lc_kl_header *h, uint32_t n_vocab, uint32_t n_window, uint32_t n_windows, int32_t bos);
void lc_kl_header_pack(const lc_kl_header *h, uint8_t out[LC_KL_HEADER_BYTES]);
/* Parses buf[0..len) (the file's first bytes) of a file of file_size bytes. */
llamac_status lc_kl_header_parse(const uint8_t *buf, size_t len, uint64_t file_size, lc_kl_header *h, lc_err *e);

typedef struct lc_kl_reader {
    FILE *f;
    const char *name;  /* for messages (borrowed) */
    lc_kl_header h;
    int32_t *tokens;   /* [h.n_tokens], owned */
    uint8_t *buf;      /* one record, owned */
    uint64_t next;     /* records read */
} lc_kl_reader;

/* Opens path (refusing anything but a regular file, without blocking on a FIFO), parses the header and the
 * tokens. On failure everything is released. */
llamac_status lc_kl_reader_open(lc_kl_reader *r, const char *path, lc_err *e);
/* The same on an open stream of size bytes (the reader owns f from here on, also on failure). */
llamac_status lc_kl_reader_open_stream(lc_kl_reader *r, FILE *f, uint64_t size, const char *name, lc_err *e);
/* Reads and validates the next record; codes[h.n_vocab]. */
llamac_status lc_kl_reader_next(lc_kl_reader *r, lc_lp_record *rec, uint16_t *codes, lc_err *e);
void lc_kl_reader_close(lc_kl_reader *r);

typedef struct lc_kl_writer {
    lc_outfile out;    /* the file being written (util/file.h: temporary, renamed into place when complete) */
    lc_kl_header h;
    uint8_t *buf;      /* one record, owned */
    uint64_t n_written;
} lc_kl_writer;

/* Creates the temporary file and writes the header and tokens[h->n_tokens]. */
llamac_status lc_kl_writer_open(lc_kl_writer *w, const char *path, const lc_kl_header *h, const int32_t *tokens,
                                lc_err *e);
llamac_status lc_kl_writer_add(lc_kl_writer *w, const lc_lp_record *rec, const uint16_t *codes, lc_err *e);
/* Checks that every record was written, syncs and renames the file into place; on failure as abort. */
llamac_status lc_kl_writer_finish(lc_kl_writer *w, lc_err *e);
/* Removes the temporary file and releases everything (no-op after finish). */
void lc_kl_writer_abort(lc_kl_writer *w);

#endif
