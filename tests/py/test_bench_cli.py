"""test_bench_cli.py — `llamac bench` end to end on tiny models: the JSON records carry every documented field with
sane values (never a speed assertion: the machine is shared), the bytes-per-token figure equals an independent count
from the generator's tensor list (tied and untied embeddings, f32 and f16 KV cache, after a cached depth prompt, with
several sequences sharing each weight read), comma lists expand into one record per test (threads x depth x tests x
sequences), and bad arguments fail with a clear message."""
import json
import os

from llamac_testlib import check, main, run_llamac
import models

FAST = ["--bw-mib", "64"]  # a small probe buffer keeps the test quick (the figure itself is not checked)

PP_FIELDS = ["llamac_version", "timestamp", "kernels", "model", "model_name", "model_type", "model_bytes", "n_params",
             "test", "n_prompt", "n_gen", "n_depth", "n_parallel", "n_threads", "n_ubatch", "n_ctx", "kv_type", "use_mmap", "reps",
             "samples_ns", "samples_ts", "avg_ts", "stddev_ts", "median_ts", "min_ts", "max_ts", "per_seq_ts", "load_ms", "ready_ms",
             "ctx_ms", "depth_ms", "warmup_ms", "rss_after_load", "rss_after_test", "hwm_after_test", "kv_cache_bytes", "bw_gbs",
             "bw_best_gbs", "bw_before_gbs", "bw_after_gbs", "bw_isa", "bw_passes", "bw_buffer_bytes", "bw_huge_fraction",
             "bytes_per_token", "achieved_gbs", "bw_fraction"]
TG_FIELDS = PP_FIELDS + ["weight_bytes_per_token"]


def bench_json(path, *args):
    r = run_llamac(["bench", "-m", path, "--json"] + FAST + list(args), timeout=600, expect_ok=True)
    recs = [json.loads(line) for line in r.stdout.splitlines() if line.strip()]
    check(recs, f"no JSON records in: {r.stdout!r}")
    return recs


def expected_traffic(name, kv_elem):
    """Weights one token reads, counted from the generator's own tensor list: every tensor but token_embd and
    rope_freqs in full (norms are F32 in these models), plus one token_embd row, plus all of token_embd again
    when it doubles as the output projection. And K+V bytes per cached position."""
    s = models.spec(name)
    w = models.build(s)
    sizes = {n: len(raw) for n, ne, tid, raw in w.tensors}
    total = sum(b for n, b in sizes.items() if n not in ("token_embd.weight", "rope_freqs.weight"))
    total += sizes["token_embd.weight"] // s["n_vocab"]
    if s["tied"]:
        total += sizes["token_embd.weight"]
    kv = 2 * s["n_layer"] * s["n_head_kv"] * s["head_dim"] * kv_elem
    return total, kv


