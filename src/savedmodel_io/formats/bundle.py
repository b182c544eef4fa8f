"""TensorBundle checkpoints (a SavedModel's ``variables/``): read and write, byte-identical to TF.

A bundle with prefix ``P`` is ``P.index``, a LevelDB table (see :mod:`.sstable`), and
``P.data-0000K-of-0000N`` shard files. Facts from tensorflow/tensorflow
``tensorflow/core/util/tensor_bundle/tensor_bundle.cc`` and ``tensor_bundle.proto``:

* the empty key holds a BundleHeaderProto (num_shards, endianness, version
  {producer: 1}); every other key a BundleEntryProto (dtype, shape, shard_id,
  offset, size, masked crc32c, slices).
* numeric tensors are their raw bytes in the header's byte order; the entry CRC
  covers exactly those bytes. TF's writer uses no alignment padding.
* string tensors: ``varint64 len[i]`` for every element, then the masked CRC32C of
  the lengths (each as uint32, or uint64 when over 2**32-1, in the writer's byte
  order), then all string bytes. The entry CRC covers lengths (as uint32/uint64),
  the 4 checksum bytes, then the string bytes.
* a partitioned variable has a metadata entry under its own name (dtype, full
  shape, ``slices``; no data) and one entry per slice under a key built with
  OrderedCode (``tensorflow/core/util/saved_tensor_slice_util.cc``,
  ``tensorflow/core/lib/strings/ordered_code.cc``).
* index keys are sorted bytewise; data is written in the order tensors are added.
"""

from __future__ import annotations

import functools
import math
import mmap
import os
import re
import secrets
import struct
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, BinaryIO, Union

import numpy as np

from savedmodel_io import dtypes
from savedmodel_io._fsutil import open_regular, read_regular
from savedmodel_io.errors import (
    ChecksumError,
    CorruptFileError,
    InvalidArgumentError,
    LimitExceededError,
    NotFoundError,
    SavedModelError,
    UnsupportedFormatError,
)
from savedmodel_io.formats import sstable
from savedmodel_io.hashing.crc32c import extend, mask, unmask
from savedmodel_io.proto import (
    BundleEntryProto,
    BundleHeaderProto,
    TrackableObjectGraph,
    parse_message,
)
from savedmodel_io.tensors import check_rank

__all__ = [
    "OBJECT_GRAPH_KEY",
    "CheckpointReader",
    "TensorEntry",
    "Sliced",
    "BundleWriter",
    "open_checkpoint",
    "list_variables",
    "load_variables",
    "write_checkpoint",
    "checkpoint_prefix",
    "data_filename",
    "encode_slice_key",
    "decode_slice_key",
    "parse_slice_spec",
]

OBJECT_GRAPH_KEY = "_CHECKPOINTABLE_OBJECT_GRAPH"
BUNDLE_VERSION = 1  # kTensorBundleVersion
_MAX_SHARDS = 1 << 20
_MAX_RANK = 254  # TensorShape::MaxDimensions()
_UINT32_MAX = 0xFFFFFFFF
_CHUNK = 8 << 20  # streaming unit for reading/writing/CRC
_MAX_STATE_BYTES = 16 << 20  # a `checkpoint` state file lists a few prefixes (text proto)

Extent = tuple[int, int]  # (start, length); length -1 means the whole dimension
SliceSpec = Union[str, Sequence[Union[Extent, None]]]


def data_filename(prefix: str | os.PathLike[str], shard: int, num_shards: int) -> str:
    """``<prefix>.data-<shard>-of-<num_shards>`` (five digits each, as TF names them)."""
    return f"{os.fspath(prefix)}.data-{shard:05d}-of-{num_shards:05d}"


def checkpoint_prefix(path: str | os.PathLike[str]) -> str:
    """The bundle prefix for a SavedModel dir, a ``variables/`` dir, a checkpoint dir, an index file, or a prefix."""
    p = os.fspath(path)
    if p.endswith(".index") and os.path.isfile(p):
        return p[: -len(".index")]
    if os.path.isfile(p + ".index"):
        return p
    if os.path.isdir(p):
        for candidate in (
            os.path.join(p, "variables", "variables"),
            os.path.join(p, "variables"),
        ):
            if os.path.isfile(candidate + ".index"):
                return candidate
        state = os.path.join(p, "checkpoint")
        if os.path.isfile(state):  # tf.train.CheckpointManager's state file (text proto)
            text = read_regular(state, limit=_MAX_STATE_BYTES, what="checkpoint state file")
            name = _latest_from_state(text)
            if name is not None:
                cand = name if os.path.isabs(name) else os.path.join(p, name)
                if os.path.isfile(cand + ".index"):
                    return cand
        found = sorted(f for f in os.listdir(p) if f.endswith(".index"))
        if len(found) == 1:
            return os.path.join(p, found[0][: -len(".index")])
        if len(found) > 1:
            raise InvalidArgumentError(
                f"several checkpoints in this directory ({', '.join(found)}): pass a prefix", path=p
            )
    raise NotFoundError(
        "no checkpoint here: expected a SavedModel directory, a variables/ directory, "
        "a checkpoint prefix or a .index file",
        path=p,
    )


_STATE_PATH = re.compile(rb"""^\s*model_checkpoint_path\s*:\s*(?:"((?:[^"\\\n]|\\.)*)"|'((?:[^'\\\n]|\\.)*)')""", re.M)
_ESCAPE = re.compile(rb"\\(?:([0-7]{1,3})|x([0-9a-fA-F]{1,2})|u([0-9a-fA-F]{4})|U([0-9a-fA-F]{8})|(.))", re.S)
_SIMPLE_ESCAPES = {b"a": b"\a", b"b": b"\b", b"f": b"\f", b"n": b"\n", b"r": b"\r", b"t": b"\t", b"v": b"\v",
                   b"\\": b"\\", b"'": b"'", b'"': b'"', b"?": b"?"}


def _latest_from_state(text: bytes) -> str | None:
    """``model_checkpoint_path`` of a CheckpointState text proto, unescaped, or None."""
    m = _STATE_PATH.search(text)
    if m is None:
        return None
    raw = m.group(1) if m.group(1) is not None else m.group(2)
    try:
        return _unescape_text_string(raw).decode("utf-8", errors="surrogateescape")
    except ValueError:
        return None


def _unescape_text_string(raw: bytes) -> bytes:
    """Undo text-format string escapes (C style: ``\\n``, ``\\"``, octal ``\\NNN``, ``\\xHH``, ``\\uHHHH``).

    Rules of protobuf's text format (protocolbuffers/protobuf python/google/protobuf/text_encoding.py,
    CUnescape). TF writes the ``checkpoint`` state file in that format (tensorflow/tensorflow
    tensorflow/python/checkpoint/checkpoint_management.py): ``"``, ``\\`` and control characters
    escaped, UTF-8 as is; other writers may escape non-ASCII bytes in octal or hex.
    """

    def one(m: re.Match[bytes]) -> bytes:
        octal, hex2, u4, u8, other = m.groups()
        if octal is not None:
            return bytes([int(octal, 8) & 0xFF])
        if hex2 is not None:
            return bytes([int(hex2, 16)])
        if u4 is not None or u8 is not None:
            return chr(int(u4 or u8, 16)).encode("utf-8", errors="surrogatepass")
        if other in _SIMPLE_ESCAPES:
            return _SIMPLE_ESCAPES[other]
        raise ValueError(f"unknown escape \\{other!r} in text-format string")

    return _ESCAPE.sub(one, raw)


# ------------------------------------------------------------ slice keys (OrderedCode)


