/*
 * llamac_chat.h — part of the public API (included by llamac.h): Llama 3.x chat formats and tool calls.
 * (Being written: see docs/HELPERS.md. Owner: chat-format work.)
 */
#ifndef LLAMAC_CHAT_H
#define LLAMAC_CHAT_H

#include "llamac.h"

#ifdef __cplusplus
extern "C" {
#endif

#ifdef __cplusplus
}
#endif

#endif
