"""Bounding boxes: non-max suppression (V1-V5, with overlaps, combined) and DrawBoundingBoxes.

Semantics from tensorflow/tensorflow tensorflow/core/kernels/image/
non_max_suppression_op.cc and draw_bounding_box_op.cc: candidates are visited by
descending score (ties: lower index first), IoU is computed in float32 from each box's
min/max corners, thresholds are compared in the op's type T (float32 or float16).

Hard suppression (soft_nms_sigma == 0) keeps a candidate iff its overlap with every box
kept before it is at most the threshold, so each kept box suppresses the later
candidates in one vectorised step. Soft-NMS (and overlaps that are NaN, which TF's loop
treats specially) runs TF's queue algorithm candidate by candidate.
"""

from __future__ import annotations

import heapq

import numpy as np

from savedmodel_io.graph.ops._registry import kernel
from savedmodel_io.graph.ops._util import bad, check_size, np_dtype

_F = np.float32


def _scalar(node, v, what: str) -> np.ndarray:
    v = np.asarray(v)
    if v.ndim != 0:
        raise bad(node, f"{what} must be 0-D, got shape {list(v.shape)}")
    return v


def _corners(boxes: np.ndarray) -> tuple[np.ndarray, ...]:
    """(ymin, xmin, ymax, xmax, area) in float32; corners may come in either order."""
    b = boxes.astype(_F, copy=False)
    ymin, ymax = np.minimum(b[:, 0], b[:, 2]), np.maximum(b[:, 0], b[:, 2])
    xmin, xmax = np.minimum(b[:, 1], b[:, 3]), np.maximum(b[:, 1], b[:, 3])
    return ymin, xmin, ymax, xmax, (ymax - ymin) * (xmax - xmin)


def _iou_with(c: tuple[np.ndarray, ...], cand: np.ndarray, j: int) -> np.ndarray:
    """IoU (float32) of boxes ``cand`` with box ``j``; 0 when either box has no area."""
    ymin, xmin, ymax, xmax, area = c
    with np.errstate(all="ignore"):
        ih = np.maximum(np.minimum(ymax[cand], ymax[j]) - np.maximum(ymin[cand], ymin[j]), _F(0))
        iw = np.maximum(np.minimum(xmax[cand], xmax[j]) - np.maximum(xmin[cand], xmin[j]), _F(0))
        inter = ih * iw
        iou = inter / (area[cand] + area[j] - inter)
    return np.where((area[cand] <= 0) | (area[j] <= 0), _F(0), iou)


def _order(scores: np.ndarray, threshold) -> np.ndarray:
    """Indices of scores above ``threshold``, by descending score, ties by index."""
    keep = np.flatnonzero(scores > threshold)
    return keep[np.lexsort((keep, -scores[keep].astype(np.float64)))]


def _hard_nms(sim, order: np.ndarray, threshold, t: type, limit: int) -> list[int]:
    """Greedy hard NMS: each kept box drops the later candidates it overlaps by > threshold."""
    alive = np.ones(order.size, bool)
    kept: list[int] = []
    for pos in range(order.size):
        if len(kept) >= limit:
            break
        if not alive[pos]:
            continue
        i = int(order[pos])
        kept.append(i)
        rest = order[pos + 1:]
        if rest.size:
            alive[pos + 1:] &= ~(sim(rest, i).astype(t) > threshold)
    return kept


def _queue_nms(sim1, order: np.ndarray, scores: np.ndarray, iou_threshold, score_threshold,
               sigma, t: type, limit: int) -> tuple[list[int], list]:
    """TF's DoNonMaxSuppressionOp loop: soft-NMS re-queues a candidate with its decayed score."""
    soft = sigma > t(0)
    scale = t(-0.5) / sigma if soft else t(0)
    heap = [(-float(scores[i]), int(i), 0, scores[i]) for i in order]
    heapq.heapify(heap)
    kept: list[int] = []
    kept_scores: list = []
    while len(kept) < limit and heap:
        _, i, begin, score = heapq.heappop(heap)
        original = score
        hard = False
        for j in range(len(kept) - 1, begin - 1, -1):
            s = t(sim1(i, kept[j]))
            with np.errstate(all="ignore"):
                weight = t(np.exp(scale * s * s))
            score = t(score * (weight if soft or s <= iou_threshold else t(0)))
            if not soft and s > iou_threshold:
                hard = True
                break
            if score <= score_threshold:
                break
        if hard:
            continue
        if score == original:
            kept.append(i)
            kept_scores.append(score)
        elif score > score_threshold:
            heapq.heappush(heap, (-float(score), i, len(kept), score))
    return kept, kept_scores


