"""The splitter: TF's chunk layout reproduced on upstream data, exact serialization, round trips,
and write_saved_model_file's choice between saved_model.pb and saved_model.cpb."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest
from cpb_helpers import SHARED, add_const, assert_vals_moved, make_model, needs_shared

from savedmodel_io.errors import InvalidArgumentError, LimitExceededError, NotFoundError
from savedmodel_io.formats import chunks as ch
from savedmodel_io.formats import cpb, splitter
from savedmodel_io.formats.chunks import ChunkedFile, field_tag_path, read_chunked
from savedmodel_io.proto import (
    ChunkInfo,
    DataType,
    GraphDef,
    NodeDef,
    SavedModel,
    parse_message,
    parse_text,
)

PS = SHARED / "proto_splitter"


def layout(message) -> list:
    return [(field_tag_path(cf.field_tag), cf.message.chunk_index) for cf in message.chunked_fields]


def upstream(path: Path) -> tuple[list, list[bytes]]:
    with ChunkedFile(path) as f:
        return layout(f.metadata.message), [f.chunk(i) for i in range(len(f))]


# ----------------------------------------------------------------------------- TF's own outputs


@needs_shared
def test_reproduces_split_standard_exactly(tmp_path):
    """TF's Python splitter made split-standard.cpb with max size 500: same chunks, same bytes."""
    sm = parse_message(SavedModel, (PS / "split-standard.pb").read_bytes())
    before = sm.SerializeToString()
    split = splitter.split_saved_model(sm, max_size=500)
    assert sm.SerializeToString() == before  # the caller's model is not modified
    want_layout, want_chunks = upstream(PS / "split-standard.cpb")
    assert layout(split.message) == want_layout
    assert [b"".join(parts) for _, parts in split.records()] == want_chunks
    assert split.chunk_sizes() == [len(c) for c in want_chunks]
    out = tmp_path / "saved_model.cpb"
    ch.write_chunked(out, split.records(), split.message)
    assert read_chunked(out, SavedModel).SerializeToString() == (PS / "split-standard.pb").read_bytes()


@needs_shared
@pytest.mark.parametrize(
    "name, max_size",
    [("split-large-constant", 500), ("split-large-nodes", 200), ("split-lots-nodes", 500)],
)
def test_reproduces_graph_def_splits(name, max_size):
    graph = parse_text(GraphDef, (PS / f"{name}.pbtxt").read_text())
    split = splitter.split_graph_def(graph, max_size=max_size)
    want_layout, want_chunks = upstream(PS / f"{name}.cpb")
    assert layout(split.message) == want_layout
    assert [b"".join(parts) for _, parts in split.records()] == want_chunks


@needs_shared
def test_reproduces_chunked_saved_model_layout():
    """generate_chunked_models.py split the non-chunked model with max size 80000."""
    base = SHARED / "chunked_saved_model"
    sm = parse_message(SavedModel, (base / "non_chunked_model" / "saved_model.pb").read_bytes())
    split = splitter.split_saved_model(sm, max_size=80000)
    want_layout, want_chunks = upstream(base / "chunked_model" / "saved_model.cpb")
    assert layout(split.message) == want_layout
    got = [b"".join(parts) for _, parts in split.records()]
    assert got[1] == want_chunks[1]  # the BYTES chunk
    # chunk 0: same message; TF's C++ writer orders fields differently (cpb_format.md §3.1)
    assert parse_message(SavedModel, got[0]) == parse_message(SavedModel, want_chunks[0])


# ----------------------------------------------------------------------------- synthetic models


def test_serialized_parts_equal_deterministic_serialization():
    sm = make_model(random.Random(1))
    parts, size = splitter.saved_model_parts(sm)
    data = b"".join(splitter.resolve(parts))
    assert data == sm.SerializeToString(deterministic=True)
    assert size == len(data)
    assert any(not isinstance(p, bytes) for p in parts)  # big tensors stayed by reference


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("max_size", [300, 3000, 40_000, 200_000, 10**9])
def test_round_trip_at_many_sizes(tmp_path, seed, max_size):
    sm = make_model(random.Random(seed))
    before = sm.SerializeToString(deterministic=True)
    split = splitter.split_saved_model(sm, max_size=max_size)
    assert sm.SerializeToString(deterministic=True) == before
    path = tmp_path / "saved_model.cpb"
    ch.write_chunked(path, split.records(), split.message, compression="zstd")
    merged = read_chunked(path, SavedModel)
    if max_size >= 10**9:
        assert not split.is_split
    kinds = [i.type for i in ch.read_chunk_metadata(path).chunks]
    assert kinds == [kind for kind, _ in split.records()]
    assert kinds[0] == ChunkInfo.MESSAGE
    if merged != sm:
        # Only Consts over the limit change representation: *_val becomes tensor_content.
        assert_vals_moved(sm, merged)


def _round_trip(tmp_path, sm: SavedModel, max_size: int) -> SavedModel:
    """Split ``sm``, write it, read it back."""
    split = splitter.split_saved_model(sm, max_size=max_size)
    path = tmp_path / "saved_model.cpb"
    ch.write_chunked(path, split.records(), split.message)
    return read_chunked(path, SavedModel)


@pytest.mark.parametrize("max_size", [50, 333, 4000])
def test_absent_library_and_graph_stay_absent(tmp_path, max_size):
    """TF moves graph_def.library (or graph_def) to a chunk even when absent, so merging
    creates an empty one; an absent field has nothing to move and must round-trip absent."""
    sm = SavedModel()
    g = sm.meta_graphs.add().graph_def
    for i in range(200):
        g.node.add(name=f"n{i}", op="Identity", input=[f"n{i - 1}"] * (i % 5))
    merged = _round_trip(tmp_path, sm, max_size)
    assert not merged.meta_graphs[0].graph_def.HasField("library")
    assert merged.SerializeToString(deterministic=True) == sm.SerializeToString(deterministic=True)
    no_graph = SavedModel()
    no_graph.meta_graphs.add().signature_def["s"].method_name = "m" * 100
    assert _round_trip(tmp_path, no_graph, 50) == no_graph


