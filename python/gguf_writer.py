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
Supported tensor types: F32, F16, BF16, Q8_0, Q4_0 (quantized with ggml's reference rounding), Q4_1, Q5_0, Q5_1,
Q2_K..Q6_K (simple quantizers) and, for dequantization only, the activation types Q8_1 and Q8_K.
`dequantize(raw_bytes, type, n)` returns the float64 values a reader must see, for reference computations.
GGUFStreamWriter (at the end) writes the same files tensor by tensor, for models too large to build in memory.
Types are registered per type (QUANTIZERS / DEQUANTIZERS, see "per-type codecs" below) so new ones are one entry.
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


# ---- per-type codecs ----------------------------------------------------------------------------------------
# One registry entry per tensor type, kept separate so a new type (e.g. a K-quant) is added in one place:
#
#     BLOCK["Q6_K"] = (256, 210)                      # elements per block, bytes per block
#     @register_dequantizer("Q6_K")
#     def dequantize_q6_k(raw, n): ...                 # -> float64 array of n values
#     @register_quantizer("Q6_K")                      # optional: only types the tests must *write*
#     def quantize_q6_k(x): ...                        # float32 array (n % block == 0) -> bytes
#
# `quantize(x, ttype)` and `dequantize(raw, ttype, n)` dispatch through these tables.
QUANTIZERS = {}
DEQUANTIZERS = {}


def register_quantizer(ttype):
    def deco(fn):
        QUANTIZERS[ttype] = fn
        return fn
    return deco


def register_dequantizer(ttype):
    def deco(fn):
        DEQUANTIZERS[ttype] = fn
        return fn
    return deco


# ---- float types ----
@register_quantizer("F32")
def quantize_f32(x):
    return x.astype("<f4").tobytes()


@register_dequantizer("F32")
def dequantize_f32(raw, n):
    return np.frombuffer(raw, "<f4", n).astype(np.float64)


@register_quantizer("F16")
def quantize_f16(x):
    return x.astype("<f2").tobytes()


@register_dequantizer("F16")
def dequantize_f16(raw, n):
    return np.frombuffer(raw, "<f2", n).astype(np.float64)


@register_quantizer("BF16")
def quantize_bf16(x):
    return f32_to_bf16_bits(x).astype("<u2").tobytes()


@register_dequantizer("BF16")
def dequantize_bf16(raw, n):
    return bf16_bits_to_f32(np.frombuffer(raw, "<u2", n)).astype(np.float64)


# ---- Q8_0: blocks of 32, f16 scale d, int8 q; value = d * q (ggml reference rounding) ----
@register_quantizer("Q8_0")
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


@register_dequantizer("Q8_0")
def dequantize_q8_0(raw, n):
    b = np.frombuffer(raw, dtype=[("d", "<f2"), ("qs", "i1", 32)], count=n // 32)
    return (b["d"].astype(np.float64)[:, None] * b["qs"].astype(np.float64)).reshape(-1)


# ---- Q4_0: blocks of 32, f16 scale d, 4-bit q (element j low nibble, j+16 high); value = d * (q - 8) ----
@register_quantizer("Q4_0")
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


@register_dequantizer("Q4_0")
def dequantize_q4_0(raw, n):
    b = np.frombuffer(raw, dtype=[("d", "<f2"), ("qs", "u1", 16)], count=n // 32)
    lo = (b["qs"] & 0x0F).astype(np.float64) - 8
    hi = (b["qs"] >> 4).astype(np.float64) - 8
    q = np.concatenate([lo, hi], axis=1)
    return (b["d"].astype(np.float64)[:, None] * q).reshape(-1)


# ---- the other 32-element quants and the K-quants (layouts: docs/QUANT_FORMATS.md) -------------------------
# These dequantizers mirror ggml's float32 arithmetic exactly (the same operations in the same order, each
# rounded to float32), so their results equal llamac's and llama.cpp's dequantization bit for bit; they are
# returned as float64 (exact). They are written from the layout description, independently of the C code.
BLOCK.update({"Q4_1": (32, 20), "Q5_0": (32, 22), "Q5_1": (32, 24), "Q8_1": (32, 36), "Q2_K": (256, 84),
              "Q3_K": (256, 110), "Q4_K": (256, 144), "Q5_K": (256, 176), "Q6_K": (256, 210),
              "Q8_K": (256, 292)})
TYPE_IDS.update({"Q8_1": 9, "Q8_K": 15})
_F32 = np.float32


def _blocks(raw, n, fields, blck):
    return np.frombuffer(raw, dtype=fields, count=n // blck)


def _nibbles32(qs):
    """(nb, 16) bytes -> (nb, 32) values: element j = low nibble of byte j, element j+16 = high nibble."""
    return np.concatenate([qs & 0x0F, qs >> 4], axis=1).astype(np.int32)


def _fifth_bits(qh):
    """(nb,) little-endian u32 -> (nb, 32): bit e of qh is the fifth bit of element e."""
    return ((qh[:, None] >> np.arange(32, dtype=np.uint32)) & 1).astype(np.int32)


@register_dequantizer("Q4_1")
def dequantize_q4_1(raw, n):  # {f16 d, f16 m, u8 qs[16]}: x = q*d + m
    b = _blocks(raw, n, [("d", "<f2"), ("m", "<f2"), ("qs", "u1", 16)], 32)
    q = _nibbles32(b["qs"]).astype(_F32)
    return (q * b["d"].astype(_F32)[:, None] + b["m"].astype(_F32)[:, None]).astype(np.float64).reshape(-1)


@register_dequantizer("Q5_0")
def dequantize_q5_0(raw, n):  # {f16 d, u32 qh, u8 qs[16]}: x = (q - 16)*d
    b = _blocks(raw, n, [("d", "<f2"), ("qh", "<u4"), ("qs", "u1", 16)], 32)
    q = _nibbles32(b["qs"]) | (_fifth_bits(b["qh"]) << 4)
    return ((q - 16).astype(_F32) * b["d"].astype(_F32)[:, None]).astype(np.float64).reshape(-1)


@register_dequantizer("Q5_1")
def dequantize_q5_1(raw, n):  # {f16 d, f16 m, u32 qh, u8 qs[16]}: x = q*d + m
    b = _blocks(raw, n, [("d", "<f2"), ("m", "<f2"), ("qh", "<u4"), ("qs", "u1", 16)], 32)
    q = (_nibbles32(b["qs"]) | (_fifth_bits(b["qh"]) << 4)).astype(_F32)
    return (q * b["d"].astype(_F32)[:, None] + b["m"].astype(_F32)[:, None]).astype(np.float64).reshape(-1)


@register_dequantizer("Q8_1")
def dequantize_q8_1(raw, n):  # {f16 d, f16 s, i8 qs[32]}: x = q*d (s = d*sum(q) is only for dot products)
    b = _blocks(raw, n, [("d", "<f2"), ("s", "<f2"), ("qs", "i1", 32)], 32)
    return (b["qs"].astype(_F32) * b["d"].astype(_F32)[:, None]).astype(np.float64).reshape(-1)


def _crumbs(qs, nb):
    """K-quant 2-bit fields: qs (nb, 64) -> (nb, 256); element 128h + 32g + l = bits 2g..2g+1 of qs[32h + l]."""
    q = qs.reshape(nb, 2, 1, 32) >> (2 * np.arange(4, dtype=np.uint8)).reshape(1, 1, 4, 1)
    return (q & 3).reshape(nb, 256).astype(np.int32)


def _high_bits(hm, nb):
    """hmask/qh (nb, 32) -> (nb, 256): element e's bit is bit e//32 of byte e%32."""
    e = np.arange(256)
    return ((hm[:, e % 32] >> (e // 32).astype(np.uint8)) & 1).astype(np.int32)


def _scale_min_k4(s):
    """Q4_K/Q5_K: 12 packed bytes (nb, 12) -> 6-bit scales (nb, 8) and mins (nb, 8)."""
    s = s.astype(np.int32)
    sc = np.concatenate([s[:, 0:4] & 63, (s[:, 8:12] & 15) | ((s[:, 0:4] >> 6) << 4)], axis=1)
    mn = np.concatenate([s[:, 4:8] & 63, (s[:, 8:12] >> 4) | ((s[:, 4:8] >> 6) << 4)], axis=1)
    return sc, mn


def _sub_affine(d, sc, dmin, mn, q, sub):
    """x = (d*sc) * q - (dmin*mn) per sub-block of `sub` elements, float32 in this order."""
    nb = q.shape[0]
    dl = d.astype(_F32)[:, None] * sc.astype(_F32)
    ml = dmin.astype(_F32)[:, None] * mn.astype(_F32)
    y = dl[:, :, None] * q.reshape(nb, -1, sub).astype(_F32) - ml[:, :, None]
    return y.astype(np.float64).reshape(-1)


@register_dequantizer("Q2_K")
def dequantize_q2_k(raw, n):  # {u8 scales[16] (lo: scale, hi: min), u8 qs[64], f16 d, f16 dmin}
    b = _blocks(raw, n, [("scales", "u1", 16), ("qs", "u1", 64), ("d", "<f2"), ("dmin", "<f2")], 256)
    return _sub_affine(b["d"], b["scales"] & 15, b["dmin"], b["scales"] >> 4, _crumbs(b["qs"], len(b)), 16)


@register_dequantizer("Q3_K")
def dequantize_q3_k(raw, n):  # {u8 hmask[32], u8 qs[64], u8 scales[12], f16 d}: x = (d*(sc-32)) * q
    b = _blocks(raw, n, [("hmask", "u1", 32), ("qs", "u1", 64), ("scales", "u1", 12), ("d", "<f2")], 256)
    nb = len(b)
    p = b["scales"].astype(np.int32)
    lo = np.concatenate([p[:, :8] & 15, p[:, :8] >> 4], axis=1)
    s = np.arange(16)
    hi = (p[:, 8 + s % 4] >> (2 * (s // 4))) & 3
    sc = (lo | (hi << 4)) - 32
    q = _crumbs(b["qs"], nb) - 4 * (1 - _high_bits(b["hmask"], nb))
    dl = b["d"].astype(_F32)[:, None] * sc.astype(_F32)
    return (dl[:, :, None] * q.reshape(nb, 16, 16).astype(_F32)).astype(np.float64).reshape(-1)


def _nibbles_k(qs, nb):
    """Q4_K/Q5_K low 4 bits: qs (nb, 128) -> (nb, 256); element 64c + l: low nibble of qs[32c + l] for l < 32,
    high nibble of qs[32c + l - 32] otherwise."""
    q = qs.reshape(nb, 4, 1, 32)
    return np.concatenate([q & 15, q >> 4], axis=2).reshape(nb, 256).astype(np.int32)


@register_dequantizer("Q4_K")
def dequantize_q4_k(raw, n):  # {f16 d, f16 dmin, u8 scales[12], u8 qs[128]}
    b = _blocks(raw, n, [("d", "<f2"), ("dmin", "<f2"), ("scales", "u1", 12), ("qs", "u1", 128)], 256)
    sc, mn = _scale_min_k4(b["scales"])
    return _sub_affine(b["d"], sc, b["dmin"], mn, _nibbles_k(b["qs"], len(b)), 32)


@register_dequantizer("Q5_K")
def dequantize_q5_k(raw, n):  # {f16 d, f16 dmin, u8 scales[12], u8 qh[32], u8 qs[128]}
    b = _blocks(raw, n, [("d", "<f2"), ("dmin", "<f2"), ("scales", "u1", 12), ("qh", "u1", 32),
                         ("qs", "u1", 128)], 256)
    nb = len(b)
    sc, mn = _scale_min_k4(b["scales"])
    q = _nibbles_k(b["qs"], nb) | (_high_bits(b["qh"], nb) << 4)
    return _sub_affine(b["d"], sc, b["dmin"], mn, q, 32)


@register_dequantizer("Q6_K")
def dequantize_q6_k(raw, n):  # {u8 ql[128], u8 qh[64], i8 scales[16], f16 d}: x = (d*sc) * (q - 32)
    b = _blocks(raw, n, [("ql", "u1", 128), ("qh", "u1", 64), ("scales", "i1", 16), ("d", "<f2")], 256)
    nb = len(b)
    ql = b["ql"].reshape(nb, 2, 2, 32)                               # [half h][g & 1][l]
    low = np.concatenate([ql & 15, ql >> 4], axis=2)                  # [h][g][l], g = 0..3
    high = (b["qh"].reshape(nb, 2, 1, 32) >> (2 * np.arange(4, dtype=np.uint8)).reshape(1, 1, 4, 1)) & 3
    q = (low.astype(np.int32) | (high.astype(np.int32) << 4)) - 32
    dl = b["d"].astype(_F32)[:, None] * b["scales"].astype(_F32)
    return (dl[:, :, None] * q.reshape(nb, 16, 16).astype(_F32)).astype(np.float64).reshape(-1)


@register_dequantizer("Q8_K")
def dequantize_q8_k(raw, n):  # {f32 d, i8 qs[256], i16 bsums[16]}: x = d*q
    b = _blocks(raw, n, [("d", "<f4"), ("qs", "i1", 256), ("bsums", "<i2", 16)], 256)
    return (b["d"].astype(_F32)[:, None] * b["qs"].astype(_F32)).astype(np.float64).reshape(-1)


# Simple quantizers for the types above, so tests can write files of every type from Python. They follow
# ggml's formulas for the 32-element types; for the K-quants they use plain min/max scales (no search), which
# is enough for valid, reasonably accurate blocks (llamac quantize has the search-based quantizers).
def _round(v):
    return np.rint(v)  # ties to even, as ggml's nearest_int


def _safe_inv(d):
    return np.where(d != 0, 1.0 / np.where(d != 0, d, 1), 0).astype(_F32)


def _pack_nibbles32(q):
    return (q[:, :16] | (q[:, 16:] << 4)).astype(np.uint8)


def _pack_fifth_bits(q):
    return ((q >> 4).astype(np.uint32) << np.arange(32, dtype=np.uint32)).sum(axis=1, dtype=np.uint32)


def _q_affine32(x, nmax):
    x = np.asarray(x, _F32).reshape(-1, 32)
    mn, mx = x.min(axis=1), x.max(axis=1)
    d = ((mx - mn) / _F32(nmax)).astype(_F32)
    q = np.clip(np.trunc((x - mn[:, None]) * _safe_inv(d)[:, None] + _F32(0.5)), 0, nmax).astype(np.int32)
    return d, mn, q


@register_quantizer("Q4_1")
def quantize_q4_1(x):
    d, mn, q = _q_affine32(x, 15)
    out = np.zeros(len(d), dtype=[("d", "<f2"), ("m", "<f2"), ("qs", "u1", 16)])
    out["d"], out["m"], out["qs"] = d, mn, _pack_nibbles32(q)
    return out.tobytes()


@register_quantizer("Q5_1")
def quantize_q5_1(x):
    d, mn, q = _q_affine32(x, 31)
    out = np.zeros(len(d), dtype=[("d", "<f2"), ("m", "<f2"), ("qh", "<u4"), ("qs", "u1", 16)])
    out["d"], out["m"], out["qh"], out["qs"] = d, mn, _pack_fifth_bits(q), _pack_nibbles32(q & 15)
    return out.tobytes()


@register_quantizer("Q5_0")
def quantize_q5_0(x):
    x = np.asarray(x, _F32).reshape(-1, 32)
    mx = x[np.arange(len(x)), np.abs(x).argmax(axis=1)]
    d = (mx / _F32(-16)).astype(_F32)
    q = np.clip(np.trunc(x * _safe_inv(d)[:, None] + _F32(16.5)), 0, 31).astype(np.int32)
    out = np.zeros(len(d), dtype=[("d", "<f2"), ("qh", "<u4"), ("qs", "u1", 16)])
    out["d"], out["qh"], out["qs"] = d, _pack_fifth_bits(q), _pack_nibbles32(q & 15)
    return out.tobytes()


def _kq_scale_min(x, sub, nmax, scale_bits):
    """Per sub-block min/max -> (d, sc, dmin, m, q) with q in 0..nmax against the stored (f16) scales."""
    nb = x.shape[0]
    xs = x.reshape(nb, -1, sub)
    mn = np.minimum(xs.min(axis=2), 0)
    scale = ((xs.max(axis=2) - mn) / _F32(nmax)).astype(_F32)
    smax = _F32((1 << scale_bits) - 1)
    d = (scale.max(axis=1) / smax).astype(np.float16)
    dmin = ((-mn).max(axis=1) / smax).astype(np.float16)
    sc = np.clip(_round(scale * _safe_inv(d.astype(_F32))[:, None]), 0, smax).astype(np.int32)
    m = np.clip(_round(-mn * _safe_inv(dmin.astype(_F32))[:, None]), 0, smax).astype(np.int32)
    ds = d.astype(_F32)[:, None] * sc.astype(_F32)
    ms = dmin.astype(_F32)[:, None] * m.astype(_F32)
    q = _round((xs + ms[:, :, None]) * _safe_inv(ds)[:, :, None])
    return d, sc, dmin, m, np.clip(q, 0, nmax).astype(np.int32).reshape(nb, -1)


def _pack_crumbs(q):
    nb = q.shape[0]
    q = q.reshape(nb, 2, 4, 32).astype(np.uint8)
    return (q[:, :, 0] | (q[:, :, 1] << 2) | (q[:, :, 2] << 4) | (q[:, :, 3] << 6)).reshape(nb, 64)


def _pack_high_bits(bits):
    nb = bits.shape[0]
    b = bits.reshape(nb, 8, 32).astype(np.uint8) << np.arange(8, dtype=np.uint8)[None, :, None]
    return np.bitwise_or.reduce(b, axis=1)


def _pack_scale_min_k4(sc, m):
    s = np.zeros((sc.shape[0], 12), np.uint8)
    s[:, 0:4] = (sc[:, 0:4] & 63) | ((sc[:, 4:8] >> 4) << 6)
    s[:, 4:8] = (m[:, 0:4] & 63) | ((m[:, 4:8] >> 4) << 6)
    s[:, 8:12] = (sc[:, 4:8] & 15) | ((m[:, 4:8] & 15) << 4)
    return s


def _pack_nibbles_k(q):
    nb = q.shape[0]
    q = q.reshape(nb, 4, 2, 32).astype(np.uint8)
    return (q[:, :, 0] | (q[:, :, 1] << 4)).reshape(nb, 128)


@register_quantizer("Q2_K")
def quantize_q2_k(x):
    x = np.asarray(x, _F32).reshape(-1, 256)
    d, sc, dmin, m, q = _kq_scale_min(x, 16, 3, 4)
    out = np.zeros(len(x), dtype=[("scales", "u1", 16), ("qs", "u1", 64), ("d", "<f2"), ("dmin", "<f2")])
    out["scales"], out["qs"], out["d"], out["dmin"] = sc | (m << 4), _pack_crumbs(q), d, dmin
    return out.tobytes()


@register_quantizer("Q4_K")
def quantize_q4_k(x):
    x = np.asarray(x, _F32).reshape(-1, 256)
    d, sc, dmin, m, q = _kq_scale_min(x, 32, 15, 6)
    out = np.zeros(len(x), dtype=[("d", "<f2"), ("dmin", "<f2"), ("scales", "u1", 12), ("qs", "u1", 128)])
    out["d"], out["dmin"], out["scales"], out["qs"] = d, dmin, _pack_scale_min_k4(sc, m), _pack_nibbles_k(q)
    return out.tobytes()


@register_quantizer("Q5_K")
def quantize_q5_k(x):
    x = np.asarray(x, _F32).reshape(-1, 256)
    d, sc, dmin, m, q = _kq_scale_min(x, 32, 31, 6)
    out = np.zeros(len(x), dtype=[("d", "<f2"), ("dmin", "<f2"), ("scales", "u1", 12), ("qh", "u1", 32),
                                  ("qs", "u1", 128)])
    out["d"], out["dmin"], out["scales"] = d, dmin, _pack_scale_min_k4(sc, m)
    out["qh"], out["qs"] = _pack_high_bits(q >> 4), _pack_nibbles_k(q & 15)
    return out.tobytes()


def _kq_symmetric(x, sub, qmin, scale_min):
    """Per sub-block signed scale (largest magnitude -> qmin), then sub-block scales against one f16 d
    (largest magnitude -> scale_min). Returns d, sc (signed ints), q in qmin..-qmin-1."""
    nb = x.shape[0]
    xs = x.reshape(nb, -1, sub)
    idx = np.abs(xs).argmax(axis=2)
    mx = np.take_along_axis(xs, idx[:, :, None], axis=2)[:, :, 0]
    scale = (mx / _F32(qmin)).astype(_F32)
    smax = scale[np.arange(nb), np.abs(scale).argmax(axis=1)]
    d = (smax / _F32(scale_min)).astype(np.float16)
    sc = np.clip(_round(scale * _safe_inv(d.astype(_F32))[:, None]), scale_min, -scale_min - 1).astype(np.int32)
    ds = d.astype(_F32)[:, None] * sc.astype(_F32)
    q = np.clip(_round(xs * _safe_inv(ds)[:, :, None]), qmin, -qmin - 1).astype(np.int32)
    return d, sc, q.reshape(nb, -1)


@register_quantizer("Q3_K")
def quantize_q3_k(x):
    x = np.asarray(x, _F32).reshape(-1, 256)
    d, sc, q = _kq_symmetric(x, 16, -4, -32)
    v = sc + 32
    p = np.zeros((len(x), 12), np.uint8)
    p[:, 0:8] = (v[:, 0:8] & 15) | ((v[:, 8:16] & 15) << 4)
    hi = (v >> 4).reshape(-1, 4, 4)  # [s // 4][s % 4]
    p[:, 8:12] = hi[:, 0] | (hi[:, 1] << 2) | (hi[:, 2] << 4) | (hi[:, 3] << 6)
    L = q + 4
    out = np.zeros(len(x), dtype=[("hmask", "u1", 32), ("qs", "u1", 64), ("scales", "u1", 12), ("d", "<f2")])
    out["hmask"], out["qs"], out["scales"], out["d"] = _pack_high_bits(L >> 2), _pack_crumbs(L & 3), p, d
    return out.tobytes()


@register_quantizer("Q6_K")
def quantize_q6_k(x):
    x = np.asarray(x, _F32).reshape(-1, 256)
    nb = len(x)
    d, sc, q = _kq_symmetric(x, 16, -32, -128)
    L = (q + 32).reshape(nb, 2, 4, 32).astype(np.uint8)  # [h][g][l]
    ql = np.concatenate([L[:, :, 0] & 15 | ((L[:, :, 2] & 15) << 4), L[:, :, 1] & 15 | ((L[:, :, 3] & 15) << 4)],
                        axis=2)  # per half: bytes 0..31 (g 0 | g 2), 32..63 (g 1 | g 3)
    qh = (L[:, :, 0] >> 4) | ((L[:, :, 1] >> 4) << 2) | ((L[:, :, 2] >> 4) << 4) | ((L[:, :, 3] >> 4) << 6)
    out = np.zeros(nb, dtype=[("ql", "u1", 128), ("qh", "u1", 64), ("scales", "i1", 16), ("d", "<f2")])
    out["ql"], out["qh"], out["scales"], out["d"] = ql.reshape(nb, 128), qh.reshape(nb, 64), sc, d
    return out.tobytes()


def quantize(x, ttype):
    fn = QUANTIZERS.get(ttype)
    if fn is None:
        raise ValueError(f"cannot quantize to {ttype}")
    return fn(np.ascontiguousarray(x, np.float32))


def dequantize(raw, ttype, n):
    """Float64 values of n elements stored as ttype."""
    fn = DEQUANTIZERS.get(ttype)
    if fn is None:
        raise ValueError(f"cannot dequantize {ttype}")
    blck, bsize = BLOCK[ttype]
    if n % blck != 0 or len(raw) < n // blck * bsize:
        raise ValueError(f"{ttype}: {len(raw)} bytes do not hold {n} elements")
    return fn(raw, n)


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
        import os
        import uuid
        tmp = f"{path}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp"  # unique: concurrent writers never collide
        with open(tmp, "wb") as f:
            f.write(data)
        os.replace(tmp, path)


class _Reserved:
    """Stands in for a tensor's data in GGUFWriter.tensors when the data is streamed later: the header only
    needs its length."""

    def __init__(self, n_bytes):
        self.n_bytes = n_bytes

    def __len__(self):
        return self.n_bytes


class GGUFStreamWriter(GGUFWriter):
    """A GGUFWriter for files too large to build in memory (multi-GB models): declare every tensor first, then
    stream the data tensor by tensor, in declaration order, in as many chunks as wanted.

        w = GGUFStreamWriter()
        w.add("general.architecture", "llama")                        # metadata exactly as with GGUFWriter
        w.declare_tensor("token_embd.weight", (vocab, dim), "F16")      # numpy shape (rows, cols)
        with w.open("model.gguf") as out:                               # writes the header
            for rows in row_chunks:                                     # float arrays of whole blocks,
                out.write("token_embd.weight", rows)                    # converted to the declared type, or raw bytes

    The data goes to a temporary file that replaces `path` only when the block ends without an exception and every
    tensor is complete; otherwise the temporary file is removed and `path` is untouched. The bytes written are
    identical to GGUFWriter.write of the same tensors.
    """

    def declare_tensor(self, name, shape, ttype):
        ne = list(reversed([int(d) for d in shape]))
        blck, bsize = BLOCK[ttype]
        n = int(np.prod(ne))
        if ne[0] % blck != 0:
            raise ValueError(f"{name}: rows of {ne[0]} elements are not whole {ttype} blocks of {blck}")
        self.tensors.append((name, ne, TYPE_IDS[ttype], _Reserved(n // blck * bsize)))
        self._ttypes = getattr(self, "_ttypes", {})
        self._ttypes[name] = ttype

    def add_raw_tensor(self, name, ne, type_id, raw):
        raise TypeError("GGUFStreamWriter: declare tensors with declare_tensor and stream their data with open()")

    def to_bytes(self):
        raise TypeError("GGUFStreamWriter streams its data: use open(path)")

    def write(self, path):
        raise TypeError("GGUFStreamWriter streams its data: use open(path)")

    def open(self, path):
        return _TensorStream(self, path)


class _TensorStream:
    def __init__(self, writer, path):
        import os
        import uuid
        self.w = writer
        self.path = path
        self.tmp = f"{path}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp"
        self.f = None
        self.i = -1          # index of the tensor being written
        self.filled = 0      # bytes written of it

    def __enter__(self):
        header = self.w.header_bytes()
        self.f = open(self.tmp, "wb")
        self.f.write(header)
        self.f.write(b"\0" * ((-len(header)) % self.w.alignment))
        self.start = len(header) + (-len(header)) % self.w.alignment
        self.pos = self.start
        return self

    def _size(self, i):
        return len(self.w.tensors[i][3])

    def write(self, name, data):
        """Appends data (a float array of whole blocks, or bytes) to tensor `name`: the current tensor, or the
        next one once the current one is complete."""
        tensors = self.w.tensors
        if self.i < 0 or (self.filled == self._size(self.i) and tensors[self.i][0] != name):
            if self.i >= 0 and self.filled != self._size(self.i):
                raise ValueError(f"tensor '{tensors[self.i][0]}' is incomplete")
            self.i += 1
            if self.i >= len(tensors) or tensors[self.i][0] != name:
                expected = tensors[self.i][0] if self.i < len(tensors) else "nothing (all tensors are written)"
                raise ValueError(f"got data for '{name}' but the next tensor is {expected}")
            self.filled = 0
            target = self.start + self.w._offsets[self.i]
            self.f.write(b"\0" * (target - self.pos))
            self.pos = target
        elif tensors[self.i][0] != name:
            raise ValueError(f"got data for '{name}' while '{tensors[self.i][0]}' is incomplete")
        if not isinstance(data, (bytes, bytearray, memoryview)):
            data = quantize(np.asarray(data), self.w._ttypes[name])
        if self.filled + len(data) > self._size(self.i):
            raise ValueError(f"tensor '{name}': {self.filled + len(data)} bytes exceed its {self._size(self.i)}")
        self.f.write(data)
        self.filled += len(data)
        self.pos += len(data)

    def __exit__(self, exc_type, exc, tb):
        import os
        try:
            if exc_type is None:
                n = len(self.w.tensors)
                if n and (self.i != n - 1 or self.filled != self._size(n - 1)):
                    done = self.i + (1 if self.i >= 0 and self.filled == self._size(self.i) else 0)
                    raise ValueError(f"only {done} of {n} tensors were written completely")
            self.f.close()
            if exc_type is None:
                os.replace(self.tmp, self.path)
        finally:
            if not self.f.closed:
                self.f.close()
            if os.path.exists(self.tmp):
                os.unlink(self.tmp)
        return False
