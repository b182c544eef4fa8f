"""fingerprint.pb: reading, computing (equal to TensorFlow 2.21), writing and verifying."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from _oracles import Oracle
from conftest import CPB_DATA
from google.protobuf import text_format

from savedmodel_io.formats import varint
from savedmodel_io.errors import CorruptFileError, FormatError, LimitExceededError, NotFoundError
from savedmodel_io.fingerprint import (
    FINGERPRINT_FILENAME,
    HASH_FIELDS,
    PRODUCER_NO_BINARY,
    PRODUCER_PB,
    Fingerprint,
    compute_fingerprint,
    fingerprint_saved_model,
    read_fingerprint,
    regularize_graph_def,
    suffix_uid,
    verify_fingerprint,
    write_fingerprint,
)
from savedmodel_io.formats.chunks import write_chunked
from savedmodel_io.proto import (
    ChunkedMessage,
    ChunkInfo,
    FieldIndex,
    FingerprintDef,
    GraphDef,
    MetaGraphDef,
    NodeDef,
    SavedModel,
)

CPB = CPB_DATA / "chunked_saved_model"
NON_CHUNKED = CPB / "non_chunked_model"
CHUNKED = CPB / "chunked_model"
SPLIT_STANDARD = CPB / ".." / "proto_splitter" / "split-standard.cpb"

# TensorFlow 2.21's CreateFingerprintDef on shared/testdata/cpb/chunked_saved_model/non_chunked_model.
NON_CHUNKED_TF221 = {
    "saved_model_checksum": 3375828970860316073,
    "graph_def_program_hash": 15266202133698634463,
    "signature_def_hash": 14439591556685334582,
    "saved_object_graph_hash": 13612082535131087116,
    "checkpoint_hash": 1837899844926689093,
}
# Its fingerprint.pb, written by an older TF (producer 1).
NON_CHUNKED_STORED = {
    "saved_model_checksum": 2067920886059292736,
    "graph_def_program_hash": 15266202133698634463,
    "signature_def_hash": 10287743835048874254,
    "saved_object_graph_hash": 13612082535131087116,
    "checkpoint_hash": 1837899844926689093,
}


# TensorFlow 2.21's CreateFingerprintDef on shared/testdata/cpb/chunked_saved_model/chunked_model
# (the last three are also upstream's fingerprinting_chunked_test.cc values).
CHUNKED_TF221 = {
    "saved_model_checksum": 671111844537763371,
    "graph_def_program_hash": 9562420523583756263,
    "signature_def_hash": 1043582354059066488,
    "saved_object_graph_hash": 2766043449526180728,
    "checkpoint_hash": 0,
}
# ... and on proto_splitter/split-standard.cpb copied to saved_model.cpb (saved_object_graph_hash
# is the value upstream's fingerprinting_utils_test.cc expects).
SPLIT_STANDARD_TF221 = {
    "saved_model_checksum": 18245919062211200129,
    "graph_def_program_hash": 5091839716298699619,
    "signature_def_hash": 0,
    "saved_object_graph_hash": 17454850744699451884,
    "checkpoint_hash": 0,
}


def values(fp) -> dict[str, int]:
    return {name: getattr(fp, name) for name in HASH_FIELDS}


def needs_shared():
    if not NON_CHUNKED.is_dir():
        pytest.skip("../shared/testdata/cpb is not present")


# --------------------------------------------------------------------------- synthetic models


def stress_saved_model() -> SavedModel:
    """A SavedModel exercising every map key type and every regularization rule."""
    keys = ["a", "aa", "B", "", "b", "é", "éa", "z", "中", "a\x00", "A"]
    sm = SavedModel()
    sm.saved_model_schema_version = 1
    mg = sm.meta_graphs.add()
    mg.meta_info_def.tags.append("serve")
    for i, k in enumerate(keys):
        sig = mg.signature_def[k]
        sig.method_name = "tensorflow/serving/predict"
        sig.inputs[k[::-1] + "x"].name = f"in{i}:0"
        sig.inputs["second"].name = "s:0"
        sig.outputs["o" + k].name = f"out{i}:0"
        mg.collection_def[k].bytes_list.value.append(b"x")
        mg.meta_info_def.function_aliases[k] = k + "!"
        cf = mg.object_graph_def.concrete_functions[f"__inference_{k}fn_{100 - i}"]
        cf.bound_inputs.append(i)
    for name in ("g_007", "h_-3", "k_ 9", "plain_12"):
        mg.object_graph_def.concrete_functions[name].bound_inputs.append(1)
    node = mg.object_graph_def.nodes.add()
    for k in keys:
        node.saveable_objects[k].save_function = 1
    g = mg.graph_def
    g.versions.producer = 1700
    for i, (op, fname) in enumerate(
        [
            ("StatefulPartitionedCall", "__inference_call_123"),
            ("PartitionedCall", "__inference_other_007"),
            ("PartitionedCall", "no_uid_here"),
            ("StatefulPartitionedCall", "fn_-4"),
            ("Identity", "__inference_keep_55"),
        ]
    ):
        n = g.node.add()
        n.name, n.op = f"call{i}", op
        n.attr["f"].func.name = fname
        n.attr["f"].func.attr["inner"].i = i
        if i != 2:
            n.attr["config_proto"].s = b"\n\x07\n\x03CPU\x10\x01"
        for k in keys[i : i + 4]:
            n.attr[k].list.func.add().attr[k].s = b"q"
    c = g.node.add()
    c.name, c.op = "str_const", "Const"
    c.attr["dtype"].type = 7
    c.attr["value"].tensor.dtype = 7
    c.attr["value"].tensor.string_val.append(b"/some/host/path")
    c = g.node.add()
    c.name, c.op = "float_const", "Const"
    c.attr["dtype"].type = 1
    c.attr["value"].tensor.dtype = 1
    c.attr["value"].tensor.float_val.append(2.5)
    f = g.library.function.add()
    f.signature.name = "__inference_call_123"
    for k in [0, 5, 2**32 - 1, 1, 300, 2**31]:
        f.arg_attr[k].attr[str(k)].b = True
        f.resource_arg_unique_id[k] = k ^ 7
    for k in keys:
        f.ret[k] = k
        f.attr[k].s = b"1"
    di = g.debug_info
    for k in [0, 1, 2**63, 2**64 - 1, 12345, 2**63 - 1]:
        di.frames_by_id[k].line = 1
        di.traces_by_id[k].file_line_cols.add().line = 2
    for k in keys:
        di.traces[k].file_line_cols.add().line = 3
        di.name_to_trace_id[k] = 2**63 + len(k)
    return sm


def _tags(*steps) -> list[FieldIndex]:
    """Field tags from ints (field numbers), ("i", n) indexes and ("k", "key") string map keys."""
    out = []
    for step in steps:
        tag = FieldIndex()
        if isinstance(step, int):
            tag.field = step
        elif step[0] == "i":
            tag.index = step[1]
        else:
            tag.map_key.s = step[1]
        out.append(tag)
    return out


def _add(cm: ChunkedMessage, tags: list[FieldIndex], chunk_index: int | None) -> ChunkedMessage:
    cf = cm.chunked_fields.add()
    cf.field_tag.extend(tags)
    if chunk_index is not None:
        cf.message.chunk_index = chunk_index
    return cf.message


def empty_tag_chunk() -> SavedModel:
    """A SavedModel chunk whose meta_info_def makes it an invalid GraphDef when parsed as one."""
    extra = SavedModel()
    mg = extra.meta_graphs.add()
    mg.meta_info_def.tags.append("serve")
    mg.graph_def.node.add(name="extra", op="NoOp")
    return extra


def chunked_layouts(sm: SavedModel):
    """(name, chunks, ChunkedMessage) splits of a SavedModel that exercise TF's hashing quirks."""
    mg = sm.meta_graphs[0]
    meta0 = (2, ("i", 0))

    # "parts": graph, library, object graph and one signature as chunks, plus an empty-tag
    # SavedModel chunk adding a node (TF merges it once per fingerprinted part).
    base = SavedModel()
    base.CopyFrom(sm)
    bm = base.meta_graphs[0]
    bm.ClearField("graph_def")
    bm.ClearField("object_graph_def")
    key = max(mg.signature_def)
    del bm.signature_def[key]
    graph = GraphDef()
    graph.CopyFrom(mg.graph_def)
    graph.ClearField("library")
    extra = SavedModel()
    node = extra.meta_graphs.add().graph_def.node.add()
    node.name, node.op = "extra", "NoOp"
    cm = ChunkedMessage(chunk_index=0)
    _add(cm, _tags(*meta0, 2), 1)
    _add(cm, _tags(*meta0, 2, 2), 2)
    _add(cm, _tags(*meta0, 7), 3)
    _add(cm, _tags(*meta0, 5, ("k", key)), 4)
    _add(cm, [], 5)
    yield (
        "parts",
        [base, graph, mg.graph_def.library, mg.object_graph_def, mg.signature_def[key], extra],
        cm,
    )

    # "nested": node[0] below a graph_def field without chunk (TF prunes it from the merge),
    # and an object-graph node chunk deeper than the part.
    base = SavedModel()
    base.CopyFrom(sm)
    node0 = NodeDef()
    node0.CopyFrom(mg.graph_def.node[0])
    base.meta_graphs[0].graph_def.node[0].Clear()
    base.meta_graphs[0].object_graph_def.nodes[0].Clear()
    cm = ChunkedMessage(chunk_index=0)
    graph_cm = _add(cm, _tags(*meta0, 2), None)
    _add(graph_cm, _tags(1, ("i", 0)), 1)
    _add(cm, _tags(*meta0, 7, 1, ("i", 0)), 2)
    yield "nested", [base, node0, mg.object_graph_def.nodes[0]], cm

    # "empty_tag": a SavedModel chunk merged into the root whose bytes do not parse as the
    # fingerprinted parts (TF ignores that parse; show and load merge it like any chunk).
    cm = ChunkedMessage(chunk_index=0)
    _add(cm, [], 1)
    yield "empty_tag", [sm, empty_tag_chunk()], cm

    # "above": the whole MetaGraphDef as a chunk at [meta_graphs, 0]: TF cannot fingerprint it.
    cm = ChunkedMessage()
    _add(cm, _tags(*meta0), 0)
    yield "above", [mg], cm


