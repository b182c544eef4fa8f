"""Sparse tensors with dense results map through scatters; CSR matrices, sets, feature crosses
and sparse outputs say why they do not.

ONNX has dense tensors only; the numpy kernels (graph/ops/sparse*.py, sets.py, cross.py,
ragged.py) keep SparseTensors as (indices, values, dense_shape) triples whose
sizes depend on the data, or as variant/string handles ONNX cannot hold.
"""

from __future__ import annotations

import numpy as np

from savedmodel_io.onnx._graph import ExportError
from savedmodel_io.onnx.ops._registry import converter, inexpressible
from savedmodel_io.onnx.ops._util import cast, const_ints, i64, is_float, scalar, working
from savedmodel_io.onnx.ops.math import matmul

BOOKKEEPING = ("sparse-tensor bookkeeping (sorting, merging or deduplicating indices into outputs whose "
               "sizes depend on the data): no cheap ONNX form")


@converter("SparseMatMul", onnx="MatMul")
def sparse_matmul(cx, node, ins):
    """A dense product with sparsity hints: the hints change speed only. bfloat16 operands give
    float32 products (TensorFlow's Ta/Tb), computed in float32 (exact widening)."""
    ins = [cx.g.widened(v) if v.kind == "tensor" and v.dtype is not None and v.dtype.name == "bfloat16" else v
           for v in ins]
    return matmul(cx, node, ins)


inexpressible(BOOKKEEPING, "SparseAdd", "SparseConcat", "SparseFillEmptyRows", "SparseReorder", "SparseReshape",
              "SparseSlice", "SparseSoftmax", "SparseSparseMaximum", "SparseSparseMinimum", "SparseSplit",
              "SparseReduceMaxSparse", "SparseReduceSumSparse", "EditDistance", "RaggedFillEmptyRows",
              "RaggedTensorToSparse", "RaggedGather", "RaggedRange")
@converter("SparseDenseCwiseAdd", "SparseDenseCwiseMul", "SparseDenseCwiseDiv", onnx="Expand, GatherND, Add/Mul/Div")
def sparse_dense_cwise(cx, node, ins):
    """sp_values op dense[index], the dense operand broadcast to the sparse shape (integers: C division)."""
    g = cx.g
    indices, values, shape, dense = ins
    picked = g.op1("GatherND", g.op1("Expand", dense, i64(g, shape)), i64(g, indices))
    return g.op1(node.op[len("SparseDenseCwise"):], values, picked)


@converter("SparseTensorDenseMatMul", onnx="ScatterND(reduction=add), MatMul")
def sparse_tensor_dense_matmul(cx, node, ins):
    """op(A) @ op(B) with A made dense (repeated indices add up, as TensorFlow's kernel does)."""
    g = cx.g
    indices, values, shape, b = ins
    wide = working(g, values)
    zeros = g.op1("Expand", scalar(g, 0, wide.dtype), i64(g, shape))
    a = cast(g, g.op1("ScatterND", zeros, i64(g, indices), wide, reduction="add"), values.dtype)
    if node.attr.get("adjoint_a"):
        a = g.op1("Transpose", a, perm=[1, 0])
    if node.attr.get("adjoint_b"):
        b = g.op1("Transpose", b, perm=[1, 0])
    return g.op1("MatMul", a, b)


@converter("SparseTensorDenseAdd", onnx="ScatterND(reduction=add)")
def sparse_tensor_dense_add(cx, node, ins):
    """b plus the sparse entries (repeated indices add up)."""
    g = cx.g
    if cx.opset < 16:
        raise ExportError("SparseTensorDenseAdd needs ONNX opset 16 (ScatterND reductions)")
    indices, values, _, b = ins
    wide = working(g, b)
    return cast(g, g.op1("ScatterND", wide, i64(g, indices), cast(g, values, wide.dtype), reduction="add"), b.dtype)


