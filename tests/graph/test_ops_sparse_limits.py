"""Sizes read from tensor values cannot make the segment, sparse and ragged kernels allocate
without bound: a few bytes of hostile input get LimitExceededError, not an OOM kill."""

from __future__ import annotations

import numpy as np
import pytest

from savedmodel_io.errors import LimitExceededError
from savedmodel_io.graph import ops
from savedmodel_io.graph.runtime import Node
from savedmodel_io.proto import DataType

HUGE = 1 << 40


def run(op, *inputs, **attrs):
    node = Node("n", op, attrs, 0, "test")
    node.bind({})
    return ops.get(op).fn(node, list(inputs), None)


@pytest.mark.parametrize("op,inputs,attrs", [
    ("SegmentSum", (np.float32([1, 2]), np.int64([0, HUGE])), {}),
    ("UnsortedSegmentSum", (np.float32([1]), np.int64([0]), np.int64(HUGE)), {}),
    ("SparseSegmentSumWithNumSegments",
     (np.float32([1]), np.int32([0]), np.int32([0]), np.int64(HUGE)), {}),
    ("DenseBincount", (np.int32([1]), np.int32(2**31 - 1), np.zeros(0, np.float32)), {}),
    ("SparseToDense", (np.int64([[0, 0]]), np.int64([HUGE, HUGE]), np.float32(1),
                       np.float32(0)), {}),
    ("RaggedRange", (np.float32(0), np.float32(1e12), np.float32(1)), {}),
    ("RaggedGather", (np.int64([0, 100000]), np.zeros(100000, np.float32),
                      np.zeros(1 << 20, np.int32)), {"PARAMS_RAGGED_RANK": 1}),
    ("SparseMatrixZeros", (np.int64([HUGE, HUGE, 2]),), {}),
    ("RaggedTensorToTensor", (np.int64([HUGE, HUGE]), np.float32([1]), np.float32(0),
                              np.int64([0, 1])), {"row_partition_types": ["ROW_SPLITS"]}),
    ("SparseCrossV2", ([np.int64([[0, k] for k in range(3000)])] * 3,
                       [np.arange(3000, dtype=np.int64)] * 3, [np.int64([1, 3000])] * 3, [],
                       np.array(b"_", object)), {"N": 3}),
])
def test_sizes_from_values_are_bounded(op, inputs, attrs):
    flat = []
    for v in inputs:
        flat.extend(v if isinstance(v, list) else [v])
    defaults = {"T": DataType.DT_FLOAT, "binary_output": False, "Tsplits": DataType.DT_INT64,
                "type": DataType.DT_FLOAT}
    with pytest.raises(LimitExceededError):
        run(op, *flat, **{**defaults, **attrs})
