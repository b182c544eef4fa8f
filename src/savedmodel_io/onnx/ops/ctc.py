"""CTC: the greedy decoder (ArgMax per step, NonZero of the kept steps) and the loss (the forward-backward
recursion in log space as two Loops over time, batched over the batch).

Semantics: the numpy runtime's kernels (graph/ops/ctc.py), which follow tensorflow/tensorflow
tensorflow/core/kernels/ctc_decoder_ops.cc, tensorflow/core/util/ctc/ctc_decoder.h (greedy: each step's
first maximum, blanks dropped, repeats merged) and tensorflow/core/kernels/ctc_loss_op.cc,
tensorflow/core/util/ctc/ctc_loss_calculator.{h,cc} (loss and gradient over the blank-interleaved labels).
TensorFlow rejects some inputs at run time (sequence lengths past the time axis, labels out of range, labels
longer than the sequence without ``ignore_longer_outputs_than_inputs``); a graph cannot raise: such lengths
are clipped, such labels clamped, and a too-short sequence gives an infinite loss.
"""

from __future__ import annotations

import numpy as np

from savedmodel_io.onnx._graph import ExportError, Graph, Val
from savedmodel_io.onnx.ops._loop import loop
from savedmodel_io.onnx.ops._registry import converter, inexpressible
from savedmodel_io.onnx.ops._util import cast, dim_of, i64, need_rank, reduce, scalar, squeeze, unsqueeze
from savedmodel_io.onnx.ops.strings import _sparse_rows

_I64 = np.int64


def _ints(g: Graph, *values: int) -> Val:
    return g.const(np.asarray(values, _I64))


def _check_inputs(x: Val, lengths: Val) -> None:
    if need_rank(x, "logits") != 3:
        raise ExportError("the logits must be [time, batch, classes]")
    if need_rank(lengths, "sequence lengths") != 1:
        raise ExportError("the sequence lengths must be a vector")
    if x.dtype not in (np.float32, np.float64):
        raise ExportError(f"CTC of {x.dtype} logits")


def _time_mask(g: Graph, x: Val, lengths: Val) -> Val:
    """[time, batch]: whether step t is within batch entry b's sequence."""
    steps = g.op1("Range", scalar(g, 0, _I64), squeeze(g, dim_of(g, x, 0), [0]), scalar(g, 1, _I64))
    return g.op1("Less", unsqueeze(g, steps, [1]), unsqueeze(g, i64(g, lengths), [0]))


@converter("CTCGreedyDecoder", onnx="ArgMax, ReduceMax, NonZero, CumSum, GatherND")
def greedy(cx, node, ins):
    """Each step's best class (ArgMax takes the first of equal maxima, as TF's decoder does), kept where it
    is within the sequence, not the blank and (``merge_repeated``) not the previous step's class; the kept
    classes of each batch entry, in order, are TF's sparse (indices, values, dense shape). The score is the
    negated sum of each step's maximum logit."""
    g = cx.g
    x, lengths = ins
    _check_inputs(x, lengths)
    classes = x.shape[2]
    blank = int(node.attr.get("blank_index", -1))
    if isinstance(classes, int):
        if not -classes <= blank < classes:
            raise ExportError(f"blank_index {blank} is outside [{-classes}, {classes})")
        blank_v = scalar(g, blank % classes, _I64)
    elif blank >= 0:
        blank_v = scalar(g, blank, _I64)
    else:
        blank_v = g.op1("Add", squeeze(g, dim_of(g, x, 2), [0]), scalar(g, blank, _I64))
    merge = bool(node.attr.get("merge_repeated", True))
    best = g.op1("ArgMax", x, axis=2, keepdims=0, select_last_index=0)  # [T, B]
    top = reduce(g, "ReduceMax", x, [2], keepdims=False)
    valid = _time_mask(g, x, lengths)
    total = reduce(g, "ReduceSum", g.op1("Where", valid, top, scalar(g, 0, x.dtype)), [0], keepdims=False)
    score = unsqueeze(g, g.op1("Neg", total), [1])
    keep = g.op1("And", valid, g.op1("Not", g.op1("Equal", best, blank_v)))
    if merge:
        first = g.op1("Expand", scalar(g, -1, _I64), g.op1("Concat", _ints(g, 1), dim_of(g, x, 1), axis=0))
        prev = g.op1("Slice", g.op1("Concat", first, best, axis=0), _ints(g, 0), _ints(g, -1), _ints(g, 0))
        keep = g.op1("And", keep, g.op1("Not", g.op1("Equal", best, prev)))
    # Row-major over (batch, time): the sparse result's order.
    indices, values, dense = _sparse_rows(g, g.op1("Transpose", best, perm=[1, 0]),
                                          g.op1("Transpose", keep, perm=[1, 0]))
    return [indices, values, dense, score]


