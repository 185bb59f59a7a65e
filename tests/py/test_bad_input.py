"""test_bad_input.py — hostile and broken model files and command lines.

Every case must end with a non-zero exit status (never a signal, never a hang: each run is under a timeout and
fails on any sanitizer report) and a message naming the problem; the message is checked for a meaningful
substring. Files are damaged copies of the "tiny" model variant (models.py), built by editing the writer's
entries (values, tensor infos) or patching bytes at offsets found with gguf_reader. A random-mutation fuzz loop
closes the file; `llamac info` (parse, render every value, load) and `llamac logits` (load and decode) run on
each case.
"""
import os
import random
import shutil
import struct

from llamac_testlib import check, main, run_llamac, scratch_dir
import gguf_writer as gw
import models
from gguf_reader import GGUFFile

SCRATCH = scratch_dir()
TIMEOUT = 60


# ---- building damaged files ------------------------------------------------------------------------------------
def writer(**overrides):
    s = models.spec("tiny")
    s.update(overrides)
    return models.build(s)


def base_bytes():
    return writer().to_bytes()


def set_kv(w, key, value, vtype=None, elem_type=None):
    """Replaces key's value (keeping its place) or appends it; raw bytes are used as the encoded value."""
    if vtype is None:
        vtype = gw._infer_type(value)
    enc = value if isinstance(value, bytes) and vtype != gw.STRING else gw.encode_value(value, vtype, elem_type)
    for i, (k, _, _) in enumerate(w.kv):
        if k == key:
            w.kv[i] = (key, vtype, enc)
            return w
    w.kv.append((key, vtype, enc))
    return w


def append_kv(w, key, vtype, raw):
    """Appends an entry with an already encoded value (duplicates and odd keys allowed)."""
    w.kv.append((key, vtype, raw))
    return w


def del_kv(w, key):
    w.kv = [e for e in w.kv if e[0] != key]
    return w


def set_tensor(w, name, ne=None, tid=None, raw=None, rename=None):
    for i, (n, ne0, tid0, raw0) in enumerate(w.tensors):
        if n == name:
            w.tensors[i] = (rename or n, ne0 if ne is None else ne, tid0 if tid is None else tid,
                            raw0 if raw is None else raw)
            return w
    raise KeyError(name)


def del_tensor(w, name):
    w.tensors = [t for t in w.tensors if t[0] != name]
    return w


def info_fields(data, name):
    """Byte offsets of a tensor info's fields in a valid file: n_dims, ne[0], type, offset."""
    f = GGUFFile(data=data)
    t = f.tensor(name)
    n_dims_at = t.info_offset + 8 + len(name.encode())
    return {"n_dims": n_dims_at, "ne": n_dims_at + 4, "type": n_dims_at + 4 + 8 * t.n_dims, "offset": t.info_end - 8,
            "tensor": t, "file": f}


def patch(data, at, fmt, value):
    b = bytearray(data)
    struct.pack_into(fmt, b, at, value)
    return bytes(b)


def save(label, data):
    path = os.path.join(SCRATCH, label.replace(" ", "_").replace("/", "_") + ".gguf")
    with open(path, "wb") as f:
        f.write(data)
    return path


# ---- running ---------------------------------------------------------------------------------------------------
def expect_failure(label, path, needles, failures, info=True, tokens="1,2,3"):
    """`llamac logits` (and `llamac info`) on path must fail cleanly with one of the needles in the message."""
    out = os.path.join(SCRATCH, "out.bin")
    runs = [("logits", ["logits", "-m", path, "--tokens", tokens, "-o", out, "--ctx", "64"])]
    if info:
        runs.append(("info", ["info", "-m", path]))
    for what, args in runs:
        try:
            r = run_llamac(args, timeout=TIMEOUT)
        except AssertionError as ex:
            failures.append(f"{label} [{what}]: {ex}")
            continue
        text = (r.stderr + r.stdout).replace(path, "<file>")  # the file name must not satisfy the check
        if r.returncode == 0:
            failures.append(f"{label} [{what}]: exit status 0 (expected an error)")
        elif not any(n.lower() in text.lower() for n in needles):
            failures.append(f"{label} [{what}]: message does not mention any of {needles}: {text.strip()[-300:]!r}")
        elif what == "logits" and not r.stderr.startswith("llamac: "):
            failures.append(f"{label} [{what}]: error not reported as 'llamac: ...' on stderr: {r.stderr[:200]!r}")
    if os.path.exists(out):
        failures.append(f"{label}: a failed run left an output file")
        os.unlink(out)


