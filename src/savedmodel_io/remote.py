"""SavedModels at URLs (``https://``, ``gs://``, ``s3://``, ``file://``...): the fsspec byte source.

:class:`RemoteFiles` is the :class:`~savedmodel_io.formats.source.ModelFiles` of a URL;
``load(url)``, ``open_checkpoint(url)`` and the command line pick it for URLs
(``savedmodel_io.formats.source.open_files``), and the format modules read through it as
they read a local directory. Only what is asked for is fetched: ``load(url)`` and ``show``
read ``saved_model.pb``; reading one variable reads ``variables/variables.index`` and that
tensor's byte range of its shard (an HTTP Range request), never whole shards. fsspec (and,
for HTTP, aiohttp) are the optional extra ``remote``; other protocols need fsspec's own
extras (``gcsfs``, ``s3fs``).
"""

from __future__ import annotations

import functools
import posixpath
from typing import TYPE_CHECKING, Any

from savedmodel_io.errors import (
    CorruptFileError,
    InvalidArgumentError,
    LimitExceededError,
    MissingDependencyError,
    NotFoundError,
    ReadError,
)

if TYPE_CHECKING:  # the file type ModelFiles.open returns (remote.py needs no _fsutil to run)
    from savedmodel_io._fsutil import ReadFile

__all__ = ["RemoteFiles", "URLPath", "is_url", "require_local"]


def is_url(path: Any) -> bool:
    """Whether ``path`` is a URL with a scheme (``https://...``), not a local path."""
    return isinstance(path, str) and "://" in path and not path.startswith("/")


def require_local(path: Any, command: str) -> None:
    """InvalidArgumentError naming the URL, for commands that read local directories only."""
    if is_url(path):
        raise InvalidArgumentError(
            f"{command} reads local directories only (load, show, variables and run read URLs); "
            "copy the model to a local directory first", path=path)


def _filesystem(url: str) -> tuple[Any, str]:
    try:
        import fsspec
    except ImportError:
        raise MissingDependencyError(
            f"reading {url.split('://', 1)[0]}:// URLs needs fsspec: pip install 'savedmodel-io[remote]'"
        ) from None
    try:
        fs, root = fsspec.core.url_to_fs(url)
    except (ImportError, ValueError) as exc:  # e.g. gs:// without gcsfs
        raise MissingDependencyError(f"cannot open {url}: {exc}") from None
    return fs, root


@functools.cache
def _transport_errors() -> tuple[type[Exception], ...]:
    """What a filesystem call raises when the server or network fails: OSError, and
    aiohttp's own errors (a malformed response is a ClientResponseError, not an OSError)."""
    try:
        from aiohttp import ClientError
    except ImportError:
        return (OSError,)
    return (OSError, ClientError)


def _fs_error(exc: Exception, url: str) -> Exception:
    if isinstance(exc, FileNotFoundError):
        return NotFoundError("not found", path=url)
    return CorruptFileError(f"cannot read ({type(exc).__name__}: {exc})", path=url)


def _is_http(fs: Any) -> bool:
    protocols = fs.protocol if isinstance(fs.protocol, (tuple, list)) else (fs.protocol,)
    return any(p in ("http", "https") for p in protocols)


class URLPath(str):
    """A URL that joins with ``/`` like a Path (``SavedModel.path`` of a remote model)."""

    def __new__(cls, url: str) -> URLPath:  # noqa: PYI034
        return super().__new__(cls, url.rstrip("/"))

    def __truediv__(self, other: str) -> URLPath:
        return URLPath(posixpath.join(str(self), str(other)))

    @property
    def name(self) -> str:
        return posixpath.basename(str(self))