def _oc_num(out: bytearray, value: int) -> None:
    # OrderedCode::WriteNumIncreasing: length byte, then big-endian bytes without leading zeros.
    body = value.to_bytes((value.bit_length() + 7) // 8, "big") if value else b""
    out.append(len(body))
    out += body


def _oc_signed(out: bytearray, value: int) -> None:
    # OrderedCode::WriteSignedNumIncreasing: n bytes hold [-2**(7n-1), 2**(7n-1)); the top
    # n bits of the n-byte two's complement are flipped to encode the length.
    x = ~value if value < 0 else value
    n = x.bit_length() // 7 + 1
    raw = value & ((1 << (8 * n)) - 1)
    header = ((1 << n) - 1) << (8 * n - n)
    out += (raw ^ header).to_bytes(n, "big")


def _escape_string(s: bytes) -> bytes:
    if b"\x00" not in s and b"\xff" not in s:
        return s
    out = bytearray()
    for b in s:
        if b == 0:
            out += b"\x00\xff"
        elif b == 0xFF:
            out += b"\xff\x00"
        else:
            out.append(b)
    return bytes(out)


def _key_bytes(name: str) -> bytes:
    """A tensor name's index bytes: UTF-8, with the reader's surrogate escapes undone.

    Keys are raw bytes (TF's SaveV2 takes any string as a name); the reader decodes them with
    ``surrogateescape``, so a key read from a TF checkpoint writes back to the same bytes.
    """
    return name.encode("utf-8", errors="surrogateescape")


def encode_slice_key(name: str, extents: Sequence[Extent]) -> bytes:
    """The index key TF stores one slice of tensor ``name`` under (EncodeTensorNameSlice)."""
    return _slice_key_prefix(name) + _extents_code(extents)


def _slice_key_prefix(name: str) -> bytes:
    """The part of every slice key of ``name`` before its extents: 0, escaped name, 00 01."""
    out = bytearray()
    _oc_num(out, 0)
    out += _escape_string(_key_bytes(name)) + b"\x00\x01"
    return bytes(out)


def _extents_code(extents: Sequence[Extent]) -> bytes:
    """The extents part of a slice key: rank, then (start, length) signed numbers."""
    out = bytearray()
    _oc_num(out, len(extents))
    for start, length in extents:
        _oc_signed(out, start)
        _oc_signed(out, length)
    return bytes(out)


@functools.lru_cache(maxsize=4096)
def _cached_extents_code(extents: tuple[Extent, ...]) -> bytes:
    """:func:`_extents_code`, remembered: partitioned tensors mostly share their slicings."""
    return _extents_code(extents)


def _slice_key_owner(key: bytes) -> bytes | None:
    """The tensor name (raw bytes) a slice key belongs to, or None if ``key`` is no slice key."""
    end = key.find(b"\x00\x01", 1)
    if key[:1] != b"\x00" or end < 0:
        return None
    name = key[1:end]
    if b"\x00" not in name and b"\xff" not in name:  # nothing escaped: the common case, fast
        return name
    try:
        return _key_bytes(decode_slice_key(key)[0])
    except ValueError:
        return None


def _read_oc_num(key: bytes, pos: int) -> tuple[int, int]:
    n = key[pos]
    if n > 8 or pos + 1 + n > len(key):
        raise ValueError("bad OrderedCode number")
    return int.from_bytes(key[pos + 1 : pos + 1 + n], "big"), pos + 1 + n


def _read_oc_signed(key: bytes, pos: int) -> tuple[int, int]:
    if pos >= len(key):
        raise ValueError("truncated OrderedCode signed number")
    neg = not key[pos] & 0x80
    bits = int.from_bytes(key[pos : pos + 2].ljust(2, b"\x00"), "big")
    if neg:
        bits ^= 0xFFFF
    n = 0
    while n < 11 and bits & (0x8000 >> n):
        n += 1
    if n == 0 or n > 10 or pos + n > len(key):
        raise ValueError("bad OrderedCode signed number")
    raw = int.from_bytes(key[pos : pos + n], "big") ^ (((1 << n) - 1) << (8 * n - n))
    if raw >> (8 * n - 1):
        raw -= 1 << (8 * n)
    return raw, pos + n


def decode_slice_key(key: bytes) -> tuple[str, list[Extent]]:
    """Inverse of :func:`encode_slice_key`; ValueError if ``key`` is not a slice key."""
    if not key or key[0] != 0:
        raise ValueError("not a slice key")
    name = bytearray()
    pos = 1
    while True:  # escaped name: 00 ff -> 00, ff 00 -> ff, 00 01 ends it
        if pos + 1 >= len(key):
            raise ValueError("slice key without name terminator")
        b, nxt = key[pos], key[pos + 1]
        if b == 0x00 and nxt == 0x01:
            break
        if b == 0x00 and nxt == 0xFF:
            name.append(0)
            pos += 2
        elif b == 0xFF and nxt == 0x00:
            name.append(0xFF)
            pos += 2
        elif b in (0x00, 0xFF):
            raise ValueError("bad escape in slice key")
        else:
            name.append(b)
            pos += 1
    end = pos
    pos = end + 2
    rank, pos = _read_oc_num(key, pos)
    if rank == 0 or rank > _MAX_RANK:
        raise ValueError(f"bad slice rank {rank}")
    extents = []
    for _ in range(rank):
        start, pos = _read_oc_signed(key, pos)
        length, pos = _read_oc_signed(key, pos)
        extents.append((start, length))
    if pos != len(key):
        raise ValueError("trailing bytes in slice key")
    return bytes(name).decode("utf-8", errors="surrogateescape"), extents


def parse_slice_spec(spec: SliceSpec, full_shape: Sequence[int]) -> list[Extent]:
    """Extents from TF's slice syntax (``"0,2:-"``) or a list of (start, length)/None."""
    if isinstance(spec, str):
        items = [s for s in spec.strip().split(":") if s]
        parsed: list[Extent | None] = []
        for item in items:
            if item == "-":
                parsed.append(None)
                continue
            try:
                a, b = item.split(",")
                parsed.append((int(a), int(b)))
            except ValueError:
                raise InvalidArgumentError(f"bad slice spec {spec!r}: expected 'start,length' or '-'") from None
        spec = parsed
    extents: list[Extent] = []
    if len(spec) != len(full_shape):
        raise InvalidArgumentError(f"slice spec {spec!r} has rank {len(spec)}, tensor has rank {len(full_shape)}")
    for d, (e, dim) in enumerate(zip(spec, full_shape)):
        if e is None or tuple(e) == (0, -1):
            extents.append((0, -1))
            continue
        start, length = int(e[0]), int(e[1])
        if start < 0 or length <= 0 or start + length > dim:
            raise InvalidArgumentError(f"slice extent {e} out of range for dimension {d} of size {dim}")
        extents.append((start, length))
    return extents


def _extent_bounds(extents: Sequence[Extent], shape: Sequence[int]) -> tuple[slice, ...]:
    return tuple(slice(0, dim) if length == -1 else slice(start, start + length) for (start, length), dim in zip(extents, shape))


def _extents_shape(extents: Sequence[Extent], shape: Sequence[int]) -> tuple[int, ...]:
    return tuple(dim if length == -1 else length for (_, length), dim in zip(extents, shape))


# ------------------------------------------------------------------------ reading


@dataclass(frozen=True)
class TensorEntry:
    """What the index says about one tensor (or one stored slice)."""

    key: str
    dtype_enum: int  # the DataType enum value, as stored
    shape: tuple[int, ...]
    shard_id: int = 0
    offset: int = 0
    size: int = 0
    crc32c: int = 0  # masked, as stored
    slices: tuple[tuple[Extent, ...], ...] = field(default=())

    @property
    def dtype(self) -> np.dtype | None:
        """numpy dtype of the values (``object`` for strings); None for resource/variant."""
        return dtypes.numpy_or_none(self.dtype_enum)

    @property
    def dtype_name(self) -> str:
        """TensorFlow's name of the dtype, e.g. ``float32``."""
        return dtypes.python_name(self.dtype_enum)

    @property
    def num_elements(self) -> int:
        """Number of elements of the (full) tensor."""
        return math.prod(self.shape)


def _entry_from_proto(key: str, proto: Any, *, path: str, where: str) -> TensorEntry:
    shape = proto.shape
    dims = tuple([d.size for d in shape.dim])
    if shape.unknown_rank:
        raise CorruptFileError("tensor shape has unknown rank", path=path, where=where)
    if dims:
        if len(dims) > _MAX_RANK:
            raise LimitExceededError(f"tensor rank {len(dims)} exceeds {_MAX_RANK}", path=path, where=where)
        if min(dims) < 0:
            raise CorruptFileError(f"negative dimension in tensor shape {list(dims)}", path=path, where=where)
        if math.prod(dims) >= 1 << 62:
            raise LimitExceededError(
                f"tensor shape {list(dims)} has an absurd number of elements", path=path, where=where
            )
    shard_id, offset, size = proto.shard_id, proto.offset, proto.size
    if offset < 0 or size < 0 or shard_id < 0:
        raise CorruptFileError(f"negative offset/size/shard ({offset}/{size}/{shard_id})", path=path, where=where)
    slices = ()
    if len(proto.slices):
        slices = tuple(_slice_from_proto(s, dims, path=path, where=where) for s in proto.slices)
    return TensorEntry(key, proto.dtype, dims, shard_id, offset, size, proto.crc32c, slices)


def _slice_from_proto(s: Any, dims: tuple[int, ...], *, path: str, where: str) -> tuple[Extent, ...]:
    if len(s.extent) != len(dims):
        raise CorruptFileError("slice rank differs from tensor rank", path=path, where=where)
    extents = []
    for e, dim in zip(s.extent, dims):
        length = e.length if e.HasField("length") else -1
        if not (e.start == 0 and length == -1) and (e.start < 0 or length <= 0 or e.start + length > dim):
            raise CorruptFileError(
                f"slice extent start={e.start} length={length} outside dimension of size {dim}",
                path=path,
                where=where,
            )
        extents.append((e.start, length))
    return tuple(extents)


class CheckpointReader(Mapping[str, np.ndarray]):
    """A TensorBundle opened for reading; a read-only mapping from tensor name to numpy array.

    ``verify_checksums`` (default True) checks the CRC32C of the index blocks and of
    every tensor read, as TensorFlow does. ``zero_copy`` (default False) returns
    numeric tensors as read-only views over a memory map of the shard instead of
    fresh arrays: no copy, pages read on first touch; with ``verify_checksums`` the
    CRC still reads every byte once.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        verify_checksums: bool = True,
        zero_copy: bool = False,
    ) -> None:
        self.prefix = self._find_prefix(path)
        self.index_path = self.prefix + ".index"
        self.verify_checksums = verify_checksums
        self.zero_copy = zero_copy
        self._maps: dict[int, tuple[np.ndarray | None, int]] = {}
        self._object_graph: TrackableObjectGraph | None | bool = False
        table = self._open_table()
        items = table.entries()
        if not items or items[0][0] != b"":
            raise CorruptFileError("index has no header entry (empty key)", path=self.index_path)
        header = parse_message(BundleHeaderProto, items[0][1], path=self.index_path)
        self.num_shards = header.num_shards
        if not 1 <= self.num_shards <= _MAX_SHARDS:
            raise CorruptFileError(f"header declares {self.num_shards} shards", path=self.index_path, where="header")
        self.big_endian = header.endianness == BundleHeaderProto.BIG
        if header.endianness not in (BundleHeaderProto.LITTLE, BundleHeaderProto.BIG):
            raise CorruptFileError(f"unknown endianness {header.endianness}", path=self.index_path, where="header")
        self.version = (header.version.producer, header.version.min_consumer)
        if header.version.min_consumer > BUNDLE_VERSION or BUNDLE_VERSION in header.version.bad_consumers:
            raise UnsupportedFormatError(
                f"checkpoint needs a reader of version >= {header.version.min_consumer} (this one is {BUNDLE_VERSION})",
                path=self.index_path,
            )
        # Entries are parsed on first use: opening a bundle with many keys stays cheap.
        self._raw: dict[str, bytes] = {}
        self._raw_slices: dict[bytes, bytes] = {}
        self._parsed: dict[bytes | str, TensorEntry] = {}
        nul_keys: dict[bytes, bytes] = {}  # every slice key starts with NUL; a tensor name may too
        for raw_key, value in items[1:]:
            if raw_key[:1] == b"\x00":
                nul_keys[raw_key] = value
            else:
                self._raw[raw_key.decode("utf-8", errors="surrogateescape")] = value
        if nul_keys:
            self._split_nul_keys(nul_keys)

    def _split_nul_keys(self, nul_keys: dict[bytes, bytes]) -> None:
        """File NUL-led keys as slices or tensors: a slice key is one an entry's ``slices`` names.

        As TF lists variables (tensorflow/tensorflow tensorflow/c/checkpoint_reader.cc,
        BuildV2VarMaps): keys built by EncodeTensorNameSlice from an entry's own name and
        ``slices`` are hidden, every other key is a tensor. Only the entries named by a
        decodable slice key are parsed here; one that cannot be parsed keeps its candidate
        slices hidden, and the error comes when that tensor is read.
        """
        plain: dict[str, bytes] = {}
        listed: dict[bytes, frozenset[bytes] | None] = {}  # tensor name -> its slices' keys
        for raw_key, value in nul_keys.items():
            if self._is_listed_slice(raw_key, nul_keys, listed):
                self._raw_slices[raw_key] = value
            else:
                plain[raw_key.decode("utf-8", errors="surrogateescape")] = value
        if plain:  # NUL-led keys sort before all others: keep index order
            self._raw = {**plain, **self._raw}

    def _is_listed_slice(
        self, raw_key: bytes, nul_keys: Mapping[bytes, bytes], listed: dict[bytes, frozenset[bytes] | None]
    ) -> bool:
        """Whether ``raw_key`` is the key of a slice its tensor's entry lists (True if that entry is corrupt)."""
        owner = _slice_key_owner(raw_key)
        if owner is None:
            return False
        if owner not in listed:
            listed[owner] = self._listed_slice_keys(owner, nul_keys)
        keys = listed[owner]
        return keys is None or raw_key in keys

    def _listed_slice_keys(self, owner: bytes, nul_keys: Mapping[bytes, bytes]) -> frozenset[bytes] | None:
        """The slice keys entry ``owner`` lists (empty if there is no such entry, None if corrupt)."""
        name = owner.decode("utf-8", errors="surrogateescape")
        value = nul_keys.get(owner) if owner[:1] == b"\x00" else self._raw.get(name)
        if value is None:
            return frozenset()
        try:
            slices = self._parse_entry(name, value).slices
        except SavedModelError:
            return None
        prefix = _slice_key_prefix(name)
        return frozenset(prefix + _cached_extents_code(extents) for extents in slices)

    def _parse_entry(self, key: str | bytes, value: bytes) -> TensorEntry:
        entry = self._parsed.get(key)
        if entry is not None:
            return entry
        if isinstance(key, bytes):
            where = f"slice key {key!r}"
            name = key.decode("latin-1")
        else:
            where = f"key {key!r}"
            name = key
        proto = parse_message(BundleEntryProto, value, path=self.index_path)
        entry = _entry_from_proto(name, proto, path=self.index_path, where=where)
        if entry.shard_id >= self.num_shards:
            raise CorruptFileError(
                f"shard_id {entry.shard_id} but the header declares {self.num_shards} shards",
                path=self.index_path,
                where=where,
            )
        self._parsed[key] = entry
        return entry

    def _slice_entry(self, raw_key: bytes) -> TensorEntry | None:
        value = self._raw_slices.get(raw_key)
        return None if value is None else self._parse_entry(raw_key, value)

    def slice_keys(self) -> list[bytes]:
        """Raw index keys of the stored slices of partitioned tensors (see :func:`decode_slice_key`)."""
        return list(self._raw_slices)

    # -- mapping interface
    def __getitem__(self, key: str) -> np.ndarray:
        return self.read(key)

    def __iter__(self) -> Iterator[str]:
        return iter(self._raw)

    def __len__(self) -> int:
        return len(self._raw)

    def __contains__(self, key: object) -> bool:
        return key in self._raw

    def __enter__(self) -> CheckpointReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"CheckpointReader({self.prefix!r}, {len(self)} tensors, {self.num_shards} shard(s))"

    def close(self) -> None:
        """Drop the memory maps (views handed out keep theirs alive)."""
        self._maps.clear()

    # -- metadata
    def entry(self, key: str) -> TensorEntry:
        """Index entry of tensor ``key`` (NotFoundError naming close matches otherwise)."""
        value = self._raw.get(key)
        if value is not None:
            return self._parse_entry(key, value)
        from savedmodel_io._lookup import did_you_mean

        raise NotFoundError(f"key {key!r} not found in checkpoint{did_you_mean(key, self._raw)}",
                            path=self.index_path)

    def entries(self) -> list[TensorEntry]:
        """Every tensor's entry, in key order (slices of partitioned tensors not listed)."""
        return [self._parse_entry(k, v) for k, v in self._raw.items()]

    def data_order(self) -> list[str]:
        """Tensor names in the order their data lies in the shards, by (shard, offset).

        A partitioned tensor counts where its first stored slice is. Writing the tensors in
        this order (``write_checkpoint`` keeps mapping order) reproduces the data files.
        """
        return sorted(self._raw, key=self._data_position)

    def _data_position(self, key: str) -> tuple[int, int]:
        """(shard, offset) of the first stored byte of tensor ``key``."""
        entry = self.entry(key)
        if not entry.slices:
            return entry.shard_id, entry.offset
        found = (self._slice_entry(encode_slice_key(key, extents)) for extents in entry.slices)
        return min(((s.shard_id, s.offset) for s in found if s is not None), default=(entry.shard_id, 0))

    def list_variables(self) -> list[tuple[str, list[int]]]:
        """(name, shape) pairs sorted by name, like ``tf.train.list_variables``."""
        return [(e.key, list(e.shape)) for e in self.entries()]

    def get_variable_to_shape_map(self) -> dict[str, list[int]]:
        """name -> shape, as TF's CheckpointReader offers."""
        return dict(self.list_variables())

    def has_tensor(self, key: str) -> bool:
        """Whether ``key`` names a tensor (TF's CheckpointReader API)."""
        return key in self._raw

    def get_tensor(self, key: str) -> np.ndarray:
        """Same as :meth:`read` (TF's CheckpointReader API)."""
        return self.read(key)

    # -- data
    def read(self, key: str, *, zero_copy: bool | None = None) -> np.ndarray:
        """Tensor ``key`` as a numpy array (slices of a partitioned tensor reassembled)."""
        entry = self.entry(key)
        check_rank(entry.shape, path=self.index_path, where=f"key {key!r}")
        zc = self.zero_copy if zero_copy is None else zero_copy
        if entry.slices:
            return self._read_sliced(entry)
        return self._read_entry(entry, key, zc)

    def read_all(self, *, zero_copy: bool | None = None) -> dict[str, np.ndarray]:
        """Every tensor with a numpy form (resource/variant entries skipped)."""
        return {
            e.key: self.read(e.key, zero_copy=zero_copy) for e in self.entries() if dtypes.has_numpy_form(e.dtype_enum)
        }

    def verify(self) -> None:
        """:meth:`check` every tensor (ChecksumError/CorruptFileError on the first problem)."""
        for key in self._raw:
            self.check(key)

    def check(self, key: str) -> None:
        """Check tensor ``key`` against the index: its bytes' CRC32C (every slice), and for
        tensors with a numpy form that the bytes decode as dtype and shape say."""
        saved = self.verify_checksums
        self.verify_checksums = True
        try:
            entry = self.entry(key)
            if dtypes.has_numpy_form(entry.dtype_enum):
                self.read(key, zero_copy=True)
                return
            parts = [self._slice_entry(encode_slice_key(key, ext)) for ext in entry.slices]
            for part in parts if entry.slices else [entry]:
                if part is None:
                    raise NotFoundError(f"a slice of {key!r} is missing", path=self.index_path)
                self._check_crc(part, key, extend(0, self._bytes(part, key)))
        finally:
            self.verify_checksums = saved

    # -- storage hooks (local files; savedmodel_io.remote reads byte ranges over fsspec instead)
    def _find_prefix(self, path: str | os.PathLike[str]) -> str:
        return checkpoint_prefix(path)

    def _open_table(self) -> sstable.Table:
        return sstable.Table.open(self.index_path, verify_checksums=self.verify_checksums)

    def _shard(self, shard_id: int) -> tuple[np.ndarray | None, int]:
        """(uint8 memory map or None for an empty file, size) of one data shard."""
        cached = self._maps.get(shard_id)
        if cached is not None:
            return cached
        path = data_filename(self.prefix, shard_id, self.num_shards)
        with open_regular(path, f"data shard {shard_id} of {self.num_shards}") as f:
            size = os.fstat(f.fileno()).st_size
            try:
                mm = np.frombuffer(mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ), np.uint8) if size else None
            except OSError as exc:  # e.g. a filesystem that cannot map files
                raise CorruptFileError(
                    f"data shard {shard_id} cannot be mapped ({exc.strerror or exc})", path=path
                ) from None
        self._maps[shard_id] = (mm, size)
        return mm, size

    def _bytes(self, entry: TensorEntry, key: str) -> np.ndarray:
        """The entry's bytes as a read-only uint8 view, bounds-checked against the shard."""
        mm, size = self._shard(entry.shard_id)
        if entry.offset + entry.size > size:
            raise CorruptFileError(
                f"tensor data at offset {entry.offset} with {entry.size} bytes runs past the end of "
                f"the shard ({size} bytes)",
                path=data_filename(self.prefix, entry.shard_id, self.num_shards),
                where=f"key {key!r}",
            )
        if mm is None or entry.size == 0:
            return np.empty(0, np.uint8)
        return mm[entry.offset : entry.offset + entry.size]

    def _check_crc(self, entry: TensorEntry, key: str, actual: int) -> None:
        if unmask(entry.crc32c) != actual:
            raise ChecksumError(
                f"tensor data checksum mismatch: stored {unmask(entry.crc32c):#010x}, computed {actual:#010x}",
                path=data_filename(self.prefix, entry.shard_id, self.num_shards),
                where=f"key {key!r}",
            )

    def _read_entry(self, entry: TensorEntry, key: str, zero_copy: bool) -> np.ndarray:
        if not dtypes.has_numpy_form(entry.dtype_enum):
            raise UnsupportedFormatError(
                f"{dtypes.dtype_name(entry.dtype_enum)} tensors cannot be read as numpy arrays",
                path=self.index_path,
                where=f"key {key!r}",
            )
        if dtypes.is_string(entry.dtype_enum):
            return self._read_strings(entry, key)
        dt = dtypes.to_numpy(entry.dtype_enum)
        expected = entry.num_elements * dt.itemsize
        if entry.size != expected:
            raise CorruptFileError(
                f"stored size {entry.size} bytes does not match {dtypes.python_name(entry.dtype_enum)}{list(entry.shape)} "
                f"({expected} bytes)",
                path=self.index_path,
                where=f"key {key!r}",
            )
        raw = self._bytes(entry, key)
        if self.verify_checksums:
            self._check_crc(entry, key, extend(0, raw))
        swap = self.big_endian and dt.itemsize > 1
        if zero_copy:
            if swap:
                try:
                    view_dt = dt.newbyteorder(">")
                except (TypeError, ValueError):  # ml_dtypes without byte-order support
                    return raw.view(dt).byteswap().reshape(entry.shape)
                return raw.view(view_dt).reshape(entry.shape)
            return raw.view(dt).reshape(entry.shape)
        out = np.empty(entry.shape, dt)
        np.copyto(out.reshape(-1).view(np.uint8), raw)
        if swap:
            out.byteswap(inplace=True)
        return out

    def _read_strings(self, entry: TensorEntry, key: str) -> np.ndarray:
        where = f"key {key!r}"
        shard_path = data_filename(self.prefix, entry.shard_id, self.num_shards)
        n = entry.num_elements
        if entry.size == 0:
            if n:
                raise CorruptFileError(f"{n} strings stored in 0 bytes", path=shard_path, where=where)
            return np.empty(entry.shape, dtype=object)
        if entry.size < n + 4:
            raise CorruptFileError(
                f"{entry.size} bytes cannot hold {n} string lengths and their checksum", path=shard_path, where=where
            )
        buf = self._bytes(entry, key).tobytes()
        lengths = []
        pos = 0
        try:
            for _ in range(n):
                v, pos = sstable.get_varint(buf, pos, len(buf))
                lengths.append(v)
        except ValueError:
            raise CorruptFileError("truncated string length varint", path=shard_path, where=where) from None
        if pos + 4 + sum(lengths) != entry.size:
            raise CorruptFileError(
                f"string lengths add up to {pos + 4 + sum(lengths)} bytes, entry says {entry.size}",
                path=shard_path,
                where=where,
            )
        order = ">" if self.big_endian else "<"
        if max(lengths, default=0) <= _UINT32_MAX:
            lens_bytes = np.asarray(lengths, dtype=order + "u4").tobytes()
        else:
            lens_bytes = b"".join(
                struct.pack(order + ("I" if v <= _UINT32_MAX else "Q"), v) for v in lengths
            )
        raw_ck = buf[pos : pos + 4]
        (stored_len_crc,) = struct.unpack(order + "I", raw_ck)
        if self.verify_checksums:
            crc = extend(0, lens_bytes)
            if unmask(stored_len_crc) != crc:
                raise ChecksumError(
                    f"string length checksum mismatch: stored {unmask(stored_len_crc):#010x}, computed {crc:#010x}",
                    path=shard_path,
                    where=where,
                )
            crc = extend(crc, raw_ck)
            crc = extend(crc, memoryview(buf)[pos + 4 :])
            self._check_crc(entry, key, crc)
        pos += 4
        out = np.empty(n, dtype=object)
        for i, length in enumerate(lengths):
            out[i] = buf[pos : pos + length]
            pos += length
        return out.reshape(entry.shape)

    def _read_sliced(self, entry: TensorEntry) -> np.ndarray:
        key = entry.key
        where = f"key {key!r}"
        if not dtypes.has_numpy_form(entry.dtype_enum):
            raise UnsupportedFormatError(
                f"{dtypes.dtype_name(entry.dtype_enum)} tensors cannot be read as numpy arrays", path=self.index_path, where=where
            )
        dt = dtypes.to_numpy(entry.dtype_enum)
        parts = []
        covered = 0
        stored = 0
        shard_sizes: dict[int, int] = {}
        for extents in entry.slices:
            skey = encode_slice_key(key, extents)
            sentry = self._slice_entry(skey)
            if sentry is None:
                raise NotFoundError(
                    f"slice {_spec_text(extents)} listed for the tensor has no entry", path=self.index_path, where=where
                )
            shape = _extents_shape(extents, entry.shape)
            if sentry.shape != shape or sentry.dtype_enum != entry.dtype_enum:
                raise CorruptFileError(
                    f"slice {_spec_text(extents)} is stored as {dtypes.python_name(sentry.dtype_enum)}{list(sentry.shape)}, "
                    f"expected {dtypes.python_name(entry.dtype_enum)}{list(shape)}",
                    path=self.index_path,
                    where=where,
                )
            _, shard_size = self._shard(sentry.shard_id)
            shard_sizes[sentry.shard_id] = shard_size
            if sentry.offset + sentry.size > shard_size:
                raise CorruptFileError(
                    f"slice {_spec_text(extents)} runs past the end of its shard ({shard_size} bytes)",
                    path=data_filename(self.prefix, sentry.shard_id, self.num_shards),
                    where=where,
                )
            covered += math.prod(shape)
            stored += sentry.size
            parts.append((extents, sentry))
        if covered != entry.num_elements:
            raise CorruptFileError(
                f"the stored slices cover {covered} of the tensor's {entry.num_elements} elements",
                path=self.index_path,
                where=where,
            )
        # Every element takes at least one stored byte (itemsize, or a string's length varint),
        # so this bounds the allocations below by the size of the shard files.
        per_element = 1 if dtypes.is_string(entry.dtype_enum) else dt.itemsize
        if not entry.num_elements * per_element <= stored <= sum(shard_sizes.values()):
            raise CorruptFileError(
                f"slice entries hold {stored} bytes: impossible for {entry.num_elements} elements in "
                f"shards of {sum(shard_sizes.values())} bytes",
                path=self.index_path,
                where=where,
            )
        self._check_disjoint(parts, entry, where)
        out = np.empty(entry.shape, dtype=dt)
        for extents, sentry in parts:
            out[_extent_bounds(extents, entry.shape)] = self._read_entry(sentry, key, True)
        return out

    def _check_disjoint(self, parts: list[tuple[tuple[Extent, ...], TensorEntry]], entry: TensorEntry, where: str) -> None:
        def fail(a: Sequence[Extent], b: Sequence[Extent]) -> None:
            raise CorruptFileError(
                f"slices {_spec_text(a)} and {_spec_text(b)} overlap", path=self.index_path, where=where
            )

        if len(parts) <= 64:
            for i in range(len(parts)):
                for j in range(i):
                    if _overlap(parts[i][0], parts[j][0], entry.shape):
                        fail(parts[j][0], parts[i][0])
            return
        seen = np.zeros(entry.shape, dtype=bool)  # many slices: mark elements instead of pairs
        for extents, _ in parts:
            region = seen[_extent_bounds(extents, entry.shape)]
            if region.any():
                fail(extents, extents)
            region[...] = True

    # -- object graph
    @property
    def object_graph(self) -> TrackableObjectGraph | None:
        """The checkpoint's TrackableObjectGraph (TF2 object-based checkpoints), or None."""
        if self._object_graph is False:
            graph = None
            if OBJECT_GRAPH_KEY in self._raw:
                value = self.read(OBJECT_GRAPH_KEY)
                if value.shape != () or not isinstance(value.item(), bytes):
                    raise CorruptFileError("object graph entry is not a string scalar", path=self.index_path)
                graph = parse_message(TrackableObjectGraph, value.item(), path=self.index_path)
            self._object_graph = graph
        return self._object_graph  # type: ignore[return-value]

    def object_paths(self) -> dict[str, str]:
        """Object path (e.g. ``layer_with_weights-0/kernel``) -> checkpoint key, from the object graph.

        Values that are not a variable's value keep their attribute name
        (``path/.ATTRIBUTES/NAME``); optimizer slots appear as
        ``<variable path>/.OPTIMIZER_SLOT/<optimizer path>/<slot>``. Empty without an object graph.
        """
        return {path: key for path, (key, _node) in _object_graph_paths(self.object_graph, self.index_path).items()}

    def saved_variables(self, saved_model: Any = None) -> dict[str, tuple[str, Any]]:
        """Object path -> (checkpoint key, SavedVariable) using the SavedModel's object graph.

        ``saved_model`` is a parsed SavedModel message; by default ``saved_model.pb`` next to
        the ``variables/`` directory is read. Nodes are matched by id: TensorFlow numbers the
        TrackableObjectGraph and the SavedObjectGraph the same way. Paths whose node is not a
        variable in the SavedObjectGraph are left out.
        """
        if saved_model is None:
            from savedmodel_io.formats.saved_model_file import read_file

            root = os.path.dirname(os.path.dirname(self.prefix))
            pb = os.path.join(root, "saved_model.pb")
            if os.path.basename(os.path.dirname(self.prefix)) != "variables" or not os.path.isfile(pb):
                raise NotFoundError("no saved_model.pb next to this checkpoint's variables/ directory", path=pb)
            saved_model = read_file(pb)
        if not len(saved_model.meta_graphs):
            return {}
        nodes = saved_model.meta_graphs[0].object_graph_def.nodes
        out = {}
        for path, (key, node) in _object_graph_paths(self.object_graph, self.index_path).items():
            if node < len(nodes) and nodes[node].WhichOneof("kind") == "variable":
                out[path] = (key, nodes[node].variable)
        return out

    def resolve(self, name: str) -> str:
        """Checkpoint key for ``name``: a key itself, or any name ``formats.names`` accepts.

        That is every object path (all aliases, not only the canonical one:
        ``model/layers/0/kernel`` and ``model/layer_with_weights-0/kernel`` reach the same
        variable), ``<path>/.ATTRIBUTES/<name>`` for a non-default attribute, and inside a
        SavedModel a variable's own name (``SavedVariable.name``, e.g. ``sequential/dense/kernel``).
        Copies of one variable give the first copy's key. NotFoundError (with suggestions)
        otherwise.
        """
        if name in self._raw:
            return name
        from savedmodel_io.formats.names import NameTable

        return NameTable(self).resolve(name)[0]

    def object_nodes(self) -> dict[str, int]:
        """Object path -> node id in the object graph (the same ids as the SavedObjectGraph's nodes)."""
        return {path: node for path, (_key, node) in _object_graph_paths(self.object_graph, self.index_path).items()}


