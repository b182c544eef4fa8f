"""String ops: join, case, length, regex replace/match, number conversion, split, format.

Strings are numpy object arrays of ``bytes`` (TensorFlow strings are bytes).
TensorFlow's regexes are RE2: see ``_regex`` for how they run (RE2 via google-re2,
else a guarded Python ``re``) and how rewrites are read.
"""

from __future__ import annotations

import re

import numpy as np

from savedmodel_io import dtypes
from savedmodel_io.graph.ops import _regex
from savedmodel_io.graph.ops._registry import kernel
from savedmodel_io.graph.ops._util import attr_str, bad, check_size, np_dtype
from savedmodel_io.proto import DataType


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
    # tensorflow/tensorflow tensorflow/core/kernels/string_upper_op.cc: "" maps ASCII
    # letters only; "utf-8" maps full Unicode case (ICU), malformed bytes becoming U+FFFD.
    enc = attr_str(node, "encoding")
    if enc not in ("", "utf-8"):
        raise bad(node, f"only utf-8 or '' (no encoding) is supported, received {enc}")
    up = node.op == "StringUpper"
    if enc:
        fn = (lambda v: v.decode("utf-8", "replace").upper().encode("utf-8")) if up else \
            (lambda v: v.decode("utf-8", "replace").lower().encode("utf-8"))
    else:
        fn = (lambda v: v.upper()) if up else (lambda v: v.lower())
    return _map(fn, _s(inputs[0]))


@kernel("StringJoin", per_element=True)
def join(node, inputs, ctx):
    sep = node.attr["separator"]
    arrays = [_s(v) for v in inputs]
    if not arrays:
        return np.array(b"", dtype=object)
    shapes = [a.shape for a in arrays if a.ndim]
    if len({s for s in shapes}) > 1:
        raise bad(node, f"inputs to join must have the same shape or be scalars: {shapes}")
    b = np.broadcast_arrays(*arrays)
    out = np.empty(b[0].shape, dtype=object)
    for idx in np.ndindex(out.shape):
        out[idx] = sep.join(_b(x[idx]) for x in b)
    return out


def _trail(byte: int) -> bool:
    """A UTF-8 continuation byte (10xxxxxx)."""
    return byte & 0xC0 == 0x80


@kernel("StringLength", per_element=True)
def length(node, inputs, ctx):
    # UTF8_CHAR counts the bytes that are not continuation bytes, valid UTF-8 or not
    # (tensorflow/tensorflow tensorflow/core/kernels/string_util.h, UTF8StrLen).
    if attr_str(node, "unit") == "UTF8_CHAR":
        return _map(lambda v: sum(not _trail(c) for c in v), _s(inputs[0]), np.int32)
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


def parse_number(text: bytes, integer: bool) -> int | float:
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
            n = parse_number(_b(v), integer)
            if limits is not None and not limits.min <= n <= limits.max:
                raise ValueError(n)
        except ValueError:
            shown = _b(v).decode("utf-8", "replace")
            raise bad(node, f"StringToNumberOp could not correctly convert string: {shown}") from None
        return n
    out = _map(conv, _s(inputs[0]))
    with np.errstate(over="ignore"):  # 1e40 -> float32 inf, as strtof gives
        return out.astype(t)


def _printf_float(fmt: str, v: float) -> str:
    """C printf of a float: Python's % but with C's sign on NaN ("-nan")."""
    if v != v and np.signbit(v):  # same width as "-inf": format that, then rename
        return (fmt % float("-inf")).replace("inf", "nan")
    return fmt % v


