"""Types of the optional C accelerator built from _census.c (see census.py)."""

from collections.abc import Sequence

def count(
    data: bytes | bytearray | memoryview,
    plans: Sequence[Sequence[tuple[int, int, int]]],
    left: Sequence[int],
) -> tuple[list[int], int]: ...
