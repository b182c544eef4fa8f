"""savedmodel_io's writer under injected failures, and never writing outside its target."""

from __future__ import annotations

import os

import numpy as np
import pytest

from faults import FaultInjector, swap  # noqa: F401 (fixture)
from test_atomic import check_every_step

writer = pytest.importorskip("savedmodel_io.writer")
from savedmodel_io.errors import InvalidArgumentError  # noqa: E402


def _model(scale: float = 2.0):
    model = writer.Model()
    v = model.variable("v", np.full(3, scale, np.float32))
    model.asset("vocab.txt", b"a\nb\n")
    f = model.function("f", {"x": ("float32", (3,))})
    f.outputs(f.inputs["x"] * f.read(v))
    return model


def _save(target, *, model, overwrite, **kw):
    writer.save(target, model, overwrite=overwrite, **kw)


def _complete(got, want) -> bool:
    """Same files, same checkpoint (fingerprint.pb and saved_model.pb carry fresh ids)."""
    if got is None or sorted(got) != sorted(want):
        return False
    return all(got[k] == want[k] for k in got if k.startswith(("variables/", "assets")))


def test_save_fails_cleanly_at_every_step(tmp_path):
    root = tmp_path / "out"
    root.mkdir()
    steps = check_every_step(root, _save, root / "m", model=_model(), overwrite=False,
                             complete=_complete, assets_extra={"notes/readme.txt": b"hi"})
    assert len(steps) > 10  # pb, variables (index + data), assets, fingerprint, renames...


def test_failed_overwrite_keeps_the_previous_model_at_every_step(tmp_path, swap):
    root = tmp_path / "out"
    root.mkdir()
    writer.save(root / "m", _model(1.0))
    check_every_step(root, _save, root / "m", model=_model(5.0), overwrite=True,
                     complete=_complete)


def test_save_touches_nothing_outside_its_target(tmp_path):
    root = tmp_path / "out"
    root.mkdir()
    (root / "neighbour").write_text("keep")
    with FaultInjector(tmp_path) as seen:
        writer.save(root / "m", _model(), assets_extra={"x/y.txt": b"1"})
    target = os.path.realpath(root / "m")
    parent = os.path.realpath(root)
    for p in seen.paths:
        inside = p == target or p.startswith(target + os.sep)
        temp = p.startswith(os.path.join(parent, ".m.savedmodel-io-"))  # its temporary sibling
        assert inside or temp or p == parent, f"save touched {p}"  # parent: fsync only
    assert sorted(p.name for p in root.iterdir()) == ["m", "neighbour"]
    assert (root / "neighbour").read_text() == "keep"


@pytest.mark.parametrize("name", ["../escape.txt", "/tmp/abs.txt", "a/../../b.txt"])
def test_assets_extra_names_outside_are_refused(tmp_path, name):
    with pytest.raises(InvalidArgumentError):
        writer.save(tmp_path / "m", _model(), assets_extra={name: b"x"})
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("name", ["../x.txt", "a/b.txt", "..", "", "/abs.txt"])
def test_asset_file_names_must_be_plain(name):
    with pytest.raises(InvalidArgumentError):
        writer.Model().asset(name, b"x")
