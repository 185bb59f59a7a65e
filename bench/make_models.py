#!/usr/bin/python3
"""make_models.py — random-weight GGUF models in the exact shapes of Llama-3.2-1B, Llama-3.2-3B and Llama-3-8B,
for measuring speed (docs/PERFORMANCE.md). Random weights run exactly as fast as trained ones: every shape,
type and byte count is that of the real model.

    /usr/bin/python3 bench/make_models.py [OUTDIR] [--shapes 1b,3b,8b] [--types F16,Q8_0,Q4_0,Q4_K_M]
                                          [--llamac build/llamac] [--no-vocab] [--dry-run]

For each shape it writes OUTDIR/<shape>-F16.gguf (shapes llama-3.2-1b, llama-3.2-3b, llama-3-8b) from Python,
streaming tensor by tensor (python/gguf_writer.py GGUFStreamWriter; the 8B file is 16 GB), then every other type
with llamac's own quantizer, `llamac quantize F16-FILE OUT TYPE`, into OUTDIR/<shape>-<TYPE>.gguf. Files that
exist are skipped (delete one to regenerate it). If F16 is not among --types the F16 file is only an
intermediate, deleted after quantizing. Free space is checked first (like `df`); --dry-run prints the estimate.

Weights: normal with std gain/sqrt(n_in) per matrix (about 0.016 for n_in = 4096, close to trained Llama 3
matrices), norm vectors 1 + N(0, 0.1), embeddings as in tests/py/models.py; seeded per tensor, so a file's content
does not depend on chunking. Metadata as llama.cpp's converter writes it (hyperparameters, rope_freqs divisors for
3.2's factor-32 RoPE scaling, general.file_type) plus, unless --no-vocab, the real Llama 3 vocabulary from
../shared/data, so llama.cpp's llama-bench can run the same files for a side-by-side comparison.
"""
import argparse
import json
import math
import os
import shutil
import subprocess
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE = os.path.abspath(os.path.join(HERE, ".."))
SHARED = os.environ.get("LLAMAC_SHARED", os.path.abspath(os.path.join(SOURCE, "..", "shared")))
sys.path.insert(0, os.path.join(SOURCE, "python"))
sys.path.insert(0, os.path.join(SOURCE, "tests", "py"))
import gguf_writer as gw  # noqa: E402
from models import llama3_rope_divisors  # noqa: E402  (the project's Llama 3.1 RoPE-scaling formula)

# Exact shapes (reference doc table); tied = no output.weight; rope_factor = 3.1-style scaling via rope_freqs.
SHAPES = {
    "1b": dict(name="Llama-3.2-1B", file="llama-3.2-1b", family="3.2", n_embd=2048, n_layer=16, n_head=32, n_head_kv=8, n_ff=8192,
               n_vocab=128256, tied=True, rope_factor=32, ctx_train=131072),
    "3b": dict(name="Llama-3.2-3B", file="llama-3.2-3b", family="3.2", n_embd=3072, n_layer=28, n_head=24, n_head_kv=8, n_ff=8192,
               n_vocab=128256, tied=True, rope_factor=32, ctx_train=131072),
    "8b": dict(name="Llama-3-8B", file="llama-3-8b", family="3.0", n_embd=4096, n_layer=32, n_head=32, n_head_kv=8, n_ff=14336,
               n_vocab=128256, tied=False, rope_factor=None, ctx_train=8192),
}
TYPES = ["F16", "Q8_0", "Q4_0", "Q4_K_M"]
# bytes per weight of the matrices, for the disk-space estimate (the 4-bit mixes keep the output projection, and
# Q4_K_M some attn_v/ffn_down, in Q6_K: measured 4.99 and 5.23 bits per weight on the 1B shape)
BYTES_PER_WEIGHT = {"F16": 2.0, "BF16": 2.0, "Q8_0": 34 / 32, "Q4_0": 5.0 / 8, "Q4_K_M": 5.25 / 8, "Q4_K_S": 5.0 / 8,
                    "Q6_K": 210 / 256, "Q5_K_M": 6.0 / 8}
THETA, EPS = 500000.0, 1e-5
CHUNK_ELEMS = 32 << 20  # rows generated at a time: at most 128 MB of float32


def file_name(shape, ttype):
    return f"{SHAPES[shape]['file']}-{ttype}.gguf"


def matrices(s):
    """(name, (n_out, n_in), gain) of every matrix, in file order; None marks where norm vectors go."""
    E, F, hd = s["n_embd"], s["n_ff"], s["n_embd"] // s["n_head"]
    q, kv = s["n_head"] * hd, s["n_head_kv"] * hd
    for l in range(s["n_layer"]):
        yield f"blk.{l}.attn_q.weight", (q, E), 1.4
        yield f"blk.{l}.attn_k.weight", (kv, E), 1.4
        yield f"blk.{l}.attn_v.weight", (kv, E), 1.0
        yield f"blk.{l}.attn_output.weight", (E, q), 1.0
        yield f"blk.{l}.ffn_gate.weight", (F, E), 1.0
        yield f"blk.{l}.ffn_up.weight", (F, E), 1.0
        yield f"blk.{l}.ffn_down.weight", (E, F), 1.0


