"""The exceptions savedmodel_io raises: one base class, a few specific kinds.

Every error names the file it is about (``path``) and, where it applies, the place
inside it (``where``: a checkpoint key, a node, a byte offset, a chunk index).
Several classes also derive from the matching built-in exception so that
``except FileNotFoundError`` or ``except ValueError`` keep working.
"""

from __future__ import annotations

import os
from typing import Any

__all__ = [
    "SavedModelError",
    "NotFoundError",
    "FormatError",
    "CorruptFileError",
    "UnsupportedFormatError",
    "ChecksumError",
    "LimitExceededError",
    "UnsupportedOpError",
    "InvalidArgumentError",
    "RuntimeFailure",
    "ModelExistsError",
    "OutsideModelError",
    "ReadError",
    "WriteError",
    "MissingDependencyError",
]


class SavedModelError(Exception):
    """Base class of every error savedmodel_io raises on purpose."""

    def __init__(
        self,
        message: str,
        *,
        path: str | os.PathLike[str] | None = None,
        where: str | None = None,
    ) -> None:
        fspath = os.fspath(path) if path is not None else None
        super().__init__(_text(message, fspath, where))
        # Set after the base __init__: ImportError.__init__ resets ``path``.
        self.message = message
        self.path = fspath
        self.where = where

    def locate(self, path: str | os.PathLike[str] | None) -> SavedModelError:
        """Name ``path`` as the file, unless the error already names one (returns self).

        For errors raised where the file is not known (a kernel deep in a run): the layer
        that knows it fills it in on the way out.
        """
        if self.path is None and path is not None:
            self.path = os.fspath(path)
            self.args = (_text(self.message, self.path, self.where),)
        return self

    def __reduce__(self) -> tuple[Any, ...]:  # keep pickling (multiprocessing, pytest-xdist) working
        return (_rebuild, (type(self), self.message, self.path, self.where))


def _text(message: str, path: str | None, where: str | None) -> str:
    head = path or ""
    if where:
        head = f"{head} ({where})" if head else where
    return f"{head}: {message}" if head else message


def _rebuild(cls: type[SavedModelError], message: str, path: str | None,
             where: str | None) -> SavedModelError:
    return cls(message, path=path, where=where)


class NotFoundError(SavedModelError, FileNotFoundError, KeyError):
    """A file, directory, tag-set, signature, key or function does not exist.

    Also a ``KeyError``: looking a name up in one of the model's mappings raises it, and
    ``except KeyError`` (or ``mapping.get``) keeps working as with a dict.
    """


class FormatError(SavedModelError, ValueError):
    """A file cannot be understood: corrupt, truncated, or of a kind we do not read."""


class CorruptFileError(FormatError):
    """A file is truncated or its bytes contradict the format."""


class UnsupportedFormatError(FormatError):
    """A valid file uses a feature this library does not implement."""


class ChecksumError(CorruptFileError):
    """A stored checksum (CRC32C, HighwayHash, fingerprint) does not match the bytes."""


class LimitExceededError(CorruptFileError):
    """A declared size or count is beyond what the file or a sane limit allows."""


class UnsupportedOpError(SavedModelError):
    """The graph runtime has no kernel for an op (names op, node and function)."""


class InvalidArgumentError(SavedModelError, ValueError):
    """A caller passed a value of the wrong name, type, dtype or shape."""


class RuntimeFailure(SavedModelError):
    """Evaluating a graph failed inside a kernel (names the node)."""


class OutsideModelError(SavedModelError):
    """A file of a model resolves outside its directory (a symlink) and external links are not allowed."""


class ReadError(SavedModelError, OSError):
    """The operating system failed to read a file (I/O error, ...); ``errno`` is kept."""


class WriteError(SavedModelError, OSError):
    """The operating system failed to write a file (disk full, read-only...); ``errno`` is kept."""


class ModelExistsError(SavedModelError, FileExistsError):
    """A save would replace something: overwrite was not asked for, or it is not a model.

    With ``overwrite=True`` only a SavedModel (or an empty directory) is replaced; a
    directory of other files, a regular file or a device is refused with this error.
    """


class MissingDependencyError(SavedModelError, ImportError):
    """An optional package is needed for this file (e.g. brotli, ml_dtypes)."""
