"""Safe file reads and atomic writes.

Reading: :func:`open_regular` / :func:`read_regular` open a file of a model directory
only if it is a regular file (a directory, FIFO, device or symlink loop is a
``SavedModelError`` naming the file, never a hang or a raw ``OSError``), and, given the
model's :class:`ModelRoot`, only if it resolves inside the model directory: a symlink
leading out of it is an ``OutsideModelError`` unless external links are allowed.

Writing: files are written to a temporary sibling and renamed over the target; whole
models are built in a temporary sibling directory and renamed into place, so a
reader sees either the old model or the complete new one.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from savedmodel_io.errors import (
    CorruptFileError,
    LimitExceededError,
    ModelExistsError,
    NotFoundError,
    OutsideModelError,
    ReadError,
    SavedModelError,
)

__all__ = [
    "ALLOW_EXTERNAL_LINKS",
    "ModelRoot",
    "atomic_directory",
    "atomic_file",
    "fsync_dir",
    "open_regular",
    "read_regular",
]

#: How a user allows links out of a model directory (named by every OutsideModelError).
ALLOW_EXTERNAL_LINKS = "allow_external_links=True (command line: --allow-external-links)"

# O_NONBLOCK: opening a FIFO must not wait for a writer (the fstat check then refuses it).
_OPEN_FLAGS = (os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)
               | getattr(os, "O_CLOEXEC", 0))
# errno values that mean "there is no readable file here" (NotFoundError); others are corrupt.
_NOT_FOUND = {errno.ENOENT, errno.ENOTDIR, errno.EISDIR, errno.EACCES, errno.EPERM}
_KINDS = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


# ----------------------------------------------------------------------------- safe reads


def _os_error(exc: OSError, path: str | os.PathLike[str], what: str) -> SavedModelError:
    """The library error for an OSError met while opening or reading ``path``."""
    reason = exc.strerror or str(exc)
    if exc.errno in (errno.ENOENT, errno.ENOTDIR):
        missing = NotFoundError(f"{what} does not exist", path=path)
        missing.errno = exc.errno
        return missing
    if exc.errno == errno.ELOOP:
        return CorruptFileError(f"{what} cannot be opened: symlink loop ({reason})", path=path)
    if exc.errno in _NOT_FOUND:
        return NotFoundError(f"{what} cannot be read ({reason})", path=path)
    # The file may be fine and the system not (EIO, ENOSPC...): say so, errno and all.
    err = ReadError(f"{what} cannot be read ({reason})", path=path)
    err.errno = exc.errno
    return err


def _require_regular(mode: int, path: str | os.PathLike[str], what: str) -> None:
    """Refuse anything but a regular file: a directory is not found, a FIFO/device is corrupt."""
    if stat.S_ISREG(mode):
        return
    kind = next((name for test, name in _KINDS if test(mode)), "a special file")
    cls = NotFoundError if stat.S_ISDIR(mode) else CorruptFileError
    raise cls(f"{what} is {kind}, not a regular file", path=path)


def _inside(real: str, root: str) -> bool:
    """Whether resolved path ``real`` is ``root`` or below it (both resolved)."""
    try:
        return os.path.commonpath([real, root]) == root
    except ValueError:  # one relative, or another drive
        return False


class ModelRoot:
    """A model's directory, resolved once: the files read from it must resolve inside it.

    Every component of a file's path is resolved, so a symlinked file, a symlinked
    ``variables/`` directory or any other link on the way that leads out of the directory
    is refused (OutsideModelError naming the file, where it leads and the option) unless
    ``allow_external_links`` is set: for trusted layouts whose files link into a store
    elsewhere, such as a Hugging Face cache (``snapshots/<rev>/...`` -> ``../../blobs/<hash>``).
    Links that stay inside are followed. A hard link is not a link here: it *is* the file
    (no path says where else it lives), so it is read like any other file of the model.
    """

    def __init__(self, path: str | os.PathLike[str], *, allow_external_links: bool = False) -> None:
        self.path = os.fspath(path)
        self.real = os.path.realpath(self.path)
        self.allow_external_links = allow_external_links

    def __repr__(self) -> str:
        return f"ModelRoot({self.path!r}, allow_external_links={self.allow_external_links})"

    def resolve(self, path: str | os.PathLike[str], what: str = "file") -> str:
        """``path`` with every link resolved; OutsideModelError if that leaves the directory."""
        real = os.path.realpath(path)
        if not self.allow_external_links and not _inside(real, self.real):
            raise OutsideModelError(
                f"{what} resolves to {real}, outside the model directory {self.path}; pass "
                f"{ALLOW_EXTERNAL_LINKS} to follow symbolic links out of a trusted model "
                "directory, e.g. a Hugging Face cache",
                path=path,
            )
        return real

    def contains(self, path: str | os.PathLike[str]) -> bool:
        """Whether ``path`` resolves inside the directory (links followed)."""
        return _inside(os.path.realpath(path), self.real)

    def is_file(self, path: str | os.PathLike[str], what: str = "file") -> bool:
        """Whether ``path`` is a regular file; OutsideModelError if it leads out (not False)."""
        return os.path.isfile(self.resolve(path, what))

    def is_dir(self, path: str | os.PathLike[str], what: str = "directory") -> bool:
        """Whether ``path`` is a directory; OutsideModelError if it leads out (not False)."""
        return os.path.isdir(self.resolve(path, what))

    def check_open(self, fd: int, path: str | os.PathLike[str], what: str) -> None:
        """Check the file ``fd`` actually opened (Linux names it in /proc): a link swapped
        in between resolving and opening cannot lead out either."""
        if self.allow_external_links:
            return
        try:
            opened = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:  # no /proc: the check before opening is all there is
            return
        if not _inside(opened, self.real):
            raise OutsideModelError(
                f"{what} changed while being opened and now leads to {opened}, outside the "
                f"model directory {self.path}", path=path)


def open_regular(
    path: str | os.PathLike[str], what: str = "file", *, root: ModelRoot | None = None
) -> BinaryIO:
    """Open ``path`` for binary reading if it is a regular file (symlinks followed).

    With ``root`` (the model directory ``path`` belongs to), the path is first resolved
    and refused if it leads out of the directory (see :class:`ModelRoot`); the resolved
    path is what is opened, so what was checked is what is read.
    Checked before opening (no device is opened) and again on the open descriptor (the
    path may change in between); the open never blocks, so a FIFO cannot hang a reader.
    Every failure is a SavedModelError naming the file: NotFoundError (missing, a
    directory, no permission), CorruptFileError (FIFO, device, socket, symlink loop) or
    OutsideModelError.
    """
    target = root.resolve(path, what) if root is not None else path
    # NotFoundError is an OSError too: the checks stay outside the ``except OSError`` blocks.
    try:
        mode = os.stat(target).st_mode
    except OSError as exc:
        raise _os_error(exc, path, what) from None
    _require_regular(mode, path, what)
    try:
        fd = os.open(target, _OPEN_FLAGS)
    except OSError as exc:
        raise _os_error(exc, path, what) from None
    try:
        _require_regular(os.fstat(fd).st_mode, path, what)
        if root is not None:
            root.check_open(fd, path, what)
        if _OPEN_FLAGS & getattr(os, "O_NONBLOCK", 0):
            os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def read_regular(
    path: str | os.PathLike[str],
    *,
    limit: int | None = None,
    what: str = "file",
    root: ModelRoot | None = None,
) -> bytes:
    """The contents of regular file ``path``, at most ``limit`` bytes (LimitExceededError beyond).

    Reads no more than the size the file had when opened, and a MemoryError becomes a
    LimitExceededError, so a sparse or growing file cannot make an unbounded allocation.
    ``root``: as for :func:`open_regular`.
    """
    with open_regular(path, what, root=root) as f:
        size = os.fstat(f.fileno()).st_size
        if limit is not None and size > limit:
            raise LimitExceededError(
                f"{what} is {size} bytes, far too large (the limit is {limit} bytes)", path=path
            )
        try:
            return f.read(size)
        except MemoryError:
            raise LimitExceededError(
                f"{what} of {size} bytes does not fit in memory", path=path
            ) from None
        except OSError as exc:
            raise _os_error(exc, path, what) from None


# ----------------------------------------------------------------------------- atomic writes


def _umask() -> int:
    """The process umask (reading it means setting it; it is put back at once)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


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
    return 0o666 & ~_umask()


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


