"""ExtractGlimpse/V2, DrawBoundingBoxes/V2 and Dilation2DBackpropInput in the cases TensorFlow's kernel
cases (tests/onnx_export/test_ops_tf.py) do not reach: image sizes, box counts and batch sizes known only
at run time, offsets and boxes partly or wholly outside the image (NaN and huge ones too), more boxes
than colours, ties in the dilation gradient, and the refusals (random fills, opset 15). Compared with
the numpy runtime's kernels, which tests/graph compares with TensorFlow.
"""

from __future__ import annotations

import numpy as np
import pytest

from graph.test_runtime_core import F32, const, node, placeholder
from onnx_export._cases import exported, signature
from onnx_export.test_fused_ops import export_and_compare, f32

from savedmodel_io import dtypes
from savedmodel_io.proto import DataType

pytest.importorskip("onnxruntime")

_UNKNOWN = (None, None, None, 3)


def _problems(nodes: list, feeds: dict[str, np.ndarray]) -> list:
    """The exporter's refusals of signature ``s`` (inputs ``feeds``' types and shapes, output y:0)."""
    return exported(signature(nodes, feeds, {"o0": ("y:0", DataType.DT_FLOAT, None)}))[1]


def _glimpse(op: str, offsets: str = "offsets", **attrs) -> list:
    return [placeholder("images"), const("size", np.int32([4, 5])), placeholder(offsets),
            node("y", op, ["images", "size", offsets], **attrs)]


_OFFSETS = np.float32([[0.1, -0.3], [-0.9, 0.95], [0.5, 0.5], [np.nan, 0.2], [3e19, -1e30], [-0.49, 0.51]])


@pytest.mark.parametrize("op", ["ExtractGlimpse", "ExtractGlimpseV2"])
@pytest.mark.parametrize("normalized", [False, True])
@pytest.mark.parametrize("centered", [False, True])
def test_glimpse_of_unknown_size(op, normalized, centered):
    """Zero fill, image size and batch at run time; windows inside, across each edge, larger than
    the image, at NaN and huge offsets (the runtime's -1 origin), truncated toward zero."""
    scale = 1 if normalized else 6
    offsets = _OFFSETS * np.float32(scale)
    nodes = _glimpse(op, normalized=normalized, centered=centered, uniform_noise=False, noise=b"zero")
    for shape in ((6, 7, 9, 3), (6, 3, 2, 3)):
        feeds = {"images": f32(*shape), "offsets": offsets}
        export_and_compare(nodes, feeds, ["y:0"], shapes={"images": _UNKNOWN, "offsets": (None, 2)})


@pytest.mark.parametrize("op,attrs", [("ExtractGlimpse", {"uniform_noise": True}),
                                      ("ExtractGlimpse", {"uniform_noise": False, "noise": b""}),
                                      ("ExtractGlimpseV2", {"uniform_noise": False, "noise": b"gaussian"}),
                                      ("ExtractGlimpseV2", {"uniform_noise": False, "noise": b"uniform"})])
def test_glimpse_refuses_random_fills(op, attrs):
    """Random noise (uniform, or V1's gaussian when uniform_noise is False) is refused for offsets
    computed at run time, and for constant ones whose glimpse leaves the image."""
    feeds = {"images": f32(2, 6, 7, 3), "offsets": np.float32([[0, 0], [0.1, 0.2]])}
    problems = _problems(_glimpse(op, **attrs), feeds)
    assert len(problems) == 1 and problems[0].reason.startswith("random fill (noise"), problems
    assert "ONNX's generators do not reproduce TensorFlow's" in problems[0].reason
    outside = _glimpse(op, offsets="o", **attrs)
    outside[2] = const("o", np.float32([[0, 0], [0.95, 0.2]]))
    with pytest.raises(AssertionError, match="random fill"):
        export_and_compare(outside, {"images": feeds["images"]}, ["y:0"])


@pytest.mark.parametrize("op", ["ExtractGlimpse", "ExtractGlimpseV2"])
def test_glimpse_with_random_noise_that_never_shows(op):
    """Constant offsets keeping every glimpse inside the image (one flush with the bottom-right
    corner, which TF marks as a partial overlap and then covers wholly): the noise never shows."""
    nodes = [placeholder("images"), const("size", np.int32([4, 5])), const("o", np.float32([[1, 2], [2, 2]])),
             node("y", op, ["images", "size", "o"], normalized=False, centered=False, uniform_noise=True)]
    if op == "ExtractGlimpse":  # V1 subtracts half the window from the offset (4 / 2, 5 / 2)
        nodes[2] = const("o", np.float32([[3, 4.5], [4, 4.5]]))  # corners (1, 2) and (2, 2)
    export_and_compare(nodes, {"images": f32(2, 6, 7, 3)}, ["y:0"])


