"""Temporary siblings of a path being written: recognisable, locked while in use, cleaned up after.

A save of ``dir/m`` builds the new model in ``dir/.m.savedmodel-io-<pid>-<rand>.tmp/new``
beside a marker file (``savedmodel-io.lock``, one JSON line naming the target, the
process and the host) that the writer holds an exclusive lock on (``flock``; on
Windows ``msvcrt.locking``) until it is done. Where the previous model cannot be
swapped out in one step it waits in ``.../old`` between two renames. An atomic file
write uses a temporary file of the same name pattern, locked the same way.

A writer that is killed leaves its sibling behind, with its lock released by the
operating system. :func:`recover`, run by the next write of the same path, puts a
model that was moved aside back if the path is missing, and deletes the siblings of
writers that are gone: a sibling counts as abandoned only if its lock can be taken
and either its marker is complete or its process no longer exists, so a live writer
(even on another host of a network filesystem with working locks) is never disturbed.
Nothing is deleted that does not match the name pattern; a directory only if it holds
the marker or is empty. Loading never calls :func:`recover`; :func:`interrupted_save`
only describes what it would do.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import secrets
import shutil
import socket
import stat
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None  # type: ignore[assignment]
try:
    import msvcrt
except ImportError:  # POSIX
    msvcrt = None  # type: ignore[assignment]

__all__ = [
    "MARKER", "Staging", "interrupted_save", "recover", "sibling_root", "siblings", "temp_file",
]

MARKER = "savedmodel-io.lock"
_TAG = "savedmodel-io"
_MAX_STEM = 200  # bytes of the target's name kept in a sibling's name (NAME_MAX is 255)
_MAX_MARKER = 4096
_OPEN_LOCK = (os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
              | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0))
_CREATE = (os.O_RDWR | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
           | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0))


def _stem(name: str) -> str:
    """The target's name as it appears in its siblings' names (hashed when very long)."""
    raw = os.fsencode(name)
    return name if len(raw) <= _MAX_STEM else "~" + hashlib.sha256(raw).hexdigest()[:32]


def _sibling(target: Path) -> Path:
    return target.parent / f".{_stem(target.name)}.{_TAG}-{os.getpid()}-{secrets.token_hex(4)}.tmp"


def _pattern(target: Path) -> re.Pattern[str]:
    return re.compile(rf"\.{re.escape(_stem(target.name))}\.{_TAG}-(\d{{1,10}})-[0-9a-f]{{8}}\.tmp")


def sibling_root(path: Path, target: Path) -> Path | None:
    """The temporary sibling of ``target`` that ``path`` is (or lies in), by name; else None."""
    pattern = _pattern(target)
    for p in (path, *path.parents):
        if p.parent == target.parent:
            return p if pattern.fullmatch(p.name) else None
    return None


@dataclass(frozen=True)
class Sibling:
    """A temporary sibling of a target found on disk: its path, writer pid, and kind."""

    path: Path
    pid: int
    is_dir: bool


def siblings(target: Path) -> list[Sibling]:
    """The temporary siblings of ``target`` that this library's writers may have left."""
    pattern = _pattern(target)
    found = []
    try:
        entries = list(os.scandir(target.parent))
    except OSError:
        return []
    for e in entries:
        m = pattern.fullmatch(e.name)
        if m is None:
            continue
        try:
            is_dir = e.is_dir(follow_symlinks=False)
            is_file = e.is_file(follow_symlinks=False)
        except OSError:
            continue
        if is_dir or is_file:  # a symlink of that name is not ours
            found.append(Sibling(Path(e.path), int(m.group(1)), is_dir))
    return found


# ----------------------------------------------------------------------------- locks


def _try_lock(fd: int) -> bool:
    """Take the exclusive lock on ``fd`` without waiting; False if another process holds it.

    A filesystem without locks (``ENOLCK``) counts as held: nothing is then ever cleaned.
    """
    try:
        if fcntl is not None:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        elif msvcrt is not None:
            os.lseek(fd, 0, os.SEEK_SET)
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        else:  # pragma: no cover - neither POSIX nor Windows
            return False
    except OSError:
        return False
    return True


def _lock(fd: int) -> None:
    """Take the lock on a file this writer just created (waiting out a cleaner's brief look)."""
    with contextlib.suppress(OSError):  # no locks on this filesystem: the pid rule still holds
        if fcntl is not None:
            fcntl.flock(fd, fcntl.LOCK_EX)
        elif msvcrt is not None:
            os.lseek(fd, 0, os.SEEK_SET)
            msvcrt.locking(fd, msvcrt.LK_LOCK, 1)


def _process_gone(pid: int) -> bool:
    """True only when no process ``pid`` exists on this host (never guessed on Windows)."""
    if os.name != "posix" or pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except OSError:  # EPERM: it exists, as another user
        return False
    return False


def _marker_complete(data: bytes, target: Path) -> bool:
    """Whether a marker was fully written by a save of ``target``."""
    if not data.endswith(b"\n"):
        return False
    try:
        doc = json.loads(data)
    except ValueError:
        return False
    return isinstance(doc, dict) and doc.get("savedmodel_io") == "save" and \
        doc.get("target") == target.name


