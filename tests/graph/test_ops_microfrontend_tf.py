"""AudioMicrofrontend against TensorFlow's own kernel (``_audio_microfrontend_op.so`` from TF's
wheel, outside ``tf.raw_ops``: see tests/_oracles/microfrontend.py): every frontend stage
(window, fixed-point FFT, filterbank, noise reduction, PCAN, log) on tones, noise, silence,
full-scale and clipped signals, at several sample rates, window sizes and channel counts,
with frame stacking, striding, padding, ``out_scale`` and both output types; outputs must be
identical. Errors where TF errors (a filterbank past the spectrum, audio that is not a vector).
"""

from __future__ import annotations

import numpy as np
import pytest
from _oracles import Oracle

from .raw_ops_harness import Cases, run_ours

CASES = Cases(seed=7095, oracle=Oracle("microfrontend", paths=(),
                                       code=[Oracle("raw_ops").code[0]]))
add = CASES.add
RS = CASES.rs


def tone(n: int, rate: int = 16000, amp: float = 3000.0) -> np.ndarray:
    t = np.arange(n) / rate
    wave = amp * (np.sin(2 * np.pi * 440 * t) + 0.5 * np.sin(2 * np.pi * 1870 * t)
                  + 0.3 * np.sin(2 * np.pi * 5200 * t))
    return np.clip(np.round(wave + RS.normal(0, amp / 20, n)), -32768, 32767).astype(np.int16)


SPEECHY = tone(16000)
NOISE = RS.randint(-32768, 32768, 8000).astype(np.int16)


