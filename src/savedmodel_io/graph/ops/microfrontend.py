"""AudioMicrofrontend: TFLite Micro's speech frontend, in the same fixed-point integer steps.

The op (tensorflow/tensorflow tensorflow/lite/experimental/microfrontend/ops/
audio_microfrontend_op.cc) runs the micro frontend library (.../microfrontend/lib/) over
every ``window_size`` ms frame of int16 audio, ``window_step`` ms apart: a Hann window in
Q12, a 16-bit fixed-point real FFT (kissfft built with FIXED_POINT=16, its power-of-two
sizes use radix-4 and radix-2 butterflies that halve or quarter their inputs, products
rounded in Q15), squared magnitudes summed into mel channels with Q12 triangular weights
and an integer square root, noise reduction (a per-channel low-pass noise estimate carried
from frame to frame, Q14), optional PCAN gain control (a piecewise-quadratic gain table,
https://research.google/pubs/pub45911.pdf) and a fixed-point natural log (a 129-entry
correction table over log2). Every step is integer arithmetic, so the results are exact;
where the C code lets a 16- or 32-bit value wrap, so does this. Frames are then stacked
with left/right context, strided and divided by ``out_scale`` as the op does.
"""

from __future__ import annotations

import math

import numpy as np

from savedmodel_io.graph.ops._registry import kernel
from savedmodel_io.graph.ops._util import bad, check_size, np_dtype

_F = np.float32
_WINDOW_BITS = 12  # lib/window.h kFrontendWindowBits
_FILTERBANK_BITS = 12  # lib/filterbank.h kFilterbankBits
_NOISE_BITS = 14  # lib/noise_reduction.h kNoiseReductionBits
_PCAN_SNR_BITS, _PCAN_OUTPUT_BITS = 12, 6  # lib/pcan_gain_control.h
_WDF_BITS = 32  # lib/pcan_gain_control_util.h kWideDynamicFunctionBits
_LOG_SCALE_BITS, _LOG_SEGMENT_BITS, _LOG_COEFF = 16, 7, 45426  # lib/log_lut.h
# lib/log_lut.c kLogLut: the correction from x - 1 to log2(x) on [1, 2), in 128 segments (Q16).
_LOG_LUT = np.array([
    0, 224, 442, 654, 861, 1063, 1259, 1450, 1636, 1817, 1992, 2163, 2329, 2490, 2646, 2797,
    2944, 3087, 3224, 3358, 3487, 3611, 3732, 3848, 3960, 4068, 4172, 4272, 4368, 4460, 4549,
    4633, 4714, 4791, 4864, 4934, 5001, 5063, 5123, 5178, 5231, 5280, 5326, 5368, 5408, 5444,
    5477, 5507, 5533, 5557, 5578, 5595, 5610, 5622, 5631, 5637, 5640, 5641, 5638, 5633, 5626,
    5615, 5602, 5586, 5568, 5547, 5524, 5498, 5470, 5439, 5406, 5370, 5332, 5291, 5249, 5203,
    5156, 5106, 5054, 5000, 4944, 4885, 4825, 4762, 4697, 4630, 4561, 4490, 4416, 4341, 4264,
    4184, 4103, 4020, 3935, 3848, 3759, 3668, 3575, 3481, 3384, 3286, 3186, 3084, 2981, 2875,
    2768, 2659, 2549, 2437, 2323, 2207, 2090, 1971, 1851, 1729, 1605, 1480, 1353, 1224, 1094,
    963, 830, 695, 559, 421, 282, 142, 0, 0], np.int64)
_MAX_WINDOW = 1 << 20  # samples in one window: the FFT's tables grow with it


def _wrap(x: np.ndarray, bits: int, signed: bool = True) -> np.ndarray:
    """``x`` stored into a ``bits``-bit C integer (two's complement wrap)."""
    x = np.asarray(x, np.int64) & ((1 << bits) - 1)
    return x - ((x >> (bits - 1)) << bits) if signed else x


def _msb(x: np.ndarray) -> np.ndarray:
    """lib/bits.h MostSignificantBit32/64: the 1-based index of the top set bit, 0 for 0."""
    x = np.asarray(x, np.int64)
    out = np.zeros(x.shape, np.int64)
    for shift in (32, 16, 8, 4, 2, 1):
        top = (x >> shift) > 0
        out += np.where(top, shift, 0)
        x = np.where(top, x >> shift, x)
    return out + (x > 0)


