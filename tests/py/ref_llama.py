"""ref_llama.py — an independent float64 PyTorch implementation of the Llama 3 forward pass, the reference the
engine's logits are tested against.

Written from section 1 of ../shared/docs/llama3-reference.md, beside the checkout (Meta's llama/model.py
formulation), not from the C code:
    h = tok_embeddings[tokens]
    per layer: h += wo(Attention(RMSNorm(h) * attn_norm));  h += w2(silu(w1 x) * w3 x), x = RMSNorm(h) * ffn_norm
    logits = output(RMSNorm(h) * output_norm)        (output = tok_embeddings when output.weight is absent)
    RMSNorm(x) = x / sqrt(mean(x^2) + eps), eps from llama.attention.layer_norm_rms_epsilon
    RoPE on adjacent pairs (x[2i], x[2i+1]) of each q/k head (GGUF keeps Meta's row order), angle
        pos * theta^(-2i/head_dim) / rope_freqs[i]  (rope_freqs: the Llama 3.1 divisors, when the tensor exists)
    GQA: query head h reads KV head h // (n_head / n_head_kv); causal mask; scores scaled by 1/sqrt(head_dim)
Everything runs in float64 on the dequantized weights (gguf_reader + gguf_writer.dequantize), so the result is
the exact function the file describes, up to float64 rounding.

`forward(..., ablate=...)` deliberately breaks one rule (e.g. "no_rope_freqs", "gqa_modulo", "neox_rope",
"eps_1e-6", "no_rope", "no_mask"); the tests use it to show that each rule visibly changes the logits, i.e. that
a comparison at the chosen tolerance would catch an engine getting it wrong.

`forward(..., act_q8=True)` models the integer dot-product scheme of quantized weights (llama.cpp's and llamac's):
before each product with a Q8_0/Q4_0 weight the activation row is rounded to Q8_0 (blocks of 32, scale
d = max|x|/127 stored as f16, q = round(x/d)). It is not part of the model's definition; the tests use it to
show that the engine's deviation on quantized files is that scheme's rounding and nothing else.

`forward(..., act_bf16=True)` models the BF16 dot products of llamac's avx512 table (docs/KERNELS.md): before
each product with a BF16 weight the activation row is rounded to bfloat16 (to nearest even).
"""
import os
import sys

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE = os.environ.get("LLAMAC_SOURCE", os.path.abspath(os.path.join(HERE, "..", "..")))
sys.path.insert(0, os.path.join(SOURCE, "python"))
from gguf_reader import GGUFFile  # noqa: E402

ABLATIONS = ("no_rope_freqs", "gqa_modulo", "neox_rope", "eps_default", "no_rope", "no_mask")
INT_DOT_TYPES = ("Q8_0", "Q4_0")  # weight types whose products take Q8_0-rounded activations in the engine


def bf16_round(x):
    """x rounded to bfloat16 (round to nearest even, via float32) and widened back to float64."""
    return x.to(torch.float32).to(torch.bfloat16).to(torch.float64)


def q8_0_round(x):
    """x rounded as a Q8_0 activation row would be (per block of 32 along the last axis; float32 arithmetic)."""
    xs = x.to(torch.float32)
    b = xs.reshape(-1, 32)
    d = b.abs().max(dim=1, keepdim=True).values / 127.0
    inv = torch.where(d != 0, 1.0 / torch.where(d != 0, d, torch.ones_like(d)), torch.zeros_like(d))
    v = (b * inv).to(torch.float64)  # the float32 product, then rounded exactly (floor(|v| + 0.5) in float32
    q = torch.sign(v) * torch.floor(v.abs() + 0.5)  # could round up 2.4999999): half away from zero, like roundf
    return (q.to(torch.float64) * d.to(torch.float16).to(torch.float64)).reshape(x.shape)


