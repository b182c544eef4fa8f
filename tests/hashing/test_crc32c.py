"""CRC32C: known vectors (RFC 3720 / LevelDB), masking, and every backend agreeing."""

from __future__ import annotations

import os
import struct

import numpy as np
import pytest

from savedmodel_io.hashing import crc32c as c

# RFC 3720 (iSCSI) appendix B.4 vectors, also in LevelDB's crc32c_test.
VECTORS = [
    (b"123456789", 0xE3069283),
    (bytes(32), 0x8A9136AA),
    (b"\xff" * 32, 0x62A8AB43),
    (bytes(range(32)), 0x46DD794E),
    (bytes(range(31, -1, -1)), 0x113FDB5C),
    (b"", 0),
]

BACKENDS = c.backends()


@pytest.mark.parametrize("name", list(BACKENDS))
@pytest.mark.parametrize("data,expected", VECTORS)
def test_known_vectors(name, data, expected):
    assert BACKENDS[name](0, data) == expected


@pytest.mark.parametrize("name", list(BACKENDS))
def test_extend_equals_whole(name):
    fun = BACKENDS[name]
    data = os.urandom(1000)
    assert fun(fun(0, data[:333]), data[333:]) == fun(0, data)


@pytest.mark.parametrize("name", list(BACKENDS))
def test_buffer_kinds(name):
    fun = BACKENDS[name]
    data = os.urandom(257)
    ro = np.frombuffer(data, np.uint8)
    rw = ro.copy()
    want = fun(0, data)
    for buf in (bytearray(data), memoryview(data), ro, rw, rw.view(np.int8)):
        assert fun(0, buf) == want


def test_backends_agree_on_random_data():
    data = os.urandom(100_003)
    results = {name: fun(0, data) for name, fun in BACKENDS.items()}
    assert len(set(results.values())) == 1, results


def test_default_backend_prefers_fast():
    assert c.BACKEND == next(iter(BACKENDS))
    assert "python" in BACKENDS and "crcmod" in BACKENDS
    assert list(BACKENDS) == [b for b in ("google-crc32c", "crcmod", "python") if b in BACKENDS]


def test_chunked_extend_matches(monkeypatch):
    data = np.frombuffer(os.urandom(10_000), np.uint8)
    monkeypatch.setattr(c, "_CHUNK", 777)
    assert c.extend(0, data) == c._python_extend(0, data)


def test_mask_round_trip():
    for crc in (0, 1, 0xFFFFFFFF, 0xE3069283, 0x80000000):
        assert c.unmask(c.mask(crc)) == crc
        assert c.mask(crc) != crc
    assert c.mask(c.mask(0x12345678)) != c.mask(0x12345678)


def test_masked_matches_tensorflow_string_length_checksum():
    # TensorFlow's SaveV2 of the string tensor [b"", b"\xff\x00x", b"hello"] stores the
    # masked CRC32C of the lengths (as little-endian uint32) as bytes 5f 97 81 f5.
    lengths = struct.pack("<3I", 0, 3, 5)
    assert c.masked_crc32c(lengths) == struct.unpack("<I", bytes.fromhex("5f9781f5"))[0]
