"""Which ONNX ops onnxruntime's CPU provider runs on bfloat16 (measured), and what the exporter does
with the others: they compute in float32 between Casts (see ``Graph.op``).

``BF16_KERNELS`` is what ``tools/ort_bf16_kernels.py`` measured on onnxruntime 1.32.0 (onnx 1.23):
one one-node model per op and opset, bfloat16 wherever the op's schema allows it, loaded into an
InferenceSession on the CPU provider (a missing kernel is its NOT_IMPLEMENTED "Could not find an
implementation" at load). op -> (first, last) opset with a bfloat16 kernel, of the opsets 15-26
probed. Everything else (MatMul, Add, Relu, Where, Expand, Tile, reductions...) has none.
ONNX's sequence ops take no bfloat16 tensors at all (their schemas' ``S``), so TensorLists of
bfloat16 are held as float32 sequences (``onnx/ops/tensorlist.py``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

__all__ = ["BF16", "BF16_KERNELS", "EXACT", "has_bf16_kernel", "storage"]

try:
    import ml_dtypes

    BF16: np.dtype | None = np.dtype(ml_dtypes.bfloat16)
except ImportError:  # without ml_dtypes no bfloat16 value can exist
    BF16 = None

BF16_KERNELS: dict[str, tuple[int, int]] = {
    "Cast": (15, 26), "CastLike": (15, 26), "CenterCropPad": (21, 26), "Clip": (15, 26),
    "Concat": (15, 26), "ConstantOfShape": (15, 26), "Flatten": (15, 26), "Gather": (15, 26),
    "GatherElements": (15, 26), "GatherND": (15, 26), "Identity": (15, 26), "If": (15, 26),
    "IsInf": (20, 26), "IsNaN": (20, 26), "LayerNormalization": (17, 26), "Loop": (16, 26),
    "Pad": (21, 26), "ReduceLogSumExp": (18, 18), "Reshape": (15, 26), "ScatterElements": (15, 26),
    "ScatterND": (15, 26), "Shape": (15, 26), "Sign": (15, 26), "Slice": (15, 26), "Split": (15, 26),
    "Squeeze": (15, 26), "TensorScatter": (24, 26), "Transpose": (15, 26), "Unsqueeze": (15, 26),
}

# Ops without a bfloat16 kernel whose float32 results on bfloat16 inputs are bfloat16 values already
# (they select, move or negate elements, or round them to integers): the Cast back to bfloat16 is
# exact, so a later op that computes in float32 reads the float32 result itself, with no
# bfloat16 -> float32 Cast in between.
EXACT = frozenset({
    "Expand", "Tile", "Where", "DepthToSpace", "SpaceToDepth", "Max", "Min", "ReduceMax", "ReduceMin",
    "TopK", "Compress", "Neg", "Abs", "Relu", "Floor", "Ceil", "Round", "Trilu", "ReverseSequence",
    "Pad", "MaxPool", "Unique", "Transpose", "Reshape", "Gather", "Slice", "Concat", "Squeeze",
    "Unsqueeze", "Identity", "Flatten", "GatherElements", "GatherND", "Split",
})

# Ops never routed through float32: control flow carries any type, and a Cast is the route itself.
_PASS = frozenset({"If", "Loop", "Scan", "Cast", "CastLike", "Identity"})
# Ops that put tensors into sequences: always given float32 for bfloat16 (no sequence op takes a
# sequence of bfloat16, though onnxruntime has a bfloat16 SplitToSequence).
_INTO_SEQUENCES = frozenset({"SequenceInsert", "SequenceConstruct", "SplitToSequence"})


# Scatters whose bfloat16 kernel refuses a reduction at run time ("BFloat16 data type is not supported
# with ScatterND opset 16 when reduction is 'add'", onnxruntime 1.32): those compute in float32.
_REDUCING = frozenset({"ScatterND", "ScatterElements"})


def storage(dtype: np.dtype) -> np.dtype:
    """The element type a sequence of ``dtype`` tensors holds (float32 for bfloat16)."""
    return np.dtype(np.float32) if BF16 is not None and dtype == BF16 else dtype


def has_bf16_kernel(op_type: str, opset: int, attrs: Mapping[str, Any] | None = None) -> bool:
    """Whether onnxruntime's CPU provider runs ``op_type`` of ``opset`` (with ``attrs``) on bfloat16."""
    if op_type in _REDUCING and (attrs or {}).get("reduction") not in (None, "none"):
        return False
    if op_type in _PASS:
        return True
    if op_type in _INTO_SEQUENCES:
        return False
    span = BF16_KERNELS.get(op_type)
    return span is not None and span[0] <= opset <= span[1]
