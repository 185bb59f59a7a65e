/*
 * line_input.h — reading the user's lines for `llamac chat`: libedit (line editing, history) on a terminal,
 * plain stdin otherwise (scripts, tests). Ctrl-C at the prompt discards the line being typed.
 */
#ifndef LLAMAC_LINE_INPUT_H
#define LLAMAC_LINE_INPUT_H

#include <stddef.h>

typedef struct line_input line_input;

/* interactive: use line editing (stdin is a terminal). NULL on allocation failure. */
line_input *line_input_open(int interactive, const char *history_path);
void line_input_close(line_input *in);

enum { LINE_OK = 1, LINE_EOF = 0, LINE_INTERRUPTED = -1 };

/* Reads one line (without its newline) into *line (valid until the next call). */
int line_input_read(line_input *in, const char *prompt, const char **line, size_t *len);
/* Adds a line to the history (interactive only). */
void line_input_remember(line_input *in, const char *line);

#endif