def run_cases(cases, **kw):
    failures = []
    for label, data, needles in cases:
        expect_failure(label, save(label, data), needles, failures, **kw)
    check(not failures, f"{len(failures)} of {len(cases)} cases misbehaved:\n  " + "\n  ".join(failures))


# ---- tests -----------------------------------------------------------------------------------------------------
def test_valid_controls():
    """The undamaged file works (so every failure below is caused by the damage), with and without extra
    trailing bytes after the data."""
    data = base_bytes()
    for label, d in (("valid", data), ("trailing garbage", data + b"\x7f" * 77)):
        path = save(label, d)
        out = os.path.join(SCRATCH, "ok.bin")
        run_llamac(["logits", "-m", path, "--tokens", "1,2,3", "-o", out], expect_ok=True)
        check(os.path.getsize(out) == 3 * 64 * 4, f"{label}: logits size")
        run_llamac(["info", "-m", path], expect_ok=True)


def test_truncated():
    data = base_bytes()
    f = GGUFFile(data=data)
    rec = {r.key: r for r in f.records}
    offsets = {0: "empty", 2: "inside magic", 6: "inside version", 12: "inside tensor count",
               20: "inside kv count", 24: "before the first key"}
    offsets[rec["general.architecture"].offset + 4] = "inside a key length"
    offsets[rec["general.architecture"].offset + 10] = "inside a key"
    offsets[rec["general.name"].value_offset + 12] = "inside a string value"
    offsets[rec["general.tags"].value_offset + 6] = "inside an array header"
    offsets[rec["general.tags"].value_offset + 40] = "inside a string array"
    offsets[rec["llamac.test.nested"].value_offset + 30] = "inside a nested array"
    offsets[rec["llama.rope.freq_base"].value_offset + 2] = "inside an f32 value"
    offsets[f.records[-1].end] = "after the metadata"
    t0, t5 = f.tensors[0], f.tensors[5]
    offsets[t0.info_offset + 5] = "inside a tensor name length"
    offsets[t5.info_offset + 20] = "inside a tensor info"
    offsets[t5.info_end - 3] = "inside a tensor offset"
    offsets[f.header_end] = "end of the tensor infos"
    offsets[f.data_offset] = "start of the data"
    offsets[t0.offset + 100] = "inside the first tensor"
    offsets[f.tensors[-1].offset + 4000] = "inside the last tensor"
    offsets[len(data) - 1] = "last byte missing"
    cases = [(f"truncated at {at} ({what})", data[:at], ["truncated", "empty", "only 2 bytes"])
             for at, what in sorted(offsets.items())]
    run_cases(cases)


def test_header():
    data = base_bytes()
    be = bytearray(data)
    struct.pack_into(">I", be, 4, 3)  # a big-endian writer stores the version byte-swapped
    struct.pack_into(">Q", be, 8, 13)
    struct.pack_into(">Q", be, 16, 23)
    cases = [
        ("wrong magic", b"GGML" + data[4:], ["magic"]),
        ("text file", b"hello, this is not a model\n" * 10, ["magic"]),
        ("version 1", patch(data, 4, "<I", 1), ["version 1"]),
        ("version 4", patch(data, 4, "<I", 4), ["version 4"]),
        ("version 0", patch(data, 4, "<I", 0), ["version 0"]),
        ("big-endian header", bytes(be), ["big-endian"]),
        ("absurd tensor count", patch(data, 8, "<Q", 1 << 60), ["tensor count"]),
        ("tensor count 2^64-1", patch(data, 8, "<Q", 2 ** 64 - 1), ["tensor count"]),
        ("absurd kv count", patch(data, 16, "<Q", 1 << 62), ["metadata count"]),
        ("kv count one too many", patch(data, 16, "<Q", 24), ["truncated", "exceeds", "unknown value type",
                                                               "not in 1..", "does not fit"]),
        ("tensor count one too many", patch(data, 8, "<Q", 14), ["truncated", "exceeds", "not in 1..", "n_dims",
                                                                  "unknown tensor type", "dimension"]),
    ]
    run_cases(cases)


