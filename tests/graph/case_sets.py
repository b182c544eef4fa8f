"""The kernel case sets answered by the raw_ops oracle: test_raw_ops_tf's and each op family's.

One list, read by the tests that reuse TensorFlow's recorded answers beyond the kernel tests
(the ONNX mappings, the hostile-node runs).
"""

from __future__ import annotations

from graph import (
    test_ops_array_extra_tf,
    test_ops_audio_tf,
    test_ops_conv_pool_tf,
    test_ops_counting_tf,
    test_ops_cross_tf,
    test_ops_fft_tf,
    test_ops_image_boxes_tf,
    test_ops_image_codec_tf,
    test_ops_image_color_tf,
    test_ops_image_sampling_tf,
    test_ops_image_tf,
    test_ops_indexing_tf,
    test_ops_linalg_tf,
    test_ops_nn_extra_tf,
    test_ops_quantize_tf,
    test_ops_ragged_tf,
    test_ops_segment_tf,
    test_ops_sets_tf,
    test_ops_sparse_serial_tf,
    test_ops_sparse_tf,
    test_ops_special_tf,
    test_ops_strings_tf,
)
from graph.test_raw_ops_tf import CASES as RAW_CASES

FAMILIES = (test_ops_array_extra_tf, test_ops_audio_tf, test_ops_conv_pool_tf, test_ops_counting_tf,
            test_ops_cross_tf, test_ops_fft_tf, test_ops_image_boxes_tf, test_ops_image_codec_tf,
            test_ops_image_color_tf, test_ops_image_sampling_tf, test_ops_image_tf, test_ops_indexing_tf,
            test_ops_linalg_tf, test_ops_nn_extra_tf, test_ops_quantize_tf, test_ops_ragged_tf,
            test_ops_segment_tf, test_ops_sets_tf, test_ops_sparse_serial_tf, test_ops_sparse_tf,
            test_ops_special_tf, test_ops_strings_tf)


def family_name(module) -> str:
    """``test_ops_image_tf`` -> ``image``."""
    return module.__name__.split(".")[-1][len("test_ops_"):-len("_tf")]


# name -> cases: "raw" and each family.
SETS = {"raw": list(RAW_CASES), **{family_name(m): list(m.CASES) for m in FAMILIES}}
