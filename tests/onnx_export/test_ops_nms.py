"""CombinedNonMaxSuppression and NonMaxSuppressionWithOverlaps in the cases TensorFlow's kernel cases
(tests/onnx_export/test_ops_tf.py) do not reach: batch and box count known only at run time, sizes
and thresholds computed at run time, scores tied among kept boxes (TF's heap order), nothing above
the score threshold, more detections than max_total_size, non-finite boxes and NaN overlaps.
Compared with the numpy runtime's kernels, which tests/graph compares with TensorFlow.
"""

from __future__ import annotations

import numpy as np
import pytest

from graph.test_runtime_core import I32, const, node, placeholder
from onnx_export.test_fused_ops import export_and_compare

pytest.importorskip("onnxruntime")

from savedmodel_io import dtypes, tensors  # noqa: E402
from savedmodel_io.graph import runtime  # noqa: E402
from savedmodel_io.onnx._convert import Exporter  # noqa: E402
from savedmodel_io.proto import MetaGraphDef  # noqa: E402


def _detections(batch: int, n: int, q: int, classes: int, seed: int, tied: bool) -> tuple[np.ndarray, np.ndarray]:
    """Boxes in clusters (so that suppression happens), partly outside [0, 1]; scores tied or not."""
    rs = np.random.RandomState(seed)
    centres = rs.uniform(0.1, 0.9, (4, 2))
    c = centres[rs.randint(0, 4, (batch, n, q))] + rs.normal(0, 0.05, (batch, n, q, 2))
    hw = rs.uniform(0.1, 0.4, (batch, n, q, 2))
    boxes = np.concatenate([c - hw / 2, c + hw / 2], axis=-1).astype(np.float32)
    flip = rs.rand(batch, n, q) < 0.2  # corners as (ymax, xmax, ymin, xmin)
    boxes[flip] = boxes[flip][:, [2, 3, 0, 1]]
    scores = rs.uniform(0, 1, (batch, n, classes)).astype(np.float32)
    if tied:  # few distinct values: kept boxes share their scores, the heap order decides
        scores = (np.round(scores * 4) / 4).astype(np.float32)
    return boxes, scores


def _combined(boxes: np.ndarray, scores: np.ndarray, per_class: int, total: int, iou: float, score: float,
              pad: bool, clip: bool, dynamic_sizes: bool = False, shapes: dict | None = None) -> None:
    sizes = {"per_class": np.asarray(per_class, np.int32), "total": np.asarray(total, np.int32)}
    feeds = {"boxes": boxes, "scores": scores}
    nodes = [placeholder("boxes"), placeholder("scores")]
    if dynamic_sizes:
        feeds |= sizes | {"iou": np.asarray(iou, np.float32), "score": np.asarray(score, np.float32)}
        nodes += [placeholder("per_class", I32), placeholder("total", I32), placeholder("iou"), placeholder("score")]
    else:
        nodes += [const(k, v) for k, v in sizes.items()]
        nodes += [const("iou", np.float32(iou)), const("score", np.float32(score))]
    nodes.append(node("y", "CombinedNonMaxSuppression", ["boxes", "scores", "per_class", "total", "iou", "score"],
                      pad_per_class=pad, clip_boxes=clip))
    q = boxes.shape[2]
    declared = {"boxes": (None, None, q, 4), "scores": (None, None, scores.shape[2])}
    if dynamic_sizes:
        declared |= {k: () for k in ("per_class", "total", "iou", "score")}
    export_and_compare(nodes, feeds, [f"y:{i}" for i in range(4)], shapes=shapes or declared)


@pytest.mark.parametrize("tied", [False, True])
@pytest.mark.parametrize("clip", [False, True])
@pytest.mark.parametrize("pad", [False, True])
@pytest.mark.parametrize("q", [1, 3])
def test_combined_of_unknown_batch_and_box_count(q, pad, clip, tied):
    """More candidates than max_total_size (7 of up to 3 x 5); tied scores take TF's heap order."""
    boxes, scores = _detections(2, 24, q, 3, seed=11 + q, tied=tied)
    _combined(boxes, scores, per_class=5, total=7, iou=0.4, score=0.2, pad=pad, clip=clip)


@pytest.mark.parametrize("pad", [False, True])
def test_combined_pads_past_what_is_kept(pad):
    """max_total_size beyond every kept box: the rest is zeros; pad_per_class caps the width at per_class x C."""
    boxes, scores = _detections(3, 10, 1, 2, seed=4, tied=False)
    _combined(boxes, scores, per_class=3, total=20, iou=0.5, score=0.3, pad=pad, clip=True)


@pytest.mark.parametrize("pad", [False, True])
def test_combined_with_nothing_above_the_score_threshold(pad):
    boxes, scores = _detections(2, 12, 3, 3, seed=5, tied=False)
    _combined(boxes, scores * 0.5, per_class=4, total=6, iou=0.5, score=0.5, pad=pad, clip=True)


@pytest.mark.parametrize("pad", [False, True])
def test_combined_sizes_and_thresholds_computed_at_run_time(pad):
    boxes, scores = _detections(2, 16, 1, 4, seed=6, tied=True)
    _combined(boxes, scores, per_class=3, total=9, iou=0.45, score=0.1, pad=pad, clip=False, dynamic_sizes=True)


