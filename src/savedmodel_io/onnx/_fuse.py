"""Fused forms: rewrite the exported main graph into the ops an ONNX runtime runs best.

* batch norm and biases folded into convolutions: Conv -> Mul(per-channel constant) ->
  Add(per-channel constant) becomes one Conv with scaled weights and a bias (Keras 3
  batch norm is Mul/Add after constant folding); a zero Pad before a Conv becomes its
  pads (moved across the input's layout Transpose first);
* MatMul(x, W) -> Add(bias) on 2-D tensors becomes Gemm;
* the layer-norm pattern (mean, squared difference, variance, rsqrt, scale, shift)
  becomes LayerNormalization (opset 17);
* gelu, erf and tanh forms, becomes Gelu (opset 20): any small element-wise cone of one
  tensor and scalar constants that computes gelu, checked by evaluating it;
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


def _scalar(arr: np.ndarray | None) -> float | None:
    if arr is None or arr.size != 1:
        return None
    return float(arr.reshape(-1)[0])


# -- convolutions -----------------------------------------------------------------------------------

def _per_channel(c: np.ndarray, channels: int, rank: int) -> np.ndarray | None:
    """A constant that broadcasts along the channel axis (1) of a rank-``rank`` NC... tensor, as [C]."""
    if c.ndim > rank:
        return None
    shape = (1,) * (rank - c.ndim) + c.shape
    if shape[0] != 1 or any(d != 1 for d in shape[2:]) or shape[1] not in (1, channels):
        return None
    return np.broadcast_to(c.reshape(-1), (channels,)) if c.size == 1 else c.reshape(channels)


def _conv_parts(net: _Net, conv: onnx.NodeProto) -> tuple[np.ndarray, np.ndarray | None] | None:
    w = net.const(conv.input[1])
    if w is None or w.dtype.kind != "f":
        return None
    b = net.const(conv.input[2]) if len(conv.input) > 2 and conv.input[2] else None
    if len(conv.input) > 2 and conv.input[2] and b is None:
        return None
    return w, b


def fold_into_conv(net: _Net) -> bool:
    """Conv followed by a per-channel Mul or Add of a constant: scale the weights, grow the bias."""
    changed = False
    for node in net.nodes:
        if id(node) in net.removed or node.op_type not in ("Mul", "Add"):
            continue
        for k in (0, 1):
            conv = net.made_by(node.input[k], "Conv")
            c = net.const(node.input[1 - k])
            if conv is None or c is None or id(conv) in net.removed or not net.only_reader(conv.output[0]):
                continue
            parts = _conv_parts(net, conv)
            if parts is None:
                continue
            w, b = parts
            vec = _per_channel(c, w.shape[0], w.ndim)
            if vec is None or c.dtype != w.dtype:
                continue
            if node.op_type == "Mul":
                w = w * vec.reshape((-1,) + (1,) * (w.ndim - 1))
                b = None if b is None else b * vec
            else:
                b = vec.copy() if b is None else b + vec
            inputs = [conv.input[0], net.new_const(w, f"{conv.name}/W")]
            if b is not None:
                inputs.append(net.new_const(b.astype(w.dtype, copy=False), f"{conv.name}/B"))
            del conv.input[:]
            conv.input.extend(inputs)
            net.take_output(conv, node)
            changed = True
            break
    return changed


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


# -- matrix products --------------------------------------------------------------------------------

def gemm(net: _Net) -> bool:
    """MatMul(x, W) + bias with 2-D x and W: one Gemm."""
    changed = False
    for add in net.nodes:
        if id(add) in net.removed or add.op_type != "Add":
            continue
        for k in (0, 1):
            mm = net.made_by(add.input[k], "MatMul")
            bias = net.const(add.input[1 - k])
            if mm is None or bias is None or id(mm) in net.removed or not net.only_reader(mm.output[0]):
                continue
            w = net.const(mm.input[1])
            xs = net.shape(mm.input[0])
            if w is None or w.ndim != 2 or xs is None or len(xs) != 2 or w.dtype.kind != "f":
                continue
            if bias.ndim > 1 and not (bias.ndim == 2 and bias.shape[0] == 1) or bias.size not in (1, w.shape[1]):
                continue
            gem = helper.make_node("Gemm", [mm.input[0], mm.input[1],
                                            net.new_const(np.broadcast_to(bias.reshape(-1), (w.shape[1],)).astype(w.dtype),
                                                          f"{mm.name}/bias")],
                                   [add.output[0]], name=net.model.fresh(f"{mm.name}/Gemm"))
            net.nodes[net.nodes.index(mm)] = gem
            net.producer[add.output[0]] = gem
            net.drop(add)
            changed = True
            break
    return changed


# -- layer normalisation ------------------------------------------------------------------------------

def _match_layer_norm(net: _Net, out_add: onnx.NodeProto
                      ) -> tuple[str, np.ndarray | None, np.ndarray | None, float, list[onnx.NodeProto]] | None:
    """The Keras layer-norm pattern ending in ``out_add`` (y = x*s + (beta - mean*s), s = gamma/sqrt(var+eps))."""
    # out_add = Add(Mul(x, s), Add(Mul(Neg(mean), s), beta))  or  Add(Mul(x, s), Sub(beta, Mul(mean, s)))
    used: list[onnx.NodeProto] = [out_add]
    for k in (0, 1):
        mx = net.made_by(out_add.input[k], "Mul")
        shift = net.producer.get(out_add.input[1 - k])
        if mx is None or shift is None:
            continue
        for j in (0, 1):
            x, s = mx.input[j], mx.input[1 - j]
            got = _shift(net, shift, s)
            if got is None:
                continue
            mean_name, beta, parts = got
            mean = net.made_by(mean_name, "ReduceMean")
            if mean is None or mean.input[0] != x:
                continue
            scale = _scale(net, s, x, mean_name)
            if scale is None:
                continue
            gamma, eps, more = scale
            axes = _axes(net, mean)
            xs = net.shape(x)
            if xs is None or axes is None or len(axes) != 1 or axes[0] % len(xs) != len(xs) - 1:
                continue
            return x, gamma, beta, eps, used + [mx, shift, mean] + parts + more
    return None


def _shift(net: _Net, shift: onnx.NodeProto, s: str) -> tuple[str, np.ndarray | None, list[onnx.NodeProto]] | None:
    """(mean, beta, nodes) of ``beta - mean * s`` in its Keras forms."""
    if shift.op_type == "Add":
        for k in (0, 1):
            m = net.made_by(shift.input[k], "Mul")
            beta = net.const(shift.input[1 - k])
            if m is None or beta is None:
                continue
            for j in (0, 1):
                neg = net.made_by(m.input[j], "Neg")
                if neg is not None and m.input[1 - j] == s:
                    return neg.input[0], beta, [m, neg]
    if shift.op_type == "Mul":  # no beta (center=False): -mean * s
        for j in (0, 1):
            neg = net.made_by(shift.input[j], "Neg")
            if neg is not None and shift.input[1 - j] == s:
                return neg.input[0], None, [neg]
    if shift.op_type == "Sub":
        beta = net.const(shift.input[0])
        m = net.made_by(shift.input[1], "Mul")
        if beta is not None and m is not None:
            for j in (0, 1):
                if m.input[1 - j] == s:
                    return m.input[j], beta, [m]
    return None


def _axes(net: _Net, node: onnx.NodeProto) -> list[int] | None:
    if len(node.input) > 1 and node.input[1]:
        a = net.const(node.input[1])
        return None if a is None else [int(v) for v in a.reshape(-1)]
    ax = _attr(node, "axes")
    return None if ax is None else list(ax)


def _scale(net: _Net, s: str, x: str, mean: str) -> tuple[np.ndarray | None, float, list[onnx.NodeProto]] | None:
    """(gamma, eps, nodes) of ``s = gamma / sqrt(var + eps)`` with var the variance of ``x``."""
    gamma = None
    nodes: list[onnx.NodeProto] = []
    m = net.made_by(s, "Mul")
    inv_name = s
    if m is not None:
        for j in (0, 1):
            g = net.const(m.input[1 - j])
            if g is not None:
                gamma, inv_name = g, m.input[j]
                nodes.append(m)
                break
        else:
            return None
    rec = net.made_by(inv_name, "Reciprocal")
    if rec is None:
        return None
    sq = net.made_by(rec.input[0], "Sqrt")
    add = net.made_by(sq.input[0], "Add") if sq is not None else None
    if sq is None or add is None:
        return None
    for j in (0, 1):
        eps = _scalar(net.const(add.input[1 - j]))
        var = net.made_by(add.input[j], "ReduceMean")
        if eps is None or var is None:
            continue
        sqd = net.made_by(var.input[0], "Mul")
        if sqd is None or sqd.input[0] != sqd.input[1]:
            continue
        sub = net.made_by(sqd.input[0], "Sub")
        if sub is None or sub.input[0] != x or sub.input[1] != mean or _axes(net, var) != _axes(net, net.producer[mean]):
            continue
        return gamma, eps, nodes + [rec, sq, add, var, sqd, sub]
    return None


def layer_norm(net: _Net) -> bool:
    """The layer-norm pattern -> LayerNormalization over the last axis."""
    if net.model.opset < 17:
        return False
    changed = False
    for node in list(net.nodes):
        if id(node) in net.removed or node.op_type != "Add":
            continue
        m = _match_layer_norm(net, node)
        if m is None:
            continue
        x, gamma, beta, eps, used = m
        xs = net.shape(x)
        c = xs[-1] if xs is not None else None
        dt = net.model.dtypes.get(x)
        if not isinstance(c, int) or dt is None or dt.kind != "f":
            continue
        if gamma is not None and gamma.size not in (1, c) or beta is not None and beta.size not in (1, c):
            continue
        # Only the final Add may be read from outside the pattern.
        if any(net.readers.get(o, 0) != _reads_within(net, o, used) for n in used[1:] for o in n.output):
            continue
        g = np.broadcast_to((gamma if gamma is not None else np.ones(1, dt)).reshape(-1), (c,)).astype(dt)
        b = np.broadcast_to((beta if beta is not None else np.zeros(1, dt)).reshape(-1), (c,)).astype(dt)
        ln = helper.make_node("LayerNormalization", [x, net.new_const(g, f"{node.name}/gamma"),
                                                      net.new_const(b, f"{node.name}/beta")],
                              [node.output[0]], name=net.model.fresh(f"{node.name}/LayerNormalization"),
                              axis=-1, epsilon=eps)
        net.nodes[net.nodes.index(node)] = ln
        net.producer[node.output[0]] = ln
        for n in used[1:]:
            net.drop(n)
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


PASSES: list[Callable[[_Net], bool]] = [pad_before_transpose, fold_pad_into_conv, fold_into_conv, gemm,
                                         layer_norm, gelu, einsum_as_matmul, fold_pad_into_max_pool]


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
