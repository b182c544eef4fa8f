"""Softmax cross-entropy with its gradient output, by plain ONNX ops.

ONNX SoftmaxCrossEntropyLoss gives the loss only; TensorFlow's ops also return
backprop = softmax(logits) - labels. Semantics: graph/ops/losses.py (tensorflow/tensorflow
tensorflow/core/kernels/xent_op.cc, sparse_xent_op.cc): logits shifted by their row
maximum, half precision computed in float32 and rounded once.
"""

from __future__ import annotations

import numpy as np

from savedmodel_io.onnx._graph import ExportError, Graph, Val
from savedmodel_io.onnx.ops._registry import converter
from savedmodel_io.onnx.ops._util import cast, dim_of, need_rank, reduce, unsqueeze


def _compute(x: Val) -> np.dtype:
    return np.dtype(np.float64) if x.dtype == np.float64 else np.dtype(np.float32)


def _shifted(g: Graph, x: Val) -> tuple[Val, Val]:
    """(x - row max, log of the row sums of exp of that), for [batch, classes] logits."""
    shifted = g.op1("Sub", x, reduce(g, "ReduceMax", x, [1], True))
    log_sum = g.op1("Log", reduce(g, "ReduceSum", g.op1("Exp", shifted), [1], True))
    return shifted, log_sum


@converter("SoftmaxCrossEntropyWithLogits", onnx="ReduceMax, Exp, ReduceSum, Log, Sub, Mul")
def softmax_cross_entropy(cx, node, ins):
    g = cx.g
    logits, labels = ins
    dt = logits.dtype
    if max(need_rank(logits, "logits"), need_rank(labels, "labels")) != 2:
        raise ExportError("logits and labels must be 2-D, or broadcast to 2-D")
    ct = _compute(logits)
    x, y = cast(g, logits, ct), cast(g, labels, ct)
    if x.shape != y.shape or any(not isinstance(d, int) for d in x.shape):
        # Each broadcast against the other's shape: both become the common [batch, classes].
        x, y = g.op1("Expand", x, g.op1("Shape", y)), g.op1("Expand", y, g.op1("Shape", x))
    shifted, log_sum = _shifted(g, x)
    loss = reduce(g, "ReduceSum", g.op1("Mul", y, g.op1("Sub", log_sum, shifted)), [1], False)
    grad = g.op1("Sub", g.op1("Exp", g.op1("Sub", shifted, log_sum)), y)
    return [cast(g, loss, dt), cast(g, grad, dt)]


@converter("SparseSoftmaxCrossEntropyWithLogits", onnx="ReduceMax, Exp, ReduceSum, Log, GatherElements, Equal")
def sparse_softmax_cross_entropy(cx, node, ins):
    """Labels outside [0, classes) raise in TensorFlow; the ONNX graph cannot raise (a model TF runs has none)."""
    g = cx.g
    logits, labels = ins
    dt = logits.dtype
    if need_rank(logits, "logits") != 2 or need_rank(labels, "labels") != 1:
        raise ExportError("logits must be 2-D and labels 1-D")
    x = cast(g, logits, _compute(logits))
    shifted, log_sum = _shifted(g, x)
    idx = unsqueeze(g, cast(g, labels, np.int64), [1])
    picked = g.op1("GatherElements", shifted, idx, axis=1)
    loss = g.op1("Sub", log_sum, picked)
    classes = g.op1("Range", g.const(np.asarray(0, np.int64)), g.op1("Squeeze", dim_of(g, x, 1)),
                    g.const(np.asarray(1, np.int64)))
    onehot = cast(g, g.op1("Equal", idx, classes), x.dtype)
    grad = g.op1("Sub", g.op1("Exp", g.op1("Sub", shifted, log_sum)), onehot)
    return [cast(g, g.op1("Squeeze", loss, g.const(np.asarray([1], np.int64))), dt), cast(g, grad, dt)]
