"""TensorFlow ``DataType`` enum values <-> numpy dtypes.

bfloat16, the float8 family, float4 and the 4/2-bit integers come from
``ml_dtypes`` (the ``dtypes`` extra): TensorFlow itself uses it for these types,
so arrays we return are the same dtypes TensorFlow hands out. Without it, those
tensors raise MissingDependencyError instead of being silently reinterpreted.

Enum values: tensorflow/tensorflow tensorflow/core/framework/types.proto.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

from savedmodel_io.errors import InvalidArgumentError, MissingDependencyError, UnsupportedFormatError
from savedmodel_io.proto import DataType

if TYPE_CHECKING:  # numpy is imported on first use: inspecting a model never needs it
    import numpy as np

__all__ = [
    "REF_OFFSET",
    "as_enum",
    "base_dtype",
    "dtype_name",
    "from_numpy",
    "has_numpy_form",
    "is_numeric",
    "is_string",
    "is_ref",
    "python_name",
    "to_numpy",
]

def as_enum(dt: int) -> DataType:
    """DataType number ``dt`` as the proto stubs type enum fields (DataType values are ints).

    The library passes DataTypes around as ints; this is where they go into a message field.
    """
    return cast(DataType, dt)


# Reference dtypes of TF1 graphs (DT_FLOAT_REF = 101, ...) are the base type + 100.
REF_OFFSET = 100

_PLAIN: dict[int, str] = {
    DataType.DT_FLOAT: "float32",
    DataType.DT_DOUBLE: "float64",
    DataType.DT_INT32: "int32",
    DataType.DT_UINT8: "uint8",
    DataType.DT_INT16: "int16",
    DataType.DT_INT8: "int8",
    DataType.DT_COMPLEX64: "complex64",
    DataType.DT_INT64: "int64",
    DataType.DT_BOOL: "bool",
    # Quantized types are stored as their plain integer counterparts.
    DataType.DT_QINT8: "int8",
    DataType.DT_QUINT8: "uint8",
    DataType.DT_QINT32: "int32",
    DataType.DT_QINT16: "int16",
    DataType.DT_QUINT16: "uint16",
    DataType.DT_UINT16: "uint16",
    DataType.DT_COMPLEX128: "complex128",
    DataType.DT_HALF: "float16",
    DataType.DT_UINT32: "uint32",
    DataType.DT_UINT64: "uint64",
}

# Types that need ml_dtypes: enum -> ml_dtypes attribute name.
_ML: dict[int, str] = {
    DataType.DT_BFLOAT16: "bfloat16",
    DataType.DT_FLOAT8_E5M2: "float8_e5m2",
    DataType.DT_FLOAT8_E4M3FN: "float8_e4m3fn",
    DataType.DT_FLOAT8_E4M3FNUZ: "float8_e4m3fnuz",
    DataType.DT_FLOAT8_E4M3B11FNUZ: "float8_e4m3b11fnuz",
    DataType.DT_FLOAT8_E5M2FNUZ: "float8_e5m2fnuz",
    DataType.DT_INT4: "int4",
    DataType.DT_UINT4: "uint4",
    DataType.DT_INT2: "int2",
    DataType.DT_UINT2: "uint2",
    DataType.DT_FLOAT4_E2M1FN: "float4_e2m1fn",
}

# tf.DType.name for the types whose name differs from the numpy name.
_PY_NAMES: dict[int, str] = {
    DataType.DT_STRING: "string",
    DataType.DT_RESOURCE: "resource",
    DataType.DT_VARIANT: "variant",
    DataType.DT_HALF: "float16",
    DataType.DT_QINT8: "qint8",
    DataType.DT_QUINT8: "quint8",
    DataType.DT_QINT16: "qint16",
    DataType.DT_QUINT16: "quint16",
    DataType.DT_QINT32: "qint32",
}

def _ml_dtypes() -> Any:
    try:
        import ml_dtypes
    except ImportError:
        return None
    return ml_dtypes


def is_ref(dt: int) -> bool:
    """True for TF1 reference types (``DT_FLOAT_REF``...)."""
    return dt > REF_OFFSET


def base_dtype(dt: int) -> int:
    """The value type of a reference type; other types unchanged."""
    return dt - REF_OFFSET if dt > REF_OFFSET else dt


def dtype_name(dt: int) -> str:
    """The enum name (``DT_FLOAT``), or ``DT_<number>`` for values this build does not know."""
    try:
        return str(DataType.Name(dt))
    except ValueError:
        return f"DT_{dt}"


def python_name(dt: int) -> str:
    """TensorFlow's Python name of a type (``float32``, ``string``, ``bfloat16``, ``float32_ref``)."""
    b = base_dtype(dt)
    name = _PY_NAMES.get(b) or _PLAIN.get(b) or _ML.get(b) or dtype_name(b).lower()
    return name + "_ref" if is_ref(dt) else name


def is_numeric(dt: int) -> bool:
    """True for types stored as fixed-size elements (everything but string, resource, variant)."""
    b = base_dtype(dt)
    return b in _PLAIN or b in _ML


def is_string(dt: int) -> bool:
    """True for DT_STRING (length-prefixed bytes, not fixed-size elements)."""
    return base_dtype(dt) == DataType.DT_STRING


