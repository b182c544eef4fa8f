"""Look-ups by name: the one place that words "not found" with what exists and near names.

Every mapping a user indexes (signatures, their inputs and outputs, functions, concrete
functions, object-graph children, variables) raises ``NotFoundError`` (also a ``KeyError``)
listing the available names and suggesting close ones, instead of a bare ``KeyError``.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Collection, Iterable
from typing import Any, TypeVar

from savedmodel_io.errors import NotFoundError

K = TypeVar("K")
V = TypeVar("V")

# How many available names a message lists before "... (N in all)".
SHOWN = 12


def suggest(name: Any, candidates: Iterable[Any], n: int = 3) -> list[str]:
    """Up to ``n`` candidates close to ``name`` (difflib's ratio), best first."""
    if not isinstance(name, str):
        return []
    return difflib.get_close_matches(name, [c for c in candidates if isinstance(c, str)], n=n)


def did_you_mean(name: Any, candidates: Iterable[Any]) -> str:
    """``"; did you mean a, b?"`` for the close candidates, or ``""``."""
    close = suggest(name, candidates)
    return f"; did you mean {', '.join(close)}?" if close else ""


def available(names: Collection[Any]) -> str:
    """``"a, b, c"`` (the first SHOWN names, then how many in all), or ``"none"``."""
    if not names:
        return "none"
    shown = [str(n) for _, n in zip(range(SHOWN), names)]
    more = f", ... ({len(names)} in all)" if len(names) > SHOWN else ""
    return ", ".join(shown) + more


def not_found(what: str, name: Any, names: Collection[Any], *, where: str = "",
              path: str | os.PathLike[str] | None = None) -> NotFoundError:
    """The error for a missing ``name``: what is available and what was probably meant."""
    place = f" in {where}" if where else ""
    return NotFoundError(
        f"no {what} {name!r}{place} (available: {available(names)}){did_you_mean(name, names)}",
        path=path,
    )


class Lookup(dict[K, V]):
    """A dict whose missing keys raise ``NotFoundError`` naming the available keys.

    It stays a plain dict otherwise (``get``, ``in``, ``==``, iteration order).
    """

    def __init__(self, items: Any = (), *, what: str, where: str = "",
                 path: str | os.PathLike[str] | None = None) -> None:
        super().__init__(items)
        self.what = what
        self.where = where
        self.path = path

    def __missing__(self, key: K) -> V:
        raise not_found(self.what, key, list(self), where=self.where, path=self.path)
