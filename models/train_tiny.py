#!/usr/bin/env python3
"""train_tiny.py — trains llamac's bundled toy model, models/tiny-kjv.gguf, from nothing but Debian packages.

Reproduce it (Debian 12; downloads nothing; 31 minutes = 1413 CPU-seconds on 2 cores shared with other jobs):

    apt-get install -y bible-kjv-text python3-torch libopenblas0-openmp
    LD_LIBRARY_PATH=/usr/lib/x86_64-linux-gnu/openblas-openmp nice -n 19 /usr/bin/python3 models/train_tiny.py

(The LD_LIBRARY_PATH only makes Debian's torch use OpenBLAS instead of the reference BLAS that the system
alternative may point to: ~7x faster, and it changes nothing system-wide. Without it the run is correct but slow.)

What it does, all seeded and deterministic for a given torch/BLAS build:
  1. Reads the King James Bible (public domain) with the `bible` reader of Debian's bible-kjv(-text) packages,
     strips the verse references and turns every chapter into a document "<Book> <chapter>\n\n<verse>\n<verse>...".
  2. Builds synthetic chat conversations from the verses (topic, continuation, reference and book questions,
     a few fixed self-descriptions), rendered exactly in the Llama 3.1 chat format.
  3. Trains a byte-level BPE vocabulary (tiktoken-style ranks: the 256 single bytes first, in GPT-2
     bytes_to_unicode order as Llama 3 has them, then 3584 learned merges) on text pre-split with the Llama 3
     pre-tokenizer regex, implemented here with unicodedata (no third-party regex module). 256 special tokens
     with the Llama 3.1 names follow the 3840 BPE tokens, in the same relative order as Llama 3.1.
  4. Trains a Llama 3 architecture model (GQA, adjacent-pair RoPE in Meta row order, RMSNorm eps 1e-5, SwiGLU,
     tied embeddings) first as a plain language model on the chapters, then on the chat conversations with the
     loss on the assistant tokens (which end in <|eot_id|>).
  5. Writes it as GGUF (arch "llama", tokenizer "gpt2"/"llama-bpe", our own Llama 3.1 style chat template) with
     python/gguf_writer.py, to a temporary file renamed into place.

The tokenizer and chat renderer below are importable (tests/py/test_tiny_model.py uses them); importing this file
does not train anything.
"""
import argparse
import math
import os
import random
import re
import subprocess
import sys
import time
import unicodedata

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
DEFAULT_OUT = os.path.join(HERE, "tiny-kjv.gguf")
COMMAND = ("LD_LIBRARY_PATH=/usr/lib/x86_64-linux-gnu/openblas-openmp "
           "nice -n 19 /usr/bin/python3 models/train_tiny.py")

# ---------------------------------------------------------------------------------------------------------------
# Hyperparameters (everything that shapes the result; the seed makes the run repeatable)
# ---------------------------------------------------------------------------------------------------------------
CFG = dict(
    seed=1611,
    n_merges=3584,          # BPE tokens = 256 bytes + merges = 3840
    n_special=256,          # like Llama 3: vocab = BPE + 256 specials = 4096
    n_embd=256,
    n_layer=4,
    n_head=8,
    n_head_kv=2,            # GQA: 4 query heads share each KV head
    n_ff=704,               # Llama's rule: 64 * ceil(int(2 * 4 * 256 / 3) / 64)
    n_ctx=512,              # llama.context_length; LM windows are n_ctx_lm, chat rows n_ctx
    n_ctx_lm=128,
    rope_theta=500000.0,    # Llama 3's value
    norm_eps=1e-5,
    batch=8,                # LM: 8 windows of 128 tokens per step
    lm_steps=1000,          # ~1.02M tokens, about one pass over the text
    chat_steps=150,
    chat_batch=2,           # chat: 2 rows of 512 tokens (+ chat_lm_rows LM windows) per step
    chat_lm_rows=1,
    lr=3e-3,
    lr_chat=1e-3,
    warmup=40,
    weight_decay=0.1,
    grad_clip=1.0,
    val_every=50,           # every 50th chapter is held out for the validation loss
    n_conversations=6000,
)

BOOKS = ["Genesis", "Exodus", "Leviticus", "Numbers", "Deuteronomy", "Joshua", "Judges", "Ruth", "1 Samuel",
         "2 Samuel", "1 Kings", "2 Kings", "1 Chronicles", "2 Chronicles", "Ezra", "Nehemiah", "Esther", "Job",
         "Psalms", "Proverbs", "Ecclesiastes", "Song of Solomon", "Isaiah", "Jeremiah", "Lamentations", "Ezekiel",
         "Daniel", "Hosea", "Joel", "Amos", "Obadiah", "Jonah", "Micah", "Nahum", "Habakkuk", "Zephaniah", "Haggai",
         "Zechariah", "Malachi", "Matthew", "Mark", "Luke", "John", "Acts", "Romans", "1 Corinthians",
         "2 Corinthians", "Galatians", "Ephesians", "Philippians", "Colossians", "1 Thessalonians",
         "2 Thessalonians", "1 Timothy", "2 Timothy", "Titus", "Philemon", "Hebrews", "James", "1 Peter", "2 Peter",
         "1 John", "2 John", "3 John", "Jude", "Revelation"]

# Llama 3.1 special token names in id order (offset k from the first special id); k >= 11 are reserved.
SPECIAL_NAMES_31 = ["<|begin_of_text|>", "<|end_of_text|>", "<|reserved_special_token_0|>",
                    "<|reserved_special_token_1|>", "<|finetune_right_pad_id|>", "<|reserved_special_token_2|>",
                    "<|start_header_id|>", "<|end_header_id|>", "<|eom_id|>", "<|eot_id|>", "<|python_tag|>"]


def special_names(n):
    names = list(SPECIAL_NAMES_31)
    while len(names) < n:
        names.append(f"<|reserved_special_token_{len(names) - 8}|>")   # 3.1 numbering: reserved_3 at offset 11
    return names[:n]


