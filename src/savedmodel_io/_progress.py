"""How library code reports progress: it calls a ``ProgressCallback``; only the CLI draws bars.

A long operation takes ``progress: ProgressCallback | None`` and calls it with the work
done so far and the total (in the operation's own unit, bytes unless it says otherwise);
``savedmodel_io.cli._progress.Progress.callback`` draws it on a terminal.
"""

from __future__ import annotations

from collections.abc import Callable

__all__ = ["ProgressCallback"]

ProgressCallback = Callable[[int, int], None]
"""``callback(done, total)``."""
