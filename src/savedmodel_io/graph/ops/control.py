"""Graph plumbing and functional control flow: Const, Identity, calls, If, While, Case."""

from __future__ import annotations

import itertools
import sys
import time
from typing import Any

import numpy as np

from savedmodel_io.errors import InvalidArgumentError, RuntimeFailure
from savedmodel_io.graph.dataflow import DEAD
from savedmodel_io.graph.ops._registry import kernel
from savedmodel_io.graph.ops._util import bad, check_size, np_dtype


@kernel("Const")
def const(node, inputs, ctx):
    return node.attr["value"]


@kernel("Placeholder")
def placeholder(node, inputs, ctx):
    raise InvalidArgumentError(f"placeholder {node.name!r} needs a value and none was fed",
                               where=node.where)


@kernel("PlaceholderWithDefault", "Identity", "StopGradient", "PreventGradient", "Snapshot",
        "DebugIdentity", "DebugIdentityV2", "DebugIdentityV3", "RefIdentity",
        # TF1 loops (graph/frames.py): Enters become the loop body's arguments and the
        # loop feeds its Merges; these pass their value on.
        "Enter", "RefEnter", "Exit", "RefExit", "NextIteration", "RefNextIteration", "LoopCond")
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


@kernel("Print")
def print_v1(node, inputs, ctx):
    # tensorflow/tensorflow tensorflow/core/kernels/logging_ops.cc (PrintOp): the message,
    # then each data tensor as "[<summary>]", on stderr; first_n >= 0 prints only the first
    # first_n runs of this node (counted per session), and the input passes through.
    first_n = int(node.attr["first_n"])
    if first_n >= 0:
        key = ("print", node.body, node.name)
        done = ctx.session.resources.get(key, 0)
        ctx.session.resources[key] = done + 1
        if done >= first_n:
            return inputs[0]
    from savedmodel_io.graph.ops.strings import summarize_v1

    n = int(node.attr["summarize"])
    text = node.attr["message"].decode("utf-8", "replace")
    text += "".join("[" + summarize_v1(np.asarray(d), n) + "]" for d in inputs[1:])
    sys.stderr.write(text + "\n")
    return inputs[0]


@kernel("Timestamp")
def timestamp(node, inputs, ctx):
    """Seconds since the epoch, as a float64 scalar (tf.timestamp)."""
    return np.array(time.time(), np.float64)


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


@kernel("ControlTrigger")
def control_trigger(node, inputs, ctx):
    return []


@kernel("Abort")
def abort(node, inputs, ctx):
    # TensorFlow ends the process (with status 0 when exit_without_error); a library must not.
    msg = node.attr["error_msg"].decode("utf-8", "replace")
    raise RuntimeFailure(f"Abort_op intentional failure; {msg}", where=node.where)


@kernel("RefSelect")
def ref_select(node, inputs, ctx):
    i = int(np.asarray(inputs[0]))
    if not 0 <= i < len(inputs) - 1:
        raise bad(node, f"Index must be in the range [0, {len(inputs) - 1}) but got {i}")
    return inputs[1 + i]


@kernel("ToBool")
def to_bool(node, inputs, ctx):
    return np.array(_truth(node, inputs[0]))


@kernel("DeviceIndex")
def device_index(node, inputs, ctx):
    # The index of the running device's type among device_names (their count if absent).
    names = [n.decode() if isinstance(n, bytes) else str(n) for n in node.attr["device_names"]]
    return np.array(names.index("CPU") if "CPU" in names else len(names), np.int32)


@kernel("FakeParam")
def fake_param(node, inputs, ctx):
    # A stand-in TensorFlow never reads (an If branch's unused gradient output): any value does.
    shape = [d or 0 for d in (node.attr["shape"] or ())]
    dtype = np_dtype(node.attr["dtype"])
    check_size(node, shape, dtype.itemsize)
    return np.zeros(shape, dtype)


@kernel("For")
def for_(node, inputs, ctx):
    start, limit, delta = (int(np.asarray(v)) for v in inputs[:3])
    if not ((delta > 0 and start <= limit) or (delta < 0 and start >= limit)
            or (delta == 0 and start == limit)):
        raise bad(node, f"Invalid start/limit/delta: {start} {limit} {delta}")
    body = node.attr["body"].name
    state = list(inputs[3:])
    i, n = start, 0
    while (delta > 0 and i < limit) or (delta < 0 and i > limit):
        n += 1
        ctx.meter.iteration(n, node.where)
        state = ctx.call(body, [np.array(i, np.int32), *state], node.where)
        i += delta
    return state


@kernel("BatchFunction")
def batch_function(node, inputs, ctx):
    # One caller's batch, run as is: batching concurrent requests together does not change a
    # request's own results (TensorFlow slices each caller's rows back out).
    n = len(node.attr["Tin"])
    rows = {np.shape(x)[0] for x in inputs[:n] if np.ndim(x)}
    limit = int(node.attr["max_batch_size"])
    if rows and max(rows) > limit and not node.attr["enable_large_batch_splitting"]:
        raise bad(node, f"Task size {max(rows)} is larger than maximum input batch size {limit}")
    return ctx.call(node.attr["f"].name, list(inputs), node.where)


@kernel("Batch")
def batch(node, inputs, ctx):
    # A batch of this caller's tensors alone: its rows [0, n) under a fresh id.
    tensors = [np.asarray(x) for x in inputs]
    rows = tensors[0].shape[0] if tensors and tensors[0].ndim else 0
    ids = ctx.session.resources.setdefault(("Batch", "ids"), itertools.count(1))
    ident = np.int64(next(ids))
    return [*tensors, np.array([[ident, 0, rows]], np.int64), ident]


@kernel("Unbatch")
def unbatch(node, inputs, ctx):
    data, index, ident = np.asarray(inputs[0]), np.asarray(inputs[1]), int(np.asarray(inputs[2]))
    if index.ndim != 2 or index.shape[1] != 3:
        raise bad(node, f"batch_index must be a matrix of 3 columns, got shape {list(index.shape)}")
    for row in index:
        if int(row[0]) == ident:
            return data[int(row[1]):int(row[2])]
    raise bad(node, f"id {ident} is not in batch_index")