@pytest.mark.parametrize("q", [1, 4])
def test_combined_saturated_scores(q):
    """Scores of confident detections saturated to exactly 1.0 on overlapping boxes: which box of the
    tie survives follows TF's heap, over 60 candidates a class."""
    boxes, scores = _detections(2, 60, q, 4, seed=9, tied=False)
    rs = np.random.RandomState(1)
    scores[rs.rand(*scores.shape) < 0.3] = 1.0
    scores[rs.rand(*scores.shape) < 0.2] = 0.0
    _combined(boxes, scores, per_class=6, total=15, iou=0.3, score=0.0, pad=False, clip=True)


def test_combined_of_static_shapes_and_empty_box_set():
    boxes, scores = _detections(2, 9, 1, 3, seed=7, tied=False)
    _combined(boxes, scores, per_class=2, total=5, iou=0.5, score=0.1, pad=True, clip=True,
              shapes={"boxes": boxes.shape, "scores": scores.shape})
    _combined(boxes[:, :0], scores[:, :0], per_class=2, total=5, iou=0.5, score=0.1, pad=False, clip=True)


@pytest.mark.parametrize("tied", [False, True])
def test_combined_non_finite_boxes(tied):
    """NaN and infinite corners: such IoUs are never above the threshold, in TF and ONNX alike
    (distinct scores: NonMaxSuppression alone; tied: in TF's heap order)."""
    boxes, scores = _detections(1, 20, 1, 2, seed=8, tied=False)
    boxes[0, [1, 4, 6, 9], 0] = [[np.nan, 0.1, 0.5, 0.5], [0.2, 0.2, np.inf, 0.6], [-np.inf, 0.2, 0.3, 0.4],
                                 [0.3, np.nan, 0.6, 0.7]]
    scores[0, [1, 4, 6, 9]] = 0.99 if tied else [[0.99], [0.98], [0.97], [0.96]]
    _combined(boxes, scores, per_class=8, total=12, iou=0.3, score=0.1, pad=False, clip=False)


def _refusal(nodes: list, shapes: dict[str, tuple], outputs: int) -> str:
    """The reason the export of float32 placeholders of ``shapes`` into ``nodes`` gives (one problem)."""
    mg = MetaGraphDef()
    mg.graph_def.node.extend(nodes)
    sd = mg.signature_def["s"]
    for k, shape in shapes.items():
        sd.inputs[k].name = f"{k}:0"
        sd.inputs[k].dtype = dtypes.from_numpy(np.dtype(np.float32))
        sd.inputs[k].tensor_shape.CopyFrom(tensors.shape_to_proto(shape))
    for i in range(outputs):
        sd.outputs[f"o{i}"].name = f"y:{i}"
        sd.outputs[f"o{i}"].dtype = dtypes.from_numpy(np.dtype(np.float32))
    ex = Exporter(runtime.Session(mg), 20)
    ex.signature("s")
    (problem,) = ex.problems
    return problem.reason


@pytest.mark.parametrize("boxes_shape,scores_shape,per_class,message", [
    ((1, 5, None, 4), (1, 5, 3), 2, "third dimension of boxes"),
    ((1, 5, 2, 4), (1, 5, 3), 2, "must be 1 or the number of classes"),
    ((1, 5, 1, 4), (1, 5, 3), 0, "max_output_size_per_class must be positive"),
])
def test_combined_refusals(boxes_shape, scores_shape, per_class, message):
    nodes = [placeholder("boxes"), placeholder("scores"), const("per_class", np.int32(per_class)),
             const("total", np.int32(4)), const("iou", np.float32(0.5)), const("score", np.float32(0)),
             node("y", "CombinedNonMaxSuppression", ["boxes", "scores", "per_class", "total", "iou", "score"])]
    assert message in _refusal(nodes, {"boxes": boxes_shape, "scores": scores_shape}, 4)


@pytest.mark.parametrize("case", ["random", "tied", "nan", "nothing_kept", "zero_limit"])
def test_nms_with_overlaps_of_unknown_size(case):
    """The greedy Loop; NaN overlaps take TF's queue, where a NaN zeroes the candidate's score."""
    rs = np.random.RandomState(12)
    n = 25
    overlaps = rs.uniform(0, 1, (n, n)).astype(np.float32)
    scores = rs.uniform(0, 1, n).astype(np.float32)
    limit, score_threshold = 10, 0.1
    if case == "tied":
        scores = (np.round(scores * 3) / 3).astype(np.float32)
    elif case == "nan":
        overlaps[rs.rand(n, n) < 0.15] = np.nan
        score_threshold = -0.5
    elif case == "nothing_kept":
        score_threshold = 1.0
    elif case == "zero_limit":
        limit = 0
    feeds = {"overlaps": overlaps, "scores": scores, "limit": np.asarray(limit, np.int32),
             "thr": np.asarray(0.6, np.float32)}
    nodes = [placeholder("overlaps"), placeholder("scores"), placeholder("limit", I32), placeholder("thr"),
             const("score", np.float32(score_threshold)),
             node("y", "NonMaxSuppressionWithOverlaps", ["overlaps", "scores", "limit", "thr", "score"])]
    export_and_compare(nodes, feeds, ["y:0"], shapes={"overlaps": (None, None), "scores": (None,), "limit": (),
                                                       "thr": ()})


def test_nms_with_overlaps_refuses_a_non_square_matrix():
    nodes = [placeholder("overlaps"), placeholder("scores"), const("limit", np.int32(3)),
             const("thr", np.float32(0.5)), const("score", np.float32(0)),
             node("y", "NonMaxSuppressionWithOverlaps", ["overlaps", "scores", "limit", "thr", "score"])]
    assert "overlaps must be square" in _refusal(nodes, {"overlaps": (4, 5), "scores": (4,)}, 1)
