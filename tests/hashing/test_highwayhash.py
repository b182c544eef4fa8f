"""HighwayHash-64: upstream vectors, Riegeli-key vectors, streaming, both implementations."""

from __future__ import annotations

import os
import random
import subprocess
import sys
from pathlib import Path

import pytest

from savedmodel_io.errors import InvalidArgumentError
from savedmodel_io.hashing import highwayhash as hh

# google/highwayhash highwayhash/highwayhash_test.cc, kExpected64 (commit f8381f33): key bytes
# 00..1f, input n bytes 00..(n-1).
EXPECTED64 = [
    int(x, 16)
    for x in ["907A56DE22C26E53", "7EAB43AAC7CDDD78", "B8D0569AB0B53D62", "5C6BEFAB8A463D80", "F205A46893007EDA", "2B8A1668E4A94541", "BD4CCC325BEFCA6F", "4D02AE1738F59482", "E1205108E55F3171", "32D2644EC77A1584", "F6E10ACDB103A90B", "C3BBF4615B415C15", "243CC2040063FA9C", "A89A58CE65E641FF", "24B031A348455A23", "40793F86A449F33B", "CFAB3489F97EB832", "19FE67D2C8C5C0E2", "04DD90A69C565CC2", "75D9518E2371C504", "38AD9B1141D3DD16", "0264432CCD8A70E0", "A9DB5A6288683390", "D7B05492003F028C", "205F615AEA59E51E", "EEE0C89621052884", "1BFC1A93A7284F4F", "512175B5B70DA91D", "F71F8976A0A2C639", "AE093FEF1F84E3E7", "22CA92B01161860F", "9FC7007CCF035A68", "A0C964D9ECD580FC", "2C90F73CA03181FC", "185CF84E5691EB9E", "4FC1F5EF2752AA9B", "F5B7391A5E0A33EB", "B9B84B83B4E96C9C", "5E42FE712A5CD9B4", "A150F2F90C3F97DC", "7FA522D75E2D637D", "181AD0CC0DFFD32B", "3889ED981E854028", "FB4297E8C586EE2D", "6D064A45BB28059C", "90563609B3EC860C", "7AA4FCE94097C666", "1326BAC06B911E08", "B926168D2B154F34", "9919848945B1948D", "A2A98FC534825EBE", "E9809095213EF0B6", "582E5483707BC0E9", "086E9414A88A6AF5", "EE86B98D20F6743D", "F89B7FF609B1C0A7", "4C7D9CC19E22C3E8", "9A97005024562A6F", "5DD41CF423E6EBEF", "DF13609C0468E227", "6E0DA4F64188155A", "B755BA4B50D7D4A1", "887A3484647479BD", "AB8EEBE9BF2139A0", "75542C5D4CD2A6FF"]
]
UPSTREAM_KEY = bytes(range(32))


def le64(*values: int) -> bytes:
    return b"".join(v.to_bytes(8, "little") for v in values)


# Riegeli-key vectors: the hashes inside the fixed first 64 bytes of every Riegeli file
# (google/riegeli doc/riegeli_records_file_format.md; observed in shared/testdata/cpb).
RIEGELI_VECTORS = [
    (b"", 0x72C3B1E9C0139FE1),
    (le64(0, 64), 0x3F4A880DD170AF83),
    (le64(0, 0x72C3B1E9C0139FE1, 0x73, 0), 0xA9E187923CC2BA91),
]

IMPLS = [pytest.param(hh.py_highwayhash64, id="python")]
HASHERS = [pytest.param(hh.PyHighwayHash64, id="python")]
if hh.ACCELERATED:
    IMPLS.append(pytest.param(hh.highwayhash64, id="c"))
    HASHERS.append(pytest.param(hh.HighwayHash64, id="c"))


def test_riegeli_key_bytes():
    assert hh.RIEGELI_KEY == le64(0x2F696C6567656952, 0x0A7364726F636572) * 2


@pytest.mark.parametrize("fn", IMPLS)
def test_upstream_vectors(fn):
    assert len(EXPECTED64) == 65
    for n, want in enumerate(EXPECTED64):
        assert fn(bytes(range(n)), UPSTREAM_KEY) == want, n


@pytest.mark.parametrize("fn", IMPLS)
def test_riegeli_vectors(fn):
    for data, want in RIEGELI_VECTORS:
        assert fn(data) == want
        assert fn(data, hh.RIEGELI_KEY) == want


