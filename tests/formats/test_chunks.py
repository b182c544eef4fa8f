"""Chunked protos: merging every upstream .cpb to its twin, the public API, bad chunk trees."""

from __future__ import annotations

import subprocess
import sys

import pytest
from cpb_helpers import SHARED, needs_shared
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory, text_format

from savedmodel_io.errors import CorruptFileError, InvalidArgumentError
from savedmodel_io.formats import chunks as ch
from savedmodel_io.formats.riegeli import RecordReader, write_records
from savedmodel_io.proto import (
    AttrValue,
    ChunkedMessage,
    ChunkInfo,
    ChunkMetadata,
    DataType,
    FieldIndex,
    GraphDef,
    NodeDef,
    SavedModel,
    TensorProto,
    parse_message,
    parse_text,
)

PS = SHARED / "proto_splitter"


@pytest.fixture(scope="session")
def test_messages(tmp_path_factory):
    """ManyFields / StringNode classes from test_message.proto, in a throwaway descriptor pool."""
    if not (PS / "test_message.proto").is_file():
        pytest.skip("shared/testdata/cpb not present")
    out = tmp_path_factory.mktemp("proto") / "test_message.pb"
    subprocess.run(
        [sys.executable, "-m", "grpc_tools.protoc", f"-I{PS}", f"--descriptor_set_out={out}",
         "test_message.proto"],
        check=True, capture_output=True,
    )
    fds = descriptor_pb2.FileDescriptorSet.FromString(out.read_bytes())
    pool = descriptor_pool.DescriptorPool()
    for f in fds.file:
        pool.Add(f)
    pkg = "tensorflow.proto_splitter_testdata."
    return {
        name: message_factory.GetMessageClass(pool.FindMessageTypeByName(pkg + name))
        for name in ("ManyFields", "StringNode")
    }


# ----------------------------------------------------------------------------- upstream files


@needs_shared
def test_split_standard_is_byte_identical():
    merged = ch.read_chunked(PS / "split-standard.cpb", SavedModel)
    assert merged.SerializeToString() == (PS / "split-standard.pb").read_bytes()
    assert merged == parse_text(SavedModel, (PS / "split-standard.pbtxt").read_text())


@needs_shared
@pytest.mark.parametrize("name", ["split-large-constant", "split-large-nodes", "split-lots-nodes"])
def test_graph_defs_equal_their_pbtxt(name):
    merged = ch.read_chunked(PS / f"{name}.cpb", GraphDef)
    assert merged == parse_text(GraphDef, (PS / f"{name}.pbtxt").read_text())


@needs_shared
def test_chunked_saved_model_equals_non_chunked():
    base = SHARED / "chunked_saved_model"
    merged = ch.read_chunked(base / "chunked_model" / "saved_model.cpb", SavedModel)
    plain = parse_message(SavedModel, (base / "non_chunked_model" / "saved_model.pb").read_bytes())
    assert merged == plain
    assert merged.SerializeToString(deterministic=True) == plain.SerializeToString(
        deterministic=True
    )
    assert merged == parse_text(
        SavedModel, (base / "chunked_model" / "saved_model.pbtxt").read_text()
    )


@needs_shared
def test_many_field_bool_map_keys(test_messages):
    ManyFields = test_messages["ManyFields"]
    merged = ch.read_chunked(PS / "many-field.cpb", ManyFields)
    want = text_format.Parse((PS / "many-field.pbtxt").read_text(), ManyFields())
    assert merged == want
    keys = [
        ch.field_tag_path(cf.field_tag)
        for cf in ch.read_chunk_metadata(PS / "many-field.cpb").message.chunked_fields
    ]
    assert (7, ("key", True)) in keys and (7, ("key", False)) in keys


@needs_shared
@pytest.mark.parametrize("name", ["df-split-tree", "bf-split-tree"])
def test_split_trees(test_messages, name):
    StringNode = test_messages["StringNode"]
    merged = ch.read_chunked(PS / f"{name}.cpb", StringNode)
    assert merged == text_format.Parse((PS / "split-tree.pbtxt").read_text(), StringNode())
    meta = ch.read_chunk_metadata(PS / f"{name}.cpb")
    assert meta.message == parse_text(ChunkedMessage, (PS / f"{name}.pbtxt").read_text())


