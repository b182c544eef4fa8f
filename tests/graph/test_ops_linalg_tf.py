"""Linear-algebra kernels against ``tf.raw_ops`` (differential test, see raw_ops_harness).

Decompositions TF computes only up to signs or phases (Svd's u/v, Eig's and SelfAdjointEigV2's
vectors) compare the unique outputs here and their invariants in ``test_invariants``.
"""

from __future__ import annotations

import base64

import numpy as np
import pytest

from .raw_ops_harness import DT, Cases, i32, run_ours
from _oracles.codec import decode

CASES = Cases(seed=4101)
add = CASES.add
RS = CASES.rs
f32 = CASES.f32

FLOATS = ("float32", "float64")
ALL = ("float32", "float64", "complex64", "complex128")


def arr(dtype: str, *shape: int) -> np.ndarray:
    """Standard-normal values of a float or complex dtype."""
    x = RS.standard_normal(shape)
    if dtype.startswith("complex"):
        x = x + 1j * RS.standard_normal(shape)
    return x.astype(dtype)


def spd(dtype: str, *shape: int) -> np.ndarray:
    """Well-conditioned Hermitian positive-definite matrices."""
    a = arr(dtype, *shape)
    n = shape[-1]
    return (a @ np.conj(np.swapaxes(a, -1, -2)) + n * np.eye(n)).astype(dtype)


def well(dtype: str, *shape: int) -> np.ndarray:
    """Well-conditioned square matrices (diagonally dominant)."""
    return (arr(dtype, *shape) + 4 * np.eye(shape[-1])).astype(dtype)


