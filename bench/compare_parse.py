#!/usr/bin/env python3
"""compare_parse.py — the parsing and table half of bench/compare.sh.

  compare_parse.py extract ENGINE KIND MODEL FILE   appends one line per sample to stdout (TSV:
                                                   model, engine, test, tok/s, bw_fraction or "", achieved GB/s or "")
      KIND llamac   `llamac bench --json` (one object per line; samples_ts, and bw_fraction for tg tests)
      KIND bench    llama.cpp `llama-bench -o json` (a JSON array; n_prompt, n_gen, n_depth, samples_ts)
      KIND batched  llama.cpp `llama-batched-bench --output-format jsonl` (lines with pp, tg, pl, speed_tg;
                    other log lines are skipped)
  compare_parse.py table SAMPLES.tsv               prints the markdown table: medians of every sample of both
                                                   engines per file and test, and their ratio (llamac / llama.cpp)

Test names follow `llamac bench`: pp512, tg128, "tg128 @ d4096" (after 4096 cached tokens), "tg128 x8" (8
sequences decoding together, aggregate tok/s).
"""
import json
import math
import os
import re
import statistics
import sys

ORDER = re.compile(r"^(pp|tg)(\d+)(?: x(\d+))?(?: @ d(\d+))?$")


def name(n_prompt, n_gen, depth=0, parallel=1):
    s = f"pp{n_prompt}" if n_prompt > 0 else f"tg{n_gen}"
    if parallel > 1:
        s += f" x{parallel}"
    if depth > 0:
        s += f" @ d{depth}"
    return s


def extract(engine, kind, model, path):
    out = []
    text = open(path, errors="replace").read()
    if kind == "llamac":
        for line in text.splitlines():
            line = line.strip()
            if not line.startswith("{"):
                continue
            r = json.loads(line)
            frac, gbs = r.get("bw_fraction"), r.get("achieved_gbs")
            for ts in r.get("samples_ts", []):
                out.append((r["test"], ts, frac, gbs))
    elif kind == "bench":
        start = text.find("[")
        if start < 0:
            raise ValueError(f"{path}: no JSON array from llama-bench")
        for r in json.loads(text[start:text.rfind("]") + 1]):
            t = name(r["n_prompt"], r["n_gen"], r.get("n_depth", 0))
            for ts in r.get("samples_ts", []):
                out.append((t, ts, None, None))
    elif kind == "batched":
        for line in text.splitlines():
            line = line.strip()
            if not (line.startswith("{") and '"speed_tg"' in line):
                continue
            # a pp of 0 makes speed_pp a nan, which is not JSON: take the fields by pattern
            f = dict(re.findall(r'"(\w+)":\s*([-+0-9.eE]+|nan|inf|-nan)', line))
            ts = float(f["speed_tg"])
            if math.isfinite(ts) and ts > 0:
                out.append((name(0, int(f["tg"]), int(f["pp"]), int(f["pl"])), ts, None, None))
    else:
        raise ValueError(f"unknown kind {kind}")
    if not out:
        raise ValueError(f"{path}: no {kind} results")
    for t, ts, frac, gbs in out:
        print(f"{model}\t{engine}\t{t}\t{ts}\t{'' if frac is None else frac}\t{'' if gbs is None else gbs}")


def sort_key(t):
    m = ORDER.match(t)
    if not m:
        return (9, t)
    kind, n, par, depth = m.group(1), int(m.group(2)), int(m.group(3) or 1), int(m.group(4) or 0)
    return (0 if kind == "pp" else 1, par, depth, n)


def table(path):
    samples, fracs, gbss, models, tests = {}, {}, {}, [], set()
    for line in open(path):
        parts = line.rstrip("\n").split("\t")
        if len(parts) != 6:
            continue
        model, engine, t, ts, frac, gbs = parts
        if model not in models:
            models.append(model)
        tests.add(t)
        samples.setdefault((model, engine, t), []).append(float(ts))
        if frac:
            fracs.setdefault((model, t), []).append(float(frac))
        if gbs:
            gbss.setdefault((model, t), []).append(float(gbs))
    print("| file | test | llamac tok/s | llama.cpp tok/s | ratio | llamac GB/s | llamac % of probe "
          "| runs (llamac / llama.cpp) |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for model in models:
        for t in sorted(tests, key=sort_key):
            a = samples.get((model, "llamac", t), [])
            b = samples.get((model, "llama.cpp", t), [])
            if not a and not b:
                continue
            ma = statistics.median(a) if a else None
            mb = statistics.median(b) if b else None
            ratio = f"**{ma / mb:.2f}**" if ma and mb and ma < mb else (f"{ma / mb:.2f}" if ma and mb else "")
            fr, gb = fracs.get((model, t)), gbss.get((model, t))
            cells = [os.path.basename(model), t, f"{ma:.2f}" if ma else "-", f"{mb:.2f}" if mb else "-", ratio,
                     f"{statistics.median(gb):.1f}" if gb else "", f"{100 * statistics.median(fr):.0f} %" if fr else "", f"{len(a)} / {len(b)}"]
            print("| " + " | ".join(cells) + " |")
    print()
    print("tok/s: medians of every timed run over all rounds; xS = aggregate tok/s of S sequences decoding together; "
          "ratio = llamac / llama.cpp (bold: llamac slower); GB/s: llamac's tg bytes per token x tok/s; "
          "% of probe: that over the read bandwidth its probe measured in the same run.")


def main(argv):
    if len(argv) == 6 and argv[1] == "extract":
        extract(argv[2], argv[3], argv[4], argv[5])
    elif len(argv) == 3 and argv[1] == "table":
        table(argv[2])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv)
