"""Assemble the exported graph into a ModelProto, and write ONNX files (external data past 2 GiB)."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from google.protobuf.message import EncodeError
from onnx import external_data_helper, helper

from savedmodel_io.errors import LimitExceededError
from savedmodel_io.onnx import _cleanup, _fuse
from savedmodel_io.onnx._opsets import OUTPUT_KEYS
from savedmodel_io.onnx._types import onnx_type

__all__ = ["assemble", "write"]

PROTOBUF_LIMIT = (1 << 31) - 1
# Tensors at least this big go to the side file of a model written with external data.
EXTERNAL_THRESHOLD = 1024


def assemble(exporter: Any, graph: onnx.GraphProto, signature: str, mg: Any) -> onnx.ModelProto:
    """The ModelProto of an exported signature: clean-ups, then the initializers it uses."""
    from savedmodel_io._version import version
    from savedmodel_io.onnx._opsets import EXPORTER_VERSION

    model = exporter.model
    proto = onnx.ModelProto()
    opsets = model.opset_imports()
    proto.ir_version = helper.find_min_ir_version_for(opsets)
    proto.opset_import.extend(opsets)
    proto.producer_name = "savedmodel_io"
    proto.producer_version = f"{version()} (exporter {EXPORTER_VERSION})"
    # The graph is moved in without its initializers; those are written straight into it.
    proto.graph.CopyFrom(graph)
    g = proto.graph
    _cleanup.remove_identities(g)
    _fuse.run(g, model)
    _cleanup.prune(g)
    _cleanup.drop_unread_outputs(g)
    used = _cleanup.used_names(g)
    for name, arr in model.initializers.items():
        if name in used:
            fill_tensor(g.initializer.add(), name, arr)
    tags = ",".join(sorted(mg.tag_set))
    # The signature's output keys in graph output order (an output whose key is also an
    # input's gets another ONNX name: ONNX names are unique).
    keys = json.dumps(exporter.output_keys)
    helper.set_model_props(proto, {"signature": signature, "tags": tags, OUTPUT_KEYS: keys})
    return proto


def fill_tensor(t: onnx.TensorProto, name: str, arr: np.ndarray) -> None:
    """Write ``arr`` into TensorProto ``t`` (raw little-endian bytes; strings as string_data)."""
    t.name = name
    t.dims.extend(arr.shape)
    elem = onnx_type(arr.dtype)
    if elem is None:
        raise ValueError(f"ONNX has no {arr.dtype} tensors")
    t.data_type = elem
    if arr.dtype == object:
        t.string_data.extend(x if isinstance(x, bytes) else str(x).encode() for x in arr.reshape(-1))
        return
    if arr.dtype.byteorder == ">":
        arr = arr.astype(arr.dtype.newbyteorder("<"))
    t.raw_data = np.ascontiguousarray(arr).tobytes()


def _all_tensors(graph: onnx.GraphProto) -> list[onnx.TensorProto]:
    out = list(graph.initializer)
    for node in graph.node:
        for a in node.attribute:
            if a.type == onnx.AttributeProto.GRAPH:
                out += _all_tensors(a.g)
            elif a.type == onnx.AttributeProto.GRAPHS:
                for sub in a.graphs:
                    out += _all_tensors(sub)
            elif a.type == onnx.AttributeProto.TENSOR:
                out.append(a.t)
    return out


def serialized(model: onnx.ModelProto) -> bytes | None:
    """``model``'s bytes, or None past protobuf's 2 GiB limit."""
    try:
        data: bytes = model.SerializeToString()
    except (ValueError, RuntimeError, EncodeError):
        return None
    return data if len(data) <= PROTOBUF_LIMIT else None


def write(model: onnx.ModelProto, path: str | os.PathLike[str]) -> None:
    """Write ``model`` to ``path`` atomically.

    Past protobuf's 2 GiB limit, tensors of 1 KiB or more move to ``<file name>.data``
    beside it (onnx.external_data_helper; ``model`` then refers to that file).
    """
    from savedmodel_io._fsutil import atomic_file

    target = Path(path)
    data = serialized(model)
    if data is None:
        location = target.name + ".data"
        external_data_helper.convert_model_to_external_data(
            model, all_tensors_to_one_file=True, location=location, size_threshold=EXTERNAL_THRESHOLD)
        tmpdir = tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent)
        try:
            external_data_helper.write_external_data_tensors(model, tmpdir)
            os.replace(os.path.join(tmpdir, location), target.parent / location)
        finally:
            shutil.rmtree(tmpdir, ignore_errors=True)
        data = serialized(model)
        if data is None:
            raise LimitExceededError("the ONNX graph itself is larger than 2 GiB", path=target)
    with atomic_file(target) as f:
        f.write(data)
