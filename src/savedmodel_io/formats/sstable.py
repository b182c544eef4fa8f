"""LevelDB-format sorted tables ("SSTables"), as TensorFlow writes ``variables.index``.

Layout (facts: tensorflow/tensorflow ``tensorflow/core/lib/io/table_builder.cc``,
``block_builder.cc``, ``format.cc``, ``format.h``, ``table_options.h``)::

    data block 0 .. data block N-1 | metaindex block | index block | footer (48 bytes)

* block: entries ``varint32 shared, varint32 non_shared, varint32 value_len,
  key[shared:], value``; then ``fixed32 restarts[k]`` and ``fixed32 k``. Every
  ``restart_interval`` (16; 1 in the index block) entries a key is stored whole.
* after each block: a 5-byte trailer, ``type`` (0 raw, 1 Snappy) and the masked
  CRC32C of the block bytes followed by the type byte.
* index block: one entry per data block, key >= every key in that block (shortened
  with FindShortestSeparator / FindShortSuccessor), value = ``varint64 offset,
  varint64 size`` of the block.
* footer: metaindex and index handles, zero padding to 40 bytes, then the magic
  ``0xdb4775248b80fb57`` as two little-endian fixed32 (low word first).

The writer reproduces TensorFlow's TableBuilder byte for byte (block size 256 KiB,
restart interval 16, uncompressed as TensorFlow's bundle writer asks).
"""

from __future__ import annotations

import os
import struct
from collections.abc import Iterable, Iterator
from typing import BinaryIO

from savedmodel_io.formats import varint as _varint
from savedmodel_io._fsutil import read_regular
from savedmodel_io.formats.varint import append as put_varint
from savedmodel_io.errors import ChecksumError, CorruptFileError, InvalidArgumentError, LimitExceededError
from savedmodel_io.formats import snappy
from savedmodel_io.hashing.crc32c import extend, mask, unmask

__all__ = [
    "MAGIC",
    "FOOTER_SIZE",
    "Table",
    "TableBuilder",
    "build_table",
    "read_table",
]

MAGIC = 0xDB4775248B80FB57
FOOTER_SIZE = 48  # 2 * BlockHandle::kMaxEncodedLength (2 * 10 + 2 * 10) + 8
TRAILER_SIZE = 5  # 1-byte type + fixed32 masked crc
NO_COMPRESSION = 0
SNAPPY_COMPRESSION = 1
DEFAULT_BLOCK_SIZE = 262144
DEFAULT_RESTART_INTERVAL = 16
#: A table is read whole; a TensorBundle index of 2 GiB would list ~20 million tensors.
#: Its blocks together may decode to no more than this either.
MAX_TABLE_BYTES = 1 << 31
#: Bytes one Snappy-compressed block may decode to (16 MiB). Writers cut blocks at a target
#: size (TensorFlow 256 KiB, LevelDB 4 KiB) that only the block's last entry can overrun, and
#: index entries are small; Snappy's 32x ratio alone would let a 64 MB file ask for 2 GiB.
MAX_BLOCK_BYTES = 1 << 24

_U32 = struct.Struct("<I")


# --------------------------------------------------------------------- varints


def get_varint(data: bytes, pos: int, limit: int, max_bytes: int = 10) -> tuple[int, int]:
    """Decode a varint at ``pos`` (at most ``max_bytes`` long); raises ValueError when malformed."""
    return _varint.decode(data, pos, min(limit, pos + max_bytes))


# --------------------------------------------------------------------- reading


def _parse_block(
    block: bytes, *, path: str | None, where: str
) -> list[tuple[bytes, bytes]]:
    """All (key, value) pairs of one uncompressed block, in stored order."""
    size = len(block)
    if size < 4:
        raise CorruptFileError(f"block of {size} bytes has no restart array", path=path, where=where)
    (num_restarts,) = _U32.unpack_from(block, size - 4)
    restarts_at = size - 4 - 4 * num_restarts
    if num_restarts == 0 or restarts_at < 0:
        raise CorruptFileError(
            f"block of {size} bytes cannot hold {num_restarts} restart points",
            path=path,
            where=where,
        )
    entries: list[tuple[bytes, bytes]] = []
    append = entries.append
    pos = 0
    key = b""
    try:
        while pos < restarts_at:
            # Three varint32s, one byte each in practice: take that path without calls.
            head = block[pos : pos + 3]
            if len(head) == 3 and head[0] < 0x80 and head[1] < 0x80 and head[2] < 0x80:
                shared, non_shared, value_len = head
                pos += 3
            else:
                shared, pos = get_varint(block, pos, restarts_at, 5)
                non_shared, pos = get_varint(block, pos, restarts_at, 5)
                value_len, pos = get_varint(block, pos, restarts_at, 5)
            end = pos + non_shared + value_len
            if shared > len(key) or end > restarts_at:
                raise ValueError(
                    f"entry at block offset {pos} (shared {shared}, key bytes {non_shared}, "
                    f"value bytes {value_len}) does not fit"
                )
            key = key[:shared] + block[pos : pos + non_shared]
            append((key, block[pos + non_shared : end]))
            pos = end
    except ValueError as exc:
        raise CorruptFileError(f"bad block entry: {exc}", path=path, where=where) from None
    return entries


