/*
 * chat_tools.c — see chat_tools.h. fork + exec of /bin/sh with two pipes; the loop polls stdout so that an
 * interrupt can kill the child instead of blocking.
 */
#include "chat_tools.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define TOOL_MAX_OUTPUT (1u << 20)

int chat_tool_exec(const char *cmd, const char *input, size_t input_len, volatile sig_atomic_t *interrupt,
                   char **out, char *err, size_t err_size)
{
    *out = NULL;
    int in_pipe[2], out_pipe[2];
    if (pipe(in_pipe) != 0)
        return snprintf(err, err_size, "cannot create a pipe: %s", strerror(errno)), 1;
    if (pipe(out_pipe) != 0) {
        close(in_pipe[0]);
        close(in_pipe[1]);
        return snprintf(err, err_size, "cannot create a pipe: %s", strerror(errno)), 1;
    }
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0) {
        close(in_pipe[0]);
        close(in_pipe[1]);
        close(out_pipe[0]);
        close(out_pipe[1]);
        return snprintf(err, err_size, "cannot start the tool command: %s", strerror(errno)), 1;
    }
    if (pid == 0) {
        signal(SIGINT, SIG_DFL);
        signal(SIGPIPE, SIG_DFL);
        dup2(in_pipe[0], 0);
        dup2(out_pipe[1], 1);
        close(in_pipe[0]);
        close(in_pipe[1]);
        close(out_pipe[0]);
        close(out_pipe[1]);
        execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
        _exit(127);
    }
    close(in_pipe[0]);
    close(out_pipe[1]);
    /* the input is small (one call); a command that does not read it gets EPIPE, which we ignore */
    void (*old_pipe)(int) = signal(SIGPIPE, SIG_IGN);
    size_t off = 0;
    while (off < input_len) {
        ssize_t w = write(in_pipe[1], input + off, input_len - off);
        if (w <= 0)
            break;
        off += (size_t)w;
    }
    close(in_pipe[1]);
    signal(SIGPIPE, old_pipe);

    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    int failed = 0;
    for (;;) {
        if (interrupt && *interrupt) {
            kill(pid, SIGKILL);
            snprintf(err, err_size, "interrupted");
            failed = 1;
            break;
        }
        struct pollfd pf = {out_pipe[0], POLLIN, 0};
        int pr = poll(&pf, 1, 100);
        if (pr < 0 && errno != EINTR) {
            failed = 1;
            snprintf(err, err_size, "poll failed: %s", strerror(errno));
            break;
        }
        if (pr <= 0)
            continue;
        if (!buf || n + 4096 > cap) {
            char *nb = buf && cap < TOOL_MAX_OUTPUT * 2 ? realloc(buf, cap * 2) : NULL;
            if (!nb) {
                kill(pid, SIGKILL);
                snprintf(err, err_size, "the tool command printed more than %u bytes", TOOL_MAX_OUTPUT);
                failed = 1;
                break;
            }
            buf = nb;
            cap *= 2;
        }
        ssize_t r = read(out_pipe[0], buf + n, cap - n - 1);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        n += (size_t)r;
        if (n > TOOL_MAX_OUTPUT) {
            kill(pid, SIGKILL);
            snprintf(err, err_size, "the tool command printed more than %u bytes", TOOL_MAX_OUTPUT);
            failed = 1;
            break;
        }
    }
    close(out_pipe[0]);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    if (!failed && WIFEXITED(status) && WEXITSTATUS(status) == 127) {
        snprintf(err, err_size, "the tool command could not be run (exit status 127: command not found?)");
        failed = 1;
    } else if (!failed && (!WIFEXITED(status) || WEXITSTATUS(status) != 0)) {
        if (WIFSIGNALED(status))
            snprintf(err, err_size, "the tool command was killed by signal %d", WTERMSIG(status));
        else
            snprintf(err, err_size, "the tool command failed with exit status %d", WEXITSTATUS(status));
        failed = 1;
    }
    if (failed) {
        free(buf);
        return 1;
    }
    while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
        n--;
    buf[n] = 0;
    *out = buf;
    return 0;
}
