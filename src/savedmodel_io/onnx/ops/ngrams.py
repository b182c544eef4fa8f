"""StringNGrams (``tf.strings.ngrams``, Keras ``TextVectorization(ngrams=...)``): each n-gram joined by
StringConcat of gathered tokens on a [rows, slots, positions] grid, the grid cells that hold an n-gram picked
by NonZero in TensorFlow's order (per row, each width's n-grams in turn).

Semantics: the numpy runtime's kernel (graph/ops/strings.py, ``string_ngrams``), which follows
tensorflow/tensorflow tensorflow/core/kernels/string_ngrams_op.cc: a row padded with ``p = min(pad_width,
width - 1)`` copies of left_pad and right_pad (``width - 1`` when pad_width is negative) has
``len + 2p - width + 1`` n-grams of that width; with ``preserve_short_sequences`` a non-empty row that has none
gives one n-gram of the whole row padded with ``pad_width`` on each side; empty data or splits give one empty
string per data element and zero splits. TensorFlow rejects malformed splits at run time; a graph cannot
raise, so their tokens are clamped into the data.
"""

from __future__ import annotations

import numpy as np

from savedmodel_io.onnx._graph import ExportError, Graph, Val
from savedmodel_io.onnx.ops._registry import converter
from savedmodel_io.onnx.ops._util import MAX_UNROLLED, bounded, cast, dim_of, i64, need_rank, reduce, scalar, unsqueeze

_I64 = np.int64
_OBJ = np.dtype(object)


def _ints(g: Graph, *values: int) -> Val:
    return g.const(np.asarray(values, _I64))


def _text(node, name: str) -> bytes:
    v = node.attr.get(name, b"")
    return v if isinstance(v, bytes) else str(v).encode()