# --------------------------------------------------------------------------- TF oracle


@pytest.fixture(scope="session")
def tf_models(fixture_model):
    return {name: fixture_model(name) for name in ("fp_module", "fp_keras", "fp_tf1")}


def _signatures_reversed(sm: SavedModel) -> bytes:
    """``sm`` (one meta graph) with its SignatureDef map entries in reverse key order, after
    the meta graph's other fields: the same message, other bytes, the same in every run."""
    mg = MetaGraphDef()
    mg.CopyFrom(sm.meta_graphs[0])
    mg.ClearField("signature_def")
    body = mg.SerializeToString(deterministic=True)
    for key in sorted(sm.meta_graphs[0].signature_def, reverse=True):
        one = MetaGraphDef()
        one.signature_def[key].CopyFrom(sm.meta_graphs[0].signature_def[key])
        body += one.SerializeToString(deterministic=True)  # map entries merge when parsed
    head = SavedModel(saved_model_schema_version=sm.saved_model_schema_version)
    return head.SerializeToString() + b"\x12" + varint.encode(len(body)) + body


def _fixed_bytes(chunks):
    """Message chunks serialized deterministically (upb's own order), so that every run writes
    the same files and TF's recorded answers about them are reused."""
    return [(ChunkInfo.MESSAGE, [c.SerializeToString(deterministic=True)]) for c in chunks]


