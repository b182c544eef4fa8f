"""The remaining layout ops: Reverse, ReverseSequence, Bitcast, ConcatOffset, ParallelConcat,
Empty, and the pass-through ops DeepCopy, GuaranteeConst, HostConst, PlaceholderV2.

Rules and messages follow tensorflow/tensorflow tensorflow/core/kernels/reverse_op.cc,
reverse_sequence_op.cc, bitcast_op.cc, concat_op.cc (ConcatOffsetOp), inplace_ops.cc
(ParallelConcat) and array_ops.cc (Empty).
"""

from __future__ import annotations

import numpy as np

from savedmodel_io.errors import InvalidArgumentError
from savedmodel_io.graph.ops._registry import kernel
from savedmodel_io.graph.ops._util import bad, check_size, ints, np_dtype


@kernel("Reverse")
def reverse(node, inputs, ctx):
    x, dims = np.asarray(inputs[0]), np.asarray(inputs[1])
    if dims.ndim != 1:
        raise bad(node, f"'dims' must be 1-dimension, not {dims.ndim}")
    if dims.shape[0] != x.ndim:
        raise bad(node, f"'dims' must have the same number of values as 'input' has dimensions. "
                        f"'input' has {x.ndim}'dims' has {dims.shape[0]} values")
    if x.ndim > 8:
        raise bad(node, "Reverse is not implemented for tensors of rank > 8.")
    axes = tuple(int(a) for a in np.flatnonzero(dims))
    return np.flip(x, axis=axes).copy() if axes else x


@kernel("ReverseSequence")
def reverse_sequence(node, inputs, ctx):
    x, lengths = np.asarray(inputs[0]), np.asarray(inputs[1])
    seq_dim, batch_dim = int(node.attr["seq_dim"]), int(node.attr["batch_dim"])
    if batch_dim < 0:
        batch_dim += x.ndim
    if not 0 <= batch_dim < x.ndim:
        raise bad(node, f"Invalid batch_dim {batch_dim}")
    if lengths.ndim != 1:
        raise bad(node, f"seq_lengths must be 1-dim, not {lengths.ndim}")
    if seq_dim == batch_dim:
        raise bad(node, f"seq_dim == batch_dim == {seq_dim}")
    if not 0 <= seq_dim < x.ndim:
        raise bad(node, f"seq_dim must be < input rank( {x.ndim} ), but got: {seq_dim}")
    if lengths.shape[0] != x.shape[batch_dim]:
        raise bad(node, f"Length of seq_lengths != input.dims({batch_dim}), ({lengths.shape[0]} vs. "
                        f"{x.shape[batch_dim]})")
    for b, n in enumerate(lengths):
        if n < 0:
            raise bad(node, f"seq_lengths({b}) < 0")
        if n > x.shape[seq_dim]:
            raise bad(node, f"seq_lengths({b}) > input.dims({seq_dim}), ({int(n)} vs. {x.shape[seq_dim]})")
    out = np.array(x, copy=True)
    for b, n in enumerate(lengths):
        n = int(n)
        if n <= 1:
            continue
        src: list = [slice(None)] * x.ndim
        src[batch_dim] = b
        dst = list(src)
        dst[seq_dim] = slice(0, n)
        src[seq_dim] = slice(n - 1, None, -1)
        out[tuple(dst)] = x[tuple(src)]
    return out


