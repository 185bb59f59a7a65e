"""test_gguf_reader.py — python/gguf_reader.py (the independent reader the reference tests rely on) and the
dequantizer registry of python/gguf_writer.py:
  - every metadata value type, arrays of each, nested arrays, empty arrays, GGUF v2 and v3, alignments 1..256,
    round-trip writer -> reader, and `llamac info` (the C reader) agrees on the same files;
  - malformed bytes raise GGUFError (never another exception), for every truncation of a small file;
  - every registered type dequantizes what its quantizer wrote to within the type's precision.
"""
import math
import os
import re
import shutil
import struct

import numpy as np

from llamac_testlib import check, main, run_llamac, scratch_dir
import gguf_writer as gw
from gguf_reader import GGUFError, GGUFFile, GGML_TYPES

SCRATCH = scratch_dir()

VALUES = [  # key, value, type, element type
    ("t.u8", 255, gw.UINT8, None), ("t.i8", -128, gw.INT8, None), ("t.u16", 65535, gw.UINT16, None),
    ("t.i16", -32768, gw.INT16, None), ("t.u32", 2 ** 32 - 1, gw.UINT32, None), ("t.i32", -2 ** 31, gw.INT32, None),
    ("t.f32", 0.5, gw.FLOAT32, None), ("t.bool", True, gw.BOOL, None), ("t.str", "héllo\nwörld", gw.STRING, None),
    ("t.u64", 2 ** 64 - 1, gw.UINT64, None), ("t.i64", -2 ** 63, gw.INT64, None), ("t.f64", 1e-300, gw.FLOAT64, None),
    ("t.empty_str", "", gw.STRING, None),
    ("a.u8", [0, 1, 255], gw.ARRAY, gw.UINT8), ("a.i16", [-5, 5], gw.ARRAY, gw.INT16),
    ("a.u64", [2 ** 63, 1], gw.ARRAY, gw.UINT64), ("a.f64", [1.5, -2.25], gw.ARRAY, gw.FLOAT64),
    ("a.bool", [True, False, True], gw.ARRAY, gw.BOOL), ("a.str", ["a", "", "ccc"], gw.ARRAY, gw.STRING),
    ("a.empty", [], gw.ARRAY, gw.INT32), ("a.nested", [[1, 2], [], [3]], gw.ARRAY, gw.ARRAY),
    ("a.deep", [[["x"], ["y", "z"]], [[]]], gw.ARRAY, gw.ARRAY),
]


def _writer(version=3, alignment=32):
    w = gw.GGUFWriter(alignment=alignment, version=version)
    w.add("general.architecture", "llama")
    if alignment != 32:
        w.add("general.alignment", alignment, gw.UINT32)
    for key, v, t, et in VALUES:
        w.add(key, v, t, et)
    rng = np.random.default_rng(3)
    w.add_tensor("a", rng.standard_normal((3, 64)).astype(np.float32), "Q8_0")
    w.add_tensor("b", rng.standard_normal((5,)).astype(np.float32), "F32")   # 20 bytes: padding follows
    w.add_tensor("c", rng.standard_normal((2, 2, 32)).astype(np.float32), "Q4_0")
    w.add_tensor("d", rng.standard_normal((7, 3)).astype(np.float32), "BF16")
    return w


def test_all_value_types_round_trip():
    for version in (2, 3):
        for alignment in (1, 8, 32, 64, 256):
            w = _writer(version, alignment)
            f = GGUFFile(data=w.to_bytes())
            check(f.version == version and f.alignment == alignment, "header")
            check(f.data_offset % alignment == 0 and f.data_offset >= f.header_end, "data offset")
            for key, v, t, et in VALUES:
                got = f.kv[key]
                check(f.kv_types[key] == t, f"{key}: type {f.kv_types[key]} != {t}")
                if t in (gw.FLOAT32, gw.FLOAT64):
                    check(math.isclose(got, v, rel_tol=1e-7), f"{key}: {got} != {v}")
                else:
                    check(got == v, f"{key}: {got!r} != {v!r}")
                if et is not None:
                    check(next(r for r in f.records if r.key == key).elem_type == et, f"{key}: element type")
            for (name, ne, tid, raw), t in zip(w.tensors, f.tensors):
                check((t.name, t.ne, t.type_id) == (name, ne, tid), f"tensor {t}")
                check(t.offset % alignment == 0 and f.tensor_bytes(name) == raw, f"tensor {name} data")
            check(f.tensor("c").shape == (2, 2, 32) and f.tensor_f64("c").shape == (2, 2, 32), "3-d shape")


