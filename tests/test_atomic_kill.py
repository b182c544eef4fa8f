"""Kill the writer at every filesystem operation: the target never loses its model.

A forked child runs ``save`` or an in-place ``replace_weights`` and SIGKILLs itself at
its k-th filesystem operation (faults.FaultInjector: open, mkdir, rename, the atomic
exchange, fsync, unlink, rmtree and its steps...), for every k. Then the target must
hold the complete previous model or the complete new one. With the two-rename
fallback (filesystems without an atomic exchange) it may be missing between the two
renames: then ``load`` says where the previous model is (deleting nothing) and the
next save puts it back. After that next save no temporary sibling is left.

By default a sweep kills at every step that changes the tree (creating, renaming, exchanging,
removing: where a save commits or cleans up) and at one in four of the others (opening,
fsync); ``-m slow`` runs the same sweeps at every step.
"""

from __future__ import annotations

import os
import shutil
import signal
from pathlib import Path

import numpy as np
import pytest

from faults import FaultInjector, swap  # noqa: F401 (fixture)
from savedmodel_io import _swap, load, writer
from savedmodel_io.errors import ModelExistsError, NotFoundError
from savedmodel_io.fingerprint import verify_fingerprint
from savedmodel_io.replace import replace_weights

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")


def _model(scale: float, n: int = 3, assets: int = 1) -> writer.Model:
    model = writer.Model()
    v = model.variable("v", np.full(n, scale, np.float32))
    for i in range(assets):
        model.asset(f"vocab{i}.txt", f"a\n{scale}\n".encode())
    f = model.function("f", {"x": ("float32", (n,))})
    f.outputs(f.inputs["x"] * f.read(v))
    return model


# faults.FaultInjector's operations that change the tree under its root.
_TREE_OPS = {"mkdir", "makedirs", "replace", "rename", "exchange", "unlink", "rmdir", "rmtree",
             "link", "symlink", "copy", "copy2", "copyfile"}


@pytest.fixture(params=["sample", pytest.param("every step", marks=pytest.mark.slow)])
def every(request) -> bool:
    """Kill at every step (-m slow), or at the sample (every tree change, 1 in 4 of the rest)."""
    return request.param == "every step"


def _chosen(steps: list[str], every: bool) -> list[int]:
    """The (1-based) steps a sweep kills at."""
    def changes_tree(step: str) -> bool:
        return step.split("(", 1)[0].rsplit(".", 1)[-1] in _TREE_OPS

    return [k for k, step in enumerate(steps, 1)
            if every or changes_tree(step) or k % 4 == 1 or k == len(steps)]


def _which(path: Path, values: dict[str, float]) -> str | None:
    """Which complete model is at ``path`` ("old", "new", ...), None if nothing is there."""
    if not os.path.lexists(path):
        return None
    got = float(load(path).variables["v"][0])
    assert verify_fingerprint(path).ok, f"{path}: files of different saves mixed"
    names = sorted(p.name for p in path.iterdir())
    assert names in (["assets", "fingerprint.pb", pb, "variables"]
                     for pb in ("saved_model.cpb", "saved_model.pb")), names
    names = [k for k, v in values.items() if v == got]
    assert names, f"{path} holds v={got}, from no save of this test"
    return names[0]


# A forked child of a test worker that other tests left threads in (onnxruntime's, TensorFlow's)
# can deadlock on a lock one of them held at the fork (seen once under heavy load): such a child
# is killed after this long and the step run again in a new one, rather than hanging the suite.
_CHILD_SECONDS = 120


def _killed_at(root: Path, k: int, write, tries: int = 2) -> bool:
    """Run ``write()`` in a forked child that SIGKILLs itself at its k-th step; True if it did."""
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        code = 3
        try:
            with FaultInjector(root, fail_at=k, kill=True):
                write()
            code = 0
        finally:
            os._exit(code)
    status = _wait(pid, _CHILD_SECONDS)
    if status is None:
        assert tries > 1, f"step {k}: the forked writer hung twice"
        return _killed_at(root, k, write, tries - 1)
    if os.WIFSIGNALED(status):
        assert os.WTERMSIG(status) == signal.SIGKILL
        return True
    assert os.WEXITSTATUS(status) == 0, f"step {k}: the write failed instead of being killed"
    return False


def _wait(pid: int, seconds: float) -> int | None:
    """The child's wait status, or None (the child killed) when it has not ended in ``seconds``."""
    import time

    end = time.monotonic() + seconds
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return status
        if time.monotonic() > end:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            return None
        time.sleep(0.005)


