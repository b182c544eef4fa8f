"""Image codecs without TensorFlow: hostile headers and bombs stop before allocating, the
run's budget pays for Python-speed GIF decoding, JPEG/WebP without Pillow name the extra to
install, and animated WebP (which TF 2.21 cannot decode without corrupting its heap) matches
Pillow's own frames.
"""

from __future__ import annotations

import io
import struct
import sys
import time
import zlib

import numpy as np
import pytest

from savedmodel_io import tensors
from savedmodel_io.graph.budget import Budget
from savedmodel_io.errors import LimitExceededError, SavedModelError, UnsupportedOpError
from savedmodel_io.formats import bmp, gif, jpeg, png
from savedmodel_io.graph import runtime
from savedmodel_io.proto import MetaGraphDef, NodeDef

from .image_files import chunk, photo, pillow_file


def run_node(op: str, *inputs: np.ndarray, budget: Budget | None = None, **attrs) -> list:
    """Run one node of ``op`` on Const inputs through the graph runtime."""
    mg = MetaGraphDef()
    node = NodeDef(name="op", op=op)
    for i, value in enumerate(inputs):
        proto = tensors.from_array(np.asarray(value))
        c = mg.graph_def.node.add(name=f"in{i}", op="Const")
        c.attr["value"].tensor.CopyFrom(proto)
        c.attr["dtype"].type = proto.dtype
        node.input.append(f"in{i}")
    for key, value in attrs.items():
        if isinstance(value, bool):
            node.attr[key].b = value
        elif isinstance(value, int):
            node.attr[key].i = value
        else:
            node.attr[key].s = value.encode()
    mg.graph_def.node.append(node)
    mg.signature_def["s"].outputs["o"].name = "op:0"
    return runtime.run_signature(mg, "s", {}, budget=budget)["o"]


def blob(data: bytes) -> np.ndarray:
    return np.array(data, dtype=object)


def _png(w: int, h: int, idat: bytes, color: int = 2) -> bytes:
    return (png.SIGNATURE + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, color, 0, 0, 0))
            + chunk(b"IDAT", idat) + chunk(b"IEND", b""))


# -- hostile headers: refused from the header, before any allocation --------------------------

def test_png_beyond_the_side_and_pixel_limits_is_refused():
    for w, h in ((1_000_001, 1), (30_000, 30_000)):
        with pytest.raises(LimitExceededError):
            png.decode_png(_png(w, h, zlib.compress(b"")))


def test_png_zlib_bomb_inflates_only_what_the_image_needs():
    comp = zlib.compressobj(1)
    zeros = bytes(1 << 20)
    bomb = b"".join(comp.compress(zeros) for _ in range(128)) + comp.flush()  # 128 MiB, 0.5 MB
    start = time.monotonic()
    out = png.decode_png(_png(64, 64, bomb))
    assert out.shape == (64, 64, 3) and not out.any()
    assert time.monotonic() - start < 5


def test_png_short_image_data_is_an_error():
    with pytest.raises(SavedModelError, match="not enough image data"):
        png.decode_png(_png(64, 64, zlib.compress(bytes(100))))


def test_gif_frame_sizes_are_bounded_before_lzw():
    head = b"GIF89a" + struct.pack("<HHBBB", 1, 1, 0x80, 0, 0) + bytes(6)
    frame = b"\x2c" + struct.pack("<HHHHB", 0, 0, 65535, 65535, 0) + b"\x08\x02\x4c\x01\x00"
    with pytest.raises(LimitExceededError):
        gif.decode_gif(head + frame + b"\x3b")


def test_gif_frames_add_up_to_the_limit():
    pil = pytest.importorskip("PIL.Image")
    frames = [pil.fromarray(np.full((20, 30, 3), i * 40, np.uint8)) for i in range(4)]
    out = io.BytesIO()
    frames[0].save(out, "GIF", save_all=True, append_images=frames[1:])
    assert gif.decode_gif(out.getvalue()).shape == (4, 20, 30, 3)
    with pytest.raises(LimitExceededError):
        gif.decode_gif(out.getvalue(), max_bytes=3 * 20 * 30 * 3)


