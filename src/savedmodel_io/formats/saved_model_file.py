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

from savedmodel_io._fsutil import read_regular
from savedmodel_io._varint import VarintError
from savedmodel_io._varint import decode as decode_varint
from savedmodel_io.errors import (
    CorruptFileError,
    LimitExceededError,
    NotFoundError,
)
from savedmodel_io.formats import census
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

PB = "saved_model.pb"
PBTXT = "saved_model.pbtxt"
CPB = "saved_model.cpb"

# Protobuf's parsers (upb, C++, pure Python) refuse messages of 2 GiB or more: sizes are int32.
MAX_PROTO_BYTES = (1 << 31) - 1

Reader = Callable[[Path], SavedModel]


def _read_bytes(path: Path) -> bytes:
    """The file's bytes; over protobuf's limit is refused before reading, with the .cpb hint."""
    size = path.stat().st_size
    if size > MAX_PROTO_BYTES:
        raise LimitExceededError(
            f"{size} bytes is over protobuf's 2 GiB message limit; "
            "TensorFlow stores models this large as saved_model.cpb",
            path=path,
        )
    return read_regular(path, limit=MAX_PROTO_BYTES)  # the limit again: the file may grow


def parse_pb(data: bytes, path: str | os.PathLike[str] | None) -> SavedModel:
    """Parse a binary SavedModel, counting its meta graphs, signatures, ... first (census)."""
    census.check_wire(data, path)
    return parse_message(SavedModel, data, path=path)


def _read_pb(path: Path) -> SavedModel:
    return parse_pb(_read_bytes(path), path)


def _read_pbtxt(path: Path) -> SavedModel:
    data = _read_bytes(path)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise CorruptFileError(
            f"not UTF-8 text ({exc.reason} at byte {exc.start})", path=path
        ) from None
    sm = parse_text(SavedModel, text, path=path)
    census.check_message(sm, path)
    return sm


def _read_cpb(path: Path) -> SavedModel:
    from savedmodel_io.formats.cpb import read_saved_model_cpb

    sm = read_saved_model_cpb(path)
    census.check_message(sm, path)
    return sm


# Order of preference when several files exist.
FORMATS: list[tuple[str, Reader]] = [(CPB, _read_cpb), (PB, _read_pb), (PBTXT, _read_pbtxt)]


def find(directory: str | os.PathLike[str]) -> tuple[Path, Reader]:
    """The SavedModel file of ``directory`` and the reader for it (NotFoundError if none)."""
    d = Path(directory)
    if not d.exists():
        from savedmodel_io._staging import interrupted_save

        note = interrupted_save(d)
        raise NotFoundError("no such SavedModel directory" + (f"; {note}" if note else ""), path=d)
    if not d.is_dir():
        raise NotFoundError("not a directory (a SavedModel is a directory)", path=d)
    for name, reader in FORMATS:
        p = d / name
        if p.is_file():
            return p, reader
    try:
        present = sorted(e.name + ("/" if e.is_dir() else "") for e in d.iterdir())
    except OSError:
        present = []
    what = ", ".join(present[:20]) + (", ..." if len(present) > 20 else "") if present else "nothing"
    names = " or ".join((PB, PBTXT, CPB))
    raise NotFoundError(f"no {names} in this directory (it holds: {what})", path=d)


def read(directory: str | os.PathLike[str]) -> SavedModel:
    """Parse the SavedModel proto of a SavedModel directory."""
    path, reader = find(directory)
    return reader(path)


def read_file(path: str | os.PathLike[str]) -> SavedModel:
    """Parse one SavedModel file, choosing the reader by its name (``.pb``, ``.pbtxt``, ``.cpb``)."""
    p = Path(path)
    if not p.is_file():
        raise NotFoundError("no such file", path=p)
    readers = {Path(name).suffix: reader for name, reader in FORMATS}
    reader = readers.get(p.suffix, _read_pb)
    return reader(p)


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


def read_signature_defs(directory: str | os.PathLike[str]) -> list[MetaGraphDef]:
    """MetaGraphDefs holding only ``meta_info_def`` and ``signature_def``, parsed cheaply.

    For a binary ``saved_model.pb`` the graph, function library and object graph
    are skipped at the wire level and never parsed; other formats are read whole.
    """
    path, reader = find(directory)
    if reader is _read_cpb:
        from savedmodel_io.formats.cpb import read_saved_model_cpb

        # Only the chunks outside the graphs and object graph: a big model's tensors stay on disk.
        return _signatures_only(read_saved_model_cpb(path, signatures_only=True).meta_graphs)
    if reader is not _read_pb:
        return _signatures_only(reader(path).meta_graphs)
    data = _read_bytes(path)
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

