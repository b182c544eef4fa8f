"""PopulationCount's mapping (onnx/ops/math.py) beyond TensorFlow's kernel cases: every integer
type over its whole range, batches of any rank, scalars and empty tensors, unknown sizes, the
oldest opset; compared with numpy's bit count and the runtime's kernel (checked against TF in
tests/graph/test_ops_array_extra_tf.py)."""

from __future__ import annotations

import numpy as np
import pytest

from graph.test_runtime_core import const, node, placeholder
from onnx_export.test_fused_ops import export_and_compare

from savedmodel_io import dtypes

ort = pytest.importorskip("onnxruntime")

RS = np.random.RandomState(77)
INTS = [np.int8, np.uint8, np.int16, np.uint16, np.int32, np.uint32, np.int64, np.uint64]


def _values(dt: type, shape: tuple[int, ...]) -> np.ndarray:
    """Random bit patterns of ``dt`` (every bit equally likely), led by 0, all ones, min and max."""
    info = np.iinfo(dt)
    raw = RS.randint(0, 256, (*shape, np.dtype(dt).itemsize)).astype(np.uint8)
    x = raw.view(dt).reshape(shape)
    flat = x.reshape(-1)
    flat[:4] = [0, np.array(-1).astype(dt), info.min, info.max][:len(flat[:4])]
    return x


def _bits(x: np.ndarray) -> np.ndarray:
    """numpy's count of the set bits of each element (its bytes unpacked)."""
    return np.unpackbits(x.reshape(-1, 1).view(np.uint8), axis=1).sum(axis=1).astype(np.uint8).reshape(x.shape)


@pytest.mark.parametrize("opset", [15, 20])
@pytest.mark.parametrize("dt", INTS)
def test_every_integer_type(dt, opset):
    x = _values(dt, (3, 5, 7))
    t = dtypes.from_numpy(np.dtype(dt))
    nodes = [placeholder("x", t), node("y", "PopulationCount", ["x"], T=("type", t))]
    proto = export_and_compare(nodes, {"x": x}, ["y:0"], opset=opset, shapes={"x": (None, None, 7)})
    sess = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    (got,) = sess.run(None, {"x": x})
    np.testing.assert_array_equal(got, _bits(x))
    assert got.reshape(-1)[1] == 8 * np.dtype(dt).itemsize and got.dtype == np.uint8


@pytest.mark.parametrize("shape", [(), (0,), (4, 0, 2), (2, 1, 3, 2, 2)])
def test_shapes(shape):
    x = _values(np.int32, shape) if np.prod(shape) else np.zeros(shape, np.int32)
    t = dtypes.from_numpy(np.dtype(np.int32))
    export_and_compare([placeholder("x", t), node("y", "PopulationCount", ["x"], T=("type", t))],
                       {"x": x}, ["y:0"])


def test_constant_input():
    """A constant operand (its Cast folded into the constant) counts the same bits."""
    x = _values(np.int16, (9,))
    t = dtypes.from_numpy(np.dtype(np.int16))
    nodes = [placeholder("z", t), const("c", x), node("y", "PopulationCount", ["c"], T=("type", t)),
             node("w", "PopulationCount", ["z"], T=("type", t))]
    export_and_compare(nodes, {"z": x}, ["y:0", "w:0"])
