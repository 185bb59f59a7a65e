"""test_reference.py — the engine's logits against the independent float64 reference (ref_llama.py), on every
generated model variant (models.py), plus the invariances the engine promises.

Tolerances (d = |engine - reference| over every position and vocabulary entry, std = std of the reference logits):

  F32, F16, BF16 weights: max d < 1e-4 * std. The engine computes in float32 with double-accumulated dot
    products on exactly the values the file stores; float32 rounding alone gives ~5e-6 * std (measured
    4.6e-6..1.1e-5, the largest at the 1100-token context), so 1e-4 leaves a 10x margin and is still far below
    what any real mistake produces: the sensitivity test shows that getting the RoPE divisors, the GQA head
    mapping, the RoPE pairing, the RMSNorm eps or the causal mask wrong moves the logits by 1e-3..7 * std.

  Q8_0, Q4_0 and mixed files: the weights are exact, but the engine (like llama.cpp's CPU backend) rounds each
    activation row to Q8_0 (blocks of 32, scale max|x|/127) before integer dot products. That rounding is
    ~0.5% rms per product (LSB/sqrt(12) with LSB ~ 2.1 sigma / 127), which these 2-layer models turn into an rms
    logit error of ~0.03 * std, growing with the position. Measured (max d / std): Q8_0 0.24, Q4_0 0.18,
    mixed 0.12; the median over positions of the per-position max is ~0.10 * std — the "near 0.1 * std" that
    llama.cpp lands at. We require
      * rms d <= 0.05 * std and the median per-position max d <= 0.15 * std;
      * max d <= Q_TOL = 0.35 * std (about 1.5x the worst measured; the per-position maximum is heavy-tailed
        because a single rounding flip in a cached K/V row shifts every later position);
      * the same argmax at every position whose reference top-2 gap exceeds Q_TOL * std;
      * and that the engine loses no more than the rounding scheme itself: rms(engine - reference) is at most
        1.25x rms(scheme - reference), where "scheme" is ref_llama's float64 emulation of the Q8_0 activation
        rounding (measured ratio 1.00). So the deviation is the scheme's, and we do as well as llama.cpp's.

  BF16 weights on the avx512 table (AVX512_BF16 dot products, activations rounded to bfloat16 first): compared
    with ref_llama's emulation of that scheme (act_bf16): the first quartile of the per-position max |engine -
    scheme| must stay below FLOAT_TOL (measured 3e-7 * std; a flip in a K/V row moves all later positions), the
    engine's rms error at most Q_SCHEME_RATIO x the scheme's own (measured 1.00; scheme rms ~0.01 * std, max 0.06-0.08 * std), max d <= BF16_TOL = 0.2 * std, and the same
    argmax wherever the reference top-2 gap exceeds 2 * BF16_TOL. Other tables take the F32 rule above.

  --kv f16: K and V are stored with a relative rounding error <= 2^-11; measured max d ~7e-3 * std on the float
    variants, so KV_F16_TOL = 0.03 * std (4x margin); the result must also differ from the f32 cache (the option
    is in effect).

The achieved figures are printed and written to $LLAMAC_BUILD/reference-tolerances.txt.
"""
import json
import os
import re
import shutil
import sys

import numpy as np

from llamac_testlib import BUILD, SHARED, check, main, run_llamac, scratch_dir
import models
import ref_llama
from gguf_reader import GGUFFile

FLOAT_TOL = 1e-4
Q_TOL = 0.35
Q_RMS_TOL = 0.05
Q_MEDIAN_POS_TOL = 0.15
Q_SCHEME_RATIO = 1.25
KV_F16_TOL = 0.03
BF16_TOL = 0.2