def _decode_handle(value: bytes, *, path: str | None, where: str) -> tuple[int, int]:
    try:
        offset, pos = get_varint(value, 0, len(value))
        size, _ = get_varint(value, pos, len(value))
    except ValueError:
        raise CorruptFileError("bad block handle", path=path, where=where) from None
    return offset, size


class Table:
    """A LevelDB table held in memory: iterate entries in key order, or look keys up."""

    def __init__(
        self,
        data: bytes,
        *,
        path: str | os.PathLike[str] | None = None,
        verify_checksums: bool = True,
    ) -> None:
        self.path = os.fspath(path) if path is not None else None
        self.verify_checksums = verify_checksums
        self._data = data
        self._index: dict[bytes, bytes] | None = None
        self._entries: list[tuple[bytes, bytes]] | None = None
        size = len(data)
        if size < FOOTER_SIZE:
            raise CorruptFileError(
                f"file of {size} bytes is too short to be a table (needs a {FOOTER_SIZE}-byte footer)",
                path=self.path,
            )
        footer = data[size - FOOTER_SIZE :]
        lo, hi = struct.unpack_from("<II", footer, FOOTER_SIZE - 8)
        magic = (hi << 32) | lo
        if magic != MAGIC:
            raise CorruptFileError(
                f"not a LevelDB table: bad magic number (expected {MAGIC:#018x})",
                path=self.path,
                where="footer",
            )
        try:
            meta_off, pos = get_varint(footer, 0, 40)
            meta_size, pos = get_varint(footer, pos, 40)
            index_off, pos = get_varint(footer, pos, 40)
            index_size, pos = get_varint(footer, pos, 40)
        except ValueError:
            raise CorruptFileError("bad block handle in footer", path=self.path, where="footer") from None
        self.metaindex_handle = (meta_off, meta_size)
        self.index_handle = (index_off, index_size)
        index = _parse_block(self._read_block(index_off, index_size, "index block"), path=self.path, where="index block")
        self._block_handles = [
            _decode_handle(v, path=self.path, where=f"index entry {k!r}") for k, v in index
        ]
        self._index_keys = [k for k, _ in index]
        self.meta = dict(
            _parse_block(self._read_block(meta_off, meta_size, "metaindex block"), path=self.path, where="metaindex block")
        )

    @classmethod
    def open(cls, path: str | os.PathLike[str], *, verify_checksums: bool = True) -> Table:
        """Read a table file (index files are small: the whole file is read once)."""
        data = read_regular(path, limit=MAX_TABLE_BYTES, what="table file")
        return cls(data, path=path, verify_checksums=verify_checksums)

    def _read_block(self, offset: int, size: int, where: str) -> bytes:
        end = offset + size
        body_end = len(self._data) - FOOTER_SIZE
        if end + TRAILER_SIZE > body_end:
            raise CorruptFileError(
                f"{where} at offset {offset} with {size} bytes runs past the end of the table data "
                f"({body_end} bytes): truncated file?",
                path=self.path,
                where=where,
            )
        data = self._data
        block_type = data[end]
        if self.verify_checksums:
            (stored,) = _U32.unpack_from(data, end + 1)
            actual = extend(0, memoryview(data)[offset : end + 1])
            if unmask(stored) != actual:
                # Only the stored value: the computed one would reveal the bytes read (an oracle).
                raise ChecksumError(
                    f"block checksum mismatch: stored {unmask(stored):#010x}",
                    path=self.path,
                    where=f"{where} at offset {offset}",
                )
        if block_type == NO_COMPRESSION:
            return data[offset:end]
        if block_type == SNAPPY_COMPRESSION:
            try:
                return snappy.decompress(memoryview(data)[offset:end], max_size=MAX_BLOCK_BYTES)
            except LimitExceededError as exc:
                raise LimitExceededError(
                    f"compressed block is too large ({exc.message}; "
                    "savedmodel_io.formats.sstable.MAX_BLOCK_BYTES)",
                    path=self.path,
                    where=f"{where} at offset {offset}",
                ) from None
            except CorruptFileError as exc:
                raise CorruptFileError(
                    f"corrupted compressed block contents ({exc.message})",
                    path=self.path,
                    where=f"{where} at offset {offset}",
                ) from None
            except MemoryError:
                raise LimitExceededError(
                    "not enough memory to decompress the block", path=self.path,
                    where=f"{where} at offset {offset}",
                ) from None
        raise CorruptFileError(
            f"unknown block compression type {block_type}", path=self.path, where=f"{where} at offset {offset}"
        )

    def entries(self) -> list[tuple[bytes, bytes]]:
        """Every (key, value) in key order; keys are checked to be strictly increasing."""
        if self._entries is None:
            try:
                self._entries = self._read_entries()
            except MemoryError:
                raise LimitExceededError(
                    "not enough memory for the table's entries", path=self.path
                ) from None
        return self._entries

    def _read_entries(self) -> list[tuple[bytes, bytes]]:
        out: list[tuple[bytes, bytes]] = []
        decoded = 0
        for i, (offset, size) in enumerate(self._block_handles):
            where = f"data block {i}"
            raw = self._read_block(offset, size, where)
            decoded += len(raw)
            if decoded > MAX_TABLE_BYTES:
                raise LimitExceededError(
                    f"blocks decode to more than {MAX_TABLE_BYTES} bytes "
                    "(savedmodel_io.formats.sstable.MAX_TABLE_BYTES)",
                    path=self.path, where=where,
                )
            block = _parse_block(raw, path=self.path, where=where)
            if block and block[-1][0] > self._index_keys[i]:
                raise CorruptFileError(
                    "index key is smaller than the last key of its block", path=self.path, where=where
                )
            out.extend(block)
        for j in range(1, len(out)):
            if out[j - 1][0] >= out[j][0]:
                raise CorruptFileError(
                    f"keys out of order: {out[j - 1][0]!r} before {out[j][0]!r}", path=self.path
                )
        return out

    def __iter__(self) -> Iterator[tuple[bytes, bytes]]:
        return iter(self.entries())

    def __len__(self) -> int:
        return len(self.entries())

    def as_dict(self) -> dict[bytes, bytes]:
        """Key -> value mapping (built once)."""
        if self._index is None:
            self._index = dict(self.entries())
        return self._index

    def get(self, key: bytes, default: bytes | None = None) -> bytes | None:
        """The value stored under ``key``, or ``default``."""
        return self.as_dict().get(key, default)


