"""bfloat16 graphs on onnxruntime: every op runs, and rounds where TensorFlow rounds.

onnxruntime's CPU provider has bfloat16 kernels for few ops (onnx/_kernels.py, measured by
tools/ort_bf16_kernels.py): the others compute in float32 between Casts. The math and nn
ops compute each TensorFlow op in float32 and round once, as TensorFlow's Eigen kernels do;
its bfloat16 matrix products truncate instead (``truncate_bf16``). TensorFlow's answers are
the fixtures' recorded ones (TF_ENABLE_ONEDNN_OPTS=0, tests/_oracles/env.py).
"""

from __future__ import annotations

import ml_dtypes
import numpy as np
import pytest

from graph.test_runtime_core import F32, const, node, placeholder
from onnx_export._cases import assert_same, cases, exported, signature

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

import savedmodel_io  # noqa: E402
import savedmodel_io.onnx as sx  # noqa: E402
from savedmodel_io.onnx import _kernels  # noqa: E402
from savedmodel_io.onnx._graph import Graph, Model, Val, value_info  # noqa: E402
from savedmodel_io.onnx._opsets import BFLOAT16_AS_FLOAT32  # noqa: E402
from savedmodel_io.onnx.backend import output_keys  # noqa: E402
from savedmodel_io.onnx.ops._util import truncate_bf16  # noqa: E402
from savedmodel_io.proto import DataType  # noqa: E402

BF16 = np.dtype(ml_dtypes.bfloat16)
BF = DataType.DT_BFLOAT16

# keras_mixed_bfloat16 signatures made of ops TensorFlow rounds one at a time (matrix products
# truncated): TensorFlow's outputs within float32 tolerance. The others go through kernels that
# round inside (Softmax's exp, sum and division; Einsum; the LSTM's loop of them).
ROUNDED_PER_OP = {"dense", "conv"}


def _within_bf16(got: np.ndarray, want: np.ndarray, what: str, ulps: float = 2) -> None:
    """|got - want| within ``ulps`` bfloat16 ulps of the outputs' magnitude (2 ** -7 relative)."""
    scale = float(np.max(np.abs(want))) or 1.0
    np.testing.assert_allclose(got, want, rtol=0, atol=ulps * 2.0 ** -7 * scale, err_msg=what)


def _run(proto, inputs: dict) -> dict:
    onnx.checker.check_model(proto, full_check=True)
    sess = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    return dict(zip(output_keys(sess), sess.run(None, inputs)))


@pytest.mark.tf
@pytest.mark.parametrize("sig", ["dense", "conv", "attention", "lstm", "softmax"])
def test_mixed_bfloat16_matches_tensorflow(sig, fixture_model):
    path = fixture_model("keras_mixed_bfloat16")
    mg = savedmodel_io.load(path).default_meta_graph
    inputs, want = cases(path)[sig][0]
    got = _run(sx.export(mg, sig), inputs)
    for key, w in want.items():
        if sig in ROUNDED_PER_OP:
            assert_same(got[key], w, f"{sig} {key}")
        else:
            _within_bf16(got[key], w, f"{sig} {key}")


@pytest.mark.tf
def test_bfloat16_backend_agrees_with_tensorflow(fixture_model):
    path = fixture_model("keras_mixed_bfloat16")
    sig = savedmodel_io.load(path).signatures["dense"]
    inputs, want = cases(path)["dense"][0]
    for backend in ("onnxruntime", "auto"):
        assert_same(sig(**inputs, backend=backend)["out0"], want["out0"], backend)


@pytest.mark.tf
def test_matrix_products_truncate(fixture_model):
    """Rounding the bfloat16 products to nearest (ONNX's Cast) instead of truncating them gives other
    outputs than TensorFlow's on this fixture (so the truncation is what matches)."""
    path = fixture_model("keras_mixed_bfloat16")
    mg = savedmodel_io.load(path).default_meta_graph
    inputs, want = cases(path)["dense"][0]
    from savedmodel_io.onnx import _convert

    saved = _convert._TRUNCATED
    _convert._TRUNCATED = frozenset()
    try:
        got = _run(sx.export(mg, "dense"), inputs)
    finally:
        _convert._TRUNCATED = saved
    assert not np.array_equal(got["out0"], want["out0"])


def test_no_bfloat16_op_lacks_a_kernel(fixture_model):
    """Every ONNX node on bfloat16 values in the exports has an onnxruntime kernel for it (by the
    measured table), and no ONNX schema check failed on the way."""
    path = fixture_model("keras_mixed_bfloat16")
    mg = savedmodel_io.load(path).default_meta_graph
    for sig in ("dense", "conv", "attention", "lstm", "softmax"):
        proto = onnx.shape_inference.infer_shapes(sx.export(mg, sig))
        types = {v.name: v.type.tensor_type.elem_type for v in
                 list(proto.graph.value_info) + list(proto.graph.input) + list(proto.graph.output)}
        for n in proto.graph.node:
            if any(types.get(i) == onnx.TensorProto.BFLOAT16 for i in n.input):
                assert _kernels.has_bf16_kernel(n.op_type, 20), (sig, n.op_type, n.name)


