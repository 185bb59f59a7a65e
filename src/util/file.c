/*
 * file.c — opening input files (regular files only, never blocking) and writing output files (unnamed
 * temporary, renamed over the target when complete). The rules are in file.h.
 */
#include "util/file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *kind_of(mode_t m)
{
    if (S_ISDIR(m))
        return "a directory";
    if (S_ISFIFO(m))
        return "a FIFO (named pipe)";
    if (S_ISCHR(m))
        return "a character device";
    if (S_ISBLK(m))
        return "a block device";
    if (S_ISSOCK(m))
        return "a socket";
    if (S_ISLNK(m))
        return "a symbolic link";
    return "not a regular file";
}

static llamac_status not_regular(const char *path, const char *what, mode_t m, lc_err *e)
{
    return lc_fail(e, LLAMAC_E_IO, "%s '%s' is %s, not a regular file", what, path, kind_of(m));
}

llamac_status lc_open_regular(const char *path, const char *what, int *fd, lc_err *e)
{
    *fd = -1;
    what = what ? what : "file";
    if (!path || !*path)
        return lc_fail(e, LLAMAC_E_INVALID_ARG, "no %s path given", what);
    struct stat sb;
    if (stat(path, &sb) != 0)
        return lc_fail(e, LLAMAC_E_IO, "cannot open %s '%s': %s", what, path, strerror(errno));
    if (!S_ISREG(sb.st_mode))
        return not_regular(path, what, sb.st_mode, e);
    /* the path may have changed since stat(): O_NONBLOCK keeps a FIFO put there from blocking the open */
    int f = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
    if (f < 0)
        return lc_fail(e, LLAMAC_E_IO, "cannot open %s '%s': %s", what, path, strerror(errno));
    if (fstat(f, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        close(f);
        return not_regular(path, what, sb.st_mode, e);
    }
    int fl = fcntl(f, F_GETFL);
    if (fl >= 0)
        fcntl(f, F_SETFL, fl & ~O_NONBLOCK);
    *fd = f;
    return LLAMAC_OK;
}

llamac_status lc_read_regular(const char *path, const char *what, size_t max_bytes, char **out, size_t *len,
                              lc_err *e)
{
    *out = NULL;
    if (len)
        *len = 0;
    what = what ? what : "file";
    int fd;
    llamac_status st = lc_open_regular(path, what, &fd, e);
    if (st)
        return st;
    struct stat sb;
    if (fstat(fd, &sb) != 0 || (uint64_t)sb.st_size > max_bytes) {
        close(fd);
        return lc_fail(e, LLAMAC_E_IO, "%s '%s' is larger than %zu bytes", what, path, max_bytes);
    }
    /* the size is a hint: the file may grow or shrink while read; reading stops at max_bytes + 1 */
    size_t cap = (size_t)sb.st_size + 1, n = 0;
    char *buf = malloc(cap + 1);
    if (!buf) {
        close(fd);
        return lc_fail(e, LLAMAC_E_NOMEM, "out of memory reading %s '%s'", what, path);
    }
    for (;;) {
        if (n == cap) {
            if (cap > max_bytes) {
                st = lc_fail(e, LLAMAC_E_IO, "%s '%s' is larger than %zu bytes", what, path, max_bytes);
                break;
            }
            size_t nc = cap > max_bytes / 2 ? max_bytes + 1 : cap * 2;
            char *nb = realloc(buf, nc + 1);
            if (!nb) {
                st = lc_fail(e, LLAMAC_E_NOMEM, "out of memory reading %s '%s'", what, path);
                break;
            }
            buf = nb;
            cap = nc;
        }
        ssize_t r = read(fd, buf + n, cap - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            st = lc_fail(e, LLAMAC_E_IO, "cannot read %s '%s': %s", what, path, strerror(errno));
            break;
        }
        if (r == 0)
            break;
        n += (size_t)r;
    }
    close(fd);
    if (!st && n > max_bytes)
        st = lc_fail(e, LLAMAC_E_IO, "%s '%s' is larger than %zu bytes", what, path, max_bytes);
    if (st) {
        free(buf);
        return st;
    }
    buf[n] = 0;
    *out = buf;
    if (len)
        *len = n;
    return LLAMAC_OK;
}

llamac_status lc_output_check(const char *path, const char *what, lc_err *e)
{
    what = what ? what : "output file";
    if (!path || !*path)
        return lc_fail(e, LLAMAC_E_INVALID_ARG, "no %s path given", what);
    size_t n = strlen(path);
    struct stat sb;
    if (path[n - 1] == '/')
        return lc_fail(e, LLAMAC_E_INVALID_ARG, "%s '%s' names a directory, not a file", what, path);
    if (lstat(path, &sb) == 0 && !S_ISREG(sb.st_mode))
        return lc_fail(e, LLAMAC_E_IO, "%s '%s' exists and is %s, not a regular file: refusing to replace it", what,
                       path, kind_of(sb.st_mode));
    return LLAMAC_OK;
}

llamac_status lc_log_open(const char *path, const char *what, FILE **out, lc_err *e)
{
    *out = NULL;
    what = what ? what : "log file";
    llamac_status st = lc_output_check(path, what, e);
    if (st)
        return st;
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY, 0644);
    if (fd < 0)
        return lc_fail(e, LLAMAC_E_IO, "cannot write %s '%s': %s", what, path, strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        close(fd);
        return lc_fail(e, LLAMAC_E_IO, "%s '%s' is %s, not a regular file: refusing to write it", what, path,
                       kind_of(sb.st_mode));
    }
    int fl = fcntl(fd, F_GETFL);
    if (fl >= 0)
        fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
    FILE *f = fdopen(fd, "w");
    if (!f) {
        close(fd);
        return lc_fail(e, LLAMAC_E_NOMEM, "cannot write %s '%s': out of memory", what, path);
    }
    *out = f;
    return LLAMAC_OK;
}