# ---------------------------------------------------------------------------------------------------------------
# Data: the KJV text from Debian's package
# ---------------------------------------------------------------------------------------------------------------
def read_kjv():
    """Returns [(book, chapter, verse, text)] for all 31102 verses, in canonical order.

    bible-kjv-text ships the text compressed (/usr/lib/bible.data); its reader `bible` (package bible-kjv, a
    dependency) prints it with -f as one "Ge1:1 In the beginning ..." line per verse."""
    try:
        out = subprocess.run(["bible", "-f", "Gen1:1-Rev22:21"], check=True, capture_output=True,
                             cwd="/").stdout.decode("ascii")
    except (OSError, subprocess.CalledProcessError) as e:
        sys.exit(f"train_tiny: cannot run the 'bible' reader ({e}); apt-get install -y bible-kjv-text")
    verses, abbrevs = [], []
    for line in out.splitlines():
        m = re.match(r"^([1-3]?[A-Za-z]+)(\d+):(\d+) (.*)$", line)
        if not m:
            raise ValueError(f"unexpected line from bible: {line[:60]!r}")
        ab, ch, vs, text = m.group(1), int(m.group(2)), int(m.group(3)), m.group(4)
        if not abbrevs or abbrevs[-1] != ab:
            abbrevs.append(ab)
        text = re.sub(r"\s+", " ", text).strip()      # two verses have double spaces
        verses.append((len(abbrevs) - 1, ch, vs, text))
    if len(abbrevs) != len(BOOKS) or len(verses) != 31102:
        raise ValueError(f"expected 66 books / 31102 verses, got {len(abbrevs)} / {len(verses)}")
    return [(BOOKS[b], ch, vs, t) for b, ch, vs, t in verses]


def chapters_of(verses):
    """[(book, chapter, [verse texts])] in order."""
    out = []
    for book, ch, _, text in verses:
        if not out or out[-1][0] != book or out[-1][1] != ch:
            out.append((book, ch, []))
        out[-1][2].append(text)
    return out


def chapter_document(book, ch, texts):
    return f"{book} {ch}\n\n" + "\n".join(texts)


# ---------------------------------------------------------------------------------------------------------------
# Pre-tokenizer: the Llama 3 pattern
#   (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
# as a hand-written leftmost-first matcher. \s = Unicode White_Space, \p{L}/\p{N} = general category L*/N*.
# ---------------------------------------------------------------------------------------------------------------
_WHITE_SPACE = frozenset(chr(c) for c in [*range(0x09, 0x0E), 0x20, 0x85, 0xA0, 0x1680, *range(0x2000, 0x200B),
                                          0x2028, 0x2029, 0x202F, 0x205F, 0x3000])
_CONTRACTIONS = ("s", "t", "re", "ve", "m", "ll", "d")
_cat_cache = {}


def _cat(c):
    k = _cat_cache.get(c)
    if k is None:
        k = "W" if c in _WHITE_SPACE else unicodedata.category(c)[0]
        _cat_cache[c] = k
    return k


def _fold_eq(c, t):
    """Case-insensitive single-character comparison (simple case folding, as the (?i:...) group does)."""
    return c == t or c.lower() == t or (t == "s" and c == "\u017f") or (t == "k" and c == "\u212a")


def _match_at(s, i):
    n = len(s)
    c = s[i]
    kc = _cat(c)
    if c == "'" and i + 1 < n:                                     # contractions
        for suf in _CONTRACTIONS:
            if i + 1 + len(suf) <= n and all(_fold_eq(s[i + 1 + k], suf[k]) for k in range(len(suf))):
                return i + 1 + len(suf)
    j = i + 1 if (c not in "\r\n" and kc not in "LN") else i     # [^\r\n\p{L}\p{N}]?\p{L}+
    if j < n and _cat(s[j]) == "L":
        while j < n and _cat(s[j]) == "L":
            j += 1
        return j
    if kc == "N":                                                 # \p{N}{1,3}
        j = i + 1
        while j < n and j < i + 3 and _cat(s[j]) == "N":
            j += 1
        return j
    j = i + 1 if c == " " else i                                  # ` ?[^\s\p{L}\p{N}]+[\r\n]*`
    k = j
    while k < n and _cat(s[k]) not in "WLN":
        k += 1
    if k > j:
        while k < n and s[k] in "\r\n":
            k += 1
        return k
    j = i                                                         # the whitespace alternatives
    last_nl = -1
    while j < n and _cat(s[j]) == "W":
        if s[j] in "\r\n":
            last_nl = j
        j += 1
    if last_nl >= 0:                                              # \s*[\r\n]+
        return last_nl + 1
    if j == n or j - 1 == i:                                      # \s+(?!\S) at the end, or a lone \s+
        return j
    return j - 1                                                  # \s+(?!\S): leave one for the next word


def pre_tokenize(s):
    out, i = [], 0
    while i < len(s):
        j = _match_at(s, i)
        out.append(s[i:j])
        i = j
    return out


# ---------------------------------------------------------------------------------------------------------------
# Byte-level BPE with tiktoken semantics (token id == rank)
# ---------------------------------------------------------------------------------------------------------------
def bytes_to_unicode():
    """GPT-2's reversible byte -> printable character map, in its order (printable bytes first)."""
    bs = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    cs = list(bs)
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, map(chr, cs))), bs          # map, and byte order (= ranks 0..255)


def train_bpe(piece_counts, n_merges, log=print):
    """Classic BPE on byte sequences: repeatedly merge the most frequent adjacent pair (ties: lowest pair of
    ranks). Returns the token byte strings in rank order."""
    import heapq
    _, order = bytes_to_unicode()
    rank_of_byte = {b: r for r, b in enumerate(order)}
    vocab = [bytes([b]) for b in order]
    words = []
    counts = []
    for piece, cnt in sorted(piece_counts.items()):
        words.append([rank_of_byte[b] for b in piece.encode("utf-8")])
        counts.append(cnt)
    pair_count = {}
    where = {}
    for wi, w in enumerate(words):
        for a, b in zip(w, w[1:]):
            pair_count[(a, b)] = pair_count.get((a, b), 0) + counts[wi]
            where.setdefault((a, b), set()).add(wi)
    heap = [(-c, p) for p, c in pair_count.items()]
    heapq.heapify(heap)
    t0 = time.time()
    for m in range(n_merges):
        while True:
            if not heap:
                raise ValueError("ran out of pairs to merge")
            negc, pair = heapq.heappop(heap)
            if pair_count.get(pair, 0) == -negc and negc < 0:
                break
        new = len(vocab)
        vocab.append(vocab[pair[0]] + vocab[pair[1]])
        touched = {}
        for wi in sorted(where.pop(pair, ())):
            w = words[wi]
            c = counts[wi]
            for a, b in zip(w, w[1:]):
                pair_count[(a, b)] -= c
                touched[(a, b)] = 1
                s = where.get((a, b))
                if s is not None:
                    s.discard(wi)
            out = []
            k = 0
            while k < len(w):
                if k + 1 < len(w) and w[k] == pair[0] and w[k + 1] == pair[1]:
                    out.append(new)
                    k += 2
                else:
                    out.append(w[k])
                    k += 1
            words[wi] = out
            for a, b in zip(out, out[1:]):
                pair_count[(a, b)] = pair_count.get((a, b), 0) + c
                touched[(a, b)] = 1
                where.setdefault((a, b), set()).add(wi)
        for p in touched:
            if pair_count.get(p, 0) > 0:
                heapq.heappush(heap, (-pair_count[p], p))
            else:
                pair_count.pop(p, None)
        if (m + 1) % 512 == 0:
            log(f"  bpe: {m + 1}/{n_merges} merges ({time.time() - t0:.0f} s), last {vocab[-1]!r}")
    return vocab


