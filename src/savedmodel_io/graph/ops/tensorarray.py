"""TF1 TensorArrays (TensorArrayV3 and its V2 aliases): the state of ``dynamic_rnn`` and TF1 loops.

A TensorArray is a resource: TensorArrayV3 makes one per run and hands out its handle
(here the :class:`TensorArray` object itself) and a "flow" scalar that orders the ops
using it; writes change the array in place. Rules and messages follow tensorflow/tensorflow
tensorflow/core/kernels/tensor_array.{h,cc} and tensor_array_ops.cc: each index is
written once, an unwritten index reads as zeros only when the element shape is fully
known, ``clear_after_read`` forbids a second read, and the element shape is inferred
from the first write when ``identical_element_shapes`` is set.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from savedmodel_io.graph.ops._registry import kernel
from savedmodel_io.graph.ops._util import bad, check_size, np_dtype

_FLOW = np.float32(0.0)


def _known(shape) -> bool:
    return shape is not None and all(d is not None for d in shape)


def _merge(node, a, b):
    """Two partial shapes merged (None: unknown rank); an error when they disagree."""
    if a is None:
        return b
    if b is None:
        return a
    if len(a) != len(b) or any(x is not None and y is not None and x != y for x, y in zip(a, b)):
        raise bad(node, f"Incompatible element shapes: {_show(a)} vs. {_show(b)}")
    return tuple(x if x is not None else y for x, y in zip(a, b))


def _show(shape) -> str:
    if shape is None:
        return "<unknown>"
    return "[" + ",".join("?" if d is None else str(d) for d in shape) + "]"


def _compatible(shape, value_shape: tuple[int, ...]) -> bool:
    if shape is None:
        return True
    return len(shape) == len(value_shape) and all(d is None or d == v for d, v in zip(shape, value_shape))


class TensorArray:
    """One TensorArray: its slots (value, written, read, cleared) and its element rules."""

    def __init__(self, name: str, dtype: np.dtype, size: int, dynamic: bool, clear_after_read: bool,
                 identical_shapes: bool, element_shape) -> None:
        self.name = name
        self.dtype = dtype
        self.values: list[Any] = [None] * size
        self.read_once = [False] * size
        self.cleared = [False] * size
        self.dynamic = dynamic
        self.clear_after_read = clear_after_read
        self.identical_shapes = identical_shapes
        self.element_shape = element_shape
        self.closed = False

    def __repr__(self) -> str:
        return f"TensorArray({self.name!r}, size={len(self.values)})"

    def _open(self, node) -> None:
        if self.closed:
            raise bad(node, f"TensorArray {self.name} has already been closed.")

    def write(self, node, ctx, index: int, value: np.ndarray) -> None:
        self._open(node)
        size = len(self.values)
        if index < 0 or (not self.dynamic and index >= size):
            raise bad(node, f"TensorArray {self.name}: Tried to write to index {index} but array is "
                            f"not resizeable and size is: {size}")
        if index >= size:
            grow = index + 1 - size
            check_size(node, [grow], 8)
            ctx.meter.elements(grow, node.where)
            self.values.extend([None] * grow)
            self.read_once.extend([False] * grow)
            self.cleared.extend([False] * grow)
        # The graph fixes the value's dtype to the array's (TF checks it; a valid graph passes).
        value = np.asarray(value).astype(self.dtype, copy=False)
        if not _compatible(self.element_shape, value.shape):
            raise bad(node, f"TensorArray {self.name}: Could not write to TensorArray index {index} "
                            f"because the value shape is {list(value.shape)} which is incompatible "
                            f"with the TensorArray's inferred element shape: "
                            f"{_show(self.element_shape)} (consider setting infer_shape=False).")
        if self.identical_shapes and not _known(self.element_shape):
            self.element_shape = value.shape
        if self.read_once[index]:
            raise bad(node, f"TensorArray {self.name}: Could not write to TensorArray index {index} "
                            "because it has already been read.")
        if self.values[index] is not None:
            raise bad(node, f"TensorArray {self.name}: Could not write to TensorArray index {index} "
                            "because it has already been written to.")
        self.values[index] = value

    def read(self, node, index: int) -> np.ndarray:
        self._open(node)
        size = len(self.values)
        if index < 0 or index >= size:
            raise bad(node, f"Tried to read from index {index} but array size is: {size}")
        if self.cleared[index]:
            raise bad(node, f"TensorArray {self.name}: Could not read index {index} twice because it "
                            "was cleared after a previous read (perhaps try setting "
                            "clear_after_read = false?).")
        value = self.values[index]
        if value is None:
            if not _known(self.element_shape):
                raise bad(node, f"TensorArray {self.name}: Could not read from TensorArray index "
                                f"{index}.  Furthermore, the element shape is not fully defined: "
                                f"{_show(self.element_shape)}.")
            check_size(node, self.element_shape, self.dtype.itemsize)
            return np.zeros(self.element_shape, self.dtype)
        if self.clear_after_read:
            self.values[index] = None
            self.cleared[index] = True
        self.read_once[index] = True
        return value


def _ta(node, handle) -> TensorArray:
    if not isinstance(handle, TensorArray):
        raise bad(node, f"expected a TensorArray handle, got {type(handle).__name__}")
    return handle


def _int(node, value, what: str) -> int:
    a = np.asarray(value)
    if a.ndim:
        raise bad(node, f"{what} must be a scalar, got shape {list(a.shape)}")
    return int(a)


def _vector(node, value, what: str) -> np.ndarray:
    a = np.asarray(value)
    if a.ndim != 1:
        raise bad(node, f"Expected {what} to be a vector, but received shape: {list(a.shape)}")
    return a.astype(np.int64)


@kernel("TensorArrayV3", "TensorArrayV2")
def tensor_array(node, inputs, ctx):
    size = _int(node, inputs[0], "size")
    if size < 0:
        raise bad(node, f"Size should be >= 0, got {size}")
    check_size(node, [size], 8)
    ctx.meter.elements(size, node.where)
    name = node.attr.get("tensor_array_name", b"") or node.name.encode()
    ta = TensorArray(name.decode("utf-8", "replace") if isinstance(name, bytes) else str(name),
                     np_dtype(node.attr["dtype"]), size, bool(node.attr["dynamic_size"]),
                     bool(node.attr["clear_after_read"]),
                     bool(node.attr.get("identical_element_shapes", False)),
                     node.attr.get("element_shape"))
    return [ta, _FLOW] if node.op == "TensorArrayV3" else ta


@kernel("TensorArrayWriteV3", "TensorArrayWriteV2")
def write(node, inputs, ctx):
    _ta(node, inputs[0]).write(node, ctx, _int(node, inputs[1], "index"), inputs[2])
    return _FLOW


@kernel("TensorArrayReadV3", "TensorArrayReadV2")
def read(node, inputs, ctx):
    return _ta(node, inputs[0]).read(node, _int(node, inputs[1], "index"))


def _stacked(node, ta: TensorArray, indices: np.ndarray, shape) -> np.ndarray:
    """The elements at ``indices`` stacked (TensorArrayPackOrGatherOp)."""
    shape = _merge(node, ta.element_shape, shape)
    if indices.size == 0:
        if not _known(shape):
            raise bad(node, f"TensorArray has size zero, but element shape {_show(shape)} is not "
                            "fully defined. Currently only static shapes are supported when "
                            "packing zero-size TensorArrays.")
        return np.zeros((0, *shape), ta.dtype)
    ta.element_shape = shape if ta.element_shape is None or _known(shape) else ta.element_shape
    values = [ta.read(node, int(i)) for i in indices]
    first = values[0].shape
    for i, v in zip(indices, values):
        if v.shape != first:
            raise bad(node, f"TensorArray has inconsistent shapes.  Index 0 has shape: {list(first)} "
                            f"but index {int(i)} has shape: {list(v.shape)}")
    return np.stack(values)


@kernel("TensorArrayGatherV3", "TensorArrayGatherV2")
def gather(node, inputs, ctx):
    ta = _ta(node, inputs[0])
    indices = _vector(node, inputs[1], "indices")
    return _stacked(node, ta, indices, node.attr.get("element_shape"))


@kernel("TensorArrayScatterV3", "TensorArrayScatterV2", per_element=True)
def scatter(node, inputs, ctx):
    ta = _ta(node, inputs[0])
    indices = _vector(node, inputs[1], "indices")
    value = np.asarray(inputs[2])
    if value.ndim == 0:
        raise bad(node, f"Expected value to be at least a vector, but received shape: {list(value.shape)}")
    if value.shape[0] != indices.size:
        raise bad(node, f"Expected len(indices) == values.shape[0], but saw: {indices.size} vs. "
                        f"{value.shape[0]}")
    if indices.size and not ta.dynamic and int(indices.max()) >= len(ta.values):
        raise bad(node, f"Tried to write to index {int(indices.max())} but array is not resizeable "
                        f"and size is: {len(ta.values)}")
    for k, i in enumerate(indices):
        ta.write(node, ctx, int(i), value[k])
    return _FLOW


@kernel("TensorArrayConcatV3", "TensorArrayConcatV2")
def concat(node, inputs, ctx):
    ta = _ta(node, inputs[0])
    rest = node.attr.get("element_shape_except0")
    values = [ta.read(node, i) for i in range(len(ta.values))]
    if not values:
        if not _known(rest):
            raise bad(node, f"TensorArray has size zero, but element_shape_except0 {_show(rest)} is "
                            "not fully defined. Currently only static shapes are supported when "
                            "concatenating zero-size TensorArrays.")
        return [np.zeros((0, *rest), ta.dtype), np.zeros(0, np.int64)]
    for i, v in enumerate(values):
        if v.ndim == 0:
            raise bad(node, f"Concat saw a scalar shape at index {i} but requires at least vectors.  "
                            "Did you mean to call pack?")
        if v.shape[1:] != values[0].shape[1:]:
            raise bad(node, f"TensorArray has inconsistent shapes.  Index 0 has (excepting dimension "
                            f"0) shape: {list(values[0].shape[1:])} but index {i} has (excepting "
                            f"dimension 0) shape: {list(v.shape[1:])}")
    lengths = np.array([v.shape[0] for v in values], np.int64)
    return [np.concatenate(values), lengths]


@kernel("TensorArraySplitV3", "TensorArraySplitV2", per_element=True)
def split(node, inputs, ctx):
    ta = _ta(node, inputs[0])
    value = np.asarray(inputs[1])
    lengths = np.asarray(inputs[2])
    if lengths.ndim != 1:
        raise bad(node, f"Expected lengths to be a vector, received shape: {list(lengths.shape)}")
    if value.ndim == 0:
        raise bad(node, f"Expected value to be at least a vector, but received shape: {list(value.shape)}")
    lengths = lengths.astype(np.int64)
    if (lengths < 0).any() or int(lengths.sum()) != value.shape[0]:
        raise bad(node, f"Expected sum of lengths to be equal to values.shape[0], but sum of lengths "
                        f"is: {int(lengths.sum())} and value's shape is: {list(value.shape)}")
    if not ta.dynamic and len(ta.values) != lengths.size:
        raise bad(node, f"TensorArray's size is not equal to the size of lengths ({len(ta.values)} vs. "
                        f"{lengths.size}), and the TensorArray is not marked as dynamically resizeable.")
    start = 0
    for i, n in enumerate(lengths):
        ta.write(node, ctx, i, value[start:start + int(n)])
        start += int(n)
    return _FLOW


@kernel("TensorArraySizeV3", "TensorArraySizeV2")
def size(node, inputs, ctx):
    return np.array(len(_ta(node, inputs[0]).values), np.int32)


@kernel("TensorArrayCloseV3", "TensorArrayCloseV2")
def close(node, inputs, ctx):
    _ta(node, inputs[0]).closed = True
    return []
