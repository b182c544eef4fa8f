"""FarmHash Fingerprint64 / FingerprintCat64: pure Python and the cityhash package, against TensorFlow's values."""

from __future__ import annotations

import random

import pytest
from _oracles import ModuleOracle

from savedmodel_io.hashing import farmhash


def pattern(n: int) -> bytes:
    """Deterministic, non-periodic-looking test input of ``n`` bytes."""
    return bytes((i * 131 + 7) % 251 for i in range(n))


# Fingerprint64(pattern(n)) as computed by TensorFlow 2.21's
# tf.fingerprint(..., method="farmhash64"). The lengths cover every length class
# of farmhashna::Hash64 (0, 1-3, 4-7, 8-16, 17-32, 33-64, >64) and the edges of
# the 64-byte block loop.
TF_VECTORS = {
    0: 0x9AE16A3B2F90404F,
    1: 0x57821EFDEE1B7472,
    2: 0xB09F4E41BD9664DD,
    3: 0xBFFE436D17FB4704,
    4: 0xB6C54974F31FC92C,
    5: 0x4DAE628871E17F7F,
    7: 0xFCAC39ED902AEED3,
    8: 0x82D8118C2E3F4687,
    9: 0x46539F974EF1D0FD,
    15: 0xAFCE7C31CDBA90A8,
    16: 0x8C91D688F77B7D48,
    17: 0x24DEB305F172C5C1,
    31: 0xC62593C5EE78A0A4,
    32: 0xB0ABD510683C1D1C,
    33: 0x7243AE7E3766092F,
    63: 0x2EADD64FCE8CD7BA,
    64: 0xAF3C70DAD0224EAF,
    65: 0x07CE0C4DB873B5BC,
    127: 0xFE2C2B82F39A7BA6,
    128: 0x40BC77E101FA4F4C,
    129: 0xD1252F170C293A95,
    191: 0x67A040F4145951B4,
    192: 0x5364A12BCE51468B,
    193: 0xF5175F82F24E1485,
    1000: 0x30E6D9E2A7EC401F,
    65539: 0x14923E1E981F93B3,
}

# The pure-Python reference, and the public function (the cityhash package when installed).
IMPLS = [pytest.param(farmhash.fingerprint64_py, id="python"),
         pytest.param(farmhash.fingerprint64, id="public")]
needs_cityhash = pytest.mark.skipif(not farmhash.ACCELERATED, reason="cityhash is not installed")


@pytest.mark.parametrize("fp", IMPLS)
@pytest.mark.parametrize("n", sorted(TF_VECTORS))
def test_tensorflow_vectors(fp, n):
    assert fp(pattern(n)) == TF_VECTORS[n]


@pytest.mark.parametrize("fp", IMPLS)
def test_known_string(fp):
    assert fp(b"hello") == 0xB48BE5A931380CE8


@pytest.mark.parametrize("fp", IMPLS)
def test_buffer_types_agree(fp):
    data = pattern(300)
    want = fp(data)
    assert fp(bytearray(data)) == want
    assert fp(memoryview(data)) == want
    assert fp(memoryview(b"xx" + data)[2:]) == want


@needs_cityhash
def test_cityhash_equals_python_all_lengths():
    rnd = random.Random(5)
    for n in list(range(300)) + [511, 512, 513, 4095, 4096, 4097, 70001, (1 << 16) + 63, 1 << 20]:
        data = rnd.randbytes(n)
        assert farmhash.fingerprint64(data) == farmhash.fingerprint64_py(data), n


def test_python_long_input_spans_conversion_steps(monkeypatch):
    # Inputs longer than one numpy->int conversion step must hash like one pass.
    data = random.Random(6).randbytes(64 * 37 + 5)
    want = farmhash.fingerprint64_py(data)
    monkeypatch.setattr(farmhash, "_BLOCKS_PER_STEP", 3)
    assert farmhash.fingerprint64_py(data) == want


def test_public_function_dispatches(monkeypatch):
    data = pattern(777)
    assert farmhash.fingerprint64(data) == farmhash.fingerprint64_py(data)
    assert farmhash.ACCELERATED == (farmhash._fast is not None)
    monkeypatch.setattr(farmhash, "_fast", None)
    assert farmhash.fingerprint64(data) == farmhash.fingerprint64_py(data)


def test_a_foreign_farmhash_module_is_not_used(monkeypatch):
    """Another package may install a top-level ``farmhash``: only one hashing like TF is used."""
    import sys
    import types

    fake = types.ModuleType("farmhash")
    fake.Fingerprint64 = lambda data: 1  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "farmhash", fake)
    assert farmhash._cityhash() is None
    monkeypatch.setitem(sys.modules, "farmhash", None)
    assert farmhash._cityhash() is None


@pytest.mark.parametrize("fp", IMPLS)
def test_rejects_non_buffers(fp):
    with pytest.raises(TypeError):
        fp("text")  # type: ignore[arg-type]


def test_fingerprint_cat64():
    # Basic properties (values: test_fingerprint_cat64_value below, and test_fingerprint.py's
    # end-to-end checks against TensorFlow's fingerprint.pb).
    cat = farmhash.fingerprint_cat64
    assert cat(1, 2) != cat(2, 1)
    rnd = random.Random(7)
    for _ in range(200):
        a, b = rnd.getrandbits(64), rnd.getrandbits(64)
        r = cat(a, b)
        assert 0 <= r < 2**64
        assert cat(a + 2**64, b) == r  # arguments are taken mod 2**64


def test_fingerprint_cat64_value():
    # FingerprintCat64(0, Fingerprint64("")) written out by hand from the definition
    # in tensorflow/core/platform/fingerprint.h.
    m = 2**64 - 1
    kmul = 0xC6A4A7935BD1E995
    fp2 = 0x9AE16A3B2F90404F
    t = (fp2 * kmul) & m
    r = 0 ^ kmul
    r ^= ((t ^ (t >> 47)) * kmul) & m
    r = (r * kmul) & m
    r = ((r ^ (r >> 47)) * kmul) & m
    r ^= r >> 47
    assert farmhash.fingerprint_cat64(0, fp2) == r


LENGTHS = list(range(301)) + [1 << 12, (1 << 16) + 1, 3 << 20]


def _datas() -> list[bytes]:
    rnd = random.Random(9)
    return [rnd.randbytes(n) for n in LENGTHS]


def tf_fingerprints(request: dict) -> list[str]:
    """tf.fingerprint(method="farmhash64") of each input, hex (runs in the oracle)."""
    import tensorflow as tf

    out = tf.fingerprint(tf.constant(_datas()), method="farmhash64").numpy()
    return [f"{int.from_bytes(row.tobytes(), 'little'):x}" for row in out]


@pytest.mark.tf
def test_tensorflow_fingerprint_op():
    (theirs,) = ModuleOracle(__name__).answers([{"function": "tf_fingerprints"}])
    for n, data, hexdigest in zip(LENGTHS, _datas(), theirs, strict=True):
        want = int(hexdigest, 16)
        assert farmhash.fingerprint64(data) == want, n
        if n <= 300 or n == (1 << 16) + 1:
            assert farmhash.fingerprint64_py(data) == want, n
