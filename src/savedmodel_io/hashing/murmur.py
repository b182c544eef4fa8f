"""TensorFlow's ``Hash64``: MurmurHash64A with TF's default seed (the legacy string hash).

``tf.strings.to_hash_bucket`` (StringToHashBucket) takes ``Hash64(s) % num_buckets``;
``Hash64`` is Austin Appleby's MurmurHash64A over the little-endian 8-byte words of
the input, seeded with 0xDECAFCAFFE (tensorflow/tensorflow
third_party/xla/third_party/tsl/tsl/platform/hash.{h,cc}).
"""

from __future__ import annotations

import struct

__all__ = ["hash64"]

_M64 = 0xFFFFFFFFFFFFFFFF
_MUL = 0xC6A4A7935BD1E995
_SEED = 0xDECAFCAFFE


def hash64(data: bytes, seed: int = _SEED) -> int:
    """MurmurHash64A of ``data`` under ``seed``, as an unsigned 64-bit int."""
    n = len(data)
    h = (seed ^ (n * _MUL)) & _M64
    full = n - n % 8
    for (k,) in struct.iter_unpack("<Q", data[:full]):
        k = (k * _MUL) & _M64
        k ^= k >> 47
        k = (k * _MUL) & _M64
        h = ((h ^ k) * _MUL) & _M64
    if n % 8:
        h = ((h ^ int.from_bytes(data[full:], "little")) * _MUL) & _M64
    h ^= h >> 47
    h = (h * _MUL) & _M64
    return h ^ (h >> 47)
