"""DecodeProtoV2 and EncodeProto: fields of arbitrary protobuf messages to and from tensors.

The message type comes from ``descriptor_source``: ``bytes://`` followed by a serialized
FileDescriptorSet (saved in the graph, so the model carries it), or ``local://``, TF's
own compiled-in pool, of which we know the message types in savedmodel_io.proto (TF's
protos). A file path, or a pool TensorFlow's binary registers under a name, is refused:
the descriptors are not part of the model.

Semantics follow tensorflow/tensorflow tensorflow/core/kernels/decode_proto_op.cc,
encode_proto_op.cc and tensorflow/core/util/proto/proto_utils.cc: TF walks the wire format
itself, so a singular field seen twice keeps its last value (a submessage is not merged),
packed and unpacked encodings are both read, values of a wire type the field does not have
are skipped, message fields come out as their serialized bytes, and each field's last
output dimension is the batch's largest count (at least 1), padded with the field's
default. Encoding writes fields in field-number order, repeated numbers packed when the
field is declared packed.
"""

from __future__ import annotations

import hashlib
import struct
from typing import Any

import numpy as np
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory, text_format
from google.protobuf.descriptor import FieldDescriptor as FD

from savedmodel_io.errors import UnsupportedOpError
from savedmodel_io.formats import varint
from savedmodel_io.graph.ops._registry import kernel
from savedmodel_io.graph.ops._util import attr_str, bad, np_dtype

_M64 = (1 << 64) - 1
_M32 = (1 << 32) - 1

# Output dtypes each field type may decode to (and encode from): proto_utils.cc IsCompatibleType.
_COMPATIBLE = {
    FD.TYPE_DOUBLE: ("float64",), FD.TYPE_FLOAT: ("float32", "float64"),
    FD.TYPE_INT64: ("int64",), FD.TYPE_UINT64: ("uint64",), FD.TYPE_INT32: ("int32", "int64"),
    FD.TYPE_FIXED64: ("uint64",), FD.TYPE_FIXED32: ("uint32", "uint64"), FD.TYPE_BOOL: ("bool",),
    FD.TYPE_STRING: ("object",), FD.TYPE_GROUP: ("object",), FD.TYPE_MESSAGE: ("object",),
    FD.TYPE_BYTES: ("object",), FD.TYPE_UINT32: ("uint32", "uint64"), FD.TYPE_ENUM: ("int32",),
    FD.TYPE_SFIXED32: ("int32", "int64"), FD.TYPE_SFIXED64: ("int64",),
    FD.TYPE_SINT32: ("int32", "int64"), FD.TYPE_SINT64: ("int64",),
}
_TYPE_NAMES = {FD.TYPE_MESSAGE: "message", FD.TYPE_GROUP: "group", FD.TYPE_ENUM: "enum"}
_VARINT_TYPES = {FD.TYPE_INT64, FD.TYPE_UINT64, FD.TYPE_INT32, FD.TYPE_BOOL, FD.TYPE_UINT32,
                 FD.TYPE_ENUM, FD.TYPE_SINT32, FD.TYPE_SINT64}
_FIXED = {FD.TYPE_DOUBLE: "<d", FD.TYPE_FLOAT: "<f", FD.TYPE_FIXED64: "<Q", FD.TYPE_FIXED32: "<I",
          FD.TYPE_SFIXED32: "<i", FD.TYPE_SFIXED64: "<q"}
_LENGTH_TYPES = {FD.TYPE_STRING, FD.TYPE_BYTES, FD.TYPE_MESSAGE}


def _type_name(field) -> str:
    return _TYPE_NAMES.get(field.type) or {
        FD.TYPE_DOUBLE: "double", FD.TYPE_FLOAT: "float", FD.TYPE_INT64: "int64",
        FD.TYPE_UINT64: "uint64", FD.TYPE_INT32: "int32", FD.TYPE_FIXED64: "fixed64",
        FD.TYPE_FIXED32: "fixed32", FD.TYPE_BOOL: "bool", FD.TYPE_STRING: "string",
        FD.TYPE_BYTES: "bytes", FD.TYPE_UINT32: "uint32", FD.TYPE_SFIXED32: "sfixed32",
        FD.TYPE_SFIXED64: "sfixed64", FD.TYPE_SINT32: "sint32", FD.TYPE_SINT64: "sint64",
    }[field.type]


