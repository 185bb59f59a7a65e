"""test_rope_scaling.py — the Llama 3.1 "llama3" RoPE frequency scaling, from both places a GGUF can carry it.

llama.cpp writes the per-pair divisors as the rope_freqs tensor; a file may instead declare
llama.rope.scaling.type = "llama3" with its factor and band parameters, and llamac then computes the divisors
itself. Both must give the same logits at long positions (where scaling matters), and the divisor formula used by
the test models must equal the published tables in shared/data/rope_llama3.json.
"""
import json
import os

import numpy as np

from llamac_testlib import SHARED, check, main, run_llamac, scratch_dir
import gguf_writer as gw
import models


def test_divisor_formula_matches_published_tables():
    with open(os.path.join(SHARED, "data", "rope_llama3.json"), encoding="utf-8") as f:
        ref = json.load(f)
    for hd in (128, 64):
        t = ref["tables"][f"head_dim_{hd}"]
        for factor in (8, 32):
            want = np.array(t[f"factor_{factor}"]["ggml_rope_freqs"], np.float64)
            got = models.llama3_rope_divisors(hd, ref["theta"], factor)
            check(np.allclose(got, want, rtol=1e-6), f"head_dim {hd} factor {factor}: {got} vs {want}")


def _logits(path, tokens, ctx):
    out = os.path.join(scratch_dir(), "logits.bin")
    run_llamac(["logits", "-m", path, "--tokens", ",".join(map(str, tokens)), "-o", out, "--ctx", ctx],
               expect_ok=True, timeout=600)
    return np.fromfile(out, "<f4").reshape(len(tokens), -1).astype(np.float64)


def test_metadata_scaling_equals_rope_freqs_tensor():
    name = "l31-long-f32"
    s = models.spec(name)
    with_tensor = models.model_path(name)
    w = models.build(s)
    w.tensors = [t for t in w.tensors if t[0] != "rope_freqs.weight"]
    w.add("llama.rope.scaling.type", "llama3")
    w.add("llama.rope.scaling.factor", float(s["rope_factor"]), gw.FLOAT32)
    w.add("llama.rope.scaling.low_freq_factor", 1.0, gw.FLOAT32)
    w.add("llama.rope.scaling.high_freq_factor", 4.0, gw.FLOAT32)
    w.add("llama.rope.scaling.original_context_length", 8192, gw.UINT32)
    meta = os.path.join(scratch_dir(), "meta-scaling.gguf")
    w.write(meta)
    info = run_llamac(["info", "-m", meta], expect_ok=True).stdout
    check("rope_freqs yes" in info, f"info does not report the scaling: {info[-400:]}")
    tokens = models.test_tokens(name)
    a = _logits(with_tensor, tokens, models.test_ctx(name))
    b = _logits(meta, tokens, models.test_ctx(name))
    ratio = np.abs(a - b).max() / a.std()
    check(ratio < 1e-4, f"metadata-scaled logits differ from rope_freqs-scaled ones by {ratio:.3g} x std")
    # and the scaling is not a no-op at these positions
    w.kv = [kv for kv in w.kv if not kv[0].startswith("llama.rope.scaling")]
    plain = os.path.join(scratch_dir(), "no-scaling.gguf")
    w.write(plain)
    c = _logits(plain, tokens, models.test_ctx(name))
    check(np.abs(a - c)[1000:].max() / a.std() > 0.1, "dropping the scaling changed nothing: the test is blind")


def test_bad_scaling_metadata_is_refused():
    s = models.spec("tiny")
    w = models.build(s)
    w.tensors = [t for t in w.tensors if t[0] != "rope_freqs.weight"]
    w.add("llama.rope.scaling.type", "llama3")
    path = os.path.join(scratch_dir(), "no-factor.gguf")
    w.write(path)
    r = run_llamac(["logits", "-m", path, "--tokens", "1,2", "-o", path + ".bin"], expect_ok=False)
    check("llama.rope.scaling.factor" in r.stderr, f"missing factor: {r.stderr!r}")
    w.add("llama.rope.scaling.factor", -2.0, gw.FLOAT32)
    w.write(path)
    r = run_llamac(["logits", "-m", path, "--tokens", "1,2", "-o", path + ".bin"], expect_ok=False)
    check("invalid llama3 rope scaling" in r.stderr, f"negative factor: {r.stderr!r}")
    w2 = models.build(s)
    w2.add("llama.rope.scaling.type", "yarn")
    w2.write(path)
    r = run_llamac(["logits", "-m", path, "--tokens", "1,2", "-o", path + ".bin"], expect_ok=False)
    check("rope scaling type 'yarn' is not supported" in r.stderr, f"yarn: {r.stderr!r}")


if __name__ == "__main__":
    main(globals())