def test_metadata():
    data = base_bytes()
    f = GGUFFile(data=data)
    rec = {r.key: r for r in f.records}
    name_rec, tags_rec = rec["general.name"], rec["general.tags"]
    nested = gw.encode_value([[1]], gw.ARRAY, gw.ARRAY)
    deep = struct.pack("<IQ", gw.INT32, 1) + struct.pack("<i", 7)
    for _ in range(12):
        deep = struct.pack("<IQ", gw.ARRAY, 1) + deep
    cases = [
        ("absurd key length", patch(data, rec["general.architecture"].offset, "<Q", 1 << 62), ["string length"]),
        ("absurd string value length", patch(data, name_rec.value_offset, "<Q", 2 ** 64 - 2), ["string length"]),
        ("string value length one past", patch(data, name_rec.value_offset, "<Q", len(data)), ["string length"]),
        ("absurd array length", patch(data, tags_rec.value_offset + 4, "<Q", 1 << 61), ["does not fit"]),
        ("absurd u32 array", set_kv(writer(), "x.ids", struct.pack("<IQ", gw.UINT32, 1 << 62) + b"\0" * 16,
                                    gw.ARRAY).to_bytes(), ["does not fit"]),
        ("absurd nested array", set_kv(writer(), "x.n", struct.pack("<IQ", gw.ARRAY, 1 << 59), gw.ARRAY).to_bytes(),
         ["does not fit"]),
        ("arrays nested 13 deep", set_kv(writer(), "x.deep", deep, gw.ARRAY).to_bytes(), ["nested deeper"]),
        ("unknown value type", set_kv(writer(), "x.t", b"\0" * 8, 13).to_bytes(), ["unknown value type 13"]),
        ("unknown array element type", set_kv(writer(), "x.t", struct.pack("<IQ", 77, 1) + b"\0" * 8,
                                              gw.ARRAY).to_bytes(), ["unknown array element type 77"]),
        ("bool value 2", set_kv(writer(), "x.b", b"\x02", gw.BOOL).to_bytes(), ["bool"]),
        ("bool array element 5", set_kv(writer(), "x.b", struct.pack("<IQ", gw.BOOL, 3) + b"\x01\x00\x05",
                                        gw.ARRAY).to_bytes(), ["bool"]),
        ("duplicate key", append_kv(writer(), "llama.vocab_size", gw.UINT32, struct.pack("<I", 64)).to_bytes(),
         ["duplicate metadata key 'llama.vocab_size'"]),
        ("empty key", append_kv(writer(), "", gw.UINT8, b"\0").to_bytes(), ["length 0"]),
        ("key with NUL", append_kv(writer(), "a\0b", gw.UINT8, b"\0").to_bytes(), ["NUL"]),
        ("key of 5000 bytes", append_kv(writer(), "k" * 5000, gw.UINT8, b"\0").to_bytes(), ["length 5000"]),
        ("alignment 0", set_kv(writer(), "general.alignment", 0, gw.UINT32).to_bytes(), ["alignment"]),
        ("alignment 48", set_kv(writer(), "general.alignment", 48, gw.UINT32).to_bytes(), ["alignment"]),
        ("alignment as string", set_kv(writer(), "general.alignment", "32").to_bytes(), ["alignment"]),
        ("architecture as u32", set_kv(writer(), "general.architecture", 7, gw.UINT32).to_bytes(),
         ["general.architecture"]),
        ("block_count as string", set_kv(writer(), "llama.block_count", "one").to_bytes(), ["llama.block_count"]),
        ("block_count as float", set_kv(writer(), "llama.block_count", 1.0, gw.FLOAT32).to_bytes(),
         ["llama.block_count"]),
        ("nested array value where a number is due", set_kv(writer(), "llama.embedding_length", nested,
                                                            gw.ARRAY).to_bytes(), ["llama.embedding_length"]),
    ]
    run_cases(cases)


