"""TensorList ops (TensorArrays, Keras RNN loops) as dense tensors or ONNX sequences.

A TensorList value takes one of two forms:

* ``list``: one tensor whose first axis indexes the elements (from TensorListFromTensor,
  or TensorListReserve with a fully known element shape); reads are Gather, writes
  ScatterND, stacking is free;
* ``sequence``: an ONNX sequence (TensorListReserve with a partly known element
  shape, EmptyTensorList, TensorListSplit); a write at an index past the end appends,
  so the usual in-order writes of a loop fill it as TensorFlow does.

A vector of TensorLists (``tf.stack`` of lists, for TensorListPushBackBatch and
TensorListConcatLists) is ``lists``: one tensor [batch, elements, ...] (its lists hold
equally many elements of one shape; onnxruntime refuses to stack lists that do not).

Semantics: graph/ops/tensorlist.py (the numpy kernels); ONNX sequence ops:
onnx/onnx docs/Operators.md.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np

from savedmodel_io.onnx._graph import ExportError, Graph, ListInfo, Val
from savedmodel_io.onnx.ops._registry import converter, inexpressible
from savedmodel_io.onnx.ops._util import attr_dtype, cast, i64, partly_known, scalar, shape_of, unsqueeze
from savedmodel_io.onnx._kernels import storage
from savedmodel_io.onnx._types import onnx_type

__all__ = ["same_kind"]

_ONE = np.asarray([1], np.int64)


def _info(node: Any, shape_v: Val | None) -> ListInfo:
    """Element dtype and (partly known) element shape of a list made by ``node``."""
    dt = attr_dtype(node, "element_dtype")
    shape = None
    if shape_v is not None:
        try:
            dims = partly_known(shape_v, "the element shape")
        except ExportError:
            dims = None
        if dims is not None and not (shape_v.rank == 0 and dims == [-1]):
            shape = tuple(None if d is None or d < 0 else d for d in dims)
    return ListInfo(dt, shape)


def _list(v: Val) -> Val:
    if v.kind not in ("list", "sequence"):
        raise ExportError(f"expected a TensorList, got a {v.kind}")
    return v


def _dense(v: Val, info: ListInfo | None) -> Val:
    return Val(v.name, v.dtype, v.shape, const=v.const, kind="list", info=_written(info))


def _tensor(v: Val) -> Val:
    """The tensor behind a dense list."""
    return Val(v.name, v.dtype, v.shape, const=v.const)


def _seq(v: Val, info: ListInfo | None) -> Val:
    v.kind, v.info = "sequence", _written(info)
    return v


def _written(info: ListInfo | None) -> ListInfo | None:
    """The info of a list after a write: no longer a fresh reservation."""
    return replace(info, reserved=None) if info is not None and info.reserved is not None else info


def as_sequence(g: Graph, v: Val) -> Val:
    if v.kind == "sequence":
        return v
    seq = g.op1("SplitToSequence", _tensor(v), axis=0, keepdims=0)
    return _seq(seq, v.info)


def as_dense(g: Graph, v: Val) -> Val:
    """A sequence stacked into one tensor (an empty one gives zero rows, when the element shape is known)."""
    if v.kind == "list":
        return v
    info = v.info
    if info is None or info.shape is None or any(d is None for d in info.shape):
        t = _elements(g, g.op1("ConcatFromSequence", v, axis=0, new_axis=1), info)
        return _dense(_with_info_shape(t, info, (None,)), info)
    from savedmodel_io.onnx.ops._subgraph import if_graph

    empty = g.op1("Equal", g.op1("SequenceLength", v), scalar(g, 0, np.int64))
    zeros = g.const(np.zeros((0, *info.shape), info.dtype))
    t = if_graph(g, empty, lambda h: [zeros],
                 lambda h: [_elements(h, h.op1("ConcatFromSequence", v, axis=0, new_axis=1), info)])[0]
    return _dense(_with_info_shape(t, info, (None,)), info)


def _with_info_shape(v: Val, info: ListInfo | None, lead: tuple[None, ...]) -> Val:
    """``v`` with the element shape the list declares, where ONNX inference found none."""
    if v.shape is None and info is not None and info.shape is not None:
        v.shape = lead + tuple(info.shape)
    return v


def same_kind(g: Graph, v: Val, like: Val) -> Val:
    """``v`` in the form of ``like`` (a loop variable keeps one form across iterations)."""
    if like.kind == "sequence" and v.kind == "list":
        return as_sequence(g, v)
    if like.kind == "list" and v.kind == "sequence":
        return as_dense(g, v)
    return v


def _scalar_i64(g: Graph, v: Val) -> Val:
    x = i64(g, v)
    return x if x.rank == 0 else g.op1("Reshape", x, g.const(np.zeros(0, np.int64)))


# -- making lists ---------------------------------------------------------------------------------

@converter("TensorListReserve", onnx="Expand (dense) or SequenceEmpty")
def reserve(cx, node, ins):
    g = cx.g
    shape_v, n = ins
    info = _info(node, shape_v)
    if info.shape is not None and all(d is not None for d in info.shape):
        dims = g.op1("Concat", g.op1("Reshape", i64(g, n), g.const(_ONE)),
                     g.const(np.asarray(info.shape, np.int64)), axis=0)
        zeros = g.op1("Expand", scalar(g, 0, info.dtype), dims)
        return _dense(zeros, info)
    out = _empty(g, info)
    out.info = replace(info, reserved=n)  # a scatter into it can still make it dense
    return out


def _empty(g: Graph, info: ListInfo) -> Val:
    held = storage(info.dtype)  # bfloat16 lists hold float32 (no ONNX sequence op takes bfloat16)
    elem = onnx_type(held)
    if elem is None:
        raise ExportError(f"ONNX has no {info.dtype} tensors")
    from savedmodel_io.onnx._types import sequence_type

    return _seq(g.op("SequenceEmpty", [], dtype=elem, types=[sequence_type(held, info.shape)])[0], info)


def _elements(g: Graph, v: Val, info: ListInfo | None) -> Val:
    """What SequenceAt or ConcatFromSequence read from a list, in the list's element type (a
    bfloat16 list holds float32: the Cast back is exact)."""
    if info is not None and v.kind == "tensor" and v.dtype != info.dtype and storage(info.dtype) == v.dtype:
        return cast(g, v, info.dtype)
    return v


@converter("EmptyTensorList", onnx="SequenceEmpty")
def empty(cx, node, ins):
    return _empty(cx.g, _info(node, ins[0]))


@converter("TensorListFromTensor", onnx="(the tensor itself)")
def from_tensor(cx, node, ins):
    t = ins[0]
    if t.rank == 0:
        raise ExportError("TensorListFromTensor of a scalar")
    shape = t.shape[1:] if t.shape is not None else None
    return _dense(t, ListInfo(t.dtype, shape))


@converter("TensorListSplit", onnx="SplitToSequence")
def split(cx, node, ins):
    g = cx.g
    t, shape_v, lengths = ins
    seq = g.op1("SplitToSequence", t, i64(g, lengths), axis=0)
    # Elements are row ranges of the tensor: its rank, its trailing dims.
    return _seq(seq, ListInfo(t.dtype, (None,) + tuple(t.shape[1:]) if t.shape is not None else None))


@converter("TensorListScatter", "TensorListScatterV2", onnx="Expand, ScatterND")
def scatter(cx, node, ins):
    g = cx.g
    t, idx = ins[0], i64(g, ins[1])
    rest = g.op1("Slice", shape_of(g, t), g.const(_ONE), g.const(np.asarray([1 << 62], np.int64)))
    if len(ins) > 3:
        n = g.op1("Reshape", i64(g, ins[3]), g.const(_ONE))
        biggest = g.op1("Add", g.op1("ReduceMax", idx, keepdims=1), g.const(_ONE))
        n = g.op1("Where", g.op1("Less", n, g.const(np.zeros(1, np.int64))), biggest, n)
    else:
        n = g.op1("Add", g.op1("ReduceMax", idx, keepdims=1), g.const(_ONE))
    zeros = g.op1("Expand", scalar(g, 0, t.dtype), g.op1("Concat", n, rest, axis=0))
    out = g.op1("ScatterND", zeros, unsqueeze(g, idx, [-1]), t)
    return _dense(out, ListInfo(t.dtype, t.shape[1:] if t.shape is not None else None))


# -- reading --------------------------------------------------------------------------------------

@converter("TensorListGetItem", onnx="Gather or SequenceAt")
def get_item(cx, node, ins):
    g = cx.g
    lst, index = _list(ins[0]), _scalar_i64(g, ins[1])
    if lst.kind == "list":
        return g.op1("Gather", _tensor(lst), index, axis=0)
    return _with_info_shape(_elements(g, g.op1("SequenceAt", lst, index), lst.info), lst.info, ())


@converter("TensorListStack", onnx="(dense: none) or ConcatFromSequence")
def stack(cx, node, ins):
    lst = _list(ins[0])
    if lst.kind == "sequence":
        declared = _info(node, ins[1])
        lst = Val(lst.name, lst.dtype, lst.shape, kind="sequence", info=_merge(lst.info, declared))
    return _tensor(as_dense(cx.g, lst))


def _merge(info: ListInfo | None, declared: ListInfo) -> ListInfo:
    """What a list's own info and an op's element_shape input together say about the elements."""
    if info is None or info.shape is None:
        return declared
    if declared.shape is None or len(declared.shape) != len(info.shape):
        return info
    return replace(info, shape=tuple(a if a is not None else b for a, b in zip(info.shape, declared.shape)))


@converter("TensorListGather", onnx="Gather")
def gather(cx, node, ins):
    g = cx.g
    t = _tensor(as_dense(g, _list(ins[0])))
    return g.op1("Gather", t, i64(g, ins[1]), axis=0)


@converter("TensorListLength", onnx="Shape or SequenceLength")
def length(cx, node, ins):
    g = cx.g
    lst = _list(ins[0])
    if lst.kind == "list":
        n = g.op1("Shape", _tensor(lst), start=0, end=1)
        n = g.op1("Reshape", n, g.const(np.zeros(0, np.int64)))
    else:
        n = g.op1("SequenceLength", lst)
    return cast(g, n, np.int32)


@converter("TensorListElementShape", onnx="Shape, Slice")
def element_shape(cx, node, ins):
    g = cx.g
    lst = _list(ins[0])
    dt = attr_dtype(node, "shape_type", 3)
    info = lst.info
    if info is not None and info.shape is not None and all(d is not None for d in info.shape):
        return g.const(np.asarray(info.shape, dt))
    if lst.kind != "list":
        raise ExportError("the element shape of a sequence is not known before running")
    return cast(g, g.op1("Shape", _tensor(lst), start=1), dt)


@converter("TensorListConcat", "TensorListConcatV2", onnx="Reshape (dense lists); ConcatFromSequence, SequenceMap")
def concat(cx, node, ins):
    g = cx.g
    lst = _list(ins[0])
    if lst.kind == "sequence":
        return _concat_sequence(cx, lst)
    return concat_dense(g, _tensor(lst))


def concat_dense(g: Graph, t: Val) -> list[Val]:
    """The elements of a dense list [n, d0, ...] joined along their first axis, and each one's
    length d0 ([n] int64): TensorListConcat's and TensorArrayConcat's outputs."""
    shape = g.op1("Shape", t)
    rest = g.op1("Slice", shape, g.const(np.asarray([2], np.int64)), g.const(np.asarray([1 << 62], np.int64)))
    flat = g.op1("Reshape", t, g.op1("Concat", g.const(np.asarray([-1], np.int64)), rest, axis=0))
    n = g.op1("Slice", shape, g.const(np.zeros(1, np.int64)), g.const(_ONE))
    lead = g.op1("Slice", shape, g.const(_ONE), g.const(np.asarray([2], np.int64)))
    return [flat, g.op1("Expand", lead, n)]


def _concat_sequence(cx: Any, lst: Val) -> list[Val]:
    """Elements of differing lengths joined along their first axis, and each one's length."""
    from savedmodel_io.onnx.ops._subgraph import body_graph

    g = cx.g
    if cx.opset < 17:
        raise ExportError("concatenating a TensorList of differing elements needs ONNX opset 17 (SequenceMap)")
    flat = _elements(g, g.op1("ConcatFromSequence", lst, axis=0), lst.info)
    if flat.shape is None and lst.info is not None and lst.info.shape is not None:
        flat.shape = (None,) + tuple(lst.info.shape[1:])
    elem = Val(g.model.fresh(f"{g.hint}/element"), lst.dtype,
               None if lst.info is None or lst.info.shape is None else tuple(lst.info.shape))
    body, _ = body_graph(g, "length", lambda h: [h.op1("Shape", elem, start=0, end=1)],
                         [(elem.name, g.type_of(elem))])
    from savedmodel_io.onnx._types import sequence_type

    lengths = g.op("SequenceMap", [lst], body=body, types=[sequence_type(np.dtype(np.int64), (1,))])[0]
    lengths.kind, lengths.info = "sequence", ListInfo(np.dtype(np.int64), (1,))
    return [flat, g.op1("ConcatFromSequence", lengths, axis=0)]


