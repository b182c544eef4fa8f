"""Byte-level decoders: base64, raw bytes to numbers, zlib/gzip, CSV records.

Each follows its TensorFlow kernel's validation and edge rules (cited per kernel);
outputs that a few input bytes could make huge (decompression) are bounded by
``MAX_RESULT_BYTES``.
"""

from __future__ import annotations

import zlib

import numpy as np

from savedmodel_io.errors import LimitExceededError
from savedmodel_io.graph.ops._registry import kernel
from savedmodel_io.graph.ops._util import MAX_RESULT_BYTES, attr_str, bad, np_dtype
from savedmodel_io.graph.ops.strings import parse_number


def _strings(x) -> np.ndarray:
    return np.asarray(x, dtype=object)


def _each(fn, a: np.ndarray) -> np.ndarray:
    out = np.empty(a.shape, dtype=object)
    for idx in np.ndindex(a.shape):
        out[idx] = fn(a[idx])
    return out


# -- base64 (web-safe alphabet) --------------------------------------------------------------
# tensorflow/tensorflow third_party/xla/third_party/tsl/tsl/platform/base64.cc: "-" and "_"
# for 62 and 63; decoding takes input with or without "=" padding, ignores leftover bits and
# refuses any other character and a length of 1 modulo 4.
_ALPHABET = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
_VALUE = {c: i for i, c in enumerate(_ALPHABET)}


def _b64encode(data: bytes, pad: bool) -> bytes:
    out = bytearray()
    for i in range(0, len(data) - len(data) % 3, 3):
        n = int.from_bytes(data[i:i + 3], "big")
        out += bytes(_ALPHABET[n >> s & 63] for s in (18, 12, 6, 0))
    rest = data[len(data) - len(data) % 3:]
    if rest:
        n = int.from_bytes(rest + b"\0" * (3 - len(rest)), "big")
        out += bytes(_ALPHABET[n >> s & 63] for s in (18, 12, 6, 0)[:len(rest) + 1])
        if pad:
            out += b"=" * (3 - len(rest))
    return bytes(out)


def _b64decode(node, data: bytes) -> bytes:
    if len(data) % 4 == 0 and data:
        if data[-2:] == b"==":
            data = data[:-2]
        elif data[-1:] == b"=":
            data = data[:-1]
    if len(data) % 4 == 1:
        raise bad(node, "Base64 string length cannot be 1 modulo 4.")
    out = bytearray()
    for i in range(0, len(data), 4):
        group = data[i:i + 4]
        try:
            n = 0
            for c in group:
                n = n << 6 | _VALUE[c]
        except KeyError:
            raise bad(node, "Invalid character found in base64.") from None
        n <<= 6 * (4 - len(group))
        out += n.to_bytes(3, "big")[:len(group) - 1]
    return bytes(out)


@kernel("EncodeBase64", per_element=True)
def encode_base64(node, inputs, ctx):
    pad = bool(node.attr["pad"])
    return _each(lambda v: _b64encode(v, pad), _strings(inputs[0]))


@kernel("DecodeBase64", per_element=True)
def decode_base64(node, inputs, ctx):
    return _each(lambda v: _b64decode(node, v), _strings(inputs[0]))


# -- raw bytes -------------------------------------------------------------------------------

def _from_bytes(buf: bytes, dtype: np.dtype, little: bool, count: int) -> np.ndarray:
    """``count`` elements of ``dtype`` from ``buf`` in the given byte order (native order out).

    Big-endian input has each element's bytes reversed (each part's, for complex numbers).
    """
    out = np.frombuffer(buf, dtype, count).copy()
    if little or dtype.itemsize == 1:
        return out
    word = dtype.itemsize // 2 if dtype.kind == "c" else dtype.itemsize
    return out.view(f"u{word}").byteswap().view(dtype)


