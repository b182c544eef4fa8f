"""CTC: the greedy decoder (ArgMax per step, NonZero of the kept steps), the loss (the forward-backward
recursion in log space as two Loops over time, batched over the batch) and the beam search decoder
(TensorFlow's sequential prefix beam search replayed in nested Loops).

Semantics: the numpy runtime's kernels (graph/ops/ctc.py), which follow tensorflow/tensorflow
tensorflow/core/kernels/ctc_decoder_ops.cc, tensorflow/core/util/ctc/ctc_decoder.h (greedy: each step's
first maximum, blanks dropped, repeats merged) and tensorflow/core/kernels/ctc_loss_op.cc,
tensorflow/core/util/ctc/ctc_loss_calculator.{h,cc} (loss and gradient over the blank-interleaved labels),
tensorflow/core/util/ctc/ctc_beam_search.h, ctc_beam_entry.h and tensorflow/core/lib/gtl/top_n.h (beam search).
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


# -- beam search ------------------------------------------------------------------------------------

_BIG = np.iinfo(np.int64).max // 4


def _lse2(g: Graph, a: Val, b: Val) -> Val:
    """The runtime's two-term log-sum-exp: one -inf term gives the other, else hi + log(1 + exp(lo - hi))."""
    hi, lo = g.op1("Max", a, b), g.op1("Min", a, b)
    inf = g.op1("IsInf", lo, detect_positive=0)
    d = g.op1("Where", inf, scalar(g, 0, a.dtype), g.op1("Sub", lo, hi))
    return g.op1("Where", inf, hi, g.op1("Add", hi, g.op1("Log", g.op1("Add", scalar(g, 1, a.dtype), g.op1("Exp", d)))))


def _beam_order(g: Graph, act: Val, pos: Val, total: Val, width: int) -> Val:
    """The slots in the order TopN's extraction gives them: live ones by descending total, equal totals in
    list order (``pos``), then the empty slots. TopK puts equal values in index order, so the slots are
    first put in list order and then TopK'd by total."""
    k = _ints(g, width)
    key = g.op1("Where", act, pos, scalar(g, _BIG, _I64))
    _, by_pos = g.op("TopK", [key, k], outputs=2, largest=0, sorted=1)
    live = g.op1("Gather", act, by_pos, axis=0)
    t = g.op1("Gather", total, by_pos, axis=0)
    lowest = scalar(g, -np.inf, total.dtype)
    # live entries first among equal totals (an empty slot ranks below any live entry)
    rank_key = g.op1("Where", live, t, lowest)
    _, order = g.op("TopK", [rank_key, k], outputs=2, largest=1, sorted=1)
    order = g.op1("Gather", by_pos, order, axis=0)
    # an empty slot with a -inf key could come before a live -inf one: put live slots first, stably
    live_o = cast(g, g.op1("Gather", act, order, axis=0), _I64)
    _, again = g.op("TopK", [live_o, k], outputs=2, largest=1, sorted=1)
    return g.op1("Gather", order, again, axis=0)


def _same_prefix(g: Graph, pre: Val, plen: Val, want: Val, want_len: Val) -> Val:
    """[W]: whether each slot's prefix (``pre`` [W, T] padded with -1, ``plen`` [W]) is ``want`` ([T] or
    [W', 1, T] against every slot: [W', W]) of length ``want_len``."""
    eq = cast(g, g.op1("Equal", pre, want), _I64)
    all_eq = g.op1("Equal", reduce(g, "ReduceMin", g.op1("Concat", eq, g.op1("Expand", _ints(g, 1), g.op1(
        "Concat", g.op1("Shape", eq, start=0, end=-1), _ints(g, 1), axis=0)), axis=-1), [-1], keepdims=False),
        scalar(g, 1, _I64))
    return g.op1("And", all_eq, g.op1("Equal", plen, want_len))