@converter("SparseReduceSum", "SparseReduceMax", onnx="Gather, ScatterND(reduction=add/max), Where")
def sparse_reduce(cx, node, ins):
    """The entries scattered straight into the kept dims (sum, or max over the stored values with
    zero where none falls), then laid out with or without the reduced dims."""
    g = cx.g
    if cx.opset < 18:
        raise ExportError("sparse reductions need ONNX opset 18 (ScatterND reductions)")
    indices, values, shape, axes_v = ins
    wide = working(g, values)
    dt = wide.dtype
    rank = shape.shape[0] if shape.shape else None
    if not isinstance(rank, int):
        raise ExportError("the rank of the sparse input is not known before running")
    axes = const_ints(axes_v, "the reduction axes")
    if any(not -rank <= a < rank for a in axes):
        raise ExportError(f"reduction axes {axes} are out of range for rank {rank}")
    if rank == 0:
        raise ExportError("a rank-0 sparse tensor")
    reduced = sorted({a % rank for a in axes})
    kept = [d for d in range(rank) if d not in reduced]
    dims = i64(g, shape)
    if kept:
        cols = g.const(np.asarray(kept, np.int64))
        idx, table = g.op1("Gather", i64(g, indices), cols, axis=1), g.op1("Gather", dims, cols, axis=0)
    else:  # everything reduced: one group, a [1] table every entry goes to
        first = g.op1("Gather", i64(g, indices), g.const(np.asarray([0], np.int64)), axis=1)
        idx, table = g.op1("Mul", first, scalar(g, 0, np.int64)), g.const(np.asarray([1], np.int64))
    if node.op == "SparseReduceSum":
        out = g.op1("ScatterND", g.op1("Expand", scalar(g, 0, dt), table), idx, wide, reduction="add")
    else:
        low = -np.inf if is_float(dt) else np.iinfo(dt).min
        best = g.op1("ScatterND", g.op1("Expand", scalar(g, low, dt), table), idx, wide, reduction="max")
        count = g.op1("ScatterND", g.op1("Expand", scalar(g, 0, np.int64), table), idx,
                      g.op1("Expand", scalar(g, 1, np.int64), g.op1("Shape", wide)), reduction="add")
        out = g.op1("Where", g.op1("Equal", count, scalar(g, 0, np.int64)), scalar(g, 0, dt), best)
    out = cast(g, out, values.dtype)
    if node.attr.get("keep_dims"):
        # The dense shape with each reduced dim 1.
        ones = g.op1("Concat", dims, g.const(np.asarray([1], np.int64)), axis=0)
        pick = g.const(np.asarray([rank if d in reduced else d for d in range(rank)], np.int64))
        return g.op1("Reshape", out, g.op1("Gather", ones, pick, axis=0))
    return out if kept else g.op1("Reshape", out, g.const(np.zeros(0, np.int64)))
inexpressible("CSR sparse matrices are variant tensors: ONNX has no such type", "CSRSparseMatrixComponents",
              "CSRSparseMatrixToDense", "CSRSparseMatrixToSparseTensor", "DenseToCSRSparseMatrix", "SparseMatrixAdd",
              "SparseMatrixMatMul", "SparseMatrixMul", "SparseMatrixNNZ", "SparseMatrixSoftmax",
              "SparseMatrixSparseCholesky", "SparseMatrixSparseMatMul", "SparseMatrixTranspose", "SparseMatrixZeros",
              "SparseTensorToCSRSparseMatrix")
inexpressible("AMD ordering of a CSR matrix (a variant tensor) is a graph algorithm with data-dependent loops: "
              "no ONNX operator", "SparseMatrixOrderingAMD")
inexpressible("ragged variants are variant tensors: ONNX has no such type", "RaggedTensorToVariant",
              "RaggedTensorFromVariant")
inexpressible("serialized SparseTensors (TensorProto strings) or the session's SparseTensorsMap: no ONNX form",
              "AddManySparseToTensorsMap", "AddSparseToTensorsMap", "TakeManySparseFromTensorsMap",
              "SerializeSparse", "SerializeManySparse", "DeserializeSparse", "DeserializeManySparse")
inexpressible("set operations give sparse results whose sizes depend on the data: no cheap ONNX form",
              "DenseToDenseSetOperation", "DenseToSparseSetOperation", "SparseToSparseSetOperation", "SetSize")
inexpressible("feature crosses concatenate and FarmHash strings of sparse columns: no ONNX operator",
              "SparseCross", "SparseCrossHashed", "SparseCrossV2", "RaggedCross")