def test_tensor_infos():
    data = base_bytes()
    q = info_fields(data, "blk.0.attn_q.weight")
    k = info_fields(data, "blk.0.attn_k.weight")
    last = info_fields(data, "blk.0.ffn_down.weight")
    f = q["file"]
    data_size = len(data) - f.data_offset
    w_name = writer()
    w_name.tensors.append(("blk.0.attn_q.weight", [4], 0, b"\0" * 16))
    w_long = writer()
    w_long.tensors.append(("t" * 3000, [4], 0, b"\0" * 16))
    cases = [
        ("n_dims 0", patch(data, q["n_dims"], "<I", 0), ["n_dims is 0"]),
        ("n_dims 5", patch(data, q["n_dims"], "<I", 5), ["n_dims is 5"]),
        ("n_dims 2^32-1", patch(data, q["n_dims"], "<I", 2 ** 32 - 1), ["n_dims"]),
        ("zero dimension", patch(data, q["ne"] + 8, "<Q", 0), ["dimension 1 is 0"]),
        ("dimension 2^63", patch(data, q["ne"], "<Q", 2 ** 63), ["dimension 0"]),
        ("element count overflows", set_tensor(writer(), "blk.0.attn_q.weight", ne=[2 ** 32, 2 ** 32, 4]).to_bytes(),
         ["overflow"]),
        ("byte size overflows", set_tensor(writer(), "blk.0.attn_q.weight", ne=[2 ** 31, 2 ** 31]).to_bytes(),
         ["overflow", "outside"]),
        ("huge tensor", set_tensor(writer(), "blk.0.attn_q.weight", ne=[2 ** 20, 2 ** 20]).to_bytes(), ["outside"]),
        ("unknown tensor type 99", patch(data, q["type"], "<I", 99), ["unknown tensor type 99"]),
        ("unknown tensor type 31", patch(data, q["type"], "<I", 31), ["unknown tensor type 31"]),
        ("row not a whole block", patch(data, q["type"], "<I", 12), ["block size"]),  # Q4_K needs rows of 256
        ("data offset past the end", patch(data, last["offset"], "<Q", data_size + 64), ["outside"]),
        ("data offset 2^64-32", patch(data, last["offset"], "<Q", 2 ** 64 - 32), ["outside"]),
        ("data running past the end", patch(data, last["offset"], "<Q", data_size - 4096), ["outside"]),
        ("misaligned offset", patch(data, k["offset"], "<Q", k["tensor"].rel_offset + 16), ["alignment"]),
        ("overlapping tensors", patch(data, k["offset"], "<Q", q["tensor"].rel_offset + 1024), ["overlap"]),
        ("two tensors at one offset", patch(data, k["offset"], "<Q", q["tensor"].rel_offset), ["overlap"]),
        ("duplicate tensor name", w_name.to_bytes(), ["duplicate tensor name 'blk.0.attn_q.weight'"]),
        ("tensor name of 3000 bytes", w_long.to_bytes(), ["length 3000"]),
    ]
    run_cases(cases)


