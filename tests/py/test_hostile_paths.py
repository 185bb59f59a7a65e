"""test_hostile_paths.py — regression tests for issue 14's hostile inputs, run against the real program.

- a FIFO (or a directory, a device) given as any input path (-m, --vocab, --system-file, --tools, --chat, /load) is
  refused at once with a message naming it, never opened for a blocking read (the test would hang);
- an output target that exists and is not a regular file (symlink, FIFO, /dev/null, directory) is refused before
  any work and left as it was (logits -o, /save, --trace-tokens; quantize is in test_quantize.py);
- a system prompt that is not valid UTF-8 (-s, --system-file, /system) is refused with a non-zero exit;
- a piped chat in which every message failed exits non-zero;
- deeply nested --tools definitions are refused before anything is rendered;
- -t far above the core count runs, clamped with a warning.
Every run goes through run_llamac (timeout, crash and sanitizer checks).
"""
import json
import os
import stat
import subprocess

from llamac_testlib import LLAMAC, SOURCE, check, main, run_llamac, scratch_dir

MODEL = os.path.join(SOURCE, "models", "tiny-kjv.gguf")
D = scratch_dir()
TIMEOUT = 60


def path(name):
    return os.path.join(D, name)


def fifo(name="fifo"):
    p = path(name)
    if not os.path.exists(p):
        os.mkfifo(p)
    return p