def _overlap(a: Sequence[Extent], b: Sequence[Extent], shape: Sequence[int]) -> bool:
    for (sa, la), (sb, lb), dim in zip(a, b, shape):
        ea = dim if la == -1 else sa + la
        eb = dim if lb == -1 else sb + lb
        if la == -1:
            sa = 0
        if lb == -1:
            sb = 0
        if min(ea, eb) <= max(sa, sb):
            return False
    return True


def _spec_text(extents: Sequence[Extent]) -> str:
    return ":".join("-" if length == -1 else f"{start},{length}" for start, length in extents)


class PathBudget:
    """How many characters of object paths one object graph may produce (LimitExceededError beyond).

    Every node's path repeats its parent's, so a chain of N nodes (~11*N bytes) has paths of
    N**2/2 characters: 1 MB of checkpoint would need ~10**10. Real graphs are shallow (paths
    total a few times the graph's size), so the budget is PER_BYTE times the serialized graph
    plus MINIMUM: linear in the input, far above what real models use.
    """

    PER_BYTE = 64
    MINIMUM = 16 << 20

    def __init__(self, graph_bytes: int, path: str | os.PathLike[str] | None = None) -> None:
        self.total = self.MINIMUM + self.PER_BYTE * graph_bytes
        self.left = self.total
        self.path = path

    def charge(self, chars: int) -> None:
        """Account for ``chars`` more characters of paths."""
        self.left -= chars
        if self.left < 0:
            raise LimitExceededError(
                f"the object graph's paths need more than {self.total} characters "
                f"({self.PER_BYTE} per byte of the graph): a hostile chain or fan-in of objects",
                path=self.path,
            )


