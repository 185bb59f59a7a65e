"""chat_models.py — tiny GGUF files that carry the real Llama 3 vocabulary and a chat template, for the chat tests.

Each variant has the 128256-token vocabulary (tokenizer.ggml.* built from shared/data/llama3_hf_tokenizer.json,
with the 3.0 or 3.1+ special-token names from shared/data/special_tokens.json), a chat template (or none),
a general.name, and a minimal valid model (n_embd 8, one layer, tied embeddings; `shape=` for a bigger one) so the file
also loads as a model.

    path = chat_model_path("l31")      # $LLAMAC_BUILD/test-models/chat-l31-<hash>.gguf, generated if needed

Files are cached under a name that hashes the variant and the generator sources; they are written to a unique
temporary name and moved into place with os.replace, so concurrent tests (ctest -j) never see a partial file.
"""
import hashlib
import json
import os
import sys
import uuid

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE = os.environ.get("LLAMAC_SOURCE", os.path.abspath(os.path.join(HERE, "..", "..")))
SHARED = os.environ.get("LLAMAC_SHARED", os.path.abspath(os.path.join(SOURCE, "..", "shared")))
sys.path.insert(0, os.path.join(SOURCE, "python"))
import gguf_writer as gw  # noqa: E402

TEMPLATES = os.path.join(SHARED, "data", "templates")
CHATML = ("{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + "
          "'<|im_end|>' + '\\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}")


def _template(kind):
    if kind is None:
        return None
    if kind == "3.0":
        with open(os.path.join(SHARED, "data", "llama3_hf_tokenizer_config.json"), encoding="utf-8") as f:
            return json.load(f)["chat_template"]
    if kind == "chatml":
        return CHATML
    name = {"3.1": "meta-llama-Llama-3.3-70B-Instruct.jinja", "3.2": "meta-llama-Llama-3.2-3B-Instruct.jinja"}[kind]
    with open(os.path.join(TEMPLATES, name), encoding="utf-8") as f:
        return f.read()


# variant -> (special-token naming, template kind, general.name)
VARIANTS = {
    "l30": ("llama3_0", "3.0", "Meta-Llama-3-8B-Instruct"),
    "l31": ("llama3_1", "3.1", "Llama 3.1 8B Instruct"),
    "l33": ("llama3_1", "3.1", "Llama 3.3 70B Instruct"),
    "l32": ("llama3_1", "3.2", "Llama 3.2 1B Instruct"),
    "chatml": ("llama3_1", "chatml", "Llama 3.1 8B ChatML fine-tune"),
    "notemplate32": ("llama3_1", None, "Llama-3.2-3B"),
    "notemplate30": ("llama3_0", None, "some model"),
}


def _generator_hash(name, shape=None):
    h = hashlib.sha256(json.dumps([name, VARIANTS[name]] + ([shape] if shape else [])).encode())
    for p in (os.path.abspath(__file__), os.path.join(SOURCE, "python", "gguf_writer.py")):
        with open(p, "rb") as f:
            h.update(f.read())
    return h.hexdigest()[:12]


SMALL = dict(n_embd=8, n_ff=16, n_head=2, n_head_kv=1, n_layer=1)


def build(name, shape=None):
    """shape: {n_embd, n_ff, n_head, n_head_kv, n_layer} instead of SMALL (a bigger random model)."""
    sh = dict(SMALL, **(shape or {}))
    naming, tkind, gname = VARIANTS[name]
    with open(os.path.join(SHARED, "data", "llama3_hf_tokenizer.json"), encoding="utf-8") as f:
        hf = json.load(f)
    with open(os.path.join(SHARED, "data", "special_tokens.json"), encoding="utf-8") as f:
        specials = json.load(f)[naming]
    vocab = hf["model"]["vocab"]
    tokens = [None] * 128256
    for piece, i in vocab.items():
        tokens[i] = piece
    for i, piece in specials.items():
        tokens[int(i)] = piece
    assert all(t is not None for t in tokens)
    types = [1] * 128000 + [3] * 256
    E, F, H, HKV = sh["n_embd"], sh["n_ff"], sh["n_head"], sh["n_head_kv"]
    w = gw.GGUFWriter()
    w.add("general.architecture", "llama")
    w.add("general.name", gname)
    w.add("llama.block_count", sh["n_layer"], gw.UINT32)
    w.add("llama.context_length", 8192, gw.UINT32)
    w.add("llama.embedding_length", E, gw.UINT32)
    w.add("llama.feed_forward_length", F, gw.UINT32)
    w.add("llama.attention.head_count", H, gw.UINT32)
    w.add("llama.attention.head_count_kv", HKV, gw.UINT32)
    w.add("llama.rope.freq_base", 500000.0, gw.FLOAT32)
    w.add("llama.attention.layer_norm_rms_epsilon", 1e-5, gw.FLOAT32)
    w.add("llama.vocab_size", 128256, gw.UINT32)
    w.add("tokenizer.ggml.model", "gpt2")
    w.add("tokenizer.ggml.pre", "llama-bpe")
    w.add("tokenizer.ggml.tokens", tokens, gw.ARRAY, gw.STRING)
    w.add("tokenizer.ggml.token_type", types, gw.ARRAY, gw.INT32)
    w.add("tokenizer.ggml.merges", hf["model"]["merges"], gw.ARRAY, gw.STRING)
    w.add("tokenizer.ggml.bos_token_id", 128000, gw.UINT32)
    w.add("tokenizer.ggml.eos_token_id", 128009, gw.UINT32)
    w.add("tokenizer.ggml.add_bos_token", True, gw.BOOL)
    tmpl = _template(tkind)
    if tmpl is not None:
        w.add("tokenizer.chat_template", tmpl)
    rng = np.random.default_rng(7)
    w.add_tensor("token_embd.weight", (rng.standard_normal((128256, E)) * 0.5).astype(np.float32), "F16")
    w.add_tensor("output_norm.weight", np.ones(E, np.float32), "F32")
    hd = E // H
    scale = 0.3 * (8.0 / E) ** 0.5  # 0.3 for the small model; activations stay O(1) for wider ones
    for layer in range(sh["n_layer"]):
        for name_, shp in (("attn_norm", (E,)), ("ffn_norm", (E,))):
            w.add_tensor(f"blk.{layer}.{name_}.weight", np.ones(shp, np.float32), "F32")
        for name_, shp in (("attn_q", (H * hd, E)), ("attn_k", (HKV * hd, E)), ("attn_v", (HKV * hd, E)),
                           ("attn_output", (E, H * hd)), ("ffn_gate", (F, E)), ("ffn_up", (F, E)),
                           ("ffn_down", (E, F))):
            w.add_tensor(f"blk.{layer}.{name_}.weight", (rng.standard_normal(shp) * scale).astype(np.float32),
                         "F32")
    return w


def chat_model_path(name, shape=None):
    d = os.path.join(os.environ.get("LLAMAC_BUILD", os.path.join(SOURCE, "build")), "test-models")
    os.makedirs(d, exist_ok=True)
    path = os.path.join(d, f"chat-{name}{'-E%d' % shape['n_embd'] if shape else ''}-"
                           f"{_generator_hash(name, shape)}.gguf")
    if os.path.exists(path):
        return path
    data = build(name, shape).to_bytes()
    tmp = f"{path}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp"
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, path)
    return path


if __name__ == "__main__":
    for n in sys.argv[1:] or VARIANTS:
        print(chat_model_path(n))
