"""Each ONNX mapping against ``tf.raw_ops``: the kernel test cases, exported and run on onnxruntime.

The cases and TensorFlow's cached answers are the runtime's differential tests
(tests/graph/test_raw_ops_tf.py, and of each op family's module tests/graph/test_ops_*_tf.py,
whose cases are taken for the ops that have a mapping). Here each case becomes a one-op signature whose
inputs are graph inputs of the case's exact shapes; an input the mapping needs as a
constant (axes, shapes, paddings: small integer vectors) is made a Const on a second
try. A case either exports, passes ``onnx.checker`` and gives TensorFlow's outputs on
onnxruntime (floats within rtol 1e-4 / atol 1e-5, the rest exact), or is refused:
because ONNX cannot express the op (``NOT_EXPRESSIBLE``) or for a reason listed in
``LIMITS``. Cases where TensorFlow raises are not exported.
"""

from __future__ import annotations

import base64

import numpy as np
import pytest

from graph.raw_ops_harness import _const, oracle_results
from _oracles.codec import decode
from graph import test_ops_strings_tf
from graph.case_sets import SETS
from graph.test_ops_ragged_tf import NGRAMS
from onnx_export._cases import Tags, ort_value

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

from savedmodel_io import dtypes, tensors  # noqa: E402
from savedmodel_io.graph import runtime  # noqa: E402
from savedmodel_io.onnx import _model, ops as converters  # noqa: E402
from savedmodel_io.onnx._convert import Exporter  # noqa: E402
from savedmodel_io.proto import MetaGraphDef, NodeDef  # noqa: E402

pytestmark = pytest.mark.tf

# The families' case sets, and StringNGrams' (its own set in the ragged module).
ALL_SETS = {**SETS, "ngrams": list(NGRAMS)}
# (case set, case): ids are unique within a set only. Only cases of ops with a mapping.
_SETS = {name: [c for c in cases if converters.get(c.op) is not None] if name != "raw" else cases
         for name, cases in ALL_SETS.items()}
CASES = [(name, c) for name, cases in _SETS.items() for c in cases]

# Cases refused for a reason other than an op ONNX cannot express: case id -> words of the reason.
LIMITS: dict[str, str] = {
    "Cumprod-int_axis0": "Cumprod of integers",
    "Einsum-...ij,...jk->...ik": "Ellipsis",  # ONNX Einsum does not broadcast ellipses of unequal rank
    "MaxPool-int32": "pools floats only",
    "Conv-int32": "convolves floats only",
    "NonMaxSuppressionV5-half_soft": "soft-NMS of float16 boxes",
    "FusedBatchNormV3-train": "training mode",
    "ResizeNearestNeighbor-dtype-float64": "Resize has no",
    "ResizeNearestNeighbor-dtype-int64": "Resize has no",
    # Random noise where a glimpse leaves the image: ONNX's generators cannot reproduce TensorFlow's.
    **{f"{op}-{noise}": "random fill" for op in ("ExtractGlimpse", "ExtractGlimpseV2")
       for noise in ("uniform", "gaussian")},
    **{f"StringSplit-{c}": "empty delimiter" for c in ("delim''_skipTrue", "delim''_skipFalse", "utf8_bytes")},
    **{f"RaggedTensorToTensor-{c}": "one ragged dimension" for c in (
        "float16", "bfloat16", "float32", "float64", "int8", "int32", "int64", "uint8", "bool", "complex64", "shape_cut", "shape_partial",
        "shape_grow", "shape_exact", "shape_zero", "rowids_rank2", "splits32")},
    **{f"AsString-{t}": "AsString" for t in ("float", "precision", "scientific", "shortest", "width_fill",
                                             "width_space", "fill'-'", "fill'+'", "fill' '", "fill'#'",
                                             "float64")},
    # Regex replacement maps for literal strings and single character classes only (split and join).
    "StaticRegexReplace-basic": "only literal strings and single character classes map",
    "RegexReplace-empty_match_rewrite": "only literal strings and single character classes map",
    "RegexReplace-groups": "nested or several groups",
    "RegexReplace-first": "replacing only the first match of a character class",
    # ICU's full Unicode case mapping: StringNormalizer follows the C library's locale.
    **{f"{op}-{c}": "encoding 'utf-8'" for op in ("StringLower", "StringUpper") for c in ("utf8", "utf8_malformed")},
    # Hash buckets of strings fed in: their bytes have no ONNX form (integers' decimal text maps).
    **{c: "hashing strings needs their bytes" for c in (
        "StringToHashBucketFast-basic", "StringToHashBucketFast-long_inputs", "StringToHashBucketStrong-keys",
        "StringToHashBucketStrong-big_key")},
    # AsString of floats (printf formats) or with a width (padding needs a string length): no ONNX form.
    **{c.id: "AsString" for c in test_ops_strings_tf.CASES if c.op == "AsString" and (
        int(c.attrs.get("width", -1)) > 0 or np.asarray(c.flat_inputs()[0]).dtype.kind in "fc"
        or np.asarray(c.flat_inputs()[0]).dtype.name == "bfloat16")},
}