def _object_graph_paths(
    graph: TrackableObjectGraph | None, path: str | os.PathLike[str] | None = None
) -> dict[str, tuple[str, int]]:
    """Object path -> (checkpoint key, node id) for every attribute, within a PathBudget."""
    if graph is None or not len(graph.nodes):
        return {}
    budget = PathBudget(graph.ByteSize(), path)
    nodes = graph.nodes
    paths = _tree_paths(nodes, budget)
    _prefer_key_paths(nodes, paths, budget)
    for nid, owner in list(paths.items()):
        for slot in nodes[nid].slot_variables:
            var = paths.get(slot.original_variable_node_id)
            sid = slot.slot_variable_node_id
            if var is not None and 0 <= sid < len(nodes) and sid not in paths:
                paths[sid] = f"{var}/.OPTIMIZER_SLOT/{owner}/{slot.slot_name}"
                budget.charge(len(paths[sid]))
    out: dict[str, tuple[str, int]] = {}
    for nid in sorted(paths):
        base = paths[nid]
        for attr in nodes[nid].attributes:
            name = base if attr.name == "VARIABLE_VALUE" else f"{base}/.ATTRIBUTES/{attr.name}"
            budget.charge(len(name))
            out.setdefault(name, (attr.checkpoint_key, nid))
    return out