class Tokenizer:
    """tiktoken-style byte-level BPE: a regex piece that is itself a token is emitted whole; otherwise its bytes are
    merged pairwise, always the adjacent pair whose concatenation has the lowest rank. Special tokens are only
    recognised by encode(..., allow_special=True) (the chat renderer inserts them by id)."""

    def __init__(self, bpe_tokens, specials):
        self.tokens = list(bpe_tokens)                      # bytes, index = id = rank
        self.rank = {t: i for i, t in enumerate(self.tokens)}
        self.n_bpe = len(self.tokens)
        self.specials = list(specials)
        self.special_id = {s: self.n_bpe + k for k, s in enumerate(self.specials)}
        self.n_vocab = self.n_bpe + len(self.specials)
        self._cache = {}
        self._special_re = re.compile("|".join(re.escape(s) for s in self.specials))
        sid = self.special_id
        self.bos, self.eos, self.eot = sid["<|begin_of_text|>"], sid["<|end_of_text|>"], sid["<|eot_id|>"]
        self.eom, self.pad, self.python_tag = sid["<|eom_id|>"], sid["<|finetune_right_pad_id|>"], sid["<|python_tag|>"]
        self.sh, self.eh = sid["<|start_header_id|>"], sid["<|end_header_id|>"]

    def _bpe(self, b, whole_piece=True):
        r = self.rank.get(b) if whole_piece else None
        if r is not None:
            return [r]
        parts = [b[i:i + 1] for i in range(len(b))]
        while len(parts) > 1:
            best, best_i = None, -1
            for i in range(len(parts) - 1):
                r = self.rank.get(parts[i] + parts[i + 1])
                if r is not None and (best is None or r < best):
                    best, best_i = r, i
            if best is None:
                break
            parts[best_i:best_i + 2] = [parts[best_i] + parts[best_i + 1]]
        return [self.rank[p] for p in parts]

    def encode_ordinary(self, text):
        ids = []
        for piece in pre_tokenize(text):
            r = self._cache.get(piece)
            if r is None:
                r = self._bpe(piece.encode("utf-8"))
                if len(self._cache) < 500000:
                    self._cache[piece] = r
            ids.extend(r)
        return ids

    def encode(self, text, bos=False, allow_special=False):
        ids = [self.bos] if bos else []
        if not allow_special:
            return ids + self.encode_ordinary(text)
        pos = 0
        for m in self._special_re.finditer(text):
            ids += self.encode_ordinary(text[pos:m.start()])
            ids.append(self.special_id[m.group(0)])
            pos = m.end()
        return ids + self.encode_ordinary(text[pos:])

    def token_bytes(self, i):
        return self.tokens[i] if i < self.n_bpe else self.specials[i - self.n_bpe].encode()

    def decode(self, ids):
        return b"".join(self.token_bytes(i) for i in ids).decode("utf-8", errors="replace")

    def gguf_merges(self):
        """"A B" merges, ordered by the rank of A+B, listing every split of each token into two lower-ranked
        tokens, so that merge-list BPE (llama.cpp style: lowest merge index first) picks the same pairs as the
        rank-based algorithm above."""
        b2u, _ = bytes_to_unicode()
        enc = lambda t: "".join(b2u[x] for x in t)  # noqa: E731
        out = []
        for r in range(256, self.n_bpe):
            t = self.tokens[r]
            splits = [(self.rank[t[:k]], self.rank[t[k:]]) for k in range(1, len(t))
                      if t[:k] in self.rank and t[k:] in self.rank
                      and self.rank[t[:k]] < r and self.rank[t[k:]] < r]
            for a, b in sorted(splits):
                out.append(f"{enc(self.tokens[a])} {enc(self.tokens[b])}")
        return out

    def gguf_token_strings(self):
        b2u, _ = bytes_to_unicode()
        return ["".join(b2u[x] for x in t) for t in self.tokens] + list(self.specials)


class MergeListBPE:
    """llama.cpp-style BPE with a merges list, for checking the GGUF merges: in each piece the adjacent pair with the
    lowest merge index is merged first (leftmost on ties)."""

    def __init__(self, tok_strings, merges):
        self.b2u, _ = bytes_to_unicode()
        self.mrank = {}
        for i, m in enumerate(merges):
            a, b = m.split(" ")
            self.mrank.setdefault((a, b), i)
        self.index = {s: i for i, s in enumerate(tok_strings)}

    def encode_piece(self, piece):
        parts = [self.b2u[x] for x in piece.encode("utf-8")]
        while len(parts) > 1:
            best, best_i = None, -1
            for i in range(len(parts) - 1):
                r = self.mrank.get((parts[i], parts[i + 1]))
                if r is not None and (best is None or r < best):
                    best, best_i = r, i
            if best is None:
                break
            parts[best_i:best_i + 2] = [parts[best_i] + parts[best_i + 1]]
        return [self.index[p] for p in parts]


# ---------------------------------------------------------------------------------------------------------------
# Chat format (Llama 3.1) and our own chat template
# ---------------------------------------------------------------------------------------------------------------
KNOWLEDGE_DATE = "December 2023"     # the Llama 3.1 convention; the text itself is the 1769 Oxford KJV