@kernel("DecodeRaw", per_element=True)
def decode_raw(node, inputs, ctx):
    # tensorflow/tensorflow tensorflow/core/kernels/decode_raw_op.cc: every string the same
    # length, a multiple of the element size; output shape input shape + [length / size].
    dtype = np_dtype(node.attr["out_type"])
    little = bool(node.attr["little_endian"])
    data = _strings(inputs[0])
    flat = data.reshape(-1).tolist()
    size = len(flat[0]) if flat else 0
    for i, v in enumerate(flat):
        if len(v) != size:
            raise bad(node, f"DecodeRaw requires input strings to all be the same size, but "
                            f"element {i} has size {len(v)} != {size}")
    if size % dtype.itemsize:
        raise bad(node, f"Input to DecodeRaw has length {size} that is not a multiple of "
                        f"{dtype.itemsize}, the size of {np.dtype(dtype).name}")
    n = size // dtype.itemsize
    out = _from_bytes(b"".join(flat), dtype, little, n * len(flat))
    return out.reshape(data.shape + (n,))


@kernel("DecodePaddedRaw", per_element=True)
def decode_padded_raw(node, inputs, ctx):
    # tensorflow/tensorflow tensorflow/core/kernels/decode_padded_raw_op.cc: each string cut
    # or zero-padded to fixed_length bytes.
    dtype = np_dtype(node.attr["out_type"])
    little = bool(node.attr["little_endian"])
    data = _strings(inputs[0])
    length = int(np.asarray(inputs[1]))
    if length <= 0:
        raise bad(node, f"fixed_length ({length}) must be greater than zero.")
    if length % dtype.itemsize:
        raise bad(node, f"fixed_length ({length}) must be a multiple of the size of out_type "
                        f"({dtype.itemsize})")
    flat = data.reshape(-1).tolist()
    n = length // dtype.itemsize
    _check_result(node, len(flat) * length)
    buf = b"".join(v[:length].ljust(length, b"\0") for v in flat)
    return _from_bytes(buf, dtype, little, n * len(flat)).reshape(data.shape + (n,))


def _check_result(node, nbytes: int) -> None:
    if nbytes > MAX_RESULT_BYTES:
        raise LimitExceededError(f"the result would take {nbytes} bytes (limit "
                                 f"{MAX_RESULT_BYTES})", where=node.where)


# -- zlib / gzip -----------------------------------------------------------------------------

@kernel("DecodeCompressed", per_element=True)
def decode_compressed(node, inputs, ctx):
    # tensorflow/tensorflow tensorflow/core/kernels/decode_compressed_op.cc: "" passes the
    # bytes through, ZLIB and GZIP inflate each string; corrupt data is an error, a
    # truncated stream gives what it holds.
    kind = attr_str(node, "compression_type")
    wbits = {"ZLIB": 15, "GZIP": 31}.get(kind)
    if kind and wbits is None:
        raise bad(node, f"Only ZLIB, GZIP or NONE are supported compressions, got {kind!r}")
    data = _strings(inputs[0])
    if wbits is None:
        return data.copy()
    left = [MAX_RESULT_BYTES]

    def inflate(v: bytes) -> bytes:
        d = zlib.decompressobj(wbits)
        try:
            out = d.decompress(v, left[0] + 1)
        except zlib.error as exc:
            raise bad(node, f"could not decompress the input ({exc})") from None
        if len(out) > left[0]:
            _check_result(node, MAX_RESULT_BYTES + 1)
        left[0] -= len(out)  # truncated input: what inflated so far, as TF's stream gives
        return out

    return _each(inflate, data)


# -- CSV ---------------------------------------------------------------------------------------