@pytest.fixture(scope="session")
def variants(tf_models, tmp_path_factory) -> dict[str, Path]:
    """Model directories to fingerprint, TF-made and derived ones (built once per session).

    Every file is the same in every run (map orders fixed: upb's deterministic order, not the
    C++ order TF writes), so TF's recorded answers are reused.
    """
    root = tmp_path_factory.mktemp("fp_variants")
    out = dict(tf_models)

    # An immaterial change: the same proto re-serialized with another map order.
    d = root / "module_reserialized"
    shutil.copytree(tf_models["fp_module"], d)
    sm = SavedModel()
    sm.ParseFromString((d / "saved_model.pb").read_bytes())
    (d / "saved_model.pb").write_bytes(_signatures_reversed(sm))
    assert SavedModel.FromString((d / "saved_model.pb").read_bytes()) == sm
    assert (d / "saved_model.pb").read_bytes() != \
        (tf_models["fp_module"] / "saved_model.pb").read_bytes()
    out["module_reserialized"] = d

    # Material changes: a renamed signature, a changed graph node, a changed checkpoint.
    d = root / "module_edited"
    shutil.copytree(tf_models["fp_module"], d)
    sm.meta_graphs[0].signature_def["renamed"].CopyFrom(sm.meta_graphs[0].signature_def["scaled"])
    del sm.meta_graphs[0].signature_def["scaled"]
    sm.meta_graphs[0].graph_def.node[0].device = "/device:CPU:0"
    (d / "saved_model.pb").write_bytes(sm.SerializeToString(deterministic=True))
    out["module_edited"] = d

    d = root / "stress"
    (d / "variables").mkdir(parents=True)
    (d / "saved_model.pb").write_bytes(stress_saved_model().SerializeToString(deterministic=True))
    shutil.copy(tf_models["fp_module"] / "variables" / "variables.index", d / "variables")
    out["stress"] = d

    d = root / "pbtxt_only"
    d.mkdir()
    sm1 = SavedModel()
    sm1.ParseFromString((tf_models["fp_tf1"] / "saved_model.pb").read_bytes())
    (d / "saved_model.pbtxt").write_text(text_format.MessageToString(sm1))
    out["pbtxt_only"] = d

    # Our own fingerprint.pb on a model TF wrote none for.
    d = root / "tf1_with_ours"
    shutil.copytree(tf_models["fp_tf1"], d)
    write_fingerprint(d)
    out["tf1_with_ours"] = d

    sm = SavedModel()
    sm.ParseFromString((tf_models["fp_module"] / "saved_model.pb").read_bytes())
    for name, chunks, cm in chunked_layouts(sm):
        d = root / f"cpb_{name}"
        shutil.copytree(tf_models["fp_module"] / "variables", d / "variables")
        write_chunked(d / "saved_model.cpb", _fixed_bytes(chunks), cm)
        out[f"cpb_{name}"] = d

    # Models written by our own writer (fingerprint.pb included).
    import _writer_models as wm

    from savedmodel_io import writer

    for name, build in (("writer_mlp", wm.build_mlp), ("writer_cnn", wm.build_cnn)):
        out[name] = writer.save(root / name, build()[0])

    if NON_CHUNKED.is_dir():
        out["non_chunked"] = NON_CHUNKED.resolve()
        out["chunked"] = CHUNKED.resolve()
        d = root / "split_standard"
        d.mkdir()
        shutil.copy(SPLIT_STANDARD, d / "saved_model.cpb")
        out["split_standard"] = d
    return out


