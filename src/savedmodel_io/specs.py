"""Tensor and type specs, and decoding of ``StructuredValue`` (function signatures).

``StructuredValue`` is how a SavedModel stores the Python structure of a
function's arguments and outputs (tensorflow/tensorflow
tensorflow/core/protobuf/struct.proto, decoded by TensorFlow's
``nested_structure_coder``). We decode it into plain Python values plus the small
spec classes below, which need no TensorFlow.
"""

from __future__ import annotations

import collections
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from savedmodel_io import dtypes, tensors
from savedmodel_io.errors import CorruptFileError
from savedmodel_io.proto import StructuredValue, TensorInfo, TypeSpecProto
from savedmodel_io.tensors import Shape

if TYPE_CHECKING:
    import numpy as np

__all__ = [
    "BoundedTensorSpec",
    "CooSparse",
    "DType",
    "TensorShape",
    "TensorSpec",
    "TypeSpec",
    "decode_structure",
    "spec_from_tensor_info",
]

# Python class names of TypeSpecProto.TypeSpecClass values (as TensorFlow names them).
_TYPE_SPEC_NAMES = {
    TypeSpecProto.SPARSE_TENSOR_SPEC: "SparseTensorSpec",
    TypeSpecProto.INDEXED_SLICES_SPEC: "IndexedSlicesSpec",
    TypeSpecProto.RAGGED_TENSOR_SPEC: "RaggedTensorSpec",
    TypeSpecProto.TENSOR_ARRAY_SPEC: "TensorArraySpec",
    TypeSpecProto.DATA_DATASET_SPEC: "DatasetSpec",
    TypeSpecProto.DATA_ITERATOR_SPEC: "IteratorSpec",
    TypeSpecProto.OPTIONAL_SPEC: "OptionalSpec",
    TypeSpecProto.PER_REPLICA_SPEC: "PerReplicaSpec",
    TypeSpecProto.VARIABLE_SPEC: "VariableSpec",
    TypeSpecProto.ROW_PARTITION_SPEC: "RowPartitionSpec",
}


@dataclass(frozen=True)
class DType:
    """A TensorFlow dtype found inside a structure (e.g. a ``dtype=`` argument)."""

    enum: int

    @property
    def name(self) -> str:
        """TensorFlow's Python name: ``float32``, ``string``..."""
        return dtypes.python_name(self.enum)

    @property
    def numpy(self) -> np.dtype | None:
        """The numpy dtype, or None for types without one (resource, variant)."""
        return dtypes.numpy_or_none(self.enum)

    def __repr__(self) -> str:
        return f"DType({self.name})"


@dataclass(frozen=True)
class TensorShape:
    """A shape found inside a structure; ``dims`` is None for unknown rank."""

    dims: Shape

    @property
    def rank(self) -> int | None:
        return None if self.dims is None else len(self.dims)

    def __iter__(self) -> Iterator[int | None]:
        """The dims, as iterating a ``tf.TensorShape`` gives them (unknown rank: ValueError)."""
        if self.dims is None:
            raise ValueError("Cannot iterate over a shape with unknown rank.")
        return iter(self.dims)

    def __repr__(self) -> str:
        return f"TensorShape({_shape_text(self.dims)})"


@dataclass(frozen=True)
class CooSparse:
    """Tensor names of a sparse tensor passed as three dense tensors (TensorInfo.CooSparse)."""

    values_tensor_name: str
    indices_tensor_name: str
    dense_shape_tensor_name: str


@dataclass(frozen=True)
class TypeSpec:
    """A composite tensor's type (RaggedTensorSpec, SparseTensorSpec...) and its decoded state."""

    type_name: str
    state: Any
    num_flat_components: int = 0

    def __repr__(self) -> str:
        return f"{self.type_name}{self.state!r}"


@dataclass(frozen=True)
class TensorSpec:
    """One tensor: dtype, shape, name; for signature inputs/outputs also key and encoding.

    ``shape`` is a tuple with None for unknown dims, or None for unknown rank.
    ``encoding`` is ``"dense"``, ``"coo_sparse"`` (see ``coo_sparse``) or
    ``"composite"`` (see ``type_spec`` and ``components``).
    """

    name: str | None
    dtype_enum: int
    shape: Shape
    key: str | None = None
    encoding: str = "dense"
    coo_sparse: CooSparse | None = None
    type_spec: TypeSpec | None = None
    components: tuple[TensorSpec, ...] = ()
    proto: Any = field(default=None, repr=False, compare=False)

    @property
    def dtype(self) -> np.dtype | None:
        """numpy dtype (``object`` for strings); None for resource/variant/invalid."""
        return dtypes.numpy_or_none(self.dtype_enum)

    @property
    def dtype_name(self) -> str:
        """TensorFlow's enum name, e.g. ``DT_FLOAT``."""
        return dtypes.dtype_name(self.dtype_enum)

    @property
    def tf_dtype(self) -> str:
        """TensorFlow's Python dtype name, e.g. ``float32``."""
        return dtypes.python_name(self.dtype_enum)

    @property
    def rank(self) -> int | None:
        return None if self.shape is None else len(self.shape)

    def __repr__(self) -> str:
        parts = []
        if self.key is not None:
            parts.append(f"key={self.key!r}")
        parts.append(f"name={self.name!r}")
        parts.append(f"dtype={self.tf_dtype}")
        parts.append(f"shape={self.shape!r}")  # as the attribute is: (None, 4), or None
        if self.encoding == "coo_sparse":
            parts.append("encoding='coo_sparse'")
        elif self.encoding == "composite":
            ts = self.type_spec.type_name if self.type_spec else "?"
            parts.append(f"encoding='composite' ({ts}, {len(self.components)} components)")
        return f"TensorSpec({', '.join(parts)})"