def _diagonals() -> None:
    """MatrixDiag / DiagPart / SetDiag V1-V3, Diag, DiagPart, band edge cases."""
    m = f32(2, 4, 5)
    for align in ("LEFT_LEFT", "LEFT_RIGHT", "RIGHT_LEFT", "RIGHT_RIGHT"):
        add("MatrixDiagPartV3", f"band_{align}", {"align": align}, input=m, k=i32(-2, 1),
            padding_value=np.float32(9))
        add("MatrixDiagV3", f"band_{align}", {"align": align}, diagonal=f32(2, 3, 4),
            k=i32(-1, 1), num_rows=np.int32(-1), num_cols=np.int32(-1),
            padding_value=np.float32(0))
        add("MatrixSetDiagV3", f"band_{align}", {"align": align}, input=m,
            diagonal=f32(2, 3, 4), k=i32(-1, 1))
        add("MatrixDiagPartV3", f"super_{align}", {"align": align}, input=m, k=i32(1, 3),
            padding_value=np.float32(-1))
        add("MatrixDiagPartV3", f"sub_{align}", {"align": align}, input=f32(5, 3), k=i32(-3, -1),
            padding_value=np.float32(-1))
    add("MatrixDiagPart", "v1", input=m)
    add("MatrixDiagPart", "int32", input=np.arange(24, dtype=np.int32).reshape(2, 3, 4))
    add("MatrixDiagPart", "rank1", input=f32(3))
    add("MatrixDiagPartV2", "scalar_k", input=m, k=np.int32(2), padding_value=np.float32(0))
    add("MatrixDiagPartV2", "band", input=m, k=i32(-1, 2), padding_value=np.float32(7))
    add("MatrixDiagPartV3", "k_oob", input=m, k=np.int32(5), padding_value=np.float32(0))
    add("MatrixDiagPartV3", "k_low_oob", input=m, k=np.int32(-4), padding_value=np.float32(0))
    add("MatrixDiagPartV3", "k_reversed", input=m, k=i32(2, 1), padding_value=np.float32(0))
    add("MatrixDiagPartV3", "k_three", input=m, k=i32(0, 1, 2), padding_value=np.float32(0))
    add("MatrixDiagPartV3", "k_matrix", input=m, k=i32([0, 1]), padding_value=np.float32(0))
    add("MatrixDiagPartV3", "empty", input=np.zeros((2, 0, 0), np.float32), k=np.int32(0),
        padding_value=np.float32(0))
    add("MatrixDiagPartV3", "complex", input=arr("complex64", 3, 3), k=i32(-1, 0),
        padding_value=np.complex64(1j))
    add("MatrixDiagPartV3", "bool", input=RS.rand(3, 4) > 0.5, k=i32(0, 1),
        padding_value=np.array(True))
    add("MatrixDiag", "v1", diagonal=f32(2, 3))
    add("MatrixDiag", "rank0", diagonal=np.float32(1))
    add("MatrixDiagV2", "rect", diagonal=f32(3), k=np.int32(1), num_rows=np.int32(3),
        num_cols=np.int32(5), padding_value=np.float32(-2))
    add("MatrixDiagV3", "rows_only", diagonal=f32(3), k=np.int32(-1), num_rows=np.int32(-1),
        num_cols=np.int32(3), padding_value=np.float32(0))
    add("MatrixDiagV3", "too_small", diagonal=f32(3), k=np.int32(1), num_rows=np.int32(2),
        num_cols=np.int32(-1), padding_value=np.float32(0))
    add("MatrixDiagV3", "inconsistent", diagonal=f32(3), k=np.int32(0), num_rows=np.int32(5),
        num_cols=np.int32(6), padding_value=np.float32(0))
    add("MatrixDiagV3", "wrong_count", diagonal=f32(2, 3), k=i32(0, 2), num_rows=np.int32(-1),
        num_cols=np.int32(-1), padding_value=np.float32(0))
    add("MatrixDiagV3", "int64", diagonal=np.arange(6, dtype=np.int64).reshape(2, 3),
        k=i32(0, 1), num_rows=np.int32(-1), num_cols=np.int32(-1),
        padding_value=np.int64(-1))
    add("MatrixSetDiag", "v1", input=m, diagonal=f32(2, 4))
    add("MatrixSetDiag", "bad_shape", input=m, diagonal=f32(2, 5))
    add("MatrixSetDiagV2", "scalar_k", input=m, diagonal=f32(2, 3), k=np.int32(2))
    add("MatrixSetDiagV3", "empty_k", input=m, diagonal=f32(2, 4), k=np.zeros(0, np.int32))
    add("MatrixSetDiagV3", "k_oob", input=m, diagonal=f32(2, 4), k=np.int32(7))
    add("MatrixSetDiagV3", "wrong_count", input=m, diagonal=f32(2, 2, 4), k=i32(0, 2))
    add("MatrixSetDiagV3", "uint8", input=np.zeros((3, 3), np.uint8),
        diagonal=np.uint8([[1, 2], [3, 4]]), k=i32(1, 2))
    add("MatrixSetDiagV3", "float16", input=f32(3, 3).astype(np.float16),
        diagonal=f32(3).astype(np.float16), k=np.int32(0))
    for width in ((0, 0), (-1, 0), (0, -1), (2, 1), (6, 0)):
        add("MatrixBandPart", f"int_{width[0]}_{width[1]}",
            input=np.arange(20, dtype=np.int32).reshape(4, 5), num_lower=np.int64(width[0]),
            num_upper=np.int64(width[1]))
    add("MatrixBandPart", "complex", input=arr("complex128", 2, 3, 3), num_lower=np.int64(0),
        num_upper=np.int64(1))
    add("Diag", "vector", diagonal=f32(4))
    add("Diag", "matrix", diagonal=np.arange(6, dtype=np.int32).reshape(2, 3))
    add("Diag", "complex", diagonal=arr("complex64", 3))
    add("Diag", "scalar", diagonal=np.float32(2))
    add("DiagPart", "matrix", input=f32(3, 3))
    add("DiagPart", "rank4", input=f32(2, 3, 2, 3))
    add("DiagPart", "odd", input=f32(2, 3, 2))
    add("DiagPart", "mismatch", input=f32(2, 3))
    add("Cross", "basic", a=f32(4, 3), b=f32(4, 3))
    add("Cross", "int32", a=i32([1, 2, 3], [-4, 5, 6]), b=i32([7, -8, 9], [1, 0, -1]))
    add("Cross", "float64", a=arr("float64", 2, 2, 3), b=arr("float64", 2, 2, 3))
    add("Cross", "not3", a=f32(2, 4), b=f32(2, 4))
    add("Cross", "shape", a=f32(2, 3), b=f32(3, 3))


