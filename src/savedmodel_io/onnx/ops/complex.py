"""Complex numbers as (real, imaginary) pairs in a trailing axis of 2.

ONNX has COMPLEX64/COMPLEX128 element types but no arithmetic on them (onnxruntime has no
CPU kernels for them); its DFT takes and gives real/imaginary pairs in a trailing axis
(onnx/onnx docs/Operators.md, DFT). Inside an exported graph a complex TensorFlow value is
such a pair tensor: a :class:`Val` of kind ``"complex"`` whose ``dtype`` is the complex
type and whose ``shape`` is the physical one, ``logical + (2,)``. Complex constants stay
numpy arrays until an op needs them. Graph inputs and outputs cannot be complex.

The exporter (``_convert``) sends a node that reads or makes complex values to:

* its converter, when that converter takes complex values (``complex=True``: Complex,
  Real, Imag, Conj, ComplexAbs, Angle, the Fourier transforms in ``fft.py``);
* else the op's complex form registered here: the ops in :data:`BY_PARTS` move, select
  or add elements without mixing the two parts, so their real converter runs on the real
  parts and on the imaginary parts; products, quotients, Exp, comparisons, matrix
  products and casts have formulas of their own;
* else the node is refused, naming the op.

Semantics: TensorFlow's complex kernels use std::complex arithmetic (Eigen): products and
sums by the textbook formulas, the quotient scaled by the divisor's larger part
(Eigen/src/Core/arch/Default/GenericPacketMathFunctions.h, pdiv_complex), |z| as hypot,
arg(z) as atan2(imag, real); a cast from complex to a real type keeps the real part
(tensorflow/tensorflow tensorflow/core/kernels/cast_op_impl.h).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from onnx.numpy_helper import from_array

from savedmodel_io import dtypes
from savedmodel_io.onnx._graph import ExportError, Graph, Val
from savedmodel_io.onnx.ops._registry import complex_form, converter
from savedmodel_io.onnx.ops._util import cast, reduce, scalar, unsqueeze
from savedmodel_io.proto import DataType

__all__ = ["BY_PARTS", "COMPLEX_TYPES", "as_complex", "is_complex", "join", "pair", "parts", "real_dtype",
           "real_node", "refusal", "written"]

COMPLEX_TYPES = frozenset({DataType.DT_COMPLEX64, DataType.DT_COMPLEX128})
_REAL = {np.dtype(np.complex64): np.dtype(np.float32), np.dtype(np.complex128): np.dtype(np.float64)}
_COMPLEX = {v: k for k, v in _REAL.items()}
_REAL_TYPE = {DataType.DT_COMPLEX64: DataType.DT_FLOAT, DataType.DT_COMPLEX128: DataType.DT_DOUBLE}


def refusal(op: str) -> str:
    """Why a node reading or making complex values is refused."""
    return (f"ONNX has no complex arithmetic: the exporter computes complex values as (real, imaginary) "
            f"pairs for some ops only, and {op} is not one of them")


def is_complex(v: Val) -> bool:
    """Whether ``v`` is a complex value (a pair tensor or a complex constant)."""
    return v.dtype is not None and v.dtype.kind == "c"


def real_dtype(dt: Any) -> np.dtype:
    """The type of each part of complex type ``dt``."""
    return _REAL[np.dtype(dt)]


def complex_dtype(dt: Any) -> np.dtype:
    """The complex type whose parts are of real type ``dt``."""
    try:
        return _COMPLEX[np.dtype(dt)]
    except KeyError:
        raise ExportError(f"TensorFlow has no complex type with {np.dtype(dt)} parts") from None


def as_complex(v: Val, dt: Any) -> Val:
    """The pair tensor ``v`` (real, shape ``logical + (2,)``) as a complex value of type ``dt``."""
    return Val(v.name, np.dtype(dt), v.shape, kind="complex")


def pair(g: Graph, v: Val) -> Val:
    """The pair tensor of complex value ``v``, as a real tensor ONNX ops take."""
    if v.is_const:
        arr = np.asarray(v.const)
        return g.const(np.stack([arr.real, arr.imag], -1).astype(real_dtype(arr.dtype)))
    if v.kind != "complex":
        raise ExportError(f"expected a complex value, got {v.dtype}")
    return Val(v.name, real_dtype(v.dtype), v.shape)


def written(g: Graph, v: Val) -> Val:
    """Complex value ``v`` as a named pair tensor (a constant written as an initializer of pairs),
    for the places that take names only: If branch outputs, Loop inputs."""
    if not v.is_const:
        return v
    p = pair(g, v)
    return as_complex(Val(g.name_of(p), p.dtype, np.shape(p.const)), v.dtype)


def parts(g: Graph, v: Val) -> tuple[Val, Val]:
    """(real part, imaginary part) of complex value ``v``."""
    if v.is_const:
        arr = np.asarray(v.const)
        rt = real_dtype(arr.dtype)
        return g.const(arr.real.astype(rt)), g.const(arr.imag.astype(rt))
    p = pair(g, v)
    return (g.op1("Gather", p, scalar(g, 0, np.int64), axis=-1),
            g.op1("Gather", p, scalar(g, 1, np.int64), axis=-1))


def join(g: Graph, re: Val, im: Val, dt: Any = None) -> Val:
    """The complex value with parts ``re`` and ``im`` (same shape; type from theirs unless given)."""
    if re.is_const and im.is_const:
        out = np.asarray(re.const) + 1j * np.asarray(im.const)
        return g.const(out.astype(dt if dt is not None else complex_dtype(re.dtype)))
    p = g.op1("Concat", unsqueeze(g, re, [-1]), unsqueeze(g, im, [-1]), axis=-1)
    return as_complex(p, dt if dt is not None else complex_dtype(re.dtype))


def real_node(node: Any) -> Any:
    """``node`` with its complex type attrs as the types of their parts (for real converters)."""
    def real(v: Any) -> Any:
        if isinstance(v, int) and not isinstance(v, bool):
            return _REAL_TYPE.get(v, v)
        if isinstance(v, list) and v and all(isinstance(x, int) and not isinstance(x, bool) for x in v):
            return [_REAL_TYPE.get(x, x) for x in v]
        return v
    return node.clone(node.index, attr={k: real(v) for k, v in node.attr.items()})


def _plain(g: Graph, vals: list[Val]) -> list[Val]:
    return [g.plain(v) if v.perm is not None else v for v in vals]


def _outs(out: Any) -> list[Val]:
    return out if isinstance(out, list) else [out]


def _complex_of(ins: list[Val]) -> np.dtype:
    for v in ins:
        if is_complex(v):
            return np.dtype(v.dtype)
    raise ExportError("no complex input")


# -- ops that treat the two parts alike --------------------------------------------------------

# Ops that move, select, fill or add elements of their complex inputs without mixing real and
# imaginary parts: each part of the output is the op of the inputs' same parts (integer inputs,
# shapes, indices and conditions go to both).
BY_PARTS = (
    "Identity", "StopGradient", "Snapshot", "Reshape", "Transpose", "ExpandDims", "Squeeze", "StridedSlice",
    "Slice", "GatherV2", "Gather", "GatherNd", "ConcatV2", "Concat", "Pack", "Unpack", "Split", "SplitV",
    "Tile", "Pad", "PadV2", "MirrorPad", "ReverseV2", "Reverse", "BroadcastTo", "Roll", "Fill", "ZerosLike",
    "Select", "SelectV2", "MatrixDiag", "MatrixDiagV2", "MatrixDiagV3", "MatrixDiagPart", "MatrixDiagPartV2",
    "MatrixDiagPartV3", "MatrixSetDiag", "MatrixSetDiagV2", "MatrixSetDiagV3", "Diag", "DiagPart",
    "MatrixBandPart", "AddV2", "Add", "Sub", "Neg", "AddN", "Sum", "Mean", "Cumsum", "ScatterNd",
    "TensorScatterUpdate", "TensorScatterAdd", "TensorScatterSub", "DynamicPartition", "DynamicStitch",
    "ParallelDynamicStitch", "SegmentSum", "SegmentMean", "UnsortedSegmentSum", "SparseToDense",
    "SparseTensorDenseAdd", "SparseReduceSum", "ExtractImagePatches", "RaggedTensorToTensor", "SpaceToDepth",
    "DepthToSpace", "SpaceToBatchND", "BatchToSpaceND",
)


def _by_parts(cx: Any, node: Any, ins: list[Val], conv: Any) -> list[Val]:
    """The real converter on the real parts and on the imaginary parts, joined."""
    g = cx.g
    ins = _plain(g, ins)
    dt = _complex_of(ins)
    rn = real_node(node)
    split = [parts(g, v) if is_complex(v) else (v, v) for v in ins]
    re = _outs(conv.fn(cx, rn, [s[0] for s in split]))
    im = _outs(conv.fn(cx, rn, [s[1] for s in split]))
    return [join(g, g.plain(a), g.plain(b), dt) for a, b in zip(re, im)]


complex_form(*BY_PARTS, onnx="the op on each part")(_by_parts)


@complex_form("Einsum", onnx="the op on each part (one operand), or on the parts 4 times, Sub, Add (two)")
def _complex_einsum(cx, node, ins, conv):
    if len(ins) == 1:
        return _by_parts(cx, node, ins, conv)
    if len(ins) == 2:
        return _bilinear(cx, node, ins, conv, {0}, {1})
    raise ExportError(f"a complex Einsum of {len(ins)} operands is not mapped (one or two are)")


@complex_form("OnesLike", onnx="the op on the real part, ConstantOfShape")
def _complex_ones_like(cx, node, ins, conv):
    g = cx.g
    re = parts(g, _plain(g, ins)[0])[0]
    one = g.plain(_outs(conv.fn(cx, real_node(node), [re]))[0])
    return join(g, one, _zeros_like(g, re), _complex_of(ins))


@complex_form("Shape", "ShapeN", "Size", "Rank", onnx="the op on the real part")
def _of_a_part(cx, node, ins, conv):
    """Ops that read only the shape: the real converter on the real parts."""
    g = cx.g
    return _outs(conv.fn(cx, real_node(node), [parts(g, v)[0] if is_complex(v) else v for v in _plain(g, ins)]))


# -- arithmetic ----------------------------------------------------------------------------------

def _mul(g: Graph, a: tuple[Val, Val], b: tuple[Val, Val]) -> tuple[Val, Val]:
    (ar, ai), (br, bi) = a, b
    re = g.op1("Sub", g.op1("Mul", ar, br), g.op1("Mul", ai, bi))
    im = g.op1("Add", g.op1("Mul", ar, bi), g.op1("Mul", ai, br))
    return re, im


def _div(g: Graph, a: tuple[Val, Val], b: tuple[Val, Val]) -> tuple[Val, Val]:
    """a / b with b scaled by its larger part first (Eigen's pdiv_complex): no overflow in |b|^2."""
    (ar, ai), (br, bi) = a, b
    s = g.op1("Max", g.op1("Abs", br), g.op1("Abs", bi))
    br, bi = g.op1("Div", br, s), g.op1("Div", bi, s)
    denom = g.op1("Mul", g.op1("Add", g.op1("Mul", br, br), g.op1("Mul", bi, bi)), s)
    re = g.op1("Div", g.op1("Add", g.op1("Mul", ar, br), g.op1("Mul", ai, bi)), denom)
    im = g.op1("Div", g.op1("Sub", g.op1("Mul", ai, br), g.op1("Mul", ar, bi)), denom)
    return re, im


def _two(cx: Any, node: Any, ins: list[Val]) -> tuple[np.dtype, tuple[Val, Val], tuple[Val, Val]]:
    g = cx.g
    a, b = _plain(g, ins[:2])
    return _complex_of(ins), parts(g, a), parts(g, b)


@complex_form("Mul", onnx="Mul, Sub, Add on the parts")
def _complex_mul(cx, node, ins, conv):
    dt, a, b = _two(cx, node, ins)
    return join(cx.g, *_mul(cx.g, a, b), dt)


@complex_form("Div", "RealDiv", onnx="Abs, Max, Div, Mul, Add, Sub on the parts")
def _complex_div(cx, node, ins, conv):
    dt, a, b = _two(cx, node, ins)
    return join(cx.g, *_div(cx.g, a, b), dt)


@complex_form("Square", onnx="Mul, Sub, Add on the parts")
def _complex_square(cx, node, ins, conv):
    g = cx.g
    a = parts(g, _plain(g, ins)[0])
    return join(g, *_mul(g, a, a), _complex_of(ins))


@complex_form("Reciprocal", "Inv", onnx="Abs, Max, Div, Mul, Add, Sub on the parts")
def _complex_reciprocal(cx, node, ins, conv):
    g = cx.g
    b = parts(g, _plain(g, ins)[0])
    one = (scalar(g, 1, b[0].dtype), scalar(g, 0, b[0].dtype))
    return join(g, *_div(g, one, b), _complex_of(ins))


def _exp(g: Graph, re: Val, im: Val) -> tuple[Val, Val]:
    """exp(a + bi) = exp(a) (cos b + i sin b), with C's cexp at infinite a: 0 for a = -inf,
    inf + nan i for a = inf beside an infinite or NaN b, and a real result for b = 0."""
    dt = re.dtype
    mag = g.op1("Exp", re)
    out_re, out_im = g.op1("Mul", mag, g.op1("Cos", im)), g.op1("Mul", mag, g.op1("Sin", im))
    zero = scalar(g, 0, dt)
    gone = g.op1("Equal", re, scalar(g, -np.inf, dt))
    out_re, out_im = g.op1("Where", gone, zero, out_re), g.op1("Where", gone, zero, out_im)
    real = g.op1("Equal", im, zero)
    out_im = g.op1("Where", real, im, out_im)
    out_re = g.op1("Where", real, mag, out_re)
    wild = g.op1("And", g.op1("Equal", re, scalar(g, np.inf, dt)),
                 g.op1("Or", g.op1("IsInf", im), g.op1("IsNaN", im)))
    return g.op1("Where", wild, re, out_re), out_im


def _zeros_like(g: Graph, v: Val) -> Val:
    return g.op1("ConstantOfShape", g.op1("Shape", v), value=from_array(np.zeros(1, v.dtype)))


def _hypot(g: Graph, re: Val, im: Val) -> Val:
    """|re + im i| as C's hypot: float32 parts in float64 (exact before rounding, no overflow),
    float64 parts scaled by the larger one; an infinite part gives inf even beside a NaN."""
    inf = g.op1("Or", g.op1("IsInf", re), g.op1("IsInf", im))
    if re.dtype == np.float32:
        r64, i64_ = cast(g, re, np.float64), cast(g, im, np.float64)
        out = cast(g, g.op1("Sqrt", g.op1("Add", g.op1("Mul", r64, r64), g.op1("Mul", i64_, i64_))), np.float32)
    else:
        big = g.op1("Max", g.op1("Abs", re), g.op1("Abs", im))
        zero = g.op1("Equal", big, scalar(g, 0, re.dtype))
        safe = g.op1("Where", g.op1("Or", zero, inf), scalar(g, 1, re.dtype), big)
        a, b = g.op1("Div", re, safe), g.op1("Div", im, safe)
        r = g.op1("Sqrt", g.op1("Add", g.op1("Mul", a, a), g.op1("Mul", b, b)))
        out = g.op1("Where", zero, big, g.op1("Mul", r, big))
    return g.op1("Where", inf, scalar(g, np.inf, re.dtype), out)


def _one(cx: Any, ins: list[Val]) -> tuple[Graph, np.dtype, Val, Val]:
    g = cx.g
    re, im = parts(g, _plain(g, ins)[0])
    return g, _complex_of(ins), re, im


def _sqrt(g: Graph, re: Val, im: Val) -> tuple[Val, Val]:
    """The principal square root without cancellation: t = sqrt((|a| + |z|) / 2), then
    (t, b / 2t) for a >= 0 and (|b| / 2t, t with b's sign) for a < 0; sqrt(0) = 0."""
    zero = scalar(g, 0, re.dtype)
    t = g.op1("Sqrt", g.op1("Mul", g.op1("Add", g.op1("Abs", re), _hypot(g, re, im)), scalar(g, 0.5, re.dtype)))
    two_t = g.op1("Add", t, t)
    nonzero = g.op1("Not", g.op1("Equal", t, zero))
    safe = g.op1("Where", nonzero, two_t, scalar(g, 1, re.dtype))
    other = g.op1("Where", nonzero, g.op1("Div", im, safe), zero)  # b / 2t, with b's sign
    pos = g.op1("GreaterOrEqual", re, zero)
    signed_t = g.op1("Where", g.op1("Less", im, zero), g.op1("Neg", t), t)
    return (g.op1("Where", pos, t, g.op1("Abs", other)), g.op1("Where", pos, other, signed_t))


def _log(cx: Any, node: Any, re: Val, im: Val) -> tuple[Val, Val]:
    """log z = log|z| + i arg z."""
    from savedmodel_io.onnx.ops.math import atan2

    g = cx.g
    return g.op1("Log", _hypot(g, re, im)), g.plain(atan2(cx, node, [im, re]))


# Past this |real part| tanh(a + bi) is sign(a) + 4 sin b cos b exp(-2|a|) i to working precision,
# and cosh(2a) would overflow float32 near 44.
_TANH_FAR = 20.0


def _tanh(g: Graph, re: Val, im: Val) -> tuple[Val, Val]:
    """tanh(a + bi) = (sinh 2a + i sin 2b) / (cosh 2a + cos 2b), or its limit for large |a|."""
    from savedmodel_io.onnx.ops.math import in_float32

    dt = re.dtype
    two_a, two_b = g.op1("Add", re, re), g.op1("Add", im, im)
    near_a = g.op1("Clip", two_a, scalar(g, -2 * _TANH_FAR, dt), scalar(g, 2 * _TANH_FAR, dt))
    denom = g.op1("Add", in_float32(g, "Cosh", near_a), g.op1("Cos", two_b))
    near = (g.op1("Div", in_float32(g, "Sinh", near_a), denom), g.op1("Div", g.op1("Sin", two_b), denom))
    decay = g.op1("Exp", g.op1("Neg", g.op1("Abs", two_a)))
    far = (g.op1("Sign", re), g.op1("Mul", g.op1("Mul", scalar(g, 4, dt),
                                                   g.op1("Mul", g.op1("Sin", im), g.op1("Cos", im))), decay))
    is_far = g.op1("Greater", g.op1("Abs", re), scalar(g, _TANH_FAR, dt))
    return g.op1("Where", is_far, far[0], near[0]), g.op1("Where", is_far, far[1], near[1])


@complex_form("Pow", onnx="exp(y log x): Log, Atan2's form, Exp, Cos, Sin")
def _complex_pow(cx, node, ins, conv):
    """x ** y = exp(y log x) with IEEE special values throughout, as std::pow computes it in
    TensorFlow (0 ** 2 = 0, 0 ** 0 = nan)."""
    g = cx.g
    dt, a, b = _two(cx, node, ins)
    return join(g, *_exp(g, *_mul(g, b, _log(cx, node, *a))), dt)


def _trig(g: Graph, op: str, re: Val, im: Val) -> tuple[Val, Val]:
    """sin, cos, sinh, cosh of a + bi from the real functions of a and b."""
    from savedmodel_io.onnx.ops.math import in_float32

    def f(name: str, v: Val) -> Val:
        return in_float32(g, name, v)

    if op == "Sin":
        return (g.op1("Mul", f("Sin", re), f("Cosh", im)), g.op1("Mul", f("Cos", re), f("Sinh", im)))
    if op == "Cos":
        return (g.op1("Mul", f("Cos", re), f("Cosh", im)), g.op1("Neg", g.op1("Mul", f("Sin", re), f("Sinh", im))))
    if op == "Sinh":
        return (g.op1("Mul", f("Sinh", re), f("Cos", im)), g.op1("Mul", f("Cosh", re), f("Sin", im)))
    return (g.op1("Mul", f("Cosh", re), f("Cos", im)), g.op1("Mul", f("Sinh", re), f("Sin", im)))


def _tan(g: Graph, re: Val, im: Val) -> tuple[Val, Val]:
    """tan z = -i tanh(iz), iz = -b + ai."""
    p, q = _tanh(g, g.op1("Neg", im), re)
    return q, g.op1("Neg", p)


def _sigmoid(g: Graph, re: Val, im: Val) -> tuple[Val, Val]:
    """1 / (1 + exp(-z))."""
    er, ei = _exp(g, g.op1("Neg", re), g.op1("Neg", im))
    one, zero = scalar(g, 1, re.dtype), scalar(g, 0, re.dtype)
    return _div(g, (one, zero), (g.op1("Add", er, one), ei))


def _sign(g: Graph, re: Val, im: Val) -> tuple[Val, Val]:
    """z / |z|, and 0 for 0."""
    mag = _hypot(g, re, im)
    zero = g.op1("Equal", mag, scalar(g, 0, re.dtype))
    safe = g.op1("Where", zero, scalar(g, 1, re.dtype), mag)
    return g.op1("Div", re, safe), g.op1("Div", im, safe)


def _expm1(g: Graph, re: Val, im: Val) -> tuple[Val, Val]:
    """exp(z) - 1 = (expm1(a) cos b - 2 sin^2(b / 2)) + i exp(a) sin b: no cancellation near 0."""
    from savedmodel_io.onnx.ops.math import expm1_of

    half = g.op1("Sin", g.op1("Mul", im, scalar(g, 0.5, im.dtype)))
    re_out = g.op1("Sub", g.op1("Mul", expm1_of(g, re), g.op1("Cos", im)),
                   g.op1("Mul", scalar(g, 2, re.dtype), g.op1("Mul", half, half)))
    return re_out, g.op1("Mul", g.op1("Exp", re), g.op1("Sin", im))


def _log1p(cx: Any, node: Any, re: Val, im: Val) -> tuple[Val, Val]:
    """log(1 + z) = log1p(2a + a^2 + b^2) / 2 + i arg(1 + a + bi): no cancellation near 0, and
    log|1 + z| by hypot where 1 + z is large (the square would overflow)."""
    from savedmodel_io.onnx.ops.math import atan2, log1p_of

    g = cx.g
    dt = re.dtype
    one = scalar(g, 1, dt)
    near = g.op1("Mul", log1p_of(g, g.op1("Add", g.op1("Add", re, re),
                                            g.op1("Add", g.op1("Mul", re, re), g.op1("Mul", im, im)))),
                 scalar(g, 0.5, dt))
    shifted = g.op1("Add", re, one)
    far = g.op1("Log", _hypot(g, shifted, im))
    small = g.op1("Less", g.op1("Max", g.op1("Abs", re), g.op1("Abs", im)), scalar(g, 0.5, dt))
    return g.op1("Where", small, near, far), g.plain(atan2(cx, node, [im, shifted]))


def _rsqrt(g: Graph, re: Val, im: Val) -> tuple[Val, Val]:
    return _div(g, (scalar(g, 1, re.dtype), scalar(g, 0, re.dtype)), _sqrt(g, re, im))


# Functions of one complex value: op -> (the parts of f(z) from cx, node and the parts of z, the ONNX ops).
_UNARY: dict[str, tuple[Callable[[Any, Any, Val, Val], tuple[Val, Val]], str]] = {
    "Exp": (lambda cx, n, a, b: _exp(cx.g, a, b), "Exp, Cos, Sin, Mul"),
    "Expm1": (lambda cx, n, a, b: _expm1(cx.g, a, b), "Expm1's compensated form of the real part, Sin, Cos, Exp"),
    "Log1p": (_log1p, "Log1p's compensated form (Log of the modulus away from 0), Atan2's form"),
    "Log": (_log, "Log of the modulus, Atan2's form"),
    "Sqrt": (lambda cx, n, a, b: _sqrt(cx.g, a, b), "Abs, Sqrt, Div, Where on the parts"),
    "Rsqrt": (lambda cx, n, a, b: _rsqrt(cx.g, a, b), "Abs, Sqrt, Div, Where on the parts"),
    "Sign": (lambda cx, n, a, b: _sign(cx.g, a, b), "z / |z| (0 for 0)"),
    "Tanh": (lambda cx, n, a, b: _tanh(cx.g, a, b), "Sinh, Cosh, Sin, Cos, Div (the limit past |Re z| = 20)"),
    "Tan": (lambda cx, n, a, b: _tan(cx.g, a, b), "tanh's form: tan z = -i tanh(iz)"),
    "Sigmoid": (lambda cx, n, a, b: _sigmoid(cx.g, a, b), "1 / (1 + exp(-z)): Exp, Cos, Sin and the quotient's form"),
    **{op: (lambda cx, n, a, b: _trig(cx.g, n.op, a, b), "Sin, Cos, Sinh, Cosh of the parts, Mul")
       for op in ("Sin", "Cos", "Sinh", "Cosh")},
}


def _unary(cx: Any, node: Any, ins: list[Val], conv: Any) -> Val:
    g, dt, re, im = _one(cx, ins)
    return join(g, *_UNARY[node.op][0](cx, node, re, im), dt)


for _op, (_fn, _onnx) in _UNARY.items():
    complex_form(_op, onnx=_onnx)(_unary)


@complex_form("DivNoNan", onnx="the quotient's form, Where (0 where the divisor is 0)")
def _complex_div_no_nan(cx, node, ins, conv):
    g = cx.g
    dt, a, b = _two(cx, node, ins)
    zero = scalar(g, 0, b[0].dtype)
    none = g.op1("And", g.op1("Equal", b[0], zero), g.op1("Equal", b[1], zero))
    one = scalar(g, 1, b[0].dtype)
    q = _div(g, a, (g.op1("Where", none, one, b[0]), b[1]))
    return join(g, *(g.op1("Where", none, zero, v) for v in q), dt)


@complex_form("SquaredDifference", onnx="Sub, Mul, Add on the parts")
def _complex_squared_difference(cx, node, ins, conv):
    """(x - y) conj(x - y) = |x - y|^2 + 0i, as TensorFlow defines it for complex numbers."""
    g = cx.g
    dt, (ar, ai), (br, bi) = _two(cx, node, ins)
    dr, di = g.op1("Sub", ar, br), g.op1("Sub", ai, bi)
    sq = g.op1("Add", g.op1("Mul", dr, dr), g.op1("Mul", di, di))
    return join(g, sq, _zeros_like(g, sq), dt)


@complex_form("Xdivy", "Xlogy", "Xlog1py", onnx="the quotient's, Log's or Log1p's form, Mul, Where (0 where x is 0)")
def _complex_x_op(cx, node, ins, conv):
    """x / y, x log y or x log1p y, 0 where x == 0."""
    from savedmodel_io.onnx.ops.math import atan2

    g = cx.g
    dt, a, b = _two(cx, node, ins)
    if node.op == "Xdivy":
        re, im = _div(g, a, b)
    elif node.op == "Xlog1py":
        re, im = _mul(g, a, _log1p(cx, node, *b))
    else:
        log = (g.op1("Log", _hypot(g, *b)), g.plain(atan2(cx, node, [b[1], b[0]])))
        re, im = _mul(g, a, log)
    zero = scalar(g, 0, a[0].dtype)
    none = g.op1("And", g.op1("Equal", a[0], zero), g.op1("Equal", a[1], zero))
    return join(g, *(g.op1("Where", none, zero, v) for v in (re, im)), dt)


@complex_form("Equal", "NotEqual", onnx="Equal, And (Not)")
def _complex_equal(cx, node, ins, conv):
    g = cx.g
    _dt, (ar, ai), (br, bi) = _two(cx, node, ins)
    same = g.op1("And", g.op1("Equal", ar, br), g.op1("Equal", ai, bi))
    return same if node.op == "Equal" else g.op1("Not", same)


def _bilinear(cx: Any, node: Any, ins: list[Val], conv: Any, left: set[int], right: set[int],
              conj_left: bool = False, conj_right: bool = False) -> Val:
    """An op linear in each of two factors (inputs ``left`` and ``right``): (A + Bi)(C + Di) =
    (AC - BD) + (AD + BC)i, from four runs of its real converter; a factor it conjugates (an
    adjoint) has its imaginary parts negated first."""
    g = cx.g
    ins = _plain(g, ins)
    dt = _complex_of(ins)
    rn = real_node(node)
    split = {}
    for i, v in enumerate(ins):
        if i in left or i in right:
            re, im = parts(g, v)
            if (conj_left and i in left) or (conj_right and i in right):
                im = g.op1("Neg", im)
            split[i] = (re, im)

    def run(k: int, j: int) -> Val:
        args = [split[i][k if i in left else j] if i in split else v for i, v in enumerate(ins)]
        return g.plain(_outs(conv.fn(cx, rn, args))[0])

    re = g.op1("Sub", run(0, 0), run(1, 1))
    im = g.op1("Add", run(0, 1), run(1, 0))
    return join(g, re, im, dt)


@complex_form("MatMul", "BatchMatMul", "BatchMatMulV2", "BatchMatMulV3",
              onnx="the op on the parts (4 times), Sub, Add")
def _complex_matmul(cx, node, ins, conv):
    return _bilinear(cx, node, ins, conv, {0}, {1}, bool(node.attr.get("adj_x", False)),
                     bool(node.attr.get("adj_y", False)))


@complex_form("SparseTensorDenseMatMul", onnx="the op on the parts (4 times), Sub, Add")
def _complex_sparse_matmul(cx, node, ins, conv):
    return _bilinear(cx, node, ins, conv, {1}, {3}, bool(node.attr.get("adjoint_a", False)),
                     bool(node.attr.get("adjoint_b", False)))


@complex_form("TridiagonalMatMul", onnx="the op on the parts (4 times), Sub, Add")
def _complex_tridiagonal_matmul(cx, node, ins, conv):
    return _bilinear(cx, node, ins, conv, {0, 1, 2}, {3})


@complex_form("ConjugateTranspose", onnx="Transpose on each part, Mul")
def _conjugate_transpose(cx, node, ins, conv):
    out = _by_parts(cx, node, ins, conv)[0]
    return _conj(cx.g, out)


@complex_form("Cast", onnx="Cast on the parts (Gather, Concat)")
def _complex_cast(cx, node, ins, conv):
    """complex -> complex casts each part; complex -> real keeps the real part; real -> complex adds 0i."""
    g = cx.g
    x = _plain(g, ins)[0]
    src, dst = node.attr.get("SrcT"), node.attr.get("DstT")
    if src in COMPLEX_TYPES and dst in COMPLEX_TYPES:
        out_dt = dtypes.to_numpy(dst)
        if x.is_const:
            return g.const(np.asarray(x.const).astype(out_dt))
        return as_complex(cast(g, pair(g, x), real_dtype(out_dt)), out_dt)
    if src in COMPLEX_TYPES:
        if dst == DataType.DT_BOOL:  # z != 0
            re, im = parts(g, x)
            zero = scalar(g, 0, re.dtype)
            return g.op1("Or", g.op1("Not", g.op1("Equal", re, zero)), g.op1("Not", g.op1("Equal", im, zero)))
        re = parts(g, x)[0]
        return g.plain(_outs(conv.fn(cx, real_node(node), [re]))[0])
    out_dt = dtypes.to_numpy(dst)
    re = cast(g, x, real_dtype(out_dt))
    return join(g, re, _zeros_like(g, re), out_dt)


# -- ops that exist for complex values only ------------------------------------------------------

def _conj(g: Graph, v: Val) -> Val:
    if v.is_const:
        return g.const(np.conj(np.asarray(v.const)))
    p = pair(g, v)
    return as_complex(g.op1("Mul", p, g.const(np.asarray([1, -1], p.dtype))), v.dtype)


@converter("Complex", onnx="Concat of the parts (Expand when they broadcast)", complex=True)
def complex_op(cx, node, ins):
    """real + imag * i, the two broadcast against each other as TensorFlow does."""
    g = cx.g
    re, im = ins
    dt = dtypes.to_numpy(node.attr.get("Tout", DataType.DT_COMPLEX64))
    rt = real_dtype(dt)
    re, im = cast(g, re, rt), cast(g, im, rt)
    if re.shape is None or im.shape is None or re.shape != im.shape or \
            not all(isinstance(d, int) for d in re.shape):
        # Shape(re + im) is the broadcast shape whatever the values (no NaN reaches the output).
        shape = g.op1("Shape", g.op1("Add", re, im))
        re, im = g.op1("Expand", re, shape), g.op1("Expand", im, shape)
    return join(g, re, im, dt)


@converter("Real", "Imag", "Conj", onnx="Gather of a part, Mul by [1, -1] (real tensors: the input, "
           "or zeros for Imag)", layout=True, complex=True)
def complex_parts(cx, node, ins):
    """A part, or the conjugate; of a real tensor (TF's real-typed Conj) the input, and 0 as Imag."""
    g, x = cx.g, ins[0]
    if is_complex(x):
        if node.op == "Conj":
            return _conj(g, x)
        return parts(g, x)[0 if node.op == "Real" else 1]
    if node.op == "Imag":
        out = g.op1("Expand", scalar(g, 0, x.dtype), g.op1("Shape", x))
        out.perm = x.perm
        return out
    return x


@converter("ComplexAbs", onnx="Mul, Add, Sqrt of the parts (in float64 for complex64; scaled for complex128)",
           complex=True)
def complex_abs(cx, node, ins):
    """|z| as C's hypot (see ``_hypot``)."""
    g = cx.g
    re, im = parts(g, ins[0])
    return cast(g, _hypot(g, re, im), dtypes.to_numpy(node.attr.get("Tout", DataType.DT_FLOAT)))


@converter("Angle", onnx="Atan2's form: Atan, Div, Where", complex=True)
def angle_op(cx, node, ins):
    """arg(z) = atan2(imag, real)."""
    from savedmodel_io.onnx.ops.math import atan2

    re, im = parts(cx.g, ins[0])
    out = atan2(cx, node, [im, re])
    return cast(cx.g, cx.g.plain(out), dtypes.to_numpy(node.attr.get("Tout", DataType.DT_FLOAT)))
