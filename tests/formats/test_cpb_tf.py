"""TensorFlow reads our .cpb files: its C++ Merger rebuilds the same proto and its
fingerprinting (which validates the whole container) accepts them with the expected hashes."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from _oracles import Oracle
from cpb_helpers import (
    SHARED,
    assert_vals_moved,
    build_oracle,
    make_model,
    run_oracle,
)

from savedmodel_io.errors import ChecksumError
from savedmodel_io.formats import chunks as ch
from savedmodel_io.formats import cpb, splitter
from savedmodel_io.proto import GraphDef, SavedModel, parse_message

pytestmark = pytest.mark.tf

@pytest.fixture(scope="session")
def tf_merge():
    """``tf_merge(kind, path) -> bytes | str``: TF's Merger output, or its error text."""
    binary = build_oracle()
    return lambda kind, path: run_oracle(binary, kind, path)


FINGERPRINT = Oracle("fingerprint")


def tf_fingerprints(dirs: list[Path]) -> dict[str, dict]:
    """TF's CreateFingerprintDef for each directory (recorded; one TF run for the new ones)."""
    out = {}
    for d, answer in zip(dirs, FINGERPRINT.answers([{"dir": str(d)} for d in dirs])):
        fp = dict(answer["create"])
        if "version" in fp:
            fp["producer"] = fp.pop("version")
        out[str(d)] = fp
    return out


# ----------------------------------------------------------------------------- Merger oracle


def test_oracle_reads_upstream(tf_merge):
    path = SHARED / "chunked_saved_model" / "chunked_model" / "saved_model.cpb"
    if not path.exists():
        pytest.skip("shared/testdata/cpb not present")
    merged = parse_message(SavedModel, tf_merge("savedmodel", path))
    assert merged == ch.read_chunked(path, SavedModel)


@pytest.mark.parametrize(
    "seed, max_size, compression",
    [(0, 300, "brotli"), (1, 3000, "zstd"), (2, 40_000, "none"), (3, 200_000, "brotli"),
     (4, 5000, "none")],
)
def test_tf_merges_our_files(tmp_path, tf_merge, seed, max_size, compression):
    sm = make_model(random.Random(seed), big=150_000)
    split = splitter.split_saved_model(sm, max_size=max_size)
    assert split.is_split
    path = tmp_path / "saved_model.cpb"
    ch.write_chunked(path, split.records(), split.message, compression=compression,
                     chunk_size=4096, large_record_size=50_000)
    tf_bytes = tf_merge("savedmodel", path)
    assert isinstance(tf_bytes, bytes), tf_bytes
    from_tf = parse_message(SavedModel, tf_bytes)
    ours = ch.read_chunked(path, SavedModel)
    assert from_tf == ours
    if ours != sm:
        assert_vals_moved(sm, ours)
    # Prefix form (Merger::Read), with a stale .pb beside it: TF and we both take the .cpb.
    (tmp_path / "saved_model.pb").write_bytes(SavedModel().SerializeToString())
    assert parse_message(SavedModel, tf_merge("savedmodel", tmp_path / "saved_model")) == ours
    assert cpb.saved_model_proto_path(tmp_path) == path


def test_tf_merges_graph_def_split(tmp_path, tf_merge):
    sm = make_model(random.Random(9), big=100_000, n_nodes=60)
    graph = sm.meta_graphs[0].graph_def
    split = splitter.split_graph_def(graph, max_size=2000)
    path = tmp_path / "graph.cpb"
    ch.write_chunked(path, split.records(), split.message)
    from_tf = parse_message(GraphDef, tf_merge("graphdef", path))
    assert from_tf == ch.read_chunked(path, GraphDef)


