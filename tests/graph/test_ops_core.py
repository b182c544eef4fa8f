"""Kernels TensorFlow cannot check here: ops it only rewrites, crashes on, or runs broken.

* QuantizeAndDequantize (V1): TensorFlow refuses graphs holding it since GraphDef version
  22; it must equal V2 with TF's V1 settings (ties to even, no narrow range).
* RequantizationRangePerChannel: the TensorFlow 2.21 x86 build answers +-FLT_MIN whatever
  the input; we follow its source (mkl_requantization_range_per_channel_op.cc).
* Abort ends TensorFlow's process; here it is an error.
* Batch/Unbatch: one caller's batch goes through whole.
"""

from __future__ import annotations

import numpy as np
import pytest

from savedmodel_io.errors import SavedModelError
from savedmodel_io.graph import ops
from savedmodel_io.graph.runtime import Context, Node, Session
from savedmodel_io.proto import MetaGraphDef

from .test_ops import run_op

F = np.float32


def test_quantize_and_dequantize_v1_is_v2():
    x = np.random.RandomState(0).standard_normal((3, 5)).astype(F) * 2
    for given in (False, True):
        v1 = run_op("QuantizeAndDequantize", x, range_given=given, input_min=-1.0, input_max=2.0,
                    signed_input=True, num_bits=8, T=1)
        v2 = run_op("QuantizeAndDequantizeV2", x, F(-1.0), F(2.0), range_given=given,
                    round_mode=b"HALF_TO_EVEN", T=1)
        np.testing.assert_array_equal(v1, v2)


def test_requantization_range_per_channel():
    q = np.array([[-100, 50], [200, -7], [1 << 30, 5], [-(1 << 31), (1 << 31) - 1]],
                 np.int32).reshape(1, 2, 2, 2)
    lo, hi = run_op("RequantizationRangePerChannel", q, F([-1, -2]), F([1, 2]), clip_value_max=5.0)
    # channel 1 spans +-(2^31 - 1) of a +-2 range; channel 0's INT32_MIN counts as 2^30
    assert (lo, hi) == (F(-2.0), F(2.0))
    lo, hi = run_op("RequantizationRangePerChannel", q, F([-1, -2]), F([1, 2]), clip_value_max=0.25)
    assert (lo, hi) == (F(-0.25), F(0.25))
    positive = np.array([3, 1 << 29, 0, 7], np.int32).reshape(1, 2, 2, 1)
    lo, hi = run_op("RequantizationRangePerChannel", positive, F([-1]), F([4]), clip_value_max=5.0)
    assert (lo, hi) == (F(0.0), F(1.0))
    with pytest.raises(SavedModelError, match="NHWC"):
        run_op("RequantizationRangePerChannel", q[0], F([-1, -2]), F([1, 2]), clip_value_max=5.0)


def test_abort_is_an_error():
    with pytest.raises(SavedModelError, match="intentional failure; stop"):
        run_op("Abort", error_msg=b"stop")


def test_batch_then_unbatch_returns_the_batch():
    session = Session(MetaGraphDef())
    ctx = Context(session, None, session.budget)
    x = np.arange(6, dtype=F).reshape(3, 2)
    batch, unbatch = ops.get("Batch").fn, ops.get("Unbatch").fn
    node = Node("b", "Batch", {}, 0, "test")
    node.bind({})
    batched, index, ident = batch(node, [x], ctx)
    np.testing.assert_array_equal(batched, x)
    assert index.tolist() == [[int(ident), 0, 3]]
    node = Node("u", "Unbatch", {}, 0, "test")
    node.bind({})
    np.testing.assert_array_equal(unbatch(node, [batched, index, ident], ctx), x)
    with pytest.raises(SavedModelError):
        unbatch(node, [batched, index, np.int64(int(ident) + 1)], ctx)
