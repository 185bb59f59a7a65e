"""test_tok_vocab_errors.py — malformed or foreign vocabulary files get a clear error, never a crash or a stall.

A small valid vocabulary (256 byte tokens, 10 merges, 6 specials) is written in all three formats and loads;
then each format is broken in the ways that matter (duplicate tokens or ids, merges naming unknown tokens or
giving a non-token, missing byte tokens, gaps, wrong sizes, wrong pre-tokenizer or tokenizer model, truncation,
garbage). Every broken file must make `llamac tokenize` exit with status 1 and a message that names the problem.
"""
import copy
import json
import os

from tok_fixtures import (SPECIALS, WORK, Checks, gguf_kv, hf_json, llama3_gguf, llamac, mapped, tiktoken_text,
                          tiny_vocab, tokenize, write, write_gguf)

c = Checks("test_tok_vocab_errors")
tokens, merges = tiny_vocab()
J, T, G = os.path.join(WORK, "ok.json"), os.path.join(WORK, "ok.model"), os.path.join(WORK, "ok.gguf")
write(J, json.dumps(hf_json(tokens, merges)))
write(T, tiktoken_text(tokens))
write_gguf(G, gguf_kv(tokens, merges))
for path in (J, T, G):
    ids = tokenize(path, "hello world")
    c.check(ids == [tokens.index(b"hello"), tokens.index(b" world")], f"{path}: tiny vocabulary works ({ids})")
    eot = len(tokens) + (9 if path == T else SPECIALS.index("<|eot_id|>"))  # tokenizer.model: the Llama 3.1 set
    c.check(tokenize(path, "<|eot_id|>", "--special") == [eot], f"{path}: its specials")


def expect_error(path, fragment, what):
    r = llamac("tokenize", "--vocab", path, stdin=b"hello", timeout=60)
    err = r.stderr.decode(errors="replace")
    c.check(r.returncode == 1 and fragment in err, f"{what}: want exit 1 and '{fragment}', got {r.returncode}: {err!r}")


# ---- tokenizer.json ----
base = hf_json(tokens, merges)


def bad_json(name, mutate, fragment):
    j = copy.deepcopy(base)
    mutate(j)
    expect_error(write(os.path.join(WORK, f"bad-{name}.json"), json.dumps(j)), fragment, f"json {name}")


def dup_id(j):
    j["model"]["vocab"][mapped(b"zz")] = 5


def drop_byte(j):
    v = j["model"]["vocab"]
    i = v.pop(mapped(b"A"))
    v[mapped(b"AA")] = i


def gap(j):
    j["model"]["vocab"].pop(mapped(b"hello"))
    j["model"]["merges"] = [m for m in j["model"]["merges"] if m.replace(" ", "") != mapped(b"hello")]


bad_json("dup-id", dup_id, "given twice")
bad_json("unknown-merge", lambda j: j["model"]["merges"].append(mapped(b"q") + " " + mapped(b"zzz")), "is not a token")
bad_json("non-token-merge", lambda j: j["model"]["merges"].append(mapped(b"q") + " " + mapped(b"x")),
         "'q' + 'x' is not a token")
bad_json("dup-merge", lambda j: j["model"]["merges"].append(j["model"]["merges"][0]), "given twice")
bad_json("merge-form", lambda j: j["model"]["merges"].append("abc"), "not two tokens separated by one space")
bad_json("missing-byte", drop_byte, "no token for the byte 0x41")
bad_json("gap", gap, "has no token")
bad_json("gpt2-regex", lambda j: j["pre_tokenizer"]["pretokenizers"][0]["pattern"].update(
    Regex="'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+"),
    "not a Llama 3 tokenizer")
bad_json("bytelevel-only", lambda j: j.update(pre_tokenizer={"type": "ByteLevel", "add_prefix_space": False,
                                                              "use_regex": True}), "not a Llama 3 tokenizer")
bad_json("unigram", lambda j: j["model"].update(type="Unigram"), "not a Llama 3 tokenizer")
bad_json("byte-fallback", lambda j: j["model"].update(byte_fallback=True), "not a Llama 3 tokenizer")
bad_json("normalizer", lambda j: j.update(normalizer={"type": "NFC"}), "not a Llama 3 tokenizer")
bad_json("no-vocab", lambda j: j["model"].pop("vocab"), "model.vocab is missing")
bad_json("merges-type", lambda j: j["model"].update(merges={}), "model.merges is missing or not an array")
bad_json("bad-id", lambda j: j["model"]["vocab"].update({"x": -3}), "is not a token id")
bad_json("unmapped", lambda j: j["model"]["vocab"].update({"\u4e2d": len(tokens) + len(SPECIALS)}),
         "not in GPT-2 byte-level form")
bad_json("added-clash", lambda j: j["added_tokens"].append({"id": 5, "content": "<|x|>", "special": True}),
         "id 5 is both the added token '<|x|>' and the vocab entry")
