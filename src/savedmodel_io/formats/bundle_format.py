"""The TensorBundle format (a SavedModel's ``variables/``): its facts, shared by reader and writer.

A bundle with prefix ``P`` is ``P.index``, a LevelDB table (see :mod:`.sstable`), and
``P.data-0000K-of-0000N`` shard files (names: :mod:`.layout`). Facts from tensorflow/tensorflow
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
  OrderedCode (see :mod:`.slices`).
* index keys are sorted bytewise; data is written in the order tensors are added.
"""

from __future__ import annotations

__all__ = ["BUNDLE_VERSION", "MAX_RANK", "MAX_SHARDS", "UINT32_MAX", "key_bytes"]

BUNDLE_VERSION = 1  # kTensorBundleVersion
MAX_SHARDS = 1 << 20
MAX_RANK = 254  # TensorShape::MaxDimensions()
UINT32_MAX = 0xFFFFFFFF


def key_bytes(name: str) -> bytes:
    """A tensor name's index bytes: UTF-8, with the reader's surrogate escapes undone.

    Keys are raw bytes (TF's SaveV2 takes any string as a name); the reader decodes them with
    ``surrogateescape``, so a key read from a TF checkpoint writes back to the same bytes.
    """
    return name.encode("utf-8", errors="surrogateescape")