def _factorizations() -> None:
    """Cholesky, determinants, inverses, solves, Lu, Qr and the unique parts of Svd / Eig."""
    for dt in ALL:
        add("Cholesky", dt, input=spd(dt, 2, 4, 4), rtol=1e-4)
        add("MatrixDeterminant", dt, input=arr(dt, 3, 4, 4), rtol=1e-4)
        add("LogMatrixDeterminant", dt, input=arr(dt, 3, 4, 4), rtol=1e-4)
        add("MatrixInverse", dt, input=well(dt, 2, 3, 3), rtol=1e-4)
        add("MatrixInverse", f"{dt}_adjoint", {"adjoint": True}, input=well(dt, 3, 3), rtol=1e-4)
        add("MatrixSolve", dt, matrix=well(dt, 2, 4, 4), rhs=arr(dt, 2, 4, 3), rtol=1e-4)
        add("MatrixSolve", f"{dt}_adjoint", {"adjoint": True}, matrix=well(dt, 4, 4),
            rhs=arr(dt, 4, 2), rtol=1e-4)
        add("MatrixSolveLs", f"{dt}_over", matrix=arr(dt, 6, 3), rhs=arr(dt, 6, 2),
            l2_regularizer=np.float64(0), rtol=1e-3)
        add("MatrixSolveLs", f"{dt}_under", matrix=arr(dt, 2, 5), rhs=arr(dt, 2, 2),
            l2_regularizer=np.float64(0.5), rtol=1e-3)
        add("MatrixSolveLs", f"{dt}_slow", {"fast": False}, matrix=arr(dt, 2, 6, 3),
            rhs=arr(dt, 2, 6, 2), l2_regularizer=np.float64(0), rtol=1e-3)
        for lower in (True, False):
            for adjoint in (False, True):
                add("MatrixTriangularSolve", f"{dt}_{lower}_{adjoint}",
                    {"lower": lower, "adjoint": adjoint}, matrix=well(dt, 2, 4, 4),
                    rhs=arr(dt, 2, 4, 3), rtol=1e-4)
                add("BandedTriangularSolve", f"{dt}_{lower}_{adjoint}",
                    {"lower": lower, "adjoint": adjoint},
                    matrix=(arr(dt, 2, 3, 5) + np.array([[4], [0], [0]] if lower else
                                                        [[0], [0], [4]])).astype(dt),
                    rhs=arr(dt, 2, 5, 2), rtol=1e-4)
        add("Lu", dt, input=well(dt, 2, 4, 4), rtol=1e-4)
        add("Qr", dt, input=arr(dt, 2, 5, 3), rtol=1e-4)
        add("Qr", f"{dt}_wide_full", {"full_matrices": True}, input=arr(dt, 3, 5), rtol=1e-4)
        add("Qr", f"{dt}_tall_full", {"full_matrices": True}, input=arr(dt, 5, 3), rtol=1e-4)
        # Outputs TF does not compute are uninitialized scalars: their dtype and shape compare.
        add("Svd", f"{dt}_values", {"compute_uv": False}, input=arr(dt, 2, 5, 3), only=(0,),
            rtol=1e-4)
        add("Svd", f"{dt}_values_spec", {"compute_uv": False}, input=arr(dt, 3, 2),
            spec_only=True)
        add("Svd", dt, input=arr(dt, 2, 3, 5), only=(0,), rtol=1e-4)
        add("SelfAdjointEigV2", dt, input=spd(dt, 2, 4, 4), only=(0,), rtol=1e-4)
        add("SelfAdjointEigV2", f"{dt}_values", {"compute_v": False}, input=arr(dt, 4, 4),
            only=(0,), rtol=1e-4)
        add("SelfAdjointEigV2", f"{dt}_values_spec", {"compute_v": False}, input=arr(dt, 3, 3),
            spec_only=True)
        add("Eig", f"{dt}_values_spec", {"compute_v": False, "Tout": DT(
            "complex128" if dt in ("float64", "complex128") else "complex64")},
            input=arr(dt, 3, 3), spec_only=True)
        add("MatrixSquareRoot", dt, input=spd(dt, 2, 3, 3), rtol=1e-4)
        add("MatrixSquareRoot", f"{dt}_general", input=well(dt, 3, 3), rtol=1e-4)
        add("TridiagonalMatMul", dt, superdiag=arr(dt, 2, 1, 5), maindiag=arr(dt, 2, 1, 5),
            subdiag=arr(dt, 2, 1, 5), rhs=arr(dt, 2, 5, 3))
        for pivot in (True, False):
            diags = arr(dt, 2, 3, 6)
            diags[:, 1] += 4
            add("TridiagonalSolve", f"{dt}_{pivot}", {"partial_pivoting": pivot},
                diagonals=diags, rhs=arr(dt, 2, 6, 2), rtol=1e-4)
        add("TridiagonalSolve", f"{dt}_perturb", {"perturb_singular": True},
            diagonals=arr(dt, 3, 5), rhs=arr(dt, 5, 1), rtol=1e-3)
    for dt in ("complex64", "complex128"):
        add("MatrixLogarithm", dt, input=spd(dt, 2, 3, 3), rtol=1e-4)
        add("MatrixLogarithm", f"{dt}_general", input=well(dt, 3, 3), rtol=1e-4)
        add("MatrixLogarithm", f"{dt}_jordan", input=np.array([[2, 1], [0, 2]], dt), rtol=1e-4)
    add("MatrixInverse", "float16", input=well("float32", 3, 3).astype(np.float16))
    # TF factors float16 in float16 arithmetic; we factor in float32 (closer to the truth).
    add("Qr", "float16", input=arr("float32", 4, 3).astype(np.float16), rtol=5e-3)
    add("Lu", "int64_index", {"output_idx_type": DT("int64")}, input=well("float64", 5, 5))
    add("Lu", "pivots", input=np.array([[1, 2, 3], [4, 5, 6], [7, 8, 10]], np.float64))


