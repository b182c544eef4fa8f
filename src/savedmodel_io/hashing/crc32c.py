"""CRC32C (Castagnoli) and the "masked" form LevelDB and TensorFlow store on disk.

Three backends, picked once at import, fastest first:

* ``google-crc32c`` (the ``fast`` extra): hardware CRC, several GB/s;
* ``crcmod`` (a runtime dependency) when its C extension was built: table-driven C,
  a few hundred MB/s;
* a pure-Python/numpy table fallback, correct but slow (tests, odd platforms); a call on
  more than 256 MiB warns once (``savedmodel_io._accel``).

The mask is a rotate-and-add that keeps a CRC stored next to the data it covers
from looking like data (facts: tensorflow/tensorflow ``tensorflow/core/lib/hash/crc32c.h``,
``kMaskDelta = 0xa282ead8``, rotate right by 15).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any, Union

import numpy as np

from savedmodel_io._accel import note_slow

__all__ = [
    "BACKEND",
    "crc32c",
    "extend",
    "mask",
    "unmask",
    "masked_crc32c",
    "backends",
]

Buffer = Union[bytes, bytearray, memoryview, np.ndarray]

_MASK_DELTA = 0xA282EAD8
_POLY_REVERSED = 0x82F63B78  # CRC-32C (Castagnoli) polynomial, bit-reversed


def mask(crc: int) -> int:
    """The masked form of ``crc`` TensorFlow writes (rotate right 15, add a constant)."""
    crc &= 0xFFFFFFFF
    return (((crc >> 15) | (crc << 17)) + _MASK_DELTA) & 0xFFFFFFFF


def unmask(masked: int) -> int:
    """Undo :func:`mask`."""
    rot = (masked - _MASK_DELTA) & 0xFFFFFFFF
    return ((rot >> 17) | (rot << 15)) & 0xFFFFFFFF


def _as_u8(data: Buffer) -> np.ndarray:
    """A flat uint8 view of any buffer (no copy)."""
    if isinstance(data, np.ndarray):
        arr = data if data.flags.c_contiguous else np.ascontiguousarray(data)
        return arr.reshape(-1).view(np.uint8)
    return np.frombuffer(data, dtype=np.uint8)


def _make_table() -> np.ndarray:
    table = np.zeros((8, 256), dtype=np.uint32)
    for n in range(256):
        c = n
        for _ in range(8):
            c = (c >> 1) ^ _POLY_REVERSED if c & 1 else c >> 1
        table[0, n] = c
    for k in range(1, 8):
        prev = table[k - 1]
        table[k] = (prev >> 8) ^ table[0][prev & 0xFF]
    return table


_TABLE: list[list[int]] | None = None


def _python_extend(crc: int, data: Buffer) -> int:
    """Slicing-by-8 in pure Python: the reference every backend is tested against."""
    global _TABLE
    if _TABLE is None:
        _TABLE = [list(map(int, row)) for row in _make_table()]
    t0, t1, t2, t3, t4, t5, t6, t7 = _TABLE
    buf = _as_u8(data)
    crc = (crc ^ 0xFFFFFFFF) & 0xFFFFFFFF
    n8 = len(buf) // 8 * 8
    if n8:
        words = buf[:n8].view("<u4").tolist()
        for i in range(0, len(words), 2):
            lo = words[i] ^ crc
            hi = words[i + 1]
            crc = (
                t7[lo & 0xFF]
                ^ t6[(lo >> 8) & 0xFF]
                ^ t5[(lo >> 16) & 0xFF]
                ^ t4[lo >> 24]
                ^ t3[hi & 0xFF]
                ^ t2[(hi >> 8) & 0xFF]
                ^ t1[(hi >> 16) & 0xFF]
                ^ t0[hi >> 24]
            )
    for b in buf[n8:].tolist():
        crc = t0[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def _crcmod_backend() -> Callable[[int, Buffer], int] | None:
    """crcmod's CRC32C when its C extension is built (its pure-Python build is slower than ours)."""
    try:
        import crcmod.predefined
    except ImportError:
        return None
    if not getattr(importlib.import_module("crcmod.crcmod"), "_usingExtension", False):
        return None
    fun = crcmod.predefined.mkCrcFun("crc-32c")

    def extend_crcmod(crc: int, data: Buffer) -> int:
        if isinstance(data, np.ndarray):
            data = _as_u8(data).data
        value: int = fun(data, crc)
        return value

    return extend_crcmod


def _flat_input(raw_extend: Callable[[int, Any], int]) -> Callable[[int, Buffer], int]:
    """Adapt a C ``extend(crc, buf)`` that wants bytes or flat uint8 arrays (not memoryview/mmap)."""

    def adapted(crc: int, data: Buffer) -> int:
        return raw_extend(crc, data if isinstance(data, bytes) else _as_u8(data))

    return adapted


def _google_backend() -> Callable[[int, Buffer], int] | None:
    try:
        from google_crc32c import cext  # the C build only; its Python build is slow
    except ImportError:
        return None
    return _flat_input(cext.extend)


def backends() -> dict[str, Callable[[int, Buffer], int]]:
    """Every backend importable here, by name (used by tests and benchmarks)."""
    found: dict[str, Callable[[int, Buffer], int]] = {}
    google = _google_backend()
    if google is not None:
        found["google-crc32c"] = google
    cm = _crcmod_backend()
    if cm is not None:
        found["crcmod"] = cm
    found["python"] = _python_extend
    return found


_BACKENDS = backends()
BACKEND: str = next(iter(_BACKENDS))
_extend = _BACKENDS[BACKEND]

# Feeding huge buffers in pieces keeps per-call memory conversions small.
_CHUNK = 64 << 20


def extend(crc: int, data: Buffer) -> int:
    """CRC32C of the bytes covered by ``crc`` followed by ``data``."""
    n = data.nbytes if isinstance(data, (np.ndarray, memoryview)) else len(data)
    if BACKEND == "python":
        note_slow("CRC32C", n)
    if n <= _CHUNK:
        return _extend(crc, data)
    flat = _as_u8(data)
    for start in range(0, n, _CHUNK):
        crc = _extend(crc, flat[start : start + _CHUNK])
    return crc


def crc32c(data: Buffer) -> int:
    """CRC32C of ``data`` (unmasked)."""
    return extend(0, data)


def masked_crc32c(data: Buffer) -> int:
    """The masked CRC32C of ``data``, as stored in TensorFlow files."""
    return mask(extend(0, data))