@pytest.fixture(scope="session")
def tf_oracle(variants) -> dict[str, dict]:
    """TensorFlow's CreateFingerprintDef / read_fingerprint for every variant (recorded)."""
    names = list(variants)
    answers = Oracle("fingerprint").answers([{"dir": str(variants[n])} for n in names])
    return dict(zip(names, answers))


ORACLE_CASES = [
    "fp_module",
    "fp_keras",
    "fp_tf1",
    "module_reserialized",
    "module_edited",
    "stress",
    "pbtxt_only",
    "tf1_with_ours",
    "non_chunked",
    "chunked",
    "split_standard",
    "cpb_parts",
    "cpb_nested",
    "cpb_empty_tag",
    "writer_mlp",
    "writer_cnn",
]


@pytest.mark.tf
@pytest.mark.parametrize("name", ORACLE_CASES)
def test_compute_equals_tensorflow_create(name, variants, tf_oracle):
    if name not in variants:
        pytest.skip("shared test data not present")
    want = tf_oracle[name]["create"]
    assert "error" not in want, want
    ours = compute_fingerprint(variants[name])
    assert values(ours) == {f: want[f] for f in HASH_FIELDS}
    assert ours.version == want["version"]
    assert len(ours.uuid) >= 20 and ours.uuid.isdigit()


@pytest.mark.tf
@pytest.mark.parametrize("name", ["fp_module", "fp_keras", "tf1_with_ours", "non_chunked"])
def test_read_equals_tensorflow_read(name, variants, tf_oracle):
    if name not in variants:
        pytest.skip("shared test data not present")
    want = tf_oracle[name]["read"]
    assert want is not None and "error" not in want, want
    got = read_fingerprint(variants[name])
    assert values(got) == {f: want[f] for f in HASH_FIELDS}
    assert got.version == want["version"]


@pytest.mark.tf
@pytest.mark.parametrize("name", ["writer_mlp", "writer_cnn", "tf1_with_ours"])
def test_our_fingerprint_files_equal_tensorflow_create(name, variants, tf_oracle):
    # The fingerprint.pb we wrote holds what TF's C++ computes for the same directory.
    want = tf_oracle[name]["create"]
    stored = read_fingerprint(variants[name])
    assert values(stored) == {f: want[f] for f in HASH_FIELDS}
    assert stored.version == want["version"]
    assert tf_oracle[name]["read"]["version"] == want["version"]


