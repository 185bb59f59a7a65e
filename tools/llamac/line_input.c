/*
 * line_input.c — see line_input.h. With libedit, el_gets returns NULL with count -1 when SIGINT interrupts
 * the read (our handler is installed without SA_RESTART), which we report as LINE_INTERRUPTED.
 */
#include "line_input.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef LLAMAC_HAVE_LIBEDIT
#include <histedit.h>
#endif

struct line_input {
    int interactive;
    char *buf;
    size_t cap;
    const char *prompt;
#ifdef LLAMAC_HAVE_LIBEDIT
    EditLine *el;
    History *hist;
#endif
    char *history_path;
};

#ifdef LLAMAC_HAVE_LIBEDIT
static const char *prompt_fn(EditLine *el)
{
    line_input *in = NULL;
    el_get(el, EL_CLIENTDATA, &in);
    return in && in->prompt ? in->prompt : "";
}
#endif

line_input *line_input_open(int interactive, const char *history_path)
{
    line_input *in = calloc(1, sizeof *in);
    if (!in)
        return NULL;
#ifdef LLAMAC_HAVE_LIBEDIT
    if (interactive) {
        in->el = el_init("llamac", stdin, stdout, stderr);
        in->hist = history_init();
        if (in->el && in->hist) {
            HistEvent ev;
            history(in->hist, &ev, H_SETSIZE, 1000);
            history(in->hist, &ev, H_SETUNIQUE, 1);
            if (history_path) {
                in->history_path = strdup(history_path);
                history(in->hist, &ev, H_LOAD, history_path);
            }
            el_set(in->el, EL_CLIENTDATA, in);
            el_set(in->el, EL_PROMPT, prompt_fn);
            el_set(in->el, EL_EDITOR, "emacs");
            el_set(in->el, EL_HIST, history, in->hist);
            el_set(in->el, EL_SIGNAL, 0);
            el_source(in->el, NULL);
            in->interactive = 1;
        } else {
            if (in->el)
                el_end(in->el);
            if (in->hist)
                history_end(in->hist);
            in->el = NULL;
            in->hist = NULL;
        }
    }
#else
    (void)interactive;
    (void)history_path;
#endif
    return in;
}

void line_input_close(line_input *in)
{
    if (!in)
        return;
#ifdef LLAMAC_HAVE_LIBEDIT
    if (in->hist) {
        HistEvent ev;
        if (in->history_path)
            history(in->hist, &ev, H_SAVE, in->history_path);
        history_end(in->hist);
    }
    if (in->el)
        el_end(in->el);
#endif
    free(in->history_path);
    free(in->buf);
    free(in);
}

static int keep(line_input *in, const char *s, size_t n, const char **line, size_t *len)
{
    while (n && (s[n - 1] == '\n' || s[n - 1] == '\r'))
        n--;
    if (n + 1 > in->cap) {
        char *nb = realloc(in->buf, n + 1);
        if (!nb)
            return LINE_EOF;
        in->buf = nb;
        in->cap = n + 1;
    }
    memcpy(in->buf, s, n);
    in->buf[n] = 0;
    *line = in->buf;
    *len = n;
    return LINE_OK;
}

int line_input_read(line_input *in, const char *prompt, const char **line, size_t *len)
{
#ifdef LLAMAC_HAVE_LIBEDIT
    if (in->interactive) {
        in->prompt = prompt;
        int count = 0;
        const char *s = el_gets(in->el, &count);
        if (!s) {
            if (count < 0) {
                el_reset(in->el);
                fputc('\n', stdout);
                return LINE_INTERRUPTED;
            }
            return LINE_EOF;
        }
        return keep(in, s, (size_t)count, line, len);
    }
#endif
    if (prompt && in->interactive) {
        fputs(prompt, stdout);
        fflush(stdout);
    }
    char *l = NULL;
    size_t cap = 0;
    errno = 0;
    ssize_t n = getline(&l, &cap, stdin);
    if (n < 0) {
        free(l);
        if (errno == EINTR) {
            clearerr(stdin);
            return LINE_INTERRUPTED;
        }
        return LINE_EOF;
    }
    int r = keep(in, l, (size_t)n, line, len);
    free(l);
    return r;
}

void line_input_remember(line_input *in, const char *line)
{
#ifdef LLAMAC_HAVE_LIBEDIT
    if (in->hist && line[0]) {
        HistEvent ev;
        history(in->hist, &ev, H_ENTER, line);
    }
#else
    (void)in;
    (void)line;
#endif
}
