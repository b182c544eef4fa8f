#!/usr/bin/env python3
"""Print how many fuzz cases each target ran: last run and all runs, per mode.

    python tests/fuzz/stats.py            # reads tests/.cache/fuzz-stats/
"""

from __future__ import annotations

import sys
from pathlib import Path

STATS = Path(__file__).resolve().parents[1] / ".cache" / "fuzz-stats"


def main() -> int:
    rows: dict[str, dict[str, list[int]]] = {}
    for f in sorted(STATS.glob("*.txt")) if STATS.is_dir() else []:
        target, mode = f.stem.rsplit(".", 1)
        counts = [int(x) for x in f.read_text().split()]
        rows.setdefault(target, {})[mode] = counts
    if not rows:
        print("no fuzz statistics yet: run pytest tests/fuzz", file=sys.stderr)
        return 1
    print(f"{'target':<20}{'ci last':>10}{'ci total':>11}{'slow last':>11}{'slow total':>12}")
    for target in sorted(rows):
        ci, slow = rows[target].get("ci", []), rows[target].get("slow", [])
        print(f"{target:<20}{(ci or [0])[-1]:>10}{sum(ci):>11}{(slow or [0])[-1]:>11}{sum(slow):>12}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