class RefLlama:
    def __init__(self, path):
        f = GGUFFile(path)
        if f.get("general.architecture") != "llama":
            raise ValueError(f"{path}: not a llama model")
        kv = f.kv
        self.n_embd = int(kv["llama.embedding_length"])
        self.n_layer = int(kv["llama.block_count"])
        self.n_head = int(kv["llama.attention.head_count"])
        self.n_head_kv = int(kv.get("llama.attention.head_count_kv", self.n_head))
        self.head_dim = int(kv.get("llama.attention.key_length", self.n_embd // self.n_head))
        self.n_ff = int(kv["llama.feed_forward_length"])
        self.eps = float(kv.get("llama.attention.layer_norm_rms_epsilon", 1e-5))
        self.theta = float(kv.get("llama.rope.freq_base", 10000.0))
        assert self.n_head % self.n_head_kv == 0 and self.head_dim % 2 == 0

        self.types = {t.name: t.type_name for t in f.tensors}

        def w(name):
            return torch.from_numpy(f.tensor_f64(name))

        self.tok_embd = w("token_embd.weight")                       # [n_vocab, n_embd]
        self.n_vocab = self.tok_embd.shape[0]
        self.output_norm = w("output_norm.weight")
        self.tied = not f.has_tensor("output.weight")
        self.output = self.tok_embd if self.tied else w("output.weight")
        self.rope_divisors = w("rope_freqs.weight") if f.has_tensor("rope_freqs.weight") else None
        self.layers = []
        for l in range(self.n_layer):
            p = f"blk.{l}."
            self.layers.append({k: w(p + k + ".weight") for k in (
                "attn_norm", "attn_q", "attn_k", "attn_v", "attn_output", "ffn_norm", "ffn_gate", "ffn_up",
                "ffn_down")})
        hd, q_dim, kv_dim = self.head_dim, self.n_head * self.head_dim, self.n_head_kv * self.head_dim
        for L in self.layers:
            assert L["attn_q"].shape == (q_dim, self.n_embd) and L["attn_k"].shape == (kv_dim, self.n_embd)
            assert L["attn_v"].shape == (kv_dim, self.n_embd) and L["attn_output"].shape == (self.n_embd, q_dim)
            assert L["ffn_gate"].shape == (self.n_ff, self.n_embd) and L["ffn_down"].shape == (self.n_embd, self.n_ff)
        assert hd > 0

    # ---- pieces ----
    def inv_freq(self, ablate=()):
        i = torch.arange(self.head_dim // 2, dtype=torch.float64)
        f = self.theta ** (-2.0 * i / self.head_dim)
        if self.rope_divisors is not None and "no_rope_freqs" not in ablate:
            f = f / self.rope_divisors
        return f

    def rmsnorm(self, x, weight, ablate=()):
        eps = 1e-5 if "eps_default" in ablate else self.eps
        return x * torch.rsqrt((x * x).mean(dim=-1, keepdim=True) + eps) * weight

    @staticmethod
    def rope(x, cos, sin, neox=False):
        """x: [T, heads, head_dim]; cos/sin: [T, head_dim/2]. Rotates pairs by the angle of their position."""
        c, s = cos[:, None, :], sin[:, None, :]
        half = x.shape[-1] // 2
        if neox:  # HF rotate_half pairing (i, i + d/2): wrong for GGUF's Meta row order
            a, b = x[..., :half], x[..., half:]
            return torch.cat([a * c - b * s, a * s + b * c], dim=-1)
        a, b = x[..., 0::2], x[..., 1::2]
        out = torch.empty_like(x)
        out[..., 0::2] = a * c - b * s
        out[..., 1::2] = a * s + b * c
        return out

    # ---- forward ----
    @torch.no_grad()
    def forward(self, tokens, ablate=(), act_q8=False, act_bf16=False):
        """Logits [len(tokens), n_vocab] (float64) of a single sequence starting at position 0."""
        for a in ablate:
            assert a in ABLATIONS, a
        tokens = torch.as_tensor(tokens, dtype=torch.long)
        T, H, HKV, hd = len(tokens), self.n_head, self.n_head_kv, self.head_dim
        n_rep = H // HKV
        pos = torch.arange(T, dtype=torch.float64)
        ang = pos[:, None] * self.inv_freq(ablate)[None, :]
        if "no_rope" in ablate:
            ang = torch.zeros_like(ang)
        cos, sin = torch.cos(ang), torch.sin(ang)
        mask = torch.full((T, T), float("-inf"), dtype=torch.float64).triu(1)
        if "no_mask" in ablate:
            mask = torch.zeros_like(mask)
        if "gqa_modulo" in ablate:
            kv_of_head = torch.arange(H) % HKV
        else:
            kv_of_head = torch.arange(H) // n_rep
        neox = "neox_rope" in ablate

        def lin(x, l, role):  # y = W x for every row of x
            name = f"blk.{l}.{role}.weight" if l >= 0 else role
            W = self.layers[l][role] if l >= 0 else self.output
            if act_q8 and self.types[name] in INT_DOT_TYPES:
                x = q8_0_round(x)
            if act_bf16 and self.types[name] == "BF16":
                x = bf16_round(x)
            return x @ W.T

        h = self.tok_embd[tokens]                                            # [T, n_embd]
        for l, L in enumerate(self.layers):
            x = self.rmsnorm(h, L["attn_norm"], ablate)
            q = lin(x, l, "attn_q").view(T, H, hd)
            k = lin(x, l, "attn_k").view(T, HKV, hd)
            v = lin(x, l, "attn_v").view(T, HKV, hd)
            q, k = self.rope(q, cos, sin, neox), self.rope(k, cos, sin, neox)
            k, v = k[:, kv_of_head, :], v[:, kv_of_head, :]                 # [T, H, hd]
            scores = torch.einsum("thd,shd->hts", q, k) / (hd ** 0.5) + mask  # [H, T(query), T(key)]
            att = torch.softmax(scores, dim=-1)
            o = torch.einsum("hts,shd->thd", att, v).reshape(T, H * hd)
            h = h + lin(o, l, "attn_output")
            x = self.rmsnorm(h, L["ffn_norm"], ablate)
            g = torch.nn.functional.silu(lin(x, l, "ffn_gate")) * lin(x, l, "ffn_up")
            h = h + lin(g, l, "ffn_down")
        out_name = "token_embd.weight" if self.tied else "output.weight"
        return lin(self.rmsnorm(h, self.output_norm, ablate), -1, out_name)


def main(argv):
    """python3 ref_llama.py MODEL ID,ID,... : prints the argmax and the first logits of each position."""
    m = RefLlama(argv[1])
    toks = [int(t) for t in argv[2].split(",")]
    lg = m.forward(toks)
    for i, row in enumerate(lg):
        print(i, int(row.argmax()), [round(float(x), 5) for x in row[:4]])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
