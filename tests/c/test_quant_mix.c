/*
 * test_quant_mix.c — the per-tensor type choices of every file type on the tensor lists of real Llama
 * shapes (32-layer 8B with GQA 4, 80-layer 70B, 16-layer 1B with tied embeddings), checked against
 * llama.cpp's published layouts: e.g. an 8B Q4_K_M has Q6_K attn_v/ffn_down exactly in layers
 * 0-3, 6, 9, ..., 27, 28-31, Q6_K output.weight, Q4_K everything else, F32 norms.
 */
#include <stdio.h>
#include <string.h>

#include "quantize/quant_mix.h"
#include "llamac.h"
#include "check.h"

static int choose(const lc_mix_info *m, const char *name, int64_t ne0, int64_t ne1, int in_type)
{
    int64_t ne[4] = {ne0, ne1, 1, 1};
    return lc_mix_choose(m, name, ne, in_type, NULL);
}

static int layer_type(const lc_mix_info *m, int layer, const char *role, int64_t ne0)
{
    char name[64];
    snprintf(name, sizeof name, "blk.%d.%s.weight", layer, role);
    return choose(m, name, ne0, 1024, LLAMAC_TYPE_BF16);
}

static const char *tn(int t)
{
    const char *s = llamac_type_name(t);
    return s ? s : "?";
}

static lc_mix_info model_8b(int ftype)
{
    lc_mix_info m = {ftype, 32, 32, 4, 0, 1};
    return m;
}

static void test_8b_q4_k_m(void)
{
    lc_mix_info m = model_8b(LLAMAC_FTYPE_MOSTLY_Q4_K_M);
    static const int more[] = {0, 1, 2, 3, 6, 9, 12, 15, 18, 21, 24, 27, 28, 29, 30, 31};
    for (int l = 0; l < 32; l++) {
        int want_more = 0;
        for (size_t i = 0; i < sizeof more / sizeof more[0]; i++)
            want_more |= more[i] == l;
        int want = want_more ? LLAMAC_TYPE_Q6_K : LLAMAC_TYPE_Q4_K;
        CHECK(layer_type(&m, l, "attn_v", 4096) == want, "Q4_K_M attn_v layer %d: %s", l,
              tn(layer_type(&m, l, "attn_v", 4096)));
        CHECK(layer_type(&m, l, "ffn_down", 14336) == want, "Q4_K_M ffn_down layer %d: %s", l,
              tn(layer_type(&m, l, "ffn_down", 14336)));
        CHECK(layer_type(&m, l, "attn_q", 4096) == LLAMAC_TYPE_Q4_K, "Q4_K_M attn_q layer %d", l);
        CHECK(layer_type(&m, l, "ffn_gate", 4096) == LLAMAC_TYPE_Q4_K, "Q4_K_M ffn_gate layer %d", l);
        CHECK(layer_type(&m, l, "attn_output", 4096) == LLAMAC_TYPE_Q4_K, "Q4_K_M attn_output layer %d", l);
    }
    CHECK(choose(&m, "output.weight", 4096, 128256, LLAMAC_TYPE_BF16) == LLAMAC_TYPE_Q6_K, "Q4_K_M output");
    CHECK(choose(&m, "token_embd.weight", 4096, 128256, LLAMAC_TYPE_BF16) == LLAMAC_TYPE_Q4_K, "Q4_K_M token_embd");
    CHECK(choose(&m, "blk.3.attn_norm.weight", 4096, 1, LLAMAC_TYPE_F32) == LLAMAC_TYPE_F32, "norm stays");
    CHECK(choose(&m, "output_norm.weight", 4096, 1, LLAMAC_TYPE_F32) == LLAMAC_TYPE_F32, "output_norm stays");
    CHECK(choose(&m, "rope_freqs.weight", 64, 1, LLAMAC_TYPE_F32) == LLAMAC_TYPE_F32, "rope_freqs stays");
    /* a 2-D norm-named tensor and a tensor not ending in "weight" are copied too */
    CHECK(choose(&m, "blk.0.ffn_norm.weight", 4096, 2, LLAMAC_TYPE_F16) == LLAMAC_TYPE_F16, "2-D norm");
    CHECK(choose(&m, "blk.0.attn_q.bias", 4096, 2, LLAMAC_TYPE_F16) == LLAMAC_TYPE_F16, "bias");
    /* 1-D in a 4-D shape ([n, 1, 1, 1]) */
    int64_t ne[4] = {4096, 1, 1, 1};
    CHECK(lc_mix_choose(&m, "blk.0.attn_q.weight", ne, LLAMAC_TYPE_F32, NULL) == LLAMAC_TYPE_F32, "1-D matrix");
}