@kernel("Bitcast")
def bitcast(node, inputs, ctx):
    x = np.ascontiguousarray(inputs[0])
    to = np_dtype(node.attr["type"])
    a, b = x.dtype.itemsize, to.itemsize
    if a == b:
        return x.view(to)
    if a > b:
        return x.view(to).reshape(x.shape + (a // b,))
    if x.ndim == 0 or x.shape[-1] != b // a:
        raise bad(node, f"Cannot bitcast from {x.dtype} to {to}: shape {list(x.shape)}")
    return x.view(to).reshape(x.shape[:-1])


@kernel("ConcatOffset")
def concat_offset(node, inputs, ctx):
    axis_t, shapes = np.asarray(inputs[0]), [np.asarray(s) for s in inputs[1:]]
    if axis_t.ndim:
        raise bad(node, f"Concat dim tensor should be a scalar integer, but got shape {list(axis_t.shape)}")
    first = shapes[0]
    if first.ndim != 1:
        raise bad(node, f"input 0 should be a vector, got shape {list(first.shape)}")
    rank = first.shape[0]
    axis = int(axis_t)
    cdim = axis + rank if axis < 0 else axis
    if not 0 <= cdim < rank:
        raise bad(node, f"Concat dim is out of range: {axis} vs. {rank}")
    offsets = []
    offset = 0
    for i, s in enumerate(shapes):
        if s.ndim != 1 or s.shape[0] != rank:
            raise bad(node, f"input {i} should contain {rank} elements, but got {s.size}")
        for j in range(rank):
            if j != cdim and s[j] != first[j]:
                raise bad(node, f"All dimensions except {axis} must match. Input {i} has shape "
                                f"[{' '.join(str(int(v)) for v in s)}] and doesn't match input 0 with "
                                f"shape [{' '.join(str(int(v)) for v in first)}].")
        out = np.zeros(rank, s.dtype)
        out[cdim] = offset
        offsets.append(out)
        offset += int(s[cdim])
    return offsets


@kernel("ParallelConcat")
def parallel_concat(node, inputs, ctx):
    values = [np.asarray(v) for v in inputs]
    for i, v in enumerate(values):
        if v.ndim == 0 or v.shape[0] != 1:
            raise bad(node, f"Input {i} should have 1 as its first dimension, got {list(v.shape)}")
        if v.shape != values[0].shape:
            raise bad(node, f"Input {i} shape {list(v.shape)} differs from input 0 "
                            f"{list(values[0].shape)}")
    return np.concatenate(values)


@kernel("Empty")
def empty(node, inputs, ctx):
    shape = np.asarray(inputs[0])
    if shape.ndim != 1:
        raise bad(node, f"shape must be a vector of int32, got shape {list(shape.shape)}")
    dims = ints(shape)
    if any(d < 0 for d in dims):
        raise bad(node, f"Dimension {min(dims)} must be >= 0")
    dtype = np_dtype(node.attr["dtype"])
    check_size(node, dims, dtype.itemsize)
    # TensorFlow leaves the memory uninitialised unless init is set; zeros are one such value.
    return np.zeros(dims, dtype)


@kernel("DeepCopy")
def deep_copy(node, inputs, ctx):
    return np.array(inputs[0], copy=True)


@kernel("GuaranteeConst")
def guarantee_const(node, inputs, ctx):
    return inputs[0]


@kernel("HostConst")
def host_const(node, inputs, ctx):
    return node.attr["value"]


@kernel("PlaceholderV2")
def placeholder_v2(node, inputs, ctx):
    raise InvalidArgumentError(f"placeholder {node.name!r} needs a value and none was fed",
                               where=node.where)


class CompositeTensorVariant:
    """A composite tensor (ExtensionType value) packed into one variant: its TypeSpec and parts."""

    __slots__ = ("metadata", "components")

    def __init__(self, metadata: bytes, components: list) -> None:
        self.metadata = metadata
        self.components = components

    def __repr__(self) -> str:
        return f"CompositeTensorVariant({len(self.components)} components)"


@kernel("CompositeTensorVariantFromComponents")
def composite_from_components(node, inputs, ctx):
    return CompositeTensorVariant(node.attr["metadata"], list(inputs))


@kernel("CompositeTensorVariantToComponents")
def composite_to_components(node, inputs, ctx):
    # tensorflow/core/kernels/composite_tensor_ops.cc: the variant must hold the TypeSpec
    # the op names, and as many components as it expects.
    value = inputs[0]
    if not isinstance(value, CompositeTensorVariant):
        raise bad(node, f"Expected a CompositeTensorVariant, got {type(value).__name__}")
    if value.metadata != node.attr["metadata"]:
        raise bad(node, "Expected a TypeSpec matching the op's metadata, but the encoded value "
                        "holds another")
    want = len(node.attr["Tcomponents"])
    if len(value.components) != want:
        raise bad(node, f"Encoded value has {len(value.components)} components, expected {want}")
    return list(value.components)
