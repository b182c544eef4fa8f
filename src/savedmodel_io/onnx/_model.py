"""Assemble the exported graph into a ModelProto, and write ONNX files (external data past 2 GiB)."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import onnx
from onnx import external_data_helper, helper, numpy_helper

from savedmodel_io.errors import LimitExceededError
from savedmodel_io.onnx import _cleanup

__all__ = ["assemble", "write"]

PROTOBUF_LIMIT = (1 << 31) - 1
# Metadata property listing the signature's output keys, in graph output order.
OUTPUT_KEYS = "savedmodel_io.output_keys"
# Tensors at least this big go to the side file of a model written with external data.
EXTERNAL_THRESHOLD = 1024


def assemble(exporter: Any, graph: onnx.GraphProto, signature: str, mg: Any) -> onnx.ModelProto:
    """The ModelProto of an exported signature: clean-ups, then the initializers it uses."""
    from savedmodel_io import __version__
    from savedmodel_io.onnx import EXPORTER_VERSION

    model = exporter.model
    _cleanup.run(graph)
    used = _cleanup.used_names(graph)
    graph.initializer.extend(
        numpy_helper.from_array(arr, name) for name, arr in model.initializers.items() if name in used)
    opsets = model.opset_imports()
    proto = helper.make_model(graph, opset_imports=opsets, producer_name="savedmodel_io",
                              producer_version=f"{__version__} (exporter {EXPORTER_VERSION})")
    proto.ir_version = helper.find_min_ir_version_for(opsets)
    tags = ",".join(sorted(mg.tag_set))
    # The signature's output keys in graph output order (an output whose key is also an
    # input's gets another ONNX name: ONNX names are unique).
    keys = json.dumps(exporter.output_keys)
    helper.set_model_props(proto, {"signature": signature, "tags": tags, OUTPUT_KEYS: keys})
    return proto


def data_bytes(model: onnx.ModelProto) -> int:
    """Bytes of tensor data held inline in ``model`` (initializers of every graph)."""
    total = 0
    for t in _all_tensors(model.graph):
        total += len(t.raw_data) if t.HasField("raw_data") else t.ByteSize()
    return total


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


def write(model: onnx.ModelProto, path: str | os.PathLike[str]) -> None:
    """Write ``model`` to ``path`` atomically.

    Past protobuf's 2 GiB limit, tensors of 1 KiB or more move to ``<file name>.data``
    beside it (onnx.external_data_helper; ``model`` then refers to that file).
    """
    from savedmodel_io._fsutil import atomic_file

    target = Path(path)
    if data_bytes(model) + (64 << 20) > PROTOBUF_LIMIT:
        location = target.name + ".data"
        external_data_helper.convert_model_to_external_data(
            model, all_tensors_to_one_file=True, location=location, size_threshold=EXTERNAL_THRESHOLD)
        tmpdir = tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent)
        try:
            external_data_helper.write_external_data_tensors(model, tmpdir)
            os.replace(os.path.join(tmpdir, location), target.parent / location)
        finally:
            shutil.rmtree(tmpdir, ignore_errors=True)
    data = model.SerializeToString()
    if len(data) > PROTOBUF_LIMIT:
        raise LimitExceededError("the ONNX graph itself is larger than 2 GiB", path=target)
    with atomic_file(target) as f:
        f.write(data)
