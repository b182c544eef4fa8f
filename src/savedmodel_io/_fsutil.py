"""Safe file reads and atomic writes.

Reading: :func:`open_regular` / :func:`read_regular` open a file of a model directory
only if it is a regular file (a directory, FIFO, device or symlink loop is a
``SavedModelError`` naming the file, never a hang or a raw ``OSError``), and, given the
model's :class:`ModelRoot`, only if it resolves inside the model directory: a symlink
leading out of it is an ``OutsideModelError`` unless external links are allowed.

Writing: files are written to a temporary sibling and renamed over the target; whole
models are built in a temporary sibling directory, flushed, and swapped into place in
one step where the system can (:mod:`savedmodel_io._swap`), so a reader sees either the
old model or the complete new one. Only a file is replaced by a file, and only a
SavedModel (or an empty directory) by a model. Temporary siblings are locked and
recognisable; the next write of a path cleans up after killed writers
(:mod:`savedmodel_io._staging`). An OSError while writing is a WriteError naming the file.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import stat
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, BinaryIO, Protocol

from savedmodel_io import _staging, _swap
from savedmodel_io.errors import (
    CorruptFileError,
    LimitExceededError,
    ModelExistsError,
    NotFoundError,
    OutsideModelError,
    ReadError,
    SavedModelError,
    WriteError,
)

if TYPE_CHECKING:
    from typing_extensions import Self

__all__ = [
    "ALLOW_EXTERNAL_LINKS", "ModelRoot", "ReadFile", "atomic_directory", "atomic_file",
    "atomic_path", "check_file_target", "fsync_dir", "kind_of", "make_directory", "open_regular",
    "read_regular", "recover",
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


class ReadFile(Protocol):
    """A seekable binary file open for reading: a local file (:func:`open_regular`) or a
    remote one read by byte range (what ``ModelFiles.open`` returns)."""

    def read(self, size: int = -1, /) -> bytes: ...
    def readinto(self, buffer: bytearray | memoryview, /) -> int | None: ...
    def seek(self, offset: int, whence: int = 0, /) -> int: ...
    def tell(self) -> int: ...
    def fileno(self) -> int: ...
    def close(self) -> None: ...
    def __enter__(self) -> Self: ...

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None, /) -> None: ...


def open_regular(
    path: str | os.PathLike[str], what: str = "file", *, root: ModelRoot | None = None
) -> ReadFile:
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

# errno values of a rename onto a path that another writer has just filled.
_OCCUPIED = {errno.EEXIST, errno.ENOTEMPTY, errno.ENOTDIR, errno.EISDIR}
# How often a save retries its switch when other saves keep changing the target (each
# retry means another save switched in the meantime).
_SWITCH_ATTEMPTS = 10


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


def _umask() -> int:
    """The process umask (reading it means setting it; it is put back at once)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def default_file_mode() -> int:
    """The mode ``open()`` would give a new file (0o666 minus the umask)."""
    return 0o666 & ~_umask()


def _fsync_tree(root: Path) -> None:
    """Flush every file and directory under ``root`` to disk, files first.

    A directory is renamed into place only after its contents are durable, so a power
    failure right after a save cannot leave a model of empty files (filesystems may
    write a rename before the data). A filesystem that cannot fsync (EINVAL) is skipped.
    """
    for top, _dirs, files in os.walk(root, topdown=False):
        for name in files:
            path = os.path.join(top, name)
            if not stat.S_ISREG(os.lstat(path).st_mode):
                continue  # a symbolic link (replace_weights keeps them): not ours to flush
            fd = os.open(path, os.O_RDONLY | getattr(os, "O_BINARY", 0))
            try:
                os.fsync(fd)
            except OSError as exc:
                if exc.errno not in (errno.EINVAL, errno.EBADF, errno.ENOTSUP):
                    raise
            finally:
                os.close(fd)
        fsync_dir(top)


def kind_of(mode: int) -> str:
    """What an ``lstat`` mode is, in words ("a regular file", "a symbolic link", ...)."""
    if stat.S_ISREG(mode):
        return "a regular file"
    if stat.S_ISLNK(mode):
        return "a symbolic link"
    return next((name for test, name in _KINDS if test(mode)), "a special file")


def _mapped(name: object, target: Path) -> Path | None:
    """The user-visible path of a path a write of ``target`` touched, or None if not one.

    Paths inside a temporary sibling are shown as the target's (``.m.savedmodel-io-...tmp/new/x``
    is ``m/x``): the temporary name means nothing to the user.
    """
    if not isinstance(name, (str, bytes, os.PathLike)):
        return None
    p = Path(os.fsdecode(os.fspath(name)))
    root = _staging.sibling_root(p, target)
    if root is not None:
        return target.joinpath(*p.relative_to(root).parts[1:])  # drop "new" / "old" / marker
    if p == target or target in p.parents:
        return p
    return None


