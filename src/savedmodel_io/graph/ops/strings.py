"""String ops: join, case, length, regex replace/match, number conversion, split, format.

Strings are numpy object arrays of ``bytes`` (TensorFlow strings are bytes).
TensorFlow's regexes are RE2: see ``_regex`` for how they run (RE2 via google-re2,
else a guarded Python ``re``) and how rewrites are read.
"""

from __future__ import annotations

import re

import numpy as np

from savedmodel_io.graph.ops import _regex
from savedmodel_io.graph.ops._registry import kernel
from savedmodel_io.graph.ops._util import attr_str, bad, np_dtype


def _s(x) -> np.ndarray:
    a = np.asarray(x, dtype=object) if not isinstance(x, np.ndarray) else x
    return a


def _map(fn, a: np.ndarray, dtype=object) -> np.ndarray:
    flat = a.reshape(-1)
    out = np.empty(flat.shape, dtype=dtype)
    for i, v in enumerate(flat):
        out[i] = fn(v)
    return out.reshape(a.shape)


def _b(v) -> bytes:
    return v if isinstance(v, bytes) else str(v).encode("utf-8")


@kernel("StringUpper", "StringLower", per_element=True)
def case(node, inputs, ctx):
    enc = attr_str(node, "encoding")
    up = node.op == "StringUpper"
    if enc:
        fn = (lambda v: v.decode("utf-8").upper().encode("utf-8")) if up else \
            (lambda v: v.decode("utf-8").lower().encode("utf-8"))
    else:  # ASCII only, like TF's default
        fn = (lambda v: v.upper()) if up else (lambda v: v.lower())
    return _map(fn, _s(inputs[0]))


@kernel("StringJoin", per_element=True)
def join(node, inputs, ctx):
    sep = node.attr["separator"]
    arrays = [_s(v) for v in inputs]
    shapes = [a.shape for a in arrays if a.ndim]
    if len({s for s in shapes}) > 1:
        raise bad(node, f"inputs to join must have the same shape or be scalars: {shapes}")
    b = np.broadcast_arrays(*arrays)
    out = np.empty(b[0].shape, dtype=object)
    for idx in np.ndindex(out.shape):
        out[idx] = sep.join(_b(x[idx]) for x in b)
    return out


@kernel("StringLength", per_element=True)
def length(node, inputs, ctx):
    unit = attr_str(node, "unit")
    if unit == "UTF8_CHAR":
        return _map(lambda v: len(v.decode("utf-8", "replace")), _s(inputs[0]), np.int32)
    return _map(len, _s(inputs[0]), np.int32)


def _replace(node, texts: np.ndarray, pattern, rewrite) -> np.ndarray:
    rx = _regex.compile_regex(node, pattern)
    rw = _regex.parse_rewrite(node, rewrite)
    first_only = not node.attr["replace_global"]
    rx.check_cost(node, texts.reshape(-1), search=True)
    return _map(lambda v: _regex.replace(rx, rw, v, first_only), texts)


def _full_match(node, texts: np.ndarray, pattern) -> np.ndarray:
    rx = _regex.compile_regex(node, pattern)
    rx.check_cost(node, texts.reshape(-1), search=False)
    return _map(lambda v: rx.rx.fullmatch(v) is not None, texts, bool)


@kernel("StaticRegexReplace", per_element=True)
def static_regex_replace(node, inputs, ctx):
    return _replace(node, _s(inputs[0]), node.attr.get("pattern"), node.attr.get("rewrite"))


@kernel("RegexReplace", per_element=True)
def regex_replace(node, inputs, ctx):
    return _replace(node, _s(inputs[0]), np.asarray(inputs[1]).item(), np.asarray(inputs[2]).item())


@kernel("StaticRegexFullMatch", per_element=True)
def static_full_match(node, inputs, ctx):
    return _full_match(node, _s(inputs[0]), node.attr.get("pattern"))


@kernel("RegexFullMatch", per_element=True)
def regex_full_match(node, inputs, ctx):
    return _full_match(node, _s(inputs[0]), np.asarray(inputs[1]).item())


