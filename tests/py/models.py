"""models.py — tiny random-weight Llama 3.x GGUF models for the tests, generated on demand and cached.

Each variant below is a small model with the structure of a real Llama 3.0 / 3.1 / 3.2 checkpoint (GGUF tensor
names, Meta row order for attn_q/attn_k, F32 norms, the 3.1 `rope_freqs` divisors, tied embeddings for 3.2) and
weight scales chosen so activations stay O(1) and the logits have a standard deviation of a few units (attention
is neither uniform nor one-hot, so RoPE, GQA and masking all show in the output).

    path = model_path("l31-q8_0")       # generates $LLAMAC_BUILD/test-models/l31-q8_0-<hash>.gguf if needed
    toks = test_tokens("l31-q8_0")      # the variant's test sequence (deterministic)
    python3 models.py NAME              # generates and prints the path (used by the C tests)

Cache invariants: the file name carries a hash of the variant's parameters and of the generator sources
(this file and python/gguf_writer.py), so any change regenerates. Files are written under a unique temporary
name and moved into place with os.replace, so tests generating the same model concurrently (ctest -j) never
see a partial file; the content is deterministic (seeded), so whichever writer wins is the same file.
"""
import hashlib
import json
import math
import os
import sys
import uuid

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE = os.environ.get("LLAMAC_SOURCE", os.path.abspath(os.path.join(HERE, "..", "..")))
sys.path.insert(0, os.path.join(SOURCE, "python"))
import gguf_writer as gw  # noqa: E402

BOS = 128000
# llama.cpp's general.file_type numbers for the "main" weight type
FILE_TYPE = {"F32": 0, "F16": 1, "Q4_0": 2, "Q8_0": 7, "BF16": 32}
MATRIX_ROLES = ["attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down"]

_BASE = dict(family="3.0", n_layer=2, eps=1e-5, theta=500000.0, ctx_train=8192, rope_factor=None, tied=False,
             alignment=32, write_head_count_kv=True, write_key_length=False, types=None, n_tokens=64, ctx=None,
             embd_std=None, seed=1)

VARIANTS = {
    # Llama 3.0: no RoPE scaling, GQA 2, n_ff a multiple of 32 but not a power of two, odd vocab size
    "l30-f32": dict(family="3.0", wtype="F32", n_vocab=1000, n_embd=128, n_head=4, n_head_kv=2, n_ff=352,
                    n_tokens=80, seed=11),
    # Llama 3.1: rope_freqs for factor 8, head_dim 128 as in the real 8B/70B/405B, GQA 4
    "l31-f16": dict(family="3.1", wtype="F16", n_vocab=2048, n_embd=512, n_head=4, n_head_kv=1, n_ff=1536,
                    rope_factor=8, ctx_train=131072, n_tokens=64, seed=12),
    # Llama 3.2: tied embeddings (no output.weight), head_dim 64, factor 32, the full 128256 vocabulary
    "l32-bf16-tied": dict(family="3.2", wtype="BF16", n_vocab=128256, n_embd=128, n_head=2, n_head_kv=1, n_ff=512,
                          rope_factor=32, tied=True, ctx_train=131072, write_key_length=True, n_tokens=48,
                          seed=13),
    # odd sizes: n_embd 96, three heads of 32, no head_count_kv key (defaults to head_count: GQA 1), n_ff 1000,
    # three layers, a non-default eps
    "odd-bf16": dict(family="3.0", wtype="BF16", n_vocab=777, n_embd=96, n_head=3, n_head_kv=3, n_ff=1000,
                     n_layer=3, write_head_count_kv=False, eps=1e-6, n_tokens=72, seed=14),
    # quantized: Q8_0 (3.1, GQA 4 with two KV heads, head_dim 64) and Q4_0 (3.0, GQA 2, six heads)
    "l31-q8_0": dict(family="3.1", wtype="Q8_0", n_vocab=4096, n_embd=512, n_head=8, n_head_kv=2, n_ff=704,
                     rope_factor=8, ctx_train=131072, n_tokens=80, seed=15),
    "l30-q4_0": dict(family="3.0", wtype="Q4_0", n_vocab=3000, n_embd=192, n_head=6, n_head_kv=3, n_ff=512,
                     n_tokens=80, seed=16),
    # every matrix type in one file (rotating per layer), alignment 64, GQA 1 with an explicit head_count_kv
    "l32-mixed": dict(family="3.2", wtype="mixed", n_vocab=1536, n_embd=128, n_head=2, n_head_kv=2, n_ff=352,
                      rope_factor=32, ctx_train=131072, alignment=64, n_tokens=64, seed=17,
                      types={"token_embd": "Q4_0", "output": "Q8_0",
                             "cycle": ["Q8_0", "F16", "BF16", "Q4_0", "F32", "Q8_0", "Q4_0"]}),
    # long context: 1100 positions with the 3.1 factor-8 divisors (the scaling changes the logits visibly)
    "l31-long-f32": dict(family="3.1", wtype="F32", n_vocab=256, n_embd=128, n_head=2, n_head_kv=1, n_ff=256,
                         rope_factor=8, ctx_train=131072, n_tokens=1100, ctx=1200, seed=18),
    # large enough (about 40 MB) that a background weight copy is still running while the first tokens decode
    "load-q4_0": dict(family="3.1", wtype="Q4_0", n_vocab=32000, n_embd=1024, n_head=8, n_head_kv=2, n_ff=2816,
                      n_layer=4, rope_factor=8, ctx_train=131072, n_tokens=32, seed=21),
    # a very small file for hostile-input tests and fuzzing (the header is a large part of it)
    "tiny": dict(family="3.1", wtype="F32", n_vocab=64, n_embd=32, n_head=2, n_head_kv=1, n_ff=64, n_layer=1,
                 rope_factor=8, ctx_train=131072, n_tokens=8, seed=19),
}