@contextlib.contextmanager
def _claim(sib: Sibling, target: Path) -> Iterator[bool]:
    """Hold ``sib``'s lock for the block; yields whether its writer is gone (safe to clean)."""
    if sib.pid == os.getpid():  # this process: its own list says (locks may not show via NFS)
        yield sib.path not in _LIVE
        return
    try:
        fd = os.open(sib.path / MARKER if sib.is_dir else sib.path, _OPEN_LOCK)
    except FileNotFoundError:  # killed before its marker existed
        yield sib.is_dir and _process_gone(sib.pid)
        return
    except OSError:
        yield False
        return
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode) or not _try_lock(fd):
            yield False
            return
        if sib.is_dir:
            data = os.read(fd, _MAX_MARKER)
            yield _marker_complete(data, target) or _process_gone(sib.pid)
        else:
            yield _process_gone(sib.pid)
    finally:
        os.close(fd)


def _remove(root: Path) -> None:
    """Delete a temporary directory, its marker last (best effort).

    Interrupted at any point, what remains still holds the marker, or is empty.
    """
    with contextlib.suppress(OSError):
        for entry in os.scandir(root):
            if entry.name == MARKER:
                continue
            if entry.is_dir(follow_symlinks=False):
                shutil.rmtree(entry.path, ignore_errors=True)
            else:
                os.unlink(entry.path)
        if os.listdir(root) == [MARKER]:  # all else is gone
            os.unlink(root / MARKER)
    with contextlib.suppress(OSError):
        os.rmdir(root)


# ----------------------------------------------------------------------------- writers

# The siblings this process's writers are using right now.
_LIVE: set[Path] = set()


class Staging:
    """A locked temporary directory beside a target: ``new`` is built in it, ``old`` waits in it."""

    def __init__(self, target: Path) -> None:
        """Create the directory, its marker (locked) and the empty ``new`` directory."""
        self.target = target
        while True:
            self.root = _sibling(target)
            _LIVE.add(self.root)  # before it exists: another thread's recover() must skip it
            try:
                os.mkdir(self.root, 0o700)
                break
            except FileExistsError:
                _LIVE.discard(self.root)
            except BaseException:
                _LIVE.discard(self.root)
                raise
        self.new = self.root / "new"
        self.old = self.root / "old"
        self._fd: int | None = None
        try:
            self._fd = os.open(self.root / MARKER, _CREATE, 0o600)
            _lock(self._fd)
            doc = {"savedmodel_io": "save", "target": target.name, "pid": os.getpid(),
                   "host": socket.gethostname(), "started": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
            os.write(self._fd, (json.dumps(doc) + "\n").encode())
            # The mode mkdir() gives (umask applied): a model must be readable like one TF
            # writes, since a server may run as another user.
            os.mkdir(self.new, 0o777)
        except BaseException:
            self.remove()
            raise

    def remove(self) -> None:
        """Delete the directory and everything in it (best effort), then drop the lock."""
        _remove(self.root)
        self.release()

    def release(self) -> None:
        """Drop the lock and leave the directory for :func:`recover` (it holds a model)."""
        _LIVE.discard(self.root)
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


@contextlib.contextmanager
def temp_file(target: Path) -> Iterator[tuple[int, Path]]:
    """A new locked temporary file beside ``target``: (descriptor, path), in use for the block.

    It gets the mode ``open()`` would give (0o666 minus the umask), not mkstemp's 0o600.
    The caller closes the descriptor and renames or removes the file.
    """
    while True:
        path = _sibling(target)
        _LIVE.add(path)  # before it exists: another thread's recover() must skip it
        try:
            fd = os.open(path, _CREATE, 0o666)
            break
        except BaseException as exc:
            _LIVE.discard(path)
            if not isinstance(exc, FileExistsError):
                raise
    try:
        _lock(fd)
        yield fd, path
    finally:
        _LIVE.discard(path)


# ----------------------------------------------------------------------------- after a kill


def recover(target: Path) -> Path | None:
    """Clean up after writers of ``target`` that are gone; return the model put back, if any.

    If ``target`` is missing and an abandoned save holds the previous model (it was
    killed between its two renames), that model is renamed back to ``target``. Every
    abandoned sibling is then deleted. Siblings of live writers are left alone.
    """
    restored = None
    for sib in siblings(target):
        with _claim(sib, target) as gone:
            if not gone:
                continue
            if not sib.is_dir:
                with contextlib.suppress(OSError):
                    os.unlink(sib.path)
                continue
            if not os.path.lexists(sib.path / MARKER):  # killed before writing it: empty
                with contextlib.suppress(OSError):
                    os.rmdir(sib.path)
                continue
            held = sib.path / "old"
            if not os.path.lexists(target) and held.is_dir() and not held.is_symlink():
                os.rename(held, target)
                restored = target
            _remove(sib.path)
    return restored


def interrupted_save(target: Path) -> str | None:
    """For a missing ``target``: a sentence saying where a save left its previous model, if any."""
    for sib in siblings(target):
        held = sib.path / "old"
        if not sib.is_dir or not held.is_dir():
            continue
        with _claim(sib, target) as gone:
            if not gone:
                return (f"a save of this path (process {sib.pid}) is replacing it at this "
                        "moment; try again")
        return (f"a save of this path was interrupted; the previous model is in {held} "
                "(the next save or replace_weights writing this path puts it back, or move "
                "it back yourself)")
    return None
