"""serve_util.py — run `llamac serve` in a test and talk to it (standard library only).

    with Server(model, "--parallel", 4) as srv:
        st, hdr, body = srv.post_json("/v1/chat/completions", {"messages": [...]})
        for event in srv.stream("/v1/chat/completions", {..., "stream": True}): ...
        srv.wait_metric("llamac_busy_sequences", 0, limit_s=30)

Server picks a free port, starts `$LLAMAC serve -m MODEL --host 127.0.0.1 --port P ARGS`, captures stderr into a
file (srv.log()), waits (bounded) until GET /health answers 200 {"status":"ok"} and fails the test with the log if
the process exits or never gets ready. On exit it checks the server is still alive (a crash during the test is a
failure, whatever the test saw), stops it with SIGTERM (SIGKILL if it lingers) and fails on a sanitizer report.

Waiting is always polling against a bound (wait_for / wait_metric): a test never sleeps and then asserts.
"""
import http.client
import json
import os
import re
import signal
import socket
import subprocess
import time

from llamac_testlib import LLAMAC, SANITIZER_MARKS, TestFailure, check, scratch_dir

STARTUP_S = float(os.environ.get("LLAMAC_SERVE_STARTUP_S", "120"))


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(pred, limit_s, what, interval=0.05):
    """Polls pred() until it returns a truthy value (returned) or limit_s passes (test failure naming `what`)."""
    deadline = time.monotonic() + limit_s
    last = None
    while True:
        last = pred()
        if last:
            return last
        if time.monotonic() > deadline:
            raise TestFailure(f"timed out after {limit_s}s waiting for {what}")
        time.sleep(interval)


