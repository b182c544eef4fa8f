"""``_model.write_parts``: weights streamed from their arrays give the file ``write`` gives.

The CLI and the disk cache write exported models this way; the bytes must be those of
``SerializeToString`` of the model with its initializers filled in (so tools that read the
file, and byte-for-byte comparisons, see no difference), and past 2 GiB the external-data
path must be taken as before.
"""

from __future__ import annotations

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ml_dtypes = pytest.importorskip("ml_dtypes")

import savedmodel_io  # noqa: E402
import savedmodel_io.onnx as sx  # noqa: E402
from savedmodel_io.cli import main as cli  # noqa: E402
from savedmodel_io.onnx import _model  # noqa: E402
from savedmodel_io.onnx._export import export_parts  # noqa: E402
from savedmodel_io.writer import Model, save  # noqa: E402

from onnx import TensorProto, helper  # noqa: E402


def _filled(proto: onnx.ModelProto, tensors: list) -> onnx.ModelProto:
    full = onnx.ModelProto()
    full.CopyFrom(proto)
    _model.fill_initializers(full, tensors)
    return full


def _check_same_file(proto: onnx.ModelProto, tensors: list, tmp_path) -> bytes:
    """write_parts' file: byte-equal to the filled model's serialization; ``proto`` untouched."""
    before = proto.SerializeToString()
    full = _filled(proto, tensors)
    out = tmp_path / "parts.onnx"
    _model.write_parts(proto, tensors, out)
    data = out.read_bytes()
    assert data == full.SerializeToString()
    assert onnx.load(str(out)) == full
    assert proto.SerializeToString() == before
    return data


def _bare_model(*, with_subgraph: bool = False, metadata: bool = True) -> onnx.ModelProto:
    """A model reading initializers w0..w9, with outputs and value_info (graph fields numbered
    above the initializers') and metadata (a model field numbered above the graph's)."""
    nodes = [helper.make_node("Add", ["x", "w0"], ["a"])]
    if with_subgraph:
        then = helper.make_graph([helper.make_node("Mul", ["a", "w1"], ["t"])], "then", [],
                                 [helper.make_tensor_value_info("t", TensorProto.FLOAT, None)])
        other = helper.make_graph([helper.make_node("Neg", ["a"], ["e"])], "else", [],
                                  [helper.make_tensor_value_info("e", TensorProto.FLOAT, None)])
        nodes.append(helper.make_node("If", ["cond"], ["y"], then_branch=then, else_branch=other))
    else:
        nodes.append(helper.make_node("Identity", ["a"], ["y"]))
    graph = helper.make_graph(
        nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 3])],
        value_info=[helper.make_tensor_value_info("a", TensorProto.FLOAT, [2, 3])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 20)])
    if metadata:
        helper.set_model_props(model, {"signature": "s", "tags": "serve"})
    return model


def _tensors() -> list:
    rs = np.random.RandomState(3)
    kernel = rs.standard_normal((3, 3, 8, 16)).astype(np.float32)
    return [
        ("w0", rs.standard_normal((2, 3)).astype(np.float32)),
        ("w1", kernel.transpose(3, 2, 0, 1)),  # not contiguous: copied once, in C order
        ("big_endian", np.arange(70, dtype=">i4").reshape(7, 10)),
        ("scalar", np.float64(2.5) * np.ones((), np.float64)),
        ("empty", np.zeros((0, 4), np.float32)),
        ("flags", np.array([True, False, True])),
        ("half", np.linspace(0, 1, 300, dtype=np.float16)),
        ("bf16", np.arange(6, dtype=np.float32).astype(ml_dtypes.bfloat16)),
        ("words", np.array([b"a", "b\u00e9", b""], dtype=object)),
        ("large", rs.standard_normal(40_000).astype(np.float32)[::2]),  # multi-byte lengths
        ("tiled", rs.standard_normal((3, 3, 130, 70)).astype(np.float32).transpose(3, 2, 0, 1)),
    ]


