/*
 * quant_mix.c — the per-tensor type choice of a quantization "file type" (see quant_mix.h for the rules),
 * and the file type names of the public API (llamac_ftype_name / llamac_ftype_from_name).
 */
#include "quantize/quant_mix.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "llamac.h"
#include "kernels/quant.h"

static const struct {
    const char *name;
    int ftype;
    int type; /* default tensor type */
} g_ftypes[] = {
    {"F32", LLAMAC_FTYPE_ALL_F32, LLAMAC_TYPE_F32},         {"F16", LLAMAC_FTYPE_MOSTLY_F16, LLAMAC_TYPE_F16},
    {"BF16", LLAMAC_FTYPE_MOSTLY_BF16, LLAMAC_TYPE_BF16},   {"Q8_0", LLAMAC_FTYPE_MOSTLY_Q8_0, LLAMAC_TYPE_Q8_0},
    {"Q4_0", LLAMAC_FTYPE_MOSTLY_Q4_0, LLAMAC_TYPE_Q4_0},   {"Q4_1", LLAMAC_FTYPE_MOSTLY_Q4_1, LLAMAC_TYPE_Q4_1},
    {"Q5_0", LLAMAC_FTYPE_MOSTLY_Q5_0, LLAMAC_TYPE_Q5_0},   {"Q5_1", LLAMAC_FTYPE_MOSTLY_Q5_1, LLAMAC_TYPE_Q5_1},
    {"Q2_K", LLAMAC_FTYPE_MOSTLY_Q2_K, LLAMAC_TYPE_Q2_K},   {"Q3_K_S", LLAMAC_FTYPE_MOSTLY_Q3_K_S, LLAMAC_TYPE_Q3_K},
    {"Q3_K_M", LLAMAC_FTYPE_MOSTLY_Q3_K_M, LLAMAC_TYPE_Q3_K}, {"Q3_K_L", LLAMAC_FTYPE_MOSTLY_Q3_K_L, LLAMAC_TYPE_Q3_K},
    {"Q4_K_S", LLAMAC_FTYPE_MOSTLY_Q4_K_S, LLAMAC_TYPE_Q4_K}, {"Q4_K_M", LLAMAC_FTYPE_MOSTLY_Q4_K_M, LLAMAC_TYPE_Q4_K},
    {"Q5_K_S", LLAMAC_FTYPE_MOSTLY_Q5_K_S, LLAMAC_TYPE_Q5_K}, {"Q5_K_M", LLAMAC_FTYPE_MOSTLY_Q5_K_M, LLAMAC_TYPE_Q5_K},
    {"Q6_K", LLAMAC_FTYPE_MOSTLY_Q6_K, LLAMAC_TYPE_Q6_K},
};
#define N_FTYPES ((int)(sizeof g_ftypes / sizeof g_ftypes[0]))

/* llama.cpp's aliases */
static const struct {
    const char *alias;
    int ftype;
} g_aliases[] = {
    {"Q3_K", LLAMAC_FTYPE_MOSTLY_Q3_K_M}, {"Q4_K", LLAMAC_FTYPE_MOSTLY_Q4_K_M}, {"Q5_K", LLAMAC_FTYPE_MOSTLY_Q5_K_M}};

const char *llamac_ftype_name(int ftype)
{
    for (int i = 0; i < N_FTYPES; i++)
        if (g_ftypes[i].ftype == ftype)
            return g_ftypes[i].name;
    return NULL;
}

int llamac_ftype_from_name(const char *name)
{
    if (!name)
        return -1;
    for (int i = 0; i < N_FTYPES; i++)
        if (strcasecmp(name, g_ftypes[i].name) == 0)
            return g_ftypes[i].ftype;
    for (size_t i = 0; i < sizeof g_aliases / sizeof g_aliases[0]; i++)
        if (strcasecmp(name, g_aliases[i].alias) == 0)
            return g_aliases[i].ftype;
    return -1;
}

int llamac_ftype_count(void)
{
    return N_FTYPES;
}

int llamac_ftype_by_index(int i)
{
    return i >= 0 && i < N_FTYPES ? g_ftypes[i].ftype : -1;
}

int lc_ftype_default_type(int ftype)
{
    for (int i = 0; i < N_FTYPES; i++)
        if (g_ftypes[i].ftype == ftype)
            return g_ftypes[i].type;
    return -1;
}

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcmp(s + n - k, suffix) == 0;
}

static int use_more_bits(int i, int n)
{
    return i < n / 8 || i >= 7 * n / 8 || (i - n / 8) % 3 == 2;
}

/* ggml_n_dims: the number of dimensions up to the last one larger than 1 */
static int effective_dims(const int64_t ne[4])
{
    for (int d = 3; d >= 1; d--)
        if (ne[d] > 1)
            return d + 1;
    return 1;
}

static int block_of(int type)
{
    const lc_type_traits *t = lc_type_traits_get(type);
    return t ? (int)t->blck : 1;
}

static int is_quant_type(int type)
{
    return type != LLAMAC_TYPE_F32 && type != LLAMAC_TYPE_F16 && type != LLAMAC_TYPE_BF16;
}