FLOAT_VARIANTS = ["l30-f32", "l31-f16", "l32-bf16-tied", "odd-bf16", "l31-long-f32"]
QUANT_VARIANTS = ["l31-q8_0", "l30-q4_0", "l32-mixed"]
TYPE_OF = {"l30-f32": "F32", "l31-long-f32": "F32", "l31-f16": "F16", "l32-bf16-tied": "BF16", "odd-bf16": "BF16",
           "l31-q8_0": "Q8_0", "l30-q4_0": "Q4_0", "l32-mixed": "mixed"}

SCRATCH = scratch_dir()
_refs = {}
RESULTS = {}  # variant -> dict of measured figures


_bf16_dot = []


def bf16_dot():
    """True when the engine's kernel table is avx512, whose BF16 products use AVX512_BF16 (cpu.c only picks it
    on CPUs that have those instructions)."""
    if not _bf16_dot:
        out = run_llamac(["--version"], expect_ok=True)
        _bf16_dot.append("kernels: avx512" in out.stdout)
    return _bf16_dot[0]


def ref_model(name):
    if name not in _refs:
        _refs[name] = ref_llama.RefLlama(models.model_path(name))
    return _refs[name]


def ref_logits(name, tokens=None, **kw):
    toks = models.test_tokens(name) if tokens is None else tokens
    return ref_model(name).forward(toks, **kw).numpy()


_engine_cache = {}


def engine_logits(name, extra=(), tokens=None, raw=False):
    """Runs `llamac logits` on the variant; returns float32 [T, n_vocab] (or the file's bytes if raw).
    Runs with default options are remembered (several tests compare against them)."""
    toks = models.test_tokens(name) if tokens is None else tokens
    if not extra and tokens is None:
        if name not in _engine_cache:
            _engine_cache[name] = _run_engine(name, toks, ())
        data = _engine_cache[name]
    else:
        data = _run_engine(name, toks, extra)
    if raw:
        return data
    return np.frombuffer(data, "<f4").reshape(len(toks), models.spec(name)["n_vocab"])


def _run_engine(name, toks, extra):
    out = os.path.join(SCRATCH, f"{name}.bin")
    args = ["logits", "-m", models.model_path(name), "--tokens", ",".join(map(str, toks)), "-o", out]
    if models.test_ctx(name):
        args += ["--ctx", models.test_ctx(name)]
    run_llamac(args + list(extra), timeout=600, expect_ok=True)
    with open(out, "rb") as f:
        data = f.read()
    os.unlink(out)
    n_vocab = models.spec(name)["n_vocab"]
    check(len(data) == len(toks) * n_vocab * 4,
          f"{name}: logits file has {len(data)} bytes, expected {len(toks)} x {n_vocab} x 4")
    return data


def rms(a):
    return float(np.sqrt(np.mean(np.square(a))))


