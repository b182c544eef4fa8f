"""TensorProto <-> numpy, against tf.make_tensor_proto / tf.make_ndarray."""

from __future__ import annotations

import base64

import ml_dtypes
import numpy as np
import pytest
from _oracles import ModuleOracle
from _oracles.codec import decode, encode
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from savedmodel_io import tensors
from savedmodel_io.errors import CorruptFileError, LimitExceededError
from savedmodel_io.proto import DataType, TensorProto, TensorShapeProto

SAMPLES = [
    np.float32(3.5),
    np.arange(6, dtype=np.float32).reshape(2, 3),
    np.arange(6, dtype=np.float64),
    np.array([1 + 2j, 3 - 1j], np.complex64),
    np.array([1 + 2j], np.complex128),
    np.array([True, False, True]),
    np.array(True),
    np.array(b"hi", dtype=object),
    np.array([b"a", b"\xff\x00", b""], dtype=object),
    np.arange(4, dtype=np.int8),
    np.arange(4, dtype=np.uint8),
    np.arange(4, dtype=np.int16),
    np.arange(4, dtype=np.uint16),
    np.arange(4, dtype=np.int32),
    np.arange(4, dtype=np.int64) - 2,
    np.array([2**32 - 1, 5], np.uint32),
    np.array([2**64 - 1, 5], np.uint64),
    np.uint64(2**63 + 5),
    np.array([1.5, -2], dtype=ml_dtypes.bfloat16),
    np.array(2.5, dtype=ml_dtypes.bfloat16),
    np.array([2.5, 1], np.float16),
    np.float16(2.5),
    np.array([1, 2], dtype=ml_dtypes.float8_e4m3fn),
    np.array([1, -2], dtype=ml_dtypes.float8_e5m2),
    np.array(7, dtype=ml_dtypes.int4),
    np.array([-8, 7], dtype=ml_dtypes.int4),
    np.zeros((0, 3), np.float32),
]


def _filled() -> list[TensorProto]:
    """Protos with fewer values than elements: TF repeats the last one, or fills zeros."""
    out = []
    for tp in (
        TensorProto(dtype=DataType.DT_FLOAT, float_val=[1.0, 2.0]),
        TensorProto(dtype=DataType.DT_INT64),
        TensorProto(dtype=DataType.DT_STRING, string_val=[b"x"]),
        TensorProto(dtype=DataType.DT_COMPLEX64, scomplex_val=[1, 2]),
        TensorProto(dtype=DataType.DT_HALF, half_val=[0x3C00]),
    ):
        tp.tensor_shape.CopyFrom(tensors.shape_to_proto((2, 3)))
        out.append(tp)
    return out


def tf_protos(request: dict) -> dict:
    """TF's make_tensor_proto of every sample and make_ndarray of every filled proto (oracle)."""
    import tensorflow as tf

    made = [tf.make_tensor_proto(v).SerializeToString() for v in SAMPLES]
    proto_type = type(tf.make_tensor_proto(0))
    arrays = [tf.make_ndarray(proto_type.FromString(tp.SerializeToString())) for tp in _filled()]
    content = []  # the values part of SerializeSparse: C++'s AsProtoTensorContent form
    for v in SAMPLES:
        flat = v.reshape(-1)
        try:
            content.append(base64.b64encode(tf.raw_ops.SerializeSparse(
                sparse_indices=np.arange(flat.size, dtype=np.int64).reshape(-1, 1),
                sparse_values=tf.constant(flat),
                sparse_shape=np.int64([flat.size])).numpy()[1]).decode())
        except (tf.errors.OpError, TypeError, ValueError):
            content.append(None)
    return {"made": [base64.b64encode(b).decode() for b in made],
            "arrays": [encode(a) for a in arrays], "content": content}


@pytest.fixture(scope="module")
def tf_answers() -> dict:
    (answer,) = ModuleOracle(__name__).answers([{"function": "tf_protos"}])
    return answer


@pytest.mark.tf
@pytest.mark.parametrize("i", range(len(SAMPLES)),
                         ids=[f"{a.dtype}{list(a.shape)}" for a in SAMPLES])
def test_same_bytes_as_tensorflow(i, tf_answers):
    value = SAMPLES[i]
    theirs = base64.b64decode(tf_answers["made"][i])
    ours = tensors.from_array(value)
    assert ours.SerializeToString() == theirs
    back = tensors.to_array(TensorProto.FromString(theirs))
    assert back.dtype == (value.dtype if value.dtype != object else np.dtype(object))
    assert back.shape == value.shape
    assert np.array_equal(back, value)


