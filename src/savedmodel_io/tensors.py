"""TensorProto <-> numpy, and TensorShapeProto <-> Python shapes.

The decoding rules follow TensorFlow's ``Tensor::FromProto``
(tensorflow/tensorflow tensorflow/core/framework/tensor.cc): raw bytes in
``tensor_content`` win; otherwise the typed ``*_val`` field is used, an empty
field means all zeros and a shorter one repeats its last value (this is how
``tf.zeros([1000, 1000])`` stays small in a GraphDef).
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from savedmodel_io import dtypes
from savedmodel_io.errors import (
    CorruptFileError,
    InvalidArgumentError,
    LimitExceededError,
    UnsupportedFormatError,
)
from savedmodel_io.formats import varint
from savedmodel_io.proto import DataType, TensorInfo, TensorProto, TensorShapeProto

if TYPE_CHECKING:  # numpy is imported on first use: reading shapes never needs it
    import numpy as np

__all__ = [
    "MAX_EXPANDED_BYTES",
    "Shape",
    "check_rank",
    "from_array",
    "num_elements",
    "shape_from_proto",
    "shape_to_proto",
    "tensor_info_shape",
    "to_array",
    "to_content_proto",
]

# A dimension is an int, or None when unknown; a whole shape is None when its rank is unknown.
Shape = tuple[int | None, ...] | None

# Largest tensor we expand from a few repeated values (a hostile 20-byte proto could
# otherwise ask for terabytes). Real constants this big are stored in tensor_content.
MAX_EXPANDED_BYTES = 1 << 30

_I32_FIELD = {
    DataType.DT_INT32, DataType.DT_INT16, DataType.DT_INT8, DataType.DT_UINT8,
    DataType.DT_UINT16, DataType.DT_QINT8, DataType.DT_QUINT8, DataType.DT_QINT16,
    DataType.DT_QUINT16, DataType.DT_QINT32, DataType.DT_INT4, DataType.DT_UINT4,
    DataType.DT_INT2, DataType.DT_UINT2,
}
_HALF_FIELD = {DataType.DT_HALF, DataType.DT_BFLOAT16}
_FLOAT8_FIELD = {
    DataType.DT_FLOAT8_E5M2, DataType.DT_FLOAT8_E4M3FN, DataType.DT_FLOAT8_E4M3FNUZ,
    DataType.DT_FLOAT8_E4M3B11FNUZ, DataType.DT_FLOAT8_E5M2FNUZ, DataType.DT_FLOAT4_E2M1FN,
}
# Types tf.make_tensor_proto stores as raw tensor_content when there is more than one
# element (tensorflow/tensorflow tensorflow/python/framework/tensor_util.py,
# _TENSOR_CONTENT_TYPES); uint16, the 4/2-bit integers, bool, complex and strings use
# the typed fields.
_CONTENT_TYPES = (
    _HALF_FIELD
    | _FLOAT8_FIELD
    | {
        DataType.DT_FLOAT, DataType.DT_DOUBLE, DataType.DT_INT64, DataType.DT_UINT32,
        DataType.DT_UINT64, DataType.DT_INT32, DataType.DT_INT16, DataType.DT_INT8,
        DataType.DT_UINT8, DataType.DT_QINT8, DataType.DT_QUINT8, DataType.DT_QINT16,
        DataType.DT_QUINT16, DataType.DT_QINT32,
    }
)


def shape_from_proto(proto: TensorShapeProto) -> Shape:
    """``(2, None, 3)`` for a shape with an unknown middle dim; None for unknown rank."""
    if proto.unknown_rank:
        return None
    return tuple(d.size if d.size >= 0 else None for d in proto.dim)


def tensor_info_shape(info: TensorInfo) -> Shape:
    """The shape a TensorInfo records; None (unknown) when it records none.

    An absent ``tensor_shape`` is not a scalar: TF1 SignatureDefs built by hand (TF Serving's
    half_plus_three) leave it out, and TensorFlow feeds them any shape. ``saved_model_cli show``
    still prints such a shape as ``()``; cli/show.py reads the proto for that.
    """
    return shape_from_proto(info.tensor_shape) if info.HasField("tensor_shape") else None


def shape_to_proto(shape: Shape | Sequence[int | None]) -> TensorShapeProto:
    """TensorShapeProto for a shape; None (or -1) dims become -1, a None shape unknown rank."""
    proto = TensorShapeProto()
    if shape is None:
        proto.unknown_rank = True
        return proto
    for d in shape:
        proto.dim.add().size = -1 if d is None or d < 0 else int(d)
    return proto


def _numpy_max_rank() -> int:
    """Dimensions a numpy array may have: 64 since numpy 2.0, 32 before (NPY_MAXDIMS)."""
    import numpy as np

    return 64 if int(np.__version__.split(".")[0]) >= 2 else 32


def check_rank(
    shape: Sequence[int | None], *, path: str | os.PathLike[str] | None = None,
    where: str | None = None,
) -> None:
    """Refuse a shape numpy cannot hold (UnsupportedFormatError); TensorFlow allows rank 254.

    Every tensor the library turns into an array passes here first, so a rank-100 shape
    in a file is one clear error instead of numpy's ValueError.
    """
    limit = _numpy_max_rank()
    if len(shape) > limit:
        raise UnsupportedFormatError(
            f"tensor of rank {len(shape)}: numpy arrays have at most {limit} dimensions",
            path=path,
            where=where,
        )


def num_elements(shape: Shape) -> int | None:
    """Element count of a fully known shape, else None."""
    if shape is None:
        return None
    known = [d for d in shape if d is not None]
    return math.prod(known) if len(known) == len(shape) else None


def _values(tp: TensorProto, dt: int) -> tuple[Any, np.dtype | None]:
    """The typed repeated field holding a tensor's values, and its numpy view type."""
    import numpy as np

    if dt == DataType.DT_FLOAT:
        return tp.float_val, np.dtype(np.float32)
    if dt == DataType.DT_DOUBLE:
        return tp.double_val, np.dtype(np.float64)
    if dt in _I32_FIELD:
        return tp.int_val, np.dtype(np.int64)
    if dt == DataType.DT_INT64:
        return tp.int64_val, np.dtype(np.int64)
    if dt == DataType.DT_UINT32:
        return tp.uint32_val, np.dtype(np.uint32)
    if dt == DataType.DT_UINT64:
        return tp.uint64_val, np.dtype(np.uint64)
    if dt == DataType.DT_BOOL:
        return tp.bool_val, np.dtype(np.bool_)
    if dt in _HALF_FIELD:
        return tp.half_val, np.dtype(np.uint16)
    if dt == DataType.DT_COMPLEX64:
        return tp.scomplex_val, np.dtype(np.float32)
    if dt == DataType.DT_COMPLEX128:
        return tp.dcomplex_val, np.dtype(np.float64)
    return None, None