# ---------------------------------------------------------------------------------------------------------------
def test_rope_divisors_match_shared_data():
    """models.py's rope_freqs formula against the shared precomputed table, and the stored tensors."""
    with open(os.path.join(SHARED, "data", "rope_llama3.json")) as f:
        tables = json.load(f)["tables"]
    for hd, factor in ((128, 8), (64, 32), (64, 8), (128, 32)):
        want = np.array(tables[f"head_dim_{hd}"][f"factor_{factor}"]["ggml_rope_freqs"])
        got = models.llama3_rope_divisors(hd, 500000.0, factor)
        check(np.allclose(got, want, rtol=1e-12, atol=0), f"divisors hd {hd} factor {factor}: {got} vs {want}")
    for name in ("l31-f16", "l32-bf16-tied", "l31-q8_0", "l32-mixed", "l31-long-f32"):
        s = models.spec(name)
        f = GGUFFile(models.model_path(name))
        t = f.tensor("rope_freqs.weight")
        check(t.type_name == "F32" and t.ne == [s["head_dim"] // 2], f"{name}: rope_freqs is {t}")
        want = models.llama3_rope_divisors(s["head_dim"], s["theta"], s["rope_factor"]).astype(np.float32)
        check(np.array_equal(f.tensor_f64("rope_freqs.weight"), want.astype(np.float64)), f"{name}: rope_freqs data")
    for name in ("l30-f32", "l30-q4_0", "odd-bf16"):
        check(not GGUFFile(models.model_path(name)).has_tensor("rope_freqs.weight"), f"{name}: 3.0 has rope_freqs")


def test_reader_agrees_with_writer_and_c_reader():
    """gguf_reader reads what gguf_writer wrote (all value kinds, alignment 64), and `llamac info` lists the same
    metadata and tensor table as gguf_reader."""
    s = models.spec("l32-mixed")
    w = models.build(s)
    data = w.to_bytes()
    f = GGUFFile(data=data)
    check(f.version == 3 and f.alignment == 64 and f.data_offset % 64 == 0, "version/alignment")
    check(f.kv["llamac.test.nested"] == [[1, 2, 3], [4], [-5, 6]], f"nested array read as {f.kv['llamac.test.nested']}")
    check(f.kv["general.tags"][-1] == "text-generation", "string array")
    check(f.kv_types["llama.rope.freq_base"] == 6 and f.kv["llama.rope.freq_base"] == 500000.0, "f32 value")
    check(f.kv["llama.embedding_length"] == 128 and f.kv_types["llama.embedding_length"] == 4, "u32 value")
    check(len(f.tensors) == len(w.tensors), "tensor count")
    for (name, ne, tid, raw), t in zip(w.tensors, f.tensors):
        check(t.name == name and t.ne == ne and t.type_id == tid and t.offset % 64 == 0, f"tensor info {t}")
        check(f.tensor_bytes(name) == raw, f"tensor data of {name}")
    types = {t.type_name for t in f.tensors}
    check(types == {"F32", "F16", "BF16", "Q8_0", "Q4_0"}, f"mixed file has types {types}")
    # the C reader's view of the same file
    path = models.model_path("l32-mixed")
    f = GGUFFile(path)
    r = run_llamac(["info", "-m", path], expect_ok=True)
    m = re.search(r"metadata: (\d+) keys", r.stdout)
    check(m and int(m.group(1)) == len(f.kv), f"llamac info: metadata count\n{r.stdout[:500]}")
    rows = re.findall(r"^\s+(\S+)\s+(\S+)\s+([0-9 x]+?)\s+(\d+)\s+(\d+)$", r.stdout, re.M)
    check(len(rows) == len(f.tensors), f"llamac info lists {len(rows)} tensors, reader {len(f.tensors)}")
    for (name, tname, shape, off, nbytes), t in zip(rows, f.tensors):
        check(name == t.name and tname == t.type_name and [int(v) for v in shape.split(" x ")] == t.ne
              and int(off) == t.offset and int(nbytes) == t.n_bytes, f"info row {name} vs {t}")
    check("nested" in r.stdout and "[1, 2, 3]" in r.stdout, "info renders the nested array")
    check("tied (no output.weight)" in run_llamac(["info", "-m", models.model_path("l32-bf16-tied")],
                                                  expect_ok=True).stdout, "info: tied embeddings")


def _compare(name):
    toks = models.test_tokens(name)
    ref = ref_logits(name)
    eng = engine_logits(name).astype(np.float64)
    std = float(ref.std())
    check(1.0 <= std <= 6.0, f"{name}: reference logits are degenerate (std {std:.3f})")
    d = np.abs(eng - ref)
    res = dict(type=TYPE_OF[name], n_tokens=len(toks), n_vocab=ref.shape[1], std=std, max=float(d.max()) / std,
               rms=rms(eng - ref) / std, median_pos_max=float(np.median(d.max(axis=1))) / std)
    top2 = np.sort(ref, axis=1)[:, -2:]
    gap = (top2[:, 1] - top2[:, 0]) / std
    agree = eng.argmax(axis=1) == ref.argmax(axis=1)
    if TYPE_OF[name] == "BF16" and bf16_dot():
        # the avx512 table rounds the activations of BF16 products to bfloat16 (docs/KERNELS.md): compare with
        # that scheme (ref_llama act_bf16), as the quantized files are compared with theirs
        emu = ref_model(name).forward(toks, act_bf16=True).numpy()
        res["scheme_rms"] = rms(emu - ref) / std
        # the engine follows the scheme to f32 rounding except where a rounding to bf16 flips (heavy-tailed, as
        # one flip in a cached K/V row moves every later position): the first quartile of the per-position max is
        # checked, i.e. a quarter of the positions follow the scheme to f32 rounding. (The median depended on
        # where the first flip falls: odd-bf16 flipped at position 43 of 72 with the 16-lane sums, at 24 with
        # the 32-element chains of today's kernel and at 7 with 16-element chains; docs/KERNELS.md.)
        res["vs_scheme_q25_pos_max"] = float(np.quantile(np.abs(eng - emu).max(axis=1), 0.25)) / std
        check(res["vs_scheme_q25_pos_max"] < FLOAT_TOL,
              f"{name}: first quartile of the per-position max |engine - bf16 scheme| = "
              f"{res['vs_scheme_q25_pos_max']:.3e} * std >= {FLOAT_TOL}")
        check(res["rms"] <= Q_SCHEME_RATIO * res["scheme_rms"],
              f"{name}: engine rms error {res['rms']:.4f} exceeds {Q_SCHEME_RATIO} x the bf16 scheme's "
              f"own {res['scheme_rms']:.4f}")
        check(res["max"] < BF16_TOL, f"{name}: max |engine - reference| = {res['max']:.3e} * std >= {BF16_TOL}")
        check(agree[gap > 2 * BF16_TOL].all(), f"{name}: argmax differs at {np.where(~agree)[0].tolist()}")
        res["argmax_checked"] = int((gap > 2 * BF16_TOL).sum())
    elif TYPE_OF[name] in ("F32", "F16", "BF16"):
        check(res["max"] < FLOAT_TOL, f"{name}: max |engine - reference| = {res['max']:.3e} * std >= {FLOAT_TOL}")
        check(agree[gap > 2 * FLOAT_TOL].all(), f"{name}: argmax differs at {np.where(~agree)[0].tolist()}")
    else:
        emu = ref_model(name).forward(toks, act_q8=True).numpy()
        res["scheme_rms"] = rms(emu - ref) / std
        res["vs_scheme_rms"] = rms(eng - emu) / std
        checked = gap > Q_TOL
        res["argmax_checked"] = int(checked.sum())
        bad = np.where(checked & ~agree)[0].tolist()
        check(not bad, f"{name}: argmax differs at positions {bad} where the top-2 gap exceeds {Q_TOL} * std")
        check(checked.sum() >= 10, f"{name}: only {checked.sum()} positions have a top-2 gap > {Q_TOL} * std")
        check(res["max"] <= Q_TOL, f"{name}: max diff {res['max']:.3f} * std > {Q_TOL}")
        check(res["rms"] <= Q_RMS_TOL, f"{name}: rms diff {res['rms']:.4f} * std > {Q_RMS_TOL}")
        check(res["median_pos_max"] <= Q_MEDIAN_POS_TOL,
              f"{name}: median per-position max diff {res['median_pos_max']:.3f} * std > {Q_MEDIAN_POS_TOL}")
        check(res["rms"] <= Q_SCHEME_RATIO * res["scheme_rms"],
              f"{name}: engine rms error {res['rms']:.4f} exceeds {Q_SCHEME_RATIO} x the Q8_0-activation scheme's "
              f"own {res['scheme_rms']:.4f}")
    RESULTS[name] = res
    print(f"  {name:14s} {res['type']:5s} T={len(toks):4d} V={ref.shape[1]:6d} std {std:.2f}  max/std {res['max']:.3e}"
          f"  rms/std {res['rms']:.3e}" + (f"  scheme rms/std {res['scheme_rms']:.3e}  argmax checked at "
                                          f"{res['argmax_checked']}/{len(toks)}" if "scheme_rms" in res else ""))


for _n in FLOAT_VARIANTS + QUANT_VARIANTS:
    globals()["test_logits_" + _n.replace("-", "_")] = (lambda n: lambda: _compare(n))(_n)


def test_reference_is_sensitive():
    """Each rule of the architecture visibly changes the reference logits, far beyond the float tolerance, so
    an engine getting any of them wrong fails the comparisons above."""
    cases = [("l30-f32", "gqa_modulo"), ("l30-f32", "neox_rope"), ("l30-f32", "no_rope"), ("l30-f32", "no_mask"),
             ("odd-bf16", "eps_default"),  # the file says 1e-6: using the usual 1e-5 instead must show
             ("l31-f16", "no_rope_freqs"), ("l32-bf16-tied", "no_rope_freqs"), ("l30-q4_0", "gqa_modulo")]
    for name, ab in cases:
        ref = ref_logits(name)
        alt = ref_logits(name, ablate=(ab,))
        diff = float(np.abs(alt - ref).max() / ref.std())
        check(diff > 10 * FLOAT_TOL, f"{name}: ablation {ab} changes the logits by only {diff:.2e} * std")
        print(f"  {name:14s} {ab:14s} changes the logits by {diff:.3e} * std")


def test_long_context_rope_scaling():
    """At positions > 1000 the Llama 3.1 divisors change the logits by a lot; the engine follows the scaled
    reference there to the float tolerance (the full comparison is test_logits_l31_long_f32)."""
    name = "l31-long-f32"
    toks = models.test_tokens(name)
    check(len(toks) > 1000, "long sequence")
    ref = ref_logits(name)
    unscaled = ref_logits(name, ablate=("no_rope_freqs",))
    std = ref.std()
    late = slice(1000, None)
    diff = float(np.abs(unscaled[late] - ref[late]).max() / std)
    check(diff > 0.5, f"rope scaling changes positions > 1000 by only {diff:.3f} * std")
    eng = engine_logits(name, extra=["--ubatch", "1100"]).astype(np.float64)
    err = float(np.abs(eng[late] - ref[late]).max() / std)
    check(err < FLOAT_TOL, f"positions > 1000: engine differs by {err:.2e} * std")
    err_unscaled = float(np.abs(eng[late] - unscaled[late]).max() / std)
    print(f"  positions 1000..{len(toks) - 1}: engine vs scaled ref {err:.2e} * std, vs unscaled {err_unscaled:.3f} * std")


def _identical(name, runs, tokens=None):
    base_args, base = None, None
    for args in runs:
        data = engine_logits(name, extra=args, tokens=tokens, raw=True)
        if base is None:
            base_args, base = args, data
        else:
            check(data == base, f"{name}: logits with {args} differ from {base_args} (not bit-identical)")


def test_ubatch_invariance():
    """Splitting the sequence into calls of 1, 7 or all tokens gives byte-identical logits."""
    for name in ("l30-f32", "l31-q8_0", "l32-mixed"):
        n = len(models.test_tokens(name))
        _identical(name, [["--ubatch", str(n), "-t", "2"], ["--ubatch", "1", "-t", "2"], ["--ubatch", "7", "-t", "2"]])
    _identical("l31-long-f32", [["--ubatch", "1100"], ["--ubatch", "512"], ["--ubatch", "7"]])
    toks = models.test_tokens("l32-bf16-tied")[:20]
    _identical("l32-bf16-tied", [["--ubatch", "20"], ["--ubatch", "1"], ["--ubatch", "7"]], tokens=toks)


def test_thread_invariance():
    """1, 2 and 3 threads give byte-identical logits (also with a 128256-row output matrix)."""
    for name in ("l30-f32", "l31-q8_0", "l32-mixed", "odd-bf16"):
        _identical(name, [["-t", "1"], ["-t", "2"], ["-t", "3"]])
    toks = models.test_tokens("l32-bf16-tied")[:20]
    _identical("l32-bf16-tied", [["-t", "1"], ["-t", "2"], ["-t", "3"]], tokens=toks)


def test_no_mmap_identical():
    for name in ("l32-mixed", "l30-q4_0"):
        _identical(name, [["--mmap"], ["--no-mmap"]])


def test_kv_f16():
    """The f16 KV cache stays within KV_F16_TOL of the reference (and is really in effect)."""
    for name in ("l30-f32", "l31-f16", "odd-bf16", "l31-long-f32"):
        ref = ref_logits(name)
        eng = engine_logits(name, extra=["--kv", "f16"]).astype(np.float64)
        eng32 = engine_logits(name).astype(np.float64)
        d = float(np.abs(eng - ref).max() / ref.std())
        tol = BF16_TOL if TYPE_OF[name] == "BF16" and bf16_dot() else KV_F16_TOL  # the bf16 scheme dominates
        check(d <= tol, f"{name}: --kv f16 differs from the reference by {d:.3e} * std > {tol}")
        check(not np.array_equal(eng, eng32), f"{name}: --kv f16 gives the same logits as f32")
        RESULTS.setdefault(name, {})["kv_f16_max"] = d
        print(f"  {name:14s} --kv f16: max/std {d:.3e}")
    for name in ("l31-q8_0",):
        ref = ref_logits(name)
        eng = engine_logits(name, extra=["--kv", "f16"]).astype(np.float64)
        d = float(np.abs(eng - ref).max() / ref.std())
        check(d <= Q_TOL, f"{name}: --kv f16 differs from the reference by {d:.3e} * std > {Q_TOL}")
        print(f"  {name:14s} --kv f16: max/std {d:.3e}")


def test_zz_write_tolerance_summary():
    """Per type: the worst achieved max|diff|/std over its variants; printed and written for the closing note."""
    missing = [n for n in FLOAT_VARIANTS + QUANT_VARIANTS if n not in RESULTS or "max" not in RESULTS[n]]
    check(not missing, f"no measurement for {missing} (their comparison failed or did not run)")
    lines = ["# llamac vs ref_llama (float64): achieved max|engine - reference| / std(reference logits)",
             f"# tolerances: F32/F16/BF16 {FLOAT_TOL}; quantized max {Q_TOL}, rms {Q_RMS_TOL}, "
             f"median per-position max {Q_MEDIAN_POS_TOL}; --kv f16 {KV_F16_TOL}"
             + (f"; BF16 with bf16 dot products (avx512): max {BF16_TOL}, vs the scheme {FLOAT_TOL}" if bf16_dot()
                else "")]
    by_type = {}
    for n, r in RESULTS.items():
        if "max" in r:
            by_type.setdefault(r["type"], []).append((n, r))
    for t in ("F32", "F16", "BF16", "Q8_0", "Q4_0", "mixed"):
        worst = max(r["max"] for _, r in by_type[t])
        worst_rms = max(r["rms"] for _, r in by_type[t])
        lines.append(f"{t:6s} max/std {worst:.3e}  rms/std {worst_rms:.3e}  ({', '.join(n for n, _ in by_type[t])})")
    for n, r in RESULTS.items():
        extra = "".join(f"  {k} {v:.3e}" if isinstance(v, float) else f"  {k} {v}" for k, v in r.items()
                        if k not in ("type",))
        lines.append(f"  {n:14s}{extra}")
    text = "\n".join(lines) + "\n"
    print(text, end="")
    with open(os.path.join(BUILD, "reference-tolerances.txt"), "w") as f:
        f.write(text)


if __name__ == "__main__":
    try:
        main(globals())
    finally:
        shutil.rmtree(SCRATCH, ignore_errors=True)
