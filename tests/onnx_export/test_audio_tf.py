"""AudioSpectrogram -> Mfcc exported to ONNX, beyond the one-op kernel cases of test_ops_tf.py.

One model per configuration, exported with a sample count known only at run time, is run on
several lengths (a second of audio, an odd length, exactly one window, one sample short of a
window: no frames, and no samples) and compared with TensorFlow running the same two ops
(ModuleOracle). The graphs compute in float64 as TensorFlow's kernels do, so the results
are TensorFlow's to float32 rounding: the comparison is tighter than the usual rtol 1e-4.
Also: what is refused, and why.
"""

from __future__ import annotations

import numpy as np
import pytest
from _oracles import ModuleOracle
from _oracles.codec import decode, encode

from graph.test_runtime_core import F32, I32, const, node, placeholder
from onnx_export._cases import exported, signature

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

from savedmodel_io import dtypes  # noqa: E402
from savedmodel_io.proto import MetaGraphDef  # noqa: E402

RS = np.random.RandomState(4417)
RATE = 16000

# name -> (AudioSpectrogram attrs, Mfcc attrs, channels). "speech" is TensorFlow's
# speech_commands example (tensorflow/tensorflow tensorflow/examples/speech_commands/
# input_data.py): 30 ms windows every 10 ms at 16 kHz, squared magnitudes, 40 coefficients.
CONFIGS = {
    "speech": ({"window_size": 480, "stride": 160, "magnitude_squared": True},
               {"dct_coefficient_count": 40}, 1),
    "odd_window": ({"window_size": 255, "stride": 100, "magnitude_squared": False},
                   {"upper_frequency_limit": 7000.0, "lower_frequency_limit": 100.0,
                    "filterbank_channel_count": 20, "dct_coefficient_count": 13}, 2),
}


def lengths(window: int) -> list[int]:
    return [16000, 7001, window, window - 1, 0]


def audio(name: str) -> list[np.ndarray]:
    spec, _, channels = CONFIGS[name]
    rs = np.random.RandomState(len(name))
    return [(rs.standard_normal((n, channels)) * 0.3).astype(np.float32) for n in lengths(spec["window_size"])]


def tf_chain(request: dict) -> list[dict]:
    """TF's spectrogram and MFCCs of each clip, or its error (runs in the oracle)."""
    import tensorflow as tf

    out = []
    for blob in request["audio"]:
        try:
            s = tf.raw_ops.AudioSpectrogram(input=decode(blob), **request["spectrogram"])
            m = tf.raw_ops.Mfcc(spectrogram=s, sample_rate=request["rate"], **request["mfcc"])
            out.append({"spectrogram": encode(s.numpy()), "mfcc": encode(m.numpy())})
        except Exception as e:  # noqa: BLE001 (TF's error is the answer)
            out.append({"error": f"{type(e).__name__}: {e}"[:300]})
    return out


@pytest.fixture(scope="module")
def tf_answers() -> dict[str, list[dict]]:
    names = list(CONFIGS)
    got = ModuleOracle(__name__).answers(
        [{"function": "tf_chain", "audio": [encode(a) for a in audio(n)], "spectrogram": CONFIGS[n][0],
          "mfcc": CONFIGS[n][1], "rate": RATE} for n in names])
    return dict(zip(names, got))


def _signature(nodes: list, inputs: dict[str, tuple[int, tuple]], outputs: list[str]) -> MetaGraphDef:
    """Signature ``s``: inputs name -> (DataType, shape with None for unknown), float outputs."""
    return signature(nodes, inputs, {f"o{i}": (ref, F32, (None, None, None)) for i, ref in enumerate(outputs)})


def _chain(name: str, rate: str = "const") -> list:
    spec, mfcc, _ = CONFIGS[name]
    rate_node = const("rate", np.int32(RATE)) if rate == "const" else placeholder("rate", I32)
    return [placeholder("x"), node("spec", "AudioSpectrogram", ["x"], **spec), rate_node,
            node("mfcc", "Mfcc", ["spec", "rate"], **mfcc)]