# -- descriptors ---------------------------------------------------------------------------

_POOLS: dict[str, descriptor_pool.DescriptorPool] = {}


def _pool(node) -> descriptor_pool.DescriptorPool:
    source = attr_str(node, "descriptor_source")
    raw = node.attr["descriptor_source"]
    raw = raw if isinstance(raw, bytes) else raw.encode("utf-8")
    if source == "local://":
        from savedmodel_io.proto import POOL

        return POOL
    if not raw.startswith(b"bytes://"):
        raise UnsupportedOpError(
            f"descriptor_source {source!r} names a descriptor file or a pool compiled into "
            "TensorFlow's binary; only descriptors saved in the graph (bytes://) and "
            "TensorFlow's own messages (local://) are available", where=node.where)
    key = hashlib.sha256(raw).hexdigest()
    pool = _POOLS.get(key)
    if pool is None:
        files = descriptor_pb2.FileDescriptorSet()
        try:
            files.ParseFromString(raw[len(b"bytes://"):])
            pool = descriptor_pool.DescriptorPool()
            for f in files.file:
                pool.Add(f)
        except Exception as exc:  # noqa: BLE001 (protobuf raises several types for bad sets)
            raise bad(node, f"Source does not represent serialized file descriptor set "
                            f"proto ({exc})") from None
        if len(_POOLS) > 16:
            _POOLS.clear()
        _POOLS[key] = pool
    return pool


def _message_type(node, pool):
    name = attr_str(node, "message_type")
    try:
        return pool.FindMessageTypeByName(name)
    except KeyError:
        if attr_str(node, "descriptor_source") == "local://":
            raise UnsupportedOpError(
                f"message type {name!r} is not one of TensorFlow's own protos; it is only in the "
                "protobuf pool of the TensorFlow binary that built the model", where=node.where
            ) from None
        raise bad(node, f"No descriptor found for message type {name}") from None


def _field(node, desc, by_name: dict, name: Any):
    """The field ``name`` (str or bytes) of ``desc``; unknown names and proto2 groups refused."""
    name = name.decode() if isinstance(name, bytes) else name
    field = by_name.get(name)
    if field is None:
        raise bad(node, f"Unknown field: {name} in message type {desc.full_name}")
    if field.type == FD.TYPE_GROUP:
        raise UnsupportedOpError(f"field {name!r} is a proto2 group, which is not supported",
                                 where=node.where)
    return field


def _fields(node, desc, names: list, types: list, what: str) -> list:
    if len(names) != len(types):
        raise bad(node, f"field_names and {what} attributes must have the same length")
    out = []
    by_name = {f.name: f for f in desc.fields}
    for name, dt in zip(names, types):
        field = _field(node, desc, by_name, name)
        if np.dtype(dt).name not in _COMPATIBLE[field.type]:
            raise bad(node, f"Unexpected output type for {field.full_name}: {_type_name(field)} "
                            f"to {_dt_name(dt)}")
        out.append(field)
    return out


def _dt_name(dt: np.dtype) -> str:
    return "DT_STRING" if dt == object else "DT_" + np.dtype(dt).name.upper()


# -- decoding ------------------------------------------------------------------------------

def _scalar(field, value: int) -> Any:
    """A varint's value as the field's type reads it."""
    t = field.type
    if t in (FD.TYPE_INT32, FD.TYPE_ENUM):
        value &= _M32
        return value - (1 << 32) if value >> 31 else value
    if t == FD.TYPE_UINT32:
        return value & _M32
    if t == FD.TYPE_INT64:
        return value - (1 << 64) if value >> 63 else value
    if t == FD.TYPE_SINT32:
        value &= _M32
        return (value >> 1) ^ -(value & 1)
    if t == FD.TYPE_SINT64:
        return (value >> 1) ^ -(value & 1)
    if t == FD.TYPE_BOOL:
        return value != 0
    return value


def _skip(node, data: bytes, pos: int, wire: int, end: int, depth: int = 0) -> int:
    """Position after a field of wire type ``wire`` starting at ``pos``."""
    try:
        if wire == 0:
            return varint.decode(data, pos, end, wrap=True)[1]
        if wire == 1:
            pos += 8
        elif wire == 5:
            pos += 4
        elif wire == 2:
            n, pos = varint.decode(data, pos, end, 32)
            pos += n
        elif wire == 3 and depth < 64:
            while True:
                tag, pos = varint.decode(data, pos, end, 32)
                if tag & 7 == 4:
                    break
                pos = _skip(node, data, pos, tag & 7, end, depth + 1)
        else:
            raise varint.VarintError("bad wire type")
    except varint.VarintError:
        raise bad(node, "CollectField: Failed skipping malformed field") from None
    if pos > end:
        raise bad(node, "CollectField: Failed skipping malformed field")
    return pos


