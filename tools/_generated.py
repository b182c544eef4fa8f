"""The one rule of the generators in tools/: write the generated file, or with --check say it is stale."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def write_or_check(out: Path, text: str, script: str, *, check: bool, wrote: str = "") -> int:
    """Exit status of a generator: with ``check``, 1 (naming ``script`` to run) when ``out`` is
    missing or differs from ``text``; otherwise ``out`` is written (``wrote`` adds to the message)."""
    rel = out.relative_to(ROOT)
    if check:
        if not out.is_file() or out.read_text(encoding="utf-8") != text:
            print(f"{rel} is out of date: run python tools/{Path(script).name}", file=sys.stderr)
            return 1
        return 0
    out.write_text(text, encoding="utf-8")
    print(f"wrote {rel}{wrote}")
    return 0