def test_kernel_table_is_onnxruntimes():
    """The table says what onnxruntime loads: each entry at both ends of its opsets, and ops the
    exporter routes through float32 (no entry) do not load on bfloat16."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tools"))
    try:
        import ort_bf16_kernels as probe
    finally:
        sys.path.pop(0)
    for op, (first, last) in _kernels.BF16_KERNELS.items():
        for v in (first, last):
            ok = probe._extra(v)[op] if op in ("ConstantOfShape", "If", "Loop") else probe.probe(op, v) == ""
            assert ok, (op, v)
    for op in ("MatMul", "Add", "Mul", "Conv", "Relu", "Where", "Expand", "Softmax", "ReduceSum", "Erf"):
        assert probe.probe(op, 20) != "", op
        assert not _kernels.has_bf16_kernel(op, 20), op


def test_truncation_is_tensorflows():
    """float32 -> bfloat16 toward zero: the high 16 bits of every finite float32 and infinity."""
    m = Model(20)
    g = Graph(m)
    x = Val("x", np.dtype(np.float32), (None,))
    y = g.op1("Cast", truncate_bf16(g, x), to=onnx.TensorProto.FLOAT)
    proto = onnx.helper.make_model(g.to_proto("g", [value_info("x", g.type_of(x))], [value_info(y.name, g.type_of(y))],
                                              [onnx.numpy_helper.from_array(a, n) for n, a in m.initializers.items()]),
                                   opset_imports=m.opset_imports())
    sess = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    bits = np.random.default_rng(7).integers(0, 1 << 32, 200_000, dtype=np.uint64).astype(np.uint32)
    xs = bits.view(np.float32)
    powers = (2.0 ** np.arange(-149, 128)).astype(np.float32)
    xs = np.concatenate([xs[np.isfinite(xs)], powers, -powers, np.nextafter(powers, np.float32(0)),
                         np.float32([0, np.inf, -np.inf, 3.4028235e38, 1.1754942e-38])])
    (got,) = sess.run(None, {"x": xs})
    np.testing.assert_array_equal(got, (xs.view(np.uint32) & np.uint32(0xFFFF0000)).view(np.float32))
    assert np.isnan(sess.run(None, {"x": np.float32([np.nan])})[0]).all()


def _raw(tmp_path=None):
    """A bfloat16 signature: x, w [bfloat16] -> relu(x @ w + 1), the product's row maxima (a
    reduction onnxruntime has no bfloat16 kernel for) and x transposed (one that it has)."""
    nodes = [placeholder("x", BF), placeholder("w", BF), const("one", np.ones((), BF16)),
             node("mm", "MatMul", ["x", "w"], T=("type", BF)),
             node("add", "AddV2", ["mm", "one"], T=("type", BF)),
             node("y", "Relu", ["add"], T=("type", BF)),
             const("axis", np.int32(1)), node("m", "Max", ["mm", "axis"], T=("type", BF)),
             const("perm", np.int32([1, 0])), node("t", "Transpose", ["x", "perm"], T=("type", BF))]
    return signature(nodes, {"x": (BF, (None, 5)), "w": (BF, (5, 3))},
                     {"y": ("y:0", BF, (None, 3)), "m": ("m:0", BF, (None,)), "t": ("t:0", BF, (5, None))})


def _feeds():
    rs = np.random.RandomState(5)
    return {"x": rs.standard_normal((4, 5)).astype(BF16), "w": rs.standard_normal((5, 3)).astype(BF16)}


def _truncated_reference(feeds):
    """TensorFlow's answer by its rules: the product in float32 truncated, each later op rounded."""
    prod = feeds["x"].astype(np.float32) @ feeds["w"].astype(np.float32)
    mm = (prod.view(np.uint32) & np.uint32(0xFFFF0000)).view(np.float32)
    y = np.maximum((mm + 1).astype(BF16).astype(np.float32), 0).astype(BF16)
    return {"y": y, "m": mm.max(axis=1).astype(BF16), "t": feeds["x"].T}