def check_record(rec, path, reps):
    fields = TG_FIELDS if rec["n_gen"] > 0 else PP_FIELDS
    missing = [f for f in fields if f not in rec]
    check(not missing, f"{rec.get('test')}: fields missing: {missing}")
    t = rec["test"]
    check(rec["model_bytes"] == os.path.getsize(path), f"{t}: model_bytes {rec['model_bytes']} is not the file size")
    check(rec["n_threads"] >= 1 and rec["reps"] == reps, f"{t}: n_threads {rec['n_threads']}, reps {rec['reps']}")
    check(len(rec["samples_ns"]) == reps and len(rec["samples_ts"]) == reps, f"{t}: {reps} samples expected")
    check(all(x > 0 for x in rec["samples_ns"] + rec["samples_ts"]), f"{t}: non-positive sample")
    for f in ("avg_ts", "median_ts", "min_ts", "max_ts", "n_params", "rss_after_load", "rss_after_test",
              "hwm_after_test", "kv_cache_bytes", "bw_gbs", "bw_best_gbs", "bw_before_gbs", "bw_after_gbs",
              "bw_buffer_bytes", "warmup_ms", "ready_ms", "per_seq_ts"):
        check(isinstance(rec[f], (int, float)) and rec[f] > 0, f"{t}: {f} = {rec[f]!r} is not a positive number")
    check(rec["min_ts"] <= rec["median_ts"] <= rec["max_ts"], f"{t}: median outside [min, max]")
    check(rec["stddev_ts"] >= 0 and rec["load_ms"] >= 0 and rec["ctx_ms"] >= 0, f"{t}: negative sd or time")
    check(rec["ready_ms"] > rec["load_ms"], f"{t}: ready_ms {rec['ready_ms']} does not include load_ms {rec['load_ms']}")
    check(rec["hwm_after_test"] >= rec["rss_after_test"], f"{t}: peak resident below resident")
    check(0 <= rec["bw_huge_fraction"] <= 1, f"{t}: bw_huge_fraction {rec['bw_huge_fraction']}")
    check(rec["bw_isa"] in ("avx512", "avx2", "sse2", "scalar") and rec["bw_passes"] == 20,
          f"{t}: bw_isa {rec['bw_isa']!r}, bw_passes {rec['bw_passes']}")
    check(min(rec["bw_before_gbs"], rec["bw_after_gbs"]) <= rec["bw_gbs"] <= rec["bw_best_gbs"],
          f"{t}: bw_gbs {rec['bw_gbs']} is not the median of both probes (at most the best pass)")
    check(rec["bw_buffer_bytes"] <= 64 << 20 and rec["bw_buffer_bytes"] > 60 << 20,
          f"{t}: probe buffer {rec['bw_buffer_bytes']} is not the --bw-mib 64 asked for")
    n_tok = rec["n_prompt"] or rec["n_gen"]
    d, np_ = rec["n_depth"], rec["n_parallel"]
    check(d >= 0 and np_ >= 1 and (np_ == 1 or rec["n_gen"] > 0), f"{t}: n_depth {d}, n_parallel {np_}")
    check((rec["depth_ms"] is None) == (d == 0), f"{t}: depth_ms {rec['depth_ms']} with n_depth {d}")
    check(rec["n_ctx"] == d + n_tok, f"{t}: context of {rec['n_ctx']} for {d} + {n_tok} tokens")
    for ns, ts in zip(rec["samples_ns"], rec["samples_ts"]):
        check(abs(ts - np_ * n_tok / (ns * 1e-9)) <= 1e-3 * ts + 1e-3,
              f"{t}: samples_ts {ts} is not sequences x tokens / time")
    check(abs(rec["per_seq_ts"] * np_ - rec["median_ts"]) <= 1e-6 * rec["median_ts"],
          f"{t}: per_seq_ts {rec['per_seq_ts']} is not median_ts / n_parallel")
    if rec["n_gen"] > 0:
        for f in ("bytes_per_token", "achieved_gbs", "bw_fraction", "weight_bytes_per_token"):
            check(rec[f] > 0, f"{t}: {f} = {rec[f]!r} is not positive")
        check(abs(rec["achieved_gbs"] - rec["bytes_per_token"] * rec["median_ts"] * 1e-9)
              <= 1e-4 * rec["achieved_gbs"], f"{t}: achieved_gbs is not bytes/token x median tok/s")
        check(abs(rec["bw_fraction"] - rec["achieved_gbs"] / rec["bw_gbs"]) <= 1e-4 * rec["bw_fraction"],
              f"{t}: bw_fraction is not achieved / bandwidth")
    else:
        check(rec["bytes_per_token"] is None and rec["bw_fraction"] is None, f"{t}: pp tests have no traffic figure")


