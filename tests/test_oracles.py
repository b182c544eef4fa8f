"""The test plumbing: recorded oracle answers, keyed by content, and subprocesses that import this
checkout (tests/_oracles, tests/conftest.py)."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
from _oracles import codec, env, recorded
from conftest import ROOT

from savedmodel_io.fingerprint import write_fingerprint


@pytest.fixture
def echo(tmp_path, monkeypatch):
    """The echo oracle, recording into private answers and cache (it starts no TensorFlow, so
    it may run under SAVEDMODEL_IO_TESTS_NO_TF=1)."""
    monkeypatch.setattr(env, "CACHE", tmp_path / "cache")
    monkeypatch.setattr(recorded, "ANSWERS", tmp_path / "answers")
    monkeypatch.delenv(env.NO_TF, raising=False)
    return recorded.Oracle("echo")


def _model(path, data: bytes = b"graph"):
    path.mkdir(parents=True)
    (path / "saved_model.pb").write_bytes(data)
    return path


def test_answers_are_recorded_and_read_back_without_a_subprocess(echo, tmp_path, monkeypatch):
    d = _model(tmp_path / "m")
    requests = [{"dir": str(d), "n": 1}, {"dir": str(d), "n": 2}]
    first = echo.answers(requests)
    assert [a["request"]["n"] for a in first] == [1, 2]
    assert first[0]["pid"] == first[1]["pid"] != os.getpid()  # one subprocess for the batch
    assert first[0]["files"] == ["saved_model.pb"]
    monkeypatch.setenv(env.NO_TF, "1")  # from now on, any subprocess would fail the test
    assert echo.answers(requests) == first


def test_answers_go_to_the_committed_answers_and_cached_ones_join_them(echo, tmp_path,
                                                                      monkeypatch):
    (first,) = echo.answers([{"n": 1}])
    recorded_file = recorded.ANSWERS / "echo" / f"{echo.key({'n': 1})}.json"
    assert recorded_file.is_file()
    assert not (env.CACHE / "oracle").exists()
    cached = env.CACHE / "oracle" / "echo" / recorded_file.name  # recorded before committing
    cached.parent.mkdir(parents=True)
    recorded_file.rename(cached)
    monkeypatch.setenv(env.NO_TF, "1")
    assert echo.answers([{"n": 1}]) == [first]
    assert recorded_file.read_text() == cached.read_text()


def test_paths_are_keyed_by_content_and_given_back_as_asked(echo, tmp_path, monkeypatch):
    a = _model(tmp_path / "a")
    (answer,) = echo.answers([{"dir": str(a), "argv": ["--dir", str(a)]}])
    assert answer["request"] == {"dir": str(a), "argv": ["--dir", str(a)]}
    b = _model(tmp_path / "elsewhere" / "b")  # same content, another place
    monkeypatch.setenv(env.NO_TF, "1")
    (again,) = echo.answers([{"dir": str(b), "argv": ["--dir", str(b)]}])
    assert again["request"] == {"dir": str(b), "argv": ["--dir", str(b)]}
    assert again["pid"] == answer["pid"]
    assert echo.key({"dir": str(b)}) == echo.key({"dir": str(a)})
    (b / "saved_model.pb").write_bytes(b"other graph")
    assert echo.key({"dir": str(b)}) != echo.key({"dir": str(a)})
    with pytest.raises(pytest.fail.Exception, match=f"{env.NO_TF}=1 but 1 answer"):
        echo.answers([{"dir": str(b)}])


def test_a_fingerprint_uuid_does_not_change_the_key(echo, tmp_path):
    from savedmodel_io.fingerprint import Fingerprint

    d = _model(tmp_path / "m")
    write_fingerprint(d, Fingerprint(1, 2, 3, 4, 5, 1, uuid="123"))
    key = echo.key({"dir": str(d)})
    write_fingerprint(d, Fingerprint(1, 2, 3, 4, 5, 1, uuid="456"))
    assert echo.key({"dir": str(d)}) == key
    write_fingerprint(d, Fingerprint(9, 2, 3, 4, 5, 1, uuid="456"))
    assert echo.key({"dir": str(d)}) != key


def test_the_oracles_code_is_part_of_the_key(tmp_path, monkeypatch):
    source = tmp_path / "helper.py"
    source.write_text("x = 1\n")
    before = recorded.Oracle("echo", paths=(), code=[source]).key({"n": 1})
    source.write_text("x = 2\n")
    two = recorded.Oracle("echo", paths=(), code=[source])
    assert two.key({"n": 1}) != before
    monkeypatch.setattr(env, "tf_version", lambda: "tensorflow 0.0")
    assert recorded.Oracle("echo", paths=(), code=[source]).key({"n": 1}) != two.key({"n": 1})


@pytest.mark.parametrize("value, want", [
    (b"ab\x00\x00", b"ab\x00\x00"), (b"\x00", b"\x00"), (b"", b""), ("h\u00e9\x00", "h\u00e9\x00".encode()),
])
def test_string_scalars_keep_every_byte(value, want):
    """TensorFlow gives a scalar string as ``bytes``: its trailing NULs survive the round trip."""
    got = codec.decode(codec.encode(value))
    assert got.shape == () and got.dtype == object and got[()] == want


def test_arrays_round_trip_with_dtype_and_shape():
    for a in [np.arange(6, dtype=np.int16).reshape(2, 3), np.array(1.5, np.float32),
              np.array([b"x\x00y", b""], dtype=object), np.zeros((0, 2), np.float64)]:
        got = codec.decode(codec.encode(a))
        assert got.dtype == a.dtype and got.shape == a.shape and (got == a).all()


def test_subprocesses_import_this_checkout():
    """conftest puts this checkout's src first on PYTHONPATH, for every process a test starts."""
    code = "import savedmodel_io; print(savedmodel_io.__file__)"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert proc.stdout.strip() == str(ROOT / "src" / "savedmodel_io" / "__init__.py")