@needs_shared
def test_chunked_file_api():
    path = SHARED / "chunked_saved_model" / "chunked_model" / "saved_model.cpb"
    with ch.ChunkedFile(path) as f:
        assert len(f) == 2
        assert [f.chunk_info(i).type for i in range(2)] == [ChunkInfo.MESSAGE, ChunkInfo.BYTES]
        base = parse_message(SavedModel, f.chunk(0))
        assert len(f.chunk(1)) == 180000
        (cf,) = f.metadata.message.chunked_fields
        assert ch.field_tag_path(cf.field_tag) == (
            2, ("index", 0), 2, 1, ("index", 0), 5, ("key", "value"), 8, 4
        )
        # Partial merge: only chunk 0 (the tree without its chunked fields).
        partial = f.merge(SavedModel(), ChunkedMessage(chunk_index=0))
        assert partial == base
        tensor = ch.walk(partial, cf.field_tag[:-1])
        assert isinstance(tensor, TensorProto) and tensor.tensor_content == b""
        full = f.merge(SavedModel())
        assert ch.walk(full, cf.field_tag[:-1]).tensor_content == f.chunk(1)


# ----------------------------------------------------------------------------- our own files


def tag(*steps) -> list[FieldIndex]:
    out = []
    for s in steps:
        if isinstance(s, int):
            out.append(FieldIndex(field=s))
        elif s[0] == "index":
            out.append(FieldIndex(index=s[1]))
        else:
            fi = FieldIndex()
            setattr(fi.map_key, s[0], s[1])
            out.append(fi)
    return out


def const_graph(n=3) -> GraphDef:
    g = GraphDef()
    for i in range(n):
        node = g.node.add(name=f"c{i}", op="Const")
        node.attr["dtype"].type = DataType.DT_FLOAT
        t = node.attr["value"].tensor
        t.dtype = DataType.DT_FLOAT
        t.tensor_shape.dim.add(size=4)
        t.tensor_content = bytes([i]) * 16
    return g


def test_write_and_read_bytes_chunks(tmp_path):
    g = const_graph()
    base = GraphDef()
    base.CopyFrom(g)
    cm = ChunkedMessage(chunk_index=0)
    contents = []
    for i, node in enumerate(base.node):
        contents.append(node.attr["value"].tensor.tensor_content)
        node.attr["value"].tensor.ClearField("tensor_content")
        cm.chunked_fields.add(
            field_tag=tag(1, ("index", i), 5, ("s", "value"), 8, 4),
            message=ChunkedMessage(chunk_index=i + 1),
        )
    path = tmp_path / "g.cpb"
    meta = ch.write_chunked(path, [base, *contents], cm)
    assert [c.type for c in meta.chunks] == [ChunkInfo.MESSAGE] + [ChunkInfo.BYTES] * 3
    assert ch.read_chunked(path, GraphDef) == g
    assert ch.read_chunk_metadata(path) == meta


def test_scalar_and_repeated_leaves(tmp_path):
    """Scalars come back from TF's text encoding; strings replace; repeated elements set."""
    node = NodeDef(name="old", input=["a", "b"])
    cm = ChunkedMessage(chunk_index=0)
    cm.chunked_fields.add(field_tag=tag(1), message=ChunkedMessage(chunk_index=1))
    cm.chunked_fields.add(field_tag=tag(3, ("index", 1)), message=ChunkedMessage(chunk_index=2))
    cm.chunked_fields.add(
        field_tag=tag(5, ("s", "n"), 3), message=ChunkedMessage(chunk_index=3)
    )  # AttrValue.i (int64) as text
    cm.chunked_fields.add(
        field_tag=tag(5, ("s", "t"), 6), message=ChunkedMessage(chunk_index=4)
    )  # AttrValue.type (enum) by name
    cm.chunked_fields.add(
        field_tag=tag(5, ("s", "b"), 5), message=ChunkedMessage(chunk_index=5)
    )
    cm.chunked_fields.add(
        field_tag=tag(5, ("s", "f"), 4), message=ChunkedMessage(chunk_index=6)
    )
    path = tmp_path / "n.cpb"
    ch.write_chunked(path, [node, b"new", b"B", b"-42", b"DT_INT32", b"true", b"2.5"], cm)
    got = ch.read_chunked(path, NodeDef)
    assert got.name == "new" and list(got.input) == ["a", "B"]
    assert got.attr["n"].i == -42 and got.attr["t"].type == DataType.DT_INT32
    assert got.attr["b"].b is True and got.attr["f"].f == 2.5


