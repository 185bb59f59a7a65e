#!/usr/bin/python3
"""chat_latency.py — time to first token and answer speed of `llamac run` (one-shot chat), as a user sees them.

    /usr/bin/python3 bench/chat_latency.py -m MODEL [-r 5] [-n 128] [-t 2] [--prompt TEXT] [--llamac build/llamac]

Runs `llamac run -m MODEL PROMPT -n N --json` R times (seeds 1..R, Meta's default sampling) after one warm-up
run, and prints the medians of: load time (process start to the model being ready, from the wall clock minus
the reported timings), prompt tokens and prompt tok/s, time to first token, answer tokens and answer tok/s.
The prompt goes through the model's chat format (system header with today's date included), so the prompt
token count is what a first chat turn costs. Random-weight models rarely emit a stop token, so -n bounds the
answer. Run it on a quiet machine.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("-m", "--model", required=True)
    ap.add_argument("-r", "--runs", type=int, default=5)
    ap.add_argument("-n", type=int, default=128)
    ap.add_argument("-t", "--threads", type=int, default=2)
    ap.add_argument("--prompt", default="Who made the heaven and the earth?")
    ap.add_argument("--llamac", default=os.path.join(HERE, "..", "build", "llamac"))
    a = ap.parse_args()
    rows = []
    for i in range(a.runs + 1):
        cmd = [a.llamac, "run", "-m", a.model, a.prompt, "-n", str(a.n), "-t", str(a.threads),
               "--seed", str(i), "--json"]
        t0 = time.monotonic()
        p = subprocess.run(cmd, capture_output=True, text=True)
        wall = time.monotonic() - t0
        if p.returncode != 0:
            sys.exit("chat_latency: %s failed:\n%s" % (" ".join(cmd), p.stderr))
        d = json.loads(p.stdout)
        if i == 0:
            continue  # warm-up: page cache, CPU frequency
        t = d["timings"]
        rows.append({
            "process_s": wall,
            "prompt_tokens": d["usage"]["prompt_tokens"],
            "prompt_tok_s": t["prompt_tokens_per_s"],
            "ttft_ms": 1000 * t["time_to_first_token_s"],
            "answer_tokens": d["usage"]["completion_tokens"],
            "answer_tok_s": t["generation_tokens_per_s"],
        })
    med = {k: statistics.median(r[k] for r in rows) for k in rows[0]}
    print("model: %s (%d runs, %d threads, medians)" % (os.path.basename(a.model), a.runs, a.threads))
    print("  prompt: %d tokens at %.1f tok/s; time to first token %.1f ms" %
          (med["prompt_tokens"], med["prompt_tok_s"], med["ttft_ms"]))
    print("  answer: %d tokens at %.1f tok/s; whole process (load + chat + exit) %.2f s" %
          (med["answer_tokens"], med["answer_tok_s"], med["process_s"]))
    print(json.dumps({"model": a.model, "runs": a.runs, "threads": a.threads, "median": med}))


if __name__ == "__main__":
    main()