def has_numpy_form(dt: int) -> bool:
    """True unless ``dt`` is resource, variant, invalid or unknown."""
    return is_numeric(dt) or is_string(dt)


def to_numpy(dt: int, *, path: str | None = None, where: str | None = None) -> np.dtype:
    """numpy dtype for a DataType; ``object`` (bytes elements) for DT_STRING.

    Raises UnsupportedFormatError for resource/variant/invalid types and
    MissingDependencyError when the type needs ml_dtypes and it is not installed.
    """
    import numpy as np

    b = base_dtype(dt)
    if b in _PLAIN:
        return np.dtype(_PLAIN[b])
    if b == DataType.DT_STRING:
        return np.dtype(object)
    if b in _ML:
        ml = _ml_dtypes()
        if ml is None or not hasattr(ml, _ML[b]):
            raise MissingDependencyError(
                f"{dtype_name(b)} tensors need the ml_dtypes package "
                "(pip install 'savedmodel-io[dtypes]')",
                path=path,
                where=where,
            )
        out: np.dtype[Any] = np.dtype(getattr(ml, _ML[b]))
        return out
    raise UnsupportedFormatError(
        f"{dtype_name(dt)} has no numpy equivalent", path=path, where=where
    )


def numpy_or_none(dt: int) -> np.dtype | None:
    """numpy dtype of a DataType, or None for those without one (resource, variant, invalid).

    Types that need ml_dtypes still raise MissingDependencyError without it.
    """
    if not has_numpy_form(dt):
        return None
    return to_numpy(dt)


def from_numpy(dtype: Any) -> int:
    """DataType for a numpy dtype (``object``, ``bytes_`` and ``str_`` map to DT_STRING)."""
    import numpy as np

    try:
        d = np.dtype(dtype)
    except TypeError as exc:
        raise InvalidArgumentError(f"not a numpy dtype: {dtype!r} ({exc})") from None
    if d.kind in "OSU":
        return DataType.DT_STRING
    if d.byteorder not in "=|":  # a byte-swapped view has the same element type
        d = d.newbyteorder("=")
    for dt, name in _PLAIN.items():
        # The quantized aliases share numpy dtypes; the plain types come first in _PLAIN.
        if d == np.dtype(name) and dt not in _QUANTIZED:
            return dt
    ml = _ml_dtypes()
    if ml is not None:
        for dt, name in _ML.items():
            if hasattr(ml, name) and d == np.dtype(getattr(ml, name)):
                return dt
    raise InvalidArgumentError(f"numpy dtype {d} has no TensorFlow equivalent")


_QUANTIZED = {
    DataType.DT_QINT8,
    DataType.DT_QUINT8,
    DataType.DT_QINT16,
    DataType.DT_QUINT16,
    DataType.DT_QINT32,
}


def widen(arr: np.ndarray) -> np.ndarray:
    """ml_dtypes arrays (bfloat16, float8, int4...) as float32 / int8 / uint8; others unchanged.

    The plain dtypes hold every value exactly, so ``.npz`` files and JSON can carry them.
    """
    import numpy as np

    if arr.dtype.isbuiltin != 2:  # not a user-defined numpy scalar type
        return arr
    kind = _kind(arr.dtype)
    return arr.astype(np.uint8 if kind == "u" else np.int8 if kind == "i" else np.float32)


# --- the one casting rule (signature inputs in run, API and CLI; import-weights --cast) ---

_KIND_ORDER = {"b": 0, "i": 1, "u": 1, "f": 2, "c": 3}


def _kind(dt: np.dtype) -> str:
    """numpy's kind letter, with ml_dtypes' floats and ints (kind 'V') told apart by name."""
    if dt.isbuiltin == 2:  # a user-defined scalar type: bfloat16, float8_*, int4...
        return "u" if dt.name.startswith("uint") else "i" if dt.name.startswith("int") else "f"
    return dt.kind


def safe_cast(arr: np.ndarray, to: Any) -> np.ndarray:
    """``arr`` as dtype ``to`` when that keeps every value; InvalidArgumentError saying why not.

    The rule: the dtypes must go up (or stay in) numpy's "same_kind" order bool -> integer ->
    float -> complex (never float -> integer, complex -> real, or to/from strings); integers
    must come out exactly (no wrap-around, no rounding of large integers into floats) and
    finite floats must stay finite (rounding to the nearest float is fine).
    """
    import numpy as np

    want = np.dtype(to)
    if arr.dtype == want:
        return arr
    src, dst = _kind(arr.dtype), _kind(want)
    if src not in _KIND_ORDER or dst not in _KIND_ORDER or _KIND_ORDER[src] > _KIND_ORDER[dst]:
        raise InvalidArgumentError(f"{arr.dtype} values do not convert to {want} without loss")
    with np.errstate(all="ignore"):
        out = arr.astype(want)
        if src in "biu":
            # The sign test catches what a round trip cannot: int64 <-> uint64 wrap-around.
            if not (np.array_equal(out.astype(arr.dtype), arr)
                    and np.array_equal(out < 0, arr < 0)):
                raise InvalidArgumentError(f"values do not fit {want} exactly")
        elif not np.array_equal(np.isfinite(out), np.isfinite(arr)):
            raise InvalidArgumentError(f"values overflow {want}")
    return out