inexpressible("not mapped yet: TensorFlow's beam search (tensorflow/core/util/ctc/ctc_beam_search.h) admits each "
              "prefix's children one at a time against the beam's current worst entry, evicting it, so its result "
              "depends on that order (and on its heap's order among equal scores): a Loop over steps, beams and "
              "labels, left for later", "CTCBeamSearchDecoder")


# -- loss -------------------------------------------------------------------------------------------


def _lse(g: Graph, *parts: Val) -> Val:
    """log(sum(exp(parts))), -inf when every part is -inf."""
    m = g.op1("Max", *parts) if len(parts) > 1 else parts[0]
    safe = g.op1("Where", g.op1("IsInf", m, detect_positive=0), scalar(g, 0.0, np.float64), m)
    total = None
    for p in parts:
        e = g.op1("Exp", g.op1("Sub", p, safe))
        total = e if total is None else g.op1("Add", total, e)
    return g.op1("Add", safe, g.op1("Log", total))


def _shift(g: Graph, a: Val, k: int, fill: Val, left: bool = False) -> Val:
    """``a`` [B, S] moved k places along S (right: a[s - k] at s; left: a[s + k]), ``fill`` [B, k] coming in."""
    if left:
        both = g.op1("Concat", a, fill, axis=1)
        return g.op1("Slice", both, _ints(g, k), _ints(g, np.iinfo(_I64).max), _ints(g, 1))
    both = g.op1("Concat", fill, a, axis=1)
    return g.op1("Slice", both, _ints(g, 0), _ints(g, -k), _ints(g, 1))


