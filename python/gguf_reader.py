"""gguf_reader.py — an independent GGUF (v2/v3) reader for llamac's tests: metadata, tensor infos, raw tensor
bytes, and float64 tensors through gguf_writer.dequantize.

Written from the GGUF format description, not from the C reader, so the two check each other:

    little-endian throughout
    header   : u32 magic "GGUF" (0x46554747), u32 version (2 or 3), u64 n_tensors, u64 n_kv
    n_kv     : string key, u32 value type, value
               value = scalar | string (u64 length + bytes) | array (u32 element type, u64 count, elements;
               elements may themselves be arrays)
    n_tensors: string name, u32 n_dims, u64 ne[n_dims] (ne[0] innermost), u32 ggml type, u64 offset
    padding to general.alignment (u32, default 32), then the data section; offsets are relative to its start
    and must be multiples of the alignment.

    f = GGUFFile("model.gguf")        # or GGUFFile(data=bytes)
    f.version, f.kv["llama.block_count"], f.kv_types[key], f.alignment, f.data_offset
    t = f.tensor("blk.0.attn_q.weight")   # GGUFTensor: name, ne, type_name, offset (absolute), n_bytes, shape
    f.tensor_bytes(name)                  # raw bytes
    f.tensor_f64(name)                    # numpy float64 array of shape t.shape = reversed(ne)

Everything is validated while parsing; a malformed file raises GGUFError naming the field. Each metadata entry and
tensor info also records where it lies in the file (`KVRecord`, `GGUFTensor.info_offset`), which the hostile-input
tests use to damage files at meaningful places.
"""
import os
import struct
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gguf_writer  # noqa: E402  (dequantizers)

GGUF_MAGIC = 0x46554747
DEFAULT_ALIGNMENT = 32
MAX_DEPTH = 64  # nesting limit for arrays of arrays (this reader's own; the C reader is stricter)

# metadata value types
UINT8, INT8, UINT16, INT16, UINT32, INT32, FLOAT32, BOOL, STRING, ARRAY, UINT64, INT64, FLOAT64 = range(13)
VALUE_TYPE_NAMES = ["u8", "i8", "u16", "i16", "u32", "i32", "f32", "bool", "str", "array", "u64", "i64", "f64"]
_SCALAR = {UINT8: "<B", INT8: "<b", UINT16: "<H", INT16: "<h", UINT32: "<I", INT32: "<i", FLOAT32: "<f",
           BOOL: "<B", UINT64: "<Q", INT64: "<q", FLOAT64: "<d"}
_NP_SCALAR = {UINT8: "<u1", INT8: "<i1", UINT16: "<u2", INT16: "<i2", UINT32: "<u4", INT32: "<i4",
              FLOAT32: "<f4", BOOL: "<u1", UINT64: "<u8", INT64: "<i8", FLOAT64: "<f8"}

# ggml tensor types: id -> (name, elements per block, bytes per block)
GGML_TYPES = {
    0: ("F32", 1, 4), 1: ("F16", 1, 2), 2: ("Q4_0", 32, 18), 3: ("Q4_1", 32, 20), 6: ("Q5_0", 32, 22),
    7: ("Q5_1", 32, 24), 8: ("Q8_0", 32, 34), 9: ("Q8_1", 32, 36), 10: ("Q2_K", 256, 84), 11: ("Q3_K", 256, 110),
    12: ("Q4_K", 256, 144), 13: ("Q5_K", 256, 176), 14: ("Q6_K", 256, 210), 15: ("Q8_K", 256, 292),
    16: ("IQ2_XXS", 256, 66), 17: ("IQ2_XS", 256, 74), 18: ("IQ3_XXS", 256, 98), 19: ("IQ1_S", 256, 50),
    20: ("IQ4_NL", 32, 18), 21: ("IQ3_S", 256, 110), 22: ("IQ2_S", 256, 82), 23: ("IQ4_XS", 256, 136),
    24: ("I8", 1, 1), 25: ("I16", 1, 2), 26: ("I32", 1, 4), 27: ("I64", 1, 8), 28: ("F64", 1, 8),
    29: ("IQ1_M", 256, 56), 30: ("BF16", 1, 2), 34: ("TQ1_0", 256, 54), 35: ("TQ2_0", 256, 66),
    39: ("MXFP4", 32, 17),
}
TYPE_ID = {name: tid for tid, (name, _, _) in GGML_TYPES.items()}


class GGUFError(ValueError):
    pass


class KVRecord:
    """One metadata entry and where it lies: [offset, end) covers key, type tag and value."""

    def __init__(self, key, vtype, value, elem_type, offset, value_offset, end):
        self.key, self.vtype, self.value, self.elem_type = key, vtype, value, elem_type
        self.offset, self.value_offset, self.end = offset, value_offset, end

    def __repr__(self):
        return f"KVRecord({self.key!r}, {VALUE_TYPE_NAMES[self.vtype]}, @{self.offset})"