def _sweep(tmp_path: Path, swap: str, write, *, old: float | None, new: float, every: bool,
           n: int = 3, assets: int = 1) -> int:
    """Kill ``write`` at each of its steps (or the sample); check the target after each kill
    and after the next save. Returns the number of steps."""
    root = tmp_path / "out"
    root.mkdir()
    target = root / "m"
    pristine = tmp_path / "pristine"
    if old is not None:
        writer.save(pristine, _model(old, n, assets))
    values = {"old": old, "new": new, "next": -1.0}

    def reset() -> None:
        shutil.rmtree(target, ignore_errors=True)
        if old is not None:
            shutil.copytree(pristine, target, symlinks=True)

    reset()
    with FaultInjector(root) as dry:
        write(target)
    assert _which(target, values) == "new"
    steps = dry.steps
    for k in _chosen(steps, every):
        reset()
        assert _killed_at(root, k, lambda: write(target)), f"step {k} ({steps[k - 1]}) not reached"
        seen = _which(target, values)
        where = f"killed at step {k} ({steps[k - 1]}), swap={swap}"
        siblings = sorted(p.name for p in root.iterdir() if p.name != "m")
        if seen is None:
            assert old is None or swap == "two renames", f"{where}: the model is gone"
            if old is not None:
                with pytest.raises(NotFoundError, match="interrupted; the previous model is in"):
                    load(target)
                assert sorted(p.name for p in root.iterdir()) == siblings, "load deleted files"
        # The next save cleans up (and puts a model that was moved aside back first).
        if seen is None and old is None:
            writer.save(target, _model(-1.0))
            assert _which(target, values) == "next"
        else:
            with pytest.raises(ModelExistsError):
                writer.save(target, _model(-1.0))
            after = _which(target, values)
            assert after == (seen or "old"), f"{where}: {seen} became {after}"
        left = sorted(p.name for p in root.iterdir())
        assert left == ["m"], f"{where}: the next save left {left}"
    return len(steps)


def test_save_new_model_killed_at_every_step(tmp_path, every):
    n = _sweep(tmp_path, "none needed", lambda t: writer.save(t, _model(2.0)), old=None, new=2.0,
               every=every)
    assert n > 20


def test_overwrite_killed_at_every_step(tmp_path, swap, every):
    n = _sweep(tmp_path, swap, lambda t: writer.save(t, _model(2.0), overwrite=True),
               old=1.0, new=2.0, every=every)
    assert n > 20


def test_replace_weights_in_place_killed_at_every_step(tmp_path, swap, every):
    def write(t):
        replace_weights(t, t, {"v": np.full(3, 2.0, np.float32)}, overwrite=True)

    assert _sweep(tmp_path, swap, write, old=1.0, new=2.0, every=every) > 20


@pytest.mark.slow
@pytest.mark.parametrize("image_format", [False, True])
def test_bigger_overwrite_killed_at_every_step(tmp_path, swap, image_format):
    """More files (assets, a .cpb), every step."""
    n = _sweep(tmp_path, swap, lambda t: writer.save(t, _model(2.0, 3000, 5), overwrite=True,
                                                      image_format=image_format),
               old=1.0, new=2.0, every=True, n=3000, assets=5)
    assert n > 40


@pytest.mark.slow
def test_hard_linked_replace_killed_at_every_step(tmp_path, swap):
    def write(t):
        replace_weights(t, t, {"v": np.full(3000, 2.0, np.float32)}, overwrite=True, link=True)

    assert _sweep(tmp_path, swap, write, old=1.0, new=2.0, every=True, n=3000,
                  assets=5) > 40


def test_in_place_replace_killed_between_renames_recovers_its_source(tmp_path, monkeypatch):
    """The next replace_weights of the path finds its source again (it was the missing path)."""
    monkeypatch.setattr(_swap, "_call", None)  # the two-rename fallback
    root = tmp_path / "out"
    target = writer.save(root / "m", _model(1.0))

    def write(value):
        replace_weights(target, target, {"v": np.full(3, value, np.float32)}, overwrite=True)

    with FaultInjector(root) as dry:
        write(2.0)
    between = next(k for k, s in enumerate(dry.steps, 1) if s.endswith("rename(new, m)"))
    assert _killed_at(root, between, lambda: write(3.0))
    assert not target.exists()
    write(4.0)
    assert _which(target, {"four": 4.0}) == "four"
    assert sorted(p.name for p in root.iterdir()) == ["m"]
