"""Matrix decompositions and solves exported as ONNX Loops (onnx/ops/_factor.py, onnx/ops/linalg.py).

tests/onnx_export/test_ops_tf.py compares each mapping with TensorFlow on the kernel cases; here
the mappings run on random well-conditioned, ill-conditioned and singular matrices, batches,
empty matrices, size 1 and sizes known only at run time, checked against the numpy runtime's
kernels (themselves compared with TensorFlow in tests/graph/test_ops_linalg_tf.py) or, where the
runtime raises as TensorFlow does (singular systems), against what the graph is documented to
give.
"""

from __future__ import annotations

import numpy as np
import pytest

from graph.test_runtime_core import node, placeholder
from onnx_export._cases import exported, signature

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

from savedmodel_io import dtypes  # noqa: E402
from savedmodel_io.graph import runtime  # noqa: E402
from savedmodel_io.onnx._opsets import MIN_OPSET  # noqa: E402

RS = np.random.RandomState(7301)
TOL = {np.dtype(np.float32): (1e-4, 1e-5), np.dtype(np.float64): (1e-10, 1e-12)}


def _nodes(op: str, feeds: dict[str, np.ndarray], attrs: dict, index: str | None = None) -> list:
    dt = dtypes.from_numpy(next(iter(feeds.values())).dtype)
    extra = {"T": ("type", dt)}
    if op == "Lu":
        extra = {"T": ("type", dt), "output_idx_type": ("type", dtypes.from_numpy(np.dtype(index or np.int32)))}
    nodes = [placeholder(k, dtypes.from_numpy(a.dtype)) for k, a in feeds.items()]
    nodes.append(node("y", op, list(feeds), **extra, **attrs))
    return nodes


def run(op: str, feeds: dict[str, np.ndarray], n_out: int = 1, attrs: dict | None = None, *,
        dynamic: bool = False, opset: int = 20, want: bool = True):
    """(onnxruntime's outputs, the numpy runtime's or None, the model) of one ``op`` node."""
    attrs = attrs or {}
    nodes = _nodes(op, feeds, attrs)
    inputs = {k: (dtypes.from_numpy(a.dtype), (None,) * a.ndim if dynamic else a.shape) for k, a in feeds.items()}
    refs = [f"y:{i}" for i in range(n_out)]
    expected = None
    if want:
        res = runtime.run_signature(signature(nodes, inputs, {f"o{i}": r for i, r in enumerate(refs)}), "s", feeds)
        expected = [np.asarray(res[f"o{i}"]) for i in range(n_out)]
    if expected is not None:
        types = [(w.dtype, w.ndim) for w in expected]
    else:  # the runtime raises (as TensorFlow does), or runs no such op: the types of inverses,
        # solves, Lu and SelfAdjointEig
        first, last = next(iter(feeds.values())), list(feeds.values())[-1]
        types = [(first.dtype, last.ndim), (np.dtype(np.int32), first.ndim - 1)][:n_out]
    typed = {f"o{i}": (r, dtypes.from_numpy(t), (None,) * rank) for i, (r, (t, rank)) in enumerate(zip(refs, types))}
    proto, problems = exported(signature(nodes, inputs, typed), opset, complex_pairs=True)
    assert not problems, problems
    onnx.checker.check_model(proto, full_check=True)
    onnx.shape_inference.infer_shapes(proto, check_type=True, strict_mode=True)
    sess = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    got = dict(zip([o.name for o in sess.get_outputs()], sess.run(None, {k: np.asarray(v) for k, v in feeds.items()})))
    return [np.asarray(got[f"o{i}"]) for i in range(n_out)], expected, proto


def refused(op: str, feeds: dict[str, np.ndarray], attrs: dict | None = None, dynamic: bool = False) -> str:
    nodes = _nodes(op, feeds, attrs or {})
    inputs = {k: (dtypes.from_numpy(a.dtype), (None,) * a.ndim if dynamic else a.shape) for k, a in feeds.items()}
    first = next(iter(feeds.values()))
    out = ("y:0", dtypes.from_numpy(first.dtype), (None,) * first.ndim)
    proto, problems = exported(signature(nodes, inputs, {"o0": out}), complex_pairs=True)
    assert proto is None and problems and problems[0].node == "y", problems
    return problems[0].reason


