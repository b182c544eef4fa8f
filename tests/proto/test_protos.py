"""The proto layer: same descriptors as TensorFlow, private pool, fresh bindings."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from _oracles import ModuleOracle

from savedmodel_io import proto

ROOT = Path(__file__).resolve().parents[2]
ENV = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "TF_CPP_MIN_LOG_LEVEL": "3"}

# Our file -> TensorFlow's python module holding the same .proto.
TF_MODULES = {
    "tensorflow/core/framework/attr_value.proto": "tensorflow.core.framework.attr_value_pb2",
    "tensorflow/core/framework/full_type.proto": "tensorflow.core.framework.full_type_pb2",
    "tensorflow/core/framework/function.proto": "tensorflow.core.framework.function_pb2",
    "tensorflow/core/framework/graph.proto": "tensorflow.core.framework.graph_pb2",
    "tensorflow/core/framework/graph_debug_info.proto":
        "tensorflow.core.framework.graph_debug_info_pb2",
    "tensorflow/core/framework/node_def.proto": "tensorflow.core.framework.node_def_pb2",
    "tensorflow/core/framework/op_def.proto": "tensorflow.core.framework.op_def_pb2",
    "tensorflow/core/framework/resource_handle.proto":
        "tensorflow.core.framework.resource_handle_pb2",
    "tensorflow/core/framework/tensor.proto": "tensorflow.core.framework.tensor_pb2",
    "tensorflow/core/framework/tensor_shape.proto": "tensorflow.core.framework.tensor_shape_pb2",
    "tensorflow/core/framework/tensor_slice.proto": "tensorflow.core.framework.tensor_slice_pb2",
    "tensorflow/core/framework/types.proto": "tensorflow.core.framework.types_pb2",
    "tensorflow/core/framework/variable.proto": "tensorflow.core.framework.variable_pb2",
    "tensorflow/core/framework/versions.proto": "tensorflow.core.framework.versions_pb2",
    "tensorflow/core/protobuf/fingerprint.proto": "tensorflow.core.protobuf.fingerprint_pb2",
    "tensorflow/core/protobuf/meta_graph.proto": "tensorflow.core.protobuf.meta_graph_pb2",
    "tensorflow/core/protobuf/saved_model.proto": "tensorflow.core.protobuf.saved_model_pb2",
    "tensorflow/core/protobuf/saved_object_graph.proto":
        "tensorflow.core.protobuf.saved_object_graph_pb2",
    "tensorflow/core/protobuf/saver.proto": "tensorflow.core.protobuf.saver_pb2",
    "tensorflow/core/protobuf/struct.proto": "tensorflow.core.protobuf.struct_pb2",
    "tensorflow/core/protobuf/tensor_bundle.proto": "tensorflow.core.protobuf.tensor_bundle_pb2",
    "tensorflow/core/protobuf/trackable_object_graph.proto":
        "tensorflow.core.protobuf.trackable_object_graph_pb2",
    "tensorflow/core/example/example.proto": "tensorflow.core.example.example_pb2",
    "tensorflow/core/example/feature.proto": "tensorflow.core.example.feature_pb2",
}


def _fields(desc):
    """Comparable facts of every field of a message descriptor and its nested types."""
    out = {}
    for f in desc.fields:
        out[f.name] = (
            f.number,
            f.type,
            f.is_repeated if hasattr(f, "is_repeated") else f.label == f.LABEL_REPEATED,
            f.message_type.full_name if f.message_type else None,
            f.enum_type.full_name if f.enum_type else None,
            f.containing_oneof.name if f.containing_oneof else None,
        )
    return out


def _messages(file_desc):
    todo = list(file_desc.message_types_by_name.values())
    while todo:
        m = todo.pop()
        yield m
        todo.extend(m.nested_types)


def _enums(file_desc):
    yield from file_desc.enum_types_by_name.values()
    for m in _messages(file_desc):
        yield from m.enum_types


def _facts(file_desc) -> dict:
    """Package, messages with their fields, and enums of a file descriptor, as JSON values."""
    import json

    facts = {
        "package": file_desc.package,
        "messages": {m.full_name: _fields(m) for m in _messages(file_desc)},
        "enums": {e.full_name: {v.name: v.number for v in e.values} for e in _enums(file_desc)},
    }
    return json.loads(json.dumps(facts))


def tf_descriptors(request: dict) -> dict:
    """TensorFlow's descriptor facts of every file we mirror (runs in the oracle)."""
    import importlib

    return {f: _facts(importlib.import_module(m).DESCRIPTOR) for f, m in TF_MODULES.items()}


@pytest.fixture(scope="module")
def tf_descriptor_facts() -> dict:
    (facts,) = ModuleOracle(__name__).answers([{"function": "tf_descriptors"}])
    return facts


