"""Chunked protos (``.cpb``): read the ChunkMetadata, fetch chunks, merge them back into a message.

A ``.cpb`` is a Riegeli/records file (:mod:`savedmodel_io.formats.riegeli`). Its last record is a
``tensorflow.proto_splitter.ChunkMetadata``: a list of chunks (``ChunkInfo``: type, size and the
numeric record position ``offset``) and a tree of ``ChunkedMessage``/``ChunkedField`` entries
saying where each chunk goes. Field tags are paths of steps (field number, optionally followed by a
repeated index or a map key); an empty tag means "merge into the parent". BYTES chunks *replace*
the bytes field they point to (how ``TensorProto.tensor_content`` of big constants is stored).

Facts (not code) from tensorflow/tensorflow ``tensorflow/tools/proto_splitter/{chunk.proto,
merge.cc,cc/util.cc}``; the merge order is described in docs/cpb.md.

Public API (stable; used by the fingerprint module):

* :func:`read_chunked` -- a ``.cpb`` into a message of a given class;
* :class:`ChunkedFile` -- an open ``.cpb``: ``.metadata``, ``chunk(i)`` (raw bytes of chunk i),
  ``merge(target, message=None)``;
* :func:`read_chunk_metadata` -- just the ChunkMetadata of a ``.cpb``;
* :func:`merge_chunks` -- the merger over any chunk source (``get_chunk(index) -> bytes``);
* :func:`field_tag_path` / :func:`walk` -- field tags as tuples, and navigating to a tag;
* :func:`prune` -- a ChunkedMessage tree keeping only the chunked fields you select;
* :func:`write_chunked` -- write chunks plus their ChunkedMessage tree as a ``.cpb`` (atomic).
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Iterable, Sequence
from typing import Any, NamedTuple, TypeAlias, TypeVar, Union

from google.protobuf import message as _message
from google.protobuf.descriptor import FieldDescriptor

from savedmodel_io._fsutil import ReadFile, atomic_file
from savedmodel_io.errors import CorruptFileError, InvalidArgumentError, LimitExceededError
from savedmodel_io.formats.riegeli import RecordReader, RecordWriter
from savedmodel_io.proto import (
    ChunkedField,
    ChunkedMessage,
    ChunkInfo,
    ChunkMetadata,
    FieldIndex,
    SplitterVersionDef,
    is_map,
    is_repeated,
)

__all__ = [
    "ChunkedFile",
    "MapKey",
    "field_tag_path",
    "merge_chunks",
    "read_chunk_metadata",
    "read_chunked",
    "walk",
    "prune",
    "write_chunked",
]

M = TypeVar("M", bound=_message.Message)
PathLike = Union[str, "os.PathLike[str]"]

#: A map-key or index step in a :func:`field_tag_path` tuple (field numbers are plain ints,
#: indexes are ``("index", i)``, map keys are ``("key", value)``).
MapKey = tuple[str, Union[int, str, bool, None]]
#: A field tag as :func:`field_tag_path` spells it.
TagPath = tuple[Union[int, MapKey], ...]

_MAP_KEY_KINDS = {
    # MapKey member -> key field types it may address (chunk.proto; TF's util.cc has no
    # fixed/sfixed/sint keys either).
    "s": (FieldDescriptor.TYPE_STRING,),
    "boolean": (FieldDescriptor.TYPE_BOOL,),
    "ui32": (FieldDescriptor.TYPE_UINT32,),
    "ui64": (FieldDescriptor.TYPE_UINT64,),
    "i32": (FieldDescriptor.TYPE_INT32,),
    "i64": (FieldDescriptor.TYPE_INT64,),
}
_INT_TYPES = {
    FieldDescriptor.TYPE_INT32: (-(1 << 31), 1 << 31),
    FieldDescriptor.TYPE_SINT32: (-(1 << 31), 1 << 31),
    FieldDescriptor.TYPE_SFIXED32: (-(1 << 31), 1 << 31),
    FieldDescriptor.TYPE_INT64: (-(1 << 63), 1 << 63),
    FieldDescriptor.TYPE_SINT64: (-(1 << 63), 1 << 63),
    FieldDescriptor.TYPE_SFIXED64: (-(1 << 63), 1 << 63),
    FieldDescriptor.TYPE_UINT32: (0, 1 << 32),
    FieldDescriptor.TYPE_FIXED32: (0, 1 << 32),
    FieldDescriptor.TYPE_UINT64: (0, 1 << 64),
    FieldDescriptor.TYPE_FIXED64: (0, 1 << 64),
}


# ----------------------------------------------------------------------------- field tags


def field_tag_path(tags: Sequence[FieldIndex]) -> TagPath:
    """A field tag as a plain tuple: ``(2, ("index", 0), 2, 1, ("index", 3), 5, ("key", "value"))``."""
    out: list[int | MapKey] = []
    for tag in tags:
        kind = tag.WhichOneof("kind")
        if kind == "field":
            out.append(tag.field)
        elif kind == "index":
            out.append(("index", tag.index))
        elif kind == "map_key":
            member = tag.map_key.WhichOneof("type")
            out.append(("key", getattr(tag.map_key, member) if member else None))
        else:
            out.append(("unset", None))
    return tuple(out)


def prune(message: ChunkedMessage, keep: Callable[[TagPath], bool]) -> ChunkedMessage:
    """A copy of ``message`` without the top-level chunked fields whose
    :func:`field_tag_path` ``keep`` rejects (for partial reads: merge with the result)."""
    out = ChunkedMessage()
    if message.HasField("chunk_index"):
        out.chunk_index = message.chunk_index
    for cf in message.chunked_fields:
        if keep(field_tag_path(cf.field_tag)):
            out.chunked_fields.add().CopyFrom(cf)
    return out


def _tag_order(a: ChunkedField, b: ChunkedField) -> int:
    """TF's merge order (merge.cc ReadFields): by tag position by position, then depth, then
    chunk index. Map keys at the same position compare equal (stable order is kept)."""
    for ta, tb in zip(a.field_tag, b.field_tag):
        ka, kb = ta.WhichOneof("kind"), tb.WhichOneof("kind")
        if ka != kb or ka is None:
            raise _Bad("field tag mismatch: a field, index and map key at the same depth")
        if ka == "field":
            if ta.field != tb.field:
                return -1 if ta.field < tb.field else 1
        elif ka == "index":
            if ta.index != tb.index:
                return -1 if ta.index < tb.index else 1
        else:
            return 0
    if len(a.field_tag) != len(b.field_tag):
        return -1 if len(a.field_tag) < len(b.field_tag) else 1
    ia, ib = a.message.chunk_index, b.message.chunk_index
    return (ia > ib) - (ia < ib)


class _Bad(Exception):
    """Internal: a malformed chunk tree; turned into CorruptFileError with the file name."""


def _steps(tags: Sequence[FieldIndex]) -> list[tuple[int, FieldIndex | None]]:
    """Group a tag list into (field number, optional index/map-key tag) steps."""
    steps: list[tuple[int, FieldIndex | None]] = []
    i = 0
    while i < len(tags):
        tag = tags[i]
        if tag.WhichOneof("kind") != "field":
            raise _Bad(f"field tag step {i} is a {tag.WhichOneof('kind')}, expected a field number")
        nxt = tags[i + 1] if i + 1 < len(tags) else None
        if nxt is not None and nxt.WhichOneof("kind") in ("index", "map_key"):
            steps.append((tag.field, nxt))
            i += 2
        else:
            steps.append((tag.field, None))
            i += 1
    return steps


def _map_key(entry_fd: FieldDescriptor, sel: FieldIndex) -> str | int | bool:
    """The Python key for map field ``entry_fd`` from a ``map_key`` tag."""
    member = sel.map_key.WhichOneof("type")
    key_fd = entry_fd.message_type.fields_by_number[1]
    if member is None:
        raise _Bad(f"map key for {entry_fd.full_name} has no value")
    if key_fd.type not in _MAP_KEY_KINDS[member]:
        raise _Bad(f"map key of kind {member!r} does not fit the keys of {entry_fd.full_name}")
    key: str | int | bool = getattr(sel.map_key, member)
    return key


def _element(container: Any, index: int, fd: FieldDescriptor) -> _message.Message:
    """Element ``index`` of a repeated message field, appending it when it is the next one.

    TF's merger (merge.cc ProcessField, util.cc GetMutableField) adds at most one element
    per step and fails on an index beyond that, so each field tag creates at most one
    message per step: a small ChunkMetadata cannot make millions of empty messages.
    """
    n = len(container)
    if index > n:
        raise _Bad(
            f"index {index} of {fd.full_name} skips elements: the field has {n}, "
            "a chunk may only add the next one"
        )
    element: _message.Message = container[index] if index < n else container.add()
    return element


class _Leaf(NamedTuple):
    """Where a field tag ends at a scalar: a field, a repeated element or a map value."""

    container: Any  # the message (mode "field"), repeated container or map
    fd: FieldDescriptor
    where: int | str | bool | None  # index or map key
    mode: str  # "field", "repeated" or "map"


def _descend(msg: _message.Message, number: int, sel: FieldIndex | None,
             last: bool) -> _message.Message | _Leaf:
    """One step: the submessage, or (at the end of a tag) the scalar place it names."""
    fd = msg.DESCRIPTOR.fields_by_number.get(number)
    if fd is None:
        raise _Bad(f"field number {number} does not exist in {msg.DESCRIPTOR.full_name}")
    if is_map(fd):
        if sel is None or sel.WhichOneof("kind") != "map_key":
            raise _Bad(f"map field {fd.full_name} needs a map key in the field tag")
        key = _map_key(fd, sel)
        value_fd = fd.message_type.fields_by_number[2]
        container = getattr(msg, fd.name)
        if value_fd.type == FieldDescriptor.TYPE_MESSAGE:
            entry: _message.Message = container[key]  # creates the entry when missing (like TF)
            return entry
        if not last:
            raise _Bad(f"field tag continues past scalar map {fd.full_name}")
        return _Leaf(container, value_fd, key, "map")
    if is_repeated(fd):
        if sel is None or sel.WhichOneof("kind") != "index":
            raise _Bad(f"repeated field {fd.full_name} needs an index in the field tag")
        index = sel.index
        container = getattr(msg, fd.name)
        if fd.type == FieldDescriptor.TYPE_MESSAGE:
            return _element(container, index, fd)
        if not last:
            raise _Bad(f"field tag continues past scalar field {fd.full_name}")
        return _Leaf(container, fd, index, "repeated")
    if sel is not None:
        raise _Bad(f"singular field {fd.full_name} cannot take an index or map key")
    if fd.type == FieldDescriptor.TYPE_MESSAGE:
        sub: _message.Message = getattr(msg, fd.name)
        return sub
    if not last:
        raise _Bad(f"field tag continues past scalar field {fd.full_name}")
    return _Leaf(msg, fd, None, "field")


def walk(message: _message.Message, tags: Sequence[FieldIndex]) -> _message.Message:
    """The sub-message at field tag ``tags`` inside ``message``, created (like TF) if absent."""
    current = message
    steps = _steps(tags)
    try:
        for number, sel in steps:
            step = _descend(current, number, sel, last=False)
            if isinstance(step, _Leaf):
                raise _Bad("field tag does not lead to a message")
            current = step
    except _Bad as exc:
        raise CorruptFileError(f"invalid field tag {field_tag_path(tags)}: {exc}") from None
    return current


def _scalar_from_text(fd: FieldDescriptor, chunk: bytes) -> bool | int | float:
    """TF stores scalar chunks as text (merge.cc SetFieldElement: stoi/stod/true/enum name)."""
    text = chunk.decode("ascii", errors="strict").strip()
    if fd.type == FieldDescriptor.TYPE_BOOL:
        if text not in ("true", "false"):
            raise ValueError(f"not a bool: {text!r}")
        return text == "true"
    if fd.type == FieldDescriptor.TYPE_ENUM:
        enum_value = fd.enum_type.values_by_name.get(text)
        if enum_value is None:
            raise ValueError(f"not a value of {fd.enum_type.full_name}: {text!r}")
        number: int = enum_value.number
        return number
    if fd.type in (FieldDescriptor.TYPE_FLOAT, FieldDescriptor.TYPE_DOUBLE):
        return float(text)
    lo, hi = _INT_TYPES[fd.type]
    value = int(text)
    if not lo <= value < hi:
        raise ValueError(f"{value} is out of range")
    return value


def _set_leaf(leaf: _Leaf, chunk: bytes) -> None:
    """Set a bytes/string/scalar field (or repeated element / map value) to a chunk's content."""
    container, fd, where, mode = leaf
    value: bytes | str | bool | int | float
    if fd.type == FieldDescriptor.TYPE_BYTES:
        value = chunk
    elif fd.type == FieldDescriptor.TYPE_STRING:
        try:
            value = chunk.decode("utf-8")
        except UnicodeDecodeError:
            raise _Bad(f"chunk for string field {fd.full_name} is not UTF-8") from None
    else:
        try:
            value = _scalar_from_text(fd, chunk)
        except (ValueError, UnicodeDecodeError) as exc:
            raise _Bad(f"chunk for {fd.full_name} is not a valid value ({exc})") from None
    if mode == "field":
        setattr(container, fd.name, value)
    elif mode == "repeated":
        assert isinstance(where, int)
        if where >= len(container):
            raise _Bad(f"index {where} of {fd.full_name} is out of range ({len(container)} elements)")
        container[where] = value
    else:
        container[where] = value


