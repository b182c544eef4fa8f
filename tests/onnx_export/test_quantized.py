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


# Their fixed-point multipliers (the hybrid convolution: its zero-point corrections) are computed
# while exporting: scales and zero points must be constants.
_CONSTANT_SCALES = {"UniformRequantize", "UniformQuantizedAdd", "UniformQuantizedDot", "UniformQuantizedConvolution",
                    "UniformQuantizedConvolutionHybrid"}


def _mapped(op: str) -> bool:
    return converters.get(op) is not None and (op.startswith(("Quantized", "Uniform")) or op in _QUANTIZED)


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
    """Each flat input's role: "shape" (must be a constant), "range" (a float min or max, scales and
    zero points) or "data"."""
    out = []
    for name, v in case.inputs:
        ranged = any(w in name for w in ("min", "max", "scales", "zero_points"))
        kind = "shape" if name in _SHAPES else "range" if ranged else "data"
        out.extend([kind] * (len(v) if isinstance(v, list) else 1))
    return out


def _case_params() -> list:
    """Each TF case with its ranges fed at run time, and (with -m slow, or by default for the ops
    that need constant scales) folded as constants: the default run keeps under its time budget."""
    params = []
    for f, c in CASES:
        if c.op not in _CONSTANT_SCALES:
            params.append(pytest.param(f, c, "run_time", id=f"{f}:{c.id}-run_time"))
        marks = () if c.op in _CONSTANT_SCALES else (pytest.mark.slow,)
        params.append(pytest.param(f, c, "constant", id=f"{f}:{c.id}-constant", marks=marks))
    return params


@pytest.mark.parametrize("family,case,ranges", _case_params())
def test_quantized_case_matches_tensorflow_exactly(family, case, ranges):
    want = _want(family, case)
    if "error" in want or "node_def" not in want:
        pytest.skip("TensorFlow raises for this case")
    kinds = _kinds(case)
    consts = {i for i, k in enumerate(kinds) if k == "shape" or (ranges == "constant" and k == "range")}
    assert check_against_tf(case, want, consts_list=[consts], exact=True) == "exported"


# -- random and edge ranges against the numpy runtime's kernels ------------------------------------------
#
# The runtime's kernels match TensorFlow bit for bit (tests/graph/test_ops_quantize*_tf.py); here each
# op is exported on ranges TF's recorded cases do not reach (min == max, min > 0, max < 0, huge and
# tiny ranges, every type, mode, rounding and narrow_range), the ranges fed at run time and given as
# constants, and onnxruntime must give the runtime's outputs exactly.

from graph.raw_ops_harness import Case, quantized, run_ours  # noqa: E402
from onnx_export.test_ops_tf import _export, _feeds  # noqa: E402
from savedmodel_io import dtypes  # noqa: E402
from savedmodel_io.proto import DataType, NodeDef  # noqa: E402

F = np.float32
RS = np.random.RandomState(7301)
_QT = {"qint8": DataType.DT_QINT8, "quint8": DataType.DT_QUINT8, "qint16": DataType.DT_QINT16,
       "quint16": DataType.DT_QUINT16, "qint32": DataType.DT_QINT32}
_LIMITS = {"qint8": (-128, 127), "quint8": (0, 255), "qint16": (-32768, 32767), "quint16": (0, 65535),
           "qint32": (-(1 << 31), (1 << 31) - 1)}
RANGES = {"balanced": (-1.0, 1.0), "unbalanced": (-0.3, 6.2), "equal": (0.75, 0.75), "zero": (0.0, 0.0),
          "positive": (0.5, 2.0), "negative": (-3.0, -1.0), "huge": (-3e37, 1e38), "tiny": (-1e-30, 3e-30),
          "odd": (-0.1234567, 0.9876543)}


def _node(op: str, n_inputs: int, **attrs) -> bytes:
    nd = NodeDef(name="op", op=op, input=[f"in{i}" for i in range(n_inputs)])
    for k, v in attrs.items():
        a = nd.attr[k]
        if isinstance(v, bool):
            a.b = v
        elif k in ("T", "Tinput", "out_type", "T1", "T2", "Toutput", "Tfilter", "dtype", "Tactivation"):
            a.type = v
        elif isinstance(v, int):
            a.i = v
        elif isinstance(v, float):
            a.f = v
        elif isinstance(v, str):
            a.s = v.encode()
        elif isinstance(v, list):
            a.list.i.extend(v)
    return nd.SerializeToString()


def _qvalues(name: str, *shape: int) -> np.ndarray:
    lo, hi = _LIMITS[name]
    v = RS.randint(lo, hi + 1, size=shape, dtype=np.int64)
    v.reshape(-1)[:2] = [lo, hi]  # the extremes
    return quantized(name, v)


