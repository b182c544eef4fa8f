"""Fused RNN cells, softmax cross-entropy losses, the CTC decoders and loss, and
Dilation2DBackpropInput against ``tf.raw_ops``."""

from __future__ import annotations

import ml_dtypes
import numpy as np

from .raw_ops_harness import Cases

CASES = Cases(seed=5103)
add = CASES.add
f32 = CASES.f32
RS = CASES.rs

F = np.float32


def _lstm_inputs(batch: int, inp: int, cell: int, time: int | None = None) -> dict:
    x = f32(time, batch, inp) if time is not None else f32(batch, inp)
    return {"x": x, "cs_prev": f32(batch, cell), "h_prev": f32(batch, cell),
            "w": f32(inp + cell, 4 * cell) * F(0.5), "wci": f32(cell), "wcf": f32(cell),
            "wco": f32(cell), "b": f32(4 * cell)}


def _rnn() -> None:
    for peep in (False, True):
        for clip in (3.0, 0.0, 0.2):
            add("LSTMBlockCell", f"peep{peep}_clip{clip}", {"use_peephole": peep, "cell_clip": clip,
                                                             "forget_bias": 0.5},
                **_lstm_inputs(3, 4, 5))
    # TF computes half precision op by op in half; we compute in float32 and round once.
    add("LSTMBlockCell", "half", {}, rtol=5e-3,
        **{k: v.astype(np.float16) for k, v in _lstm_inputs(2, 3, 2).items()})
    bad = _lstm_inputs(3, 4, 5)
    bad["w"] = f32(8, 20)
    add("LSTMBlockCell", "bad_w", {}, **bad)
    for op in ("BlockLSTM", "BlockLSTMV2"):
        for peep in (False, True):
            add(op, f"peep{peep}", {"use_peephole": peep, "cell_clip": 1.5},
                seq_len_max=np.int64(4), **_lstm_inputs(2, 3, 4, time=4))
    cell = 3
    gru = {"x": f32(2, 4), "h_prev": f32(2, cell), "w_ru": f32(4 + cell, 2 * cell),
           "w_c": f32(4 + cell, cell), "b_ru": f32(2 * cell), "b_c": f32(cell)}
    add("GRUBlockCell", "basic", {}, **gru)
    add("GRUBlockCell", "bad_bias", {}, **{**gru, "b_c": f32(cell + 1)})


def _losses() -> None:
    logits = np.vstack([f32(3, 5) * 4, np.array([[1000, -1000, 0, 0, 1]], F)])
    labels = np.abs(f32(4, 5))
    labels /= labels.sum(axis=1, keepdims=True)
    for dt in (np.float32, np.float64, np.float16):
        add("SoftmaxCrossEntropyWithLogits", f"{np.dtype(dt).name}", {},
            rtol=2e-3 if dt == np.float16 else None,
            features=logits.astype(dt), labels=labels.astype(dt))
    add("SoftmaxCrossEntropyWithLogits", "broadcast", {}, features=logits, labels=labels[:1])
    add("SoftmaxCrossEntropyWithLogits", "rank1", {}, features=logits[0], labels=labels[0])
    add("SoftmaxCrossEntropyWithLogits", "empty", {}, features=np.zeros((0, 3), F),
        labels=np.zeros((0, 3), F))
    for lt in (np.int32, np.int64):
        add("SparseSoftmaxCrossEntropyWithLogits", np.dtype(lt).name, {}, features=logits,
            labels=np.array([0, 4, 2, 1], lt))
    add("SparseSoftmaxCrossEntropyWithLogits", "float64", {}, features=logits.astype(np.float64),
        labels=np.array([3, 0, 1, 1], np.int32))
    add("SparseSoftmaxCrossEntropyWithLogits", "out_of_range", {}, features=logits,
        labels=np.array([0, 5, 2, 1], np.int32))
    add("SparseSoftmaxCrossEntropyWithLogits", "negative", {}, features=logits,
        labels=np.array([0, -1, 2, 1], np.int32))
    add("SparseSoftmaxCrossEntropyWithLogits", "bad_batch", {}, features=logits,
        labels=np.array([0, 1], np.int32))


