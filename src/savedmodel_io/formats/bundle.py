"""TensorBundle checkpoints (a SavedModel's ``variables/``): the reader, and the public API.

Read with :class:`CheckpointReader` / :func:`open_checkpoint` (through a ModelFiles: local
files are memory-mapped, remote ones read by range), write with :func:`write_checkpoint` /
:class:`BundleWriter`. The format's facts: :mod:`.bundle_format`; which bundle a path names:
:mod:`.checkpoint_dir`; slices of partitioned tensors: :mod:`.slices`; object paths:
:mod:`.object_paths`; writing: :mod:`.bundle_writer`.
"""

from __future__ import annotations

import math
import os
import struct
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from savedmodel_io import dtypes
from savedmodel_io.errors import (
    ChecksumError,
    CorruptFileError,
    LimitExceededError,
    NotFoundError,
    SavedModelError,
    UnsupportedFormatError,
)
from savedmodel_io.formats import layout, sstable
from savedmodel_io.formats.bundle_format import BUNDLE_VERSION, MAX_RANK, MAX_SHARDS, UINT32_MAX
from savedmodel_io.formats.bundle_writer import BundleWriter, write_checkpoint
from savedmodel_io.formats.checkpoint_dir import checkpoint_prefix, locate_checkpoint
from savedmodel_io.formats.layout import data_filename
from savedmodel_io.formats.object_paths import OBJECT_GRAPH_KEY, object_graph_paths
from savedmodel_io.formats.slices import (
    Extent,
    Sliced,
    cached_extents_code,
    decode_slice_key,
    encode_slice_key,
    extent_bounds,
    extents_overlap,
    extents_shape,
    parse_slice_spec,
    slice_key_owner,
    slice_key_prefix,
    spec_text,
)
from savedmodel_io.formats.source import ModelFiles, open_files
from savedmodel_io.hashing.crc32c import extend, unmask
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
        if len(dims) > MAX_RANK:
            raise LimitExceededError(f"tensor rank {len(dims)} exceeds {MAX_RANK}", path=path, where=where)
        if min(dims) < 0:
            raise CorruptFileError(f"negative dimension in tensor shape {list(dims)}", path=path, where=where)
        if math.prod(dims) >= 1 << 62:
            raise LimitExceededError(
                f"tensor shape {list(dims)} has an absurd number of elements", path=path, where=where
            )
    shard_id, offset, size = proto.shard_id, proto.offset, proto.size
    if offset < 0 or size < 0 or shard_id < 0:
        raise CorruptFileError(f"negative offset/size/shard ({offset}/{size}/{shard_id})", path=path, where=where)
    slices: tuple[tuple[Extent, ...], ...] = ()
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
    CRC still reads every byte once. Files that symlinks lead out of the checkpoint's
    directory are refused (OutsideModelError) unless ``allow_external_links``.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        verify_checksums: bool = True,
        zero_copy: bool = False,
        allow_external_links: bool = False,
    ) -> None:
        files, prefix = locate_checkpoint(path, allow_external_links=allow_external_links)
        self._open(files, prefix, verify_checksums, zero_copy)

    @classmethod
    def from_files(
        cls, files: ModelFiles, prefix: str, *, verify_checksums: bool = True, zero_copy: bool = False
    ) -> CheckpointReader:
        """The bundle ``prefix`` (a name, e.g. ``variables/variables``) of ``files``."""
        reader = cls.__new__(cls)
        reader._open(files, prefix, verify_checksums, zero_copy)
        return reader

    def _open(self, files: ModelFiles, prefix: str, verify_checksums: bool, zero_copy: bool) -> None:
        self.files = files
        self._prefix_name = prefix
        self.prefix = files.path(prefix)
        self.index_path = layout.index_filename(self.prefix)
        self.verify_checksums = verify_checksums
        # Without a zero-copy view (remote files) tensors are read by range and always copied.
        self.zero_copy = zero_copy
        self._maps: dict[int, tuple[np.ndarray | None, int]] = {}
        self._object_graph: TrackableObjectGraph | None | Literal[False] = False  # False: not read
        index = layout.index_filename(prefix)
        data = files.read_all(index, limit=sstable.MAX_TABLE_BYTES, what=os.path.basename(index))
        table = sstable.Table(data, path=self.index_path, verify_checksums=verify_checksums)
        items = table.entries()
        if not items or items[0][0] != b"":
            raise CorruptFileError("index has no header entry (empty key)", path=self.index_path)
        header = parse_message(BundleHeaderProto, items[0][1], path=self.index_path)
        self.num_shards = header.num_shards
        if not 1 <= self.num_shards <= MAX_SHARDS:
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
        owner = slice_key_owner(raw_key)
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
        prefix = slice_key_prefix(name)
        return frozenset(prefix + cached_extents_code(extents) for extents in slices)

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

    # -- storage: every byte comes through self.files (a local directory or a URL)
    def _shard_name(self, shard_id: int) -> str:
        return data_filename(self._prefix_name, shard_id, self.num_shards)

    def _shard(self, shard_id: int) -> tuple[np.ndarray | None, int]:
        """(uint8 view of the whole shard, or None when empty or not mappable; size) of a shard."""
        cached = self._maps.get(shard_id)
        if cached is not None:
            return cached
        name, what = self._shard_name(shard_id), f"data shard {shard_id} of {self.num_shards}"
        view = self.files.view(name, what)
        found = view if view is not None else (None, self.files.size(name, what))
        self._maps[shard_id] = found
        return found

    def _bytes(self, entry: TensorEntry, key: str) -> np.ndarray:
        """The entry's bytes as a read-only uint8 array, bounds-checked against the shard."""
        mm, size = self._shard(entry.shard_id)
        if entry.offset + entry.size > size:
            raise CorruptFileError(
                f"tensor data at offset {entry.offset} with {entry.size} bytes runs past the end of "
                f"the shard ({size} bytes)",
                path=self.files.path(self._shard_name(entry.shard_id)),
                where=f"key {key!r}",
            )
        if entry.size == 0:
            return np.empty(0, np.uint8)
        if mm is not None:
            return mm[entry.offset : entry.offset + entry.size]
        data = self.files.read(self._shard_name(entry.shard_id), entry.offset, entry.size,
                               f"data shard {entry.shard_id} of {self.num_shards}")
        return np.frombuffer(data, np.uint8)

    def _check_crc(self, entry: TensorEntry, key: str, actual: int) -> None:
        if unmask(entry.crc32c) != actual:
            # Only the stored value: the computed one would reveal the bytes read (an oracle).
            raise ChecksumError(
                f"tensor data checksum mismatch: stored {unmask(entry.crc32c):#010x}",
                path=self.files.path(self._shard_name(entry.shard_id)),
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
                    swapped: np.ndarray = raw.view(dt).byteswap().reshape(entry.shape)
                    return swapped
                big: np.ndarray = raw.view(view_dt).reshape(entry.shape)
                return big
            return raw.view(dt).reshape(entry.shape)
        out = np.empty(entry.shape, dt)
        np.copyto(out.reshape(-1).view(np.uint8), raw)
        if swap:
            out.byteswap(inplace=True)
        return out

    def _read_strings(self, entry: TensorEntry, key: str) -> np.ndarray:
        where = f"key {key!r}"
        shard_path = self.files.path(self._shard_name(entry.shard_id))
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
        if max(lengths, default=0) <= UINT32_MAX:
            lens_bytes = np.asarray(lengths, dtype=order + "u4").tobytes()
        else:
            lens_bytes = b"".join(
                struct.pack(order + ("I" if v <= UINT32_MAX else "Q"), v) for v in lengths
            )
        raw_ck = buf[pos : pos + 4]
        (stored_len_crc,) = struct.unpack(order + "I", raw_ck)
        if self.verify_checksums:
            crc = extend(0, lens_bytes)
            if unmask(stored_len_crc) != crc:
                raise ChecksumError(
                    f"string length checksum mismatch: stored {unmask(stored_len_crc):#010x}",
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
                    f"slice {spec_text(extents)} listed for the tensor has no entry", path=self.index_path, where=where
                )
            shape = extents_shape(extents, entry.shape)
            if sentry.shape != shape or sentry.dtype_enum != entry.dtype_enum:
                raise CorruptFileError(
                    f"slice {spec_text(extents)} is stored as {dtypes.python_name(sentry.dtype_enum)}{list(sentry.shape)}, "
                    f"expected {dtypes.python_name(entry.dtype_enum)}{list(shape)}",
                    path=self.index_path,
                    where=where,
                )
            _, shard_size = self._shard(sentry.shard_id)
            shard_sizes[sentry.shard_id] = shard_size
            if sentry.offset + sentry.size > shard_size:
                raise CorruptFileError(
                    f"slice {spec_text(extents)} runs past the end of its shard ({shard_size} bytes)",
                    path=self.files.path(self._shard_name(sentry.shard_id)),
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
            out[extent_bounds(extents, entry.shape)] = self._read_entry(sentry, key, True)
        return out

    def _check_disjoint(self, parts: list[tuple[tuple[Extent, ...], TensorEntry]], entry: TensorEntry, where: str) -> None:
        def fail(a: Sequence[Extent], b: Sequence[Extent]) -> None:
            raise CorruptFileError(
                f"slices {spec_text(a)} and {spec_text(b)} overlap", path=self.index_path, where=where
            )

        if len(parts) <= 64:
            for i in range(len(parts)):
                for j in range(i):
                    if extents_overlap(parts[i][0], parts[j][0], entry.shape):
                        fail(parts[j][0], parts[i][0])
            return
        seen = np.zeros(entry.shape, dtype=bool)  # many slices: mark elements instead of pairs
        for extents, _ in parts:
            region = seen[extent_bounds(extents, entry.shape)]
            if region.any():
                fail(extents, extents)
            region[...] = True

    # -- object graph
    @property
    def object_graph(self) -> TrackableObjectGraph | None:
        """The checkpoint's TrackableObjectGraph (TF2 object-based checkpoints), or None."""
        cached = self._object_graph
        if cached is False:
            graph = None
            if OBJECT_GRAPH_KEY in self._raw:
                value = self.read(OBJECT_GRAPH_KEY)
                if value.shape != () or not isinstance(value.item(), bytes):
                    raise CorruptFileError("object graph entry is not a string scalar", path=self.index_path)
                graph = parse_message(TrackableObjectGraph, value.item(), path=self.index_path)
            self._object_graph = graph
            return graph
        return cached

    def object_paths(self) -> dict[str, str]:
        """Object path (e.g. ``layer_with_weights-0/kernel``) -> checkpoint key, from the object graph.

        Values that are not a variable's value keep their attribute name
        (``path/.ATTRIBUTES/NAME``); optimizer slots appear as
        ``<variable path>/.OPTIMIZER_SLOT/<optimizer path>/<slot>``. Empty without an object graph.
        """
        return {path: key for path, (key, _node) in object_graph_paths(self.object_graph, self.index_path).items()}

    def saved_variables(self, saved_model: Any = None) -> dict[str, tuple[str, Any]]:
        """Object path -> (checkpoint key, SavedVariable) using the SavedModel's object graph.

        ``saved_model`` is a parsed SavedModel message; by default ``saved_model.pb`` next to
        the ``variables/`` directory is read. Nodes are matched by id: TensorFlow numbers the
        TrackableObjectGraph and the SavedObjectGraph the same way. Paths whose node is not a
        variable in the SavedObjectGraph are left out.
        """
        if saved_model is None:
            saved_model = self.saved_model_beside()
            if saved_model is None:
                raise NotFoundError(
                    f"no {layout.SAVED_MODEL_PB} next to this checkpoint's "
                    f"{layout.VARIABLES_DIR}/ directory", path=self.prefix)
        if not len(saved_model.meta_graphs):
            return {}
        nodes = saved_model.meta_graphs[0].object_graph_def.nodes
        out = {}
        for path, (key, node) in object_graph_paths(self.object_graph, self.index_path).items():
            if node < len(nodes) and nodes[node].WhichOneof("kind") == "variable":
                out[path] = (key, nodes[node].variable)
        return out

    def saved_model_beside(self) -> Any:
        """The parsed ``saved_model.pb`` of the SavedModel whose ``variables/`` this bundle is,
        or None: a bare checkpoint, or one read from a URL (not fetched to resolve a name)."""
        from savedmodel_io.formats.saved_model_file import read_named

        files, prefix = self.files, self._prefix_name
        if files.remote:
            return None
        if prefix != layout.VARIABLES_PREFIX:
            # Opened by prefix or from variables/: the model is the directory above.
            if os.path.basename(os.path.dirname(self.prefix)) != layout.VARIABLES_DIR:
                return None
            files = open_files(os.path.dirname(os.path.dirname(self.prefix)),
                               allow_external_links=files.allow_external_links)
        if not files.exists(layout.SAVED_MODEL_PB):
            return None
        return read_named(files, layout.SAVED_MODEL_PB)

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
        return {path: node for path, (_key, node) in object_graph_paths(self.object_graph, self.index_path).items()}


def open_checkpoint(
    path: str | os.PathLike[str],
    *,
    verify_checksums: bool = True,
    zero_copy: bool = False,
    allow_external_links: bool = False,
) -> CheckpointReader:
    """Open a TensorBundle by prefix, ``.index`` file, ``variables/`` dir or SavedModel dir.

    ``allow_external_links``: follow symlinks out of the checkpoint's directory (trusted
    layouts such as a Hugging Face cache); refused by default.
    """
    return CheckpointReader(path, verify_checksums=verify_checksums, zero_copy=zero_copy,
                            allow_external_links=allow_external_links)


def list_variables(
    path: str | os.PathLike[str], *, allow_external_links: bool = False
) -> list[tuple[str, list[int]]]:
    """(name, shape) of every tensor, sorted by name (like ``tf.train.list_variables``)."""
    return CheckpointReader(path, allow_external_links=allow_external_links).list_variables()


def load_variables(
    path: str | os.PathLike[str], *, verify_checksums: bool = True, allow_external_links: bool = False
) -> dict[str, np.ndarray]:
    """Every tensor with a numpy form as a fresh array, by name."""
    with CheckpointReader(path, verify_checksums=verify_checksums,
                          allow_external_links=allow_external_links) as reader:
        return reader.read_all()