@converter("CTCLoss", onnx="Loop (alpha and beta recursions over time), GatherElements, ScatterND, MatMul")
def loss(cx, node, ins):
    """-log p(labels | logits) and its gradient (softmax minus each class's posterior occupancy), in float64
    as the runtime computes them. The labels of each batch entry (in order of appearance, collapsed with
    ``preprocess_collapse_repeated``) are scattered into a dense [batch, longest] matrix and interleaved with
    blanks (the last class); the alpha recursion runs over every step from a start state (log 1 before the
    first blank), the beta recursion backwards from each entry's last step, and each entry reads its alphas at
    its own length. A sequence shorter than its labels need gives 0 and a zero gradient with
    ``ignore_longer_outputs_than_inputs`` (TensorFlow raises without it)."""
    g = cx.g
    x, idx, vals, lengths = ins
    _check_inputs(x, lengths)
    merge = bool(node.attr.get("ctc_merge_repeated", True))
    collapse = bool(node.attr.get("preprocess_collapse_repeated", False))
    ignore_long = bool(node.attr.get("ignore_longer_outputs_than_inputs", False))
    f64 = np.float64
    neg = scalar(g, -np.inf, f64)
    xd = x.dtype
    b_dim, c_dim, t_dim = dim_of(g, x, 1), dim_of(g, x, 2), dim_of(g, x, 0)
    blank = g.op1("Sub", squeeze(g, c_dim, [0]), scalar(g, 1, _I64))
    t_len = g.op1("Min", g.op1("Max", i64(g, lengths), scalar(g, 0, _I64)), squeeze(g, t_dim, [0]))

    # The labels: batch entry of each, value, then the dense [B, Lmax] matrix (blank-filled).
    lb = g.op1("Gather", i64(g, idx), scalar(g, 0, _I64), axis=1)
    v = g.op1("Clip", i64(g, vals), scalar(g, 0, _I64), blank)
    if collapse:
        before = _ints(g, -1)
        prev_b = g.op1("Slice", g.op1("Concat", before, lb, axis=0), _ints(g, 0), _ints(g, -1))
        prev_v = g.op1("Slice", g.op1("Concat", before, v, axis=0), _ints(g, 0), _ints(g, -1))
        dup = g.op1("And", g.op1("Equal", lb, prev_b), g.op1("Equal", v, prev_v))
        kept = g.op1("Not", dup)
        lb, v = g.op1("Compress", lb, kept, axis=0), g.op1("Compress", v, kept, axis=0)
    batch_ids = g.op1("Range", scalar(g, 0, _I64), squeeze(g, b_dim, [0]), scalar(g, 1, _I64))
    member = cast(g, g.op1("Equal", unsqueeze(g, lb, [1]), unsqueeze(g, batch_ids, [0])), _I64)  # [n, B]
    n_labels = reduce(g, "ReduceSum", member, [0], keepdims=False)  # [B]
    starts = g.op1("CumSum", n_labels, scalar(g, 0, _I64), exclusive=1)
    n = squeeze(g, dim_of(g, lb, 0), [0])
    pos = g.op1("Sub", g.op1("Range", scalar(g, 0, _I64), n, scalar(g, 1, _I64)),
                g.op1("Gather", starts, lb, axis=0))
    longest = reduce(g, "ReduceMax", g.op1("Concat", n_labels, _ints(g, 0), axis=0), [0], keepdims=True)  # [1]
    dense_shape = g.op1("Concat", b_dim, longest, axis=0)
    labels = g.op1("ScatterND", g.op1("Expand", blank, dense_shape),
                   g.op1("Concat", unsqueeze(g, lb, [1]), unsqueeze(g, pos, [1]), axis=1), v)  # [B, Lmax]

    # The extended labels [B, S]: blank, l1, blank, l2, ..., blank (S = 2 Lmax + 1).
    lab3 = unsqueeze(g, labels, [2])
    blank3 = g.op1("Add", g.op1("Mul", lab3, scalar(g, 0, _I64)), blank)
    pairs = g.op1("Reshape", g.op1("Concat", blank3, lab3, axis=2),
                  g.op1("Concat", b_dim, g.op1("Mul", longest, _ints(g, 2)), axis=0))
    ext = g.op1("Concat", pairs, g.op1("Expand", blank, g.op1("Concat", b_dim, _ints(g, 1), axis=0)), axis=1)
    s_dim = dim_of(g, ext, 1)
    s_len = g.op1("Add", g.op1("Mul", n_labels, scalar(g, 2, _I64)), scalar(g, 1, _I64))  # [B]
    s_ids = g.op1("Range", scalar(g, 0, _I64), squeeze(g, s_dim, [0]), scalar(g, 1, _I64))
    is_blank = g.op1("Equal", ext, blank)
    fill2 = g.op1("Expand", _ints(g, -1), g.op1("Concat", b_dim, _ints(g, 2), axis=0))
    skip = g.op1("And", g.op1("GreaterOrEqual", s_ids, scalar(g, 2, _I64)), g.op1("Not", is_blank))
    if merge:
        skip = g.op1("And", skip, g.op1("Not", g.op1("Equal", ext, _shift(g, ext, 2, fill2))))
    stay = is_blank if not merge else None
    no = g.op1("Expand", g.const(np.asarray(False)), g.op1("Concat", b_dim, _ints(g, 2), axis=0))
    skip_next = _shift(g, skip, 2, no, left=True)  # skip[s + 2]: whether s + 2 may come from s

    # log-softmax in float64, and each step's emission log-probability of each state: [T, B, S].
    z = cast(g, x, f64)
    z = g.op1("Sub", z, reduce(g, "ReduceMax", z, [2], keepdims=True))
    log_y = g.op1("Sub", z, g.op1("Log", reduce(g, "ReduceSum", g.op1("Exp", z), [2], keepdims=True)))
    tbs = g.op1("Concat", t_dim, b_dim, s_dim, axis=0)
    emit = g.op1("GatherElements", log_y, g.op1("Expand", unsqueeze(g, ext, [0]), tbs), axis=2)

    bs = g.op1("Concat", b_dim, s_dim, axis=0)
    neg1 = g.op1("Expand", neg, g.op1("Concat", b_dim, _ints(g, 1), axis=0))
    neg2 = g.op1("Expand", neg, g.op1("Concat", b_dim, _ints(g, 2), axis=0))
    start = g.op1("Expand", g.op1("Where", g.op1("Equal", s_ids, scalar(g, 0, _I64)), scalar(g, 0.0, f64), neg), bs)

    def forward(gg: Graph, i: Val, vs: list[Val]):
        prev = vs[0]
        e = gg.op1("Gather", emit, i, axis=0)
        a0 = prev if stay is None else gg.op1("Where", stay, prev, neg)
        a1 = _shift(gg, prev, 1, neg1)
        a2 = gg.op1("Where", skip, _shift(gg, prev, 2, neg2), neg)
        new = gg.op1("Add", _lse(gg, a0, a1, a2), e)
        return None, [new], [new]

    trips = squeeze(g, t_dim, [0])
    _, (alphas,) = loop(g, "ctc_alpha", trips, None, [start], forward, [(np.dtype(f64), 2)])
    # Each entry's alphas after its own last step (the start state for an empty sequence).
    full = g.op1("Transpose", g.op1("Concat", unsqueeze(g, start, [0]), alphas, axis=0), perm=[1, 0, 2])
    at = g.op1("GatherElements", full, g.op1("Expand", g.op1("Reshape", t_len, _ints(g, -1, 1, 1)),
                                             g.op1("Concat", b_dim, _ints(g, 1), s_dim, axis=0)), axis=1)
    at = squeeze(g, at, [1])
    last = g.op1("GatherElements", at, unsqueeze(g, g.op1("Sub", s_len, scalar(g, 1, _I64)), [1]), axis=1)
    second = g.op1("GatherElements", at, unsqueeze(g, g.op1("Max", g.op1("Sub", s_len, scalar(g, 2, _I64)),
                                                                  scalar(g, 0, _I64)), [1]), axis=1)
    second = g.op1("Where", unsqueeze(g, g.op1("Greater", s_len, scalar(g, 1, _I64)), [1]), second, neg)
    log_p = squeeze(g, _lse(g, last, second), [1])  # [B]

    # Steps the labels need (a repeated label needs a blank between its copies when merging).
    need = n_labels
    if merge:
        same = g.op1("Equal", g.op1("Slice", labels, _ints(g, 1), _ints(g, np.iinfo(_I64).max), _ints(g, 1)),
                     g.op1("Slice", labels, _ints(g, 0), _ints(g, -1), _ints(g, 1)))
        j = g.op1("Range", scalar(g, 1, _I64), squeeze(g, longest, [0]), scalar(g, 1, _I64))
        same = g.op1("And", same, g.op1("Less", unsqueeze(g, j, [0]), unsqueeze(g, n_labels, [1])))
        need = g.op1("Add", need, reduce(g, "ReduceSum", cast(g, same, _I64), [1], keepdims=False))
    zero = g.op1("Equal", t_len, scalar(g, 0, _I64))
    if ignore_long:
        zero = g.op1("Or", zero, g.op1("Less", t_len, need))
    loss_v = cast(g, g.op1("Where", zero, scalar(g, 0.0, f64), g.op1("Neg", log_p)), xd)

    # beta[t, s]: log probability of the rest after state s at step t (step t's emission excluded).
    ends = g.op1("Or", g.op1("Equal", unsqueeze(g, s_ids, [0]), unsqueeze(g, g.op1("Sub", s_len, scalar(g, 1, _I64)), [1])),
                 g.op1("Equal", unsqueeze(g, s_ids, [0]), unsqueeze(g, g.op1("Sub", s_len, scalar(g, 2, _I64)), [1])))
    init = g.op1("Where", ends, scalar(g, 0.0, f64), neg)  # [B, S]
    emit_next = g.op1("Concat", g.op1("Slice", emit, _ints(g, 1), _ints(g, np.iinfo(_I64).max), _ints(g, 0)),
                      unsqueeze(g, g.op1("Expand", neg, bs), [0]), axis=0)
    t_last = unsqueeze(g, g.op1("Sub", t_len, scalar(g, 1, _I64)), [1])  # [B, 1]
    nothing = g.op1("Expand", neg, bs)

    def backward(gg: Graph, i: Val, vs: list[Val]):
        t = gg.op1("Sub", gg.op1("Sub", trips, scalar(gg, 1, _I64)), i)
        nxt = gg.op1("Add", vs[0], gg.op1("Gather", emit_next, t, axis=0))
        b0 = nxt if stay is None else gg.op1("Where", stay, nxt, neg)
        b1 = _shift(gg, nxt, 1, neg1, left=True)
        b2 = gg.op1("Where", skip_next, _shift(gg, nxt, 2, neg2, left=True), neg)
        rec = _lse(gg, b0, b1, b2)
        new = gg.op1("Where", gg.op1("Equal", t, t_last), init,
                     gg.op1("Where", gg.op1("Less", t, t_last), rec, neg))
        return None, [new], [new]

    _, (betas,) = loop(g, "ctc_beta", trips, None, [nothing], backward, [(np.dtype(f64), 2)])
    betas = g.op1("Slice", betas, _ints(g, -1), _ints(g, np.iinfo(_I64).min), _ints(g, 0), _ints(g, -1))
    occupied = g.op1("Exp", g.op1("Sub", g.op1("Add", alphas, betas), unsqueeze(g, log_p, [0, 2])))  # [T, B, S]
    classes = g.op1("Range", scalar(g, 0, _I64), squeeze(g, c_dim, [0]), scalar(g, 1, _I64))
    one_hot = cast(g, g.op1("Equal", unsqueeze(g, ext, [2]), unsqueeze(g, classes, [0, 1])), f64)  # [B, S, C]
    occ = g.op1("Transpose", g.op1("MatMul", g.op1("Transpose", occupied, perm=[1, 0, 2]), one_hot), perm=[1, 0, 2])
    occ = g.op1("Where", unsqueeze(g, g.op1("IsInf", log_p), [0, 2]), scalar(g, 0.0, f64), occ)
    grad = g.op1("Sub", g.op1("Exp", log_y), occ)
    inside = g.op1("And", _time_mask(g, x, t_len), g.op1("Not", unsqueeze(g, zero, [0])))
    grad = g.op1("Where", unsqueeze(g, inside, [2]), grad, scalar(g, 0.0, f64))
    return [loss_v, cast(g, grad, xd)]