static void test_other_k_mixes(void)
{
    lc_mix_info m = model_8b(LLAMAC_FTYPE_MOSTLY_Q3_K_M);
    for (int l = 0; l < 32; l++) {
        CHECK(layer_type(&m, l, "attn_v", 4096) == (l < 2 ? LLAMAC_TYPE_Q5_K : LLAMAC_TYPE_Q4_K), "Q3_K_M attn_v %d", l);
        CHECK(layer_type(&m, l, "ffn_down", 14336) == (l < 2 ? LLAMAC_TYPE_Q5_K : LLAMAC_TYPE_Q4_K),
              "Q3_K_M ffn_down %d", l);
        CHECK(layer_type(&m, l, "attn_output", 4096) == LLAMAC_TYPE_Q4_K, "Q3_K_M attn_output %d", l);
        CHECK(layer_type(&m, l, "attn_k", 4096) == LLAMAC_TYPE_Q3_K, "Q3_K_M attn_k %d", l);
    }
    m = model_8b(LLAMAC_FTYPE_MOSTLY_Q3_K_L);
    CHECK(layer_type(&m, 17, "attn_v", 4096) == LLAMAC_TYPE_Q5_K, "Q3_K_L attn_v");
    CHECK(layer_type(&m, 17, "ffn_down", 14336) == LLAMAC_TYPE_Q5_K, "Q3_K_L ffn_down");
    CHECK(layer_type(&m, 17, "attn_output", 4096) == LLAMAC_TYPE_Q5_K, "Q3_K_L attn_output");
    CHECK(layer_type(&m, 17, "ffn_up", 4096) == LLAMAC_TYPE_Q3_K, "Q3_K_L ffn_up");
    m = model_8b(LLAMAC_FTYPE_MOSTLY_Q3_K_S);
    CHECK(layer_type(&m, 0, "attn_v", 4096) == LLAMAC_TYPE_Q3_K, "Q3_K_S attn_v");
    CHECK(choose(&m, "output.weight", 4096, 128256, LLAMAC_TYPE_BF16) == LLAMAC_TYPE_Q6_K, "Q3_K_S output");
    m = model_8b(LLAMAC_FTYPE_MOSTLY_Q2_K);
    CHECK(layer_type(&m, 5, "attn_v", 4096) == LLAMAC_TYPE_Q4_K, "Q2_K attn_v (GQA 4)");
    CHECK(layer_type(&m, 5, "ffn_down", 14336) == LLAMAC_TYPE_Q3_K, "Q2_K ffn_down");
    CHECK(layer_type(&m, 5, "attn_output", 4096) == LLAMAC_TYPE_Q3_K, "Q2_K attn_output");
    CHECK(layer_type(&m, 5, "ffn_gate", 4096) == LLAMAC_TYPE_Q2_K, "Q2_K ffn_gate");
    m.n_gqa = 1;
    CHECK(layer_type(&m, 5, "attn_v", 4096) == LLAMAC_TYPE_Q3_K, "Q2_K attn_v (no GQA)");
    m = model_8b(LLAMAC_FTYPE_MOSTLY_Q4_K_S);
    for (int l = 0; l < 32; l++) {
        CHECK(layer_type(&m, l, "attn_v", 4096) == (l < 4 ? LLAMAC_TYPE_Q5_K : LLAMAC_TYPE_Q4_K), "Q4_K_S attn_v %d", l);
        CHECK(layer_type(&m, l, "ffn_down", 14336) == (l < 4 ? LLAMAC_TYPE_Q5_K : LLAMAC_TYPE_Q4_K),
              "Q4_K_S ffn_down %d", l);
    }
    m = model_8b(LLAMAC_FTYPE_MOSTLY_Q5_K_M);
    CHECK(layer_type(&m, 6, "attn_v", 4096) == LLAMAC_TYPE_Q6_K && layer_type(&m, 7, "attn_v", 4096) == LLAMAC_TYPE_Q5_K,
          "Q5_K_M attn_v");
    CHECK(layer_type(&m, 30, "ffn_down", 14336) == LLAMAC_TYPE_Q6_K, "Q5_K_M ffn_down");
    m = model_8b(LLAMAC_FTYPE_MOSTLY_Q5_K_S);
    CHECK(layer_type(&m, 0, "attn_v", 4096) == LLAMAC_TYPE_Q5_K && layer_type(&m, 0, "ffn_down", 14336) == LLAMAC_TYPE_Q5_K,
          "Q5_K_S has no mix");
    m = model_8b(LLAMAC_FTYPE_MOSTLY_Q6_K);
    CHECK(layer_type(&m, 0, "attn_v", 4096) == LLAMAC_TYPE_Q6_K, "Q6_K");
    CHECK(choose(&m, "output.weight", 4096, 128256, LLAMAC_TYPE_BF16) == LLAMAC_TYPE_Q6_K, "Q6_K output");
}