def _collect(node, data: bytes, wanted: dict) -> dict:
    """Field number -> list of values in wire order, for the ``wanted`` fields."""
    found: dict[int, list] = {n: [] for n in wanted}
    pos, end = 0, len(data)
    while pos < end:
        try:
            tag, pos = varint.decode(data, pos, end, 32)
        except varint.VarintError:
            raise bad(node, "Unable to parse binary protobuf") from None
        number, wire = tag >> 3, tag & 7
        field = wanted.get(number)
        start = pos
        pos = _skip(node, data, pos, wire, end)
        if field is None:
            continue
        t = field.type
        vals = found[number]
        if wire == 2 and t in _LENGTH_TYPES:
            n, body = varint.decode(data, start, end, 32)
            value = data[body:body + n]
            if field.is_repeated:
                vals.append(value)
            else:
                vals[:] = [value]
        elif wire == 2 and (t in _VARINT_TYPES or t in _FIXED):  # packed
            n, body = varint.decode(data, start, end, 32)
            chunk = _packed(node, field, data[body:body + n])
            if field.is_repeated:
                vals.extend(chunk)
            elif chunk and not vals:  # TF counts a packed singular field but keeps no value
                vals.append(None)
        elif (wire == 0 and t in _VARINT_TYPES) or \
                (t in _FIXED and wire == (1 if struct.calcsize(_FIXED[t]) == 8 else 5)):
            if wire == 0:
                value = _scalar(field, varint.decode(data, start, end, wrap=True)[0])
            else:
                (value,) = struct.unpack_from(_FIXED[t], data, start)
            if field.is_repeated:
                vals.append(value)
            else:
                vals[:] = [value]
    return found


def _packed(node, field, chunk: bytes) -> list:
    t = field.type
    if t in _FIXED:
        size = struct.calcsize(_FIXED[t])
        if len(chunk) % size:
            raise bad(node, f"Illegal data length for packed fixed-size type: {len(chunk)}")
        return list(struct.unpack(f"<{len(chunk) // size}{_FIXED[t][1]}", chunk))
    out, pos = [], 0
    try:
        while pos < len(chunk):
            value, pos = varint.decode(chunk, pos, len(chunk), wrap=True)
            out.append(_scalar(field, value))
    except varint.VarintError:
        raise bad(node, "ReadPackedValues: Skipping packed field failed") from None
    return out


def _default(field) -> Any:
    if field.type == FD.TYPE_MESSAGE:
        return b""
    value = field.default_value
    if field.is_repeated or value is None or isinstance(value, list):
        return b"" if field.type in _LENGTH_TYPES else 0
    return value.encode("utf-8") if isinstance(value, str) else value


def _sanitized(node, desc, data: bytes, text: bool) -> bytes:
    """``data`` parsed as the message and written back (text input, or binary with sanitize)."""
    msg = message_factory.GetMessageClass(desc)()
    try:
        if text:
            text_format.Parse(data.decode("utf-8"), msg, descriptor_pool=desc.file.pool)
        else:
            msg.ParseFromString(data)
    except Exception:  # noqa: BLE001 (text_format and the parser raise several types)
        raise bad(node, f"Unable to parse {'text' if text else 'binary'} protobuf") from None
    return msg.SerializeToString()


@kernel("DecodeProtoV2", per_element=True)
def decode_proto(node, inputs, ctx):
    fmt = attr_str(node, "message_format")
    if fmt not in ("binary", "text"):
        raise bad(node, "format must be one of binary or text")
    desc = _message_type(node, _pool(node))
    types = [np_dtype(t) for t in node.attr["output_types"]]
    fields = _fields(node, desc, list(node.attr["field_names"]), types, "output_types")
    data = np.asarray(inputs[0], dtype=object)
    flat = data.reshape(-1).tolist()
    if not flat:
        raise bad(node, "Bufs argument must contain at least one value")
    wanted = {f.number: f for f in fields}
    rows = []
    for v in flat:
        if fmt == "text" or node.attr["sanitize"]:
            v = _sanitized(node, desc, v, fmt == "text")
        rows.append(_collect(node, v, wanted))
    sizes = np.array([[len(r[f.number]) for f in fields] for r in rows], np.int32)
    values = []
    for k, (field, dt) in enumerate(zip(fields, types)):
        width = max([1] + [len(r[field.number]) for r in rows])
        out = np.full((len(rows), width), _default(field), dtype=dt)
        for i, r in enumerate(rows):
            for j, value in enumerate(r[field.number]):
                if value is not None:
                    out[i, j] = value
        values.append(out.reshape(data.shape + (width,)))
    return [sizes.reshape(data.shape + (len(fields),))] + values