# Edge inputs on which onnxruntime's kernels differ from TensorFlow's (documented in docs/onnx.md).
DIFFERS = {
    "TruncateDiv-int64_min": "INT64_MIN / -1 crashes onnxruntime (SIGFPE)",
    "StringToNumber-float64": "onnxruntime's Cast refuses subnormal numbers ('1e-320')",
    "OneHot-depth0": "onnxruntime's OneHot refuses depth 0",
    "Mean-empty_tensor": "onnxruntime's ReduceMean of nothing is 0, TensorFlow's NaN",
    "Max-nan": "onnxruntime's ReduceMax skips NaN, TensorFlow's propagates it",
    "Conv2D-kernel_too_big": "onnxruntime refuses a kernel larger than the input (TensorFlow: empty output)",
    "Erf-float64": "onnxruntime's Erf has a float32 kernel only: float64 is computed in float32",
    "Erf-huge": "onnxruntime's Erf has a float32 kernel only: float64 is computed in float32",
    "InTopKV2-no_classes": "onnxruntime's GatherElements refuses an axis of size 0",
    **{f"StringToNumber-{t}_{i}": "onnxruntime's Cast refuses numbers out of range ('1e400', '1e-400')"
       for t in ("float32", "float64") for i in (49, 50)},
    **{f"{op}-{case}": "onnxruntime's Unique merges NaNs, TensorFlow keeps each apart"
       for op, case in [("Unique", "nans"), ("Unique", "all_nan"), ("UniqueWithCounts", "nans"),
                        ("UniqueWithCounts", "all_nan"), *((v2, c) for v2 in ("UniqueV2", "UniqueWithCountsV2")
                                                           for c in ("axis0", "neg2", "none_rank1"))]},
}


def _real_of(dt: np.dtype) -> np.dtype:
    return np.dtype(np.float32 if dt == np.complex64 else np.float64)


def _graph(case, node_def: bytes, n_out: int, consts: set[int], outs: list[np.ndarray]) -> MetaGraphDef:
    """One op whose inputs are placeholders, except the indices in ``consts``. A complex input is
    fed as its real and imaginary parts joined by a Complex node, and a complex output is given
    as its Real and Imag (ONNX graph inputs and outputs are real)."""
    op = NodeDef.FromString(node_def)
    for k in [k for k in op.attr if k.startswith("_")]:
        del op.attr[k]
    mg = MetaGraphDef()
    sd = mg.signature_def["s"]

    def placeholder(name: str, a: np.ndarray) -> None:
        n = mg.graph_def.node.add(name=name, op="Placeholder")
        n.attr["dtype"].type = dtypes.from_numpy(a.dtype)
        info = sd.inputs[name]
        info.name = f"{name}:0"
        info.dtype = n.attr["dtype"].type
        info.tensor_shape.CopyFrom(tensors.shape_to_proto(a.shape))

    for i, a in enumerate(case.flat_inputs()):
        if i in consts:
            mg.graph_def.node.append(_const(f"in{i}", a))
        elif a.dtype.kind == "c":
            part = np.real(a).astype(_real_of(a.dtype))
            placeholder(f"in{i}_re", part)
            placeholder(f"in{i}_im", part)
            c = mg.graph_def.node.add(name=f"in{i}", op="Complex", input=[f"in{i}_re", f"in{i}_im"])
            c.attr["T"].type = dtypes.from_numpy(part.dtype)
            c.attr["Tout"].type = dtypes.from_numpy(a.dtype)
        else:
            placeholder(f"in{i}", a)
    mg.graph_def.node.append(op)
    for i in range(n_out) if case.only is None else case.only:
        o = outs[i]
        if o.dtype.kind != "c":
            sd.outputs[f"o{i}"].name = f"op:{i}"
            _typed(sd.outputs[f"o{i}"], o)
            continue
        part = np.real(o).astype(_real_of(o.dtype))
        for kind in ("Real", "Imag"):
            key = f"o{i}_{kind[:2].lower()}"
            n = mg.graph_def.node.add(name=key, op=kind, input=[f"op:{i}"])
            n.attr["T"].type = dtypes.from_numpy(o.dtype)
            n.attr["Tout"].type = dtypes.from_numpy(part.dtype)
            sd.outputs[key].name = f"{key}:0"
            _typed(sd.outputs[key], part)
    return mg


def _typed(info, a: np.ndarray) -> None:
    info.dtype = dtypes.from_numpy(a.dtype)
    info.tensor_shape.CopyFrom(tensors.shape_to_proto(a.shape))


def _feeds(case, names: list[str]) -> dict:
    """onnxruntime feeds of the graph inputs ``names`` (``in3``, or ``in3_re`` / ``in3_im``)."""
    flat = case.flat_inputs()
    out = {}
    for name in names:
        stem, _, part = name[2:].partition("_")
        a = np.asarray(flat[int(stem)])
        if part:
            a = (np.real(a) if part == "re" else np.imag(a)).astype(_real_of(a.dtype))
        out[name] = ort_value(a.astype(np.float32) if a.dtype.name == "bfloat16" else a)
    return out


