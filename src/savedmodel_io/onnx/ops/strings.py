"""String ops ONNX can express: joins, regex matches, splits, number parsing, ASCII case
changes, and regex replacement of literal strings and character classes.

ONNX gained string ops in opset 20 (StringConcat, RegexFullMatch, StringSplit).
Hashing (FarmHash buckets), general regex replacement, lengths in bytes or characters,
substrings and formatting have no ONNX operator.
Semantics: graph/ops/strings.py and tf.raw_ops; ONNX: onnx/onnx docs/Operators.md.
"""

from __future__ import annotations

import numpy as np

from savedmodel_io.onnx._graph import ExportError, Graph, Val
from savedmodel_io.onnx._types import tensor_type
from savedmodel_io.onnx.ops._registry import converter, inexpressible
from savedmodel_io.onnx.ops._subgraph import body_graph
from savedmodel_io.onnx.ops._util import attr_dtype, attr_text, cast, i64, is_float, scalar, unsqueeze
from savedmodel_io.graph.ops import _regex
from savedmodel_io.onnx.ops._regex_literals import Unsupported, parse_pattern


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
    if x.dtype.kind == "O":
        return cx.g.op1("Identity", x)
    if x.dtype.kind == "b":
        out = cx.g.op1("Where", x, scalar(cx.g, b"true", object), scalar(cx.g, b"false", object))
    else:
        out = cast(cx.g, x, object)
    if not out.is_const:
        out.origin = ("decimal", x)  # hash buckets of this text hash the integers (onnx/ops/hashing.py)
    return out


@converter("StringSplitV2", onnx="StringSplit, NonZero, GatherND (+ StringSplit/StringConcat Loops for tabs and newlines)")
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
    else:
        # TF splits on ASCII whitespace (" \t\n\v\f\r", absl::ascii_isspace); onnxruntime's
        # StringSplit on spaces only: the others become spaces first. That would change the
        # unsplit remainder a maxsplit leaves, so a maxsplit is refused here.
        if maxsplit >= 0:
            raise ExportError("maxsplit with whitespace separators (onnxruntime splits on spaces only)")
        if x.rank != 1:
            raise ExportError("the input must be a vector")
        for ch in "\t\n\x0b\x0c\r":
            x = _replace_literal(g, x, ch, b" ", True)
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


inexpressible("ONNX has no string length operator", "StringLength")
inexpressible("ONNX has no substring operator", "Substr")
inexpressible("ONNX has no whitespace stripping operator", "StringStrip")
inexpressible("ONNX has no string reduction", "ReduceJoin")
inexpressible("ONNX has no tensor formatting operator", "StringFormat")
inexpressible("ONNX has no tf.train.Example parser", "ParseExample", "ParseExampleV2")
inexpressible("ONNX has no byte codecs (base64, raw bytes, zlib/gzip, CSV, JSON, protobuf)", "DecodeBase64",
              "EncodeBase64", "DecodeRaw", "DecodePaddedRaw", "DecodeCompressed", "DecodeCSV", "DecodeJSONExample",
              "DecodeProtoV2", "EncodeProto")
inexpressible("ONNX has no tf.train.SequenceExample / single Example parser", "ParseSequenceExample",
              "ParseSequenceExampleV2", "ParseSingleExample", "ParseSingleSequenceExample")
inexpressible("ONNX has no Unicode decoding, encoding or script lookup", "UnicodeDecode", "UnicodeDecodeWithOffsets",
              "UnicodeEncode", "UnicodeScript", "UnicodeTranscode")
inexpressible("FarmHash fingerprints and buckets have no ONNX operator", "Fingerprint", "StringToHashBucket")


@converter("StringLower", "StringUpper", onnx="StringNormalizer (locale C)")
def change_case(cx, node, ins):
    """TF's default (``encoding=""``) changes ASCII letters only (string_lower_op.cc), as
    StringNormalizer does in the C locale on onnxruntime (glibc's C locale maps no other
    letter; checked on every Latin-1, Greek and Cyrillic letter in tests). Its input must be a
    non-empty vector: the strings are flattened, padded with one, and put back. onnxruntime
    decodes the strings as UTF-8 to change their case: malformed bytes fail at run time, where
    TensorFlow passes them through. ``encoding="utf-8"`` (ICU's full case mapping) is refused."""
    _need(cx, 20, node.op)
    enc = attr_text(node, "encoding") if "encoding" in node.attr else ""
    if enc:
        raise ExportError(f"encoding {enc!r}: TensorFlow changes case by ICU's full Unicode mapping, "
                          "StringNormalizer by the C library's locale")
    g = cx.g
    x = ins[0]
    flat = g.op1("Concat", g.op1("Reshape", x, g.const(np.asarray([-1], np.int64))),
                 g.const(np.asarray([b""], dtype=object)), axis=0)
    action = "LOWER" if node.op == "StringLower" else "UPPER"
    out = g.op1("StringNormalizer", flat, case_change_action=action, is_case_sensitive=1, locale="C")
    out = g.op1("Slice", out, g.const(np.asarray([0], np.int64)), g.const(np.asarray([-1], np.int64)))
    return g.op1("Reshape", out, g.op1("Shape", x), allowzero=1)