def _run_nms(node, boxes_or_overlaps, scores, max_size, iou_threshold, score_threshold, sigma,
             t: type, overlaps: bool = False):
    """(kept indices, their scores) of one NMS call, validated as TF validates it."""
    limit = int(_scalar(node, max_size, "max_output_size"))
    if limit < 0:
        raise bad(node, "output size must be non-negative")
    x = np.asarray(boxes_or_overlaps)
    if overlaps:
        if x.ndim != 2 or x.shape[0] != x.shape[1]:
            raise bad(node, f"overlaps must be a square 2-D matrix, got shape {list(x.shape)}")
    elif x.ndim != 2 or x.shape[1] != 4:
        raise bad(node, f"boxes must be 2-D with 4 columns, got shape {list(x.shape)}")
    n = x.shape[0]
    scores = np.asarray(scores)
    if scores.ndim != 1 or scores.shape[0] != n:
        raise bad(node, f"scores must be 1-D of {n} elements, got shape {list(scores.shape)}")
    scores = scores.astype(t, copy=False)
    order = _order(scores, score_threshold)
    if overlaps:
        m = x.astype(_F, copy=False)
        finite = bool(np.isfinite(m).all())

        def sim(rows, j):
            return m[rows, j]

        def sim1(i, j):
            return m[i, j]
    else:
        c = _corners(x)
        finite = bool(np.isfinite(x).all())

        def sim(rows, j):
            return _iou_with(c, rows, j)

        def sim1(i, j):
            return _iou_with(c, np.array([i]), j)[0]
    if sigma > t(0) or not finite:
        return _queue_nms(sim1, order, scores, iou_threshold, score_threshold, sigma, t, limit)
    kept = _hard_nms(sim, order, iou_threshold, t, limit)
    return kept, [scores[i] for i in kept]


def _threshold(node, v, t: type, what: str):
    """A scalar threshold input as type T; the IoU threshold must lie in [0, 1]."""
    value = t(_scalar(node, v, what))
    if what == "iou_threshold" and not (value >= t(0) and value <= t(1)):
        raise bad(node, "iou_threshold must be in [0, 1]")
    return value


def _boxes_type(node) -> type:
    """The op's T (float32 or float16): the type its scores and thresholds are compared in."""
    return np_dtype(node.attr["T"]).type


@kernel("NonMaxSuppression", per_element=True)
def nms_v1(node, inputs, ctx):
    t = _F
    iou = t(node.attr["iou_threshold"])
    if not (iou >= 0 and iou <= 1):
        raise bad(node, "iou_threshold must be in [0, 1]")
    kept, _ = _run_nms(node, inputs[0], inputs[1], inputs[2], iou, np.finfo(t).min, t(0), t)
    return np.asarray(kept, np.int32)


@kernel("NonMaxSuppressionV2", per_element=True)
def nms_v2(node, inputs, ctx):
    t = _boxes_type(node)
    iou = _threshold(node, inputs[3], t, "iou_threshold")
    kept, _ = _run_nms(node, inputs[0], inputs[1], inputs[2], iou, np.finfo(t).min, t(0), t)
    return np.asarray(kept, np.int32)


@kernel("NonMaxSuppressionV3", per_element=True)
def nms_v3(node, inputs, ctx):
    t = _boxes_type(node)
    iou = _threshold(node, inputs[3], t, "iou_threshold")
    score = _threshold(node, inputs[4], t, "score_threshold")
    kept, _ = _run_nms(node, inputs[0], inputs[1], inputs[2], iou, score, t(0), t)
    return np.asarray(kept, np.int32)


def _padded(node, kept: list[int], scores: list, t: type, limit) -> tuple[np.ndarray, ...]:
    n = len(kept)
    size = int(np.asarray(limit)) if bool(node.attr["pad_to_max_output_size"]) else n
    idx = np.zeros(size, np.int32)
    idx[:n] = kept
    sc = np.zeros(size, t)
    sc[:n] = scores
    return idx, sc, np.int32(n)


@kernel("NonMaxSuppressionV4", per_element=True)
def nms_v4(node, inputs, ctx):
    t = _boxes_type(node)
    iou = _threshold(node, inputs[3], t, "iou_threshold")
    score = _threshold(node, inputs[4], t, "score_threshold")
    kept, scores = _run_nms(node, inputs[0], inputs[1], inputs[2], iou, score, t(0), t)
    idx, _, n = _padded(node, kept, scores, t, inputs[2])
    return [idx, n]


