"""test_serve_smoke.py — a quick end-to-end check of `llamac serve` on the bundled toy model (models/tiny-kjv.gguf):
it starts on a free port (--port 0, the port read from its "listening on" line), answers /health, one chat
completion whole and the same one streamed (greedy: the streamed text must equal the whole answer), and one bad
request with OpenAI's error shape; then SIGTERM must stop it cleanly (exit 0). The comprehensive tests (the official
openai client, raw sockets, concurrency, soak) are elsewhere; this one only guards the basics.
"""
import http.client
import json
import os
import re
import signal
import subprocess
import time

from llamac_testlib import LLAMAC, SANITIZER_MARKS, SOURCE, check, main

MODEL = os.path.join(SOURCE, "models", "tiny-kjv.gguf")
BODY = {"messages": [{"role": "user", "content": "Who made the heaven?"}], "max_tokens": 12, "temperature": 0}


class Server:
    def __init__(self):
        self.proc = subprocess.Popen([LLAMAC, "serve", "-m", MODEL, "--port", "0", "-t", "1", "--parallel", "2"],
                                     stderr=subprocess.PIPE, text=True, errors="replace")
        self.port = None
        self.log = []
        deadline = time.time() + 60
        while self.port is None and time.time() < deadline:
            line = self.proc.stderr.readline()
            if not line:
                break
            self.log.append(line)
            m = re.search(r"listening on http://[^ ]*:(\d+)", line)
            if m:
                self.port = int(m.group(1))
        check(self.port, "the server did not say where it listens: " + "".join(self.log))
        while time.time() < deadline:  # /health says 503 "loading" until the model is in
            status, body = self.request("GET", "/health")
            if status == 200:
                check(json.loads(body) == {"status": "ok"}, f"/health body {body}")
                return
            check(status == 503 and json.loads(body) == {"status": "loading"}, f"/health {status} {body}")
            time.sleep(0.1)
        raise AssertionError("the model did not load in time")

    def request(self, method, path, body=None):
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        c.request(method, path, body=json.dumps(body) if isinstance(body, dict) else body,
                  headers={"Content-Type": "application/json"})
        r = c.getresponse()
        data = r.read().decode()
        c.close()
        return r.status, data

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            raise AssertionError("SIGTERM did not stop the server")
        rest = self.proc.stderr.read()
        for mark in SANITIZER_MARKS:
            check(mark not in rest, "sanitizer report:\n" + rest[-3000:])
        check(rc == 0, f"exit status {rc} after SIGTERM: {rest[-2000:]}")
        return "".join(self.log) + rest


def test_serve_smoke():
    s = Server()
    try:
        status, body = s.request("POST", "/v1/chat/completions", BODY)
        check(status == 200, f"chat: {status} {body}")
        whole = json.loads(body)
        check(whole["object"] == "chat.completion" and whole["id"].startswith("chatcmpl-"), f"chat: {body}")
        choice = whole["choices"][0]
        check(choice["message"]["role"] == "assistant" and choice["message"]["content"], f"chat message: {body}")
        check(choice["finish_reason"] in ("stop", "length"), f"finish_reason: {body}")
        check(whole["usage"]["completion_tokens"] <= 12 and whole["usage"]["prompt_tokens"] > 0, f"usage: {body}")

        status, body = s.request("POST", "/v1/chat/completions", dict(BODY, stream=True))
        check(status == 200, f"stream: {status} {body}")
        events = [e for e in body.split("\n\n") if e]
        check(all(e.startswith("data: ") for e in events) and events[-1] == "data: [DONE]", f"stream: {body[-500:]}")
        chunks = [json.loads(e[6:]) for e in events[:-1]]
        check(len({c["id"] for c in chunks}) == 1, "the stream's chunks have different ids")
        check(chunks[0]["choices"][0]["delta"].get("role") == "assistant", "the first delta has no role")
        text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks)
        check(text == choice["message"]["content"], f"streamed {text!r} != whole {choice['message']['content']!r}")
        check(chunks[-1]["choices"][0]["finish_reason"] == choice["finish_reason"], "finish_reason differs")

        status, body = s.request("POST", "/v1/chat/completions", dict(BODY, temperature="hot"))
        err = json.loads(body)["error"]
        check(status == 400 and err["param"] == "temperature" and err["type"] == "invalid_request_error",
              f"bad temperature: {status} {body}")
    finally:
        log = s.stop()
    check(re.search(r"POST /v1/chat/completions 200 prompt=\d+ gen=\d+", log), "no request log line:\n" + log)


if __name__ == "__main__":
    main(globals())
