"""test_serve_concurrency.py — a request's tokens do not depend on what else the server is doing.

16 different requests (a random-weight model with the real vocabulary, serve_util.random_model; greedy and
seeded sampling; half of them streamed) are run one at a time, then all at once with --parallel 16 (one batch),
then all at once with --parallel 4 (twelve wait in the queue and join the batch as others leave): every answer
must be identical — text, finish_reason, usage and, where asked, the logprobs (the tokens and their values, bit
for bit). Half the prompts share a long system prompt, so the prefix cache is hit (counted in /metrics) and the
answers must not change with it either: the first request of the sequential run is cold, its repeat is a hit.
"""
import threading

from llamac_testlib import check, main
from serve_util import Server, random_model

SYSTEM = "You are a careful assistant. " + " ".join(f"Rule {i}: answer with care and precision." for i in range(60))
TOPICS = ["the sea", "bread", "a red fox", "winter", "numbers", "the moon", "old maps", "trains", "salt",
          "a violin", "bees", "glass", "rivers", "chess", "rain", "copper"]


def requests():
    out = []
    for i, topic in enumerate(TOPICS):
        msgs = [{"role": "user", "content": f"Tell me about {topic}." + " Please." * i}]
        if i % 2 == 0:
            msgs.insert(0, {"role": "system", "content": SYSTEM})
        req = dict(messages=msgs, max_tokens=12 + i, ignore_eos=True, logprobs=True, top_logprobs=2)
        if i % 4 == 3:
            req.update(temperature=0.9, top_p=0.95, seed=1000 + i)  # seeded sampling
        else:
            req.update(temperature=0)
        req["stream"] = i % 3 == 1
        out.append(req)
    return out


def run_one(srv, req):
    """-> a comparable summary of the answer: (text, finish_reason, completion_tokens, [(token, logprob)...])."""
    if req["stream"]:
        chunks = srv.stream("/v1/chat/completions", dict(req, stream_options={"include_usage": True}))
        check(chunks[-1] == "[DONE]", f"stream end: {chunks[-2:]}")
        text, finish, lps, usage = "", None, [], None
        for c in chunks[:-1]:
            if c.get("usage"):
                usage = c["usage"]
            for ch in c["choices"]:
                text += ch["delta"].get("content") or ""
                finish = ch.get("finish_reason") or finish
                lps += [(t["token"], t["logprob"]) for t in ((ch.get("logprobs") or {}).get("content") or [])]
        return text, finish, usage["completion_tokens"], lps
    body = srv.chat(req["messages"], **{k: v for k, v in req.items() if k not in ("messages", "stream")})
    c = body["choices"][0]
    lps = [(t["token"], t["logprob"]) for t in ((c.get("logprobs") or {}).get("content") or [])]
    return c["message"]["content"], c["finish_reason"], body["usage"]["completion_tokens"], lps


def run_concurrently(srv, reqs):
    results = [None] * len(reqs)
    errors = []
    barrier = threading.Barrier(len(reqs))

    def worker(i):
        try:
            barrier.wait(timeout=60)
            results[i] = run_one(srv, reqs[i])
        except Exception as ex:  # noqa: BLE001 — reported below
            errors.append(f"request {i}: {ex}")
    threads = [threading.Thread(target=worker, args=(i,)) for i in range(len(reqs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=600)
    check(not any(t.is_alive() for t in threads), "concurrent requests did not finish in 600 s")
    check(not errors, "; ".join(errors[:4]))
    return results


def compare(want, got, what):
    for i, (a, b) in enumerate(zip(want, got)):
        check(a == b, f"{what}: request {i} differs from its run alone:\nalone: {a}\n{what}: {b}")


def test_sixteen_concurrent_equal_sequential():
    reqs = requests()
    model = random_model()
    with Server(model, "--parallel", 16, "--ctx", 1024) as srv:
        alone = [run_one(srv, r) for r in reqs]
        for i, (text, finish, n, lps) in enumerate(alone):
            check(finish == "length" and n == reqs[i]["max_tokens"], f"request {i}: {finish} after {n} tokens "
                                                                      f"(ignore_eos, max_tokens)")
            check(len(lps) == n and text == "".join(t for t, _ in lps), f"request {i}: logprobs vs text")
        check(len({a[0] for a in alone}) > 8, f"the answers are too alike to show anything: {alone}")
        again = run_one(srv, reqs[0])  # the long system prompt is cached now
        check(again == alone[0], f"with a prefix cache hit: {again} vs cold {alone[0]}")
        check(srv.metric("llamac_prefix_cache_hits_total") >= 1, "no prefix cache hit counted for a repeated "
                                                                  "600-token system prompt")
        check(srv.metric("llamac_prefix_cache_tokens_total") >= 256, "fewer than 256 reused tokens counted for a "
                                                                     "repeated 600-token system prompt")
        steps0 = srv.metric("llamac_engine_steps_total")
        compare(alone, run_concurrently(srv, reqs), "--parallel 16, all at once")
        # information only (how much the 16 overlapped depends on the machine): engine steps for all the tokens
        print(f"--parallel 16: {sum(a[2] for a in alone)} tokens in "
              f"{srv.metric('llamac_engine_steps_total') - steps0:.0f} engine steps", flush=True)
        srv.wait_idle()
        check(srv.metric("llamac_busy_sequences") == 0, "sequences still busy")
        # the background copy of a small model is long done: the gauge serve_bench waits for says so
        srv.wait_metric("llamac_weights_loaded", 1, limit_s=60)
    with Server(model, "--parallel", 4, "--ctx", 1024, "--max-queue", 32) as srv:
        compare(alone, run_concurrently(srv, reqs), "--parallel 4 (12 queued), all at once")


if __name__ == "__main__":
    main(globals())