def close(got: np.ndarray, want: np.ndarray, what: str = "", scale: float = 1.0) -> None:
    assert got.dtype == want.dtype and got.shape == want.shape, (what, got.dtype, got.shape, want.dtype, want.shape)
    rtol, atol = TOL.get(want.dtype, (1e-3, 1e-3))
    np.testing.assert_allclose(got, want, rtol=rtol * scale, atol=atol * scale, err_msg=what)


def same(op: str, feeds: dict[str, np.ndarray], n_out: int = 1, attrs: dict | None = None, scale: float = 1.0,
         **kw) -> list[np.ndarray]:
    got, want, _ = run(op, feeds, n_out, attrs, **kw)
    for i, (g, w) in enumerate(zip(got, want)):
        close(g, w, f"{op} output {i}", scale)
    return got


def well(dt, *shape: int) -> np.ndarray:
    """Well-conditioned square matrices (diagonally dominant)."""
    n = shape[-1]
    return (RS.standard_normal(shape) + (n + 2) * np.eye(n)).astype(dt)


def spd(dt, *shape: int) -> np.ndarray:
    a = RS.standard_normal(shape)
    n = shape[-1]
    return (a @ np.swapaxes(a, -1, -2) + n * np.eye(n)).astype(dt)


def normal(dt, *shape: int) -> np.ndarray:
    return RS.standard_normal(shape).astype(dt)


def hilbert(n: int, dt=np.float64) -> np.ndarray:
    i = np.arange(n)
    return (1.0 / (i[:, None] + i[None, :] + 1)).astype(dt)


DTS = [np.float32, np.float64]
SIZES = [1, 5, 17]


# -- well-conditioned batches, each size, against the numpy runtime -------------------------------

@pytest.mark.parametrize("dt", DTS)
@pytest.mark.parametrize("n", SIZES)
def test_cholesky(dt, n):
    same("Cholesky", {"x": spd(dt, 2, 3, n, n)})


@pytest.mark.parametrize("dt", DTS)
@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("adjoint", [False, True])
def test_inverse_and_solve(dt, n, adjoint):
    a = well(dt, 3, n, n)
    same("MatrixInverse", {"x": a}, attrs={"adjoint": adjoint})
    same("MatrixSolve", {"a": a, "b": normal(dt, 3, n, 2)}, attrs={"adjoint": adjoint})


@pytest.mark.parametrize("dt", DTS)
@pytest.mark.parametrize("n", SIZES)
def test_determinants_and_lu(dt, n):
    a = normal(dt, 2, 2, n, n)
    same("LogMatrixDeterminant", {"x": a}, 2)
    same("Lu", {"x": a}, 2)
    if dt == np.float64:  # float32 is ONNX Det
        same("MatrixDeterminant", {"x": a})


@pytest.mark.parametrize("dt", DTS)
@pytest.mark.parametrize("shape", [(2, 6, 3), (3, 5), (4, 4), (1, 1), (2, 1, 4), (7, 1)])
@pytest.mark.parametrize("full", [False, True])
def test_qr(dt, shape, full):
    same("Qr", {"x": normal(dt, *shape)}, 2, {"full_matrices": full})


@pytest.mark.parametrize("dt", DTS)
@pytest.mark.parametrize("lower", [True, False])
@pytest.mark.parametrize("adjoint", [False, True])
def test_triangular_solves(dt, lower, adjoint):
    attrs = {"lower": lower, "adjoint": adjoint}
    # The other triangle is never read: fill it with garbage (and NaN).
    a = well(dt, 2, 1, 6, 6)
    a[..., np.triu_indices(6, 1)[0] if lower else np.tril_indices(6, -1)[0],
      np.triu_indices(6, 1)[1] if lower else np.tril_indices(6, -1)[1]] = np.nan
    same("MatrixTriangularSolve", {"a": a, "b": normal(dt, 3, 6, 2)}, attrs=attrs)
    same("MatrixTriangularSolve", {"a": well(dt, 6, 6), "b": normal(dt, 2, 2, 6, 3)}, attrs=attrs)
    band = (normal(dt, 3, 6) + np.array([[8], [0], [0]] if lower else [[0], [0], [8]])).astype(dt)
    same("BandedTriangularSolve", {"a": band, "b": normal(dt, 2, 6, 2)}, attrs=attrs)