def test_empty_tag_concatenates_and_sort_order(tmp_path):
    """Chunks listed out of order are merged in TF's order (shorter tag first, then index)."""
    part1 = GraphDef()
    part1.node.add(name="n0")
    part2 = GraphDef()
    part2.node.add(name="n1")
    node1 = NodeDef(name="n1", op="Identity")
    cm = ChunkedMessage(chunk_index=0)
    cm.chunked_fields.add(field_tag=tag(1, ("index", 1)), message=ChunkedMessage(chunk_index=2))
    cm.chunked_fields.add(field_tag=[], message=ChunkedMessage(chunk_index=1))
    path = tmp_path / "c.cpb"
    ch.write_chunked(path, [part1, part2, node1], cm, compression="zstd")
    got = ch.read_chunked(path, GraphDef)
    assert [(n.name, n.op) for n in got.node] == [("n0", ""), ("n1", "Identity")]


def test_write_rejects_dangling_chunk_index(tmp_path):
    with pytest.raises(InvalidArgumentError, match="chunk 5"):
        ch.write_chunked(tmp_path / "x.cpb", [GraphDef()], ChunkedMessage(chunk_index=5))
    assert list(tmp_path.iterdir()) == []


# ----------------------------------------------------------------------------- bad input


def write_raw_cpb(path, records, meta: ChunkMetadata | None):
    """A .cpb whose metadata we control completely (offsets filled from the real positions)."""
    positions = write_records(path, records + ([b""] if meta is not None else []))
    if meta is not None:
        for info, pos in zip(meta.chunks, positions):
            if not info.offset:
                info.offset = pos
        write_records(path, records + [meta.SerializeToString()])


def meta_for(records, cm: ChunkedMessage) -> ChunkMetadata:
    meta = ChunkMetadata()
    for r in records:
        meta.chunks.add(type=ChunkInfo.MESSAGE, size=len(r))
    meta.message.CopyFrom(cm)
    return meta


def read_bad(path, cls=GraphDef, match=None):
    with pytest.raises(CorruptFileError, match=match) as info:
        ch.read_chunked(path, cls)
    assert str(path) in str(info.value)
    return info.value


def test_missing_metadata(tmp_path):
    path = tmp_path / "m.cpb"
    write_raw_cpb(path, [const_graph().SerializeToString()], None)
    read_bad(path, match="ChunkMetadata")
    write_records(path, [])
    read_bad(path, match="no records")


def test_bad_chunk_index(tmp_path):
    recs = [GraphDef().SerializeToString()]
    path = tmp_path / "i.cpb"
    write_raw_cpb(path, recs, meta_for(recs, ChunkedMessage(chunk_index=3)))
    read_bad(path, match="chunk index 3 is out of range")


def test_chunk_offset_points_nowhere(tmp_path):
    recs = [GraphDef().SerializeToString()]
    meta = meta_for(recs, ChunkedMessage(chunk_index=0))
    meta.chunks[0].offset = 12345
    path = tmp_path / "o.cpb"
    write_raw_cpb(path, recs, meta)
    read_bad(path, match="position 12345")