# What TF's StringToNumber accepts (tensorflow/tensorflow tensorflow/core/kernels/
# string_to_number_op.cc via strings::safe_strto32/64, safe_strtof/d): ASCII digits only
# (no "_" separators, no other scripts' digits), surrounding ASCII whitespace ignored;
# floats also in exponent, hexadecimal and inf/infinity/nan(...) forms.
_INT = re.compile(rb"[+-]?[0-9]+")
_FLOAT = re.compile(rb"""[+-]?(?:
      (?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?
    | 0[xX](?:[0-9a-fA-F]+\.?[0-9a-fA-F]*|\.[0-9a-fA-F]+)(?:[pP][+-]?[0-9]+)?
    | (?i:inf|infinity|nan(?:\([0-9A-Za-z_]*\))?)
)""", re.VERBOSE)


def _number(text: bytes, integer: bool) -> int | float:
    """The number a string holds, as TF reads it (ValueError when TF refuses it)."""
    text = text.strip(b" \t\n\r\x0b\x0c")
    if integer:
        if not _INT.fullmatch(text):
            raise ValueError(text)
        return int(text)
    if not _FLOAT.fullmatch(text):
        raise ValueError(text)
    body = text.lstrip(b"+-")
    if body[:2].lower() == b"0x":
        return float.fromhex(text.decode("ascii"))
    if body[:3].lower() == b"nan":
        return float("nan")  # nan(chars): the chars are a payload hint, ignored
    return float(text)


@kernel("StringToNumber", per_element=True)
def to_number(node, inputs, ctx):
    t = np_dtype(node.attr["out_type"])
    integer = t.kind in "iu"
    limits = np.iinfo(t) if integer else None

    def conv(v: bytes):
        try:
            n = _number(_b(v), integer)
            if limits is not None and not limits.min <= n <= limits.max:
                raise ValueError(n)
        except ValueError:
            shown = _b(v).decode("utf-8", "replace")
            raise bad(node, f"StringToNumberOp could not correctly convert string: {shown}") from None
        return n
    out = _map(conv, _s(inputs[0]))
    with np.errstate(over="ignore"):  # 1e40 -> float32 inf, as strtof gives
        return out.astype(t)


@kernel("AsString", per_element=True)
def as_string(node, inputs, ctx):
    x = np.asarray(inputs[0])
    prec = int(node.attr["precision"])
    sci = bool(node.attr["scientific"])
    short = bool(node.attr["shortest"])
    width = int(node.attr["width"])
    fill = attr_str(node, "fill")
    if x.dtype.kind == "b":
        return _map(lambda v: b"true" if v else b"false", x)
    # TF builds a printf format: fill is a printf flag ("0" pads after the sign, "-" left-aligns).
    if fill and fill not in ("0", " ", "+", "-", "#"):
        raise bad(node, f"Fill argument not supported: \"{fill}\"")
    fmt = "%" + fill + (str(width) if width > -1 else "")
    if x.dtype.kind == "f":
        if sci and short:
            raise bad(node, "Cannot select both scientific and shortest notation")
        fmt += ("." + str(prec) if prec > -1 else "") + ("e" if sci else "g" if short else "f")
        return _map(lambda v: (fmt % float(v)).encode("utf-8"), x)
    if x.dtype.kind not in "iu":
        raise bad(node, f"AsString does not support {x.dtype} inputs")
    return _map(lambda v: ((fmt + "d") % int(v)).encode("utf-8"), x)


@kernel("StringStrip", per_element=True)
def strip(node, inputs, ctx):
    return _map(lambda v: v.strip(), _s(inputs[0]))


@kernel("Substr", per_element=True)
def substr(node, inputs, ctx):
    s, pos, ln = _s(inputs[0]), np.asarray(inputs[1]), np.asarray(inputs[2])
    b = np.broadcast_arrays(s, pos, ln)
    out = np.empty(b[0].shape, dtype=object)
    utf8 = attr_str(node, "unit") == "UTF8_CHAR"
    for idx in np.ndindex(out.shape):
        v, p, n = b[0][idx], int(b[1][idx]), int(b[2][idx])
        if utf8:  # positions and lengths count characters
            v = v.decode("utf-8", "replace")
        if not -len(v) <= p <= len(v):
            raise bad(node, f"position {p} is out of range for a string of length {len(v)}")
        p %= max(len(v), 1) if p < 0 else len(v) + 1
        end = len(v) if n < 0 else p + n  # TF: a negative length takes the rest
        out[idx] = v[p:end].encode("utf-8") if utf8 else v[p:end]
    return out


