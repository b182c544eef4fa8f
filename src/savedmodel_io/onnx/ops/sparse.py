"""Sparse tensors, CSR matrices, sets, feature crosses and sparse counts: why they do not map.

ONNX has dense tensors only; the numpy kernels (graph/ops/sparse*.py, sets.py, cross.py,
ragged.py) keep SparseTensors as (indices, values, dense_shape) triples whose
sizes depend on the data, or as variant/string handles ONNX cannot hold.
"""

from __future__ import annotations

from savedmodel_io.onnx.ops._registry import converter, inexpressible
from savedmodel_io.onnx.ops._util import cast, i64, scalar, working
from savedmodel_io.onnx.ops.math import matmul

BOOKKEEPING = ("sparse-tensor bookkeeping (sorting, merging or deduplicating indices into outputs whose "
               "sizes depend on the data): no cheap ONNX form")


@converter("SparseMatMul", onnx="MatMul")
def sparse_matmul(cx, node, ins):
    """A dense product with sparsity hints: the hints change speed only."""
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


inexpressible("not mapped yet: a sparse operand made dense (ONNX could express it with ScatterND)",
              "SparseTensorDenseAdd", "SparseReduceSum", "SparseReduceMax")
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
