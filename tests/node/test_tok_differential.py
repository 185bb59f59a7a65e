"""test_tok_differential.py — llamac's tokenizer against an independent reference on more than 1 MB of text.

The reference is @lenml/tokenizers (a JS port of Hugging Face tokenizers; installed by tests/node/setup.sh)
running the Llama 3 tokenizer.json under node. The text comes from Debian files on the machine (licenses,
C headers, Python sources, translated messages of many languages from /usr/share/locale/*/*.mo) and from a
seeded generator (emoji and ZWJ sequences, combining marks, digit runs in several scripts, whitespace and
newline runs, CRLF, NBSP and ideographic spaces, contractions in every case, very long words, random code
points, special-token text). llamac encodes it with all three vocabulary sources (tokenizer.json,
tokenizer.model and a GGUF converted from tokenizer.json); every case must give the reference's ids.

Code points where the two regex engines legitimately disagree are replaced by '?' before the comparison and
counted: those whose class (\\p{L}, \\p{N}, \\s) differs between llamac's Unicode 14 tables and node's newer
ICU data, U+0085 and U+FEFF (JS \\s differs from the White_Space property Meta's regex uses), and U+017F
(the JS port spells the contractions ASCII-only; Unicode case folding, as in tiktoken and PCRE2, matches
'ſ to 's). See docs/TOKENIZER.md.
"""
import gettext
import glob
import json
import os
import random
import subprocess
import sys
import unicodedata

BUILD = os.environ["LLAMAC_BUILD"]
SOURCE = os.environ["LLAMAC_SOURCE"]
SHARED = os.environ["LLAMAC_SHARED"]
LLAMAC = os.environ["LLAMAC"]
NODE_DIR = os.path.join(BUILD, "tok-node")
TOK_JSON = os.path.join(SHARED, "data", "llama3_hf_tokenizer.json")
TOK_CFG = os.path.join(SHARED, "data", "llama3_hf_tokenizer_config.json")
TOK_MODEL = os.path.join(SHARED, "data", "llama3_tokenizer.model")
sys.path.insert(0, os.path.join(SOURCE, "python"))

WHITE_SPACE = {0x85, 0xA0, 0x1680, 0x2028, 0x2029, 0x202F, 0x205F, 0x3000} | set(range(0x09, 0x0E)) | {0x20} | set(
    range(0x2000, 0x200B))


def our_class(cp):
    if cp in WHITE_SPACE:
        return "S"
    c = unicodedata.category(chr(cp))[0]
    return c if c in "LN" else "O"


def excluded_code_points():
    js = subprocess.run(["node", os.path.join(SOURCE, "tests/node/ref_tokenize.mjs"), "classes"], cwd=NODE_DIR,
                        capture_output=True, text=True, check=True).stdout.strip()
    assert len(js) == 0x110000, len(js)
    bad = {cp for cp in range(0x110000) if js[cp] != "-" and js[cp] != our_class(cp)}
    bad.add(0x17F)
    return bad


def debian_text(rng):
    parts = []
    for f in sorted(glob.glob("/usr/share/common-licenses/*")):
        if os.path.isfile(f):
            parts.append(("licenses", open(f, encoding="utf-8", errors="replace").read()))
    headers = sorted(glob.glob("/usr/include/*.h"))
    rng.shuffle(headers)
    code = ""
    for f in headers:
        if len(code) > 250_000:
            break
        code += open(f, encoding="utf-8", errors="replace").read()
    parts.append(("C headers", code))
    py = sorted(glob.glob("/usr/lib/python3*/*.py"))
    rng.shuffle(py)
    src = ""
    for f in py:
        if len(src) > 150_000:
            break
        src += open(f, encoding="utf-8", errors="replace").read()
    parts.append(("Python sources", src))
    langs = ["ja", "zh_CN", "zh_TW", "ko", "ru", "uk", "bg", "ar", "he", "fa", "hi", "bn", "ta", "te", "th", "el",
             "vi", "tr", "pl", "cs", "de", "fr", "es", "pt_BR", "ka", "hy", "km", "my", "am", "si", "ml", "gu", "pa",
             "ug", "ne", "mr", "kk", "lo", "eo", "ga"]
    for lang in langs:
        text = ""
        for mo in sorted(glob.glob(f"/usr/share/locale/{lang}/LC_MESSAGES/*.mo")):
            try:
                cat = gettext.GNUTranslations(open(mo, "rb"))._catalog
            except Exception:
                continue
            for v in cat.values():
                if isinstance(v, str):
                    text += v + "\n"
            if len(text) > 25_000:
                break
        if text:
            parts.append((f"messages ({lang})", text[:25_000]))
    return parts