# -- writing --------------------------------------------------------------------------------------

@converter("TensorListSetItem", onnx="ScatterND (dense) or If(SequenceErase/SequenceInsert)")
def set_item(cx, node, ins):
    g = cx.g
    lst, index, item = _list(ins[0]), _scalar_i64(g, ins[1]), g.plain(ins[2])
    if lst.kind == "list":
        idx = g.op1("Reshape", index, g.const(np.asarray([1, 1], np.int64)))
        out = g.op1("ScatterND", _tensor(lst), idx, unsqueeze(g, item, [0]))
        return _dense(out, lst.info)
    return _seq_set(cx, _learn_rank(lst, item), index, item)


def _learn_rank(lst: Val, item: Val) -> Val:
    """A sequence of unknown element shape takes the rank of what is written into it."""
    info = lst.info
    if info is not None and info.shape is None and item.shape is not None:
        return Val(lst.name, lst.dtype, lst.shape, kind="sequence",
                   info=replace(info, shape=tuple(None for _ in item.shape)))
    return lst


def _seq_set(cx: Any, lst: Val, index: Val, item: Val) -> Val:
    """Replace element ``index`` of a sequence, or append when ``index`` is its length or more."""
    from savedmodel_io.onnx.ops._subgraph import if_graph

    g = cx.g
    inside = g.op1("Less", index, g.op1("SequenceLength", lst))

    def overwrite(h: Graph) -> list[Val]:
        return [_seq(h.op1("SequenceInsert", h.op1("SequenceErase", lst, index), item, index), lst.info)]

    def append(h: Graph) -> list[Val]:
        return [_seq(h.op1("SequenceInsert", lst, item), lst.info)]

    return if_graph(g, inside, overwrite, append)[0]


