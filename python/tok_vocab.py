"""tok_vocab.py — tokenizer.json -> GGUF tokenizer.ggml.* metadata, for llamac's tokenizer tests and bench.

    from tok_vocab import gguf_vocab_from_hf_json, write_vocab_gguf
    kv = gguf_vocab_from_hf_json("tokenizer.json")   # dict key -> (value, vtype, elem_type)
    write_vocab_gguf("vocab.gguf", kv)               # a GGUF with only metadata (no tensors)

The layout follows llama.cpp's convert_hf_to_gguf for Llama 3 (restated, not copied): tokens in id order in
GPT-2 byte-level form, added tokens as plain text with token type 3 (control), merges as "A B" strings,
model "gpt2", pre "llama-bpe", BOS/EOS ids from the special-token names.
"""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gguf_writer as gw  # noqa: E402


def gguf_vocab_from_hf_json(path, eos_name="<|end_of_text|>"):
    with open(path, encoding="utf-8") as f:
        j = json.load(f)
    vocab = j["model"]["vocab"]
    added = {a["id"]: a["content"] for a in j.get("added_tokens", [])}
    n = max(list(vocab.values()) + list(added.keys())) + 1
    tokens = [None] * n
    types = [1] * n
    for tok, i in vocab.items():
        tokens[i] = tok
    for i, c in added.items():
        tokens[i] = c
        types[i] = 3
    assert all(t is not None for t in tokens), "gap in the vocabulary"
    merges = [m if isinstance(m, str) else " ".join(m) for m in j["model"]["merges"]]
    names = {c: i for i, c in added.items()}
    kv = {
        "tokenizer.ggml.model": ("gpt2", gw.STRING, None),
        "tokenizer.ggml.pre": ("llama-bpe", gw.STRING, None),
        "tokenizer.ggml.tokens": (tokens, gw.ARRAY, gw.STRING),
        "tokenizer.ggml.token_type": (types, gw.ARRAY, gw.INT32),
        "tokenizer.ggml.merges": (merges, gw.ARRAY, gw.STRING),
    }
    if "<|begin_of_text|>" in names:
        kv["tokenizer.ggml.bos_token_id"] = (names["<|begin_of_text|>"], gw.UINT32, None)
    if eos_name in names:
        kv["tokenizer.ggml.eos_token_id"] = (names[eos_name], gw.UINT32, None)
    return kv


def write_vocab_gguf(path, kv, extra=None):
    w = gw.GGUFWriter()
    w.add("general.architecture", "llama")
    for k, (v, t, et) in kv.items():
        w.add(k, v, t, et)
    for k, v in (extra or {}).items():
        w.add(k, v)
    w.write(path)


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: tok_vocab.py tokenizer.json out.gguf")
    write_vocab_gguf(sys.argv[2], gguf_vocab_from_hf_json(sys.argv[1]))
