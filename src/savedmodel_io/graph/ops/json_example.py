"""DecodeJSONExample: tf.train.Example in protobuf's JSON form to the binary wire form.

TensorFlow converts with protobuf's streaming ``JsonToBinaryString`` (tensorflow/tensorflow
tensorflow/core/kernels/example_parsing_ops.cc, DecodeJSONExampleOp), whose bytes we
reproduce: fields and map entries in the order the JSON gives them, repeated numbers
unpacked (one tag per value), a repeated key appending to its list. Field names are
accepted in JSON (``int64List``) and proto (``int64_list``) spelling; int64 values as
numbers or strings, floats as numbers, numeric strings or "NaN" / "Infinity" / "-Infinity", bytes as
base64 (either alphabet, padding optional). Unknown fields, a second value of the
Feature oneof, a repeated map key and out-of-range numbers are errors, as in TensorFlow.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
import struct

import numpy as np

from savedmodel_io.formats import varint
from savedmodel_io.graph.ops._registry import kernel
from savedmodel_io.graph.ops._util import bad

_LIST_FIELDS = {"bytesList": (1, "bytes"), "bytes_list": (1, "bytes"),
                "floatList": (2, "float"), "float_list": (2, "float"),
                "int64List": (3, "int64"), "int64_list": (3, "int64")}
_FLOAT_MAX = float(np.finfo(np.float32).max)
_FLOAT_WORDS = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}
_INT_TEXT = re.compile(r"[+-]?(0[xX][0-9a-fA-F]+|[0-9]+)")
_FLOAT_TEXT = re.compile(r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?")


class _JsonError(ValueError):
    """A JSON Example TensorFlow refuses (the message says where)."""


def _field(number: int, wire: int, out: bytearray) -> None:
    varint.append(out, number << 3 | wire)


def _message(number: int, body: bytes, out: bytearray) -> None:
    _field(number, 2, out)
    varint.append(out, len(body))
    out += body


def _object(value, where: str) -> list:
    if not isinstance(value, list):  # objects are parsed as lists of (key, value) pairs
        raise _JsonError(f"{where}: expected an object")
    return value


def _float(v, where: str) -> bytes:
    if isinstance(v, str) and v in _FLOAT_WORDS:
        x = _FLOAT_WORDS[v]
    elif (isinstance(v, (int, float)) and not isinstance(v, bool)) or \
            (isinstance(v, str) and _FLOAT_TEXT.fullmatch(v)):
        x = float(v)
        if abs(x) > _FLOAT_MAX:
            raise _JsonError(f"{where}: float out of range")
    else:
        raise _JsonError(f"{where}: expected a float")
    return struct.pack("<f", x)


def _int64(v, where: str) -> int:
    if isinstance(v, str) and _INT_TEXT.fullmatch(v):
        x = int(v, 0) if v.lstrip("+-")[:2].lower() == "0x" else int(v)
    elif isinstance(v, int) and not isinstance(v, bool):
        x = v
    elif isinstance(v, float) and v.is_integer():
        x = int(v)
    else:
        raise _JsonError(f"{where}: expected an integer")
    if not -2**63 <= x < 2**63:
        raise _JsonError(f"{where}: number out of range for int64")
    return x


def _bytes(v, where: str) -> bytes:
    if not isinstance(v, str):
        raise _JsonError(f"{where}: expected base64 text")
    text = v.replace("-", "+").replace("_", "/").rstrip("=")
    try:
        return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise _JsonError(f"{where}: invalid base64") from None


def _list(value, kind: str, where: str) -> bytes:
    out = bytearray()
    for key, values in _object(value, where):
        if key != "value":
            raise _JsonError(f"{where}: no such field: {key!r}")
        if values is None:
            continue
        if not isinstance(values, list):
            values = [values]  # a single value for a repeated field, as the stream parser takes it
        for i, v in enumerate(values):
            at = f"{where}.value[{i}]"
            if kind == "float":
                _field(1, 5, out)
                out += _float(v, at)
            elif kind == "int64":
                _field(1, 0, out)
                varint.append(out, _int64(v, at) & 0xFFFFFFFFFFFFFFFF)
            else:
                _message(1, _bytes(v, at), out)
    return bytes(out)


def _feature(value, where: str) -> bytes:
    out, kind_seen = bytearray(), None
    for key, sub in _object(value, where):
        if key not in _LIST_FIELDS:
            raise _JsonError(f"{where}: no such field: {key!r}")
        if sub is None:
            continue
        if kind_seen is not None:
            raise _JsonError(f"{where}: {key!r} and {kind_seen!r} are both set (a oneof)")
        kind_seen = key
        number, kind = _LIST_FIELDS[key]
        _message(number, _list(sub, kind, f"{where}.{key}"), out)
    return bytes(out)


def _features(value, where: str) -> bytes:
    out, seen = bytearray(), set()
    for key, entries in _object(value, where):
        if key != "feature":
            raise _JsonError(f"{where}: no such field: {key!r}")
        if entries is None:
            continue
        for name, feat in _object(entries, f"{where}.feature"):
            if name in seen:
                raise _JsonError(f"{where}.feature: key {name!r} is repeated")
            seen.add(name)
            entry = bytearray()
            _message(1, name.encode("utf-8"), entry)
            if feat is not None:
                _message(2, _feature(feat, f"{where}.feature[{name!r}]"), entry)
            _message(1, bytes(entry), out)
    return bytes(out)


def json_to_example(text: bytes) -> bytes:
    """The binary tf.train.Example of one JSON Example (ValueError when TF would refuse it)."""
    try:
        doc = json.loads(text, object_pairs_hook=list)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise _JsonError(f"invalid JSON: {exc}") from None
    out = bytearray()
    for key, value in _object(doc, "Example"):
        if key != "features":
            raise _JsonError(f"Example: no such field: {key!r}")
        if value is not None:
            _message(1, _features(value, "features"), out)
    return bytes(out)


@kernel("DecodeJSONExample", per_element=True)
def decode_json_example(node, inputs, ctx):
    data = np.asarray(inputs[0], dtype=object)
    out = np.empty(data.shape, dtype=object)
    for idx in np.ndindex(data.shape):
        try:
            out[idx] = json_to_example(data[idx])
        except _JsonError as exc:
            raise bad(node, f"Error while parsing JSON: {exc}") from None
    return out
