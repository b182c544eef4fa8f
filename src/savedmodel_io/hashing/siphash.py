"""SipHash-2-4: TensorFlow's ``StrongKeyedHash`` (tensorflow/core/platform/strong_hash.h).

TensorFlow calls highwayhash's ``SipHash`` with a 128-bit key given as two 64-bit words;
the hash is the standard SipHash-2-4 (Aumasson and Bernstein) over the little-endian
message. Users: ``tf.sparse.cross_hashed`` with ``strong_hash`` (SparseCrossHashed) and
``tf.strings.to_hash_bucket_strong`` (StringToHashBucketStrong).
"""

from __future__ import annotations

import struct

__all__ = ["siphash24"]

_M = 0xFFFFFFFFFFFFFFFF
_WORDS = struct.Struct("<Q")


def _rotl(x: int, b: int) -> int:
    return ((x << b) | (x >> (64 - b))) & _M


def siphash24(key0: int, key1: int, data: bytes) -> int:
    """SipHash-2-4 of ``data`` under the key (key0, key1), as an unsigned 64-bit int."""
    k0, k1 = key0 & _M, key1 & _M
    v0 = k0 ^ 0x736F6D6570736575
    v1 = k1 ^ 0x646F72616E646F6D
    v2 = k0 ^ 0x6C7967656E657261
    v3 = k1 ^ 0x7465646279746573

    def rounds(v0: int, v1: int, v2: int, v3: int, n: int) -> tuple[int, int, int, int]:
        for _ in range(n):
            v0 = (v0 + v1) & _M
            v1 = _rotl(v1, 13) ^ v0
            v0 = _rotl(v0, 32)
            v2 = (v2 + v3) & _M
            v3 = _rotl(v3, 16) ^ v2
            v0 = (v0 + v3) & _M
            v3 = _rotl(v3, 21) ^ v0
            v2 = (v2 + v1) & _M
            v1 = _rotl(v1, 17) ^ v2
            v2 = _rotl(v2, 32)
        return v0, v1, v2, v3

    n = len(data)
    full = n - n % 8
    for pos in range(0, full, 8):
        (m,) = _WORDS.unpack_from(data, pos)
        v3 ^= m
        v0, v1, v2, v3 = rounds(v0, v1, v2, v3, 2)
        v0 ^= m
    last = int.from_bytes(data[full:], "little") | ((n & 0xFF) << 56)
    v3 ^= last
    v0, v1, v2, v3 = rounds(v0, v1, v2, v3, 2)
    v0 ^= last
    v2 ^= 0xFF
    v0, v1, v2, v3 = rounds(v0, v1, v2, v3, 4)
    return v0 ^ v1 ^ v2 ^ v3
