"""SipHash-2-4 (TensorFlow's StrongKeyedHash): reference vectors and TensorFlow's values."""

from __future__ import annotations

import pytest

from savedmodel_io.hashing.siphash import siphash24

# The reference implementation's vectors (key 00..0f, message 00..len-1), from the
# SipHash paper's appendix / vectors.h.
KEY = (0x0706050403020100, 0x0F0E0D0C0B0A0908)
VECTORS = {0: 0x726FDB47DD0E0E31, 1: 0x74F839C593DC67FD, 8: 0x93F5F5799A932462,
           15: 0xA129CA6149BE45E5}


@pytest.mark.parametrize("n", sorted(VECTORS))
def test_reference_vectors(n):
    assert siphash24(*KEY, bytes(range(n))) == VECTORS[n]


@pytest.mark.tf
def test_same_buckets_as_string_to_hash_bucket_strong():
    """tf.strings.to_hash_bucket_strong is StrongKeyedHash(key, s) % num_buckets."""
    import tensorflow as tf

    words = [b"", b"a", b"hello", b"exactly8", b"a longer string of text!", bytes(range(200))]
    for key in ([1, 2], [-5, 2**62], [0, 0]):
        got = tf.raw_ops.StringToHashBucketStrong(input=words, num_buckets=2**62, key=key)
        want = [siphash24(key[0], key[1], w) % 2**62 for w in words]
        assert got.numpy().tolist() == want