def spec(name):
    s = dict(_BASE)
    s.update(VARIANTS[name])
    s["name"] = name
    s["head_dim"] = s["n_embd"] // s["n_head"]
    return s


def tensor_type(s, role, layer=0):
    """The storage type of a matrix role ("token_embd", "output", "attn_q", ...) in layer `layer`."""
    if s["wtype"] != "mixed":
        return s["wtype"]
    t = s["types"]
    if role in t:
        return t[role]
    cyc = t["cycle"]
    return cyc[(MATRIX_ROLES.index(role) + layer) % len(cyc)]


# ---- Llama 3.1 RoPE scaling (reference doc section 1.8), as llama.cpp's per-pair rope_freqs divisors ----
def llama3_rope_divisors(head_dim, theta, factor, low_freq_factor=1.0, high_freq_factor=4.0, old_ctx=8192):
    low_wavelen = old_ctx / low_freq_factor
    high_wavelen = old_ctx / high_freq_factor
    out = []
    for i in range(head_dim // 2):
        f = theta ** (-2.0 * i / head_dim)
        wavelen = 2 * math.pi / f
        if wavelen < high_wavelen:
            out.append(1.0)
        elif wavelen > low_wavelen:
            out.append(float(factor))
        else:
            smooth = (old_ctx / wavelen - low_freq_factor) / (high_freq_factor - low_freq_factor)
            out.append(1.0 / ((1 - smooth) / factor + smooth))
    return np.array(out, np.float64)


def _generator_hash(s):
    h = hashlib.sha256()
    h.update(json.dumps(s, sort_keys=True).encode())
    for p in (os.path.abspath(__file__), os.path.join(SOURCE, "python", "gguf_writer.py")):
        with open(p, "rb") as f:
            h.update(f.read())
    return h.hexdigest()[:12]


def _metadata(w, s):
    fam, hd = s["family"], s["head_dim"]
    main_type = s["wtype"] if s["wtype"] != "mixed" else "Q8_0"
    U32, F32 = gw.UINT32, gw.FLOAT32
    w.add("general.architecture", "llama")
    if s["alignment"] != 32:
        w.add("general.alignment", s["alignment"], U32)
    if fam != "3.0":
        size = {"3.1": "8B", "3.2": "1B"}[fam]
        w.add("general.type", "model")
        w.add("general.name", f"Llama {fam} {size} Instruct (llamac test: {s['name']})")
        w.add("general.basename", f"Llama-{fam}")
        w.add("general.finetune", "Instruct")
        w.add("general.size_label", size)
        w.add("general.license", "llama3.1" if fam == "3.1" else "llama3.2")
        w.add("general.tags", ["facebook", "meta", "pytorch", "llama", "llama-3", "text-generation"])
        w.add("general.languages", ["en", "de", "fr", "it", "pt", "hi", "es", "th"])
        # an array of arrays: readers must walk nested arrays correctly (llama ignores the key)
        w.add("llamac.test.nested", [[1, 2, 3], [4], [-5, 6]], gw.ARRAY, gw.ARRAY)
    w.add("llama.block_count", s["n_layer"], U32)
    w.add("llama.context_length", s["ctx_train"], U32)
    w.add("llama.embedding_length", s["n_embd"], U32)
    w.add("llama.feed_forward_length", s["n_ff"], U32)
    w.add("llama.attention.head_count", s["n_head"], U32)
    if s["write_head_count_kv"]:
        w.add("llama.attention.head_count_kv", s["n_head_kv"], U32)
    w.add("llama.rope.freq_base", s["theta"], F32)
    w.add("llama.attention.layer_norm_rms_epsilon", s["eps"], F32)
    if s["write_key_length"]:
        w.add("llama.attention.key_length", hd, U32)
        w.add("llama.attention.value_length", hd, U32)
    if fam != "3.0":
        w.add("general.file_type", FILE_TYPE[main_type], U32)
        w.add("llama.vocab_size", s["n_vocab"], U32)
        w.add("llama.rope.dimension_count", hd, U32)
        if main_type in ("Q8_0", "Q4_0"):
            w.add("general.quantization_version", 2, U32)
        # no tokenizer.ggml.* keys: with tokenizer.ggml.model present the loader builds the vocabulary, which
        # random-weight models do not have (the engine is tested on token ids)


def build(s):
    """The GGUFWriter of variant spec s (weights drawn from a generator seeded by s['seed'])."""
    rng = np.random.default_rng(s["seed"])
    V, E, F, H, HKV, hd = s["n_vocab"], s["n_embd"], s["n_ff"], s["n_head"], s["n_head_kv"], s["head_dim"]
    w = gw.GGUFWriter(alignment=s["alignment"])
    _metadata(w, s)

    def normal(shape, std):
        return (rng.standard_normal(shape, dtype=np.float32) * np.float32(std)).astype(np.float32)

    def norm_weight():
        return (1.0 + normal(E, 0.1)).astype(np.float32)

    # token_embd: when tied it is also the output projection, so it gets the output scale
    # (logit std ~ std * sqrt(n_embd) * rms(output_norm) ~ 3); otherwise a typical small embedding scale
    embd_std = s["embd_std"] or (3.0 / math.sqrt(E) if s["tied"] else 0.05)
    w.add_tensor("token_embd.weight", normal((V, E), embd_std), tensor_type(s, "token_embd"))
    w.add_tensor("output_norm.weight", norm_weight(), "F32")
    if not s["tied"]:
        w.add_tensor("output.weight", normal((V, E), 3.0 / math.sqrt(E)), tensor_type(s, "output"))
    if s["rope_factor"]:
        div = llama3_rope_divisors(hd, s["theta"], s["rope_factor"])
        w.add_tensor("rope_freqs.weight", div.astype(np.float32), "F32")
    for l in range(s["n_layer"]):
        def mat(role, n_out, n_in, gain=1.0):
            w.add_tensor(f"blk.{l}.{role}.weight", normal((n_out, n_in), gain / math.sqrt(n_in)),
                         tensor_type(s, role, l))
        w.add_tensor(f"blk.{l}.attn_norm.weight", norm_weight(), "F32")
        # q and k a little larger than unit gain so attention scores have std ~2 (peaked, position-sensitive)
        mat("attn_q", H * hd, E, 1.4)
        mat("attn_k", HKV * hd, E, 1.4)
        mat("attn_v", HKV * hd, E)
        mat("attn_output", E, H * hd)
        w.add_tensor(f"blk.{l}.ffn_norm.weight", norm_weight(), "F32")
        mat("ffn_gate", F, E)
        mat("ffn_up", F, E)
        mat("ffn_down", E, F)
    return w


def cache_dir():
    d = os.path.join(os.environ.get("LLAMAC_BUILD", os.path.join(SOURCE, "build")), "test-models")
    os.makedirs(d, exist_ok=True)
    return d


def model_path(name):
    """Path of variant `name`, generating it first if the cache lacks the current version."""
    s = spec(name)
    d = cache_dir()
    path = os.path.join(d, f"{name}-{_generator_hash(s)}.gguf")
    if os.path.exists(path):
        return path
    data = build(s).to_bytes()
    tmp = f"{path}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp"
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, path)
    # drop stale versions of this variant (best effort; another process may be doing the same)
    for old in os.listdir(d):
        if old.startswith(name + "-") and old.endswith(".gguf") and old != os.path.basename(path) \
                and old[len(name) + 1:-5].isalnum() and len(old) == len(name) + 1 + 12 + 5:
            try:
                os.unlink(os.path.join(d, old))
            except OSError:
                pass
    return path


def test_tokens(name):
    """The variant's test sequence: BOS (when the vocabulary has it) then seeded random ids over the whole
    vocabulary, including its first and last ids."""
    s = spec(name)
    rng = np.random.default_rng(1000 + s["seed"])
    V, n = s["n_vocab"], s["n_tokens"]
    toks = rng.integers(0, V, n).tolist()
    toks[0] = BOS if V > BOS else 1
    toks[n // 3] = V - 1
    toks[n // 2] = 0
    return [int(t) for t in toks]


def test_ctx(name):
    """The --ctx the variant's test sequence needs (None: the CLI default of 4096 suffices)."""
    return spec(name)["ctx"]


if __name__ == "__main__":
    if len(sys.argv) != 2 or sys.argv[1] not in VARIANTS:
        sys.exit(f"usage: models.py NAME   (one of: {', '.join(VARIANTS)})")
    print(model_path(sys.argv[1]))