def test_model_level():
    def raw_rand(n, seed=3):
        return random.Random(seed).randbytes(n)

    w_iq2 = writer(n_ff=256)
    set_tensor(w_iq2, "blk.0.ffn_down.weight", tid=16, raw=raw_rand(32 * 66))  # [256, 32] of IQ2_XXS
    # integer tensor types are valid GGUF but never model weights
    w_i32 = set_tensor(writer(), "blk.0.attn_q.weight", tid=26, raw=raw_rand(32 * 32 * 4))  # [32, 32] of I32
    w_emb = set_tensor(writer(), "token_embd.weight", tid=24, raw=raw_rand(64 * 32))       # [32, 64] of I8
    cases = [
        ("missing tensor", del_tensor(writer(), "blk.0.ffn_up.weight").to_bytes(), ["'blk.0.ffn_up.weight' is missing"]),
        ("missing token_embd", del_tensor(writer(), "token_embd.weight").to_bytes(), ["token_embd.weight"]),
        ("missing output_norm", del_tensor(writer(), "output_norm.weight").to_bytes(), ["output_norm.weight"]),
        ("mis-shaped attn_q", set_tensor(writer(), "blk.0.attn_q.weight", ne=[32, 16],
                                         raw=b"\0" * 2048).to_bytes(), ["blk.0.attn_q.weight", "shape"]),
        ("transposed ffn_down", set_tensor(writer(), "blk.0.ffn_down.weight", ne=[32, 64]).to_bytes(),
         ["blk.0.ffn_down.weight", "shape"]),
        ("2-d norm", set_tensor(writer(), "blk.0.attn_norm.weight", ne=[16, 2]).to_bytes(), ["attn_norm", "shape"]),
        ("token_embd wrong width", set_tensor(writer(), "token_embd.weight", ne=[16, 128]).to_bytes(),
         ["token_embd.weight"]),
        ("rope_freqs wrong length", set_tensor(writer(), "rope_freqs.weight", ne=[4], raw=b"\0\0\x80\x3f" * 4)
         .to_bytes(), ["rope_freqs"]),
        ("rope_freqs zero divisor", set_tensor(writer(), "rope_freqs.weight", raw=b"\0" * 32).to_bytes(),
         ["rope_freqs", "divisor"]),
        ("rope_freqs NaN divisor", set_tensor(writer(), "rope_freqs.weight", raw=b"\0\0\xc0\x7f" * 8).to_bytes(),
         ["rope_freqs", "divisor"]),
        ("unsupported IQ2_XXS matrix", w_iq2.to_bytes(), ["IQ2_XXS"]),
        ("unsupported I32 matrix", w_i32.to_bytes(), ["I32"]),
        ("unsupported I8 embedding", w_emb.to_bytes(), ["I8"]),
        ("wrong architecture", set_kv(writer(), "general.architecture", "gpt2").to_bytes(), ["architecture 'gpt2'"]),
        ("no architecture", del_kv(writer(), "general.architecture").to_bytes(), ["general.architecture"]),
        ("no embedding_length", del_kv(writer(), "llama.embedding_length").to_bytes(), ["llama.embedding_length"]),
        ("embedding_length 0", set_kv(writer(), "llama.embedding_length", 0, gw.UINT32).to_bytes(),
         ["llama.embedding_length"]),
        ("block_count -1", set_kv(writer(), "llama.block_count", -1, gw.INT32).to_bytes(), ["llama.block_count"]),
        ("block_count 2^40", set_kv(writer(), "llama.block_count", 2 ** 40, gw.UINT64).to_bytes(),
         ["llama.block_count"]),
        ("block_count 2 (layer missing)", set_kv(writer(), "llama.block_count", 2, gw.UINT32).to_bytes(),
         ["blk.1."]),
        ("head_count not dividing n_embd", set_kv(writer(), "llama.attention.head_count", 3, gw.UINT32).to_bytes(),
         ["head_count"]),
        ("head_count_kv not dividing head_count", set_kv(writer(), "llama.attention.head_count_kv", 3,
                                                         gw.UINT32).to_bytes(), ["head_count"]),
        ("head_count 0", set_kv(writer(), "llama.attention.head_count", 0, gw.UINT32).to_bytes(), ["head_count"]),
        ("odd head_dim", set_kv(set_kv(writer(), "llama.attention.head_count", 32, gw.UINT32),
                                "llama.attention.head_count_kv", 32, gw.UINT32).to_bytes(), ["odd", "head_dim"]),
        ("vocab_size mismatch", set_kv(writer(), "llama.vocab_size", 65, gw.UINT32).to_bytes(), ["vocab_size"]),
        ("rope dimension_count mismatch", set_kv(writer(), "llama.rope.dimension_count", 8, gw.UINT32).to_bytes(),
         ["dimension_count"]),
        ("eps 0", set_kv(writer(), "llama.attention.layer_norm_rms_epsilon", 0.0, gw.FLOAT32).to_bytes(),
         ["epsilon"]),
        ("eps NaN", set_kv(writer(), "llama.attention.layer_norm_rms_epsilon", float("nan"), gw.FLOAT32).to_bytes(),
         ["epsilon"]),
        ("rope base 0", set_kv(writer(), "llama.rope.freq_base", 0.0, gw.FLOAT32).to_bytes(), ["freq_base"]),
        ("rope base inf", set_kv(writer(), "llama.rope.freq_base", float("inf"), gw.FLOAT64).to_bytes(),
         ["freq_base"]),
        ("rope scaling yarn", set_kv(writer(), "llama.rope.scaling.type", "yarn").to_bytes(), ["yarn"]),
        ("value_length differs", set_kv(writer(), "llama.attention.value_length", 8, gw.UINT32).to_bytes(),
         ["value_length"]),
    ]
    run_cases(cases)


