"""String hash buckets of integers' decimal text: Keras ``Hashing`` and hashed feature columns on
integer inputs.

``StringToHashBucketFast`` (FarmHash ``Fingerprint64``) and ``StringToHashBucketStrong``
(SipHash-2-4) hash a string's bytes, which no ONNX operator exposes, so hashing strings fed to
the graph has no ONNX form. But Keras ``Hashing`` and TF's hashed categorical columns hash
integer ids through ``AsString``: then the bytes are the id's decimal text, which ONNX
arithmetic can write out (digits by division by powers of ten, a minus sign) and hash with
64-bit unsigned multiplies, shifts and xors. The converters follow such a string back to its
integers through ``AsString`` and the shape-only ops between (the exporter tags those values,
``_convert.DECIMAL``). The hash formulas are FarmHash's farmhashna (lengths up to 32 bytes) and
SipHash-2-4 as ``savedmodel_io.hashing`` implements them (google/farmhash src/farmhash.cc;
tensorflow/tensorflow tensorflow/core/platform/strong_hash.h); decimal text is at most 20 bytes.
onnxruntime has no uint64 ``Where``, so selections are bit masks.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from savedmodel_io.hashing import farmhash
from savedmodel_io.hashing.siphash import siphash24
from savedmodel_io.onnx._graph import ExportError, Graph, Val
from savedmodel_io.onnx.ops._registry import converter
from savedmodel_io.onnx.ops._util import cast, scalar

_U64 = np.dtype(np.uint64)
_I64 = np.dtype(np.int64)
_WIDTH = 24  # bytes per row: 20 of text at most, zero padding so every 8-byte read stays inside
_K0, _K1, _K2 = 0xC3A5C85C97CB3127, 0xB492B66FBE98F273, 0x9AE16A3B2F90404F


def integers_behind(cx: Any, v: Val) -> Val | None:
    """The integer (or boolean) tensor whose decimal text ``v`` is, rebuilt through the shape-only
    ops the exporter recorded (``origin == ("decimal", source)``), or None."""
    origin = v.origin
    if not origin or origin[0] != "decimal":
        return None
    src = origin[1]
    if isinstance(src, Val):
        return src
    convert, node, ins = src  # a shape-only op of the text: its converter, run on the integers
    inner = integers_behind(cx, ins[0])
    if inner is None:
        return None
    out = convert(cx, node, [inner, *ins[1:]])
    return out[0] if isinstance(out, list) else out


def _u64(g: Graph, value: int) -> Val:
    return scalar(g, value & 0xFFFFFFFFFFFFFFFF, _U64)


def _select(g: Graph, mask: Val, a: Val, b: Val) -> Val:
    """``a`` where ``mask`` else ``b``, for uint64 (b ^ ((a ^ b) & all-ones-where-mask))."""
    ones = g.op1("Sub", _u64(g, 0), cast(g, mask, _U64))
    return g.op1("BitwiseXor", b, g.op1("BitwiseAnd", g.op1("BitwiseXor", a, b), ones))


def _shl(g: Graph, v: Val, s: int) -> Val:
    return g.op1("BitShift", v, _u64(g, s), direction="LEFT")


def _shr(g: Graph, v: Val, s: int) -> Val:
    return g.op1("BitShift", v, _u64(g, s), direction="RIGHT")


def _rotr(g: Graph, v: Val, s: int) -> Val:
    return g.op1("BitwiseOr", _shr(g, v, s), _shl(g, v, 64 - s))


def _decimal_bytes(g: Graph, x: Val) -> tuple[Val, Val]:
    """(bytes [N, 24] uint64, lengths [N] int64) of the decimal text of the integers of vector ``x``."""
    if x.dtype.kind == "i":
        wide = cast(g, x, _I64)
        neg = g.op1("Less", wide, scalar(g, 0, _I64))
        u = cast(g, wide, _U64)  # two's complement: the magnitude of a negative is 0 - u (INT64_MIN too)
        mag = _select(g, neg, g.op1("Sub", _u64(g, 0), u), u)
    else:
        neg = None
        mag = cast(g, x, _U64)
    digits = []  # least significant first
    for k in range(20):
        digits.append(g.op1("Mod", g.op1("Div", mag, _u64(g, 10 ** k)), _u64(g, 10)))
    count = scalar(g, 1, _I64)
    for k in range(1, 20):
        count = g.op1("Add", count, cast(g, g.op1("GreaterOrEqual", mag, _u64(g, 10 ** k)), _I64))
    length = count if neg is None else g.op1("Add", count, cast(g, neg, _I64))
    table = g.op1("Concat", *[g.op1("Unsqueeze", d, g.const(np.asarray([1], np.int64))) for d in digits], axis=1)
    pos = g.const(np.arange(_WIDTH, dtype=np.int64).reshape(1, -1))
    col = g.op1("Unsqueeze", length, g.const(np.asarray([1], np.int64)))
    which = g.op1("Sub", g.op1("Sub", col, scalar(g, 1, _I64)), pos)  # the digit at each position
    which = g.op1("Clip", which, scalar(g, 0, _I64), scalar(g, 19, _I64))
    chars = g.op1("Add", g.op1("GatherElements", table, which, axis=1), _u64(g, ord("0")))
    if neg is not None:
        sign = g.op1("And", g.op1("Unsqueeze", neg, g.const(np.asarray([1], np.int64))),
                     g.op1("Equal", pos, scalar(g, 0, _I64)))
        chars = _select(g, sign, _u64(g, ord("-")), chars)
    inside = g.op1("Less", pos, col)
    return _select(g, inside, chars, _u64(g, 0)), length


def _word(g: Graph, data: Val, offset: Val, size: int) -> Val:
    """The little-endian ``size``-byte words of ``data`` [N, 24] at per-row byte offsets [N]."""
    at = g.op1("Add", g.op1("Unsqueeze", offset, g.const(np.asarray([1], np.int64))),
               g.const(np.arange(size, dtype=np.int64).reshape(1, -1)))
    at = g.op1("Clip", at, scalar(g, 0, _I64), scalar(g, _WIDTH - 1, _I64))
    picked = g.op1("GatherElements", data, at, axis=1)
    shifted = g.op1("BitShift", picked, g.const(np.arange(0, 8 * size, 8, dtype=np.uint64).reshape(1, -1)),
                    direction="LEFT")
    parts = g.op("Split", [shifted], outputs=size, axis=1, num_outputs=size)
    out = parts[0]
    for p in parts[1:]:
        out = g.op1("BitwiseOr", out, p)
    return g.op1("Squeeze", out, g.const(np.asarray([1], np.int64)))


def _offset(g: Graph, n: Val, k: int) -> Val:
    """The byte offset ``k`` for every row (shaped as the lengths ``n``)."""
    return g.op1("Add", g.op1("Mul", n, scalar(g, 0, _I64)), scalar(g, k, _I64))


def _byte(g: Graph, data: Val, offset: Val) -> Val:
    at = g.op1("Unsqueeze", offset, g.const(np.asarray([1], np.int64)))
    return g.op1("Squeeze", g.op1("GatherElements", data, at, axis=1), g.const(np.asarray([1], np.int64)))


def _len16(g: Graph, u: Val, v: Val, mul: Val) -> Val:
    a = g.op1("Mul", g.op1("BitwiseXor", u, v), mul)
    a = g.op1("BitwiseXor", a, _shr(g, a, 47))
    b = g.op1("Mul", g.op1("BitwiseXor", v, a), mul)
    b = g.op1("BitwiseXor", b, _shr(g, b, 47))
    return g.op1("Mul", b, mul)


def _fingerprint64(g: Graph, data: Val, n: Val) -> Val:
    """FarmHash Fingerprint64 (farmhashna) of texts of 1 to 32 bytes: every length class computed,
    the row's own chosen."""
    nu = cast(g, n, _U64)
    mul = g.op1("Add", _u64(g, _K2), g.op1("Mul", nu, _u64(g, 2)))
    zero = _offset(g, n, 0)

    def at(k: int) -> Val:
        return g.op1("Add", n, scalar(g, k, _I64))

    # 8 to 16 bytes
    a = g.op1("Add", _word(g, data, zero, 8), _u64(g, _K2))
    b = _word(g, data, at(-8), 8)
    c = g.op1("Add", g.op1("Mul", _rotr(g, b, 37), mul), a)
    d = g.op1("Mul", g.op1("Add", _rotr(g, a, 25), b), mul)
    h8 = _len16(g, c, d, mul)
    # 4 to 7 bytes
    a4 = _word(g, data, zero, 4)
    h4 = _len16(g, g.op1("Add", nu, _shl(g, a4, 3)), _word(g, data, at(-4), 4), mul)
    # 1 to 3 bytes
    y = g.op1("Add", _byte(g, data, zero), _shl(g, _byte(g, data, g.op1("Div", n, scalar(g, 2, _I64))), 8))
    z = g.op1("Add", nu, _shl(g, _byte(g, data, at(-1)), 2))
    t = g.op1("BitwiseXor", g.op1("Mul", y, _u64(g, _K2)), g.op1("Mul", z, _u64(g, _K0)))
    h1 = g.op1("Mul", g.op1("BitwiseXor", t, _shr(g, t, 47)), _u64(g, _K2))
    # 17 to 32 bytes
    a = g.op1("Mul", _word(g, data, zero, 8), _u64(g, _K1))
    b = _word(g, data, _offset(g, n, 8), 8)
    c = g.op1("Mul", _word(g, data, at(-8), 8), mul)
    d = g.op1("Mul", _word(g, data, at(-16), 8), _u64(g, _K2))
    first = g.op1("Add", g.op1("Add", _rotr(g, g.op1("Add", a, b), 43), _rotr(g, c, 30)), d)
    second = g.op1("Add", g.op1("Add", a, _rotr(g, g.op1("Add", b, _u64(g, _K2)), 18)), c)
    h17 = _len16(g, first, second, mul)
    out = _select(g, g.op1("GreaterOrEqual", n, scalar(g, 4, _I64)), h4, h1)
    out = _select(g, g.op1("GreaterOrEqual", n, scalar(g, 8, _I64)), h8, out)
    return _select(g, g.op1("GreaterOrEqual", n, scalar(g, 17, _I64)), h17, out)


