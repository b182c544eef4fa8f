"""SerializeTensor and ParseTensor: a tensor as the bytes of one TensorProto and back.

tensorflow/core/kernels/parse_tensor_op.cc: strings go to ``string_val`` (AsProtoField), every
other type to ``tensor_content`` (AsProtoTensorContent); parsing needs a scalar input and the
parsed dtype must equal ``out_type`` exactly (no conversion).
"""

from __future__ import annotations

import numpy as np

from savedmodel_io import dtypes, tensors
from savedmodel_io.errors import LimitExceededError, SavedModelError, UnsupportedOpError
from savedmodel_io.graph.ops._registry import kernel
from savedmodel_io.graph.ops._util import bad
from savedmodel_io.proto import DataType, TensorProto


@kernel("SerializeTensor")
def serialize_tensor(node, inputs, ctx):
    dt = node.attr["T"]
    if dt in (DataType.DT_VARIANT, DataType.DT_RESOURCE):
        # TF writes the payload's own encoding (VariantTensorData, ResourceHandleProto).
        raise UnsupportedOpError(f"serializing a {dtypes.dtype_name(dt)} tensor is not supported",
                                 where=node.where)
    value = np.asarray(inputs[0])
    if dt == DataType.DT_STRING:
        ctx.meter.elements(value.size, node.where)  # one Python step per string
        proto = tensors.from_array(value, DataType.DT_STRING)
    else:
        proto = tensors.to_content_proto(value)
        proto.dtype = dt  # a quantized type over its integer storage
    return np.array(proto.SerializeToString(), dtype=object)


@kernel("ParseTensor")
def parse_tensor(node, inputs, ctx):
    serialized = np.asarray(inputs[0])
    if serialized.ndim:
        raise bad(node, "Expected `serialized` to be a scalar, got shape: "
                        f"{list(serialized.shape)}")
    data = bytes(serialized.item())
    try:
        proto = TensorProto.FromString(data)
    except Exception:  # noqa: BLE001 (protobuf's DecodeError and friends: all are bad input)
        raise bad(node, "Could not parse `serialized` as TensorProto") from None
    want = node.attr["out_type"]
    if proto.dtype != want:
        raise bad(node, f"Type mismatch between parsed tensor ({dtypes.dtype_name(proto.dtype)}) "
                        f"and dtype ({dtypes.dtype_name(want)})")
    if want in (DataType.DT_VARIANT, DataType.DT_RESOURCE):
        raise UnsupportedOpError(f"parsing a {dtypes.dtype_name(want)} tensor is not supported",
                                 where=node.where)
    try:
        return tensors.to_array(proto, where=node.where)
    except LimitExceededError:
        raise
    except SavedModelError as exc:
        raise bad(node, f"Could not parse `serialized` as Tensor: {exc}") from None
