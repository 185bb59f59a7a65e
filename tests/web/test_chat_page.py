"""test_chat_page.py — the web chat page of `llamac serve` in a real browser (headless Debian chromium, driven by
tests/web/chat_page.mjs with playwright-core, installed into $LLAMAC_BUILD/web-node by tests/web/setup.sh).

Two servers run on "chain" models (tests/py/chain_model.py: the greedy answer is scripted token by token):
  open   answers every question with a markdown text holding <script> and <img onerror> text (every token of it
         distinct, as a chain needs), context 256 so that a long message overflows it;
  keyed  --api-key, answers "Hello world again" forever, so that Stop lands in the middle of an answer;
  tool   answers with Llama 3.2's pythonic tool call [get_weather(city='Paris')] (shown as JSON).
The browser script checks streaming, Stop (through /metrics), reload, switching, renaming, deleting, safe markdown,
the 401 path, context full, server down, dark theme and a 390x844 phone; screenshots go to
$LLAMAC_BUILD/web-screenshots/*.png. test_cors_in_browser: a page of another origin calls a server started with
--cors-origin (allowed) and one without (refused by the browser), tests/web/cors.mjs.
"""
import json
import os
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "py"))
from llamac_testlib import BUILD, LLAMAC, SANITIZER_MARKS, SHARED, SOURCE, check, main, scratch_dir  # noqa: E402
import chain_model  # noqa: E402

EOT = 128009
START = 271  # "\n\n", the last token of the assistant header: the chain starts there
ANSWER = """## Safety check:
Here is **bold**, _emphasis_ and `inline code`.
- apples,
* pears!
```c
int main(void) { return 0; }
```
<script>window.pwned=true</SCRIPT> plus <img src=x onerror=alert(1)>"""
TALK = [START, 9906, 1917, 1578, 9906]  # "Hello" " world" " again" "Hello" ...: never ends
KEY = "web-test-key-0123"
TOOLS = [{"type": "function", "function": {"name": "get_weather", "description": "Current weather in a city",
                                           "parameters": {"type": "object",
                                                          "properties": {"city": {"type": "string"}},
                                                          "required": ["city"]}}}]
CALL = [58, 456, 70464, 44602, 1151, 60704, 52128]  # [get_weather(city='Paris')], Llama 3.2's pythonic call


def markdown_model():
    vocab = os.path.join(SHARED, "data", "llama3_hf_tokenizer.json")
    r = subprocess.run([LLAMAC, "tokenize", "--vocab", vocab], input=ANSWER, capture_output=True, text=True,
                       timeout=120)
    check(r.returncode == 0, f"llamac tokenize failed: {r.stderr[-2000:]}")
    ids = json.loads(r.stdout)
    dup = sorted({t for t in ids if ids.count(t) > 1})
    check(not dup and START not in ids and EOT not in ids,
          f"the scripted answer repeats tokens {dup}: a chain model needs every token once; reword ANSWER")
    return chain_model.chain_model_path("l31", [START] + ids + [EOT])


