"""Image models (tests/fixtures/models_image.py) against TensorFlow: tf.image's public API,
the codecs on fed bytes, convolution/pooling variants and every Keras 3 image preprocessing
layer exported for inference. Floats within rtol 1e-4 / atol 1e-5, everything else exact.
"""

from __future__ import annotations

import numpy as np
import pytest

import savedmodel_io
from savedmodel_io.graph import ops

from .reference_cases import assert_same, load_cases

pytestmark = pytest.mark.tf

SIGNATURES = {
    "image_tf": ["resize", "crops", "colour", "boxes", "transform"],
    "image_codecs": ["decode", "decode_jpeg", "encode"],
    "image_nn": ["run"],
    "image_keras_layers": ["serving_default"],
    "image_keras_equalization": ["run"],
    "image_keras_perspective": ["serving_default"],
}
# Kernels of other families a fixture needs (skipped until the runtime has them).
NEEDS = {"image_keras_perspective": ["MatrixSolve"]}
# Outputs that are encoded bytes: compared by what TensorFlow's own decoder gives back
# (both are checked byte for byte against TF in test_ops_image_codec_tf.py).
ENCODED = {"png", "jpeg"}
# DecodeAndCropJpeg: libjpeg-turbo decodes only the crop's columns, so with chroma subsampling
# and fancy upsampling the crop's edge columns differ by a few levels (docs/run.md).
TOLERANCE = {"cropped": 6}


@pytest.mark.parametrize("name,sig", [(n, s) for n, sigs in SIGNATURES.items() for s in sigs])
def test_outputs_match_tensorflow(name, sig, fixture_model):
    if name == "image_codecs":
        pytest.importorskip("PIL")
    missing = [op for op in NEEDS.get(name, []) if op not in ops.supported_ops()]
    if missing:
        pytest.skip(f"no kernel yet for {missing}")
    path = fixture_model(name)
    cases = load_cases(path)[sig]
    fn = savedmodel_io.load(path).signatures[sig]
    for i in sorted(cases):
        inputs, want = cases[i]
        got = fn(**inputs)
        assert sorted(got) == sorted(want), (sig, i)
        for k in want:
            if k in ENCODED:
                assert np.asarray(got[k]).item() == want[k].item(), (sig, i, k)
            elif k in TOLERANCE:
                diff = np.abs(np.asarray(got[k]).astype(int) - want[k].astype(int))
                assert got[k].shape == want[k].shape and diff.max() <= TOLERANCE[k], (sig, k)
            else:
                assert_same(got[k], want[k], f"{name} {sig} case {i} {k}")