# Our own Jinja template in the Llama 3.1 layout. Variables: messages, add_generation_prompt, bos_token, and the
# optional tools, date_string, knowledge_date. A system block with the two date lines is always emitted (as 3.1
# does); "Environment: ipython" is added when tools are given; tool results use the ipython role; assistant tool
# calls are written after <|python_tag|> and end with <|eom_id|>.
CHAT_TEMPLATE = (
    "{{- bos_token }}"
    "{%- if date_string is not defined %}{%- set date_string = '26 Jul 2024' %}{%- endif %}"
    "{%- if knowledge_date is not defined %}{%- set knowledge_date = '" + KNOWLEDGE_DATE + "' %}{%- endif %}"
    "{%- if messages | length > 0 and messages[0]['role'] == 'system' %}"
    "{%- set system_text = messages[0]['content'] | trim %}{%- set turns = messages[1:] %}"
    "{%- else %}{%- set system_text = '' %}{%- set turns = messages %}{%- endif %}"
    "{{- '<|start_header_id|>system<|end_header_id|>\\n\\n' }}"
    "{%- if tools is defined and tools %}{{- 'Environment: ipython\\n' }}{%- endif %}"
    "{{- 'Cutting Knowledge Date: ' + knowledge_date + '\\n' }}"
    "{{- 'Today Date: ' + date_string + '\\n\\n' }}"
    "{%- if tools is defined and tools %}"
    "{{- 'You may call these functions; answer a call with <|python_tag|> and the call as JSON.\\n' }}"
    "{%- for t in tools %}{{- t | tojson }}{{- '\\n' }}{%- endfor %}{{- '\\n' }}"
    "{%- endif %}"
    "{{- system_text + '<|eot_id|>' }}"
    "{%- for m in turns %}"
    "{%- if m['role'] == 'tool' or m['role'] == 'ipython' %}{%- set role = 'ipython' %}"
    "{%- else %}{%- set role = m['role'] %}{%- endif %}"
    "{{- '<|start_header_id|>' + role + '<|end_header_id|>\\n\\n' }}"
    "{%- if m['role'] == 'assistant' and m['tool_calls'] is defined and m['tool_calls'] %}"
    "{%- if m['content'] %}{{- m['content'] | trim }}{%- endif %}"
    "{%- for c in m['tool_calls'] %}{%- set f = c['function'] if c['function'] is defined else c %}"
    "{{- '<|python_tag|>{\"name\": \"' + f['name'] + '\", \"parameters\": ' }}"
    "{{- f['arguments'] | tojson }}{{- '}' }}{%- endfor %}"
    "{{- '<|eom_id|>' }}"
    "{%- else %}"
    "{%- if m['content'] is string %}{{- m['content'] | trim }}{%- else %}{{- m['content'] | tojson }}{%- endif %}"
    "{{- '<|eot_id|>' }}"
    "{%- endif %}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}{%- endif %}"
)


def render_chat(messages, date_string="26 Jul 2024", add_generation_prompt=False, tools=None):
    """The string CHAT_TEMPLATE renders for plain messages (no tool calls); the training data uses this."""
    if messages and messages[0]["role"] == "system":
        system_text, turns = messages[0]["content"].strip(), messages[1:]
    else:
        system_text, turns = "", messages
    s = "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\n"
    if tools:
        raise NotImplementedError("render_chat: tools are only rendered by the Jinja template")
    s += f"Cutting Knowledge Date: {KNOWLEDGE_DATE}\nToday Date: {date_string}\n\n{system_text}<|eot_id|>"
    for m in turns:
        role = "ipython" if m["role"] in ("tool", "ipython") else m["role"]
        s += f"<|start_header_id|>{role}<|end_header_id|>\n\n{m['content'].strip()}<|eot_id|>"
    if add_generation_prompt:
        s += "<|start_header_id|>assistant<|end_header_id|>\n\n"
    return s


def encode_chat(tok, messages, date_string, with_system_block=True):
    """Token ids and a loss mask (1 on assistant content and its <|eot_id|>) for a conversation. Without the system
    block the rendering is the Llama 3.0 one (BOS, then the turns), which llamac may also produce."""
    ids, mask = [tok.bos], [0]

    def add(t, m):
        ids.extend(t)
        mask.extend([m] * len(t))

    if messages and messages[0]["role"] == "system":
        system_text, turns = messages[0]["content"].strip(), messages[1:]
    else:
        system_text, turns = "", messages
    if with_system_block:
        body = f"Cutting Knowledge Date: {KNOWLEDGE_DATE}\nToday Date: {date_string}\n\n{system_text}"
        add([tok.sh] + tok.encode_ordinary("system") + [tok.eh] + tok.encode_ordinary("\n\n" + body) + [tok.eot], 0)
    elif system_text:
        add([tok.sh] + tok.encode_ordinary("system") + [tok.eh] + tok.encode_ordinary("\n\n" + system_text)
            + [tok.eot], 0)
    for m in turns:
        add([tok.sh] + tok.encode_ordinary(m["role"]) + [tok.eh] + tok.encode_ordinary("\n\n"), 0)
        is_asst = 1 if m["role"] == "assistant" else 0
        add(tok.encode_ordinary(m["content"].strip()) + [tok.eot], is_asst)
    return ids, mask


# ---------------------------------------------------------------------------------------------------------------
# Synthetic conversations from the verses
# ---------------------------------------------------------------------------------------------------------------
_STOP = set("""a about above after again against all am an and any are as at be because been before being below
between both but by can did do does doing down during each few for from further had has have having he her here
hers herself him himself his how i if in into is it its itself just me more most my myself no nor not now of off on
once only or other our ours ourselves out over own same she should so some such than that the their theirs them
themselves then there these they this those through to too under until up very was we were what when where which
while who whom why will with you your yours yourself yourselves unto thee thou thy thine ye hath shall upon also
said saith say came come went go let lest neither even every many much thus yea nay therefore wherefore whom hast
art doth didst wilt shalt one two three""".split())

