"""Riegeli/records files: the container of TensorFlow's chunked protos (``saved_model.cpb``).

Covers what TensorFlow reads and writes: the file signature, 64 KiB block headers, chunk
headers, simple (``'r'``) chunks compressed with Brotli (TensorFlow's default), Zstd or not at
all, padding and metadata chunks (skipped). Transposed (``'t'``) chunks are refused with a clear
error: TensorFlow never writes them. Every header and chunk is protected by HighwayHash-64.

Format facts (not code) from google/riegeli ``doc/riegeli_records_file_format.md``,
``riegeli/records/block.h`` (block/chunk boundary arithmetic), ``riegeli/chunk_encoding/
{chunk.h,constants.h,hash.cc,simple_decoder.cc}``; the layout is described in docs/cpb.md.

A record's *position* is ``chunk_begin + index_in_chunk``: what ``ChunkInfo.offset`` holds in a
``.cpb`` and what :meth:`RecordReader.read_record` takes.
"""

from __future__ import annotations

import bisect
import io
import os
import struct
import sys
from array import array
from collections.abc import Callable, Iterable, Iterator
from types import ModuleType, TracebackType
from typing import TYPE_CHECKING, Any, BinaryIO, Union

from savedmodel_io._accel import SlowFallbackWarning, note_slow
from savedmodel_io._fsutil import ReadFile, atomic_file, open_regular
from savedmodel_io.formats.varint import decode as _read_varint
from savedmodel_io.formats.varint import encode as _varint
from savedmodel_io.errors import (
    ChecksumError,
    CorruptFileError,
    InvalidArgumentError,
    LimitExceededError,
    MissingDependencyError,
    UnsupportedFormatError,
)
from savedmodel_io.hashing import highwayhash as _hh

__all__ = [
    "BLOCK_SIZE",
    "COMPRESSIONS",
    "RecordReader",
    "RecordWriter",
    "SlowHashWarning",
    "read_records",
    "write_records",
]

Buffer = bytes | bytearray | memoryview
PathLike = Union[str, "os.PathLike[str]"]
# Makes the error for a damaged chunk (it names the file and the chunk).
_Fail = Callable[[str], Exception]

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer

BLOCK_SIZE = 1 << 16
BLOCK_HEADER_SIZE = 24
USABLE_BLOCK_SIZE = BLOCK_SIZE - BLOCK_HEADER_SIZE
CHUNK_HEADER_SIZE = 40

# Chunk types (riegeli chunk_encoding/constants.h).
SIGNATURE, METADATA, PADDING, SIMPLE, TRANSPOSED = b"s"[0], b"m"[0], b"p"[0], b"r"[0], b"t"[0]
_CHUNK_TYPES = {SIGNATURE, METADATA, PADDING, SIMPLE, TRANSPOSED}

# Compression type byte at the start of a simple chunk.
_NONE, _BROTLI, _ZSTD, _SNAPPY = 0, b"b"[0], b"z"[0], b"s"[0]
#: Compression names accepted by :class:`RecordWriter`.
COMPRESSIONS = {"none": _NONE, "brotli": _BROTLI, "zstd": _ZSTD}
_COMPRESSION_NAMES = {_NONE: "none", _BROTLI: "brotli", _ZSTD: "zstd", _SNAPPY: "snappy"}

_U64 = struct.Struct("<Q")
_BLOCK_HEADER = struct.Struct("<3Q")
_CHUNK_HEADER = struct.Struct("<5Q")

_READ_SPAN = 1 << 20  # physical bytes read at a time while streaming a chunk
_DECOMPRESS_STEP = 1 << 16  # compressed bytes fed to a decompressor per call
_OUTPUT_STEP = 1 << 23  # bytes asked of a decompressor per call
_CACHE_LIMIT = 1 << 26  # decoded chunks up to this size stay cached for the next record
#: Records one simple chunk may hold (Riegeli packs ~1 MiB per chunk; this bounds the record
#: table a hostile header can make us build).
MAX_RECORDS_PER_CHUNK = 1 << 24
#: Bytes one compressed chunk may decode to (2 GiB). A .cpb chunk holds one serialized proto or
#: one tensor_content, both under protobuf's 2 GiB limit, and Riegeli starts a new chunk for a
#: record that does not fit its ~1 MiB target, so no chunk TensorFlow writes comes near this.
#: Compressed data is not bounded by the file size (zeros shrink 30,000-fold): a 50 KB file can
#: still make a reader allocate up to this much. Lower it for untrusted files, raise it for
#: files from other writers; running out of memory below it raises LimitExceededError.
MAX_DECODED_CHUNK_BYTES = 1 << 31
_PY_HASH_RATE = 5 << 20  # bytes/s of the pure-Python HighwayHash, for the warning's estimate