def to_array(
    tp: TensorProto,
    *,
    path: str | None = None,
    where: str | None = None,
    limit: int | None = None,
) -> np.ndarray:
    """numpy array of a TensorProto (strings as an object array of ``bytes``).

    ``limit`` bounds the bytes a tensor may expand to from a few repeated values
    (default MAX_EXPANDED_BYTES); bytes stored in ``tensor_content`` are not limited.
    """
    try:
        return _to_array(tp, path, where, MAX_EXPANDED_BYTES if limit is None else limit)
    except MemoryError:
        # A few bytes of proto may declare a tensor this process cannot hold.
        shape = shape_from_proto(tp.tensor_shape)
        raise LimitExceededError(
            f"not enough memory for a tensor of shape {list(shape or ())}", path=path, where=where
        ) from None


def _to_array(tp: TensorProto, path: str | None, where: str | None, limit: int) -> np.ndarray:
    import numpy as np

    dt = dtypes.base_dtype(tp.dtype)
    shape = shape_from_proto(tp.tensor_shape)
    if shape is None or any(d is None for d in shape):
        raise CorruptFileError("tensor has an unknown shape", path=path, where=where)
    check_rank(shape, path=path, where=where)
    dims = tuple(d for d in shape if d is not None)
    n = num_elements(shape)
    assert n is not None
    np_dtype = dtypes.to_numpy(dt, path=path, where=where)
    # numpy refuses shapes whose dims multiply past 2**63 bytes even when one dim is 0.
    span = max(np_dtype.itemsize, 1)
    for d in shape:
        span *= d or 1
    if span >= 1 << 63:
        raise LimitExceededError(
            f"tensor shape {list(shape)} is too large to represent", path=path, where=where
        )

    if dt == DataType.DT_STRING:
        if tp.tensor_content:
            return _string_list(tp.tensor_content, n, dims, path, where)
        vals = list(tp.string_val)
        return _expand_objects(vals, n, dims, path, where, limit)

    if tp.tensor_content:
        want = n * np_dtype.itemsize
        if len(tp.tensor_content) != want:
            raise CorruptFileError(
                f"tensor_content has {len(tp.tensor_content)} bytes, shape {list(shape)} of "
                f"{dtypes.python_name(dt)} needs {want}",
                path=path,
                where=where,
            )
        arr: np.ndarray = np.frombuffer(tp.tensor_content, dtype=np_dtype).reshape(dims).copy()
        return arr

    if n * np_dtype.itemsize > limit:
        raise LimitExceededError(
            f"tensor of shape {list(shape)} ({n * np_dtype.itemsize} bytes) is larger than "
            f"{limit} bytes",
            path=path,
            where=where,
        )
    if dt in _FLOAT8_FIELD:
        raw = np.frombuffer(tp.float8_val, dtype=np.uint8)
        flat = _expand(raw, n, path, where).view(np_dtype)
        return flat.reshape(shape)
    field, field_dtype = _values(tp, dt)
    if field is None:
        raise CorruptFileError(
            f"{dtypes.dtype_name(dt)} tensor cannot be read as numbers", path=path, where=where
        )
    raw = np.asarray(field, dtype=field_dtype)
    if dt in (DataType.DT_COMPLEX64, DataType.DT_COMPLEX128):
        if raw.size % 2:
            raise CorruptFileError("complex values come in pairs", path=path, where=where)
        raw = raw.view(np_dtype)
    elif dt in _HALF_FIELD:
        raw = raw.astype(np.uint16).view(np_dtype)
    else:
        # Cast the few stored values, then expand: expanding the int64/float64 field first
        # would need up to 8x the limit checked above.
        raw = raw.astype(np_dtype, copy=False)
    return _expand(raw, n, path, where).reshape(shape)


