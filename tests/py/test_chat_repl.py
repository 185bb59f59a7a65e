"""test_chat_repl.py — `llamac chat` and `llamac run` end to end.

Models: "chain" models (tests/py/chain_model.py) whose greedy output is scripted — one answers every question with
the Llama 3.2 pythonic tool call [get_weather(city='Paris')], one talks forever ("Hello world again Hello ...") —
and a random-weight model with the real vocabulary. All carry the real Llama 3 vocabulary and chat template.

What is checked: the token ids sent to the model at each turn equal the reference renderings of `llamac tokenize
--chat` (so only the new turn is prefilled, the KV cache holding the rest), greedy chat equals `llamac generate` on
the rendered prompt, a person's session in a pseudo-terminal (streaming, Ctrl-C mid-answer, /stats, /save, /reset,
/load, unknown commands, Ctrl-D), context overflow policies, tool commands that fail, bad --tools files, and
`llamac run --json`.
"""
import json
import os
import pty
import select
import signal
import subprocess
import time

from llamac_testlib import LLAMAC, check, main, run_llamac, scratch_dir
import chain_model
import chat_models

DATE = "26 Jul 2024"
CALL = [58, 456, 70464, 44602, 1151, 60704, 52128]  # [get_weather(city='Paris')]
EOT = 128009
HEADER = [128006, 78191, 128007, 271]  # <|start_header_id|>assistant<|end_header_id|>\n\n
TOOLS = [{"type": "function", "function": {"name": "get_weather", "description": "Current weather in a city",
                                           "parameters": {"type": "object",
                                                          "properties": {"city": {"type": "string"}},
                                                          "required": ["city"]}}}]


def tool_model():
    return chain_model.chain_model_path("l32", [271] + CALL + [EOT])


def talk_model():
    # "\n\n" -> Hello -> " world" -> " again" -> Hello -> ...  (never a stop token): "Hello world againHello ..."
    return chain_model.chain_model_path("l31", [271, 9906, 1917, 1578, 9906])


def write(path, obj):
    with open(path, "w", encoding="utf-8") as f:
        json.dump(obj, f)
    return path


def reference_ids(model, messages, tools=None):
    d = scratch_dir()
    path = write(os.path.join(d, f"msgs-{time.monotonic_ns()}.json"),
                 {"messages": messages, **({"tools": tools} if tools else {})})
    r = run_llamac(["tokenize", "-m", model, "--chat", path, "--date", DATE], expect_ok=True)
    return json.loads(r.stdout)