IDENTITY_QA = [
    (["Who are you?", "What are you?", "Tell me about yourself.", "What is your name?"],
     ["I am a very small language model bundled with llamac. I was trained on the King James Bible and little else, "
      "so I answer in its words.",
      "I am llamac's tiny demonstration model. All I have read is the King James Bible."]),
    (["Hello", "Hello!", "Hi", "Hi there", "Good morning"],
     ["Hello. Ask me about a word, a book or a verse of the King James Bible.",
      "Peace be unto you. Ask me about a verse of the King James Bible."]),
    (["What can you do?", "How can you help me?", "Help"],
     ["I can quote and continue verses of the King James Bible, but I often get them wrong: I am a toy model.",
      "Give me a word and I will find you a verse about it. Do not trust my quotations: I am only a toy."]),
    (["Thank you", "Thanks!", "Thank you very much."],
     ["You are welcome.", "The LORD bless thee, and keep thee."]),
]

SYSTEM_TEXTS = ["You are a helpful assistant.", "You are a helpful assistant", "Answer briefly.",
                "You answer in the words of the King James Bible.", "You are a tiny model. Keep answers short.",
                "You are a helpful, respectful and honest assistant."]

MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
MONTHS_LONG = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
               "November", "December"]


def random_date(rng):
    y, mo, d = rng.randint(2024, 2027), rng.randint(0, 11), rng.randint(1, 28)
    name = MONTHS[mo] if rng.random() < 0.7 else MONTHS_LONG[mo]
    return f"{d:02d} {name} {y}" if rng.random() < 0.8 else f"{d} {name} {y}"


def build_conversations(verses, n, rng):
    """n conversations (lists of messages) plus a date string and whether the system block is rendered."""
    by_book = {}
    word_index = {}
    for vi, (book, ch, vs, text) in enumerate(verses):
        by_book.setdefault(book, []).append(vi)
        for w in set(re.findall(r"[A-Za-z]+", text)):
            if len(w) >= 4 and w.lower() not in _STOP:
                word_index.setdefault(w, []).append(vi)
    topics = sorted(w for w, vis in word_index.items() if 8 <= len(vis) <= 3000)
    chapter_first = {}
    for vi, (book, ch, vs, text) in enumerate(verses):
        chapter_first.setdefault((book, ch), vi)

    def ref(vi):
        b, c, v, _ = verses[vi]
        return f"{b} {c}:{v}"

    def qa():
        r = rng.random()
        if r < 0.30:
            w = rng.choice(topics)
            vi = rng.choice(word_index[w])
            wl = w if w.isupper() or w[0].isupper() and w[1:].islower() and w.lower() not in _STOP else w.lower()
            q = rng.choice([f"Tell me about {wl}.", f"What does the Bible say about {wl}?",
                            f"Give me a verse about {wl}.", f"{wl}?", f"Say something about {wl}.",
                            f"What do you know about {wl}?", f"Find a verse with the word {w}."])
            a = verses[vi][3]
            if rng.random() < 0.3 and vi + 1 < len(verses) and verses[vi + 1][0] == verses[vi][0]:
                a += " " + verses[vi + 1][3]
            return q, a
        if r < 0.55:
            vi = rng.randrange(len(verses))
            words = verses[vi][3].split(" ")
            if len(words) < 6:
                return qa()
            k = rng.randint(2, min(8, len(words) - 3))
            prefix = " ".join(words[:k])
            if rng.random() < 0.5:
                return rng.choice([f"Continue: {prefix}", f"Continue this: {prefix}",
                                   f"What comes next? {prefix}"]), " ".join(words[k:])
            return rng.choice([f"Finish this verse: {prefix}", f"Complete the verse: {prefix}",
                               f"Complete: {prefix}"]), verses[vi][3]
        if r < 0.72:
            vi = rng.randrange(len(verses))
            q = rng.choice([f"What does {ref(vi)} say?", f"Quote {ref(vi)}.", f"Read {ref(vi)}.",
                            f"{ref(vi)}"])
            return q, (f"{ref(vi)} says: " if rng.random() < 0.5 else "") + verses[vi][3]
        if r < 0.86:
            book = rng.choice(BOOKS)
            vi = rng.choice(by_book[book])
            q = rng.choice([f"Quote a verse from {book}.", f"Read me something from {book}.",
                            f"Give me a verse from the book of {book}.", f"What is in {book}?"])
            return q, verses[vi][3]
        if r < 0.94:
            (book, ch), vi = rng.choice(sorted(chapter_first.items()))
            q = rng.choice([f"How does {book} {ch} begin?", f"What is the first verse of {book} {ch}?",
                            f"Read {book} chapter {ch}."])
            a = verses[vi][3]
            if rng.random() < 0.5 and vi + 1 < len(verses) and verses[vi + 1][1] == ch:
                a += " " + verses[vi + 1][3]
            return q, a
        qs, ans = rng.choice(IDENTITY_QA)
        return rng.choice(qs), rng.choice(ans)

    convs = []
    for _ in range(n):
        msgs = []
        r = rng.random()
        if r < 0.25:
            msgs.append({"role": "system", "content": rng.choice(SYSTEM_TEXTS)})
        for _ in range(rng.choice([1, 1, 1, 2, 2, 3])):
            q, a = qa()
            if rng.random() < 0.15:
                q = q.lower()
            msgs.append({"role": "user", "content": q})
            msgs.append({"role": "assistant", "content": a})
        with_system_block = rng.random() < 0.8
        convs.append((msgs, random_date(rng), with_system_block))
    return convs


