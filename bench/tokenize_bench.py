#!/usr/bin/python3
"""tokenize_bench.py — tokenizer encode throughput (MB/s, one thread) for English prose, code and CJK text,
llamac beside the JS reference (@lenml/tokenizers under node) on the same input, plus vocabulary load times.

    /usr/bin/python3 bench/tokenize_bench.py [BUILD_DIR] [--seconds S]

BUILD_DIR defaults to build/; it must hold bench/bench_tokenize (cmake --build BUILD_DIR). The texts are made
from Debian files on the machine (license texts and package copyright files; C headers and Python sources;
Chinese, Japanese and Korean message catalogs from /usr/share/locale) into BUILD_DIR/bench-tok/, about 1 MB
each. The reference is installed with tests/node/setup.sh into BUILD_DIR/tok-node. Both sides encode ~4 KB
chunks of the text repeatedly; both figures are bytes per CPU second of the process (robust on a shared
machine; node's JIT and GC threads count against it). Run it on a quiet machine all the same.
"""
import gettext
import glob
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.dirname(HERE)
args = [a for a in sys.argv[1:] if not a.startswith("--")]
BUILD = os.path.abspath(args[0] if args else os.path.join(SRC, "build"))
SECONDS = sys.argv[sys.argv.index("--seconds") + 1] if "--seconds" in sys.argv else "3"
SHARED = os.environ.get("LLAMAC_SHARED", os.path.join(os.path.dirname(SRC), "shared"))
D = os.path.join(SHARED, "data")
OUT = os.path.join(BUILD, "bench-tok")
SIZE = 1_000_000


def collect(files, reader=None):
    text = ""
    for f in files:
        if len(text.encode()) >= SIZE:
            break
        try:
            text += reader(f) if reader else open(f, encoding="utf-8").read() + "\n"
        except (UnicodeDecodeError, OSError, Exception):
            continue
    return text.encode()[:SIZE].decode("utf-8", "ignore")


def mo_text(path):
    cat = gettext.GNUTranslations(open(path, "rb"))._catalog
    return "\n".join(v for v in cat.values() if isinstance(v, str)) + "\n"


def corpora():
    os.makedirs(OUT, exist_ok=True)
    prose = collect(sorted(glob.glob("/usr/share/common-licenses/*")) + sorted(glob.glob("/usr/share/doc/*/copyright")))
    code = collect(sorted(glob.glob("/usr/include/*.h")) + sorted(glob.glob("/usr/lib/python3*/*.py")))
    cjk_files = []
    for lang in ("zh_CN", "ja", "ko", "zh_TW"):
        cjk_files += sorted(glob.glob(f"/usr/share/locale/{lang}/LC_MESSAGES/*.mo"))
    cjk = collect(cjk_files, mo_text)
    paths = {}
    for label, text in (("prose", prose), ("code", code), ("cjk", cjk)):
        p = os.path.join(OUT, f"{label}.txt")
        with open(p, "w", encoding="utf-8") as f:
            f.write(text)
        paths[label] = p
    return paths


def main():
    bench = os.path.join(BUILD, "bench", "bench_tokenize")
    if not os.access(bench, os.X_OK):
        sys.exit(f"tokenize_bench.py: no {bench} (build it first)")
    sys.path.insert(0, os.path.join(SRC, "python"))
    from tok_vocab import gguf_vocab_from_hf_json, write_vocab_gguf
    gguf = os.path.join(OUT, "llama3-vocab.gguf")
    os.makedirs(OUT, exist_ok=True)
    if not os.path.exists(gguf):
        write_vocab_gguf(gguf, gguf_vocab_from_hf_json(os.path.join(D, "llama3_hf_tokenizer.json")))
    texts = corpora()
    env = dict(os.environ, LLAMAC_BUILD=BUILD, LLAMAC_SOURCE=SRC)
    subprocess.run(["sh", os.path.join(SRC, "tests/node/setup.sh")], env=env, check=True, stdout=subprocess.DEVNULL)

    loads = {}
    for label, vocab in (("GGUF", gguf), ("tokenizer.json", os.path.join(D, "llama3_hf_tokenizer.json")),
                         ("tokenizer.model", os.path.join(D, "llama3_tokenizer.model"))):
        out = subprocess.run([bench, "--vocab", vocab, "--json", "--loads", "7"], capture_output=True, text=True,
                             check=True).stdout
        loads[label] = json.loads(out.splitlines()[0])
    ours = {}
    out = subprocess.run([bench, "--vocab", gguf, "--json", "--loads", "1", "--seconds", SECONDS] +
                         [f"{k}={v}" for k, v in texts.items()], capture_output=True, text=True, check=True).stdout
    for line in out.splitlines()[1:]:
        j = json.loads(line)
        ours[j["label"]] = j
    ref = {}
    for label, path in texts.items():
        out = subprocess.run(["node", os.path.join(SRC, "tests/node/ref_tokenize.mjs"), "bench",
                              os.path.join(D, "llama3_hf_tokenizer.json"),
                              os.path.join(D, "llama3_hf_tokenizer_config.json"), path, SECONDS],
                             cwd=os.path.join(BUILD, "tok-node"), capture_output=True, text=True, check=True).stdout
        ref[label] = json.loads(out)

    print("| text | bytes | tokens | llamac MB/s | JS reference MB/s | ratio |")
    print("|---|---|---|---|---|---|")
    for label in texts:
        o, r = ours[label], ref[label]
        print(f"| {label} | {o['bytes']} | {o['tokens']} | {o['mb_per_s']:.1f} | {r['mb_per_s']:.2f} | "
              f"{o['mb_per_s'] / r['mb_per_s']:.0f}x |")
    print()
    print("| vocabulary | load best (ms, wall) | median (ms, wall) | median CPU (ms) |")
    print("|---|---|---|---|")
    for label, j in loads.items():
        print(f"| {label} | {j['best_ms']:.1f} | {j['median_ms']:.1f} | {j['median_cpu_ms']:.1f} |")


if __name__ == "__main__":
    main()
