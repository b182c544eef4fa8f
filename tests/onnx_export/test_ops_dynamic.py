"""The mappings of issue 15's part B on inputs whose sizes are only known at run time.

tests/onnx_export/test_ops_tf.py exports TensorFlow's kernel cases with their exact
shapes; here the same ops take inputs of unknown batch, length or size (and integer
arguments computed at run time), checked strictly, run on onnxruntime and compared with the
numpy runtime's kernels (which are compared with TensorFlow in tests/graph).
"""

from __future__ import annotations

import numpy as np
import pytest

from graph.test_runtime_core import F32, I32, const, node, placeholder
from onnx_export.test_fused_ops import export_and_compare, f32

from savedmodel_io.proto import DataType

pytest.importorskip("onnxruntime")

DT_INT64 = DataType.DT_INT64


def _lstm_nodes(op: str, peephole: bool, clip: float) -> tuple[list, dict]:
    feeds = {"x": f32(5, 3, 2), "cs": f32(3, 4), "h": f32(3, 4)}
    nodes = [placeholder("x"), placeholder("cs"), placeholder("h"), const("w", f32(6, 16) * 0.5),
             const("wci", f32(4)), const("wcf", f32(4)), const("wco", f32(4)), const("b", f32(16))]
    attrs = {"use_peephole": peephole, "cell_clip": clip, **({"forget_bias": 1.0} if op == "BlockLSTM" else {})}
    return nodes, feeds, attrs


@pytest.mark.parametrize("op", ["BlockLSTM", "BlockLSTMV2"])
@pytest.mark.parametrize("seq_len", ["full", "const_short", "input"])
def test_block_lstm(op, seq_len):
    nodes, feeds, attrs = _lstm_nodes(op, seq_len != "full", 0.8 if seq_len == "input" else 0.0)
    if seq_len == "input":
        feeds["n"] = np.asarray(3, np.int64)
        nodes.append(placeholder("n", DT_INT64))
    else:
        nodes.append(const("n", np.int64(5 if seq_len == "full" else 2)))
    nodes.append(node("y", op, ["n", "x", "cs", "h", "w", "wci", "wcf", "wco", "b"], T=("type", F32), **attrs))
    proto = export_and_compare(nodes, feeds, [f"y:{i}" for i in range(7)],
                               shapes={"x": (5 if seq_len == "full" else None, None, 2), "cs": (None, 4),
                                       "h": (None, 4)})
    ops = {n.op_type for n in proto.graph.node}
    assert "Scan" in ops and ("Where" in str(proto.graph)) == (seq_len != "full")


def test_cells_with_unknown_batch():
    feeds = {"x": f32(3, 2), "cs": f32(3, 4), "h": f32(3, 4)}
    nodes = [placeholder("x"), placeholder("cs"), placeholder("h"), const("w", f32(6, 16)),
             const("wci", f32(4)), const("wcf", f32(4)), const("wco", f32(4)), const("b", f32(16)),
             node("y", "LSTMBlockCell", ["x", "cs", "h", "w", "wci", "wcf", "wco", "b"], T=("type", F32),
                  use_peephole=True, cell_clip=0.5, forget_bias=1.0),
             const("wru", f32(6, 8)), const("wc", f32(6, 4)), const("bru", f32(8)), const("bc", f32(4)),
             node("gru", "GRUBlockCell", ["x", "h", "wru", "wc", "bru", "bc"], T=("type", F32))]
    export_and_compare(nodes, feeds, [f"y:{i}" for i in range(7)] + [f"gru:{i}" for i in range(4)],
                       dynamic=("x", "cs", "h"))


@pytest.mark.parametrize("labels_shape", [(4, 5), (1, 5), (5,)])
def test_softmax_cross_entropy_broadcasts(labels_shape):
    labels = np.abs(f32(*labels_shape))
    feeds = {"logits": f32(4, 5) * 3, "labels": labels / labels.sum(axis=-1, keepdims=True)}
    nodes = [placeholder("logits"), placeholder("labels"),
             node("y", "SoftmaxCrossEntropyWithLogits", ["logits", "labels"], T=("type", F32))]
    export_and_compare(nodes, feeds, ["y:0", "y:1"],
                       shapes={"logits": (None, None), "labels": (None,) * len(labels_shape)})


def test_sparse_softmax_cross_entropy_unknown_sizes():
    feeds = {"logits": f32(4, 5) * 3, "labels": np.asarray([4, 0, 2, 2], np.int64)}
    nodes = [placeholder("logits"), placeholder("labels", DT_INT64),
             node("y", "SparseSoftmaxCrossEntropyWithLogits", ["logits", "labels"], T=("type", F32),
                  Tlabels=("type", DT_INT64))]
    export_and_compare(nodes, feeds, ["y:0", "y:1"], shapes={"logits": (None, None), "labels": (None,)})


