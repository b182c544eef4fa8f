"""Audio ops: AudioSpectrogram, Mfcc, and 16-bit PCM WAV decoding and encoding.

Semantics follow tensorflow/tensorflow tensorflow/core/kernels/spectrogram.cc and
spectrogram_op.cc (periodic Hann window, FFT length the next power of two, squared
magnitudes in double rounded to float), mfcc.cc, mfcc_mel_filterbank.cc and mfcc_dct.cc
(HTK-style mel filterbank over the magnitudes, log floored at 1e-12, orthonormal DCT-II
rows), and tensorflow/core/lib/wav/wav_io.cc with decode_wav_op.cc / encode_wav_op.cc.
"""

from __future__ import annotations

import math
import struct

import numpy as np

from savedmodel_io.graph.ops._registry import kernel
from savedmodel_io.graph.ops._util import bad, check_size


def fft_length(window: int) -> int:
    """TF's FFT length for a window: the next power of two (spectrogram.cc)."""
    return 1 << (window - 1).bit_length()


def hann(window: int) -> np.ndarray:
    """TF's periodic Hann window in float64: 0.5 - 0.5 cos(2 pi n / window) (spectrogram.cc)."""
    return 0.5 - 0.5 * np.cos(2 * math.pi * np.arange(window) / window)


@kernel("AudioSpectrogram")
def audio_spectrogram(node, inputs, ctx):
    """Per channel, |FFT|^2 (or |FFT|) of Hann-windowed frames: [channels, frames, bins]."""
    window, stride = int(node.attr["window_size"]), int(node.attr["stride"])
    if window <= 1:
        raise bad(node, f"window_size must be > 1, got {window}")
    if stride <= 0:
        raise bad(node, f"stride must be > 0, got {stride}")
    x = np.asarray(inputs[0])
    if x.ndim != 2:
        raise bad(node, f"input must be 2-dimensional, got shape {list(x.shape)}")
    samples, channels = x.shape
    n_fft = fft_length(window)
    bins = n_fft // 2 + 1
    frames = 0 if samples < window else 1 + (samples - window) // stride
    check_size(node, [channels, frames, bins], 4)
    if frames == 0 or channels == 0:
        return np.zeros((channels, frames, bins), np.float32)
    starts = np.arange(frames) * stride
    framed = x.T.astype(np.float64)[:, starts[:, None] + np.arange(window)[None, :]]
    spectrum = np.fft.rfft(framed * hann(window), n=n_fft, axis=-1)
    power = (spectrum.real ** 2 + spectrum.imag ** 2).astype(np.float32)
    return power if node.attr["magnitude_squared"] else np.sqrt(power)


def _mel(freq):
    return 1127.0 * np.log1p(np.asarray(freq, np.float64) / 700.0)


def mfcc_attrs(node) -> tuple[int, int, float, float]:
    """Mfcc's (filterbank channels, DCT coefficients, lower limit, upper limit) attrs."""
    return (int(node.attr["filterbank_channel_count"]), int(node.attr["dct_coefficient_count"]),
            float(node.attr["lower_frequency_limit"]), float(node.attr["upper_frequency_limit"]))


def mfcc_problem(bins: int, rate: int, channels: int, count: int, lower: float,
                 upper: float) -> str | None:
    """TF's message when Mfcc's initialization refuses these sizes and limits, else None."""
    if channels < 1 or rate <= 0 or bins < 2 or lower < 0 or upper <= lower or \
            count < 1 or count > channels:
        return f"Mfcc initialization failed for channel count {bins} and sample rate {rate}"
    return None


def mfcc_matrices(bins: int, rate: int, channels: int, count: int, lower: float,
                  upper: float) -> tuple[np.ndarray, np.ndarray] | tuple[None, None]:
    """The (bins x channels) mel weights and the (channels x coefficients) DCT, or None when
    the spectrogram stops below the upper limit (TF then outputs zeros); arguments that
    ``mfcc_problem`` accepts."""
    mel_low, mel_high = float(_mel(lower)), float(_mel(upper))
    spacing = (mel_high - mel_low) / (channels + 1)
    centers = mel_low + spacing * (np.arange(channels + 1) + 1)
    hz_per_bin = 0.5 * rate / (bins - 1)
    start = int(1.5 + lower / hz_per_bin)
    end = int(upper / hz_per_bin)
    weights = np.zeros((bins, channels))
    if bins <= end:
        return None, None
    # Each bin in [start, end] feeds the falling edge of channel c (weight w) and the rising
    # edge of channel c + 1 (1 - w), c the last channel whose center lies below the bin.
    i = np.arange(start, end + 1)
    melf = _mel(i * hz_per_bin)
    c = np.searchsorted(centers[:channels], melf, side="left") - 1
    lo = centers[np.maximum(c, 0)]
    hi = centers[c + 1]
    w = np.where(c >= 0, (hi - melf) / np.where(c >= 0, hi - lo, 1),
                 (centers[0] - melf) / (centers[0] - mel_low))
    falling, rising = c >= 0, c + 1 < channels
    np.add.at(weights, (i[falling], c[falling]), w[falling])
    np.add.at(weights, (i[rising], c[rising] + 1), 1 - w[rising])
    j = np.arange(channels)
    dct = math.sqrt(2.0 / channels) * np.cos(
        np.arange(count)[:, None] * (math.pi / channels) * (j[None, :] + 0.5))
    return weights, dct.T