def _got(case, got: dict, i: int, want: np.ndarray) -> np.ndarray:
    """Output ``i`` as onnxruntime gave it (a complex output joined from its parts)."""
    if want.dtype.kind != "c":
        # bfloat16 outputs come as float32 (bfloat16_as_float32): exactly bfloat16 values
        return np.asarray(got[f"o{i}"]).astype(want.dtype)
    re, im = np.asarray(got[f"o{i}_re"]), np.asarray(got[f"o{i}_im"])
    out = np.empty(re.shape, want.dtype)  # not re + 1j * im: that makes NaN of infinite parts
    out.real, out.imag = re, im
    return out


def _export(case, node_def: bytes, outs: list[np.ndarray], consts_list=None):
    """(ONNX model, None) or (None, the problems): inputs as placeholders, else some as Consts
    (``consts_list``: the sets of inputs made Consts to try, in order)."""
    flat = case.flat_inputs()
    small = {i for i, a in enumerate(flat) if a.dtype.kind in "iuO" and a.size <= 16}
    problems = []
    if consts_list is None:
        consts_list = (set(), set(range(1, len(flat))), small - {0}, small - {len(flat) - 1})
    for consts in consts_list:
        mg = _graph(case, node_def, len(outs), consts, outs)
        ex = Exporter(runtime.Session(mg), 20, bfloat16_as_float32=True)
        graph = ex.signature("s")
        if not ex.problems:
            return _model.assemble(ex, graph, "s", Tags()), None
        # The reason to report: the first that is not about an input computed at run time.
        if not problems or "run time" in problems[0].reason:
            problems = ex.problems
    return None, problems


_answers: dict[str, dict[str, dict]] = {}


@pytest.mark.parametrize("family,case", CASES, ids=[c.id if name == "raw" else f"{name}:{c.id}" for name, c in CASES])
def test_mapping_matches_tensorflow(family, case):
    if family not in _answers:
        _answers[family] = oracle_results(_SETS[family])
    want = _answers[family][case.id]
    if case.id in DIFFERS:
        pytest.skip(DIFFERS[case.id])
    if "error" in want or "node_def" not in want:
        pytest.skip("TensorFlow raises for this case")
    check_against_tf(case, want)


def check_against_tf(case, want: dict, consts_list=None, exact: bool = False) -> str:
    """Export ``case`` (TensorFlow's answer ``want`` recorded) and compare onnxruntime's outputs
    (``exact``: floats too must be equal); "exported", or "refused" for an accepted refusal."""
    outs = [decode(o) for o in want["outputs"]]
    proto, problems = _export(case, base64.b64decode(want["node_def"]), outs, consts_list)
    if proto is None:
        first = problems[0]
        if case.op in converters.NOT_EXPRESSIBLE or first.op in converters.NOT_EXPRESSIBLE:
            return "refused"
        conv = converters.get(first.op)
        if "ONNX has no complex arithmetic" in first.reason and conv is not None and not conv.complex and \
                converters.get_complex(first.op) is None:
            return "refused"  # an op without a complex form, on complex values
        expected = LIMITS.get(case.id, "no uint64 kernel" if "uint64" in case.id else None)
        assert expected is not None and expected in first.reason, f"refused: {first}"
        return "refused"
    assert case.id not in LIMITS, "exports now: drop it from LIMITS"
    onnx.checker.check_model(proto, full_check=True)
    onnx.shape_inference.infer_shapes(proto, check_type=True, strict_mode=True)
    sess = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    feeds = _feeds(case, [i.name for i in sess.get_inputs()])
    got = dict(zip([o.name for o in sess.get_outputs()], sess.run(None, feeds)))
    for i in case.only if case.only is not None else range(len(outs)):
        g, w = _got(case, got, i, outs[i]), outs[i]
        if w.dtype == object:
            g = np.vectorize(lambda x: x.encode("utf-8", "surrogateescape"), otypes=[object])(g) if g.size else g
        assert g.dtype == w.dtype and g.shape == w.shape, (case.id, i, g.dtype, g.shape, w.dtype, w.shape)
        if case.spec_only:  # TF's numbers are not defined (random ops, outputs a kernel leaves unwritten)
            continue
        if (w.dtype.kind in "fc" or w.dtype.name == "bfloat16") and not exact:
            tol = case.rtol if case.rtol is not None else (1e-3 if w.dtype == np.float16 else 1e-4)
            if w.dtype.name == "bfloat16":  # one bfloat16 ulp of the outputs' magnitude
                g, w = g.astype(np.float32), w.astype(np.float32)
                tol = max(tol, 2.0 ** -7)
                np.testing.assert_allclose(g, w, rtol=tol, atol=tol * float(np.max(np.abs(w), initial=0)),
                                           err_msg=f"{case.id} output {i}")
                continue
            np.testing.assert_allclose(g, w, rtol=tol, atol=tol / 10, err_msg=f"{case.id} output {i}")
        else:
            np.testing.assert_array_equal(g, w, err_msg=f"{case.id} output {i}")
    return "exported"
