"""test_tiny_model.py — the bundled toy model models/tiny-kjv.gguf (made by models/train_tiny.py; never retrained
here) against the engine:

  - its metadata is a consistent Llama 3 GGUF: 4096 tokens = 3840 byte-level BPE + 256 specials with the Llama 3.1
    names and ids n_bpe + k, control types, bos/eos/eot/eom/pad ids, tied embeddings, a 3.1-style chat template;
  - its merges reproduce its ranks (every token is built by merge-list BPE from its own bytes);
  - llamac's tokenizer gives the same ids as train_tiny.py's own tokenizer (the one the model was trained with)
    on KJV text, chat text and hostile strings, and llamac renders chat prompts exactly as the training data was;
  - llamac's logits equal the float64 reference forward pass (tests/py/ref_llama.py) on the file's weights;
  - greedy generation and a greedy chat answer are recognisable (KJV) English, and after a complete answer the
    model's most likely next token is <|eot_id|>;
  - the sampling options --logit-bias (a ban, a forced token) and --frequency-penalty act on `llamac generate`.

LLAMAC_TINY_MODEL may name another file made by the same script (e.g. a quick trial run).
"""
import json
import os
import random
import re
import subprocess
import sys

import numpy as np
from llamac_testlib import LLAMAC, SHARED, SOURCE, check, main, run_llamac, scratch_dir

sys.path.insert(0, os.path.join(SOURCE, "models"))
import train_tiny as tt  # noqa: E402  (importing trains nothing)
from gguf_reader import GGUFFile  # noqa: E402

MODEL = os.environ.get("LLAMAC_TINY_MODEL", os.path.join(SOURCE, "models", "tiny-kjv.gguf"))
DATE = "26 Jul 2024"

_cache = {}


def gguf():
    if "f" not in _cache:
        _cache["f"] = GGUFFile(MODEL)
    return _cache["f"]


def tokenizer():
    """train_tiny's Tokenizer rebuilt from the GGUF's token strings (token id == rank)."""
    if "tok" not in _cache:
        kv = gguf().kv
        u2b = {u: b for b, u in tt.bytes_to_unicode()[0].items()}
        types = kv["tokenizer.ggml.token_type"]
        n_bpe = types.index(3)
        bpe = [bytes(u2b[ch] for ch in s) for s in kv["tokenizer.ggml.tokens"][:n_bpe]]
        _cache["tok"] = tt.Tokenizer(bpe, kv["tokenizer.ggml.tokens"][n_bpe:])
    return _cache["tok"]


SAMPLE_TEXTS = [
    "In the beginning God created the heaven and the earth.",
    "And God said, Let there be light: and there was light.",
    "The LORD is my shepherd; I shall not want.",
    "Jesus wept.",
    "And the LORD said unto Moses, Stretch out thine hand over the sea.",
    "For God so loved the world, that he gave his only begotten Son, that whosoever believeth in him should not "
    "perish, but have everlasting life.",
    "Genesis 1\n\nIn the beginning God created the heaven and the earth.\nAnd the earth was without form, and void;",
    "What does John 3:16 say?", "Tell me about Moses.", "Continue: The LORD is my shepherd",
    "Cutting Knowledge Date: December 2023\nToday Date: 26 Jul 2024\n\n",
    "king's father's LORD's I'm don't 'S 'Ve 'lL",
    "hello   world\n\n\n  \t x\r\n y", "   leading", "trailing   ", "1234567890 12 3",
    "Ünïcödé: naïve café, Việt, Straße, Ελληνικά, русский, 你好，世界, 😀👍🏽, \u00a0\u200b\u3000end",
    "<|eot_id|> is plain text here", "", " ", "\n",
]


def hostile_texts(n=300, seed=5):
    rng = random.Random(seed)
    alphabet = list("aZe 1'\n\r\t.,!?-_:;\u00a0\u2003\u3000é٣½😀ſKsSdDlLvV\x0b\u0301\u200b\u0085ß中") + ["'s", "'LL"]
    return ["".join(rng.choice(alphabet) for _ in range(rng.randint(1, 20))) for _ in range(n)]