def _tree_paths(nodes: Any, budget: PathBudget) -> dict[int, str]:
    """Breadth first: each node gets its shortest path, like TF's object graph view."""
    paths: dict[int, str] = {0: ""}
    queue = [0]
    while queue:
        nxt = []
        for nid in queue:
            base = paths[nid]
            for ref in nodes[nid].children:
                if 0 <= ref.node_id < len(nodes) and ref.node_id not in paths:
                    paths[ref.node_id] = f"{base}/{ref.local_name}" if base else ref.local_name
                    budget.charge(len(paths[ref.node_id]))
                    nxt.append(ref.node_id)
        queue = nxt
    return paths


def _prefer_key_paths(nodes: Any, paths: dict[int, str], budget: PathBudget) -> None:
    """Name a node by the object path its checkpoint key spells, when that path leads to it.

    TensorFlow derives keys from the breadth-first path, so its checkpoints keep the
    breadth-first names. savedmodel_io's writer derives them from the path the user wrote
    (``attn/q/kernel``), which the root's ``variables`` list reaches in fewer steps
    (``variables/2``): without this, that shorter alias became the variable's name.
    """
    index: dict[int, dict[str, int]] = {}

    def child(nid: int, name: str) -> int | None:
        if nid not in index:
            index[nid] = {}
            for c in nodes[nid].children:
                index[nid].setdefault(c.local_name, c.node_id)
        found = index[nid].get(name)
        return found if found is not None and 0 <= found < len(nodes) else None

    for nid, node in enumerate(nodes):
        for attr in node.attributes:
            spelled = key_object_path(attr.checkpoint_key, attr.name)
            if not spelled:
                continue
            budget.charge(len(attr.checkpoint_key))
            cur: int | None = 0
            for part in spelled:
                cur = child(cur, part)
                if cur is None:
                    break
            if cur == nid:
                paths[nid] = "/".join(spelled)
                break