def _problems(mg: MetaGraphDef) -> list:
    return exported(mg)[1]


@pytest.mark.tf
@pytest.mark.parametrize("name", list(CONFIGS))
def test_one_model_runs_every_length_as_tensorflow(name, tf_answers):
    channels = CONFIGS[name][2]
    mg = _signature(_chain(name), {"x": (F32, (None, channels))}, ["spec:0", "mfcc:0"])
    proto, problems = exported(mg)
    assert not problems, problems
    onnx.checker.check_model(proto, full_check=True)
    onnx.shape_inference.infer_shapes(proto, check_type=True, strict_mode=True)
    first = proto.graph.input[0].type.tensor_type.shape.dim[0]
    assert not first.HasField("dim_value"), "the sample count must stay a run-time value"
    sess = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    spec = CONFIGS[name][0]
    for x, want in zip(audio(name), tf_answers[name]):
        assert "error" not in want, (len(x), want)
        got_spec, got_mfcc = sess.run(None, {"x": x})
        for got, key in ((got_spec, "spectrogram"), (got_mfcc, "mfcc")):
            w = decode(want[key])
            assert got.dtype == w.dtype and got.shape == w.shape, (len(x), key, got.shape, w.shape)
            np.testing.assert_allclose(got, w, rtol=1e-6, atol=1e-6, err_msg=f"{name} {len(x)} {key}")
        frames = 0 if len(x) < spec["window_size"] else 1 + (len(x) - spec["window_size"]) // spec["stride"]
        assert got_spec.shape[:2] == (channels, frames)


def test_mfcc_needs_a_constant_sample_rate():
    mg = _signature(_chain("speech", rate="input"), {"x": (F32, (None, 1)), "rate": (I32, ())}, ["mfcc:0"])
    (p,) = _problems(mg)
    assert p.op == "Mfcc" and "run time" in p.reason and "sample rate" in p.reason


def test_mfcc_needs_a_known_bin_count():
    mg = _signature([placeholder("s"), const("rate", np.int32(RATE)), node("mfcc", "Mfcc", ["s", "rate"])],
                    {"s": (F32, (1, None, None))}, ["mfcc:0"])
    (p,) = _problems(mg)
    assert p.op == "Mfcc" and "number of frequency bins" in p.reason


def test_mfcc_refuses_what_tensorflow_refuses():
    mg = _signature([placeholder("s"), const("rate", np.int32(RATE)),
                     node("mfcc", "Mfcc", ["s", "rate"], dct_coefficient_count=50)],
                    {"s": (F32, (1, 5, 129))}, ["mfcc:0"])
    (p,) = _problems(mg)
    assert p.op == "Mfcc" and "Mfcc initialization failed" in p.reason


def test_spectrogram_refuses_bad_attrs_and_ranks():
    for attrs, shape, words in [({"window_size": 1, "stride": 1}, (None, 1), "window_size must be > 1"),
                                ({"window_size": 64, "stride": 0}, (None, 1), "stride must be > 0"),
                                ({"window_size": 64, "stride": 32}, (None,), "2-dimensional")]:
        mg = _signature([placeholder("x"), node("spec", "AudioSpectrogram", ["x"], **attrs)],
                        {"x": (F32, shape)}, ["spec:0"])
        (p,) = _problems(mg)
        assert p.op == "AudioSpectrogram" and words in p.reason, (attrs, p.reason)


def test_wav_codecs_stay_refused():
    mg = _signature([placeholder("x"), const("rate", np.int32(RATE)), node("wav", "EncodeWav", ["x", "rate"])],
                    {"x": (F32, (None, 1))}, [])
    mg.signature_def["s"].outputs["o0"].name = "wav:0"
    mg.signature_def["s"].outputs["o0"].dtype = dtypes.from_numpy(np.dtype(object))
    (p,) = _problems(mg)
    assert p.op == "EncodeWav" and "WAV codecs" in p.reason