def _ctc() -> None:
    x = f32(6, 3, 4)
    x[1, 0] = x[0, 0]  # a repeat
    x[2, 1, :] = 0.5  # a tie: the first class wins
    lengths = np.array([6, 4, 0], np.int32)
    for merge in (False, True):
        for blank in (-1, 0, 2):
            add("CTCGreedyDecoder", f"merge{merge}_blank{blank}",
                {"merge_repeated": merge, "blank_index": blank}, inputs=x, sequence_length=lengths)
    add("CTCGreedyDecoder", "float64", {}, inputs=x.astype(np.float64), sequence_length=lengths)
    add("CTCGreedyDecoder", "too_long", {}, inputs=x, sequence_length=np.array([7, 1, 1], np.int32))
    add("CTCGreedyDecoder", "bad_batch", {}, inputs=x, sequence_length=np.array([1, 1], np.int32))
    add("CTCGreedyDecoder", "bad_blank", {"blank_index": 4}, inputs=x, sequence_length=lengths)


def _beam_search() -> None:
    logits = f32(7, 3, 5) * F(2)
    log_probs = logits - np.log(np.exp(logits).sum(axis=2, keepdims=True)).astype(F)
    lengths = np.array([7, 4, 1], np.int32)
    for width, top in ((1, 1), (3, 2), (10, 4)):
        for merge in (True, False):
            add("CTCBeamSearchDecoder", f"w{width}_t{top}_m{merge}", {"beam_width": width,
                "top_paths": top, "merge_repeated": merge}, inputs=log_probs, sequence_length=lengths)
    add("CTCBeamSearchDecoder", "raw_logits", {"beam_width": 4, "top_paths": 2}, inputs=logits,
        sequence_length=lengths)
    add("CTCBeamSearchDecoder", "float64", {"beam_width": 4, "top_paths": 1},
        inputs=log_probs.astype(np.float64), sequence_length=lengths)
    add("CTCBeamSearchDecoder", "too_few_leaves", {"beam_width": 4, "top_paths": 3},
        inputs=log_probs, sequence_length=np.array([7, 4, 0], np.int32))
    add("CTCBeamSearchDecoder", "top_above_width", {"beam_width": 2, "top_paths": 3},
        inputs=log_probs, sequence_length=lengths)


_rnn()
_losses()
_ctc()
_beam_search()


def _ctc_loss() -> None:
    logits = f32(8, 3, 5)
    idx = np.array([[0, 0], [0, 1], [0, 2], [1, 0], [1, 1], [1, 2], [1, 3], [2, 0]], np.int64)
    vals = np.array([1, 1, 2, 0, 3, 3, 1, 2], np.int32)
    lengths = np.array([8, 7, 3], np.int32)
    for collapse in (False, True):
        for merge in (True, False):
            add("CTCLoss", f"c{collapse}_m{merge}", {"preprocess_collapse_repeated": collapse,
                "ctc_merge_repeated": merge}, rtol=1e-4, inputs=logits, labels_indices=idx,
                labels_values=vals, sequence_length=lengths)
    add("CTCLoss", "float64", {}, inputs=logits.astype(np.float64), labels_indices=idx,
        labels_values=vals, sequence_length=lengths)
    short = np.array([8, 2, 3], np.int32)
    add("CTCLoss", "too_short", {}, inputs=logits, labels_indices=idx, labels_values=vals,
        sequence_length=short)
    add("CTCLoss", "too_short_ignored", {"ignore_longer_outputs_than_inputs": True}, rtol=1e-4,
        inputs=logits, labels_indices=idx, labels_values=vals, sequence_length=short)
    add("CTCLoss", "blank_label", {}, inputs=logits, labels_indices=idx,
        labels_values=np.array([1, 1, 2, 0, 3, 4, 1, 2], np.int32), sequence_length=lengths)