def test_gif_lzw_stream_must_supply_every_pixel():
    head = b"GIF89a" + struct.pack("<HHBBB", 4, 4, 0x80, 0, 0) + bytes(6)
    frame = b"\x2c" + struct.pack("<HHHHB", 0, 0, 4, 4, 0) + b"\x02\x02\x4c\x01\x00"
    with pytest.raises(SavedModelError, match="ends before the image is complete"):
        gif.decode_gif(head + frame + b"\x3b")


def test_bmp_must_hold_the_rows_it_declares():
    header = b"BM" + bytes(8) + struct.pack("<i", 54) + struct.pack("<iiihh", 40, 100000, 100000,
                                                                       1, 24)
    with pytest.raises(SavedModelError):
        bmp.decode_bmp(header + bytes(24))


def test_jpeg_declaring_a_huge_frame_is_refused_before_decoding():
    sof = b"\xff\xc0" + struct.pack(">HBHHB", 17, 8, 65000, 65000, 3) + bytes(9)
    data = b"\xff\xd8" + sof + b"\xff\xda" + struct.pack(">H", 2)
    assert jpeg.jpeg_header(data) == (65000, 65000, 3)
    with pytest.raises(LimitExceededError):
        jpeg.decode_jpeg(data, jpeg.JpegFlags())


def test_decode_op_errors_name_the_node():
    with pytest.raises(SavedModelError) as info:
        run_node("DecodePng", blob(_png(4, 4, zlib.compress(bytes(10)))))
    assert "'op'" in str(info.value)


def test_gif_decoding_is_charged_to_the_budget():
    pytest.importorskip("PIL")
    data = pillow_file(photo(np.random.RandomState(0), 40, 50), "GIF")
    assert run_node("DecodeGif", blob(data)).shape == (1, 40, 50, 3)
    with pytest.raises(LimitExceededError, match="max_python_elements"):
        run_node("DecodeGif", blob(data), budget=Budget(max_python_elements=1000))


# -- Pillow, the optional dependency ------------------------------------------------------------

def test_jpeg_without_pillow_names_the_extra(monkeypatch):
    data = b"\xff\xd8\xff\xc0" + struct.pack(">HBHHB", 11, 8, 2, 2, 1) + bytes(3) + \
        b"\xff\xda\x00\x02"
    monkeypatch.setitem(sys.modules, "PIL", None)
    with pytest.raises(UnsupportedOpError, match=r"savedmodel-io\[image\]"):
        run_node("DecodeJpeg", blob(data))
    with pytest.raises(UnsupportedOpError, match=r"savedmodel-io\[image\]"):
        run_node("EncodeJpeg", np.zeros((2, 2, 3), np.uint8))
    # ExtractJpegShape reads the header itself: no Pillow needed.
    assert run_node("ExtractJpegShape", blob(data)).tolist() == [2, 2, 1]


def test_animated_webp_frames_match_pillows():
    pil = pytest.importorskip("PIL.Image")
    rs = np.random.RandomState(1)
    frames = [pil.fromarray(photo(rs, 10, 12)) for _ in range(3)]
    out = io.BytesIO()
    frames[0].save(out, "WEBP", save_all=True, append_images=frames[1:], lossless=True)
    data = out.getvalue()
    got = run_node("DecodeWebP", blob(data))
    assert got.shape == (3, 10, 12, 4) and got.dtype == np.uint8
    im = pil.open(io.BytesIO(data))
    for i in range(3):
        im.seek(i)
        np.testing.assert_array_equal(got[i], np.asarray(im.convert("RGBA")))
    first = run_node("DecodeImage", blob(data), expand_animations=False)
    np.testing.assert_array_equal(first, got[0])
    with pytest.raises(SavedModelError, match="channels"):
        run_node("DecodeWebP", blob(data), channels=3)
