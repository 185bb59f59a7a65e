#!/usr/bin/env python3
"""ppl_table.py — the quality of every weight type `llamac quantize` makes, on a held-out text: quantizes the
model to each type, then runs `llamac perplexity --kl` against the original's log-probs and prints a markdown
table (type, file size, PPL ± error, mean KLD ± error vs the original, top-1 agreement). The table of
docs/QUALITY.md ("Perplexity and KL divergence") comes from this script.

    nice /usr/bin/python3 bench/ppl_table.py [--model models/tiny-kjv.gguf] [--text models/kjv-heldout.txt]
                                             [--ctx 512] [--types Q8_0,Q4_K_M] [-t 2] [--keep DIR]

The binary is $LLAMAC or build/llamac. The quantized files go to a temporary directory (--keep DIR keeps them).
Every figure is deterministic (the same on any thread count), so one run is enough.
"""
import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.dirname(HERE)
LLAMAC = os.environ.get("LLAMAC", os.path.join(SRC, "build", "llamac"))
# general.file_type numbers (llama.cpp's LLAMA_FTYPE_*) of the types llamac quantize makes
FILE_TYPES = {0: "F32", 1: "F16", 2: "Q4_0", 3: "Q4_1", 7: "Q8_0", 8: "Q5_0", 9: "Q5_1", 10: "Q2_K", 11: "Q3_K_S",
              12: "Q3_K_M", 13: "Q3_K_L", 14: "Q4_K_S", 15: "Q4_K_M", 16: "Q5_K_S", 17: "Q5_K_M", 18: "Q6_K",
              32: "BF16"}


def llamac(*args):
    r = subprocess.run([LLAMAC, *map(str, args)], capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"ppl_table: llamac {' '.join(map(str, args))} failed: {r.stderr.strip()}")
    return r.stdout


def quant_types():
    m = re.search(r"TYPE is one of: ([A-Z0-9_ ]+)", llamac("quantize", "--help"))
    if not m:
        sys.exit("ppl_table: cannot read the type list from `llamac quantize --help`")
    return m.group(1).split()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default=os.path.join(SRC, "models", "tiny-kjv.gguf"))
    ap.add_argument("--text", default=os.path.join(SRC, "models", "kjv-heldout.txt"))
    ap.add_argument("--ctx", type=int, default=512)
    ap.add_argument("--types", help="comma-separated (default: every type llamac quantize makes)")
    ap.add_argument("-t", "--threads", type=int, default=2)
    ap.add_argument("--keep", help="keep the quantized models and the log-prob file in this directory")
    args = ap.parse_args()
    if not os.access(LLAMAC, os.X_OK):
        sys.exit(f"ppl_table: no llamac binary at {LLAMAC} (build it, or set LLAMAC)")
    types = args.types.split(",") if args.types else quant_types()
    work = args.keep or tempfile.mkdtemp(prefix="ppl_table-")
    os.makedirs(work, exist_ok=True)
    try:
        base = os.path.join(work, "base.kllp")
        ref = json.loads(llamac("perplexity", "-m", args.model, "-f", args.text, "--ctx", args.ctx,
                                "-t", args.threads, "--kl-base", base, "--json"))
        name = os.path.basename(args.model)
        print(f"Model `{name}`, text `{os.path.relpath(args.text, SRC)}`: {ref['n_windows']} windows of "
              f"{ref['n_window']} tokens, {ref['n_scored']} tokens scored. KLD and top-1 agreement are "
              f"against the original file.\n")
        print("| type | size | PPL | KLD vs original | 99% KLD | top-1 agreement |")
        print("|---|---:|---:|---:|---:|---:|")
        size = os.path.getsize(args.model)
        m = re.search(r"general\.file_type\s+(\d+)", llamac("info", "-m", args.model))
        ftype = FILE_TYPES.get(int(m.group(1)), "?") if m else "?"
        print(f"| original ({ftype}) | {size / 2**20:.2f} MiB | {ref['ppl']:.4f} ± {ref['ppl_err']:.4f} | 0 | 0 | 100% |",
              flush=True)
        for t in types:
            out = os.path.join(work, f"{t}.gguf")
            llamac("quantize", args.model, out, t, "-t", args.threads)
            r = json.loads(llamac("perplexity", "-m", out, "--kl", base, "-t", args.threads, "--json"))
            p99 = r["kld_q"][r["quantiles"].index(0.99)]
            print(f"| {t} | {os.path.getsize(out) / 2**20:.2f} MiB | {r['ppl']:.4f} ± {r['ppl_err']:.4f} | "
                  f"{r['kld']:.6f} ± {r['kld_err']:.6f} | {p99:.6f} | "
                  f"{100 * r['same_top']:.2f} ± {100 * r['same_top_err']:.2f}% |", flush=True)
            if not args.keep:
                os.unlink(out)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