@kernel("Mfcc")
def mfcc(node, inputs, ctx):
    """Mel-frequency cepstral coefficients of a [channels, frames, bins] power spectrogram."""
    spec = np.asarray(inputs[0])
    if spec.ndim != 3:
        raise bad(node, f"spectrogram must be 3-dimensional, got shape {list(spec.shape)}")
    rate = np.asarray(inputs[1])
    if rate.ndim:
        raise bad(node, f"Input sample_rate should be a scalar tensor, got {list(rate.shape)} "
                        "instead.")
    bins, rate_value = spec.shape[2], int(rate)
    channels, count, lower, upper = mfcc_attrs(node)
    problem = mfcc_problem(bins, rate_value, channels, count, lower, upper)
    if problem is not None:
        raise bad(node, problem)
    check_size(node, [bins, channels], 8)
    weights, dct = mfcc_matrices(bins, rate_value, channels, count, lower, upper)
    check_size(node, [*spec.shape[:2], count], 4)
    if weights is None:
        return np.zeros((*spec.shape[:2], count), np.float32)
    with np.errstate(all="ignore"):
        mel = np.sqrt(spec.astype(np.float64)) @ weights
        logs = np.log(np.where(mel < 1e-12, 1e-12, mel))
    return (logs @ dct).astype(np.float32)


# -- WAV ----------------------------------------------------------------------------------

_SKIPPABLE = {b"JUNK", b"bext", b"iXML", b"qlty", b"mext", b"levl", b"link", b"axml"}


class _Reader:
    """Bounds-checked little-endian reads from the WAV bytes (wav_io.cc's IncrementOffset)."""

    def __init__(self, node, data: bytes) -> None:
        self.node, self.data, self.offset = node, data, 0

    def take(self, n: int) -> bytes:
        if self.offset > len(self.data) or self.offset + n > len(self.data):
            raise bad(self.node, "Data too short when trying to read string")
        out = self.data[self.offset:self.offset + n]
        self.offset += n
        return out

    def u16(self) -> int:
        return int(struct.unpack("<H", self.take(2))[0])

    def u32(self) -> int:
        return int(struct.unpack("<I", self.take(4))[0])


def _decode_wav(node, ctx, data: bytes) -> tuple[np.ndarray, int, int]:
    """(samples as [frames, channels] float32, frames, sample rate) of a 16-bit PCM WAV.

    Chunks are walked one at a time in Python: every 4096 of them are charged to the run's
    budget (a hostile file of tiny chunks stops at the budget's limit)."""
    r = _Reader(node, data)
    walked = 0
    for expected in (b"RIFF", None, b"WAVE"):
        if expected is None:
            r.u32()
        elif r.take(4) != expected:
            raise bad(node, f"Header mismatch: Expected {expected.decode()}")
    chunk = r.take(4)
    while chunk != b"fmt ":
        walked += 1
        if walked % 4096 == 0:
            ctx.meter.elements(4096, node.where)
        if chunk not in _SKIPPABLE:
            raise bad(node, f"Unexpected field {chunk!r}")
        r.take(r.u32())
        chunk = r.take(4)
    fmt_size = r.u32()
    if fmt_size not in (16, 18):
        raise bad(node, f"Bad format chunk size for WAV: Expected 16 or 18, but got {fmt_size}")
    if (code := r.u16()) != 1:
        raise bad(node, f"Bad audio format for WAV: Expected 1 (PCM), but got {code}")
    channels = r.u16()
    if channels < 1:
        raise bad(node, "Bad number of channels for WAV: Expected at least 1, but got 0")
    rate, per_second, per_frame, bits = r.u32(), r.u32(), r.u16(), r.u16()
    if bits != 16:
        raise bad(node, f"Can only read 16-bit WAV files, but received {bits}")
    if per_frame != (16 * channels + 7) // 8:
        raise bad(node, f"Bad bytes per sample in WAV header: Expected {2 * channels} but got "
                        f"{per_frame}")
    if per_second != (per_frame * rate) & 0xFFFFFFFF:
        raise bad(node, f"Bad bytes per second in WAV header: Expected {per_frame * rate} but "
                        f"got {per_second}")
    if fmt_size == 18:
        r.offset += 2
    samples = None
    while r.offset < len(data):
        walked += 1
        if walked % 4096 == 0:
            ctx.meter.elements(4096, node.where)
        chunk, size = r.take(4), r.u32()
        if size > 0x7FFFFFFF:
            raise bad(node, f"WAV data chunk {chunk!r} is too large: {size} bytes")
        if chunk != b"data":
            r.offset += size
            continue
        if samples is not None:
            raise bad(node, "More than one data chunk found in WAV")
        frames = size // per_frame
        raw = r.take(2 * frames * channels)
        samples = np.frombuffer(raw, "<i2").astype(np.float32) / np.float32(32768)
    if samples is None:
        raise bad(node, "No data chunk found in WAV")
    return samples.reshape(-1, channels), samples.size // channels, rate