@pytest.mark.tf
def test_chunked_layout_tensorflow_rejects_is_an_error(variants, tf_oracle):
    assert "Field not found" in tf_oracle["cpb_above"]["create"]["error"]
    with pytest.raises(CorruptFileError, match="TensorFlow fails here too"):
        compute_fingerprint(variants["cpb_above"])


@pytest.mark.tf
def test_tf1_model_has_no_fingerprint(tf_models):
    assert not (tf_models["fp_tf1"] / FINGERPRINT_FILENAME).exists()
    with pytest.raises(NotFoundError, match="no fingerprint.pb"):
        read_fingerprint(tf_models["fp_tf1"])


@pytest.mark.tf
@pytest.mark.parametrize("name", ["fp_module", "fp_keras", "module_reserialized"])
def test_verify_unchanged_models(name, variants):
    result = verify_fingerprint(variants[name])
    assert result.ok, result
    assert result.stored == result.computed


@pytest.mark.tf
def test_verify_reports_changed_parts(variants):
    result = verify_fingerprint(variants["module_edited"])
    assert not result.ok
    assert set(result.changed) == {
        "saved_model_checksum",
        "graph_def_program_hash",
        "signature_def_hash",
    }


@pytest.mark.tf
def test_verify_reports_checkpoint_change(variants, tmp_path):
    d = tmp_path / "m"
    shutil.copytree(variants["fp_module"], d)
    with open(d / "variables" / "variables.index", "ab") as f:
        f.write(b"\0")
    result = verify_fingerprint(d)
    assert result.changed == ("checkpoint_hash",)


@pytest.mark.tf
def test_fingerprint_in_memory_matches_directory(variants):
    d = variants["fp_module"]
    sm = SavedModel()
    sm.ParseFromString((d / "saved_model.pb").read_bytes())
    before = sm.SerializeToString()
    fp = fingerprint_saved_model(sm, d)
    assert fp == read_fingerprint(d)
    assert sm.SerializeToString() == before  # the input is not modified


# --------------------------------------------------------------------------- without TF


def test_non_chunked_model_matches_tf221():
    needs_shared()
    fp = compute_fingerprint(NON_CHUNKED)
    assert values(fp) == NON_CHUNKED_TF221
    assert fp.version == PRODUCER_PB


def test_non_chunked_stored_and_legacy_verify():
    needs_shared()
    stored = read_fingerprint(NON_CHUNKED)
    assert values(stored) == NON_CHUNKED_STORED
    assert stored.version == 1
    assert read_fingerprint(NON_CHUNKED / FINGERPRINT_FILENAME) == stored
    result = verify_fingerprint(NON_CHUNKED)
    assert result.ok, result
    assert any("producer 1" in n for n in result.notes)


# TensorFlow 2.21's CreateFingerprintDef on stress_saved_model() saved as saved_model.pb
# (checked live by test_compute_equals_tensorflow_create[stress]); checkpoint_hash is 0 here.
STRESS_TF221 = {
    "saved_model_checksum": 1901920936291469981,
    "graph_def_program_hash": 9644447195551595588,
    "signature_def_hash": 2565816992731530076,
    "saved_object_graph_hash": 4726970981823667080,
    "checkpoint_hash": 0,
}


def test_chunked_model_matches_tf221():
    needs_shared()
    fp = compute_fingerprint(CHUNKED)
    assert values(fp) == CHUNKED_TF221
    assert fp.version == 2


def test_split_standard_matches_tf221(tmp_path):
    needs_shared()
    shutil.copy(SPLIT_STANDARD, tmp_path / "saved_model.cpb")
    assert values(compute_fingerprint(tmp_path)) == SPLIT_STANDARD_TF221


def test_chunked_fingerprint_ignores_riegeli_encoding(tmp_path):
    # Same chunks in another container encoding (zstd instead of brotli): same fingerprint.
    needs_shared()
    from savedmodel_io.formats.chunks import ChunkedFile

    with ChunkedFile(CHUNKED / "saved_model.cpb") as f:
        raw = [f.chunk(i) for i in range(len(f))]
        tree = f.metadata.message
    pytest.importorskip("zstandard")
    write_chunked(
        tmp_path / "saved_model.cpb", [_as_message(raw[0]), raw[1]], tree, compression="zstd"
    )
    assert values(compute_fingerprint(tmp_path)) == CHUNKED_TF221


