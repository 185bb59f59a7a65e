/*
 * ggml_types.c — see ggml_types.h: lookups in the catalogue of ggml type numbers.
 */
#include "gguf/ggml_types.h"

#include "llamac.h"

typedef struct type_row {
    const char *name;
    int64_t blck;
    uint64_t bytes;
} type_row;

#define ROW(T, num, blck, bytes) [num] = {#T, blck, bytes},
static const type_row g_types[LC_GGML_TYPE_NUMBERS] = {LC_FOR_EACH_GGML_TYPE(ROW)};
#undef ROW

_Static_assert((int)LC_GGML_TYPE_NUMBERS == (int)LLAMAC_TYPE_COUNT, "the catalogue covers every llamac_type number");

int lc_ggml_type_geometry(int type, int64_t *blck, uint64_t *bytes)
{
    if (type < 0 || type >= LC_GGML_TYPE_NUMBERS || !g_types[type].name)
        return 0;
    *blck = g_types[type].blck;
    *bytes = g_types[type].bytes;
    return 1;
}

const char *llamac_type_name(int type)
{
    if (type < 0 || type >= LC_GGML_TYPE_NUMBERS)
        return NULL;
    return g_types[type].name;
}
