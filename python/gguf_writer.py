"""gguf_writer.py — a small, independent GGUF v3 writer (and reader) for llamac's tests and model scripts.

Written from the GGUF format description (magic "GGUF", version, counts, typed key/values, tensor infos,
alignment padding, data). It is deliberately separate from the C library so that the C reader is tested
against an independent implementation.

    w = GGUFWriter()
    w.add("general.architecture", "llama")
    w.add("llama.block_count", 2, GGUFWriter.UINT32)
    w.add("tokenizer.ggml.tokens", ["a", "b"])
    w.add_tensor("token_embd.weight", np.zeros((vocab, dim), np.float32), "F16")   # numpy shape (rows, cols)
    w.write("model.gguf")

Tensor shapes: a numpy array of shape (n_out, n_in) becomes ggml ne = [n_in, n_out] (ne[0] innermost).
Supported tensor types: F32, F16, BF16, Q8_0, Q4_0 (quantized here with ggml's reference rounding).
`dequantize(raw_bytes, type, n)` returns the float64 values a reader must see, for reference computations.
"""
import struct

import numpy as np

GGUF_MAGIC = 0x46554747

# value types
UINT8, INT8, UINT16, INT16, UINT32, INT32, FLOAT32, BOOL, STRING, ARRAY, UINT64, INT64, FLOAT64 = range(13)

_SCALAR_FMT = {UINT8: "<B", INT8: "<b", UINT16: "<H", INT16: "<h", UINT32: "<I", INT32: "<i", FLOAT32: "<f",
               BOOL: "<?", UINT64: "<Q", INT64: "<q", FLOAT64: "<d"}

TYPE_IDS = {"F32": 0, "F16": 1, "Q4_0": 2, "Q4_1": 3, "Q5_0": 6, "Q5_1": 7, "Q8_0": 8, "Q2_K": 10, "Q3_K": 11,
            "Q4_K": 12, "Q5_K": 13, "Q6_K": 14, "BF16": 30}
BLOCK = {"F32": (1, 4), "F16": (1, 2), "BF16": (1, 2), "Q8_0": (32, 34), "Q4_0": (32, 18)}


def _enc_str(s):
    b = s.encode("utf-8") if isinstance(s, str) else bytes(s)
    return struct.pack("<Q", len(b)) + b


def _infer_type(v):
    if isinstance(v, bool):
        return BOOL
    if isinstance(v, int):
        return INT32 if -(2 ** 31) <= v < 2 ** 31 else INT64
    if isinstance(v, float):
        return FLOAT32
    if isinstance(v, (str, bytes)):
        return STRING
    if isinstance(v, (list, tuple, np.ndarray)):
        return ARRAY
    raise TypeError(f"cannot infer GGUF type of {type(v)}")


def encode_value(v, vtype=None, elem_type=None):
    """Encodes a value (without its leading type tag)."""
    vtype = _infer_type(v) if vtype is None else vtype
    if vtype == STRING:
        return _enc_str(v)
    if vtype == ARRAY:
        items = list(v)
        if elem_type is None:
            elem_type = _infer_type(items[0]) if items else UINT8
        out = struct.pack("<IQ", elem_type, len(items))
        if elem_type in _SCALAR_FMT:
            fmt = _SCALAR_FMT[elem_type]
            return out + b"".join(struct.pack(fmt, x) for x in items)
        return out + b"".join(encode_value(x, elem_type) for x in items)
    return struct.pack(_SCALAR_FMT[vtype], v)


# ---- half / bf16 ----
def f32_to_bf16_bits(x):
    u = np.asarray(x, np.float32).view(np.uint32).astype(np.uint64)
    rounded = (u + 0x7FFF + ((u >> 16) & 1)) >> 16
    return rounded.astype(np.uint16)


def bf16_bits_to_f32(b):
    return (np.asarray(b, np.uint16).astype(np.uint32) << 16).view(np.float32)


# ---- quantization (ggml reference rounding) ----
def quantize_q8_0(x):
    x = np.asarray(x, np.float32).reshape(-1, 32)
    amax = np.abs(x).max(axis=1)
    d = (amax / np.float32(127.0)).astype(np.float32)
    inv = np.where(d != 0, np.float32(1.0) / np.where(d != 0, d, 1), 0).astype(np.float32)
    v = x * inv[:, None]  # roundf: half away from zero
    q = (np.sign(v) * np.floor(np.abs(v) + np.float32(0.5))).astype(np.int8)
    out = np.zeros(x.shape[0], dtype=[("d", "<f2"), ("qs", "i1", 32)])
    out["d"] = d.astype(np.float16)
    out["qs"] = q
    return out.tobytes()


