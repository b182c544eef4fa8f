"""savedmodel_io's protobuf layer: TensorFlow-compatible messages in a private pool.

Everything outside this package imports messages from here, never from ``_gen``::

    from savedmodel_io.proto import SavedModel, TensorProto, parse_message

The classes have TensorFlow's full names and field numbers, so bytes and text
format move freely between them and TensorFlow's own classes (convert through
bytes: the classes themselves are distinct).
"""

from __future__ import annotations

import os
from typing import TypeVar

from google.protobuf import message as _message
from google.protobuf import text_format as _text_format
from google.protobuf.descriptor import FieldDescriptor

from savedmodel_io.errors import CorruptFileError, LimitExceededError
from savedmodel_io.proto._gen.tensorflow.core.example.example_pb2 import Example, SequenceExample
from savedmodel_io.proto._gen.tensorflow.core.example.feature_pb2 import (
    BytesList,
    Feature,
    FeatureList,
    FeatureLists,
    Features,
    FloatList,
    Int64List,
)
from savedmodel_io.proto._gen.tensorflow.core.framework.attr_value_pb2 import AttrValue, NameAttrList
from savedmodel_io.proto._gen.tensorflow.core.framework.full_type_pb2 import FullTypeDef
from savedmodel_io.proto._gen.tensorflow.core.framework.function_pb2 import (
    FunctionDef,
    FunctionDefLibrary,
    GradientDef,
)
from savedmodel_io.proto._gen.tensorflow.core.framework.graph_pb2 import GraphDef
from savedmodel_io.proto._gen.tensorflow.core.framework.node_def_pb2 import NodeDef
from savedmodel_io.proto._gen.tensorflow.core.framework.op_def_pb2 import OpDef, OpList
from savedmodel_io.proto._gen.tensorflow.core.framework.resource_handle_pb2 import (
    ResourceHandleProto,
)
from savedmodel_io.proto._gen.tensorflow.core.framework.tensor_pb2 import (
    TensorProto,
    VariantTensorDataProto,
)
from savedmodel_io.proto._gen.tensorflow.core.framework.tensor_shape_pb2 import TensorShapeProto
from savedmodel_io.proto._gen.tensorflow.core.framework.tensor_slice_pb2 import TensorSliceProto
from savedmodel_io.proto._gen.tensorflow.core.framework.types_pb2 import DataType
from savedmodel_io.proto._gen.tensorflow.core.framework.variable_pb2 import (
    VariableAggregation,
    VariableDef,
    VariableSynchronization,
)
from savedmodel_io.proto._gen.tensorflow.core.framework.versions_pb2 import VersionDef
from savedmodel_io.proto._gen.tensorflow.core.protobuf.fingerprint_pb2 import FingerprintDef
from savedmodel_io.proto._gen.tensorflow.core.protobuf.meta_graph_pb2 import (
    AssetFileDef,
    CollectionDef,
    MetaGraphDef,
    SignatureDef,
    TensorInfo,
)
from savedmodel_io.proto._gen.tensorflow.core.protobuf.saved_model_pb2 import SavedModel
from savedmodel_io.proto._gen.tensorflow.core.protobuf.saved_object_graph_pb2 import (
    CapturedTensor,
    FunctionSpec,
    SavedAsset,
    SavedBareConcreteFunction,
    SavedConcreteFunction,
    SavedConstant,
    SavedFunction,
    SavedObject,
    SavedObjectGraph,
    SavedResource,
    SavedUserObject,
    SavedVariable,
)
from savedmodel_io.proto._gen.tensorflow.core.protobuf.saver_pb2 import SaverDef
from savedmodel_io.proto._gen.tensorflow.core.protobuf.struct_pb2 import (
    StructuredValue,
    TensorSpecProto,
    TypeSpecProto,
)
from savedmodel_io.proto._gen.tensorflow.core.protobuf.tensor_bundle_pb2 import (
    BundleEntryProto,
    BundleHeaderProto,
)
from savedmodel_io.proto._gen.tensorflow.core.protobuf.trackable_object_graph_pb2 import (
    TrackableObjectGraph,
)
from savedmodel_io.proto._gen.tensorflow.tools.proto_splitter.chunk_pb2 import (
    ChunkedField,
    ChunkedMessage,
    ChunkInfo,
    ChunkMetadata,
    FieldIndex,
)
from savedmodel_io.proto._gen.tensorflow.tools.proto_splitter.versions_pb2 import (
    VersionDef as SplitterVersionDef,
)
from savedmodel_io.proto._runtime import POOL

