"""chain_model.py — tiny "Markov chain" models with the real Llama 3 vocabulary, for end-to-end chat tests.

The single layer's attention and FFN weights are zero, so the residual stream is the current token's embedding and
the greedy next token is a fixed function of the current token: output row `b` is the (normalised) embedding of
every token `a` with next[a] == b, scaled up, and all other output rows are zero. With random embeddings of
dimension 256 the intended successor wins by a wide margin. This lets a test script exactly what the model says
(for example a tool call) while every real code path runs: GGUF, tokenizer, chat format, prefill, sampling.

    path = chain_model_path("tool32", {271: [58, 456, ...], ...})
"""
import hashlib
import json
import os
import sys
import uuid

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import chat_models  # noqa: E402
import gguf_writer as gw  # noqa: E402

E, F, H, HKV = 256, 32, 4, 1


def build(variant, transitions, n_layer=1):
    base = chat_models.build(variant)  # vocabulary, template and metadata of a chat test model
    w = gw.GGUFWriter()
    for key, vtype, enc in base.kv:
        if key.startswith(("llama.block_count", "llama.embedding_length", "llama.feed_forward_length",
                           "llama.attention.head_count")):
            continue
        w.kv.append((key, vtype, enc))
    w.add("llama.block_count", n_layer, gw.UINT32)
    w.add("llama.embedding_length", E, gw.UINT32)
    w.add("llama.feed_forward_length", F, gw.UINT32)
    w.add("llama.attention.head_count", H, gw.UINT32)
    w.add("llama.attention.head_count_kv", HKV, gw.UINT32)
    rng = np.random.default_rng(11)
    emb = rng.standard_normal((128256, E)).astype(np.float32)
    out = np.zeros((128256, E), np.float32)
    for a, b in transitions.items():
        v = emb[a] / np.linalg.norm(emb[a])
        out[b] += 4.0 * v
    w.add_tensor("token_embd.weight", emb, "F16")
    w.add_tensor("output.weight", out, "F16")
    w.add_tensor("output_norm.weight", np.ones(E, np.float32), "F32")
    hd = E // H
    for layer in range(n_layer):
        for name, shape in (("attn_norm", (E,)), ("ffn_norm", (E,))):
            w.add_tensor(f"blk.{layer}.{name}.weight", np.ones(shape, np.float32), "F32")
        for name, shape in (("attn_q", (H * hd, E)), ("attn_k", (HKV * hd, E)), ("attn_v", (HKV * hd, E)),
                            ("attn_output", (E, H * hd)), ("ffn_gate", (F, E)), ("ffn_up", (F, E)),
                            ("ffn_down", (E, F))):
            w.add_tensor(f"blk.{layer}.{name}.weight", np.zeros(shape, np.float32), "F32")
    return w


def chain_model_path(variant, chain, n_layer=1):
    """chain: list of token ids; each token's successor is the next one (the last one maps to the first one
    listed after it in `chain`... i.e. pairs (chain[i], chain[i+1])). n_layer > 1 adds more (zero) layers: the
    output is the same, but every position costs n_layer times the attention work (a slow prefill, for tests
    that must catch a request in the middle of one)."""
    transitions = {chain[i]: chain[i + 1] for i in range(len(chain) - 1)}
    d = os.path.join(os.environ.get("LLAMAC_BUILD", os.path.join(chat_models.SOURCE, "build")), "test-models")
    os.makedirs(d, exist_ok=True)
    h = hashlib.sha256(json.dumps([variant, chain] + ([n_layer] if n_layer != 1 else [])).encode())
    for p in (os.path.abspath(__file__), os.path.abspath(chat_models.__file__)):
        with open(p, "rb") as f:
            h.update(f.read())
    path = os.path.join(d, f"chain-{variant}{'-L%d' % n_layer if n_layer != 1 else ''}-{h.hexdigest()[:12]}.gguf")
    if not os.path.exists(path):
        data = build(variant, transitions, n_layer).to_bytes()
        tmp = f"{path}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp"
        with open(tmp, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    return path