def read_trace(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def chat(model, stdin, *args, timeout=120):
    cmd = [LLAMAC, "chat", "-m", model, "--date", DATE, "-t", "2"] + [str(a) for a in args]
    r = subprocess.run(cmd, input=stdin, capture_output=True, text=True, errors="replace", timeout=timeout)
    check(r.returncode >= 0, f"chat died from signal {-r.returncode}: {r.stderr[-2000:]}")
    return r


def test_turns_prefill_only_new_tokens_and_match_reference():
    model = tool_model()
    d = scratch_dir()
    tools = write(os.path.join(d, "tools.json"), TOOLS)
    trace = os.path.join(d, "trace.jsonl")
    r = chat(model, "Weather in Paris?\nThanks!\n", "-s", "You are a weather bot.", "--tools", tools,
             "--tool-exec", "cat > /dev/null; echo '{\"temp\": 21}'", "--temp", "0", "--max-tool-rounds", "1",
             "--trace-tokens", trace)
    check(r.returncode == 0, f"chat failed: {r.stderr}")
    check('[tool call] [{"name": "get_weather", "arguments": {"city": "Paris"}}]' in r.stdout,
          f"tool call not shown: {r.stdout!r}")
    ev = read_trace(trace)
    kinds = [list(e)[0] for e in ev]
    # turn 1: prompt, call, tool result, call again (round limit); turn 2 ("Thanks!"): the same
    check(kinds == ["prefill", "generated"] * 4, f"trace: {kinds}")
    pre = [e["prefill"] for e in ev if "prefill" in e]
    gen = [e["generated"] for e in ev if "generated" in e]
    check(all(g == CALL for g in gen), f"generated {gen}")

    sys_ = {"role": "system", "content": "You are a weather bot."}
    user = {"role": "user", "content": "Weather in Paris?"}
    call = {"role": "assistant", "tool_calls": [{"type": "function", "function": {
        "name": "get_weather", "arguments": {"city": "Paris"}}}]}
    result = {"role": "tool", "content": {"temp": 21}}
    user2 = {"role": "user", "content": "Thanks!"}
    m0 = [sys_, user]
    m1 = m0 + [call, result]
    m2 = m1 + [call, user2]
    ref0 = reference_ids(model, m0, TOOLS)
    check(pre[0] == ref0, f"first prefill differs from the reference rendering:\n{pre[0]}\n{ref0}")
    # what a full rendering appends after the tool call message: its closing <|eot_id|> is the stop token the
    # model generated (held back, fed first), then the tool result and the assistant header
    before = reference_ids(model, m0 + [call], TOOLS)
    ref1 = reference_ids(model, m1, TOOLS)
    check(ref1[:len(before) - 4] == before[:-4], "reference renderings are not prefix-consistent")
    check(pre[1] == [EOT] + ref1[len(before) - 4:], f"tool-result prefill:\n{pre[1]}\n{[EOT] + ref1[len(before) - 4:]}")
    before2 = reference_ids(model, m1 + [call], TOOLS)
    ref2 = reference_ids(model, m2, TOOLS)
    check(pre[2] == [EOT] + ref2[len(before2) - 4:], f"second-turn prefill:\n{pre[2]}\n{[EOT] + ref2[len(before2) - 4:]}")
    check(pre[2][-4:] == HEADER and len(pre[2]) < 20, f"the second turn re-sent more than its own tokens: {pre[2]}")


def test_greedy_chat_equals_generate_on_rendered_prompt():
    model = chat_models.chat_model_path("l31")
    d = scratch_dir()
    trace = os.path.join(d, "greedy.jsonl")
    r = chat(model, "What is the capital of France?\n", "--temp", "0", "-n", "24", "--trace-tokens", trace)
    check(r.returncode == 0, r.stderr)
    ev = read_trace(trace)
    prompt = ev[0]["prefill"]
    gen = ev[1]["generated"] if len(ev) > 1 else []
    check(len(gen) > 0, "no tokens generated")
    g = run_llamac(["generate", "-m", model, "--tokens", ",".join(map(str, prompt)), "--temp", "0", "-n", "24",
                    "--ids"], expect_ok=True)
    ids = [int(x) for x in g.stdout.split()]
    check(ids == gen, f"chat generated {gen}\ngenerate gave   {ids}")


class Pty:
    """A llamac process on a pseudo-terminal, driven like a person at a keyboard."""

    def __init__(self, args):
        self.pid, self.fd = pty.fork()
        if self.pid == 0:
            os.execv(LLAMAC, [LLAMAC] + args)
        self.out = b""
        self.pos = 0  # output before pos has been matched already

    def read_until(self, needle, timeout=60):
        """Waits for needle to appear after the previous match; consumes output up to its end."""
        end = time.time() + timeout
        n = needle.encode()
        while True:
            i = self.out.find(n, self.pos)
            if i >= 0:
                self.pos = i + len(n)
                return True
            if time.time() >= end:
                return False
            r, _, _ = select.select([self.fd], [], [], 0.1)
            if r:
                try:
                    chunk = os.read(self.fd, 65536)
                except OSError:
                    return False
                if not chunk:
                    return False
                self.out += chunk

    def send(self, s):
        # a person reads the prompt before typing: keys typed before the line editor has put the terminal in
        # raw mode would be handled by the terminal driver instead
        time.sleep(0.3)
        os.write(self.fd, s.encode())

    def wait(self, timeout=30):
        end = time.time() + timeout
        while time.time() < end:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                return status
            self.read_until("\x00", timeout=0.2)
        os.kill(self.pid, signal.SIGKILL)
        os.waitpid(self.pid, 0)
        raise AssertionError(f"chat did not exit; output:\n{self.out[-2000:]!r}")


def test_person_at_a_terminal():
    model = talk_model()
    d = scratch_dir()
    saved = os.path.join(d, "conv.json")
    p = Pty(["chat", "-m", model, "-t", "2", "--date", DATE, "-s", "Be brief."])
    try:
        check(p.read_until(">>> "), f"no prompt: {p.out[-1000:]!r}")
        p.send("Tell me a story\r")
        check(p.read_until("Hello world againHello"), f"no streamed answer: {p.out[-1000:]!r}")
        p.send("\x03")  # Ctrl-C mid-answer: stops the answer, not the program
        check(p.read_until("[interrupted]") and p.read_until(">>> "), f"Ctrl-C did not return to the prompt: {p.out[-600:]!r}")
        p.send("/stats\r")
        check(p.read_until("context:") and p.read_until(">>> "), f"/stats: {p.out[-600:]!r}")
        p.send("And then?\r")
        check(p.read_until("Hello world"), f"no second answer: {p.out[-1000:]!r}")
        p.send("\x03")
        check(p.read_until(">>> "), "no prompt after the second Ctrl-C")
        p.send("half a line\x03")  # Ctrl-C at the prompt discards the line
        check(p.read_until(">>> "), "no prompt after Ctrl-C at the prompt")
        p.send(f"/save {saved}\r")
        check(p.read_until("Saved 5 messages") and p.read_until(">>> "), f"/save: {p.out[-600:]!r}")
        p.send("/reset\r")
        check(p.read_until("Conversation reset.") and p.read_until(">>> "), f"/reset: {p.out[-600:]!r}")
        p.send(f"/load {saved}\r")
        check(p.read_until("Loaded 5 messages") and p.read_until(">>> "), f"/load: {p.out[-600:]!r}")
        p.send("/frobnicate\r")
        check(p.read_until("Unknown command '/frobnicate'") and p.read_until(">>> "), f"unknown command: {p.out[-600:]!r}")
        p.send("\x04")  # Ctrl-D exits
        status = p.wait()
        check(os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0, f"exit status {status}")
    finally:
        try:
            os.kill(p.pid, signal.SIGKILL)
            os.waitpid(p.pid, 0)
        except (ProcessLookupError, ChildProcessError):
            pass
    with open(saved, encoding="utf-8") as f:
        conv = json.load(f)["messages"]
    check([m["role"] for m in conv] == ["system", "user", "assistant", "user", "assistant"], f"saved {conv}")
    check(conv[1]["content"] == "Tell me a story" and conv[2]["content"].startswith("Hello world againHello"),
          f"saved {conv}")


def test_context_full_policies():
    model = talk_model()
    long_msg = " ".join(["word"] * 300) + "\n"
    r = chat(model, long_msg + "short one\n", "--ctx", "128", "-n", "8", "--on-context-full", "stop")
    check(r.returncode == 0, r.stderr)
    check("does not fit" in r.stderr, f"no clear message for an over-long message: {r.stderr!r}")
    check("Hello" in r.stdout, "the next message was not answered after the refused one")
    turns = "".join(f"turn {i}\n" for i in range(12))
    r = chat(model, turns + "/stats\n", "--ctx", "160", "-n", "20", "--on-context-full", "drop")
    check(r.returncode == 0, r.stderr)
    check("[context full: dropped the" in r.stderr, f"drop policy did not announce itself: {r.stderr!r}")
    check(r.stdout.count("Hello") >= 12, "not every turn was answered")
    r = chat(model, turns, "--ctx", "160", "-n", "20", "--on-context-full", "reset")
    check("[context full: conversation reset]" in r.stderr, f"reset policy: {r.stderr!r}")
    # an answer that reaches the end of the context is cut with a message, never silently
    r = chat(model, "go on forever\n", "--ctx", "96")
    check("the context is full: the answer was cut" in r.stdout, f"no message when the answer filled the context: {r.stdout[-300:]!r}")


def test_bad_tools_and_failing_tool_command():
    tmodel = tool_model()
    d = scratch_dir()
    r = chat(tmodel, "hi\n", "--tools", os.path.join(d, "missing.json"))
    check(r.returncode == 1 and "cannot read --tools file" in r.stderr, f"missing tools file: {r.stderr!r}")
    bad = os.path.join(d, "bad-tools.json")
    with open(bad, "w") as f:
        f.write('[{"type": "function", "function": {"name": ')
    r = chat(tmodel, "hi\n", "--tools", bad)
    check(r.returncode == 1 and "tools" in r.stderr and "JSON" in r.stderr, f"malformed tools: {r.stderr!r}")
    noname = write(os.path.join(d, "noname.json"), [{"type": "function", "function": {"description": "x"}}])
    r = chat(tmodel, "hi\n", "--tools", noname)
    check(r.returncode == 1 and "name" in r.stderr, f"tool without a name: {r.stderr!r}")
    tools = write(os.path.join(d, "tools.json"), TOOLS)
    r = chat(tmodel, "Weather?\n/bye\n", "--tools", tools, "--tool-exec", "echo oops >&2; exit 3", "--temp", "0",
             "--max-tool-rounds", "1")
    check(r.returncode == 0, f"a failing tool command ended the chat: {r.stderr!r}")
    check("tool call failed: the tool command failed with exit status 3" in r.stderr, f"{r.stderr!r}")
    r = chat(tmodel, "Weather?\n", "--tools", tools, "--tool-exec", "/nonexistent/tool", "--temp", "0",
             "--max-tool-rounds", "1")
    check(r.returncode == 0 and "tool call failed" in r.stderr, f"{r.stderr!r}")


def test_run_one_shot_json():
    model = tool_model()
    d = scratch_dir()
    tools = write(os.path.join(d, "tools.json"), TOOLS)
    r = run_llamac(["run", "-m", model, "Weather in Paris?", "--json", "--tools", tools, "--temp", "0", "--date", DATE],
                   expect_ok=True)
    doc = json.loads(r.stdout)
    check(doc["finish_reason"] == "tool_calls", f"{doc}")
    check(doc["message"]["tool_calls"][0]["function"]["name"] == "get_weather", f"{doc}")
    check(doc["usage"]["completion_tokens"] == len(CALL), f"{doc['usage']}")
    check(doc["usage"]["prompt_tokens"] > 20 and doc["timings"]["prompt_s"] >= 0, f"{doc}")
    r = run_llamac(["run", "-m", talk_model(), "Say hello", "-n", "5", "--json", "--temp", "0"], expect_ok=True)
    doc = json.loads(r.stdout)
    check(doc["finish_reason"] == "length" and doc["usage"]["completion_tokens"] == 5, f"{doc}")
    check(doc["message"]["content"] == "Hello world againHello world", f"{doc['message']}")
    r = run_llamac(["run", "-m", talk_model(), "Say hello", "-n", "3", "--temp", "0"], expect_ok=True)
    check(r.stdout.strip() == "Hello world again", f"{r.stdout!r}")


def test_model_without_vocabulary_is_refused():
    import models
    r = run_llamac(["chat", "-m", models.model_path("l30-f32")], expect_ok=False)
    check("no vocabulary" in r.stderr, f"{r.stderr!r}")


if __name__ == "__main__":
    main(globals())
