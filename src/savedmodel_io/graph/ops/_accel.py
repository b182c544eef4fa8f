"""The optional C kernels of ``_nnaccel.c`` (float32 erfc, depthwise convolution, LSTM/GRU
steps, softmax, layer norm, exact GELU).

``accel`` is the extension module when it was built (setup.py compiles it when a
compiler is present) and not switched off with ``SAVEDMODEL_IO_NO_ACCEL=1``, else None;
every caller keeps a numpy path, which is the reference the tests compare it with.
"""

from __future__ import annotations

import os
from typing import Any

__all__ = ["accel"]

def _load() -> Any:
    """The extension module, or None (not built, or switched off)."""
    if os.environ.get("SAVEDMODEL_IO_NO_ACCEL") == "1":
        return None
    try:
        import savedmodel_io.graph.ops._nnaccel as nnaccel
    except ImportError:
        return None
    return nnaccel


accel: Any = _load()
