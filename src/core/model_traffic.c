/*
 * model_traffic.c — how many bytes one single-token decode reads (llamac_model_decode_traffic), the
 * denominator of "fraction of memory bandwidth" in `llamac bench`.
 *
 * It mirrors what decode.c touches for one token: every matrix and norm vector of every layer, output_norm,
 * the full output projection, one row of token_embd (the embedding lookup) and the K/V rows of the positions
 * attended to. When the embeddings are tied the output projection *is* token_embd, read in full once; the
 * lookup row is counted separately (it is the same memory, but a negligible 1/n_vocab of it). Norm vectors are
 * counted as f32 because that is what decode reads (converted copies when the file stores another type).
 * Matrices the kernels read in the packed G16 layout (use_mmap = 0) count with that layout's padding.
 */
#include "core/model.h"
#include "kernels/pack.h"

/* the layout the kernels read: the packed G16 copy when there is one (groups of LC_PACK_ROWS rows, the last
 * padded), else the file's rows */
static uint64_t matrix_bytes(const lc_weight *w)
{
    if (w->packed)
        return (uint64_t)w->group_bytes * (uint64_t)((w->n_out + LC_PACK_ROWS - 1) / LC_PACK_ROWS);
    return (uint64_t)w->row_bytes * (uint64_t)w->n_out;
}

llamac_status llamac_model_decode_traffic(const llamac_model *m, int kv_type, llamac_decode_traffic *out)
{
    if (!m || !out || (kv_type != LLAMAC_KV_F32 && kv_type != LLAMAC_KV_F16))
        return LLAMAC_E_INVALID_ARG;
    const lc_hparams *hp = &m->hp;
    const uint64_t norm = (uint64_t)hp->n_embd * sizeof(float);
    uint64_t w = 0;
    for (int l = 0; l < hp->n_layer; l++) {
        const lc_layer *L = &m->layers[l];
        w += 2 * norm; /* attn_norm, ffn_norm */
        w += matrix_bytes(&L->wq) + matrix_bytes(&L->wk) + matrix_bytes(&L->wv) + matrix_bytes(&L->wo);
        w += matrix_bytes(&L->w_gate) + matrix_bytes(&L->w_up) + matrix_bytes(&L->w_down);
    }
    w += norm + matrix_bytes(&m->output) + m->tok_embd.row_bytes;
    const uint64_t elem = kv_type == LLAMAC_KV_F16 ? 2 : 4;
    out->weight_bytes = w;
    out->kv_bytes_per_pos = 2 * (uint64_t)hp->n_layer * (uint64_t)hp->n_head_kv * (uint64_t)hp->head_dim * elem;
    return LLAMAC_OK;
}