def read_table(path: str | os.PathLike[str], *, verify_checksums: bool = True) -> list[tuple[bytes, bytes]]:
    """All entries of a table file, in key order."""
    return Table.open(path, verify_checksums=verify_checksums).entries()


# --------------------------------------------------------------------- writing


def _shortest_separator(start: bytes, limit: bytes) -> bytes:
    """A short key in [start, limit) (LevelDB's BytewiseComparator::FindShortestSeparator)."""
    n = min(len(start), len(limit))
    i = 0
    while i < n and start[i] == limit[i]:
        i += 1
    if i >= n:
        return start  # one is a prefix of the other
    b = start[i]
    if b < 0xFF and b + 1 < limit[i]:
        return start[:i] + bytes((b + 1,))
    return start


def _short_successor(key: bytes) -> bytes:
    """A short key >= ``key`` (FindShortSuccessor): first non-0xff byte incremented."""
    for i, b in enumerate(key):
        if b != 0xFF:
            return key[:i] + bytes((b + 1,))
    return key


class _BlockBuilder:
    def __init__(self, restart_interval: int) -> None:
        self.restart_interval = restart_interval
        self.reset()

    def reset(self) -> None:
        self.buf = bytearray()
        self.restarts = [0]
        self.counter = 0
        self.last_key = b""

    def empty(self) -> bool:
        return not self.buf

    def size_estimate(self) -> int:
        return len(self.buf) + 4 * len(self.restarts) + 4

    def add(self, key: bytes, value: bytes) -> None:
        shared = 0
        if self.counter < self.restart_interval:
            last = self.last_key
            n = min(len(last), len(key))
            while shared < n and last[shared] == key[shared]:
                shared += 1
        else:
            self.restarts.append(len(self.buf))
            self.counter = 0
        buf = self.buf
        put_varint(buf, shared)
        put_varint(buf, len(key) - shared)
        put_varint(buf, len(value))
        buf += key[shared:]
        buf += value
        self.last_key = key
        self.counter += 1

    def finish(self) -> bytes:
        out = self.buf + struct.pack(f"<{len(self.restarts) + 1}I", *self.restarts, len(self.restarts))
        return bytes(out)