def llamac_jsonl(texts, extra=()):
    path = os.path.join(scratch_dir(), "in.jsonl")
    with open(path, "w", encoding="utf-8") as f:
        for t in texts:
            f.write(json.dumps(t) + "\n")
    with open(path, "rb") as f:
        data = f.read()
    r = subprocess.run([LLAMAC, "tokenize", "-m", MODEL, "--jsonl", *extra], input=data, capture_output=True,
                       timeout=120)
    check(r.returncode == 0, f"llamac tokenize --jsonl failed: {r.stderr.decode(errors='replace')[-500:]}")
    return [json.loads(line) for line in r.stdout.decode().splitlines()]


# ---------------------------------------------------------------------------------------------------------------
def test_model_loads_and_is_small():
    check(os.path.getsize(MODEL) < 20 * 1024 * 1024, "the bundled model should stay under 20 MB")
    r = run_llamac(["info", "-m", MODEL], expect_ok=True)
    check("embeddings tied" in r.stdout, "llamac info should report tied embeddings:\n" + r.stdout[-800:])
    check("n_vocab 4096" in r.stdout and "n_head_kv 2" in r.stdout, "unexpected hyperparameters:\n" + r.stdout[-800:])


def test_vocabulary_matches_metadata():
    f = gguf()
    kv = f.kv
    tokens, types = kv["tokenizer.ggml.tokens"], kv["tokenizer.ggml.token_type"]
    n_vocab = int(kv["llama.vocab_size"])
    check(len(tokens) == len(types) == n_vocab == f.tensor("token_embd.weight").shape[0],
          f"vocab sizes disagree: {len(tokens)} tokens, {len(types)} types, {n_vocab}, token_embd "
          f"{f.tensor('token_embd.weight').shape}")
    check(not f.has_tensor("output.weight"), "tied embeddings: there must be no output.weight")
    n_bpe = types.index(3)
    check(all(t == 1 for t in types[:n_bpe]) and all(t == 3 for t in types[n_bpe:]),
          "token types: normal BPE tokens first, then only control tokens")
    check(tokens[n_bpe:] == tt.special_names(n_vocab - n_bpe), "special tokens must carry the Llama 3.1 names")
    b2u, order = tt.bytes_to_unicode()
    check(tokens[:256] == [b2u[b] for b in order], "the first 256 tokens are the bytes in GPT-2 order")
    check(len(set(tokens)) == n_vocab, "token strings must be unique")
    ids = {name: n_bpe + k for k, name in enumerate(tokens[n_bpe:])}
    expect = {"tokenizer.ggml.bos_token_id": "<|begin_of_text|>", "tokenizer.ggml.eos_token_id": "<|eot_id|>",
              "tokenizer.ggml.eot_token_id": "<|eot_id|>", "tokenizer.ggml.eom_token_id": "<|eom_id|>",
              "tokenizer.ggml.padding_token_id": "<|finetune_right_pad_id|>"}
    for key, name in expect.items():
        check(kv[key] == ids[name], f"{key} = {kv[key]}, expected {name} = {ids[name]}")
    check(kv["tokenizer.ggml.model"] == "gpt2" and kv["tokenizer.ggml.pre"] == "llama-bpe", "tokenizer kind")
    check(kv["tokenizer.ggml.add_bos_token"] is True, "add_bos_token")
    tpl = kv["tokenizer.chat_template"]
    for s in ("<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>", "Cutting Knowledge Date", "Today Date",
              "Environment: ipython", "ipython", "<|eom_id|>", "<|python_tag|>"):
        check(s in tpl, f"the chat template lacks {s!r}")
    check(tpl == tt.CHAT_TEMPLATE, "the file's chat template differs from train_tiny.CHAT_TEMPLATE")


def test_merges_reproduce_ranks():
    tok = tokenizer()
    kv = gguf().kv
    merges = kv["tokenizer.ggml.merges"]
    strings = kv["tokenizer.ggml.tokens"]
    index = {s: i for i, s in enumerate(strings)}
    last = -1
    for m in merges:
        a, b = m.split(" ")
        check(a in index and b in index and a + b in index, f"merge {m!r} names unknown tokens")
        check(index[a + b] >= last, f"merge {m!r} is out of rank order")
        last = index[a + b]
    mbpe = tt.MergeListBPE(strings, merges)
    for i in range(256, tok.n_bpe):
        t = tok.tokens[i]
        check(tok._bpe(t, whole_piece=False) == [i], f"rank BPE does not rebuild token {i} {t!r} from its bytes")
        if _utf8(t):   # a piece is text; tokens that are not UTF-8 on their own are covered by the rank check
            check(mbpe.encode_piece(t.decode("utf-8")) == [i], f"the merges do not rebuild token {i} {t!r}")
    for text in SAMPLE_TEXTS + hostile_texts(100):
        for piece in tt.pre_tokenize(text):
            check(mbpe.encode_piece(piece) == tok.encode_ordinary(piece),
                  f"merge-list BPE and rank BPE differ on {piece!r}")