@kernel("NonMaxSuppressionV5", per_element=True)
def nms_v5(node, inputs, ctx):
    t = _boxes_type(node)
    iou = _threshold(node, inputs[3], t, "iou_threshold")
    score = _threshold(node, inputs[4], t, "score_threshold")
    sigma = t(_scalar(node, inputs[5], "soft_nms_sigma"))
    if not sigma >= t(0):
        raise bad(node, "soft_nms_sigma_val must be >= 0")
    kept, scores = _run_nms(node, inputs[0], inputs[1], inputs[2], iou, score, sigma, t)
    return list(_padded(node, kept, scores, t, inputs[2]))


@kernel("NonMaxSuppressionWithOverlaps", per_element=True)
def nms_with_overlaps(node, inputs, ctx):
    thr = _F(_scalar(node, inputs[3], "overlap_threshold"))
    score = _F(_scalar(node, inputs[4], "score_threshold"))
    kept, _ = _run_nms(node, inputs[0], inputs[1], inputs[2], thr, score, _F(0), _F,
                       overlaps=True)
    return np.asarray(kept, np.int32)


# -- CombinedNonMaxSuppression ----------------------------------------------------------------

def _heap_order(scores: np.ndarray, cand: np.ndarray) -> np.ndarray:
    """The order a C++ std::priority_queue (libstdc++, compared by score only) pops ``cand``.

    With distinct scores this is simply descending score; equal scores come out in the order
    the heap's sift-up / sift-down leaves them, which decides which of two equal boxes wins.
    """
    s = scores[cand]
    if np.unique(s).size == s.size:
        return cand[np.argsort(-s.astype(np.float64), kind="stable")]
    heap: list[int] = []
    for c in cand.tolist():  # std::push_heap
        heap.append(c)
        hole = len(heap) - 1
        while hole > 0:
            parent = (hole - 1) // 2
            if not scores[heap[parent]] < scores[c]:
                break
            heap[hole] = heap[parent]
            hole = parent
        heap[hole] = c
    out = []
    while heap:  # std::pop_heap: move the last element into the root's hole, sift down, up
        out.append(heap[0])
        value = heap.pop()
        n = len(heap)
        if not n:
            break
        hole, child = 0, 0
        while child < (n - 1) // 2:
            child = 2 * (child + 1)
            if scores[heap[child]] < scores[heap[child - 1]]:
                child -= 1
            heap[hole] = heap[child]
            hole = child
        if n % 2 == 0 and child == (n - 2) // 2:
            child = 2 * (child + 1)
            heap[hole] = heap[child - 1]
            hole = child - 1
        while hole > 0:
            parent = (hole - 1) // 2
            if not scores[heap[parent]] < scores[value]:
                break
            heap[hole] = heap[parent]
            hole = parent
        heap[hole] = value
    return np.asarray(out, np.int64)


@kernel("CombinedNonMaxSuppression", per_element=True)
def combined_nms(node, inputs, ctx):
    boxes, scores = np.asarray(inputs[0]), np.asarray(inputs[1])
    if boxes.ndim != 4:
        raise bad(node, f"boxes must be 4-D [batch, num_boxes, q, 4], got shape "
                        f"{list(boxes.shape)}")
    if scores.ndim != 3:
        raise bad(node, f"scores must be 3-D [batch, num_boxes, num_classes], got shape "
                        f"{list(scores.shape)}")
    batch, n, q, four = boxes.shape
    classes = scores.shape[2]
    if q not in (1, classes):
        raise bad(node, "third dimension of boxes must be either 1 or num classes")
    if four != 4:
        raise bad(node, "boxes must have 4 columns")
    if scores.shape[1] != n:
        raise bad(node, "scores has incompatible shape")
    if scores.shape[0] != batch:
        raise bad(node, "boxes and scores must have same batch size")
    per_class = int(_scalar(node, inputs[2], "max_size_per_class"))
    if per_class <= 0:
        raise bad(node, "max_size_per_class must be positive")
    total = int(_scalar(node, inputs[3], "max_total_size"))
    if total <= 0:
        raise bad(node, "max_total_size must be > 0")
    iou_thr = _F(_scalar(node, inputs[4], "iou_threshold"))
    score_thr = _F(_scalar(node, inputs[5], "score_threshold"))
    if not (iou_thr >= 0 and iou_thr <= 1):
        raise bad(node, "iou_threshold must be in [0, 1]")
    pad_per_class = bool(node.attr["pad_per_class"])
    clip = bool(node.attr["clip_boxes"])
    size_per_class = min(per_class, n)
    if size_per_class * classes > 2**31 - 1:
        raise bad(node, "size_per_class * num_classes causes overflow")
    max_total = min(2**31 - 1, per_class * classes)
    per_batch = min(total, max_total) if pad_per_class else total
    check_size(node, (batch, per_batch, 6), 4)
    boxes = boxes.astype(_F, copy=False)
    scores = scores.astype(_F, copy=False)
    out_boxes = np.zeros((batch, per_batch, 4), _F)
    out_scores = np.zeros((batch, per_batch), _F)
    out_classes = np.zeros((batch, per_batch), _F)
    valid = np.zeros(batch, np.int32)
    for b in range(batch):
        found: list[tuple[float, int, int]] = []  # (score, class, box), in TF's vector order
        for k in range(classes):
            s = scores[b, :, k]
            cand = np.flatnonzero(s > score_thr)
            order = _heap_order(s, cand)
            bx = boxes[b, :, k if q > 1 else 0]
            c = _corners(bx)
            kept = _hard_nms(lambda rows, j: _iou_with(c, rows, j), order, iou_thr, _F,
                             size_per_class)
            found += [(float(s[i]), k, i) for i in kept]
        found.sort(key=lambda r: -r[0])  # TF: std::sort by score (equal scores: any order)
        count = min(len(found), per_batch if pad_per_class else total)
        valid[b] = count
        for r, (sc, k, i) in enumerate(found[:count]):
            box = boxes[b, i, k if q > 1 else 0]
            out_boxes[b, r] = np.clip(box, 0, 1) if clip else box
            out_scores[b, r] = sc
            out_classes[b, r] = k
    return [out_boxes, out_scores, out_classes, valid]