static void test_legacy_and_float(void)
{
    static const struct {
        int ftype, type;
    } legacy[] = {{LLAMAC_FTYPE_MOSTLY_Q4_0, LLAMAC_TYPE_Q4_0},
                  {LLAMAC_FTYPE_MOSTLY_Q4_1, LLAMAC_TYPE_Q4_1},
                  {LLAMAC_FTYPE_MOSTLY_Q5_0, LLAMAC_TYPE_Q5_0},
                  {LLAMAC_FTYPE_MOSTLY_Q5_1, LLAMAC_TYPE_Q5_1}};
    for (size_t i = 0; i < sizeof legacy / sizeof legacy[0]; i++) {
        lc_mix_info m = model_8b(legacy[i].ftype);
        CHECK(layer_type(&m, 0, "attn_v", 4096) == legacy[i].type, "%s attn_v", tn(legacy[i].type));
        CHECK(layer_type(&m, 0, "ffn_down", 14336) == legacy[i].type, "%s ffn_down", tn(legacy[i].type));
        CHECK(choose(&m, "output.weight", 4096, 128256, LLAMAC_TYPE_BF16) == LLAMAC_TYPE_Q6_K, "%s output",
              tn(legacy[i].type));
        CHECK(choose(&m, "token_embd.weight", 4096, 128256, LLAMAC_TYPE_BF16) == legacy[i].type, "%s token_embd",
              tn(legacy[i].type));
    }
    lc_mix_info m = model_8b(LLAMAC_FTYPE_MOSTLY_Q8_0);
    CHECK(choose(&m, "output.weight", 4096, 128256, LLAMAC_TYPE_BF16) == LLAMAC_TYPE_Q8_0, "Q8_0 output stays Q8_0");
    CHECK(layer_type(&m, 0, "attn_v", 4096) == LLAMAC_TYPE_Q8_0, "Q8_0 attn_v");
    static const struct {
        int ftype, type;
    } flt[] = {{LLAMAC_FTYPE_ALL_F32, LLAMAC_TYPE_F32},
               {LLAMAC_FTYPE_MOSTLY_F16, LLAMAC_TYPE_F16},
               {LLAMAC_FTYPE_MOSTLY_BF16, LLAMAC_TYPE_BF16}};
    for (size_t i = 0; i < sizeof flt / sizeof flt[0]; i++) {
        m = model_8b(flt[i].ftype);
        CHECK(choose(&m, "output.weight", 4096, 128256, LLAMAC_TYPE_Q8_0) == flt[i].type, "%s output",
              tn(flt[i].type));
        CHECK(layer_type(&m, 0, "attn_v", 4096) == flt[i].type, "%s attn_v", tn(flt[i].type));
        CHECK(choose(&m, "output_norm.weight", 4096, 1, LLAMAC_TYPE_F32) == LLAMAC_TYPE_F32, "%s norm",
              tn(flt[i].type));
    }
}

