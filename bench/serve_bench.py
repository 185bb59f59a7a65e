#!/usr/bin/python3
"""serve_bench.py — throughput and latency of `llamac serve` with N concurrent streaming clients, optionally side by
side with upstream llama.cpp's llama-server on the same file, threads and clients.

    /usr/bin/python3 bench/make_models.py ~/models --shapes 1b --types Q4_K_M     # once: the 1B-shaped file
    /usr/bin/python3 bench/serve_bench.py -m ~/models/llama-3.2-1b-Q4_K_M.gguf [-t 2] [--clients 1,2,4,8,16]
        [-n 128] [--requests 2] [--prompt-words 48] [--parallel 16] [--ctx 1024] [--llamac build/llamac]
        [--llama-server ../llama.cpp-peer/llama.cpp/build/bin/llama-server] [--np 8] [--tg] [--temperature T]
    /usr/bin/python3 bench/serve_bench.py --url http://127.0.0.1:8080 [--clients ...]   # a server already running

For each client count N, N clients each stream --requests completions (POST /v1/completions, "stream": true,
max_tokens -n, ignore_eos, a different prompt per client and request, greedy unless --temperature T) back to
back, all from one C thread polling every stream (bench_serve_load, the default when built: the load generator
shares the server's cores, so it must be cheap) or, with --client python, from one Python thread per client.
Reported per N:
  agg tok/s     all generated tokens / wall time from the first request sent to the last stream ended
  TTFT p50/p99  request sent -> first token received, over every request
  stream tok/s  per request: (tokens - 1) / (last token - first token), median over requests
With --llama-server, that binary is started too (-np --np, the same model, threads and per-slot context) and each
N runs on llamac then on llama-server, one after the other (alternately, so both see the same machine state); the
table puts them side by side with the ratio of the aggregates. --tg also runs `llamac bench -p 0 -n N -t T` for
the single-stream reference (the server's 1-client stream rate should be within 5% of it). With --llama-server
both servers get the same logit_bias of -100 on the tokens that are not whole UTF-8 (--ban-broken-utf8): a
random-weight model's text otherwise stops being valid UTF-8, and llama-server then cuts the stream with an
HTTP 500 error event (docs/PERFORMANCE.md, "The peer's cut streams"). Measuring starts
once llamac's /metrics says llamac_weights_loaded 1 (the background copy of the weights is complete, as `llamac
bench` waits for it), after one warm-up request per server. Prints a markdown table. Not a test: asserts nothing; run it on a quiet machine.
"""
import argparse
import http.client
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
WORDS = ("time light river stone garden market letter window mountain music winter harbor forest silver engine "
         "story village candle thunder paper island bridge orchard lantern").split()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def prompt_for(client, request, words):
    return " ".join(WORDS[(client * 7 + request * 13 + i * (client + 3)) % len(WORDS)] for i in range(words))


def wait_ready(host, port, proc, limit_s=600):
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            sys.exit(f"serve_bench: the server exited ({proc.returncode}) before it was ready")
        try:
            c = http.client.HTTPConnection(host, port, timeout=5)
            c.request("GET", "/health")
            if c.getresponse().status == 200:
                return
        except OSError:
            pass
        time.sleep(0.2)
    sys.exit(f"serve_bench: no /health 200 from {host}:{port} in {limit_s} s")


def wait_weights(host, port, limit_s=600):
    """Waits until llamac serve's /metrics says llamac_weights_loaded 1: /health is 200 as soon as the model runs
    from the file mapping, while the private copy of the weights is still being made in the background; tokens
    decoded meanwhile are slower (and the copy takes CPU), so measuring then would charge the load to the server
    path. A server without the metric is measured at once."""
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        try:
            c = http.client.HTTPConnection(host, port, timeout=5)
            c.request("GET", "/metrics")
            text = c.getresponse().read().decode("utf-8", "replace")
        except OSError:
            text = ""
        if "llamac_weights_loaded" not in text:
            return
        if "\nllamac_weights_loaded 1" in text:
            return
        time.sleep(0.2)
    print(f"warning: the weights of {host}:{port} were not loaded after {limit_s} s", file=sys.stderr)