def _floats(lo: float, hi: float, n: int = 64) -> np.ndarray:
    """Values across (and past) [lo, hi], with halves of the scale steps, zero and the ends."""
    span = max(abs(lo), abs(hi), 1e-3)
    x = (RS.uniform(-1.5, 1.5, n) * span).astype(F)
    steps = np.asarray([k / 2.0 for k in range(-9, 10)], np.float64) * (span / 127.0)
    extra = np.concatenate([steps, [0.0, lo, hi, -0.0]]).astype(F)
    return np.concatenate([x, extra])


def _check_runtime(case: Case, node_def: bytes, n_out: int, range_idx: list[int], shapes: set[int] = frozenset()):
    """Exports ``case`` with its ranges fed at run time and as constants; both must equal the runtime."""
    want = run_ours(case, node_def, n_out)
    for consts in (set(shapes), set(shapes) | set(range_idx)):
        proto, problems = _export(case, node_def, want, [consts])
        assert proto is not None, problems
        sess = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
        got = dict(zip([o.name for o in sess.get_outputs()],
                       sess.run(None, _feeds(case, [i.name for i in sess.get_inputs()]))))
        for i, w in enumerate(want):
            g = np.asarray(got[f"o{i}"])
            w = np.asarray(w)
            assert g.dtype == w.dtype and g.shape == w.shape, (case.id, i, g.dtype, g.shape, w.dtype, w.shape)
            if w.dtype.kind == "f":  # bit for bit, NaN included
                np.testing.assert_array_equal(g.view(f"u{g.itemsize}"), w.view(f"u{w.itemsize}"),
                                              err_msg=f"{case.id} output {i} (consts {sorted(consts)})")
            else:
                np.testing.assert_array_equal(g, w, err_msg=f"{case.id} output {i} (consts {sorted(consts)})")


# Every range for the 8-bit types; the wider ones on the ranges that stress their scales.
_RANGES_OF = {t: list(RANGES) if t in ("qint8", "quint8") else ["equal", "positive", "huge", "tiny"] for t in _QT}
_QV2 = [(t, mode, rnd, narrow, r) for t in _QT for mode in ("MIN_COMBINED", "MIN_FIRST", "SCALED")
        for rnd in ("HALF_AWAY_FROM_ZERO", "HALF_TO_EVEN") for narrow in (False, True) for r in _RANGES_OF[t]
        if not (rnd == "HALF_TO_EVEN" and mode != "SCALED") and not (narrow and mode != "SCALED")
        and not (r in ("huge",) and t == "qint32" and mode == "MIN_COMBINED")]


@pytest.mark.parametrize("t,mode,rnd,narrow,r", _QV2, ids=["-".join(map(str, p)) for p in _QV2])
def test_quantize_v2_edges(t, mode, rnd, narrow, r):
    lo, hi = RANGES[r]
    x = _floats(lo, hi)
    case = Case(f"QuantizeV2-{t}-{mode}-{r}", "QuantizeV2", [("input", x), ("min_range", F(lo)), ("max_range", F(hi))])
    nd = _node("QuantizeV2", 3, T=_QT[t], mode=mode, round_mode=rnd, narrow_range=narrow, axis=-1,
               ensure_minimum_range=0.01)
    _check_runtime(case, nd, 3, [1, 2])


@pytest.mark.parametrize("mode", ["MIN_COMBINED", "SCALED"])
@pytest.mark.parametrize("t", ["qint8", "quint8"])
def test_quantize_v2_per_axis(t, mode):
    ranges = [RANGES[k] for k in ("balanced", "positive", "negative", "equal")]
    x = np.stack([_floats(lo, hi, 12)[:30] for lo, hi in ranges], axis=1).reshape(3, 10, 4)
    lo, hi = F([r[0] for r in ranges]), F([r[1] for r in ranges])
    case = Case(f"QuantizeV2-axis-{t}-{mode}", "QuantizeV2", [("input", x), ("min_range", lo), ("max_range", hi)])
    nd = _node("QuantizeV2", 3, T=_QT[t], mode=mode, round_mode="HALF_AWAY_FROM_ZERO", narrow_range=False,
               axis=2, ensure_minimum_range=0.01)
    _check_runtime(case, nd, 3, [1, 2])


_DQ = [(t, mode, narrow, r) for t in _QT for mode in ("MIN_COMBINED", "MIN_FIRST", "SCALED")
       for narrow in (False, True) for r in _RANGES_OF[t] if not (narrow and mode != "SCALED")]


