"""CSR ops TensorFlow runs only on GPU (SparseMatrixAdd, Mul, Softmax, Zeros): checked against
dense numpy on our own CSR matrices (the CPU ones are compared with TF in test_sparse_models_tf)."""

from __future__ import annotations

import numpy as np
import pytest

from savedmodel_io.errors import InvalidArgumentError
from savedmodel_io.graph import ops
from savedmodel_io.graph.ops.sparse_matrix import CSRSparseMatrix
from savedmodel_io.graph.runtime import Node
from savedmodel_io.proto import DataType

F32 = DataType.DT_FLOAT


def run(op, *inputs, **attrs):
    node = Node("n", op, attrs, 0, "test")
    node.bind({})
    return ops.get(op).fn(node, list(inputs), None)


def csr(dense: np.ndarray) -> np.ndarray:
    idx = np.argwhere(dense != 0).astype(np.int64)
    return run("DenseToCSRSparseMatrix", dense, idx)


def to_dense(m) -> np.ndarray:
    return run("CSRSparseMatrixToDense", m, type=F32)


RS = np.random.RandomState(5)


def sparse(*shape) -> np.ndarray:
    v = RS.standard_normal(shape).astype(np.float32)
    v[RS.rand(*shape) < 0.5] = 0
    return v


@pytest.mark.parametrize("shape", [(4, 5), (3, 4, 5)])
def test_add_is_alpha_a_plus_beta_b_over_the_union(shape):
    a, b = sparse(*shape), sparse(*shape)
    c = run("SparseMatrixAdd", csr(a), csr(b), np.float32(2), np.float32(-0.5), T=F32)
    np.testing.assert_allclose(to_dense(c), 2 * a - 0.5 * b, rtol=1e-6)
    m = c[()]
    assert isinstance(m, CSRSparseMatrix)
    assert int(m.batch_pointers[-1]) == int(((a != 0) | (b != 0)).sum())


def test_mul_by_scalar_and_per_batch():
    a = sparse(2, 3, 3)
    np.testing.assert_allclose(to_dense(run("SparseMatrixMul", csr(a), np.float32(3), T=F32)),
                               3 * a)
    per = np.float32([[[2]], [[-1]]])
    np.testing.assert_allclose(to_dense(run("SparseMatrixMul", csr(a), per, T=F32)), a * per)
    with pytest.raises(InvalidArgumentError):
        run("SparseMatrixMul", csr(a), np.float32([1, 2]), T=F32)


def test_softmax_over_each_rows_entries():
    a = sparse(4, 6)
    a[1] = 0  # an empty row stays empty
    out = to_dense(run("SparseMatrixSoftmax", csr(a), type=F32))
    for r in range(4):
        on = a[r] != 0
        if on.any():
            e = np.exp(a[r][on] - a[r][on].max())
            np.testing.assert_allclose(out[r][on], e / e.sum(), rtol=1e-6)
        assert (out[r][~on] == 0).all()


def test_zeros():
    m = run("SparseMatrixZeros", np.int64([2, 3, 4]), type=F32)
    assert to_dense(m).shape == (2, 3, 4) and not to_dense(m).any()
    assert run("SparseMatrixNNZ", m).tolist() == [0, 0]


def test_value_type_is_checked():
    with pytest.raises(InvalidArgumentError, match="type"):
        run("CSRSparseMatrixToDense", csr(sparse(2, 2)), type=DataType.DT_DOUBLE)
