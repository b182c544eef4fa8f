"""SavedModels at URLs (``https://``, ``gs://``, ``s3://``, ``file://``...), read through fsspec.

Only what is asked for is fetched: ``load(url)`` and ``show`` read ``saved_model.pb``;
reading one variable reads ``variables/variables.index`` and that tensor's byte range of
its shard (an HTTP Range request), never whole shards. fsspec (and, for HTTP, aiohttp)
are the optional extra ``remote``; other protocols need fsspec's own extras (``gcsfs``,
``s3fs``).
"""

from __future__ import annotations

import os
import posixpath
from typing import Any

import numpy as np

from savedmodel_io.errors import (
    CorruptFileError,
    InvalidArgumentError,
    LimitExceededError,
    MissingDependencyError,
    NotFoundError,
    ReadError,
    SavedModelError,
    UnsupportedFormatError,
)
from savedmodel_io.formats import sstable
from savedmodel_io.formats.bundle import CheckpointReader, TensorEntry, data_filename
from savedmodel_io.formats.saved_model_file import MAX_PROTO_BYTES, parse_pb
from savedmodel_io.model import SavedModel
from savedmodel_io.proto import SavedModel as SavedModelProto

__all__ = ["RemoteCheckpointReader", "RemoteSavedModel", "URLPath", "is_url", "load", "require_local"]

# variables.index files are small (about 100 bytes per tensor); refuse absurd ones.
MAX_INDEX_BYTES = 1 << 30


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


def _is_file(fs: Any, path: str) -> bool:
    """Existence by metadata only (HEAD for HTTP; fsspec's isfile would GET the whole body)."""
    try:
        info = fs.info(path)
    except (FileNotFoundError, OSError):
        return False
    return bool(info.get("type", "file") == "file")


def _fs_error(exc: Exception, url: str) -> Exception:
    if isinstance(exc, FileNotFoundError):
        return NotFoundError("not found", path=url)
    return CorruptFileError(f"cannot read ({type(exc).__name__}: {exc})", path=url)


def _is_http(fs: Any) -> bool:
    protocols = fs.protocol if isinstance(fs.protocol, (tuple, list)) else (fs.protocol,)
    return any(p in ("http", "https") for p in protocols)


def _read_range(fs: Any, url: str, start: int, end: int, size: int) -> bytes:
    """Bytes [start, end) of a remote file; an HTTP server that ignores Range is refused.

    fsspec's HTTP ``cat_file`` with a range reads the whole body when the server answers
    200 instead of 206, i.e. a whole shard for one variable: its file object checks first.
    """
    path = fs._strip_protocol(url)
    if not _is_http(fs):
        return bytes(fs.cat_file(path, start=start, end=end))
    try:
        with fs.open(path, "rb", cache_type="none", size=size) as f:
            f.seek(start)
            return bytes(f.read(end - start))
    except ValueError as exc:
        if "range" not in str(exc).lower():
            raise
        raise ReadError(
            "the server does not support HTTP Range requests, so reading one variable would "
            "download the whole shard; download the model first", path=url
        ) from None


class URLPath(str):
    """A URL that joins with ``/`` like a Path and answers ``is_file`` / ``is_dir`` remotely."""

    fs: Any

    def __new__(cls, url: str, fs: Any) -> URLPath:  # noqa: PYI034
        obj = super().__new__(cls, url.rstrip("/"))
        obj.fs = fs
        return obj

    def __truediv__(self, other: str) -> URLPath:
        return URLPath(posixpath.join(str(self), str(other)), self.fs)

    @property
    def name(self) -> str:
        return posixpath.basename(str(self))

    def _strip(self) -> str:
        return str(self.fs._strip_protocol(str(self)))

    def is_file(self) -> bool:
        return _is_file(self.fs, self._strip())

    def is_dir(self) -> bool:
        try:
            return bool(self.fs.isdir(self._strip()))
        except OSError:
            return False

    def read_bytes(self) -> bytes:
        try:
            return bytes(self.fs.cat_file(self._strip()))
        except OSError as exc:
            raise _fs_error(exc, str(self)) from None

    def rglob(self, pattern: str) -> list[URLPath]:
        return []  # assets.extra listing is not fetched remotely


