"""ONNX-level fused forms: what is left to fuse after the runtime's optimiser (graph/optimize.py).

Batch norms and biases are folded into convolutions and matmuls, and layer norms fused, on the
TensorFlow graph before export (the exporter maps those fused ops to Conv with bias, Gemm and
LayerNormalization). On the ONNX graph remain:

* a zero Pad before a Conv becomes its pads (moved across the input's layout Transpose
  first): the Pad and the Conv meet only once the layouts are ONNX's;
* gelu, erf and tanh forms, becomes Gelu (opset 20): any small element-wise cone of one
  tensor and scalar constants that computes gelu, checked by evaluating it (the optimiser
  fuses only the exact form, and only after a matmul or convolution);
* an Einsum that is a batched matrix product becomes Transposes around a MatMul (``_einsum``);
* a zero Pad before a MaxPool of ReLU outputs becomes the MaxPool's pads (``_pool``).

Each rewrite keeps the results within float32 rounding of the unfused graph. The
passes read the exporter's constants (initializers still held as numpy arrays) and the
value shapes recorded while building.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import onnx
from onnx import helper

from savedmodel_io.onnx._cleanup import subgraphs
from savedmodel_io.onnx._einsum import einsum_as_matmul
from savedmodel_io.onnx._pool import fold_pad_into_max_pool

__all__ = ["run"]


class _Net:
    """A mutable view of the main graph: producers, readers, constants, shapes."""

    def __init__(self, graph: onnx.GraphProto, model: Any) -> None:
        self.graph = graph
        self.model = model
        self.nodes: list[onnx.NodeProto] = list(graph.node)
        self.removed: set[int] = set()
        self.producer: dict[str, onnx.NodeProto] = {}
        self.readers: dict[str, int] = {}
        for n in self.nodes:
            for o in n.output:
                self.producer[o] = n
            for x in _all_reads(n):
                self.readers[x] = self.readers.get(x, 0) + 1
        for v in graph.output:
            self.readers[v.name] = self.readers.get(v.name, 0) + 1

    def const(self, name: str) -> np.ndarray | None:
        arr: np.ndarray | None = self.model.initializers.get(name)
        return arr

    def shape(self, name: str) -> Any:
        return self.model.shapes.get(name)

    def only_reader(self, name: str) -> bool:
        return self.readers.get(name, 0) == 1

    def made_by(self, name: str, op: str) -> onnx.NodeProto | None:
        n = self.producer.get(name)
        return n if n is not None and n.op_type == op and n.domain in ("", "ai.onnx") else None

    def new_const(self, arr: np.ndarray, hint: str) -> str:
        name: str = self.model.fresh(hint)
        self.model.initializers[name] = arr
        return name

    def drop(self, node: onnx.NodeProto) -> None:
        self.removed.add(id(node))

    def take_output(self, keep: onnx.NodeProto, gone: onnx.NodeProto) -> None:
        """``keep`` now writes what ``gone`` wrote (``gone`` is removed)."""
        keep.output[0] = gone.output[0]
        self.producer[gone.output[0]] = keep
        self.drop(gone)

    def commit(self) -> None:
        keep = [n for n in self.nodes if id(n) not in self.removed]
        del self.graph.node[:]
        self.graph.node.extend(keep)


def _all_reads(node: onnx.NodeProto) -> list[str]:
    out = [x for x in node.input if x]
    for sub in subgraphs(node):
        for n in sub.node:
            out.extend(_all_reads(n))
        out.extend(v.name for v in sub.output)
    return out


def _attr(node: onnx.NodeProto, name: str, default: Any = None) -> Any:
    for a in node.attribute:
        if a.name == name:
            return helper.get_attribute_value(a)
    return default


def _set_attr(node: onnx.NodeProto, name: str, value: Any) -> None:
    for i, a in enumerate(node.attribute):
        if a.name == name:
            del node.attribute[i]
            break
    node.attribute.append(helper.make_attribute(name, value))


# -- convolutions -----------------------------------------------------------------------------------

def fold_pad_into_conv(net: _Net) -> bool:
    """A constant zero Pad of the spatial dims feeding only a Conv with explicit pads."""
    changed = False
    for conv in net.nodes:
        if id(conv) in net.removed or conv.op_type != "Conv" or _attr(conv, "auto_pad", b"NOTSET") not in (b"NOTSET", "NOTSET"):
            continue
        pad = net.made_by(conv.input[0], "Pad")
        if pad is None or not net.only_reader(pad.output[0]) or _attr(pad, "mode", b"constant") not in (b"constant", "constant"):
            continue
        pads = net.const(pad.input[1]) if len(pad.input) > 1 else None
        value = net.const(pad.input[2]) if len(pad.input) > 2 and pad.input[2] else np.zeros(1)
        if pads is None or value is None or np.any(value != 0) or (len(pad.input) > 3 and pad.input[3]):
            continue
        r = pads.size // 2
        begin, end = pads[:r], pads[r:]
        if begin[:2].any() or end[:2].any():
            continue
        own = list(_attr(conv, "pads", [0] * (2 * (r - 2))))
        new = [int(a) + int(b) for a, b in zip(own, list(begin[2:]) + list(end[2:]))]
        _set_attr(conv, "pads", new)
        conv.input[0] = pad.input[0]
        net.drop(pad)
        changed = True
    return changed


def pad_before_transpose(net: _Net) -> bool:
    """Transpose(Pad(x)) -> Pad(Transpose(x)): a Pad of the NHWC input then meets its Conv."""
    changed = False
    for tr in net.nodes:
        if id(tr) in net.removed or tr.op_type != "Transpose":
            continue
        pad = net.made_by(tr.input[0], "Pad")
        if pad is None or not net.only_reader(pad.output[0]) or len(pad.input) > 3 and pad.input[3]:
            continue
        pads = net.const(pad.input[1])
        perm = _attr(tr, "perm")
        if pads is None or perm is None or pads.size != 2 * len(perm):
            continue
        r = len(perm)
        moved = np.concatenate([pads[:r][list(perm)], pads[r:][list(perm)]]).astype(np.int64)
        # Transpose reads x; the Pad reads the Transpose and writes what the Transpose wrote.
        out = tr.output[0]
        mid = net.model.fresh(f"{tr.name}/moved")
        tr.input[0], tr.output[0] = pad.input[0], mid
        pad.input[0], pad.input[1] = mid, net.new_const(moved, f"{pad.name}/pads")
        pad.output[0] = out
        i, j = net.nodes.index(tr), net.nodes.index(pad)
        net.nodes[i], net.nodes[j] = net.nodes[j], net.nodes[i]  # keep topological order
        net.nodes[min(i, j)], net.nodes[max(i, j)] = tr, pad
        changed = True
    return changed


def _reads_within(net: _Net, name: str, nodes: list[onnx.NodeProto]) -> int:
    return sum(1 for n in nodes for x in n.input if x == name)


# -- gelu -------------------------------------------------------------------------------------------

# Element-wise ops a gelu is written with, and their numpy forms (for the numeric check).
_ELEMENTWISE: dict[str, Callable[..., np.ndarray]] = {
    "Mul": np.multiply, "Add": np.add, "Sub": np.subtract, "Div": np.divide, "Pow": np.power,
    "Tanh": np.tanh, "Neg": np.negative, "Sqrt": np.sqrt, "Reciprocal": np.reciprocal,
    "Erf": np.vectorize(math.erf, otypes=[np.float64]),
}
_GELU_SAMPLES = np.linspace(-6.0, 6.0, 241)
_GELU = {
    "none": 0.5 * _GELU_SAMPLES * (1.0 + np.vectorize(math.erf)(_GELU_SAMPLES / math.sqrt(2.0))),
    "tanh": 0.5 * _GELU_SAMPLES * (1.0 + np.tanh(math.sqrt(2.0 / math.pi)
                                                 * (_GELU_SAMPLES + 0.044715 * _GELU_SAMPLES ** 3))),
}


def _scalar_op(net: _Net, n: onnx.NodeProto) -> bool:
    """An element-wise op whose constant inputs are scalars (a step of a gelu formula)."""
    if n.op_type not in _ELEMENTWISE or n.domain not in ("", "ai.onnx"):
        return False
    return all(c is None or c.size == 1 for c in (net.const(x) for x in n.input))


def _cone(net: _Net, out: onnx.NodeProto) -> tuple[str, list[onnx.NodeProto]] | None:
    """(x, nodes): the element-wise nodes computing ``out`` from one tensor x and scalar constants."""
    nodes: list[onnx.NodeProto] = []
    sources: set[str] = set()
    todo = [out]
    seen: set[int] = set()
    while todo:
        n = todo.pop()
        if id(n) in seen:
            continue
        seen.add(id(n))
        if n.op_type not in _ELEMENTWISE or n.domain not in ("", "ai.onnx") or len(nodes) > 16:
            return None
        nodes.append(n)
        for name in n.input:
            c = net.const(name)
            if c is not None:
                if c.size != 1:
                    return None
                continue
            prod = net.producer.get(name)
            if prod is not None and _scalar_op(net, prod):
                todo.append(prod)
            else:
                sources.add(name)
    if len(sources) != 1:
        return None
    (x,) = sources
    return x, nodes


def _evaluate(net: _Net, x: str, nodes: list[onnx.NodeProto], out: str) -> np.ndarray | None:
    values: dict[str, np.ndarray] = {x: _GELU_SAMPLES}
    pending = list(reversed(nodes))
    with np.errstate(all="ignore"):
        while pending:
            progress = False
            for n in list(pending):
                args = []
                for name in n.input:
                    c = net.const(name)
                    v = values.get(name) if c is None else c.astype(np.float64).reshape(())
                    if v is None:
                        break
                    args.append(v)
                else:
                    values[n.output[0]] = np.asarray(_ELEMENTWISE[n.op_type](*args), np.float64)
                    pending.remove(n)
                    progress = True
            if not progress:
                return None
    return values.get(out)


def gelu(net: _Net) -> bool:
    """Element-wise cones that compute gelu (erf or tanh form, checked numerically) -> Gelu (opset 20)."""
    if net.model.opset < 20:
        return False
    changed = False
    for node in list(net.nodes):
        if id(node) in net.removed or node.op_type != "Mul":
            continue
        cone = _cone(net, node)
        if cone is None:
            continue
        x, used = cone
        if net.model.dtypes.get(x) not in (np.dtype(np.float32), np.dtype(np.float16), np.dtype(np.float64)):
            continue
        got = _evaluate(net, x, used, node.output[0])
        approx = next((k for k, want in _GELU.items()
                       if got is not None and got.shape == want.shape and np.allclose(got, want, rtol=1e-5, atol=1e-6)),
                      None)
        if approx is None:
            continue
        # Only the final node may be read from outside the cone.
        if any(net.readers.get(o, 0) != _reads_within(net, o, used) for n in used[1:] for o in n.output):
            continue
        ge = helper.make_node("Gelu", [x], [node.output[0]], name=net.model.fresh(f"{node.name}/Gelu"),
                              approximate=approx)
        net.nodes[net.nodes.index(node)] = ge
        net.producer[node.output[0]] = ge
        for n in used[1:]:
            net.drop(n)
        changed = True
    return changed


PASSES: list[Callable[[_Net], bool]] = [pad_before_transpose, fold_pad_into_conv, gelu, einsum_as_matmul,
                                         fold_pad_into_max_pool]


def run(graph: onnx.GraphProto, model: Any) -> None:
    """Apply every pass to the main graph until none changes anything."""
    for _ in range(16):
        changed = False
        for p in PASSES:
            net = _Net(graph, model)
            if p(net):
                net.commit()
                changed = True
        if not changed:
            return
