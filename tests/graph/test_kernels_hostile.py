"""Kernels fed hostile values from a graph: one library error each, never a foreign exception.

Shapes found by the hostile-input audit (issue 13's round on the new kernels): header sizes
Pillow refuses, animations whose frames add up, range sizes that wrap int64, attrs wider
than the file field they fill.
"""

from __future__ import annotations

import io
import struct

import numpy as np
import pytest

from savedmodel_io import tensors
from savedmodel_io.errors import InvalidArgumentError, LimitExceededError, RuntimeFailure
from savedmodel_io.graph import ops, runtime
from savedmodel_io.graph.runtime import Node
from savedmodel_io.proto import DataType, MetaGraphDef


def run(op, *inputs, **attrs):
    node = Node("n", op, attrs, 0, "test")
    node.bind({})
    return ops.get(op).fn(node, list(inputs), None)


def run_graph(op: str, value: np.ndarray, **attrs):
    """``op`` on one constant, through the interpreter (where kernel errors are converted)."""
    from savedmodel_io.graph.builder_core import make_attr

    mg = MetaGraphDef()
    c = mg.graph_def.node.add(name="c", op="Const")
    proto = tensors.from_array(value)
    c.attr["value"].tensor.CopyFrom(proto)
    c.attr["dtype"].type = proto.dtype
    n = mg.graph_def.node.add(name="op", op=op, input=["c"])
    for key, v in attrs.items():
        n.attr[key].CopyFrom(make_attr(v))
    mg.signature_def["s"].outputs["o"].name = "op:0"
    return runtime.run_signature(mg, "s", {})["o"]


# --- RaggedRange: |limit - start| / delta beyond the splits type -------------------------------


@pytest.mark.parametrize("starts,limits,deltas,splits", [
    (np.int64(-(1 << 63)), np.int64((1 << 63) - 1), np.int64(1), DataType.DT_INT64),
    (np.int64(0), np.int64(1 << 40), np.int64(1), DataType.DT_INT32),
    (np.float32(0), np.float32(np.inf), np.float32(1), DataType.DT_INT64),
    (np.float32(0), np.float32(np.nan), np.float32(1), DataType.DT_INT64),
])
def test_ragged_range_size_beyond_splits_type(starts, limits, deltas, splits):
    # ragged_range_op.cc: "Requires ((limit - start) / delta) <= <max of Tsplits>"; the
    # int64 difference used to wrap around and give a one-element range.
    with pytest.raises(InvalidArgumentError, match="Requires"):
        run("RaggedRange", starts, limits, deltas, Tsplits=splits)


def test_ragged_range_total_of_rows_does_not_wrap():
    with pytest.raises(LimitExceededError):
        run("RaggedRange", np.int64([0, 0]), np.int64([1 << 62, 1 << 62]), np.int64(1),
            Tsplits=DataType.DT_INT64)


def test_ragged_range_extreme_delta():
    splits, values = run("RaggedRange", np.int64([0, 5]), np.int64([3, -1]),
                         np.int64([1, -(1 << 63)]), Tsplits=DataType.DT_INT64)
    assert splits.tolist() == [0, 3, 4] and values.tolist() == [0, 1, 2, 5]


# --- image codecs --------------------------------------------------------------------------------


def _pil(fmt: str, size=(8, 8), mode="RGB", **kw) -> bytes:
    image = pytest.importorskip("PIL.Image")
    out = io.BytesIO()
    image.new(mode, size).save(out, fmt, **kw)
    return out.getvalue()


def _jpeg_of(h: int, w: int) -> bytes:
    """A valid 8x8 JPEG whose frame header declares h x w (the scan stays 8x8)."""
    data = bytearray(_pil("JPEG"))
    pos = 2
    while data[pos + 1] not in (0xC0, 0xC2):
        pos += 2 + struct.unpack_from(">H", data, pos + 2)[0]
    struct.pack_into(">HH", data, pos + 5, h, w)
    return bytes(data)


def _webp_canvas(w: int, h: int) -> bytes:
    """A WebP whose VP8X header declares a w x h canvas around an 8x8 image."""
    small = _pil("WEBP")
    vp8x = (b"VP8X" + struct.pack("<I", 10) + b"\0" * 4 + (w - 1).to_bytes(3, "little")
            + (h - 1).to_bytes(3, "little"))
    body = b"WEBP" + vp8x + small[12:]
    return b"RIFF" + struct.pack("<I", len(body)) + body