@converter("StaticRegexReplace", "RegexReplace", onnx="StringSplit and a Loop of StringConcat per literal")
def regex_replace(cx, node, ins):
    """Replacement of a literal string or of a character class (``[!"#$%...]``, Keras's
    punctuation stripping), maybe in one group, with a constant rewrite: RE2 finds such a
    pattern's matches left to right without overlap, which is where StringSplit cuts at the
    literal; joining the parts with the rewrite between them replaces every match. Every match
    of a literal is the same string, so the rewrite's submatch references are constants (read
    by the runtime's RE2 rewrite rules, graph/ops/_regex.py). A class is replaced one character
    at a time, in an order where no character's replacement holds one still to be replaced
    (:func:`_replacement_order`; refused when there is none). Other patterns (repetition, alternation, anchors, wildcards)
    have no ONNX form."""
    _need(cx, 20, node.op)
    g = cx.g
    x = ins[0]
    if node.op == "StaticRegexReplace":
        pattern, rewrite = node.attr.get("pattern"), node.attr.get("rewrite")
    else:
        for v, what in ((ins[1], "pattern"), (ins[2], "rewrite")):
            if not v.is_const or v.const.size != 1:
                raise ExportError(f"the {what} is computed at run time")
        pattern, rewrite = ins[1].const.reshape(-1)[0], ins[2].const.reshape(-1)[0]
    if not isinstance(pattern, bytes) or not isinstance(rewrite, bytes):
        raise ExportError("the pattern and the rewrite must be strings")
    try:
        groups, literals = parse_pattern(pattern.decode("utf-8"))
    except (Unsupported, UnicodeDecodeError) as exc:
        raise ExportError(f"pattern {pattern!r}: {exc}") from None
    rw = _regex.parse_rewrite(node, rewrite)
    replace_global = bool(node.attr.get("replace_global", True))
    if rw.max_group > groups or (not replace_global and not rw.complete):
        return g.op1("Identity", x)  # RE2 replaces nothing (a missing group, a bad escape)
    if len(literals) > 1 and not replace_global:
        raise ExportError("replacing only the first match of a character class")
    flat = g.op1("Reshape", x, g.const(np.asarray([-1], np.int64)))
    for literal, text in _replacement_order(literals, rw.parts):
        flat = _replace_literal(g, flat, literal, text, replace_global)
    return g.op1("Reshape", flat, g.op1("Shape", x), allowzero=1)


def _replacement_order(literals: list, parts: tuple) -> list[tuple[str, bytes]]:
    """(literal, the text replacing it) in an order where replacing one at a time is replacing
    them all at once: a class character another's replacement inserts goes first (those
    insertions are then never split again); identities are dropped. A cycle is refused."""
    inserted = {lit.text: b"".join(p if isinstance(p, bytes) else lit.text.encode("utf-8") for p in parts)
                for lit in literals}
    todo = {c: t for c, t in inserted.items() if t != c.encode("utf-8")}
    order = []
    while todo:
        ready = sorted(c for c, t in todo.items()
                       if not any(d.encode("utf-8") in t for d in todo if d != c))
        if not ready:
            c = min(todo)
            d = min(d for d in todo if d != c and d.encode("utf-8") in todo[c])
            raise ExportError(f"replacing {c!r} inserts {d!r}, which the class replaces too, and the other way round")
        order.extend((c, todo.pop(c)) for c in ready)
    return order


def _replace_literal(g: Graph, flat: Val, literal: str, rewrite: bytes, replace_global: bool) -> Val:
    """Every (or the first) occurrence of ``literal`` in the strings of vector ``flat`` replaced."""
    attrs = {} if replace_global else {"maxsplit": 1}
    parts, counts = g.op("StringSplit", [flat], outputs=2, delimiter=literal, **attrs)
    width = g.op1("Shape", parts, start=1, end=2)
    trips = g.op1("Reshape", width, g.const(np.zeros(0, np.int64)))
    blank = g.op1("Expand", g.const(np.asarray(b"", dtype=object)), g.op1("Shape", flat))
    names = [g.model.fresh(f"{g.hint}/{k}") for k in ("part", "cond", "text")]
    obj = np.dtype(object)
    counts = i64(g, counts)

    def join(gg: Graph) -> list[Val]:
        k = Val(names[0], np.dtype(np.int64), ())
        acc = Val(names[2], obj, (None,))
        piece = gg.op1("Gather", parts, k, axis=1)
        if rewrite:  # between parts: after the first, before each of the row's next ones
            between = gg.op1("And", gg.op1("Greater", k, scalar(gg, 0, np.int64)), gg.op1("Less", k, counts))
            sep = gg.op1("Where", between, gg.const(np.asarray(rewrite, dtype=object)),
                         gg.const(np.asarray(b"", dtype=object)))
            acc = gg.op1("StringConcat", acc, sep)
        return [gg.const(np.asarray(True)), gg.op1("StringConcat", acc, piece)]

    body, _ = body_graph(g, "regex_replace", join, [(names[0], tensor_type(np.dtype(np.int64), ())),
                                                     (names[1], tensor_type(np.dtype(bool), ())),
                                                     (names[2], tensor_type(obj, (None,)))])
    return g.op("Loop", [trips, None, blank], outputs=1, types=[tensor_type(obj, (None,))], body=body)[0]
