"""test_perplexity.py — `llamac perplexity` and its KL divergence mode, end to end on the bundled model
(models/tiny-kjv.gguf: a real vocabulary, F16 matrices) and the held-out text models/kjv-heldout.txt.

  - the perplexity equals the one computed with the same method (llama.cpp's: windows of --ctx tokens, BOS
    first, the second half scored) on the float64 PyTorch reference (ref_llama.py): |mean NLL difference|
    < 1e-4 nats (measured: < 1e-8; on this text a missing BOS per window moves it by 1.4e-3, scoring from
    one position earlier by 1.4e-2, a target off by one by 4.8), and the same standard error;
  - the result, the log-prob file and the KL report are bit-identical whatever -t and --batch;
  - the model compared with its own file: KLD exactly 0 (every quantile), 100% same top, PPL(Q) = PPL(base);
  - a Q8_0 copy compared with the F16 file: the mean KLD, same-top fraction and PPL(base) match a float64
    numpy computation from `llamac logits` of both models (KLD within 3% + 2e-6, the rest exactly or to 1e-9);
  - hostile or damaged log-prob files (truncated, padded, bad magic, other version, corrupt record, token out
    of range, a FIFO, a directory) and an unusable --kl-base destination are refused with a clear message,
    no hang and no file left behind; a text too short for two windows is refused saying how many tokens are
    needed.
"""
import json
import math
import os
import stat
import struct
import threading

import numpy as np

from llamac_testlib import SOURCE, check, main, run_llamac, scratch_dir

MODEL = os.path.join(SOURCE, "models", "tiny-kjv.gguf")
TEXT = os.path.join(SOURCE, "models", "kjv-heldout.txt")
SCRATCH = scratch_dir()
CTX = 64            # small windows keep the float64 reference quick
HEADER = 64


def scratch(name):
    return os.path.join(SCRATCH, name)


def short_text():
    """The first ~3000 bytes of the held-out text (about 700 tokens: 11 windows of 64)."""
    with open(TEXT, "rb") as f:
        data = f.read(3000)
    p = scratch("short.txt")
    with open(p, "wb") as f:
        f.write(data)
    return p


def ppl_json(*args, model=MODEL):
    r = run_llamac(["perplexity", "-m", model, "--json", *args], timeout=600, expect_ok=True)
    return json.loads(r.stdout)


def tokens_of(path):
    with open(path, "rb") as f:
        data = f.read()
    import subprocess
    from llamac_testlib import LLAMAC
    out = subprocess.run([LLAMAC, "tokenize", "-m", MODEL, "--bos"], input=data, capture_output=True, check=True)
    return json.loads(out.stdout)