@pytest.mark.parametrize("op,data", [
    # Under TensorFlow's 2^29-pixel JPEG limit but over Pillow's decompression-bomb limit.
    ("DecodeJpeg", lambda: _jpeg_of(20000, 10000)),
    ("DecodeImage", lambda: _jpeg_of(65535, 8191)),
    ("DecodeWebP", lambda: _webp_canvas(16384, 16384)),
    ("DecodeImage", lambda: _webp_canvas(1 << 24, 1 << 24)),
])
def test_pillow_decompression_bomb_is_a_limit_error(op, data):
    attrs = {"dtype": DataType.DT_UINT8} if op == "DecodeImage" else {}
    with pytest.raises(LimitExceededError, match="larger than Pillow decodes"):
        run_graph(op, np.array(data(), object), **attrs)


def test_webp_animation_frames_count_against_the_limit():
    from savedmodel_io.formats import jpeg

    image = pytest.importorskip("PIL.Image")
    out = io.BytesIO()
    frames = [image.new("RGBA", (64, 64), (60 * i, 255 - 60 * i, 0, 255)) for i in range(4)]
    frames[0].save(out, "WEBP", save_all=True, append_images=frames[1:], lossless=True)
    assert jpeg.decode_webp(out.getvalue())[0].shape == (4, 64, 64, 4)
    with pytest.raises(LimitExceededError, match="4 frames of 64x64"):
        jpeg.decode_webp(out.getvalue(), max_bytes=4 * 64 * 64 * 4 - 1)


def test_gif_without_images():
    gif = b"GIF89a" + struct.pack("<HHBBB", 2, 2, 0, 0, 0) + b";"
    with pytest.raises(InvalidArgumentError, match="does not contain any image"):
        run_graph("DecodeGif", np.array(gif, object))


def test_encode_jpeg_density_wraps_like_tensorflow():
    # TF 2.21: x_density=65543 gives 0x0007 in the JFIF header (libjpeg's UINT16 field).
    pytest.importorskip("PIL")
    out = run_graph("EncodeJpeg", np.zeros((2, 2, 3), np.uint8), x_density=65543,
                    y_density=1 << 20, density_unit="in")
    assert bytes(out.item()[13:18]) == bytes.fromhex("0100070000")


def test_struct_error_in_a_kernel_is_a_runtime_failure(monkeypatch):
    from savedmodel_io.formats import jpeg

    def broken(*args):
        return struct.pack(">H", 1 << 20)

    pytest.importorskip("PIL")
    monkeypatch.setattr(jpeg, "encode_jpeg", broken)
    with pytest.raises(RuntimeFailure, match="struct.error|error:"):
        run_graph("EncodeJpeg", np.zeros((2, 2, 3), np.uint8))


def test_kernel_errors_name_the_model(tmp_path):
    # A kernel knows its node, not the file: the run names the model directory on the way out.
    import savedmodel_io
    from savedmodel_io.proto import SavedModel

    sm = SavedModel()
    mg = sm.meta_graphs.add()
    mg.meta_info_def.tags.append("serve")
    for name, value in (("s", -(1 << 63)), ("l", (1 << 63) - 1), ("d", 1)):
        n = mg.graph_def.node.add(name=name, op="Const")
        n.attr["value"].tensor.CopyFrom(tensors.from_array(np.int64(value)))
        n.attr["dtype"].type = DataType.DT_INT64
    r = mg.graph_def.node.add(name="r", op="RaggedRange", input=["s", "l", "d"])
    r.attr["T"].type = r.attr["Tsplits"].type = DataType.DT_INT64
    mg.signature_def["s"].outputs["y"].name = "r:1"
    (tmp_path / "saved_model.pb").write_bytes(sm.SerializeToString())
    with pytest.raises(InvalidArgumentError) as info:
        savedmodel_io.load(tmp_path).signatures["s"]()
    assert info.value.path == str(tmp_path) and str(info.value).startswith(str(tmp_path))
    assert "node 'r' (RaggedRange)" in str(info.value)


# --- AsString: the width and precision attrs size every string ----------------------------------


@pytest.mark.parametrize("value,attrs", [
    (np.zeros(1 << 12, np.int32), {"width": 1 << 20}),
    (np.zeros(1 << 12, np.float32), {"precision": 1 << 20}),
    (np.zeros(1 << 11, np.complex64), {"width": 1 << 20}),
])
def test_as_string_attrs_are_sized_before_the_strings_are_made(value, attrs):
    # 4096 values x 1 MiB each: 4 GiB of strings from a 16 KiB constant.
    with pytest.raises(LimitExceededError, match="would take"):
        run_graph("AsString", value, **attrs)