_ctc_loss()


def _dilation_backprop() -> None:
    x = f32(2, 6, 7, 3)
    for pad in ("SAME", "VALID"):
        for st, r, k in (((1, 1), (1, 1), (2, 2)), ((2, 1), (1, 2), (2, 3)),
                         ((1, 3), (2, 2), (3, 3)), ((2, 2), (3, 3), (3, 3))):
            geo = {"strides": [1, *st, 1], "rates": [1, *r, 1], "padding": pad}
            ek = [(k[d] - 1) * r[d] + 1 for d in range(2)]
            if pad == "SAME":
                outs = [-(-x.shape[1 + d] // st[d]) for d in range(2)]
            else:
                outs = [(x.shape[1 + d] - ek[d]) // st[d] + 1 for d in range(2)]
            add("Dilation2DBackpropInput", f"{pad}-s{st}-r{r}-k{k}", geo, input=x,
                filter=f32(*k, 3), out_backprop=f32(2, *outs, 3))
    same = {"strides": [1, 1, 1, 1], "rates": [1, 1, 1, 1], "padding": "SAME"}
    # ties (a constant input): the first tap wins, and gradients of one input add up
    add("Dilation2DBackpropInput", "ties", same, input=np.zeros((1, 4, 4, 1), F),
        filter=np.zeros((2, 2, 1), F), out_backprop=f32(1, 4, 4, 1))
    lowest = np.full((1, 3, 3, 1), -np.inf, F)
    add("Dilation2DBackpropInput", "all_minus_inf", same, input=lowest,
        filter=np.zeros((2, 2, 1), F), out_backprop=f32(1, 3, 3, 1))
    nan = x.copy()
    nan[0, 1, 1, 0] = np.nan
    add("Dilation2DBackpropInput", "nan", same, input=nan, filter=f32(2, 2, 3),
        out_backprop=f32(2, 6, 7, 3))
    for dt in ("float16", "float64", "int32", "uint8", "int8", ml_dtypes.bfloat16):
        add("Dilation2DBackpropInput", f"dtype-{np.dtype(dt).name}", same,
            input=(np.abs(x) * 20).astype(dt), filter=(np.abs(f32(2, 2, 3)) * 5).astype(dt),
            out_backprop=(np.abs(f32(2, 6, 7, 3)) * 9).astype(dt))
    add("Dilation2D", "bfloat16", same, input=(x * 20).astype(ml_dtypes.bfloat16),
        filter=(f32(2, 2, 3) * 5).astype(ml_dtypes.bfloat16))
    add("Dilation2DBackpropInput", "bad_backprop", same, input=x, filter=f32(2, 2, 3),
        out_backprop=f32(2, 6, 6, 3))
    add("Dilation2DBackpropInput", "depth_mismatch", same, input=x, filter=f32(2, 2, 2),
        out_backprop=f32(2, 6, 7, 3))
    add("Dilation2DBackpropInput", "empty", same, input=np.zeros((0, 3, 3, 2), F),
        filter=f32(2, 2, 2), out_backprop=np.zeros((0, 3, 3, 2), F))


_dilation_backprop()


def _block_lstm_short() -> None:
    """Steps from seq_len_max on: TF zeroes cs and h and leaves the gates unwritten (compared: cs, h)."""
    for op in ("BlockLSTM", "BlockLSTMV2"):
        add(op, "short", {"cell_clip": 0.0, **({"forget_bias": 1.0} if op == "BlockLSTM" else {})},
            only=(1, 6), seq_len_max=np.int64(2), **_lstm_inputs(2, 3, 4, time=4))


_block_lstm_short()
test_kernel_matches_tensorflow = CASES.test()