def test_tf_rejects_what_we_reject(tmp_path, tf_merge):
    sm = make_model(random.Random(5), big=150_000)
    path = cpb.write_saved_model_file(tmp_path, sm, image_format=True, max_size=20_000)
    raw = bytearray(path.read_bytes())
    raw[len(raw) // 2] ^= 0x01
    path.write_bytes(bytes(raw))
    assert "hash mismatch" in tf_merge("savedmodel", path)
    with pytest.raises(ChecksumError):
        ch.read_chunked(path, SavedModel)


# ----------------------------------------------------------------------------- fingerprints


def test_tf_fingerprints_our_cpb(tmp_path):
    """TF validates the container and hashes our chunks; a re-split of the upstream model gives
    the fingerprint upstream's fingerprinting_chunked_test.cc expects for the TF-written file."""
    base = SHARED / "chunked_saved_model"
    if not base.is_dir():
        pytest.skip("shared/testdata/cpb not present")
    resplit = tmp_path / "resplit"
    resplit.mkdir()
    sm = parse_message(SavedModel, (base / "non_chunked_model" / "saved_model.pb").read_bytes())
    split = splitter.split_saved_model(sm, max_size=80000)
    ch.write_chunked(resplit / "saved_model.cpb", split.records(), split.message)
    dirs = {"resplit": resplit}
    for compression in ("zstd", "none"):
        d = tmp_path / compression
        d.mkdir()
        ch.write_chunked(d / "saved_model.cpb", split.records(), split.message,
                         compression=compression, chunk_size=1000)
        dirs[compression] = d
    synthetic = tmp_path / "synthetic"
    synthetic.mkdir()
    cpb.write_saved_model_file(synthetic, make_model(random.Random(6), big=150_000),
                               image_format=True, max_size=30_000)
    dirs["synthetic"] = synthetic
    prints = tf_fingerprints(list(dirs.values()))
    want = {
        "producer": 2,
        "saved_model_checksum": 671111844537763371,
        "graph_def_program_hash": 9562420523583756263,
        "signature_def_hash": 1043582354059066488,
        "saved_object_graph_hash": 2766043449526180728,
        "checkpoint_hash": 0,
    }
    for name in ("resplit", "zstd", "none"):
        assert prints[str(dirs[name])] == want, name
    assert "error" not in prints[str(synthetic)], prints[str(synthetic)]
    assert prints[str(synthetic)]["producer"] == 2


# ----------------------------------------------------------------------------- edge cases


def _edge_models() -> dict[str, tuple[SavedModel, int]]:
    """Models and limits the random ones miss: no library, map-heavy and Const-heavy
    functions, big signatures and object graph, empty repeated elements."""
    import numpy as np
    from cpb_helpers import add_const

    nodes = SavedModel()
    g = nodes.meta_graphs.add().graph_def
    for i in range(120):
        g.node.add(name=f"n{i}", op="Identity", input=[f"n{i - 1}"] * (i % 5))
    maps = SavedModel(saved_model_schema_version=1)
    mg = maps.meta_graphs.add()
    for f in range(6):
        fn = mg.graph_def.library.function.add()
        fn.signature.name = f"f{f}"
        for k in range(20):
            fn.ret[f"r{k}"] = f"n:output:{k}"
            fn.attr[f"a{k}"].s = b"v" * (k * f)
        fn.arg_attr[0].attr["x"].s = b"y" * 200
        for j in range(f * 3):
            fn.node_def.add(name=f"n{j}", op="Identity")
        add_const(fn.node_def, "c", np.arange(100 * f, dtype=np.float32))
    mg.graph_def.node.add()  # an empty element
    add_const(mg.graph_def.node, "z", np.zeros(0, np.float32))
    for k in range(3):
        mg.signature_def[f"s{k}"].inputs["x"].name = "x" * 1500
    mg.object_graph_def.nodes.add().children.add(node_id=0, local_name="o" * 2000)
    return {"nodes": (nodes, 333), "maps_700": (maps, 700), "maps_3000": (maps, 3000)}


def test_tf_agrees_on_edge_cases(tmp_path, tf_merge):
    """Our split merges back exactly, TF's Merger gives the same message and TF's
    fingerprint of the directory equals ours."""
    from savedmodel_io.fingerprint import compute_fingerprint

    dirs = {}
    for name, (sm, max_size) in _edge_models().items():
        d = dirs[name] = tmp_path / name
        d.mkdir()
        path = cpb.write_saved_model_file(d, sm, image_format=True, max_size=max_size)
        assert path.name == "saved_model.cpb", name
        ours = ch.read_chunked(path, SavedModel)
        assert ours.SerializeToString(deterministic=True) == sm.SerializeToString(
            deterministic=True), name
        assert parse_message(SavedModel, tf_merge("savedmodel", path)) == ours, name
    prints = tf_fingerprints(list(dirs.values()))
    for name, d in dirs.items():
        fp = compute_fingerprint(d, uuid="").as_dict()
        fp["producer"] = fp.pop("version")
        assert {k: fp[k] for k in prints[str(d)]} == prints[str(d)], name
