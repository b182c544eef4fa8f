"""String ops ONNX can express: joins, regex matches, splits, number parsing.

ONNX gained string ops in opset 20 (StringConcat, RegexFullMatch, StringSplit).
Hashing (FarmHash buckets), regex replacement, lengths in
bytes or characters, substrings and formatting have no ONNX operator.
Semantics: graph/ops/strings.py and tf.raw_ops; ONNX: onnx/onnx docs/Operators.md.
Case changes are not mapped: ONNX's StringNormalizer changes case by locale where
TensorFlow's default (``encoding=""``) changes ASCII letters only.
"""

from __future__ import annotations

import numpy as np

from savedmodel_io.onnx._graph import ExportError, Val
from savedmodel_io.onnx.ops._registry import converter, inexpressible
from savedmodel_io.onnx.ops._util import attr_dtype, attr_text, cast, i64, is_float, scalar, unsqueeze


def _need(cx, opset: int, what: str) -> None:
    if cx.opset < opset:
        raise ExportError(f"{what} needs ONNX opset {opset}")


@converter("StringJoin", onnx="StringConcat")
def join(cx, node, ins):
    _need(cx, 20, "StringJoin")
    g = cx.g
    sep = node.attr.get("separator", b"")
    sep = sep if isinstance(sep, bytes) else str(sep).encode()
    out = ins[0]
    for v in ins[1:]:
        if sep:
            out = g.op1("StringConcat", out, g.const(np.asarray(sep, dtype=object)))
        out = g.op1("StringConcat", out, v)
    return out


@converter("StaticRegexFullMatch", "RegexFullMatch", onnx="RegexFullMatch")
def regex_full_match(cx, node, ins):
    _need(cx, 20, "RegexFullMatch")
    g = cx.g
    if node.op == "StaticRegexFullMatch":
        pattern = attr_text(node, "pattern")
    else:
        p = ins[1]
        if not p.is_const:
            raise ExportError("the pattern is computed at run time")
        pattern = bytes(p.const.reshape(-1)[0]).decode("utf-8")
    return g.op1("RegexFullMatch", ins[0], pattern=pattern)


@converter("StringToNumber", onnx="Cast")
def to_number(cx, node, ins):
    return cast(cx.g, ins[0], attr_dtype(node, "out_type", 1))


@converter("AsString", onnx="Cast (integers), Where (booleans), Identity (strings)")
def as_string(cx, node, ins):
    """TF's plain decimal text; a width (padding) or float formatting has no ONNX form."""
    x = ins[0]
    # tensorflow/tensorflow tensorflow/core/kernels/as_string_op.cc: a fill without a width
    # formats as without both; precision/scientific/shortest are refused by TF for non-floats.
    if x.dtype.kind in "fc" or is_float(x.dtype):
        raise ExportError("ONNX Cast writes floats differently from AsString's printf formats")
    if int(node.attr.get("width", -1)) > 0:
        raise ExportError("AsString's width: ONNX has no string length to pad with")
    if any(node.attr.get(a) not in (None, -1, False) for a in ("precision", "scientific", "shortest")):
        raise ExportError("AsString formatting options")
    if x.dtype.kind == "b":
        return cx.g.op1("Where", x, scalar(cx.g, b"true", object), scalar(cx.g, b"false", object))
    if x.dtype.kind == "O":
        return cx.g.op1("Identity", x)
    return cast(cx.g, x, object)


@converter("StringSplitV2", onnx="StringSplit, NonZero, GatherND")
def split_v2(cx, node, ins):
    _need(cx, 20, "StringSplitV2")
    g = cx.g
    x, sep = ins
    if not sep.is_const:
        raise ExportError("the separator is computed at run time")
    delim = bytes(sep.const.reshape(-1)[0]).decode("utf-8")
    maxsplit = int(node.attr.get("maxsplit", -1))
    attrs = {"maxsplit": maxsplit} if maxsplit >= 0 else {}
    if delim:
        attrs["delimiter"] = delim
    # ONNX pads rows to the longest; TF gives sparse (indices, values, dense shape).
    padded, counts = g.op("StringSplit", [x], outputs=2, **attrs)
    counts = i64(g, counts)
    if delim:
        # With a separator TF splits "" into one empty string; ONNX into none.
        counts = g.op1("Max", counts, scalar(g, 1, np.int64))
        rows = g.op1("Shape", padded, start=0, end=1)
        blank = g.op1("Expand", g.const(np.asarray([b""], dtype=object)),
                      g.op1("Concat", rows, g.const(np.asarray([1], np.int64)), axis=0))
        padded = g.op1("Concat", padded, blank, axis=1)
    return _sparse_rows(g, padded, _filled(g, padded, counts))


def _filled(g, padded: Val, counts: Val) -> Val:
    """Which cells of ONNX StringSplit's padded output hold a part (the first ``counts`` of each row)."""
    r = padded.rank
    width = g.op1("Shape", padded, start=r - 1, end=r)
    cols = g.op1("Range", scalar(g, 0, np.int64), g.op1("Reshape", width, g.const(np.zeros(0, np.int64))),
                 scalar(g, 1, np.int64))
    return g.op1("Less", cols, unsqueeze(g, i64(g, counts), [-1]))


