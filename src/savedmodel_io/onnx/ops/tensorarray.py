"""TF1 TensorArrays (TensorArrayV3 & co.): the array's contents carried on its flow tensor.

A TF1 TensorArray is a resource written in place; every op on it takes and gives a "flow"
scalar that orders them, and a TF1 while loop threads that flow through the loop as a loop
variable (graph/ops/tensorarray.py runs them; tensorflow/tensorflow
tensorflow/python/ops/tensor_array_ops.py builds them). Here the flow *is* the contents, as
the TensorList forms of ``tensorlist``: a dense tensor [size, element...] when the element
shape is fully known when the array is made (or once a scatter writes the whole array at
once), else an ONNX sequence that in-order writes fill. The handle is no ONNX value: it
holds what the array was made with (dtype, element shape, size, dynamic_size), read where
the array is read or sized; it enters loops as a loop invariant.

Kernel rules kept (tensorflow/tensorflow tensorflow/core/kernels/tensor_array_ops.cc, as
graph/ops/tensorarray.py runs them): an unwritten element reads as zeros when the element
shape is known (dense arrays; a sequence stacked to the array's size is padded with zero
rows, and a read past the elements a sequence holds gives zeros shaped like its first
element); a dynamic array's size is its largest written index + 1 when that is past its
initial size; a write past the end of a sequence first fills the gap with zeros. What a graph
cannot do: refuse a second write or read of an element, a read out of range, or a read of an
unwritten element when no write has fixed the element shape (TensorFlow's errors).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import onnx

from savedmodel_io.onnx._graph import ExportError, Graph, ListInfo, Val
from savedmodel_io.onnx._types import tensor_type
from savedmodel_io.onnx.ops._registry import converter, inexpressible
from savedmodel_io.onnx.ops._util import attr_dtype, cast, i64, scalar, unsqueeze
from savedmodel_io.onnx.ops.tensorlist import _concat_sequence, _dense, _empty, _seq, _tensor, as_dense, concat_dense

_ONE = np.asarray([1], np.int64)


@dataclass(frozen=True)
class ArrayInfo:
    """What a TensorArrayV3 was made with."""

    dtype: np.dtype
    shape: tuple[int | None, ...] | None  # element shape (None: unknown rank)
    size: Val  # the size input (int32 scalar)
    dynamic: bool


def _handle(v: Val) -> ArrayInfo:
    if v.kind != "tarray" or not isinstance(v.info, ArrayInfo):
        raise ExportError(f"expected a TensorArray handle, got a {v.kind}")
    return v.info


def _flow(v: Val) -> Val:
    if v.kind not in ("list", "sequence"):
        raise ExportError(f"the TensorArray's flow is a {v.kind}, not the array's contents (a flow that "
                          "does not come from the array's own ops)")
    return v


def _fresh(flow: Val) -> bool:
    """Nothing written into the array yet (the flow TensorArrayV3 made)."""
    return flow.info is not None and flow.info.reserved is not None


def _scalar_i64(g: Graph, v: Val) -> Val:
    x = i64(g, v)
    return x if x.rank == 0 else g.op1("Reshape", x, g.const(np.zeros(0, np.int64)))


def _known(shape: Any) -> bool:
    return shape is not None and all(d is not None for d in shape)


def _elem_shape(node: Any, name: str) -> tuple[int | None, ...] | None:
    s = node.attr.get(name)
    if s is None:
        return None
    return tuple(None if d is None or d < 0 else int(d) for d in s)


@converter("TensorArrayV3", onnx="Expand (known element shape) or SequenceEmpty")
def tensor_array(cx, node, ins):
    g = cx.g
    size = g.plain(ins[0])
    dt = attr_dtype(node, "dtype")
    shape = _elem_shape(node, "element_shape")
    info = ArrayInfo(dt, shape, size, bool(node.attr.get("dynamic_size", False)))
    handle = Val(None, None, None, kind="tarray", info=info)
    if _known(shape):
        dims = g.op1("Concat", g.op1("Reshape", i64(g, size), g.const(_ONE)),
                     g.const(np.asarray(shape, np.int64)), axis=0)
        flow = _dense(g.op1("Expand", scalar(g, 0, dt), dims), ListInfo(dt, shape))
        flow.info = ListInfo(dt, shape, reserved=size)  # fresh: a scatter or split may fill it whole
    else:
        flow = _empty(g, ListInfo(dt, shape))
        flow.info = ListInfo(dt, shape, reserved=size)
    return [handle, flow]


def _rows(g: Graph, t: Val) -> Val:
    """The first dimension of a dense array, as a [1] int64 vector."""
    return g.op1("Shape", t, start=0, end=1)


def _pad_rows(g: Graph, t: Val, rows: Val) -> Val:
    """``t`` with zero rows added up to ``rows`` ([1] int64) rows (none when it has as many)."""
    grow = g.op1("Max", g.op1("Sub", rows, _rows(g, t)), g.const(np.zeros(1, np.int64)))
    if t.rank is not None:
        pads = g.op1("Concat", g.const(np.zeros(t.rank, np.int64)), grow,
                     g.const(np.zeros(t.rank - 1, np.int64)), axis=0)
    else:
        shp = g.op1("Shape", t)
        zeros = onnx.helper.make_tensor("zero", onnx.TensorProto.INT64, [1], [0])
        lead = g.op1("ConstantOfShape", g.op1("Shape", shp), value=zeros)
        rest = g.op1("ConstantOfShape", g.op1("Sub", g.op1("Shape", shp), g.const(_ONE)), value=zeros)
        pads = g.op1("Concat", lead, grow, rest, axis=0)
    out = g.op1("Pad", t, pads, mode="constant")
    if out.shape is None and t.shape is not None:
        out.shape = (None,) + tuple(t.shape[1:])
    return out


def _size_vec(g: Graph, info: ArrayInfo) -> Val:
    return g.op1("Reshape", i64(g, info.size), g.const(_ONE))


def _all_rows(cx: Any, info: ArrayInfo, flow: Val, declared: Any = None) -> Val:
    """The whole array as one tensor [size, element...] (unwritten trailing elements as zeros)."""
    g = cx.g
    flow = _flow(flow)
    if flow.kind == "sequence":
        shape = flow.info.shape if flow.info is not None else None
        if shape is None or not _known(shape):
            shape = _merge(shape, info.shape)
            shape = _merge(shape, declared)
        flow = Val(flow.name, flow.dtype, flow.shape, kind="sequence", info=ListInfo(info.dtype, shape))
    t = _tensor(as_dense(g, flow))
    if flow.kind == "sequence":
        t = _pad_rows(g, t, _size_vec(g, info))
    return t


def _merge(a: Any, b: Any) -> Any:
    if a is None:
        return b
    if b is None or len(a) != len(b):
        return a
    return tuple(x if x is not None else y for x, y in zip(a, b))


@converter("TensorArrayWriteV3", onnx="ScatterND (dense) or SequenceInsert")
def write(cx, node, ins):
    g = cx.g
    info = _handle(ins[0])
    index, item, flow = _scalar_i64(g, ins[1]), g.plain(ins[2]), _flow(ins[3])
    item = cast(g, item, info.dtype)
    if flow.kind == "list":
        t = _tensor(flow)
        if info.dynamic:
            t = _pad_rows(g, t, g.op1("Reshape", g.op1("Add", index, scalar(g, 1, np.int64)), g.const(_ONE)))
        idx = g.op1("Reshape", index, g.const(np.asarray([1, 1], np.int64)))
        return _dense(g.op1("ScatterND", t, idx, unsqueeze(g, item, [0])), flow.info)
    shape = flow.info.shape if flow.info is not None else None
    if shape is None and item.shape is not None:
        shape = tuple(None for _ in item.shape)
    out = _seq_write(g, Val(flow.name, flow.dtype, flow.shape, kind="sequence",
                            info=ListInfo(info.dtype, shape)), index, item)
    return out


def _seq_write(g: Graph, seq: Val, index: Val, item: Val) -> Val:
    """Element ``index`` of a sequence set to ``item``: replaced when the sequence has it, else
    appended after zeros shaped like ``item`` for the unwritten elements before it."""
    from savedmodel_io.onnx.ops._subgraph import body_graph, if_graph

    inside = g.op1("Less", index, g.op1("SequenceLength", seq))
    info = seq.info

    def overwrite(h: Graph) -> list[Val]:
        return [_seq(h.op1("SequenceInsert", h.op1("SequenceErase", seq, index), item, index), info)]

    def append(h: Graph) -> list[Val]:
        gap = h.op1("Sub", index, h.op1("SequenceLength", seq))
        zeros = h.op1("Expand", scalar(h, 0, item.dtype), h.op1("Shape", item))
        it = Val(g.model.fresh(f"{g.hint}/gap_i"), np.dtype(np.int64), ())
        go = Val(g.model.fresh(f"{g.hint}/gap_cond"), np.dtype(bool), ())
        acc = Val(g.model.fresh(f"{g.hint}/gap_seq"), seq.dtype, None, kind="sequence", info=info)
        t = h.type_of(acc)
        body, _ = body_graph(h, "fill", lambda b: [go, _seq(b.op1("SequenceInsert", acc, zeros), info)],
                             [(it.name, tensor_type(np.dtype(np.int64), ())),
                              (go.name, tensor_type(np.dtype(bool), ())), (acc.name, t)])
        filled = h.op("Loop", [gap, h.const(np.asarray(True)), seq], outputs=1, types=[t], body=body)[0]
        filled.kind, filled.info = "sequence", info
        return [_seq(h.op1("SequenceInsert", filled, item), info)]

    out = if_graph(g, inside, overwrite, append)[0]
    out.kind, out.info = "sequence", info
    return out


@converter("TensorArrayReadV3", onnx="Gather or SequenceAt")
def read(cx, node, ins):
    g = cx.g
    info = _handle(ins[0])
    index, flow = _scalar_i64(g, ins[1]), _flow(ins[2])
    if flow.kind == "list":
        return g.op1("Gather", _tensor(flow), index, axis=0)
    from savedmodel_io.onnx.ops._subgraph import if_graph

    shape = flow.info.shape if flow.info is not None else None
    shape = _merge(shape, info.shape)

    def written(h: Graph) -> list[Val]:
        out = h.op1("SequenceAt", flow, index)
        if out.shape is None and shape is not None:
            out.shape = tuple(shape)
        return [out]

    def unwritten(h: Graph) -> list[Val]:
        # Past the elements written: zeros of the element shape (the array's, else the one the
        # first write fixed; with nothing written and no known shape onnxruntime fails, as
        # TensorFlow does).
        if _known(shape):
            return [h.const(np.zeros(shape, info.dtype))]
        first = h.op1("SequenceAt", flow, h.const(np.asarray(0, np.int64)))
        out = h.op1("Expand", scalar(h, 0, info.dtype), h.op1("Shape", first))
        if out.shape is None and shape is not None:
            out.shape = tuple(shape)
        return [out]

    inside = g.op1("Less", index, g.op1("SequenceLength", flow))
    return if_graph(g, inside, written, unwritten)[0]


@converter("TensorArrayGatherV3", onnx="Gather (sequences stacked by ConcatFromSequence)")
def gather(cx, node, ins):
    g = cx.g
    info = _handle(ins[0])
    t = _all_rows(cx, info, ins[2], _elem_shape(node, "element_shape"))
    return g.op1("Gather", t, i64(g, ins[1]), axis=0)


@converter("TensorArrayScatterV3", onnx="ScatterND")
def scatter(cx, node, ins):
    g = cx.g
    info = _handle(ins[0])
    idx, value, flow = i64(g, ins[1]), cast(g, g.plain(ins[2]), info.dtype), _flow(ins[3])
    if value.rank == 0:
        raise ExportError("a TensorArray scatter of a scalar")
    top = g.op1("Add", g.op1("ReduceMax", idx, keepdims=1), g.const(_ONE))
    if flow.kind == "list":
        base = _tensor(flow)
    elif _fresh(flow):
        rest = g.op1("Shape", value, start=1)
        base = g.op1("Expand", scalar(g, 0, info.dtype), g.op1("Concat", _size_vec(g, info), rest, axis=0))
    else:
        base = _all_rows(cx, info, flow)
    if info.dynamic:
        # A dynamic array grows to the largest index written (an empty scatter writes none).
        empty = g.op1("Equal", g.op1("Size", idx), scalar(g, 0, np.int64))
        base = _pad_rows(g, base, g.op1("Where", empty, g.const(np.zeros(1, np.int64)), top))
    out = g.op1("ScatterND", base, unsqueeze(g, idx, [-1]), value)
    return _dense(out, ListInfo(info.dtype, value.shape[1:] if value.shape is not None else info.shape))


@converter("TensorArraySplitV3", onnx="SplitToSequence")
def split(cx, node, ins):
    g = cx.g
    info = _handle(ins[0])
    value, lengths, flow = cast(g, g.plain(ins[1]), info.dtype), i64(g, ins[2]), _flow(ins[3])
    if not _fresh(flow):
        raise ExportError("a TensorArray split into an array already written, or made with a fully known "
                          "element shape (not mapped)")
    seq = g.op1("SplitToSequence", value, lengths, axis=0)
    return _seq(seq, ListInfo(info.dtype, (None,) + tuple(value.shape[1:]) if value.shape is not None else None))


@converter("TensorArrayConcatV3", onnx="Reshape (dense); ConcatFromSequence, SequenceMap")
def concat(cx, node, ins):
    g = cx.g
    _handle(ins[0])
    flow = _flow(ins[1])
    if flow.kind == "sequence":
        value, lengths = _concat_sequence(cx, flow)
        return [value, lengths]
    return concat_dense(g, _tensor(flow))


@converter("TensorArraySizeV3", onnx="Shape or SequenceLength (dynamic arrays), else the size given")
def size(cx, node, ins):
    g = cx.g
    info = _handle(ins[0])
    flow = _flow(ins[1])
    n = i64(g, info.size)
    n = n if n.rank == 0 else g.op1("Reshape", n, g.const(np.zeros(0, np.int64)))
    if info.dynamic:
        if flow.kind == "list":
            have = g.op1("Reshape", _rows(g, _tensor(flow)), g.const(np.zeros(0, np.int64)))
        else:
            have = g.op1("SequenceLength", flow)
        n = g.op1("Max", n, have)
    return cast(g, n, np.int32)


@converter("TensorArrayCloseV3", onnx="(dropped: no outputs)")
def close(cx, node, ins):
    _handle(ins[0])
    return []


inexpressible("not mapped yet: the V2 TensorArray ops of TF 1.0 (their V3 forms export)",
              *(f"TensorArray{k}V2" for k in ("", "Close", "Concat", "Gather", "Read", "Scatter", "Size", "Split",
                                              "Write")))