# -- encoding ------------------------------------------------------------------------------

def _wire(field) -> int:
    t = field.type
    if t in _LENGTH_TYPES:
        return 2
    if t in _FIXED:
        return 1 if struct.calcsize(_FIXED[t]) == 8 else 5
    return 0


def _encode_value(field, value, out: bytearray) -> None:
    t = field.type
    if t in _LENGTH_TYPES:
        varint.append(out, len(value))
        out += value
    elif t in _FIXED:
        out += struct.pack(_FIXED[t], value)
    elif t == FD.TYPE_SINT32:
        varint.append(out, ((value << 1) ^ (value >> 31)) & _M32)
    elif t == FD.TYPE_SINT64:
        varint.append(out, ((value << 1) ^ (value >> 63)) & _M64)
    else:
        varint.append(out, int(value) & _M64)


def _tag(field, wire: int, out: bytearray) -> None:
    varint.append(out, field.number << 3 | wire)


@kernel("EncodeProto", per_element=True)
def encode_proto(node, inputs, ctx):
    desc = _message_type(node, _pool(node))
    values = [np.asarray(v) for v in inputs[1:]]
    names = list(node.attr["field_names"])
    if len(names) != len(values):
        raise bad(node, "field_names and Tinput_types attributes must have the same length")
    by_name = {f.name: f for f in desc.fields}
    fields = []
    for name, v in zip(names, values):
        field = _field(node, desc, by_name, name)
        name = field.name
        if v.dtype.name not in _COMPATIBLE[field.type]:
            raise bad(node, f"Incompatible type for field {name}.  Saw dtype: "
                            f"{_dt_name(v.dtype)[3:].lower()} but field type is: {_type_name(field)}")
        if v.ndim < 2:
            raise bad(node, f"Invalid shape for field {name}.  Saw shape {list(v.shape)} but it "
                            "should be at least a matrix.")
        fields.append(field)
    sizes = np.asarray(inputs[0])
    if sizes.ndim < 1 or sizes.shape[-1] != len(fields):
        raise bad(node, f"sizes should be batch_size + [len(field_names)]; got {list(sizes.shape)}")
    batch = sizes.shape[:-1]
    for field, v in zip(fields, values):
        if v.shape[:-1] != batch:
            raise bad(node, f"Value for field {field.name} has shape {list(v.shape)}, the batch "
                            f"shape is {list(batch)}")
    order = sorted(range(len(fields)), key=lambda k: fields[k].number)
    out = np.empty(batch, dtype=object)
    for idx in np.ndindex(batch):
        buf = bytearray()
        for k in order:
            field, n = fields[k], int(sizes[idx + (k,)])
            row = values[k][idx]
            if n > row.shape[-1]:
                raise bad(node, f"Size to write must not be larger than value tensor; but saw: "
                                f"{n} > {row.shape[-1]} at message {np.ravel_multi_index(idx, batch) if batch else 0} field {k}")
            items = [row[j].item() if isinstance(row[j], np.generic) else row[j]
                     for j in range(max(n, 0))]
            if field.is_packed and field.is_repeated:
                if n == 0:  # TF writes nothing for a size of 0, an empty packed run for < 0
                    continue
                body = bytearray()
                for item in items:
                    _encode_value(field, item, body)
                _tag(field, 2, buf)
                # TF sizes a fixed-width run as count * width, so a negative count wraps
                length = n * struct.calcsize(_FIXED[field.type]) if field.type in _FIXED else len(body)
                varint.append(buf, length & _M32)
                buf += body
                continue
            for item in items:
                _tag(field, _wire(field), buf)
                _encode_value(field, item, buf)
        out[idx] = bytes(buf)
    return out