def escape_local_name(name: str) -> str:
    """Escape one object-graph edge name for a checkpoint key ("." -> "..", "/" -> ".S").

    The rule is TensorFlow's (tensorflow/tensorflow tensorflow/python/trackable/
    trackable_utils.py, escape_local_name), observed on tf.train.Checkpoint output.
    """
    return name.replace(".", "..").replace("/", ".S")


def key_object_path(key: str, attribute: str) -> list[str] | None:
    """The local names a checkpoint key ``<path>/.ATTRIBUTES/<attribute>`` spells, unescaped
    (the inverse of :func:`escape_local_name` on each part); None for keys of another form."""
    suffix = f"/.ATTRIBUTES/{attribute}"
    if not key.endswith(suffix) or len(key) == len(suffix):
        return None
    out = []
    for part in key[: -len(suffix)].split("/"):
        name, i = [], 0
        while i < len(part):
            if part[i] == "." and i + 1 < len(part) and part[i + 1] in ".S":
                name.append("." if part[i + 1] == "." else "/")
                i += 2
            else:
                name.append(part[i])
                i += 1
        out.append("".join(name))
    return out


def open_checkpoint(
    path: str | os.PathLike[str], *, verify_checksums: bool = True, zero_copy: bool = False
) -> CheckpointReader:
    """Open a TensorBundle by prefix, ``.index`` file, ``variables/`` dir or SavedModel dir."""
    return CheckpointReader(path, verify_checksums=verify_checksums, zero_copy=zero_copy)


