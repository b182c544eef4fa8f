"""graph.opdefs (TensorFlow's op facts) and graph.families (our classification of them)."""

from __future__ import annotations

import base64
import sys
from pathlib import Path

import numpy as np
import pytest
from _oracles import ModuleOracle

from savedmodel_io.errors import InvalidArgumentError
from savedmodel_io.graph import families, opdefs, ops
from savedmodel_io.graph.attrs import decode_attr
from savedmodel_io.proto import DataType, OpDef, OpList

ROOT = Path(__file__).resolve().parents[2]


def od(op: str) -> opdefs.OpDef:
    found = opdefs.get(op)
    assert found is not None, op
    return found


# --------------------------------------------------------------------------- the table


def test_lookup():
    assert opdefs.is_registered("Conv2D") and not opdefs.is_registered("CaseFoldUTF8")
    assert opdefs.get("TFText>WhitespaceTokenizeWithOffsetsV2") is None
    assert opdefs.get("Conv2D") is opdefs.get("Conv2D")  # parsed once
    assert [a.name for a in od("Conv2D").inputs] == ["input", "filter"]
    assert od("ReadVariableOp").is_stateful and not od("Relu").is_stateful
    assert od("AddN").is_aggregate and od("AddV2").is_commutative and not od("Add").is_commutative
    assert od("TopK").deprecated_at == 7 and od("TopKV2").deprecated_at is None
    names = opdefs.names()
    assert names == sorted(names) and len(names) == opdefs.header()["ops"]


def test_args():
    cast = od("Cast")
    assert cast.inputs[0].type_attr == "SrcT" and cast.outputs[0].type_attr == "DstT"
    assert od("Shape").outputs[0].type_attr == "out_type"
    assert od("VarHandleOp").outputs[0].type == DataType.DT_RESOURCE
    assert od("Assign").inputs[0].is_ref and not od("Assign").inputs[1].is_ref
    concat = od("ConcatV2")
    assert concat.inputs[0].number_attr == "N" and concat.inputs[0].is_list
    assert not concat.inputs[1].is_list
    assert od("IdentityN").outputs[0].type_list_attr == "T"


def test_defaults_are_decoded_like_node_attrs():
    conv = od("Conv2D").defaults
    assert conv == {"use_cudnn_on_gpu": True, "explicit_paddings": [], "data_format": b"NHWC",
                    "dilations": [1, 1, 1, 1]}
    bn = od("FusedBatchNormV3")
    assert bn.defaults["epsilon"] == float(np.float32(1e-4))  # a float32 attr, as TF stores it
    assert bn.attr("epsilon").default_value.f == pytest.approx(1e-4)
    assert od("Placeholder").defaults["shape"] is None  # unknown rank
    assert od("ArgMax").defaults["output_type"] == DataType.DT_INT64
    assert od("Conv2D").attr("strides").has_default is False
    assert od("Conv2D").attr("padding").allowed_values == (b"SAME", b"VALID", b"EXPLICIT")
    assert DataType.DT_FLOAT in od("Relu").attr("T").allowed_values
    assert od("Split").attr("num_split").minimum == 1
    # Every default decodes exactly as the runtime decodes a node's AttrValue.
    for name in opdefs.names():
        for a in od(name).attrs:
            if a.has_default:
                want = decode_attr(a.default_value)
                assert repr(a.default) == repr(want), (name, a.name)


def test_output_layout_of_fixed_variadic_and_type_list_ops():
    assert opdefs.output_layout(od("Relu"), {}) == [("activations", 1)]
    assert opdefs.output_layout(od("Split"), {"num_split": 3}) == [("output", 3)]
    assert opdefs.output_layout(od("Split"), {}) == [("output", None)]  # no default: unknown
    assert opdefs.output_count(od("Split"), {}) is None
    assert opdefs.output_count(od("Unpack"), {"num": 4}) == 4
    assert opdefs.output_count(od("RestoreV2"), {"dtypes": [1, 3, 9]}) == 3
    assert opdefs.output_count(od("IdentityN"), {"T": [1]}) == 1
    assert opdefs.output_count(od("NoOp"), {}) == 0
    assert opdefs.output_count(od("FusedBatchNormV3"), {}) == 6
    # A missing count attr takes the OpDef's default (NIntsOutDefault: N defaults to 3).
    assert opdefs.output_count(od("NIntsOutDefault"), {}) == 3
    assert opdefs.input_layout(od("ConcatV2"), {"N": 2}) == [("values", 2), ("axis", 1)]
    pe = od("ParseExampleV2")
    attrs = {"num_sparse": 2, "sparse_types": [1, 9], "Tdense": [1], "ragged_value_types": [],
             "ragged_split_types": []}
    assert opdefs.output_layout(pe, attrs) == [
        ("sparse_indices", 2), ("sparse_values", 2), ("sparse_shapes", 2), ("dense_values", 1),
        ("ragged_values", 0), ("ragged_row_splits", 0)]
    assert opdefs.output_offset(pe, attrs, "dense_values") == 6
    assert opdefs.output_offset(pe, attrs, "nope") is None
    assert opdefs.output_offset(pe, {}, "sparse_indices") == 0
    assert opdefs.output_offset(pe, {}, "dense_values") is None  # num_sparse unknown
    assert opdefs.output_offset(od("FusedBatchNormV3"), {}, "batch_variance") == 2