good = json.dumps(base)
expect_error(write(os.path.join(WORK, "bad-truncated.json"), good[:len(good) // 2]), "tokenizer.json:",
             "truncated json")
expect_error(write(os.path.join(WORK, "bad-dupkey.json"),
                   good.replace('"version": "1.0"', '"version": "1.0", "version": "2"')), "duplicate", "duplicate key")
expect_error(write(os.path.join(WORK, "bad-array.json"), "[1, 2]"), "not a JSON object", "json array")

# ---- tokenizer.model ----
text = tiktoken_text(tokens)
lines = text.splitlines(keepends=True)


def bad_model(name, content, fragment):
    expect_error(write(os.path.join(WORK, f"bad-{name}.model"), content), fragment, f"model {name}")


bad_model("base64", "".join(lines[:5]) + "@@@ 5\n" + "".join(lines[6:]), "line 6 is not 'base64 rank'")
bad_model("no-rank", "".join(lines[:5]) + lines[5].split()[0] + "\n" + "".join(lines[6:]), "is not 'base64 rank'")
bad_model("dup-rank", "".join(lines[:5]) + lines[5].split()[0] + " 4\n" + "".join(lines[6:]), "given twice")
bad_model("dup-bytes", "".join(lines[:5]) + lines[4].split()[0] + " 5\n" + "".join(lines[6:]), "duplicate token")
bad_model("rank-range", "".join(lines[:5]) + lines[5].split()[0] + " 99999\n" + "".join(lines[6:]),
          "rank 99999 is not below")
bad_model("short", "".join(lines[:100]), "has 100 tokens")
bad_model("missing-byte", "".join(lines[:32]) + "QUE= 32\n" + "".join(lines[33:]), "no token for the byte 0x41")
bad_model("sentencepiece", b"\x0a\x0b\x0a\x05<unk>\x15\x00\x00\x00\x00\x18\x02" * 10, "SentencePiece")
bad_model("empty", b"", "empty")
bad_model("garbage", b"\x00\x01\x02 hello this is not a vocabulary", "not a GGUF file, a tokenizer.json or a tokenizer.model")

# ---- GGUF ----
kv = gguf_kv(tokens, merges)


def bad_gguf(name, changes, fragment, drop=()):
    k = dict(kv)
    k.update(changes)
    for d in drop:
        k.pop(d)
    expect_error(write_gguf(os.path.join(WORK, f"bad-{name}.gguf"), k), fragment, f"gguf {name}")


bad_gguf("spm", {"tokenizer.ggml.model": "llama"}, "not a Llama 3 tokenizer: tokenizer.ggml.model is 'llama'")
bad_gguf("pre", {"tokenizer.ggml.pre": "gpt-2"}, "not a Llama 3 tokenizer: tokenizer.ggml.pre is 'gpt-2'")
bad_gguf("no-model", {}, "has no tokenizer", drop=("tokenizer.ggml.model",))
bad_gguf("no-tokens", {}, "tokenizer.ggml.tokens is missing", drop=("tokenizer.ggml.tokens",))
bad_gguf("types-len", {"tokenizer.ggml.token_type": kv["tokenizer.ggml.token_type"][:-1]},
         "tokenizer.ggml.token_type has 271 entries but tokenizer.ggml.tokens has 272")
bad_gguf("type-value", {"tokenizer.ggml.token_type": [9] + kv["tokenizer.ggml.token_type"][1:]}, "is not a token type")
bad_gguf("dup-token", {"tokenizer.ggml.tokens": kv["tokenizer.ggml.tokens"][:260] + [mapped(b"he")] +
                       kv["tokenizer.ggml.tokens"][261:]}, "duplicate token")
bad_gguf("dup-special", {"tokenizer.ggml.tokens": kv["tokenizer.ggml.tokens"][:-1] + ["<|begin_of_text|>"]},
         "duplicate special token")
bad_gguf("merge-unknown", {"tokenizer.ggml.merges": kv["tokenizer.ggml.merges"] + ["q zzz"]}, "is not a token")
bad_gguf("merge-result", {"tokenizer.ggml.merges": kv["tokenizer.ggml.merges"] + ["q x"]}, "is not a token")
bad_gguf("bos-range", {"tokenizer.ggml.bos_token_id": 5000}, "bos_token_id = 5000 is not a token id")
bad_gguf("tokens-type", {"tokenizer.ggml.tokens": [1, 2, 3]}, "not an array of strings")
bad_gguf("no-pre-no-bos", {"tokenizer.ggml.tokens": kv["tokenizer.ggml.tokens"][:-6] + ["<|a|>", "<|b|>", "<|c|>",
                                                                                        "<|d|>", "<|e|>", "<|f|>"]},
         "tokenizer.ggml.pre is missing", drop=("tokenizer.ggml.pre",))
big = open(llama3_gguf(), "rb").read()
for frac in (0.1, 0.5, 0.99):
    expect_error(write(os.path.join(WORK, f"bad-cut{frac}.gguf"), big[:int(len(big) * frac)]), "",
                 f"GGUF cut at {frac}")
c.done()
