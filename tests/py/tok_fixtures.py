"""tok_fixtures.py — small vocabularies and models for the tokenizer tests (tests/py/test_tok_*.py).

A tiny GPT-2-style byte-level BPE vocabulary (the 256 byte tokens in bytes_to_unicode order, a few merges, and
special tokens named like Llama 3's) in the three source formats, plus a tiny llama model GGUF that embeds it.
"""
import base64
import json
import os
import subprocess
import sys

SOURCE = os.environ["LLAMAC_SOURCE"]
BUILD = os.environ["LLAMAC_BUILD"]
SHARED = os.environ["LLAMAC_SHARED"]
LLAMAC = os.environ["LLAMAC"]
sys.path.insert(0, os.path.join(SOURCE, "python"))
import gguf_writer as gw  # noqa: E402

LLAMA3_REGEX = ("(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|"
                "\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+")
SPECIALS = ["<|begin_of_text|>", "<|end_of_text|>", "<|start_header_id|>", "<|end_header_id|>", "<|eom_id|>",
            "<|eot_id|>"]
WORK = os.path.join(BUILD, "test-models", "tok")
os.makedirs(WORK, exist_ok=True)


def bytes_to_unicode():
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, map(chr, cs)))


B2U = bytes_to_unicode()
BYTE_ORDER = list(B2U.keys())  # id k <-> byte BYTE_ORDER[k] (Llama 3's order)


def mapped(b):
    return "".join(B2U[x] for x in b)


def tiny_vocab(merge_words=(b"he", b"ll", b"hell", b"hello", b" w", b" wo", b"or", b" wor", b"ld", b" world")):
    """Token byte strings in id order, merges as (left bytes, right bytes), specials from id len(tokens)."""
    tokens = [bytes([b]) for b in BYTE_ORDER]
    merges = []
    for w in merge_words:
        # split at the longest known prefix
        for k in range(len(w) - 1, 0, -1):
            if w[:k] in tokens and w[k:] in tokens:
                merges.append((w[:k], w[k:]))
                break
        else:
            raise ValueError(w)
        tokens.append(w)
    return tokens, merges


def hf_json(tokens, merges, specials=SPECIALS):
    n = len(tokens)
    return {
        "version": "1.0",
        "added_tokens": [{"id": n + i, "content": s, "single_word": False, "lstrip": False, "rstrip": False,
                          "normalized": False, "special": True} for i, s in enumerate(specials)],
        "normalizer": None,
        "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
            {"type": "Split", "pattern": {"Regex": LLAMA3_REGEX}, "behavior": "Isolated", "invert": False},
            {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": False}]},
        "post_processor": None,
        "decoder": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True},
        "model": {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": None,
                  "end_of_word_suffix": None, "fuse_unk": False, "byte_fallback": False, "ignore_merges": True,
                  "vocab": {mapped(t): i for i, t in enumerate(tokens)},
                  "merges": [mapped(a) + " " + mapped(b) for a, b in merges]},
    }


def tiktoken_text(tokens):
    return "".join(base64.b64encode(t).decode() + " " + str(i) + "\n" for i, t in enumerate(tokens))


def gguf_kv(tokens, merges, specials=SPECIALS, model="gpt2", pre="llama-bpe"):
    strs = [mapped(t) for t in tokens] + list(specials)
    kv = {"tokenizer.ggml.model": model, "tokenizer.ggml.tokens": strs,
          "tokenizer.ggml.token_type": [1] * len(tokens) + [3] * len(specials),
          "tokenizer.ggml.merges": [mapped(a) + " " + mapped(b) for a, b in merges]}
    if pre is not None:
        kv["tokenizer.ggml.pre"] = pre
    return kv


def write_gguf(path, kv, tensors=None):
    w = gw.GGUFWriter()
    w.add("general.architecture", "llama")
    for k, v in kv.items():
        if k == "tokenizer.ggml.token_type":
            w.add(k, v, gw.ARRAY, gw.INT32)
        elif isinstance(v, list) and v and isinstance(v[0], str):
            w.add(k, v, gw.ARRAY, gw.STRING)
        elif k.endswith("_token_id") or k.startswith("llama.") and isinstance(v, int):
            w.add(k, v, gw.UINT32)
        else:
            w.add(k, v)
    for name, arr in (tensors or {}).items():
        w.add_tensor(name, arr, "F32")
    w.write(path)
    return path


def write(path, data):
    with open(path, "wb" if isinstance(data, bytes) else "w") as f:
        f.write(data)
    return path


def llamac(*args, stdin=b"", timeout=120):
    return subprocess.run([LLAMAC, *args], input=stdin, capture_output=True, timeout=timeout)


def tokenize(vocab, data, *flags):
    r = llamac("tokenize", "--vocab", vocab, *flags, stdin=data if isinstance(data, bytes) else data.encode())
    assert r.returncode == 0, r.stderr.decode()
    return json.loads(r.stdout)


def detokenize(vocab, ids, *flags):
    r = llamac("detokenize", "--vocab", vocab, *flags, stdin=json.dumps(ids).encode())
    assert r.returncode == 0, r.stderr.decode()
    return r.stdout


def llama3_gguf():
    """The Llama 3 vocabulary converted from tokenizer.json into a metadata-only GGUF (built once)."""
    path = os.path.join(BUILD, "test-models", "llama3-vocab.gguf")
    if not os.path.exists(path):
        from tok_vocab import gguf_vocab_from_hf_json, write_vocab_gguf
        write_vocab_gguf(path, gguf_vocab_from_hf_json(os.path.join(SHARED, "data", "llama3_hf_tokenizer.json")))
    return path


class Checks:
    def __init__(self, name):
        self.name, self.ok, self.bad = name, 0, 0

    def check(self, cond, what):
        if cond:
            self.ok += 1
        else:
            self.bad += 1
            print("FAIL:", what)

    def done(self):
        print(f"{self.name}: {self.ok} passed, {self.bad} failed")
        sys.exit(1 if self.bad else 0)