def _write_error(exc: OSError, target: Path) -> SavedModelError:
    """The library error for an OSError met while writing ``target``.

    A failure on a file of the write is a WriteError naming it as the user will see it
    (errno kept); one on another file (a source being copied) is a read error naming it.
    """
    reason = exc.strerror or str(exc)
    for name in (exc.filename2, exc.filename):  # a rename or copy names its destination second
        path = _mapped(name, target)
        if path is not None:
            break
    else:
        if exc.filename is not None:
            return _os_error(exc, os.fsdecode(exc.filename), "file")
        path = target
    err = WriteError(f"cannot be written ({reason})", path=path)
    err.errno = exc.errno
    return err


def _renamed(exc: SavedModelError, path: Path) -> SavedModelError:
    """``exc`` naming ``path`` instead (same class, errno and attributes)."""
    new = type(exc)(exc.message, path=path, where=exc.where)
    extra = {k: v for k, v in vars(exc).items() if k not in ("message", "path", "where")}
    vars(new).update(extra)
    if isinstance(exc, OSError) and isinstance(new, OSError):  # the same class
        new.errno = exc.errno
    return new


@contextlib.contextmanager
def _write_errors(target: Path) -> Iterator[None]:
    """Raise OSErrors of the block as library errors (see :func:`_write_error`), and name
    files in temporary siblings as the user will see them."""
    try:
        yield
    except SavedModelError as exc:
        shown = _mapped(exc.path, target) if exc.path is not None else None
        if shown is None or shown == Path(exc.path or ""):
            raise
        raise _renamed(exc, shown) from exc
    except OSError as exc:
        raise _write_error(exc, target) from exc


def check_file_target(target: Path, overwrite: bool) -> None:
    """Refuse to replace ``target`` unless asked to and it is a file or a link (replaced itself)."""
    if not target.parent.is_dir():
        raise NotFoundError("directory does not exist", path=target.parent)
    try:
        mode = os.lstat(target).st_mode
    except FileNotFoundError:
        return
    if not overwrite:
        raise ModelExistsError("file exists (pass overwrite=True to replace it)", path=target)
    if not (stat.S_ISREG(mode) or stat.S_ISLNK(mode)):
        raise ModelExistsError(f"is {kind_of(mode)}, not a file; refusing to replace it",
                               path=target)


@contextlib.contextmanager
def _temp_file(path: str | os.PathLike[str], overwrite: bool) -> Iterator[tuple[int, Path]]:
    """A locked temporary file beside ``path`` (descriptor, path), renamed over ``path`` on success.

    The block writes it; the descriptor is closed here. Any OSError becomes a library
    error naming ``path``, and on failure the temporary file is removed.
    """
    target = Path(path)
    check_file_target(target, overwrite)
    recover(target)
    with _write_errors(target):
        with _staging.temp_file(target) as (fd, tmp), _unlink_on_error(tmp):
            try:
                yield fd, tmp
                os.fsync(fd)
            finally:
                with contextlib.suppress(OSError):
                    os.close(fd)
            os.replace(tmp, target)
    fsync_dir(target.parent)


@contextlib.contextmanager
def _unlink_on_error(path: Path) -> Iterator[None]:
    try:
        yield
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(path)
        raise


@contextlib.contextmanager
def atomic_file(path: str | os.PathLike[str], *, overwrite: bool = True) -> Iterator[BinaryIO]:
    """Open a temporary file beside ``path``; on success it is flushed and renamed to ``path``.

    Only a regular file (or a symbolic link, which is replaced, not followed) is replaced;
    a disk-full or read-only failure is a WriteError naming ``path``.
    """
    with _temp_file(path, overwrite) as (fd, _):
        f = os.fdopen(os.dup(fd), "wb")
        with f:
            yield f


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str], *, overwrite: bool = True) -> Iterator[Path]:
    """Like :func:`atomic_file`, for writers that take a file name: yield the temporary path.

    The writer may replace the file rather than write it (safetensors writes its own
    temporary file and renames it over the path); the result gets ``open()``'s mode.
    """
    with _temp_file(path, overwrite) as (_, tmp):
        yield tmp
        os.chmod(tmp, default_file_mode())
        fd = os.open(tmp, os.O_RDWR | getattr(os, "O_BINARY", 0))
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def make_directory(path: str | os.PathLike[str], what: str = "parent directory") -> None:
    """Create directory ``path`` and its missing ancestors, unless it exists.

    Failing is a NotFoundError (a parent is missing, a file or not accessible) or, for
    a full disk or read-only filesystem, a WriteError; both name ``path``.
    """
    if os.path.isdir(path):
        return
    try:
        os.makedirs(path, exist_ok=True)
    except OSError as exc:
        reason = exc.strerror or str(exc)
        if exc.errno in _NOT_FOUND | {errno.EEXIST}:
            raise NotFoundError(f"{what} cannot be created ({reason})", path=path) from None
        err = WriteError(f"{what} cannot be created ({reason})", path=exc.filename or path)
        err.errno = exc.errno
        raise err from exc