@pytest.mark.tf
@pytest.mark.parametrize("proto_file", sorted(TF_MODULES))
def test_descriptors_match_tensorflow(proto_file, tf_descriptor_facts):
    ours = _facts(proto.POOL.FindFileByName(proto_file))
    theirs = tf_descriptor_facts[proto_file]
    assert ours["package"] == theirs["package"]
    assert sorted(ours["messages"]) == sorted(theirs["messages"])
    for name, fields in ours["messages"].items():
        assert fields == theirs["messages"][name], name
    assert ours["enums"] == theirs["enums"]


def test_every_proto_file_is_checked_or_splitter():
    ours = {
        str(p.relative_to(ROOT / "protos")) for p in (ROOT / "protos").rglob("*.proto")
    }
    splitter = {p for p in ours if p.startswith("tensorflow/tools/proto_splitter/")}
    assert ours - splitter == set(TF_MODULES)


def _run(code: str, **env):
    return subprocess.run(
        [sys.executable, "-c", code], env={**ENV, **env}, capture_output=True, text=True
    )


def tf_coexists(request: dict) -> dict:
    """Import TF and our package in one process, in the requested order (runs in the oracle)."""
    first = request["first"]
    second = "savedmodel_io" if first == "tensorflow" else "tensorflow"
    code = f"""
import {first}, {second}
import savedmodel_io.proto as p
import tensorflow as tf
from tensorflow.core.protobuf import saved_model_pb2
theirs = saved_model_pb2.SavedModel()
theirs.meta_graphs.add().meta_info_def.tags.append("serve")
ours = p.parse_message(p.SavedModel, theirs.SerializeToString())
assert ours.meta_graphs[0].meta_info_def.tags == ["serve"]
assert saved_model_pb2.SavedModel.FromString(ours.SerializeToString()) == theirs
print("ok")
"""
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(Path(request["src"]).parent)})
    return {"code": proc.returncode, "stdout": proc.stdout, "stderr": proc.stderr[-2000:]}


ORDERS = ["tensorflow", "savedmodel_io"]


@pytest.fixture(scope="module")
def coexistence() -> dict[str, dict]:
    """Both import orders, recorded per content of the package (any change to
    src/savedmodel_io runs them again, in one oracle run)."""
    oracle = ModuleOracle(__name__, paths=("src",))
    src = str(ROOT / "src" / "savedmodel_io")
    answers = oracle.answers([{"function": "tf_coexists", "first": f, "src": src} for f in ORDERS])
    return dict(zip(ORDERS, answers))


@pytest.mark.tf
@pytest.mark.parametrize("first", ORDERS)
def test_coexists_with_tensorflow_in_either_import_order(first, coexistence):
    got = coexistence[first]
    assert got["code"] == 0, got["stderr"]
    assert got["stdout"].strip().endswith("ok")


def test_pure_python_backend():
    code = """
import savedmodel_io.proto as p
m = p.MetaGraphDef()
m.signature_def["k"].inputs["x"].name = "x:0"
info = p.TensorInfo.CooSparse(values_tensor_name="v")
assert p.DataType.DT_FLOAT == 1 and p.MetaGraphDef.MetaInfoDef is not None
back = p.parse_message(p.MetaGraphDef, m.SerializeToString())
assert back.signature_def["k"].inputs["x"].name == "x:0"
print("ok")
"""
    proc = _run(code, PROTOCOL_BUFFERS_PYTHON_IMPLEMENTATION="python")
    assert proc.returncode == 0, proc.stderr[-2000:]


def test_default_pool_untouched():
    code = """
import savedmodel_io.proto
from google.protobuf import descriptor_pool
try:
    descriptor_pool.Default().FindFileByName("tensorflow/core/protobuf/saved_model.proto")
except KeyError:
    print("absent")
"""
    proc = _run(code)
    assert proc.stdout.strip() == "absent", proc.stderr[-2000:]


def test_bindings_are_fresh():
    pytest.importorskip("grpc_tools")
    proc = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "gen_protos.py"), "--check"],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_parse_errors_name_the_file(tmp_path):
    from savedmodel_io.errors import CorruptFileError

    with pytest.raises(CorruptFileError, match="bad.pb.*tensorflow.SavedModel"):
        proto.parse_message(proto.SavedModel, b"\x0a\xff\xff\xff\xff\x0f", path="bad.pb")
    with pytest.raises(CorruptFileError, match="x.pbtxt"):
        proto.parse_text(proto.SavedModel, "meta_graphs { nope: 1 }", path="x.pbtxt")


def test_any_in_text_format_resolves_in_private_pool():
    m = proto.MetaGraphDef()
    m.meta_info_def.any_info.Pack(proto.VersionDef(producer=7))
    text = proto.to_text(m)
    assert "[type.googleapis.com/tensorflow.VersionDef]" in text
    assert proto.parse_text(proto.MetaGraphDef, text) == m
