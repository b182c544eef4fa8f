"""Audio: AudioSpectrogram and Mfcc as framing, constant float64 matrices and element-wise ops;
the WAV codecs and TFLite Micro's speech frontend have no ONNX form.

Semantics are the numpy kernels' (graph/ops/audio.py, which shares its window, FFT length and
Mfcc matrices with this module; tensorflow/tensorflow tensorflow/core/kernels/spectrogram.cc,
spectrogram_op.cc, mfcc.cc, mfcc_mel_filterbank.cc, mfcc_dct.cc). TensorFlow computes both in
double and rounds the results to float: so do these graphs, which makes them agree with
TensorFlow to float32 rounding.
"""

from __future__ import annotations

import math

import numpy as np
from onnx.numpy_helper import from_array as onnx_tensor

from savedmodel_io.graph.ops._util import MAX_RESULT_BYTES
from savedmodel_io.graph.ops.audio import fft_length, hann, mfcc_attrs, mfcc_matrices, mfcc_problem
from savedmodel_io.onnx._graph import ExportError, Graph, Val
from savedmodel_io.onnx.ops._registry import converter, inexpressible
from savedmodel_io.onnx.ops._util import cast, dim_of, need_rank, scalar, shape_of, split, squeeze, unsqueeze

inexpressible("WAV codecs: ONNX has no audio decoder or encoder", "DecodeWav", "EncodeWav")
inexpressible("TFLite Micro's fixed-point speech frontend (16-bit FFT, stateful noise reduction across frames, "
              "table-driven PCAN gain and log): no ONNX operator", "AudioMicrofrontend")

F64 = np.dtype(np.float64)


