#!/usr/bin/python3
"""report.py — turns `llamac bench --json` output (JSON lines, from bench/run.sh) into the markdown table of
docs/PERFORMANCE.md: llamac's pp/tg speed beside upstream llama.cpp's on the same machine, the ratios against the
"Speed" targets, and decode's fraction of the memory bandwidth measured in the same run.

    /usr/bin/python3 bench/report.py RESULTS.jsonl [...]      (or JSON lines on stdin)

Lines with an "error" field (a model llamac could not run) become a row saying so. The model's shape and type
come from the file name bench/make_models.py gives it (llama-3.2-1b-Q4_K_M.gguf), else from the JSON fields.
"""
import json
import os
import platform
import sys
import time

SHAPE_NAMES = {"llama-3.2-1b": "Llama-3.2-1B", "llama-3.2-3b": "Llama-3.2-3B", "llama-3-8b": "Llama-3-8B"}
# upstream llama.cpp on this machine (2 cores AMD EPYC Zen 4, CPU backend, 2 threads, llama-bench pp512 / tg128,
# random weights in the exact shapes) — the figures of the "Speed" issue
LLAMA_CPP = {
    ("Llama-3.2-1B", "F16"): (90, 15.8),
    ("Llama-3.2-1B", "Q8_0"): (106, 22.5),
    ("Llama-3.2-1B", "Q4_0"): (137, 39.8),
    ("Llama-3.2-1B", "Q4_K_M"): (124, 37.8),
    ("Llama-3-8B", "Q8_0"): (13.4, 3.7),
    ("Llama-3-8B", "Q4_0"): (19.0, 7.9),
    ("Llama-3-8B", "Q4_K_M"): (17.4, 6.1),
}
# targets: decode >= 1.3x llama.cpp on 1B, 1.2x on 8B; prefill pp512 >= 2x for Q4_0, Q4_K_M, Q8_0
TG_TARGET = {"Llama-3.2-1B": 1.3, "Llama-3-8B": 1.2}
PP_TARGET_TYPES = {"Q4_0", "Q4_K_M", "Q8_0"}
PP_TARGET = 2.0
BW_TARGET = 0.75
ORDER_SHAPES = list(SHAPE_NAMES.values())
ORDER_TYPES = ["F16", "BF16", "Q8_0", "Q6_K", "Q5_K_M", "Q4_0", "Q4_K_M", "Q4_K_S"]


def identify(rec):
    base = os.path.basename(rec.get("model", ""))
    stem = base[:-5] if base.endswith(".gguf") else base
    for key, name in SHAPE_NAMES.items():
        if stem.startswith(key + "-"):
            return name, stem[len(key) + 1:]
    name = (rec.get("model_name") or stem).split(" (")[0]
    return name, rec.get("model_type") or "?"


def read_records(paths):
    recs = []
    streams = [open(p, encoding="utf-8") for p in paths] if paths else [sys.stdin]
    for f in streams:
        for line in f:
            line = line.strip()
            if line.startswith("{"):
                recs.append(json.loads(line))
    return recs


def git_state(source):
    """The commit HEAD points to, read from .git without running git (several people share the tree)."""
    g = os.path.join(source, ".git")
    try:
        with open(os.path.join(g, "HEAD")) as f:
            head = f.read().strip()
        if not head.startswith("ref: "):
            return head[:12]
        ref = head[5:]
        p = os.path.join(g, ref)
        if os.path.exists(p):
            with open(p) as f:
                return f"{ref.rsplit('/', 1)[-1]} @ {f.read().strip()[:12]}"
        with open(os.path.join(g, "packed-refs")) as f:
            for line in f:
                if line.strip().endswith(" " + ref):
                    return f"{ref.rsplit('/', 1)[-1]} @ {line.split()[0][:12]}"
    except OSError:
        pass
    return "unknown"


def cpu_name():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def fmt_ratio(r, target):
    if r is None:
        return ""
    if target is None:
        return f"{r:.2f}x"
    return f"{r:.2f}x {'ok' if r >= target else 'MISS'}"


