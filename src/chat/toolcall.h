/*
 * toolcall.h — internals of tool-call parsing shared by toolcall.c and pythonic.c.
 *
 * The Python-syntax parsers return LLAMAC_OK with a new reference, or LLAMAC_E_FORMAT with a message in e that
 * names the offset; the caller decides whether a failure means "malformed call" or "not a tool call".
 */
#ifndef LC_CHAT_TOOLCALL_H
#define LC_CHAT_TOOLCALL_H

#include "chat/chat_internal.h"

/* "[f(a=1), g()]" (the whole of s[0..n) up to surrounding whitespace) -> [{"name":"f","arguments":{"a":1}}, ...] */
llamac_status lc_pyparse_call_list(const char *s, size_t n, json_t **calls, lc_err *e);

/* "NAME.call(k=v, ...)" (the whole input) -> {"name":"NAME","arguments":{...}} */
llamac_status lc_pyparse_dotcall(const char *s, size_t n, json_t **call, lc_err *e);

/* 1 if s starts (after whitespace) with "NAME(" or "NAME.call(": an attempted call. */
int lc_py_looks_like_call(const char *s, size_t n);

#endif
