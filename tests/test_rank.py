"""Tensors of a rank numpy cannot hold (TensorFlow allows 254, numpy 64): one library error.

Each place that turns a stored tensor into an array is tried: a BoundedTensorSpec bound, a
signature default, a graph constant when running, and a checkpoint entry read through the
reader, ``load(...).variables``, ``savedmodel-io variables`` and ``savedmodel-io export``.
"""

from __future__ import annotations

import contextlib
import io

import numpy as np
import pytest

import savedmodel_io
from savedmodel_io import tensors
from savedmodel_io.cli.main import main
from savedmodel_io.errors import UnsupportedFormatError
from savedmodel_io.formats.bundle import CheckpointReader
from savedmodel_io.hashing.crc32c import extend, mask
from savedmodel_io.proto import (
    BundleEntryProto,
    BundleHeaderProto,
    SavedModel,
    StructuredValue,
    TensorProto,
)
from savedmodel_io.specs import decode_structure

LIMIT = tensors._numpy_max_rank()
TOO_MANY = LIMIT + 1


def _tensor(rank: int) -> TensorProto:
    tp = TensorProto(dtype=1)
    for _ in range(rank):
        tp.tensor_shape.dim.add().size = 1
    tp.float_val.append(2.5)
    return tp


def test_to_array_refuses_a_rank_numpy_cannot_hold():
    assert tensors.to_array(_tensor(LIMIT)).ndim == LIMIT
    with pytest.raises(UnsupportedFormatError, match=f"rank {TOO_MANY}: numpy arrays have at most "
                       f"{LIMIT}") as info:
        tensors.to_array(_tensor(TOO_MANY), path="m", where="node c")
    assert info.value.path == "m" and info.value.where == "node c"


def test_bounded_tensor_spec_bound():
    v = StructuredValue()
    spec = v.bounded_tensor_spec_value
    spec.name = "x"
    spec.dtype = 1
    spec.minimum.CopyFrom(_tensor(TOO_MANY))
    spec.maximum.CopyFrom(_tensor(1))
    with pytest.raises(UnsupportedFormatError, match="numpy arrays have at most"):
        decode_structure(v, path="model")


@pytest.fixture
def model_dir(tmp_path):
    """A graph whose Const and whose signature default both have rank LIMIT + 1."""
    sm = SavedModel()
    mg = sm.meta_graphs.add()
    mg.meta_info_def.tags.append("serve")
    x = mg.graph_def.node.add(name="x", op="Placeholder")
    x.attr["dtype"].type = 1
    c = mg.graph_def.node.add(name="c", op="Const")
    c.attr["dtype"].type = 1
    c.attr["value"].tensor.CopyFrom(_tensor(TOO_MANY))
    for key, out in (("const", "c:0"), ("default", "x:0")):
        sig = mg.signature_def[key]
        sig.inputs["x"].name = "x:0"
        sig.inputs["x"].dtype = 1
        sig.outputs["y"].name = out
        sig.outputs["y"].dtype = 1
    mg.signature_def["default"].defaults["x"].CopyFrom(_tensor(TOO_MANY))
    (tmp_path / "saved_model.pb").write_bytes(sm.SerializeToString())
    return tmp_path


def test_signature_default(model_dir):
    sig = savedmodel_io.load(model_dir).meta_graphs[0].signatures["default"]
    with pytest.raises(UnsupportedFormatError, match="numpy arrays have at most") as info:
        sig.defaults
    assert "default" in str(info.value.where)


def test_graph_constant_when_running(model_dir):
    sig = savedmodel_io.load(model_dir).meta_graphs[0].signatures["const"]
    with pytest.raises(UnsupportedFormatError, match="numpy arrays have at most"):
        sig(x=np.zeros(1, np.float32))


@pytest.fixture
def checkpoint_model(tmp_path):
    """A SavedModel whose variables hold one float tensor of rank LIMIT + 1 (4 bytes)."""
    from savedmodel_io.formats.sstable import build_table

    d = tmp_path / "variables"
    d.mkdir()
    data = np.float32(1.5).tobytes()
    header = BundleHeaderProto(num_shards=1)
    entry = BundleEntryProto(dtype=1, offset=0, size=4, crc32c=mask(extend(0, data)))
    for _ in range(TOO_MANY):
        entry.shape.dim.add().size = 1
    (d / "variables.index").write_bytes(build_table(
        [(b"", header.SerializeToString()), (b"w", entry.SerializeToString())]))
    (d / "variables.data-00000-of-00001").write_bytes(data)
    sm = SavedModel()
    sm.meta_graphs.add().meta_info_def.tags.append("serve")
    (tmp_path / "saved_model.pb").write_bytes(sm.SerializeToString())
    return tmp_path


def test_checkpoint_entry_through_the_reader_and_load(checkpoint_model):
    with CheckpointReader(checkpoint_model / "variables" / "variables") as r:
        assert len(r.entry("w").shape) == TOO_MANY  # listing works: only reading cannot
        with pytest.raises(UnsupportedFormatError, match="numpy arrays have at most") as info:
            r.read("w")
    assert info.value.where == "key 'w'"
    with pytest.raises(UnsupportedFormatError, match="numpy arrays have at most"):
        savedmodel_io.load(checkpoint_model).variables["w"]


@pytest.mark.parametrize(
    "argv",
    [["variables", "--name", "w"], ["variables", "--npz", "{out}"], ["export", "--npz", "{out}"]],
    ids=["variables", "variables-npz", "export-npz"],
)
def test_checkpoint_entry_through_the_cli(checkpoint_model, tmp_path, argv):
    argv = [a.format(out=tmp_path / "out.npz") for a in argv]
    err = io.StringIO()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
        code = main([argv[0], "--dir", str(checkpoint_model), *argv[1:]])
    assert code == 1
    assert "numpy arrays have at most" in err.getvalue() and "Traceback" not in err.getvalue()