def _csv_fields(node, record: bytes, delim: int, quotes: bool, select: list[int] | None,
                row: int) -> list[bytes]:
    """The fields of one record as TF's DecodeCSVOp::ExtractFields reads them.

    tensorflow/tensorflow tensorflow/core/kernels/decode_csv_op.cc: CR and LF between fields
    are skipped; a quoted field holds "" for a quote and must end with a quote followed by
    the delimiter or the end; an unquoted field may hold no quote, CR or LF; a record ending
    in the delimiter has an empty last field. With select_cols only those columns are kept
    and reading stops after the last one.
    """
    fields, i, n, col = [], 0, len(record), 0
    q, cr, lf = ord('"'), ord("\r"), ord("\n")
    while i < n:
        if record[i] in (cr, lf):
            i += 1
            continue
        field = bytearray()
        if quotes and record[i] == q:
            i += 1
            while i < n - 1 and not (record[i] == q and record[i + 1] == delim):
                if record[i] != q:
                    field.append(record[i])
                    i += 1
                elif record[i + 1] == q:
                    field.append(q)
                    i += 2
                else:
                    raise bad(node, "Quote inside a string has to be escaped by another quote")
            if not (i < n and record[i] == q and (i == n - 1 or record[i + 1] == delim)):
                raise bad(node, "Quoted field has to end with quote followed by delim or end")
            i += 2
        else:
            while i < n and record[i] != delim:
                if (quotes and record[i] == q) or record[i] in (cr, lf):
                    raise bad(node, "Unquoted fields cannot have quotes/CRLFs inside")
                field.append(record[i])
                i += 1
            i += 1
        if select is None or col in select:
            fields.append(bytes(field))
        col += 1
        if select is not None and col > select[-1]:
            return fields
    if n and record[-1] == delim and (select is None or col in select):
        fields.append(b"")
    return fields


@kernel("DecodeCSV", per_element=True)
def decode_csv(node, inputs, ctx):
    types = [np_dtype(t) for t in node.attr["OUT_TYPE"]]
    delim_text = node.attr["field_delim"]
    quotes = bool(node.attr["use_quote_delim"])
    na = node.attr["na_value"]
    select = [int(c) for c in node.attr["select_cols"]] or None
    if len(delim_text) != 1:
        raise bad(node, "field_delim should be only 1 char")
    if select is not None:
        if len(select) != len(types):
            raise bad(node, "select_cols should match output size")
        if any(b <= a for a, b in zip(select, select[1:])):
            raise bad(node, "select_cols should be strictly increasing indices")
        if select[0] < 0:
            raise bad(node, "select_cols should be non-negative indices")
    records = _strings(inputs[0])
    defaults = [np.asarray(d) for d in inputs[1:]]
    for i, d in enumerate(defaults):
        if d.size > 1:
            raise bad(node, f"There should only be 1 default per field but field {i} has {d.size}")
    outs = [np.empty(records.shape, dtype=t) for t in types]
    for idx in np.ndindex(records.shape):
        row = int(np.ravel_multi_index(idx, records.shape)) if records.ndim else 0
        fields = _csv_fields(node, records[idx], delim_text[0], quotes, select, row)
        if len(fields) != len(types):
            raise bad(node, f"Expect {len(types)} fields but have {len(fields)} in record {row}")
        for f, (text, t, d) in enumerate(zip(fields, types, defaults)):
            if not text or text == na:
                if d.size != 1:
                    raise bad(node, f"Field {f} is required but missing in record {row}!")
                outs[f][idx] = d.reshape(-1)[0]
            elif t == object:
                outs[f][idx] = text
            else:
                outs[f][idx] = _csv_number(node, text, t, f, row)
    return outs


def _csv_number(node, text: bytes, t: np.dtype, f: int, row: int):
    integer = t.kind in "iu"
    try:
        n = parse_number(text, integer)
        if integer and not np.iinfo(t).min <= n <= np.iinfo(t).max:
            raise ValueError(n)
    except ValueError:
        raise bad(node, f"Field {f} in record {row} is not a valid {t.name}: "
                        f"{text.decode('utf-8', 'replace')}") from None
    with np.errstate(over="ignore"):
        return t.type(n)