@kernel("AsString", per_element=True)
def as_string(node, inputs, ctx):
    # tensorflow/tensorflow tensorflow/core/kernels/as_string_op.cc: one printf format
    # "%<fill><width>.<precision><conversion>"; fill is a printf flag ("0" pads after the
    # sign, "-" left-aligns); booleans print true/false and ignore the format.
    x = np.asarray(inputs[0])
    prec = int(node.attr["precision"])
    sci = bool(node.attr["scientific"])
    short = bool(node.attr["shortest"])
    width = int(node.attr["width"])
    fill = attr_str(node, "fill")
    floating = x.dtype != object and dtypes.from_numpy(x.dtype) in _FLOATING
    if not floating:
        if sci or short:
            raise bad(node, f"scientific and shortest format not supported for datatype "
                            f"{_type_name(x)}")
        if prec > -1:
            raise bad(node, f"precision not supported for datatype {_type_name(x)}")
    if len(fill) > 1:
        raise bad(node, "Fill string must be one or fewer characters")
    if sci and short:
        raise bad(node, "Cannot select both scientific and shortest notation")
    if fill and fill not in ("0", " ", "+", "-", "#"):
        raise bad(node, f"Fill argument not supported: \"{fill}\"")
    # Each string is at least `width` bytes and a float's digits grow with `precision`: a
    # tiny input with a huge attr must stop before the strings are made.
    per_value = max(width, 0) + max(prec, 0) + 32
    check_size(node, x.shape, per_value * (2 if x.dtype.kind == "c" else 1))
    fmt = "%" + (fill + str(width) if width > -1 else "") + ("." + str(prec) if prec > -1 else "")
    if x.dtype.kind == "b":
        return _map(lambda v: b"true" if v else b"false", x)
    if x.dtype == object:
        return _map(lambda v: (fmt.encode() + b"s") % _b(v), x)
    if x.dtype.kind == "c":
        fmt += "e" if sci else "g" if short else "f"
        return _map(lambda v: ("(%s,%s)" % (_printf_float(fmt, float(v.real)),
                                            _printf_float(fmt, float(v.imag)))).encode(), x)
    if floating:
        fmt += "e" if sci else "g" if short else "f"
        return _map(lambda v: _printf_float(fmt, float(v)).encode(), x)
    if x.dtype.kind not in "iu":
        raise bad(node, f"Cannot encode input of type {_type_name(x)}")
    return _map(lambda v: ((fmt + "d") % int(v)).encode(), x)


_FLOATING = frozenset((DataType.DT_HALF, DataType.DT_BFLOAT16, DataType.DT_FLOAT,
                       DataType.DT_DOUBLE, DataType.DT_COMPLEX64, DataType.DT_COMPLEX128))


def _type_name(x: np.ndarray) -> str:
    """TF's DataTypeString of an array's dtype ("int32", "half", "string"...)."""
    return dtypes.dtype_name(dtypes.from_numpy(x.dtype))[3:].lower()


@kernel("StringStrip", per_element=True)
def strip(node, inputs, ctx):
    return _map(lambda v: v.strip(), _s(inputs[0]))


def _char_bounds(v: bytes) -> list[int]:
    """Byte offsets where UTF-8 characters start, then the end, as TF walks them.

    TF steps over continuation bytes from the current byte (tensorflow/tensorflow
    tensorflow/core/kernels/string_util.h, ForwardNUTF8CharPositions /
    BackNUTF8CharPositions): offset 0 always starts a character, stray continuation
    bytes stick to the character before them.
    """
    return [i for i, c in enumerate(v) if i == 0 or not _trail(c)] + [len(v)]


@kernel("Substr", per_element=True)
def substr(node, inputs, ctx):
    s, pos, ln = _s(inputs[0]), np.asarray(inputs[1]), np.asarray(inputs[2])
    if pos.shape != ln.shape:
        raise bad(node, f"pos and len should have the same shape, got: {list(pos.shape)} "
                        f"vs. {list(ln.shape)}")
    try:
        b = np.broadcast_arrays(s, pos, ln)
    except ValueError:
        raise bad(node, f"Incompatible shapes: {list(s.shape)} vs. {list(pos.shape)}") from None
    out = np.empty(b[0].shape, dtype=object)
    utf8 = attr_str(node, "unit") == "UTF8_CHAR"
    for idx in np.ndindex(out.shape):
        v, p, n = b[0][idx], int(b[1][idx]), int(b[2][idx])
        bounds = _char_bounds(v) if utf8 else range(len(v) + 1)
        chars = len(bounds) - 1
        if not -chars <= p <= chars:
            raise bad(node, f"pos {p} out of range for string at index {idx}")
        if p < 0:
            p += chars
        # A negative length takes the rest of the bytes but no characters (TF's byte
        # substr casts it to size_t; its UTF-8 walk of a negative count steps nowhere).
        end = p if n < 0 and utf8 else chars if n < 0 else min(p + n, chars)
        out[idx] = v[bounds[p]:bounds[end]]
    return out


