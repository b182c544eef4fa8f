"""Names from a model are data: their control characters reach a terminal escaped.

A signature, node or tensor name may hold any bytes, among them escape sequences that a
terminal would obey (retitle the window, rewrite the screen, set the clipboard). The CLI
shows them as ``\\x1b``: always in error messages, and in the output when it is a terminal
(piped output keeps the names' exact text).
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, TextIO

__all__ = ["printable", "safe_stdout"]

# C0 controls but tab and newline, DEL, and the C1 controls (U+0080..U+009F).
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def printable(text: str) -> str:
    """``text`` with its control characters written as ``\\xNN``."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


class _SafeStream:
    """A text stream that escapes control characters before they reach the terminal."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        return self._stream.write(printable(text))

    def writelines(self, lines: Any) -> None:
        for line in lines:
            self.write(line)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


@contextmanager
def safe_stdout() -> Iterator[None]:
    """Within the block, text written to a terminal on stdout is escaped."""
    stream = sys.stdout
    if not (hasattr(stream, "isatty") and stream.isatty()):
        yield
        return
    sys.stdout = _SafeStream(stream)
    try:
        yield
    finally:
        sys.stdout = stream
