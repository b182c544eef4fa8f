"""TensorList ops (the state of Keras RNN While loops): reserve, get/set, stack, push/pop.

A TensorList is a value: every op that changes one returns a new list (a shallow
copy of the Python list of element arrays), as TensorFlow's variant tensors behave.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from savedmodel_io.graph.ops._registry import kernel
from savedmodel_io.graph.ops._util import bad, check_size, np_dtype


class TensorList:
    """A list of arrays with an element dtype and a (possibly partial) element shape."""

    __slots__ = ("items", "dtype", "shape")

    def __init__(self, items: list[Any], dtype: np.dtype, shape: tuple[int | None, ...] | None) -> None:
        self.items = items
        self.dtype = dtype
        self.shape = shape

    def copy(self) -> TensorList:
        return TensorList(list(self.items), self.dtype, self.shape)

    def zeros_like(self) -> TensorList:
        return TensorList([None] * len(self.items), self.dtype, self.shape)

    def element_zeros(self, node) -> np.ndarray:
        """A zero element, for reads of never-set slots (needs a fully known shape)."""
        shape = self.shape
        known = next((i.shape for i in self.items if i is not None), None)
        if known is not None:
            return np.zeros(known, self.dtype)
        if shape is None or any(d is None for d in shape):
            raise bad(node, "reading an unset TensorList element whose shape is not fully known")
        return np.zeros(shape, self.dtype)

    def __repr__(self) -> str:
        return f"TensorList(len={len(self.items)}, dtype={self.dtype})"


def _shape(value) -> tuple[int | None, ...] | None:
    a = np.asarray(value).reshape(-1)
    if a.size == 1 and np.asarray(value).ndim == 0 and int(a[0]) == -1:
        return None
    return tuple(None if int(d) < 0 else int(d) for d in a)


def _list(node, v) -> TensorList:
    if not isinstance(v, TensorList):
        raise bad(node, f"expected a TensorList, got {type(v).__name__}")
    return v


def _index(node, tl: TensorList, i) -> int:
    i = int(np.asarray(i))
    if not 0 <= i < len(tl.items):
        raise bad(node, f"index {i} is out of range for a TensorList of {len(tl.items)} elements")
    return i


def _slots(node, ctx, n: int) -> None:
    """Charge ``n`` new list slots (Python objects, one each) to the run's budget."""
    check_size(node, [n], 8)
    ctx.meter.elements(n, node.where)


@kernel("TensorListReserve")
def reserve(node, inputs, ctx):
    n = int(np.asarray(inputs[1]))
    if n < 0:
        raise bad(node, f"num_elements {n} must be non-negative")
    _slots(node, ctx, n)
    return TensorList([None] * n, np_dtype(node.attr["element_dtype"]), _shape(inputs[0]))


@kernel("EmptyTensorList")
def empty(node, inputs, ctx):
    return TensorList([], np_dtype(node.attr["element_dtype"]), _shape(inputs[0]))


@kernel("TensorListFromTensor", per_element=True)
def from_tensor(node, inputs, ctx):
    t = np.asarray(inputs[0])
    if t.ndim == 0:
        raise bad(node, "TensorListFromTensor needs a tensor of rank >= 1")
    return TensorList([t[i] for i in range(t.shape[0])], t.dtype, tuple(t.shape[1:]))


@kernel("TensorListGetItem")
def get_item(node, inputs, ctx):
    tl = _list(node, inputs[0])
    item = tl.items[_index(node, tl, inputs[1])]
    return tl.element_zeros(node) if item is None else item


@kernel("TensorListSetItem")
def set_item(node, inputs, ctx):
    tl = _list(node, inputs[0]).copy()
    i = int(np.asarray(inputs[1]))
    if i >= len(tl.items) and node.attr["resize_if_index_out_of_bounds"]:
        tl.items.extend([None] * (i + 1 - len(tl.items)))
    tl.items[_index(node, tl, i)] = np.asarray(inputs[2])
    return tl