class Server:
    def __init__(self, name, model, *args):
        self.log_path = os.path.join(scratch_dir(), f"serve-{name}.log")
        self.log = open(self.log_path, "w+", encoding="utf-8", errors="replace")
        cmd = [LLAMAC, "serve", "-m", model, "--port", "0", "--parallel", "2", "-t", "1"] + [str(a) for a in args]
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT)
        self.url = None
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and self.proc.poll() is None:
            with open(self.log_path, encoding="utf-8", errors="replace") as f:
                for line in f:
                    if "listening on http://" in line:
                        self.url = line.split("listening on ", 1)[1].split()[0]
            if self.url and self.healthy():
                return
            time.sleep(0.1)
        self.stop()
        check(False, f"llamac serve ({name}) did not come up: {self.output()[-3000:]}")

    def healthy(self):
        try:
            with urllib.request.urlopen(self.url + "/health", timeout=5) as r:
                return r.status == 200
        except OSError:
            return False

    def output(self):
        with open(self.log_path, encoding="utf-8", errors="replace") as f:
            return f.read()

    def stop(self):
        """Stops the server (SIGTERM) and returns its exit status; fails on a sanitizer report in its output."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        out = self.output()
        for mark in SANITIZER_MARKS:
            check(mark not in out, f"sanitizer report from llamac serve:\n{out[-4000:]}")
        return self.proc.returncode


def stop_all(servers, must_exit_0=()):
    """Stops every server, even when one of them fails a check; then reports the first failure."""
    failures = []
    for srv in servers:
        if srv is None:
            continue
        try:
            rc = srv.stop()
            check(rc == 0 or srv not in must_exit_0, f"llamac serve exit status {rc}: {srv.output()[-2000:]}")
        except AssertionError as e:
            failures.append(str(e))
    check(not failures, "\n".join(failures))


def test_page_served():
    """GET / answers the page with caching and compression headers; an unchanged page costs a 304."""
    srv = Server("headers", chain_model.chain_model_path("l31", TALK))
    try:
        rq = urllib.request.Request(srv.url + "/", headers={"Accept-Encoding": "gzip"})
        with urllib.request.urlopen(rq, timeout=10) as r:
            check(r.status == 200 and r.headers["Content-Encoding"] == "gzip", f"GET / gzip: {r.headers}")
            check(r.headers["Cache-Control"] == "no-cache" and r.headers["ETag"], f"GET / caching: {r.headers}")
            check("script-src 'self'" in (r.headers["Content-Security-Policy"] or ""), "no CSP")
            etag = r.headers["ETag"]
        rq = urllib.request.Request(srv.url + "/", headers={"Accept-Encoding": "gzip", "If-None-Match": etag})
        try:
            urllib.request.urlopen(rq, timeout=10)
            check(False, "a matching If-None-Match was answered 200")
        except urllib.error.HTTPError as e:
            check(e.code == 304, f"If-None-Match -> {e.code}")
        rq = urllib.request.Request(srv.url + "/", method="HEAD", headers={"Accept-Encoding": "gzip"})
        with urllib.request.urlopen(rq, timeout=10) as r:
            check(r.status == 200 and r.read() == b"" and r.headers["ETag"] == etag, f"HEAD /: {r.headers}")
        with urllib.request.urlopen(srv.url + "/app.js", timeout=10) as r:
            body = r.read()
            check(r.headers["Content-Encoding"] is None and b"AbortController" in body, "GET /app.js identity")
        try:
            urllib.request.urlopen(srv.url + "/nope.html", timeout=10)
            check(False, "/nope.html answered")
        except urllib.error.HTTPError as e:
            check(e.code == 404, f"/nope.html -> {e.code}")
    finally:
        stop_all([srv], must_exit_0=[srv])


def test_chat_page_in_browser():
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    check(chromium, "no chromium on PATH: install it (scripts/install-deps.sh test)")
    node_dir = os.path.join(BUILD, "web-node")
    check(os.path.isdir(os.path.join(node_dir, "node_modules", "playwright-core")),
          "playwright-core missing: run tests/web/setup.sh (ctest: web_setup)")
    shots = os.path.join(BUILD, "web-screenshots")
    shutil.rmtree(shots, ignore_errors=True)
    open_srv = Server("open", markdown_model(), "--ctx", "256")
    keyed = tool = None
    try:
        keyed = Server("keyed", chain_model.chain_model_path("l31", TALK), "--ctx", "4096", "--api-key", KEY)
        tool = Server("tool", chain_model.chain_model_path("l32", [START] + CALL + [EOT]), "--ctx", "512")
        cfg = {"node_dir": node_dir, "chromium": chromium, "shots": shots,
               "open": {"url": open_srv.url, "pid": open_srv.proc.pid, "overflow_words": 400},
               "keyed": {"url": keyed.url, "key": KEY, "words": "Hello world again"},
               "tool": {"url": tool.url, "name": "get_weather", "arguments": {"city": "Paris"}, "tools": TOOLS}}
        r = subprocess.run(["node", os.path.join(HERE, "chat_page.mjs"), json.dumps(cfg)], capture_output=True,
                           text=True, errors="replace", timeout=480, cwd=SOURCE)
        print(r.stdout, end="")
        check(r.returncode == 0, f"browser test failed:\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}\n"
                                 f"open server log:\n{open_srv.output()[-2000:]}\nkeyed server log:\n"
                                 f"{keyed.output()[-2000:]}")
        for name in ("desktop-light", "desktop-dark", "phone", "phone-settings", "phone-conversations", "api-key",
                     "stopped", "tool-call", "error-context", "error-server-down"):
            check(os.path.getsize(os.path.join(shots, name + ".png")) > 1000, f"screenshot {name} missing")
    finally:
        stop_all([open_srv, tool, keyed], must_exit_0=[keyed])  # the open one was killed on purpose


def test_cors_in_browser():
    """A page of another origin calls the API in Chromium: allowed with --cors-origin (whole, stream, a readable
    401), refused by the browser without it (tests/web/cors.mjs)."""
    import http.server
    import threading
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    check(chromium, "no chromium on PATH: install it (scripts/install-deps.sh test)")
    node_dir = os.path.join(BUILD, "web-node")
    check(os.path.isdir(os.path.join(node_dir, "node_modules", "playwright-core")),
          "playwright-core missing: run tests/web/setup.sh (ctest: web_setup)")

    class Page(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            body = b"<!doctype html><title>another origin</title><p>app"
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *a):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Page)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    origin = f"http://127.0.0.1:{httpd.server_address[1]}"
    allowed = closed = None
    try:
        allowed = Server("cors", chain_model.chain_model_path("l31", TALK), "--ctx", "256", "--api-key", KEY,
                         "--cors-origin", origin)
        closed = Server("no-cors", chain_model.chain_model_path("l31", TALK), "--ctx", "256")
        cfg = {"node_dir": node_dir, "chromium": chromium, "page_url": origin + "/",
               "allowed": {"url": allowed.url, "key": KEY}, "closed": {"url": closed.url}}
        r = subprocess.run(["node", os.path.join(HERE, "cors.mjs"), json.dumps(cfg)], capture_output=True,
                           text=True, errors="replace", timeout=240, cwd=SOURCE)
        print(r.stdout, end="")
        check(r.returncode == 0, f"browser CORS test failed:\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}\n"
                                 f"server log:\n{allowed.output()[-2000:]}")
    finally:
        httpd.shutdown()
        stop_all([allowed, closed], must_exit_0=[allowed, closed])


if __name__ == "__main__":
    main(globals())