def _make_parents(parent: Path) -> None:
    """Create ``parent`` and its missing ancestors (NotFoundError naming it if that fails)."""
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise NotFoundError(
            f"parent directory cannot be created ({exc.strerror or exc})", path=parent
        ) from None


@contextlib.contextmanager
def atomic_directory(
    path: str | os.PathLike[str], *, overwrite: bool = False, parents: bool = False
) -> Iterator[Path]:
    """Yield an empty temporary directory beside ``path``; on success it replaces ``path``.

    An existing ``path`` is only replaced with ``overwrite=True``, and only after the
    new directory is complete; it is moved aside first and deleted last, so a crash
    at any point leaves either the old or the new directory under ``path``. With
    ``parents=True`` missing parent directories are created first (as
    ``tf.saved_model.save`` does); they are not atomic and stay if the write fails.
    """
    target = Path(path)
    parent = target.parent
    if parents:
        _make_parents(parent)
    if not parent.is_dir():
        raise NotFoundError("parent directory does not exist", path=parent)
    if target.exists() and not overwrite:
        raise ModelExistsError("already exists (pass overwrite=True to replace it)", path=target)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=parent))
    holder: Path | None = None  # the previous directory waits in here until the new one is in
    try:
        # mkdtemp makes the directory 0700; a model must be readable like one TF writes
        # (a server may run as another user), so it gets the mode mkdir() would give.
        os.chmod(tmp, 0o777 & ~_umask())
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