static void test_70b_and_tied(void)
{
    lc_mix_info m = {LLAMAC_FTYPE_MOSTLY_Q4_K_M, 80, 80, 8, 1, 1};
    /* use_more_bits for n = 80: layers < 10, >= 70, (l - 10) % 3 == 2 (12, 15, ...); the others would be Q4_K but 70B
     * raises attn_v to Q5_K */
    CHECK(layer_type(&m, 5, "attn_v", 8192) == LLAMAC_TYPE_Q6_K, "70B attn_v layer 5");
    CHECK(layer_type(&m, 13, "attn_v", 8192) == LLAMAC_TYPE_Q5_K, "70B attn_v layer 13: %s",
          tn(layer_type(&m, 13, "attn_v", 8192)));
    CHECK(layer_type(&m, 12, "attn_v", 8192) == LLAMAC_TYPE_Q6_K, "70B attn_v layer 12");
    CHECK(layer_type(&m, 13, "ffn_down", 28672) == LLAMAC_TYPE_Q4_K, "70B ffn_down layer 13 (no 70B rule)");
    m.ftype = LLAMAC_FTYPE_MOSTLY_Q3_K_S;
    CHECK(layer_type(&m, 40, "attn_v", 8192) == LLAMAC_TYPE_Q5_K, "70B Q3_K_S attn_v");
    m.ftype = LLAMAC_FTYPE_MOSTLY_Q3_K_M;
    CHECK(layer_type(&m, 3, "ffn_down", 28672) == LLAMAC_TYPE_Q5_K, "70B Q3_K_M ffn_down layer 3 (< 80/16)");
    CHECK(layer_type(&m, 5, "ffn_down", 28672) == LLAMAC_TYPE_Q4_K, "70B Q3_K_M ffn_down layer 5");

    /* Llama 3.2 1B: tied embeddings, so token_embd is quantized with the output rule */
    lc_mix_info t = {LLAMAC_FTYPE_MOSTLY_Q4_K_M, 16, 16, 4, 0, 0};
    CHECK(choose(&t, "token_embd.weight", 2048, 128256, LLAMAC_TYPE_BF16) == LLAMAC_TYPE_Q6_K, "tied token_embd");
    t.ftype = LLAMAC_FTYPE_MOSTLY_Q8_0;
    CHECK(choose(&t, "token_embd.weight", 2048, 128256, LLAMAC_TYPE_BF16) == LLAMAC_TYPE_Q8_0, "tied Q8_0");
}

