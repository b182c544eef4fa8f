"""Box kernels against ``tf.raw_ops``: NonMaxSuppression V1-V5 (hard and soft, padded,
float16), NonMaxSuppressionWithOverlaps, CombinedNonMaxSuppression and DrawBoundingBoxes.

Boxes are clustered so that suppression happens; scores include ties (TF's queue order
decides which of two equal boxes survives), corners in either order, zero-area and NaN boxes.
"""

from __future__ import annotations

import numpy as np

from .raw_ops_harness import Cases, i32

CASES = Cases(seed=7003)
add = CASES.add
RS = CASES.rs


def _boxes(n: int, clusters: int = 4) -> np.ndarray:
    centres = RS.uniform(0.2, 0.8, size=(clusters, 2))
    c = centres[RS.randint(0, clusters, n)] + RS.normal(0, 0.04, size=(n, 2))
    hw = RS.uniform(0.05, 0.3, size=(n, 2))
    b = np.concatenate([c - hw / 2, c + hw / 2], axis=1).astype(np.float32)
    flip = RS.rand(n) < 0.2  # corners given as (ymax, xmax, ymin, xmin)
    b[flip] = b[flip][:, [2, 3, 0, 1]]
    return b


BOXES = _boxes(30)
SCORES = RS.uniform(0, 1, 30).astype(np.float32)
TIED = np.round(SCORES * 4) / 4  # many equal scores
ODD = BOXES.copy()
ODD[3] = [0.5, 0.5, 0.5, 0.9]  # zero area
ODD[7] = [0.2, 0.2, 0.2, 0.2]
ODD[11] = [np.nan, 0.1, 0.5, 0.5]


def _nms() -> None:
    f = np.float32
    for tag, boxes, scores in (("rand", BOXES, SCORES), ("tied", BOXES, TIED),
                               ("odd", ODD, SCORES)):
        add("NonMaxSuppression", tag, {"iou_threshold": 0.4}, boxes=boxes, scores=scores,
            max_output_size=i32(10)[0])
        add("NonMaxSuppressionV2", tag, boxes=boxes, scores=scores, max_output_size=i32(30)[0],
            iou_threshold=f(0.5))
        add("NonMaxSuppressionV3", tag, boxes=boxes, scores=scores, max_output_size=i32(8)[0],
            iou_threshold=f(0.3), score_threshold=f(0.2))
        for pad in (False, True):
            add("NonMaxSuppressionV4", f"{tag}-pad{pad}", {"pad_to_max_output_size": pad},
                boxes=boxes, scores=scores, max_output_size=i32(12)[0], iou_threshold=f(0.45),
                score_threshold=f(0.1))
            add("NonMaxSuppressionV5", f"{tag}-pad{pad}", {"pad_to_max_output_size": pad},
                boxes=boxes, scores=scores, max_output_size=i32(12)[0], iou_threshold=f(0.45),
                score_threshold=f(0.1), soft_nms_sigma=f(0.0))
        for sigma in (0.1, 0.5):
            add("NonMaxSuppressionV5", f"{tag}-soft{sigma}", boxes=boxes, scores=scores,
                max_output_size=i32(20)[0], iou_threshold=f(1.0), score_threshold=f(0.05),
                soft_nms_sigma=f(sigma))
    h = np.float16
    add("NonMaxSuppressionV2", "half", boxes=BOXES.astype(h), scores=SCORES.astype(h),
        max_output_size=i32(30)[0], iou_threshold=h(0.5))
    add("NonMaxSuppressionV3", "half", boxes=BOXES.astype(h), scores=SCORES.astype(h),
        max_output_size=i32(30)[0], iou_threshold=h(0.5), score_threshold=h(0.3))
    add("NonMaxSuppressionV3", "half_f32_thresholds", boxes=BOXES.astype(h),
        scores=SCORES.astype(h), max_output_size=i32(30)[0], iou_threshold=f(0.5),
        score_threshold=f(0.3))
    add("NonMaxSuppressionV5", "half_soft", boxes=BOXES.astype(h), scores=SCORES.astype(h),
        max_output_size=i32(30)[0], iou_threshold=h(0.6), score_threshold=h(0.05),
        soft_nms_sigma=h(0.3), rtol=1e-3)
    add("NonMaxSuppressionV3", "empty", boxes=np.zeros((0, 4), f), scores=np.zeros(0, f),
        max_output_size=i32(5)[0], iou_threshold=f(0.5), score_threshold=f(0))
    add("NonMaxSuppressionV3", "zero_max", boxes=BOXES, scores=SCORES,
        max_output_size=i32(0)[0], iou_threshold=f(0.5), score_threshold=f(0))
    add("NonMaxSuppressionV3", "neg_max", boxes=BOXES, scores=SCORES,
        max_output_size=i32(-1)[0], iou_threshold=f(0.5), score_threshold=f(0))
    add("NonMaxSuppressionV3", "iou_above_one", boxes=BOXES, scores=SCORES,
        max_output_size=i32(5)[0], iou_threshold=f(1.5), score_threshold=f(0))
    add("NonMaxSuppressionV3", "three_columns", boxes=BOXES[:, :3], scores=SCORES,
        max_output_size=i32(5)[0], iou_threshold=f(0.5), score_threshold=f(0))
    add("NonMaxSuppressionV3", "score_mismatch", boxes=BOXES, scores=SCORES[:5],
        max_output_size=i32(5)[0], iou_threshold=f(0.5), score_threshold=f(0))
    add("NonMaxSuppressionV5", "neg_sigma", boxes=BOXES, scores=SCORES,
        max_output_size=i32(5)[0], iou_threshold=f(0.5), score_threshold=f(0),
        soft_nms_sigma=f(-1))
    add("NonMaxSuppression", "bad_iou", {"iou_threshold": 1.5}, boxes=BOXES, scores=SCORES,
        max_output_size=i32(10)[0])

    ov = RS.uniform(0, 1, size=(12, 12)).astype(f)
    for tag, scores in (("rand", SCORES[:12]), ("tied", TIED[:12])):
        add("NonMaxSuppressionWithOverlaps", tag, overlaps=ov, scores=scores,
            max_output_size=i32(6)[0], overlap_threshold=f(0.5), score_threshold=f(0.1))
    add("NonMaxSuppressionWithOverlaps", "not_square", overlaps=ov[:5], scores=SCORES[:5],
        max_output_size=i32(6)[0], overlap_threshold=f(0.5), score_threshold=f(0.1))