@converter("TensorListScatterIntoExistingList", onnx="ScatterND")
def scatter_into(cx, node, ins):
    g = cx.g
    lst, t, idx = _list(ins[0]), ins[1], i64(g, ins[2])
    if lst.kind == "sequence" and lst.info is not None and lst.info.reserved is not None:
        # Nothing written yet: zeros of the reserved length, rows shaped like the scattered ones.
        rest = g.op1("Shape", t, start=1)
        n = g.op1("Reshape", i64(g, lst.info.reserved), g.const(_ONE))
        base = g.op1("Expand", scalar(g, 0, t.dtype), g.op1("Concat", n, rest, axis=0))
    else:
        base = _tensor(as_dense(g, lst))
    out = g.op1("ScatterND", base, unsqueeze(g, idx, [-1]), t)
    return _dense(out, lst.info)


@converter("TensorListPushBack", onnx="Concat (dense) or SequenceInsert")
def push_back(cx, node, ins):
    g = cx.g
    lst, item = _list(ins[0]), g.plain(ins[1])
    if lst.kind == "list":
        return _dense(g.op1("Concat", _tensor(lst), unsqueeze(g, item, [0]), axis=0), lst.info)
    return _seq(g.op1("SequenceInsert", lst, item), _learn_rank(lst, item).info)