@dataclass(frozen=True, repr=False)
class BoundedTensorSpec(TensorSpec):
    """A TensorSpec with minimum and maximum values (tf.TensorSpec's bounded form)."""

    minimum: Any = None
    maximum: Any = None


def _shape_text(shape: Shape) -> str:
    return "None" if shape is None else "[" + ", ".join(str(d) for d in shape) + "]"


def spec_from_tensor_info(key: str | None, info: TensorInfo) -> TensorSpec:
    """TensorSpec of a SignatureDef input or output (any of the three encodings)."""
    enc = info.WhichOneof("encoding")
    shape = tensors.tensor_info_shape(info)
    if enc == "coo_sparse":
        c = info.coo_sparse
        return TensorSpec(
            name=None,
            dtype_enum=info.dtype,
            shape=shape,
            key=key,
            encoding="coo_sparse",
            coo_sparse=CooSparse(
                c.values_tensor_name, c.indices_tensor_name, c.dense_shape_tensor_name
            ),
            proto=info,
        )
    if enc == "composite_tensor":
        ct = info.composite_tensor
        return TensorSpec(
            name=None,
            dtype_enum=info.dtype,
            shape=shape,
            key=key,
            encoding="composite",
            type_spec=_decode_type_spec(ct.type_spec, 0),
            components=tuple(spec_from_tensor_info(None, c) for c in ct.components),
            proto=info,
        )
    return TensorSpec(name=info.name, dtype_enum=info.dtype, shape=shape, key=key, proto=info)


# Deeper structures than this are hostile, not real signatures.
_MAX_DEPTH = 64


def decode_structure(value: StructuredValue, *, path: str | None = None) -> Any:
    """Python value of a StructuredValue: tuples, lists, dicts, namedtuples, specs, scalars."""
    return _decode(value, 0, path)


# Tensors inside a function's structure (Python default values, BoundedTensorSpec bounds)
# are small in real models; this bounds what a few repeated values may expand to, since
# browsing decodes every one of them (bytes stored in tensor_content are not limited).
MAX_VALUE_BYTES = 16 << 20
_WHERE = "function signature value"


def _decode(v: StructuredValue, depth: int, path: str | None = None) -> Any:
    if depth > _MAX_DEPTH:
        raise CorruptFileError("StructuredValue nested too deeply", path=path)
    kind = v.WhichOneof("kind")
    if kind is None or kind == "none_value":
        return None
    if kind in ("float64_value", "int64_value", "string_value", "bool_value"):
        return getattr(v, kind)
    if kind == "list_value":
        return [_decode(x, depth + 1, path) for x in v.list_value.values]
    if kind == "tuple_value":
        return tuple(_decode(x, depth + 1, path) for x in v.tuple_value.values)
    if kind == "dict_value":
        fields = v.dict_value.fields
        return {k: _decode(fields[k], depth + 1, path) for k in sorted(fields)}
    if kind == "named_tuple_value":
        nt = v.named_tuple_value
        keys = [p.key for p in nt.values]
        try:
            cls = collections.namedtuple(nt.name or "NamedTuple", keys)  # type: ignore[misc]
        except ValueError as exc:
            raise CorruptFileError(f"bad NamedTupleValue {nt.name!r}: {exc}", path=path) from None
        return cls(*(_decode(p.value, depth + 1, path) for p in nt.values))
    if kind == "tensor_shape_value":
        return TensorShape(tensors.shape_from_proto(v.tensor_shape_value))
    if kind == "tensor_dtype_value":
        return DType(v.tensor_dtype_value)
    if kind == "tensor_spec_value":
        s = v.tensor_spec_value
        return TensorSpec(
            name=s.name or None,
            dtype_enum=s.dtype,
            shape=tensors.shape_from_proto(s.shape),
            proto=s,
        )
    if kind == "bounded_tensor_spec_value":
        s = v.bounded_tensor_spec_value
        return BoundedTensorSpec(
            name=s.name or None,
            dtype_enum=s.dtype,
            shape=tensors.shape_from_proto(s.shape),
            proto=s,
            minimum=tensors.to_array(s.minimum, path=path, where=_WHERE, limit=MAX_VALUE_BYTES),
            maximum=tensors.to_array(s.maximum, path=path, where=_WHERE, limit=MAX_VALUE_BYTES),
        )
    if kind == "type_spec_value":
        return _decode_type_spec(v.type_spec_value, depth + 1, path)
    if kind in ("tensor_value", "numpy_value"):
        return tensors.to_array(getattr(v, kind), path=path, where=_WHERE, limit=MAX_VALUE_BYTES)
    raise CorruptFileError(f"unknown StructuredValue kind {kind}", path=path)  # pragma: no cover


def _decode_type_spec(ts: TypeSpecProto, depth: int, path: str | None = None) -> TypeSpec:
    name = ts.type_spec_class_name or _TYPE_SPEC_NAMES.get(ts.type_spec_class, "TypeSpec")
    state = _decode(ts.type_state, depth + 1, path) if ts.HasField("type_state") else None
    return TypeSpec(name, state, ts.num_flat_components)
