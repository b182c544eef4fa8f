"""CTCGreedyDecoder and CTCLoss mappings (onnx/ops/ctc.py) beyond TensorFlow's kernel cases: random logits
with ties and all-blank steps, sequence lengths 0 and full, batches of one and several, every CTCLoss option,
dynamic shapes; compared on onnxruntime with the numpy runtime's kernels (checked against TensorFlow in
tests/graph/test_ops_nn_extra_tf.py)."""

from __future__ import annotations

import numpy as np
import pytest

from graph.test_runtime_core import node, placeholder
from onnx_export.test_fused_ops import export_and_compare

from savedmodel_io.proto import DataType

pytest.importorskip("onnxruntime")

I32, I64 = DataType.DT_INT32, DataType.DT_INT64


def _logits(rs: np.random.RandomState, t: int, b: int, c: int, dt=np.float32) -> np.ndarray:
    """Random logits with exact ties (values on a coarse grid) and a few all-blank steps."""
    x = (rs.randint(0, 4, (t, b, c)) / 2).astype(dt)
    if t and b:
        x[rs.randint(0, t, max(1, t // 3)), rs.randint(0, b), -1] = 9  # blank wins these steps
        x[0, 0, :] = 1  # a full tie: the first class wins
    return x


def _greedy(x: np.ndarray, lengths: np.ndarray, merge: bool, blank: int, dynamic: bool = True, opset: int = 20):
    t = DataType.DT_DOUBLE if x.dtype == np.float64 else DataType.DT_FLOAT
    nodes = [placeholder("x", t), placeholder("n", I32),
             node("d", "CTCGreedyDecoder", ["x", "n"], T=("type", t), merge_repeated=merge, blank_index=blank)]
    shapes = {"x": (None, None, x.shape[2]), "n": (None,)} if dynamic else None
    return export_and_compare(nodes, {"x": x, "n": lengths}, ["d:0", "d:1", "d:2", "d:3"], opset=opset,
                              shapes=shapes)


@pytest.mark.parametrize("merge", [True, False])
@pytest.mark.parametrize("blank", [-1, 0, 3, -5])
@pytest.mark.parametrize("tbc", [(1, 1, 5), (7, 1, 5), (9, 4, 5), (12, 6, 5)])
def test_greedy_random(tbc, blank, merge):
    t, b, c = tbc
    rs = np.random.RandomState(t * 100 + b * 10 + blank % c)
    x = _logits(rs, t, b, c)
    lengths = rs.randint(0, t + 1, b).astype(np.int32)
    lengths[0] = t  # a full sequence
    if b > 1:
        lengths[1] = 0  # an empty one
    _greedy(x, lengths, merge, blank)


def test_greedy_all_blank_and_repeats():
    x = np.zeros((6, 3, 4), np.float32)
    x[:, 0, 3] = 1  # entry 0: all blank -> nothing decoded
    x[:, 1, 2] = 1  # entry 1: one class repeated -> one label merged, six without merging
    x[:, 2, 1] = 1
    x[3, 2, 1], x[3, 2, 3] = 0, 1  # entry 2: a blank between repeats keeps both
    for merge in (True, False):
        _greedy(x, np.array([6, 6, 6], np.int32), merge, -1)
    _greedy(x[:, :1], np.array([6], np.int32), True, -1, dynamic=False)


def test_greedy_float64_and_oldest_opset():
    rs = np.random.RandomState(3)
    x = _logits(rs, 8, 3, 6, np.float64)
    _greedy(x, np.array([8, 2, 5], np.int32), True, -1, opset=15)


def test_greedy_empty_time():
    _greedy(np.zeros((0, 2, 3), np.float32), np.array([0, 0], np.int32), True, -1)


def _labels(rs: np.random.RandomState, b: int, c: int, most: int, repeats: bool) -> tuple[np.ndarray, np.ndarray]:
    idx, vals = [], []
    for k in range(b):
        n = rs.randint(0, most + 1)
        row = rs.randint(0, c - 1, n)
        if repeats and n > 2:
            row[1] = row[0]
        idx += [(k, i) for i in range(n)]
        vals += list(row)
    return np.asarray(idx, np.int64).reshape(-1, 2), np.asarray(vals, np.int32)


def _loss(x, idx, vals, lengths, collapse=False, merge=True, ignore=False, dynamic=True, opset=20):
    t = DataType.DT_DOUBLE if x.dtype == np.float64 else DataType.DT_FLOAT
    nodes = [placeholder("x", t), placeholder("i", I64), placeholder("v", I32), placeholder("n", I32),
             node("l", "CTCLoss", ["x", "i", "v", "n"], T=("type", t), preprocess_collapse_repeated=collapse,
                  ctc_merge_repeated=merge, ignore_longer_outputs_than_inputs=ignore)]
    shapes = {"x": (None, None, x.shape[2]), "i": (None, 2), "v": (None,), "n": (None,)} if dynamic else None
    return export_and_compare(nodes, {"x": x, "i": idx, "v": vals, "n": lengths}, ["l:0", "l:1"], shapes=shapes,
                              opset=opset)


@pytest.mark.parametrize("collapse", [False, True])
@pytest.mark.parametrize("merge", [True, False])
@pytest.mark.parametrize("tbc", [(1, 1, 3), (6, 1, 4), (10, 4, 5), (16, 5, 7)])
def test_loss_random(tbc, merge, collapse):
    t, b, c = tbc
    rs = np.random.RandomState(t * 31 + b + 2 * merge + collapse)
    x = rs.standard_normal((t, b, c)).astype(np.float32)
    idx, vals = _labels(rs, b, c, max(0, t // 3), repeats=True)
    lengths = np.full(b, t, np.int32)
    if b > 2:
        lengths[2] = t - 1
    _loss(x, idx, vals, lengths, collapse, merge)


def test_loss_ignore_longer_outputs():
    """Entries whose labels need more steps than they have (and an empty sequence) give 0 and no gradient."""
    rs = np.random.RandomState(5)
    x = rs.standard_normal((6, 4, 5)).astype(np.float32)
    idx = np.array([[0, 0], [0, 1], [1, 0], [1, 1], [1, 2], [1, 3], [2, 0], [2, 1]], np.int64)
    vals = np.array([1, 2, 0, 1, 1, 2, 3, 3], np.int32)  # entry 2's repeat needs a blank between
    for merge in (True, False):
        _loss(x, idx, vals, np.array([6, 3, 2, 0], np.int32), merge=merge, ignore=True, opset=15 if merge else 20)


def test_loss_no_labels_and_float64():
    rs = np.random.RandomState(8)
    x = rs.standard_normal((5, 3, 4))
    _loss(x, np.zeros((0, 2), np.int64), np.zeros(0, np.int32), np.array([5, 0, 2], np.int32))
    idx, vals = _labels(rs, 3, 4, 2, repeats=False)
    _loss(x, idx, vals, np.array([5, 4, 5], np.int32), dynamic=False)


def _beam(x, lengths, width, top, merge, dynamic=True):
    t = DataType.DT_DOUBLE if x.dtype == np.float64 else DataType.DT_FLOAT
    nodes = [placeholder("x", t), placeholder("n", I32),
             node("d", "CTCBeamSearchDecoder", ["x", "n"], T=("type", t), beam_width=width, top_paths=top,
                  merge_repeated=merge)]
    shapes = {"x": (None, None, x.shape[2]), "n": (None,)} if dynamic else None
    outs = [f"d:{i}" for i in range(3 * top + 1)]
    return export_and_compare(nodes, {"x": x, "n": lengths}, outs, shapes=shapes)


@pytest.mark.parametrize("merge", [True, False])
@pytest.mark.parametrize("width,top", [(1, 1), (2, 2), (4, 3), (7, 1), (12, 5)])
@pytest.mark.parametrize("tbc", [(1, 1, 3), (6, 2, 4), (10, 3, 6)])
def test_beam_search_random(tbc, width, top, merge):
    """Random logits, and logits on a coarse grid (exactly equal scores: TopN's list order decides)."""
    t, b, c = tbc
    rs = np.random.RandomState(t * 7 + width + top + merge)
    for x in (rs.standard_normal((t, b, c)).astype(np.float32), _logits(rs, t, b, c)):
        lengths = np.full(b, t, np.int32)
        if b > 1:
            lengths[1] = max(1, t // 2)
        leaves = min(width, c ** 1) if t == 1 else width  # a single step has at most `classes` prefixes
        if top <= leaves:
            _beam(x, lengths, width, top, merge)


def test_beam_search_float64_and_static_shapes():
    rs = np.random.RandomState(11)
    _beam(rs.standard_normal((5, 2, 4)), np.array([5, 3], np.int32), 3, 2, True, dynamic=False)


def test_beam_search_empty_sequence_and_one_class():
    """A sequence of length 0 keeps the empty prefix (score 0); a single class (the blank) decodes nothing."""
    rs = np.random.RandomState(12)
    _beam(rs.standard_normal((4, 3, 5)).astype(np.float32), np.array([4, 0, 2], np.int32), 3, 1, True)
    _beam(rs.standard_normal((4, 2, 1)).astype(np.float32), np.array([4, 1], np.int32), 2, 1, False)