@pytest.mark.parametrize("make", [
    lambda a: a.reshape(3, 3, 130, 70).transpose(3, 2, 0, 1),  # tiles cut at both edges
    lambda a: a[:128 * 64].reshape(128, 64).T,  # exact tiles
    lambda a: a[:200 * 300].reshape(200, 300)[::-1, ::2],  # reversed, strided
    lambda a: np.asfortranarray(a[:90 * 70 * 2].reshape(90, 70, 2)),
    lambda a: a[:70 * 65].reshape(70, 65),  # already C order: no copy
])
def test_c_order_is_ascontiguousarray(make):
    arr = make(np.arange(3 * 3 * 130 * 70, dtype=np.float64))
    got = _model._c_order(arr)
    assert got.flags.c_contiguous and got.dtype == arr.dtype
    np.testing.assert_array_equal(got, arr)
    assert got.tobytes() == np.ascontiguousarray(arr).tobytes()
    if arr.flags.c_contiguous:
        assert got is arr


@pytest.mark.parametrize("with_subgraph", [False, True])
@pytest.mark.parametrize("metadata", [False, True])
def test_streamed_file_is_the_serialized_model(tmp_path, with_subgraph, metadata):
    proto = _bare_model(with_subgraph=with_subgraph, metadata=metadata)
    _check_same_file(proto, _tensors(), tmp_path)


def test_each_dtype_round_trips(tmp_path):
    tensors = _tensors()
    _check_same_file(_bare_model(), tensors, tmp_path)
    loaded = {t.name: t for t in onnx.load(str(tmp_path / "parts.onnx")).graph.initializer}
    for name, arr in tensors:
        if arr.dtype == object:
            assert list(loaded[name].string_data) == [b"a", "b\u00e9".encode(), b""]
            continue
        got = onnx.numpy_helper.to_array(loaded[name])
        assert got.shape == arr.shape
        np.testing.assert_array_equal(got.astype(np.float64), arr.astype(np.float64))


def test_no_initializers(tmp_path):
    assert _check_same_file(_bare_model(), [], tmp_path) == _bare_model().SerializeToString()


def test_after_initializers_the_model_has(tmp_path):
    proto = _bare_model()
    _model.fill_initializers(proto, [("w0", np.ones((2, 3), np.float32))])
    _check_same_file(proto, _tensors()[1:], tmp_path)


def test_empty_model(tmp_path):
    _check_same_file(onnx.ModelProto(), [("w", np.ones(3, np.float32))], tmp_path)


def test_past_the_limit_writes_external_data_as_write_does(tmp_path, monkeypatch):
    monkeypatch.setattr(_model, "PROTOBUF_LIMIT", 20_000)  # the tensors above are ~80 KB
    proto, tensors = _bare_model(), _tensors()
    before = proto.SerializeToString()
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    _model.write_parts(proto, tensors, tmp_path / "a" / "m.onnx")
    _model.write(_filled(proto, tensors), tmp_path / "b" / "m.onnx")
    assert proto.SerializeToString() == before
    for name in ("m.onnx", "m.onnx.data"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    assert (tmp_path / "a" / "m.onnx.data").stat().st_size > 20_000
    loaded = onnx.load(str(tmp_path / "a" / "m.onnx"))
    kernel = onnx.numpy_helper.to_array(loaded.graph.initializer[1])
    np.testing.assert_array_equal(kernel, tensors[1][1])


@pytest.fixture
def small(tmp_path):
    m = Model()
    w = m.variable("dense/kernel", np.arange(12, dtype=np.float32).reshape(4, 3))
    b = m.variable("dense/bias", np.array([1, 2, 3], np.float32))
    f = m.function("__call__", {"features": ("float32", (None, 4))})
    f.outputs({"y": f.dense(f.inputs["features"], w, b, activation="relu")})
    m.signature("serving_default", f)
    save(tmp_path / "m", m)
    return tmp_path / "m"


def test_exported_parts_are_the_exported_model(small, tmp_path):
    mg = savedmodel_io.load(small).meta_graph()
    proto, tensors = export_parts(mg, "serving_default")
    assert tensors and not proto.graph.initializer
    assert _filled(proto, tensors) == sx.export(small)
    _check_same_file(proto, tensors, tmp_path)


def test_cli_writes_what_export_then_save_write(small, tmp_path, capsys):
    out = tmp_path / "cli.onnx"
    assert cli.main(["export", "--dir", str(small), "--format", "onnx", "--output", str(out)]) == 0
    assert "Wrote signature 'serving_default'" in capsys.readouterr().out
    sx.save(sx.export(small), tmp_path / "api.onnx")
    assert out.read_bytes() == (tmp_path / "api.onnx").read_bytes()
