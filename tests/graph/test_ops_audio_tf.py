"""Audio kernels (AudioSpectrogram, Mfcc, DecodeWav, EncodeWav) against ``tf.raw_ops``."""

from __future__ import annotations

import struct

import numpy as np

from .raw_ops_harness import Cases

CASES = Cases(seed=4401)
add = CASES.add
RS = CASES.rs


def wav(samples: np.ndarray, rate: int = 16000, *, fmt_size: int = 16, bits: int = 16,
        code: int = 1, before_fmt: bytes = b"", after_fmt: bytes = b"", data_twice: bool = False,
        block: int | None = None, per_second: int | None = None, cut: int = 0) -> np.ndarray:
    """A scalar string tensor holding a WAV file built field by field (for malformed ones too)."""
    channels = samples.shape[1]
    pcm = samples.astype("<i2").tobytes()
    block = 2 * channels if block is None else block
    per_second = rate * block if per_second is None else per_second
    fmt = struct.pack("<HHIIHH", code, channels, rate, per_second, block, bits)
    fmt += b"\0\0" if fmt_size == 18 else b""
    data = b"data" + struct.pack("<I", len(pcm)) + pcm
    body = b"WAVE" + before_fmt + b"fmt " + struct.pack("<I", fmt_size) + fmt + after_fmt + data
    body += data if data_twice else b""
    raw = b"RIFF" + struct.pack("<I", len(body)) + body
    out = np.empty((), dtype=object)
    out[()] = raw[:len(raw) - cut]
    return out


def _spectrogram_and_mfcc() -> None:
    audio = RS.standard_normal((1000, 2)).astype(np.float32)
    for window, stride in ((256, 128), (255, 100), (100, 37), (1000, 1), (1001, 5)):
        add("AudioSpectrogram", f"w{window}_s{stride}", {"window_size": window, "stride": stride},
            input=audio, rtol=1e-4)
    add("AudioSpectrogram", "squared", {"window_size": 64, "stride": 32,
                                        "magnitude_squared": True}, input=audio[:300], rtol=1e-4)
    add("AudioSpectrogram", "rank1", {"window_size": 64, "stride": 32}, input=audio[:, 0])
    power = (RS.standard_normal((2, 5, 129)) ** 2).astype(np.float32) * 10
    add("Mfcc", "default", spectrogram=power, sample_rate=np.int32(16000), rtol=1e-4)
    add("Mfcc", "attrs", {"upper_frequency_limit": 7000.0, "lower_frequency_limit": 100.0,
                          "filterbank_channel_count": 20, "dct_coefficient_count": 20},
        spectrogram=power, sample_rate=np.int32(16000), rtol=1e-4)
    add("Mfcc", "too_short", spectrogram=power[:, :, :20], sample_rate=np.int32(16000))
    add("Mfcc", "zeros", spectrogram=np.zeros((1, 2, 257), np.float32),
        sample_rate=np.int32(22050), rtol=1e-4)
    add("Mfcc", "bad_count", {"dct_coefficient_count": 50}, spectrogram=power,
        sample_rate=np.int32(16000))
    add("Mfcc", "bad_rate", spectrogram=power, sample_rate=np.int32(0))
    add("Mfcc", "rate_vector", spectrogram=power, sample_rate=np.int32([16000]))
    add("Mfcc", "rank2", spectrogram=power[0], sample_rate=np.int32(16000))


def _wav() -> None:
    mono = RS.randint(-32768, 32768, (50, 1))
    stereo = RS.randint(-32768, 32768, (40, 2))
    add("DecodeWav", "mono", contents=wav(mono))
    add("DecodeWav", "stereo", contents=wav(stereo, 44100))
    add("DecodeWav", "desired", {"desired_channels": 3, "desired_samples": 60},
        contents=wav(stereo))
    add("DecodeWav", "fewer", {"desired_channels": 1, "desired_samples": 10}, contents=wav(stereo))
    junk = b"JUNK" + struct.pack("<I", 4) + b"abcd"
    add("DecodeWav", "junk", contents=wav(mono, before_fmt=junk))
    add("DecodeWav", "list_chunk",
        contents=wav(mono, after_fmt=b"LIST" + struct.pack("<I", 2) + b"xy"))
    add("DecodeWav", "fmt18", contents=wav(mono, fmt_size=18))
    add("DecodeWav", "unexpected", contents=wav(mono, before_fmt=b"ABCD" + struct.pack("<I", 0)))
    add("DecodeWav", "8bit", contents=wav(mono, bits=8))
    add("DecodeWav", "float", contents=wav(mono, code=3))
    add("DecodeWav", "bad_block", contents=wav(stereo, block=2))
    add("DecodeWav", "bad_rate", contents=wav(mono, per_second=7))
    add("DecodeWav", "two_data", contents=wav(mono, data_twice=True))
    add("DecodeWav", "truncated", contents=wav(mono, cut=10))
    add("DecodeWav", "header_only", contents=wav(mono[:0]))
    add("DecodeWav", "not_wav", contents=np.array(b"hello world, not a wav file", object))
    add("DecodeWav", "vector", contents=np.array([wav(mono).item()], object))
    audio = np.array([[0, 0.5], [-0.5, 1.0], [-1.0, 1.5], [np.nan, -2], [1 / 65536, -1 / 65536],
                      [3 / 65536, -3 / 65536]], np.float32)
    add("EncodeWav", "basic", audio=audio, sample_rate=np.int32(8000))
    # (An empty clip ends in the data size 0; the oracle's numpy bytes drop trailing NULs.)
    add("EncodeWav", "one_frame", audio=np.float32([[0.25, -0.25]]), sample_rate=np.int32(44100))
    add("EncodeWav", "no_channels", audio=np.zeros((3, 0), np.float32), sample_rate=np.int32(8000))
    add("EncodeWav", "zero_rate", audio=audio, sample_rate=np.int32(0))
    add("EncodeWav", "negative_rate", audio=audio, sample_rate=np.int32(-5))
    add("EncodeWav", "rank1", audio=audio[:, 0], sample_rate=np.int32(8000))


_spectrogram_and_mfcc()
_wav()

test_kernel_matches_tensorflow = CASES.test()
