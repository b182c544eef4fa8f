"""Mutation fuzzing on hypothesis: mutate real seed files, assert only library errors escape.

A fuzz target is a callable ``target(data: bytes) -> object`` that feeds the bytes
to one parser (writing them to a file first when the parser reads files). The
property is always the same: the target returns, or raises a
``savedmodel_io.errors.SavedModelError`` subclass. Anything else (KeyError,
IndexError, struct.error, MemoryError, RecursionError, UnicodeDecodeError,
OverflowError, an assertion, a hang) is a bug in the parser.

Mutations are the classic ones of byte-level fuzzers: bit flips, byte overwrites
with "interesting" values, truncation, deletion, duplication, splices from other
seeds, random byte runs, and inflation of length/size fields (protobuf varints
found by walking the wire format, plus little-endian u32/u64, big-endian u16/u32
(image headers) and varints at arbitrary offsets). Two kinds make inputs that are small
but expand: repeating one protobuf field thousands of times, whole or emptied (many meta
graphs, signatures, nodes, or dims: rank > 64), and swapping a Riegeli file or LevelDB
table for one whose single chunk or block is a compression bomb under the format's ratio cap (tests/hostile/bombs.py).

Case counts: ``FUZZ_EXAMPLES`` (default 100) per target in the normal run, and
``FUZZ_SLOW_EXAMPLES`` (default 3000) under ``-m slow``. The normal run is
derandomized (same cases every time); the slow run explores freshly each time.
Every run appends its count to ``tests/.cache/fuzz-stats/<target>.<mode>.txt`` and a
failing input is saved to ``tests/.cache/fuzz-crashes/`` for the regression corpus.
"""

from __future__ import annotations

import hashlib
import os
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path

from _deadline import deadline
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from savedmodel_io.errors import SavedModelError

ROOT = Path(__file__).resolve().parents[2]
CORPUS = Path(__file__).resolve().parent / "corpus"
CACHE = ROOT / "tests" / ".cache"
STATS = CACHE / "fuzz-stats"
CRASHES = CACHE / "fuzz-crashes"

# Per-case wall-clock limit: a parser that needs longer on a few KB is looping.
CASE_SECONDS = int(os.environ.get("FUZZ_CASE_SECONDS", "20"))

Target = Callable[[bytes], object]

_INTERESTING_U8 = [0x00, 0x01, 0x7F, 0x80, 0xFF]
_INTERESTING_INTS = [
    0, 1, 2, 0x7F, 0x80, 0xFF, 0x100, 0x7FFF, 0xFFFF, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF,
    1 << 32, 1 << 40, (1 << 62) + 1, (1 << 63) - 1, 1 << 63, (1 << 64) - 1,
]

# Image sides whose products fall between decoders' pixel limits (2^27, 2^28, 2^29...).
_IMAGE_SIDES = [0x3FFF, 0x4000, 0x4E20, 0x7FFF, 0x8000, 0xFFFF, 0x10000]


def examples(mode: str) -> int:
    """How many cases a target gets in ``mode`` ("ci" or "slow")."""
    if mode == "slow":
        return int(os.environ.get("FUZZ_SLOW_EXAMPLES", "3000"))
    return int(os.environ.get("FUZZ_EXAMPLES", "100"))


# --- wire-format helpers ---------------------------------------------------------------------


def varint(n: int) -> bytes:
    """Protobuf/LevelDB base-128 varint of a non-negative ``n`` (at most 10 bytes kept)."""
    out = bytearray()
    n &= (1 << 70) - 1
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out[:10])


def _read_varint(buf: bytes, pos: int) -> tuple[int, int] | None:
    shift = result = 0
    while pos < len(buf) and shift < 70:
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, pos
        shift += 7
    return None


def proto_varints(buf: bytes, *, limit: int = 4096) -> list[tuple[int, int]]:
    """``(offset, length)`` of varints in a protobuf encoding: lengths and integer values.

    Walks the wire format and descends into length-delimited fields that themselves
    parse as messages, so nested sizes (shapes, dims, string lengths) are found too.
    """
    found: list[tuple[int, int]] = []

    def walk(start: int, end: int, depth: int) -> bool:
        pos = start
        while pos < end:
            key = _read_varint(buf, pos)
            if key is None or key[1] > end:
                return False
            tag, pos = key
            wt = tag & 7
            if tag >> 3 == 0:
                return False
            if wt == 0:
                v = _read_varint(buf, pos)
                if v is None or v[1] > end:
                    return False
                found.append((pos, v[1] - pos))
                pos = v[1]
            elif wt == 1:
                pos += 8
            elif wt == 5:
                pos += 4
            elif wt == 2:
                n = _read_varint(buf, pos)
                if n is None or n[1] + n[0] > end:
                    return False
                found.append((pos, n[1] - pos))
                body = n[1]
                pos = body + n[0]
                if depth < 12 and n[0] and len(found) < limit:
                    mark = len(found)
                    if not walk(body, pos, depth + 1):
                        del found[mark:]
            else:
                return False
            if pos > end or len(found) >= limit:
                return pos <= end
        return True

    walk(0, len(buf), 0)
    return found