def _signals() -> None:
    add("AudioMicrofrontend", "tone", audio=SPEECHY)
    add("AudioMicrofrontend", "noise", audio=NOISE)
    add("AudioMicrofrontend", "quiet", audio=tone(4000, amp=3.0))
    add("AudioMicrofrontend", "silence", audio=np.zeros(3200, np.int16))
    square = np.where(np.arange(4000) // 20 % 2 == 0, 32767, -32768).astype(np.int16)
    add("AudioMicrofrontend", "full_scale_square", audio=square)
    add("AudioMicrofrontend", "min_only", audio=np.full(800, -32768, np.int16))
    add("AudioMicrofrontend", "impulse", audio=np.eye(1, 1200, 600, dtype=np.int16)[0] * 20000)
    add("AudioMicrofrontend", "shorter_than_window", audio=SPEECHY[:399])
    add("AudioMicrofrontend", "one_window", audio=SPEECHY[:400])
    add("AudioMicrofrontend", "empty", audio=np.zeros(0, np.int16))


def _configs() -> None:
    audio = SPEECHY[:8000]
    for tag, attrs in {
        "rate8k": {"sample_rate": 8000, "upper_band_limit": 3800.0},
        "rate44k": {"sample_rate": 44100, "upper_band_limit": 16000.0, "num_channels": 40},
        "window30_20": {"window_size": 30, "window_step": 20},
        "window64": {"window_size": 64, "window_step": 16, "num_channels": 64},
        "window_small": {"window_size": 1, "window_step": 1, "num_channels": 3,
                         "lower_band_limit": 1000.0, "upper_band_limit": 7000.0},
        "channels10": {"num_channels": 10},
        "channels80": {"num_channels": 80, "lower_band_limit": 20.0},
        "band_narrow": {"lower_band_limit": 300.0, "upper_band_limit": 3400.0},
        "pcan": {"enable_pcan": True},
        "pcan_tuned": {"enable_pcan": True, "pcan_strength": 0.5, "pcan_offset": 2.0,
                       "gain_bits": 16},
        "no_log": {"enable_log": False},
        "no_log_pcan": {"enable_log": False, "enable_pcan": True},
        "scale_shift0": {"scale_shift": 0},
        "scale_shift10": {"scale_shift": 10},
        "smoothing": {"smoothing_bits": 5, "even_smoothing": 0.2, "odd_smoothing": 0.01,
                      "min_signal_remaining": 0.5},
        "smoothing_wide": {"smoothing_bits": 16},
        "float": {"out_type": {"dtype": "float32"}},
        "float_scaled": {"out_type": {"dtype": "float32"}, "out_scale": 3},
        "float_negative_scale": {"out_type": {"dtype": "float32"}, "out_scale": -2},
        "uint16_scaled": {"out_scale": 7},
        "uint16_negative_scale": {"out_scale": -3},
        "context": {"left_context": 2, "right_context": 1},
        "context_padded": {"left_context": 3, "right_context": 2, "zero_padding": True},
        "stride3": {"frame_stride": 3},
        "stride_context": {"frame_stride": 2, "left_context": 1, "right_context": 4,
                           "zero_padding": True, "out_type": {"dtype": "float32"}},
    }.items():
        add("AudioMicrofrontend", tag, attrs, audio=audio)
    add("AudioMicrofrontend", "pcan_noise", {"enable_pcan": True}, audio=NOISE)
    add("AudioMicrofrontend", "context_one_frame", {"left_context": 2, "right_context": 2},
        audio=SPEECHY[:400])
    add("AudioMicrofrontend", "context_no_frames", {"left_context": 1}, audio=SPEECHY[:100])


def _errors() -> None:
    add("AudioMicrofrontend", "upper_past_nyquist", {"upper_band_limit": 9000.0},
        audio=SPEECHY[:800])
    add("AudioMicrofrontend", "matrix", audio=SPEECHY[:800].reshape(2, 400))
    add("AudioMicrofrontend", "scalar", audio=np.int16(3))


_signals()
_configs()
_errors()

test_kernel_matches_tensorflow = CASES.test()


@pytest.mark.parametrize("attrs", [{"out_scale": 0}, {"window_step": 0}, {"frame_stride": 0},
                                   {"window_size": 0}, {"upper_band_limit": 1e30}])
def test_settings_tf_crashes_or_hangs_on_are_errors(attrs):
    """Settings on which TF's kernel divides by zero, reads out of bounds or loops for ever."""
    from savedmodel_io.errors import InvalidArgumentError

    from .raw_ops_harness import Case
    from savedmodel_io.proto import NodeDef

    node = NodeDef(name="op", op="AudioMicrofrontend", input=["in0"])
    node.attr["out_type"].type = 17  # DT_UINT16
    for k, v in attrs.items():
        if isinstance(v, float):
            node.attr[k].f = v
        else:
            node.attr[k].i = v
    case = Case("x", "AudioMicrofrontend", [("audio", SPEECHY[:1600])], {}, None, None, False)
    with pytest.raises(InvalidArgumentError, match="'op'"):
        run_ours(case, node.SerializeToString(), 1)


@pytest.mark.parametrize("attrs", [
    {"lower_band_limit": float("nan")}, {"upper_band_limit": float("inf")},
    {"lower_band_limit": 5000.0, "upper_band_limit": 100.0}, {"even_smoothing": float("nan")},
    {"odd_smoothing": 7.0}, {"pcan_strength": float("nan"), "enable_pcan": True},
    {"num_channels": 10**8}, {"left_context": 10**9}, {"smoothing_bits": 40},
    {"sample_rate": 2**31 - 1}, {"enable_pcan": True, "gain_bits": 2}])
def test_hostile_attrs_are_one_library_error(attrs):
    """Attrs that would make the C library divide by zero, shift out of range, allocate
    without bound or convert NaN: one library error naming the node."""
    from savedmodel_io.errors import SavedModelError

    from .raw_ops_harness import Case
    from savedmodel_io.proto import NodeDef

    node = NodeDef(name="op", op="AudioMicrofrontend", input=["in0"])
    node.attr["out_type"].type = 17  # DT_UINT16
    for k, v in attrs.items():
        if isinstance(v, bool):
            node.attr[k].b = v
        elif isinstance(v, float):
            node.attr[k].f = v
        else:
            node.attr[k].i = v
    case = Case("x", "AudioMicrofrontend", [("audio", SPEECHY[:1600])], {}, None, None, False)
    with pytest.raises(SavedModelError, match="'op'"):
        run_ours(case, node.SerializeToString(), 1)
