"""test_tok_model.py — the tokenizer inside a model: llamac_model_load, `llamac generate -p`, stop tokens.

A tiny llama model whose GGUF carries a tiny vocabulary (tok_fixtures) is built so that greedy generation is a
fixed chain: all layer outputs are zero, so the last hidden state is the last token's embedding, a one-hot
vector; output row u has a 1 in column t for each chain step t -> u. From the prompt "A" the chain emits the two
bytes of "é" as separate byte tokens (a character split across tokens), then " ok", then <|eot_id|>, then "Z"
(which must never appear, since <|eot_id|> stops the generation).
Also: a vocabulary whose size differs from token_embd's rows, a SentencePiece vocabulary, and -p without one.
"""
import os

import numpy as np
from tok_fixtures import BYTE_ORDER, SPECIALS, WORK, Checks, gguf_kv, llamac, tiny_vocab, write_gguf

c = Checks("test_tok_model")
tokens, merges = tiny_vocab()
n_vocab = len(tokens) + len(SPECIALS)
n_embd, n_head, n_ff = n_vocab + (-n_vocab) % 4, 4, 8


def byte_id(b):
    return BYTE_ORDER.index(b)


EOT = len(tokens) + SPECIALS.index("<|eot_id|>")
BOS = len(tokens) + SPECIALS.index("<|begin_of_text|>")
chain = [byte_id(ord("A")), byte_id(0xC3), byte_id(0xA9), byte_id(ord(" ")), byte_id(ord("o")), byte_id(ord("k")),
         EOT, byte_id(ord("Z"))]


def model_tensors(vocab_rows):
    emb = np.zeros((vocab_rows, n_embd), np.float32)
    for t in range(vocab_rows):
        emb[t, t % n_embd] = 1.0
    out = np.zeros((vocab_rows, n_embd), np.float32)
    for t, u in zip(chain, chain[1:]):
        out[u, t] = 1.0
    t = {"token_embd.weight": emb, "output_norm.weight": np.ones(n_embd, np.float32), "output.weight": out,
         "blk.0.attn_norm.weight": np.ones(n_embd, np.float32), "blk.0.ffn_norm.weight": np.ones(n_embd, np.float32)}
    rng = np.random.default_rng(0)
    for name, shape in (("attn_q", (n_embd, n_embd)), ("attn_k", (n_embd, n_embd)), ("attn_v", (n_embd, n_embd)),
                        ("ffn_gate", (n_ff, n_embd)), ("ffn_up", (n_ff, n_embd))):
        t[f"blk.0.{name}.weight"] = rng.standard_normal(shape).astype(np.float32) * 0.1
    t["blk.0.attn_output.weight"] = np.zeros((n_embd, n_embd), np.float32)
    t["blk.0.ffn_down.weight"] = np.zeros((n_embd, n_ff), np.float32)
    return t


def write_model(name, kv, vocab_rows=n_vocab):
    hp = {"llama.embedding_length": n_embd, "llama.block_count": 1, "llama.feed_forward_length": n_ff,
          "llama.attention.head_count": n_head, "llama.attention.head_count_kv": n_head, "llama.context_length": 64,
          "llama.rope.freq_base": 500000.0, "llama.attention.layer_norm_rms_epsilon": 1e-5}
    hp.update(kv)
    return write_gguf(os.path.join(WORK, name), hp, model_tensors(vocab_rows))


good = write_model("chain.gguf", gguf_kv(tokens, merges))

r = llamac("generate", "-m", good, "-p", "A", "-n", "20", "--temp", "0")
c.check(r.returncode == 0, f"generate -p: {r.stderr!r}")
c.check(r.stdout == "é ok".encode(), f"generate -p prints the text up to <|eot_id|>: {r.stdout!r}")
r = llamac("generate", "-m", good, "-p", "A", "-n", "20", "--temp", "0", "--ids")
want_ids = " ".join(str(t) for t in chain[1:6]) + "\n"
c.check(r.returncode == 0 and r.stdout.decode() == want_ids, f"--ids prints ids and stops: {r.stdout!r}")
r = llamac("generate", "-m", good, "--tokens", f"{BOS},{chain[0]}", "-n", "3", "--temp", "0")
c.check(r.returncode == 0 and r.stdout == "é ".encode(), f"--tokens prints text: {r.stdout!r}")
r = llamac("generate", "-m", good, "--tokens", f"{BOS},{chain[0]}", "-n", "1", "--temp", "0")
c.check(r.returncode == 0 and r.stdout == b"\xc3", f"half a character is flushed at the end: {r.stdout!r}")
r = llamac("generate", "-m", good, "-p", "<|begin_of_text|>A", "--special", "-n", "20", "--temp", "0")
c.check(r.returncode == 0 and r.stdout == "é ok".encode(), f"--special prompt, BOS once: {r.stdout!r}")
r = llamac("tokenize", "-m", good, "--bos", stdin=b"hello world")
c.check(r.returncode == 0 and r.stdout.decode().strip() == f"[{BOS}, {tokens.index(b'hello')}, "
        f"{tokens.index(b' world')}]", f"tokenize -m model: {r.stdout!r}")

bad = write_model("chain-small-vocab.gguf", gguf_kv(tokens, merges, SPECIALS[:-1]))
r = llamac("generate", "-m", bad, "-p", "A", "-n", "2")
c.check(r.returncode == 1 and f"the vocabulary has {n_vocab - 1} tokens but token_embd.weight has {n_vocab} rows"
        in r.stderr.decode(), f"vocabulary size mismatch: {r.stderr!r}")
spm = write_model("chain-spm.gguf", gguf_kv(tokens, merges, model="llama"))
r = llamac("generate", "-m", spm, "--tokens", "1,2", "-n", "2")
c.check(r.returncode == 1 and "not a Llama 3 tokenizer" in r.stderr.decode(), f"SentencePiece vocab: {r.stderr!r}")
broken = write_model("chain-bad-merge.gguf", dict(gguf_kv(tokens, merges), **{"tokenizer.ggml.merges": ["q zzz"]}))
r = llamac("generate", "-m", broken, "--tokens", "1,2", "-n", "2")
c.check(r.returncode == 1 and "tokenizer.ggml.merges[0]" in r.stderr.decode(), f"invalid vocab: {r.stderr!r}")
novocab = write_model("chain-novocab.gguf", {})
r = llamac("generate", "-m", novocab, "-p", "A", "-n", "2")
c.check(r.returncode == 1 and "has no vocabulary" in r.stderr.decode(), f"-p without vocabulary: {r.stderr!r}")
r = llamac("generate", "-m", novocab, "--tokens", f"{chain[0]}", "-n", "3", "--temp", "0")
c.check(r.returncode == 0 and r.stdout.decode().split() == [str(t) for t in chain[1:4]],
        f"--tokens without vocabulary prints ids: {r.stdout!r}")
c.done()
