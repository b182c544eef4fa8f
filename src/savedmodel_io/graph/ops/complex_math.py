"""Complex numbers: Complex, Real, Imag, Conj, ComplexAbs, Angle (outputs typed by Tout)."""

from __future__ import annotations

import numpy as np

from savedmodel_io.graph.ops._registry import kernel
from savedmodel_io.graph.ops._util import bad, np_dtype
from savedmodel_io.graph.ops.tensorlist import TensorList


@kernel("Complex")
def complex_(node, inputs, ctx):
    """real + i*imag, broadcasting like any binary op."""
    re, im = np.asarray(inputs[0]), np.asarray(inputs[1])
    try:
        shape = np.broadcast_shapes(re.shape, im.shape)
    except ValueError:
        raise bad(node, f"Incompatible shapes: {list(re.shape)} vs. {list(im.shape)}") from None
    out = np.empty(shape, np_dtype(node.attr["Tout"]))
    out.real, out.imag = re, im
    return out


@kernel("Real", "Imag", "ComplexAbs", "Angle")
def complex_part(node, inputs, ctx):
    x = np.asarray(inputs[0])
    fn = {"Real": np.real, "Imag": np.imag, "ComplexAbs": np.abs, "Angle": np.angle}[node.op]
    with np.errstate(all="ignore"):
        return np.asarray(fn(x)).astype(np_dtype(node.attr["Tout"]))


@kernel("Conj")
def conj(node, inputs, ctx):
    """Complex conjugate; on a variant, of every element of the TensorList it holds."""
    # tensorflow/tensorflow tensorflow/core/kernels/cwise_op_conj.cc: the variant case dispatches
    # to the variant's registered CONJ_VARIANT_UNARY_OP (TensorList registers one).
    x = inputs[0]
    if isinstance(x, TensorList):
        return TensorList([None if v is None else np.conj(v) for v in x.items], x.dtype, x.shape)
    x = np.asarray(x)
    if x.dtype == object:
        raise bad(node, "Conj: no conjugation is registered for this variant")
    return np.conj(x)
