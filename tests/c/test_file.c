/*
 * test_file.c — src/util/file.c: inputs are regular files only (a FIFO, a device, a directory refused without
 * blocking), reads are bounded, outputs appear under their name only when committed, nothing is left behind on
 * abort, and non-regular targets are refused and left as they were (also for live log files).
 */
#include <dirent.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "util/file.h"

static char g_dir[512];

static const char *in_dir(const char *name)
{
    static char buf[4][1024];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", g_dir, name);
    return buf[k];
}

static int n_entries(void)
{
    DIR *d = opendir(g_dir);
    int n = 0;
    struct dirent *de;
    while (d && (de = readdir(d)))
        n += strcmp(de->d_name, ".") && strcmp(de->d_name, "..");
    if (d)
        closedir(d);
    return n;
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "wb");
    if (f) {
        fputs(text, f);
        fclose(f);
    }
}

static void test_inputs(void)
{
    lc_err e = {{0}};
    int fd;
    const char *fifo = in_dir("fifo");
    CHECK(mkfifo(fifo, 0600) == 0, "mkfifo");
    CHECK(lc_open_regular(fifo, "model", &fd, &e) == LLAMAC_E_IO && fd == -1 && strstr(e.msg, "FIFO") &&
              strstr(e.msg, "model"),
          "FIFO: %s", e.msg);
    CHECK(lc_open_regular("/dev/zero", NULL, &fd, &e) == LLAMAC_E_IO && strstr(e.msg, "character device"),
          "device: %s", e.msg);
    CHECK(lc_open_regular(g_dir, NULL, &fd, &e) == LLAMAC_E_IO && strstr(e.msg, "directory"), "dir: %s", e.msg);
    CHECK(lc_open_regular(in_dir("missing"), NULL, &fd, &e) == LLAMAC_E_IO && strstr(e.msg, "cannot open"),
          "missing: %s", e.msg);
    unlink(fifo);

    const char *txt = in_dir("text");
    write_file(txt, "hello world");
    char *buf = NULL;
    size_t len = 0;
    CHECK(lc_read_regular(txt, NULL, 100, &buf, &len, &e) == LLAMAC_OK && len == 11 && !strcmp(buf, "hello world"),
          "read: %s", e.msg);
    free(buf);
    CHECK(lc_read_regular(txt, NULL, 11, &buf, &len, &e) == LLAMAC_OK && len == 11, "read at the limit: %s", e.msg);
    free(buf);
    CHECK(lc_read_regular(txt, "prompt", 10, &buf, &len, &e) == LLAMAC_E_IO && !buf && strstr(e.msg, "larger"),
          "over the limit: %s", e.msg);
    unlink(txt);
}

static void test_outputs(void)
{
    lc_err e = {{0}};
    lc_outfile o;
    char out[1024];
    snprintf(out, sizeof out, "%s", in_dir("out.bin"));
    CHECK(lc_outfile_open(&o, out, NULL, &e) == LLAMAC_OK, "open: %s", e.msg);
    fputs("data", o.f);
    CHECK(access(out, F_OK) != 0, "the target exists before commit");
    int entries = n_entries();
    CHECK(o.tmp ? entries == 1 : entries == 0, "%d entries while writing (temp %s)", entries, o.tmp ? o.tmp : "-");
    CHECK(lc_outfile_commit(&o, &e) == LLAMAC_OK, "commit: %s", e.msg);
    char *buf = NULL;
    CHECK(lc_read_regular(out, NULL, 100, &buf, NULL, &e) == LLAMAC_OK && !strcmp(buf, "data"), "content");
    free(buf);
    CHECK(n_entries() == 1, "files besides the output: %d", n_entries() - 1);

    /* abort: nothing left, the old target unchanged */
    CHECK(lc_outfile_open(&o, out, NULL, &e) == LLAMAC_OK, "reopen: %s", e.msg);
    fputs("new", o.f);
    lc_outfile_abort(&o);
    CHECK(n_entries() == 1 && lc_read_regular(out, NULL, 100, &buf, NULL, &e) == LLAMAC_OK && !strcmp(buf, "data"),
          "abort changed something");
    free(buf);

    /* non-regular targets: refused before anything is created, and left as they were */
    char link[1024], fifo[1024], dir[1024];
    snprintf(link, sizeof link, "%s", in_dir("link"));
    snprintf(fifo, sizeof fifo, "%s", in_dir("fifo-out"));
    snprintf(dir, sizeof dir, "%s", in_dir("dir"));
    CHECK(symlink(out, link) == 0 && mkfifo(fifo, 0600) == 0 && mkdir(dir, 0700) == 0, "setup");
    const char *bad[] = {link, fifo, dir, "/dev/null"};
    const char *kind[] = {"symbolic link", "FIFO", "directory", "character device"};
    for (int i = 0; i < 4; i++) {
        CHECK(lc_outfile_open(&o, bad[i], NULL, &e) == LLAMAC_E_IO && !o.f && strstr(e.msg, kind[i]),
              "%s: %s", bad[i], e.msg);
        CHECK(lc_output_check(bad[i], NULL, &e) == LLAMAC_E_IO, "check %s", bad[i]);
    }
    struct stat sb;
    CHECK(lstat(link, &sb) == 0 && S_ISLNK(sb.st_mode) && lstat(fifo, &sb) == 0 && S_ISFIFO(sb.st_mode) &&
              lstat(dir, &sb) == 0 && S_ISDIR(sb.st_mode),
          "a refused target changed");
    CHECK(lc_output_check(in_dir("x/"), NULL, &e) == LLAMAC_E_INVALID_ARG, "trailing slash");
    CHECK(lc_output_check("", NULL, &e) == LLAMAC_E_INVALID_ARG, "empty path");

    /* the target replaced by a FIFO while writing: refused at commit, nothing left */
    const char *late = in_dir("late.bin");
    CHECK(lc_outfile_open(&o, late, NULL, &e) == LLAMAC_OK, "open late");
    CHECK(mkfifo(late, 0600) == 0, "mkfifo late");
    CHECK(lc_outfile_commit(&o, &e) == LLAMAC_E_IO && strstr(e.msg, "FIFO"), "late FIFO: %s", e.msg);
    CHECK(lstat(late, &sb) == 0 && S_ISFIFO(sb.st_mode), "the late FIFO was replaced");
    unlink(late);
    unlink(link);
    unlink(fifo);
    rmdir(dir);
    unlink(out);
    CHECK(n_entries() == 0, "%d files left", n_entries());
}

