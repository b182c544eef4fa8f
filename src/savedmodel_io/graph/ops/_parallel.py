"""Split one kernel's work over the runtime's threads (convolutions, matmuls, depthwise).

BLAS runs single-threaded inside each piece; the pieces (row or column blocks of a GEMM,
each with its im2col copy and fused epilogue) run on a small pool of worker threads plus
the calling one. numpy and the C loops release the GIL while they compute, so the pieces
run in parallel. A piece that waits for a core does not hold the others up: unlike
OpenBLAS's own threads, which spin at every step until all of them arrive, pool threads
finish their share and block. ``Context.threads`` (from ``Session.threads``) says how many.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

__all__ = ["run_pieces"]

_lock = threading.Lock()
_pool: ThreadPoolExecutor | None = None
_workers = 0


def _executor(workers: int) -> ThreadPoolExecutor:
    """The shared pool, grown to at least ``workers`` threads."""
    global _pool, _workers
    with _lock:
        if _pool is None or _workers < workers:
            old = _pool
            _pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="savedmodel_io")
            _workers = workers
            if old is not None:
                old.shutdown(wait=False)
        return _pool


def _forget_pool() -> None:
    """After fork the child has none of the parent's threads: start a new pool when needed."""
    global _pool, _workers
    _pool, _workers = None, 0


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_pool)


def _each(work: Callable[[Any], None], pieces: Sequence[Any]) -> None:
    for p in pieces:
        work(p)


def run_pieces(pieces: Sequence[Any], work: Callable[[Any], None], threads: int) -> None:
    """``work(piece)`` for every piece, on up to ``threads`` threads (this one included).

    Pieces are dealt round-robin; the first exception is raised once every thread is done.
    """
    n = min(max(threads, 1), len(pieces))
    if n <= 1:
        _each(work, pieces)
        return
    pool = _executor(n - 1)
    futures: list[Future[None]] = [pool.submit(_each, work, pieces[k::n]) for k in range(1, n)]
    error: BaseException | None = None
    try:
        _each(work, pieces[0::n])
    except BaseException as exc:  # re-raised after the other pieces finished
        error = exc
    for f in futures:
        try:
            f.result()
        except BaseException as exc:
            error = error or exc
    if error is not None:
        raise error