def proto_fields(buf: bytes, *, limit: int = 4096) -> list[tuple[int, int]]:
    """``(start, end)`` of length-delimited protobuf fields (tag included), nested ones too."""
    found: list[tuple[int, int]] = []

    def walk(start: int, end: int, depth: int) -> bool:
        pos = start
        while pos < end and len(found) < limit:
            at = pos
            key = _read_varint(buf, pos)
            if key is None or key[1] > end or key[0] >> 3 == 0:
                return False
            tag, pos = key
            wt = tag & 7
            if wt == 0:
                v = _read_varint(buf, pos)
                if v is None:
                    return False
                pos = v[1]
            elif wt in (1, 5):
                pos += 8 if wt == 1 else 4
            elif wt == 2:
                n = _read_varint(buf, pos)
                if n is None or n[1] + n[0] > end:
                    return False
                body, pos = n[1], n[1] + n[0]
                found.append((at, pos))
                if depth < 6 and n[0]:
                    mark = len(found)
                    if not walk(body, pos, depth + 1):
                        del found[mark:]
            else:
                return False
        return pos == end

    walk(0, len(buf), 0)
    return found


# Bytes a "repeat_field" mutant may grow to: enough for tens of thousands of meta graphs.
_REPEAT_BYTES = 2 << 20


def _bomb_like(buf: bytes, draw) -> bytes | None:
    """A compression bomb in the format of ``buf`` (Riegeli file or LevelDB table), or None."""
    from hostile import bombs

    from savedmodel_io.formats.riegeli import FILE_SIGNATURE
    from savedmodel_io.formats.sstable import MAGIC

    declared = draw(st.sampled_from([0, 1, 100, 1 << 20, 1 << 24, (1 << 31) + 1]))
    if buf.startswith(FILE_SIGNATURE[:8]):
        kind = draw(st.sampled_from(["brotli", "zstd"]))
        if kind == "brotli":
            return bombs.riegeli_chunk(bombs.brotli_zeros(draw(st.integers(0, 8))), declared)
        return bombs.riegeli_chunk(bombs.zstd_zeros(draw(st.sampled_from([1, 64]))), declared,
                                   b"z")
    end = buf.rfind(MAGIC.to_bytes(8, "little")) + 8  # a table ends with its magic
    if end < 8:
        return None
    # Snappy blocks under the ratio cap, just under and over the block limit.
    size = draw(st.sampled_from([1 << 20, (1 << 24) - 64, (1 << 24) + 64]))
    table = bombs.table_with_block(bombs.snappy_zeros(size))
    if end == len(buf):  # a table file
        return table
    if int.from_bytes(buf[:4], "little") == end - 4:  # a bundle input: u32 length, index, data
        return len(table).to_bytes(4, "little") + table + buf[end:]
    return None


# --- mutations ---------------------------------------------------------------------------------


