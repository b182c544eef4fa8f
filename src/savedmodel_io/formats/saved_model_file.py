"""Which file of a SavedModel directory holds the SavedModel proto, and how to parse it.

A SavedModel directory holds exactly one of ``saved_model.pb`` (binary),
``saved_model.pbtxt`` (text format) or ``saved_model.cpb`` (chunked, for protos
over 2 GiB). TensorFlow's loader reads ``.pb`` before ``.pbtxt``
(tensorflow/tensorflow tensorflow/cc/saved_model/reader.cc, ``ReadSavedModel``).

Every format is one entry of ``FORMATS`` (file name, reader); :func:`find`
returns the first entry whose file exists. ``saved_model.cpb`` comes first: a
``.cpb`` is preferred when a ``.pb`` sits next to it, as TensorFlow's chunked
reader does (tensorflow/tools/proto_splitter/cc/util.cc ``OnlyContainsPb``,
used by ``Merger::Read`` and the fingerprinting code). Chunked files are read by
:mod:`savedmodel_io.formats.cpb`.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

from savedmodel_io._fsutil import ModelRoot, read_regular
from savedmodel_io._varint import VarintError
from savedmodel_io._varint import decode as decode_varint
from savedmodel_io.errors import (
    CorruptFileError,
    LimitExceededError,
    NotFoundError,
)
from savedmodel_io.proto import MetaGraphDef, SavedModel, parse_message, parse_text

__all__ = [
    "CPB",
    "FORMATS",
    "MAX_PROTO_BYTES",
    "PB",
    "PBTXT",
    "find",
    "read",
    "read_file",
    "read_signature_defs",
]

PB = "saved_model.pb"
PBTXT = "saved_model.pbtxt"
CPB = "saved_model.cpb"

# Protobuf's parsers (upb, C++, pure Python) refuse messages of 2 GiB or more: sizes are int32.
MAX_PROTO_BYTES = (1 << 31) - 1

Reader = Callable[[Path, ModelRoot], SavedModel]


def _read_bytes(path: Path, root: ModelRoot) -> bytes:
    """The file's bytes; over protobuf's limit is refused before reading, with the .cpb hint."""
    size = os.stat(root.resolve(path, path.name)).st_size
    if size > MAX_PROTO_BYTES:
        raise LimitExceededError(
            f"{size} bytes is over protobuf's 2 GiB message limit; "
            "TensorFlow stores models this large as saved_model.cpb",
            path=path,
        )
    # The limit again: the file may grow.
    return read_regular(path, limit=MAX_PROTO_BYTES, what=path.name, root=root)


def _read_pb(path: Path, root: ModelRoot) -> SavedModel:
    return parse_message(SavedModel, _read_bytes(path, root), path=path)


def _read_pbtxt(path: Path, root: ModelRoot) -> SavedModel:
    data = _read_bytes(path, root)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise CorruptFileError(
            f"not UTF-8 text ({exc.reason} at byte {exc.start})", path=path
        ) from None
    return parse_text(SavedModel, text, path=path)


def _read_cpb(path: Path, root: ModelRoot) -> SavedModel:
    from savedmodel_io.formats.cpb import read_saved_model_cpb

    return read_saved_model_cpb(path, root=root)


# Order of preference when several files exist.
FORMATS: list[tuple[str, Reader]] = [(CPB, _read_cpb), (PB, _read_pb), (PBTXT, _read_pbtxt)]


def find(directory: str | os.PathLike[str] | ModelRoot) -> tuple[Path, Reader]:
    """The SavedModel file of ``directory`` and the reader for it (NotFoundError if none).

    A file that is a link out of the directory is refused (OutsideModelError), not skipped.
    """
    root = directory if isinstance(directory, ModelRoot) else ModelRoot(directory)
    d = Path(root.path)
    if not d.exists():
        raise NotFoundError("no such SavedModel directory", path=d)
    if not d.is_dir():
        raise NotFoundError("not a directory (a SavedModel is a directory)", path=d)
    for name, reader in FORMATS:
        p = d / name
        if root.is_file(p, name):
            return p, reader
    try:
        present = sorted(e.name + ("/" if e.is_dir() else "") for e in d.iterdir())
    except OSError:
        present = []
    what = ", ".join(present[:20]) + (", ..." if len(present) > 20 else "") if present else "nothing"
    names = " or ".join((PB, PBTXT, CPB))
    raise NotFoundError(f"no {names} in this directory (it holds: {what})", path=d)


def read(
    directory: str | os.PathLike[str] | ModelRoot, *, allow_external_links: bool = False
) -> SavedModel:
    """Parse the SavedModel proto of a SavedModel directory.

    ``allow_external_links``: follow symlinks that lead out of the directory (see
    :class:`savedmodel_io._fsutil.ModelRoot`); a ModelRoot carries its own setting.
    """
    root = _root(directory, allow_external_links)
    path, reader = find(root)
    return reader(path, root)


def _root(directory: str | os.PathLike[str] | ModelRoot, allow_external_links: bool) -> ModelRoot:
    if isinstance(directory, ModelRoot):
        return directory
    return ModelRoot(directory, allow_external_links=allow_external_links)


def read_file(
    path: str | os.PathLike[str], *, root: ModelRoot | None = None,
    allow_external_links: bool = False,
) -> SavedModel:
    """Parse one SavedModel file, choosing the reader by its name (``.pb``, ``.pbtxt``, ``.cpb``).

    The file must resolve inside ``root`` (default: the directory it is in).
    """
    p = Path(path)
    if root is None:
        root = ModelRoot(p.parent, allow_external_links=allow_external_links)
    if not root.is_file(p, p.name):
        raise NotFoundError("no such file", path=p)
    readers = {Path(name).suffix: reader for name, reader in FORMATS}
    reader = readers.get(p.suffix, _read_pb)
    return reader(p, root)


# --- fast path: only the signatures -------------------------------------------------------

# Field numbers: tensorflow/tensorflow tensorflow/core/protobuf/saved_model.proto and meta_graph.proto.
_SAVED_MODEL_META_GRAPHS = 2
_META_INFO_DEF = 1
_SIGNATURE_DEF = 5


def _varint(buf: memoryview, pos: int, end: int, path: Path) -> tuple[int, int]:
    try:
        return decode_varint(buf, pos, end, wrap=True)
    except VarintError:
        raise CorruptFileError(
            "truncated or overlong varint", path=path, where=f"byte {pos}"
        ) from None


def _fields(
    buf: memoryview, start: int, end: int, path: Path
) -> Iterator[tuple[int, int, int, int]]:
    """(field number, tag start, value start, value end) of every field in ``buf[start:end]``."""
    pos = start
    while pos < end:
        tag_at = pos
        tag, pos = _varint(buf, pos, end, path)
        field, wire = tag >> 3, tag & 7
        if field == 0:
            raise CorruptFileError("field number 0", path=path, where=f"byte {tag_at}")
        if wire == 0:
            _, nxt = _varint(buf, pos, end, path)
        elif wire == 1:
            nxt = pos + 8
        elif wire == 2:
            n, pos = _varint(buf, pos, end, path)
            nxt = pos + n
        elif wire == 5:
            nxt = pos + 4
        else:
            raise CorruptFileError(
                f"unsupported wire type {wire}", path=path, where=f"byte {tag_at}"
            )
        if nxt > end:
            raise CorruptFileError(
                "field runs past the end of its message", path=path, where=f"byte {tag_at}"
            )
        yield field, tag_at, pos, nxt
        pos = nxt


def _signatures_only(meta_graphs) -> list[MetaGraphDef]:
    out = []
    for mg in meta_graphs:
        small = MetaGraphDef()
        small.meta_info_def.CopyFrom(mg.meta_info_def)
        for k, v in mg.signature_def.items():
            small.signature_def[k].CopyFrom(v)
        out.append(small)
    return out


def read_signature_defs(
    directory: str | os.PathLike[str] | ModelRoot, *, allow_external_links: bool = False
) -> list[MetaGraphDef]:
    """MetaGraphDefs holding only ``meta_info_def`` and ``signature_def``, parsed cheaply.

    For a binary ``saved_model.pb`` the graph, function library and object graph
    are skipped at the wire level and never parsed; other formats are read whole.
    """
    root = _root(directory, allow_external_links)
    path, reader = find(root)
    if reader is _read_cpb:
        from savedmodel_io.formats.cpb import read_saved_model_cpb

        # Only the chunks outside the graphs and object graph: a big model's tensors stay on disk.
        return _signatures_only(
            read_saved_model_cpb(path, signatures_only=True, root=root).meta_graphs)
    if reader is not _read_pb:
        return _signatures_only(reader(path, root).meta_graphs)
    data = _read_bytes(path, root)
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