def test_chunk_size_mismatch(tmp_path):
    recs = [NodeDef(name="x").SerializeToString()]
    meta = meta_for(recs, ChunkedMessage(chunk_index=0))
    meta.chunks[0].size = 999
    path = tmp_path / "s.cpb"
    write_raw_cpb(path, recs, meta)
    read_bad(path, NodeDef, match="ChunkMetadata says 999")


@pytest.mark.parametrize(
    "steps, match",
    [
        ((99,), "field number 99"),
        ((1,), "needs an index"),  # GraphDef.node without index
        ((1, ("index", 0), 5), "needs a map key"),
        ((1, ("index", 0), 5, ("boolean", True)), "does not fit"),
        ((1, ("index", 0), 1, ("index", 0)), "cannot take an index"),
        ((1, ("index", 0), 3, ("index", 7)), "out of range"),  # NodeDef.input[7]
        ((("index", 0),), "expected a field number"),
        ((1, ("index", 0), 1, 2), "continues past"),
        ((1, ("index", 2)), "skips elements"),  # GraphDef.node[2] of 1: TF adds only the next
    ],
)
def test_bad_field_tags(tmp_path, steps, match):
    recs = [GraphDef(node=[NodeDef(name="a")]).SerializeToString(), b"x"]
    cm = ChunkedMessage(chunk_index=0)
    cm.chunked_fields.add(field_tag=tag(*steps), message=ChunkedMessage(chunk_index=1))
    path = tmp_path / "t.cpb"
    write_raw_cpb(path, recs, meta_for(recs, cm))
    read_bad(path, match=match)


def test_next_repeated_element_is_added(tmp_path):
    """node[1] of a one-node graph is appended (TF adds one element), then node[2] after it."""
    recs = [GraphDef(node=[NodeDef(name="a")]).SerializeToString(),
            NodeDef(name="b").SerializeToString(), NodeDef(name="c").SerializeToString()]
    cm = ChunkedMessage(chunk_index=0)
    cm.chunked_fields.add(field_tag=tag(1, ("index", 2)), message=ChunkedMessage(chunk_index=2))
    cm.chunked_fields.add(field_tag=tag(1, ("index", 1)), message=ChunkedMessage(chunk_index=1))
    path = tmp_path / "next.cpb"
    write_raw_cpb(path, recs, meta_for(recs, cm))
    assert [n.name for n in ch.read_chunked(path, GraphDef).node] == ["a", "b", "c"]


def test_index_bomb_is_refused_before_allocating(tmp_path):
    """A ~200-byte ChunkMetadata whose tags name node[2**20] of empty graphs: once ~2**20 empty
    NodeDefs per tag (400 MB for three, minutes for twenty); now refused at the first."""
    import time

    from savedmodel_io.proto import SavedModel

    cm = ChunkedMessage(chunk_index=0)
    cm.chunked_fields.add(field_tag=tag(2, ("index", 20)), message=ChunkedMessage())
    for i in range(20):
        cm.chunked_fields.add(field_tag=tag(2, ("index", i), 2, 1, ("index", 1 << 20)),
                              message=ChunkedMessage())
    path = tmp_path / "saved_model.cpb"
    ch.write_chunked(path, [SavedModel()], cm)
    assert path.stat().st_size < 1024
    start = time.process_time()
    read_bad(path, SavedModel, match="skips elements")
    assert time.process_time() - start < 2


def test_mixed_tag_kinds_in_sort(tmp_path):
    recs = [GraphDef().SerializeToString(), b"", b""]
    cm = ChunkedMessage(chunk_index=0)
    cm.chunked_fields.add(field_tag=tag(1, ("index", 0)), message=ChunkedMessage(chunk_index=1))
    cm.chunked_fields.add(field_tag=tag(1, ("s", "k")), message=ChunkedMessage(chunk_index=2))
    path = tmp_path / "mix.cpb"
    write_raw_cpb(path, recs, meta_for(recs, cm))
    read_bad(path, match="field tag mismatch")


def test_chunk_not_a_message(tmp_path):
    recs = [b"\xff\xff\xff"]
    path = tmp_path / "n.cpb"
    write_raw_cpb(path, recs, meta_for(recs, ChunkedMessage(chunk_index=0)))
    read_bad(path, match="not a valid tensorflow.GraphDef")