@pytest.mark.tf
@pytest.mark.parametrize("i", range(len(SAMPLES)),
                         ids=[f"{a.dtype}{list(a.shape)}" for a in SAMPLES])
def test_content_form_is_what_tensorflow_cpp_writes(i, tf_answers):
    """to_content_proto gives the bytes SerializeSparse writes for its values (C++
    AsProtoTensorContent: strings packed as varint lengths + bytes in tensor_content), and
    to_array reads them back."""
    if tf_answers["content"][i] is None:
        pytest.skip(f"TensorFlow cannot serialize {SAMPLES[i].dtype}")
    flat = SAMPLES[i].reshape(-1)
    theirs = base64.b64decode(tf_answers["content"][i])
    assert tensors.to_content_proto(flat).SerializeToString() == theirs
    back = tensors.to_array(TensorProto.FromString(theirs))
    assert back.shape == flat.shape and np.array_equal(back, flat)


@pytest.mark.parametrize("content", [b"\x05ab", b"\x01\x01abc", b"\x80"])
def test_malformed_string_content_is_corrupt(content):
    tp = TensorProto(dtype=DataType.DT_STRING, tensor_content=content)
    tp.tensor_shape.CopyFrom(tensors.shape_to_proto((2,)))
    with pytest.raises(CorruptFileError, match="string tensor_content"):
        tensors.to_array(tp)


@pytest.mark.tf
def test_repeated_last_value_and_zero_fill_like_tensorflow(tf_answers):
    for tp, coded in zip(_filled(), tf_answers["arrays"], strict=True):
        theirs = decode(coded)
        ours = tensors.to_array(tp)
        assert ours.shape == theirs.shape and np.array_equal(ours, theirs)


@given(
    hnp.arrays(
        dtype=st.sampled_from([np.float32, np.float64, np.int32, np.int64, np.uint8, np.bool_]),
        shape=hnp.array_shapes(min_dims=0, max_dims=3, max_side=4),
    )
)
@settings(max_examples=200, deadline=None)
def test_round_trip(arr):
    back = tensors.to_array(TensorProto.FromString(tensors.from_array(arr).SerializeToString()))
    assert back.dtype == arr.dtype and back.shape == arr.shape
    assert np.array_equal(back, arr, equal_nan=arr.dtype.kind == "f")


def test_shapes():
    assert tensors.shape_from_proto(tensors.shape_to_proto((2, None, 3))) == (2, None, 3)
    assert tensors.shape_from_proto(tensors.shape_to_proto(None)) is None
    assert tensors.shape_from_proto(TensorShapeProto()) == ()
    assert tensors.num_elements((2, 3)) == 6
    assert tensors.num_elements((2, None)) is None


def test_bad_content_size_names_the_place():
    tp = TensorProto(dtype=DataType.DT_FLOAT, tensor_content=b"\0" * 7)
    tp.tensor_shape.CopyFrom(tensors.shape_to_proto((2,)))
    with pytest.raises(CorruptFileError, match=r"g.pb \(node c\): tensor_content has 7 bytes"):
        tensors.to_array(tp, path="g.pb", where="node c")


def test_too_many_values():
    tp = TensorProto(dtype=DataType.DT_INT32, int_val=[1, 2, 3])
    tp.tensor_shape.CopyFrom(tensors.shape_to_proto((2,)))
    with pytest.raises(CorruptFileError, match="3 values for 2 elements"):
        tensors.to_array(tp)


def test_hostile_shape_does_not_allocate():
    tp = TensorProto(dtype=DataType.DT_DOUBLE, double_val=[1.0])
    tp.tensor_shape.CopyFrom(tensors.shape_to_proto((1 << 20, 1 << 20)))
    with pytest.raises(LimitExceededError):
        tensors.to_array(tp)
    tp = TensorProto(dtype=DataType.DT_STRING, string_val=[b"a"])
    tp.tensor_shape.CopyFrom(tensors.shape_to_proto((1 << 30, 1 << 10)))
    with pytest.raises(LimitExceededError):
        tensors.to_array(tp)


def test_unknown_shape_is_corrupt():
    tp = TensorProto(dtype=DataType.DT_FLOAT)
    tp.tensor_shape.CopyFrom(tensors.shape_to_proto((None,)))
    with pytest.raises(CorruptFileError, match="unknown shape"):
        tensors.to_array(tp)