def _utf8(b):
    try:
        b.decode("utf-8")
        return True
    except UnicodeDecodeError:
        return False


def test_pretokenizer_matches_regex_module():
    try:
        import regex
    except ImportError:
        print("  (python3-regex not installed: pre-tokenizer cross-check skipped)")
        return
    pat = regex.compile(r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+"
                        r"[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")
    for text in SAMPLE_TEXTS + hostile_texts(2000, seed=9):
        check(tt.pre_tokenize(text) == pat.findall(text), f"pre-tokenizer differs from the regex on {text!r}")


def test_tokenizer_matches_llamac():
    tok = tokenizer()
    texts = SAMPLE_TEXTS + hostile_texts()
    inp = os.path.join(SHARED, "data", "ggml-vocab-llama-bpe.gguf.inp")
    if os.path.exists(inp):
        with open(inp, encoding="utf-8") as f:
            texts += f.read().split("\n__ggml_vocab_test__\n")[:-1]
    got = llamac_jsonl(texts)
    check(len(got) == len(texts), f"llamac returned {len(got)} lines for {len(texts)} texts")
    bad = [(t, g, tok.encode(t)) for t, g in zip(texts, got) if g != tok.encode(t)]
    check(not bad, f"{len(bad)} of {len(texts)} texts tokenize differently, e.g. {bad[:3]}")
    got = llamac_jsonl(SAMPLE_TEXTS[:3], ["--bos"])
    check(got == [tok.encode(t, bos=True) for t in SAMPLE_TEXTS[:3]], "--bos ids differ")
    for t in got:
        check(tok.decode(t[1:]) in SAMPLE_TEXTS, "decode does not round-trip")


def test_chat_prompt_matches_training_format():
    tok = tokenizer()
    convs = [
        [{"role": "user", "content": "Tell me about Moses."}],
        [{"role": "system", "content": "You are a helpful assistant."}, {"role": "user", "content": "Hello"},
         {"role": "assistant", "content": "Peace be unto you."}, {"role": "user", "content": "Who are you?"}],
    ]
    for msgs in convs:
        path = os.path.join(scratch_dir(), "chat.json")
        with open(path, "w") as f:
            json.dump({"messages": msgs}, f)
        r = run_llamac(["tokenize", "-m", MODEL, "--chat", path, "--date", DATE], expect_ok=True)
        got = json.loads(r.stdout)
        text = tt.render_chat(msgs, DATE, add_generation_prompt=True)
        want = tok.encode(text, allow_special=True)
        check(got == want, f"llamac's chat prompt differs from the training format:\n{got}\n{want}")
        ids, mask = tt.encode_chat(tok, msgs + [{"role": "assistant", "content": "x"}], DATE)
        check(ids[:len(want)] == want, "encode_chat (training) and render_chat disagree")
        try:
            import jinja2
        except ImportError:
            continue
        env = jinja2.Environment()
        rendered = env.from_string(gguf().kv["tokenizer.chat_template"]).render(
            messages=msgs, bos_token="<|begin_of_text|>", add_generation_prompt=True, date_string=DATE)
        check(rendered == text, f"the Jinja template renders differently:\n{rendered!r}\n{text!r}")


def test_logits_match_reference():
    from ref_llama import RefLlama
    tok = tokenizer()
    ids = tok.encode("And the LORD spake unto Moses, saying, Speak unto the children of Israel.", bos=True)
    out = os.path.join(scratch_dir(), "logits.bin")
    run_llamac(["logits", "-m", MODEL, "--tokens", ",".join(map(str, ids)), "-o", out, "-t", "2"], expect_ok=True)
    got = np.fromfile(out, "<f4").reshape(len(ids), -1)
    ref = RefLlama(MODEL).forward(ids).numpy()
    diff = float(np.abs(got - ref).max())
    check(diff < 2e-3 * max(1.0, float(np.abs(ref).max())), f"logits differ from the reference by {diff}")
    check((got.argmax(1) == ref.argmax(1)).all(), "greedy tokens differ from the reference")