def _sip_rounds(g: Graph, v: list[Val], count: int) -> list[Val]:
    v0, v1, v2, v3 = v
    for _ in range(count):
        v0 = g.op1("Add", v0, v1)
        v1 = g.op1("BitwiseXor", _rotr(g, v1, 64 - 13), v0)
        v0 = _rotr(g, v0, 32)
        v2 = g.op1("Add", v2, v3)
        v3 = g.op1("BitwiseXor", _rotr(g, v3, 64 - 16), v2)
        v0 = g.op1("Add", v0, v3)
        v3 = g.op1("BitwiseXor", _rotr(g, v3, 64 - 21), v0)
        v2 = g.op1("Add", v2, v1)
        v1 = g.op1("BitwiseXor", _rotr(g, v1, 64 - 17), v2)
        v2 = _rotr(g, v2, 32)
    return [v0, v1, v2, v3]


def _siphash24(g: Graph, data: Val, n: Val, key: tuple[int, int]) -> Val:
    """SipHash-2-4 of texts of at most 23 bytes: up to two full 8-byte blocks (each applied where
    the row has it), then the last block with the length byte."""
    k0, k1 = key[0] & 0xFFFFFFFFFFFFFFFF, key[1] & 0xFFFFFFFFFFFFFFFF
    init = [k0 ^ 0x736F6D6570736575, k1 ^ 0x646F72616E646F6D, k0 ^ 0x6C7967656E657261, k1 ^ 0x7465646279746573]
    shape = g.op1("Shape", n)
    v = [g.op1("Expand", _u64(g, c), shape) for c in init]
    for block in range(2):
        m = _word(g, data, _offset(g, n, 8 * block), 8)
        has = g.op1("GreaterOrEqual", n, scalar(g, 8 * block + 8, _I64))
        w = [v[0], v[1], v[2], g.op1("BitwiseXor", v[3], m)]
        w = _sip_rounds(g, w, 2)
        w[0] = g.op1("BitwiseXor", w[0], m)
        v = [_select(g, has, new, old) for new, old in zip(w, v)]
    full = g.op1("Mul", g.op1("Div", n, scalar(g, 8, _I64)), scalar(g, 8, _I64))
    last = g.op1("BitwiseOr", _word(g, data, full, 8),
                 _shl(g, g.op1("BitwiseAnd", cast(g, n, _U64), _u64(g, 0xFF)), 56))
    v[3] = g.op1("BitwiseXor", v[3], last)
    v = _sip_rounds(g, v, 2)
    v[0] = g.op1("BitwiseXor", v[0], last)
    v[2] = g.op1("BitwiseXor", v[2], _u64(g, 0xFF))
    v = _sip_rounds(g, v, 4)
    return g.op1("BitwiseXor", g.op1("BitwiseXor", v[0], v[1]), g.op1("BitwiseXor", v[2], v[3]))


