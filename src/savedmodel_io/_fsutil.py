"""Atomic file and directory writes: a failed save never leaves half a model behind.

Files are written to a temporary sibling and renamed over the target; whole
models are built in a temporary sibling directory and renamed into place, so a
reader sees either the old model or the complete new one.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from savedmodel_io.errors import ModelExistsError, NotFoundError

__all__ = ["atomic_directory", "atomic_file", "fsync_dir"]


def fsync_dir(path: str | os.PathLike[str]) -> None:
    """Flush a directory entry (best effort; not every filesystem supports it)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def default_file_mode() -> int:
    """The mode ``open()`` would give a new file (0o666 minus the umask); mkstemp uses 0o600."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


@contextlib.contextmanager
def atomic_file(path: str | os.PathLike[str], *, overwrite: bool = True) -> Iterator[BinaryIO]:
    """Open a temporary file beside ``path``; on success it is flushed and renamed to ``path``."""
    target = Path(path)
    if not target.parent.is_dir():
        raise NotFoundError("directory does not exist", path=target.parent)
    if not overwrite and target.exists():
        raise ModelExistsError("file exists (pass overwrite=True to replace it)", path=target)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        os.fchmod(fd, default_file_mode())
        with os.fdopen(fd, "wb") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    fsync_dir(target.parent)


@contextlib.contextmanager
def atomic_directory(path: str | os.PathLike[str], *, overwrite: bool = False) -> Iterator[Path]:
    """Yield an empty temporary directory beside ``path``; on success it replaces ``path``.

    An existing ``path`` is only replaced with ``overwrite=True``, and only after the
    new directory is complete; it is moved aside first and deleted last, so a crash
    at any point leaves either the old or the new directory under ``path``.
    """
    target = Path(path)
    parent = target.parent
    if not parent.is_dir():
        raise NotFoundError("parent directory does not exist", path=parent)
    if target.exists() and not overwrite:
        raise ModelExistsError("already exists (pass overwrite=True to replace it)", path=target)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=parent))
    holder: Path | None = None  # the previous directory waits in here until the new one is in
    try:
        yield tmp
        if target.exists():
            if not overwrite:
                raise ModelExistsError("appeared while saving; not replaced", path=target)
            holder = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".old", dir=parent))
            os.replace(target, holder / target.name)
        try:
            os.replace(tmp, target)
        except BaseException:
            if holder is not None:  # put the previous directory back
                os.replace(holder / target.name, target)
            raise
        fsync_dir(parent)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        if holder is not None:
            with contextlib.suppress(OSError):
                os.rmdir(holder)  # only when empty: never delete the previous directory here
        raise
    if holder is not None:
        shutil.rmtree(holder, ignore_errors=True)
