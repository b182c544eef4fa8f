"""HighwayHash-64: the checksum of every Riegeli header and chunk (``saved_model.cpb``).

Format facts (not code) from google/highwayhash ``highwayhash/highwayhash_test.cc`` and the
portable reference ``c/highwayhash.c`` (state layout, init constants, zipper permutation,
remainder and finalisation rules) and google/riegeli ``riegeli/chunk_encoding/hash.cc`` (the
Riegeli key). The optional C accelerator ``_highwayhash`` hashes at GB/s; the pure-Python
fallback below gives the same results at a few MB/s (a job of more than 256 MiB on it warns
once, see ``savedmodel_io._accel``).

    >>> hex(highwayhash64(b""))
    '0x72c3b1e9c0139fe1'
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Sequence
from operator import itemgetter

from savedmodel_io._accel import note_slow
from savedmodel_io.errors import InvalidArgumentError

__all__ = [
    "ACCELERATED",
    "RIEGELI_KEY",
    "SIMD",
    "HighwayHash64",
    "PyHighwayHash64",
    "highwayhash64",
    "py_highwayhash64",
]

Buffer = bytes | bytearray | memoryview

#: Riegeli's key: the 16 ASCII bytes "Riegeli/records\n" twice (riegeli hash.cc).
RIEGELI_KEY = b"Riegeli/records\n" * 2

_M64 = 0xFFFFFFFFFFFFFFFF
_M32 = 0xFFFFFFFF
_INIT0 = (0xDBE6D5D5FE4CCE2F, 0xA4093822299F31D0, 0x13198A2E03707344, 0x243F6A8885A308D3)
_INIT1 = (0x3BD39E10CB0EF593, 0xC0ACF169B5F18A8C, 0xBE5466CF34E90C6C, 0x452821E638D01377)

# Zipper merge: output byte j of a lane pair is input byte _ZIPPER[j] (pair viewed as 16 LE bytes,
# even lane first). Applied to both pairs at once on the 32-byte little-endian image of 4 lanes.
_ZIPPER = (3, 12, 2, 5, 14, 1, 15, 0, 11, 4, 10, 13, 9, 6, 8, 7)
_ZIP32 = itemgetter(*(_ZIPPER + tuple(p + 16 for p in _ZIPPER)))
_LANES = struct.Struct("<4Q")
_KEY = struct.Struct("<4Q")
_SLICE = 1 << 20  # bytes of packets unpacked at a time (bounds temporary memory)


def _check_key(key: Buffer) -> tuple[int, int, int, int]:
    """The key as four little-endian uint64; it must be exactly 32 bytes."""
    try:
        raw = bytes(key)
    except TypeError:
        raise InvalidArgumentError(
            f"HighwayHash key must be 32 bytes, got {type(key).__name__}"
        ) from None
    if len(raw) != 32:
        raise InvalidArgumentError(f"HighwayHash key must be 32 bytes, got {len(raw)}")
    return _KEY.unpack(raw)


def _reset(k: tuple[int, int, int, int]) -> list[int]:
    """Initial state [v0 x4, v1 x4, mul0 x4, mul1 x4] for key words ``k``."""
    v0 = [_INIT0[i] ^ k[i] for i in range(4)]
    v1 = [_INIT1[i] ^ (((k[i] >> 32) | (k[i] << 32)) & _M64) for i in range(4)]
    return v0 + v1 + list(_INIT0) + list(_INIT1)


def _update(state: list[int], packets: Iterable[Sequence[int]]) -> list[int]:
    """Absorb an iterable of 4-word packets; returns the new state (all lanes unrolled)."""
    M, L = _M64, _M32
    pack, unpack, zip32 = _LANES.pack, _LANES.unpack, _ZIP32
    v00, v01, v02, v03, v10, v11, v12, v13, a00, a01, a02, a03, b10, b11, b12, b13 = state
    # a0x = mul0 lanes, b1x = mul1 lanes.
    for p0, p1, p2, p3 in packets:
        v10 = (v10 + a00 + p0) & M
        a00 ^= (v10 & L) * (v00 >> 32)
        v00 = (v00 + b10) & M
        b10 ^= (v00 & L) * (v10 >> 32)
        v11 = (v11 + a01 + p1) & M
        a01 ^= (v11 & L) * (v01 >> 32)
        v01 = (v01 + b11) & M
        b11 ^= (v01 & L) * (v11 >> 32)
        v12 = (v12 + a02 + p2) & M
        a02 ^= (v12 & L) * (v02 >> 32)
        v02 = (v02 + b12) & M
        b12 ^= (v02 & L) * (v12 >> 32)
        v13 = (v13 + a03 + p3) & M
        a03 ^= (v13 & L) * (v03 >> 32)
        v03 = (v03 + b13) & M
        b13 ^= (v03 & L) * (v13 >> 32)
        z0, z1, z2, z3 = unpack(bytes(zip32(pack(v10, v11, v12, v13))))
        v00 = (v00 + z0) & M
        v01 = (v01 + z1) & M
        v02 = (v02 + z2) & M
        v03 = (v03 + z3) & M
        z0, z1, z2, z3 = unpack(bytes(zip32(pack(v00, v01, v02, v03))))
        v10 = (v10 + z0) & M
        v11 = (v11 + z1) & M
        v12 = (v12 + z2) & M
        v13 = (v13 + z3) & M
    return [v00, v01, v02, v03, v10, v11, v12, v13, a00, a01, a02, a03, b10, b11, b12, b13]


def _rotl32(x: int, r: int) -> int:
    """Rotate a 32-bit value left by ``r`` (0 < r < 32)."""
    return ((x << r) | (x >> (32 - r))) & _M32


def _finish(state: list[int], tail: bytes) -> int:
    """Absorb the final partial packet (``len(tail) < 32``) and finalise to 64 bits."""
    r = len(tail)
    if r:
        add = (r << 32) + r
        for i in range(4):
            state[i] = (state[i] + add) & _M64
            v = state[4 + i]
            state[4 + i] = (_rotl32(v >> 32, r) << 32) | _rotl32(v & _M32, r)
        packet = bytearray(32)
        whole = r & ~3
        packet[:whole] = tail[:whole]
        if r & 16:
            packet[28:32] = tail[r - 4 : r]
        else:
            m = r & 3
            if m:
                rest = tail[whole:]
                packet[16] = rest[0]
                packet[17] = rest[m >> 1]
                packet[18] = rest[m - 1]
        state = _update(state, [_LANES.unpack(packet)])
    for _ in range(4):
        v0 = state[0:4]
        swap = [((x >> 32) | (x << 32)) & _M64 for x in v0]
        state = _update(state, [(swap[2], swap[3], swap[0], swap[1])])
    return (state[0] + state[4] + state[8] + state[12]) & _M64


class PyHighwayHash64:
    """Streaming HighwayHash-64 in pure Python (the fallback; a few MB/s)."""

    __slots__ = ("_state", "_tail")

    def __init__(self, key: Buffer = RIEGELI_KEY, data: Buffer | None = None) -> None:
        self._state = _reset(_check_key(key))
        self._tail = b""
        if data is not None:
            self.update(data)

    def update(self, data: Buffer) -> None:
        """Absorb more bytes (any bytes-like object; hashed as its raw bytes)."""
        mv = memoryview(data).cast("B")
        if not ACCELERATED:  # this class is the fallback in use, not a reference in a test
            note_slow("HighwayHash", len(mv))
        if self._tail:
            need = 32 - len(self._tail)
            self._tail += bytes(mv[:need])
            mv = mv[need:]
            if len(self._tail) < 32:
                return
            self._state = _update(self._state, [_LANES.unpack(self._tail)])
            self._tail = b""
        full = len(mv) & ~31
        for start in range(0, full, _SLICE):
            piece = mv[start : min(start + _SLICE, full)]
            self._state = _update(self._state, _LANES.iter_unpack(piece))
        self._tail = bytes(mv[full:])

    def intdigest(self) -> int:
        """The 64-bit hash of everything absorbed so far (the hasher stays usable)."""
        return _finish(list(self._state), self._tail)

    def digest(self) -> bytes:
        """The hash as 8 little-endian bytes, as Riegeli stores it."""
        return self.intdigest().to_bytes(8, "little")

    def copy(self) -> PyHighwayHash64:
        """An independent hasher with the same state."""
        other = PyHighwayHash64.__new__(PyHighwayHash64)
        other._state = list(self._state)
        other._tail = self._tail
        return other


def py_highwayhash64(data: Buffer, key: Buffer = RIEGELI_KEY) -> int:
    """HighwayHash-64 of ``data`` with the pure-Python implementation."""
    return PyHighwayHash64(key, data).intdigest()


try:  # the optional accelerator, built from _highwayhash.c when a compiler was present
    from savedmodel_io.hashing._highwayhash import HighwayHash64 as _CHighwayHash64
    from savedmodel_io.hashing._highwayhash import hash64 as _c_hash
    from savedmodel_io.hashing._highwayhash import simd as _c_simd

    #: True when the C accelerator is in use.
    ACCELERATED = True
except ImportError:  # pragma: no cover - depends on the build
    ACCELERATED = False

#: The C accelerator's code path ("avx2" or "portable"), or "" without it.
SIMD: str = _c_simd() if ACCELERATED else ""

if ACCELERATED:

    class HighwayHash64(_CHighwayHash64):
        """Streaming HighwayHash-64 (C accelerator): ``update()`` then ``intdigest()``."""

        __slots__ = ()

        def __init__(self, key: Buffer = RIEGELI_KEY, data: Buffer | None = None) -> None:
            super().__init__(_key_bytes(key))
            if data is not None:
                self.update(data)

        def digest(self) -> bytes:
            """The hash as 8 little-endian bytes, as Riegeli stores it."""
            return self.intdigest().to_bytes(8, "little")

    def _key_bytes(key: Buffer) -> bytes:
        """Validated 32-byte key."""
        if key is RIEGELI_KEY:
            return key
        _check_key(key)
        return bytes(key)

    def highwayhash64(data: Buffer, key: Buffer = RIEGELI_KEY) -> int:
        """HighwayHash-64 of ``data`` (C accelerator); ``key`` defaults to Riegeli's."""
        return _c_hash(data, _key_bytes(key))

else:  # pragma: no cover - depends on the build
    # (mypy cannot give one class name either of two classes: the accelerated one is its type.)
    HighwayHash64 = PyHighwayHash64  # type: ignore[misc,assignment]
    highwayhash64 = py_highwayhash64