@pytest.mark.parametrize("dt", DTS)
@pytest.mark.parametrize("pivoting", [True, False])
@pytest.mark.parametrize("n", [1, 2, 3, 9])
def test_tridiagonal(dt, pivoting, n):
    d = normal(dt, 2, 3, n)
    if not pivoting:
        d[:, 1] += 4
    same("TridiagonalSolve", {"d": d, "b": normal(dt, 2, n, 3)}, attrs={"partial_pivoting": pivoting})


@pytest.mark.parametrize("dt", DTS)
@pytest.mark.parametrize("shape,l2", [((7, 3), 0.0), ((3, 6), 0.5), ((2, 5, 5), 0.1)])
def test_solve_ls(dt, shape, l2):
    a = normal(dt, *shape)
    b = normal(dt, *shape[:-1], 2)
    same("MatrixSolveLs", {"a": a, "b": b, "l2": np.float64(l2)}, attrs={"fast": True}, scale=10)


@pytest.mark.parametrize("dt", DTS)
@pytest.mark.parametrize("shape", [(7, 3), (3, 6), (2, 5, 5), (1, 1)])
def test_solve_ls_minimum_norm(dt, shape):
    """fast=False: the pseudo-inverse's solution, rank-deficient matrices included."""
    a = normal(dt, *shape)
    b = normal(dt, *shape[:-1], 2)
    same("MatrixSolveLs", {"a": a, "b": b, "l2": np.float64(0)}, attrs={"fast": False}, scale=10)
    low = (normal(np.float64, *shape[:-1], 1) @ normal(np.float64, *shape[:-2], 1, shape[-1])).astype(dt)  # rank 1
    same("MatrixSolveLs", {"a": low, "b": b, "l2": np.float64(0)}, attrs={"fast": False}, scale=100)
    same("MatrixSolveLs", {"a": np.zeros_like(a), "b": b, "l2": np.float64(0)}, attrs={"fast": False})


@pytest.mark.parametrize("dt", DTS)
@pytest.mark.parametrize("scale", [1e-3, 0.5, 3.0, 40.0])
def test_matrix_exponential(dt, scale):
    a = (normal(np.float64, 2, 5, 5) * scale).astype(dt)
    got = same("MatrixExponential", {"x": a}, scale=10 if scale > 10 else 1)
    if dt == np.float64 and scale <= 3:  # against the eigendecomposition's exp
        e, v = np.linalg.eig(a)
        ref = np.real((v * np.exp(e)[..., None, :]) @ np.linalg.inv(v))
        np.testing.assert_allclose(got[0], ref, rtol=1e-8, atol=1e-10)


# -- sizes known only at run time; the lowest opset ----------------------------------------------

@pytest.mark.parametrize("opset", [MIN_OPSET, 20])
def test_dynamic_sizes(opset):
    kw = {"dynamic": True, "opset": opset}
    a = well(np.float32, 2, 4, 4)
    same("Cholesky", {"x": spd(np.float32, 3, 4, 4)}, **kw)
    same("MatrixInverse", {"x": a}, **kw)
    same("MatrixSolve", {"a": a, "b": normal(np.float32, 2, 4, 3)}, **kw)
    same("LogMatrixDeterminant", {"x": a}, 2, **kw)
    same("MatrixDeterminant", {"x": a.astype(np.float64)}, **kw)
    same("Lu", {"x": a}, 2, **kw)
    same("Qr", {"x": normal(np.float32, 2, 5, 3)}, 2, **kw)
    same("Qr", {"x": normal(np.float32, 3, 5)}, 2, {"full_matrices": True}, **kw)
    same("MatrixTriangularSolve", {"a": well(np.float32, 2, 1, 4, 4), "b": normal(np.float32, 3, 4, 2)}, **kw)
    same("BandedTriangularSolve", {"a": (normal(np.float32, 2, 4) + [[5], [0]]).astype(np.float32),
                                     "b": normal(np.float32, 4, 2)}, **kw)
    same("TridiagonalSolve", {"d": normal(np.float32, 3, 6), "b": normal(np.float32, 6, 2)}, **kw)
    same("MatrixExponential", {"x": normal(np.float32, 2, 3, 3)}, **kw)


# -- empty matrices and batches ------------------------------------------------------------------