def byte_level_decoder():
    """The GPT-2 byte-level alphabet a Llama 3 GGUF vocabulary is written in: character -> byte (printable bytes
    stand for themselves, the others for 256 + their rank)."""
    keep = [b for b in range(256) if 0x21 <= b <= 0x7E or 0xA1 <= b <= 0xAC or 0xAE <= b <= 0xFF]
    dec, extra = {}, 0
    for b in range(256):
        if b in keep:
            dec[chr(b)] = b
        else:
            dec[chr(256 + extra)] = b
            extra += 1
    return dec


def broken_utf8_tokens(model):
    """Ids of the model's tokens whose bytes are not whole UTF-8 on their own (pieces of a multi-byte
    character). A random-weight model strings them together at random, so its text stops being valid UTF-8;
    llama-server then ends the stream with an HTTP 500 error event ("does not match the expected Content-only
    format"). Banning them (logit_bias -100, the same for both servers) keeps both answers full length."""
    sys.path.insert(0, os.path.join(HERE, "..", "python"))
    import gguf_reader  # noqa: E402 — only needed here
    toks = gguf_reader.GGUFFile(model).kv.get("tokenizer.ggml.tokens") or []
    dec = byte_level_decoder()
    bad = []
    for i, t in enumerate(toks):
        if not isinstance(t, str):
            bad.append(i)  # not even UTF-8 in the file
            continue
        if any(ch not in dec for ch in t):
            continue  # an added (special) token written as plain text
        try:
            bytes(dec[ch] for ch in t).decode("utf-8")
        except UnicodeDecodeError:
            bad.append(i)
    return bad


def one_stream(host, port, prompt, n, temperature=0.0, extra=None):
    """-> dict(ttft, tokens, t_first, t_last, t_start, t_end) for one streamed completion."""
    req = {"prompt": prompt, "max_tokens": n, "stream": True, "temperature": temperature, "ignore_eos": True,
           "stream_options": {"include_usage": True}}
    req.update(extra or {})
    body = json.dumps(req)
    c = http.client.HTTPConnection(host, port, timeout=600)
    t_start = time.monotonic()
    c.request("POST", "/v1/completions", body=body, headers={"Content-Type": "application/json"})
    r = c.getresponse()
    if r.status != 200:
        raise RuntimeError(f"HTTP {r.status}: {r.read()[:300]!r}")
    t_first = t_last = None
    chunks = 0
    usage = None
    finish = None
    while True:
        line = r.readline()
        if not line:
            break
        line = line.strip()
        if not line.startswith(b"data:"):
            continue
        data = line[5:].strip()
        if data == b"[DONE]":
            break
        o = json.loads(data)
        if "error" in o:  # an error event after the headers (llama-server: HTTP 500 mid-stream)
            finish = "error"
        if o.get("usage"):
            usage = o["usage"]
        for ch in o.get("choices") or []:
            if ch.get("text"):
                now = time.monotonic()
                t_first = t_first or now
                t_last = now
                chunks += 1
            finish = ch.get("finish_reason") or finish
    t_end = time.monotonic()
    c.close()
    if t_first is None:
        raise RuntimeError("no token received")
    # tokens: the usage chunk if the server sends one, else one per text chunk (both servers stream per token)
    tokens = usage["completion_tokens"] if usage and usage.get("completion_tokens") else chunks
    return dict(ttft=t_first - t_start, tokens=tokens, t_first=t_first, t_last=t_last, t_start=t_start,
                t_end=t_end, finish=finish)