def generated_text(rng):
    emoji = ["😀", "👍🏽", "👩‍👩‍👧‍👦", "🏳️‍🌈", "🇫🇷", "🇯🇵", "1️⃣", "❤️", "🧑🏿‍🚀", "👨‍💻", "🫠", "🤌🏻", "✋🏾"]
    marks = ["\u0301", "\u0300", "\u0308", "\u0327", "\u030A", "\u0323", "\u093F", "\u094D", "\u0E31", "\u05B8"]
    spaces = [" ", "  ", "\t", "\n", "\r\n", "\n\n", "\u00A0", "\u3000", "\u2003", "\u2028", "\x0b", "\x0c", "\r",
              " \n ", "\t\t\n", "    ", "\u200B", "\u200D"]
    digits = "0123456789"
    other_digits = ["٠١٢٣٤٥٦٧٨٩", "०१२३४५६७८९", "０１２３４５６７８９", "½¾⅓", "ⅠⅡⅢⅣⅧ", "①②③④"]
    words = ["the", "The", "THE", "don't", "I'M", "we'Ve", "they'RE", "she'll", "He'D", "it'S", "'t", "café",
             "cafe\u0301", "naïve", "Việt", "straße", "Ελλάδα", "Москва", "مرحبا", "שלום", "नमस्ते", "ខ្មែរ",
             "東京", "你好", "안녕하세요", "こんにちは", "ไทย", "<|eot_id|>", "<|begin_of_text|>", "<|start_header_id|>",
             "<|end_header_id|>", "<|end_of_text|>", "<|eot_id", "<|", "|>", "'", "''", "'''", "x'", "'s'"]
    pieces = []
    for _ in range(30_000):
        r = rng.random()
        if r < 0.25:
            pieces.append(rng.choice(words))
        elif r < 0.35:
            pieces.append(rng.choice(spaces))
        elif r < 0.42:
            pieces.append("".join(rng.choice(digits) for _ in range(rng.randint(1, 40))))
        elif r < 0.45:
            pieces.append("".join(rng.choice(rng.choice(other_digits)) for _ in range(rng.randint(1, 9))))
        elif r < 0.53:
            pieces.append("".join(rng.choice(emoji) for _ in range(rng.randint(1, 5))))
        elif r < 0.58:
            base = rng.choice("aeiouAEIOUnc") + "".join(rng.choice(marks) for _ in range(rng.randint(1, 6)))
            pieces.append(base)
        elif r < 0.60:
            pieces.append("".join(rng.choice("abcdefghij") for _ in range(rng.randint(200, 3000))))
        elif r < 0.61:
            pieces.append("".join(rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")
                                  for _ in range(rng.randint(100, 2000))))
        elif r < 0.70:
            pieces.append("".join(rng.choice(".,;:!?()[]{}<>-_=+*&^%$#@~`|\\/\"'") for _ in range(rng.randint(1, 6))))
        elif r < 0.80:
            s = ""
            for _ in range(rng.randint(1, 8)):
                while True:
                    cp = rng.choice([rng.randint(0x20, 0x2FF), rng.randint(0x370, 0x1FFF), rng.randint(0x2000, 0x2BFF),
                                     rng.randint(0x3000, 0xD7FF), rng.randint(0xE000, 0xFFFD),
                                     rng.randint(0x10000, 0x1FBFF), rng.randint(0x20000, 0x10FFFF)])
                    if unicodedata.category(chr(cp)) not in ("Cs", "Cn"):
                        break
                s += chr(cp)
            pieces.append(s)
        else:
            pieces.append(" " + rng.choice(words))
    return [("generated", "".join(pieces))]