def _edges() -> None:
    """Empty matrices, singular inputs, shape errors."""
    sing = np.array([[1, 2], [2, 4]], np.float32)
    add("MatrixInverse", "singular", input=sing)
    add("MatrixSolve", "singular", matrix=sing, rhs=f32(2, 1))
    add("Lu", "singular", input=sing)
    add("MatrixDeterminant", "singular", input=sing)
    add("LogMatrixDeterminant", "singular", input=sing)
    add("MatrixDeterminant", "nan", input=np.float32([[np.nan, 1], [1, 1]]))
    add("LogMatrixDeterminant", "overflow", input=np.diag(np.full(40, 1e10)).astype(np.float32))
    add("MatrixDeterminant", "overflow", input=np.diag(np.full(40, 1e10)).astype(np.float32))
    add("MatrixDeterminant", "negative", input=np.float64([[0, 1], [1, 0]]))
    for i, m in enumerate(([[-2, 4], [1, -2]], [[2, 4], [-1, -2]], [[0, 1], [0, 1]],
                           [[0, 0], [0, -1]], [[-1, 0, 0], [0, 0, 0], [0, 0, -5]],
                           [[np.inf, 1], [1, 1]], [[1, np.nan], [1, 1]])):
        add("LogMatrixDeterminant", f"signed_zero{i}", input=np.float64(m))
        add("MatrixDeterminant", f"signed_zero{i}", input=np.float64(m))
    add("LogMatrixDeterminant", "complex_singular", input=np.complex64([[1j, 2], [1j, 2]]))
    add("Cholesky", "not_pd", input=np.float32([[1, 2], [2, 1]]))
    add("Cholesky", "reads_lower", input=np.float64([[4, 99], [2, 3]]))
    for op in ("MatrixDeterminant", "MatrixInverse", "Cholesky", "Lu", "SelfAdjointEigV2",
               "LogMatrixDeterminant", "MatrixSquareRoot", "Eig"):
        attrs = {"Tout": DT("complex64")} if op == "Eig" else {}
        add(op, "empty", attrs, input=np.zeros((2, 0, 0), np.float32))
        add(op, "empty_batch", attrs, input=np.zeros((0, 3, 3), np.float32))
        add(op, "not_square", attrs, input=f32(2, 3))
        add(op, "rank1", attrs, input=f32(3))
    add("Qr", "empty_full", {"full_matrices": True}, input=np.zeros((3, 0), np.float32))
    add("Qr", "empty", input=np.zeros((0, 3), np.float32))
    add("Svd", "empty_full", {"full_matrices": True}, input=np.zeros((3, 0), np.float32))
    add("Svd", "empty", input=np.zeros((0, 2), np.float64))
    add("Svd", "rank1", input=f32(3))
    add("MatrixSolve", "not_square", matrix=f32(2, 3), rhs=f32(2, 1))
    add("MatrixSolve", "rows", matrix=f32(3, 3), rhs=f32(2, 1))
    add("MatrixSolve", "batch", matrix=f32(2, 3, 3), rhs=f32(3, 3, 1))
    add("MatrixSolve", "rank", matrix=f32(2, 3, 3), rhs=f32(3, 1))
    add("MatrixSolve", "empty_rhs", matrix=well("float32", 3, 3), rhs=np.zeros((3, 0), np.float32))
    add("MatrixSolveLs", "rank_deficient", matrix=np.float32([[1, 0], [1, 0], [1, 0]]),
        rhs=f32(3, 1), l2_regularizer=np.float64(0))
    add("MatrixSolveLs", "negative_l2", matrix=f32(3, 2), rhs=f32(3, 1),
        l2_regularizer=np.float64(-1))
    add("MatrixSolveLs", "l2_vector", matrix=f32(3, 2), rhs=f32(3, 1),
        l2_regularizer=np.float64([1]))
    add("MatrixSolveLs", "min_norm", {"fast": False}, matrix=np.float64([[1, 1], [1, 1]]),
        rhs=np.float64([[2], [2]]), l2_regularizer=np.float64(0))
    add("MatrixTriangularSolve", "bcast", matrix=well("float32", 2, 1, 3, 3),
        rhs=f32(3, 3, 2), rtol=1e-4)
    add("MatrixTriangularSolve", "bad_bcast", matrix=well("float32", 2, 3, 3), rhs=f32(3, 3, 2))
    add("MatrixTriangularSolve", "zero_diag", matrix=np.float32([[0, 0], [1, 1]]),
        rhs=np.float32([[1], [1]]))
    add("MatrixTriangularSolve", "not_square", matrix=f32(2, 3), rhs=f32(2, 1))
    add("MatrixTriangularSolve", "rows", matrix=f32(3, 3), rhs=f32(2, 1))
    add("MatrixTriangularSolve", "empty", matrix=np.zeros((0, 0), np.float32),
        rhs=np.zeros((0, 2), np.float32))
    add("BandedTriangularSolve", "zero_diag", matrix=np.float32([[1, 0, 2], [1, 1, 1]]),
        rhs=f32(3, 1))
    add("BandedTriangularSolve", "empty", matrix=np.zeros((1, 0), np.float32),
        rhs=np.zeros((0, 1), np.float32))
    add("BandedTriangularSolve", "wide_band", matrix=(f32(6, 4) + 5).astype(np.float32),
        rhs=f32(4, 2), rtol=1e-4)
    add("BandedTriangularSolve", "bcast", {"lower": False}, matrix=(f32(2, 3) + 5),
        rhs=f32(3, 3, 2), rtol=1e-4)
    add("TridiagonalSolve", "singular_pivot", diagonals=np.float32([[0, 1], [0, 0], [1, 0]]),
        rhs=f32(2, 1))
    add("TridiagonalSolve", "pivots", diagonals=np.float64([[0, 5, 1, 2], [1, 1, 1, 1],
                                                          [0, 3, 4, 5]]), rhs=arr("float64", 4, 2))
    add("TridiagonalSolve", "thomas_zero", {"partial_pivoting": False},
        diagonals=np.float32([[0, 1], [0, 1], [1, 0]]), rhs=f32(2, 1))
    add("TridiagonalSolve", "scalar_zero", diagonals=np.float32([[1], [0], [1]]), rhs=f32(1, 2))
    add("TridiagonalSolve", "one", diagonals=np.float32([[1], [2], [1]]), rhs=f32(1, 2))
    add("TridiagonalSolve", "bad_rows", diagonals=f32(2, 3), rhs=f32(3, 1))
    add("TridiagonalSolve", "mismatch", diagonals=f32(3, 3), rhs=f32(4, 1))
    add("TridiagonalSolve", "perturb_no_pivot", {"perturb_singular": True,
                                                  "partial_pivoting": False},
        diagonals=f32(3, 3), rhs=f32(3, 1))
    add("TridiagonalSolve", "perturb_singular", {"perturb_singular": True},
        diagonals=np.float64([[0, 1, 1], [1, 2, 1], [1, 1, 0]]) - np.float64([[0, 0, 0],
                                                                              [1, 1, 1],
                                                                              [0, 0, 0]]),
        rhs=arr("float64", 3, 1), rtol=1e-4)
    add("TridiagonalMatMul", "bad", superdiag=f32(1, 4), maindiag=f32(1, 5),
        subdiag=f32(1, 5), rhs=f32(5, 2))
    add("Eig", "nan", {"Tout": DT("complex64")}, input=np.float32([[np.nan, 1], [1, 1]]))
    add("SelfAdjointEigV2", "nan", input=np.float32([[np.nan, 1], [1, 1]]))
    add("MatrixSquareRoot", "negative", input=np.float64([[-4, 0], [0, 1]]))
    add("MatrixLogarithm", "negative", input=np.complex128([[-1, 0], [0, 2]]))