@pytest.mark.parametrize("attrs", [{"num_split": b"2"}, {"num_split": -1}, {"num_split": True},
                                   {"num_split": 2.0}])
def test_count_attrs_of_the_wrong_kind_are_refused(attrs):
    with pytest.raises(ValueError, match="num_split must be a non-negative int"):
        opdefs.output_layout(od("Split"), attrs)


def test_type_list_attr_of_the_wrong_kind_is_refused():
    with pytest.raises(ValueError, match="T must be a list of types"):
        opdefs.output_count(od("IdentityN"), {"T": 5})


def test_no_outputs():
    assert opdefs.no_outputs("NoOp") and opdefs.no_outputs("AssignVariableOp")
    assert opdefs.no_outputs("SaveV2")
    assert not opdefs.no_outputs("Identity") and not opdefs.no_outputs("Split")
    assert not opdefs.no_outputs("CaseFoldUTF8")  # not known, so not claimed


def test_custom_op_from_a_stripped_op_list():
    proto = OpDef(name="CaseFoldUTF8")
    proto.input_arg.add(name="input", type=DataType.DT_STRING)
    proto.output_arg.add(name="output", type=DataType.DT_STRING)
    a = proto.attr.add(name="N", type="int", has_minimum=True, minimum=1)
    a.default_value.i = 2
    custom = opdefs.from_proto(proto)
    assert custom.name == "CaseFoldUTF8" and custom.defaults == {"N": 2}
    assert custom.attr("N").minimum == 1 and custom.outputs[0].type == DataType.DT_STRING


@pytest.mark.parametrize("kind", ["zzz", "list(zzz)"])
def test_malformed_opdef_is_a_library_error(kind):
    proto = OpDef(name="Odd")
    proto.attr.add(name="a", type=kind).default_value.i = 1
    with pytest.raises(InvalidArgumentError, match="malformed OpDef 'Odd'"):
        opdefs.from_proto(proto)


def test_record_round_trip_keeps_strings_floats_and_shapes():
    proto = OpDef(name="Odd")
    proto.attr.add(name="s", type="string").default_value.s = b"\xff\x00ok"
    proto.attr.add(name="f", type="float").default_value.f = 0.1
    shape = proto.attr.add(name="shape", type="shape").default_value.shape
    shape.dim.add(size=-1)
    shape.dim.add(size=3)
    back = opdefs.from_record(opdefs.to_record(proto))
    for a in proto.attr:
        assert back.attr(a.name).default_value.SerializeToString() == \
            a.default_value.SerializeToString()
    assert back.defaults == {"s": b"\xff\x00ok", "f": float(np.float32(0.1)), "shape": (None, 3)}
    assert opdefs.to_record(proto)["attr"][1]["default"] == 0.1  # shortest float32 text


# --------------------------------------------------------------------------- kernels and families


def test_every_kernel_is_a_registered_tensorflow_op():
    assert [op for op in ops.supported_ops() if not opdefs.is_registered(op)] == []


def test_every_registered_op_has_one_known_family():
    fams = {op: families.family(op) for op in opdefs.names()}
    assert [op for op, fam in fams.items() if fam is None] == []
    assert set(fams.values()) <= set(families.FAMILIES)
    for fam in families.FAMILIES:  # no family is empty: each rule still matches something
        assert fam in fams.values(), fam