def list_variables(path: str | os.PathLike[str]) -> list[tuple[str, list[int]]]:
    """(name, shape) of every tensor, sorted by name (like ``tf.train.list_variables``)."""
    return CheckpointReader(path).list_variables()


def load_variables(path: str | os.PathLike[str], *, verify_checksums: bool = True) -> dict[str, np.ndarray]:
    """Every tensor with a numpy form as a fresh array, by name."""
    with CheckpointReader(path, verify_checksums=verify_checksums) as reader:
        return reader.read_all()


# ------------------------------------------------------------------------ writing


@dataclass
class Sliced:
    """A partitioned tensor to write: its full shape and (slice spec, array) parts."""

    full_shape: tuple[int, ...]
    parts: list[tuple[SliceSpec, Any]]


def _as_array(value: Any, key: str) -> np.ndarray:
    """``value`` as an ndarray (numpy scalars, lists, bytes... accepted).

    Python strings become an object array: numpy's fixed-width ``S``/``U`` dtypes drop
    trailing NUL bytes, TF keeps them (``tf.constant(b"a\\0")`` is two bytes). A masked
    array gives its underlying data, mask ignored, as ``tf.constant`` does.
    """
    if isinstance(value, np.ma.MaskedArray):
        return np.ma.getdata(value)
    if isinstance(value, np.ndarray):
        return value
    try:
        arr = np.asarray(value)
        if arr.dtype.kind in "SU":  # built from Python str/bytes: keep them whole
            arr = np.array(value, dtype=object)
        return arr
    except Exception as exc:
        raise InvalidArgumentError(f"tensor {key!r} cannot be converted to a numpy array ({exc})") from None


def _string_elements(arr: np.ndarray, key: str) -> list[bytes]:
    out = []
    for v in arr.reshape(-1).tolist():
        if isinstance(v, bytes):
            out.append(v)
        elif isinstance(v, str):
            out.append(v.encode("utf-8"))
        elif isinstance(v, (bytearray, memoryview)):
            out.append(bytes(v))
        else:
            raise InvalidArgumentError(f"string tensor {key!r} holds a {type(v).__name__}, expected bytes or str")
    return out


class BundleWriter:
    """Write one TensorBundle (index + data shards), atomically: temp files renamed at :meth:`finish`.

    Tensors go to the data shard named by ``add(..., shard=)`` (default 0) in the order
    added; ``finish`` writes the sorted index. Numeric data is streamed in 8 MiB pieces,
    so memory stays bounded for memory-mapped multi-GB inputs.
    """

    def __init__(self, prefix: str | os.PathLike[str], *, num_shards: int = 1) -> None:
        if not 1 <= num_shards <= _MAX_SHARDS:
            raise InvalidArgumentError(f"num_shards must be in 1..{_MAX_SHARDS}, got {num_shards}")
        self.prefix = os.fspath(prefix)
        self.num_shards = num_shards
        directory = os.path.dirname(self.prefix) or "."
        os.makedirs(directory, exist_ok=True)
        self._tag = f".tempstate{secrets.randbits(63)}"
        self._files: dict[int, BinaryIO] = {}
        self._sizes: dict[int, int] = {}
        self._entries: dict[bytes, BundleEntryProto] = {}
        self._slice_shards: dict[bytes, list[int]] = {}  # partitioned tensor -> shard of each slice
        self._closed = False

    def _file(self, shard: int) -> BinaryIO:
        f = self._files.get(shard)
        if f is None:
            if not 0 <= shard < self.num_shards:
                raise InvalidArgumentError(f"shard {shard} outside 0..{self.num_shards - 1}")
            f = open(data_filename(self.prefix, shard, self.num_shards) + self._tag, "wb")
            self._files[shard] = f
            self._sizes[shard] = 0
        return f

    def add(self, key: str, value: Any, *, shard: int = 0) -> None:
        """Append one full tensor under ``key``."""
        self._add(_key_bytes(key), key, _as_array(value, key), shard)

    def add_slice(
        self, key: str, full_shape: Sequence[int], spec: SliceSpec, value: Any, *, shard: int = 0
    ) -> None:
        """Append one slice of partitioned tensor ``key`` (TF's BundleWriter::AddSlice)."""
        arr = _as_array(value, key)
        full_shape = tuple(int(d) for d in full_shape)
        extents = parse_slice_spec(spec, full_shape)
        shape = _extents_shape(extents, full_shape)
        if arr.shape != shape:
            raise InvalidArgumentError(f"slice {_spec_text(extents)} of {key!r} needs shape {shape}, got {arr.shape}")
        if shape == full_shape:  # a full slice is written as a plain tensor
            self.add(key, arr, shard=shard)
            return
        dt = dtypes.from_numpy(arr.dtype)
        meta = self._entries.get(_key_bytes(key))
        if meta is not None and (
            not len(meta.slices) or meta.dtype != dt or tuple(d.size for d in meta.shape.dim) != full_shape
        ):
            raise InvalidArgumentError(f"slice of {key!r} conflicts with what was already added under that name")
        self._add(encode_slice_key(key, extents), key, arr, shard)  # the metadata changes only once this worked
        if meta is None:
            meta = BundleEntryProto()  # shard_id and slice order are settled in finish()
            meta.dtype = dt
            meta.shape.SetInParent()
            for d in full_shape:
                meta.shape.dim.add(size=d)
            self._entries[_key_bytes(key)] = meta
            self._slice_shards[_key_bytes(key)] = []
        proto = meta.slices.add()
        for start, length in extents:
            e = proto.extent.add()
            if length != -1:
                e.start = start
                e.length = length
        self._slice_shards[_key_bytes(key)].append(shard)

    def _add(self, raw_key: bytes, key: str, arr: np.ndarray, shard: int) -> None:
        if self._closed:
            raise InvalidArgumentError("writer already finished")
        if raw_key == b"":
            raise InvalidArgumentError("the empty key is reserved for the bundle header")
        if raw_key in self._entries:
            raise InvalidArgumentError(f"duplicate key {key!r}")
        dt = dtypes.from_numpy(arr.dtype)
        f = self._file(shard)
        entry = BundleEntryProto()
        entry.dtype = dt
        entry.shape.SetInParent()
        for d in arr.shape:
            entry.shape.dim.add(size=d)
        entry.shard_id = shard
        entry.offset = self._sizes[shard]
        if dtypes.is_string(dt):
            size, crc = _write_strings(f, _string_elements(arr, key))
        else:
            size, crc = _write_numeric(f, arr)
        entry.size = size
        entry.crc32c = mask(crc)
        self._sizes[shard] += size
        self._entries[raw_key] = entry

    def finish(self) -> list[str]:
        """Close data files, write the index, rename everything into place; returns the paths."""
        if self._closed:
            raise InvalidArgumentError("writer already finished")
        self._closed = True
        try:
            for shard in range(self.num_shards):
                self._file(shard)  # every declared shard exists, even if empty
            for f in self._files.values():
                f.close()
            for raw_key, shards in self._slice_shards.items():
                _order_slices_by_shard(self._entries[raw_key], shards)
            header = BundleHeaderProto(num_shards=self.num_shards)
            header.version.producer = BUNDLE_VERSION
            index_tmp = self.prefix + ".index" + self._tag
            with open(index_tmp, "wb") as f:
                builder = sstable.TableBuilder(f)
                builder.add(b"", header.SerializeToString())
                for raw_key in sorted(self._entries):
                    builder.add(raw_key, self._entries[raw_key].SerializeToString())
                builder.finish()
            paths = []
            for shard in range(self.num_shards):
                final = data_filename(self.prefix, shard, self.num_shards)
                os.replace(final + self._tag, final)
                paths.append(final)
            os.replace(index_tmp, self.prefix + ".index")  # the index last: it commits the bundle
            paths.append(self.prefix + ".index")
            return paths
        except BaseException:
            self.abort()
            raise

    def abort(self) -> None:
        """Delete the temp files of an unfinished write."""
        self._closed = True
        for shard, f in self._files.items():
            f.close()
            _unlink(data_filename(self.prefix, shard, self.num_shards) + self._tag)
        _unlink(self.prefix + ".index" + self._tag)

    def __enter__(self) -> BundleWriter:
        return self

    def __exit__(self, exc_type: object, *rest: object) -> None:
        if exc_type is None:
            if not self._closed:
                self.finish()
        else:
            self.abort()