@pytest.mark.parametrize("shape", [(0, 0), (3, 0, 0), (0, 3, 3), (2, 0, 4, 4)])
def test_empty(shape):
    x = np.zeros(shape, np.float32)
    for op, n_out in (("Cholesky", 1), ("MatrixInverse", 1), ("LogMatrixDeterminant", 2), ("Lu", 2),
                      ("MatrixExponential", 1)):
        same(op, {"x": x}, n_out)
    same("MatrixDeterminant", {"x": x.astype(np.float64)})
    same("MatrixSolve", {"a": x, "b": np.zeros((*shape[:-1], 2), np.float32)})
    same("MatrixTriangularSolve", {"a": x, "b": np.zeros((*shape[:-1], 2), np.float32)})
    same("TridiagonalSolve", {"d": np.zeros((*shape[:-2], 3, shape[-1]), np.float32),
                              "b": np.zeros((*shape[:-1], 2), np.float32)})
    same("Qr", {"x": np.zeros((*shape[:-1], 2), np.float32)}, 2, {"full_matrices": True})
    same("Qr", {"x": np.zeros((*shape[:-1], 2), np.float32)}, 2)


# -- ill-conditioned and singular matrices --------------------------------------------------------

@pytest.mark.parametrize("n", [6, 10])
def test_ill_conditioned(n):
    """Hilbert matrices (condition 1.5e7 and 1.6e13): backward-stable answers, close to LAPACK's."""
    h = hilbert(n)
    cond = np.linalg.cond(h)
    x_true = RS.standard_normal((n, 2))
    b = h @ x_true
    (x,), want, _ = run("MatrixSolve", {"a": h, "b": b})
    # Both are backward stable: the residuals are at rounding level, the solutions agree to cond * eps.
    assert np.abs(h @ x - b).max() <= 1e-13 * np.abs(b).max()
    np.testing.assert_allclose(x, want[0], rtol=0, atol=50 * cond * 2.2e-16 * np.abs(want[0]).max())
    (inv,), want, _ = run("MatrixInverse", {"x": h})
    np.testing.assert_allclose(inv, want[0], rtol=0, atol=50 * cond * 2.2e-16 * np.abs(want[0]).max())
    (low,), want, _ = run("Cholesky", {"x": h})
    close(low, want[0], "Cholesky of a Hilbert matrix", scale=1e3)
    (sign, logdet), want, _ = run("LogMatrixDeterminant", {"x": h}, 2)
    np.testing.assert_array_equal(sign, want[0])
    np.testing.assert_allclose(logdet, want[1], rtol=0, atol=n * cond * 2.2e-16)
    q, r = run("Qr", {"x": h}, 2)[0]
    np.testing.assert_allclose(q @ r, h, atol=1e-14)
    close(r, run("Qr", {"x": h}, 2)[1][1], "R of a Hilbert matrix", scale=1e3)


def test_singular_lu_and_determinants():
    """An exact zero pivot: TF refuses Lu (and inverses and solves), a graph cannot. The factors are
    still the elimination's, and the determinants are the runtime's (sign 0, log|det| -inf)."""
    s = np.array([[[1, 2, 3], [2, 4, 6], [1, 0, 1]], [[0, 0, 0], [0, 0, 0], [0, 0, 0]]], np.float64)
    (sign, logdet), want, _ = run("LogMatrixDeterminant", {"x": s}, 2)
    np.testing.assert_array_equal(sign, want[0])
    np.testing.assert_array_equal(logdet, want[1])
    assert (sign == 0).all() and (logdet == -np.inf).all()
    (det,), want, _ = run("MatrixDeterminant", {"x": s})
    np.testing.assert_array_equal(det, want[0])
    (packed, perm), _, _ = run("Lu", {"x": s}, 2, want=False)
    low = np.tril(packed, -1) + np.eye(3)
    up = np.triu(packed)
    for i in range(2):
        np.testing.assert_allclose(low[i] @ up[i], s[i][perm[i]], atol=1e-15)
    assert (np.abs(np.diagonal(up, axis1=-2, axis2=-1)) == 0).any(axis=-1).all()


def test_singular_solves_give_non_finite_values():
    """TF (and the runtime) raise 'Input matrix is not invertible.'; the graph divides by the zero pivot."""
    s = np.array([[1, 2], [2, 4]], np.float32)
    (inv,), _, _ = run("MatrixInverse", {"x": s}, want=False)
    (x,), _, _ = run("MatrixSolve", {"a": s, "b": np.ones((2, 1), np.float32)}, want=False)
    assert not np.isfinite(inv).all() and not np.isfinite(x).all()


