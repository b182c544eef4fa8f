"""Rarer convolution and pooling ops: data-format maps map; the rest say why not (yet).

Semantics: the numpy kernels (graph/ops/conv_pool.py; tensorflow/tensorflow
tensorflow/core/kernels/data_format_ops.cc).
"""

from __future__ import annotations

import numpy as np

from savedmodel_io.onnx._graph import ExportError
from savedmodel_io.onnx.ops._registry import converter, inexpressible
from savedmodel_io.onnx.ops._util import attr_text, need_rank, scalar


def _formats(node) -> tuple[str, str]:
    src, dst = attr_text(node, "src_format", "NHWC"), attr_text(node, "dst_format", "NCHW")
    if len(src) != len(dst) or sorted(src) != sorted(dst) or len(set(src)) != len(src):
        raise ExportError(f"formats {src!r} and {dst!r} do not determine a permutation")
    return src, dst


@converter("DataFormatDimMap", onnx="Mod, Gather")
def dim_map(cx, node, ins):
    g, x = cx.g, ins[0]
    src, dst = _formats(node)
    table = g.const(np.asarray([dst.index(ch) for ch in src], x.dtype))
    return g.op1("Gather", table, g.op1("Mod", x, scalar(g, len(src), x.dtype), fmod=0), axis=0)


@converter("DataFormatVecPermute", onnx="Gather")
def vec_permute(cx, node, ins):
    g, x = cx.g, ins[0]
    src, dst = _formats(node)
    need_rank(x)
    n = x.shape[0]
    if n == 2:
        src, dst = "".join(c for c in src if c in "HW"), "".join(c for c in dst if c in "HW")
    if not isinstance(n, int) or len(src) != n:
        raise ExportError("DataFormatVecPermute needs a first dimension of 2 or 4 known before running")
    return g.op1("Gather", x, g.const(np.asarray([src.index(c) for c in dst], np.int64)), axis=0)


inexpressible("not mapped yet: Conv2DBackpropInputV2 and depthwise input gradients (ONNX ConvTranspose "
              "could express them)", "Conv2DBackpropInputV2", "DepthwiseConv2dNativeBackpropInput")
inexpressible("not mapped yet: the generic Conv op (batch dimensions, groups) and the fused pad/resize "
              "convolutions of TF's graph transforms (ONNX Pad, Resize and Conv could express them)",
              "Conv", "FusedPadConv2D", "FusedResizeAndPadConv2D")
inexpressible("grayscale morphological dilation: no ONNX operator", "Dilation2D")
inexpressible("ONNX MaxPool's indices count positions in NCHW order, TensorFlow's in NHWC: not mapped yet",
              "MaxPoolWithArgmax")
inexpressible("grayscale morphological dilation and its gradient: no ONNX operator", "Dilation2DBackpropInput")