@pytest.mark.parametrize("t,mode,narrow,r", _DQ, ids=["-".join(map(str, p)) for p in _DQ])
def test_dequantize_edges(t, mode, narrow, r):
    lo, hi = RANGES[r]
    case = Case(f"Dequantize-{t}-{mode}-{r}", "Dequantize", [("input", _qvalues(t, 50)), ("min_range", F(lo)),
                                                              ("max_range", F(hi))])
    nd = _node("Dequantize", 3, T=_QT[t], mode=mode, narrow_range=narrow, axis=-1, dtype=DataType.DT_FLOAT)
    _check_runtime(case, nd, 1, [1, 2])


_RQ = [(tin, tout, r_in, r_out) for tin, tout in (("qint32", "quint8"), ("qint32", "qint8"), ("qint32", "qint16"),
                                                   ("quint8", "qint8"), ("qint16", "quint8"))
       for r_in in ("balanced", "unbalanced", "equal", "huge", "odd") for r_out in ("zero", "odd", "neg0")
       # qint32 -> quint8 on a range past float32 in fixed point: TF converts inf to an integer
       if not (r_in == "huge" and (tin, tout) == ("qint32", "quint8"))]
_OUT = {"balanced": (-1.0, 1.0), "zero": (0.0, 0.0), "odd": (-0.1234567, 0.9876543), "neg0": (-2.5, 0.0)}


@pytest.mark.parametrize("tin,tout,r_in,r_out", _RQ, ids=["-".join(p) for p in _RQ])
def test_requantize_edges(tin, tout, r_in, r_out):
    lo, hi = RANGES[r_in]
    olo, ohi = _OUT[r_out]
    x = _qvalues(tin, 40)
    case = Case(f"Requantize-{tin}-{tout}-{r_in}-{r_out}", "Requantize",
                [("input", x), ("input_min", F(lo)), ("input_max", F(hi)), ("requested_output_min", F(olo)),
                 ("requested_output_max", F(ohi))])
    nd = _node("Requantize", 5, Tinput=_QT[tin], out_type=_QT[tout])
    _check_runtime(case, nd, 3, [1, 2, 3, 4])
    for op in ("QuantizeDownAndShrinkRange", "RequantizationRange"):
        case = Case(f"{op}-{tin}-{tout}-{r_in}", op, case.inputs[:3])
        attrs = {"Tinput": _QT[tin]} if op == "RequantizationRange" else {"Tinput": _QT[tin], "out_type": _QT[tout]}
        _check_runtime(case, _node(op, 3, **attrs), 3 if op != "RequantizationRange" else 2, [1, 2])


_MM = [(ra, rb) for ra in ("balanced", "positive", "negative", "equal", "unbalanced")
       for rb in ("balanced", "positive", "odd")]


@pytest.mark.parametrize("ra,rb", _MM, ids=["-".join(p) for p in _MM])
def test_quantized_matmul_and_conv_zero_points(ra, rb):
    """Zero points inside the types (MatMulInteger/ConvInteger's own), outside them (min > 0,
    max < 0: the sums of ones corrections) and min == max."""
    (la, ha), (lb, hb) = RANGES[ra], RANGES[rb]
    case = Case(f"QuantizedMatMul-{ra}-{rb}", "QuantizedMatMul",
                [("a", _qvalues("quint8", 5, 9)), ("b", _qvalues("quint8", 9, 4)), ("min_a", F(la)), ("max_a", F(ha)),
                 ("min_b", F(lb)), ("max_b", F(hb))])
    nd = _node("QuantizedMatMul", 6, T1=_QT["quint8"], T2=_QT["quint8"], Toutput=_QT["qint32"], transpose_a=False,
               transpose_b=False, Tactivation=_QT["quint8"])
    _check_runtime(case, nd, 3, [2, 3, 4, 5])
    case = Case(f"QuantizedConv2D-{ra}-{rb}", "QuantizedConv2D",
                [("input", _qvalues("quint8", 2, 6, 5, 3)), ("filter", _qvalues("quint8", 3, 2, 3, 4)),
                 ("min_input", F(la)), ("max_input", F(ha)), ("min_filter", F(lb)), ("max_filter", F(hb))])
    for stride, pad in ((1, "SAME"), (2, "VALID"), (2, "SAME")):
        nd = _node("QuantizedConv2D", 6, Tinput=_QT["quint8"], Tfilter=_QT["quint8"], out_type=_QT["qint32"],
                   strides=[1, stride, stride, 1], padding=pad, dilations=[1, 1, 1, 1])
        _check_runtime(case, nd, 3, [2, 3, 4, 5])