def _dft_basis(window: int) -> np.ndarray:
    """[window, 2 * bins] float64: the Hann window times cos | -sin of the real DFT of the zero-padded frame.

    Zero padding to the FFT length adds nothing to the sums, so only the frame's rows are kept.
    The phase n * k is reduced modulo the FFT length in integers before scaling, so every angle
    is exact to double rounding (as the FFT's twiddles are).
    """
    n_fft = fft_length(window)
    phase = (np.arange(window)[:, None] * np.arange(n_fft // 2 + 1)[None, :]) % n_fft
    angle = (2 * math.pi / n_fft) * phase
    w = hann(window)[:, None]
    return np.concatenate([w * np.cos(angle), -w * np.sin(angle)], axis=1)


def _frame_count(g: Graph, x: Val, window: int, stride: int) -> tuple[Val, int | None]:
    """(frames as an int64 scalar, the count when known): 1 + (samples - window) // stride, 0 when
    samples < window (spectrogram.cc), as (max(samples - window + stride, 0)) / stride, whose
    dividend is never negative so ONNX's truncating Div floors."""
    samples = x.shape[0] if x.shape is not None else None
    if isinstance(samples, int):
        frames = 0 if samples < window else 1 + (samples - window) // stride
        return scalar(g, frames, np.int64), frames
    n = squeeze(g, dim_of(g, x, 0), [0])
    lead = g.op1("Max", g.op1("Add", n, scalar(g, stride - window, np.int64)), scalar(g, 0, np.int64))
    return g.op1("Div", lead, scalar(g, stride, np.int64)), None


@converter("AudioSpectrogram", onnx="Range, Gather (framing), MatMul (float64 windowed DFT), Mul, Add, Sqrt")
def audio_spectrogram(cx, node, ins):
    """[samples, channels] -> [channels, frames, bins]: frames gathered by index, one MatMul with
    the windowed DFT basis in float64, squared magnitudes rounded to float32 (sqrt'ed in float32
    unless magnitude_squared), as spectrogram_op.cc does."""
    g = cx.g
    window, stride = int(node.attr["window_size"]), int(node.attr["stride"])
    if window <= 1:
        raise ExportError(f"window_size must be > 1, got {window}")
    if stride <= 0:
        raise ExportError(f"stride must be > 0, got {stride}")
    x = ins[0]
    rank = need_rank(x, "audio")
    if rank != 2:
        raise ExportError(f"the audio must be 2-dimensional [samples, channels], got rank {rank}")
    bins = fft_length(window) // 2 + 1
    if window * 2 * bins * 8 > MAX_RESULT_BYTES:
        raise ExportError(f"window_size {window} needs a DFT matrix over {MAX_RESULT_BYTES} bytes")
    frames, known = _frame_count(g, x, window, stride)
    starts = g.op1("Mul", g.op1("Range", scalar(g, 0, np.int64), frames, scalar(g, 1, np.int64)),
                   scalar(g, stride, np.int64))
    index = g.op1("Add", unsqueeze(g, starts, [1]), g.const(np.arange(window, dtype=np.int64)[None, :]))
    samples = g.op1("Transpose", cast(g, x, F64), perm=[1, 0])  # [channels, samples]
    framed = g.op1("Gather", samples, index, axis=1)  # [channels, frames, window]
    spectrum = g.op1("MatMul", framed, g.const(_dft_basis(window)))  # [channels, frames, re | im]
    re, im = split(g, g.op1("Mul", spectrum, spectrum), 2, sizes=[bins, bins])
    power = cast(g, g.op1("Add", re, im), np.float32)
    out = power if node.attr["magnitude_squared"] else g.op1("Sqrt", power)
    channels = x.shape[1] if x.shape is not None and isinstance(x.shape[1], int) else None
    g.refine(out, (channels, known, bins))
    return out


@converter("Mfcc", onnx="Sqrt, MatMul (float64 mel filterbank and DCT), Less, Where, Log")
def mfcc(cx, node, ins):
    """[channels, frames, bins] squared magnitudes -> [channels, frames, coefficients]: sqrt, the
    mel filterbank, log floored at 1e-12 and the DCT in float64 (mfcc.cc), rounded to float32.

    The filterbank depends on the sample rate and the number of bins: both must be known at
    export time."""
    g = cx.g
    spec, rate = ins
    rank = need_rank(spec, "spectrogram")
    if rank != 3:
        raise ExportError(f"the spectrogram must be 3-dimensional [channels, frames, bins], got rank {rank}")
    if not rate.is_const:
        raise ExportError("the sample rate must be a constant (it is computed at run time)")
    rate_arr = np.asarray(rate.const)
    if rate_arr.ndim:
        raise ExportError(f"the sample rate must be a scalar, got shape {list(rate_arr.shape)}")
    bins = spec.shape[2]
    if not isinstance(bins, int):
        raise ExportError("the spectrogram's number of frequency bins must be known before running "
                          "(the mel filterbank is built for it)")
    channels, count, lower, upper = mfcc_attrs(node)
    problem = mfcc_problem(bins, int(rate_arr), channels, count, lower, upper)
    if problem is not None:
        raise ExportError(problem)
    if max(bins, count) * channels * 8 > MAX_RESULT_BYTES:
        raise ExportError(f"filterbank_channel_count {channels} needs matrices over {MAX_RESULT_BYTES} bytes")
    weights, dct = mfcc_matrices(bins, int(rate_arr), channels, count, lower, upper)
    if weights is None:  # the spectrogram stops below upper_frequency_limit: TF outputs zeros
        lead = g.op1("Slice", shape_of(g, spec), g.const(np.asarray([0], np.int64)),
                     g.const(np.asarray([2], np.int64)))
        size = g.op1("Concat", lead, g.const(np.asarray([count], np.int64)), axis=0)
        return g.op1("ConstantOfShape", size, value=onnx_tensor(np.zeros(1, np.float32)))
    root = g.op1("Sqrt", cast(g, spec, F64))
    mel = g.op1("MatMul", root, g.const(weights))
    floor = scalar(g, 1e-12, F64)
    logs = g.op1("Log", g.op1("Where", g.op1("Less", mel, floor), floor, mel))  # NaN stays NaN, as in TF
    return cast(g, g.op1("MatMul", logs, g.const(dct)), np.float32)