def chat(stdin, *args, timeout=TIMEOUT):
    cmd = [LLAMAC, "chat", "-m", MODEL, "-n", "4", "--temp", "0", *args]
    try:
        r = subprocess.run(cmd, input=stdin, capture_output=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        check(False, f"hang: {' '.join(cmd)}")
    err = r.stderr.decode("utf-8", "replace")
    check(r.returncode >= 0, f"chat died from signal {-r.returncode}: {err[-2000:]}")
    check("Sanitizer" not in err and "runtime error:" not in err, f"sanitizer report: {err[-3000:]}")
    return r.returncode, r.stdout.decode("utf-8", "replace"), err


def refused(r, needles, what):
    text = (r.stderr + r.stdout).lower()
    check(r.returncode != 0, f"{what}: exit status 0")
    check(any(n.lower() in text for n in needles), f"{what}: message does not mention {needles}: {r.stderr[-400:]!r}")


def test_fifo_inputs_refused():
    f = fifo()
    dev = "/dev/zero"  # a device that would never end
    for p, kind in ((f, "fifo"), (dev, "device"), (D, "directory")):
        refused(run_llamac(["info", "-m", p], timeout=TIMEOUT), [kind, "not a regular file"], f"info -m {p}")
        refused(run_llamac(["generate", "-m", p, "-p", "x", "-n", "1"], timeout=TIMEOUT), [kind], f"generate -m {p}")
        r = subprocess.run([LLAMAC, "tokenize", "--vocab", p], input=b"hi", capture_output=True, timeout=TIMEOUT)
        check(r.returncode != 0 and kind in r.stderr.decode().lower(), f"--vocab {p}: {r.stderr!r}")
        r = subprocess.run([LLAMAC, "tokenize", "-m", MODEL, "--chat", p], capture_output=True, timeout=TIMEOUT)
        check(r.returncode != 0 and kind in r.stderr.decode().lower(), f"--chat {p}: {r.stderr!r}")
        rc, _, err = chat(b"hi\n", "--system-file", p)
        check(rc != 0 and kind in err.lower(), f"--system-file {p}: {rc} {err!r}")
        rc, _, err = chat(b"hi\n", "--tools", p)
        check(rc != 0 and kind in err.lower(), f"--tools {p}: {rc} {err!r}")
    rc, out, err = chat(f"/load {f}\nhi\n".encode())
    check("fifo" in err.lower(), f"/load of a FIFO: {err!r}")
    check(rc != 0, "/load of a FIFO: a piped run with a failed /load exited 0")


def test_output_targets_not_regular():
    target = path("target.bin")
    with open(target, "wb") as fh:
        fh.write(b"keep")
    link = path("link.bin")
    if not os.path.lexists(link):
        os.symlink(target, link)
    adir = path("adir")
    os.makedirs(adir, exist_ok=True)
    f = fifo("out-fifo")
    for p, kind in ((link, "symbolic link"), (f, "fifo"), ("/dev/null", "device"), (adir, "directory"),
                    (adir + "/", "directory")):
        r = run_llamac(["logits", "-m", MODEL, "--tokens", "1,2,3", "-o", p], timeout=TIMEOUT)
        refused(r, [kind], f"logits -o {p}")
        rc, out, err = chat(f"hi\n/save {p}\n".encode())
        check(rc != 0 and kind in err.lower(), f"/save {p}: exit {rc}, {err!r}")
        rc, out, err = chat(b"hi\n", "--trace-tokens", p)
        check(rc != 0 and kind in err.lower() and "--trace-tokens" in err, f"--trace-tokens {p}: exit {rc}, {err!r}")
    check(os.path.islink(link) and open(target, "rb").read() == b"keep", "the symlink or its target changed")
    check(stat.S_ISFIFO(os.lstat(f).st_mode) and os.path.isdir(adir), "the FIFO or the directory was replaced")
    check(stat.S_ISCHR(os.stat("/dev/null").st_mode), "/dev/null was replaced")
    # a regular target is replaced, and nothing else is left in the directory
    out = path("logits.bin")
    run_llamac(["logits", "-m", MODEL, "--tokens", "1,2,3", "-o", out], timeout=TIMEOUT, expect_ok=True)
    check(os.path.getsize(out) > 0, "logits file is empty")
    saved = path("conv.json")
    rc, _, err = chat(f"hi\n/save {saved}\n".encode())
    check(rc == 0 and json.load(open(saved))["messages"][0]["content"] == "hi", f"/save: {rc} {err!r}")
    trace = path("trace.jsonl")
    rc, _, err = chat(b"hi\n", "--trace-tokens", trace)
    lines = [json.loads(x) for x in open(trace)]
    check(rc == 0 and [next(iter(x)) for x in lines] == ["prefill", "generated"], f"--trace-tokens: {rc} {lines}")
    left = [n for n in os.listdir(D) if ".tmp" in n]
    check(not left, f"temporary files left: {left}")


def test_invalid_utf8_system_prompt():
    bad = b"be \xff helpful"
    r = subprocess.run([LLAMAC, "run", "-m", MODEL, "-n", "2", "-s", bad, "hello"], capture_output=True,
                       timeout=TIMEOUT)
    check(r.returncode != 0 and b"UTF-8" in r.stderr, f"-s invalid UTF-8: {r.returncode} {r.stderr!r}")
    sf = path("sys.txt")
    with open(sf, "wb") as fh:
        fh.write(bad)
    rc, _, err = chat(b"hi\n", "--system-file", sf)
    check(rc != 0 and "UTF-8" in err, f"--system-file invalid UTF-8: {rc} {err!r}")
    rc, _, err = chat(b"/system " + bad + b"\nhi\n")
    check(rc != 0 and "UTF-8" in err and "not changed" in err, f"/system invalid UTF-8: {rc} {err!r}")


def test_piped_chat_status():
    rc, _, err = chat(b"bad \xfe one\nbad \xfe two\n")
    check(rc != 0 and "every message failed" in err, f"every message failed: exit {rc}, {err!r}")
    rc, out, err = chat(b"bad \xfe one\nhi\n")
    check(rc == 0, f"one message answered: exit {rc}, {err!r}")
    rc, _, err = chat(b"")
    check(rc == 0, f"no input: exit {rc}, {err!r}")


def test_nested_tools_refused():
    n = 500  # 1000 levels: within jansson's parser limit, rendered with indents it would be ~2 MB of prompt
    deep = '{"type":"object","properties":{"x":' * n + '{"type":"string"}' + "}}" * n
    tf = path("deep-tools.json")
    with open(tf, "w") as fh:
        fh.write('[{"type":"function","function":{"name":"f","description":"d","parameters":' + deep + "}}]")
    tools = [{"type": "function", "function": {"name": "f", "description": "d", "parameters": {}}}]
    rc, _, err = chat(b"hi\n", "--tools", tf, timeout=30)
    check(rc != 0 and "nested more than" in err, f"deep tools: exit {rc}, {err!r}")
    # wide instead of deep: the rendered size is bounded too
    wide = {"type": "object", "properties": {f"p{i}": {"type": "string", "description": "y" * 100}
                                             for i in range(20000)}}
    tools[0]["function"]["parameters"] = wide
    with open(tf, "w") as fh:
        json.dump(tools, fh)
    rc, _, err = chat(b"hi\n", "--tools", tf, timeout=30)
    check(rc != 0 and "bytes of prompt text" in err, f"huge tools: exit {rc}, {err!r}")


def test_threads_clamped():
    r = run_llamac(["generate", "-m", MODEL, "-p", "In the beginning", "-n", "2", "-t", "1000", "--temp", "0"],
                   timeout=TIMEOUT, expect_ok=True)
    check("warning" in r.stderr and "-t 1000" in r.stderr, f"no clamp warning: {r.stderr!r}")
    base = run_llamac(["generate", "-m", MODEL, "-p", "In the beginning", "-n", "2", "-t", "1", "--temp", "0"],
                      timeout=TIMEOUT, expect_ok=True)
    check(r.stdout == base.stdout, "clamped run produced different tokens")


if __name__ == "__main__":
    main(globals())