@kernel("ReduceJoin", per_element=True)
def reduce_join(node, inputs, ctx):
    s = _s(inputs[0])
    axes = sorted({int(a) % max(s.ndim, 1) for a in np.asarray(inputs[1]).reshape(-1)})
    sep = node.attr["separator"]
    keep = bool(node.attr["keep_dims"])
    moved = np.moveaxis(s, axes, list(range(s.ndim - len(axes), s.ndim)))
    lead = moved.shape[:s.ndim - len(axes)]
    flat = moved.reshape(lead + (-1,))
    out = np.empty(lead, dtype=object)
    for idx in np.ndindex(lead):
        out[idx] = sep.join(flat[idx])
    if keep:
        for a in axes:
            out = np.expand_dims(out, a)
    return out


@kernel("StringSplitV2", per_element=True)
def split_v2(node, inputs, ctx):
    s = _s(inputs[0]).reshape(-1)
    sep = np.asarray(inputs[1]).item()
    maxsplit = int(node.attr["maxsplit"])
    idx, vals, width = [], [], 0
    for i, v in enumerate(s):
        parts = v.split(sep, maxsplit) if sep else v.split(None, maxsplit)
        for j, p in enumerate(parts):
            idx.append((i, j))
            vals.append(p)
        width = max(width, len(parts))
    values = np.empty(len(vals), dtype=object)
    values[:] = vals
    return [np.array(idx, np.int64).reshape(-1, 2), values, np.array([len(s), width], np.int64)]


def _c_escape(b: bytes) -> str:
    """absl::Utf8SafeCEscape: C escapes for quotes, backslash and control bytes; UTF-8 kept."""
    named = {0x0A: "\\n", 0x0D: "\\r", 0x09: "\\t", 0x22: '\\"', 0x27: "\\'", 0x5C: "\\\\"}
    out = bytearray()
    for c in b:
        if c in named:
            out += named[c].encode()
        elif c < 0x20 or c == 0x7F:
            out += b"\\%03o" % c
        else:
            out.append(c)
    return out.decode("utf-8", "replace")


def _one_element(v: object) -> str:
    """One element as TensorFlow's PrintOneElement(print_v2=True) writes it."""
    if isinstance(v, (bytes, np.bytes_)):
        return '"' + _c_escape(bytes(v)) + '"'
    if isinstance(v, (bool, np.bool_)):
        return "1" if v else "0"
    if isinstance(v, (float, np.floating)):
        return _float_text(v)
    if isinstance(v, (complex, np.complexfloating)):
        return "(%s,%s)" % (_float_text(v.real), _float_text(v.imag))
    return str(v)


def _float_text(v: float | np.floating) -> str:
    """tsl FloatToBuffer / DoubleToBuffer: %g with 6 (15) digits, 9 (17) when that does not round-trip."""
    wide = isinstance(v, (float, np.float64))
    x = np.float64(v) if wide else np.float32(v)
    if np.isnan(x):
        return "-nan" if np.signbit(x) else "nan"
    short, full = (15, 17) if wide else (6, 9)
    text = "%.*g" % (short, float(x))
    if (np.float64(text) if wide else np.float32(text)) != x:
        text = "%.*g" % (full, float(x))
    return text


def _dim_spacing(dim: int, ndims: int) -> str:
    if dim == ndims - 1:
        return " "
    return "\n" * (ndims - dim - 1) + " " * (dim + 1)


def _summarize_dim(a: np.ndarray, dim: int, ends: int) -> str:
    """TensorFlow's PrintOneDimV2: nested brackets, at most ``ends`` entries at each end per dim."""
    if not isinstance(a, np.ndarray):  # an element of a string (object) array
        return _one_element(a)
    if a.ndim == 0:
        return _one_element(a[()])
    n = a.shape[0]
    parts = [_summarize_dim(a[i], dim + 1, ends) for i in range(min(ends, n))]
    text = _dim_spacing(dim, dim + a.ndim).join(parts)
    sep = _dim_spacing(dim, dim + a.ndim)
    if n > 2 * ends:
        text += sep + "..."
    for i in range(max(ends, n - ends), n):
        text += sep + _summarize_dim(a[i], dim + 1, ends)
    return "[" + text + "]"


def summarize(a: np.ndarray, max_entries: int) -> str:
    """Tensor::SummarizeValue(max_entries, print_v2=True), as StringFormat and PrintV2 write tensors."""
    limit = a.size if max_entries < 0 else min(max_entries, a.size)
    if a.ndim == 0:
        return _one_element(a[()])
    return _summarize_dim(a, 0, limit)


