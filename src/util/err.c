/*
 * err.c — status strings and the lc_err message buffer (see err.h).
 */
#include "util/err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

llamac_status lc_fail(lc_err *e, llamac_status status, const char *fmt, ...)
{
    if (e) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(e->msg, sizeof e->msg, fmt, ap);
        va_end(ap);
    }
    return status;
}

void lc_err_copy(const lc_err *e, char *buf, size_t size)
{
    if (!buf || size == 0)
        return;
    snprintf(buf, size, "%s", e ? e->msg : "");
}

const char *llamac_status_str(llamac_status status)
{
    switch (status) {
    case LLAMAC_OK: return "ok";
    case LLAMAC_E_INVALID_ARG: return "invalid argument";
    case LLAMAC_E_IO: return "I/O error";
    case LLAMAC_E_FORMAT: return "malformed file";
    case LLAMAC_E_UNSUPPORTED: return "unsupported";
    case LLAMAC_E_NOMEM: return "out of memory";
    case LLAMAC_E_MODEL: return "invalid model";
    case LLAMAC_E_TOKEN: return "token id out of range";
    case LLAMAC_E_CONTEXT_FULL: return "context full";
    case LLAMAC_E_TOKENIZER: return "tokenizer error";
    case LLAMAC_E_CANCELLED: return "cancelled";
    case LLAMAC_E_INTERNAL: return "internal error";
    case LLAMAC_E_KV_FULL: return "KV cache memory full";
    case LLAMAC_E_BUSY: return "busy (queue full)";
    case LLAMAC_E_TIMEOUT: return "timed out";
    }
    return "unknown status";
}