def _as_message(data: bytes) -> SavedModel:
    sm = SavedModel()
    sm.ParseFromString(data)
    return sm


def test_cpb_preferred_over_pb(tmp_path):
    needs_shared()
    shutil.copy(CHUNKED / "saved_model.cpb", tmp_path)
    shutil.copy(NON_CHUNKED / "saved_model.pb", tmp_path)
    assert compute_fingerprint(tmp_path).version == 2


def test_corrupt_cpb(tmp_path):
    needs_shared()
    data = bytearray((CHUNKED / "saved_model.cpb").read_bytes())
    data[100] ^= 0x40
    (tmp_path / "saved_model.cpb").write_bytes(bytes(data))
    with pytest.raises(CorruptFileError, match="saved_model.cpb"):
        compute_fingerprint(tmp_path)


def test_stress_model_matches_tf221():
    # Map order in the input bytes must not matter (C++ re-sorts on serialization).
    sm = stress_saved_model()
    a = fingerprint_saved_model(sm, uuid="")
    assert values(a) == STRESS_TF221
    sm2 = SavedModel()
    sm2.ParseFromString(sm.SerializeToString(deterministic=True))
    assert fingerprint_saved_model(sm2, uuid="") == a
    assert a.uuid == "" and a.checkpoint_hash == 0


def test_regularize_graph_def():
    g = stress_saved_model().meta_graphs[0].graph_def
    regularize_graph_def(g)
    names = [n.attr["f"].func.name for n in g.node[:5]]
    assert names == [
        "__inference_call_",
        "__inference_other_00",
        "no_uid_here",
        "fn_",
        "__inference_keep_55",
    ]
    assert g.node[0].attr["config_proto"].s == b""
    assert g.node[0].attr["f"].func.attr["inner"].i == 0  # only the name changes
    assert "config_proto" not in g.node[2].attr
    assert g.node[4].attr["config_proto"].s != b""  # not a call op: untouched
    assert g.node[5].attr["value"].WhichOneof("value") is None  # string Const emptied
    assert g.node[6].attr["value"].tensor.float_val == [2.5]
    assert g.HasField("library") and g.HasField("versions")
    assert g.library.ByteSize() == 0 and g.versions.ByteSize() == 0


@pytest.mark.parametrize(
    "name,uid",
    [
        ("__inference_f_123", 123),
        ("g_007", 7),
        ("h_-3", -3),
        ("k_ 9", 9),
        ("m_+4", 4),
        ("12", 12),
        ("x_", None),
        ("x_1a", None),
        ("x_99999999999999999999", None),
        ("x_9223372036854775807", 2**63 - 1),
        ("x_-9223372036854775808", -(2**63)),
        ("x_9223372036854775808", None),
        ("x_" + "0" * 30 + "5", 5),
        ("x_" + "9" * 6000, None),
    ],
)
def test_suffix_uid(name, uid):
    assert suffix_uid(name) == uid


def test_concrete_function_without_uid_is_an_error():
    sm = stress_saved_model()
    sm.meta_graphs[0].object_graph_def.concrete_functions["no_number"].SetInParent()
    with pytest.raises(FormatError, match="does not end in an integer"):
        fingerprint_saved_model(sm, path="x/saved_model.pb")


def test_fingerprint_object_api():
    fp = Fingerprint.from_proto(
        FingerprintDef(
            saved_model_checksum=1,
            graph_def_program_hash=2,
            signature_def_hash=3,
            saved_object_graph_hash=4,
            checkpoint_hash=5,
            uuid="123",
        )
    )
    assert fp.singleprint() == "2/3/4/5"
    assert Fingerprint.from_proto(fp.to_bytes()) == fp
    other = Fingerprint.from_proto(fp.to_proto())
    assert other == fp and hash(other) == hash(fp)
    assert fp == fp.to_proto()
    assert fp.as_dict()["singleprint"] == "2/3/4/5"
    assert str(fp).startswith("SavedModel Fingerprint\n  saved_model_checksum: 1")
    changed = Fingerprint.from_proto(FingerprintDef(graph_def_program_hash=2, checkpoint_hash=9))
    assert changed.changed_fields(fp) == [
        "saved_model_checksum",
        "signature_def_hash",
        "saved_object_graph_hash",
        "checkpoint_hash",
    ]