def make_cases(parts, excluded, rng):
    cases, replaced = [], 0
    for name, text in parts:
        clean = []
        for ch in text:
            cp = ord(ch)
            if cp in excluded or 0xD800 <= cp <= 0xDFFF:
                clean.append("?")
                replaced += 1
            else:
                clean.append(ch)
        text = "".join(clean)
        i = 0
        while i < len(text):
            n = rng.choice([1, 7, 50, 300, 2000, 8000, 20000])
            cases.append((name, text[i:i + n]))
            i += n
    return cases, replaced


def run_llamac(vocab, cases):
    data = "".join(json.dumps(c) + "\n" for _, c in cases).encode()
    r = subprocess.run([LLAMAC, "tokenize", "--vocab", vocab, "--special", "--jsonl"], input=data,
                       capture_output=True, check=False)
    assert r.returncode == 0, r.stderr.decode()
    return [json.loads(line) for line in r.stdout.decode().splitlines()]


def main():
    rng = random.Random(20240518)
    excluded = excluded_code_points()
    parts = debian_text(rng) + generated_text(rng)
    cases, replaced = make_cases(parts, excluded, rng)
    cases = [c for c in cases if c[1]]
    total = sum(len(c.encode("utf-8")) for _, c in cases)
    print(f"{len(cases)} cases, {total} bytes of UTF-8 from {len(parts)} sources; {len(excluded)} code points "
          f"excluded, {replaced} characters replaced")
    assert total >= 1_000_000, "the differential corpus must hold at least 1 MB"

    data = "".join(json.dumps(c) + "\n" for _, c in cases).encode()
    r = subprocess.run(["node", os.path.join(SOURCE, "tests/node/ref_tokenize.mjs"), "encode", TOK_JSON, TOK_CFG],
                       cwd=NODE_DIR, input=data, capture_output=True, check=False)
    assert r.returncode == 0, r.stderr.decode()[-2000:]
    want = [json.loads(line) for line in r.stdout.decode().splitlines()]
    assert len(want) == len(cases), (len(want), len(cases))

    from tok_vocab import gguf_vocab_from_hf_json, write_vocab_gguf
    gguf = os.path.join(BUILD, "test-models", "llama3-vocab.gguf")
    if not os.path.exists(gguf):
        os.makedirs(os.path.dirname(gguf), exist_ok=True)
        write_vocab_gguf(gguf, gguf_vocab_from_hf_json(TOK_JSON))

    failed = 0
    for label, vocab in (("tokenizer.json", TOK_JSON), ("tokenizer.model", TOK_MODEL), ("GGUF", gguf)):
        got = run_llamac(vocab, cases)
        assert len(got) == len(cases)
        bad = [i for i in range(len(cases)) if got[i] != want[i]]
        print(f"{label}: {len(cases) - len(bad)} identical, {len(bad)} different")
        for i in bad[:5]:
            g, w = got[i], want[i]
            k = next((j for j in range(min(len(g), len(w))) if g[j] != w[j]), min(len(g), len(w)))
            print(f"  case {i} ({cases[i][0]}): first difference at id {k}: ours {g[max(0, k - 3):k + 4]} "
                  f"reference {w[max(0, k - 3):k + 4]}\n    text: {cases[i][1][:200]!r}")
        failed += len(bad)
    print(f"{3 * len(cases) - failed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