def _order_slices_by_shard(meta: BundleEntryProto, shards: list[int]) -> None:
    """Give a partitioned tensor's entry the layout TF's sharded save produces.

    A sharded save is one SaveV2 per shard, then MergeV2Checkpoints; its MergeOneBundle
    (tensorflow/tensorflow tensorflow/core/util/tensor_bundle/tensor_bundle.cc) takes the
    entry from the first shard holding a slice and appends the slices shard by shard.
    So: shard_id is the lowest shard, slices stably sorted by shard.
    """
    meta.shard_id = min(shards)
    order = sorted(range(len(shards)), key=shards.__getitem__)
    if order == list(range(len(shards))):
        return
    slices = [meta.slices[i] for i in order]
    copies = []
    for s in slices:
        c = type(s)()
        c.CopyFrom(s)
        copies.append(c)
    del meta.slices[:]
    meta.slices.extend(copies)


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def _write_numeric(f: BinaryIO, arr: np.ndarray) -> tuple[int, int]:
    """Stream ``arr``'s little-endian bytes to ``f``; returns (size, crc)."""
    crc = 0
    size = 0
    dt = arr.dtype
    if dt.byteorder == ">" or (dt.byteorder == "=" and not _LITTLE):
        dt = dt.newbyteorder("<")
    else:
        dt = None  # already little-endian (or single-byte)
    if arr.size == 0:
        return 0, 0
    itemsize = arr.dtype.itemsize
    if arr.flags.c_contiguous and dt is None:
        flat = arr.reshape(-1).view(np.uint8)
        for start in range(0, flat.size, _CHUNK):
            piece = flat[start : start + _CHUNK]
            crc = extend(crc, piece)
            f.write(memoryview(piece))
        return flat.size, crc
    # Non-contiguous or byte-swapped: convert in bounded pieces along the flat index.
    rows = max(1, _CHUNK // max(1, itemsize * (arr.size // max(1, arr.shape[0]) if arr.ndim else 1)))
    pieces = [arr] if arr.ndim == 0 else (arr[i : i + rows] for i in range(0, arr.shape[0], rows))
    for piece in pieces:
        chunk = np.ascontiguousarray(piece if dt is None else piece.astype(dt))
        buf = chunk.reshape(-1).view(np.uint8)
        crc = extend(crc, buf)
        f.write(memoryview(buf))
        size += buf.size
    return size, crc


_LITTLE = struct.pack("=I", 1) == struct.pack("<I", 1)


def _write_strings(f: BinaryIO, values: list[bytes]) -> tuple[int, int]:
    """TF's string layout: varint lengths, masked length CRC, bytes; returns (size, crc)."""
    lens = bytearray()
    for v in values:
        sstable.put_varint(lens, len(v))
    lengths = [len(v) for v in values]
    if max(lengths, default=0) <= _UINT32_MAX:
        crc = extend(0, np.asarray(lengths, dtype="<u4").tobytes())
    else:
        crc = 0
        for n in lengths:
            crc = extend(crc, struct.pack("<I" if n <= _UINT32_MAX else "<Q", n))
    ck = struct.pack("<I", mask(crc))
    crc = extend(crc, ck)
    f.write(lens)
    f.write(ck)
    size = len(lens) + 4
    for v in values:
        crc = extend(crc, v)
        f.write(v)
        size += len(v)
    return size, crc


def write_checkpoint(
    prefix: str | os.PathLike[str],
    tensors: Mapping[str, Any],
    *,
    max_shard_size: int | None = None,
) -> list[str]:
    """Write ``tensors`` (name -> array, or :class:`Sliced`) as a TensorBundle at ``prefix``.

    Data is written in mapping order, as ``tf.raw_ops.SaveV2`` does with the same
    names and tensors, so the files are byte-identical to TensorFlow's. With
    ``max_shard_size`` (bytes) tensors are spread over several shards, and split into
    slices where needed, following ``tf.train.experimental.MaxShardSizePolicy``.
    Returns the paths written (data shards, then the index).
    """
    if max_shard_size is not None:
        from savedmodel_io.formats._sharding import plan_shards

        shards = plan_shards(tensors, max_shard_size)
        writer = BundleWriter(prefix, num_shards=max(1, len(shards)))
        try:
            for shard_id, shard in enumerate(shards):
                for key, full_shape, spec, arr in shard:
                    if spec is None:
                        writer.add(key, arr, shard=shard_id)
                    else:
                        writer.add_slice(key, full_shape, spec, arr, shard=shard_id)
        except BaseException:
            writer.abort()
            raise
        return writer.finish()
    writer = BundleWriter(prefix)
    try:
        for key, value in tensors.items():
            if isinstance(value, Sliced):
                for spec, part in value.parts:
                    writer.add_slice(key, value.full_shape, spec, part)
            else:
                writer.add(key, value)
    except BaseException:
        writer.abort()
        raise
    return writer.finish()
