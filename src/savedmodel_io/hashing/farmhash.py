"""FarmHash ``Fingerprint64`` and TensorFlow's ``FingerprintCat64``: the hashes of fingerprint.pb.

TensorFlow's ``tensorflow::Fingerprint64`` is FarmHash's ``util::Fingerprint64``,
which is the ``farmhashna::Hash64`` variant: portable and fixed forever
(google/farmhash ``src/farmhash.cc``). ``FingerprintCat64`` is the combiner from
``tensorflow/core/platform/fingerprint.h`` (``tsl/platform/fingerprint.h``).

The ``cityhash`` package (the ``fast`` extra; its ``farmhash.Fingerprint64`` is
FarmHash's own C++) is used when it is installed and gives TensorFlow's values on a
known vector; the pure-Python code below is the reference fallback and gives the same
results, slowly (a call on more than 256 MiB warns once). Each 64-byte
block of the long-input loop depends on the state the previous block left, so
numpy cannot hash blocks in parallel; it only turns the input into 64-bit words
in bulk, and the loop body is written out with as few operations as possible.
"""

from __future__ import annotations

import struct
from collections.abc import Callable

import numpy as np

from savedmodel_io._accel import note_slow

__all__ = [
    "ACCELERATED",
    "fingerprint64",
    "fingerprint64_py",
    "fingerprint_cat64",
]

# Constants of farmhash.cc (k0, k1, k2) and of fingerprint.h (kMul).
_K0 = 0xC3A5C85C97CB3127
_K1 = 0xB492B66FBE98F273
_K2 = 0x9AE16A3B2F90404F
_KMUL = 0xC6A4A7935BD1E995
_M = 0xFFFFFFFFFFFFFFFF

Buffer = bytes | bytearray | memoryview

_U64 = struct.Struct("<Q")
_U32 = struct.Struct("<I")
_W8 = struct.Struct("<8Q")

# Words converted to Python ints per step of the long-input loop: bounds memory
# (a list of ints costs ~36 bytes per word) while keeping numpy's bulk conversion.
_BLOCKS_PER_STEP = 4096


def fingerprint_cat64(fp1: int, fp2: int) -> int:
    """TensorFlow's ``FingerprintCat64``: combine two 64-bit fingerprints (order matters)."""
    m = _M
    r = (fp1 & m) ^ _KMUL
    t = ((fp2 & m) * _KMUL) & m
    r ^= ((t ^ (t >> 47)) * _KMUL) & m
    r = (r * _KMUL) & m
    r = ((r ^ (r >> 47)) * _KMUL) & m
    return r ^ (r >> 47)


def _rot(v: int, s: int) -> int:
    """Rotate a 64-bit value right by ``s`` (1..63) bits."""
    return ((v >> s) | (v << (64 - s))) & _M


def _len16(u: int, v: int, mul: int) -> int:
    """FarmHash's Murmur-style mix of two words (``HashLen16`` with a multiplier)."""
    m = _M
    a = ((u ^ v) * mul) & m
    a ^= a >> 47
    b = ((v ^ a) * mul) & m
    b ^= b >> 47
    return (b * mul) & m


def _len0to16(s: bytes, n: int) -> int:
    m = _M
    if n >= 8:
        mul = _K2 + n * 2
        a = (_U64.unpack_from(s, 0)[0] + _K2) & m
        b = _U64.unpack_from(s, n - 8)[0]
        c = (_rot(b, 37) * mul + a) & m
        d = ((_rot(a, 25) + b) * mul) & m
        return _len16(c, d, mul)
    if n >= 4:
        mul = _K2 + n * 2
        a = _U32.unpack_from(s, 0)[0]
        return _len16(n + (a << 3), _U32.unpack_from(s, n - 4)[0], mul)
    if n > 0:
        y = s[0] + (s[n >> 1] << 8)
        z = n + (s[n - 1] << 2)
        t = ((y * _K2) ^ (z * _K0)) & m
        return ((t ^ (t >> 47)) * _K2) & m
    return _K2


def _len17to32(s: bytes, n: int) -> int:
    m = _M
    mul = _K2 + n * 2
    a = (_U64.unpack_from(s, 0)[0] * _K1) & m
    b = _U64.unpack_from(s, 8)[0]
    c = (_U64.unpack_from(s, n - 8)[0] * mul) & m
    d = (_U64.unpack_from(s, n - 16)[0] * _K2) & m
    return _len16(
        (_rot((a + b) & m, 43) + _rot(c, 30) + d) & m,
        (a + _rot((b + _K2) & m, 18) + c) & m,
        mul,
    )


def _len33to64(s: bytes, n: int) -> int:
    m = _M
    mul = _K2 + n * 2
    a = (_U64.unpack_from(s, 0)[0] * _K2) & m
    b = _U64.unpack_from(s, 8)[0]
    c = (_U64.unpack_from(s, n - 8)[0] * mul) & m
    d = (_U64.unpack_from(s, n - 16)[0] * _K2) & m
    y = (_rot((a + b) & m, 43) + _rot(c, 30) + d) & m
    z = _len16(y, (a + _rot((b + _K2) & m, 18) + c) & m, mul)
    e = (_U64.unpack_from(s, 16)[0] * mul) & m
    f = _U64.unpack_from(s, 24)[0]
    g = ((y + _U64.unpack_from(s, n - 32)[0]) * mul) & m
    h = ((z + _U64.unpack_from(s, n - 24)[0]) * mul) & m
    return _len16(
        (_rot((e + f) & m, 43) + _rot(g, 30) + h) & m,
        (e + _rot((f + a) & m, 18) + g) & m,
        mul,
    )