def _buckets(cx: Any, node: Any, ins: list[Val], hash_bytes: Any, hash_text: Any) -> Val:
    g = cx.g
    if cx.opset < 18:
        raise ExportError("hashing needs ONNX opset 18 (bitwise operators)")
    n_buckets = int(node.attr["num_buckets"])
    if n_buckets < 1:
        raise ExportError("num_buckets must be >= 1")
    source = integers_behind(cx, ins[0])
    if source is None:
        raise ExportError("hashing strings needs their bytes, which no ONNX operator gives (only the decimal "
                          "text of integers, AsString of an integer tensor, maps)")
    if source.dtype.kind == "b":  # AsString of booleans: "true" / "false"
        yes, no = (hash_text(t) % n_buckets for t in (b"true", b"false"))
        return g.op1("Where", source, scalar(g, yes, _I64), scalar(g, no, _I64))
    if source.dtype.kind not in "iu":
        raise ExportError(f"the decimal text of {source.dtype}")
    flat = g.op1("Reshape", source, g.const(np.asarray([-1], np.int64)))
    data, length = _decimal_bytes(g, flat)
    h = hash_bytes(g, data, length)
    out = cast(g, g.op1("Mod", h, _u64(g, n_buckets)), _I64)
    return g.op1("Reshape", out, g.op1("Shape", source), allowzero=1)


@converter("StringToHashBucketFast", onnx="the decimal text's bytes by Div/Mod, FarmHash in uint64 Mul/BitShift/Xor")
def to_hash_bucket_fast(cx, node, ins):
    return _buckets(cx, node, ins, _fingerprint64, farmhash.fingerprint64)


@converter("StringToHashBucketStrong", onnx="the decimal text's bytes by Div/Mod, SipHash-2-4 in uint64 Add/BitShift/Xor")
def to_hash_bucket_strong(cx, node, ins):
    key = [int(k) for k in node.attr["key"]]
    if len(key) != 2:
        raise ExportError(f"the key must have 2 elements, got {len(key)}")
    return _buckets(cx, node, ins, lambda g, data, n: _siphash24(g, data, n, (key[0], key[1])),
                    lambda text: siphash24(key[0], key[1], text))