# The first 64 bytes of every Riegeli/records file: block header (0, 64) and the signature chunk
# (riegeli doc/riegeli_records_file_format.md, "File signature"; observed in every TF file).
FILE_SIGNATURE = bytes.fromhex(
    "83af70d10d884a3f00000000000000004000000000000000"
    "91bac23c9287e1a90000000000000000e19f13c0e9b1c372"
    "73000000000000000000000000000000"
)


#: Verifying a large file's HighwayHash in pure Python will take minutes (the shared warning).
SlowHashWarning = SlowFallbackWarning


def _hash(data: Buffer) -> int:
    return _hh.highwayhash64(data)


# ----------------------------------------------------------------------------- block arithmetic
# riegeli/records/block.h: positions are physical file offsets.


def _remaining_in_block(pos: int) -> int:
    return (-pos) % BLOCK_SIZE


def _is_possible_chunk_boundary(pos: int) -> bool:
    """Not inside, nor right after, a block header."""
    return _remaining_in_block(pos) < USABLE_BLOCK_SIZE


def _round_up_to_possible_chunk_boundary(pos: int) -> int:
    return pos + max(0, _remaining_in_block(pos) - (USABLE_BLOCK_SIZE - 1))


def _add_with_overhead(begin: int, length: int) -> int:
    """Physical position ``length`` logical bytes after chunk start ``begin``."""
    blocks = (length + (begin + USABLE_BLOCK_SIZE - 1) % BLOCK_SIZE) // USABLE_BLOCK_SIZE
    return begin + length + blocks * BLOCK_HEADER_SIZE


def _chunk_end(begin: int, data_size: int, num_records: int) -> int:
    return max(
        _add_with_overhead(begin, CHUNK_HEADER_SIZE + data_size),
        _round_up_to_possible_chunk_boundary(begin + num_records),
    )


def _block_header(previous_chunk: int, next_chunk: int) -> bytes:
    body = _U64.pack(previous_chunk) + _U64.pack(next_chunk)
    return _U64.pack(_hash(body)) + body


# ----------------------------------------------------------------------------- compression


def _need(module: str, path: str | None) -> ModuleType:
    try:
        return __import__(module)
    except ImportError:
        raise MissingDependencyError(
            f"this .cpb/Riegeli file needs the '{module}' package; "
            "install it with: pip install 'savedmodel-io[cpb]'",
            path=path,
        ) from None


class _Sink:
    """Bounded output buffer: refuses to grow past the size the chunk header declared."""

    def __init__(self, limit: int, what: str, fail: _Fail) -> None:
        self.buf = bytearray()
        self.limit = limit
        self.what = what
        self.fail = fail

    def write(self, data: Buffer) -> None:
        if len(self.buf) + len(data) > self.limit:
            raise self.fail(f"{self.what} decompresses to more than the declared {self.limit} bytes")
        self.buf += data


def _decompress_into(
    kind: int, pieces: Iterable[Buffer], sink: _Sink, path: str | None, fail: _Fail
) -> None:
    """Stream-decompress ``pieces`` (one compressed stream) into ``sink``."""
    if kind == _BROTLI:
        brotli = _need("brotli", path)
        d = brotli.Decompressor()
        if not hasattr(d, "can_accept_more_data"):
            # Before 1.2 a call returned all the output of its input at once: 2 KB of a hostile
            # stream could make gigabytes before the size check saw any of it.
            raise MissingDependencyError(
                "this .cpb/Riegeli file needs brotli >= 1.2 (it can bound each step's output); "
                "upgrade it with: pip install -U 'brotli>=1.2'",
                path=path,
            )
        try:
            for piece in pieces:
                mv = memoryview(piece)
                for start in range(0, len(mv), _DECOMPRESS_STEP):
                    # Bounded steps: at most about _OUTPUT_STEP bytes per call (brotli may
                    # overshoot by one internal block), each checked against the declared size.
                    sink.write(d.process(mv[start : start + _DECOMPRESS_STEP],
                                         output_buffer_limit=_OUTPUT_STEP))
                    while not d.can_accept_more_data():
                        out = d.process(b"", output_buffer_limit=_OUTPUT_STEP)
                        if not out:
                            raise fail(f"{sink.what}: the Brotli decoder is stuck")
                        sink.write(out)
            # The decoder may hold output back even when it accepts input: drain it.
            while out := d.process(b"", output_buffer_limit=_OUTPUT_STEP):
                sink.write(out)
            if not d.is_finished():
                raise fail(f"{sink.what}: Brotli stream is truncated")
        except brotli.error as exc:
            raise fail(f"{sink.what}: invalid Brotli data ({exc})") from None
    elif kind == _ZSTD:
        zstandard = _need("zstandard", path)
        source = _PieceFile(pieces)
        try:
            reader = zstandard.ZstdDecompressor().stream_reader(source, read_across_frames=True)
            while True:
                out = reader.read(_OUTPUT_STEP)
                if not out:
                    break
                sink.write(out)
        except zstandard.ZstdError as exc:
            raise fail(f"{sink.what}: invalid Zstd data ({exc})") from None
    elif kind == _SNAPPY:
        raise UnsupportedFormatError(
            "Snappy-compressed Riegeli chunks are not supported (TensorFlow writes Brotli)",
            path=path,
        )
    else:
        raise fail(f"unknown compression type {kind:#x}")