# -- DrawBoundingBoxes -------------------------------------------------------------------------------

_BOXES = np.float32([
    [0.1, 0.2, 0.6, 0.7],      # inside
    [-0.5, -0.3, 0.4, 0.5],    # across the top-left corner: the top row and left column are not drawn
    [0.3, 0.6, 1.4, 1.9],      # across the bottom-right corner
    [1.2, 0.1, 1.5, 0.4],      # wholly below: skipped
    [-0.9, -0.9, -0.2, 0.5],   # wholly above: skipped
    [0.7, 0.8, 0.2, 0.9],      # inverted rows: skipped
    [0.5, 0.5, 0.5, 0.5],      # one pixel
    [np.nan, 0.1, 0.6, 0.3],   # NaN top: INT64_MIN, the sides still drawn from row 0
    [0.2, -1e30, 0.3, 1e30],   # huge: both sides outside, rows across the image
    [0.0, 0.0, 1.0, 1.0],      # the image's border
    [0.25, 0.25, 0.75, 0.75],  # over the earlier ones: its colour wins where they cross
    [0.4, 0.1, 0.9, 0.35],     # the 12th box: the default table's colours cycle
])


def _draw(op: str, colors: str | None = None) -> list:
    inputs = ["images", "boxes"] + ([colors] if colors else [])
    nodes = [placeholder("images"), placeholder("boxes"),
             node("y", op, inputs, T=("type", F32))]
    if colors == "colors":
        nodes.insert(2, placeholder("colors"))
    return nodes


@pytest.mark.parametrize("depth", [1, 3, 4])
@pytest.mark.parametrize("size", [(7, 9), (1, 5), (12, 3)])
def test_draw_boxes_of_unknown_sizes_and_counts(depth, size):
    """Image size, batch and box count at run time; boxes inside, across edges, outside, inverted,
    NaN, huge, overlapping in order, more of them than default colours."""
    rs = np.random.RandomState(3)
    images = rs.uniform(-1, 1, (2, *size, depth)).astype(np.float32)
    boxes = np.stack([_BOXES, _BOXES[::-1] * np.float32(0.9)])
    feeds = {"images": images, "boxes": boxes}
    export_and_compare(_draw("DrawBoundingBoxes"), feeds, ["y:0"],
                       shapes={"images": (None, None, None, depth), "boxes": (None, None, 4)})
    feeds["boxes"] = boxes[:, :0]  # no boxes: the images as they are
    export_and_compare(_draw("DrawBoundingBoxes"), feeds, ["y:0"],
                       shapes={"images": (None, None, None, depth), "boxes": (None, None, 4)})


@pytest.mark.parametrize("k", [0, 1, 3, 20])
def test_draw_boxes_v2_colours_at_run_time_and_constant(k):
    """Colours fed at run time (none: TF's default table) or constant, cycling over the boxes."""
    rs = np.random.RandomState(k)
    colors = rs.uniform(0, 1, (k, 5)).astype(np.float32)
    feeds = {"images": f32(2, 8, 10, 4), "boxes": np.stack([_BOXES, _BOXES[::-1]]), "colors": colors}
    shapes = {"images": (None, None, None, 4), "boxes": (None, None, 4), "colors": (None, 5)}
    export_and_compare(_draw("DrawBoundingBoxesV2", "colors"), feeds, ["y:0"], shapes=shapes)
    nodes = _draw("DrawBoundingBoxesV2", "c") + [const("c", colors)]
    del feeds["colors"], shapes["colors"]
    export_and_compare(nodes, feeds, ["y:0"], shapes=shapes)


def test_draw_boxes_into_half_images():
    images = f32(1, 6, 5, 3).astype(np.float16)
    nodes = [placeholder("images", DataType.DT_HALF), placeholder("boxes"),
             node("y", "DrawBoundingBoxes", ["images", "boxes"], T=("type", DataType.DT_HALF))]
    export_and_compare(nodes, {"images": images, "boxes": _BOXES[None]}, ["y:0"],
                       shapes={"images": (None, None, None, 3), "boxes": (None, None, 4)})


def test_draw_boxes_refuses_depth_two():
    problems = _problems(_draw("DrawBoundingBoxes"), {"images": f32(1, 4, 4, 2), "boxes": _BOXES[None]})
    assert len(problems) == 1 and "Channel depth should be either 1" in problems[0].reason, problems


# -- Dilation2DBackpropInput ---------------------------------------------------------------------------

