"""Small inputs that expand a lot: compressed bombs under the ratio caps, many tiny messages.

Shared by the hostile cases (tests/hostile/cases.py) and the fuzzers' seeds and mutators
(tests/fuzz/): each generator returns bytes, cheaply, without expanding anything itself.
"""

from __future__ import annotations

from functools import lru_cache


def varint(n: int) -> bytes:
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


@lru_cache(maxsize=None)
def _brotli_zeros_parts() -> tuple[bytes, bytes, bytes]:
    """(head, period, tail) of a Brotli stream of zeros: head + period * k + tail is valid."""
    import brotli

    zeros = bytes(1 << 24)
    c = brotli.Compressor(quality=5, lgwin=24)
    d = b"".join([c.process(zeros) for _ in range(24)]) + c.finish()
    for p in range(32, len(d) // 2):
        for s in range(len(d) - 2 * p):
            if d[s : s + p] == d[s + p : s + 2 * p]:
                return d[:s], d[s : s + p], d[s:]
    raise AssertionError("no repeating period in Brotli's stream of zeros")


def brotli_zeros(periods: int) -> bytes:
    """A Brotli stream of (384 + 128 * periods) MiB of zeros, a few KB long.

    Brotli compresses zeros to identical runs of 16 MiB meta-blocks; eight of them fill a
    whole number of bytes, so once found in a short stream that period can be repeated.
    """
    head, period, tail = _brotli_zeros_parts()
    return head + period * periods + tail


@lru_cache(maxsize=None)
def zstd_zeros(mib: int) -> bytes:
    """A Zstd frame of ``mib`` MiB of zeros."""
    import zstandard

    return zstandard.ZstdCompressor().compress(bytes(mib << 20))


def snappy_zeros(n: int) -> bytes:
    """A valid raw Snappy block of ``n`` zero bytes (one literal, then 64-byte copies).

    Three input bytes per 64 output bytes: about ``n / 21`` bytes, under Snappy's 32x cap.
    """
    copies, rest = divmod(n - 1, 64)
    out = bytearray(varint(n))
    out += b"\x00\x00"  # literal of length 1: a zero
    out += bytes((2 | (63 << 2), 1, 0)) * copies  # copy 64 bytes from offset 1
    if rest >= 1:
        out += bytes((2 | ((rest - 1) << 2), 1, 0))
    return bytes(out)


def table_with_block(contents: bytes, kind: int = 1) -> bytes:
    """A LevelDB table whose only data block is ``contents`` stored with compression ``kind``.

    Block CRCs are left zero: readers must be opened with checksum verification off.
    """
    from savedmodel_io.formats.sstable import MAGIC, _BlockBuilder

    out = bytearray()

    def block(body: bytes, k: int) -> tuple[int, int]:
        at = len(out)
        out.extend(body)
        out.extend(bytes((k,)) + bytes(4))
        return at, len(body)

    data = block(contents, kind)
    meta = block(_BlockBuilder(16).finish(), 0)
    index = _BlockBuilder(1)
    index.add(b"\xff", varint(data[0]) + varint(data[1]))
    handles = b"".join(varint(v) for v in (*meta, *block(index.finish(), 0)))
    out += handles.ljust(40, b"\0") + MAGIC.to_bytes(8, "little")
    return bytes(out)


def riegeli_chunk(values: bytes, declared: int, kind: bytes = b"b") -> bytes:
    """A Riegeli file of one simple chunk holding one record of ``declared`` bytes.

    ``values`` is the compressed stream of the record values (without the size varint);
    record sizes are compressed honestly. Headers and hashes are valid.
    """
    import io

    from savedmodel_io.formats import riegeli

    sizes = riegeli._compress(kind[0], varint(declared), None)
    parts = [kind, varint(len(sizes)), sizes, varint(declared) + values]
    f = io.BytesIO()
    writer = riegeli.RecordWriter(f, compression="none")
    writer._write_chunk(riegeli.SIMPLE, 1, declared, parts, sum(len(p) for p in parts))
    return f.getvalue()


def repeated_field(field: int, count: int, body: bytes = b"") -> bytes:
    """``count`` copies of length-delimited field ``field`` holding ``body`` (2+ bytes each)."""
    return (varint(field << 3 | 2) + varint(len(body)) + body) * count


def many_meta_graphs(count: int) -> bytes:
    """A saved_model.pb of ``count`` empty MetaGraphDefs (2 bytes each)."""
    return repeated_field(2, count)


def many_signatures(count: int) -> bytes:
    """A saved_model.pb of one meta graph holding ``count`` distinct empty SignatureDefs."""
    entries = b"".join(repeated_field(5, 1, repeated_field(1, 1, b"%d" % i)) for i in range(count))
    meta_graph = repeated_field(1, 1, repeated_field(4, 1, b"serve")) + entries
    return repeated_field(2, 1, meta_graph)


def many_nodes(count: int) -> bytes:
    """A saved_model.pb of one meta graph whose graph holds ``count`` empty NodeDefs."""
    graph = repeated_field(1, count)
    return repeated_field(2, 1, repeated_field(2, 1, graph))


def many_functions(count: int) -> bytes:
    """A saved_model.pb of one meta graph whose function library holds ``count`` empty functions."""
    library = repeated_field(1, count)
    return repeated_field(2, 1, repeated_field(2, 1, repeated_field(2, 1, library)))