def test_runtime_and_arguments():
    path = models.model_path("tiny")
    out = os.path.join(SCRATCH, "o.bin")
    cases = [
        (["logits", "-m", path, "--tokens", "1,64", "-o", out], ["vocabulary"]),
        (["logits", "-m", path, "--tokens", "1,-1", "-o", out], ["vocabulary"]),
        (["logits", "-m", path, "--tokens", "2147483647", "-o", out], ["vocabulary"]),
        (["logits", "-m", path, "--tokens", ",".join(["5"] * 20), "-o", out, "--ctx", "8"], ["context"]),
        (["generate", "-m", path, "--tokens", ",".join(["5"] * 20), "-n", "4", "--ctx", "8"], ["context"]),
        (["generate", "-m", path, "--tokens", "1,99", "-n", "2"], ["vocabulary"]),
        (["logits", "-m", path, "--tokens", "", "-o", out], ["--tokens"]),
        (["logits", "-m", path, "--tokens", "1,,2", "-o", out], ["--tokens"]),
        (["logits", "-m", path, "--tokens", "1,2,", "-o", out], ["--tokens"]),
        (["logits", "-m", path, "--tokens", ",1", "-o", out], ["--tokens"]),
        (["logits", "-m", path, "--tokens", "abc", "-o", out], ["--tokens"]),
        (["logits", "-m", path, "--tokens", "1 2", "-o", out], ["--tokens"]),
        (["logits", "-m", path, "--tokens", "1;2", "-o", out], ["--tokens"]),
        (["logits", "-m", path, "--tokens", "1,2x", "-o", out], ["--tokens"]),
        (["logits", "-m", path, "--tokens", "99999999999", "-o", out], ["--tokens"]),
        (["logits", "-m", path, "--tokens", "1," * 3 + "0x10", "-o", out], ["--tokens"]),
        (["logits", "-m", path, "--tokens", "1,2"], ["-o"]),
        (["logits", "-m", path, "-o", out], ["--tokens"]),
        (["logits", "--tokens", "1,2", "-o", out], ["model"]),
        (["logits", "-m", path, "--tokens", "1,2", "-o"], ["needs a value"]),
        (["logits", "-m"], ["needs a value"]),
        (["logits", "-m", path, "--tokens", "1,2", "-o", out, "--bogus"], ["unknown option"]),
        (["logits", "-m", path, "--tokens", "1,2", "-o", out, "-t", "0"], ["-t"]),
        (["logits", "-m", path, "--tokens", "1,2", "-o", out, "-t", "two"], ["-t"]),
        (["logits", "-m", path, "--tokens", "1,2", "-o", out, "--ctx", "-5"], ["--ctx"]),
        (["logits", "-m", path, "--tokens", "1,2", "-o", out, "--ubatch", "0"], ["--ubatch"]),
        (["logits", "-m", path, "--tokens", "1,2", "-o", out, "--kv", "f8"], ["--kv"]),
        (["logits", "-m", path, "--tokens", "1,2", "-o", os.path.join(SCRATCH, "no", "such", "dir", "o.bin")],
         ["cannot create"]),
        (["generate", "-m", path, "--tokens", "1,2", "-n", "2", "-l", "99999+1"], ["vocabulary"]),
        (["generate", "-m", path, "--tokens", "1,2", "-n", "2", "-l", "abc"], ["--logit-bias"]),
        (["generate", "-m", path, "--tokens", "1,2", "-n", "2", "-l", "5"], ["--logit-bias"]),
        (["generate", "-m", path, "--tokens", "1,2", "-n", "2", "--logit-bias", "5+inf"], ["--logit-bias"]),
        (["generate", "-m", path, "--tokens", "1,2", "-n", "2", "-l", "5+nan"], ["--logit-bias"]),
        (["generate", "-m", path, "--tokens", "1,2", "-n", "2", "-l", "-5+1"], ["--logit-bias"]),
        (["generate", "-m", path, "--tokens", "1,2", "-n", "2", "--presence-penalty", "nan"], ["presence"]),
        (["generate", "-m", path, "--tokens", "1,2", "-n", "2", "--frequency-penalty", "1000"], ["frequency"]),
        (["info"], ["no model"]),
        (["frobnicate"], ["unknown command"]),
    ]
    failures = []
    for args, needles in cases:
        try:
            r = run_llamac(args, timeout=TIMEOUT)
        except AssertionError as ex:
            failures.append(str(ex))
            continue
        label = " ".join(a if len(a) < 40 else a[:40] + "..." for a in args[:8])
        if r.returncode == 0:
            failures.append(f"{label}: exit status 0")
        elif not any(n.lower() in (r.stderr + r.stdout).lower() for n in needles):
            failures.append(f"{label}: message does not mention {needles}: {r.stderr.strip()[-300:]!r}")
        if os.path.exists(out):
            failures.append(f"{label}: left an output file")
            os.unlink(out)
    check(not failures, f"{len(failures)} of {len(cases)} cases misbehaved:\n  " + "\n  ".join(failures))