@pytest.mark.parametrize("op, family", [
    ("Conv2D", "nn"), ("Conv2DBackpropInput", "nn"), ("MatMul", "math"), ("Cholesky", "linalg"),
    ("MatrixDiagPartV3", "linalg"), ("RFFT", "signal"), ("ResizeBicubic", "image"),
    ("SegmentSum", "segment"), ("SparseSegmentMean", "segment"), ("SparseReorder", "sparse"),
    ("RaggedBincount", "ragged"), ("StringToHashBucketStrong", "strings"),
    ("ParseExampleV2", "parsing"), ("TensorListReserve", "tensorlist"), ("HashTableV2", "lookup"),
    ("VarHandleOp", "resource"), ("StatefulPartitionedCall", "control"), ("Identity", "array"),
    ("RandomUniform", "random"), ("StatelessRandomUniformV2", "random"), ("ApplyAdam", "training"),
    ("SaveV2", "io"), ("TFRecordReaderV2", "io"), ("MapDataset", "dataset"), ("ScalarSummary", "summary"),
    ("DebugNumericSummary", "debug"), ("TPUReplicatedInput", "tpu"), ("XlaCallModule", "xla"),
    ("CollectiveReduceV2", "collective"), ("_FusedConv2D", "internal"), ("Foo1", "test"),
    ("FakeQuantWithMinMaxVars", "quantization"), ("BoostedTreesPredict", "boosted_trees"),
    ("FIFOQueueV2", "queue"),
])
def test_family_examples(op, family):
    assert families.family(op) == family


@pytest.mark.parametrize("op", ["Conv2D", "Conv2DBackpropInput", "StopGradient", "PreventGradient",
                                "Cholesky", "RFFT", "SegmentSum", "StringToHashBucketStrong",
                                "StatefulPartitionedCall", "Const", "Placeholder", "CheckNumerics"])
def test_inference_ops_are_in_the_universe(op):
    assert families.excluded(op) is None


@pytest.mark.parametrize("op, why", [
    ("ReluGrad", "gradient"), ("Conv2DBackpropFilter", "gradient"), ("BroadcastGradientArgs", "gradient"),
    ("ApplyAdam", "training"), ("RandomUniform", "random"), ("ReadFile", "files"),
    ("CudnnRNNV3", "GPU only"), ("PyFunc", "Python function"), ("TopK", "GraphDef version 7"),
    ("Foo1", "unit tests"), ("_MklConv2D", "never saved"), ("MapDataset", "input pipelines"),
])
def test_exclusions_give_their_reason(op, why):
    reason = families.excluded(op)
    assert reason is not None and why in reason


def test_universe():
    universe = families.universe()
    assert len(universe) > 600 and len(universe) < len(opdefs.names())
    assert all(families.excluded(op) is None for op in universe)


def test_custom_op_notes():
    assert families.custom_op_note("Conv2D") is None
    assert families.custom_op_note("CaseFoldUTF8") == \
        "custom op from tensorflow-text, not part of TensorFlow"
    assert families.custom_op_note("TFText>WhitespaceTokenizeWithOffsetsV2") == \
        "custom op from tensorflow-text, not part of TensorFlow"
    assert families.custom_op_note("Addons>Resampler") == \
        "custom op from tensorflow-addons, not part of TensorFlow"
    assert families.custom_op_note("MyOwnOp") == "custom op (not part of TensorFlow)"


# --------------------------------------------------------------------------- against TensorFlow


GEN_OPDEFS = ROOT / "tools" / "gen_opdefs.py"


def _gen_opdefs():
    sys.path.insert(0, str(GEN_OPDEFS.parent))
    import gen_opdefs

    return gen_opdefs


def tf_registry(request: dict) -> dict:
    """The installed TensorFlow's version and OpList, serialized (runs in the oracle)."""
    version, op_list = _gen_opdefs().registry()
    return {"version": version, "op_list": base64.b64encode(op_list.SerializeToString()).decode()}


@pytest.mark.tf
def test_fact_file_is_current_with_the_installed_tensorflow():
    """Regenerating the fact file from TensorFlow's registry gives the checked-in file."""
    (answer,) = ModuleOracle(__name__, code=[GEN_OPDEFS]).answers([{"function": "tf_registry"}])
    version, op_list = answer["version"], OpList.FromString(base64.b64decode(answer["op_list"]))
    text = _gen_opdefs().render(version, op_list)
    assert text == opdefs.FACT_FILE.read_text(encoding="utf-8"), (
        "src/savedmodel_io/graph/opdefs.jsonl is stale: run python tools/gen_opdefs.py")
    # Defaults come back as the very AttrValue bytes TensorFlow records (the builder
    # writes them unchanged), and nothing else is lost.
    for proto in op_list.op:
        ours = od(proto.name)
        assert [a.name for a in ours.attrs] == [a.name for a in proto.attr]
        for a in proto.attr:
            mine = ours.attr(a.name)
            assert mine.has_default == a.HasField("default_value"), (proto.name, a.name)
            if a.HasField("default_value"):
                assert mine.default_value.SerializeToString(deterministic=True) == \
                    a.default_value.SerializeToString(deterministic=True), (proto.name, a.name)