def main():
    recs = read_records(sys.argv[1:])
    if not recs:
        sys.exit("report: no JSON records")
    rows = {}
    for r in recs:
        key = identify(r)
        row = rows.setdefault(key, {"recs": []})
        if "error" in r:
            row["error"] = r["error"]
        else:
            row["recs"].append(r)
    source = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
    first = next((r for r in recs if "error" not in r), {})
    stamp = first.get("timestamp", time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
    print(f"Measured {stamp} on {cpu_name()} ({os.cpu_count()} cores), git {git_state(source)}, "
          f"llamac {first.get('llamac_version', '?')}, kernels {first.get('kernels', '?')}, "
          f"{first.get('n_threads', '?')} threads, {first.get('reps', '?')} runs per test (medians; ± = sd).")
    print()
    print("| model | type | GiB | pp t/s | llama.cpp | ratio | tg t/s | llama.cpp | ratio "
          "| decode GB/s | bw GB/s | % of bw | peak RSS GiB | ready s |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")

    def sort_key(k):
        shape, t = k
        return (ORDER_SHAPES.index(shape) if shape in ORDER_SHAPES else 99,
                ORDER_TYPES.index(t) if t in ORDER_TYPES else 99, shape, t)

    for key in sorted(rows, key=sort_key):
        shape, t = key
        row = rows[key]
        ref = LLAMA_CPP.get(key)
        if "error" in row and not row["recs"]:
            print(f"| {shape} | {t} | | error: {row['error'][:120]} | | | | | | | | | | |")
            continue
        # the columns: pp and tg from an empty cache, one sequence (depth and parallel tests are left
        # to bench/compare.sh's table)
        plain = [r for r in row["recs"] if r.get("n_depth", 0) == 0 and r.get("n_parallel", 1) == 1]
        pp = next((r for r in plain if r["n_prompt"] > 0), None)
        tg = next((r for r in plain if r["n_gen"] > 0), None)
        any_r = pp or tg
        if not any_r:
            continue
        cells = [shape, t, f"{any_r['model_bytes'] / 2**30:.2f}"]
        if pp:
            ratio = pp["median_ts"] / ref[0] if ref else None
            target = PP_TARGET if t in PP_TARGET_TYPES else None
            cells += [f"{pp['median_ts']:.2f} ± {pp['stddev_ts']:.2f} ({pp['test']})",
                      f"{ref[0]}" if ref else "", fmt_ratio(ratio, target if ref else None)]
        else:
            cells += ["", "", ""]
        if tg:
            ratio = tg["median_ts"] / ref[1] if ref else None
            cells += [f"{tg['median_ts']:.2f} ± {tg['stddev_ts']:.2f} ({tg['test']})",
                      f"{ref[1]}" if ref else "", fmt_ratio(ratio, TG_TARGET.get(shape) if ref else None)]
            if tg.get("bw_gbs"):
                frac = tg["bw_fraction"]
                cells += [f"{tg['achieved_gbs']:.1f}", f"{tg['bw_gbs']:.1f}",
                          f"{frac * 100:.0f} %{'' if frac >= BW_TARGET else ' MISS'}"]
            else:
                cells += [f"{tg['achieved_gbs']:.1f}", "", ""]
        else:
            cells += ["", "", "", "", "", ""]
        hwm = max(r["hwm_after_test"] for r in row["recs"])
        ready = any_r.get("ready_ms")
        cells += [f"{hwm / 2**30:.2f}", f"{ready / 1e3:.2f}" if ready is not None else ""]
        print("| " + " | ".join(cells) + " |")
    print()
    print(f"Targets: tg >= {TG_TARGET['Llama-3.2-1B']}x llama.cpp on 1B and {TG_TARGET['Llama-3-8B']}x on 8B "
          f"(>= {BW_TARGET * 100:.0f} % of the bandwidth); pp512 >= {PP_TARGET}x for "
          f"{', '.join(sorted(PP_TARGET_TYPES))}. 'MISS' marks a target not reached.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