/* lc_log_open: a live log, written in place; the same refusals as an output, nothing created for them */
static void test_log(void)
{
    lc_err e = {{0}};
    FILE *f = NULL;
    const char *log = in_dir("trace.log");
    write_file(log, "old content that must be truncated");
    CHECK(lc_log_open(log, "trace", &f, &e) == LLAMAC_OK && f, "open: %s", e.msg);
    if (f) {
        fputs("line\n", f);
        fflush(f);
        char *buf = NULL;
        CHECK(lc_read_regular(log, NULL, 100, &buf, NULL, &e) == LLAMAC_OK && !strcmp(buf, "line\n"),
              "a flushed line is readable at once and the old content is gone: %s", buf ? buf : e.msg);
        free(buf);
        fclose(f);
    }
    char link[1024], fifo[1024];
    snprintf(link, sizeof link, "%s", in_dir("log-link"));
    snprintf(fifo, sizeof fifo, "%s", in_dir("log-fifo"));
    CHECK(symlink(log, link) == 0 && mkfifo(fifo, 0600) == 0, "setup");
    const char *bad[] = {link, fifo, g_dir, "/dev/null"};
    const char *kind[] = {"symbolic link", "FIFO", "directory", "character device"};
    for (int i = 0; i < 4; i++) {
        f = NULL;
        CHECK(lc_log_open(bad[i], "trace", &f, &e) == LLAMAC_E_IO && !f && strstr(e.msg, kind[i]) &&
                  strstr(e.msg, "trace"),
              "%s: %s", bad[i], e.msg);
        if (f)
            fclose(f);
    }
    struct stat sb;
    CHECK(lstat(link, &sb) == 0 && S_ISLNK(sb.st_mode) && lstat(fifo, &sb) == 0 && S_ISFIFO(sb.st_mode),
          "a refused log target changed");
    CHECK(lc_log_open(in_dir("no-such-dir/x.log"), NULL, &f, &e) == LLAMAC_E_IO && strstr(e.msg, "No such"),
          "missing directory: %s", e.msg);
    unlink(link);
    unlink(fifo);
    unlink(log);
}

int main(void)
{
    const char *build = getenv("LLAMAC_BUILD");
    snprintf(g_dir, sizeof g_dir, "%s/test-scratch/file-%ld", build ? build : "/tmp", (long)getpid());
    char parent[600];
    snprintf(parent, sizeof parent, "%s/test-scratch", build ? build : "/tmp");
    mkdir(parent, 0700);
    if (mkdir(g_dir, 0700) != 0) {
        fprintf(stderr, "cannot create %s\n", g_dir);
        return 1;
    }
    test_inputs();
    test_outputs();
    test_log();
    rmdir(g_dir);
    return check_finish("file");
}
