"""TensorFlow ``DataType`` enum values <-> numpy dtypes.

Enum values are those of tensorflow/tensorflow ``tensorflow/core/framework/types.proto``.

* Plain numpy covers float16/32/64, all integer widths, bool and complex64/128.
* bfloat16, the float8 family, float4_e2m1fn and int2/int4/uint2/uint4 come from
  ``ml_dtypes`` (the ``dtypes`` extra, ``pip install savedmodel-io[dtypes]``). It is an
  extra rather than a dependency because most models never hold such tensors; using
  one without it raises MissingDependencyError naming the extra. TensorFlow stores
  these one element per byte, which is exactly ml_dtypes' layout.
* DT_STRING maps to numpy ``object`` arrays of ``bytes``.
* Quantized types (qint8, quint8, qint16, quint16, qint32) read as their plain
  integer storage type.
* DT_RESOURCE and DT_VARIANT have no numpy form: asking for one raises
  UnsupportedFormatError.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from savedmodel_io.errors import InvalidArgumentError, MissingDependencyError, UnsupportedFormatError

__all__ = [
    "DT_INVALID", "DT_FLOAT", "DT_DOUBLE", "DT_INT32", "DT_UINT8", "DT_INT16", "DT_INT8",
    "DT_STRING", "DT_COMPLEX64", "DT_INT64", "DT_BOOL", "DT_QINT8", "DT_QUINT8", "DT_QINT32",
    "DT_BFLOAT16", "DT_QINT16", "DT_QUINT16", "DT_UINT16", "DT_COMPLEX128", "DT_HALF",
    "DT_RESOURCE", "DT_VARIANT", "DT_UINT32", "DT_UINT64", "DT_FLOAT8_E5M2",
    "DT_FLOAT8_E4M3FN", "DT_FLOAT8_E4M3FNUZ", "DT_FLOAT8_E4M3B11FNUZ", "DT_FLOAT8_E5M2FNUZ",
    "DT_INT4", "DT_UINT4", "DT_INT2", "DT_UINT2", "DT_FLOAT4_E2M1FN",
    "name", "tf_name", "to_numpy", "from_numpy", "is_string", "has_numpy_form", "base_type",
]

DT_INVALID = 0
DT_FLOAT = 1
DT_DOUBLE = 2
DT_INT32 = 3
DT_UINT8 = 4
DT_INT16 = 5
DT_INT8 = 6
DT_STRING = 7
DT_COMPLEX64 = 8
DT_INT64 = 9
DT_BOOL = 10
DT_QINT8 = 11
DT_QUINT8 = 12
DT_QINT32 = 13
DT_BFLOAT16 = 14
DT_QINT16 = 15
DT_QUINT16 = 16
DT_UINT16 = 17
DT_COMPLEX128 = 18
DT_HALF = 19
DT_RESOURCE = 20
DT_VARIANT = 21
DT_UINT32 = 22
DT_UINT64 = 23
DT_FLOAT8_E5M2 = 24
DT_FLOAT8_E4M3FN = 25
DT_FLOAT8_E4M3FNUZ = 26
DT_FLOAT8_E4M3B11FNUZ = 27
DT_FLOAT8_E5M2FNUZ = 28
DT_INT4 = 29
DT_UINT4 = 30
DT_INT2 = 31
DT_UINT2 = 32
DT_FLOAT4_E2M1FN = 33

_REF_OFFSET = 100  # DT_FLOAT_REF = 101, ...

# enum value -> (TF python name, numpy dtype name or None, ml_dtypes attribute or None)
_TABLE: dict[int, tuple[str, str | None, str | None]] = {
    DT_FLOAT: ("float32", "float32", None),
    DT_DOUBLE: ("float64", "float64", None),
    DT_INT32: ("int32", "int32", None),
    DT_UINT8: ("uint8", "uint8", None),
    DT_INT16: ("int16", "int16", None),
    DT_INT8: ("int8", "int8", None),
    DT_STRING: ("string", "object", None),
    DT_COMPLEX64: ("complex64", "complex64", None),
    DT_INT64: ("int64", "int64", None),
    DT_BOOL: ("bool", "bool", None),
    DT_QINT8: ("qint8", "int8", None),
    DT_QUINT8: ("quint8", "uint8", None),
    DT_QINT32: ("qint32", "int32", None),
    DT_BFLOAT16: ("bfloat16", None, "bfloat16"),
    DT_QINT16: ("qint16", "int16", None),
    DT_QUINT16: ("quint16", "uint16", None),
    DT_UINT16: ("uint16", "uint16", None),
    DT_COMPLEX128: ("complex128", "complex128", None),
    DT_HALF: ("float16", "float16", None),
    DT_RESOURCE: ("resource", None, None),
    DT_VARIANT: ("variant", None, None),
    DT_UINT32: ("uint32", "uint32", None),
    DT_UINT64: ("uint64", "uint64", None),
    DT_FLOAT8_E5M2: ("float8_e5m2", None, "float8_e5m2"),
    DT_FLOAT8_E4M3FN: ("float8_e4m3fn", None, "float8_e4m3fn"),
    DT_FLOAT8_E4M3FNUZ: ("float8_e4m3fnuz", None, "float8_e4m3fnuz"),
    DT_FLOAT8_E4M3B11FNUZ: ("float8_e4m3b11fnuz", None, "float8_e4m3b11fnuz"),
    DT_FLOAT8_E5M2FNUZ: ("float8_e5m2fnuz", None, "float8_e5m2fnuz"),
    DT_INT4: ("int4", None, "int4"),
    DT_UINT4: ("uint4", None, "uint4"),
    DT_INT2: ("int2", None, "int2"),
    DT_UINT2: ("uint2", None, "uint2"),
    DT_FLOAT4_E2M1FN: ("float4_e2m1fn", None, "float4_e2m1fn"),
}

_QUANTIZED = {DT_QINT8, DT_QUINT8, DT_QINT16, DT_QUINT16, DT_QINT32}

_FROM_NUMPY: dict[str, int] = {
    np_name: dt
    for dt, (_, np_name, _ml) in _TABLE.items()
    if np_name is not None and dt not in _QUANTIZED
}


def base_type(dt: int) -> int:
    """The non-reference type (DT_FLOAT_REF -> DT_FLOAT)."""
    return dt - _REF_OFFSET if dt > _REF_OFFSET else dt


def name(dt: int) -> str:
    """Enum name as in types.proto, e.g. ``DT_FLOAT`` (``DT_<n>`` for unknown values)."""
    from savedmodel_io.proto import DataType

    try:
        return DataType.Name(dt)
    except ValueError:
        return f"DT_<{dt}>"


def tf_name(dt: int) -> str:
    """TensorFlow's Python name, e.g. ``float32``, ``bfloat16``, ``string``."""
    entry = _TABLE.get(base_type(dt))
    if entry is None:
        return name(dt)
    return entry[0] + ("_ref" if dt > _REF_OFFSET else "")


