"""Atomic writes leave either the old or the new content, never a mix."""

from __future__ import annotations

import pytest

from savedmodel_io._fsutil import atomic_directory, atomic_file
from savedmodel_io.errors import ModelExistsError, NotFoundError


def test_atomic_file_replaces_on_success(tmp_path):
    p = tmp_path / "f.bin"
    p.write_bytes(b"old")
    with atomic_file(p) as f:
        f.write(b"new")
    assert p.read_bytes() == b"new"
    assert [x.name for x in tmp_path.iterdir()] == ["f.bin"]


def test_atomic_file_keeps_old_on_failure(tmp_path):
    p = tmp_path / "f.bin"
    p.write_bytes(b"old")
    with pytest.raises(RuntimeError):
        with atomic_file(p) as f:
            f.write(b"half")
            raise RuntimeError("boom")
    assert p.read_bytes() == b"old"
    assert [x.name for x in tmp_path.iterdir()] == ["f.bin"]


def test_atomic_file_refuses_overwrite_when_asked(tmp_path):
    p = tmp_path / "f.bin"
    p.write_bytes(b"old")
    with pytest.raises(ModelExistsError, match="f.bin"):
        with atomic_file(p, overwrite=False):
            pass
    with pytest.raises(NotFoundError):
        with atomic_file(tmp_path / "missing" / "x"):
            pass


def test_atomic_directory(tmp_path):
    target = tmp_path / "model"
    with atomic_directory(target) as d:
        (d / "saved_model.pb").write_bytes(b"1")
    assert (target / "saved_model.pb").read_bytes() == b"1"
    with pytest.raises(ModelExistsError):
        with atomic_directory(target):
            pass
    with pytest.raises(RuntimeError):
        with atomic_directory(target, overwrite=True) as d:
            (d / "saved_model.pb").write_bytes(b"2")
            raise RuntimeError("fail mid-save")
    assert (target / "saved_model.pb").read_bytes() == b"1"
    with atomic_directory(target, overwrite=True) as d:
        (d / "saved_model.pb").write_bytes(b"3")
    assert (target / "saved_model.pb").read_bytes() == b"3"
    assert sorted(x.name for x in tmp_path.iterdir()) == ["model"]


def test_atomic_file_gets_the_usual_mode(tmp_path):
    """Files are readable like open() makes them (mkstemp alone would give 0600)."""
    import os
    import stat

    from savedmodel_io._fsutil import atomic_file, default_file_mode

    with atomic_file(tmp_path / "f") as f:
        f.write(b"x")
    assert stat.S_IMODE(os.stat(tmp_path / "f").st_mode) == default_file_mode()
    old = os.umask(0o022)
    try:
        assert default_file_mode() == 0o644
    finally:
        os.umask(old)


def test_atomic_file_has_ordinary_permissions(tmp_path):
    import os

    p = tmp_path / "f.bin"
    with atomic_file(p) as f:
        f.write(b"x")
    mask = os.umask(0o022)
    os.umask(mask)
    assert p.stat().st_mode & 0o777 == 0o666 & ~mask
    with atomic_directory(tmp_path / "m") as d:
        pass
    assert (tmp_path / "m").stat().st_mode & 0o777 == 0o777 & ~mask


# ----------------------------------------------------------------------------- safe reads


def _specials(tmp_path):
    """name -> path of every kind of non-regular file a hostile model directory may hold."""
    import os

    (tmp_path / "dir").mkdir()
    os.mkfifo(tmp_path / "fifo")
    (tmp_path / "loop").symlink_to(tmp_path / "loop")
    (tmp_path / "zero").symlink_to("/dev/zero")
    return {n: tmp_path / n for n in ("dir", "fifo", "loop", "zero", "missing")}


@pytest.mark.parametrize(
    "name, cls, text",
    [
        ("dir", NotFoundError, "is a directory, not a regular file"),
        ("fifo", "CorruptFileError", "is a FIFO"),
        ("loop", "CorruptFileError", "symlink loop"),
        ("zero", "CorruptFileError", "is a character device"),
        ("missing", NotFoundError, "does not exist"),
    ],
)
def test_read_regular_refuses_special_files(tmp_path, name, cls, text):
    """A directory, FIFO (no hang), symlink loop or device: a library error naming the file."""
    from savedmodel_io import errors
    from savedmodel_io._fsutil import open_regular, read_regular

    cls = getattr(errors, cls) if isinstance(cls, str) else cls
    from _deadline import deadline

    path = _specials(tmp_path)[name]
    for call in (lambda: read_regular(path, what="data shard"), lambda: open_regular(path)):
        with deadline(10), pytest.raises(cls, match=text) as info:
            call()
        assert info.value.path == str(path)


def test_read_regular_limit_and_contents(tmp_path):
    from savedmodel_io._fsutil import read_regular
    from savedmodel_io.errors import LimitExceededError

    p = tmp_path / "f"
    p.write_bytes(b"abcd")
    assert read_regular(p) == b"abcd"
    assert read_regular(p, limit=4) == b"abcd"
    with pytest.raises(LimitExceededError, match="4 bytes"):
        read_regular(p, limit=3)


def test_system_read_failures_keep_their_errno(tmp_path, monkeypatch):
    # An I/O error is not a corrupt file: ReadError is both a SavedModelError and an
    # OSError with the system's errno (a writer reading back its own file may hit ENOSPC).
    import errno
    import os

    from savedmodel_io._fsutil import read_regular
    from savedmodel_io.errors import ReadError, SavedModelError

    f = tmp_path / "x.bin"
    f.write_bytes(b"abc")

    def failing_open(*args, **kwargs):
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(os, "open", failing_open)
    with pytest.raises(ReadError, match="x.bin: thing cannot be read") as info:
        read_regular(f, what="thing")
    assert isinstance(info.value, SavedModelError) and isinstance(info.value, OSError)
    assert info.value.errno == errno.EIO