class RemoteCheckpointReader(CheckpointReader):
    """A TensorBundle at a URL: the index is fetched once, tensors by byte range."""

    def __init__(self, url: str, *, verify_checksums: bool = True, fs: Any = None) -> None:
        if fs is None:
            fs, _root = _filesystem(url)
        self.fs = fs
        self._sizes: dict[int, int] = {}
        super().__init__(url, verify_checksums=verify_checksums, zero_copy=False)

    def _find_prefix(self, path: str | os.PathLike[str]) -> str:
        url = os.fspath(path).rstrip("/")
        if url.endswith(".index"):
            return url[: -len(".index")]
        for candidate in (url + "/variables/variables", url + "/variables", url):
            if _is_file(self.fs, self.fs._strip_protocol(candidate + ".index")):
                return candidate
        raise NotFoundError("no checkpoint here (no variables/variables.index)", path=url)

    def _open_table(self) -> sstable.Table:
        target = self.fs._strip_protocol(self.index_path)
        try:
            size = self.fs.size(target)
            if size is not None and size > MAX_INDEX_BYTES:
                raise LimitExceededError(f"index of {size} bytes is too large", path=self.index_path)
            data = self.fs.cat_file(target)
        except SavedModelError:
            raise
        except OSError as exc:
            raise _fs_error(exc, self.index_path) from None
        return sstable.Table(bytes(data), path=self.index_path, verify_checksums=self.verify_checksums)

    def _shard(self, shard_id: int) -> tuple[np.ndarray | None, int]:
        if shard_id not in self._sizes:
            url = data_filename(self.prefix, shard_id, self.num_shards)
            try:
                self._sizes[shard_id] = int(self.fs.size(self.fs._strip_protocol(url)))
            except OSError as exc:
                raise _fs_error(exc, url) from None
        return None, self._sizes[shard_id]

    def _bytes(self, entry: TensorEntry, key: str) -> np.ndarray:
        url = data_filename(self.prefix, entry.shard_id, self.num_shards)
        _none, size = self._shard(entry.shard_id)
        if entry.offset + entry.size > size:
            raise CorruptFileError(
                f"tensor data at offset {entry.offset} with {entry.size} bytes runs past the end of "
                f"the shard ({size} bytes)", path=url, where=f"key {key!r}",
            )
        if entry.size == 0:
            return np.empty(0, np.uint8)
        try:
            data = _read_range(self.fs, url, entry.offset, entry.offset + entry.size, size)
        except SavedModelError:
            raise
        except OSError as exc:
            raise _fs_error(exc, url) from None
        if len(data) != entry.size:
            raise CorruptFileError(f"asked for {entry.size} bytes, the server sent {len(data)}",
                                   path=url, where=f"key {key!r}")
        return np.frombuffer(data, np.uint8)


class RemoteSavedModel(SavedModel):
    """A SavedModel read from a URL; variables are fetched by byte range when accessed."""

    def __init__(self, proto: SavedModelProto, url: str, fs: Any) -> None:
        super().__init__(proto, None)
        self.url = url.rstrip("/")
        self.fs = fs
        self.path = URLPath(self.url, fs)  # type: ignore[assignment]

    def _open_checkpoint(self) -> CheckpointReader:
        return RemoteCheckpointReader(self.url, fs=self.fs)


def load(url: str) -> RemoteSavedModel:
    """Read ``<url>/saved_model.pb`` (one request) into the object model."""
    fs, root = _filesystem(url)
    base = url.rstrip("/")
    target = posixpath.join(root, "saved_model.pb")
    try:
        if not _is_file(fs, target):
            other = [n for n in ("saved_model.cpb", "saved_model.pbtxt")
                     if _is_file(fs, posixpath.join(root, n))]
            if other:
                raise UnsupportedFormatError(
                    f"remote models are read from saved_model.pb; this one has {other[0]} "
                    "(download it first)", path=base)
            raise NotFoundError("no saved_model.pb at this URL", path=base)
        size = fs.size(target)
        if size is not None and size > MAX_PROTO_BYTES:
            raise LimitExceededError(f"saved_model.pb of {size} bytes exceeds the protobuf limit",
                                     path=base + "/saved_model.pb")
        data = fs.cat_file(target)
    except SavedModelError:
        raise
    except OSError as exc:
        raise _fs_error(exc, base + "/saved_model.pb") from None
    proto = parse_pb(bytes(data), base + "/saved_model.pb")
    return RemoteSavedModel(proto, url, fs)