def test_not_files():
    empty = save("empty", b"")
    dirpath = os.path.join(SCRATCH, "a_directory.gguf")
    os.makedirs(dirpath, exist_ok=True)
    failures = []
    expect_failure("empty file", empty, ["empty"], failures)
    expect_failure("directory", dirpath, ["not a regular file", "directory"], failures)
    expect_failure("missing file", os.path.join(SCRATCH, "nope.gguf"), ["cannot open", "no such file"], failures)
    expect_failure("/dev/null", "/dev/null", ["not a regular file", "empty"], failures)
    check(not failures, "\n  ".join(failures))


def test_fuzz():
    """Random mutations of the tiny model (mostly in its header, where the parser works): never a crash, a hang
    or a sanitizer report; failures must say something."""
    data = base_bytes()
    f = GGUFFile(data=data)
    header = f.header_end
    rng = random.Random(20240611)
    interesting = [0, 1, 2, 3, 4, 5, 7, 8, 31, 32, 33, 255, 256, 1023, 1024, 65535, 2 ** 31 - 1, 2 ** 31, 2 ** 32 - 1,
                   2 ** 32, 2 ** 62, 2 ** 63 - 1, 2 ** 63, 2 ** 64 - 1, len(data), len(data) - header]
    n_cases, n_ok, failures = 300, 0, []
    for i in range(n_cases):
        b = bytearray(data)
        for _ in range(rng.choice((1, 1, 2, 3, 6))):
            kind = rng.random()
            at = rng.randrange(header) if rng.random() < 0.9 else rng.randrange(len(b) - 8)
            if kind < 0.35:
                b[at] ^= 1 << rng.randrange(8)
            elif kind < 0.6:
                at = min(at, len(b) - 8)
                struct.pack_into("<Q", b, at, rng.choice(interesting))
            elif kind < 0.75:
                at = min(at, len(b) - 4)
                struct.pack_into("<I", b, at, rng.choice(interesting) & 0xFFFFFFFF)
            elif kind < 0.85:
                b[at] = rng.randrange(256)
            elif kind < 0.92:
                del b[at:at + rng.randrange(1, 16)]
            else:
                b[at:at] = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 16)))
        if rng.random() < 0.1:
            del b[rng.randrange(len(b)):]
        path = os.path.join(SCRATCH, "fuzz.gguf")
        with open(path, "wb") as fh:
            fh.write(bytes(b))
        runs = [["info", "-m", path]]
        if i % 3 == 0:
            runs.append(["logits", "-m", path, "--tokens", "1,2,3,4,5", "-o", os.path.join(SCRATCH, "fz.bin"),
                         "--ctx", "16", "-t", "2"])
        for args in runs:
            try:
                r = run_llamac(args, timeout=TIMEOUT)
            except AssertionError as ex:
                keep = os.path.join(SCRATCH, "..", f"fuzz-failure-{i}.gguf")
                shutil.copy(path, keep)
                failures.append(f"case {i} (kept as {os.path.abspath(keep)}): {ex}")
                continue
            if r.returncode == 0:
                n_ok += 1
            elif "llamac: " not in r.stderr and "not loadable" not in r.stdout:
                failures.append(f"case {i} {args[0]}: failed without a message: {r.stderr[-200:]!r}")
    print(f"  {n_cases} mutated files, {n_ok} runs succeeded (harmless mutations), {len(failures)} problems")
    check(not failures, "\n  ".join(failures[:20]))


if __name__ == "__main__":
    try:
        main(globals())
    finally:
        shutil.rmtree(SCRATCH, ignore_errors=True)