_diagonals()
_factorizations()
_edges()

test_kernel_matches_tensorflow = CASES.test()


# -- invariants of decompositions TF fixes only up to signs or phases ---------------------

INVARIANT_CASES = Cases(seed=4102)
for _dt in ALL:
    INVARIANT_CASES.add("Svd", f"{_dt}_thin", input=arr(_dt, 2, 5, 3))
    INVARIANT_CASES.add("Svd", f"{_dt}_full", {"full_matrices": True}, input=arr(_dt, 3, 4))
    INVARIANT_CASES.add("Eig", _dt, {"Tout": DT("complex128" if _dt in ("float64", "complex128")
                                             else "complex64")}, input=arr(_dt, 2, 4, 4))
    INVARIANT_CASES.add("SelfAdjointEigV2", _dt, input=spd(_dt, 2, 4, 4))


def _close(got: np.ndarray, want: np.ndarray, what: str, rtol: float = 1e-4) -> None:
    np.testing.assert_allclose(got, want, rtol=rtol, atol=rtol, err_msg=what)


@pytest.mark.tf
@pytest.mark.parametrize("case", list(INVARIANT_CASES), ids=[c.id for c in INVARIANT_CASES])
def test_invariants(case) -> None:
    """Same dtypes, shapes and unique values as TF; vectors orthonormal and reconstructing."""
    want = INVARIANT_CASES.oracle()[case.id]
    outs = [decode(o) for o in want["outputs"]]
    got = [np.asarray(g) for g in run_ours(case, base64.b64decode(want["node_def"]), len(outs))]
    assert [(g.dtype, g.shape) for g in got] == [(w.dtype, w.shape) for w in outs]
    x = case.flat_inputs()[0].astype(np.complex128)
    adj = lambda m: np.conj(np.swapaxes(m, -1, -2))  # noqa: E731
    if case.op == "Svd":
        s, u, v = (g.astype(np.complex128) for g in got)
        _close(s, outs[0], "singular values")
        k = s.shape[-1]
        _close((u[..., :, :k] * s[..., None, :]) @ adj(v[..., :, :k]), x, "u s v^H")
        _close(adj(u) @ u, np.broadcast_to(np.eye(u.shape[-1]), u.shape[:-2] + (u.shape[-1],) * 2),
               "u orthonormal")
        _close(adj(v) @ v, np.broadcast_to(np.eye(v.shape[-1]), v.shape[:-2] + (v.shape[-1],) * 2),
               "v orthonormal")
    elif case.op == "Eig":
        e, v = got
        _close(np.sort_complex(e.astype(np.complex128)), np.sort_complex(outs[0]), "eigenvalues")
        _close(x @ v, v * e[..., None, :], "A v = v e")
        _close(np.linalg.norm(v, axis=-2), np.ones(e.shape), "unit vectors")
    else:
        e, v = (g.astype(np.complex128) for g in got)
        _close(e, outs[0], "eigenvalues")
        _close(v @ (e[..., :, None] * adj(v)), x, "v e v^H")