def _string_list(
    content: bytes, n: int, dims: tuple[int, ...], path: str | None, where: str | None
) -> np.ndarray:
    """Strings TensorFlow's C++ runtime packed into ``tensor_content``: ``n`` varint32
    lengths, then the bytes of each string (tensorflow/tensorflow
    tensorflow/core/platform/tensor_coding.cc, EncodeStringList)."""
    import numpy as np

    lengths, pos = [], 0
    try:
        for _ in range(n):
            size, pos = varint.decode(content, pos, len(content), 32)
            lengths.append(size)
    except varint.VarintError as exc:
        raise CorruptFileError(f"string tensor_content: {exc}", path=path, where=where) from None
    if pos + sum(lengths) != len(content):
        raise CorruptFileError(
            f"string tensor_content holds {len(content) - pos} bytes of strings, its lengths "
            f"say {sum(lengths)}",
            path=path,
            where=where,
        )
    out = np.empty(n, dtype=object)
    for i, size in enumerate(lengths):
        out[i] = bytes(content[pos : pos + size])
        pos += size
    return out.reshape(dims)


def _expand(raw: np.ndarray, n: int, path: str | None, where: str | None) -> np.ndarray:
    import numpy as np

    if raw.size == n:
        return raw
    if raw.size > n:
        raise CorruptFileError(
            f"tensor has {raw.size} values for {n} elements", path=path, where=where
        )
    if raw.size == 0:
        return np.zeros(n, dtype=raw.dtype)
    out = np.empty(n, dtype=raw.dtype)
    out[: raw.size] = raw
    out[raw.size :] = raw[-1]
    return out


