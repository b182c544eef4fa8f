"""Hash buckets of integers' decimal text (Keras ``Hashing`` and hashed columns on integer ids):
``AsString`` then ``StringToHashBucketFast`` (FarmHash) or ``StringToHashBucketStrong`` (SipHash),
exported as 64-bit arithmetic, against the numpy runtime's hashes (which match TensorFlow's)."""

from __future__ import annotations

import numpy as np
import pytest

from graph.test_runtime_core import const, node, placeholder
from onnx_export._cases import exported, signature

ort = pytest.importorskip("onnxruntime")

from savedmodel_io import dtypes  # noqa: E402
from savedmodel_io.graph import runtime  # noqa: E402
from savedmodel_io.proto import DataType  # noqa: E402

I64 = DataType.DT_INT64


def _edges(dt) -> np.ndarray:
    """Every decimal length: 0, +-1, +-(10^k - 1), +-10^k, the type's bounds, random values."""
    info = np.iinfo(dt)
    vals = {0, 1, info.min, info.max, info.min + 1, info.max - 1}
    for k in range(1, 20):
        for v in (10 ** k - 1, 10 ** k, 10 ** k + 1):
            vals.update({v, -v})
    rs = np.random.RandomState(3)
    vals.update(int(v) * int(w) for v, w in zip(rs.randint(-2**31, 2**31, 200), rs.randint(0, 2**32, 200)))
    vals.update(int(v) for v in rs.randint(-1000, 1000, 100))
    return np.array(sorted(v for v in vals if info.min <= v <= info.max), dtype=dt)


def _graph(dt, hash_op: str, shape_op: str | None, **attrs):
    t = dtypes.from_numpy(np.dtype(dt))
    nodes = [placeholder("x", t), node("s", "AsString", ["x"], T=("type", t))]
    src = "s"
    if shape_op == "ExpandDims":
        nodes += [const("axis", np.int32(1)), node("e", "ExpandDims", ["s", "axis"], T=("type", DataType.DT_STRING))]
        src = "e"
    elif shape_op == "Reshape":
        nodes += [const("shape", np.int64([-1, 1])), node("e", "Reshape", ["s", "shape"], T=("type", DataType.DT_STRING))]
        src = "e"
    nodes.append(node("y", hash_op, [src], **attrs))
    return signature(nodes, {"x": (t, (None,))}, {"y": ("y:0", I64, None)})


@pytest.mark.parametrize("dt", [np.int64, np.int32, np.int16, np.int8, np.uint8, np.uint16, np.uint32, np.uint64])
@pytest.mark.parametrize("hash_op,attrs", [
    ("StringToHashBucketFast", {"num_buckets": 1000}),
    ("StringToHashBucketFast", {"num_buckets": 2**62 + 7}),
    ("StringToHashBucketStrong", {"num_buckets": 97, "key": ("ints", [123, 2**63 + 456])}),
])
def test_hash_buckets_of_integers_match_the_runtime(dt, hash_op, attrs):
    attrs = dict(attrs)
    if "key" in attrs:
        attrs["key"] = np.array([123, 2**63 + 456], dtype=np.uint64).astype(np.int64)
    mg = _graph(dt, hash_op, None, **attrs)
    proto, problems = exported(mg)
    assert not problems, problems
    x = _edges(dt)
    got = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    want = runtime.Session(mg).run_signature("s", {"x": x})["y"]
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("shape_op", ["ExpandDims", "Reshape"])
def test_the_text_is_followed_through_shape_ops(shape_op):
    mg = _graph(np.int64, "StringToHashBucketFast", shape_op, num_buckets=10)
    proto, problems = exported(mg)
    assert not problems, problems
    x = _edges(np.int64)
    got = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    want = runtime.Session(mg).run_signature("s", {"x": x})["y"]
    assert got.shape == want.shape == (len(x), 1)
    np.testing.assert_array_equal(got, want)


def test_booleans_hash_their_text():
    b = DataType.DT_BOOL
    mg = signature([placeholder("x", b), node("s", "AsString", ["x"], T=("type", b)),
                    node("y", "StringToHashBucketFast", ["s"], num_buckets=1000)],
                   {"x": (b, (None,))}, {"y": ("y:0", I64, None)})
    proto, problems = exported(mg)
    assert not problems, problems
    x = np.array([True, False, True])
    got = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    np.testing.assert_array_equal(got, runtime.Session(mg).run_signature("s", {"x": x})["y"])


def test_hashing_strings_is_refused_with_the_reason():
    s = DataType.DT_STRING
    mg = signature([placeholder("x", s), node("y", "StringToHashBucketFast", ["x"], num_buckets=10)],
                   {"x": (s, (None,))}, {"y": ("y:0", I64, None)})
    _, problems = exported(mg)
    assert problems and "no ONNX operator gives" in problems[0].reason
    _, problems = exported(_graph(np.int64, "StringToHashBucketFast", None, num_buckets=10), opset=17)
    assert problems and "opset 18" in problems[0].reason


@pytest.mark.tf
def test_keras_hashing_of_integer_ids(fixture_model):
    """Keras Hashing on int64 ids (int, count, multi-hot, one-hot and masked outputs) on onnxruntime
    equals the numpy runtime (which equals TensorFlow: tests/graph)."""
    import savedmodel_io

    model = savedmodel_io.load(fixture_model("keras_hashing"))
    x = _edges(np.int64)[:60].reshape(20, 3)
    done = 0
    for key, sig in model.signatures.items():
        if not key.startswith("hash_") or next(iter(sig.inputs.values())).dtype_enum != I64:
            continue  # Hashing on strings: their bytes have no ONNX form
        (name, spec), = sig.inputs.items()
        feed = x if spec.shape[-1] == 3 else x[:, :1]
        want, got = sig(**{name: feed}), sig(**{name: feed}, backend="onnxruntime")
        for k in want:
            np.testing.assert_array_equal(np.asarray(got[k]), np.asarray(want[k]), err_msg=f"{key} {k}")
        done += 1
    assert done >= 5
