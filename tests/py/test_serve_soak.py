"""test_serve_soak.py — a bounded soak of `llamac serve`: many clients doing everything at once for
LLAMAC_SOAK_SECONDS (60 by default in CI; longer by hand: LLAMAC_SOAK_SECONDS=1800 python3 test_serve_soak.py).

12 client threads (seeded, so a run can be repeated) pick at random: chat answers (checked word for word against
the talk model's script), streams read to [DONE], streams dropped after a few chunks, requests dropped before the
answer, /v1/completions with token arrays, malformed and ill-typed bodies, oversize bodies, headers cut in the
middle, and /metrics, /health, /v1/models. --parallel 4 --max-queue 10: the queue fills at times (dropped
requests hold their place until the server notices).

Checked: the server stays up; every request that was not dropped on purpose got 200 with the right answer or a
clean OpenAI-shaped error (400, 413, 503 with Retry-After, 504 past --timeout); at the end nothing is busy or
queued, a request is still answered, and the resident memory (VmRSS) is within max(16 MB, 10 %) of what it was
after the warm-up (not under AddressSanitizer, whose leak check at exit applies instead). Prints requests,
disconnects, errors and RSS start/end.
"""
import json
import os
import random
import socket
import threading
import time

from llamac_testlib import check, main
from serve_util import SSE, Server, parse_raw_response, raw_request, talk, talk_model, wait_for

SECONDS = float(os.environ.get("LLAMAC_SOAK_SECONDS", "60"))
THREADS = 12
USER = [{"role": "user", "content": "Say something."}]




class Stats:
    def __init__(self):
        self.lock = threading.Lock()
        self.n = {"requests": 0, "ok": 0, "disconnects": 0, "errors": 0, "503": 0}
        self.failures = []

    def add(self, key, k=1):
        with self.lock:
            self.n[key] += k

    def fail(self, msg):
        with self.lock:
            self.failures.append(msg)


def clean_error(st, hdr, data, allowed):
    """A clean error: an allowed status with an OpenAI error body (and Retry-After for 503)."""
    if st not in allowed:
        return f"status {st}"
    try:
        body = json.loads(data)
    except ValueError:
        return f"{st} body is not JSON: {data[:200]!r}"
    if not (isinstance(body, dict) and isinstance(body.get("error"), dict) and body["error"].get("message")):
        return f"{st} body is not an OpenAI error: {body}"
    if st == 503 and not hdr.get("retry-after", "").isdigit():
        return "503 without Retry-After"
    return None


def client(srv, seed, deadline, stats):
    rng = random.Random(seed)
    while time.monotonic() < deadline and not stats.failures:
        action = rng.choice(["chat", "chat", "stream", "stream", "drop_stream", "drop_early", "completion",
                             "bad", "oversize", "cut_headers", "info"])
        stats.add("requests")
        try:
            globals()["do_" + action](srv, rng, stats)
        except Exception as ex:  # noqa: BLE001 — anything unexpected is a failure of the soak
            stats.fail(f"{action}: {type(ex).__name__}: {ex}")


def _answer(stats, what, st, hdr, data, check_ok):
    if st == 200:
        err = check_ok()
        if err:
            stats.fail(f"{what}: {err}")
        else:
            stats.add("ok")
        return
    err = clean_error(st, hdr, data, (503, 504))  # queue full; --timeout on a very slow machine
    if err:
        stats.fail(f"{what}: {err}")
    else:
        stats.add("errors")
        if st == 503:
            stats.add("503")


def do_chat(srv, rng, stats):
    n = rng.randint(1, 24)
    st, hdr, data = srv.request("POST", "/v1/chat/completions", {"messages": USER, "max_tokens": n}, timeout=300)

    def ok():
        c = json.loads(data)["choices"][0]
        return None if c["message"]["content"] == talk(n) and c["finish_reason"] == "length" else f"answer {c}"
    _answer(stats, "chat", st, hdr, data, ok)


def do_stream(srv, rng, stats):
    n = rng.randint(1, 24)
    c, r = srv.open_stream("/v1/chat/completions", {"messages": USER, "max_tokens": n, "stream": True}, 300)
    try:
        if r.status != 200:
            _answer(stats, "stream", r.status, {k.lower(): v for k, v in r.getheaders()}, r.read(), None)
            return
        text, done = "", False
        for ev in SSE(r):
            if ev == "[DONE]":
                done = True
                break
            o = json.loads(ev)
            if "error" in o:
                e = o["error"]
                # --timeout on a very slow machine: after the headers the 504 comes as an error event
                if isinstance(e, dict) and e.get("code") == "timeout" and e.get("type") and e.get("message"):
                    stats.add("errors")
                else:
                    stats.fail(f"stream: error event {o}")
                return
            for ch in o.get("choices") or []:
                text += ch["delta"].get("content") or ""
        if done and text == talk(n):
            stats.add("ok")
        else:
            stats.fail(f"stream: done={done} text {text!r} want {talk(n)!r}")
    finally:
        c.close()


def do_drop_stream(srv, rng, stats):
    c, r = srv.open_stream("/v1/chat/completions", {"messages": USER, "max_tokens": 200, "stream": True}, 300)
    try:
        if r.status == 200:
            for _ in range(rng.randint(0, 5)):
                if not r.readline():
                    break
        stats.add("disconnects")
    finally:
        c.close()


