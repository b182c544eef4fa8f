"""Atomic writes under injected failures: fail the k-th filesystem operation, for every k.

After each failure the target must hold exactly what it held before (nothing, or the
previous model) or, when the failing step was best effort (a directory fsync, deleting
the previous model), the complete new one; no temporary file or directory may be left
beside it once the next write has run. Directory saves are checked with the atomic
exchange and with the two-rename fallback.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
from pathlib import Path

import pytest

from faults import FaultInjector, snapshot, swap  # noqa: F401 (fixture)
import savedmodel_io
from savedmodel_io import _staging, _swap
from savedmodel_io._fsutil import atomic_directory, atomic_file
from savedmodel_io.errors import ModelExistsError, NotFoundError, SavedModelError, WriteError


def _write_model(d, tag: bytes) -> None:
    (d / "variables").mkdir()
    (d / "variables" / "variables.index").write_bytes(b"index-" + tag)
    (d / "variables" / "variables.data-00000-of-00001").write_bytes(b"data-" + tag * 100)
    (d / "saved_model.pb").write_bytes(b"pb-" + tag)


def _save_dir(target, overwrite: bool) -> None:
    with atomic_directory(target, overwrite=overwrite) as tmp:
        _write_model(tmp, b"new")


def _save_file(target, overwrite: bool) -> None:
    with atomic_file(target, overwrite=overwrite) as f:
        f.write(b"file-new")


def state(target):
    """What a reader would see at ``target``: a directory's files, a file's bytes, or None."""
    if target.is_dir():
        return snapshot(target)
    return target.read_bytes() if target.exists() else None


def restore(target, old) -> None:
    if target.is_dir():
        shutil.rmtree(target)
    elif target.exists():
        target.unlink()
    if isinstance(old, dict):
        for rel, data in old.items():
            (target / rel).parent.mkdir(parents=True, exist_ok=True)
            (target / rel).write_bytes(data)
    elif old is not None:
        target.write_bytes(old)


def _leftovers(root, listing, target) -> list[str]:
    expect = set(listing) | ({target.name} if state(target) is not None else set())
    return sorted(set(p.name for p in root.iterdir()) - expect)


def check_every_step(root, save, target, *, complete=None, **kwargs) -> list[str]:
    """Fail each filesystem step of ``save(target, **kwargs)`` in turn; check atomicity.

    ``complete(state, new_state)`` says whether a save that did not raise left a complete
    new target (default: byte equality; saves with random UUIDs compare file lists).
    A failed save leaves the target as it was and no temporary sibling; a save whose
    failing step was best effort (deleting the previous model, a directory fsync) may
    leave its sibling, which the next write of the target removes.
    """
    complete = complete or (lambda got, want: got == want)
    old = state(target)
    listing = sorted(p.name for p in root.iterdir())
    with FaultInjector(root) as dry:
        save(target, **kwargs)
    new = state(target)
    steps = list(dry.steps)
    assert new != old and len(steps) >= 3, steps
    restore(target, old)
    # The switch: the last rename (or exchange) onto the target; every step up to it must
    # be able to fail the save.
    switch = max(i for i, s in enumerate(steps, 1)
                 if s.split("(")[0].endswith(("rename", "replace", "exchange"))
                 and s.endswith(f", {target.name})"))
    failed = []
    for k in range(1, len(steps) + 1):
        try:
            with FaultInjector(root, fail_at=k):
                save(target, **kwargs)
        except OSError as exc:
            assert isinstance(exc, SavedModelError), f"step {k}: raw {exc!r}"
            assert exc.errno == errno.ENOSPC, f"step {k}: {exc}"
            failed.append(k)
            assert state(target) == old, f"failing step {k} ({steps[k - 1]}) changed the target"
            left = _leftovers(root, listing, target)
            assert not left, f"failing step {k} ({steps[k - 1]}) left {left}"
        else:
            assert complete(state(target), new), (
                f"step {k} ({steps[k - 1]}) failed silently, target torn"
            )
            left = _leftovers(root, listing, target)
            assert all(".savedmodel-io-" in n for n in left), left
            _staging.recover(target)
            assert complete(state(target), new)
            left = _leftovers(root, listing, target)
            assert not left, f"after failing step {k} ({steps[k - 1]}), recovery left {left}"
        restore(target, old)
    # Before the switch only flushing a directory (best effort) or creating one that exists
    # (makedirs(exist_ok=True)) may fail without failing the save.
    for k in sorted(set(range(1, switch + 1)) - set(failed)):
        step = steps[k - 1]
        harmless = step.startswith("os.fsync(") or (
            step.startswith("os.open(") and steps[k].startswith("os.fsync(")) or (
            step.startswith("os.mkdir(") and step.split("(")[1] in
            {s.split("(")[1] for s in steps[: k - 1] if s.startswith("os.mk")})
        assert harmless, f"failing step {k} ({step}) did not fail the save"
    return steps


def test_atomic_directory_new_target(tmp_path, swap):
    steps = check_every_step(tmp_path, _save_dir, tmp_path / "m", overwrite=False)
    assert any("rename" in s for s in steps)


def test_atomic_directory_replacing_a_model(tmp_path, swap):
    target = tmp_path / "m"
    target.mkdir()
    _write_model(target, b"old")
    check_every_step(tmp_path, _save_dir, target, overwrite=True)


def test_atomic_file(tmp_path):
    target = tmp_path / "f.pb"
    target.write_bytes(b"old")
    check_every_step(tmp_path, _save_file, target, overwrite=True)
    check_every_step(tmp_path, _save_file, tmp_path / "new.pb", overwrite=True)


def test_failed_switch_puts_the_previous_model_back(tmp_path, swap):
    # Regression: the previous model used to stay under .m.XXXX.old when the final rename failed.
    target = tmp_path / "m"
    target.mkdir()
    _write_model(target, b"old")
    old = state(target)
    with FaultInjector(tmp_path) as dry:
        _save_dir(target, overwrite=True)
    restore(target, old)
    switch = "exchange(new, m)" if swap == "exchange" else "rename(new, m)"
    k = next(i for i, s in enumerate(dry.steps, 1) if s.endswith("." + switch))
    with pytest.raises(WriteError, match="m: cannot be written"):
        with FaultInjector(tmp_path, fail_at=k):
            _save_dir(target, overwrite=True)
    assert state(target) == old
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m"]


# ----------------------------------------------------------------------------- the swap


def test_exchange_refused_by_the_filesystem_falls_back_to_two_renames(tmp_path, monkeypatch):
    """EINVAL/ENOSYS/ENOTSUP (filesystems or kernels without RENAME_EXCHANGE) -> two renames."""
    target = tmp_path / "m"
    target.mkdir()
    _write_model(target, b"old")
    for code in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):
        calls = []
        monkeypatch.setattr(_swap, "_call", lambda a, b, code=code: calls.append(b) or code)
        with FaultInjector(tmp_path) as seen:
            _save_dir(target, overwrite=True)
        assert calls == [os.fsencode(target)]
        assert any(s.endswith("rename(new, m)") for s in seen.steps)
        assert state(target)["saved_model.pb"] == b"pb-new"
        assert sorted(p.name for p in tmp_path.iterdir()) == ["m"]
        shutil.rmtree(target)
        target.mkdir()
        _write_model(target, b"old")


def test_exchange_failing_otherwise_is_a_write_error(tmp_path, monkeypatch):
    target = tmp_path / "m"
    target.mkdir()
    _write_model(target, b"old")
    monkeypatch.setattr(_swap, "_call", lambda a, b: errno.EACCES)
    with pytest.raises(WriteError, match="m: cannot be written .Permission denied") as info:
        _save_dir(target, overwrite=True)
    assert info.value.errno == errno.EACCES
    assert state(target)["saved_model.pb"] == b"pb-old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m"]


def test_exchange_swaps_directories(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    (a / "x").write_text("a")
    if not _swap.exchange(a, b):
        pytest.skip("no atomic exchange on this system")
    assert (b / "x").read_text() == "a" and not list(a.iterdir())
    with pytest.raises(FileNotFoundError):
        _swap.exchange(a, tmp_path / "missing")


# ----------------------------------------------------------------------------- siblings


def _abandoned(target, *, pid, old=None, new=True, marker=True, token="0123abcd"):
    """A temporary sibling as a killed save of ``target`` by process ``pid`` leaves it."""
    sib = target.parent / f".{target.name}.savedmodel-io-{pid}-{token}.tmp"
    sib.mkdir()
    if marker:
        (sib / _staging.MARKER).write_text(json.dumps(
            {"savedmodel_io": "save", "target": target.name, "pid": pid}) + "\n")
    if new:
        (sib / "new").mkdir()
        _write_model(sib / "new", b"new")
    if old is not None:
        (sib / "old").mkdir()
        _write_model(sib / "old", old)
    return sib


def _dead_pid() -> int:
    pid = os.fork()
    if pid == 0:
        os._exit(0)
    os.waitpid(pid, 0)
    return pid


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_next_save_puts_back_the_model_a_killed_save_moved_aside(tmp_path):
    target = tmp_path / "m"
    sib = _abandoned(target, pid=_dead_pid(), old=b"old")
    with pytest.raises(NotFoundError, match=f"interrupted; the previous model is in {sib / 'old'}"):
        savedmodel_io.load(target)
    assert sib.exists()  # loading deletes nothing
    with pytest.raises(ModelExistsError):  # the previous model is back, and not overwritten
        _save_dir(target, overwrite=False)
    assert state(target)["saved_model.pb"] == b"pb-old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m"]


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_abandoned_siblings_are_removed_and_live_ones_kept(tmp_path):
    target = tmp_path / "m"
    target.mkdir()
    _write_model(target, b"old")
    dead = _dead_pid()
    _abandoned(target, pid=dead, old=b"x")  # killed after the switch: a stale old copy
    _abandoned(target, pid=dead, marker=False, new=False, token="0123abce")  # before its marker
    stale_file = tmp_path / f".m.savedmodel-io-{dead}-00000000.tmp"
    stale_file.write_bytes(b"half")
    # Not ours, or not abandoned: a user's look-alikes, a live writer without its marker yet.
    keep = [tmp_path / ".m.savedmodel-io-1-0123abcz.tmp", tmp_path / ".m.old",
            tmp_path / f".n.savedmodel-io-{dead}-0123abcd.tmp"]
    for k in keep:
        k.mkdir()
    keep.append(_abandoned(target, pid=os.getppid(), marker=False, new=False))  # alive
    _save_dir(target, overwrite=True)
    assert state(target)["saved_model.pb"] == b"pb-new"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["m"] + [k.name for k in keep])


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_live_writers_sibling_is_never_touched(tmp_path):
    """A save in another process holds its lock: the next save and load leave it alone."""
    target = tmp_path / "m"
    target.mkdir()
    _write_model(target, b"old")
    ready_r, ready_w = os.pipe()
    go_r, go_w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the other writer: stops between its two renames until told to go on
        try:
            _swap._call = None
            real = os.rename

            def pausing(a, b):
                real(a, b)
                if Path(b).name == "old":
                    os.write(ready_w, b"1")
                    os.read(go_r, 1)

            os.rename = pausing
            _save_dir(target, overwrite=True)
        finally:
            os._exit(0)
    os.read(ready_r, 1)
    try:
        (sib,) = [p for p in tmp_path.iterdir() if p.name != "m"]
        assert not target.exists() and (sib / "old").is_dir()
        with pytest.raises(NotFoundError, match=f"process {pid}. is replacing it at this moment"):
            savedmodel_io.load(target)
        _staging.recover(target)  # what the next save does first
        assert (sib / "old").is_dir() and (sib / "new").is_dir() and not target.exists()
    finally:
        os.write(go_w, b"1")
        os.waitpid(pid, 0)
    assert state(target)["saved_model.pb"] == b"pb-new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m"]


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_stale_temporary_file_of_a_killed_write_is_removed(tmp_path):
    target = tmp_path / "f.pb"
    target.write_bytes(b"old")
    pid = os.fork()
    if pid == 0:
        try:
            with FaultInjector(tmp_path, fail_at=3, kill=True):  # open, io.open, fsync <- here
                _save_file(target, overwrite=True)
        finally:
            os._exit(0)
    os.waitpid(pid, 0)
    names = sorted(p.name for p in tmp_path.iterdir())
    assert len(names) == 2 and names[0].startswith(".f.pb.savedmodel-io-")
    assert target.read_bytes() == b"old"
    _save_file(target, overwrite=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.pb"]
    assert target.read_bytes() == b"file-new"


def test_long_names_get_a_hashed_sibling(tmp_path):
    name = "x" * 250
    with atomic_directory(tmp_path / name) as d:
        assert len(d.parent.name) < 255
        (d / "saved_model.pb").write_bytes(b"1")
    assert sorted(p.name for p in tmp_path.iterdir()) == [name]
