"""Limit BLAS threads while a graph runs (through threadpoolctl, when it is installed).

numpy's OpenBLAS spins its worker threads between calls; on a busy machine (more
runnable threads than cores) a graph of many mid-sized matmuls runs several times
slower with two BLAS threads than with one (MobileNetV2: 1.0 s vs 0.2 s wall on 2
busy cores, see bench/README.md). threadpoolctl is an optional extra (``fast``).
"""

from __future__ import annotations

import contextlib
from typing import Any

__all__ = ["blas_limit"]

_controller: Any = None
_missing = False


def blas_limit(threads: int | None) -> contextlib.AbstractContextManager[Any]:
    """Context limiting BLAS to ``threads`` threads; a no-op for None or without threadpoolctl."""
    global _controller, _missing
    if threads is None or _missing:
        return contextlib.nullcontext()
    if _controller is None:
        try:
            from threadpoolctl import ThreadpoolController
        except ImportError:
            _missing = True
            return contextlib.nullcontext()
        _controller = ThreadpoolController()
    limiter: contextlib.AbstractContextManager[Any] = _controller.limit(limits=threads,
                                                                      user_api="blas")
    return limiter