def test_bad_scalar_text(tmp_path):
    recs = [NodeDef().SerializeToString(), b"DT_NOPE"]
    cm = ChunkedMessage(chunk_index=0)
    cm.chunked_fields.add(field_tag=tag(5, ("s", "t"), 6), message=ChunkedMessage(chunk_index=1))
    path = tmp_path / "e.cpb"
    write_raw_cpb(path, recs, meta_for(recs, cm))
    read_bad(path, NodeDef, match="not a valid value")


def test_corrupt_chunk_hash_reported(tmp_path):
    path = tmp_path / "h.cpb"
    ch.write_chunked(path, [const_graph()], ChunkedMessage(chunk_index=0))
    raw = bytearray(path.read_bytes())
    raw[64 + 40 + 8] ^= 1
    path.write_bytes(bytes(raw))
    from savedmodel_io.errors import ChecksumError

    with pytest.raises(ChecksumError):
        ch.read_chunked(path, GraphDef)
    # With hashes off the damage surfaces as an undecodable chunk, never a raw exception.
    try:
        ch.read_chunked(path, GraphDef, verify_hashes=False)
    except CorruptFileError:
        pass


def test_map_value_node_attr_roundtrip_does_not_insert(tmp_path):
    """A merge into attr["value"] creates the entry exactly like TF (and only that one)."""
    recs = [NodeDef(name="c").SerializeToString(), AttrValue(s=b"v").SerializeToString()]
    cm = ChunkedMessage(chunk_index=0)
    cm.chunked_fields.add(field_tag=tag(5, ("s", "value")), message=ChunkedMessage(chunk_index=1))
    path = tmp_path / "a.cpb"
    write_raw_cpb(path, recs, meta_for(recs, cm))
    got = ch.read_chunked(path, NodeDef)
    assert list(got.attr) == ["value"] and got.attr["value"].s == b"v"
    with RecordReader(path) as reader:
        assert reader.num_records == 3


def test_integer_and_bool_map_keys(tmp_path, test_messages):
    """Map keys of kinds ui32 / i64 / boolean, with string and message values."""
    ManyFields = test_messages["ManyFields"]
    base = ManyFields(string_field="base")
    inner = ManyFields(string_field="nested")
    cm = ChunkedMessage(chunk_index=0)
    cm.chunked_fields.add(field_tag=tag(5, ("ui32", 324)), message=ChunkedMessage(chunk_index=1))
    cm.chunked_fields.add(field_tag=tag(6, ("i64", -(1 << 40))), message=ChunkedMessage(chunk_index=2))
    cm.chunked_fields.add(field_tag=tag(7, ("boolean", False)), message=ChunkedMessage(chunk_index=3))
    cm.chunked_fields.add(
        field_tag=tag(2, ("index", 0), 5, ("ui32", 7)), message=ChunkedMessage(chunk_index=4)
    )
    path = tmp_path / "maps.cpb"
    ch.write_chunked(path, [base, b"three-two-four", b"big negative", inner, b"seven"], cm)
    got = ch.read_chunked(path, ManyFields)
    assert got.string_field == "base"
    assert dict(got.map_field_uint32) == {324: "three-two-four"}
    assert dict(got.map_field_int64) == {-(1 << 40): "big negative"}
    assert got.nested_map_bool[False] == inner and list(got.nested_map_bool) == [False]
    assert len(got.repeated_field) == 1 and dict(got.repeated_field[0].map_field_uint32) == {
        7: "seven"
    }
    # A key of the wrong kind for the map is refused.
    bad = ChunkedMessage(chunk_index=0)
    bad.chunked_fields.add(field_tag=tag(5, ("i64", 1)), message=ChunkedMessage(chunk_index=1))
    ch.write_chunked(path, [base, b"x"], bad)
    with pytest.raises(CorruptFileError, match="does not fit"):
        ch.read_chunked(path, ManyFields)