class RemoteFiles:
    """The files under a URL (a ``ModelFiles``): existence and sizes by metadata (HEAD),
    contents by byte range."""

    remote = True
    allow_external_links = False  # links are the server's business: a URL is read as served

    def __init__(self, url: str, fs: Any = None) -> None:
        if fs is None:
            fs, _root = _filesystem(url)
        self.fs = fs
        self.location = url.rstrip("/")
        self._sizes: dict[str, int | None] = {}

    def __repr__(self) -> str:
        return f"RemoteFiles({self.location!r})"

    @property
    def root(self) -> URLPath:
        return URLPath(self.location)

    def path(self, name: str) -> str:
        return posixpath.join(self.location, name) if name else self.location

    def _target(self, name: str) -> str:
        return str(self.fs._strip_protocol(self.path(name)))

    def exists(self, name: str, what: str | None = None) -> bool:
        """By metadata only (HEAD for HTTP; fsspec's isfile would GET the whole body)."""
        try:
            info = self.fs.info(self._target(name))
        except _transport_errors():
            return False
        return bool(info.get("type", "file") == "file")

    def is_dir(self, name: str = "") -> bool:
        try:
            return bool(self.fs.isdir(self._target(name)))
        except _transport_errors():
            return False

    def list(self, name: str = "") -> list[str] | None:
        return None  # HTTP has no listing; nothing here needs one

    def _size(self, name: str) -> int | None:
        """The size the server reports (HEAD; remembered), None if it reports none."""
        if name not in self._sizes:
            try:
                size = self.fs.size(self._target(name))
            except _transport_errors() as exc:
                raise _fs_error(exc, self.path(name)) from None
            self._sizes[name] = None if size is None else int(size)
        return self._sizes[name]

    def size(self, name: str, what: str | None = None) -> int:
        size = self._size(name)
        if size is None:
            raise ReadError("the server does not say how large the file is", path=self.path(name))
        return size

    def read(self, name: str, offset: int, length: int, what: str | None = None) -> bytes:
        """Bytes [offset, offset + length); an HTTP server that ignores Range is refused.

        fsspec's HTTP ``cat_file`` with a range reads the whole body when the server answers
        200 instead of 206, i.e. a whole shard for one variable: its file object checks first.
        """
        url = self.path(name)
        size = self.size(name, what)
        try:
            if not _is_http(self.fs):
                target = self._target(name)
                data = bytes(self.fs.cat_file(target, start=offset, end=offset + length))
            else:
                with self.fs.open(self._target(name), "rb", cache_type="none", size=size) as f:
                    f.seek(offset)
                    data = bytes(f.read(length))
        except ValueError as exc:
            if "range" not in str(exc).lower():
                raise
            raise ReadError(
                "the server does not support HTTP Range requests, so reading one variable would "
                "download the whole shard; download the model first", path=url
            ) from None
        except _transport_errors() as exc:
            raise _fs_error(exc, url) from None
        if len(data) != length:
            raise CorruptFileError(f"asked for {length} bytes, the server sent {len(data)}",
                                   path=url)
        return data

    def read_all(self, name: str, *, limit: int | None = None, what: str | None = None) -> bytes:
        url = self.path(name)
        size = self._size(name)  # unknown: read anyway, as fsspec would
        if limit is not None and size is not None and size > limit:
            raise LimitExceededError(
                f"{what or name} is {size} bytes, far too large (the limit is {limit} bytes)",
                path=url)
        try:
            if limit is None:
                return bytes(self.fs.cat_file(self._target(name)))
            # At most limit + 1 bytes, whatever the server said its size was (or not).
            with self.fs.open(self._target(name), "rb", cache_type="none") as f:
                data = bytes(f.read(limit + 1))
        except _transport_errors() as exc:
            raise _fs_error(exc, url) from None
        if len(data) > limit:
            raise LimitExceededError(
                f"{what or name} is larger than the limit of {limit} bytes", path=url)
        return data

    def open(self, name: str, what: str | None = None) -> ReadFile:
        try:
            f: ReadFile = self.fs.open(self._target(name), "rb")
        except _transport_errors() as exc:
            raise _fs_error(exc, self.path(name)) from None
        return f

    def view(self, name: str, what: str | None = None) -> None:
        """No zero-copy view of a remote file: tensors are read by range."""
        return None
