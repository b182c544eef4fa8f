"""Writing TensorBundles byte-identical to TensorFlow's (``SaveV2`` / ``MergeV2Checkpoints``).

The format: :mod:`.bundle_format`; splitting over shards of a maximum size: :mod:`._sharding`.
"""

from __future__ import annotations

import os
import secrets
import struct
from collections.abc import Mapping, Sequence
from typing import Any, BinaryIO

import numpy as np

from savedmodel_io import dtypes
from savedmodel_io.errors import InvalidArgumentError
from savedmodel_io.formats import layout, sstable
from savedmodel_io.formats._sharding import plan_shards
from savedmodel_io.formats.varint import append as put_varint
from savedmodel_io.formats.bundle_format import BUNDLE_VERSION, MAX_SHARDS, UINT32_MAX, key_bytes
from savedmodel_io.formats.layout import data_filename
from savedmodel_io.formats.slices import (
    SliceSpec,
    Sliced,
    encode_slice_key,
    extents_shape,
    parse_slice_spec,
    spec_text,
)
from savedmodel_io.hashing.crc32c import extend, mask
from savedmodel_io.proto import BundleEntryProto, BundleHeaderProto

__all__ = ["BundleWriter", "write_checkpoint"]

_CHUNK = 8 << 20  # streaming unit for writing and CRC


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
        if not 1 <= num_shards <= MAX_SHARDS:
            raise InvalidArgumentError(f"num_shards must be in 1..{MAX_SHARDS}, got {num_shards}")
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
        self._add(key_bytes(key), key, _as_array(value, key), shard)

    def add_slice(
        self, key: str, full_shape: Sequence[int], spec: SliceSpec, value: Any, *, shard: int = 0
    ) -> None:
        """Append one slice of partitioned tensor ``key`` (TF's BundleWriter::AddSlice)."""
        arr = _as_array(value, key)
        full_shape = tuple(int(d) for d in full_shape)
        extents = parse_slice_spec(spec, full_shape)
        shape = extents_shape(extents, full_shape)
        if arr.shape != shape:
            raise InvalidArgumentError(f"slice {spec_text(extents)} of {key!r} needs shape {shape}, got {arr.shape}")
        if shape == full_shape:  # a full slice is written as a plain tensor
            self.add(key, arr, shard=shard)
            return
        dt = dtypes.from_numpy(arr.dtype)
        meta = self._entries.get(key_bytes(key))
        if meta is not None and (
            not len(meta.slices) or meta.dtype != dt or tuple(d.size for d in meta.shape.dim) != full_shape
        ):
            raise InvalidArgumentError(f"slice of {key!r} conflicts with what was already added under that name")
        self._add(encode_slice_key(key, extents), key, arr, shard)  # the metadata changes only once this worked
        if meta is None:
            meta = BundleEntryProto()  # shard_id and slice order are settled in finish()
            meta.dtype = dtypes.as_enum(dt)
            meta.shape.SetInParent()
            for d in full_shape:
                meta.shape.dim.add(size=d)
            self._entries[key_bytes(key)] = meta
            self._slice_shards[key_bytes(key)] = []
        proto = meta.slices.add()
        for start, length in extents:
            e = proto.extent.add()
            if length != -1:
                e.start = start
                e.length = length
        self._slice_shards[key_bytes(key)].append(shard)

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
        entry.dtype = dtypes.as_enum(dt)
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
            index_tmp = layout.index_filename(self.prefix) + self._tag
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
            os.replace(index_tmp, layout.index_filename(self.prefix))  # last: it commits the bundle
            paths.append(layout.index_filename(self.prefix))
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
        _unlink(layout.index_filename(self.prefix) + self._tag)

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
    order = arr.dtype.byteorder
    # The little-endian dtype to convert to; None: already little-endian (or single-byte).
    dt = arr.dtype.newbyteorder("<") if order == ">" or (order == "=" and not _LITTLE) else None
    if arr.size == 0:
        return 0, 0
    itemsize = arr.dtype.itemsize
    if arr.flags.c_contiguous and dt is None:
        flat = arr.reshape(-1).view(np.uint8)
        for start in range(0, flat.size, _CHUNK):
            piece = flat[start : start + _CHUNK]
            crc = extend(crc, piece)
            f.write(piece.data)
        return flat.size, crc
    # Non-contiguous or byte-swapped: convert in bounded pieces along the flat index.
    rows = max(1, _CHUNK // max(1, itemsize * (arr.size // max(1, arr.shape[0]) if arr.ndim else 1)))
    pieces = [arr] if arr.ndim == 0 else (arr[i : i + rows] for i in range(0, arr.shape[0], rows))
    for piece in pieces:
        chunk = np.ascontiguousarray(piece if dt is None else piece.astype(dt))
        buf = chunk.reshape(-1).view(np.uint8)
        crc = extend(crc, buf)
        f.write(buf.data)
        size += buf.size
    return size, crc


_LITTLE = struct.pack("=I", 1) == struct.pack("<I", 1)


def _write_strings(f: BinaryIO, values: list[bytes]) -> tuple[int, int]:
    """TF's string layout: varint lengths, masked length CRC, bytes; returns (size, crc)."""
    lens = bytearray()
    for v in values:
        put_varint(lens, len(v))
    lengths = [len(v) for v in values]
    if max(lengths, default=0) <= UINT32_MAX:
        crc = extend(0, np.asarray(lengths, dtype="<u4").tobytes())
    else:
        crc = 0
        for n in lengths:
            crc = extend(crc, struct.pack("<I" if n <= UINT32_MAX else "<Q", n))
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
        arrays = {
            key: Sliced(value.full_shape, [(spec, _as_array(part, key)) for spec, part in value.parts])
            if isinstance(value, Sliced) else _as_array(value, key)
            for key, value in tensors.items()
        }
        shards = plan_shards(arrays, max_shard_size)
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
                for slice_spec, part in value.parts:
                    writer.add_slice(key, value.full_shape, slice_spec, part)
            else:
                writer.add(key, value)
    except BaseException:
        writer.abort()
        raise
    return writer.finish()