# -- TF 0.x names (TF refuses them in its own graphs) and the deprecated MatrixExponential --

ALIASES = {"BatchCholesky": "Cholesky-float64",
           "BatchMatrixDeterminant": "MatrixDeterminant-float32",
           "BatchMatrixInverse": "MatrixInverse-float32_adjoint",
           "BatchMatrixSolve": "MatrixSolve-float64_adjoint",
           "BatchMatrixSolveLs": "MatrixSolveLs-float64_over",
           "BatchMatrixTriangularSolve": "MatrixTriangularSolve-float32_False_True",
           "BatchSvd": "Svd-float64_values",
           "BatchSelfAdjointEigV2": "SelfAdjointEigV2-float64_values",
           "BatchMatrixBandPart": "MatrixBandPart-int_2_1", "BatchMatrixDiag": "MatrixDiag-v1",
           "BatchMatrixDiagPart": "MatrixDiagPart-v1", "BatchMatrixSetDiag": "MatrixSetDiag-v1"}


@pytest.mark.tf
@pytest.mark.parametrize("alias", sorted(ALIASES))
def test_batch_aliases_compute_their_modern_op(alias) -> None:
    from savedmodel_io.proto import NodeDef

    from .raw_ops_harness import assert_same

    case = next(c for c in CASES if c.id == ALIASES[alias])
    want = CASES.oracle()[case.id]
    node = NodeDef.FromString(base64.b64decode(want["node_def"]))
    node.op = alias
    outs = [decode(o) for o in want["outputs"]]
    got = run_ours(case, node.SerializeToString(), len(outs))
    for i in case.only if case.only is not None else range(len(outs)):
        assert_same(got[i], outs[i], f"{alias} output {i}", case.rtol)


