"""Types of the optional C accelerator built from _deterministic.c (see deterministic.py)."""

def sort_maps(
    buf: bytearray, plans: tuple[tuple[tuple[int, int, int, int], ...], ...], root: int
) -> None: ...