@converter("StringNGrams", onnx="Gather, StringConcat, Where, NonZero, GatherND, CumSum")
def string_ngrams(cx, node, ins):
    """Every slot (one per width, and one for a short row's whole-row n-gram) is a [rows, positions] grid
    of joined tokens: position k of width w joins padded tokens k..k+w-1, each gathered from the data with
    left_pad and right_pad appended (a padded position before the row is left_pad, after it right_pad). A
    cell holds an n-gram when k is below its row's count for that width; NonZero of the [rows, slots,
    positions] mask lists the n-grams row by row, width by width, position by position, TF's order, and the
    new splits are the running sum of each row's count. The widths, pads and separator are attrs, so the
    joins are unrolled (one StringConcat per token of each width)."""
    if cx.opset < 20:
        raise ExportError("StringNGrams needs ONNX opset 20 (StringConcat)")
    g = cx.g
    data, splits = ins
    if need_rank(data, "data") != 1 or need_rank(splits, "splits") != 1:
        raise ExportError("the data and the splits must be vectors")
    sep, left, right = _text(node, "separator"), _text(node, "left_pad"), _text(node, "right_pad")
    widths = [int(w) for w in node.attr.get("ngram_widths", [])]
    pad_width = int(node.attr.get("pad_width", -1))
    preserve = bool(node.attr.get("preserve_short_sequences", False))
    if any(w <= 0 for w in widths):
        raise ExportError("ngram_widths must be positive")
    bounded(sum(widths), MAX_UNROLLED, "the sum of the n-gram widths")
    pads = [min(w - 1 if pad_width < 0 else pad_width, w - 1) for w in widths]
    # A short row (no n-gram of any width) has len + 2 pad_width <= min(widths) - 1 tokens.
    short = min(widths, default=0) - 1 if preserve and pad_width >= 0 else 0

    sp = i64(g, splits)
    zero = scalar(g, 0, _I64)
    n_data = dim_of(g, data, 0)  # [1]
    starts = g.op1("Slice", sp, _ints(g, 0), _ints(g, -1))
    lengths = g.op1("Sub", g.op1("Slice", sp, _ints(g, 1), _ints(g, np.iinfo(_I64).max)), starts)  # [R]
    rows = dim_of(g, lengths, 0)
    longest = reduce(g, "ReduceMax", g.op1("Concat", lengths, _ints(g, 0), axis=0), [0], keepdims=False)
    grid = g.op1("Add", longest, scalar(g, 2 * max(pads, default=0) + 1, _I64))
    k = unsqueeze(g, g.op1("Range", zero, grid, scalar(g, 1, _I64)), [0])  # [1, K]
    tokens = g.op1("Concat", data, g.const(np.asarray([left, right], dtype=object)), axis=0)
    n = g.op1("Reshape", n_data, g.const(np.zeros(0, _I64)))
    start2, len2 = unsqueeze(g, starts, [1]), unsqueeze(g, lengths, [1])  # [R, 1]
    has_data = g.op1("Greater", n, zero)
    sep_v = g.const(np.asarray(sep, dtype=object))
    shape_rk = g.op1("Concat", rows, unsqueeze(g, grid, [0]), axis=0)

    def token(pos: Val, p: int) -> Val:
        """The padded row's token at ``pos`` (pad ``p`` each side)."""
        at = g.op1("Sub", g.op1("Add", start2, pos), scalar(g, p, _I64))
        at = g.op1("Clip", at, zero, g.op1("Sub", n, scalar(g, 1, _I64)))
        at = g.op1("Where", g.op1("Less", pos, scalar(g, p, _I64)), n,
                   g.op1("Where", g.op1("GreaterOrEqual", pos, g.op1("Add", len2, scalar(g, p, _I64))),
                         g.op1("Add", n, scalar(g, 1, _I64)), at))
        return g.op1("Gather", tokens, at, axis=0)

    def join(acc: Val, piece: Val) -> Val:
        if sep:
            piece = g.op1("StringConcat", sep_v, piece)
        return g.op1("StringConcat", acc, piece)

    texts, masks = [], []
    total = None
    for w, p in zip(widths, pads):
        text = token(k, p)
        for j in range(1, w):
            text = join(text, token(g.op1("Add", k, scalar(g, j, _I64)), p))
        count = g.op1("Max", g.op1("Add", lengths, scalar(g, 2 * p - w + 1, _I64)), zero)  # [R]
        count = g.op1("Where", has_data, count, zero)
        total = count if total is None else g.op1("Add", total, count)
        texts.append(text)
        masks.append(g.op1("Less", k, unsqueeze(g, count, [1])))
    if short > 0:
        size = g.op1("Add", len2, scalar(g, 2 * pad_width, _I64))  # [R, 1]
        text = token(g.const(np.zeros((1, 1), _I64)), pad_width)
        blank = g.const(np.asarray(b"", dtype=object))
        for j in range(1, short):
            pos = g.const(np.full((1, 1), j, _I64))
            more = g.op1("StringConcat", sep_v, token(pos, pad_width)) if sep else token(pos, pad_width)
            text = g.op1("StringConcat", text, g.op1("Where", g.op1("Less", pos, size), more, blank))
        texts.append(g.op1("Expand", text, shape_rk))
        alone = g.op1("And", g.op1("Equal", total, zero), g.op1("Greater", lengths, zero))
        masks.append(g.op1("And", g.op1("Equal", k, zero), unsqueeze(g, alone, [1])))
    if not texts:
        raise ExportError("no n-gram widths")
    # Each slot as [R, 1, K] (a slot's text may be [R, K] or broadcast from [1, K] when there is no row data).
    texts = [g.op1("Expand", unsqueeze(g, t, [1]), g.op1("Concat", rows, _ints(g, 1), unsqueeze(g, grid, [0]), axis=0))
             for t in texts]
    text = g.op1("Concat", *texts, axis=1) if len(texts) > 1 else texts[0]
    mask = g.op1("Concat", *[unsqueeze(g, m, [1]) for m in masks], axis=1) if len(masks) > 1 else unsqueeze(g, masks[0], [1])
    at = g.op1("Transpose", g.op1("NonZero", mask), perm=[1, 0])
    ngrams = g.op1("GatherND", text, at)
    per_row = reduce(g, "ReduceSum", cast(g, mask, _I64), [1, 2], keepdims=False)  # [R]
    first = g.op1("Mul", g.op1("Slice", sp, _ints(g, 0), _ints(g, 1)), zero)  # [0], or [] without splits
    out_splits = cast(g, g.op1("Concat", first, g.op1("CumSum", per_row, zero), axis=0), splits.dtype)
    # No splits at all: one empty string per data element (and no splits), as TensorFlow gives.
    no_splits = cast(g, g.op1("Equal", dim_of(g, sp, 0), _ints(g, 0)), _I64)
    blanks = g.op1("Expand", g.const(np.asarray([b""], dtype=object)), g.op1("Mul", n_data, no_splits))
    return [g.op1("Concat", ngrams, blanks, axis=0), out_splits]