@pytest.mark.tf
def test_self_adjoint_eig_v1_packs_values_over_vectors() -> None:
    from savedmodel_io.proto import NodeDef

    case = next(c for c in CASES if c.id == "SelfAdjointEigV2-float64")
    want = CASES.oracle()[case.id]
    x = case.flat_inputs()[0]
    for op in ("SelfAdjointEig", "BatchSelfAdjointEig"):
        node = NodeDef(name="op", op=op, input=["in0"])
        node.attr["T"].type = 2  # DT_DOUBLE
        packed = np.asarray(run_ours(case, node.SerializeToString(), 1)[0])
        assert packed.shape == x.shape[:-2] + (5, 4)
        e, v = packed[..., 0, :], packed[..., 1:, :]
        np.testing.assert_allclose(e, decode(want["outputs"][0]), rtol=1e-10)
        np.testing.assert_allclose((v * e[..., None, :]) @ np.swapaxes(v, -1, -2), x, atol=1e-10)


@pytest.mark.tf
@pytest.mark.parametrize("op", ["BatchFFT", "BatchIFFT", "BatchFFT2D", "BatchIFFT2D",
                                "BatchFFT3D", "BatchIFFT3D"])
def test_batch_fft_aliases(op) -> None:
    from savedmodel_io.proto import NodeDef

    from . import test_ops_fft_tf as fft_tests
    from .raw_ops_harness import assert_same

    case = next(c for c in fft_tests.CASES if c.id == f"{op[5:]}-complex64")
    want = fft_tests.CASES.oracle()[case.id]
    node = NodeDef(name="op", op=op, input=["in0"])
    got = run_ours(case, node.SerializeToString(), 1)[0]
    assert_same(got, decode(want["outputs"][0]), op, 1e-4)


@pytest.mark.tf
def test_matrix_exponential_matches_tf_expm(fixture_model) -> None:
    """MatrixExponential (refused by TF since GraphDef 27) against tf.linalg.expm's values."""
    from savedmodel_io.proto import NodeDef

    from .raw_ops_harness import Case
    from .reference_cases import load_cases

    inputs, outputs = load_cases(fixture_model("linalg_api"))["double"][0]
    node = NodeDef(name="op", op="MatrixExponential", input=["in0"])
    node.attr["T"].type = 2  # DT_DOUBLE
    case = Case("expm", "MatrixExponential", [("input", inputs["x"])])
    got = run_ours(case, node.SerializeToString(), 1)[0]
    np.testing.assert_allclose(got, outputs["expm"], rtol=1e-10, atol=1e-12)
    node.attr["T"].type = 1  # DT_FLOAT
    case32 = Case("expm32", "MatrixExponential", [("input", inputs["x"].astype(np.float32))])
    got32 = run_ours(case32, node.SerializeToString(), 1)[0]
    assert got32.dtype == np.float32
    np.testing.assert_allclose(got32, outputs["expm"], rtol=1e-5)
