"""Linear algebra: determinants (ONNX Det) and cross products; decompositions and solves have no ONNX form.

Semantics: the numpy kernels (graph/ops/linalg.py; tensorflow/tensorflow
tensorflow/core/kernels/linalg/determinant_op.cc, cross_op.cc); ONNX Det takes [..., M, M].
"""

from __future__ import annotations

import numpy as np

from savedmodel_io.onnx._graph import ExportError
from savedmodel_io.onnx.ops._registry import converter, inexpressible
from savedmodel_io.onnx.ops._util import cast


@converter("MatrixDeterminant", "BatchMatrixDeterminant", onnx="Det")
def determinant(cx, node, ins):
    g, x = cx.g, ins[0]
    if x.dtype.kind != "f":
        raise ExportError("ONNX Det takes real floating-point matrices")
    if x.dtype == np.float64:
        raise ExportError("onnxruntime's Det has float32 kernels only (float64 would lose precision)")
    if x.dtype == np.float16:  # onnxruntime's Det has float32 kernels only
        return cast(g, g.op1("Det", cast(g, x, np.float32)), np.float16)
    return g.op1("Det", x)


@converter("Cross", onnx="Gather, Mul, Sub")
def cross(cx, node, ins):
    g = cx.g
    a, b = ins
    # a x b = a[1,2,0] * b[2,0,1] - a[2,0,1] * b[1,2,0] over the last axis.
    p, q = g.const(np.asarray([1, 2, 0], np.int64)), g.const(np.asarray([2, 0, 1], np.int64))
    left = g.op1("Mul", g.op1("Gather", a, p, axis=-1), g.op1("Gather", b, q, axis=-1))
    right = g.op1("Mul", g.op1("Gather", a, q, axis=-1), g.op1("Gather", b, p, axis=-1))
    return g.op1("Sub", left, right)


inexpressible("matrix decompositions and solves: ONNX has no such operator (its only matrix function is Det)",
              "Cholesky", "BatchCholesky", "Qr", "Svd", "BatchSvd", "Eig", "SelfAdjointEig", "SelfAdjointEigV2",
              "BatchSelfAdjointEig", "BatchSelfAdjointEigV2", "Lu", "MatrixInverse", "BatchMatrixInverse",
              "MatrixSolve", "BatchMatrixSolve", "MatrixSolveLs", "BatchMatrixSolveLs", "MatrixTriangularSolve",
              "BatchMatrixTriangularSolve", "BandedTriangularSolve", "TridiagonalSolve", "MatrixExponential",
              "MatrixLogarithm", "MatrixSquareRoot", "LogMatrixDeterminant")
inexpressible("not mapped yet: diagonal extraction and replacement (ONNX could express it with Range, "
              "Equal, Where and ReduceSum)", "Diag", "DiagPart", "MatrixDiagPart", "MatrixDiagPartV2",
              "MatrixDiagPartV3", "BatchMatrixDiagPart", "MatrixSetDiag", "MatrixSetDiagV2", "MatrixSetDiagV3",
              "BatchMatrixSetDiag")
inexpressible("not mapped yet: a tridiagonal product (ONNX could express it with Pad, Slice, Mul, Add)",
              "TridiagonalMatMul")
