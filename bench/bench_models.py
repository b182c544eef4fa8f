"""The benchmark models of bench/bench_run.py, built once with TensorFlow into bench/.cache/.

    TF_CPP_MIN_LOG_LEVEL=3 python bench/bench_models.py [NAME ...]

Each model is a Keras 3 ``model.export()`` SavedModel (weights=None, seeded, batch-norm
statistics calibrated on a random batch so activations keep a useful range) with one
input ``x``, next to ``input_b1.npy`` / ``input_b8.npy``. The ONNX column of the
benchmark uses ``model.onnx``, converted by tf2onnx when it is installed.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np

CACHE = Path(__file__).resolve().parent / ".cache" / "run"

# name -> (input shape without batch, input dtype)
SHAPES: dict[str, tuple[tuple[int, ...], str]] = {
    "resnet50": ((224, 224, 3), "float32"),
    "vgg16": ((224, 224, 3), "float32"),
    "convnext_tiny": ((224, 224, 3), "float32"),
    "bert_base": ((128,), "int32"),
    "lstm": ((50, 64), "float32"),
    "mobilenetv2_96": ((96, 96, 3), "float32"),
}


def _keras_app(name: str) -> Callable[[], object]:
    def make():
        import keras

        cls = getattr(keras.applications, name)
        return cls(weights=None, input_tensor=keras.Input(SHAPES_BY_APP[name], name="x"))
    return make


SHAPES_BY_APP = {"ResNet50": (224, 224, 3), "VGG16": (224, 224, 3), "ConvNeXtTiny": (224, 224, 3),
                 "MobileNetV2": (96, 96, 3)}


def _bert():
    """A BERT-base-shaped encoder: 12 layers, hidden 768, 12 heads, FFN 3072, GELU, sequence 128."""
    import keras
    from keras import layers

    ids = keras.Input((128,), dtype="int32", name="x")
    h = layers.Embedding(30522, 768)(ids)
    pos = layers.Embedding(128, 768)(keras.ops.arange(128)[None, :])
    h = layers.LayerNormalization(epsilon=1e-12)(h + pos)
    for _ in range(12):
        a = layers.MultiHeadAttention(num_heads=12, key_dim=64)(h, h)
        h = layers.LayerNormalization(epsilon=1e-12)(h + a)
        f = layers.Dense(3072, activation="gelu")(h)
        f = layers.Dense(768)(f)
        h = layers.LayerNormalization(epsilon=1e-12)(h + f)
    pooled = layers.Dense(768, activation="tanh")(h[:, 0])
    return keras.Model(ids, [h, pooled])


def _lstm():
    """Two stacked LSTMs (256 units) over 50 steps of 64 features, then a Dense head."""
    import keras
    from keras import layers

    x = keras.Input((50, 64), name="x")
    h = layers.LSTM(256, return_sequences=True)(x)
    h = layers.LSTM(256)(h)
    return keras.Model(x, layers.Dense(10)(h))


BUILDERS: dict[str, Callable[[], object]] = {
    "resnet50": _keras_app("ResNet50"),
    "vgg16": _keras_app("VGG16"),
    "convnext_tiny": _keras_app("ConvNeXtTiny"),
    "bert_base": _bert,
    "lstm": _lstm,
    "mobilenetv2_96": _keras_app("MobileNetV2"),
}


def inputs(name: str, batch: int) -> np.ndarray:
    """The fixed input of ``name`` at ``batch``."""
    shape, dtype = SHAPES[name]
    rs = np.random.RandomState(batch)
    if dtype == "int32":
        return rs.randint(0, 30522, (batch, *shape)).astype(np.int32)
    return rs.uniform(-1, 1, (batch, *shape)).astype(np.float32)


def _calibrate_bn(m, x) -> None:
    """Batch-norm moving statistics from batch ``x`` (random nets otherwise fade to ~0)."""
    import keras

    bns = [la for la in m._flatten_layers() if isinstance(la, keras.layers.BatchNormalization)]
    for b in bns:
        b.momentum = 0.0
    if bns:
        m(x, training=True)


def build(name: str) -> Path:
    """bench/.cache/run/<name>/saved_model (built once) and its inputs."""
    d = CACHE / name
    sm = d / "saved_model"
    if (sm / "saved_model.pb").exists():
        return sm
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import keras

    keras.utils.set_random_seed(0)
    m = BUILDERS[name]()
    x8 = inputs(name, 8)
    _calibrate_bn(m, x8)
    d.mkdir(parents=True, exist_ok=True)
    tmp = d / "saved_model.tmp"
    m.export(str(tmp), verbose=False)
    tmp.rename(sm)
    return sm


def onnx_file(name: str) -> Path | None:
    """tf2onnx's conversion of the model (None when tf2onnx is not installed or fails)."""
    out = CACHE / name / "tf2onnx.onnx"
    if out.exists():
        return out
    try:
        import tf2onnx  # noqa: F401
    except ImportError:
        return None
    p = subprocess.run([sys.executable, "-m", "tf2onnx.convert", "--saved-model", str(build(name)),
                        "--output", str(out), "--opset", "17"], capture_output=True, text=True,
                       env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    if p.returncode != 0 or not out.exists():
        sys.stderr.write(f"tf2onnx failed on {name}:\n{p.stderr[-2000:]}\n")
        return None
    return out


if __name__ == "__main__":
    for n in sys.argv[1:] or list(BUILDERS):
        print(n, build(n), onnx_file(n), flush=True)