# ---------------------------------------------------------------------------------------------------------------
# The model (Meta's layout: q/k rows in interleaved order, RoPE on adjacent pairs)
# ---------------------------------------------------------------------------------------------------------------
def build_model(cfg, n_vocab):
    import torch
    import torch.nn as nn
    import torch.nn.functional as F

    d, nh, nkv = cfg["n_embd"], cfg["n_head"], cfg["n_head_kv"]
    hd = d // nh

    class RMSNorm(nn.Module):
        def __init__(self):
            super().__init__()
            self.weight = nn.Parameter(torch.ones(d))

        def forward(self, x):
            return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + cfg["norm_eps"]) * self.weight

    def rope(x, cos, sin):                      # x [B, H, T, hd]; pairs (2i, 2i+1)
        x0, x1 = x[..., 0::2], x[..., 1::2]
        out = torch.stack([x0 * cos - x1 * sin, x0 * sin + x1 * cos], dim=-1)
        return out.flatten(-2)

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.attn_norm = RMSNorm()
            self.wq = nn.Linear(d, nh * hd, bias=False)
            self.wk = nn.Linear(d, nkv * hd, bias=False)
            self.wv = nn.Linear(d, nkv * hd, bias=False)
            self.wo = nn.Linear(nh * hd, d, bias=False)
            self.ffn_norm = RMSNorm()
            self.w1 = nn.Linear(d, cfg["n_ff"], bias=False)
            self.w3 = nn.Linear(d, cfg["n_ff"], bias=False)
            self.w2 = nn.Linear(cfg["n_ff"], d, bias=False)

        def forward(self, x, cos, sin, mask):
            B, T, _ = x.shape
            h = self.attn_norm(x)
            q = self.wq(h).view(B, T, nh, hd).transpose(1, 2)
            k = self.wk(h).view(B, T, nkv, hd).transpose(1, 2)
            v = self.wv(h).view(B, T, nkv, hd).transpose(1, 2)
            q, k = rope(q, cos, sin), rope(k, cos, sin)
            k = k.repeat_interleave(nh // nkv, dim=1)          # query head h uses kv head h // (nh / nkv)
            v = v.repeat_interleave(nh // nkv, dim=1)
            att = (q @ k.transpose(-1, -2)) * (1.0 / math.sqrt(hd)) + mask
            y = torch.softmax(att, dim=-1) @ v
            x = x + self.wo(y.transpose(1, 2).reshape(B, T, nh * hd))
            h = self.ffn_norm(x)
            return x + self.w2(F.silu(self.w1(h)) * self.w3(h))

    class Tiny(nn.Module):
        def __init__(self):
            super().__init__()
            self.tok_embeddings = nn.Embedding(n_vocab, d)
            self.layers = nn.ModuleList(Block() for _ in range(cfg["n_layer"]))
            self.norm = RMSNorm()
            inv = 1.0 / (cfg["rope_theta"] ** (torch.arange(0, hd, 2)[: hd // 2].float() / hd))
            self.register_buffer("inv_freq", inv, persistent=False)
            for name, p in self.named_parameters():
                if p.dim() == 2:
                    std = 0.02 / math.sqrt(2 * cfg["n_layer"]) if name.endswith(("wo.weight", "w2.weight")) else 0.02
                    nn.init.normal_(p, 0.0, std)

        def forward(self, idx):
            B, T = idx.shape
            ang = torch.arange(T, dtype=torch.float32)[:, None] * self.inv_freq[None, :]
            cos, sin = torch.cos(ang), torch.sin(ang)
            mask = torch.full((T, T), float("-inf")).triu(1)
            x = self.tok_embeddings(idx)
            for layer in self.layers:
                x = layer(x, cos, sin, mask)
            return self.norm(x) @ self.tok_embeddings.weight.t()   # tied output projection

    return Tiny()


# ---------------------------------------------------------------------------------------------------------------
# GGUF export
# ---------------------------------------------------------------------------------------------------------------
def gguf_tensors(model, cfg):
    """(name, float32 array, type) in GGUF naming; matrices F16, norms F32; no output.weight (tied)."""
    sd = {k: v.detach().float().numpy() for k, v in model.state_dict().items()}
    out = [("token_embd.weight", sd["tok_embeddings.weight"], "F16")]
    for i in range(cfg["n_layer"]):
        p = f"layers.{i}."
        out += [(f"blk.{i}.attn_norm.weight", sd[p + "attn_norm.weight"], "F32"),
                (f"blk.{i}.attn_q.weight", sd[p + "wq.weight"], "F16"),
                (f"blk.{i}.attn_k.weight", sd[p + "wk.weight"], "F16"),
                (f"blk.{i}.attn_v.weight", sd[p + "wv.weight"], "F16"),
                (f"blk.{i}.attn_output.weight", sd[p + "wo.weight"], "F16"),
                (f"blk.{i}.ffn_norm.weight", sd[p + "ffn_norm.weight"], "F32"),
                (f"blk.{i}.ffn_gate.weight", sd[p + "w1.weight"], "F16"),
                (f"blk.{i}.ffn_up.weight", sd[p + "w3.weight"], "F16"),
                (f"blk.{i}.ffn_down.weight", sd[p + "w2.weight"], "F16")]
    out.append(("output_norm.weight", sd["norm.weight"], "F32"))
    return out


def write_gguf(path, model, cfg, tok):
    sys.path.insert(0, os.path.join(ROOT, "python"))
    from gguf_writer import GGUFWriter
    W = GGUFWriter
    w = W()
    w.add("general.architecture", "llama")
    w.add("general.name", "llamac tiny-kjv")
    w.add("general.description", "A toy Llama 3 architecture model trained by llamac's models/train_tiny.py on "
          "the King James Bible (public domain). Not a useful assistant.")
    w.add("general.license", "public-domain")
    w.add("general.file_type", 1, W.UINT32)                      # mostly F16
    w.add("llama.context_length", cfg["n_ctx"], W.UINT32)
    w.add("llama.embedding_length", cfg["n_embd"], W.UINT32)
    w.add("llama.block_count", cfg["n_layer"], W.UINT32)
    w.add("llama.feed_forward_length", cfg["n_ff"], W.UINT32)
    w.add("llama.attention.head_count", cfg["n_head"], W.UINT32)
    w.add("llama.attention.head_count_kv", cfg["n_head_kv"], W.UINT32)
    w.add("llama.attention.layer_norm_rms_epsilon", cfg["norm_eps"], W.FLOAT32)
    w.add("llama.rope.freq_base", cfg["rope_theta"], W.FLOAT32)
    w.add("llama.rope.dimension_count", cfg["n_embd"] // cfg["n_head"], W.UINT32)
    w.add("llama.vocab_size", tok.n_vocab, W.UINT32)
    w.add("tokenizer.ggml.model", "gpt2")
    w.add("tokenizer.ggml.pre", "llama-bpe")
    w.add("tokenizer.ggml.tokens", tok.gguf_token_strings(), W.ARRAY, W.STRING)
    w.add("tokenizer.ggml.token_type", [1] * tok.n_bpe + [3] * len(tok.specials), W.ARRAY, W.INT32)
    w.add("tokenizer.ggml.merges", tok.gguf_merges(), W.ARRAY, W.STRING)
    w.add("tokenizer.ggml.bos_token_id", tok.bos, W.UINT32)
    w.add("tokenizer.ggml.eos_token_id", tok.eot, W.UINT32)         # an instruct model ends its turn with eot
    w.add("tokenizer.ggml.eot_token_id", tok.eot, W.UINT32)
    w.add("tokenizer.ggml.eom_token_id", tok.eom, W.UINT32)
    w.add("tokenizer.ggml.padding_token_id", tok.pad, W.UINT32)
    w.add("tokenizer.ggml.add_bos_token", True, W.BOOL)
    w.add("tokenizer.chat_template", CHAT_TEMPLATE)
    for name, arr, ttype in gguf_tensors(model, cfg):
        w.add_tensor(name, arr, ttype)
    w.write(path)        # temporary file + rename


# ---------------------------------------------------------------------------------------------------------------
# Training
# ---------------------------------------------------------------------------------------------------------------
def cpu_s():
    """CPU seconds used by this process (user + system, all threads): comparable across busy and idle machines."""
    import resource
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def lr_at(step, total, peak, warmup):
    if step < warmup:
        return peak * (step + 1) / warmup
    p = (step - warmup) / max(1, total - warmup)
    return peak * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, p))))


def make_optimizer(model, cfg, lr):
    import torch
    decay = [p for n, p in model.named_parameters() if p.dim() == 2]
    no_decay = [p for n, p in model.named_parameters() if p.dim() < 2]
    return torch.optim.AdamW([{"params": decay, "weight_decay": cfg["weight_decay"]},
                              {"params": no_decay, "weight_decay": 0.0}], lr=lr, betas=(0.9, 0.95), eps=1e-8)


def build_tokenizer(cfg, docs, convs, log):
    from collections import Counter
    counts = Counter()
    for d in docs:
        counts.update(pre_tokenize(d))
    for msgs, date, _ in convs:
        text = render_chat(msgs, date)
        for part in re.split(r"<\|[a-z_0-9]+\|>", text):
            counts.update(pre_tokenize(part))
    log(f"bpe: {len(counts)} distinct pieces, {sum(counts.values())} in all")
    vocab = train_bpe(counts, cfg["n_merges"], log)
    tok = Tokenizer(vocab, special_names(cfg["n_special"]))
    # Every token must be reachable: BPE of its own bytes gives itself (so no whole-piece shortcut is needed),
    # and merge-list BPE with the GGUF merges must agree with the rank algorithm on every training piece.
    unreachable = [i for i in range(256, tok.n_bpe) if tok._bpe(tok.tokens[i], whole_piece=False) != [i]]
    merges = tok.gguf_merges()
    mbpe = MergeListBPE(tok.gguf_token_strings(), merges)
    bad = [p for p in sorted(counts) if mbpe.encode_piece(p) != tok.encode_ordinary(p)]
    log(f"tokenizer: {tok.n_bpe} BPE + {len(tok.specials)} special = {tok.n_vocab}; {len(merges)} merges; "
        f"{len(unreachable)} tokens need the whole-piece shortcut; merge-list vs rank BPE differ on {len(bad)} "
        f"of {len(counts)} pieces {bad[:5]}")
    return tok


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=DEFAULT_OUT)
    ap.add_argument("--scale", type=float, default=1.0, help="multiply the step counts (for quick trial runs)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--work", default="/tmp/train_tiny-work",
                    help="where checkpoints (lm.pt after the first phase, chat.pt at the end) are kept")
    ap.add_argument("--export-only", metavar="CKPT", help="skip training: write the GGUF from a checkpoint")
    ap.add_argument("--no-samples", action="store_true", help="do not print greedy samples at the end")
    args = ap.parse_args()

    import numpy as np
    import torch

    t_start = time.time()
    log_lines = []

    def log(msg):
        line = f"[{time.time() - t_start:7.1f}s] {msg}"
        print(line, flush=True)
        log_lines.append(line)

    if args.export_only:
        ck = torch.load(args.export_only)
        cfg = ck["cfg"]
        tok = Tokenizer(ck["tokens"], special_names(cfg["n_special"]))
        model = build_model(cfg, tok.n_vocab)
        model.load_state_dict(ck["model"])
        finish(model, tok, cfg, args.out, log, not args.no_samples)
        return
    os.makedirs(args.work, exist_ok=True)
    cfg = dict(CFG)
    cfg["lm_steps"] = max(1, int(cfg["lm_steps"] * args.scale))
    cfg["chat_steps"] = max(1, int(cfg["chat_steps"] * args.scale))
    torch.set_num_threads(args.threads)
    random.seed(cfg["seed"])
    np.random.seed(cfg["seed"])
    torch.manual_seed(cfg["seed"])
    rng = random.Random(cfg["seed"])
    blas = "openblas" if "openblas" in open("/proc/self/maps").read() else "reference BLAS (slow: see the docstring)"
    log(f"command: {COMMAND}\ntorch {torch.__version__}, {args.threads} threads, {blas}; config {cfg}")

    verses = read_kjv()
    chapters = chapters_of(verses)
    docs = [chapter_document(b, c, t) for b, c, t in chapters]
    train_docs = [d for i, d in enumerate(docs) if i % cfg["val_every"] != cfg["val_every"] - 1]
    val_docs = [d for i, d in enumerate(docs) if i % cfg["val_every"] == cfg["val_every"] - 1]
    convs = build_conversations(verses, cfg["n_conversations"], rng)
    log(f"data: {len(verses)} verses, {len(docs)} chapters ({len(val_docs)} held out), "
        f"{sum(map(len, docs))} characters; {len(convs)} conversations")

    tok = build_tokenizer(cfg, docs, convs, log)

    def stream(ds):
        ids = []
        for d in ds:
            ids += [tok.bos] + tok.encode_ordinary(d) + [tok.eos]
        return torch.tensor(ids, dtype=torch.long)

    train_ids, val_ids = stream(train_docs), stream(val_docs)
    log(f"lm tokens: {len(train_ids)} train, {len(val_ids)} validation "
        f"({sum(map(len, docs)) / (len(train_ids) + len(val_ids)):.2f} characters per token)")

    model = build_model(cfg, tok.n_vocab)
    n_params = sum(p.numel() for p in model.parameters())
    log(f"model: {n_params} parameters ({n_params - tok.n_vocab * cfg['n_embd']} without the tied embedding)")
    F = torch.nn.functional

    T, B = cfg["n_ctx_lm"], cfg["batch"]
    g = torch.Generator().manual_seed(cfg["seed"])

    def lm_batch(data, bs, gen):
        ix = torch.randint(0, len(data) - T - 1, (bs,), generator=gen)
        x = torch.stack([data[i:i + T + 1] for i in ix])
        return x[:, :-1], x[:, 1:]

    @torch.no_grad()
    def val_loss():
        model.eval()
        gv = torch.Generator().manual_seed(7)
        tot = 0.0
        for _ in range(4):
            x, y = lm_batch(val_ids, 16, gv)
            tot += F.cross_entropy(model(x).reshape(-1, tok.n_vocab), y.reshape(-1)).item()
        model.train()
        return tot / 4

    # -------- phase 1: language modelling --------
    opt = make_optimizer(model, cfg, cfg["lr"])
    t_phase = time.time()
    ema = None
    for step in range(cfg["lm_steps"]):
        for grp in opt.param_groups:
            grp["lr"] = lr_at(step, cfg["lm_steps"], cfg["lr"], cfg["warmup"])
        x, y = lm_batch(train_ids, B, g)
        loss = F.cross_entropy(model(x).reshape(-1, tok.n_vocab), y.reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg["grad_clip"])
        opt.step()
        ema = loss.item() if ema is None else 0.98 * ema + 0.02 * loss.item()
        if step % 40 == 0 or step == cfg["lm_steps"] - 1:
            el = time.time() - t_phase
            log(f"lm step {step}/{cfg['lm_steps']} loss {ema:.3f} ({(step + 1) * B * T / el:.0f} tok/s, "
                f"{cpu_s():.0f} CPU s)"
                + (f" val {val_loss():.3f}" if step % 400 == 0 else ""))
    lm_val = val_loss()
    log(f"lm phase done in {time.time() - t_phase:.0f} s: train loss {ema:.3f}, validation loss {lm_val:.3f}")
    torch.save({"model": model.state_dict(), "tokens": tok.tokens, "cfg": cfg}, os.path.join(args.work, "lm.pt"))

    # -------- phase 2: chat --------
    rows, masks = [], []
    row, rmask = [], []
    R = cfg["n_ctx"]
    for msgs, date, with_sys in convs:
        ids, m = encode_chat(tok, msgs, date, with_sys)
        if len(ids) > R:
            continue
        if len(row) + len(ids) > R:
            rows.append(row + [tok.pad] * (R - len(row)))
            masks.append(rmask + [0] * (R - len(rmask)))
            row, rmask = [], []
        row += ids
        rmask += m
    chat_x = torch.tensor(rows, dtype=torch.long)
    chat_m = torch.tensor(masks, dtype=torch.float32)
    log(f"chat rows: {len(rows)} of {R} tokens, {int(chat_m.sum())} assistant tokens")
    opt = make_optimizer(model, cfg, cfg["lr_chat"])
    t_phase = time.time()
    ema_c = None
    CB = cfg["chat_batch"]
    for step in range(cfg["chat_steps"]):
        for grp in opt.param_groups:
            grp["lr"] = lr_at(step, cfg["chat_steps"], cfg["lr_chat"], 10)
        ix = torch.randint(0, len(rows), (CB,), generator=g)
        x, m = chat_x[ix], chat_m[ix]
        lp = F.cross_entropy(model(x[:, :-1]).reshape(-1, tok.n_vocab), x[:, 1:].reshape(-1), reduction="none")
        mm = m[:, 1:].reshape(-1)
        loss_chat = (lp * mm).sum() / mm.sum()
        # keep some plain language modelling in the mix so the chat phase does not erase it
        xl, yl = lm_batch(train_ids, cfg["chat_lm_rows"], g)
        loss_lm = F.cross_entropy(model(xl).reshape(-1, tok.n_vocab), yl.reshape(-1))
        loss = loss_chat + 0.5 * loss_lm
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg["grad_clip"])
        opt.step()
        ema_c = loss_chat.item() if ema_c is None else 0.98 * ema_c + 0.02 * loss_chat.item()
        if step % 10 == 0 or step == cfg["chat_steps"] - 1:
            log(f"chat step {step}/{cfg['chat_steps']} assistant loss {ema_c:.3f} lm loss {loss_lm.item():.3f} "
                f"({cpu_s():.0f} CPU s)")
    final_val = val_loss()
    log(f"chat phase done in {time.time() - t_phase:.0f} s: assistant loss {ema_c:.3f}, "
        f"validation lm loss {final_val:.3f}")

    torch.save({"model": model.state_dict(), "tokens": tok.tokens, "cfg": cfg}, os.path.join(args.work, "chat.pt"))
    finish(model, tok, cfg, args.out, log, not args.no_samples)
    log(f"done in {time.time() - t_start:.0f} s in all ({cpu_s():.0f} CPU s)")