@kernel("TensorListStack")
def stack(node, inputs, ctx):
    tl = _list(node, inputs[0])
    n = int(node.attr["num_elements"])
    if n >= 0 and n != len(tl.items):
        raise bad(node, f"expected {n} elements, the list has {len(tl.items)}")
    if not tl.items:
        shape = _shape(inputs[1]) or tl.shape
        if shape is None or any(d is None for d in shape):
            raise bad(node, "stacking an empty TensorList needs a fully known element shape")
        return np.zeros((0,) + tuple(shape), tl.dtype)
    zero = None
    items = []
    for it in tl.items:
        if it is None:
            zero = tl.element_zeros(node) if zero is None else zero
            it = zero
        items.append(it)
    return np.stack(items).astype(tl.dtype, copy=False)


@kernel("TensorListGather")
def gather(node, inputs, ctx):
    tl = _list(node, inputs[0])
    idx = [_index(node, tl, i) for i in np.asarray(inputs[1]).reshape(-1)]
    items = [tl.items[i] if tl.items[i] is not None else tl.element_zeros(node) for i in idx]
    return np.stack(items) if items else np.zeros((0,), tl.dtype)


@kernel("TensorListLength")
def length(node, inputs, ctx):
    return np.array(len(_list(node, inputs[0]).items), np.int32)


@kernel("TensorListElementShape")
def element_shape(node, inputs, ctx):
    tl = _list(node, inputs[0])
    t = np_dtype(node.attr.get("shape_type", 3))
    if tl.shape is None:
        return np.array(-1, t)
    return np.array([-1 if d is None else d for d in tl.shape], t)


@kernel("TensorListPushBack")
def push_back(node, inputs, ctx):
    tl = _list(node, inputs[0]).copy()
    tl.items.append(np.asarray(inputs[1]))
    return tl


@kernel("TensorListPopBack")
def pop_back(node, inputs, ctx):
    tl = _list(node, inputs[0]).copy()
    if not tl.items:
        raise bad(node, "pop from an empty TensorList")
    item = tl.items.pop()
    return [tl, tl.element_zeros(node) if item is None else item]


@kernel("TensorListResize")
def resize(node, inputs, ctx):
    tl = _list(node, inputs[0]).copy()
    n = int(np.asarray(inputs[1]))
    if n < 0:
        raise bad(node, f"size {n} must be non-negative")
    _slots(node, ctx, max(n - len(tl.items), 0))
    tl.items = (tl.items + [None] * n)[:n]
    return tl


def _scatter_into(node, ctx, tl: TensorList, tensor, indices) -> TensorList:
    """Set ``tl[indices[k]] = tensor[k]`` (a copy), growing the list to fit the largest index."""
    t = np.asarray(tensor)
    idx = np.asarray(indices).reshape(-1)
    if t.ndim == 0 or t.shape[0] != idx.size:
        raise bad(node, f"scatter of {idx.size} indices needs a tensor with {idx.size} rows, got {t.shape}")
    if idx.size and int(idx.min()) < 0:
        raise bad(node, f"negative scatter index {int(idx.min())}")
    tl = tl.copy()
    need = int(idx.max()) + 1 if idx.size else 0
    if need > len(tl.items):
        _slots(node, ctx, need - len(tl.items))
        tl.items.extend([None] * (need - len(tl.items)))
    for k, i in enumerate(idx):
        tl.items[int(i)] = t[k]
    return tl


@kernel("TensorListScatterIntoExistingList")
def scatter_into_existing(node, inputs, ctx):
    return _scatter_into(node, ctx, _list(node, inputs[0]), inputs[1], inputs[2])


@kernel("TensorListScatter", "TensorListScatterV2")
def scatter(node, inputs, ctx):
    t = np.asarray(inputs[0])
    n = int(np.asarray(inputs[3])) if len(inputs) > 3 else -1
    _slots(node, ctx, max(n, 0))
    tl = TensorList([None] * max(n, 0), t.dtype, _shape(inputs[2]))
    return _scatter_into(node, ctx, tl, t, inputs[1])