def _combined() -> None:
    f = np.float32
    boxes = np.stack([_boxes(20), _boxes(20)])[:, :, None, :]  # q = 1
    boxes_q = np.stack([np.stack([_boxes(20) for _ in range(3)], 1) for _ in range(2)])
    scores = RS.uniform(0, 1, (2, 20, 3)).astype(f)
    tied = np.round(scores * 3) / 3
    for tag, b, sc in (("q1", boxes, scores), ("q3", boxes_q, scores), ("tied", boxes, tied)):
        for pad in (False, True):
            for clip in (False, True):
                add("CombinedNonMaxSuppression", f"{tag}-pad{pad}-clip{clip}",
                    {"pad_per_class": pad, "clip_boxes": clip}, boxes=b * 1.2 - 0.1, scores=sc,
                    max_output_size_per_class=i32(4)[0], max_total_size=i32(9)[0],
                    iou_threshold=f(0.4), score_threshold=f(0.2))
    add("CombinedNonMaxSuppression", "big_total", {"pad_per_class": True}, boxes=boxes,
        scores=scores, max_output_size_per_class=i32(3)[0], max_total_size=i32(100)[0],
        iou_threshold=f(0.5), score_threshold=f(0.0))
    add("CombinedNonMaxSuppression", "neg_inf_threshold", boxes=boxes, scores=scores,
        max_output_size_per_class=i32(25)[0], max_total_size=i32(50)[0],
        iou_threshold=f(0.5), score_threshold=f(-np.inf))
    add("CombinedNonMaxSuppression", "bad_q", boxes=boxes_q[:, :, :2], scores=scores,
        max_output_size_per_class=i32(3)[0], max_total_size=i32(10)[0],
        iou_threshold=f(0.5), score_threshold=f(0.0))
    add("CombinedNonMaxSuppression", "zero_total", boxes=boxes, scores=scores,
        max_output_size_per_class=i32(3)[0], max_total_size=i32(0)[0],
        iou_threshold=f(0.5), score_threshold=f(0.0))


def _draw() -> None:
    img = RS.uniform(0, 1, (2, 9, 11, 3)).astype(np.float32)
    boxes = np.float32([[[0.1, 0.1, 0.8, 0.9], [0.5, -0.2, 1.4, 0.5], [0.7, 0.7, 0.2, 0.2],
                         [2, 2, 3, 3], [0, 0, 1, 1], [0.3, 0.3, 0.3, 0.3]],
                        [[-1, -1, 0.5, 0.5], [0.2, 0.6, 0.4, 1.2], [0.05, 0.05, 0.95, 0.95],
                         [0.4, 0.4, 0.6, 0.6], [0.1, 0.9, 0.2, 0.95], [-0.5, 0.1, -0.1, 0.4]]])
    for depth in (1, 3, 4):
        grey = img[..., :1].repeat(depth, -1)[..., :depth]
        add("DrawBoundingBoxes", f"depth{depth}", images=grey,
            boxes=boxes)
        add("DrawBoundingBoxesV2", f"depth{depth}", images=img[..., :1].repeat(depth, -1),
            boxes=boxes, colors=RS.uniform(0, 1, (3, 4)).astype(np.float32))
    add("DrawBoundingBoxes", "half", images=img.astype(np.float16), boxes=boxes)
    add("DrawBoundingBoxesV2", "no_colors", images=img, boxes=boxes,
        colors=np.zeros((0, 4), np.float32))
    add("DrawBoundingBoxesV2", "few_channels", images=img, boxes=boxes,
        colors=np.zeros((2, 2), np.float32))
    add("DrawBoundingBoxes", "depth2", images=img[..., :2], boxes=boxes)
    add("DrawBoundingBoxes", "batch_mismatch", images=img[:1], boxes=boxes)
    add("DrawBoundingBoxes", "no_boxes", images=img, boxes=np.zeros((2, 0, 4), np.float32))


_nms()
_combined()
_draw()

test_kernel_matches_tensorflow = CASES.test()
