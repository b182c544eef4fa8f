"""Counting a SavedModel's meta graphs, signatures, functions and nodes before parsing it."""

from __future__ import annotations

import pytest
from fuzz import seeds
from fuzz.harness import mutants
from hostile.bombs import (
    many_functions,
    many_meta_graphs,
    many_nodes,
    many_signatures,
    repeated_field,
    varint,
)

from hypothesis import HealthCheck, given, settings

import savedmodel_io
from savedmodel_io.errors import CorruptFileError, LimitExceededError
from savedmodel_io.formats import census
from savedmodel_io.proto import SavedModel, parse_message, to_text

MODELS = ["keras_functional", "module_signatures", "module_two_meta_graphs", "tf1_tags",
          "tf1_sparse_ragged", "control_flow"]


@pytest.fixture(params=["c", "python"])
def walker(request, monkeypatch):
    """Each test runs with the C accelerator and with the pure-Python walk (the reference)."""
    if request.param == "python":
        monkeypatch.setattr(census, "_compiled", None)
    elif census._compiled is None:
        pytest.skip("the C accelerator is not built")
    return request.param


@pytest.fixture
def no_limits(monkeypatch):
    for name in census._LIMITS.values():
        monkeypatch.setattr(census, name, 1 << 40)


@pytest.mark.parametrize("name", MODELS)
def test_wire_and_message_counts_agree(fixture_model, name, no_limits, walker):
    """The wire count and the count of the parsed message see the same model."""
    data = (fixture_model(name) / "saved_model.pb").read_bytes()
    sm = parse_message(SavedModel, data)
    wire = census.check_wire(data)
    parsed = census.check_message(sm)
    assert wire.pop("fields") > 0 and parsed.pop("fields") == 0
    assert wire == parsed
    assert wire["meta graphs"] == len(sm.meta_graphs)
    assert wire["nodes"] >= sum(len(mg.graph_def.node) for mg in sm.meta_graphs) > 0
    signatures_only = census.check_wire(data, signatures_only=True)
    assert signatures_only["signatures"] == wire["signatures"]
    assert signatures_only["nodes"] == signatures_only["functions"] == 0


@pytest.mark.parametrize(
    ("limit", "pb"),
    [
        ("MAX_META_GRAPHS", many_meta_graphs(11)),
        ("MAX_SIGNATURES", many_signatures(11)),
        ("MAX_FUNCTIONS", many_functions(11)),
        ("MAX_NODES", many_nodes(11)),
        # Nodes of the functions count too (FunctionDef.node_def, field 3) ...
        ("MAX_NODES", repeated_field(2, 1, repeated_field(2, 1, repeated_field(
            2, 1, repeated_field(1, 1, repeated_field(3, 6)) + repeated_field(1, 1, repeated_field(3, 5)))))),
        # ... and objects of the object graph (SavedObjectGraph.nodes).
        ("MAX_NODES", repeated_field(2, 1, repeated_field(7, 1, repeated_field(1, 11)))),
        # Inputs and outputs of signatures.
        ("MAX_SIGNATURE_TENSORS", repeated_field(2, 1, repeated_field(5, 1, repeated_field(
            2, 1, repeated_field(1, 6) + repeated_field(2, 5))))),
        # Every field read counts towards MAX_FIELDS, counted or not (here: unknown fields).
        ("MAX_FIELDS", repeated_field(9, 11)),
    ],
    ids=["meta_graphs", "signatures", "functions", "graph_nodes", "function_nodes", "objects",
         "signature_tensors", "fields"],
)
def test_each_limit_refuses_before_parsing(tmp_path, monkeypatch, limit, pb, walker):
    monkeypatch.setattr(census, limit, 10)
    (tmp_path / "saved_model.pb").write_bytes(pb)
    with pytest.raises(LimitExceededError, match=f"more than 10 .*census.{limit}") as info:
        savedmodel_io.load(tmp_path)
    assert info.value.path == str(tmp_path / "saved_model.pb")
    monkeypatch.setattr(census, limit, 11)  # at the limit: accepted
    savedmodel_io.load(tmp_path)


def test_the_same_limits_apply_to_text_and_read_signatures(tmp_path, monkeypatch):
    monkeypatch.setattr(census, "MAX_META_GRAPHS", 10)
    (tmp_path / "saved_model.pbtxt").write_text("meta_graphs {}\n" * 11)
    with pytest.raises(LimitExceededError, match="MAX_META_GRAPHS"):
        savedmodel_io.load(tmp_path)
    (tmp_path / "saved_model.pbtxt").unlink()
    monkeypatch.setattr(census, "MAX_SIGNATURES", 10)
    (tmp_path / "saved_model.pb").write_bytes(many_signatures(11))
    with pytest.raises(LimitExceededError, match="MAX_SIGNATURES"):
        savedmodel_io.read_signatures(tmp_path)


def test_a_group_does_not_hide_what_follows(monkeypatch, walker):
    """Fields after a (deprecated) group are still counted."""
    monkeypatch.setattr(census, "MAX_META_GRAPHS", 10)
    group = varint(5 << 3 | 3) + repeated_field(2, 100) + varint(5 << 3 | 4)
    with pytest.raises(LimitExceededError):
        census.check_wire(group + many_meta_graphs(11))
    census.check_wire(group + many_meta_graphs(10))


@pytest.mark.parametrize(
    "pb",
    [
        many_meta_graphs(3)[:-1] + b"\x12\x05",  # length past the end
        b"\x12\x00\x07",  # wire type 7
        b"\x02\x00",  # field number 0
        varint(5 << 3 | 3) + b"\x12\x00",  # group never closed
        b"\x12\x80",  # truncated varint
    ],
    ids=["past_end", "wire_type_7", "field_0", "open_group", "truncated_varint"],
)
def test_broken_wire_format_is_left_to_the_parser(tmp_path, pb, walker):
    census.check_wire(pb)  # stops counting quietly
    (tmp_path / "saved_model.pb").write_bytes(pb)
    with pytest.raises(CorruptFileError, match="not a valid tensorflow.SavedModel"):
        savedmodel_io.load(tmp_path)


def test_text_round_trip_of_a_counted_model(fixture_model, tmp_path):
    """A real model passes both counts unchanged (binary and text)."""
    d = fixture_model("module_two_meta_graphs")
    m = savedmodel_io.load(d)
    (tmp_path / "saved_model.pbtxt").write_text(to_text(m.proto))
    assert savedmodel_io.load(tmp_path).tag_sets == m.tag_sets


def _outcome(data: bytes) -> object:
    try:
        return census.check_wire(data)
    except LimitExceededError as exc:
        return str(exc)


@settings(max_examples=300, deadline=None, derandomize=True, database=None,
          suppress_health_check=list(HealthCheck))
@given(data=mutants([seeds.saved_model_pb(), many_signatures(12), many_nodes(30),
                     repeated_field(2, 3, varint(5 << 3 | 3) + varint(5 << 3 | 4))]))
def test_the_c_walk_is_the_python_walk(data):
    """Same counts, same refusals, on mutated models (limits small enough to be reached)."""
    if census._compiled is None:
        pytest.skip("the C accelerator is not built")
    compiled = census._compiled
    limits = {name: getattr(census, name) for name in census._LIMITS.values()}
    try:
        for name in limits:
            setattr(census, name, 25)
        c = _outcome(data)
        census._compiled = None
        assert _outcome(data) == c
    finally:
        census._compiled = compiled
        for name, value in limits.items():
            setattr(census, name, value)