def test_big_const_values_become_bytes_chunks():
    g = GraphDef()
    add_const(g.node, "big", np.arange(1000, dtype=np.float32))
    add_const(g.node, "vals", np.arange(300, dtype=np.float32), as_vals=True)
    g.node.add(name="small", op="NoOp")
    split = splitter.split_graph_def(g, max_size=1000)
    kinds = [kind for kind, _ in split.records()]
    assert kinds.count(ChunkInfo.BYTES) == 2
    chunks = [b"".join(p) for _, p in split.records()]
    assert np.arange(1000, dtype="<f4").tobytes() in chunks
    assert np.arange(300, dtype="<f4").tobytes() in chunks
    base = parse_message(GraphDef, chunks[0])
    t = base.node[1].attr["value"].tensor
    assert not t.float_val and not t.tensor_content and t.tensor_shape.dim[0].size == 300


def _vals_content(dtype: int, field: str, values: list, count: int) -> bytes:
    """The BYTES chunk made of a Const over the limit holding ``values`` in ``field``."""
    g = GraphDef()
    t = g.node.add(name="c", op="Const").attr["value"].tensor
    t.dtype = dtype
    t.tensor_shape.dim.add(size=count)
    getattr(t, field).extend(values)
    split = splitter.split_graph_def(g, max_size=5)
    return next(b"".join(p) for kind, p in split.records() if kind == ChunkInfo.BYTES)


def test_short_vals_repeat_the_last_element_like_make_ndarray():
    """TF converts *_val with tensor_util.MakeNdarray: the last *element* fills the rest, which
    for complex types is the last (real, imag) pair, not the last float."""
    got = _vals_content(DataType.DT_COMPLEX64, "scomplex_val", [1, 2, 3, 4], 4)
    assert np.frombuffer(got, "<c8").tolist() == [1 + 2j, 3 + 4j, 3 + 4j, 3 + 4j]
    got = _vals_content(DataType.DT_COMPLEX128, "dcomplex_val", [], 2)
    assert np.frombuffer(got, "<c16").tolist() == [0j, 0j]
    got = _vals_content(DataType.DT_FLOAT, "float_val", [1.5], 3)
    assert np.frombuffer(got, "<f4").tolist() == [1.5, 1.5, 1.5]
    got = _vals_content(DataType.DT_QINT8, "int_val", [-1, 2], 3)
    assert np.frombuffer(got, "i1").tolist() == [-1, 2, 2]


def test_non_const_node_over_limit_is_refused():
    g = GraphDef()
    node = g.node.add(name="huge", op="Placeholder")
    node.attr["shape"].s = b"x" * 5000
    with pytest.raises(InvalidArgumentError, match="only Const nodes"):
        splitter.split_graph_def(g, max_size=1000)


def test_bad_inputs():
    with pytest.raises(InvalidArgumentError, match="max_size"):
        splitter.split_saved_model(SavedModel(), max_size=0)
    with pytest.raises(InvalidArgumentError, match="SavedModel or GraphDef"):
        splitter._split(NodeDef(), 100)


# ----------------------------------------------------------------------------- .pb or .cpb


def test_write_small_model_as_pb(tmp_path):
    sm = make_model(random.Random(2))
    (tmp_path / "saved_model.cpb").write_bytes(b"stale")
    path = cpb.write_saved_model_file(tmp_path, sm)
    assert path.name == "saved_model.pb"
    assert path.read_bytes() == sm.SerializeToString(deterministic=True)
    assert not (tmp_path / "saved_model.cpb").exists()
    assert cpb.saved_model_proto_path(tmp_path) == path


def test_write_image_format(tmp_path):
    sm = make_model(random.Random(3))
    (tmp_path / "saved_model.pb").write_bytes(b"stale")
    path = cpb.write_saved_model_file(tmp_path, sm, image_format=True, max_size=20_000)
    assert path.name == "saved_model.cpb" and not (tmp_path / "saved_model.pb").exists()
    merged = cpb.read_saved_model_cpb(tmp_path)
    if merged != sm:
        assert_vals_moved(sm, merged)
    # Nothing to split: TF writes a plain .pb even with the image format on.
    small = SavedModel(saved_model_schema_version=1)
    path = cpb.write_saved_model_file(tmp_path, small, image_format=True)
    assert path.name == "saved_model.pb" and not (tmp_path / "saved_model.cpb").exists()


def test_auto_switches_to_cpb_over_protobuf_limit(tmp_path, monkeypatch):
    sm = make_model(random.Random(4))
    monkeypatch.setattr(cpb, "PROTOBUF_LIMIT", 50_000)
    path = cpb.write_saved_model_file(tmp_path, sm, max_size=20_000)
    assert path.name == "saved_model.cpb"
    with pytest.raises(LimitExceededError, match="image_format=True"):
        cpb.write_saved_model_file(tmp_path, sm, image_format=False)
    assert path.exists()  # a refused write leaves the directory alone


def test_write_errors(tmp_path):
    with pytest.raises(NotFoundError):
        cpb.write_saved_model_file(tmp_path / "missing", SavedModel())
    with pytest.raises(InvalidArgumentError):
        cpb.write_saved_model_file(tmp_path, SavedModel(), image_format="yes")
    with pytest.raises(NotFoundError):
        cpb.read_saved_model_cpb(tmp_path)
    assert cpb.saved_model_proto_path(tmp_path) is None