# -- DrawBoundingBoxes -----------------------------------------------------------------------

_COLOURS = np.float32([[1, 1, 0, 1], [0, 0, 1, 1], [1, 0, 0, 1], [0, 1, 0, 1], [0.5, 0, 0.5, 1],
                       [0.5, 0.5, 0, 1], [0.5, 0, 0, 1], [0, 0, 0.5, 1], [0, 1, 1, 1],
                       [1, 0, 1, 1]])


def _trunc_int(v: np.float32) -> int:
    """float -> int64 as C++ converts it (NaN and overflow: INT64_MIN, as x86 gives)."""
    if not np.isfinite(v) or abs(float(v)) >= 2.0**63:
        return -(2**63)
    return int(v)


@kernel("DrawBoundingBoxes", "DrawBoundingBoxesV2")
def draw_bounding_boxes(node, inputs, ctx):
    images, boxes = np.asarray(inputs[0]), np.asarray(inputs[1])
    if images.ndim != 4:
        raise bad(node, "The rank of the images should be 4")
    if boxes.ndim != 3:
        raise bad(node, "The rank of the boxes tensor should be 3")
    if images.shape[0] != boxes.shape[0]:
        raise bad(node, "The batch sizes should be the same")
    batch, h, w, depth = images.shape
    if depth not in (1, 3, 4):
        raise bad(node, "Channel depth should be either 1 (GRY), 3 (RGB), or 4 (RGBA)")
    if boxes.shape[2] != 4:
        raise bad(node, f"The size of the third dimension of the box must be 4. Received: "
                        f"{boxes.shape[2]}")
    table = None
    if len(inputs) == 3:
        colors = np.asarray(inputs[2])
        if colors.ndim != 2:
            raise bad(node, f"colors must be a 2-D matrix, got shape {list(colors.shape)}")
        if colors.shape[1] < depth:
            raise bad(node, f"colors must have equal or more channels than the image provided: "
                            f"{list(colors.shape)}")
        if colors.size:
            table = colors[:, :depth].astype(_F)
    if table is None:
        table = _COLOURS[:, :depth].copy()
        if depth == 1:
            table[:, 0] = 1
    canvas = images.copy()
    table = table.astype(images.dtype)
    boxes = boxes.astype(_F, copy=False)
    for b in range(batch):
        for k in range(boxes.shape[1]):
            colour = table[k % len(table)]
            y0 = _trunc_int(boxes[b, k, 0] * _F(h - 1))
            y1 = _trunc_int(boxes[b, k, 2] * _F(h - 1))
            x0 = _trunc_int(boxes[b, k, 1] * _F(w - 1))
            x1 = _trunc_int(boxes[b, k, 3] * _F(w - 1))
            if y0 > y1 or x0 > x1 or y0 >= h or y1 < 0 or x0 >= w or x1 < 0:
                continue  # inverted, or wholly outside: TF skips it
            r0, r1 = max(y0, 0), min(y1, h - 1)
            c0, c1 = max(x0, 0), min(x1, w - 1)
            if y0 >= 0:
                canvas[b, y0, c0:c1 + 1] = colour
            if y1 < h:
                canvas[b, y1, c0:c1 + 1] = colour
            if x0 >= 0:
                canvas[b, r0:r1 + 1, x0] = colour
            if x1 < w:
                canvas[b, r0:r1 + 1, x1] = colour
    return canvas