def _not_a_model(target: Path) -> str | None:
    """Why ``target`` may not be replaced by a save, or None (a SavedModel, an empty
    directory, or nothing: another save may just have moved it)."""
    from savedmodel_io.formats.layout import SAVED_MODEL_FILES

    try:
        mode = os.lstat(target).st_mode
        if stat.S_ISLNK(mode) and not os.path.isdir(target):
            return f"is a symbolic link to {os.readlink(target)!r}, not to a SavedModel directory"
        if not (stat.S_ISDIR(mode) or stat.S_ISLNK(mode)):
            return f"is {kind_of(mode)}, not a SavedModel directory"
        names = sorted(os.listdir(target))
        if not names or any(name in names for name in SAVED_MODEL_FILES):
            return None
        shown = [n + "/" if os.path.isdir(target / n) else n for n in names[:5]]
    except FileNotFoundError:
        return None
    more = ", ..." if len(names) > 5 else ""
    where = "the directory it links to" if stat.S_ISLNK(mode) else "it"
    return (f"is not a SavedModel (no {', '.join(SAVED_MODEL_FILES)}): {where} holds "
            f"{len(names)} entr{'y' if len(names) == 1 else 'ies'} ({', '.join(shown)}{more})")


def _check_directory_target(target: Path, overwrite: bool) -> None:
    """Refuse to replace ``target`` unless asked to and it is a SavedModel or an empty directory."""
    if not os.path.lexists(target):
        return
    if not overwrite:
        raise ModelExistsError("already exists (pass overwrite=True to replace it)", path=target)
    problem = _not_a_model(target)
    if problem is not None:
        raise ModelExistsError(f"{problem}; refusing to replace it", path=target)


def recover(path: str | os.PathLike[str]) -> None:
    """Undo what a killed write of ``path`` left: put a model it had moved aside back, and
    delete the temporary siblings of writers that are gone (see :mod:`savedmodel_io._staging`)."""
    target = Path(path)
    with _write_errors(target):
        _staging.recover(target)


def _swap_in(stage: _staging.Staging, target: Path) -> bool:
    """Replace ``target`` by ``stage.new``; False if another save changed ``target`` meanwhile.

    One atomic exchange where the system has it. Otherwise two renames: the previous
    model waits in ``stage.old`` in between (where :func:`_staging.recover` finds it if
    this process dies) and is put back if the second rename fails.
    """
    try:
        if _swap.exchange(stage.new, target):
            return True
        os.rename(target, stage.old)
    except FileNotFoundError:  # another save moved it away meanwhile (stage.new is ours)
        return False
    try:
        os.rename(stage.new, target)
        return True
    except OSError as exc:
        try:
            os.rename(stage.old, target)
        except OSError as back:
            if back.errno not in _OCCUPIED:
                raise exc from None  # the previous model stays in stage.old for recovery
            # Another save put its model there: ours lost the race, and the previous
            # model is superseded by that one.
            with contextlib.suppress(OSError):
                shutil.rmtree(stage.old, ignore_errors=True)
            return False
        if exc.errno in _OCCUPIED:  # the target came and went: try again
            return False
        raise


def _switch(stage: _staging.Staging, target: Path, overwrite: bool) -> None:
    """Move the finished ``stage.new`` to ``target`` (replacing it only if allowed)."""
    for _ in range(_SWITCH_ATTEMPTS):
        if not os.path.lexists(target):
            try:
                os.rename(stage.new, target)
                return
            except OSError as exc:  # another save got there first
                if exc.errno not in _OCCUPIED or not os.path.lexists(target):
                    raise
        if not overwrite:
            raise ModelExistsError("appeared while saving; not replaced", path=target)
        _check_directory_target(target, overwrite)
        if _swap_in(stage, target):
            return
    raise ModelExistsError("other saves kept replacing it meanwhile; not replaced", path=target)


@contextlib.contextmanager
def atomic_directory(
    path: str | os.PathLike[str], *, overwrite: bool = False, parents: bool = False
) -> Iterator[Path]:
    """Yield an empty temporary directory beside ``path``; on success it replaces ``path``.

    An existing ``path`` is only replaced with ``overwrite=True``, only if it is a
    SavedModel or an empty directory (anything else is refused with ModelExistsError),
    and only after the new directory is complete; the switch is one atomic exchange
    where the system has it (see :mod:`savedmodel_io._swap`). Whatever a killed
    earlier save of ``path`` left beside it is cleaned up first, and a previous model
    it had moved aside is put back (:func:`savedmodel_io._staging.recover`). With
    ``parents=True`` missing parent directories are created first (as
    ``tf.saved_model.save`` does); they are not atomic and stay if the write fails.
    OSErrors (disk full, read-only filesystem) become WriteError naming the file.
    """
    target = Path(path)
    parent = target.parent
    if parents:
        make_directory(parent)
    if not parent.is_dir():
        raise NotFoundError("parent directory does not exist", path=parent)
    recover(target)
    with _write_errors(target):
        _check_directory_target(target, overwrite)
        stage = _staging.Staging(target)
    try:
        with _write_errors(target):
            yield stage.new
            _fsync_tree(stage.new)
            _switch(stage, target, overwrite)
    except BaseException:
        if os.path.lexists(stage.old) and not os.path.lexists(target):
            stage.release()  # it holds the previous model: the next save puts it back
        else:
            stage.remove()
        raise
    fsync_dir(parent)
    stage.remove()  # the previous model, if any, is deleted with it
