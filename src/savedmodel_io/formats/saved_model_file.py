"""Which file of a SavedModel directory holds the SavedModel proto, and how to parse it.

A SavedModel directory holds one of ``saved_model.pb`` (binary), ``saved_model.pbtxt``
(text format) or ``saved_model.cpb`` (chunked, for protos over 2 GiB); when several exist
the choice follows TensorFlow (:func:`savedmodel_io.formats.layout.saved_model_file`).
Every format has a reader in ``FORMATS``. Chunked files are read by
:mod:`savedmodel_io.formats.cpb`. Files are read through a
:class:`~savedmodel_io.formats.source.ModelFiles` (a local directory, or a URL).
"""

from __future__ import annotations

import os
from pathlib import Path
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from savedmodel_io.errors import (
    CorruptFileError,
    LimitExceededError,
    NotFoundError,
    SavedModelError,
    UnsupportedFormatError,
)
from savedmodel_io.formats import census, layout, wire
from savedmodel_io.formats.source import LocalFiles, ModelFiles, open_files
from savedmodel_io.proto import MetaGraphDef, SavedModel, parse_message, parse_text

__all__ = [
    "CPB",
    "FORMATS",
    "MAX_PROTO_BYTES",
    "PB",
    "PBTXT",
    "find",
    "parse_pb",
    "read",
    "read_file",
    "read_signature_defs",
]

PB = layout.SAVED_MODEL_PB
PBTXT = layout.SAVED_MODEL_PBTXT
CPB = layout.SAVED_MODEL_CPB

# Protobuf's parsers (upb, C++, pure Python) refuse messages of 2 GiB or more: sizes are int32.
MAX_PROTO_BYTES = (1 << 31) - 1

Reader = Callable[[ModelFiles, str], SavedModel]
Directory = str | os.PathLike[str] | ModelFiles


def _read_bytes(files: ModelFiles, name: str) -> bytes:
    """The file's bytes; over protobuf's limit is refused before reading, with the .cpb hint."""
    size = files.size(name)
    if size > MAX_PROTO_BYTES:
        raise LimitExceededError(
            f"{size} bytes is over protobuf's 2 GiB message limit; "
            f"TensorFlow stores models this large as {CPB}",
            path=files.path(name),
        )
    return files.read_all(name, limit=MAX_PROTO_BYTES)  # the limit again: the file may grow


def parse_pb(data: bytes, path: str | os.PathLike[str] | None) -> SavedModel:
    """Parse a binary SavedModel, counting its meta graphs, signatures, ... first (census)."""
    census.check_wire(data, path)
    return parse_message(SavedModel, data, path=path)


def _read_pb(files: ModelFiles, name: str) -> SavedModel:
    return parse_pb(_read_bytes(files, name), files.path(name))


def _read_pbtxt(files: ModelFiles, name: str) -> SavedModel:
    data = _read_bytes(files, name)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise CorruptFileError(
            f"not UTF-8 text ({exc.reason} at byte {exc.start})", path=files.path(name)
        ) from None
    sm = parse_text(SavedModel, text, path=files.path(name))
    census.check_message(sm, files.path(name))
    return sm


def _read_cpb(files: ModelFiles, name: str) -> SavedModel:
    from savedmodel_io.formats.cpb import read_saved_model_cpb

    sm = read_saved_model_cpb(files, name=name)
    census.check_message(sm, files.path(name))
    return sm


READERS: dict[str, Reader] = {CPB: _read_cpb, PB: _read_pb, PBTXT: _read_pbtxt}
# In the order of preference when several files exist.
FORMATS: list[tuple[str, Reader]] = [(name, READERS[name]) for name in layout.SAVED_MODEL_FILES]


def _files(directory: Directory, allow_external_links: bool) -> ModelFiles:
    if isinstance(directory, ModelFiles):
        return directory
    return open_files(directory, allow_external_links=allow_external_links)


def _choose(files: ModelFiles) -> str:
    """The name of the SavedModel file to read (NotFoundError naming what is there if none).

    A file that is a link out of the directory is refused (OutsideModelError), not skipped.
    From a URL only saved_model.pb is read: looking for a .cpb first would cost a request
    on every load, and HTTP cannot list what is there.
    """
    if files.remote:
        if files.exists(PB):
            return PB
        other = [n for n in (CPB, PBTXT) if files.exists(n)]
        if other:
            raise UnsupportedFormatError(
                f"remote models are read from {PB}; this one has {other[0]} (download it first)",
                path=files.location)
        raise NotFoundError(f"no {PB} at this URL", path=files.location)
    if not os.path.lexists(files.location):
        from savedmodel_io._staging import interrupted_save

        note = interrupted_save(Path(files.location))
        raise NotFoundError("no such SavedModel directory" + (f"; {note}" if note else ""),
                            path=files.location)
    if not files.is_dir():
        raise NotFoundError("not a directory (a SavedModel is a directory)", path=files.location)
    name = layout.saved_model_file(files.exists)
    if name is not None:
        return name
    present = [n + ("/" if _quiet_is_dir(files, n) else "") for n in files.list() or []]
    what = ", ".join(present[:20]) + (", ..." if len(present) > 20 else "") if present else "nothing"
    names = " or ".join((PB, PBTXT, CPB))
    raise NotFoundError(f"no {names} in this directory (it holds: {what})", path=files.location)