def _expand_objects(
    vals: list[bytes], n: int, shape: tuple[int, ...], path: str | None, where: str | None,
    limit: int,
) -> np.ndarray:
    import numpy as np

    if len(vals) > n:
        raise CorruptFileError(f"tensor has {len(vals)} strings for {n} elements", path=path,
                               where=where)
    # An object array costs a pointer per element plus the bytes objects: be stricter.
    if len(vals) < n and n > limit // 64:
        raise LimitExceededError(f"string tensor of {n} elements is too large", path=path,
                                 where=where)
    out = np.empty(n, dtype=object)
    out[: len(vals)] = vals
    out[len(vals) :] = vals[-1] if vals else b""
    return out.reshape(shape)


def from_array(value: Any, dtype: int | None = None) -> TensorProto:
    """TensorProto for a numpy array (or anything ``np.asarray`` takes).

    Like ``tf.make_tensor_proto``: numeric tensors with more than one element go
    to ``tensor_content``; scalars, bools, complex numbers and strings use the typed
    fields. ``dtype`` forces a DataType (e.g. a quantized type over int8 data).
    """
    import numpy as np

    if isinstance(value, np.ndarray):
        arr = value
    else:
        arr = np.asarray(value)
        if arr.dtype.kind == "U":
            arr = np.vectorize(lambda s: s.encode("utf-8"), otypes=[object])(arr)
    dt = dtypes.from_numpy(arr.dtype) if dtype is None else dtype
    tp = TensorProto(dtype=dtypes.as_enum(dt))
    tp.tensor_shape.CopyFrom(shape_to_proto(arr.shape))
    if dt == DataType.DT_STRING:
        for item in arr.reshape(-1):
            if isinstance(item, str):
                item = item.encode("utf-8")
            if not isinstance(item, (bytes, bytearray, np.bytes_)):
                raise InvalidArgumentError(f"string tensor element is {type(item).__name__}")
            tp.string_val.append(bytes(item))
        return tp
    want = dtypes.to_numpy(dt)
    if arr.dtype != want:
        arr = arr.astype(want)
    if dt in _CONTENT_TYPES and arr.size > 1:
        tp.tensor_content = np.ascontiguousarray(arr).astype(want.newbyteorder("<")).tobytes()
        return tp
    flat = arr.reshape(-1)
    if dt in _FLOAT8_FIELD:
        tp.float8_val = flat.view(np.uint8).tobytes()
        return tp
    field, _ = _values(tp, dt)
    if dt in _HALF_FIELD:
        field.extend(int(x) for x in flat.view(np.uint16))
    elif dt in (DataType.DT_COMPLEX64, DataType.DT_COMPLEX128):
        field.extend(float(x) for x in flat.view(flat.real.dtype))
    elif dt == DataType.DT_BOOL:
        field.extend(bool(x) for x in flat)
    elif dt in (DataType.DT_FLOAT, DataType.DT_DOUBLE):
        field.extend(float(x) for x in flat)
    else:
        field.extend(int(x) for x in flat.astype(np.int64 if dt != DataType.DT_UINT64 else np.uint64))
    return tp


def to_content_proto(value: Any) -> TensorProto:
    """TensorProto as TensorFlow's C++ runtime writes one (``Tensor::AsProtoTensorContent``).

    Every tensor, scalars included, goes to ``tensor_content``: little-endian bytes, or for
    strings the varint32 lengths and then the bytes (see ``_string_list``). SerializeSparse
    writes its tensors so, and its output must match TensorFlow's bytes exactly.
    """
    import numpy as np

    arr = np.asarray(value)
    if arr.dtype.kind in "SU":
        arr = arr.astype(object)
    strings = arr.dtype == object
    dt = DataType.DT_STRING if strings else dtypes.from_numpy(arr.dtype)
    tp = TensorProto(dtype=dtypes.as_enum(dt))
    tp.tensor_shape.CopyFrom(shape_to_proto(arr.shape))
    if not arr.size:
        return tp
    if strings:
        items = [x.encode("utf-8") if isinstance(x, str) else bytes(x) for x in arr.reshape(-1)]
        packed = bytearray()
        for item in items:
            varint.append(packed, len(item))
        tp.tensor_content = bytes(packed) + b"".join(items)
    else:
        tp.tensor_content = np.ascontiguousarray(arr).astype(arr.dtype.newbyteorder("<")).tobytes()
    return tp