COMMON = {"the", "and", "of", "lord", "unto", "shall", "he", "that", "god", "they", "his", "in", "to", "i", "will",
          "thee", "thou", "thy", "a", "is", "be", "for", "them", "said", "not", "with", "my", "him"}
KJV = {"LORD", "God", "Israel", "thee", "thou", "thy", "unto", "hath", "shalt", "saith", "ye", "thine", "Behold"}


def english_score(text):
    words = re.findall(r"[A-Za-z]+", text)
    return words, sum(w.lower() in COMMON for w in words), sum(w in KJV for w in words)


def test_greedy_generation_is_recognisable():
    r = run_llamac(["generate", "-m", MODEL, "-p", "And the LORD said unto Moses,", "-n", "40", "--temp", "0",
                    "-t", "2"], expect_ok=True)
    words, common, kjv = english_score(r.stdout)
    print(f"  generate: {r.stdout.strip()[:200]!r}")
    check(len(words) >= 15 and common >= len(words) // 3 and kjv >= 2, f"not recognisable KJV English: {r.stdout!r}")


def test_sampling_options():
    def greedy(*extra):
        r = run_llamac(["generate", "-m", MODEL, "-p", "And the LORD said unto Moses,", "-n", "16", "--temp", "0",
                        "--ids", "-t", "2", *extra], expect_ok=True)
        return [int(t) for t in r.stdout.split()]
    base = greedy()
    check(len(base) == 16, f"expected 16 ids, got {base}")
    first = base[0]
    banned = greedy("-l", f"{first}-inf")
    check(banned and first not in banned, f"token {first} banned with -l, yet generated: {banned}")
    forced = greedy("--logit-bias", f"{first + 1}+100")
    check(forced == [first + 1] * 16, f"a +100 bias should force token {first + 1}: {forced}")
    check(len(set(base)) < len(base), f"the greedy baseline has no repeats, the penalty test proves nothing: {base}")
    distinct = greedy("--frequency-penalty", "50", "--repeat-last-n", "64")
    check(len(set(distinct)) == len(distinct), f"a frequency penalty of 50 should stop repeats: {distinct}")


def test_model_ends_its_answers_with_eot():
    """After a complete assistant answer <|eot_id|> is the most likely next token; right after the assistant
    header it is not (the model answers before it stops)."""
    tok = tokenizer()
    for q, a in [("Tell me about Moses.", "And Moses went up unto God, and the LORD called unto him."),
                 ("Who are you?", "I am a very small language model bundled with llamac."),
                 ("What does John 11:35 say?", "Jesus wept.")]:
        msgs = [{"role": "user", "content": q}, {"role": "assistant", "content": a}]
        ids = tok.encode(tt.render_chat(msgs, DATE), allow_special=True)[:-1]      # without the final <|eot_id|>
        out = os.path.join(scratch_dir(), "eot.bin")
        run_llamac(["logits", "-m", MODEL, "--tokens", ",".join(map(str, ids)), "-o", out, "-t", "2"], expect_ok=True)
        lg = np.fromfile(out, "<f4").reshape(len(ids), -1)
        start = len(ids) - len(tok.encode(a)) - 1                                  # the "\n\n" after the header
        check(int(lg[-1].argmax()) == tok.eot, f"after {a!r} the model does not predict <|eot_id|> but "
              f"{tok.decode([int(lg[-1].argmax())])!r}")
        check(int(lg[start].argmax()) != tok.eot, f"the model would answer {q!r} with nothing")


def test_greedy_chat_answer():
    r = run_llamac(["run", "-m", MODEL, "Tell me about Moses.", "--temp", "0", "-n", "120", "--date", DATE,
                    "--json", "-t", "2"], expect_ok=True)
    ans = json.loads(r.stdout)
    content = ans["message"]["content"]
    print(f"  run: {content[:200]!r} ({ans['finish_reason']})")
    check(ans["finish_reason"] in ("stop", "length"), f"unexpected finish_reason {ans['finish_reason']}")
    words, common, kjv = english_score(content)
    check(len(words) >= 5 and common >= len(words) // 3 and kjv >= 1, f"not recognisable KJV English: {content!r}")


if __name__ == "__main__":
    main(globals())
