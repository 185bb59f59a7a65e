/*
 * llamac_file.h — reading input files and writing output files with the library's own rules, for programs
 * built on it (the llamac CLI uses these for every path it reads or writes). Included by llamac.h.
 *
 *     char *text; size_t len; char err[512];
 *     if (llamac_read_file("system.txt", 1 << 20, &text, &len, err, sizeof err)) puts(err);
 *
 *     llamac_output *o;
 *     if (llamac_output_open("out.bin", &o, err, sizeof err) == LLAMAC_OK) {
 *         fwrite(data, 1, n, llamac_output_stream(o));
 *         if (llamac_output_commit(o, err, sizeof err)) puts(err);   // frees o either way
 *     }
 *
 * Inputs: only regular files are read; a FIFO, socket, device or directory is refused before anything could
 * block. Outputs: written to an unnamed temporary file in the target's directory and renamed over the target
 * only when complete, so a failure or any signal (even SIGKILL) leaves neither a partial target nor a temporary
 * file (where the filesystem lacks O_TMPFILE, a hidden named temporary is used and removed on every failure the
 * process sees). An existing target that is not a regular file — a symlink, FIFO, device (/dev/null included),
 * directory or socket — is refused before any work; it is never replaced or written through.
 */
#ifndef LLAMAC_FILE_H
#define LLAMAC_FILE_H

#include <stddef.h>
#include <stdio.h>

#include "llamac.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Reads a whole regular file of at most max_bytes. *out is NUL-terminated and malloc'd (caller frees with
 * free()); *len (len may be NULL) excludes the NUL. LLAMAC_E_IO / LLAMAC_E_NOMEM with a message. */
llamac_status llamac_read_file(const char *path, size_t max_bytes, char **out, size_t *len, char *err,
                               size_t err_size);

/* Checks that path can be written as an output file without doing anything: LLAMAC_E_IO with a message when
 * it names an existing non-regular file or ends in '/'. llamac_output_open checks this too. */
llamac_status llamac_output_check(const char *path, char *err, size_t err_size);

/* Opens a log written as the program runs (each line readable at once, e.g. a token trace), truncating it. The
 * target rules of llamac_output_check apply, and the open neither follows a symlink nor blocks; the file is
 * written in place (not atomic). Close with fclose(). LLAMAC_E_IO with a message. */
llamac_status llamac_log_open(const char *path, FILE **out, char *err, size_t err_size);

typedef struct llamac_output llamac_output;
/* Starts writing path (see above). */
llamac_status llamac_output_open(const char *path, llamac_output **out, char *err, size_t err_size);
/* The buffered stream to write to (valid until commit or abort). */
FILE *llamac_output_stream(llamac_output *o);
/* Flushes, syncs and renames the file onto its target; frees o either way. */
llamac_status llamac_output_commit(llamac_output *o, char *err, size_t err_size);
/* Discards the file and frees o (NULL: no-op). */
void llamac_output_abort(llamac_output *o);

#ifdef __cplusplus
}
#endif

#endif /* LLAMAC_FILE_H */