@pytest.mark.parametrize("cls", HASHERS)
def test_streaming_matches_oneshot(cls):
    rng = random.Random(7)
    data = rng.randbytes(5000)
    key = rng.randbytes(32)
    want = hh.py_highwayhash64(data, key)
    for _ in range(20):
        h = cls(key)
        pos = 0
        while pos < len(data):
            step = rng.choice([0, 1, 3, 31, 32, 33, 100, 700])
            h.update(data[pos : pos + step])
            pos += step
        assert h.intdigest() == want
        assert h.digest() == want.to_bytes(8, "little")


@pytest.mark.parametrize("cls", HASHERS)
def test_digest_is_repeatable_and_copy_is_independent(cls):
    h = cls(hh.RIEGELI_KEY, b"abc")
    first = h.intdigest()
    assert h.intdigest() == first
    twin = h.copy()
    h.update(b"d")
    assert twin.intdigest() == first
    assert h.intdigest() == hh.py_highwayhash64(b"abcd")


@pytest.mark.parametrize("fn", IMPLS)
def test_accepts_any_buffer(fn):
    import numpy as np

    data = bytes(range(100))
    want = hh.py_highwayhash64(data)
    assert fn(bytearray(data)) == want
    assert fn(memoryview(data)) == want
    assert fn(np.frombuffer(data, dtype=np.uint8)) == want
    assert fn(np.frombuffer(data[:96], dtype=np.uint32)) == hh.py_highwayhash64(data[:96])


@pytest.mark.parametrize("fn", IMPLS)
@pytest.mark.parametrize("key", [b"short", b"x" * 33, b""])
def test_bad_key(fn, key):
    with pytest.raises(InvalidArgumentError, match="32 bytes"):
        fn(b"data", key)


@pytest.mark.skipif(not hh.ACCELERATED, reason="C accelerator not built")
def test_c_matches_python_on_random_lengths():
    rng = random.Random(3)
    for n in list(range(260)) + [1000, 4096 + 17, 70000, 200003]:
        data = rng.randbytes(n)
        key = rng.randbytes(32)
        assert hh.highwayhash64(data, key) == hh.py_highwayhash64(data, key), n


@pytest.mark.skipif(not hh.ACCELERATED, reason="C accelerator not built")
def test_c_scalar_path_matches():
    """The portable C path (forced by SAVEDMODEL_IO_HH_SCALAR) gives the same hashes as SIMD."""
    rng = random.Random(11)
    cases = [(rng.randbytes(n), rng.randbytes(32)) for n in (0, 5, 31, 64, 129, 1000, 100000)]
    want = [hh.highwayhash64(d, k) for d, k in cases]
    code = (
        "import sys, pickle\n"
        "from savedmodel_io.hashing import _highwayhash as c\n"
        "cases = pickle.loads(sys.stdin.buffer.read())\n"
        "print(c.simd(), [c.hash64(d, k) for d, k in cases])\n"
    )
    import pickle

    src = Path(__file__).resolve().parents[2] / "src"
    env = dict(os.environ, SAVEDMODEL_IO_HH_SCALAR="1", PYTHONPATH=str(src))
    out = subprocess.run(
        [sys.executable, "-c", code], input=pickle.dumps(cases), env=env,
        capture_output=True, check=True,
    ).stdout.decode()
    assert out.split(" ", 1)[0] == "scalar"
    assert out.strip() == f"scalar {want}"


def test_fallback_when_accelerator_is_missing():
    """Without the C extension the module wires in the pure-Python implementation."""
    code = (
        "import sys\n"
        "sys.modules['savedmodel_io.hashing._highwayhash'] = None  # as if never built\n"
        "from savedmodel_io.hashing import highwayhash as hh\n"
        "assert not hh.ACCELERATED and hh.HighwayHash64 is hh.PyHighwayHash64\n"
        "print(hex(hh.highwayhash64(b'')))\n"
    )
    src = Path(__file__).resolve().parents[2] / "src"
    out = subprocess.run(
        [sys.executable, "-c", code], env=dict(os.environ, PYTHONPATH=str(src)),
        capture_output=True, text=True, check=True,
    ).stdout
    assert out.strip() == hex(RIEGELI_VECTORS[0][1])