static void test_fallback(void)
{
    lc_mix_info m = model_8b(LLAMAC_FTYPE_MOSTLY_Q4_K_M);
    int wanted;
    int64_t ne[4] = {544, 256, 1, 1};
    int t = lc_mix_choose(&m, "blk.0.ffn_down.weight", ne, LLAMAC_TYPE_F32, &wanted);
    CHECK(wanted == LLAMAC_TYPE_Q6_K && t == LLAMAC_TYPE_Q8_0, "Q6_K -> Q8_0 fallback: %s -> %s", tn(wanted), tn(t));
    t = lc_mix_choose(&m, "blk.5.ffn_down.weight", ne, LLAMAC_TYPE_F32, &wanted);
    CHECK(wanted == LLAMAC_TYPE_Q4_K && t == LLAMAC_TYPE_Q5_0, "Q4_K -> Q5_0 fallback: %s", tn(t));
    m.ftype = LLAMAC_FTYPE_MOSTLY_Q5_K_S;
    CHECK(lc_mix_choose(&m, "blk.1.ffn_down.weight", ne, LLAMAC_TYPE_F32, NULL) == LLAMAC_TYPE_Q5_1, "Q5_K -> Q5_1");
    m.ftype = LLAMAC_FTYPE_MOSTLY_Q2_K;
    CHECK(lc_mix_choose(&m, "blk.1.ffn_up.weight", ne, LLAMAC_TYPE_F32, NULL) == LLAMAC_TYPE_Q4_0, "Q2_K -> Q4_0");
    /* a row length that fits no 32-element block: F16 */
    int64_t odd[4] = {100, 8, 1, 1};
    CHECK(lc_mix_choose(&m, "blk.1.ffn_up.weight", odd, LLAMAC_TYPE_F32, &wanted) == LLAMAC_TYPE_F16, "-> F16");
    m.ftype = LLAMAC_FTYPE_MOSTLY_Q8_0;
    CHECK(lc_mix_choose(&m, "blk.1.ffn_up.weight", odd, LLAMAC_TYPE_F32, NULL) == LLAMAC_TYPE_F16, "Q8_0 -> F16");
    /* output.weight with a row length not a multiple of 256 takes Q8_0 directly (no fallback) */
    m.ftype = LLAMAC_FTYPE_MOSTLY_Q4_K_M;
    int64_t out_ne[4] = {544, 1000, 1, 1};
    t = lc_mix_choose(&m, "output.weight", out_ne, LLAMAC_TYPE_F32, &wanted);
    CHECK(t == LLAMAC_TYPE_Q8_0 && wanted == t, "output with ne0 544: %s", tn(t));
    /* no conversion for file types llamac does not write */
    m.ftype = 19; /* IQ2_XXS */
    CHECK(lc_mix_choose(&m, "blk.1.ffn_up.weight", ne, LLAMAC_TYPE_F32, NULL) == LLAMAC_TYPE_F32, "unknown ftype");
}

static void test_names(void)
{
    static const char *const names[] = {"F32",    "F16",    "BF16",   "Q8_0",   "Q4_0",   "Q4_1",
                                        "Q5_0",   "Q5_1",   "Q2_K",   "Q3_K_S", "Q3_K_M", "Q3_K_L",
                                        "Q4_K_S", "Q4_K_M", "Q5_K_S", "Q5_K_M", "Q6_K"};
    CHECK(llamac_ftype_count() == (int)(sizeof names / sizeof names[0]), "ftype count %d", llamac_ftype_count());
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        int f = llamac_ftype_from_name(names[i]);
        CHECK(f >= 0 && strcmp(llamac_ftype_name(f), names[i]) == 0, "ftype %s", names[i]);
        CHECK(lc_ftype_default_type(f) >= 0, "ftype %s has a default type", names[i]);
    }
    CHECK(llamac_ftype_from_name("q4_k_m") == LLAMAC_FTYPE_MOSTLY_Q4_K_M, "case-insensitive");
    CHECK(llamac_ftype_from_name("Q4_K") == LLAMAC_FTYPE_MOSTLY_Q4_K_M, "alias Q4_K");
    CHECK(llamac_ftype_from_name("Q3_K") == LLAMAC_FTYPE_MOSTLY_Q3_K_M, "alias Q3_K");
    CHECK(llamac_ftype_from_name("IQ2_XS") == -1 && llamac_ftype_from_name("") == -1 &&
              llamac_ftype_from_name(NULL) == -1,
          "unknown names");
    CHECK(llamac_ftype_from_name("Q4_K_M") == 15 && llamac_ftype_from_name("Q6_K") == 18 &&
              llamac_ftype_from_name("BF16") == 32 && llamac_ftype_from_name("Q8_0") == 7,
          "llama.cpp's file type numbers");
}

int main(void)
{
    test_8b_q4_k_m();
    test_other_k_mixes();
    test_legacy_and_float();
    test_70b_and_tied();
    test_fallback();
    test_names();
    return check_finish("test_quant_mix");
}