def test_cholesky_not_positive_definite():
    """TF's rule: a matrix whose factorization fails is NaN on and below the diagonal, zero above;
    the others in the batch are factored."""
    x = np.stack([spd(np.float32, 4, 4), np.diag([1, 2, -1, 3]).astype(np.float32), spd(np.float32, 4, 4)])
    x[2, 1, 1] = np.nan
    (low,), want, _ = run("Cholesky", {"x": x})
    close(low, want[0])
    assert np.isnan(low[1][np.tril_indices(4)]).all() and (low[1][np.triu_indices(4, 1)] == 0).all()
    assert np.isnan(low[2][np.tril_indices(4)]).all()
    assert np.isfinite(low[0]).all()


def test_tridiagonal_zero_pivots_give_nan():
    d = np.array([[[0, 1, 1], [0, 0, 0], [1, 1, 0]], [[1, 1, 0], [4, 4, 4], [0, 1, 1]]], np.float32)
    for pivoting in (True, False):
        (x,), want, _ = run("TridiagonalSolve", {"d": d, "b": normal(np.float32, 2, 3, 2)},
                            attrs={"partial_pivoting": pivoting})
        np.testing.assert_array_equal(np.isnan(x), np.isnan(want[0]))
        close(np.nan_to_num(x), np.nan_to_num(want[0]))
        assert np.isnan(x[0]).all() and np.isfinite(x[1]).all()


def test_float16_factors_in_float32():
    a = well(np.float32, 2, 4, 4)
    got = same("MatrixInverse", {"x": a.astype(np.float16)})
    assert got[0].dtype == np.float16
    same("Qr", {"x": normal(np.float16, 4, 3)}, 2, scale=30)


# -- refusals -------------------------------------------------------------------------------------

def test_refusals_name_the_node():
    assert "partial_pivoting" in refused("TridiagonalSolve", {"d": normal(np.float32, 3, 4),
                                                              "b": normal(np.float32, 4, 1)},
                                         {"perturb_singular": True, "partial_pivoting": False})
    c = (RS.standard_normal((3, 3)) + 1j * RS.standard_normal((3, 3))).astype(np.complex64)
    assert "complex" in refused("MatrixInverse", {"x": c})
    assert "square" in refused("MatrixInverse", {"x": normal(np.float32, 3, 4)})


# -- symmetric eigendecompositions (Jacobi): values as TF's, vectors up to sign -------------------

def _eig_checks(x: np.ndarray, e: np.ndarray, v: np.ndarray, want_e: np.ndarray, want_v: np.ndarray | None,
                distinct: bool) -> None:
    close(e, want_e, "eigenvalues", scale=10)
    sym = np.tril(x) + np.swapaxes(np.tril(x, -1), -1, -2)
    n = x.shape[-1]
    tol = 1e-4 if x.dtype == np.float32 else 1e-10
    scale = max(1.0, float(np.abs(sym).max(initial=0)))
    np.testing.assert_allclose(sym @ v, v * e[..., None, :], atol=tol * scale * n)
    np.testing.assert_allclose(np.swapaxes(v, -1, -2) @ v, np.broadcast_to(np.eye(n), v.shape), atol=tol * n)
    if distinct and want_v is not None:  # each column is the runtime's up to its sign
        signs = np.sign(np.sum(v * want_v, axis=-2, keepdims=True))
        close(v * signs, want_v, "eigenvectors up to sign", scale=100)


@pytest.mark.parametrize("dt", DTS)
@pytest.mark.parametrize("n", [1, 2, 5, 17])
def test_self_adjoint_eig(dt, n):
    x = normal(dt, 2, 3, n, n)
    x[..., np.triu_indices(n, 1)[0], np.triu_indices(n, 1)[1]] = 99  # never read
    (e, v), want, _ = run("SelfAdjointEigV2", {"x": x}, 2, {"compute_v": True})
    _eig_checks(x, e, v, want[0], want[1], distinct=True)
    (e2, none), want2, _ = run("SelfAdjointEigV2", {"x": x}, 2, {"compute_v": False})
    close(e2, want2[0])
    assert none.shape == () and none == 0