class GGUFTensor:
    def __init__(self, name, ne, type_id, rel_offset, info_offset, info_end):
        self.name = name
        self.ne = list(ne)                     # ggml order, ne[0] innermost
        self.n_dims = len(ne)
        self.type_id = type_id
        self.type_name, self.blck, self.block_bytes = GGML_TYPES[type_id]
        self.n_elements = int(np.prod(ne, dtype=object))
        self.n_bytes = self.n_elements // self.blck * self.block_bytes
        self.rel_offset = rel_offset           # as stored (relative to the data section)
        self.offset = None                     # absolute file offset, set once the data section is known
        self.info_offset, self.info_end = info_offset, info_end

    @property
    def shape(self):
        """numpy / PyTorch shape: reversed ne, so a [n_in, n_out] matrix is (n_out, n_in)."""
        return tuple(reversed(self.ne))

    def __repr__(self):
        return f"GGUFTensor({self.name!r}, {self.type_name}, ne={self.ne}, @{self.offset}+{self.n_bytes})"


class _Cursor:
    def __init__(self, data):
        self.data = data
        self.pos = 0

    def need(self, n, what):
        if n > len(self.data) - self.pos:
            raise GGUFError(f"file truncated: {what} needs {n} bytes at offset {self.pos}, "
                            f"{len(self.data) - self.pos} left")

    def unpack(self, fmt, what):
        size = struct.calcsize(fmt)
        self.need(size, what)
        v = struct.unpack_from(fmt, self.data, self.pos)
        self.pos += size
        return v[0] if len(v) == 1 else v

    def raw_string(self, what):
        n = self.unpack("<Q", f"{what} length")
        if n > len(self.data) - self.pos:
            raise GGUFError(f"{what}: string length {n} at offset {self.pos - 8} exceeds the "
                            f"{len(self.data) - self.pos} bytes left")
        b = bytes(self.data[self.pos:self.pos + n])
        self.pos += n
        return b


def _decode_text(b):
    try:
        return b.decode("utf-8")
    except UnicodeDecodeError:
        return b  # not UTF-8: keep the bytes