def test_bfloat16_signature_edges():
    """Without the option graph inputs and outputs stay bfloat16; with bfloat16_as_float32 they are
    float32 (named in the metadata), and onnxruntime's outputs are TensorFlow's rule's exactly."""
    mg = _raw()
    plain, problems = exported(mg)
    assert not problems, problems
    assert {i.type.tensor_type.elem_type for i in plain.graph.input} == {onnx.TensorProto.BFLOAT16}
    assert {o.type.tensor_type.elem_type for o in plain.graph.output} == {onnx.TensorProto.BFLOAT16}
    proto, problems = exported(mg, bfloat16_as_float32=True)
    assert not problems, problems
    onnx.checker.check_model(proto, full_check=True)
    onnx.shape_inference.infer_shapes(proto, check_type=True, strict_mode=True)
    assert {i.type.tensor_type.elem_type for i in proto.graph.input} == {onnx.TensorProto.FLOAT}
    assert {o.type.tensor_type.elem_type for o in proto.graph.output} == {onnx.TensorProto.FLOAT}
    import json

    meta = {p.key: p.value for p in proto.metadata_props}
    assert json.loads(meta[BFLOAT16_AS_FLOAT32]) == {"inputs": ["w", "x"], "outputs": ["m", "t", "y"]}
    feeds = _feeds()
    got = _run(proto, {k: v.astype(np.float32) for k, v in feeds.items()})
    want = _truncated_reference(feeds)
    for k, w in want.items():
        assert np.array_equal(got[k].astype(BF16).astype(np.float32), got[k]), k  # bfloat16 values
        np.testing.assert_array_equal(got[k].astype(BF16), w, err_msg=k)


def test_backend_runs_bfloat16_signatures(tmp_path):
    """backend="onnxruntime" takes and gives bfloat16 arrays (fed and read as float32 at the edge)."""
    sig = _saved(tmp_path)
    feeds = _feeds()
    got = sig(**feeds, backend="onnxruntime")
    numpy = sig(**feeds)
    for k, w in _truncated_reference(feeds).items():
        assert got[k].dtype == BF16, k
        np.testing.assert_array_equal(got[k], w, err_msg=k)
        # The numpy runtime rounds the product to nearest: within a bfloat16 ulp of it.
        _within_bf16(np.asarray(numpy[k]).astype(np.float32), got[k].astype(np.float32), k, ulps=1)


def _saved(tmp_path):
    from savedmodel_io.proto import SavedModel

    sm = SavedModel(saved_model_schema_version=1)
    mg = sm.meta_graphs.add()
    mg.CopyFrom(_raw())
    mg.meta_info_def.tags.append("serve")
    (tmp_path / "saved_model.pb").write_bytes(sm.SerializeToString())
    return savedmodel_io.load(tmp_path).signatures["s"]


def test_auto_does_not_pick_a_model_onnxruntime_cannot_load(tmp_path, monkeypatch):
    """A valid model onnxruntime refuses to load (a kernel it lacks) does not run there: "onnxruntime"
    says so as UnsupportedOpError, and "auto" runs the numpy runtime (and remembers)."""
    from savedmodel_io.errors import UnsupportedOpError
    from savedmodel_io.onnx import backend

    def refuse(model):
        raise RuntimeError("[ONNXRuntimeError] : 9 : NOT_IMPLEMENTED : Could not find an implementation")

    monkeypatch.setattr(backend, "new_session", refuse)
    sig = _saved(tmp_path)
    feeds = _feeds()
    with pytest.raises(UnsupportedOpError, match="onnxruntime cannot run"):
        sig(**feeds, backend="onnxruntime")
    assert not backend.usable(sig)
    got, want = sig(**feeds, backend="auto"), sig(**feeds)
    for k in want:
        np.testing.assert_array_equal(got[k], want[k])


def test_rounding_casts_only_where_tensorflow_rounds():
    """A value that only moved (Max of a product, Transpose, Reshape...) is not rounded and widened
    again: Cast(float32 -> bfloat16) -> Cast(-> float32) pairs follow only computed values."""
    proto, problems = exported(_raw(), bfloat16_as_float32=True)
    assert not problems
    by_out = {o: n for n in proto.graph.node for o in n.output}
    pairs = []
    for n in proto.graph.node:
        if n.op_type == "Cast" and n.attribute[0].i == onnx.TensorProto.FLOAT and n.input[0] in by_out:
            src = by_out[n.input[0]]
            if src.op_type == "Cast" and src.attribute[0].i == onnx.TensorProto.BFLOAT16 \
                    and src.input[0] in by_out:
                pairs.append(by_out[src.input[0]].op_type)
    assert pairs and all(op not in _kernels.EXACT for op in pairs), pairs
    assert not any(n.op_type == "Cast" and n.input[0] == n.output[0] for n in proto.graph.node)


def test_float32_graphs_get_no_casts():
    """A float32 graph is untouched: no Cast to or from bfloat16 appears."""
    nodes = [placeholder("x"), const("w", np.ones((5, 3), np.float32)),
             node("y", "MatMul", ["x", "w"], T=("type", F32))]
    proto, problems = exported(signature(nodes, {"x": (F32, (None, 5))}, {"y": ("y:0", F32, (None, 3))}))
    assert not problems
    assert not [n for n in proto.graph.node if n.op_type == "Cast"]