# ----------------------------------------------------------------------------- merging


def merge_chunks(
    metadata: ChunkMetadata,
    get_chunk: Callable[[int], bytes],
    target: M,
    *,
    message: ChunkedMessage | None = None,
    path: PathLike | None = None,
    get_buffer: Callable[[int], bytes | bytearray | memoryview] | None = None,
) -> M:
    """Rebuild ``target`` from chunks, following ``message`` (default: ``metadata.message``).

    ``get_chunk(i)`` returns the raw bytes of chunk ``i`` (``metadata.chunks[i]``);
    ``get_buffer(i)``, if given, the same as any buffer, used where no ``bytes`` object is
    needed (merging messages) to save a copy. Errors in the chunk tree raise CorruptFileError
    naming ``path``.
    """
    count = len(metadata.chunks)

    def chunk(index: int) -> bytes:
        if index >= count:
            raise _Bad(f"chunk index {index} is out of range ({count} chunks)")
        return get_chunk(index)

    def merge_into(target_msg: _message.Message, index: int) -> None:
        if index >= count:
            raise _Bad(f"chunk index {index} is out of range ({count} chunks)")
        try:
            target_msg.MergeFromString((get_buffer or get_chunk)(index))
        except _message.DecodeError as exc:
            name = target_msg.DESCRIPTOR.full_name
            raise _Bad(f"chunk {index} is not a valid {name} ({exc})") from None

    def read_fields(cm: ChunkedMessage, target_msg: _message.Message, depth: int) -> None:
        if depth > 200:
            raise _Bad("chunk tree is nested too deeply")
        if cm.HasField("chunk_index"):
            merge_into(target_msg, cm.chunk_index)
        fields = sorted(cm.chunked_fields, key=functools.cmp_to_key(_tag_order))
        for cf in fields:
            process(cf, target_msg, depth)

    def process(cf: ChunkedField, target_msg: _message.Message, depth: int) -> None:
        if not cf.field_tag:
            # Part of the parent itself: concatenate (TF uses chunk_index even when unset).
            merge_into(target_msg, cf.message.chunk_index)
            return
        steps = _steps(cf.field_tag)
        current = target_msg
        for i, (number, sel) in enumerate(steps):
            step = _descend(current, number, sel, last=i == len(steps) - 1)
            if isinstance(step, _Leaf):
                _set_leaf(step, chunk(cf.message.chunk_index))
                return
            current = step
        read_fields(cf.message, current, depth + 1)

    try:
        read_fields(metadata.message if message is None else message, target, 0)
    except _Bad as exc:
        raise CorruptFileError(str(exc), path=path, where="ChunkMetadata") from None
    except MemoryError:
        raise LimitExceededError("not enough memory to merge the chunks", path=path) from None
    return target