@kernel("StringFormat", per_element=True)
def string_format(node, inputs, ctx):
    template = attr_str(node, "template")
    ph = attr_str(node, "placeholder")
    n = int(node.attr["summarize"])
    pieces = template.split(ph)
    if len(pieces) - 1 != len(inputs):
        raise bad(node, f"template has {len(pieces) - 1} placeholders for {len(inputs)} inputs")
    text = pieces[0]
    for v, p in zip(inputs, pieces[1:]):
        text += summarize(np.asarray(v), n) + p
    return np.array(text.encode("utf-8"), dtype=object)


@kernel("StringToHashBucketFast", per_element=True)
def to_hash_bucket_fast(node, inputs, ctx):
    # Fingerprint64(s) % num_buckets: tensorflow/tensorflow
    # tensorflow/core/kernels/string_to_hash_bucket_fast_op.cc.
    from savedmodel_io.hashing.farmhash import fingerprint64

    n = int(node.attr["num_buckets"])
    if n < 1:
        raise bad(node, "num_buckets must be >= 1")
    return _map(lambda v: fingerprint64(v) % n, _s(inputs[0]), np.int64)


@kernel("StringToHashBucketStrong", per_element=True)
def to_hash_bucket_strong(node, inputs, ctx):
    # SipHash-2-4(key, s) % num_buckets (StrongKeyedHash): tensorflow/tensorflow
    # tensorflow/core/kernels/string_to_hash_bucket_op.h; the key attr holds two uint64s.
    from savedmodel_io.hashing.siphash import siphash24

    n = int(node.attr["num_buckets"])
    key = [int(k) for k in node.attr["key"]]
    if n < 1:
        raise bad(node, "num_buckets must be >= 1")
    if len(key) != 2:
        raise bad(node, f"Key must have 2 elements, got {len(key)}")
    return _map(lambda v: siphash24(key[0], key[1], v) % n, _s(inputs[0]), np.int64)


# tensorflow/tensorflow tensorflow/core/kernels/string_ngrams_op.cc: each row padded with
# min(pad_width, width - 1) pads per side (pad_width -1: width - 1), then every window of
# each width in order; with preserve_short_sequences a row too short for any n-gram gives
# one n-gram of the whole row padded by pad_width.
@kernel("StringNGrams", per_element=True)
def string_ngrams(node, inputs, ctx):
    data, splits = _s(inputs[0]).reshape(-1), np.asarray(inputs[1]).reshape(-1)
    sep = node.attr["separator"]
    sep, left, right = (v if isinstance(v, bytes) else str(v).encode() for v in
                        (sep, node.attr["left_pad"], node.attr["right_pad"]))
    widths = [int(w) for w in node.attr["ngram_widths"]]
    pad_width = int(node.attr["pad_width"])
    if any(w <= 0 for w in widths):
        raise bad(node, "ngram_widths must contain positive values")
    if splits.size:
        if splits[0] != 0:
            raise bad(node, f"First split value must be 0, got {int(splits[0])}")
        if (np.diff(splits) < 0).any() or (splits > data.size).any() or splits[-1] != data.size:
            raise bad(node, f"Invalid splits {splits.tolist()} for {data.size} values")
    if data.size == 0 or splits.size == 0:  # TF hands back data-shaped empty strings
        return [np.full(data.shape, b"", dtype=object), np.zeros_like(splits)]
    out: list[bytes] = []
    counts = []
    for i in range(splits.size - 1):
        row = data[splits[i]:splits[i + 1]].tolist()
        start = len(out)
        for w in widths:
            p = min(w - 1 if pad_width < 0 else pad_width, w - 1)
            padded = [left] * p + row + [right] * p
            out += [sep.join(padded[k:k + w]) for k in range(len(padded) - w + 1)]
        if node.attr["preserve_short_sequences"] and len(out) == start and row:
            if pad_width < 0:
                raise bad(node, "Pad width should be >= 0 when preserve_short_sequences is True "
                                "and ngram_widths are not provided")
            out.append(sep.join([left] * pad_width + row + [right] * pad_width))
        counts.append(len(out) - start)
    ngrams = np.empty(len(out), dtype=object)
    ngrams[:] = out
    return [ngrams, np.concatenate([[0], np.cumsum(counts)]).astype(splits.dtype)]