@kernel("ReduceJoin", per_element=True)
def reduce_join(node, inputs, ctx):
    s = _s(inputs[0])
    axes = []
    for a in np.asarray(inputs[1]).reshape(-1).tolist():
        if not -s.ndim <= a < s.ndim:
            raise bad(node, f"Invalid reduction dimension {a} for input with {s.ndim} "
                            f"dimension(s)")
        a %= s.ndim
        if a in axes:
            raise bad(node, f"Duplicate reduction dimension {a}")
        axes.append(a)
    axes.sort()
    sep = node.attr["separator"]
    moved = np.moveaxis(s, axes, list(range(s.ndim - len(axes), s.ndim)))
    lead = moved.shape[:s.ndim - len(axes)]
    flat = moved.reshape(lead + (-1,))
    out = np.empty(lead, dtype=object)
    for idx in np.ndindex(lead):
        out[idx] = sep.join(flat[idx])
    if node.attr["keep_dims"]:
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


@kernel("StringSplit", per_element=True)
def split_v1(node, inputs, ctx):
    # tensorflow/tensorflow tensorflow/core/kernels/string_split_op.cc: every byte of the
    # delimiter splits (absl ByAnyChar); an empty delimiter splits into single bytes.
    s, delim = _s(inputs[0]), np.asarray(inputs[1])
    if s.ndim != 1:
        raise bad(node, f"input must be a vector, got shape: {list(s.shape)}")
    if delim.ndim != 0:
        raise bad(node, f"delimiter must be a scalar, got shape: {list(delim.shape)}")
    sep = _b(delim.item())
    skip = bool(node.attr["skip_empty"])
    rx = re.compile(b"[" + re.escape(sep) + b"]") if sep else None
    idx, vals, width = [], [], 0
    for i, v in enumerate(s.tolist()):
        if not v:  # tensorflow::str_util::Split of "" is no parts at all
            parts = []
        else:
            parts = [v[k:k + 1] for k in range(len(v))] if rx is None else rx.split(v)
        if skip:
            parts = [p for p in parts if p]
        idx += [(i, j) for j in range(len(parts))]
        vals += parts
        width = max(width, len(parts))
    values = np.empty(len(vals), dtype=object)
    values[:] = vals
    return [np.array(idx, np.int64).reshape(-1, 2), values, np.array([len(s), width], np.int64)]


@kernel("StringToHashBucket", per_element=True)
def to_hash_bucket(node, inputs, ctx):
    # Hash64(s) % num_buckets: tensorflow/tensorflow
    # tensorflow/core/kernels/string_to_hash_bucket_op.cc.
    from savedmodel_io.hashing.murmur import hash64

    n = int(node.attr["num_buckets"])
    if n < 1:
        raise bad(node, "num_buckets must be >= 1")
    return _map(lambda v: hash64(v) % n, _s(inputs[0]), np.int64)


