"""Per-thread scratch buffers reused across kernel calls (im2col patches, Winograd tiles)."""

from __future__ import annotations

import threading

import numpy as np

__all__ = ["scratch"]

_local = threading.local()


def scratch(slot: str, size: int, dtype: np.dtype) -> np.ndarray:
    """A reusable 1-D buffer of ``size`` elements for this thread (kernel-internal only: never
    returned, so a later call may overwrite it). Reuse saves the page faults of fresh memory."""
    bufs = getattr(_local, "bufs", None)
    if bufs is None:
        bufs = _local.bufs = {}
    key = (slot, dtype.str)
    buf = bufs.get(key)
    if buf is None or buf.size < size:
        buf = bufs[key] = np.empty(max(size, 1), dtype)
    return buf[:size]
