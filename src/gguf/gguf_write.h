/*
 * gguf_write.h — writing GGUF v3 files (used by `llamac quantize`).
 *
 *     lc_gguf_writer *w;
 *     lc_gguf_writer_open("out.gguf", &w, e);               // creates a temporary file next to out.gguf
 *     lc_gguf_writer_copy_kv(w, src, e);                     // every metadata pair of an open file
 *     lc_gguf_writer_set_u32(w, "general.file_type", 15, e); // replaces in place, or appends
 *     lc_gguf_writer_add_tensor(w, "blk.0.attn_q.weight", 2, ne, LLAMAC_TYPE_Q4_K, e);   // all infos first
 *     lc_gguf_writer_begin_data(w, e);                       // writes header + infos
 *     lc_gguf_writer_write(w, bytes, n, e);                  // tensor data, in info order, in any chunking
 *     lc_gguf_writer_finish(w, e);                           // checks, fsyncs, renames onto out.gguf; frees w
 *
 * Invariants: nothing ever exists under the final name until finish() succeeds (the data goes to an unnamed
 * temporary file in the destination directory, renamed atomically at the end: util/file.h), and on any error —
 * or on lc_gguf_writer_abort — the temporary file is removed. An existing output that is not a regular file is
 * refused by open(). Tensor offsets are multiples of the alignment, which
 * is the u32 "general.alignment" value if the metadata has one (a power of two), else 32. Each tensor's data
 * is padded with zeros to the alignment. After an error every call fails; only abort() remains useful.
 * Metadata values are deep-copied (encoded) when added, so a source file may be closed afterwards.
 */
#ifndef LC_GGUF_WRITE_H
#define LC_GGUF_WRITE_H

#include <stddef.h>
#include <stdint.h>

#include "gguf/gguf.h"

typedef struct lc_gguf_writer lc_gguf_writer;

llamac_status lc_gguf_writer_open(const char *path, lc_gguf_writer **out, lc_err *e);
/* Removes the temporary file and frees w (NULL: no-op). */
void lc_gguf_writer_abort(lc_gguf_writer *w);

/* The temporary file's path (valid until finish/abort), for messages and tests; NULL while the file is an
 * unnamed O_TMPFILE (util/file.h), which is the usual case. */
const char *lc_gguf_writer_temp_path(const lc_gguf_writer *w);

/* ---- metadata (before begin_data) ---- */
llamac_status lc_gguf_writer_set(lc_gguf_writer *w, const char *key, const lc_gguf_value *v, lc_err *e);
llamac_status lc_gguf_writer_set_u32(lc_gguf_writer *w, const char *key, uint32_t v, lc_err *e);
llamac_status lc_gguf_writer_set_str(lc_gguf_writer *w, const char *key, const char *s, lc_err *e);
/* Copies every key/value pair of src (all value types, nested arrays included), in src's order. */
llamac_status lc_gguf_writer_copy_kv(lc_gguf_writer *w, const lc_gguf *src, lc_err *e);
/* Removes a key if present; returns 1 if it was. */
int lc_gguf_writer_remove(lc_gguf_writer *w, const char *key);

/* ---- tensors ---- */
/* Declares the next tensor (ne[0] innermost; dims beyond n_dims ignored). ne[0] must be a multiple of the
 * type's block size. */
llamac_status lc_gguf_writer_add_tensor(lc_gguf_writer *w, const char *name, int n_dims, const int64_t ne[4],
                                        int type, lc_err *e);
/* Writes the header, metadata and tensor infos; after this only data may be written. */
llamac_status lc_gguf_writer_begin_data(lc_gguf_writer *w, lc_err *e);
/* Appends n bytes of tensor data: the tensors' bytes in declaration order, chunked any way (a chunk may span
 * tensors). Padding between tensors is inserted automatically. */
llamac_status lc_gguf_writer_write(lc_gguf_writer *w, const void *data, size_t n, lc_err *e);
/* Completes the file: every declared byte must have been written. On success the file is under its final
 * name; either way w is freed (on failure the temporary file is removed). */
llamac_status lc_gguf_writer_finish(lc_gguf_writer *w, lc_err *e);

/* Total bytes the file will have (valid after begin_data). */
uint64_t lc_gguf_writer_file_size(const lc_gguf_writer *w);

#endif
