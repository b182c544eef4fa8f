"""Fault injection for atomic-write tests: make the k-th filesystem operation fail.

``FaultInjector(root)`` patches the operations a save goes through (opening
files, creating temp files and directories, renames, the atomic exchange, fsync,
copies, removals, and the per-entry steps of ``shutil.rmtree``) and counts those
that touch paths under ``root``. With ``fail_at=k`` the k-th raises
``OSError(ENOSPC)`` (or any exception given), as a full disk or a yanked drive
would; with ``kill=True`` the process SIGKILLs itself there instead (run it in a
forked child). A dry run with ``fail_at=None`` counts the steps of a successful
save; the test then fails each step in turn.
"""

from __future__ import annotations

import builtins
import errno
import io
import os
import shutil
import signal
import tempfile
from pathlib import Path

import pytest

from savedmodel_io import _swap

# (module, attribute) of every patched operation. tempfile.mkstemp/mkdtemp go through
# os.open/os.mkdir, pathlib's open through io.open, so these cover them.
_OPS = [
    (builtins, "open"), (io, "open"), (os, "open"), (os, "replace"), (os, "rename"),
    (os, "mkdir"), (os, "makedirs"), (os, "fsync"), (os, "unlink"), (os, "rmdir"),
    (os, "symlink"), (os, "link"), (shutil, "copyfile"), (shutil, "copy2"), (shutil, "copy"),
    (shutil, "rmtree"), (_swap, "exchange"), (os, "dup"),
]

_TWO_PATHS = {"replace", "rename", "link", "symlink", "copyfile", "copy2", "copy", "exchange"}


class FaultInjector:
    """Count (and optionally break) filesystem operations on paths under ``root``."""

    def __init__(self, root: str | os.PathLike[str], fail_at: int | None = None,
                 exc: BaseException | None = None, kill: bool = False,
                 writes_only: bool = False) -> None:
        self.root = os.path.realpath(root)
        self.writes_only = writes_only  # skip opening files for reading
        self.fail_at = fail_at
        self.exc = exc
        self.kill = kill
        self.steps: list[str] = []
        self.paths: list[str] = []  # real paths of every path argument seen under root
        self.fds: dict[int, tuple[int, int]] = {}  # descriptors of files under root -> identity
        self._saved: list[tuple[object, str, object]] = []
        self._active = False

    def _mine(self, args, kwargs) -> bool:
        if kwargs.get("dir_fd") is not None:  # rmtree's steps: count while active
            return True
        for a in args:
            if isinstance(a, int):  # fsync(fd), fdopen(fd): a descriptor of a file under root
                return self.fds.get(a) == _identity(a)
            if isinstance(a, (str, bytes, os.PathLike)):
                p = os.fsdecode(os.fspath(a))
                if os.path.realpath(p).startswith(self.root):
                    return True
        return False

    def _wrap(self, name: str, fn):
        two = name.rsplit(".", 1)[1] in _TWO_PATHS

        def op(*args, **kwargs):
            if self.writes_only and _reads(name, args, kwargs):
                return fn(*args, **kwargs)
            if self._active and self._mine(args[: 2 if two else 1], kwargs):
                self._active = False  # the injector's own bookkeeping is not counted
                try:
                    if kwargs.get("dir_fd") is None:  # names relative to a dir_fd are not paths
                        self.paths += [os.path.realpath(os.fsdecode(os.fspath(a)))
                                       for a in args[: 2 if two else 1]
                                       if isinstance(a, (str, bytes, os.PathLike))]
                    self.steps.append(f"{name}({', '.join(map(_short, args[: 2 if two else 1]))})")
                    k = len(self.steps)
                finally:
                    self._active = True
                if k == self.fail_at and self.kill:
                    os.kill(os.getpid(), signal.SIGKILL)
                if k == self.fail_at:
                    raise self.exc if self.exc is not None else OSError(
                        errno.ENOSPC, f"injected failure at step {k}: {self.steps[-1]}"
                    )
            result = fn(*args, **kwargs)
            if self._active and name in ("os.open", "os.dup") and self._mine(args[:1], kwargs):
                self.fds[result] = _identity(result)
            return result

        return op

    def __enter__(self) -> FaultInjector:
        for mod, attr in _OPS:
            if hasattr(mod, attr):
                fn = getattr(mod, attr)
                self._saved.append((mod, attr, fn))
                setattr(mod, attr, self._wrap(f"{mod.__name__}.{attr}", fn))
        self._active = True
        return self

    def __exit__(self, *exc) -> None:
        self._active = False
        for mod, attr, fn in reversed(self._saved):
            setattr(mod, attr, fn)
        self._saved.clear()


@pytest.fixture(params=["exchange", "two renames"])
def swap(request, monkeypatch, tmp_path):
    """Run a test with the atomic exchange and with the fallback for filesystems without it."""
    if request.param == "two renames":
        monkeypatch.setattr(_swap, "_call", None)
    else:
        a, b = tmp_path / ".xa", tmp_path / ".xb"
        a.mkdir()
        b.mkdir()
        try:
            works = _swap.exchange(a, b)
        finally:
            a.rmdir()
            b.rmdir()
        if not works:
            pytest.skip("no atomic exchange on this system")
    return request.param


def _reads(name: str, args, kwargs) -> bool:
    """Whether an open call only opens for reading."""
    if name == "os.open":
        flags = args[1] if len(args) > 1 else kwargs.get("flags", 0)
        return not flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT)
    if name.endswith(".open"):
        mode = args[1] if len(args) > 1 else kwargs.get("mode", "r")
        return not set(mode) & set("wax+")
    return False


def _identity(fd: int) -> tuple[int, int] | None:
    try:
        st = os.fstat(fd)
    except OSError:
        return None
    return st.st_dev, st.st_ino


def _short(a) -> str:
    if isinstance(a, (str, bytes, os.PathLike)):
        return Path(os.fsdecode(os.fspath(a))).name or str(a)
    return repr(a)


def snapshot(directory: Path) -> dict[str, bytes]:
    """Every file under ``directory`` (relative path -> bytes); {} when it does not exist."""
    if not directory.exists():
        return {}
    return {p.relative_to(directory).as_posix(): p.read_bytes()
            for p in sorted(directory.rglob("*")) if p.is_file()}


__all__ = ["FaultInjector", "snapshot", "swap", "tempfile"]