def _backprop(t: int, padding: bytes, strides=(1, 1), rates=(1, 1)) -> list:
    n = node("y", "Dilation2DBackpropInput", ["x", "w", "dy"], T=("type", t), padding=padding)
    n.attr["strides"].list.i.extend([1, *strides, 1])
    n.attr["rates"].list.i.extend([1, *rates, 1])
    return [placeholder("x", t), placeholder("w", t), placeholder("dy", t), n]


def _out_size(h: int, w: int, k: tuple, padding: bytes, strides, rates) -> tuple[int, int]:
    eff = [(k[d] - 1) * rates[d] + 1 for d in range(2)]
    if padding == b"SAME":
        return -(-h // strides[0]), -(-w // strides[1])
    return (h - eff[0]) // strides[0] + 1, (w - eff[1]) // strides[1] + 1


@pytest.mark.parametrize("padding", [b"SAME", b"VALID"])
@pytest.mark.parametrize("geo", [((1, 1), (1, 1)), ((2, 1), (1, 2)), ((2, 3), (2, 1))])
def test_dilation_gradient_with_ties_and_unknown_sizes(padding, geo):
    """Small integer-valued inputs and filters (many equal sums: the first tap wins), windows in the
    padding, a NaN, -inf everywhere in one channel (no winner: the window's clamped first pixel);
    sizes at run time (SAME pads computed there)."""
    strides, rates = geo
    rs = np.random.RandomState(8)
    x = rs.randint(-2, 3, (2, 7, 6, 3)).astype(np.float32)
    x[0, 2, 3, 0] = np.nan
    x[1, :, :, 2] = -np.inf
    w = rs.randint(-1, 2, (2, 3, 3)).astype(np.float32)
    oh, ow = _out_size(7, 6, (2, 3), padding, strides, rates)
    dy = rs.uniform(-1, 1, (2, oh, ow, 3)).astype(np.float32)
    export_and_compare(_backprop(F32, padding, strides, rates), {"x": x, "w": w, "dy": dy}, ["y:0"],
                       shapes={"x": (None, None, None, 3), "w": (2, 3, 3), "dy": (None, None, None, 3)})


@pytest.mark.parametrize("dt", [np.float16, np.float64, np.int8, np.uint8, np.int16, np.uint16, np.int32,
                                np.uint32, np.int64])
def test_dilation_gradient_of_every_type(dt):
    """Integer sums wrap in T (so does the gradient's sum); half sums tie after rounding to half (the
    winner is picked among the rounded sums). Half gradients are added in float32 and rounded once
    (onnxruntime's ScatterND adds no float16), TensorFlow rounds after each addition: multiples of
    1/8 keep every sum exact here, so that difference (docs/onnx.md) does not show."""
    rs = np.random.RandomState(9)
    if np.dtype(dt).kind == "f":
        x = (rs.randint(-40, 40, (2, 5, 6, 2)) * 0.01).astype(dt)
        w = (rs.randint(-40, 40, (3, 2, 2)) * 0.01).astype(dt)
        dy = (rs.randint(-32, 33, (2, 5, 6, 2)) / 8).astype(dt)
    else:
        info = np.iinfo(dt)
        x = rs.randint(info.min, int(info.max) + 1, (2, 5, 6, 2), dtype=np.int64).astype(dt)
        w = rs.randint(info.min, int(info.max) + 1, (3, 2, 2), dtype=np.int64).astype(dt)
        dy = rs.randint(info.min, int(info.max) + 1, (2, 5, 6, 2), dtype=np.int64).astype(dt)
    t = dtypes.from_numpy(np.dtype(dt))
    export_and_compare(_backprop(t, b"SAME", (1, 1), (2, 1)), {"x": x, "w": w, "dy": dy}, ["y:0"])


def test_dilation_gradient_refuses_opset_15():
    feeds = {"x": f32(1, 4, 4, 1), "w": f32(2, 2, 1), "dy": f32(1, 4, 4, 1)}
    with pytest.raises(AssertionError, match="reduction 'add' .*opset 16"):
        export_and_compare(_backprop(F32, b"SAME"), feeds, ["y:0"], opset=15)
    export_and_compare(_backprop(F32, b"SAME"), feeds, ["y:0"], opset=16)


def test_dilation_gradient_refuses_uint64():
    x = np.arange(16, dtype=np.uint64).reshape(1, 4, 4, 1)
    feeds = {"x": x, "w": np.ones((2, 2, 1), np.uint64), "dy": x}
    with pytest.raises(AssertionError, match="uint64"):
        export_and_compare(_backprop(DataType.DT_UINT64, b"SAME"), feeds, ["y:0"])