@converter("TensorListPopBack", onnx="Slice, Gather or SequenceErase, SequenceAt")
def pop_back(cx, node, ins):
    g = cx.g
    lst = _list(ins[0])
    last = g.const(np.asarray(-1, np.int64))
    if lst.kind == "list":
        t = _tensor(lst)
        rest = g.op1("Slice", t, g.const(np.zeros(1, np.int64)), g.const(np.asarray([-1], np.int64)))
        return [_dense(rest, lst.info), g.op1("Gather", t, last, axis=0)]
    item = _with_info_shape(_elements(g, g.op1("SequenceAt", lst, last), lst.info), lst.info, ())
    return [_seq(g.op1("SequenceErase", lst, last), lst.info), item]


@converter("TensorListResize", onnx="Slice, Pad")
def resize(cx, node, ins):
    g = cx.g
    lst = as_dense(g, _list(ins[0]))
    t = _tensor(lst)
    size = g.op1("Reshape", i64(g, ins[1]), g.const(_ONE))
    cut = g.op1("Slice", t, g.const(np.zeros(1, np.int64)), size)
    n = g.op1("Shape", cut, start=0, end=1)
    grow = g.op1("Max", g.op1("Sub", size, n), g.const(np.zeros(1, np.int64)))
    r = t.rank
    if r is None:
        raise ExportError("the rank of the list's elements is not known before running")
    pads = g.op1("Concat", g.const(np.zeros(r, np.int64)), grow, g.const(np.zeros(r - 1, np.int64)), axis=0)
    return _dense(g.op1("Pad", cut, pads, mode="constant"), lst.info)
