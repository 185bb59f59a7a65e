/*
 * llamac_tokenizer.h — part of the public API (included by llamac.h): the Llama 3 tokenizer.
 * (Being written: see docs/HELPERS.md. Owner: tokenizer work.)
 */
#ifndef LLAMAC_TOKENIZER_H
#define LLAMAC_TOKENIZER_H

#include "llamac.h"

#ifdef __cplusplus
extern "C" {
#endif

#ifdef __cplusplus
}
#endif

#endif