/* The mix proper (llama.cpp's llama_tensor_get_type, Llama-relevant branches), before the fallback step. */
static int mix_rule(const lc_mix_info *m, const char *name, int64_t nx, int t)
{
    const int f = m->ftype;
    int layer = -1;
    if (sscanf(name, "blk.%d.", &layer) != 1)
        layer = -1;
    if (strcmp(name, "output.weight") == 0 || (!m->has_output && strcmp(name, "token_embd.weight") == 0)) {
        if (nx % block_of(t) != 0)
            return LLAMAC_TYPE_Q8_0;
        return t != LLAMAC_TYPE_Q8_0 ? LLAMAC_TYPE_Q6_K : t;
    }
    if (strcmp(name, "token_embd.weight") == 0)
        return t; /* llama.cpp changes it only for the IQ file types */
    if (strstr(name, "attn_v.weight")) {
        int n = m->n_attn_v;
        if (f == LLAMAC_FTYPE_MOSTLY_Q2_K)
            t = m->n_gqa >= 4 ? LLAMAC_TYPE_Q4_K : LLAMAC_TYPE_Q3_K;
        else if (f == LLAMAC_FTYPE_MOSTLY_Q3_K_M)
            t = layer < 2 ? LLAMAC_TYPE_Q5_K : LLAMAC_TYPE_Q4_K;
        else if (f == LLAMAC_FTYPE_MOSTLY_Q3_K_L)
            t = LLAMAC_TYPE_Q5_K;
        else if ((f == LLAMAC_FTYPE_MOSTLY_Q4_K_M || f == LLAMAC_FTYPE_MOSTLY_Q5_K_M) && use_more_bits(layer, n))
            t = LLAMAC_TYPE_Q6_K;
        else if (f == LLAMAC_FTYPE_MOSTLY_Q4_K_S && layer < 4)
            t = LLAMAC_TYPE_Q5_K;
        if (m->is_70b && (t == LLAMAC_TYPE_Q3_K || t == LLAMAC_TYPE_Q4_K))
            t = LLAMAC_TYPE_Q5_K;
        return t;
    }
    if (strstr(name, "ffn_down")) {
        int n = m->n_layer;
        if (f == LLAMAC_FTYPE_MOSTLY_Q2_K)
            t = LLAMAC_TYPE_Q3_K;
        else if (f == LLAMAC_FTYPE_MOSTLY_Q3_K_M)
            t = layer < n / 16 ? LLAMAC_TYPE_Q5_K : LLAMAC_TYPE_Q4_K;
        else if (f == LLAMAC_FTYPE_MOSTLY_Q3_K_L)
            t = LLAMAC_TYPE_Q5_K;
        else if ((f == LLAMAC_FTYPE_MOSTLY_Q4_K_M || f == LLAMAC_FTYPE_MOSTLY_Q5_K_M) && use_more_bits(layer, n))
            t = LLAMAC_TYPE_Q6_K;
        else if (f == LLAMAC_FTYPE_MOSTLY_Q4_K_S && layer < n / 8)
            t = LLAMAC_TYPE_Q5_K;
        return t;
    }
    if (strstr(name, "attn_output.weight")) {
        if (f == LLAMAC_FTYPE_MOSTLY_Q2_K)
            t = LLAMAC_TYPE_Q3_K;
        else if (f == LLAMAC_FTYPE_MOSTLY_Q3_K_M)
            t = LLAMAC_TYPE_Q4_K;
        else if (f == LLAMAC_FTYPE_MOSTLY_Q3_K_L)
            t = LLAMAC_TYPE_Q5_K;
        return t;
    }
    return t;
}

static int fallback_type(int t)
{
    switch (t) {
    case LLAMAC_TYPE_Q2_K:
    case LLAMAC_TYPE_Q3_K: return LLAMAC_TYPE_Q4_0;
    case LLAMAC_TYPE_Q4_K: return LLAMAC_TYPE_Q5_0;
    case LLAMAC_TYPE_Q5_K: return LLAMAC_TYPE_Q5_1;
    case LLAMAC_TYPE_Q6_K: return LLAMAC_TYPE_Q8_0;
    default: return LLAMAC_TYPE_F16;
    }
}

static int choose(const lc_mix_info *m, const char *name, const int64_t ne[4], int in_type, int *wanted)
{
    *wanted = in_type;
    int def = lc_ftype_default_type(m->ftype);
    if (def < 0 || !ends_with(name, "weight") || effective_dims(ne) < 2 || strstr(name, "_norm.weight") ||
        strstr(name, "ffn_gate_inp.weight"))
        return in_type;
    if (!is_quant_type(def))
        return *wanted = def;
    int t = *wanted = mix_rule(m, name, ne[0], def);
    if (ne[0] % block_of(t) != 0) {
        t = fallback_type(t);
        if (ne[0] % block_of(t) != 0)
            t = LLAMAC_TYPE_F16;
    }
    return t;
}

int lc_mix_choose(const lc_mix_info *m, const char *name, const int64_t ne[4], int in_type, int *wanted)
{
    int w;
    int t = choose(m, name, ne, in_type, &w);
    if (wanted)
        *wanted = w;
    return t;
}