@kernel("TensorListSplit")
def split(node, inputs, ctx):
    t = np.asarray(inputs[0])
    lengths = np.asarray(inputs[2]).reshape(-1).astype(np.int64)
    if t.ndim == 0:
        raise bad(node, "TensorListSplit needs a tensor of rank >= 1")
    if (lengths < 0).any() or int(lengths.sum()) != t.shape[0]:
        raise bad(node, f"lengths {lengths.tolist()} must be non-negative and sum to {t.shape[0]}")
    ends = np.cumsum(lengths)
    items = [t[e - n:e] for n, e in zip(lengths, ends)]
    return TensorList(items, t.dtype, _shape(inputs[1]))


@kernel("TensorListConcat", "TensorListConcatV2")
def concat(node, inputs, ctx):
    """Concatenate the elements along their first axis; also return each element's length."""
    tl = _list(node, inputs[0])
    # TensorListConcatV2 takes the element shape as an input, TensorListConcat as a shape attr.
    shape = _shape(inputs[1]) if len(inputs) > 1 else node.attr["element_shape"]
    shape = shape or tl.shape
    leading = np.asarray(inputs[2]).reshape(-1) if len(inputs) > 2 else np.zeros(0, np.int64)
    known = next((i for i in tl.items if i is not None), None)
    items = []
    for k, it in enumerate(tl.items):
        if it is None:
            rest = known.shape[1:] if known is not None else (shape or (None,))[1:]
            lead = int(leading[k]) if k < leading.size else (shape or (None,))[0]
            if lead is None or rest is None or any(d is None for d in rest):
                raise bad(node, "concatenating an unset TensorList element whose shape is not known")
            it = np.zeros((lead, *rest), tl.dtype)
        if np.ndim(it) == 0:
            raise bad(node, "TensorListConcat needs elements of rank >= 1")
        items.append(it)
    lengths = np.array([it.shape[0] for it in items], np.int64)
    if items:
        return [np.concatenate(items).astype(tl.dtype, copy=False), lengths]
    rest = tuple(shape[1:]) if shape else None
    if rest is None or any(d is None for d in rest):
        raise bad(node, "concatenating an empty TensorList needs a known element shape")
    return [np.zeros((0, *rest), tl.dtype), lengths]


# -- batches of lists (what tf.vectorized_map makes of TensorList ops) ----------------------------

def _lists(node, value) -> np.ndarray:
    """A tensor of TensorLists (an object array): every element checked."""
    arr = np.asarray(value, dtype=object) if not isinstance(value, TensorList) else None
    if arr is None:
        raise bad(node, "expected a tensor of TensorLists, got one TensorList")
    for tl in arr.reshape(-1):
        _list(node, tl)
    return arr


@kernel("TensorListPushBackBatch")
def push_back_batch(node, inputs, ctx):
    lists = _lists(node, inputs[0])
    t = np.asarray(inputs[1])
    if lists.ndim != 1:
        raise bad(node, f"Expected input_handles to be a vector, got shape {list(lists.shape)}")
    if t.ndim == 0 or t.shape[0] != lists.shape[0]:
        raise bad(node, f"Expected tensor.shape[0] == input_handles.size, but saw {t.shape} vs. "
                        f"{lists.shape[0]}")
    out = np.empty(lists.shape, dtype=object)
    for b, tl in enumerate(lists):
        new = tl.copy()
        new.items.append(t[b])
        out[b] = new
    return out


@kernel("TensorListConcatLists")
def concat_lists(node, inputs, ctx):
    a, b = _lists(node, inputs[0]), _lists(node, inputs[1])
    if a.shape != b.shape:
        raise bad(node, f"input_a and input_b must have the same shape, got {list(a.shape)} vs. "
                        f"{list(b.shape)}")
    out = np.empty(a.shape, dtype=object)
    for i, (x, y) in enumerate(zip(a.reshape(-1), b.reshape(-1))):
        out.reshape(-1)[i] = TensorList(x.items + y.items, x.dtype, x.shape)
    return out