inexpressible("TensorMaps are variant tensors: ONNX has no map of tensors", "EmptyTensorMap", "TensorMapErase",
              "TensorMapHasKey", "TensorMapInsert", "TensorMapLookup", "TensorMapSize", "TensorMapStackKeys")
inexpressible("composite-tensor variants: ONNX has no variant type", "CompositeTensorVariantFromComponents",
              "CompositeTensorVariantToComponents")


# -- vectors of lists ------------------------------------------------------------------------------

def _batch(v: Val, info: ListInfo | None) -> Val:
    return Val(v.name, v.dtype, v.shape, const=v.const, kind="lists", info=_written(info))


def stack_lists(g: Graph, lists: list[Val], axis: int) -> Val:
    """``tf.stack`` of TensorLists: their dense forms one above the other."""
    if axis != 0:
        raise ExportError("stacking TensorLists on an axis other than 0")
    dense = [unsqueeze(g, _tensor(as_dense(g, _list(v))), [0]) for v in lists]
    out = dense[0] if len(dense) == 1 else g.op1("Concat", *dense, axis=0)
    return _batch(out, lists[0].info)


def unstack_lists(g: Graph, batch: Val, axis: int, num: int) -> list[Val]:
    """``tf.unstack`` of a vector of TensorLists: each as a dense list."""
    from savedmodel_io.onnx.ops._util import split, squeeze

    if axis != 0:
        raise ExportError("unstacking TensorLists on an axis other than 0")
    t = _tensor(batch)
    parts = [t] if num == 1 else split(g, t, 0, num=num)
    return [_dense(squeeze(g, p, [0]), batch.info) for p in parts]


def _lists(v: Val) -> Val:
    if v.kind != "lists":
        raise ExportError(f"expected a vector of TensorLists, got a {v.kind}")
    return v


@converter("TensorListPushBackBatch", onnx="Concat (on the element axis)")
def push_back_batch(cx, node, ins):
    g = cx.g
    batch, item = _lists(ins[0]), g.plain(ins[1])
    return _batch(g.op1("Concat", _tensor(batch), unsqueeze(g, item, [1]), axis=1), batch.info)


@converter("TensorListConcatLists", onnx="Concat (on the element axis)")
def concat_lists(cx, node, ins):
    g = cx.g
    a, b = _lists(ins[0]), _lists(ins[1])
    return _batch(g.op1("Concat", _tensor(a), _tensor(b), axis=1), a.info)