def _words(buf: memoryview, start: int, nblocks: int) -> list[int]:
    """The ``8 * nblocks`` little-endian words of ``buf[start:]`` as Python ints."""
    words: list[int] = np.frombuffer(buf, dtype="<u8", count=8 * nblocks, offset=start).tolist()
    return words


def fingerprint64_py(data: Buffer) -> int:
    """Pure-Python FarmHash ``Fingerprint64`` (farmhashna ``Hash64``) of ``data``."""
    buf = memoryview(data).cast("B") if not isinstance(data, bytes) else data
    n = len(buf)
    if n <= 64:
        s = bytes(buf)
        if n <= 16:
            return _len0to16(s, n)
        if n <= 32:
            return _len17to32(s, n)
        return _len33to64(s, n)
    if isinstance(buf, bytes):
        buf = memoryview(buf)

    m = _M
    k1 = _K1
    # Seeded state for long inputs (seed = 81), as in farmhashna::Hash64.
    x = 81
    y = (81 * k1 + 113) & m
    t = (y * _K2 + 113) & m
    z = ((t ^ (t >> 47)) * _K2) & m
    v0 = v1 = w0 = w1 = 0
    x = (x * _K2 + _U64.unpack_from(buf, 0)[0]) & m

    # Full 64-byte blocks before the final (overlapping) last-64-bytes step.
    total = (n - 1) // 64
    done = 0
    while done < total:
        step = min(_BLOCKS_PER_STEP, total - done)
        it = iter(_words(buf, done * 64, step))
        for a0, a1, a2, a3, b0, b1, b2, b3 in zip(it, it, it, it, it, it, it, it):
            t = (x + y + v0 + a1) & m
            x = (((t >> 37) | (t << 27)) * k1) & m
            t = (y + v1 + b2) & m
            y = (((t >> 42) | (t << 22)) * k1) & m
            x ^= w1
            y = (y + v0 + b1) & m
            t = (z + w0) & m
            z = (((t >> 33) | (t << 31)) * k1) & m
            # v = WeakHashLen32WithSeeds(s, v1 * k1, x + w0)
            a = (v1 * k1 + a0) & m
            t = (x + w0 + a + a3) & m
            b = (t >> 21) | (t << 43)
            c = a
            a = (a + a1 + a2) & m
            v0 = (a + a3) & m
            v1 = (b + ((a >> 44) | (a << 20)) + c) & m
            # w = WeakHashLen32WithSeeds(s + 32, z + w1, y + a2)
            a = (z + w1 + b0) & m
            t = (y + a2 + a + b3) & m
            b = (t >> 21) | (t << 43)
            c = a
            a = (a + b1 + b2) & m
            w0 = (a + b3) & m
            w1 = (b + ((a >> 44) | (a << 20)) + c) & m
            x, z = z, x
        done += step

    mul = k1 + ((z & 0xFF) << 1)
    a0, a1, a2, a3, b0, b1, b2, b3 = _W8.unpack_from(buf, n - 64)
    w0 = (w0 + ((n - 1) & 63)) & m
    v0 = (v0 + w0) & m
    w0 = (w0 + v0) & m
    x = (_rot((x + y + v0 + a1) & m, 37) * mul) & m
    y = (_rot((y + v1 + b2) & m, 42) * mul) & m
    x ^= (w1 * 9) & m
    y = (y + v0 * 9 + b1) & m
    z = (_rot((z + w0) & m, 33) * mul) & m
    v0, v1 = _weak32(a0, a1, a2, a3, (v1 * mul) & m, (x + w0) & m)
    w0, w1 = _weak32(b0, b1, b2, b3, (z + w1) & m, (y + a2) & m)
    x, z = z, x
    t = (_len16(v0, w0, mul) + ((y ^ (y >> 47)) * _K0) + z) & m
    return _len16(t, (_len16(v1, w1, mul) + x) & m, mul)


def _weak32(w: int, x: int, y: int, z: int, a: int, b: int) -> tuple[int, int]:
    """FarmHash's ``WeakHashLen32WithSeeds``: 16 bytes of state from 32 bytes and two seeds."""
    m = _M
    a = (a + w) & m
    b = _rot((b + a + z) & m, 21)
    c = a
    a = (a + x + y) & m
    b = (b + _rot(a, 44)) & m
    return (a + z) & m, (b + c) & m


def _cityhash() -> Callable[[Buffer], int] | None:
    """The cityhash package's FarmHash Fingerprint64, if installed and right on a known value."""
    try:
        from farmhash import Fingerprint64  # the cityhash package
    except ImportError:
        return None
    try:  # another package may own the name "farmhash": check it hashes like TensorFlow
        ok = Fingerprint64(b"hello") == 0xB48BE5A931380CE8
    except Exception:  # noqa: BLE001 - any failure means "not this backend"
        return None
    return Fingerprint64 if ok else None


_fast = _cityhash()

#: True when the cityhash package computes Fingerprint64.
ACCELERATED = _fast is not None


def fingerprint64(data: Buffer) -> int:
    """FarmHash ``Fingerprint64`` of ``data``, as TensorFlow computes it; by cityhash if installed."""
    if isinstance(data, str):  # cityhash would hash its UTF-8; we take bytes only
        raise TypeError("fingerprint64 needs a bytes-like object, not str")
    if _fast is not None:
        return int(_fast(data))
    note_slow("FarmHash", memoryview(data).nbytes)
    return fingerprint64_py(data)

