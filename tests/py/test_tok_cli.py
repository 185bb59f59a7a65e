"""test_tok_cli.py — `llamac tokenize` / `llamac detokenize` end to end, and the three vocabulary sources.

- The exact CLI forms (--vocab / -m, --bos, --special, --pieces, --jsonl; detokenize with its flags).
- tokenizer.json, tokenizer.model and a GGUF converted from tokenizer.json give identical ids on a mixed corpus
  (Debian license texts, C headers, multilingual and generated text), and on llama.cpp's 44 vectors for GGUF.
- encode -> decode gives the input bytes back, also for invalid UTF-8 and raw binary data.
"""
import glob
import json
import os
import random

from tok_fixtures import SHARED, Checks, detokenize, llama3_gguf, llamac, tokenize

c = Checks("test_tok_cli")
D = os.path.join(SHARED, "data")
MODEL, JSON = os.path.join(D, "llama3_tokenizer.model"), os.path.join(D, "llama3_hf_tokenizer.json")
GGUF = llama3_gguf()
SOURCES = [MODEL, JSON, GGUF]

# ---- CLI forms ----
for src in SOURCES:
    c.check(tokenize(src, "Hello world") == [9906, 1917], f"{src}: Hello world")
    c.check(tokenize(src, "This is a test sentence.", "--bos") == [128000, 2028, 374, 264, 1296, 11914, 13],
            f"{src}: Meta ids with --bos")
    c.check(tokenize(src, "<|eot_id|>", "--special") == [128009], f"{src}: --special")
    c.check(128009 not in tokenize(src, "<|eot_id|>"), f"{src}: special text must be plain without --special")
    c.check(tokenize(src, "") == [], f"{src}: empty input")
r = llamac("tokenize", "-m", GGUF, stdin=b"Hello")
c.check(r.returncode == 0 and json.loads(r.stdout) == [9906], "-m MODEL.gguf")
pieces = tokenize(MODEL, "😀 ok", "--pieces")
c.check([p["id"] for p in pieces] == tokenize(MODEL, "😀 ok"), "--pieces ids")
c.check(pieces[0].get("hex") == "f09f98" and pieces[0]["piece"] == "\ufffd", "--pieces: incomplete UTF-8 gets hex")
c.check("".join(p["piece"] for p in pieces[1:]) == "\ufffd ok" or pieces[-1]["piece"] == " ok", "--pieces text")
lines = "\n".join(json.dumps(s) for s in ["a", "", "I'm", "<|eot_id|>"]) + "\n"
r = llamac("tokenize", "--vocab", MODEL, "--jsonl", stdin=lines.encode())
c.check(r.returncode == 0 and [json.loads(x) for x in r.stdout.decode().splitlines()] ==
        [[64], [], [40, 2846], [27, 91, 68, 354, 851, 91, 29]], "--jsonl")
c.check(detokenize(MODEL, [128000, 2028, 374, 264, 1296, 11914, 13, 128001]) ==
        b"<|begin_of_text|>This is a test sentence.<|end_of_text|>", "detokenize (Meta decode example)")
c.check(detokenize(MODEL, [128000, 9906, 128009], "--skip-special") == b"Hello", "detokenize --skip-special")
c.check(detokenize(MODEL, [76460], "--replace-invalid") == "\ufffd".encode(), "detokenize --replace-invalid")
c.check(detokenize(MODEL, [76460]) == b"\xf0\x9f\x98", "detokenize raw bytes")
for bad, what in ((b"[1, 200000]", "outside"), (b"[1, \"x\"]", "not an integer"), (b"{}", "JSON array"),
                  (b"[1,", "JSON array")):
    r = llamac("detokenize", "--vocab", MODEL, stdin=bad)
    c.check(r.returncode == 1 and what in r.stderr.decode(), f"detokenize error for {bad!r}: {r.stderr!r}")
r = llamac("tokenize", stdin=b"x")
c.check(r.returncode == 1 and b"-m MODEL.gguf or --vocab" in r.stderr, "tokenize without a vocabulary")
r = llamac("tokenize", "--vocab", "/nonexistent/tokenizer.json", stdin=b"x")
c.check(r.returncode == 1 and b"cannot open" in r.stderr, "missing vocabulary file")
r = llamac("tokenize", "--help")
c.check(r.returncode == 0 and b"--special" in r.stdout, "tokenize --help")

# ---- llama.cpp vectors through the GGUF source ----
inp = open(os.path.join(D, "ggml-vocab-llama-bpe.gguf.inp"), encoding="utf-8").read().split("\n__ggml_vocab_test__\n")
out = open(os.path.join(D, "ggml-vocab-llama-bpe.gguf.out")).read().split("\n")
cases = inp[:-1]
want = [[int(x) for x in line.split()] for line in out[:len(cases)]]
r = llamac("tokenize", "-m", GGUF, "--jsonl", stdin="".join(json.dumps(s) + "\n" for s in cases).encode())
got = [json.loads(x) for x in r.stdout.decode().splitlines()]
c.check(len(cases) == 44 and got == want, f"llama.cpp vectors via GGUF ({sum(g == w for g, w in zip(got, want))}/44)")

# ---- three sources agree on a corpus ----
rng = random.Random(5)
corpus = []
for f in sorted(glob.glob("/usr/share/common-licenses/*"))[:8] + sorted(glob.glob("/usr/include/*.h"))[:40]:
    if os.path.isfile(f):
        t = open(f, encoding="utf-8", errors="replace").read()
        corpus += [t[i:i + 3000] for i in range(0, len(t), 3000)]
alphabet = "aZ09 '\t\n\r.,!?<|>_-éüß€ЖжΩ中文日本語한국어ไทย😀👩‍💻\u0301\u00a0\u3000½"
corpus += ["".join(rng.choice(alphabet) for _ in range(rng.randint(1, 400))) for _ in range(300)]
data = "".join(json.dumps(s) + "\n" for s in corpus).encode()
outs = []
for src in SOURCES:
    r = llamac("tokenize", "--vocab", src, "--jsonl", stdin=data)
    c.check(r.returncode == 0, f"{src}: corpus encode")
    outs.append(r.stdout)
c.check(outs[0] == outs[1] == outs[2], f"three sources agree on {len(corpus)} texts ({len(data)} bytes)")
ids_per_text = [json.loads(x) for x in outs[0].decode().splitlines()]
c.check(len(ids_per_text) == len(corpus), "one id array per text")

# ---- round trips, including invalid UTF-8 and binary data ----
blobs = [b"plain text", "naïve café 😀 中文\r\n\t end".encode(), b"\xff\xfe\x00abc\xc3", b"\xe0\x80\xed\xa0\x80x",
         bytes(range(256)) * 4, bytes(rng.getrandbits(8) for _ in range(20000)),
         "".join(corpus[:20]).encode()]
for i, blob in enumerate(blobs):
    for src in SOURCES:
        ids = tokenize(src, blob)
        c.check(detokenize(src, ids) == blob, f"round trip {i} via {os.path.basename(src)}")
    c.check(tokenize(MODEL, blob) == tokenize(JSON, blob) == tokenize(GGUF, blob), f"sources agree on blob {i}")
c.done()
