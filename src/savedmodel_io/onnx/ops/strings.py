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
from savedmodel_io.onnx.ops._util import attr_dtype, attr_text, cast, i64, scalar, unsqueeze


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


@converter("AsString", onnx="Cast (integers and booleans)")
def as_string(cx, node, ins):
    x = ins[0]
    if x.dtype.kind not in "iu":
        raise ExportError("ONNX Cast writes floats and booleans differently from AsString")
    if any(node.attr.get(a) not in (None, -1, 0, b"", False) for a in ("precision", "width", "fill", "scientific", "shortest")):
        raise ExportError("AsString formatting options")
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
    width = g.op1("Shape", padded, start=1, end=2)
    cols = g.op1("Range", scalar(g, 0, np.int64), g.op1("Reshape", width, g.const(np.zeros(0, np.int64))),
                 scalar(g, 1, np.int64))
    mask = g.op1("Less", unsqueeze(g, cols, [0]), unsqueeze(g, i64(g, counts), [1]))
    indices = g.op1("Transpose", g.op1("NonZero", mask), perm=[1, 0])
    values = g.op1("GatherND", padded, indices)
    n = g.op1("Shape", x)
    longest = _max_or_zero(g, i64(g, counts))
    dense = g.op1("Concat", n, unsqueeze(g, longest, [0]), axis=0)
    return [indices, values, dense]


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
inexpressible("not mapped yet: the old StringSplit (sparse output; ONNX StringSplit could express it)",
              "StringSplit")
