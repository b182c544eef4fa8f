"""Fuzz saved_model.pb / saved_model.pbtxt parsing and TensorProto decoding."""

from __future__ import annotations

import pytest

from savedmodel_io.proto import SavedModel, parse_message

from . import seeds
from .harness import fuzz
from .targets import TARGETS, available


def _tensor_seeds(seed_files) -> list[bytes]:
    out = [t.SerializeToString() for t in seeds.tensors()]
    for data in seed_files("saved_model.pb"):
        sm = parse_message(SavedModel, data)
        for mg in sm.meta_graphs:
            nodes = list(mg.graph_def.node)
            for fn in mg.graph_def.library.function:
                nodes.extend(fn.node_def)
            for n in nodes:
                if "value" in n.attr and n.attr["value"].HasField("tensor"):
                    out.append(n.attr["value"].tensor.SerializeToString())
    return out[:40]


def test_fuzz_saved_model_pb(fuzz_mode, seed_files):
    corpus = [seeds.saved_model_pb(), *seed_files("saved_model.pb")]
    fuzz("saved_model_pb", TARGETS["saved_model_pb"], corpus, fuzz_mode)


def test_fuzz_saved_model_pbtxt(fuzz_mode):
    fuzz("saved_model_pbtxt", TARGETS["saved_model_pbtxt"], [seeds.saved_model_pbtxt()], fuzz_mode)


def test_fuzz_tensor_proto(fuzz_mode, seed_files):
    fuzz("tensor_proto", TARGETS["tensor_proto"], _tensor_seeds(seed_files), fuzz_mode)


# The reader on top: the object model, the signature fast path, `show` and `scan`.


def _model_seeds(seed_files) -> list[bytes]:
    return [seeds.saved_model_pb(), *seed_files("saved_model.pb")]


@pytest.mark.parametrize("name", ["load_pb", "read_signatures", "cli_show", "scan"])
def test_fuzz_reader(name, fuzz_mode, seed_files):
    why = available(name)
    if why:
        pytest.skip(why)
    fuzz(name, TARGETS[name], _model_seeds(seed_files), fuzz_mode)


def test_fuzz_load_pbtxt(fuzz_mode):
    fuzz("load_pbtxt", TARGETS["load_pbtxt"], [seeds.saved_model_pbtxt()], fuzz_mode)


def test_fuzz_fingerprint(fuzz_mode, seed_files, cpb_data):
    _skip_unless("fingerprint")
    from savedmodel_io.proto import FingerprintDef

    corpus = [
        FingerprintDef(saved_model_checksum=1 << 63, graph_def_program_hash=5,
                       signature_def_hash=7, saved_object_graph_hash=9, checkpoint_hash=11,
                       uuid="0123-abcd").SerializeToString(),
        *seed_files("fingerprint.pb"),
        *[p.read_bytes() for p in cpb_data.rglob("fingerprint.pb")],
    ]
    corpus[0] += b"\x32\x04\x08\x02\x10\x01"  # version { producer: 2 min_consumer: 1 }
    fuzz("fingerprint", TARGETS["fingerprint"], corpus, fuzz_mode)


def test_fuzz_fingerprint_model(fuzz_mode, seed_files):
    _skip_unless("fingerprint_model")
    fuzz("fingerprint_model", TARGETS["fingerprint_model"], _model_seeds(seed_files), fuzz_mode)


def _skip_unless(name: str) -> None:
    why = available(name)
    if why:
        pytest.skip(why)
