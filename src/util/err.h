/*
 * err.h — the internal error-message convention.
 *
 * Library functions return an llamac_status and write a human-readable message into a caller-provided
 * lc_err (a fixed buffer, so reporting an error never allocates). lc_fail() formats the message and returns
 * the status, so a failure site reads:   return lc_fail(e, LLAMAC_E_FORMAT, "tensor '%s': ...", name);
 */
#ifndef LC_ERR_H
#define LC_ERR_H

#include "llamac.h"

typedef struct lc_err {
    char msg[512];
} lc_err;

#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
llamac_status lc_fail(lc_err *e, llamac_status status, const char *fmt, ...);

/* Copies e->msg into a caller buffer (NULL or size 0: nothing). */
void lc_err_copy(const lc_err *e, char *buf, size_t size);

#endif
