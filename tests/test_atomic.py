"""Atomic writes under injected failures: fail the k-th filesystem operation, for every k.

After each failure the target must hold exactly what it held before (nothing, or the
previous model) or, when the failing step was best effort (a directory fsync, deleting
the previous model), the complete new one; no temporary file or directory may be left
beside it once the next write has run. Directory saves are checked with the atomic
exchange and with the two-rename fallback.
"""

from __future__ import annotations

import errno
import shutil

import pytest

from faults import FaultInjector, snapshot, swap  # noqa: F401 (fixture)
from savedmodel_io import _staging
from savedmodel_io._fsutil import atomic_directory, atomic_file
from savedmodel_io.errors import SavedModelError, WriteError


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