def test_write_then_read_roundtrip(tmp_path):
    d = tmp_path / "m"
    d.mkdir()
    (d / "saved_model.pb").write_bytes(stress_saved_model().SerializeToString())
    fp = write_fingerprint(d)
    assert read_fingerprint(d) == fp
    assert read_fingerprint(d).uuid == fp.uuid
    assert verify_fingerprint(d).ok
    assert not [p for p in d.iterdir() if p.name.endswith(".tmp")]


def test_pbtxt_only_directory(tmp_path):
    (tmp_path / "saved_model.pbtxt").write_text("saved_model_schema_version: 1\n")
    fp = compute_fingerprint(tmp_path)
    assert fp.version == PRODUCER_NO_BINARY and values(fp) == dict.fromkeys(HASH_FIELDS, 0)


# --------------------------------------------------------------------------- bad input


def test_missing_directory_and_model(tmp_path):
    with pytest.raises(NotFoundError, match="not a directory"):
        compute_fingerprint(tmp_path / "nope")
    with pytest.raises(NotFoundError, match="no saved_model.pb"):
        compute_fingerprint(tmp_path)
    with pytest.raises(NotFoundError, match="no such file"):
        read_fingerprint(tmp_path / "fingerprint.pb")
    with pytest.raises(NotFoundError):
        verify_fingerprint(tmp_path)


@pytest.mark.parametrize(
    "data,match",
    [
        (b"", "empty file"),
        (b"\x08", "truncated or malformed varint"),
        (b"\x08\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff", "malformed varint"),
        (b"\x0a\x05abc", "wire type 2, expected 0"),
        (b"\x32\x10\x08\x04", "runs past the end"),
        (b"\x00\x01", "field number 0"),
        (b"\x4f", "unsupported wire type 7"),
        (b"\x32\x02\xff\xff", "not a valid tensorflow.FingerprintDef"),
    ],
)
def test_corrupt_fingerprint_file(tmp_path, data, match):
    (tmp_path / FINGERPRINT_FILENAME).write_bytes(data)
    with pytest.raises(CorruptFileError, match=match) as info:
        read_fingerprint(tmp_path)
    assert info.value.path == str(tmp_path / FINGERPRINT_FILENAME)


def test_oversized_fingerprint_file(tmp_path):
    with open(tmp_path / FINGERPRINT_FILENAME, "wb") as f:
        f.truncate(2 << 20)
    with pytest.raises(LimitExceededError, match="far too large"):
        read_fingerprint(tmp_path)


def test_corrupt_saved_model(tmp_path):
    (tmp_path / "saved_model.pb").write_bytes(b"\x12\xff\xff\xff\x0f garbage")
    with pytest.raises(CorruptFileError, match="saved_model.pb"):
        compute_fingerprint(tmp_path)


def test_saved_model_without_meta_graph(tmp_path):
    (tmp_path / "saved_model.pb").write_bytes(
        SavedModel(saved_model_schema_version=1).SerializeToString()
    )
    with pytest.raises(FormatError, match="no MetaGraphDef"):
        compute_fingerprint(tmp_path)


def test_unreadable_checkpoint_index_hashes_to_zero(tmp_path):
    (tmp_path / "variables" / "variables.index").mkdir(parents=True)  # a directory, not a file
    (tmp_path / "saved_model.pb").write_bytes(stress_saved_model().SerializeToString())
    assert compute_fingerprint(tmp_path).checkpoint_hash == 0


def test_graph_def_type():
    # regularize_graph_def takes our GraphDef class.
    g = GraphDef()
    regularize_graph_def(g)
    assert g.SerializeToString() == b"\x12\x00\x22\x00"


def test_package_exports_read_fingerprint():
    import savedmodel_io

    assert savedmodel_io.read_fingerprint is read_fingerprint
    assert savedmodel_io.Fingerprint is Fingerprint


def test_chunked_write_and_verify(tmp_path):
    needs_shared()
    shutil.copy(CHUNKED / "saved_model.cpb", tmp_path)
    fp = write_fingerprint(tmp_path)
    assert fp.version == 2 and values(fp) == CHUNKED_TF221
    assert verify_fingerprint(tmp_path).ok
    # Re-split with one chunk changed: the checksum and the graph hash notice it.
    from savedmodel_io.formats.chunks import ChunkedFile

    with ChunkedFile(tmp_path / "saved_model.cpb") as f:
        chunks = [f.chunk(i) for i in range(len(f))]
        tree = f.metadata.message
    damaged = bytearray(chunks[1])
    damaged[-1] ^= 1  # last byte of the float64 constant
    write_chunked(tmp_path / "saved_model.cpb", [_as_message(chunks[0]), bytes(damaged)], tree)
    result = verify_fingerprint(tmp_path)
    assert set(result.changed) == {"saved_model_checksum", "graph_def_program_hash"}