def is_string(dt: int) -> bool:
    """True for DT_STRING (stored as length-prefixed bytes, not fixed-size elements)."""
    return base_type(dt) == DT_STRING


def has_numpy_form(dt: int) -> bool:
    """True unless ``dt`` is resource, variant, invalid or unknown."""
    entry = _TABLE.get(base_type(dt))
    return entry is not None and (entry[1] is not None or entry[2] is not None)


def _ml_dtypes() -> Any:
    try:
        import ml_dtypes
    except ImportError:
        raise MissingDependencyError(
            "this tensor's dtype needs the ml_dtypes package: pip install 'savedmodel-io[dtypes]'"
        ) from None
    return ml_dtypes


def to_numpy(dt: int) -> np.dtype:
    """numpy dtype for enum value ``dt`` (object for strings)."""
    entry = _TABLE.get(base_type(dt))
    if entry is None:
        raise UnsupportedFormatError(f"unknown TensorFlow dtype {name(dt)}")
    tf, np_name, ml = entry
    if np_name is not None:
        return np.dtype(np_name)
    if ml is not None:
        mod = _ml_dtypes()
        if not hasattr(mod, ml):
            raise MissingDependencyError(
                f"ml_dtypes {getattr(mod, '__version__', '?')} has no {ml}: "
                "upgrade it (pip install -U 'savedmodel-io[dtypes]')"
            )
        return np.dtype(getattr(mod, ml))
    raise UnsupportedFormatError(f"{name(dt)} tensors have no numpy form ({tf} handles)")


def from_numpy(dtype: Any) -> int:
    """Enum value for a numpy dtype (or anything ``np.dtype`` accepts); strings -> DT_STRING."""
    try:
        d = np.dtype(dtype)
    except TypeError:
        raise InvalidArgumentError(f"not a numpy dtype: {dtype!r}") from None
    if d.kind in ("S", "U", "O"):
        return DT_STRING
    dt = _FROM_NUMPY.get(d.name)
    if dt is not None and d.kind != "V":
        return dt
    for enum, (_, np_name, ml) in _TABLE.items():
        if ml is not None and d.name == ml:
            return enum
    raise InvalidArgumentError(f"numpy dtype {d} has no TensorFlow equivalent")