def test_c_reader_agrees():
    """`llamac info` reads the same files: key count, tensor table, and the rendering of each value kind."""
    for version, alignment in ((3, 32), (2, 8), (3, 256)):
        path = os.path.join(SCRATCH, f"v{version}-a{alignment}.gguf")
        _writer(version, alignment).write(path)
        f = GGUFFile(path)
        r = run_llamac(["info", "-m", path])  # not a loadable model: exit 1 after the listing
        check(r.returncode == 1 and "not loadable" in r.stdout, f"info on a non-model file: {r.stdout[-300:]}")
        check(f"GGUF version: {version}" in r.stdout, "version")
        check(re.search(rf"metadata: {len(f.kv)} keys", r.stdout), "key count")
        lines = {m.group(1): m.group(2) for m in re.finditer(r"^  (\S+)\s+(.*)$", r.stdout, re.M)}
        want = {"t.u8": "255", "t.i8": "-128", "t.u64": "18446744073709551615", "t.i64": "-9223372036854775808",
                "t.bool": "true", "t.f32": "0.5", "t.str": '"héllo\\nwörld"', "a.bool": "bool[3] [true, false, true]",
                "a.str": 'str[3] ["a", "", "ccc"]', "a.empty": "i32[0] []",
                "a.nested": "array[3] [i32[2] [1, 2], u8[0] [], i32[1] [3]]"}
        for k, v in want.items():
            check(lines.get(k) == v, f"info renders {k} as {lines.get(k)!r}, expected {v!r}")
        rows = re.findall(r"^  (\S+)\s+(\S+)\s+([0-9 x]+?)\s+(\d+)\s+(\d+)$", r.stdout, re.M)
        check([(n, int(o), int(b)) for n, _, _, o, b in rows] == [(t.name, t.offset, t.n_bytes) for t in f.tensors],
              f"tensor table differs: {rows}")


def test_malformed_raises_gguf_error():
    data = _writer().to_bytes()
    f = GGUFFile(data=data)
    cuts = sorted(set(list(range(0, f.header_end + 40)) + list(range(f.data_offset, len(data), 37))))
    for at in cuts:
        try:
            GGUFFile(data=data[:at])
        except GGUFError:
            continue
        except Exception as ex:  # noqa: BLE001
            check(False, f"truncated at {at}: {type(ex).__name__}: {ex}")
        check(False, f"truncated at {at}: accepted")
    bad = [(4, "<I", 1, "version"), (4, "<I", 4, "version"), (0, "<I", 0x12345678, "magic"),
           (8, "<Q", 2 ** 63, "tensor count"), (16, "<Q", 2 ** 40, "metadata count")]
    for at, fmt, v, what in bad:
        b = bytearray(data)
        struct.pack_into(fmt, b, at, v)
        try:
            GGUFFile(data=bytes(b))
            check(False, f"{what} {v}: accepted")
        except GGUFError as ex:
            check(what.split()[0] in str(ex), f"{what}: message {ex}")
    # duplicates, overlap, misalignment
    w = _writer()
    w.kv.append(w.kv[1])
    for d, what in ((w.to_bytes(), "duplicate metadata key"),):
        try:
            GGUFFile(data=d)
            check(False, f"{what}: accepted")
        except GGUFError as ex:
            check(what in str(ex), f"{what}: {ex}")
    a = f.tensor("a")
    b = bytearray(data)
    struct.pack_into("<Q", b, f.tensor("b").info_end - 8, a.rel_offset + 32)
    try:
        GGUFFile(data=bytes(b))
        check(False, "overlap accepted")
    except GGUFError as ex:
        check("overlap" in str(ex), str(ex))


def test_dequantizer_registry():
    """Each registered type: geometry known to the reader, quantize -> dequantize within its precision."""
    rng = np.random.default_rng(9)
    x = (rng.standard_normal(4096) * 0.7).astype(np.float32)
    x[7] = 0.0
    x[128:160] = 0.0  # an all-zero block of 32
    bound = {"F32": 0.0, "F16": 1e-3, "BF16": 8e-3, "Q8_0": 1 / 127 / 2 + 2e-3, "Q4_0": 1 / 8 * 1.01 + 2e-3}
    check(set(gw.DEQUANTIZERS) >= set(bound), f"registry lacks {set(bound) - set(gw.DEQUANTIZERS)}")
    by_name = {name: (blck, size) for name, blck, size in GGML_TYPES.values()}
    for t in gw.DEQUANTIZERS:
        check(t in gw.BLOCK and by_name.get(t) == gw.BLOCK[t], f"{t}: block geometry {gw.BLOCK.get(t)} vs reader")
        if t not in gw.QUANTIZERS:
            continue
        raw = gw.quantize(x, t)
        blck, size = gw.BLOCK[t]
        check(len(raw) == x.size // blck * size, f"{t}: {len(raw)} bytes")
        y = gw.dequantize(raw, t, x.size)
        # relative to each block's largest magnitude
        amax = np.abs(x.reshape(-1, blck)).max(axis=1).repeat(blck) if blck > 1 else np.abs(x)
        err = np.abs(y - x) / np.where(amax > 0, amax, 1)
        if t in bound:
            check(err.max() <= bound[t], f"{t}: max relative error {err.max():.3e} > {bound[t]}")
            check(np.all(y[128:160] == 0), f"{t}: zero block does not stay zero")
        else:  # types added later: at least not garbage (4-bit and wider types stay well within this)
            check(err.max() <= 0.5, f"{t}: max relative error {err.max():.3e}")
        print(f"  {t:6s} max error / block max {err.max():.3e}")
    try:
        gw.dequantize(b"\0" * 10, "Q8_0", 32)
        check(False, "short buffer accepted")
    except ValueError:
        pass


if __name__ == "__main__":
    try:
        main(globals())
    finally:
        shutil.rmtree(SCRATCH, ignore_errors=True)