@st.composite
def _mutation(draw, buf: bytes, seeds: Sequence[bytes]) -> bytes:
    n = len(buf)
    kind = draw(
        st.sampled_from(
            ["flip", "byte", "truncate", "delete", "duplicate", "splice", "random",
             "inflate_proto", "inflate_le", "inflate_be", "inflate_varint", "repeat_field",
             "bomb"]
        )
    )
    pos = draw(st.integers(0, n)) if n else 0
    if kind == "flip" and n:
        p = min(pos, n - 1)
        return buf[:p] + bytes([buf[p] ^ (1 << draw(st.integers(0, 7)))]) + buf[p + 1 :]
    if kind == "byte" and n:
        p = min(pos, n - 1)
        return buf[:p] + bytes([draw(st.sampled_from(_INTERESTING_U8))]) + buf[p + 1 :]
    if kind == "truncate":
        return buf[:pos]
    if kind == "delete":
        size = draw(st.integers(1, 64))
        return buf[:pos] + buf[pos + size :]
    if kind == "duplicate":
        size = draw(st.integers(1, 256))
        return buf[:pos] + buf[pos : pos + size] * draw(st.integers(2, 8)) + buf[pos:]
    if kind == "splice":
        other = draw(st.sampled_from(list(seeds)))
        a = draw(st.integers(0, len(other)))
        b = draw(st.integers(a, min(len(other), a + 512)))
        replace = draw(st.booleans())
        end = pos + (b - a) if replace else pos
        return buf[:pos] + other[a:b] + buf[end:]
    if kind == "random":
        chunk = draw(st.binary(min_size=1, max_size=32))
        replace = draw(st.booleans())
        return buf[:pos] + chunk + buf[pos + len(chunk) if replace else pos :]
    if kind == "inflate_proto":
        spots = proto_varints(buf)
        if spots:
            off, length = draw(st.sampled_from(spots))
            return buf[:off] + varint(draw(st.sampled_from(_INTERESTING_INTS))) + buf[off + length :]
    if kind == "inflate_le" and n >= 4:
        p = min(pos, n - 4)
        width = draw(st.sampled_from([4, 8]))
        value = draw(st.sampled_from(_INTERESTING_INTS)) & ((1 << (8 * width)) - 1)
        return buf[:p] + value.to_bytes(width, "little") + buf[p + width :]
    if kind == "inflate_be" and n >= 2:
        # Image headers (PNG, JPEG) store sizes big-endian; picture-sized values land between
        # the limits of the different decoders (Pillow's, TensorFlow's, ours).
        p = min(pos, n - 2)
        width = draw(st.sampled_from([2, 4]))
        value = draw(st.sampled_from(_IMAGE_SIDES + _INTERESTING_INTS)) & ((1 << (8 * width)) - 1)
        return buf[:p] + value.to_bytes(width, "big") + buf[p + width :]
    if kind == "repeat_field":
        spots = proto_fields(buf)
        if spots:
            start, end = draw(st.sampled_from(spots))
            field = buf[start:end]
            if draw(st.booleans()):  # emptied: tag and a zero length, two or three bytes each
                tag = _read_varint(field, 0)
                field = field[: tag[1]] + b"\0" if tag else field
            # 65: one dim more than numpy's 64 (a shape's dim field repeated: rank > 64).
            times = min(draw(st.sampled_from([2, 65, 1000, 100_000])),
                        _REPEAT_BYTES // max(len(field), 1))
            return buf[:start] + field * times + buf[end:]
    if kind == "bomb":
        bomb = _bomb_like(buf, draw)
        if bomb is not None:
            return bomb
    if kind == "inflate_varint" and n:
        old = _read_varint(buf, min(pos, n - 1))
        end = old[1] if old else min(pos + 1, n)
        return buf[:pos] + varint(draw(st.sampled_from(_INTERESTING_INTS))) + buf[end:]
    return buf[:pos] + draw(st.binary(max_size=8)) + buf[pos:]


@st.composite
def mutants(draw, seeds: Sequence[bytes]) -> bytes:
    """A seed after 1-6 stacked mutations (or, rarely, plain random bytes)."""
    if draw(st.integers(0, 19)) == 0:
        return draw(st.binary(max_size=512))
    buf = draw(st.sampled_from(list(seeds)))
    for _ in range(draw(st.integers(1, 6))):
        buf = draw(_mutation(buf, seeds))
    return buf


# --- the property --------------------------------------------------------------------------------


class Hang(BaseException):
    """Raised by the watchdog when one case takes longer than CASE_SECONDS."""


def watchdog(seconds: int):
    """Interrupt the block with Hang after ``seconds`` (main thread only; no-op elsewhere)."""
    return deadline(seconds, lambda _: Hang(f"a single fuzz case ran longer than {CASE_SECONDS} s"))


def save_crash(name: str, data: bytes) -> Path:
    """Keep a failing input for the regression corpus; returns where it went."""
    CRASHES.mkdir(parents=True, exist_ok=True)
    out = CRASHES / f"{name}-{hashlib.sha256(data).hexdigest()[:12]}.bin"
    out.write_bytes(data)
    return out


def check(name: str, target: Target, data: bytes) -> None:
    """Run one case: pass when the target returns or raises a SavedModelError."""
    try:
        with watchdog(CASE_SECONDS):
            target(data)
    except SavedModelError as exc:
        assert str(exc), "library errors must carry a message"
    except (Exception, Hang) as exc:  # noqa: BLE001 - the whole point
        saved = save_crash(name, data)
        tb = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__)[-6:])
        raise AssertionError(
            f"{name}: {type(exc).__name__} escaped on a {len(data)}-byte input "
            f"(saved to {saved}):\n{tb}"
        ) from None


def record(name: str, mode: str, count: int) -> None:
    """Append this run's case count (summed by tests/fuzz/stats.py for reports)."""
    STATS.mkdir(parents=True, exist_ok=True)
    with open(STATS / f"{name}.{mode}.txt", "a") as f:
        f.write(f"{count}\n")


def fuzz(name: str, target: Target, seeds: Sequence[bytes], mode: str) -> int:
    """Mutation-fuzz ``target`` from ``seeds``; returns the number of cases run."""
    seeds = [s for s in seeds if s is not None]
    assert seeds, f"{name}: no seeds"
    for s in seeds:  # the seeds themselves must be fine
        check(name, target, s)
    count = 0
    slow = mode == "slow"

    @settings(
        max_examples=examples(mode),
        deadline=None,
        derandomize=not slow,
        database=None,
        print_blob=True,
        suppress_health_check=list(HealthCheck),
    )
    @given(mutants(seeds))
    def run(data: bytes) -> None:
        nonlocal count
        count += 1
        check(name, target, data)

    try:
        run()
    finally:
        record(name, mode, count + len(seeds))
    return count + len(seeds)


def corpus_files(name: str) -> list[Path]:
    """Regression inputs kept for ``name`` under tests/fuzz/corpus/<name>/."""
    d = CORPUS / name
    return sorted(p for p in d.iterdir() if p.is_file()) if d.is_dir() else []