def test_matches_float64_reference():
    from ref_llama import RefLlama
    import torch
    text = short_text()
    toks = tokens_of(text)
    bos = toks[0]
    res = ppl_json("-f", text, "--ctx", CTX)
    ref = RefLlama(MODEL)
    first = CTX // 2
    nll = []
    for w in range(len(toks) // CTX):
        win = list(toks[w * CTX:(w + 1) * CTX])
        win[0] = bos
        lp = torch.log_softmax(ref.forward(win), dim=-1).numpy()
        nll += [-lp[p, win[p + 1]] for p in range(first, CTX - 1)]
    nll = np.array(nll)
    mean, err = nll.mean(), math.sqrt(max(0.0, (nll ** 2).mean() - nll.mean() ** 2) / (len(nll) - 1))
    print(f"  engine nll {res['nll']:.8f} ± {res['nll_err']:.6f}, reference {mean:.8f} ± {err:.6f}, "
          f"{len(nll)} tokens, PPL {res['ppl']:.4f}")
    check(res["n_windows"] == len(toks) // CTX and res["n_scored"] == len(nll),
          f"windows/tokens {res['n_windows']}/{res['n_scored']}, expected {len(toks) // CTX}/{len(nll)}")
    check(abs(res["nll"] - mean) < 1e-4, f"mean NLL {res['nll']} vs reference {mean}")
    check(abs(res["nll_err"] - err) < 1e-4 * err + 1e-6, f"NLL error {res['nll_err']} vs reference {err}")
    check(abs(res["ppl"] / math.exp(mean) - 1) < 1e-4, f"PPL {res['ppl']} vs {math.exp(mean)}")


def test_thread_and_batch_invariance():
    text = short_text()
    outs, files = [], []
    for i, (t, b) in enumerate([(1, 64), (2, 7), (2, 64), (1, 33)]):
        f = scratch(f"inv{i}.kllp")
        r = run_llamac(["perplexity", "-m", MODEL, "-f", text, "--ctx", CTX, "-t", t, "-b", b, "--kl-base", f],
                       timeout=600, expect_ok=True)
        outs.append(r.stdout)
        with open(f, "rb") as fh:
            files.append(fh.read())
        if i:
            check(outs[i] == outs[0], f"-t {t} -b {b}: output differs:\n{outs[i]}\nvs\n{outs[0]}")
            check(files[i] == files[0], f"-t {t} -b {b}: log-prob file differs")
    check("Final estimate: PPL = " in outs[0], f"no final estimate in {outs[0]!r}")
    kl = [run_llamac(["perplexity", "-m", MODEL, "--kl", scratch("inv0.kllp"), "-t", t, "-b", b], timeout=600,
                     expect_ok=True).stdout for t, b in [(1, 64), (2, 5)]]
    check(kl[0] == kl[1], "KL report differs with -t/-b")


def base_file():
    p = scratch("base.kllp")
    if not os.path.exists(p):
        ppl_json("-f", short_text(), "--ctx", CTX, "--kl-base", p)
    return p


def test_kl_against_itself_is_zero():
    base = base_file()
    ref = ppl_json("-f", short_text(), "--ctx", CTX)
    r = ppl_json("--kl", base)
    check(r["kld"] == 0.0 and r["kld_err"] == 0.0, f"self KLD {r['kld']} ± {r['kld_err']}")
    check(all(q == 0.0 for q in r["kld_q"]), f"self KLD quantiles {r['kld_q']}")
    check(r["same_top"] == 1.0, f"self same top {r['same_top']}")
    check(r["ppl"] == r["ppl_base"] == ref["ppl"], f"PPL(Q) {r['ppl']}, PPL(base) {r['ppl_base']}, run {ref['ppl']}")
    check(r["dp_rms"] == 0.0 and r["ppl_diff"] == 0.0, f"self Δp RMS {r['dp_rms']}, PPL diff {r['ppl_diff']}")
    text = run_llamac(["perplexity", "-m", MODEL, "--kl", base], expect_ok=True).stdout
    for line in ("Mean    KLD:   0.000000", "Same top p: 100.000", "====== Token probability statistics"):
        check(line in text, f"'{line}' not in the report:\n{text}")


def engine_logits(model, toks):
    p = scratch("logits.bin")
    run_llamac(["logits", "-m", model, "--tokens", ",".join(map(str, toks)), "-o", p], expect_ok=True)
    return np.fromfile(p, "<f4").reshape(len(toks), -1).astype(np.float64)


def log_softmax(x):
    m = x.max(axis=-1, keepdims=True)
    return x - m - np.log(np.exp(x - m).sum(axis=-1, keepdims=True))


def test_kl_quantized_matches_numpy():
    base = base_file()
    q8 = scratch("q8.gguf")
    run_llamac(["quantize", MODEL, q8, "Q8_0"], timeout=300, expect_ok=True)
    r = ppl_json("--kl", base, model=q8)
    toks = tokens_of(short_text())
    first, kld, top, nll_b = CTX // 2, [], [], []
    for w in range(len(toks) // CTX):
        win = list(toks[w * CTX:(w + 1) * CTX])
        win[0] = toks[0]
        lb, lq = log_softmax(engine_logits(MODEL, win)), log_softmax(engine_logits(q8, win))
        for p in range(first, CTX - 1):
            keep = lb[p] > -16
            kld.append(float((np.exp(lb[p][keep]) * (lb[p][keep] - lq[p][keep])).sum()))
            top.append(int(lb[p].argmax()) == int(lq[p].argmax()))
            nll_b.append(-lb[p, win[p + 1]])
    kld_np, top_np = float(np.mean(kld)), float(np.mean(top))
    print(f"  Q8_0: KLD {r['kld']:.3e} (numpy {kld_np:.3e}), same top {r['same_top']:.4f} (numpy {top_np:.4f}), "
          f"PPL {r['ppl']:.4f} vs base {r['ppl_base']:.4f}")
    check(r["kld"] > 0 and abs(r["kld"] - kld_np) <= 0.03 * kld_np + 2e-6, f"KLD {r['kld']} vs numpy {kld_np}")
    check(abs(r["same_top"] - top_np) < 1e-9 and r["same_top"] > 0.9, f"same top {r['same_top']} vs {top_np}")
    check(abs(math.log(r["ppl_base"]) - float(np.mean(nll_b))) < 1e-5, "PPL(base) does not match the F16 logits")
    check(r["kld_q"][0] >= r["kld_q"][6] >= r["kld_q"][-1], f"KLD quantiles out of order {r['kld_q']}")


def refused(args, *words):
    r = run_llamac(["perplexity", "-m", MODEL, *args], timeout=60, expect_ok=False)
    err = r.stderr.lower()
    for w in words:
        check(w.lower() in err, f"{args}: '{w}' not in the error: {r.stderr.strip()}")
    return r


def test_hostile_kl_files():
    base = base_file()
    with open(base, "rb") as f:
        good = f.read()
    n_vocab, n_window, n_windows = struct.unpack_from("<III", good, 16)
    rec0 = HEADER + 4 * n_window * n_windows

    def variant(name, data):
        p = scratch(name)
        with open(p, "wb") as f:
            f.write(data)
        return p

    refused(["--kl", variant("trunc.kllp", good[:-100])], "truncated")
    refused(["--kl", variant("trunc_hdr.kllp", good[:40])], "truncated")
    refused(["--kl", variant("long.kllp", good + b"\0")], "too long")
    refused(["--kl", variant("magic.kllp", b"GGUF" + good[4:])], "not a llamac log-probability file")
    refused(["--kl", variant("empty.kllp", b"")], "not a llamac log-probability file")
    refused(["--kl", variant("version.kllp", good[:8] + struct.pack("<I", 2) + good[12:])], "version 2")
    refused(["--kl", variant("vocab.kllp", good[:16] + struct.pack("<I", n_vocab + 1) + good[20:])], "inconsistent")
    refused(["--kl", variant("huge.kllp", good[:24] + struct.pack("<I", 0xFFFFFFFF) + good[28:])], "")
    bad_tok = bytearray(good)
    struct.pack_into("<i", bad_tok, HEADER + 8, n_vocab + 5)
    refused(["--kl", variant("token.kllp", bytes(bad_tok))], "outside the vocabulary")
    bad_rec = bytearray(good)
    struct.pack_into("<d", bad_rec, rec0 + 3 * (20 + 2 * n_vocab), float("nan"))
    refused(["--kl", variant("nan.kllp", bytes(bad_rec))], "record 3 is corrupt")
    bad_top = bytearray(good)
    struct.pack_into("<i", bad_top, rec0 + 16, n_vocab)
    refused(["--kl", variant("top.kllp", bytes(bad_top))], "record 0 is corrupt")
    refused(["--kl", base, "--ctx", "32"], "windows of 64")
    # a FIFO must be refused at once, not waited on
    fifo = scratch("fifo.kllp")
    os.mkfifo(fifo)
    refused(["--kl", fifo], "not a regular file")
    refused(["--kl", SCRATCH], "not a regular file")
    refused(["--kl", scratch("missing.kllp")], "cannot open")


def test_kl_base_destination():
    text = short_text()
    d = scratch("a_directory")
    os.makedirs(d)
    refused(["-f", text, "--ctx", CTX, "--kl-base", d], "not a regular file")
    refused(["-f", text, "--ctx", CTX, "--kl-base", scratch("no/such/dir/x.kllp")], "cannot create")
    # a failed run (text too short) leaves neither the file nor a temporary
    out = scratch("never.kllp")
    refused(["-f", text, "--ctx", "4096", "--kl-base", out], "needs at least")
    left = [n for n in os.listdir(SCRATCH) if n.startswith("never.kllp")]
    check(not left, f"files left behind: {left}")
    # a symlink, even to a regular file, is refused (renaming would replace the link); both stay as they were
    target = scratch("target.kllp")
    with open(target, "wb") as f:
        f.write(b"old")
    link = scratch("link.kllp")
    os.symlink(target, link)
    refused(["-f", text, "--ctx", CTX, "--kl-base", link], "symbolic link")
    check(os.path.islink(link), "the symlink was replaced")
    with open(target, "rb") as f:
        check(f.read() == b"old", "the link's target was written")


def test_short_text_refused():
    p = scratch("tiny.txt")
    with open(p, "w") as f:
        f.write("In the beginning God created the heaven and the earth.\n")
    r = refused(["-f", p], "needs at least 1024", "window of 512")
    check(r.stdout.strip() == "", f"output for a refused text: {r.stdout!r}")
    refused(["-f", p, "--ctx", "8"], "needs at least 16")


def test_option_errors():
    text = short_text()
    refused([], "-f TEXT is required")
    refused(["-f", text, "--kl", base_file()], "-f is not used")
    refused(["-f", text, "--kl", "a", "--kl-base", "b"], "do not go together")
    refused(["-f", scratch("nope.txt")], "cannot open")
    refused(["-f", text, "--ctx", "2"], "4..")


if __name__ == "__main__":
    main(globals())