def n_matrix_weights(s):
    n = s["n_vocab"] * s["n_embd"] * (1 if s["tied"] else 2)
    return n + sum(a * b for _, (a, b), _ in matrices(s))


def estimate_bytes(s, ttype):
    return int(n_matrix_weights(s) * BYTES_PER_WEIGHT.get(ttype, 2.0)) + (16 << 20)  # + norms, header, vocab


def tensor_plan(s):
    """Every tensor in file order: (name, numpy shape, storage type, generator(rng) -> float32 rows)."""
    E, V = s["n_embd"], s["n_vocab"]

    def normal(std):
        return lambda rng, shape: rng.standard_normal(shape, dtype=np.float32) * np.float32(std)

    def norm(rng, shape):
        return np.float32(1.0) + rng.standard_normal(shape, dtype=np.float32) * np.float32(0.1)

    # tied: token_embd is also the output projection, so it gets the output scale (logit std ~3)
    plan = [("token_embd.weight", (V, E), "F16", normal(3.0 / math.sqrt(E) if s["tied"] else 0.05))]
    if s["rope_factor"]:
        div = llama3_rope_divisors(E // s["n_head"], THETA, s["rope_factor"]).astype(np.float32)
        plan.append(("rope_freqs.weight", div.shape, "F32", lambda rng, shape, d=div: d))
    plan.append(("output_norm.weight", (E,), "F32", norm))
    if not s["tied"]:
        plan.append(("output.weight", (V, E), "F16", normal(3.0 / math.sqrt(E))))
    layer = -1
    for name, shape, gain in matrices(s):
        l = int(name.split(".")[1])
        if l != layer:
            layer = l
            plan.append((f"blk.{l}.attn_norm.weight", (E,), "F32", norm))
        if name.endswith("ffn_gate.weight"):
            plan.append((f"blk.{l}.ffn_norm.weight", (E,), "F32", norm))
        plan.append((name, shape, "F16", normal(gain / math.sqrt(shape[1]))))
    return plan


def add_vocab(w, family):
    """The real Llama 3 vocabulary (128000 BPE tokens + 256 specials of the family), as llama.cpp writes it."""
    with open(os.path.join(SHARED, "data", "llama3_hf_tokenizer.json"), encoding="utf-8") as f:
        model = json.load(f)["model"]
    with open(os.path.join(SHARED, "data", "special_tokens.json"), encoding="utf-8") as f:
        specials = json.load(f)["llama3_1" if family != "3.0" else "llama3_0"]
    tokens = [None] * (len(model["vocab"]) + len(specials))
    for tok, i in model["vocab"].items():
        tokens[i] = tok
    for i, tok in specials.items():
        tokens[int(i)] = tok
    types = [1] * len(model["vocab"]) + [3] * len(specials)  # NORMAL, CONTROL
    merges = [m if isinstance(m, str) else " ".join(m) for m in model["merges"]]
    w.add("tokenizer.ggml.model", "gpt2")
    w.add("tokenizer.ggml.pre", "llama-bpe")
    w.add("tokenizer.ggml.tokens", tokens, gw.ARRAY, gw.STRING)
    w.add("tokenizer.ggml.token_type", types, gw.ARRAY, gw.INT32)
    w.add("tokenizer.ggml.merges", merges, gw.ARRAY, gw.STRING)
    w.add("tokenizer.ggml.bos_token_id", 128000, gw.UINT32)
    w.add("tokenizer.ggml.eos_token_id", 128001, gw.UINT32)


def write_f16(s, path, vocab=True, seed=1):
    U32, F32 = gw.UINT32, gw.FLOAT32
    w = gw.GGUFStreamWriter()
    w.add("general.architecture", "llama")
    w.add("general.type", "model")
    w.add("general.name", f"{s['name']} (random weights, llamac bench)")
    w.add("general.file_type", 1, U32)  # llama.cpp's MOSTLY_F16
    w.add("llama.block_count", s["n_layer"], U32)
    w.add("llama.context_length", s["ctx_train"], U32)
    w.add("llama.embedding_length", s["n_embd"], U32)
    w.add("llama.feed_forward_length", s["n_ff"], U32)
    w.add("llama.attention.head_count", s["n_head"], U32)
    w.add("llama.attention.head_count_kv", s["n_head_kv"], U32)
    w.add("llama.rope.freq_base", THETA, F32)
    w.add("llama.attention.layer_norm_rms_epsilon", EPS, F32)
    w.add("llama.vocab_size", s["n_vocab"], U32)
    w.add("llama.rope.dimension_count", s["n_embd"] // s["n_head"], U32)
    if vocab:
        add_vocab(w, s["family"])
    plan = tensor_plan(s)
    for name, shape, ttype, _ in plan:
        w.declare_tensor(name, shape, ttype)
    t0 = shown = time.time()
    tty = sys.stdout.isatty()
    with w.open(path) as out:
        for idx, (name, shape, ttype, gen) in enumerate(plan):
            rng = np.random.default_rng([seed, idx])
            if len(shape) == 1:
                out.write(name, gen(rng, shape))
                continue
            rows = max(1, CHUNK_ELEMS // shape[1])
            for r0 in range(0, shape[0], rows):
                out.write(name, gen(rng, (min(rows, shape[0] - r0), shape[1])))
            if tty or time.time() - shown > 10 or idx + 1 == len(plan):
                shown = time.time()
                print(("\r" if tty else "") + f"  {idx + 1}/{len(plan)} tensors ({name}), {shown - t0:.0f} s",
                      end="" if tty else "\n", flush=True)
    if tty:
        print()


def human(n):
    return f"{n / 1e9:.2f} GB"


def has_quantize(llamac):
    try:
        r = subprocess.run([llamac, "quantize", "--help"], capture_output=True, text=True, timeout=60)
    except OSError:
        return False
    return r.returncode == 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("outdir", nargs="?", default=os.path.join(HERE, "models"))
    ap.add_argument("--shapes", default="1b,3b,8b", help="comma list of: " + ", ".join(SHAPES))
    ap.add_argument("--types", default=",".join(TYPES), help="comma list (default %(default)s)")
    ap.add_argument("--llamac", default=os.environ.get("LLAMAC", os.path.join(SOURCE, "build", "llamac")),
                    help="the llamac binary whose quantizer makes the non-F16 types (default $LLAMAC or build/llamac)")
    ap.add_argument("--no-vocab", action="store_true", help="do not embed the Llama 3 vocabulary")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--dry-run", action="store_true", help="print what would be written and the space needed")
    a = ap.parse_args()
    shapes = [x.strip().lower() for x in a.shapes.split(",") if x.strip()]
    types = [x.strip().upper() for x in a.types.split(",") if x.strip()]
    bad = [x for x in shapes if x not in SHAPES]
    if bad or not shapes:
        sys.exit(f"make_models: unknown shape(s) {bad}; choose from {', '.join(SHAPES)}")
    if not types:
        sys.exit("make_models: --types is empty")
    os.makedirs(a.outdir, exist_ok=True)

    # what is missing, and the space it needs (an F16 intermediate counts even if it is deleted later)
    todo, need = [], 0
    for sh in shapes:
        s = SHAPES[sh]
        missing = [t for t in types if not os.path.exists(os.path.join(a.outdir, file_name(sh, t)))]
        f16 = os.path.join(a.outdir, file_name(sh, "F16"))
        if missing and not os.path.exists(f16) and "F16" not in missing:
            missing.insert(0, "F16")
        todo.append((sh, missing))
        need += sum(estimate_bytes(s, t) for t in missing)
    free = shutil.disk_usage(a.outdir).free
    print(f"make_models: writing into {a.outdir}: {human(need)} needed (estimate), {human(free)} free")
    for sh, missing in todo:
        print(f"  {SHAPES[sh]['name']}: " + (", ".join(missing) if missing else "all present"))
    if a.dry_run:
        return 0
    if need > free * 0.95:
        sys.exit(f"make_models: not enough free space in {a.outdir}: need about {human(need)}, have {human(free)} "
                 f"(use --shapes/--types to write fewer files)")
    quant_types = [t for t in types if t != "F16"]
    can_quantize = True
    if any(t in quant_types for _, m in todo for t in m):
        can_quantize = has_quantize(a.llamac)
        if not can_quantize:
            print(f"make_models: '{a.llamac} quantize' is not available: only F16 files will be written",
                  file=sys.stderr)

    failed = []
    for sh, missing in todo:
        s = SHAPES[sh]
        f16 = os.path.join(a.outdir, file_name(sh, "F16"))
        wrote_f16 = "F16" in missing
        if wrote_f16:
            print(f"{s['name']} F16 -> {f16}")
            write_f16(s, f16, vocab=not a.no_vocab, seed=a.seed)
        for t in [t for t in missing if t != "F16"]:
            out = os.path.join(a.outdir, file_name(sh, t))
            if not can_quantize:
                failed.append(out)
                continue
            print(f"{s['name']} {t} -> {out}", flush=True)
            tmp = f"{out}.{os.getpid()}.tmp"
            t0 = time.time()
            r = subprocess.run([a.llamac, "quantize", f16, tmp, t])
            if r.returncode != 0 or not os.path.exists(tmp):
                print(f"make_models: llamac quantize to {t} failed (exit {r.returncode})", file=sys.stderr)
                if os.path.exists(tmp):
                    os.unlink(tmp)
                failed.append(out)
                continue
            os.replace(tmp, out)
            print(f"  {time.time() - t0:.0f} s")
        if wrote_f16 and "F16" not in types and can_quantize:
            os.unlink(f16)  # only an intermediate this time

    print("\n| file | size |\n| --- | ---: |")
    for sh in shapes:
        for t in types:
            p = os.path.join(a.outdir, file_name(sh, t))
            if os.path.exists(p):
                print(f"| {os.path.basename(p)} | {os.path.getsize(p) / 2**30:.2f} GiB |")
    if failed:
        print("not written: " + ", ".join(os.path.basename(p) for p in failed), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