def test_self_adjoint_eig_repeated_values_and_v1():
    """Repeated eigenvalues (vectors not unique: invariants only), zero and diagonal matrices, and the
    TF 1.0 op's packing of values over vectors."""
    x = np.stack([np.eye(4), np.zeros((4, 4)), np.diag([3.0, -1, 3, 2]), spd(np.float64, 4, 4)])
    q, _ = np.linalg.qr(normal(np.float64, 4, 4))
    x = np.concatenate([x, (q @ np.diag([2.0, 2, 5, 5]) @ q.T)[None]])
    (e, v), want, _ = run("SelfAdjointEigV2", {"x": x}, 2, {"compute_v": True})
    _eig_checks(x, e, v, want[0], want[1], distinct=False)
    for op in ("SelfAdjointEig", "BatchSelfAdjointEig"):
        (packed,), _, _ = run(op, {"x": x}, want=False)
        np.testing.assert_allclose(packed[..., 0, :], e, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(packed[..., 1:, :], v, rtol=1e-12, atol=1e-12)


def test_self_adjoint_eig_dynamic_and_empty():
    x = normal(np.float32, 3, 6, 6)
    (e, v), want, _ = run("SelfAdjointEigV2", {"x": x}, 2, {"compute_v": True}, dynamic=True, opset=MIN_OPSET)
    _eig_checks(x, e, v, want[0], want[1], distinct=True)
    for shape in ((0, 0), (2, 0, 0), (0, 3, 3)):
        same("SelfAdjointEigV2", {"x": np.zeros(shape, np.float32)}, 2, {"compute_v": True})


# -- singular value decompositions (one-sided Jacobi): values as TF's, vectors up to sign ----------

def _svd_checks(x, s, u, v, want, full: bool, distinct: bool) -> None:
    close(s, want[0], "singular values", scale=10)
    assert u.shape == want[1].shape and v.shape == want[2].shape
    k = s.shape[-1]
    tol = 1e-4 if x.dtype == np.float32 else 1e-10
    scale = max(1.0, float(np.abs(x).max(initial=0)))
    np.testing.assert_allclose((u[..., :, :k] * s[..., None, :]) @ np.swapaxes(v[..., :, :k], -1, -2), x,
                               atol=tol * scale * max(x.shape[-2:], default=1))
    for w in (u, v):
        np.testing.assert_allclose(np.swapaxes(w, -1, -2) @ w, np.broadcast_to(np.eye(w.shape[-1]), w.shape[:-2] + (w.shape[-1],) * 2),
                                   atol=tol * max(w.shape[-2:], default=1))
    if distinct:  # each pair (u_j, v_j) is the runtime's up to one sign
        signs = np.sign(np.sum(u[..., :, :k] * want[1][..., :, :k], axis=-2, keepdims=True))
        close(u[..., :, :k] * signs, want[1][..., :, :k], "u up to sign", scale=100)
        close(v[..., :, :k] * signs, want[2][..., :, :k], "v up to sign", scale=100)


@pytest.mark.parametrize("dt", DTS)
@pytest.mark.parametrize("shape", [(2, 6, 3), (3, 5), (2, 2, 4, 4), (1, 1), (1, 5), (7, 1)])
@pytest.mark.parametrize("full", [False, True])
def test_svd(dt, shape, full):
    x = normal(dt, *shape)
    (s, u, v), want, _ = run("Svd", {"x": x}, 3, {"compute_uv": True, "full_matrices": full})
    _svd_checks(x, s, u, v, want, full, distinct=True)
    (s2, e1, e2), want2, _ = run("Svd", {"x": x}, 3, {"compute_uv": False})
    close(s2, want2[0])
    assert e1.shape == e2.shape == () and e1 == e2 == 0


@pytest.mark.parametrize("full", [False, True])
def test_svd_rank_deficient_and_repeated(full):
    """Zero singular values (their vectors any orthonormal completion) and repeated ones: invariants."""
    q1, _ = np.linalg.qr(normal(np.float64, 6, 6))
    q2, _ = np.linalg.qr(normal(np.float64, 4, 4))
    x = np.stack([q1[:, :4] @ np.diag([3.0, 2, 0, 0]) @ q2.T, q1[:, :4] @ np.diag([2.0, 2, 2, 1]) @ q2.T,
                  np.zeros((6, 4)), np.outer(np.arange(6.0), np.ones(4))])
    (s, u, v), want, _ = run("Svd", {"x": x}, 3, {"compute_uv": True, "full_matrices": full})
    _svd_checks(x, s, u, v, want, full, distinct=False)
    (s, u, v), want, _ = run("Svd", {"x": np.swapaxes(x, -1, -2).copy()}, 3, {"compute_uv": True, "full_matrices": full})
    _svd_checks(np.swapaxes(x, -1, -2), s, u, v, want, full, distinct=False)


def test_svd_non_finite_and_empty():
    x = normal(np.float32, 3, 4, 3)
    x[1, 2, 0] = np.nan
    x[2, 0, 1] = np.inf
    (s, u, v), want, _ = run("Svd", {"x": x}, 3, {"compute_uv": True})
    for got, w in zip((s, u, v), want):
        np.testing.assert_array_equal(np.isnan(got), np.isnan(w))
        assert np.isnan(got[1:]).all() and np.isfinite(got[0]).all()
    _svd_checks(x[:1], s[:1], u[:1], v[:1], [w[:1] for w in want], False, distinct=True)
    for shape in ((3, 0), (0, 2), (2, 0, 0)):
        for full in (False, True):
            same("Svd", {"x": np.zeros(shape, np.float64)}, 3, {"compute_uv": True, "full_matrices": full})


@pytest.mark.parametrize("shape", [(2, 4, 3), (3, 5), (0, 3)])
def test_svd_and_least_squares_of_unknown_size(shape):
    """Sizes known only at run time: an If between the tall and the wide iteration."""
    x = normal(np.float32, *shape)
    for full in (False, True):
        (s, u, v), want, _ = run("Svd", {"x": x}, 3, {"compute_uv": True, "full_matrices": full}, dynamic=True)
        _svd_checks(x, s, u, v, want, full, distinct=True)
    b = normal(np.float32, *shape[:-1], 2)
    for fast in (True, False):
        same("MatrixSolveLs", {"a": x, "b": b, "l2": np.asarray(0.25 if fast else 0.0)}, attrs={"fast": fast},
             dynamic=True, scale=10)


def test_lowest_opset_iterative_ops():
    kw = {"opset": MIN_OPSET}
    x = normal(np.float32, 2, 5, 3)
    (s, u, v), want, _ = run("Svd", {"x": x}, 3, {"compute_uv": True, "full_matrices": True}, **kw)
    _svd_checks(x, s, u, v, want, True, distinct=True)
    y = normal(np.float64, 2, 4, 4)
    (e, w), want, _ = run("SelfAdjointEigV2", {"x": y}, 2, {"compute_v": True}, **kw)
    _eig_checks(y, e, w, want[0], want[1], distinct=True)
    same("MatrixSolveLs", {"a": x, "b": normal(np.float32, 2, 5, 1), "l2": np.asarray(0.0)}, attrs={"fast": False},
         scale=10, **kw)
    same("TridiagonalSolve", {"d": normal(np.float64, 3, 5), "b": normal(np.float64, 5, 2)},
         attrs={"partial_pivoting": False}, **kw)


@pytest.mark.parametrize("dt", DTS)
@pytest.mark.parametrize("opset", [MIN_OPSET, 20])
def test_tridiagonal_perturbed_pivots(dt, opset):
    """perturb_singular: singular systems (zero rows, zero pivots, tiny pivots) solved with nudged
    pivots exactly as the runtime's step-for-step port of TF's kernel; sizes 1 to 7, a batch."""
    attrs = {"perturb_singular": True, "partial_pivoting": True}
    tiny = np.finfo(dt).tiny
    d = normal(dt, 6, 3, 7)
    d[0, 1] = 0  # zero diagonal
    d[1, :, 3] = 0  # a zero row and column
    d[2] = np.array([[0, 1, 1, 1, 1, 1, 0], [1, 1, 1, 1, 1, 1, 1], [0, 1, 1, 1, 1, 1, 1]], dt)  # singular
    d[3, 1] *= tiny * 4  # tiny pivots
    d[4] = 0
    b = normal(dt, 6, 7, 2)
    b[5] = 0
    for n in (1, 2, 7):
        (x,), want, _ = run("TridiagonalSolve", {"d": d[..., :n].copy(), "b": b[:, :n].copy()}, attrs=attrs,
                            opset=opset, dynamic=n == 7)
        np.testing.assert_array_equal(np.isfinite(x), np.isfinite(want[0]))
        fin = np.isfinite(want[0])
        close(np.where(fin, x, 0), np.where(fin, want[0], 0), f"perturbed, n={n}")
