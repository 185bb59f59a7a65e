"""make_corpus.py — writes the seed corpora of the fuzz targets into tests/fuzz/corpus/<target>/ (small files, kept
in the repository; run again after changing it: /usr/bin/python3 tests/fuzz/make_corpus.py)."""
import json
import os
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "python"))
import gguf_writer as gw  # noqa: E402


def put(target, name, data):
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


# ---- GGUF: a small file with metadata of every kind, a vocabulary and two tensors ----
def small_gguf(with_vocab):
    w = gw.GGUFWriter()
    w.add("general.architecture", "llama")
    w.add("general.name", "Llama 3.1 fuzz seed")
    w.add("llama.block_count", 1, gw.GGUFWriter.UINT32)
    w.add("llama.rope.freq_base", 500000.0, gw.GGUFWriter.FLOAT32)
    w.add("general.alignment", 32, gw.GGUFWriter.UINT32)
    if with_vocab:
        toks = [bytes([b]).decode("latin-1") for b in b"abcdefgh "] + ["ab", "cd", "<|begin_of_text|>",
                                                                        "<|eot_id|>", "<|start_header_id|>"]
        w.add("tokenizer.ggml.model", "gpt2")
        w.add("tokenizer.ggml.pre", "llama-bpe")
        w.add("tokenizer.ggml.tokens", toks)
        w.add("tokenizer.ggml.token_type", [1] * 11 + [3, 3, 3], gw.GGUFWriter.ARRAY, gw.GGUFWriter.INT32)
        w.add("tokenizer.ggml.merges", ["a b", "c d"])
        w.add("tokenizer.ggml.bos_token_id", 11, gw.GGUFWriter.UINT32)
        w.add("tokenizer.chat_template", "{{ bos_token }}{% for m in messages %}<|start_header_id|>{% endfor %}")
    w.add_tensor("token_embd.weight", [[0.5] * 8] * 2)
    w.add_tensor("output_norm.weight", [1.0] * 8)
    return w.to_bytes()


put("fuzz_gguf", "vocab.gguf", small_gguf(True))
put("fuzz_gguf", "plain.gguf", small_gguf(False))
put("fuzz_gguf", "v2-header", b"GGUF" + struct.pack("<IQQ", 2, 0, 0))

# ---- tokenizer: mode byte + payload ----
for i, t in enumerate(["Hello, world!", "  leading spaces and\ttabs\n\nnewlines", "numbers 1234567 3.14",
                       "caf\u00e9 \u65e5\u672c\u8a9e \U0001f600", "<|begin_of_text|>special<|eot_id|>",
                       "don't I'll we're", "a" * 300]):
    put("fuzz_tokenizer", f"encode{i}", bytes([2 * (i % 4)]) + t.encode())
put("fuzz_tokenizer", "invalid-utf8", b"\x00bad \xff\xfe \xc3 end \xe2\x82")
put("fuzz_tokenizer", "decode", b"\x01" + b"".join(struct.pack("<I", x) for x in (0, 5, 17, 200, 3, 9, 11)))

# ---- vocabulary files: tokenizer.json (0) and tokenizer.model (1) ----
hf = {"model": {"type": "BPE", "vocab": {"a": 0, "b": 1, "ab": 2, "\u0120": 3}, "merges": ["a b"]},
      "added_tokens": [{"id": 4, "content": "<|begin_of_text|>", "special": True}],
      "pre_tokenizer": {"type": "Sequence", "pretokenizers": []}}
put("fuzz_vocab", "hf.json", b"\x00" + json.dumps(hf).encode())
put("fuzz_vocab", "hf-merge-pairs.json",
    b"\x00" + json.dumps(dict(hf, model=dict(hf["model"], merges=[["a", "b"]]))).encode())
put("fuzz_vocab", "tiktoken", b"\x01" + b"YQ== 0\nYg== 1\nYWI= 2\nIA== 3\n")

# ---- chat JSON: entry byte (0 load, 1 one message, 2 tools) + document ----
TOOLS = [{"type": "function", "function": {"name": "get_weather", "description": "Weather in a city",
                                           "parameters": {"type": "object", "properties": {
                                               "city": {"type": "string"}}, "required": ["city"]}}}]
conv = {"messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Weather in Paris?"},
                     {"role": "assistant", "tool_calls": [{"id": "c1", "type": "function", "function": {
                         "name": "get_weather", "arguments": "{\"city\": \"Paris\"}"}}]},
                     {"role": "tool", "tool_call_id": "c1", "content": {"temp": 20}},
                     {"role": "assistant", "content": "20 degrees."}],
        "tools": TOOLS, "builtin_tools": ["brave_search", "wolfram_alpha"]}
put("fuzz_chat_json", "conversation", b"\x00" + json.dumps(conv).encode())
put("fuzz_chat_json", "parts", b"\x00" + json.dumps({"messages": [{"role": "user", "content": [
    {"type": "text", "text": "a"}, {"type": "text", "text": "b"}]}]}).encode())
put("fuzz_chat_json", "message", b"\x01" + json.dumps({"role": "user", "content": "Hi"}).encode())
put("fuzz_chat_json", "tools", b"\x02" + json.dumps(TOOLS).encode())

# ---- chat render: options byte, first message byte, NUL-separated records (kind byte + text) ----
recs = [b"\x00You are helpful.", b"\x06" + json.dumps(TOOLS).encode(), b"\x07brave_search,wolfram_alpha",
        b"\x01What is the weather?", b"\x05" + json.dumps(conv["messages"][2]).encode(), b"\x03{\"temp\": 20}",
        b"\x0220 degrees.", b"\x01Thanks"]
for opt in (0x09, 0x0D, 0x0A, 0x1B, 0x08):
    put("fuzz_chat_render", f"conv-{opt:02x}", bytes([opt, 0]) + b"\x00".join(recs))

# ---- tool calls in model output ----
for i, t in enumerate([
        '<|python_tag|>{"name": "get_weather", "parameters": {"city": "Paris"}}<|eom_id|>',
        '{"type": "function", "name": "f", "arguments": {"a": [1, 2.5e-3, null, true]}}',
        '[{"name": "f", "parameters": {}}, {"name": "g", "parameters": {"x": "y"}}]',
        '<function=get_weather>{"city": "Paris"}</function>',
        "[get_weather(city='Paris', days=3), get_time(tz=\"UTC\", exact=True, n=None)]",
        "[f(a=1_000, b=-2.5e+10, c=[1, (2, 3)], d={'k': 'v'})]",
        '<|python_tag|>brave_search.call(query="weather in Paris")',
        "<|python_tag|>import math\nprint(math.pi)",
        "Just an ordinary answer, no call."]):
    put("fuzz_toolcall", f"call{i}", t.encode())

# ---- KV snapshot: a too-short file and the magic (the parser's own header checks do the rest) ----
put("fuzz_kv_snapshot", "short", b"LCKV")
print("corpus written to", os.path.join(HERE, "corpus"))