@pytest.mark.parametrize("op,rank", [("ExtractImagePatches", 2), ("ExtractVolumePatches", 3)])
def test_valid_patches_of_unknown_size(op, rank):
    feeds = {"x": f32(2, *([7, 6, 5][:rank]), 3)}
    n = node("y", op, ["x"], T=("type", F32), padding=b"VALID")
    n.attr["ksizes"].list.i.extend([1, *([3, 2, 2][:rank]), 1])
    n.attr["strides"].list.i.extend([1, *([2, 1, 3][:rank]), 1])
    if op == "ExtractImagePatches":
        n.attr["rates"].list.i.extend([1, 2, 1, 1])
    export_and_compare([placeholder("x"), n], feeds, ["y:0"], shapes={"x": (None,) * (rank + 1) + (3,)})


@pytest.mark.parametrize("batch", [False, True])
def test_max_pool_with_argmax_unknown_batch(batch):
    feeds = {"x": f32(3, 5, 6, 2)}
    n = node("y", "MaxPoolWithArgmax", ["x"], T=("type", F32), padding=b"SAME", include_batch_in_index=batch,
             Targmax=("type", DT_INT64))
    n.attr["ksize"].list.i.extend([1, 3, 2, 1])
    n.attr["strides"].list.i.extend([1, 2, 2, 1])
    export_and_compare([placeholder("x"), n], feeds, ["y:0", "y:1"], dynamic=("x",))


@pytest.mark.parametrize("boxes_kind", ["finite", "non_finite"])
@pytest.mark.parametrize("version,sigma,dtype", [(3, 0, np.float32), (4, 0, np.float32), (5, 0, np.float32),
                                                 (5, 0.4, np.float32), (3, 0, np.float16), (5, 0, np.float16)])
def test_nms_of_unknown_box_count(version, sigma, dtype, boxes_kind):
    """Hard NMS (ONNX NonMaxSuppression; the queue Loop when a box is not finite) and soft-NMS."""
    rs = np.random.RandomState(3)
    c = rs.uniform(0.2, 0.8, (40, 2))
    boxes = np.concatenate([c - 0.1, c + 0.1], axis=1)
    if boxes_kind == "non_finite":
        boxes[[2, 9, 17]] = [[np.nan, 0.1, 0.5, 0.5], [0.1, 0.1, np.inf, 0.6], [-np.inf, 0.2, 0.3, 0.4]]
    scores = rs.uniform(0, 1, 40)
    scores[5] = scores[6]  # a tie
    feeds = {"boxes": boxes.astype(dtype), "scores": scores.astype(dtype), "limit": np.asarray(12, np.int32)}
    t = DataType.DT_HALF if dtype == np.float16 else F32
    nodes = [placeholder("boxes", t), placeholder("scores", t), placeholder("limit", I32),
             const("iou", dtype(0.3)), const("score", dtype(0.25)), const("sigma", dtype(sigma))]
    ins = ["boxes", "scores", "limit", "iou", "score"] + (["sigma"] if version == 5 else [])
    attrs = {"pad_to_max_output_size": True} if version > 3 else {}
    nodes.append(node("y", f"NonMaxSuppressionV{version}", ins, T=("type", t), **attrs))
    outs = {3: 1, 4: 2, 5: 3}[version]
    export_and_compare(nodes, feeds, [f"y:{i}" for i in range(outs)],
                       shapes={"boxes": (None, 4), "scores": (None,), "limit": ()})


def test_generic_conv_with_batch_dimensions_of_unknown_size():
    feeds = {"x": f32(2, 3, 6, 5, 4)}
    n = node("y", "Conv", ["x", "w"], T=("type", F32), padding=b"SAME", batch_dims=2, groups=2,
             data_format=b"CHANNELS_LAST")
    n.attr["strides"].list.i.extend([1, 2, 1, 1])
    n.attr["dilations"].list.i.extend([1, 1, 2, 1])
    export_and_compare([placeholder("x"), const("w", f32(3, 3, 2, 6)), n], feeds, ["y:0"],
                       shapes={"x": (None, None, 6, 5, 4)})


@pytest.mark.parametrize("fmt", [b"NHWC", b"NCHW"])
def test_depthwise_transposed_convolution_layouts(fmt):
    dy = f32(2, 3, 3, 6) if fmt == b"NHWC" else f32(2, 6, 3, 3)
    sizes = np.asarray([2, 5, 6, 2] if fmt == b"NHWC" else [2, 2, 5, 6], np.int32)
    n = node("y", "DepthwiseConv2dNativeBackpropInput", ["sizes", "w", "dy"], T=("type", F32), padding=b"SAME",
             data_format=fmt)
    n.attr["strides"].list.i.extend([1, 2, 2, 1] if fmt == b"NHWC" else [1, 1, 2, 2])
    n.attr["dilations"].list.i.extend([1, 1, 1, 1])
    export_and_compare([const("sizes", sizes), const("w", f32(3, 3, 2, 3)), placeholder("dy"), n], {"dy": dy},
                       ["y:0"], dynamic=("dy",))