@converter("CTCBeamSearchDecoder", onnx="Loop (batch) of a Loop (steps) of a Loop (prefixes x labels), TopK, NonZero")
def beam_search(cx, node, ins):
    """TensorFlow's prefix beam search replayed step by step: the beam is ``beam_width`` slots (each a prefix
    padded with -1, its length, last label, (blank, label, total) log-probabilities, and its place in
    TopN's list). Each step sorts the slots as TopN's extraction does (descending total, ties in list
    order), updates every prefix's probabilities (its parent found among the slots by comparing prefixes),
    then admits the children one at a time, prefix by prefix and label by label (a Loop), against the
    beam's current worst entry, which a child replaces when the beam is full: the order of these
    admissions decides what survives, so they are not batched. The log-softmax and the scores are in the
    logits' type, as the runtime computes them."""
    g = cx.g
    x, lengths = ins
    _check_inputs(x, lengths)
    width, top = int(node.attr.get("beam_width", 1)), int(node.attr.get("top_paths", 1))
    merge = bool(node.attr.get("merge_repeated", True))
    if not 0 < top <= width:
        raise ExportError(f"top_paths {top} must be in [1, beam_width {width}]")
    from savedmodel_io.onnx.ops._util import MAX_UNROLLED, bounded

    bounded(width, MAX_UNROLLED, "the beam width")
    ft = x.dtype
    neg = scalar(g, -np.inf, ft)
    t_dim, b_dim, c_dim = dim_of(g, x, 0), dim_of(g, x, 1), dim_of(g, x, 2)
    blank = g.op1("Sub", squeeze(g, c_dim, [0]), scalar(g, 1, _I64))
    m = reduce(g, "ReduceMax", x, [2], keepdims=True)
    norm = g.op1("Add", m, g.op1("Log", reduce(g, "ReduceSum", g.op1("Exp", g.op1("Sub", x, m)), [2], keepdims=True)))
    lp = g.op1("Sub", x, norm)  # [T, B, C]
    t_len = g.op1("Min", g.op1("Max", i64(g, lengths), scalar(g, 0, _I64)), squeeze(g, t_dim, [0]))
    w_ids = g.const(np.arange(width, dtype=_I64))
    wt = g.op1("Concat", _ints(g, width), t_dim, axis=0)
    cols = g.op1("Range", scalar(g, 0, _I64), squeeze(g, t_dim, [0]), scalar(g, 1, _I64))  # [T]
    first = g.const(np.arange(width) == 0)
    none = g.const(np.full(width, -np.inf, ft))
    start_total = g.const(np.where(np.arange(width) == 0, 0, -np.inf).astype(ft))

    def item(gb: Graph, b: Val, _vs: list[Val]):
        xb = gb.op1("Gather", lp, b, axis=1)  # [T, C]
        steps = gb.op1("Gather", t_len, b, axis=0)
        state0 = [gb.op1("Expand", scalar(gb, -1, _I64), wt), gb.const(np.zeros(width, _I64)),
                  gb.const(np.full(width, -1, _I64)), first, w_ids, start_total, none, start_total]

        def step(gt: Graph, t: Val, vs: list[Val]):
            pre, plen, last, act, pos, sb, sl, st = vs
            row = gt.op1("Gather", xb, t, axis=0)  # [C]
            order = _beam_order(gt, act, pos, st, width)
            pre, plen, last, act, ob, ol, ot = (gt.op1("Gather", v, order, axis=0)
                                                 for v in (pre, plen, last, act, sb, sl, st))
            pos = gt.op1("Where", act, w_ids, scalar(gt, _BIG, _I64))
            # Every live prefix's new probabilities (its parent: the live slot holding it minus its last label).
            is_root = gt.op1("Equal", plen, scalar(gt, 0, _I64))
            last_at = unsqueeze(gt, gt.op1("Sub", plen, scalar(gt, 1, _I64)), [1])
            parent_pre = gt.op1("Where", gt.op1("Equal", unsqueeze(gt, cols, [0]), last_at), scalar(gt, -1, _I64), pre)
            match = _same_prefix(gt, unsqueeze(gt, pre, [0]), unsqueeze(gt, plen, [0]), unsqueeze(gt, parent_pre, [1]),
                                 last_at)  # [W (child), W (parent)]
            match = gt.op1("And", match, unsqueeze(gt, act, [0]))
            has_parent = gt.op1("And", gt.op1("Not", is_root),
                                gt.op1("Greater", reduce(gt, "ReduceMax", cast(gt, match, _I64), [1], keepdims=False),
                                       scalar(gt, 0, _I64)))
            pj = gt.op1("ArgMax", cast(gt, match, np.int32), axis=1, keepdims=0)
            p_ob, p_ot = gt.op1("Gather", ob, pj, axis=0), gt.op1("Gather", ot, pj, axis=0)
            before = gt.op1("Max", gt.op1("Sub", plen, scalar(gt, 2, _I64)), scalar(gt, 0, _I64))
            p_last = gt.op1("Where", gt.op1("GreaterOrEqual", plen, scalar(gt, 2, _I64)),
                            squeeze(gt, gt.op1("GatherElements", pre, unsqueeze(gt, before, [1]), axis=1), [1]),
                            scalar(gt, -1, _I64))
            prev = gt.op1("Where", gt.op1("Equal", last, p_last), p_ob, p_ot)
            nl = gt.op1("Where", has_parent, _lse2(gt, ol, prev), ol)
            emit = gt.op1("Gather", row, gt.op1("Max", last, scalar(gt, 0, _I64)), axis=0)
            nl = gt.op1("Where", is_root, nl, gt.op1("Add", nl, emit))
            nb = gt.op1("Add", ot, gt.op1("Gather", row, blank, axis=0))
            nt = _lse2(gt, nb, nl)
            sb, sl, st = (gt.op1("Where", act, v, neg) for v in (nb, nl, nt))
            n_live = reduce(gt, "ReduceSum", cast(gt, act, _I64), None, keepdims=False)
            labels = blank  # classes 0 .. blank - 1
            per = gt.op1("Max", labels, scalar(gt, 1, _I64))  # (no labels: no iterations, and no division by 0)

            def admit(g4: Graph, k: Val, ws: list[Val]):
                pre4, plen4, last4, act4, pos4, sb4, sl4, st4, counter, go, dead = ws
                r = g4.op1("Div", k, per)
                lab = g4.op1("Mod", k, per)
                count = reduce(g4, "ReduceSum", cast(g4, act4, _I64), None, keepdims=False)
                inf = scalar(g4, np.inf, ft)
                worst = reduce(g4, "ReduceMin", g4.op1("Where", act4, st4, inf), None, keepdims=False)
                at_worst = g4.op1("Where", g4.op1("And", act4, g4.op1("Equal", st4, worst)), pos4, scalar(g4, _BIG, _I64))
                bottom = g4.op1("ArgMin", at_worst, axis=0, keepdims=0)
                room = g4.op1("Less", count, scalar(g4, width, _I64))

                def candidate(total: Val) -> Val:
                    return g4.op1("And", g4.op1("Greater", total, neg),
                                  g4.op1("Or", room, g4.op1("Greater", total, worst)))

                b_ot, b_ob = g4.op1("Gather", ot, r, axis=0), g4.op1("Gather", ob, r, axis=0)
                # A branch examined (and turned down) as another's child earlier in this step lost its old
                # probabilities (the runtime sets a rejected child's old and new to -inf): it extends nothing.
                b_ot = g4.op1("Where", g4.op1("Gather", dead, r, axis=0), neg, b_ot)
                fresh = g4.op1("Equal", lab, scalar(g4, 0, _I64))  # a new prefix: its candidacy is decided now
                go = g4.op1("Or", g4.op1("And", fresh, candidate(b_ot)), g4.op1("And", g4.op1("Not", fresh), go))
                b_pre, b_len = g4.op1("Gather", pre, r, axis=0), g4.op1("Gather", plen, r, axis=0)
                c_pre = g4.op1("Where", g4.op1("Equal", cols, b_len), lab, b_pre)  # [T]
                c_len = g4.op1("Add", b_len, scalar(g4, 1, _I64))
                there = g4.op1("And", _same_prefix(g4, pre4, plen4, unsqueeze(g4, c_pre, [0]), c_len),
                               g4.op1("And", act4, g4.op1("Not", g4.op1("IsInf", st4, detect_positive=0))))
                there = g4.op1("Greater", reduce(g4, "ReduceSum", cast(g4, there, _I64), None, keepdims=False),
                               scalar(g4, 0, _I64))
                b_last = g4.op1("Gather", last, r, axis=0)
                c_total = g4.op1("Add", g4.op1("Gather", row, lab, axis=0),
                                 g4.op1("Where", g4.op1("Equal", lab, b_last), b_ob, b_ot))
                tried = g4.op1("And", go, g4.op1("Not", there))
                ok = candidate(c_total)
                do = g4.op1("And", tried, ok)
                branch = g4.op1("And", _same_prefix(g4, pre, plen, unsqueeze(g4, c_pre, [0]), c_len), act)
                dead = g4.op1("Or", dead, g4.op1("And", branch, g4.op1("And", tried, g4.op1("Not", ok))))
                free = g4.op1("ArgMax", cast(g4, g4.op1("Not", act4), np.int32), axis=0, keepdims=0)
                slot = g4.op1("Where", room, free, bottom)
                put = g4.op1("And", g4.op1("Equal", w_ids, slot), do)  # [W]
                pre4 = g4.op1("Where", unsqueeze(g4, put, [1]), unsqueeze(g4, c_pre, [0]), pre4)
                plen4 = g4.op1("Where", put, c_len, plen4)
                last4 = g4.op1("Where", put, lab, last4)
                act4 = g4.op1("Or", act4, put)
                pos4 = g4.op1("Where", put, counter, pos4)
                sb4 = g4.op1("Where", put, neg, sb4)
                sl4 = g4.op1("Where", put, c_total, sl4)
                st4 = g4.op1("Where", put, c_total, st4)
                counter = g4.op1("Add", counter, cast(g4, do, _I64))
                return None, [pre4, plen4, last4, act4, pos4, sb4, sl4, st4, counter, go, dead], []

            trips = gt.op1("Mul", n_live, labels)
            out, _ = loop(gt, "ctc_admit", trips, None,
                          [pre, plen, last, act, pos, sb, sl, st, scalar(gt, width, _I64),
                           gt.const(np.asarray(False)), gt.const(np.zeros(width, bool))], admit)
            return None, out[:8], []

        final, _ = loop(gb, "ctc_step", steps, None, state0, step)
        pre, plen, last, act, pos, sb, sl, st = final
        order = gb.op1("Slice", _beam_order(gb, act, pos, st, width), _ints(gb, 0), _ints(gb, top))
        return None, [], [gb.op1("Gather", pre, order, axis=0), gb.op1("Gather", plen, order, axis=0),
                          gb.op1("Gather", st, order, axis=0)]

    _, (paths, plens, scores) = loop(g, "ctc_beam", squeeze(g, b_dim, [0]), None, [], item,
                                     [(np.dtype(_I64), 2), (np.dtype(_I64), 1), (np.dtype(ft), 1)])
    indices, values, shapes = [], [], []
    for p in range(top):
        rows = squeeze(g, g.op1("Gather", paths, _ints(g, p), axis=1), [1])  # [B, T]
        n = g.op1("Gather", plens, _ints(g, p), axis=1)  # [B, 1]
        keep = g.op1("Less", unsqueeze(g, cols, [0]), n)
        if merge:
            fill = g.op1("Expand", _ints(g, -2), g.op1("Concat", b_dim, _ints(g, 1), axis=0))
            before = g.op1("Slice", g.op1("Concat", fill, rows, axis=1), _ints(g, 0), _ints(g, -1), _ints(g, 1))
            keep = g.op1("And", keep, g.op1("Not", g.op1("Equal", rows, before)))
        i_, v_, s_ = _sparse_rows(g, rows, keep)
        indices.append(i_)
        values.append(v_)
        shapes.append(s_)
    return [*indices, *values, *shapes, scores]
