"""savedmodel_io.verify / ``savedmodel-io verify``: every stored hash of a model, in one pass."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

import savedmodel_io
from savedmodel_io.cli.main import main
from savedmodel_io.fingerprint import read_fingerprint, verify_fingerprint
from savedmodel_io.formats import saved_model_file
from savedmodel_io.formats.cpb import write_saved_model_file
from savedmodel_io.formats.riegeli import RecordReader
from savedmodel_io.writer import Model, save


@pytest.fixture(scope="module")
def clean(tmp_path_factory):
    m = Model()
    w = m.variable("dense/kernel", np.arange(12, dtype=np.float32).reshape(3, 4))
    b = m.variable("dense/bias", np.ones(4, np.float32))
    vocab = m.asset("vocab.txt", b"a\nb\n")
    f = m.function("__call__", {"x": ("float32", (None, 3))})
    f.outputs({"y": f.dense(f.inputs["x"], w, b), "v": f.value(vocab)})
    m.signature("serving_default", f)
    return save(tmp_path_factory.mktemp("integrity") / "m", m)


@pytest.fixture
def model(clean, tmp_path):
    return shutil.copytree(clean, tmp_path / "m")


def _cli(capsys, path, *flags):
    code = main(["verify", "--dir", str(path), *flags])
    out, err = capsys.readouterr()
    return code, out, err


def test_a_clean_model(model, capsys):
    report = savedmodel_io.verify(model)
    assert report.ok and not report.problems
    assert {f.check for f in report.findings} == {"saved_model", "fingerprint", "checkpoint", "assets"}
    code, out, _ = _cli(capsys, model)
    assert code == 0 and out.rstrip().endswith(": ok")
    code, out, _ = _cli(capsys, model, "--json")
    assert code == 0 and json.loads(out)["ok"] is True


def _flip(path, offset):
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x01
    path.write_bytes(bytes(data))


def test_flipped_byte_in_a_data_shard(model, capsys):
    """fingerprint.pb does not cover the shards: `fingerprint --verify` passes, verify does not."""
    shard = model / "variables" / "variables.data-00000-of-00001"
    key = savedmodel_io.load(model).variables.checkpoint_key("dense/kernel")
    entry = savedmodel_io.open_checkpoint(model).entry(key)
    _flip(shard, entry.offset + 5)
    assert verify_fingerprint(model).ok
    report = savedmodel_io.verify(model)
    (problem,) = report.problems
    assert problem.check == "checkpoint" and "checksum mismatch" in problem.message
    assert key in problem.message and problem.path == str(shard)
    code, out, _ = _cli(capsys, model)
    assert code == 1 and "FAIL  checkpoint" in out and "1 problem(s)" in out


def test_missing_asset(model, capsys):
    (model / "assets" / "vocab.txt").unlink()
    (problem,) = savedmodel_io.verify(model).problems
    assert problem.check == "assets" and "missing" in problem.message
    assert problem.path.endswith("vocab.txt")
    assert _cli(capsys, model)[0] == 1


def test_bad_fingerprint(model):
    fp = read_fingerprint(model)
    from dataclasses import replace

    (model / "fingerprint.pb").write_bytes(replace(fp, saved_model_checksum=fp.saved_model_checksum ^ 1).to_bytes())
    (problem,) = savedmodel_io.verify(model).problems
    assert problem.check == "fingerprint" and "saved_model_checksum" in problem.message


def test_truncated_index(model, capsys):
    index = model / "variables" / "variables.index"
    index.write_bytes(index.read_bytes()[:-20])
    report = savedmodel_io.verify(model)
    checks = {f.check for f in report.problems}
    assert "checkpoint" in checks and "fingerprint" in checks  # the index is fingerprinted too
    code, out, _ = _cli(capsys, model, "--json")
    doc = json.loads(out)
    assert code == 1 and doc["ok"] is False
    assert any(f["check"] == "checkpoint" and f["path"].endswith("variables.index")
               for f in doc["findings"] if not f["ok"])


def test_missing_index_with_variables_in_the_object_graph(model):
    (model / "variables" / "variables.index").unlink()
    problems = {f.check: f.message for f in savedmodel_io.verify(model).problems}
    assert "object graph has 2 variable(s)" in problems["checkpoint"]


def _to_cpb(model):
    proto = saved_model_file.read(model)
    target = write_saved_model_file(model, proto, image_format=True, max_size=2000,
                                    compression="none")
    assert target.name == "saved_model.cpb" and not (model / "saved_model.pb").exists()
    return target


def test_cpb_chunk_hash_mismatch(model, capsys):
    cpb = _to_cpb(model)
    clean = savedmodel_io.verify(model)
    assert not [p for p in clean.problems if p.check == "saved_model"]
    assert any("Riegeli hashes" in f.message for f in clean.findings)
    with RecordReader(cpb) as r:
        chunk = r._chunk(0)
    _flip(cpb, chunk.begin + 40 + 3)  # a byte of the first chunk's data (after its header)
    problem = next(p for p in savedmodel_io.verify(model).problems if p.check == "saved_model")
    assert "chunk data hash mismatch" in problem.message and problem.path == str(cpb)
    assert _cli(capsys, model)[0] == 1


def test_not_a_model_and_bad_usage(tmp_path, capsys):
    code, out, _ = _cli(capsys, tmp_path / "nope")
    assert code == 1 and "FAIL  saved_model" in out
    with pytest.raises(SystemExit) as exc:
        main(["verify"])
    assert exc.value.code == 2