def parse_metrics(text):
    """Prometheus text format -> {(name, frozenset(labels)): value}; also checks every sample line parses."""
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = re.match(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)(\s+\d+)?$', line)
        check(m is not None, f"/metrics: unparsable line {line!r}")
        labels = {}
        if m.group(3):
            for lm in re.finditer(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"', m.group(3)):
                labels[lm.group(1)] = lm.group(2)
        v = m.group(4)
        out[(m.group(1), frozenset(labels.items()))] = float("inf") if v == "+Inf" else float(v)
    return out


class SSE:
    """Reads a text/event-stream response: iterate for the `data:` payloads (str), "[DONE]" included."""

    def __init__(self, resp):
        self.resp = resp

    def __iter__(self):
        data = []
        while True:
            line = self.resp.readline()
            if not line:
                if data:
                    yield "\n".join(data)
                return
            line = line.decode("utf-8").rstrip("\r\n")
            if line == "":
                if data:
                    yield "\n".join(data)
                    data = []
                continue
            if line.startswith(":"):
                continue  # comment / keep-alive
            if line.startswith("data:"):
                data.append(line[5:][1:] if line[5:6] == " " else line[5:])


class Server:
    def __init__(self, model, *args, api_key=None, env=None, startup_s=STARTUP_S, threads=1, wait_ready=True):
        self.model = model
        self.args = [str(a) for a in args]
        self.api_key = api_key
        self.env = env
        self.startup_s = startup_s
        self.threads = threads
        self.wait_ready = wait_ready
        self.proc = None
        self.port = None
        self.dir = scratch_dir()
        self.log_path = os.path.join(self.dir, "serve.stderr")

    # ---- lifetime ----
    def __enter__(self):
        for _attempt in range(3):
            self.port = free_port()
            cmd = [LLAMAC, "serve", "-m", self.model, "--host", "127.0.0.1", "--port", str(self.port),
                   "-t", str(self.threads)] + self.args
            if self.api_key is not None and "--api-key" not in self.args and "--api-key-file" not in self.args:
                cmd += ["--api-key", self.api_key]
            self.cmd = cmd
            env = dict(os.environ, **(self.env or {}))
            with open(self.log_path, "wb") as err, open(os.path.join(self.dir, "serve.stdout"), "wb") as out:
                self.proc = subprocess.Popen(cmd, stdout=out, stderr=err, stdin=subprocess.DEVNULL, env=env)
            if not self.wait_ready:
                return self
            try:
                self._wait_ready()
                return self
            except TestFailure:
                if self.proc.poll() is not None and re.search(r"in use|EADDRINUSE", self.log(), re.I):
                    continue  # somebody took the port between free_port() and the bind: try another
                self._kill()
                raise
        raise TestFailure(f"llamac serve could not bind a port: {self.log()[-2000:]}")

    def _wait_ready(self):
        def ready():
            if self.proc.poll() is not None:
                raise TestFailure(f"llamac serve exited ({self.proc.returncode}) before it was ready: "
                                  f"{' '.join(self.cmd)}\n{self.log()[-3000:]}")
            try:
                st, _, body = self.request("GET", "/health", timeout=5)
            except (OSError, http.client.HTTPException):
                return False
            if st == 200:
                check(json.loads(body).get("status") == "ok", f"/health 200 body {body!r}")
                return True
            check(st == 503, f"/health while loading answered {st} {body!r} (want 503 or 200)")
            check(json.loads(body).get("status") == "loading", f"/health 503 body {body!r}")
            return False
        wait_for(ready, self.startup_s, f"GET /health 200 from {' '.join(self.cmd)}")

    def __exit__(self, et, ev, tb):
        alive = self.proc.poll() is None
        code = self.proc.returncode
        self._kill()
        log = self.log()
        for mark in SANITIZER_MARKS:
            check(mark not in log, f"sanitizer report from llamac serve:\n{log[-4000:]}")
        if et is None:
            check(alive, f"llamac serve died during the test (exit {code}):\n{log[-3000:]}")
        return False

    def _kill(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=20)

    def alive(self):
        return self.proc.poll() is None

    def log(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def pid(self):
        return self.proc.pid

    def rss_kb(self):
        with open(f"/proc/{self.proc.pid}/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        raise TestFailure("no VmRSS in /proc/PID/status")

    def sanitized(self):
        """True when the server runs with AddressSanitizer (its quarantine makes RSS meaningless; its leak check
        at exit replaces an RSS bound)."""
        with open(f"/proc/{self.proc.pid}/maps", encoding="utf-8", errors="replace") as f:
            return any("asan" in line for line in f)

    @property
    def base_url(self):
        return f"http://127.0.0.1:{self.port}"

    # ---- HTTP ----
    def headers(self, extra=None, key=None):
        h = {}
        k = self.api_key if key is None else key
        if k:
            h["Authorization"] = f"Bearer {k}"
        h.update(extra or {})
        return h

    def conn(self, timeout=60):
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)

    def request(self, method, path, body=None, headers=None, timeout=120, key=None):
        """-> (status, headers dict with lower-case names, body bytes). body: bytes, str or a JSON-able object."""
        if body is not None and not isinstance(body, (bytes, str)):
            body = json.dumps(body)
        if isinstance(body, str):
            body = body.encode("utf-8")
        h = self.headers(headers, key)
        if body is not None:
            h.setdefault("Content-Type", "application/json")
        c = self.conn(timeout)
        try:
            c.request(method, path, body=body, headers=h)
            r = c.getresponse()
            data = r.read()
            return r.status, {k.lower(): v for k, v in r.getheaders()}, data
        finally:
            c.close()

    def post_json(self, path, obj, timeout=120, headers=None, key=None):
        """-> (status, headers, parsed JSON body); fails the test if the body is not JSON."""
        st, hdr, data = self.request("POST", path, obj, headers=headers, timeout=timeout, key=key)
        try:
            return st, hdr, json.loads(data)
        except ValueError:
            raise TestFailure(f"POST {path}: {st} with a body that is not JSON: {data[:500]!r}")

    def get_json(self, path, timeout=60):
        st, hdr, data = self.request("GET", path, timeout=timeout)
        try:
            return st, hdr, json.loads(data)
        except ValueError:
            raise TestFailure(f"GET {path}: {st} with a body that is not JSON: {data[:500]!r}")

    def chat(self, messages, timeout=120, **params):
        """POST /v1/chat/completions; asserts 200 and returns the parsed body."""
        st, _, body = self.post_json("/v1/chat/completions", dict(messages=messages, **params), timeout=timeout)
        check(st == 200, f"chat completion: {st} {body}")
        return body

    def open_stream(self, path, obj, timeout=120, key=None):
        """Starts a streaming POST; -> (connection, response). The caller reads SSE(resp) and closes conn."""
        c = self.conn(timeout)
        c.request("POST", path, body=json.dumps(obj).encode(), headers=self.headers({"Content-Type":
                                                                                     "application/json"}, key))
        return c, c.getresponse()

    def stream(self, path, obj, timeout=120):
        """Streams a request to the end; -> list of the parsed chunks (JSON objects), "[DONE]" as the string."""
        c, r = self.open_stream(path, obj, timeout)
        try:
            if r.status != 200:
                raise TestFailure(f"stream {path}: {r.status} {r.read()[:500]!r}")
            ctype = r.getheader("Content-Type", "")
            check(ctype.startswith("text/event-stream"), f"stream {path}: Content-Type {ctype!r}")
            out = []
            for data in SSE(r):
                if data == "[DONE]":
                    out.append(data)
                    break
                try:
                    out.append(json.loads(data))
                except ValueError:
                    raise TestFailure(f"stream {path}: event data is not JSON: {data[:300]!r}")
            return out
        finally:
            c.close()

    # ---- metrics ----
    def metrics(self):
        st, hdr, data = self.request("GET", "/metrics", timeout=30)
        check(st == 200, f"/metrics answered {st}")
        return parse_metrics(data.decode("utf-8"))

    def metric(self, name, labels=None, samples=None):
        """The sum of the samples of `name` whose labels include `labels` (0.0 when there is none)."""
        samples = self.metrics() if samples is None else samples
        want = set((labels or {}).items())
        return sum(v for (n, ls), v in samples.items() if n == name and want <= ls)

    def wait_metric(self, name, want, limit_s=60, labels=None, op="=="):
        """Polls /metrics until metric(name, labels) `op` want (op one of == >= <= > <); -> the value."""
        ops = {"==": lambda a, b: a == b, ">=": lambda a, b: a >= b, "<=": lambda a, b: a <= b,
               ">": lambda a, b: a > b, "<": lambda a, b: a < b}
        seen = []

        def ok():
            v = self.metric(name, labels)
            seen[:] = [v]
            return ops[op](v, want)
        try:
            wait_for(ok, limit_s, f"{name}{labels or ''} {op} {want}")
        except TestFailure as ex:
            raise TestFailure(f"{ex} (last value {seen[0] if seen else None})")
        return seen[0]

    def wait_idle(self, limit_s=60):
        """Waits until nothing runs or waits in the server (busy sequences and queue depth both 0)."""
        def idle():
            m = self.metrics()
            return self.metric("llamac_busy_sequences", samples=m) == 0 and \
                self.metric("llamac_queue_depth", samples=m) == 0
        wait_for(idle, limit_s, "llamac_busy_sequences == 0 and llamac_queue_depth == 0")


def raw_request(port, data, read_limit_s=30, shutdown_write=False):
    """Sends raw bytes on a fresh TCP connection and returns everything the server sent until it closed the
    connection or read_limit_s passed (bytes)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=read_limit_s)
    try:
        try:
            s.sendall(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server may answer and close before reading everything
        if shutdown_write:
            s.shutdown(socket.SHUT_WR)
        out = b""
        deadline = time.monotonic() + read_limit_s
        while time.monotonic() < deadline:
            try:
                chunk = s.recv(65536)
            except socket.timeout:
                break
            except ConnectionResetError:
                break
            if not chunk:
                break
            out += chunk
            if _complete_response(out):
                break
        return out
    finally:
        s.close()


def _complete_response(buf):
    """True when buf holds a whole HTTP response with a Content-Length body (enough to stop reading)."""
    head, sep, body = buf.partition(b"\r\n\r\n")
    if not sep:
        return False
    m = re.search(rb"(?im)^content-length:\s*(\d+)\s*$", head)
    return m is not None and len(body) >= int(m.group(1))


def parse_raw_response(buf):
    """-> (status, headers dict lower-case, body bytes) of a raw HTTP/1.1 response with a Content-Length body."""
    head, sep, body = buf.partition(b"\r\n\r\n")
    check(sep, f"no complete HTTP response head in {buf[:300]!r}")
    lines = head.decode("latin-1").split("\r\n")
    m = re.match(r"HTTP/1\.[01] (\d{3})", lines[0])
    check(m is not None, f"bad status line {lines[0]!r}")
    hdr = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        hdr[k.strip().lower()] = v.strip()
    return int(m.group(1)), hdr, body


def check_error(status, body, want_status, want_type=None, want_code=None, field=None, what=""):
    """Checks an OpenAI-shaped error {"error": {"message", "type", "param", "code"}} with the wanted status; field:
    a request field that must be named in the message or param."""
    check(status == want_status, f"{what}: status {status} (want {want_status}), body {body}")
    check(isinstance(body, dict) and isinstance(body.get("error"), dict), f"{what}: not an OpenAI error: {body}")
    e = body["error"]
    for k in ("message", "type", "param", "code"):
        check(k in e, f"{what}: error without {k!r}: {body}")
    check(isinstance(e["message"], str) and e["message"], f"{what}: empty error message: {body}")
    if want_type:
        check(e["type"] == want_type, f"{what}: error type {e['type']!r} (want {want_type!r})")
    if want_code:
        check(e["code"] == want_code, f"{what}: error code {e['code']!r} (want {want_code!r})")
    if field:
        check(field in e["message"] or field in str(e["param"]),
              f"{what}: the error does not name the field {field!r}: {body}")
    return e


# ---- the test models ----
EOT = 128009
TALK = [271, 9906, 1917, 1578, 9906]  # "\n\n" -> Hello -> " world" -> " again" -> Hello ...: never stops


def talk(n):
    """The first n tokens of the talk model's answer, as text: "Hello world againHello ..."."""
    pieces = ["Hello", " world", " again"]
    return "".join(pieces[i % 3] for i in range(n))


CALL = [58, 456, 70464, 44602, 1151, 60704, 52128]  # [get_weather(city='Paris')] (Llama 3.2 pythonic tool call)
TOOLS = [{"type": "function", "function": {"name": "get_weather", "description": "Current weather in a city",
                                           "parameters": {"type": "object",
                                                          "properties": {"city": {"type": "string"}},
                                                          "required": ["city"]}}}]


def talk_model(n_layer=1):
    """Answers every chat with "Hello world againHello world again..." forever (greedy); a /v1/completions
    prompt ending in "Hello" continues " world againHello ...". n_layer > 1: the same, with a slow prefill."""
    import chain_model
    return chain_model.chain_model_path("l31", TALK, n_layer)


def tool_model():
    """Answers every chat with the tool call [get_weather(city='Paris')] then <|eot_id|> (Llama 3.2 format). It
    also completes the opening a named tool_choice puts first, "[get_weather(" (its last token "(" is 7; then
    city 9103, ='  1151, and on as in CALL); <|eot_id|> -> 7 is never used (the answer stops there)."""
    import chain_model
    return chain_model.chain_model_path("l32", [271] + CALL + [EOT] + [7, 9103, 1151])


RANDOM_SHAPE = dict(n_embd=64, n_ff=128, n_head=4, n_head_kv=2, n_layer=2)


def random_model():
    """Random weights (two layers, GQA) with the real vocabulary and the Llama 3.1 template: varied answers."""
    import chat_models
    return chat_models.chat_model_path("l31", RANDOM_SHAPE)