@pytest.mark.parametrize("r", ["balanced", "positive", "negative", "huge", "odd"])
def test_quantized_layers_edges(r):
    lo, hi = RANGES[r]
    x = _qvalues("quint8", 2, 5, 4, 3)
    for op in ("QuantizedRelu", "QuantizedRelu6"):
        case = Case(f"{op}-{r}", op, [("features", x), ("min_features", F(lo)), ("max_features", F(hi))])
        _check_runtime(case, _node(op, 3, Tinput=_QT["quint8"], out_type=_QT["quint8"]), 3, [1, 2])
    case = Case(f"QuantizedBiasAdd-{r}", "QuantizedBiasAdd",
                [("input", x), ("bias", _qvalues("quint8", 3)), ("min_input", F(lo)), ("max_input", F(hi)),
                 ("min_bias", F(-0.5)), ("max_bias", F(0.25))])
    _check_runtime(case, _node("QuantizedBiasAdd", 6, T1=_QT["quint8"], T2=_QT["quint8"], out_type=_QT["qint32"]),
                   3, [2, 3, 4, 5])
    case = Case(f"QuantizedConcat-{r}", "QuantizedConcat",
                [("concat_dim", np.int32(3)), ("values", [x, x[..., :2]]), ("input_mins", [F(lo), F(-1.0)]),
                 ("input_maxes", [F(hi), F(1.0)])])
    _check_runtime(case, _node("QuantizedConcat", 7, N=2, T=_QT["quint8"]), 3, [3, 4, 5, 6], shapes={0})


@pytest.mark.parametrize("clip", [6.0, 1e9])
@pytest.mark.parametrize("tout", ["qint8", "quint8"])
def test_per_channel_requantization_edges(tout, clip):
    x = _qvalues("qint32", 2, 3, 4, 4)
    x.reshape(-1)[5] = -(2 ** 31)  # std::abs keeps INT32_MIN negative
    lo, hi = F([-1.0, -0.0, -3e4, -2.5]), F([1.0, 0.5, 3e4, 0.0])
    case = Case("RequantizationRangePerChannel", "RequantizationRangePerChannel",
                [("input", x), ("input_min", lo), ("input_max", hi)])
    _check_runtime(case, _node("RequantizationRangePerChannel", 3, T=_QT["qint32"], clip_value_max=clip), 2, [1, 2])
    pos = quantized("qint32", np.abs(np.asarray(x, np.int64)) // 2)
    case = Case("RequantizationRangePerChannel-nonneg", "RequantizationRangePerChannel",
                [("input", pos), ("input_min", lo), ("input_max", hi)])
    _check_runtime(case, _node("RequantizationRangePerChannel", 3, T=_QT["qint32"], clip_value_max=clip), 2, [1, 2])
    case = Case("RequantizePerChannel", "RequantizePerChannel",
                [("input", x), ("input_min", lo), ("input_max", hi), ("requested_output_min", F(-clip / 3)),
                 ("requested_output_max", F(clip))])
    _check_runtime(case, _node("RequantizePerChannel", 5, T=_QT["qint32"], out_type=_QT[tout]), 3, [1, 2, 3, 4])


@pytest.mark.parametrize("scale_after", [False, True])
def test_quantized_batch_norm_edges(scale_after):
    x = _qvalues("quint8", 2, 3, 2, 4)
    ranges = [(-1.0, 2.0), (-0.5, 0.5), (0.1, 2.0), (-1.0, 1.0), (0.5, 1.5)]
    inputs = [("t", x)]
    for k, what in enumerate(("t", "m", "v", "beta", "gamma")):
        if k:
            inputs.append((what, _qvalues("quint8", 4)))
        inputs += [(f"{what}_min", F(ranges[k][0])), (f"{what}_max", F(ranges[k][1]))]
    case = Case("QuantizedBatchNorm", "QuantizedBatchNormWithGlobalNormalization", inputs)
    nd = _node("QuantizedBatchNormWithGlobalNormalization", 15, Tinput=_QT["quint8"], out_type=_QT["qint32"],
               variance_epsilon=0.001, scale_after_normalization=scale_after)
    _check_runtime(case, nd, 3, [1, 2, 4, 5, 7, 8, 10, 11, 13, 14])


# -- hostile attrs and inputs (tests/graph/hostile_nodes.py), as test_hostile_export does for the
# families of test_ops_tf: the reference and oneDNN kernels' cases are not among those.

@pytest.mark.parametrize("family", ["quantized_nn", "quantized_onednn", "quantized_concat_v2"])
def test_hostile_quantized_nodes_are_refused_or_exported(family):
    from graph.hostile_nodes import RUNS, failures, mutants

    cases = [c for c in _FAMILIES[family] if _mapped(c.op)]
    answers = {c.id: _want(family, c) for c in cases}
    for seed, per_case in RUNS[:1]:
        bad = failures(lambda m: _export(m, m.node_def, m.outs), mutants(cases, answers, seed, per_case))
        assert not bad, "\n".join(bad)
