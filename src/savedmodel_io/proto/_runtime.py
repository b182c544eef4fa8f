"""The private descriptor pool the generated bindings register into.

TensorFlow registers messages with the same full names (``tensorflow.SavedModel``...)
in protobuf's process-wide default pool. Registering ours there would make
``import tensorflow`` fail (duplicate symbols), so every savedmodel_io message
lives in this pool instead. Binary and text formats are unaffected: only full
names and field numbers matter on the wire.
"""

from __future__ import annotations

from typing import Any

from google.protobuf import any_pb2, descriptor_pool, wrappers_pb2
from google.protobuf.internal import builder as _builder

POOL = descriptor_pool.DescriptorPool()

# A private pool does not fall back to the well-known types: add the ones we use.
for _wkt in (any_pb2, wrappers_pb2):
    POOL.AddSerializedFile(_wkt.DESCRIPTOR.serialized_pb)


def add_file(serialized: bytes) -> Any:
    """Register one serialized FileDescriptorProto; returns its FileDescriptor."""
    return POOL.AddSerializedFile(serialized)


def build(file_descriptor: Any, module_name: str, namespace: dict[str, Any]) -> None:
    """Create the message classes and enum wrappers of a file in ``namespace``."""
    _builder.BuildMessageAndEnumDescriptors(file_descriptor, namespace)
    _builder.BuildTopDescriptorsAndMessages(file_descriptor, module_name, namespace)