def do_drop_early(srv, rng, stats):
    body = json.dumps({"messages": USER, "max_tokens": 100, "stream": rng.random() < 0.5}).encode()
    s = socket.create_connection(("127.0.0.1", srv.port), timeout=60)
    try:
        s.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                  b"Content-Length: %d\r\n\r\n" % len(body) + body)
    finally:
        s.close()
    stats.add("disconnects")


def do_completion(srv, rng, stats):
    n = rng.randint(1, 16)
    prompt = [128000] + [rng.randint(1000, 20000) for _ in range(rng.randint(1, 40))] + [9906]
    st, hdr, data = srv.request("POST", "/v1/completions", {"prompt": prompt, "max_tokens": n}, timeout=300)
    want = talk(n + 1)[len("Hello"):]

    def ok():
        c = json.loads(data)["choices"][0]
        return None if c["text"] == want else f"completion {c} want {want!r}"
    _answer(stats, "completion", st, hdr, data, ok)


BAD = [b"{", b"[]", b"{\"messages\": 5}", b"{\"messages\": [{\"role\": \"x\"}]}", b"\xff\xfe\x00",
       b"{\"messages\": [{\"role\": \"user\", \"content\": \"hi\"}], \"max_tokens\": \"many\"}",
       b"{\"messages\": [{\"role\": \"user\", \"content\": \"hi\"}], \"n\": -4}",
       b"{\"messages\": [{\"role\": \"user\", \"content\": \"hi\"}], \"max_tokens\": 100000}"]


def do_bad(srv, rng, stats):
    bad = rng.choice(BAD)
    st, hdr, data = srv.request("POST", rng.choice(["/v1/chat/completions", "/v1/completions"]), bad, timeout=60)
    err = clean_error(st, hdr, data, (400, 503))
    if err:
        stats.fail(f"bad body {bad[:40]!r}: {err}")
    else:
        stats.add("errors")


def do_oversize(srv, rng, stats):
    out = raw_request(srv.port, b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n"
                      % (rng.randint(1 << 28, 1 << 31)) + b"{" * rng.randint(0, 1 << 16))
    st, hdr, body = parse_raw_response(out)
    err = clean_error(st, hdr, body, (413,))
    if err:
        stats.fail(f"oversize: {err}")
    else:
        stats.add("errors")


def do_cut_headers(srv, rng, stats):
    req = b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 40\r\n\r\n{\"messages\""
    s = socket.create_connection(("127.0.0.1", srv.port), timeout=60)
    try:
        s.sendall(req[:rng.randint(1, len(req) - 1)])
    finally:
        s.close()
    stats.add("disconnects")


def do_info(srv, rng, stats):
    path = rng.choice(["/metrics", "/health", "/v1/models"])
    st, _, _ = srv.request("GET", path, timeout=60)
    if st == 200:
        stats.add("ok")
    else:
        stats.fail(f"GET {path}: {st}")


def run_clients(srv, seconds, stats, seed0):
    deadline = time.monotonic() + seconds
    threads = [threading.Thread(target=client, args=(srv, seed0 + i, deadline, stats)) for i in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=seconds + 600)
    check(not any(t.is_alive() for t in threads), "soak clients hung")


def test_soak():
    with Server(talk_model(), "--parallel", 4, "--max-queue", 10, "--ctx", 512, "--timeout", 30) as srv:
        warm = Stats()
        run_clients(srv, max(5.0, SECONDS / 10), warm, 1)
        check(not warm.failures, "warm-up: " + "; ".join(warm.failures[:5]))
        srv.wait_idle(120)
        rss_start = srv.rss_kb()
        stats = Stats()
        run_clients(srv, SECONDS, stats, 100)
        check(srv.alive(), f"the server died during the soak: {srv.log()[-2000:]}")
        check(not stats.failures, f"{len(stats.failures)} bad answers, first: " + "; ".join(stats.failures[:5]))
        srv.wait_idle(120)
        body = srv.chat(USER, max_tokens=5)
        check(body["choices"][0]["message"]["content"] == talk(5), f"after the soak: {body}")
        rss_end = srv.rss_kb()
        wait_for(lambda: srv.metric("llamac_busy_sequences") == 0, 10, "no busy sequence")
        n = stats.n
        print(f"soak {SECONDS:.0f}s: requests {n['requests']}, ok {n['ok']}, disconnects {n['disconnects']}, "
              f"errors {n['errors']} (503: {n['503']}), RSS start {rss_start} kB end {rss_end} kB", flush=True)
        check(n["ok"] > 0 and n["disconnects"] > 0 and n["errors"] > 0, f"the soak did not do everything: {n}")
        bound = max(16 * 1024, rss_start // 10)
        if srv.sanitized():
            print("AddressSanitizer build: RSS not bounded (quarantine); its leak check at exit applies", flush=True)
        else:
            check(rss_end - rss_start <= bound, f"RSS grew from {rss_start} kB to {rss_end} kB (bound +{bound} kB)")


if __name__ == "__main__":
    main(globals())