M = TypeVar("M", bound=_message.Message)


def parse_message(
    cls: type[M], data: bytes | memoryview, *, path: str | os.PathLike[str] | None = None
) -> M:
    """Parse binary ``data`` as ``cls``; a decode failure becomes CorruptFileError naming ``path``."""
    msg: M = cls()
    name = cls.DESCRIPTOR.full_name
    try:
        msg.ParseFromString(bytes(data) if isinstance(data, memoryview) else data)
    except MemoryError:
        raise LimitExceededError(f"not enough memory to parse the {name} message", path=path) from None
    except (_message.DecodeError, ValueError, RuntimeError) as exc:
        if "alloc" in str(exc).lower():  # upb's "Arena alloc failed": out of memory, not corrupt
            raise LimitExceededError(
                f"not enough memory to parse the {name} message", path=path
            ) from None
        raise CorruptFileError(f"not a valid {name} message ({exc})", path=path) from None
    return msg


def parse_text(cls: type[M], text: str, *, path: str | os.PathLike[str] | None = None) -> M:
    """Parse protobuf text format (e.g. saved_model.pbtxt); ``Any`` fields resolve in our pool."""
    msg: M = cls()
    name = cls.DESCRIPTOR.full_name
    try:
        _text_format.Parse(text, msg, descriptor_pool=POOL)
    except RecursionError:
        # The text parser recurses per nesting level (hostile files nest thousands deep).
        raise LimitExceededError(f"{name} in text format is nested too deeply", path=path) from None
    except (_text_format.ParseError, ValueError) as exc:
        raise CorruptFileError(f"not a valid {name} in text format ({exc})", path=path) from None
    # Same nesting limit as binary messages: a round trip through the wire format applies
    # upb's depth limit, so code walking the message recursively never meets deeper input.
    try:
        msg.ParseFromString(msg.SerializeToString())
    except (_message.DecodeError, RecursionError) as exc:
        raise LimitExceededError(
            f"{name} in text format is nested too deeply ({exc})", path=path
        ) from None
    return msg


def to_text(msg: _message.Message) -> str:
    """Protobuf text format of ``msg`` (``Any`` contents expanded, like TensorFlow writes)."""
    text: str = _text_format.MessageToString(msg, descriptor_pool=POOL)
    return text


def is_repeated(fd: FieldDescriptor) -> bool:
    """Whether field ``fd`` is repeated (maps included), in every protobuf version."""
    flag = getattr(fd, "is_repeated", None)  # protobuf >= 5.29 (``label`` is deprecated there)
    return bool(flag) if flag is not None else bool(fd.label == FieldDescriptor.LABEL_REPEATED)


def is_map(fd: FieldDescriptor) -> bool:
    """Whether field ``fd`` is a map (a repeated field of a generated map-entry message)."""
    return (fd.type == FieldDescriptor.TYPE_MESSAGE and fd.message_type is not None
            and bool(fd.message_type.GetOptions().map_entry))


__all__ = [
    "POOL", "is_map", "is_repeated", "parse_message", "parse_text", "to_text",
    "AssetFileDef", "AttrValue", "BundleEntryProto", "BundleHeaderProto", "BytesList",
    "CapturedTensor", "ChunkInfo", "ChunkMetadata", "ChunkedField", "ChunkedMessage",
    "CollectionDef", "DataType", "Example", "Feature", "FeatureList", "FeatureLists", "Features",
    "FieldIndex", "FingerprintDef", "FloatList", "FullTypeDef", "FunctionDef",
    "FunctionDefLibrary", "FunctionSpec", "GradientDef", "GraphDef", "Int64List", "MetaGraphDef",
    "NameAttrList", "NodeDef", "OpDef", "OpList", "ResourceHandleProto", "SavedAsset",
    "SavedBareConcreteFunction", "SavedConcreteFunction", "SavedConstant", "SavedFunction",
    "SavedModel", "SavedObject", "SavedObjectGraph", "SavedResource", "SavedUserObject",
    "SavedVariable", "SaverDef", "SequenceExample", "SignatureDef", "SplitterVersionDef",
    "StructuredValue", "TensorInfo", "TensorProto", "TensorShapeProto", "TensorSliceProto",
    "TensorSpecProto", "TrackableObjectGraph", "TypeSpecProto", "VariableAggregation",
    "VariableDef", "VariableSynchronization", "VariantTensorDataProto", "VersionDef",
]
