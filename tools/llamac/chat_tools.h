/*
 * chat_tools.h — running a tool command for `llamac chat --tool-exec CMD`: `sh -c CMD` gets the call JSON on
 * stdin; its stdout (at most 1 MiB) is the result. Ctrl-C (the interrupt flag) kills it.
 */
#ifndef LLAMAC_CHAT_TOOLS_H
#define LLAMAC_CHAT_TOOLS_H

#include <signal.h>
#include <stddef.h>

/* Returns 0 with *out (malloc'ed, NUL-terminated) on success; 1 with a message in err when the command could
 * not run, exited non-zero (err holds its status and first line of stderr is left on the terminal), printed
 * too much, or was interrupted. */
int chat_tool_exec(const char *cmd, const char *input, size_t input_len, volatile sig_atomic_t *interrupt,
                   char **out, char *err, size_t err_size);

#endif
