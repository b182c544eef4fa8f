"""Random kernels: distributions (moments, ranges) and TF's seeding contract, without TF.

The numbers are not TensorFlow's (documented in docs/run.md); dtypes, shapes and errors
are compared with TF in test_raw_ops_tf.py. Each distribution check uses enough samples
that a correct sampler fails it with a probability far below 1e-9.
"""

from __future__ import annotations

import numpy as np
import pytest

from savedmodel_io.graph import runtime
from savedmodel_io.proto import DataType

from .test_runtime_core import const, meta, node

N = 200_000
F32, I32, I64 = DataType.DT_FLOAT, DataType.DT_INT32, DataType.DT_INT64


def _graph(*nodes, outputs: dict[str, str]):
    return meta([const("shape", np.array([N], np.int32)), *nodes], sigs={"s": ({}, outputs)})


def _stateful(op: str, seed: int = 0, seed2: int = 0, **extra):
    return node("r", op, ["shape", *extra.pop("inputs", [])], seed=seed, seed2=seed2, **extra)


def _draw(mg, key="y") -> np.ndarray:
    return runtime.run_signature(mg, "s", {})[key]


def _moments(x: np.ndarray, mean: float, var: float) -> None:
    """Sample mean and variance within 6 standard errors of the distribution's."""
    x = x.astype(np.float64)
    assert abs(x.mean() - mean) < 6 * np.sqrt(var / x.size)
    assert abs(x.var() - var) < 6 * np.sqrt(2 * var**2 / x.size) * 2  # kurtosis margin


@pytest.mark.parametrize("dt", [DataType.DT_FLOAT, DataType.DT_DOUBLE, DataType.DT_HALF,
                                DataType.DT_BFLOAT16])
def test_uniform_floats(dt):
    x = _draw(_graph(_stateful("RandomUniform", 1, 2, dtype=("type", dt)), outputs={"y": "r:0"}))
    assert x.shape == (N,) and ((x >= 0) & (x < 1)).all()
    _moments(x, 0.5, 1 / 12)


def test_normal_and_truncated_normal():
    normal = _draw(_graph(_stateful("RandomStandardNormal", 3, dtype=("type", F32)),
                          outputs={"y": "r:0"}))
    _moments(normal, 0.0, 1.0)
    trunc = _draw(_graph(_stateful("TruncatedNormal", 3, dtype=("type", F32)), outputs={"y": "r:0"}))
    assert np.abs(trunc).max() <= 2.0
    # Variance of a standard normal truncated to [-2, 2]: 1 - 4 phi(2) / (2 Phi(2) - 1).
    _moments(trunc, 0.0, 0.7737413)


def test_uniform_int_covers_its_range_evenly():
    mg = _graph(const("lo", np.int64(-3)), const("hi", np.int64(5)),
                _stateful("RandomUniformInt", 9, inputs=["lo", "hi"]), outputs={"y": "r:0"})
    x = _draw(mg)
    assert x.dtype == np.int64 and x.min() == -3 and x.max() == 4
    counts = np.bincount(x + 3, minlength=8)
    assert (np.abs(counts - N / 8) < 6 * np.sqrt(N / 8)).all()


def test_multinomial_follows_the_softmax():
    logits = np.log(np.array([[0.1, 0.2, 0.7], [0.5, 0.5, 1.0]], np.float32))
    logits[1, 2] = -np.inf  # a class with no weight is never drawn
    mg = meta([const("logits", logits), const("n", np.int32(N)),
               node("m", "Multinomial", ["logits", "n"], seed=4, seed2=0)],
              sigs={"s": ({}, {"y": "m:0"})})
    x = _draw(mg)
    assert x.dtype == np.int64 and x.shape == (2, N)
    for row, p in zip(x, [(0.1, 0.2, 0.7), (0.5, 0.5, 0.0)]):
        freq = np.bincount(row, minlength=3) / N
        np.testing.assert_allclose(freq, p, atol=6 * np.sqrt(0.25 / N))


def test_shuffle_permutes_rows():
    x = np.arange(20, dtype=np.int32).reshape(10, 2)
    mg = meta([const("x", x), node("p", "RandomShuffle", ["x"], seed=1, seed2=1)],
              sigs={"s": ({}, {"y": "p:0"})})
    y = _draw(mg)
    assert sorted(map(tuple, y)) == sorted(map(tuple, x)) and not np.array_equal(x, y)


def test_stateful_seeding_contract():
    # Seeded: each run draws new numbers; a new session replays them. Unseeded: fresh entropy.
    mg = _graph(_stateful("RandomUniform", 5, 6, dtype=("type", F32)), outputs={"y": "r:0"})
    first = runtime.Session(mg)
    a, b = first.run_signature("s", {})["y"], first.run_signature("s", {})["y"]
    assert not np.array_equal(a, b)
    again = runtime.Session(mg)
    np.testing.assert_array_equal(again.run_signature("s", {})["y"], a)
    np.testing.assert_array_equal(again.run_signature("s", {})["y"], b)
    other = _graph(_stateful("RandomUniform", 5, 7, dtype=("type", F32)), outputs={"y": "r:0"})
    assert not np.array_equal(runtime.Session(other).run_signature("s", {})["y"], a)
    unseeded = _graph(_stateful("RandomUniform", dtype=("type", F32)), outputs={"y": "r:0"})
    assert not np.array_equal(runtime.Session(unseeded).run_signature("s", {})["y"],
                              runtime.Session(unseeded).run_signature("s", {})["y"])


def test_stateless_ops_are_functions_of_their_seed():
    def uniform(seed) -> np.ndarray:
        mg = meta([const("shape", np.array([1000], np.int32)), const("seed", np.array(seed, np.int64)),
                   node("u", "StatelessRandomUniform", ["shape", "seed"], dtype=("type", F32)),
                   node("kc", "StatelessRandomGetKeyCounter", ["seed"]), const("alg", np.int32(1)),
                   node("v2", "StatelessRandomUniformV2", ["shape", "kc:0", "kc:1", "alg"],
                        dtype=("type", F32))],
                  sigs={"s": ({}, {"v1": "u:0", "v2": "v2:0"})})
        sess = runtime.Session(mg)
        out = sess.run_signature("s", {})
        np.testing.assert_array_equal(out["v1"], sess.run_signature("s", {})["v1"])
        # V1 with a seed draws what V2 draws from that seed's key and counter, as in TF.
        np.testing.assert_array_equal(out["v1"], out["v2"])
        return out["v1"]

    a = uniform([1, 2])
    np.testing.assert_array_equal(a, uniform([1, 2]))
    assert not np.array_equal(a, uniform([1, 3]))
    _moments(a, 0.5, 1 / 12)
