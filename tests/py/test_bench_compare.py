"""test_bench_compare.py — bench/compare.sh end to end on the tiny model, with stand-ins for llama.cpp's
llama-bench and llama-batched-bench (small scripts that log their arguments and print fixed rates in the peer's
output formats: llama-bench's `-o json` array, llama-batched-bench's `--output-format jsonl` lines among log lines,
with the nan a zero-token prompt gives): every test reaches the table with the stand-in's figure, llamac's median
and their ratio; the engines get the same threads, KV type and lengths; bad invocations fail with a clear message.
Never a speed assertion."""
import os
import re
import stat
import subprocess
import tempfile

from llamac_testlib import SOURCE, check, main
import models

FAKE_BENCH = r'''#!/usr/bin/env python3
import json, sys
a = sys.argv[1:]
open(sys.argv[0] + ".log", "a").write(" ".join(a) + "\n")
def opt(k, d):
    return int(a[a.index(k) + 1]) if k in a else d
p, n, d, r = opt("-p", 512), opt("-n", 128), opt("-d", 0), opt("-r", 5)
print("some log line", file=sys.stderr)
recs = []
if p > 0:
    recs.append({"n_prompt": p, "n_gen": 0, "n_depth": d, "avg_ts": 100.0, "samples_ts": [100.0] * r})
if n > 0:
    recs.append({"n_prompt": 0, "n_gen": n, "n_depth": d, "avg_ts": 10.0 if d == 0 else 5.0,
                 "samples_ts": [10.0 if d == 0 else 5.0] * r})
print(json.dumps(recs, indent=2))
'''

FAKE_BATCHED = r'''#!/usr/bin/env python3
import sys
a = sys.argv[1:]
open(sys.argv[0] + ".log", "a").write(" ".join(a) + "\n")
def opt(k):
    return int(a[a.index(k) + 1])
print("llama_context: n_ctx = 1234")
print('{"n_kv_max": 1234, "n_batch": 2048, "pp": %d, "tg": %d, "pl": %d, "n_kv": 8, "t_pp": 0.000000, '
      '"speed_pp": -nan, "t_tg": 0.5, "speed_tg": 40.000000, "t": 0.5, "speed": 40.0}'
      % (opt("-npp"), opt("-ntg"), opt("-npl")))
'''

COMPARE = os.path.join(SOURCE, "bench", "compare.sh")


def write_exe(path, text):
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, os.stat(path).st_mode | stat.S_IXUSR)


def run(args, ok):
    r = subprocess.run([COMPARE] + args, capture_output=True, text=True, timeout=900)
    check((r.returncode == 0) == ok, f"compare.sh {args}: exit {r.returncode}\n{r.stdout}\n{r.stderr}")
    return r


def fake_bin(d):
    b = os.path.join(d, "bin")
    os.mkdir(b)
    write_exe(os.path.join(b, "llama-bench"), FAKE_BENCH)
    write_exe(os.path.join(b, "llama-batched-bench"), FAKE_BATCHED)
    return b