def test_json_fields_and_traffic_untied():
    name = "l30-q4_0"
    path = models.model_path(name)
    # --mmap: the file layout, whose bytes the count below reproduces (the default packed copy adds padding)
    recs = bench_json(path, "-r", "2", "-p", "8", "-n", "4", "-t", "2", "--mmap")
    check([r["test"] for r in recs] == ["pp8", "tg4"], f"tests {[r['test'] for r in recs]}, expected pp8, tg4")
    for r in recs:
        check_record(r, path, 2)
    tg = recs[1]
    weights, kv = expected_traffic(name, 4)
    check(tg["weight_bytes_per_token"] == weights,
          f"weight bytes per token {tg['weight_bytes_per_token']}, counted {weights}")
    # tg4 from an empty cache: tokens attend to 1, 2, 3, 4 positions -> 2.5 on average
    check(abs(tg["bytes_per_token"] - (weights + 2.5 * kv)) < 1, f"bytes_per_token {tg['bytes_per_token']}, "
          f"expected {weights + 2.5 * kv}")
    check(tg["kv_cache_bytes"] == 4 * kv and tg["kv_type"] == "f32", f"kv_cache_bytes {tg['kv_cache_bytes']}")
    check(tg["n_depth"] == 0 and tg["n_parallel"] == 1 and tg["per_seq_ts"] == tg["median_ts"],
          "a plain tg test is depth 0, one sequence")


def test_depth_and_parallel():
    name = "l30-q4_0"
    path = models.model_path(name)
    recs = bench_json(path, "-r", "2", "-p", "4", "-n", "3", "-d", "0,6", "--parallel", "1,4", "-t", "2", "--mmap")
    got = [(r["test"], r["n_depth"], r["n_parallel"]) for r in recs]
    want = [("pp4", 0, 1), ("tg3", 0, 1), ("tg3 x4", 0, 4),
            ("pp4 @ d6", 6, 1), ("tg3 @ d6", 6, 1), ("tg3 x4 @ d6", 6, 4)]
    check(got == want, f"records {got}, expected {want}")
    weights, kv = expected_traffic(name, 4)
    for r in recs:
        check_record(r, path, 2)
        t, d, np_ = r["test"], r["n_depth"], r["n_parallel"]
        check(r["avg_ts"] > 0 and r["median_ts"] > 0, f"{t}: no positive rate")
        check(r["kv_cache_bytes"] == np_ * (d + (r["n_prompt"] or r["n_gen"])) * kv,
              f"{t}: kv_cache_bytes {r['kv_cache_bytes']} is not sequences x (depth + tokens) x K/V per position")
        if r["n_gen"] > 0:
            # each step reads the weights once for all its sequences; token i of each sequence attends to
            # d + i + 1 positions -> d + 2 on average for tg3
            want_b = weights / np_ + (d + 2) * kv
            check(abs(r["bytes_per_token"] - want_b) < 1, f"{t}: bytes_per_token {r['bytes_per_token']}, "
                  f"expected {want_b}")
        else:
            check(r["depth_ms"] is None or r["depth_ms"] > 0, f"{t}: depth_ms {r['depth_ms']}")
    check(recs[4]["depth_ms"] > 0, "the depth prompt's time is not reported")


def test_tied_embeddings_and_f16_cache():
    name = "l32-bf16-tied"
    path = models.model_path(name)
    recs = bench_json(path, "-r", "1", "-p", "0", "-n", "4", "--kv", "f16")
    check([r["test"] for r in recs] == ["tg4"], f"-p 0 should skip pp: {[r['test'] for r in recs]}")
    check_record(recs[0], path, 1)
    weights, kv = expected_traffic(name, 2)
    check(recs[0]["weight_bytes_per_token"] == weights,
          f"tied: weight bytes per token {recs[0]['weight_bytes_per_token']}, counted {weights}")
    check(abs(recs[0]["bytes_per_token"] - (weights + 2.5 * kv)) < 1 and recs[0]["kv_type"] == "f16",
          "f16 KV cache bytes not counted at 2 bytes per element")