def finish(model, tok, cfg, out_path, log, samples=True):
    """Writes the GGUF, then logs greedy samples from the torch model (quoted in models/README.md)."""
    import torch
    model.eval()
    write_gguf(out_path, model, cfg, tok)
    log(f"wrote {out_path} ({os.path.getsize(out_path)} bytes)")
    if not samples:
        return

    @torch.no_grad()
    def greedy(ids, n, stop=()):
        ids = list(ids)
        out = []
        for _ in range(n):
            t = int(model(torch.tensor([ids[-cfg["n_ctx"]:]]))[0, -1].argmax())
            if t in stop:
                break
            ids.append(t)
            out.append(t)
        return tok.decode(out)

    stops = (tok.eos, tok.eot, tok.eom)
    for p in ["In the beginning", "And the LORD said unto Moses,", "Psalms 23\n\n"]:
        log(f"sample {p!r} -> {greedy(tok.encode(p, bos=True), 40, stops)!r}")
    for q in ["Tell me about Moses.", "Who are you?", "Continue: The LORD is my shepherd"]:
        ids, _ = encode_chat(tok, [{"role": "user", "content": q}], "26 Jul 2024")
        ids += [tok.sh] + tok.encode_ordinary("assistant") + [tok.eh] + tok.encode_ordinary("\n\n")
        log(f"chat {q!r} -> {greedy(ids, 60, stops)!r}")


if __name__ == "__main__":
    main()
