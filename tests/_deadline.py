"""deadline(): fail a test that blocks (e.g. opening a FIFO) instead of hanging the run."""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Callable, Iterator


@contextlib.contextmanager
def deadline(seconds: int, error: Callable[[str], BaseException] = TimeoutError) -> Iterator[None]:
    """Raise ``error`` in the body after ``seconds`` (SIGALRM; a no-op off the main thread)."""

    def fire(*_: object) -> None:
        raise error(f"blocked for {seconds} s")

    try:
        old = signal.signal(signal.SIGALRM, fire)
    except ValueError:  # not the main thread: signals cannot be used
        yield
        return
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)