def test_lists_expand():
    path = models.model_path("tiny")
    recs = bench_json(path, "-r", "1", "-p", "4,8", "-n", "0,2", "-t", "1,2", "--no-warmup")
    got = [(r["test"], r["n_threads"]) for r in recs]
    want = [("pp4", 1), ("pp8", 1), ("tg2", 1), ("pp4", 2), ("pp8", 2), ("tg2", 2)]
    check(got == want, f"records {got}, expected {want}")
    check(all(r["warmup_ms"] is None for r in recs), "--no-warmup still reports a warm-up time")


def cpu_flags():
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("flags"):
                return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def test_probe_read_loops():
    """Every read loop the probe can pick runs and sums the buffer exactly (the probe checks the sums against the
    known content and omits the figures, with a warning, when one is wrong); LLAMAC_KERNELS narrows the choice."""
    path = models.model_path("tiny")
    flags = cpu_flags()
    x86 = "sse2" in flags
    best = "avx512" if "avx512f" in flags else "avx2" if "avx2" in flags else "sse2" if x86 else "scalar"
    cases = [(None, best), ("scalar", "scalar"), ("avx2", "avx2" if "avx2" in flags else best)]
    old = os.environ.get("LLAMAC_KERNELS")
    try:
        for force, want in cases:
            if force is None:
                os.environ.pop("LLAMAC_KERNELS", None)
            else:
                os.environ["LLAMAC_KERNELS"] = force
            r = run_llamac(["bench", "-m", path, "--json", "--bw-mib", "16", "-r", "1", "-p", "0", "-n", "2", "-t", "2"],
                           timeout=300, expect_ok=True)
            rec = json.loads(r.stdout.splitlines()[0])
            check("warning" not in r.stderr, f"LLAMAC_KERNELS={force}: probe warning: {r.stderr!r}")
            check(rec["bw_isa"] == want and rec["bw_gbs"] and rec["bw_gbs"] > 0,
                  f"LLAMAC_KERNELS={force}: bw_isa {rec['bw_isa']!r} (expected {want}), bw_gbs {rec['bw_gbs']}")
    finally:
        if old is None:
            os.environ.pop("LLAMAC_KERNELS", None)
        else:
            os.environ["LLAMAC_KERNELS"] = old


def test_markdown_output():
    path = models.model_path("tiny")
    r = run_llamac(["bench", "-m", path, "-r", "1", "-p", "4", "-n", "2"] + FAST, timeout=300, expect_ok=True)
    for s in ("| pp4 ", "| tg2 ", "bandwidth", "peak resident", "kernels"):
        check(s in r.stdout, f"'{s}' missing from the table output:\n{r.stdout}")


def test_bad_arguments():
    path = models.model_path("tiny")
    cases = [
        (["-p", "abc"], "-p"), (["-p", "8,,16"], "-p"), (["-p", "8,"], "-p"), (["-n", "-1"], "-n"),
        (["-r", "0"], "-r"), (["-t", "0"], "-t"), (["-p", "0", "-n", "0"], "nothing to run"),
        (["--ctx", "64"], "--ctx"), (["--frobnicate"], "--frobnicate"), (["--bw-mib", "x"], "--bw-mib"),
        (["-r"], "-r"), (["-d", "-1"], "-d"), (["--depth", "4x"], "--depth"), (["--parallel", "0"], "--parallel"),
        (["--parallel", "257"], "--parallel"), (["-np", "2,,4"], "-np"), (["-n", "0", "--parallel", "2"], "--parallel"),
        (["-d", "1000000"], "training context"),
    ]
    for args, needle in cases:
        r = run_llamac(["bench", "-m", path] + args, timeout=120, expect_ok=False)
        check(needle in r.stderr, f"bench {' '.join(args)}: stderr does not mention '{needle}': {r.stderr!r}")
    r = run_llamac(["bench", "-p", "8"], expect_ok=False)
    check("-m" in r.stderr, f"missing model: {r.stderr!r}")
    r = run_llamac(["bench", "-m", path + ".missing"], expect_ok=False)
    check(".missing" in r.stderr, f"missing file: {r.stderr!r}")


if __name__ == "__main__":
    main(globals())