@kernel("Fingerprint", per_element=True)
def fingerprint(node, inputs, ctx):
    # tensorflow/tensorflow tensorflow/core/kernels/fingerprint_op.cc: one FarmHash
    # Fingerprint64 (8 little-endian bytes) per row of the first dimension, over the row's
    # bytes; a row of several strings hashes the concatenated fingerprints of its strings.
    from savedmodel_io.hashing.farmhash import fingerprint64

    data, method = inputs[0], np.asarray(inputs[1])
    if method.ndim != 0:
        raise bad(node, f"`method` should be a scalar string: {list(method.shape)}")
    if _b(method.item()) != b"farmhash64":
        raise bad(node, f"Unsupported fingerprint method: {_b(method.item()).decode('utf-8', 'replace')}")
    if not isinstance(data, np.ndarray):
        raise bad(node, f"Data type not supported: {type(data).__name__}")
    if data.ndim == 0:
        raise bad(node, f"`data` should have at least one dimension: {list(data.shape)}")
    rows = data.reshape(data.shape[0], -1) if data.size else data.reshape(data.shape[0], 0)
    if data.dtype == object:
        def row_hash(row: np.ndarray) -> int:
            if row.size == 1:
                return fingerprint64(_b(row[0]))
            return fingerprint64(b"".join(fingerprint64(_b(v)).to_bytes(8, "little") for v in row))
    else:
        def row_hash(row: np.ndarray) -> int:
            return fingerprint64(row.tobytes())
    out = np.empty((rows.shape[0], 8), np.uint8)
    for i in range(rows.shape[0]):
        out[i] = np.frombuffer(row_hash(rows[i]).to_bytes(8, "little"), np.uint8)
    return out


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


def _irregular(a: np.ndarray, max_entries: int, v2: bool) -> str:
    """SummarizeValue for a dtype it has no printer for (complex): one "?" per element shown,
    flat at any rank (tensorflow/tensorflow tensorflow/core/framework/tensor.cc)."""
    wanted = a.size if max_entries < 0 else max_entries
    text = " ".join(["?"] * min(wanted, a.size)) + ("..." if wanted < a.size else "")
    return f"[{text}]" if v2 and a.ndim else text


def summarize(a: np.ndarray, max_entries: int) -> str:
    """Tensor::SummarizeValue(max_entries, print_v2=True), as StringFormat and PrintV2 write tensors."""
    if a.dtype.kind == "c":
        return _irregular(a, max_entries, True)
    limit = a.size if max_entries < 0 else min(max_entries, a.size)
    if a.ndim == 0:
        return _one_element(a[()])
    return _summarize_dim(a, 0, limit)


def _one_element_v1(v: object) -> str:
    """One element as PrintOneElement(print_v2=False) writes it: strings unquoted."""
    if isinstance(v, (bytes, np.bytes_)):
        return _c_escape(bytes(v))
    if not isinstance(v, (bool, np.bool_, int, np.integer, float, np.floating)):
        return _float_text(np.float32(v))  # bfloat16 and other ml_dtypes floats
    return _one_element(v)


def summarize_v1(a: np.ndarray, max_entries: int) -> str:
    """Tensor::SummarizeValue(max_entries, print_v2=False), as the TF1 Print op writes tensors.

    The first ``limit`` elements in row-major order: innermost dimensions as space-separated
    elements in brackets, a cut inside a row marked "...", and "..." after the whole when
    elements were left out (tensorflow/tensorflow tensorflow/core/framework/tensor.cc,
    PrintOneDim).
    """
    if a.dtype.kind == "c":
        return _irregular(a, max_entries, False)
    limit = a.size if max_entries < 0 else min(max_entries, a.size)
    if limit == 0 and a.dtype == bool:
        return ""  # TF writes nothing at all for booleans cut to no elements
    if a.ndim == 0:
        return _one_element_v1(a[()]) if limit else "..."
    flat = a.reshape(-1)
    pos = 0

    def dim(d: int) -> str:
        nonlocal pos
        if pos >= limit:
            return ""
        if d == a.ndim - 1:
            parts = []
            for i in range(a.shape[d]):
                if pos >= limit:
                    return " ".join(parts) + ("..." if d != 0 else "")
                parts.append(_one_element_v1(flat[pos]))
                pos += 1
            return " ".join(parts)
        text = ""
        for _ in range(a.shape[d]):
            opened = pos < limit
            inner = dim(d + 1)
            text += ("[" if opened else "") + inner + ("]" if opened or pos < limit else "")
        return text

    return dim(0) + ("..." if a.size > limit else "")


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
