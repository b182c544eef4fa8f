"""SerializeTensor and ParseTensor against ``tf.raw_ops``: TF's exact bytes, and its parsing
of every TensorProto form (tensor_content, typed value fields padded with their last value).

The oracle's codec reads a scalar bytes output through numpy's "S" type, which drops trailing
NULs: serialized values here end in a non-zero byte. More values than elements is refused (as
for constants, see tensors.to_array); TensorFlow keeps the first ones."""

from __future__ import annotations

import numpy as np
import pytest

from savedmodel_io.errors import LimitExceededError, UnsupportedOpError
from savedmodel_io.graph import runtime
from savedmodel_io.proto import DataType, TensorProto
from savedmodel_io.tensors import to_content_proto

from .raw_ops_harness import DT, Cases, s
from .test_runtime_core import const, meta, node

CASES = Cases(seed=5106)
add = CASES.add
RS = CASES.rs


def _bytes(proto: TensorProto) -> np.ndarray:
    return np.array(proto.SerializeToString(), dtype=object)


def _proto(dtype: int, dims: list[int], **fields) -> np.ndarray:
    proto = TensorProto(dtype=dtype, **fields)
    proto.tensor_shape.SetInParent()
    for d in dims:
        proto.tensor_shape.dim.add(size=d)
    return _bytes(proto)


def _serialize() -> None:
    values = {
        "float32": RS.standard_normal((2, 3)).astype(np.float32),
        "float64": np.array([np.nan, -0.0, np.inf]),
        "float16": np.array([1.5, -2.25], np.float16),
        "int8": np.array([-128, 127], np.int8),
        "uint8": np.arange(5, dtype=np.uint8),
        "int16": np.array([[-3], [260]], np.int16),
        "uint16": np.array([65535], np.uint16),
        "int32": np.int32(-7),
        "uint32": np.array([1, 2 ** 32 - 1], np.uint32),
        "int64": np.array([np.iinfo(np.int64).min], np.int64),
        "uint64": np.array([2 ** 64 - 1], np.uint64),
        "bool": np.array([True, False, True]),
        "complex64": np.array([1 + 2j, -3j], np.complex64),
        "complex128": np.array(0.5 - 1j),
        "empty": np.zeros((0, 4), np.float32),
    }
    for tag, x in values.items():
        add("SerializeTensor", tag, tensor=x)
    add("SerializeTensor", "strings", tensor=s("ab", "", "\u00e9"))
    add("SerializeTensor", "string_scalar", tensor=np.array(b"x", dtype=object))
    add("SerializeTensor", "strings_empty", tensor=np.zeros((0, 2), dtype=object))
    for tag, x in values.items():
        # TF's own bytes back (its answer to SerializeTensor, rebuilt here the same way)
        out = DT({"bool": "bool", "empty": "float32"}.get(tag, tag))
        add("ParseTensor", tag, {"out_type": out}, serialized=_bytes(to_content_proto(x)))


def _parse_forms() -> None:
    f = DataType.DT_FLOAT
    add("ParseTensor", "float_val_padded", {"out_type": DT("float32")},
        serialized=_proto(f, [2, 3], float_val=[1.0, 2.5]))
    add("ParseTensor", "float_val_none", {"out_type": DT("float32")},
        serialized=_proto(f, [3]))
    add("ParseTensor", "content_short", {"out_type": DT("float32")},
        serialized=_proto(f, [3], tensor_content=b"\0" * 8))
    add("ParseTensor", "half_val", {"out_type": DT("float16")},
        serialized=_proto(DataType.DT_HALF, [2], half_val=[0x3C00, 0xC000]))
    add("ParseTensor", "int_val", {"out_type": DT("int32")},
        serialized=_proto(DataType.DT_INT32, [4], int_val=[5, -1]))
    add("ParseTensor", "int64_val", {"out_type": DT("int64")},
        serialized=_proto(DataType.DT_INT64, [], int64_val=[-9]))
    add("ParseTensor", "string_val", {"out_type": DT("string")},
        serialized=_proto(DataType.DT_STRING, [3], string_val=[b"a", b"bc"]))
    add("ParseTensor", "qint8", {"out_type": DT("qint8")},
        serialized=_proto(DataType.DT_QINT8, [2], tensor_content=b"\x80\x7f"))
    add("ParseTensor", "type_mismatch", {"out_type": DT("float64")},
        serialized=_proto(f, [1], float_val=[1.0]))
    add("ParseTensor", "garbage", {"out_type": DT("float32")},
        serialized=np.array(b"\xff\xff", dtype=object))
    add("ParseTensor", "not_scalar", {"out_type": DT("float32")},
        serialized=np.stack([_proto(f, [1], float_val=[1.0])]))
    add("ParseTensor", "negative_dim", {"out_type": DT("float32")},
        serialized=_proto(f, [-2], float_val=[1.0]))


_serialize()
_parse_forms()
test_kernel_matches_tensorflow = CASES.test()


def test_variant_tensors_are_refused():
    """TF writes a variant's own encoding: we refuse rather than write other bytes."""
    mg = meta([const("shape", np.int32(-1)), const("n", np.int32(2)),
               node("l", "TensorListReserve", ["shape", "n"],
                    element_dtype=("type", DataType.DT_FLOAT),
                    shape_type=("type", DataType.DT_INT32)),
               node("s", "SerializeTensor", ["l"], T=("type", DataType.DT_VARIANT))],
              sigs={"s": ({}, {"y": "s:0"})})
    with pytest.raises(UnsupportedOpError, match="DT_VARIANT"):
        runtime.run_signature(mg, "s", {})


def test_hostile_sizes_are_refused_before_allocating():
    """A few proto bytes declaring a huge tensor, or a convolution padded to petabytes, stop
    with LimitExceededError naming the node."""
    huge = _proto(DataType.DT_FLOAT, [1 << 40], float_val=[1.0])
    mg = meta([const("b", huge),
               node("p", "ParseTensor", ["b"], out_type=("type", DataType.DT_FLOAT))],
              sigs={"s": ({}, {"y": "p:0"})})
    with pytest.raises(LimitExceededError) as info:
        runtime.run_signature(mg, "s", {})
    assert "ParseTensor" in str(info.value)

    x = np.zeros((1, 1, 2, 2), np.int8)
    f32, i32 = np.float32(1.0), np.int32(0)
    conv = node("c", "UniformQuantizedConvolution", ["x", "w", "s", "z", "s", "z", "s", "z"],
                Tin=("type", DataType.DT_QINT8), Tout=("type", DataType.DT_QINT32),
                padding=b"EXPLICIT", lhs_quantization_min_val=-128, lhs_quantization_max_val=127,
                rhs_quantization_min_val=-128, rhs_quantization_max_val=127,
                output_quantization_min_val=-(1 << 31), output_quantization_max_val=(1 << 31) - 1)
    conv.attr["explicit_padding"].list.i.extend([0, 1 << 30, 0, 1 << 30])
    mg = meta([const("x", x), const("w", x), const("s", f32), const("z", i32), conv],
              sigs={"s": ({}, {"y": "c:0"})})
    with pytest.raises(LimitExceededError) as info:
        runtime.run_signature(mg, "s", {})
    assert "UniformQuantizedConvolution" in str(info.value)