def _quiet_is_dir(files: ModelFiles, name: str) -> bool:
    """For listing what a directory holds: a link leading out is shown, not raised."""
    try:
        return files.is_dir(name)
    except SavedModelError:
        return False


def find(directory: Directory) -> tuple[Any, Reader]:
    """The SavedModel file of ``directory`` (a path, or a URL path) and the reader for it."""
    files = _files(directory, False)
    name = _choose(files)
    return files.root / name, READERS[name]


def read(directory: Directory, *, allow_external_links: bool = False) -> SavedModel:
    """Parse the SavedModel proto of a SavedModel directory (a path, URL or ModelFiles).

    ``allow_external_links``: follow symlinks that lead out of a local directory (see
    :class:`savedmodel_io._fsutil.ModelRoot`); a ModelFiles carries its own setting.
    """
    files = _files(directory, allow_external_links)
    name = _choose(files)
    return READERS[name](files, name)


def read_named(files: ModelFiles, name: str) -> SavedModel:
    """Parse SavedModel file ``name`` of ``files``, the reader chosen by its suffix (.pb default)."""
    if not files.exists(name):
        raise NotFoundError("no such file", path=files.path(name))
    suffix = os.path.splitext(name)[1]
    reader = next((r for n, r in FORMATS if os.path.splitext(n)[1] == suffix), _read_pb)
    return reader(files, name)


def read_file(path: str | os.PathLike[str], *, allow_external_links: bool = False) -> SavedModel:
    """Parse one SavedModel file, choosing the reader by its name (``.pb``, ``.pbtxt``, ``.cpb``).

    The file must resolve inside the directory it is in (unless ``allow_external_links``).
    """
    directory, name = os.path.split(os.fspath(path))
    return read_named(LocalFiles(directory, allow_external_links=allow_external_links), name)


# --- fast path: only the signatures -------------------------------------------------------

# Field numbers: tensorflow/tensorflow tensorflow/core/protobuf/saved_model.proto and meta_graph.proto.
_SAVED_MODEL_META_GRAPHS = 2
_META_INFO_DEF = 1
_SIGNATURE_DEF = 5


def _fields(
    buf: memoryview, start: int, end: int, path: str
) -> Iterator[tuple[int, int, int, int]]:
    """(field number, tag start, value start, value end) of every field in ``buf[start:end]``."""
    try:
        for field, _, tag_at, pos, nxt in wire.fields(buf, start, end, wrap=True):
            yield field, tag_at, pos, nxt
    except wire.WireError as exc:
        raise CorruptFileError(exc.reason, path=path, where=f"byte {exc.at}") from None


def _signatures_only(meta_graphs: Iterable[MetaGraphDef]) -> list[MetaGraphDef]:
    out = []
    for mg in meta_graphs:
        small = MetaGraphDef()
        small.meta_info_def.CopyFrom(mg.meta_info_def)
        for k, v in mg.signature_def.items():
            small.signature_def[k].CopyFrom(v)
        out.append(small)
    return out


def read_signature_defs(
    directory: Directory, *, allow_external_links: bool = False
) -> list[MetaGraphDef]:
    """MetaGraphDefs holding only ``meta_info_def`` and ``signature_def``, parsed cheaply.

    For a binary ``saved_model.pb`` the graph, function library and object graph
    are skipped at the wire level and never parsed; other formats are read whole.
    """
    files = _files(directory, allow_external_links)
    name = _choose(files)
    if name == CPB:
        from savedmodel_io.formats.cpb import read_saved_model_cpb

        # Only the chunks outside the graphs and object graph: a big model's tensors stay on disk.
        return _signatures_only(
            read_saved_model_cpb(files, name=name, signatures_only=True).meta_graphs)
    if name != PB:
        return _signatures_only(READERS[name](files, name).meta_graphs)
    path = files.path(name)
    data = _read_bytes(files, name)
    census.check_wire(data, path, signatures_only=True)
    buf = memoryview(data)
    out = []
    for field, _, s, e in _fields(buf, 0, len(buf), path):
        if field != _SAVED_MODEL_META_GRAPHS:
            continue
        kept = b"".join(
            buf[t2:e2]
            for f2, t2, _, e2 in _fields(buf, s, e, path)
            if f2 in (_META_INFO_DEF, _SIGNATURE_DEF)
        )
        out.append(parse_message(MetaGraphDef, kept, path=path))
    return out