@kernel("DecodeWav")
def decode_wav(node, inputs, ctx):
    """[samples, channels] float32 in [-1, 1) and the sample rate; resampled to the desired
    counts by zero padding / truncation and by repeating the last channel."""
    contents = np.asarray(inputs[0], dtype=object)
    if contents.ndim:
        raise bad(node, f"contents must be scalar, got shape {list(contents.shape)}")
    audio, frames, rate = _decode_wav(node, ctx, bytes(contents.item()))
    want_channels, want_samples = int(node.attr["desired_channels"]), int(
        node.attr["desired_samples"])
    if want_channels < -1:
        raise bad(node, f"desired_channels must be >= -1, got {want_channels}")
    if want_samples < -1:
        raise bad(node, f"desired_samples must be >= -1, got {want_samples}")
    n = frames if want_samples == -1 else want_samples
    c = audio.shape[1] if want_channels == -1 else want_channels
    check_size(node, [n, c], 4)
    out = np.zeros((n, c), np.float32)
    if c and frames:
        source = np.minimum(np.arange(c), audio.shape[1] - 1)
        keep = min(n, frames)
        out[:keep] = audio[:keep][:, source]
    return [out, np.asarray(rate, np.uint32).astype(np.int32)]


@kernel("EncodeWav")
def encode_wav(node, inputs, ctx):
    """16-bit PCM WAV bytes of [samples, channels] float audio (scaled by 32768, rounded half
    away from zero, clamped)."""
    audio = np.asarray(inputs[0], np.float32)
    if audio.ndim != 2:
        raise bad(node, f"audio must be 2-dimensional, got shape {list(audio.shape)}")
    rate = np.asarray(inputs[1])
    if rate.ndim:
        raise bad(node, f"Input sample_rate should be a scalar tensor, got {list(rate.shape)} "
                        "instead.")
    rate_value = int(rate)
    frames, channels = audio.shape
    if not 0 < rate_value <= 0xFFFFFFFF:
        raise bad(node, f"sample_rate must be in (0, 2^32), got: {rate_value}")
    if not 0 < channels <= 0xFFFF:
        raise bad(node, f"num_channels must be in (0, 2^16), got: {channels}")
    data_size = 2 * frames * channels
    if 44 + data_size > 0xFFFFFFFF:
        raise bad(node, "Provided channels and frames cannot be encoded as a WAV.")
    with np.errstate(invalid="ignore"):
        scaled = audio * np.float32(32768)
        rounded = np.sign(scaled) * np.floor(np.abs(scaled) + np.float32(0.5))
        pcm = np.where(np.isnan(rounded), 0, np.clip(rounded, -32768, 32767)).astype("<i2")
    header = b"RIFF" + struct.pack("<I", 36 + data_size) + b"WAVE" + b"fmt " + struct.pack(
        "<IHHIIHH", 16, 1, channels, rate_value, (rate_value * 2 * channels) & 0xFFFFFFFF,
        (2 * channels) & 0xFFFF, 16) + b"data" + struct.pack("<I", data_size)
    out = np.empty((), dtype=object)
    out[()] = header + pcm.tobytes()
    return out