def _sparse_rows(g, padded: Val, mask: Val) -> list[Val]:
    """TF's sparse (indices, values, dense shape) of the cells of [N, W] ``padded`` where ``mask`` is set,
    each row's parts numbered from 0."""
    counts = g.op1("CumSum", cast(g, mask, np.int64), scalar(g, 1, np.int64))
    nz = g.op1("Transpose", g.op1("NonZero", mask), perm=[1, 0])
    values = g.op1("GatherND", padded, nz)
    col = g.op1("Sub", g.op1("GatherND", counts, nz), scalar(g, 1, np.int64))
    rows = g.op1("Slice", nz, g.const(np.asarray([0], np.int64)), g.const(np.asarray([1], np.int64)),
                 g.const(np.asarray([1], np.int64)))
    indices = g.op1("Concat", rows, unsqueeze(g, col, [1]), axis=1)
    last = g.op1("Slice", counts, g.const(np.asarray([-1], np.int64)),
                 g.const(np.asarray([np.iinfo(np.int64).max], np.int64)), g.const(np.asarray([1], np.int64)))
    longest = _max_or_zero(g, g.op1("Reshape", last, g.const(np.asarray([-1], np.int64))))
    dense = g.op1("Concat", g.op1("Shape", padded, start=0, end=1), unsqueeze(g, longest, [0]), axis=0)
    return [indices, values, dense]


@converter("StringSplit", onnx="StringSplit (once per delimiter byte), NonZero, CumSum, GatherND")
def split_v1(cx, node, ins):
    """string_split_op.cc: every byte of the delimiter splits (absl ByAnyChar); "" has no parts."""
    _need(cx, 20, "StringSplit")
    g = cx.g
    x, sep = ins
    if not sep.is_const:
        raise ExportError("the delimiter is computed at run time")
    if sep.const.ndim:
        raise ExportError("the delimiter must be a scalar")
    delim = bytes(sep.const.reshape(-1)[0])
    if not delim:
        raise ExportError("an empty delimiter splits into single bytes: ONNX has no substring operator")
    if not delim.isascii():
        raise ExportError("a non-ASCII delimiter byte (ONNX splits decoded text)")
    if x.rank != 1:
        raise ExportError("the input must be a vector")
    # Splitting by each byte in turn gives the parts of a split by any of them, in order.
    parts, mask = x, None
    for k, b in enumerate(dict.fromkeys(delim)):
        padded, counts = g.op("StringSplit", [parts], outputs=2, delimiter=chr(b))
        if k:  # an empty piece is one empty part; ONNX gives none (and may have no column for it)
            counts = g.op1("Max", i64(g, counts), scalar(g, 1, np.int64))
            blank = g.op1("Expand", g.const(np.asarray([b""], dtype=object)),
                          g.op1("Concat", g.op1("Shape", padded, start=0, end=-1),
                                g.const(np.asarray([1], np.int64)), axis=0))
            padded = g.op1("Concat", padded, blank, axis=-1)
        filled = _filled(g, padded, counts)
        mask = filled if mask is None else g.op1("And", unsqueeze(g, mask, [-1]), filled)
        parts = padded
    if node.attr.get("skip_empty", True):
        mask = g.op1("And", mask, g.op1("Not", g.op1("Equal", parts, g.const(np.asarray(b"", dtype=object)))))
    if parts.rank > 2:  # [N, W1, W2, ...] -> [N, W1 * W2 * ...]: the parts of a row stay in order
        dims = g.op1("Shape", parts)
        flat = g.op1("Concat", g.op1("Slice", dims, g.const(np.asarray([0], np.int64)),
                                     g.const(np.asarray([1], np.int64))),
                     g.op1("ReduceProd", g.op1("Slice", dims, g.const(np.asarray([1], np.int64)),
                                               g.const(np.asarray([parts.rank], np.int64))), keepdims=1), axis=0)
        parts, mask = g.op1("Reshape", parts, flat), g.op1("Reshape", mask, flat)
    return _sparse_rows(g, parts, mask)


def _max_or_zero(g, counts: Val) -> Val:
    """The largest count, 0 for no rows (ReduceMax of an empty tensor is not 0)."""
    padded = g.op1("Concat", counts, g.const(np.zeros(1, np.int64)), axis=0)
    return g.op1("ReduceMax", padded, keepdims=0)


inexpressible("FarmHash buckets have no ONNX operator", "StringToHashBucketFast")
inexpressible("StringNormalizer changes case by locale, TF (encoding '') ASCII letters only", "StringLower",
              "StringUpper")
inexpressible("ONNX has no regex replacement (only RegexFullMatch)", "RegexReplace", "StaticRegexReplace")
inexpressible("ONNX has no string length operator", "StringLength")
inexpressible("ONNX has no substring operator", "Substr")
inexpressible("ONNX has no whitespace stripping operator", "StringStrip")
inexpressible("ONNX has no string reduction", "ReduceJoin")
inexpressible("ONNX has no tensor formatting operator", "StringFormat")
inexpressible("ONNX has no tf.train.Example parser", "ParseExample", "ParseExampleV2")
inexpressible("ONNX has no string n-gram builder (TfIdfVectorizer counts n-grams, it does not make them)",
              "StringNGrams")
inexpressible("keyed SipHash buckets have no ONNX operator", "StringToHashBucketStrong")
inexpressible("ONNX has no byte codecs (base64, raw bytes, zlib/gzip, CSV, JSON, protobuf)", "DecodeBase64",
              "EncodeBase64", "DecodeRaw", "DecodePaddedRaw", "DecodeCompressed", "DecodeCSV", "DecodeJSONExample",
              "DecodeProtoV2", "EncodeProto")
inexpressible("ONNX has no tf.train.SequenceExample / single Example parser", "ParseSequenceExample",
              "ParseSequenceExampleV2", "ParseSingleExample", "ParseSingleSequenceExample")
inexpressible("ONNX has no Unicode decoding, encoding or script lookup", "UnicodeDecode", "UnicodeDecodeWithOffsets",
              "UnicodeEncode", "UnicodeScript", "UnicodeTranscode")
inexpressible("FarmHash fingerprints and buckets have no ONNX operator", "Fingerprint", "StringToHashBucket")