@pytest.fixture
def no_accelerators(monkeypatch):
    """Run with the pure-Python FarmHash and map sorting, as on a machine without a compiler."""
    from savedmodel_io.hashing import farmhash
    from savedmodel_io.proto import deterministic

    monkeypatch.setattr(farmhash, "_fast", None)
    monkeypatch.setattr(deterministic, "_compiled", None)


def test_pure_python_fallback_matches_tf221(no_accelerators, tmp_path):
    assert values(fingerprint_saved_model(stress_saved_model(), uuid="")) == STRESS_TF221
    needs_shared()
    assert values(compute_fingerprint(NON_CHUNKED)) == NON_CHUNKED_TF221
    assert values(compute_fingerprint(CHUNKED)) == CHUNKED_TF221


def test_hostile_nested_empty_tags_are_refused_quickly(tmp_path):
    # Each level of empty-tag nesting triples TF's pruned tree: 3**40 fields if unchecked.
    cm = ChunkedMessage(chunk_index=0)
    cur = cm
    for _ in range(40):
        cur = _add(cur, [], 0)
    write_chunked(tmp_path / "saved_model.cpb", [SavedModel()], cm)
    with pytest.raises(LimitExceededError, match="pruned chunk tree"):
        compute_fingerprint(tmp_path)


def _model_with_index(tmp_path: Path, kind: str) -> Path:
    """A tiny SavedModel whose variables/variables.index is replaced by a special file."""
    import os

    import numpy as np

    from savedmodel_io.formats.bundle import write_checkpoint

    d = tmp_path / "m"
    (d / "variables").mkdir(parents=True)
    (d / "saved_model.pb").write_bytes(stress_saved_model().SerializeToString())
    write_checkpoint(d / "variables" / "variables", {"x": np.ones(2, np.float32)})
    index = d / "variables" / "variables.index"
    index.unlink()
    if kind == "zero":
        index.symlink_to("/dev/zero")
    elif kind == "fifo":
        os.mkfifo(index)
    else:
        index.mkdir()
    return d


@pytest.mark.parametrize("kind, text", [("zero", "character device"), ("fifo", "FIFO")])
def test_checkpoint_index_device_or_fifo_is_refused(tmp_path, kind, text):
    """/dev/zero or a FIFO as variables.index: an error naming it (was MemoryError / a hang)."""
    from _deadline import deadline

    d = _model_with_index(tmp_path, kind)
    # /dev/zero is outside the model: allowed here, so the device check is what refuses it.
    with deadline(10), pytest.raises(CorruptFileError, match=text) as info:
        compute_fingerprint(d, allow_external_links=kind == "zero")
    assert info.value.path == str(d / "variables" / "variables.index")


def test_checkpoint_index_directory_hashes_as_zero(tmp_path):
    """TF's ReadFileToString fails on a directory and the checkpoint hash is 0; so is ours."""
    assert compute_fingerprint(_model_with_index(tmp_path, "dir")).checkpoint_hash == 0


def test_fingerprint_pb_fifo_is_refused(tmp_path):
    import os

    from _deadline import deadline

    os.mkfifo(tmp_path / FINGERPRINT_FILENAME)
    with deadline(10), pytest.raises(CorruptFileError, match="FIFO"):
        read_fingerprint(tmp_path)


def test_empty_tag_chunk_fingerprints_where_show_reads(tmp_path):
    """An empty-tag chunked field (merge into the parent): fingerprint --compute and show agree.

    Its SavedModel bytes reach the fingerprint's part hashing parsed as a GraphDef, which
    fails; TensorFlow ignores that parse (tested against it with the "cpb_empty_tag" variant).
    """
    import savedmodel_io

    cm = ChunkedMessage(chunk_index=0)
    _add(cm, [], 1)
    write_chunked(tmp_path / "saved_model.cpb", [SavedModel(saved_model_schema_version=1),
                                                 empty_tag_chunk()], cm)
    assert savedmodel_io.load(tmp_path).meta_graph("serve").ops == ["NoOp"]
    fp = compute_fingerprint(tmp_path)
    assert fp.graph_def_program_hash and fp.saved_model_checksum
