"""TensorFlow's quantized-type ops (QuantizeV2, Dequantize, QuantizedMatMul, QuantizedConv2D...) on onnxruntime.

The converters (savedmodel_io/onnx/ops/quantized.py) emit the kernels' float32 / float64 / integer
steps, so the results must be TensorFlow's bit for bit, floats included. Each recorded TensorFlow
case of a mapped op (the quantize, quantized_nn and quantized_onednn kernel cases) is exported twice:
with its ranges as graph inputs (the range arithmetic runs in ONNX) and as constants (folded
while exporting), and both must give TensorFlow's answer exactly.
"""

from __future__ import annotations

import numpy as np
import pytest

from graph import test_ops_quantize_tf, test_ops_quantized_nn_tf, test_ops_quantized_onednn_tf
from graph.raw_ops_harness import oracle_results

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

from onnx_export.test_ops_tf import check_against_tf  # noqa: E402
from savedmodel_io.onnx import ops as converters  # noqa: E402

pytestmark = pytest.mark.tf

_SHAPES = ("concat_dim", "shape", "axis", "size")
_QUANTIZED = {"Dequantize", "QuantizeV2", "Requantize", "RequantizationRange", "QuantizeDownAndShrinkRange",
              "RequantizePerChannel", "RequantizationRangePerChannel"}


def _mapped(op: str) -> bool:
    return converters.get(op) is not None and (op.startswith("Quantized") or op in _QUANTIZED)


_FAMILIES = {"quantize": test_ops_quantize_tf.CASES, "quantized_nn": test_ops_quantized_nn_tf.CASES,
             "quantized_onednn": test_ops_quantized_onednn_tf.CASES,
             "quantized_concat_v2": test_ops_quantized_onednn_tf.CONCAT}
CASES = [(family, c) for family, cases in _FAMILIES.items() for c in cases if _mapped(c.op)]
_answers: dict[str, dict] = {}


def _want(family: str, case) -> dict:
    if family not in _answers:
        cases = _FAMILIES[family]
        _answers[family] = cases.oracle() if hasattr(cases, "oracle") else oracle_results(list(cases))
    return _answers[family][case.id]


def _kinds(case) -> list[str]:
    """Each flat input's role: "shape" (must be a constant), "range" (a float min or max) or "data"."""
    out = []
    for name, v in case.inputs:
        kind = "shape" if name in _SHAPES else "range" if ("min" in name or "max" in name) else "data"
        out.extend([kind] * (len(v) if isinstance(v, list) else 1))
    return out


@pytest.mark.parametrize("ranges", ["run_time", "constant"])
@pytest.mark.parametrize("family,case", CASES, ids=[f"{f}:{c.id}" for f, c in CASES])
def test_quantized_case_matches_tensorflow_exactly(family, case, ranges):
    want = _want(family, case)
    if "error" in want or "node_def" not in want:
        pytest.skip("TensorFlow raises for this case")
    kinds = _kinds(case)
    consts = {i for i, k in enumerate(kinds) if k == "shape" or (ranges == "constant" and k == "range")}
    assert check_against_tf(case, want, consts_list=[consts], exact=True) == "exported"
