"""The command line's progress bar on stderr, for work that takes more than about a second.

Library code draws nothing: it reports through a ``ProgressCallback``
(:mod:`savedmodel_io._progress`), which :meth:`Progress.callback` draws. Silent unless the stream is a terminal, and never drawn for work that finishes
within ``delay`` seconds; ``quiet=True`` or ``SAVEDMODEL_IO_NO_PROGRESS=1``
turn it off entirely. Used as a context manager or through its callback::

    with Progress(total_bytes, "export") as bar:
        for chunk in work:
            bar.update(len(chunk))
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import TextIO

from savedmodel_io._display import human_bytes

__all__ = ["Progress", "busy"]

_WIDTH = 24


class Progress:
    """A stderr progress bar that appears only for slow work on a terminal."""

    def __init__(
        self,
        total: int | None,
        desc: str,
        *,
        unit: str = "B",
        quiet: bool = False,
        stream: TextIO | None = None,
        delay: float = 1.0,
        interval: float = 0.1,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.total = total if total and total > 0 else None
        self.desc = desc
        self.unit = unit
        self.stream = stream if stream is not None else sys.stderr
        self.delay = delay
        self.interval = interval
        self.clock = clock
        self.done = 0
        self.start = clock()
        self._last = -1.0
        self._shown = False
        self.enabled = not quiet and not os.environ.get("SAVEDMODEL_IO_NO_PROGRESS") and _isatty(
            self.stream
        )

    def __enter__(self) -> Progress:  # noqa: PYI034
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def update(self, n: int = 1) -> None:
        """Record ``n`` more units done; redraw at most every ``interval`` seconds."""
        self.done += n
        self._maybe_draw()

    def callback(self, done: int, total: int) -> None:
        """The ``ProgressCallback`` form: absolute progress reported by library code."""
        if total and total > 0:
            self.total = total
        self.done = done
        self._maybe_draw()

    def close(self) -> None:
        """Draw the final state (if the bar was ever shown) and end its line."""
        if self._shown:
            self._draw(final=True)
            self.stream.write("\n")
            self.stream.flush()
            self._shown = False

    def _maybe_draw(self) -> None:
        if not self.enabled:
            return
        now = self.clock()
        if now - self.start < self.delay or now - self._last < self.interval:
            return
        self._last = now
        self._draw()

    def _amount(self, n: float) -> str:
        return human_bytes(n) if self.unit == "B" else f"{n:.0f} {self.unit}"

    def text(self, *, final: bool = False) -> str:
        """The bar as one line (what is drawn)."""
        elapsed = max(self.clock() - self.start, 1e-9)
        rate = self.done / elapsed
        rate_text = (human_bytes(rate) + "/s") if self.unit == "B" else f"{rate:.1f} {self.unit}/s"
        if self.total:
            frac = min(self.done / self.total, 1.0)
            filled = int(frac * _WIDTH)
            bar = "#" * filled + "-" * (_WIDTH - filled)
            left = "" if final or rate <= 0 else f" eta {max(self.total - self.done, 0) / rate:.0f}s"
            return (
                f"{self.desc} [{bar}] {frac * 100:5.1f}% "
                f"{self._amount(self.done)}/{self._amount(self.total)} {rate_text}{left}"
            )
        if self.unit == "s":
            return f"{self.desc} ... {elapsed:.0f} s"
        return f"{self.desc} {self._amount(self.done)} {rate_text}"

    def _draw(self, *, final: bool = False) -> None:
        self.stream.write("\r" + self.text(final=final) + "\x1b[K")
        self.stream.flush()
        self._shown = True


@contextlib.contextmanager
def busy(desc: str, *, quiet: bool = False, stream: TextIO | None = None,
         delay: float = 1.0) -> Iterator[Progress]:
    """Show ``desc ... 12 s`` while a step that reports no progress of its own runs.

    A daemon thread redraws the elapsed time (on a terminal, after ``delay``
    seconds); used around calls into modules that offer no progress callback.
    """
    bar = Progress(None, desc, unit="s", quiet=quiet, stream=stream, delay=delay)
    stop = threading.Event()

    def tick() -> None:
        while not stop.wait(0.2):
            bar.done = int(bar.clock() - bar.start)
            bar._maybe_draw()

    thread = threading.Thread(target=tick, daemon=True) if bar.enabled else None
    if thread is not None:
        thread.start()
    try:
        yield bar
    finally:
        stop.set()
        if thread is not None:
            thread.join()
        bar.close()


def _isatty(stream: TextIO) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False
