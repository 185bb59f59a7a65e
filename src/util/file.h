/*
 * file.h — the library's one way to open an input file and to write an output file. Every path the library or
 * the program reads or writes goes through these, so the rules below hold everywhere:
 *
 * Input: only a regular file is read. The path is checked with stat() and opened with O_NONBLOCK, then checked
 * again with fstat() on the open descriptor, so a FIFO, socket, device or directory is refused with a message
 * naming what it is — opening never blocks and nothing is read from it.
 *
 * Output: written to an unnamed temporary file in the target's directory (O_TMPFILE), linked under a temporary
 * name and renamed over the target only when complete (fsync first). Nothing is left behind on any failure or
 * signal, even SIGKILL, since the file has no name until it is complete. Where the filesystem lacks O_TMPFILE a
 * named hidden temporary ("<dir>/.<name>.tmp-<pid>-<n>") is used and removed on every failure; a process killed
 * by a signal it cannot catch can then leave it behind. An existing target that is not a regular file (symlink,
 * FIFO, device such as /dev/null, directory, socket) is refused before any work, never replaced or written
 * through.
 */
#ifndef LC_FILE_H
#define LC_FILE_H

#include <stddef.h>
#include <stdio.h>

#include "util/err.h"

/* Opens path read-only if it is a regular file; *fd is -1 on failure. what names the file in messages
 * ("model", "KV snapshot"; NULL: "file"). LLAMAC_E_IO on failure. */
llamac_status lc_open_regular(const char *path, const char *what, int *fd, lc_err *e);

/* Reads a whole regular file of at most max_bytes into a NUL-terminated malloc'd buffer (*out, caller frees;
 * *len without the NUL, len may be NULL). LLAMAC_E_IO (cannot open, not a regular file, read error, longer
 * than max_bytes), LLAMAC_E_NOMEM. */
llamac_status lc_read_regular(const char *path, const char *what, size_t max_bytes, char **out, size_t *len,
                              lc_err *e);

/* Refuses an output path that cannot be written as a regular file: empty or ending in '/' (LLAMAC_E_INVALID_ARG),
 * or naming an existing non-regular file (LLAMAC_E_IO; a symlink, even to a regular file, is refused: renaming
 * would replace it). */
llamac_status lc_output_check(const char *path, const char *what, lc_err *e);

/* Opens a log file written as it goes (a trace read while the program runs), truncating it: the same target
 * rules as lc_output_check (an existing symlink, FIFO, device, directory or socket is refused, never written
 * through), and the open itself neither follows a symlink nor blocks (O_NOFOLLOW | O_NONBLOCK, then fstat). */
llamac_status lc_log_open(const char *path, const char *what, FILE **out, lc_err *e);

/* An output file being written (see the top of this file). f is a buffered stream on the temporary file. */
typedef struct lc_outfile {
    FILE *f;
    char *path; /* the target */
    char *tmp;  /* the named temporary (fallback) or NULL (O_TMPFILE) */
    const char *what;
} lc_outfile;

/* Checks the target (lc_output_check) and creates the temporary file. On failure *o is zeroed. */
llamac_status lc_outfile_open(lc_outfile *o, const char *path, const char *what, lc_err *e);
/* Flushes, fsyncs and moves the file onto its target; the target is checked again first. Frees o's resources
 * either way (on failure nothing is left behind). */
llamac_status lc_outfile_commit(lc_outfile *o, lc_err *e);
/* Discards the file (nothing is left behind); no-op on a zeroed or already committed lc_outfile. */
void lc_outfile_abort(lc_outfile *o);

#endif