def test_table_from_both_engines():
    path = models.model_path("tiny")
    with tempfile.TemporaryDirectory() as d:
        b = fake_bin(d)
        out = os.path.join(d, "out")
        r = run(["-p", "8", "-n", "4", "--depth", "16", "--parallel", "2", "-r", "2", "--rounds", "2",
                 "--bw-mib", "32", "--out", out, b, path], ok=True)
        rows = {}
        for line in r.stdout.splitlines():
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if len(cells) == 8 and cells[0] == os.path.basename(path):
                rows[cells[1]] = cells
        want = {"pp8": 100.0, "tg4": 10.0, "tg4 @ d16": 5.0, "tg4 x2": 40.0}
        check(set(rows) == set(want), f"table rows {sorted(rows)}, expected {sorted(want)}:\n{r.stdout}")
        for t, ref in want.items():
            cells = rows[t]
            mine, theirs = float(cells[2]), float(cells[3])
            check(mine > 0 and theirs == ref, f"{t}: llamac {cells[2]}, llama.cpp {cells[3]} (stand-in: {ref})")
            ratio = float(cells[4].strip("*"))
            check(abs(ratio - mine / ref) <= 0.01 + 0.01 * ratio, f"{t}: ratio {cells[4]} is not {mine} / {ref}")
            # llama-bench: 2 rounds x -r 2; batched: one figure per call, -r 2 calls per round
            check(cells[7] == "4 / 4", f"{t}: runs {cells[7]}, expected 4 / 4")
            if t.startswith("tg"):
                check(float(cells[5]) >= 0 and cells[6].endswith("%"),
                      f"{t}: no GB/s or % of probe for llamac's tg: {cells[5]!r}, {cells[6]!r}")
            else:
                check(cells[5] == "" and cells[6] == "", f"{t}: pp has no traffic figure: {cells}")
        check(os.path.exists(os.path.join(out, "table.md")) and os.path.exists(os.path.join(out, "samples.tsv")),
              "the table and samples are not kept in --out")
        bench_log = open(os.path.join(b, "llama-bench.log")).read().splitlines()
        check(len(bench_log) == 4, f"llama-bench called {len(bench_log)} times, expected 2 rounds x 2")
        for line in bench_log:
            for f in ("-t 2", "-r 2", "-ctk f16", "-ctv f16", "-o json", "-m " + path):
                check(f in line, f"llama-bench call lacks '{f}': {line}")
        check(sum("-d 16" in x for x in bench_log) == 2, f"no depth calls: {bench_log}")
        batched_log = open(os.path.join(b, "llama-batched-bench.log")).read().splitlines()
        check(len(batched_log) == 4, f"llama-batched-bench called {len(batched_log)} times, expected 4")
        for line in batched_log:
            for f in ("-npp 0", "-ntg 4", "-npl 2", "-t 2", "--output-format jsonl", "-ctk f16"):
                check(f in line, f"llama-batched-bench call lacks '{f}': {line}")
            c = int(re.search(r"-c (\d+)", line).group(1))
            check(c >= 2 * 4, f"llama-batched-bench context {c} cannot hold 2 sequences of 4 tokens")


def test_engine_failure_leaves_the_test_out():
    path = models.model_path("tiny")
    with tempfile.TemporaryDirectory() as d:
        b = fake_bin(d)
        write_exe(os.path.join(b, "llama-batched-bench"), "#!/bin/sh\necho 'error: unable to load model' >&2\nexit 1\n")
        r = run(["-p", "8", "-n", "4", "--depth", "0", "--parallel", "2", "-r", "1", "--rounds", "1",
                 "--bw-mib", "32", "--out", os.path.join(d, "out"), b, path], ok=True)
        check("failed" in r.stderr and "unable to load model" in r.stderr, f"the failure is not reported: {r.stderr}")
        row = [line for line in r.stdout.splitlines() if "| tg4 x2 |" in line]
        check(len(row) == 1 and "| - |" in row[0], f"tg4 x2 should have llamac's figure only: {row}")
        check(not any("@ d" in line for line in r.stdout.splitlines()), "--depth 0 still ran a depth test")


def test_bad_invocations():
    path = models.model_path("tiny")
    with tempfile.TemporaryDirectory() as d:
        b = fake_bin(d)
        env_free = {k: v for k, v in os.environ.items() if k != "LLAMA_CPP_BIN"}
        cases = [
            ([path], "llama.cpp bin directory"),
            ([d, path], "no llama-bench"),
            ([b], "no model files"),
            ([b, path + ".missing"], ".missing"),
            (["-t", "x", b, path], "-t"),
            (["-t", "0", b, path], "at least 1"),
            (["--kv", "q8", b, path], "--kv"),
            (["--frobnicate", b, path], "--frobnicate"),
            (["--depth"], "--depth"),
        ]
        for args, needle in cases:
            r = subprocess.run([COMPARE] + args, capture_output=True, text=True, timeout=60, env=env_free)
            check(r.returncode != 0 and needle in r.stderr, f"compare.sh {args}: exit {r.returncode}, "
                  f"stderr does not mention '{needle}': {r.stderr!r}")


if __name__ == "__main__":
    main(globals())
