"""llamac_testlib.py — small shared helpers for the Python tests (no pytest on the test machine).

    from llamac_testlib import run_llamac, check, main
    def test_something(): check(cond, "message")
    if __name__ == "__main__": main(globals())

run_llamac runs the CLI under a timeout and fails the test if the process died from a signal, hung, or printed a
sanitizer report, so every call doubles as a crash check. main() runs every test_* function of the module (or the
ones named on the command line), prints one line per test and exits non-zero if any failed.
"""
import os
import subprocess
import sys
import tempfile
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE = os.environ.get("LLAMAC_SOURCE", os.path.abspath(os.path.join(HERE, "..", "..")))
BUILD = os.environ.get("LLAMAC_BUILD", os.path.join(SOURCE, "build"))
LLAMAC = os.environ.get("LLAMAC", os.path.join(BUILD, "llamac"))
SHARED = os.environ.get("LLAMAC_SHARED", os.path.abspath(os.path.join(SOURCE, "..", "shared")))
os.environ.setdefault("LLAMAC_BUILD", BUILD)
os.environ.setdefault("LLAMAC_SOURCE", SOURCE)
sys.path.insert(0, os.path.join(SOURCE, "python"))
sys.path.insert(0, HERE)

SANITIZER_MARKS = ("AddressSanitizer", "UndefinedBehaviorSanitizer", "runtime error:", "LeakSanitizer")


class TestFailure(AssertionError):
    pass


def check(cond, msg):
    if not cond:
        raise TestFailure(msg)


def run_llamac(args, timeout=120, expect_ok=None):
    """Runs `llamac ARGS`; returns the CompletedProcess (text output). Always fails the test on a signal, a hang
    or a sanitizer report; expect_ok=True/False also checks the exit status."""
    cmd = [LLAMAC] + [str(a) for a in args]
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, errors="replace", timeout=timeout)
    except subprocess.TimeoutExpired:
        raise TestFailure(f"hang: {' '.join(cmd)[:300]} did not finish in {timeout}s")
    short = " ".join(cmd)
    short = short if len(short) < 300 else short[:300] + "..."
    check(r.returncode >= 0, f"crash: {short} died from signal {-r.returncode}\nstderr: {r.stderr[-2000:]}")
    for mark in SANITIZER_MARKS:
        check(mark not in r.stderr, f"sanitizer report from {short}:\n{r.stderr[-4000:]}")
    if expect_ok is True:
        check(r.returncode == 0, f"{short} failed (exit {r.returncode}): {r.stderr[-2000:]}")
    elif expect_ok is False:
        check(r.returncode != 0, f"{short} unexpectedly succeeded")
    return r


def scratch_dir():
    """A per-process scratch directory inside the build tree (removed by the caller's cleanup if wanted)."""
    d = os.path.join(BUILD, "test-scratch")
    os.makedirs(d, exist_ok=True)
    return tempfile.mkdtemp(prefix=f"{os.path.basename(sys.argv[0]).replace('.py', '')}-", dir=d)


def main(namespace):
    names = sys.argv[1:] or [n for n in namespace if n.startswith("test_") and callable(namespace[n])]
    failed = []
    t_all = time.time()
    for n in names:
        t0 = time.time()
        try:
            namespace[n]()
            print(f"PASS {n} ({time.time() - t0:.1f}s)", flush=True)
        except Exception as ex:  # noqa: BLE001 — report every failure, run the rest
            failed.append(n)
            print(f"FAIL {n} ({time.time() - t0:.1f}s): {ex}", flush=True)
            if not isinstance(ex, TestFailure):
                traceback.print_exc()
    print(f"{len(names) - len(failed)}/{len(names)} passed in {time.time() - t_all:.1f}s", flush=True)
    if failed:
        print("failed: " + ", ".join(failed), flush=True)
        sys.exit(1)
