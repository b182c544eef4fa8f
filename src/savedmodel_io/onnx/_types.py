"""numpy dtypes <-> ONNX element types (TensorProto.DataType), and ONNX TypeProtos of values."""

from __future__ import annotations

from typing import Any

import numpy as np
import onnx
from onnx import TensorProto

__all__ = ["OBJECT", "onnx_type", "np_type", "tensor_type", "sequence_type", "dims_of"]

OBJECT = np.dtype(object)  # TF strings are numpy object arrays of bytes

# numpy dtype name -> ONNX element type (onnx/onnx onnx/onnx.proto3: TensorProto.DataType).
_BY_NAME: dict[str, int] = {
    "float32": TensorProto.FLOAT,
    "float64": TensorProto.DOUBLE,
    "float16": TensorProto.FLOAT16,
    "bfloat16": TensorProto.BFLOAT16,
    "int8": TensorProto.INT8,
    "int16": TensorProto.INT16,
    "int32": TensorProto.INT32,
    "int64": TensorProto.INT64,
    "uint8": TensorProto.UINT8,
    "uint16": TensorProto.UINT16,
    "uint32": TensorProto.UINT32,
    "uint64": TensorProto.UINT64,
    "bool": TensorProto.BOOL,
    "complex64": TensorProto.COMPLEX64,
    "complex128": TensorProto.COMPLEX128,
    "object": TensorProto.STRING,
}
_BY_TYPE = {v: k for k, v in _BY_NAME.items()}
_BY_DTYPE: dict[np.dtype, int | None] = {}  # memo: dtype.name is slow to compute


def onnx_type(dtype: Any) -> int | None:
    """ONNX element type of a numpy dtype (None: ONNX has no such type)."""
    dt = np.dtype(dtype)
    if dt not in _BY_DTYPE:
        _BY_DTYPE[dt] = _BY_NAME.get(dt.name)
    return _BY_DTYPE[dt]


def np_type(elem_type: int) -> np.dtype:
    """numpy dtype of an ONNX element type."""
    name = _BY_TYPE[elem_type]
    if name == "bfloat16":
        import ml_dtypes

        bf16: np.dtype = np.dtype(ml_dtypes.bfloat16)
        return bf16
    return np.dtype(name)


Dim = int | str | None
Shape = tuple[Dim, ...] | None


def tensor_type(dtype: np.dtype, shape: Shape) -> onnx.TypeProto:
    """TypeProto of a tensor (unknown dims have no value; ``None`` shape: unknown rank)."""
    t = onnx.TypeProto()
    tt = t.tensor_type
    elem = onnx_type(dtype)
    if elem is None:
        raise KeyError(f"ONNX has no {np.dtype(dtype)} tensors")
    tt.elem_type = elem
    if shape is not None:
        sh = tt.shape
        sh.SetInParent()
        for d in shape:
            dim = sh.dim.add()
            if isinstance(d, int):
                dim.dim_value = d
            elif isinstance(d, str):
                dim.dim_param = d
    return t


def sequence_type(dtype: np.dtype, shape: Shape = None) -> onnx.TypeProto:
    """TypeProto of a sequence of tensors."""
    t = onnx.TypeProto()
    t.sequence_type.elem_type.CopyFrom(tensor_type(dtype, shape))
    return t


def dims_of(t: onnx.TypeProto) -> Shape:
    """A tensor TypeProto's shape as a tuple (int, str symbolic dim, or None)."""
    if not t.tensor_type.HasField("shape"):
        return None
    out: list[Dim] = []
    for d in t.tensor_type.shape.dim:
        kind = d.WhichOneof("value")
        out.append(d.dim_value if kind == "dim_value" else d.dim_param if kind == "dim_param" else None)
    return tuple(out)