def quantize_q4_0(x):
    x = np.asarray(x, np.float32).reshape(-1, 32)
    idx = np.abs(x).argmax(axis=1)
    mx = x[np.arange(x.shape[0]), idx]
    d = (mx / np.float32(-8.0)).astype(np.float32)
    inv = np.where(d != 0, np.float32(1.0) / np.where(d != 0, d, 1), 0).astype(np.float32)
    v = x * inv[:, None] + np.float32(8.5)
    q = np.clip(np.trunc(v), 0, 15).astype(np.uint8)  # (int8)(v) truncates; v >= 0.5 always
    qs = q[:, :16] | (q[:, 16:] << 4)
    out = np.zeros(x.shape[0], dtype=[("d", "<f2"), ("qs", "u1", 16)])
    out["d"] = d.astype(np.float16)
    out["qs"] = qs
    return out.tobytes()


def quantize(x, ttype):
    x = np.ascontiguousarray(x, np.float32)
    if ttype == "F32":
        return x.astype("<f4").tobytes()
    if ttype == "F16":
        return x.astype("<f2").tobytes()
    if ttype == "BF16":
        return f32_to_bf16_bits(x).astype("<u2").tobytes()
    if ttype == "Q8_0":
        return quantize_q8_0(x)
    if ttype == "Q4_0":
        return quantize_q4_0(x)
    raise ValueError(f"cannot quantize to {ttype}")


def dequantize(raw, ttype, n):
    """Float64 values of n elements stored as ttype."""
    if ttype == "F32":
        return np.frombuffer(raw, "<f4", n).astype(np.float64)
    if ttype == "F16":
        return np.frombuffer(raw, "<f2", n).astype(np.float64)
    if ttype == "BF16":
        return bf16_bits_to_f32(np.frombuffer(raw, "<u2", n)).astype(np.float64)
    if ttype == "Q8_0":
        b = np.frombuffer(raw, dtype=[("d", "<f2"), ("qs", "i1", 32)], count=n // 32)
        return (b["d"].astype(np.float64)[:, None] * b["qs"].astype(np.float64)).reshape(-1)
    if ttype == "Q4_0":
        b = np.frombuffer(raw, dtype=[("d", "<f2"), ("qs", "u1", 16)], count=n // 32)
        lo = (b["qs"] & 0x0F).astype(np.float64) - 8
        hi = (b["qs"] >> 4).astype(np.float64) - 8
        q = np.concatenate([lo, hi], axis=1)
        return (b["d"].astype(np.float64)[:, None] * q).reshape(-1)
    raise ValueError(f"cannot dequantize {ttype}")


class GGUFWriter:
    UINT8, INT8, UINT16, INT16, UINT32, INT32, FLOAT32, BOOL, STRING, ARRAY, UINT64, INT64, FLOAT64 = range(13)

    def __init__(self, alignment=32, version=3):
        self.kv = []        # (key, type, encoded value)
        self.tensors = []   # (name, ne list, type id, raw bytes)
        self.alignment = alignment
        self.version = version

    def add(self, key, value, vtype=None, elem_type=None):
        vtype = _infer_type(value) if vtype is None else vtype
        if vtype == ARRAY and elem_type is None:
            items = list(value)
            elem_type = _infer_type(items[0]) if items else UINT8
        self.kv.append((key, vtype, encode_value(value, vtype, elem_type)))

    def add_tensor(self, name, array, ttype="F32"):
        a = np.asarray(array, np.float32)
        ne = list(reversed(a.shape))
        self.add_raw_tensor(name, ne, TYPE_IDS[ttype], quantize(a, ttype))

    def add_raw_tensor(self, name, ne, type_id, raw):
        self.tensors.append((name, list(ne), type_id, bytes(raw)))

    def header_bytes(self):
        out = bytearray(struct.pack("<IIQQ", GGUF_MAGIC, self.version, len(self.tensors), len(self.kv)))
        for key, vtype, enc in self.kv:
            out += _enc_str(key) + struct.pack("<I", vtype) + enc
        offset = 0
        self._offsets = []
        for name, ne, tid, raw in self.tensors:
            out += _enc_str(name) + struct.pack("<I", len(ne)) + b"".join(struct.pack("<Q", d) for d in ne)
            out += struct.pack("<IQ", tid, offset)
            self._offsets.append(offset)
            offset += len(raw)
            offset = (offset + self.alignment - 1) // self.alignment * self.alignment
        return bytes(out)

    def to_bytes(self):
        out = bytearray(self.header_bytes())
        out += b"\0" * ((-len(out)) % self.alignment)
        start = len(out)
        for (name, ne, tid, raw), off in zip(self.tensors, self._offsets):
            out += b"\0" * (start + off - len(out))
            out += raw
        return bytes(out)

    def write(self, path):
        data = self.to_bytes()
        tmp = path + ".tmp"
        with open(tmp, "wb") as f:
            f.write(data)
        import os
        os.replace(tmp, path)