class _PieceFile(io.RawIOBase):
    """A read-only file object over an iterator of byte pieces (for zstandard.stream_reader)."""

    def __init__(self, pieces: Iterable[Buffer]) -> None:
        self._it = iter(pieces)
        self._cur = memoryview(b"")

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: WriteableBuffer, /) -> int:
        while not len(self._cur):
            nxt = next(self._it, None)
            if nxt is None:
                return 0
            self._cur = memoryview(nxt)
        out = memoryview(buffer).cast("B")
        n = min(len(out), len(self._cur))
        out[:n] = self._cur[:n]
        self._cur = self._cur[n:]
        return n


def _compress(kind: int, data: Buffer, level: int | None) -> bytes:
    """One compressed stream as Riegeli stores it: varint(decompressed size) + stream."""
    if kind == _NONE:
        return bytes(data)
    if kind == _BROTLI:
        brotli = _need("brotli", None)
        # Riegeli's defaults: Brotli quality 6, window log 22 (doc/record_writer_options.md).
        body = brotli.compress(bytes(data), quality=6 if level is None else level, lgwin=22)
    else:
        zstandard = _need("zstandard", None)
        body = zstandard.ZstdCompressor(level=3 if level is None else level).compress(data)
    return _varint(len(data)) + bytes(body)


# ----------------------------------------------------------------------------- reader


class _Chunk:
    """One record chunk of the index (built on demand from the index arrays)."""

    __slots__ = ("begin", "data_hash", "data_size", "decoded_size", "end", "num_records")

    def __init__(self, begin: int, data_size: int, data_hash: int, num_records: int,
                 decoded_size: int, end: int) -> None:
        self.begin = begin
        self.data_size = data_size
        self.data_hash = data_hash
        self.num_records = num_records
        self.decoded_size = decoded_size
        self.end = end