# ---- the 16-bit fixed-point FFT (kissfft, FIXED_POINT=16) ---------------------------------
# Values live in int16 arrays, as kiss_fft_scalar does: numpy's int16 sums wrap as C's stores
# do; products and Q15 rounding are done in int32 (SAMPPROD), where they cannot overflow.

_I16, _I32 = np.int16, np.int32


def _round15(x: np.ndarray) -> np.ndarray:
    """kissfft's sround: an int32 Q15 product back to int16, rounding half up."""
    return ((x + (1 << 14)) >> 15).astype(_I16)


def _scale_down(re: np.ndarray, im: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """kissfft's C_FIXDIV: multiply by the Q15 constant 32767 // k (k = 2 or 4)."""
    q = _I32(32767 // k)
    return _round15(re.astype(_I32) * q), _round15(im.astype(_I32) * q)


def _cmul(ar, ai, br, bi):
    """kissfft's C_MUL in Q15 (``br``/``bi`` are int32 twiddles)."""
    ar, ai = ar.astype(_I32), ai.astype(_I32)
    return _round15(ar * br - ai * bi), _round15(ar * bi + ai * br)


def _twiddles(phases: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """kissfft's kf_cexp in Q15: floor(0.5 + 32767 * cos/sin(phase))."""
    return (np.floor(0.5 + 32767 * np.cos(phases)).astype(_I32),
            np.floor(0.5 + 32767 * np.sin(phases)).astype(_I32))


def _factors(n: int) -> list[tuple[int, int]]:
    """kissfft's kf_factor for a power of two: radix 4 while it divides, then 2."""
    out = []
    while n > 1:
        p = 4 if n % 4 == 0 else 2
        n //= p
        out.append((p, n))
    return out


def _fft(re, im, start: int, stride: int, factors, tw) -> tuple[np.ndarray, np.ndarray]:
    """kissfft's kf_work, decimation in time over every frame at once (rows)."""
    p, m = factors[0]
    if m == 1:
        fr, fi = re[:, start::stride][:, :p], im[:, start::stride][:, :p]
    else:
        parts = [_fft(re, im, start + q * stride, stride * p, factors[1:], tw) for q in range(p)]
        fr = np.concatenate([a for a, _ in parts], axis=1)
        fi = np.concatenate([b for _, b in parts], axis=1)
    twr, twi = tw
    step = stride * np.arange(m)
    if p == 2:
        ar, ai = _scale_down(fr[:, :m], fi[:, :m], 2)
        br, bi = _scale_down(fr[:, m:], fi[:, m:], 2)
        tr, ti = _cmul(br, bi, twr[step], twi[step])
        return (np.concatenate([ar + tr, ar - tr], axis=1),
                np.concatenate([ai + ti, ai - ti], axis=1))
    (r0, i0), q1, q2, q3 = (_scale_down(fr[:, j * m:(j + 1) * m], fi[:, j * m:(j + 1) * m], 4)
                            for j in range(4))
    s0r, s0i = _cmul(*q1, twr[step], twi[step])
    s1r, s1i = _cmul(*q2, twr[2 * step], twi[2 * step])
    s2r, s2i = _cmul(*q3, twr[3 * step], twi[3 * step])
    s5r, s5i = r0 - s1r, i0 - s1i
    f0r, f0i = r0 + s1r, i0 + s1i
    s3r, s3i = s0r + s2r, s0i + s2i
    s4r, s4i = s0r - s2r, s0i - s2i
    return (np.concatenate([f0r + s3r, s5r + s4i, f0r - s3r, s5r - s4i], axis=1),
            np.concatenate([f0i + s3i, s5i - s4r, f0i - s3i, s5i + s4r], axis=1))


def _rfft(x: np.ndarray, nfft: int) -> tuple[np.ndarray, np.ndarray]:
    """kissfft's kiss_fftr: the int16 real FFT of each row, bins 0..nfft/2 (Q15-scaled)."""
    n = nfft // 2  # the complex FFT of the even/odd samples as real/imaginary parts
    tw = _twiddles(-2 * math.pi * np.arange(n) / n)
    zr, zi = _fft(x[:, 0::2], x[:, 1::2], 0, 1, _factors(n), tw)
    out_r = np.zeros((x.shape[0], n + 1), _I16)
    out_i = np.zeros_like(out_r)
    dr, di = _scale_down(zr[:, :1], zi[:, :1], 2)
    out_r[:, :1], out_r[:, n:] = dr + di, dr - di
    k = np.arange(1, n // 2 + 1)
    sr, si = _twiddles(-math.pi * ((k.astype(np.float64)) / n + 0.5))
    pr, pi = _scale_down(zr[:, k], zi[:, k], 2)
    nr, ni = _scale_down(zr[:, n - k], -zi[:, n - k], 2)
    f1r, f1i = pr + nr, pi + ni
    tr, ti = _cmul(pr - nr, pi - ni, sr, si)
    f1r, f1i, tr, ti = (v.astype(_I32) for v in (f1r, f1i, tr, ti))
    out_r[:, k], out_i[:, k] = (f1r + tr) >> 1, (f1i + ti) >> 1
    out_r[:, n - k], out_i[:, n - k] = (f1r - tr) >> 1, (ti - f1i) >> 1
    return out_r.astype(np.int64), out_i.astype(np.int64)


# ---- configuration: window, mel filterbank, PCAN gain table (float set-up, as in C) -------


def _hann_q12(size: int) -> np.ndarray:
    """lib/window_util.c: a Hann window centred on half samples, rounded to Q12."""
    arg = _F(math.pi * 2.0 / float(_F(size)))
    value = (0.5 - 0.5 * np.cos(float(arg) * (np.arange(size) + 0.5))).astype(_F)
    return np.floor(value.astype(np.float64) * (1 << _WINDOW_BITS) + 0.5).astype(np.int64)


def _mel(freq: np.ndarray) -> np.ndarray:
    """lib/filterbank_util.c FreqToMel: 1127 ln(1 + f / 700), in float."""
    return (1127.0 * np.log1p(np.asarray(freq, _F).astype(np.float64) / 700.0)).astype(_F)


def _filterbank(node, rate: int, spectrum: int, channels: int, lower: np.float32,
                upper: np.float32) -> tuple[int, int, np.ndarray]:
    """(start, end, weights[channels, end - start]): lib/filterbank_util.c's mel channels.

    Each channel's output is its rising weights plus the previous channel's falling
    ``unweights`` (lib/filterbank.c FilterbankAccumulateChannels, which drops channel 0's
    rising edge), merged here into one matrix over the FFT bins start..end-1."""
    check_size(node, (channels, spectrum), 8)
    hz = _F(0.5 * rate / float(_F(spectrum) - 1))
    start = int(1.5 + float(_F(lower / hz)))
    mel_low, mel_hi = _mel(lower), _mel(upper)
    spacing = _F(_F(mel_hi - mel_low) / _F(channels + 1))
    centers = (mel_low + spacing * np.arange(1, channels + 2, dtype=_F)).astype(_F)
    bins = np.arange(spectrum + 1)
    bin_mel = _mel((bins.astype(_F) * hz).astype(_F))
    rows = []
    first = start
    for chan in range(channels + 1):
        # the channel takes the bins from `first` whose mel is <= its centre
        beyond = np.nonzero(bin_mel[first:] > centers[chan])[0]
        if len(beyond) == 0:
            raise bad(node, f"the filterbank reaches past the spectrum ({spectrum} bins): "
                            f"upper_band_limit {float(upper)} is too high for sample_rate {rate}")
        stop = first + int(beyond[0])
        denom = mel_low if chan == 0 else centers[chan - 1]
        w = ((centers[chan] - bin_mel[first:stop]) / _F(centers[chan] - denom)).astype(_F)
        rows.append((first, np.floor((w * _F(1 << _FILTERBANK_BITS)).astype(np.float64) + 0.5),
                     np.floor((1.0 - w.astype(np.float64)) * (1 << _FILTERBANK_BITS) + 0.5)))
        first = stop
    end = first
    if end >= spectrum:
        raise bad(node, f"the filterbank reaches past the spectrum ({spectrum} bins): "
                        f"upper_band_limit {float(upper)} is too high for sample_rate {rate}")
    matrix = np.zeros((channels, max(end - start, 0)), np.int64)
    for chan in range(channels):
        lo_w, up_w, _ = rows[chan + 1]
        lo_u, _, un = rows[chan]
        matrix[chan, lo_w - start:lo_w - start + len(up_w)] += _wrap(up_w.astype(np.int64), 16)
        matrix[chan, lo_u - start:lo_u - start + len(un)] += _wrap(un.astype(np.int64), 16)
    return start, end, matrix


def _gain(x: np.ndarray, input_bits: int, gain_bits: int, strength: np.float32,
          offset: np.float32) -> np.ndarray:
    """lib/pcan_gain_control_util.c PcanGainLookupFunction: 2^gain_bits (x + offset)^-strength."""
    xf = (np.asarray(x, np.float64).astype(_F) / _F(2.0 ** input_bits)).astype(_F)
    g = (_F(2.0 ** gain_bits) * np.power((xf + offset).astype(_F), _F(-strength))).astype(_F)
    return np.where(g > 32767, 32767, np.trunc(np.minimum(g, 32767) + _F(0.5))).astype(np.int64)


def _gain_table(input_bits: int, gain_bits: int, strength, offset) -> np.ndarray:
    """The PCAN gain's piecewise-quadratic table: f(0), f(1), then (y0, a1, a2, unused) per
    octave [2^(i-1), 2^i) for i = 2..32, laid out from index 2 (4 * i - 6)."""
    lut = np.zeros(4 * _WDF_BITS - 2, np.int64)
    lut[:2] = _gain(np.array([0, 1]), input_bits, gain_bits, strength, offset)
    i = np.arange(2, _WDF_BITS + 1)
    x0 = np.left_shift(1, i - 1).astype(np.int64)
    x1 = x0 + (x0 >> 1)
    x2 = np.where(i == _WDF_BITS, x0 + (x0 - 1), 2 * x0)
    y0, y1, y2 = (_gain(v, input_bits, gain_bits, strength, offset) for v in (x0, x1, x2))
    a1 = 4 * (y1 - y0) - (y2 - y0)
    a2 = (y2 - y0) - a1
    lut[4 * i - 6], lut[4 * i - 5], lut[4 * i - 4] = y0, _wrap(a1, 16), _wrap(a2, 16)
    return lut


def _wide_dynamic(x: np.ndarray, lut: np.ndarray) -> np.ndarray:
    """lib/pcan_gain_control.c WideDynamicFunction: the gain at noise level ``x``."""
    interval = _msb(x)
    base = np.maximum(4 * interval - 6, 0)
    frac = np.where(interval < 11, x << np.maximum(11 - interval, 0),
                    x >> np.maximum(interval - 11, 0)) & 0x3FF
    r = (lut[base + 2] * frac) >> 5
    r = _wrap(r + _wrap(lut[base + 1] << 5, 32), 32)
    r = _wrap(r * frac, 32)
    r = ((r + (1 << 14)) >> 15) + lut[base]
    return np.where(x <= 2, lut[np.minimum(x, 2)], _wrap(r, 16))


def _log(x: np.ndarray, scale_shift: int) -> np.ndarray:
    """lib/log_scale.c Log: round(ln(x) * 2^scale_shift) in fixed point, for x > 1."""
    integer = _msb(x) - 1
    frac = _wrap(x - (np.int64(1) << integer), 32)
    frac = np.where(integer < _LOG_SCALE_BITS, frac << np.maximum(_LOG_SCALE_BITS - integer, 0),
                    frac >> np.maximum(integer - _LOG_SCALE_BITS, 0))
    seg = frac >> (_LOG_SCALE_BITS - _LOG_SEGMENT_BITS)
    c0, c1 = _LOG_LUT[seg], _LOG_LUT[seg + 1]
    rel = ((c1 - c0) * (frac - seg * (1 << (_LOG_SCALE_BITS - _LOG_SEGMENT_BITS)))) >> 16
    log2 = _wrap((integer << _LOG_SCALE_BITS) + _wrap(frac + c0 + rel, 32, False), 32, False)
    half = 1 << (_LOG_SCALE_BITS - 1)
    loge = _wrap((_LOG_COEFF * log2 + half) >> _LOG_SCALE_BITS, 32, False)
    return _wrap(_wrap(loge << scale_shift, 32, False) + half, 32, False) >> _LOG_SCALE_BITS


def _sqrt_rounded(work: np.ndarray) -> np.ndarray:
    """lib/filterbank.c Sqrt64: the integer square root rounded to nearest (capped at
    0xFFFF below 2^32, where the 32-bit routine is used)."""
    flat = work.ravel()
    if flat.size and int(flat.max()) >= 1 << 62:  # only a wrapped energy gets here
        root = np.array([math.isqrt(int(v)) for v in flat], dtype=np.uint64).astype(np.int64)
        rem = np.array([int(v) - int(r) ** 2 for v, r in zip(flat, root)], dtype=object)
        small = np.array([int(v) < 1 << 32 for v in flat])
        up = np.array([r > int(s) for r, s in zip(rem, root)])
    else:
        n = flat.astype(np.int64)
        root = np.floor(np.sqrt(n.astype(np.float64))).astype(np.int64)
        root -= root * root > n
        root += (root + 1) * (root + 1) <= n
        up = n - root * root > root
        small = n < 1 << 32
    cap = np.where(small, 0xFFFF, 0xFFFFFFFF)
    return (root + (up & (root != cap))).reshape(work.shape)


# ---- the kernel -----------------------------------------------------------------------------


def _features(node, audio: np.ndarray, rate: int, size: int, step: int) -> np.ndarray:
    """The frontend's uint16 output per frame: [frames, num_channels]."""
    attr = node.attr
    channels = int(attr["num_channels"])
    frames = (len(audio) - size) // step + 1 if len(audio) >= size else 0
    nfft = 1 << (size - 1).bit_length()
    spectrum = nfft // 2 + 1
    start, end, matrix = _filterbank(node, rate, spectrum, channels, _F(attr["lower_band_limit"]),
                                     _F(attr["upper_band_limit"]))
    if frames == 0:
        return np.zeros((0, channels), np.int64)
    check_size(node, (frames, nfft + channels), 8 * 8)
    # window (lib/window.c): Q12 Hann, then the FFT input is shifted up as far as the
    # frame's largest magnitude allows (-32768 does not count: its negation wraps)
    idx = np.arange(frames)[:, None] * step + np.arange(size)[None, :]
    windowed = (audio.astype(np.int64)[idx] * _hann_q12(size)) >> _WINDOW_BITS
    peak = np.max(_wrap(np.abs(windowed), 16), axis=1, initial=0)
    shift = 15 - _msb(peak)
    x = np.zeros((frames, nfft), np.int16)
    x[:, :size] = _wrap((windowed & 0xFFFF) << shift[:, None], 16)
    re, im = _rfft(x, nfft)
    # energies (lib/filterbank.c): int32 squared magnitudes, accumulated as uint64
    energy = _wrap(re[:, start:end] ** 2 + im[:, start:end] ** 2, 32)
    if energy.min(initial=0) >= 0:
        # every partial sum is an integer below 2^52 (2^31 x 2^12 x at most 2^9 bins): exact
        # in float64, so BLAS may add in any order
        work = np.rint(energy.astype(np.float64) @ matrix.T.astype(np.float64)).astype(np.int64)
    else:  # (-32768)^2 * 2 wrapped negative: uint64 arithmetic, as the C code's
        work = energy.astype(np.uint64) @ matrix.T.astype(np.uint64)
    signal = _sqrt_rounded(work) >> shift[:, None]
    # noise reduction (lib/noise_reduction.c): the estimate runs across frames
    bits = int(attr["smoothing_bits"])
    one = 1 << _NOISE_BITS
    even = int(_F(attr["even_smoothing"]) * _F(one))
    odd = int(_F(attr["odd_smoothing"]) * _F(one))
    smoothing = np.where(np.arange(channels) % 2 == 0, even, odd).astype(np.int64)
    remaining = int(_F(attr["min_signal_remaining"]) * _F(one))
    scaled = _wrap(signal << bits, 32, False)
    rising = scaled * smoothing
    keep = (one - smoothing) & 0xFFFFFFFF
    estimate = np.zeros(channels, np.int64)
    estimates = np.empty_like(signal)
    for f in range(frames):
        estimate = ((rising[f] + estimate * keep) >> _NOISE_BITS) & 0xFFFFFFFF
        estimates[f] = estimate
    floor = _wrap((signal * remaining) >> _NOISE_BITS, 32, False)
    signal = np.maximum((scaled - np.minimum(estimates, scaled)) >> bits, floor)
    correction = int(_msb(np.array(nfft))) - 1 - _FILTERBANK_BITS // 2
    if bool(attr["enable_pcan"]):
        gain_bits = int(attr["gain_bits"])
        lut = _gain_table(bits - correction, gain_bits, _F(attr["pcan_strength"]),
                          _F(attr["pcan_offset"]))
        gain = _wrap(_wide_dynamic(estimates, lut), 32, False)
        snr = _wrap((signal * gain) >> (gain_bits - correction - _PCAN_SNR_BITS), 32, False)
        signal = np.where(snr < 2 << _PCAN_SNR_BITS,
                          (snr * snr) >> (2 + 2 * _PCAN_SNR_BITS - _PCAN_OUTPUT_BITS),
                          _wrap((snr >> (_PCAN_SNR_BITS - _PCAN_OUTPUT_BITS))
                                - (1 << _PCAN_OUTPUT_BITS), 32, False))
    if bool(attr["enable_log"]):
        value = (signal >> -correction) if correction < 0 else _wrap(signal << correction, 32,
                                                                         False)
        safe = np.maximum(value, 2)
        signal = np.where(value > 1, _log(safe, int(attr["scale_shift"])), 0)
    return np.minimum(signal, 0xFFFF)


@kernel("AudioMicrofrontend")
def audio_microfrontend(node, inputs, ctx):
    """Filterbank features of int16 audio: [frames / frame_stride, channels * context]."""
    attr = node.attr
    audio = np.asarray(inputs[0])
    if audio.ndim != 1:
        raise bad(node, "audio is not a vector")
    rate = int(attr["sample_rate"])
    size = int(attr["window_size"]) * rate // 1000
    step = int(attr["window_step"]) * rate // 1000
    channels = int(attr["num_channels"])
    left, right = int(attr["left_context"]), int(attr["right_context"])
    stride, out_scale = int(attr["frame_stride"]), int(attr["out_scale"])
    if rate <= 0 or not 3 <= size <= _MAX_WINDOW or not 0 < step <= size:
        raise bad(node, f"window of {size} samples every {step} at sample_rate {rate}: "
                        f"need 3 <= window <= {_MAX_WINDOW} and 0 < step <= window")
    if channels < 1 or left < 0 or right < 0 or stride < 1:
        raise bad(node, "num_channels and frame_stride must be positive, contexts non-negative")
    if not 0 <= int(attr["smoothing_bits"]) < 32 or not 0 <= int(attr["scale_shift"]) < 32:
        raise bad(node, "smoothing_bits and scale_shift must be in [0, 32)")
    lower, upper = float(attr["lower_band_limit"]), float(attr["upper_band_limit"])
    if not 0 <= lower < upper < math.inf:
        raise bad(node, f"band limits [{lower}, {upper}] must satisfy 0 <= lower < upper")
    # Q14 smoothing factors are uint16 in the library: [0, 4) fits
    for name in ("even_smoothing", "odd_smoothing", "min_signal_remaining"):
        if not 0 <= float(attr[name]) < 4:
            raise bad(node, f"{name} must be in [0, 4), got {float(attr[name])}")
    if not (math.isfinite(float(attr["pcan_strength"])) and
            math.isfinite(float(attr["pcan_offset"]))):
        raise bad(node, "pcan_strength and pcan_offset must be finite")
    out_type = np_dtype(attr["out_type"])
    if out_type == np.uint16 and out_scale == 0:
        raise bad(node, "out_scale must not be 0 for uint16 output")
    if bool(attr["enable_pcan"]):
        correction = int((1 << (size - 1).bit_length()).bit_length()) - 1 - _FILTERBANK_BITS // 2
        gain_bits = int(attr["gain_bits"])
        if not 0 <= gain_bits < 32 or gain_bits - correction - _PCAN_SNR_BITS < 0 \
                or int(attr["smoothing_bits"]) - correction < 0:
            raise bad(node, f"gain_bits {gain_bits} out of range for this window")
    check_size(node, (channels, len(audio) // step + 1, 1 + left + right), 4)
    # the filterbank is built channel by channel and the noise filter runs frame by frame
    ctx.meter.elements(channels + len(audio) // step + 1, node.where)
    feats = _features(node, audio, rate, size, step)
    frames = len(feats)
    if out_type == np.uint16:
        # C integer division (toward zero), stored back into uint16
        q = np.trunc(feats / out_scale).astype(np.int64)
        values = _wrap(q, 16, False).astype(np.uint16)
    else:
        values = (feats.astype(_F) / _F(out_scale)).astype(_F)
    anchors = np.arange(0, frames, stride)
    offsets = np.arange(-left, right + 1)
    picks = anchors[:, None] + offsets[None, :]
    out = values[np.clip(picks, 0, max(frames - 1, 0))] if frames else \
        np.zeros((0, 1 + left + right, channels), values.dtype)
    if bool(attr["zero_padding"]) and frames:
        out = np.where(((picks < 0) | (picks >= frames))[..., None], values.dtype.type(0), out)
    return out.reshape(len(anchors), channels * (1 + left + right)).astype(values.dtype)
