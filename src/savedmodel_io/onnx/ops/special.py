"""Special functions: Xlog1py maps; the gamma/Bessel/zeta family has no ONNX operator.

Semantics: the numpy kernels (graph/ops/special.py): ``xlog1py(x, y)`` is 0 where x is 0,
else ``x * log1p(y)``.
"""

from __future__ import annotations

from savedmodel_io.onnx.ops._registry import converter, inexpressible
from savedmodel_io.onnx.ops._util import scalar
from savedmodel_io.onnx.ops.math import align


@converter("Xlog1py", onnx="Add, Log, Mul, Equal, Where", layout=True)
def xlog1py(cx, node, ins):
    g = cx.g
    x, y = align(g, ins[0], ins[1])
    log1p = g.op1("Log", g.op1("Add", y, scalar(g, 1, y.dtype)))
    zero = scalar(g, 0, x.dtype)
    out = g.op1("Where", g.op1("Equal", x, zero), zero, g.op1("Mul", x, log1p))
    out.perm = x.perm
    return out


inexpressible("special function: ONNX has no operator for it (nor for the gamma function it is built on)",
              "Lgamma", "Digamma", "Polygamma", "Igamma", "Igammac", "Betainc", "Zeta", "Erfinv", "Ndtri",
              "Dawsn", "Expint", "FresnelCos", "FresnelSin", "Spence", "BesselI0", "BesselI0e", "BesselI1",
              "BesselI1e", "BesselJ0", "BesselJ1", "BesselK0", "BesselK0e", "BesselK1", "BesselK1e", "BesselY0",
              "BesselY1")
