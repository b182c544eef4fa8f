"""SparseMatrixOrderingAMD against TensorFlow: the permutation must be TensorFlow's exactly
(users pass it on to SparseMatrixSparseCholesky), on random sparsity patterns of sizes 0..60
and a few larger ones, symmetric or not (TF reads the lower triangle), with and without
diagonal entries, with dense rows (ordered last), empty rows, single entries, in batches.
TF's answers come from one subprocess (ModuleOracle); ours from the runtime running the same
two-node graph DenseToCSRSparseMatrix -> SparseMatrixOrderingAMD.
"""

from __future__ import annotations

import numpy as np
import pytest
from _oracles import ModuleOracle
from _oracles.codec import decode, encode

from savedmodel_io.errors import InvalidArgumentError
from savedmodel_io.graph import runtime
from savedmodel_io.proto import MetaGraphDef, NodeDef

from .raw_ops_harness import _const

RS = np.random.RandomState(7096)


def pattern(n: int, density: float, mode: str) -> np.ndarray:
    a = (RS.rand(n, n) < density).astype(np.float32)
    eye = np.eye(n, dtype=np.float32)
    if mode == "sym_diag":
        a = a + a.T + eye
    elif mode == "sym":
        a = a + a.T
    elif mode == "lower":
        a = np.tril(a) + eye * (RS.rand(n) < 0.9)
    elif mode == "upper_noise":  # TF ignores the strict upper triangle
        a = a + np.triu(RS.rand(n, n) < 0.5, 1) + eye
    elif mode == "dense_rows" and n:
        a = a + eye
        for k in RS.choice(n, size=min(n, 1 + n // 20), replace=False):
            a[k, :] = a[:, k] = 1
    elif mode == "empty_rows" and n:
        a = a + a.T + eye
        gone = RS.rand(n) < 0.2
        a[gone, :] = 0
        a[:, gone] = 0
    return (a != 0).astype(np.float32)


def _patterns() -> list[tuple[str, np.ndarray]]:
    out = []
    modes = ("sym_diag", "sym", "lower", "upper_noise", "dense_rows", "empty_rows")
    for t in range(240):
        n = int(RS.randint(1, 61))
        density = float(RS.choice([0.02, 0.05, 0.1, 0.2, 0.4, 0.8]))
        mode = modes[t % len(modes)]
        out.append((f"{mode}-n{n}-d{density}-{t}", pattern(n, density, mode)))
    for n in (150, 400):  # past the dense threshold's floor: max(16, 10 sqrt(n)) < n - 2
        out.append((f"dense_rows-n{n}", pattern(n, 0.01, "dense_rows")))
        out.append((f"sym_diag-n{n}", pattern(n, 0.02, "sym_diag")))
    out.append(("tridiagonal-n30", np.eye(30, dtype=np.float32) + np.eye(30, k=1) + np.eye(30, k=-1)))
    out.append(("diagonal-n12", np.eye(12, dtype=np.float32)))
    out.append(("full-n9", np.ones((9, 9), np.float32)))
    out.append(("zeros-n5", np.zeros((5, 5), np.float32)))
    out.append(("empty-n0", np.zeros((0, 0), np.float32)))
    out.append(("single-n1", np.ones((1, 1), np.float32)))
    out.append(("arrow-n20", pattern(20, 0.0, "sym_diag") + np.eye(20, dtype=np.float32)[[0] * 20]
                + np.eye(20, dtype=np.float32)[:, [0] * 20]))
    batch = np.stack([pattern(15, d, m) for d, m in ((0.1, "sym_diag"), (0.3, "lower"),
                                                     (0.0, "sym"), (0.6, "dense_rows"))])
    out.append(("batch4-n15", batch))
    return out


PATTERNS = _patterns()


def tf_orderings(request: dict) -> list[dict]:
    """TF's AMD permutation of every pattern, or its error (runs in the oracle)."""
    import tensorflow as tf

    out = []
    for blob in request["patterns"]:
        dense = decode(blob)
        try:
            m = tf.raw_ops.DenseToCSRSparseMatrix(dense_input=dense,
                                                  indices=np.argwhere(dense != 0))
            out.append({"perm": encode(tf.raw_ops.SparseMatrixOrderingAMD(input=m).numpy())})
        except Exception as e:  # noqa: BLE001 (TF's error is the answer)
            out.append({"error": f"{type(e).__name__}: {e}"[:300]})
    return out


def ours(dense: np.ndarray) -> np.ndarray:
    mg = MetaGraphDef()
    mg.graph_def.node.extend([_const("dense", dense),
                              _const("idx", np.argwhere(dense != 0).astype(np.int64))])
    csr = NodeDef(name="csr", op="DenseToCSRSparseMatrix", input=["dense", "idx"])
    csr.attr["T"].type = 1  # DT_FLOAT
    amd = NodeDef(name="amd", op="SparseMatrixOrderingAMD", input=["csr"])
    mg.graph_def.node.extend([csr, amd])
    mg.signature_def["s"].outputs["perm"].name = "amd:0"
    return runtime.run_signature(mg, "s", {})["perm"]


@pytest.fixture(scope="module")
def tf_answers() -> dict[str, dict]:
    (answer,) = ModuleOracle(__name__).answers(
        [{"function": "tf_orderings", "patterns": [encode(p) for _, p in PATTERNS]}])
    return {name: a for (name, _), a in zip(PATTERNS, answer)}


@pytest.mark.tf
@pytest.mark.parametrize("name", [name for name, _ in PATTERNS])
def test_permutation_is_tensorflows(name, tf_answers):
    dense = dict(PATTERNS)[name]
    want = tf_answers[name]
    assert "perm" in want, want
    perm = decode(want["perm"])
    got = ours(dense)
    assert got.dtype == np.int32 and got.shape == perm.shape
    np.testing.assert_array_equal(got, perm)


def test_not_square_is_refused():
    with pytest.raises(InvalidArgumentError, match="square"):
        ours(np.ones((3, 4), np.float32))


def test_work_is_bounded_by_the_run_budget():
    """A huge pattern is refused by the element budget before the Python loops run."""
    from savedmodel_io.errors import LimitExceededError

    dense = np.ones((60, 60), np.float32)
    mg = MetaGraphDef()
    mg.graph_def.node.extend([_const("dense", dense),
                              _const("idx", np.argwhere(dense != 0).astype(np.int64))])
    csr = NodeDef(name="csr", op="DenseToCSRSparseMatrix", input=["dense", "idx"])
    csr.attr["T"].type = 1
    mg.graph_def.node.extend([csr, NodeDef(name="amd", op="SparseMatrixOrderingAMD",
                                           input=["csr"])])
    mg.signature_def["s"].outputs["perm"].name = "amd:0"
    from savedmodel_io.graph.budget import Budget

    with pytest.raises(LimitExceededError):
        runtime.run_signature(mg, "s", {}, budget=Budget(max_python_elements=1000))