class TableBuilder:
    """Write a table in TensorFlow's exact byte layout; keys must be added in increasing order."""

    def __init__(
        self,
        file: BinaryIO,
        *,
        block_size: int = DEFAULT_BLOCK_SIZE,
        restart_interval: int = DEFAULT_RESTART_INTERVAL,
        compression: str = "none",
    ) -> None:
        if compression not in ("none", "snappy"):
            raise InvalidArgumentError(f"compression must be 'none' or 'snappy', not {compression!r}")
        self._file = file
        self._block_size = block_size
        self._compression = compression
        self._data = _BlockBuilder(restart_interval)
        self._index = _BlockBuilder(1)
        self._offset = 0
        self._last_key: bytes | None = None
        self._pending: tuple[int, int] | None = None
        self._closed = False
        self.num_entries = 0

    def add(self, key: bytes, value: bytes) -> None:
        """Append one entry (``key`` strictly greater than the previous one)."""
        if self._closed:
            raise InvalidArgumentError("table already finished")
        key = bytes(key)
        if self._last_key is not None:
            if key <= self._last_key:
                raise InvalidArgumentError(f"keys must be strictly increasing: {key!r} after {self._last_key!r}")
            if len(key) + len(value) >= 2 * self._block_size:
                self._flush()
        if self._pending is not None:
            assert self._last_key is not None
            self._add_index(_shortest_separator(self._last_key, key))
        self._last_key = key
        self.num_entries += 1
        self._data.add(key, value)
        if self._data.size_estimate() >= self._block_size:
            self._flush()

    def _add_index(self, key: bytes) -> None:
        assert self._pending is not None
        handle = bytearray()
        put_varint(handle, self._pending[0])
        put_varint(handle, self._pending[1])
        self._index.add(key, bytes(handle))
        self._pending = None

    def _flush(self) -> None:
        if self._data.empty():
            return
        self._pending = self._write_block(self._data)

    def _write_block(self, block: _BlockBuilder) -> tuple[int, int]:
        raw = block.finish()
        block.reset()
        contents, kind = raw, NO_COMPRESSION
        if self._compression == "snappy":
            packed = snappy.compress(raw)
            if len(packed) < len(raw) - len(raw) // 8:  # TF keeps Snappy only if it saves 12.5%
                contents, kind = packed, SNAPPY_COMPRESSION
        crc = extend(extend(0, contents), bytes((kind,)))
        handle = (self._offset, len(contents))
        self._file.write(contents)
        self._file.write(bytes((kind,)) + _U32.pack(mask(crc)))
        self._offset += len(contents) + TRAILER_SIZE
        return handle

    def finish(self) -> int:
        """Write the remaining blocks and the footer; returns the table's size in bytes."""
        if self._closed:
            raise InvalidArgumentError("table already finished")
        self._flush()
        self._closed = True
        meta = self._write_block(_BlockBuilder(self._data.restart_interval))
        if self._pending is not None:
            assert self._last_key is not None
            self._add_index(_short_successor(self._last_key))
        index = self._write_block(self._index)
        footer = bytearray()
        for value in (*meta, *index):
            put_varint(footer, value)
        footer += bytes(40 - len(footer))
        footer += struct.pack("<II", MAGIC & 0xFFFFFFFF, MAGIC >> 32)
        self._file.write(footer)
        self._offset += len(footer)
        return self._offset


def build_table(
    items: Iterable[tuple[bytes, bytes]],
    *,
    block_size: int = DEFAULT_BLOCK_SIZE,
    restart_interval: int = DEFAULT_RESTART_INTERVAL,
    compression: str = "none",
) -> bytes:
    """The bytes of a table holding ``items`` (already sorted by key)."""
    import io

    buf = io.BytesIO()
    builder = TableBuilder(
        buf, block_size=block_size, restart_interval=restart_interval, compression=compression
    )
    for key, value in items:
        builder.add(key, value)
    builder.finish()
    return buf.getvalue()
