"""Where a model's bytes come from: the one interface the format modules read through.

Format modules read the files of a model only through a :class:`ModelFiles`, by names
relative to the model directory (``"variables/variables.index"``, see :mod:`.layout`).
Two implementations:

* :class:`LocalFiles`, a directory: every file must resolve inside it (a symlink leading
  out is refused unless ``allow_external_links``, see ``_fsutil.ModelRoot``), special files
  are refused, and data shards are memory-mapped (zero-copy views).
* ``savedmodel_io.remote.RemoteFiles``, a URL read through fsspec: sizes by HEAD, byte
  ranges by HTTP Range requests, never a whole shard for one tensor (it implements the
  protocol without importing this module: no import cycle).

:func:`open_files` picks one for a path or URL, once, where it enters the library
(``load``, ``open_checkpoint``...).
"""

from __future__ import annotations

import mmap
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from savedmodel_io._fsutil import ModelRoot, ReadFile, open_regular, read_regular
from savedmodel_io.errors import CorruptFileError
from savedmodel_io.remote import RemoteFiles, is_url

if TYPE_CHECKING:  # numpy is imported on first use: inspecting a model never needs it
    import numpy as np

__all__ = ["LocalFiles", "ModelFiles", "is_url", "open_files"]


@runtime_checkable
class ModelFiles(Protocol):
    """The files of one model directory, by relative name; local or remote.

    A protocol, so that ``savedmodel_io.remote`` implements it without importing this module.
    """

    #: True when files are fetched over a network (each read is a request).
    remote: bool
    #: The directory as given (a path or a URL), for messages.
    location: str
    #: Whether files that symlinks lead to outside the directory may be read.
    allow_external_links: bool

    @property
    def root(self) -> Any:
        """The directory as a path object joining names with ``/`` (Path, or a URL path)."""

    def path(self, name: str) -> str:
        """Where file ``name`` is (for messages)."""

    def exists(self, name: str, what: str | None = None) -> bool:
        """Whether ``name`` is a regular file (``what`` names it in errors)."""

    def is_dir(self, name: str = "") -> bool:
        """Whether ``name`` (default: the model directory itself) is a directory."""

    def list(self, name: str = "") -> list[str] | None:
        """Sorted entry names of directory ``name``; None when the source cannot list."""

    def size(self, name: str, what: str | None = None) -> int:
        """Size of file ``name`` in bytes."""

    def read(self, name: str, offset: int, length: int, what: str | None = None) -> bytes:
        """Exactly ``length`` bytes of ``name`` from ``offset`` (CorruptFileError if fewer)."""

    def read_all(self, name: str, *, limit: int | None = None, what: str | None = None) -> bytes:
        """All of ``name``; LimitExceededError beyond ``limit`` bytes, before reading."""

    def open(self, name: str, what: str | None = None) -> ReadFile:
        """``name`` as a seekable binary file, for streaming readers (close it)."""

    def view(self, name: str, what: str | None = None) -> tuple[np.ndarray | None, int] | None:
        """(read-only uint8 view over all of ``name``, or None if empty; size), without copying.

        None when the source has no such view (remote files are read by range instead).
        """


class LocalFiles:
    """A model directory on this machine (a ModelFiles); every file read must resolve inside it."""

    remote = False

    def __init__(self, directory: str | os.PathLike[str], *, allow_external_links: bool = False
                 ) -> None:
        self.location = os.fspath(directory)
        self.allow_external_links = allow_external_links
        self.model_root = ModelRoot(self.location or ".", allow_external_links=allow_external_links)

    def __repr__(self) -> str:
        return f"LocalFiles({self.location!r}, allow_external_links={self.allow_external_links})"

    @property
    def root(self) -> Path:
        return Path(self.location)

    def path(self, name: str) -> str:
        return os.path.join(self.location, name) if name else self.location

    def exists(self, name: str, what: str | None = None) -> bool:
        return self.model_root.is_file(self.path(name), what or name)

    def is_dir(self, name: str = "") -> bool:
        return self.model_root.is_dir(self.path(name), name or "directory")

    def list(self, name: str = "") -> list[str] | None:
        try:
            return sorted(os.listdir(self.model_root.resolve(self.path(name), name or "directory")))
        except OSError:
            return []

    def size(self, name: str, what: str | None = None) -> int:
        with self.open(name, what) as f:
            return os.fstat(f.fileno()).st_size

    def read(self, name: str, offset: int, length: int, what: str | None = None) -> bytes:
        with self.open(name, what) as f:
            f.seek(offset)
            data = f.read(length)
        if len(data) != length:
            raise CorruptFileError(
                f"wanted {length} bytes at offset {offset}, the file has {len(data)}",
                path=self.path(name))
        return data

    def read_all(self, name: str, *, limit: int | None = None, what: str | None = None) -> bytes:
        return read_regular(self.path(name), limit=limit, what=what or name, root=self.model_root)

    def open(self, name: str, what: str | None = None) -> ReadFile:
        return open_regular(self.path(name), what or name, root=self.model_root)

    def view(self, name: str, what: str | None = None) -> tuple[np.ndarray | None, int]:
        import numpy as np

        with self.open(name, what) as f:
            size = os.fstat(f.fileno()).st_size
            try:
                mm = np.frombuffer(mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ), np.uint8) \
                    if size else None
            except OSError as exc:  # e.g. a filesystem that cannot map files
                raise CorruptFileError(
                    f"{what or name} cannot be mapped ({exc.strerror or exc})", path=self.path(name)
                ) from None
        return mm, size


def open_files(location: str | os.PathLike[str], *, allow_external_links: bool = False
               ) -> ModelFiles:
    """The files of the model at ``location``: a local directory, or a URL (``remote`` extra)."""
    if is_url(location):
        return RemoteFiles(str(location))
    return LocalFiles(location, allow_external_links=allow_external_links)