class GGUFFile:
    def __init__(self, path=None, data=None):
        if data is None:
            with open(path, "rb") as fh:
                data = fh.read()
        self.path = path
        self.data = memoryview(bytes(data))  # a private immutable copy
        self.kv = {}
        self.kv_types = {}
        self.records = []
        self.tensors = []
        self._by_name = {}
        self._parse()

    # ---- parsing ----
    def _value(self, c, vtype, key, depth):
        if vtype in _SCALAR:
            v = c.unpack(_SCALAR[vtype], f"value of '{key}'")
            if vtype == BOOL:
                if v > 1:
                    raise GGUFError(f"key '{key}': bool value {v} is not 0 or 1")
                v = bool(v)
            return v, None
        if vtype == STRING:
            return _decode_text(c.raw_string(f"value of '{key}'")), None
        if vtype == ARRAY:
            if depth >= MAX_DEPTH:
                raise GGUFError(f"key '{key}': arrays nested deeper than {MAX_DEPTH}")
            et = c.unpack("<I", f"array element type of '{key}'")
            n = c.unpack("<Q", f"array length of '{key}'")
            left = len(c.data) - c.pos
            if et in _SCALAR:
                size = struct.calcsize(_SCALAR[et])
                if n > left // size:
                    raise GGUFError(f"key '{key}': array of {n} {VALUE_TYPE_NAMES[et]} does not fit in {left} bytes")
                arr = np.frombuffer(c.data, _NP_SCALAR[et], n, c.pos)
                c.pos += n * size
                if et == BOOL:
                    if (arr > 1).any():
                        raise GGUFError(f"key '{key}': bool array element is not 0 or 1")
                    return [bool(x) for x in arr], et
                return arr.tolist(), et
            if et == STRING or et == ARRAY:
                if n > left // (8 if et == STRING else 12):
                    raise GGUFError(f"key '{key}': array of {n} {VALUE_TYPE_NAMES[et]} does not fit in {left} bytes")
                return [self._value(c, et, key, depth + 1)[0] for _ in range(n)], et
            raise GGUFError(f"key '{key}': unknown array element type {et}")
        raise GGUFError(f"key '{key}': unknown value type {vtype}")

    def _parse(self):
        c = _Cursor(self.data)
        if len(self.data) < 4:
            raise GGUFError(f"not a GGUF file: only {len(self.data)} bytes")
        magic = c.unpack("<I", "magic")
        if magic != GGUF_MAGIC:
            raise GGUFError(f"not a GGUF file: bad magic 0x{magic:08x}")
        self.version = c.unpack("<I", "version")
        if self.version not in (2, 3):
            raise GGUFError(f"unsupported GGUF version {self.version} (0x{self.version:08x})")
        n_tensors = c.unpack("<Q", "tensor count")
        n_kv = c.unpack("<Q", "metadata count")
        left = len(self.data) - c.pos
        if n_kv > left // 13:  # smallest entry: 8-byte length + 1-byte key + 4-byte type (+ value)
            raise GGUFError(f"absurd metadata count {n_kv} for a {len(self.data)}-byte file")
        if n_tensors > left // 24:  # smallest info: 8 + 1 + 4 + 8 + 4 + 8 - 9 (loose bound)
            raise GGUFError(f"absurd tensor count {n_tensors} for a {len(self.data)}-byte file")
        for i in range(n_kv):
            start = c.pos
            kb = c.raw_string(f"metadata key {i}")
            key = _decode_text(kb)
            if not kb:
                raise GGUFError(f"metadata key {i} is empty")
            vtype = c.unpack("<I", f"value type of '{key}'")
            vstart = c.pos
            value, et = self._value(c, vtype, key, 0)
            if key in self.kv:
                raise GGUFError(f"duplicate metadata key '{key}'")
            self.kv[key] = value
            self.kv_types[key] = vtype
            self.records.append(KVRecord(key, vtype, value, et, start, vstart, c.pos))
        self.alignment = DEFAULT_ALIGNMENT
        if "general.alignment" in self.kv:
            a = self.kv["general.alignment"]
            if self.kv_types["general.alignment"] != UINT32 or a == 0 or a & (a - 1):
                raise GGUFError(f"general.alignment {a!r} is not a power-of-two u32")
            self.alignment = a
        for i in range(n_tensors):
            start = c.pos
            nb = c.raw_string(f"tensor {i} name")
            name = _decode_text(nb)
            n_dims = c.unpack("<I", f"n_dims of tensor '{name}'")
            if not 1 <= n_dims <= 4:
                raise GGUFError(f"tensor '{name}': n_dims {n_dims} is not in 1..4")
            ne = [c.unpack("<Q", f"dimension {d} of tensor '{name}'") for d in range(n_dims)]
            if any(d == 0 for d in ne):
                raise GGUFError(f"tensor '{name}': zero dimension in {ne}")
            if int(np.prod(ne, dtype=object)) >= 2 ** 63:
                raise GGUFError(f"tensor '{name}': element count of {ne} overflows")
            tid = c.unpack("<I", f"type of tensor '{name}'")
            if tid not in GGML_TYPES:
                raise GGUFError(f"tensor '{name}': unknown tensor type {tid}")
            if ne[0] % GGML_TYPES[tid][1]:
                raise GGUFError(f"tensor '{name}': row of {ne[0]} is not a whole number of "
                                f"{GGML_TYPES[tid][0]} blocks")
            off = c.unpack("<Q", f"offset of tensor '{name}'")
            if name in self._by_name:
                raise GGUFError(f"duplicate tensor name '{name}'")
            t = GGUFTensor(name, ne, tid, off, start, c.pos)
            self.tensors.append(t)
            self._by_name[name] = t
        self.header_end = c.pos
        self.data_offset = (c.pos + self.alignment - 1) // self.alignment * self.alignment
        if self.tensors and self.data_offset > len(self.data):
            raise GGUFError("file truncated before the tensor data")
        size = len(self.data) - min(self.data_offset, len(self.data))
        for t in self.tensors:
            if t.rel_offset % self.alignment:
                raise GGUFError(f"tensor '{t.name}': offset {t.rel_offset} is not a multiple of {self.alignment}")
            if t.rel_offset + t.n_bytes > size:
                raise GGUFError(f"tensor '{t.name}': data [{t.rel_offset}, +{t.n_bytes}) lies outside the "
                                f"{size} data bytes")
            t.offset = self.data_offset + t.rel_offset
        spans = sorted((t.offset, t.offset + t.n_bytes, t.name) for t in self.tensors)
        for (a0, a1, an), (b0, b1, bn) in zip(spans, spans[1:]):
            if a1 > b0:
                raise GGUFError(f"tensors '{an}' and '{bn}' overlap")

    # ---- access ----
    def get(self, key, default=None):
        return self.kv.get(key, default)

    def tensor(self, name):
        return self._by_name[name]

    def has_tensor(self, name):
        return name in self._by_name

    def tensor_bytes(self, name):
        t = self._by_name[name]
        return bytes(self.data[t.offset:t.offset + t.n_bytes])

    def tensor_f64(self, name):
        """The tensor's values as float64, shape reversed(ne) (needs a dequantizer for its type)."""
        t = self._by_name[name]
        vals = gguf_writer.dequantize(self.tensor_bytes(name), t.type_name, t.n_elements)
        return vals.reshape(t.shape)


def main(argv):
    """python3 gguf_reader.py FILE: prints the metadata (arrays shortened) and the tensor table."""
    f = GGUFFile(argv[1])
    print(f"GGUF v{f.version}, {len(f.kv)} keys, {len(f.tensors)} tensors, alignment {f.alignment}")
    for r in f.records:
        v = r.value
        if isinstance(v, list) and len(v) > 8:
            v = f"{v[:8]}... ({len(r.value)} items)"
        print(f"  {r.key:40s} {VALUE_TYPE_NAMES[r.vtype]:5s} {v}")
    for t in f.tensors:
        print(f"  {t.name:32s} {t.type_name:6s} {str(t.ne):24s} @{t.offset} +{t.n_bytes}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