class ChunkedFile:
    """An open ``.cpb`` file: its ChunkMetadata and random access to its chunks.

    ``verify_hashes=False`` skips the HighwayHash of chunk data (see RecordReader); ``file``:
    the file already open (from a model's ModelFiles), else ``path`` is opened.
    """

    def __init__(
        self, path: PathLike, *, verify_hashes: bool = True, file: ReadFile | None = None
    ) -> None:
        self.path = os.fspath(path)
        self._reader = RecordReader(self.path, verify_hashes=verify_hashes, file=file)
        try:
            self.metadata = self._read_metadata()
        except BaseException:
            self._reader.close()
            raise

    def __enter__(self) -> ChunkedFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Release the file."""
        self._reader.close()

    def _read_metadata(self) -> ChunkMetadata:
        reader = self._reader
        if reader.num_records == 0:
            raise CorruptFileError("no ChunkMetadata: the file holds no records", path=self.path)
        last = reader.last_position()
        meta = ChunkMetadata()
        try:
            meta.ParseFromString(reader.read_record(last))
        except _message.DecodeError as exc:
            raise CorruptFileError(
                f"the last record is not a ChunkMetadata ({exc})", path=self.path
            ) from None
        if not meta.chunks:
            raise CorruptFileError(
                "the last record is not a ChunkMetadata (it lists no chunks)", path=self.path
            )
        for i, info in enumerate(meta.chunks):
            if not reader.has_record(info.offset) or info.offset == last:
                raise CorruptFileError(
                    f"ChunkMetadata is missing or corrupt: chunk {i} points to position "
                    f"{info.offset}, which holds no chunk record",
                    path=self.path,
                )
        return meta

    def __len__(self) -> int:
        return len(self.metadata.chunks)

    def chunk_info(self, index: int) -> ChunkInfo:
        """``ChunkInfo`` of chunk ``index`` (type, size, record position)."""
        if not 0 <= index < len(self.metadata.chunks):
            raise CorruptFileError(
                f"chunk index {index} is out of range ({len(self)} chunks)", path=self.path
            )
        info: ChunkInfo = self.metadata.chunks[index]
        return info

    def chunk(self, index: int) -> bytes:
        """Raw bytes of chunk ``index`` (a serialized message or, for BYTES chunks, the data)."""
        data = self._buffer(index)
        if isinstance(data, bytes):
            return data
        try:
            return bytes(data)
        except MemoryError:
            raise LimitExceededError(
                f"not enough memory to copy chunk {index} ({len(data)} bytes)", path=self.path
            ) from None

    def _buffer(self, index: int) -> bytes | bytearray | memoryview:
        """Chunk ``index`` as a read-only-by-convention buffer (no copy into bytes)."""
        info = self.chunk_info(index)
        data = self._reader.read_record_buffer(info.offset)
        if len(data) != info.size:
            raise CorruptFileError(
                f"chunk {index} has {len(data)} bytes, ChunkMetadata says {info.size}",
                path=self.path,
            )
        return data

    def merge(self, target: M, message: ChunkedMessage | None = None) -> M:
        """Merge the chunks into ``target`` following ``message`` (default: the whole tree)."""
        return merge_chunks(self.metadata, self.chunk, target, message=message, path=self.path,
                            get_buffer=self._buffer)


def read_chunk_metadata(path: PathLike, *, verify_hashes: bool = True) -> ChunkMetadata:
    """The ChunkMetadata (last record) of a ``.cpb`` file."""
    with ChunkedFile(path, verify_hashes=verify_hashes) as f:
        return f.metadata


def read_chunked(path: PathLike, cls: type[M], *, verify_hashes: bool = True) -> M:
    """Read a ``.cpb`` file into a new message of class ``cls`` (e.g. SavedModel, GraphDef)."""
    with ChunkedFile(path, verify_hashes=verify_hashes) as f:
        target: M = cls()
        return f.merge(target)


# ----------------------------------------------------------------------------- writing

#: Versions TF's splitters write (tensorflow/tools/proto_splitter/version.py: splitter 1, join 0).
SPLITTER_VERSION = 1
JOIN_VERSION = 0

Buffer = bytes | bytearray | memoryview
#: A chunk to write: a message, raw bytes (a BYTES chunk), or ``(ChunkInfo type, [byte parts])``.
Chunk: TypeAlias = Union[Buffer, _message.Message, tuple[int, list[Buffer]]]


def write_chunked(
    path: PathLike,
    chunks: Iterable[Chunk],
    message: ChunkedMessage,
    *,
    compression: str = "brotli",
    **riegeli_options: Any,
) -> ChunkMetadata:
    """Write ``chunks`` and the ChunkMetadata whose tree is ``message`` to ``path`` atomically;
    returns the metadata written. A chunk is a message, raw bytes (a BYTES chunk), or a
    ``(ChunkInfo type, [byte parts])`` tuple whose parts are written without being joined.

    ``chunks`` is consumed lazily, one chunk at a time, so a generator that produces each big
    tensor only when asked keeps memory at one chunk. ``riegeli_options`` go to RecordWriter.
    """
    meta = ChunkMetadata(
        version=SplitterVersionDef(splitter_version=SPLITTER_VERSION, join_version=JOIN_VERSION)
    )
    with atomic_file(path) as f:
        writer = RecordWriter(f, compression=compression, **riegeli_options)
        for item in chunks:
            data: Buffer | list[Buffer]
            if isinstance(item, _message.Message):
                data = item.SerializeToString()
                kind = ChunkInfo.MESSAGE
            elif isinstance(item, tuple):
                kind, data = item  # (ChunkInfo type, list of byte parts)
            else:
                data, kind = item, ChunkInfo.BYTES
            offset = writer.write_record(data)
            size = (sum(memoryview(p).nbytes for p in data) if isinstance(data, list)
                    else memoryview(data).nbytes)
            meta.chunks.add(type=kind, size=size, offset=offset)
            del data, item
        _check_indexes(message, len(meta.chunks))
        meta.message.CopyFrom(message)
        writer.write_record(meta.SerializeToString())
        writer.close()
    return meta


def _check_indexes(message: ChunkedMessage, count: int) -> None:
    """Every chunk_index in the tree must name a written chunk."""
    todo = [message]
    while todo:
        cm = todo.pop()
        if cm.HasField("chunk_index") and cm.chunk_index >= count:
            raise InvalidArgumentError(
                f"ChunkedMessage refers to chunk {cm.chunk_index} but only {count} were written"
            )
        todo.extend(cf.message for cf in cm.chunked_fields)
