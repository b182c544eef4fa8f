"""Recorded fixtures (tests/conftest.py): a fixture committed under the current builder stamp is
used without TensorFlow; a stale or missing one is built, and recorded when small enough."""

from __future__ import annotations

import os

import conftest
import pytest
from _oracles import env

# A stand-in for tests/fixtures/make.py: "builds" each named fixture as one file of the size its
# name ends with, and logs which names it was asked for.
FAKE_MAKE = '''
import sys
from pathlib import Path
args = sys.argv[1:]
out = Path(args[args.index("--out") + 1])
names = args[args.index("--out") + 2:]
with open(out / "make.log", "a") as log:
    log.write(" ".join(names) + "\\n")
for name in names:
    (out / name).mkdir(exist_ok=True)
    (out / name / "saved_model.pb").write_bytes(b"x" * int(name.rsplit("_", 1)[1]))
'''


@pytest.fixture
def area(tmp_path, monkeypatch):
    """A private fixture area (two small fixtures, one over the cap), cache and record."""
    fixtures = tmp_path / "fixtures"
    fixtures.mkdir()
    (fixtures / "make.py").write_text(FAKE_MAKE)
    (fixtures / "registry.py").write_text("")
    (fixtures / "models_t.py").write_text(
        '@model("t_10")\ndef a(out): ...\n@model("t_20")\ndef b(out): ...\n'
        '@model("t_5000")\ndef c(out): ...\n')
    monkeypatch.setattr(conftest, "FIXTURES", fixtures)
    monkeypatch.setattr(conftest, "CACHE", tmp_path / "cache")
    monkeypatch.setattr(conftest, "RECORDED", tmp_path / "recorded")
    monkeypatch.setattr(conftest, "RECORD_CAP", 1000)
    monkeypatch.setattr(conftest, "_checked", set())
    monkeypatch.setattr(conftest, "no_tf_reason", lambda what: None)
    return tmp_path


def _made(root) -> list[str]:
    log = root / "cache" / "make.log"
    return log.read_text().splitlines() if log.exists() else []


def test_tensorflow_builds_the_area_once_and_small_fixtures_are_recorded(area):
    path = conftest.build_fixture("t_10")
    assert (path / "saved_model.pb").read_bytes() == b"x" * 10
    assert _made(area) == ["t_10 t_20 t_5000"]  # the whole stale area, in one process
    stamp = conftest._builder_stamp(area / "fixtures" / "models_t.py")
    for name in ("t_10", "t_20"):
        assert (area / "recorded" / f"{name}.stamp").read_text() == stamp
        assert (area / "recorded" / name / "saved_model.pb").is_file()
    assert not (area / "recorded" / "t_5000").exists()  # over the cap: built on the fly


def test_a_recorded_fixture_is_used_without_tensorflow(area, monkeypatch):
    conftest.build_fixture("t_10")
    (area / "recorded" / "t_20" / "saved_model.pb").write_bytes(b"recorded")
    (area / "cache").rename(area / "clean-clone-cache")
    monkeypatch.setattr(conftest, "_checked", set())
    monkeypatch.setattr(conftest, "no_tf_reason", lambda what: pytest.fail(f"TF asked: {what}"))
    path = conftest.build_fixture("t_20")
    assert (path / "saved_model.pb").read_bytes() == b"recorded"
    assert path.parent == area / "cache"  # a copy: a test writing into it spares the record
    # The cache's stamp keeps the record's time: the summary does not count it as built.
    assert (os.stat(area / "cache" / "t_20.stamp").st_mtime
            == os.stat(area / "recorded" / "t_20.stamp").st_mtime)


def test_only_the_asked_fixture_is_built_when_the_record_is_current(area, monkeypatch):
    conftest.build_fixture("t_10")
    (area / "cache").rename(area / "clean-clone-cache")
    monkeypatch.setattr(conftest, "_checked", set())
    conftest.build_fixture("t_20")
    assert _made(area) == []  # the big one, t_5000, is not built for a test that does not ask
    conftest.build_fixture("t_5000")
    assert _made(area) == ["t_5000"]


def test_a_stale_record_is_rebuilt_and_recorded_again(area, monkeypatch):
    conftest.build_fixture("t_10")
    old = (area / "recorded" / "t_10.stamp").read_text()
    (area / "fixtures" / "models_t.py").write_text(
        (area / "fixtures" / "models_t.py").read_text() + "# builder code changed\n")
    monkeypatch.setattr(conftest, "_checked", set())
    conftest.build_fixture("t_10")
    assert _made(area)[-1] == "t_10 t_20 t_5000"
    new = (area / "recorded" / "t_10.stamp").read_text()
    assert new != old and new == conftest._builder_stamp(area / "fixtures" / "models_t.py")


def test_a_warm_cache_fills_the_record(area, monkeypatch):
    conftest.build_fixture("t_20")
    for p in (area / "recorded").iterdir():
        (p / "saved_model.pb").unlink() if p.is_dir() else p.unlink()
    monkeypatch.setattr(conftest, "_checked", set())
    conftest.build_fixture("t_20")
    assert len(_made(area)) == 1
    assert conftest._recorded("t_20", conftest._builder_stamp(area / "fixtures" / "models_t.py"))


def test_without_tensorflow_an_unrecorded_fixture_skips_or_fails(area, monkeypatch):
    monkeypatch.setattr(conftest, "no_tf_reason", env.no_tf_reason)
    monkeypatch.setenv(env.NO_TF, "1")
    with pytest.raises((pytest.skip.Exception, pytest.fail.Exception), match="t_10"):
        conftest.build_fixture("t_10")
    assert _made(area) == []