static _Atomic unsigned g_tmp_counter;

/* "<dir>/.<base>.tmp-<pid>-<n>" next to path */
static char *temp_name(const char *path)
{
    const char *slash = strrchr(path, '/');
    const char *base = slash ? slash + 1 : path;
    int dir_len = slash ? (int)(slash - path) + 1 : 0;
    size_t cap = strlen(path) + 64;
    char *t = malloc(cap);
    if (t)
        snprintf(t, cap, "%.*s.%s.tmp-%ld-%u", dir_len, path, base, (long)getpid(),
                 atomic_fetch_add(&g_tmp_counter, 1));
    return t;
}

static char *dir_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    if (!slash)
        return strdup(".");
    if (slash == path)
        return strdup("/");
    return strndup(path, (size_t)(slash - path));
}

void lc_outfile_abort(lc_outfile *o)
{
    if (o->f)
        fclose(o->f);
    if (o->tmp)
        unlink(o->tmp);
    free(o->tmp);
    free(o->path);
    memset(o, 0, sizeof *o);
}

llamac_status lc_outfile_open(lc_outfile *o, const char *path, const char *what, lc_err *e)
{
    memset(o, 0, sizeof *o);
    what = what ? what : "output file";
    llamac_status st = lc_output_check(path, what, e);
    if (st)
        return st;
    o->what = what;
    char *dir = dir_of(path);
    if (!dir || !(o->path = strdup(path))) {
        free(dir);
        return lc_fail(e, LLAMAC_E_NOMEM, "out of memory");
    }
    int fd = -1, err = 0;
#ifdef O_TMPFILE
    /* naming it at the end goes through /proc (linkat with AT_EMPTY_PATH needs a capability) */
    if (access("/proc/self/fd", X_OK) == 0) {
        fd = open(dir, O_TMPFILE | O_WRONLY | O_CLOEXEC, 0666);
        err = errno;
    }
#endif
    /* no O_TMPFILE here (kernel or filesystem): a named temporary, removed on every failure */
    if (fd < 0 && (err == 0 || err == EOPNOTSUPP || err == EISDIR || err == EINVAL)) {
        for (int attempt = 0; attempt < 100 && fd < 0; attempt++) {
            free(o->tmp);
            if (!(o->tmp = temp_name(path))) {
                free(dir);
                lc_outfile_abort(o);
                return lc_fail(e, LLAMAC_E_NOMEM, "out of memory");
            }
            fd = open(o->tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
            err = errno;
            if (fd < 0 && err != EEXIST)
                break;
        }
        if (fd < 0) {
            free(o->tmp);
            o->tmp = NULL;
        }
    }
    if (fd < 0) {
        st = lc_fail(e, LLAMAC_E_IO, "cannot create the %s '%s' in '%s': %s", what, path, dir, strerror(err));
        free(dir);
        lc_outfile_abort(o);
        return st;
    }
    free(dir);
    if (!(o->f = fdopen(fd, "wb"))) {
        close(fd);
        lc_outfile_abort(o);
        return lc_fail(e, LLAMAC_E_NOMEM, "cannot open a stream on %s '%s'", what, path);
    }
    setvbuf(o->f, NULL, _IOFBF, 1 << 20);
    return LLAMAC_OK;
}

/* Gives the unnamed temporary a name in the target's directory (o->tmp). */
static int link_tmpfile(lc_outfile *o, int fd)
{
    char proc[64];
    snprintf(proc, sizeof proc, "/proc/self/fd/%d", fd);
    for (int attempt = 0; attempt < 100; attempt++) {
        free(o->tmp);
        if (!(o->tmp = temp_name(o->path))) {
            errno = ENOMEM;
            return -1;
        }
        int r = linkat(AT_FDCWD, proc, AT_FDCWD, o->tmp, AT_SYMLINK_FOLLOW);
        if (r != 0 && errno == ENOENT) /* no /proc: needs CAP_DAC_READ_SEARCH */
            r = linkat(fd, "", AT_FDCWD, o->tmp, AT_EMPTY_PATH);
        if (r == 0)
            return 0;
        if (errno != EEXIST)
            break;
    }
    int err = errno;
    free(o->tmp);
    o->tmp = NULL;
    errno = err;
    return -1;
}

llamac_status lc_outfile_commit(lc_outfile *o, lc_err *e)
{
    if (!o->f)
        return lc_fail(e, LLAMAC_E_INVALID_ARG, "output file not open");
    llamac_status st = LLAMAC_OK;
    int err = 0;
    if (fflush(o->f) != 0 || fsync(fileno(o->f)) != 0)
        err = errno ? errno : EIO;
    if (!err && !o->tmp && link_tmpfile(o, fileno(o->f)) != 0)
        err = errno;
    if (fclose(o->f) != 0 && !err)
        err = errno ? errno : EIO;
    o->f = NULL;
    if (err)
        st = lc_fail(e, LLAMAC_E_IO, "cannot write %s '%s': %s", o->what, o->path, strerror(err));
    else if ((st = lc_output_check(o->path, o->what, e))) /* something replaced the target meanwhile */
        ;
    else if (rename(o->tmp, o->path) != 0)
        st = lc_fail(e, LLAMAC_E_IO, "cannot move the finished file to '%s': %s", o->path, strerror(errno));
    else {
        free(o->tmp); /* renamed: nothing left to remove */
        o->tmp = NULL;
    }
    lc_outfile_abort(o);
    return st;
}