class RecordReader:
    """Random access to the records of a Riegeli/records file by numeric position.

    Opening scans the chunk headers (cheap: one 40-byte header per chunk); record data is read,
    hash-checked and decompressed only when asked for. ``verify_hashes=False`` skips the
    HighwayHash of chunk *data* (headers are always checked: they are tiny and guard every size).
    """

    def __init__(
        self, path: PathLike, *, verify_hashes: bool = True, file: ReadFile | None = None
    ) -> None:
        self.path = os.fspath(path)
        self.verify_hashes = verify_hashes
        # ``file``: already open (a model's files are opened through its ModelFiles).
        self._file: ReadFile = open_regular(self.path) if file is None else file
        try:
            self.size = self._file.seek(0, os.SEEK_END)
            # One entry per record chunk, in file order (flat arrays: a file of many tiny
            # chunks costs 48 bytes per chunk, not a Python object each).
            self._begins = array("Q")
            self._index = {name: array("Q") for name in
                           ("data_size", "data_hash", "num_records", "decoded_size", "end")}
            self._cached: tuple[int, array[int], bytearray] | None = None
            self._scan()
        except BaseException:
            self._file.close()
            raise
        if verify_hashes and not _hh.ACCELERATED:
            total = sum(self._index["data_size"])
            minutes = total / _PY_HASH_RATE / 60
            # Warned up front, before the minutes of hashing.
            note_slow("HighwayHash", total, f"verifying {self.path} takes about {minutes:.0f} "
                      "min (or pass verify_hashes=False);")

    # -- context manager
    def __enter__(self) -> RecordReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Release the file."""
        self._file.close()
        self._cached = None

    # -- errors
    def _corrupt(self, message: str, pos: int | None = None) -> CorruptFileError:
        where = f"Riegeli chunk at byte {pos}" if pos is not None else None
        return CorruptFileError(message, path=self.path, where=where)

    # -- low level reads
    def _pread(self, pos: int, n: int) -> bytes:
        self._file.seek(pos)
        data = self._file.read(n)
        if len(data) != n:
            raise self._corrupt(f"file is truncated (wanted {n} bytes at {pos})")
        return data

    def _check_block_header(self, block: int, raw: Buffer, begin: int, end: int | None) -> None:
        """Verify the block header at ``block`` that interrupts the chunk [begin, end)."""
        stored, prev, nxt = _BLOCK_HEADER.unpack(raw)
        if _hash(memoryview(raw)[8:]) != stored:
            raise ChecksumError(
                "Riegeli block header hash mismatch", path=self.path, where=f"block at {block}"
            )
        if prev != block - begin or (end is not None and nxt != end - block):
            raise self._corrupt(
                f"block header at {block} points to chunk ({block - prev}, {block + nxt}), "
                f"expected ({begin}, {end})",
                begin,
            )

    def _logical(self, begin: int, start: int, length: int, end: int | None) -> Iterator[memoryview]:
        """Yield ``length`` logical bytes of the chunk at ``begin``, from logical offset
        ``start``, skipping (and checking) block headers."""
        pos = _add_with_overhead(begin, start) if start else begin
        remaining = length
        while remaining > 0:
            if pos % BLOCK_SIZE == 0:
                self._check_block_header(pos, self._pread(pos, BLOCK_HEADER_SIZE), begin, end)
                pos += BLOCK_HEADER_SIZE
            elif pos % BLOCK_SIZE < BLOCK_HEADER_SIZE:  # start landed inside a header
                pos += BLOCK_HEADER_SIZE - pos % BLOCK_SIZE
            # One physical read covers several blocks; headers inside are sliced out.
            span_end = min(pos + remaining + (remaining // USABLE_BLOCK_SIZE + 2) * BLOCK_HEADER_SIZE,
                           pos + _READ_SPAN, self.size)
            span = memoryview(self._pread(pos, span_end - pos)) if span_end > pos else None
            if span is None:
                raise self._corrupt("file is truncated inside a chunk", begin)
            off = 0
            while remaining > 0 and off < len(span):
                p = pos + off
                if p % BLOCK_SIZE == 0:
                    if off + BLOCK_HEADER_SIZE > len(span):
                        break
                    self._check_block_header(p, span[off : off + BLOCK_HEADER_SIZE], begin, end)
                    off += BLOCK_HEADER_SIZE
                    continue
                n = min(remaining, BLOCK_SIZE - p % BLOCK_SIZE, len(span) - off)
                yield span[off : off + n]
                off += n
                remaining -= n
            pos += off

    def _read_into(self, chunk: _Chunk, start: int, dest: memoryview) -> None:
        """Read logical bytes of ``chunk`` from logical offset ``start`` straight into ``dest``,
        checking the block headers on the way."""
        pos = _add_with_overhead(chunk.begin, start)
        at, remaining = 0, len(dest)
        f = self._file
        while remaining:
            if pos % BLOCK_SIZE == 0:
                raw = self._pread(pos, BLOCK_HEADER_SIZE)
                self._check_block_header(pos, raw, chunk.begin, chunk.end)
                pos += BLOCK_HEADER_SIZE
            n = min(remaining, BLOCK_SIZE - pos % BLOCK_SIZE)
            f.seek(pos)
            if f.readinto(dest[at : at + n]) != n:
                raise self._corrupt("file is truncated inside a chunk", chunk.begin)
            at += n
            pos += n
            remaining -= n

    def _read_logical(self, begin: int, start: int, length: int, end: int | None) -> bytes:
        return b"".join(self._logical(begin, start, length, end))

    # -- scanning
    def _scan(self) -> None:
        size = self.size
        if size < 64:
            raise CorruptFileError(
                f"not a Riegeli/records file: {size} bytes is shorter than the file signature",
                path=self.path,
            )
        if self._pread(0, 64) != FILE_SIGNATURE:
            raise CorruptFileError(
                "not a Riegeli/records file (the 64-byte file signature does not match)",
                path=self.path,
            )
        pos = 64
        while pos < size:
            if not _is_possible_chunk_boundary(pos):
                raise self._corrupt("chunk boundary inside a block header", pos)
            header_end = _add_with_overhead(pos, CHUNK_HEADER_SIZE)
            if header_end > size:
                raise self._corrupt(
                    f"file is truncated: {size - pos} bytes left, less than a chunk header", pos
                )
            raw = self._read_logical(pos, 0, CHUNK_HEADER_SIZE, None)
            stored, data_size, data_hash, type_and_count, decoded_size = _CHUNK_HEADER.unpack(raw)
            if _hash(raw[8:]) != stored:
                raise ChecksumError(
                    "Riegeli chunk header hash mismatch", path=self.path,
                    where=f"Riegeli chunk at byte {pos}",
                )
            kind = type_and_count & 0xFF
            num_records = type_and_count >> 8
            if kind not in _CHUNK_TYPES:
                raise self._corrupt(f"unknown chunk type {kind:#x}", pos)
            data_end = _add_with_overhead(pos, CHUNK_HEADER_SIZE + data_size)
            if data_end > size:
                raise LimitExceededError(
                    f"file is truncated or corrupt: the chunk declares {data_size} data bytes but "
                    f"the file ends at byte {size}",
                    path=self.path, where=f"Riegeli chunk at byte {pos}",
                )
            end = _chunk_end(pos, data_size, num_records)
            if end > size:
                raise LimitExceededError(
                    f"chunk declares {num_records} records, more than the file can hold",
                    path=self.path, where=f"Riegeli chunk at byte {pos}",
                )
            if kind == TRANSPOSED:
                raise UnsupportedFormatError(
                    "transposed Riegeli chunks ('t') are not supported; TensorFlow writes only "
                    "simple chunks",
                    path=self.path, where=f"Riegeli chunk at byte {pos}",
                )
            if kind == SIMPLE:
                if num_records == 0 and decoded_size:
                    raise self._corrupt("simple chunk without records has decoded data", pos)
                if num_records > MAX_RECORDS_PER_CHUNK:
                    raise LimitExceededError(
                        f"chunk declares {num_records} records, more than the "
                        f"{MAX_RECORDS_PER_CHUNK} this reader accepts",
                        path=self.path, where=f"Riegeli chunk at byte {pos}",
                    )
                if num_records:
                    self._begins.append(pos)
                    for name, value in (("data_size", data_size), ("data_hash", data_hash),
                                        ("num_records", num_records),
                                        ("decoded_size", decoded_size), ("end", end)):
                        self._index[name].append(value)
            elif num_records:  # signature, padding and metadata chunks hold no records
                raise self._corrupt(f"chunk of type {chr(kind)!r} declares records", pos)
            pos = end

    # -- public API
    def _chunk(self, i: int) -> _Chunk:
        ix = self._index
        return _Chunk(self._begins[i], ix["data_size"][i], ix["data_hash"][i],
                      ix["num_records"][i], ix["decoded_size"][i], ix["end"][i])

    def _find(self, position: int) -> int | None:
        """Index of the chunk holding record ``position``, or None."""
        i = bisect.bisect_right(self._begins, position) - 1
        if i < 0 or position >= self._begins[i] + self._index["num_records"][i]:
            return None
        return i

    @property
    def num_records(self) -> int:
        """Number of records in the file."""
        return sum(self._index["num_records"])

    def has_record(self, position: int) -> bool:
        """Whether a record lives at numeric ``position``."""
        return self._find(position) is not None

    def positions(self) -> Iterator[int]:
        """Numeric position of every record, in file order."""
        for begin, count in zip(self._begins, self._index["num_records"]):
            yield from range(begin, begin + count)

    def last_position(self) -> int:
        """Position of the last record (where TensorFlow keeps the ChunkMetadata)."""
        if not self._begins:
            raise CorruptFileError("Riegeli/records file holds no records", path=self.path)
        return self._begins[-1] + self._index["num_records"][-1] - 1

    def read_record(self, position: int) -> bytes:
        """The record at numeric ``position`` (a ``ChunkInfo.offset`` in a .cpb)."""
        data = self.read_record_buffer(position)
        return data if isinstance(data, bytes) else bytes(data)

    def read_record_buffer(self, position: int) -> bytearray | memoryview:
        """Like :meth:`read_record` but without the final copy into ``bytes``: a buffer that
        the reader never modifies (for parsers that take any buffer, e.g. MergeFromString)."""
        index = self._find(position)
        if index is None:
            raise CorruptFileError(
                f"no record at position {position}", path=self.path, where="Riegeli record"
            )
        chunk = self._chunk(index)
        limits, values = self._decode(chunk)
        i = position - chunk.begin
        start = limits[i - 1] if i else 0
        if start == 0 and limits[i] == len(values):
            return values
        return memoryview(values)[start : limits[i]]

    def check_hashes(self) -> int:
        """Check the HighwayHash of every record chunk's data without decompressing it
        (ChecksumError on the first mismatch); returns how many chunks were checked.

        Block and chunk headers are checked when the file is opened.
        """
        for i in range(len(self._begins)):
            chunk = self._chunk(i)
            hasher = _hh.HighwayHash64()
            for piece in self._logical(chunk.begin, CHUNK_HEADER_SIZE, chunk.data_size, chunk.end):
                hasher.update(piece)
            if hasher.intdigest() != chunk.data_hash:
                raise self._hash_mismatch(chunk)
        return len(self._begins)

    def __iter__(self) -> Iterator[bytes]:
        """All records, in file order."""
        for position in self.positions():
            yield self.read_record(position)

    # -- chunk decoding
    def _decode(self, chunk: _Chunk) -> tuple[array[int], bytearray]:
        """Record end offsets and the decoded values of a simple chunk (cached when small)."""
        if self._cached is not None and self._cached[0] == chunk.begin:
            return self._cached[1], self._cached[2]
        self._cached = None
        try:
            limits, values = self._decode_simple(chunk)
        except MemoryError:
            raise LimitExceededError(
                f"not enough memory to decode a chunk of {chunk.decoded_size} bytes",
                path=self.path, where=f"Riegeli chunk at byte {chunk.begin}",
            ) from None
        if chunk.decoded_size <= _CACHE_LIMIT:
            self._cached = (chunk.begin, limits, values)
        return limits, values

    def _decode_simple(self, chunk: _Chunk) -> tuple[array[int], bytearray]:
        begin = chunk.begin

        def fail(message: str) -> CorruptFileError:
            return self._corrupt(message, begin)

        hasher = _hh.HighwayHash64() if self.verify_hashes else None
        stream = _Stream(self._logical(begin, CHUNK_HEADER_SIZE, chunk.data_size, chunk.end), hasher)
        try:
            return self._parse_simple(chunk, stream, fail)
        except CorruptFileError:
            # A damaged chunk usually fails to parse before its hash is complete: finish the hash
            # so that the error says what really happened.
            if hasher is not None and not isinstance(sys.exc_info()[1], ChecksumError):
                try:
                    stream.drain()
                except (CorruptFileError, _Truncated):
                    pass
                else:
                    if hasher.intdigest() != chunk.data_hash:
                        raise self._hash_mismatch(chunk) from None
            raise

    def _hash_mismatch(self, chunk: _Chunk) -> ChecksumError:
        return ChecksumError(
            "Riegeli chunk data hash mismatch", path=self.path,
            where=f"Riegeli chunk at byte {chunk.begin} with {chunk.data_size} data bytes",
        )

    def _parse_simple(self, chunk: _Chunk, stream: _Stream, fail: _Fail
                      ) -> tuple[array[int], bytearray]:
        hasher = stream.hasher
        try:
            kind = stream.take(1)[0]
            if kind not in _COMPRESSION_NAMES:
                raise fail(f"unknown compression type {kind:#x}")
            sizes_size = stream.varint()
            if sizes_size > chunk.data_size - stream.consumed:
                raise fail(f"size of record sizes ({sizes_size}) exceeds the chunk data")
            sizes_raw = stream.take(sizes_size)
            values_len = chunk.data_size - stream.consumed
            sizes: Buffer
            if kind == _NONE:
                sizes = sizes_raw
                if values_len != chunk.decoded_size:
                    raise fail(
                        f"chunk holds {values_len} value bytes, header says {chunk.decoded_size}"
                    )
                values = bytearray(values_len)
                view = memoryview(values)
                cur = stream.take_buffered()  # fetched already (and hashed)
                at = len(cur)
                view[:at] = cur
                if at < values_len:  # the rest straight from the file into place
                    start = CHUNK_HEADER_SIZE + chunk.data_size - (values_len - at)
                    self._read_into(chunk, start, view[at:])
                    if hasher is not None:
                        hasher.update(view[at:])
            else:
                self._check_decoded_size(chunk)
                sizes = self._decompress_stream(kind, [sizes_raw], 10 * chunk.num_records,
                                                "record sizes", fail)
                values = self._decompress_stream(kind, stream.rest(), chunk.decoded_size,
                                                 "record values", fail, exact=True)
            if stream.drain():
                raise fail("unexpected bytes after the compressed record values")
        except _Truncated:
            raise fail("chunk data ends early") from None
        if hasher is not None and hasher.intdigest() != chunk.data_hash:
            raise self._hash_mismatch(chunk)
        limits = self._limits(sizes, chunk, fail)
        return limits, values

    def _check_decoded_size(self, chunk: _Chunk) -> None:
        """Refuse a compressed chunk declaring more than MAX_DECODED_CHUNK_BYTES, before decoding."""
        if chunk.decoded_size > MAX_DECODED_CHUNK_BYTES:
            raise LimitExceededError(
                f"compressed chunk would decompress to {chunk.decoded_size} bytes, over the limit of "
                f"{MAX_DECODED_CHUNK_BYTES} (savedmodel_io.formats.riegeli.MAX_DECODED_CHUNK_BYTES)",
                path=self.path, where=f"Riegeli chunk at byte {chunk.begin}",
            )

    def _decompress_stream(self, kind: int, stream: Iterable[Buffer], limit: int, what: str,
                           fail: _Fail, exact: bool = False) -> bytearray:
        """A compressed stream: varint(decompressed size) then the compressed bytes."""
        pieces = iter(stream)
        head = bytearray()
        rest: list[Buffer] = []
        for piece in pieces:  # the varint may straddle pieces
            head += piece
            try:
                declared, used = _read_varint(head, 0, len(head))
                rest = [memoryview(head)[used:]]
                break
            except ValueError:
                if len(head) >= 10:
                    raise fail(f"{what}: bad decompressed size") from None
        else:
            raise fail(f"{what}: missing decompressed size")
        if declared > limit or (exact and declared != limit):
            raise fail(f"{what}: decompressed size {declared} does not match the header ({limit})")

        def chained() -> Iterator[Buffer]:
            yield from rest
            yield from pieces

        sink = _Sink(declared, what, fail)
        _decompress_into(kind, chained(), sink, self.path, fail)
        if len(sink.buf) != declared:
            raise fail(f"{what}: decompressed to {len(sink.buf)} bytes, expected {declared}")
        return sink.buf

    @staticmethod
    def _limits(sizes: Buffer, chunk: _Chunk, fail: _Fail) -> array[int]:
        limits = array("Q")
        pos = total = 0
        n = len(sizes)
        try:
            for _ in range(chunk.num_records):
                size, pos = _read_varint(sizes, pos, n)
                total += size
                if total > chunk.decoded_size:
                    raise fail("record sizes exceed the chunk's decoded size")
                limits.append(total)
        except ValueError:
            raise fail("record sizes are truncated") from None
        if pos != n:
            raise fail("record sizes have trailing bytes")
        if total != chunk.decoded_size:
            raise fail("record sizes do not add up to the chunk's decoded size")
        return limits


class _Truncated(Exception):
    pass


class _Stream:
    """Pull exact byte counts from an iterator of pieces, hashing everything consumed."""

    def __init__(self, pieces: Iterator[memoryview], hasher: _hh.HighwayHash64 | None) -> None:
        self._pieces = pieces
        self._cur = memoryview(b"")
        self._hasher = hasher
        self.hasher = hasher
        self.consumed = 0

    def _next(self) -> None:
        nxt = next(self._pieces, None)
        if nxt is None:
            raise _Truncated
        if self._hasher is not None:
            self._hasher.update(nxt)
        self._cur = nxt

    def take(self, n: int) -> bytes:
        out = bytearray()
        while len(out) < n:
            if not len(self._cur):
                self._next()
            k = min(n - len(out), len(self._cur))
            out += self._cur[:k]
            self._cur = self._cur[k:]
        self.consumed += n
        return bytes(out)

    def varint(self) -> int:
        result = shift = 0
        while True:
            b = self.take(1)[0]
            result |= (b & 0x7F) << shift
            if b < 0x80:
                return result
            shift += 7
            if shift > 63:
                raise _Truncated

    def take_buffered(self) -> memoryview:
        """What was fetched but not consumed yet; the stream is then finished."""
        cur, self._cur = self._cur, memoryview(b"")
        self.consumed += len(cur)
        self._pieces = iter(())
        return cur

    def drain(self) -> int:
        """Consume (and hash) whatever is left; returns how many bytes that was."""
        return sum(len(piece) for piece in self.rest())

    def rest(self) -> Iterator[memoryview]:
        cur, self._cur = self._cur, memoryview(b"")
        if len(cur):
            yield cur
        for piece in self._pieces:
            if self._hasher is not None:
                self._hasher.update(piece)
            yield piece


def read_records(path: PathLike, *, verify_hashes: bool = True) -> list[bytes]:
    """All records of a Riegeli/records file (small files; use RecordReader for big ones)."""
    with RecordReader(path, verify_hashes=verify_hashes) as reader:
        return list(reader)


# ----------------------------------------------------------------------------- writer


class RecordWriter:
    """Write a Riegeli/records file: signature, then simple chunks, block headers every 64 KiB.

    Records are packed into chunks of about ``chunk_size`` bytes compressed with ``compression``
    (``"brotli"`` like TensorFlow, ``"zstd"`` or ``"none"``). A record of at least
    ``large_record_size`` bytes gets a chunk of its own, stored uncompressed unless
    ``compress_large_records``: Brotli at Riegeli's level runs at ~55 MB/s and saves ~7% on
    float weights, while TensorFlow reads uncompressed chunks just as well. Such records are
    hashed and written straight from the caller's buffer, with no copy.

    :meth:`write_record` returns the record's numeric position (for ``ChunkInfo.offset``).
    The caller owns ``file`` and its atomic placement; see :func:`write_records`.
    """

    def __init__(
        self,
        file: BinaryIO,
        *,
        compression: str = "brotli",
        level: int | None = None,
        chunk_size: int = 1 << 20,
        large_record_size: int = 1 << 24,
        compress_large_records: bool = False,
    ) -> None:
        if compression not in COMPRESSIONS:
            raise InvalidArgumentError(
                f"compression must be one of {sorted(COMPRESSIONS)}, got {compression!r}"
            )
        if compression != "none":
            _need({"brotli": "brotli", "zstd": "zstandard"}[compression], None)  # fail now rather than at the first flush
        self._file = file
        self._kind = COMPRESSIONS[compression]
        self._level = level
        self._chunk_size = max(1, chunk_size)
        self._large = max(1, large_record_size)
        self._compress_large = compress_large_records
        self._pos = 0  # physical position of the next chunk
        self._pending: list[list[Buffer]] = []
        self._pending_bytes = 0
        self._closed = False
        self._write_chunk(SIGNATURE, 0, 0, [], 0)

    def __enter__(self) -> RecordWriter:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if exc_type is None:
            self.close()

    @property
    def position(self) -> int:
        """Physical size of what has been written so far (pending records excluded)."""
        return self._pos

    def write_record(self, record: Buffer | list[Buffer] | tuple[Buffer, ...]) -> int:
        """Queue one record; returns its numeric position (chunk begin + index in chunk).

        ``record`` may be a list of buffers whose concatenation is the record: a big record
        is then hashed and written piece by piece, never joined in memory.
        """
        if self._closed:
            raise InvalidArgumentError("RecordWriter is closed")
        if isinstance(record, (list, tuple)):
            parts: list[Buffer] = [memoryview(p).cast("B") for p in record]
        else:
            parts = [memoryview(record).cast("B")]
        n = sum(len(p) for p in parts)
        if n >= self._large:
            self.flush()
            kind = self._kind if self._compress_large else _NONE
            position = self._pos
            self._write_simple([parts], kind)
            return position
        if self._pending and self._pending_bytes + n > self._chunk_size:
            self.flush()
        position = self._pos + len(self._pending)
        # Small: copy, so later changes to the caller's buffers don't leak into the file.
        self._pending.append([b"".join(parts)])
        self._pending_bytes += n
        return position

    def flush(self) -> None:
        """Write the pending records as one chunk."""
        if self._pending:
            records, self._pending, self._pending_bytes = self._pending, [], 0
            self._write_simple(records, self._kind)

    def close(self) -> None:
        """Write pending records; the file object stays open (the caller owns it)."""
        if not self._closed:
            self.flush()
            self._closed = True

    # -- encoding
    def _write_simple(self, records: list[list[Buffer]], kind: int) -> None:
        """One simple chunk; each record is a list of buffers."""
        lengths = [sum(len(p) for p in r) for r in records]
        sizes = b"".join(_varint(n) for n in lengths)
        decoded = sum(lengths)
        if kind == _NONE:
            parts: list[Buffer] = [bytes([_NONE]), _varint(len(sizes)), sizes]
            for r in records:
                parts.extend(r)
        else:
            flat = [p for r in records for p in r]
            values = flat[0] if len(flat) == 1 else b"".join(flat)
            csizes = _compress(kind, sizes, self._level)
            cvalues = _compress(kind, values, self._level)
            parts = [bytes([kind]), _varint(len(csizes)), csizes, cvalues]
        self._write_chunk(SIMPLE, len(records), decoded, parts, sum(len(p) for p in parts))

    def _write_chunk(
        self, kind: int, num_records: int, decoded: int, parts: list[Buffer], data_size: int
    ) -> None:
        hasher = _hh.HighwayHash64()
        for p in parts:
            hasher.update(p)
        body = _CHUNK_HEADER.pack(0, data_size, hasher.intdigest(), kind | (num_records << 8),
                                  decoded)[8:]
        header = _U64.pack(_hash(body)) + body
        begin = self._pos
        end = _chunk_end(begin, data_size, num_records)
        for p in [header, *parts]:
            self._emit(p, begin, end)
        if self._pos < end:  # padding up to the chunk end (only for tiny records)
            self._emit(bytes(_logical_gap(self._pos, end)), begin, end)
        assert self._pos == end, (self._pos, end)

    def _emit(self, data: Buffer, begin: int, end: int) -> None:
        """Write logical bytes of the chunk [begin, end), inserting block headers."""
        view = memoryview(data).cast("B")
        write = self._file.write
        while len(view):
            if self._pos % BLOCK_SIZE == 0:
                write(_block_header(self._pos - begin, end - self._pos))
                self._pos += BLOCK_HEADER_SIZE
            n = min(len(view), BLOCK_SIZE - self._pos % BLOCK_SIZE)
            write(view[:n])
            view = view[n:]
            self._pos += n


def _logical_gap(pos: int, end: int) -> int:
    """Logical bytes between physical ``pos`` and ``end`` (block headers excluded)."""
    gap = end - pos
    first = pos + _remaining_in_block(pos) if pos % BLOCK_SIZE else pos
    headers = 0 if first >= end else (end - 1 - first) // BLOCK_SIZE + 1
    return gap - headers * BLOCK_HEADER_SIZE


def write_records(
    path: PathLike, records: Iterable[Buffer], *, compression: str = "brotli", **options: Any
) -> list[int]:
    """Write ``records`` to ``path`` atomically (temp file + rename); returns their positions."""
    with atomic_file(path) as f:
        writer = RecordWriter(f, compression=compression, **options)
        positions = [writer.write_record(r) for r in records]
        writer.close()
    return positions
