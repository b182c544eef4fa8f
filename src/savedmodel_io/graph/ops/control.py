"""Graph plumbing and functional control flow: Const, Identity, calls, If, While, Case."""

from __future__ import annotations

import sys
from typing import Any

import numpy as np

from savedmodel_io.errors import InvalidArgumentError
from savedmodel_io.graph.dataflow import DEAD
from savedmodel_io.graph.ops._registry import kernel
from savedmodel_io.graph.ops._util import bad


@kernel("Const")
def const(node, inputs, ctx):
    return node.attr["value"]


@kernel("Placeholder")
def placeholder(node, inputs, ctx):
    raise InvalidArgumentError(f"placeholder {node.name!r} needs a value and none was fed",
                               where=node.where)


@kernel("PlaceholderWithDefault", "Identity", "StopGradient", "PreventGradient", "Snapshot",
        "DebugIdentity", "DebugIdentityV2", "DebugIdentityV3", "RefIdentity")
def identity(node, inputs, ctx):
    return inputs[0]


@kernel("IdentityN")
def identity_n(node, inputs, ctx):
    return list(inputs)


@kernel("NoOp")
def noop(node, inputs, ctx):
    return []


@kernel("EnsureShape")
def ensure_shape(node, inputs, ctx):
    x = np.asarray(inputs[0])
    want = node.attr.get("shape")
    if want is not None and (len(want) != x.ndim or any(d is not None and d != s for d, s in zip(want, x.shape))):
        raise bad(node, f"shape of tensor {x.shape} is not compatible with expected shape {want}")
    return inputs[0]


@kernel("CheckNumerics", "CheckNumericsV2")
def check_numerics(node, inputs, ctx):
    x = np.asarray(inputs[0])
    if x.dtype.kind in "fc" and not np.all(np.isfinite(x)):
        msg = node.attr.get("message", b"").decode("utf-8", "replace")
        raise bad(node, f"{msg} : Tensor had NaN or Inf values")
    return inputs[0]


@kernel("Assert")
def assert_(node, inputs, ctx):
    if not bool(np.all(inputs[0])):
        data = "; ".join(str(np.asarray(d)) for d in inputs[1:])
        raise bad(node, f"assertion failed: {data}")
    return []


@kernel("PrintV2")
def print_v2(node, inputs, ctx):
    text = np.asarray(inputs[0]).item()
    text = text.decode("utf-8", "replace") if isinstance(text, bytes) else str(text)
    stream = sys.stdout if node.attr["output_stream"] == b"stdout" else sys.stderr
    stream.write(text + node.attr["end"].decode("utf-8", "replace"))
    return []


@kernel("PartitionedCall", "StatefulPartitionedCall")
def call(node, inputs, ctx):
    name = node.call if node.call is not None else node.attr["f"].name
    return ctx.call(name, list(inputs), node.where)


def _truth(node, value) -> bool:
    """A predicate's value: scalars by value, other tensors by being non-empty (TF's rule)."""
    a = np.asarray(value)
    if a.ndim == 0:
        if a.dtype.kind in "OSU":
            return len(a.item()) > 0
        return bool(a)
    return a.size > 0


@kernel("If", "StatelessIf")
def if_(node, inputs, ctx):
    branch = node.attr["then_branch"] if _truth(node, inputs[0]) else node.attr["else_branch"]
    return ctx.call(branch.name, list(inputs[1:]), node.where)


@kernel("Case", "StatelessCase")
def case(node, inputs, ctx):
    branches = node.attr["branches"]
    i = int(np.asarray(inputs[0]))
    if not 0 <= i < len(branches):
        i = len(branches) - 1  # out-of-range indices run the last (default) branch
    return ctx.call(branches[i].name, list(inputs[1:]), node.where)


@kernel("While", "StatelessWhile")
def while_(node, inputs, ctx):
    cond = node.attr["cond"].name
    body = node.attr["body"].name
    state = list(inputs)
    n = 0
    while _truth(node, ctx.call(cond, state, node.where)[0]):
        n += 1
        ctx.meter.iteration(n, node.where)
        state = ctx.call(body, state, node.where)
    return state


@kernel("ZerosLike")
def zeros_like(node, inputs, ctx):
    x = inputs[0]
    if not isinstance(x, np.ndarray) and not isinstance(x, np.generic):
        return type(x).zeros_like(x) if hasattr(type(x), "zeros_like") else x
    if isinstance(x, np.ndarray) and x.dtype == object:  # a string tensor: empty strings
        return np.full(x.shape, b"", dtype=object)
    return np.zeros_like(x)


@kernel("OnesLike")
def ones_like(node, inputs, ctx):
    return np.ones_like(inputs[0])


@kernel("Switch", "RefSwitch")
def switch(node, inputs, ctx):
    return [DEAD, inputs[0]] if _truth(node, inputs[1]) else [inputs[0], DEAD]


@kernel("Merge", "RefMerge")
def merge(node, inputs, ctx):
    for k, v in enumerate(inputs):
        if v is not DEAD:
            return [v, np.array(k, np.int32)]
    return [DEAD, DEAD]