def c_clients(load, host, port, n_clients, requests, n, words, tag, temperature=0.0, extra=None):
    """The same load from bench_serve_load (one C thread polling every connection): -> (results, errors)."""
    args = [load, host, str(port), str(n_clients), str(requests), str(n), str(words), tag, str(temperature)]
    tmp = None
    if extra:
        tmp = __import__("tempfile").NamedTemporaryFile("w", suffix=".json", delete=False)
        tmp.write(json.dumps(extra)[1:-1])  # the members, spliced into every request body
        tmp.close()
        args.append(tmp.name)
    try:
        r = subprocess.run(args, capture_output=True, text=True)
    finally:
        if tmp:
            os.unlink(tmp.name)
    results, errors = [], []
    for line in r.stdout.splitlines():
        o = json.loads(line)
        (errors.append(o["error"]) if "error" in o else results.append(o))
    if r.returncode != 0:
        errors.append(f"bench_serve_load exited {r.returncode}: {r.stderr[-300:]}")
    return results, errors


def run_clients(host, port, n_clients, requests, n, words, tag, load=None, temperature=0.0, extra=None):
    if load:
        results, errors = c_clients(load, host, port, n_clients, requests, n, words, tag, temperature, extra)
        return summarize(results, errors, n_clients, tag)
    results, errors = [], []
    lock = threading.Lock()
    barrier = threading.Barrier(n_clients)

    def client(ci):
        barrier.wait()
        for ri in range(requests):
            try:
                res = one_stream(host, port, f"[{tag} {ci}.{ri}] " + prompt_for(ci, ri, words), n, temperature,
                                 extra)
            except Exception as ex:  # noqa: BLE001 — reported
                with lock:
                    errors.append(str(ex))
                return
            with lock:
                results.append(res)
    threads = [threading.Thread(target=client, args=(i,)) for i in range(n_clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return summarize(results, errors, n_clients, tag)


def summarize(results, errors, n_clients, tag):
    if errors:
        print(f"warning: {len(errors)} failed requests ({tag}, {n_clients} clients): {errors[0]}", file=sys.stderr)
    if not results:
        return None
    wall = max(r["t_end"] for r in results) - min(r["t_start"] for r in results)
    ttfts = sorted(r["ttft"] for r in results)
    rates = [(r["tokens"] - 1) / (r["t_last"] - r["t_first"]) for r in results
             if r["tokens"] > 1 and r["t_last"] > r["t_first"]]
    short = [r for r in results if r["finish"] != "length"]
    if short:
        why = {}
        for r in short:
            why[r["finish"] or "closed"] = why.get(r["finish"] or "closed", 0) + 1
        print(f"warning: {len(short)} of {len(results)} streams of {tag} ended before max_tokens "
              f"({', '.join(f'{k}: {v}' for k, v in sorted(why.items()))}; on average "
              f"{statistics.mean(r['tokens'] for r in short):.0f} tokens; the aggregate counts the tokens delivered)",
              file=sys.stderr)
    return dict(agg=sum(r["tokens"] for r in results) / wall, ttft50=pct(ttfts, 50), ttft99=pct(ttfts, 99),
                stream=statistics.median(rates) if rates else float("nan"), n=len(results))


def pct(sorted_vals, p):
    if not sorted_vals:
        return float("nan")
    k = (len(sorted_vals) - 1) * p / 100
    lo, hi = int(k), min(int(k) + 1, len(sorted_vals) - 1)
    return sorted_vals[lo] + (sorted_vals[hi] - sorted_vals[lo]) * (k - lo)


class Proc:
    """A server process started by the bench (stderr to a log file), stopped on exit."""

    def __init__(self, cmd, log):
        self.cmd, self.log = cmd, log
        self.f = open(log, "wb")
        self.p = subprocess.Popen(cmd, stdout=self.f, stderr=self.f, stdin=subprocess.DEVNULL)

    def stop(self):
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGTERM)
            try:
                self.p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()
        self.f.close()


def llamac_tg(llamac, model, n, threads):
    r = subprocess.run([llamac, "bench", "-m", model, "-p", "0", "-n", str(n), "-t", str(threads), "--json",
                        "--bw-mib", "0"], capture_output=True, text=True)
    if r.returncode != 0:
        print(f"warning: llamac bench failed: {r.stderr[-500:]}", file=sys.stderr)
        return None
    for line in r.stdout.splitlines():
        o = json.loads(line)
        if o.get("n_gen"):
            return o["median_ts"]
    return None


def fmt(x, spec):
    return "-" if x is None or x != x else format(x, spec)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("-m", "--model")
    ap.add_argument("--url", help="an already running llamac serve (no -m needed)")
    ap.add_argument("-t", "--threads", type=int, default=2)
    ap.add_argument("--clients", default="1,2,4,8,16")
    ap.add_argument("-n", type=int, default=128, help="tokens generated per request")
    ap.add_argument("--requests", type=int, default=2, help="requests per client, back to back")
    ap.add_argument("--prompt-words", type=int, default=48)
    ap.add_argument("--temperature", type=float, default=0.0,
                    help="0 = greedy (default); OpenAI clients sample at 1 unless told otherwise")
    ap.add_argument("--parallel", type=int, default=16, help="llamac serve --parallel")
    ap.add_argument("--ctx", type=int, default=1024, help="positions per request (llamac --ctx; llama-server "
                                                           "-c is this x --np)")
    ap.add_argument("--llamac", default=os.path.join(HERE, "..", "build", "llamac"))
    ap.add_argument("--llama-server", help="also run upstream llama-server side by side")
    ap.add_argument("--np", type=int, default=8, help="llama-server -np")
    ap.add_argument("--tg", action="store_true", help="also run `llamac bench` tg for the single-stream reference")
    ap.add_argument("--client", choices=("c", "python"), default=None,
                    help="load generator: c = bench_serve_load, one C thread polling every stream (default when "
                         "built); python = one Python thread per client (heavier: it shares the cores)")
    ap.add_argument("--load", default=os.path.join(HERE, "..", "build", "bench", "bench_serve_load"),
                    help="the bench_serve_load binary")
    ap.add_argument("--logdir", default=None, help="where server logs go (default: a temporary directory)")
    ap.add_argument("--ban-broken-utf8", choices=("auto", "yes", "no"), default="auto",
                    help="send logit_bias -100 for the tokens that are not whole UTF-8 (auto: with --llama-server, "
                         "which cuts a stream whose text is not valid UTF-8)")
    a = ap.parse_args()
    if not a.url and not a.model:
        ap.error("give -m MODEL (the bench starts the servers) or --url (a running llamac serve)")
    if a.url and a.llama_server and not a.model:
        ap.error("--llama-server needs -m MODEL")
    clients = [int(x) for x in a.clients.split(",")]
    if a.client is None:
        a.client = "c" if os.access(a.load, os.X_OK) else "python"
    if a.client == "c" and not os.access(a.load, os.X_OK):
        ap.error(f"--client c needs {a.load} (cmake --build build --target bench_serve_load)")
    load = a.load if a.client == "c" else None
    extra, banned = None, 0
    if a.ban_broken_utf8 == "yes" or (a.ban_broken_utf8 == "auto" and a.llama_server):
        if not a.model:
            ap.error("--ban-broken-utf8 needs -m MODEL (the vocabulary)")
        ids = broken_utf8_tokens(a.model)
        banned = len(ids)
        extra = {"logit_bias": {str(i): -100 for i in ids}} if ids else None
    logdir = a.logdir or __import__("tempfile").mkdtemp(prefix="serve_bench-")
    os.makedirs(logdir, exist_ok=True)

    servers = {}  # name -> (host, port)
    procs = []
    try:
        if a.url:
            u = urllib.parse.urlparse(a.url)
            servers["llamac"] = (u.hostname, u.port or 80)
        else:
            port = free_port()
            p = Proc([a.llamac, "serve", "-m", a.model, "--host", "127.0.0.1", "--port", str(port), "-t",
                      str(a.threads), "--parallel", str(a.parallel), "--ctx", str(a.ctx),
                      "--max-queue", str(max(clients) * 2)], os.path.join(logdir, "llamac.log"))
            procs.append(p)
            wait_ready("127.0.0.1", port, p.p)
            servers["llamac"] = ("127.0.0.1", port)
        if a.llama_server:
            port = free_port()
            p = Proc([a.llama_server, "-m", a.model, "--host", "127.0.0.1", "--port", str(port), "-t",
                      str(a.threads), "-np", str(a.np), "-c", str(a.ctx * a.np), "--no-webui"],
                     os.path.join(logdir, "llama-server.log"))
            procs.append(p)
            wait_ready("127.0.0.1", port, p.p)
            servers["llama-server"] = ("127.0.0.1", port)
        wait_weights(*servers["llamac"])
        for name, (host, port) in servers.items():  # warm-up: page cache, first-use allocations
            one_stream(host, port, "warm up", 8)
        rows = []
        for n_clients in clients:
            row = {"clients": n_clients}
            for name, (host, port) in servers.items():
                row[name] = run_clients(host, port, n_clients, a.requests, a.n, a.prompt_words, name, load,
                                        a.temperature, extra)
                r = row[name]
                print(f"{name:12s} {n_clients:2d} clients: " + (
                    f"{r['agg']:.1f} tok/s, TTFT p50 {r['ttft50']:.2f} s p99 {r['ttft99']:.2f} s, "
                    f"{r['stream']:.1f} tok/s per stream" if r else "failed"), file=sys.stderr, flush=True)
            rows.append(row)
        tg = llamac_tg(a.llamac, a.model, a.n, a.threads) if a.tg and a.model else None
    finally:
        for p in procs:
            p.stop()

    names = list(servers)
    head = "| clients |"
    sep = "| ---: |"
    for name in names:
        head += f" {name} agg tok/s | TTFT p50 s | TTFT p99 s | tok/s per stream |"
        sep += " ---: | ---: | ---: | ---: |"
    if len(names) == 2:
        head += " agg ratio |"
        sep += " ---: |"
    print(f"\nmodel {a.model or a.url}, {a.threads} threads, {a.n} tokens per request, {a.requests} requests per "
          f"client, prompts of {a.prompt_words} words, {a.client} load generator, temperature {a.temperature:g}; "
          f"llamac --parallel {a.parallel}"
          + (f"; llama-server -np {a.np}" if a.llama_server else "")
          + (f"; logit_bias -100 on the {banned} tokens that are not whole UTF-8" if banned else "") + "\n")
    print(head)
    print(sep)
    for row in rows:
        line = f"| {row['clients']} |"
        for name in names:
            r = row[name]
            line += (f" {fmt(r['agg'], '.1f')} | {fmt(r['ttft50'], '.2f')} | {fmt(r['ttft99'], '.2f')} |"
                     f" {fmt(r['stream'], '.1f')} |") if r else " - | - | - | - |"
        if len(names) == 2:
            a0, a1 = row[names[0]], row[names[1]]
            line += f" {fmt(a0['agg'] / a1['agg'], '.2f')}x |" if a0 and a1 and a1["agg"] else " - |"
        print(line)
    r1 = rows[0].get("llamac") if rows and rows[0]["clients"] == 1 else None
    if r1 and clients.count(8) and rows[clients.index(8)].get("llamac"):
        print(f"\nllamac: 8 streams aggregate = {rows[clients.index(8)]['llamac']['agg'] / r1['agg']:.2f}x "
              f"one stream")
    if tg:
        print(f"llamac bench tg{a.n}: {tg:.1f} tok/s" + (f"; one stream through the server: {r1['stream']:.1f} "
                                                        f"tok/s ({100 * r1['stream'] / tg:.0f}%)" if r1 else ""))
    print(f"server logs: {logdir}")


if __name__ == "__main__":
    main()
