"""Elementwise math, comparisons, casts, reductions and matrix products.

Elementwise ops accept inputs in a pending layout (NCHW data of an NHWC graph):
unary ops keep it, binary ops lay the other operand out the same way.
Semantics: TensorFlow's tf.raw_ops docs and the numpy kernels (graph/ops/math.py);
ONNX's from onnx/onnx docs/Operators.md.
"""

from __future__ import annotations

import numpy as np

from savedmodel_io.onnx._graph import ExportError, Graph, Val, invert
from savedmodel_io.onnx.ops._registry import converter, inexpressible
from savedmodel_io.onnx.ops._util import (
    attr_dtype,
    cast,
    const_ints,
    i64,
    need_rank,
    norm_axis,
    reduce,
    scalar,
    unsqueeze,
)
from savedmodel_io.onnx._types import onnx_type, tensor_type
from savedmodel_io.onnx.ops._subgraph import body_graph, truth


# -- layout of binary operands ------------------------------------------------------------------

def align(g: Graph, a: Val, b: Val) -> tuple[Val, Val]:
    """Both operands in one layout: a pending permutation of one is applied to the other."""
    perm = a.perm or b.perm
    if perm is None or a.perm == b.perm:
        return a, b
    return _laid_out(g, a, perm), _laid_out(g, b, perm)


def _laid_out(g: Graph, v: Val, perm: tuple[int, ...]) -> Val:
    if v.perm == perm:
        return v
    if v.perm is not None or v.shape is None:
        return g.with_perm(v, perm)
    r = len(perm)
    if len(v.shape) > r:
        raise ExportError("broadcasting a higher-rank operand onto a laid-out tensor")
    if v.is_const:
        arr = v.const.reshape((1,) * (r - v.const.ndim) + v.const.shape)
        out = g.const(np.ascontiguousarray(np.transpose(arr, perm)))
    else:
        x = unsqueeze(g, v, list(range(r - len(v.shape)))) if len(v.shape) < r else v
        out = g.op1("Transpose", x, perm=list(perm))
    out.perm = perm
    return out


def _keep(out: Val, perm: tuple[int, ...] | None) -> Val:
    out.perm = perm
    return out


# -- elementwise ----------------------------------------------------------------------------------

_UNARY = {
    "Abs": "Abs", "Neg": "Neg", "Exp": "Exp", "Log": "Log", "Sqrt": "Sqrt", "Sin": "Sin", "Cos": "Cos",
    "Tan": "Tan", "Asin": "Asin", "Acos": "Acos", "Atan": "Atan", "Sinh": "Sinh", "Cosh": "Cosh",
    "Asinh": "Asinh", "Acosh": "Acosh", "Atanh": "Atanh", "Tanh": "Tanh", "Sigmoid": "Sigmoid",
    "Erf": "Erf", "Floor": "Floor", "Ceil": "Ceil", "Round": "Round", "Rint": "Round", "Sign": "Sign",
    "Softplus": "Softplus", "Softsign": "Softsign", "IsNan": "IsNaN", "IsInf": "IsInf",
    "LogicalNot": "Not", "Invert": "BitwiseNot", "Relu": "Relu",
}


# ONNX ops onnxruntime runs on float32 (and float16) only: float64 inputs are computed in float32.
FLOAT32_ONLY = frozenset({"Erf", "Elu", "Selu", "LeakyRelu", "Softplus", "Softsign", "Acos", "Asin",
                          "Atan", "Acosh", "Asinh", "Atanh", "Tan", "Sinh", "Cosh"})


def in_float32(g: Graph, onnx_op: str, x: Val, **attrs: object) -> Val:
    """``onnx_op`` on ``x``, through float32 when onnxruntime has no float64 kernel for it."""
    if onnx_op in FLOAT32_ONLY and x.dtype == np.float64:
        return cast(g, g.op1(onnx_op, cast(g, x, np.float32), **attrs), np.float64)
    return g.op1(onnx_op, x, **attrs)


def _unary(onnx_op: str):
    def convert(cx, node, ins):
        x = ins[0]
        return _keep(in_float32(cx.g, onnx_op, x), x.perm)
    return convert


for _tf, _onnx in _UNARY.items():
    converter(_tf, onnx=_onnx, layout=True)(_unary(_onnx))


@converter("Rsqrt", onnx="Sqrt, Reciprocal", layout=True)
def rsqrt(cx, node, ins):
    g = cx.g
    return _keep(g.op1("Reciprocal", g.op1("Sqrt", ins[0])), ins[0].perm)


@converter("Reciprocal", "Inv", onnx="Reciprocal (floats), Div (integers)", layout=True)
def reciprocal(cx, node, ins):
    g, x = cx.g, ins[0]
    if x.dtype.kind in "iu":
        return _keep(g.op1("Div", scalar(g, 1, x.dtype), x), x.perm)
    return _keep(g.op1("Reciprocal", x), x.perm)


@converter("Square", onnx="Mul", layout=True)
def square(cx, node, ins):
    return _keep(cx.g.op1("Mul", ins[0], ins[0]), ins[0].perm)


@converter("Erfc", onnx="Erf, Sub", layout=True)
def erfc(cx, node, ins):
    g, x = cx.g, ins[0]
    return _keep(g.op1("Sub", scalar(g, 1, x.dtype), in_float32(g, "Erf", x)), x.perm)


def expm1_of(g: Graph, x: Val) -> Val:
    """exp(x) - 1 to a few ulps near 0, where Exp - 1 cancels: (u - 1) (x / log(u)), u = exp(x)
    (Kahan's rounding compensation; x where u rounds to 1, -1 where it underflows to 0)."""
    dt = x.dtype
    one = scalar(g, 1, dt)
    u = g.op1("Exp", x)
    d = g.op1("Sub", u, one)
    out = g.op1("Mul", d, g.op1("Div", x, g.op1("Log", u)))  # x / log(u) near 1: no overflow
    out = g.op1("Where", g.op1("Equal", u, one), x, out)
    out = g.op1("Where", g.op1("Equal", u, scalar(g, 0, dt)), scalar(g, -1, dt), out)
    return g.op1("Where", g.op1("IsInf", u), u, out)


def log1p_of(g: Graph, x: Val) -> Val:
    """log(1 + x) to a few ulps near 0, where 1 + x rounds: log(u) x / (u - 1), u = 1 + x
    (x where u rounds to 1; log(u) itself where u is 0 or infinite)."""
    dt = x.dtype
    one = scalar(g, 1, dt)
    u = g.op1("Add", x, one)
    log = g.op1("Log", u)
    d = g.op1("Sub", u, one)
    safe = g.op1("Where", g.op1("Equal", d, scalar(g, 0, dt)), one, d)
    out = g.op1("Mul", log, g.op1("Div", x, safe))
    out = g.op1("Where", g.op1("Equal", u, one), x, out)
    edge = g.op1("Or", g.op1("IsInf", u), g.op1("Equal", u, scalar(g, 0, dt)))
    return g.op1("Where", edge, log, out)


@converter("Expm1", onnx="Exp, Sub, Mul, Div, Log, Where", layout=True)
def expm1(cx, node, ins):
    return _keep(expm1_of(cx.g, ins[0]), ins[0].perm)


@converter("Log1p", onnx="Add, Log, Sub, Div, Mul, Where", layout=True)
def log1p(cx, node, ins):
    return _keep(log1p_of(cx.g, ins[0]), ins[0].perm)


@converter("IsFinite", onnx="IsNaN, IsInf, Or, Not", layout=True)
def is_finite(cx, node, ins):
    g, x = cx.g, ins[0]
    return _keep(g.op1("Not", g.op1("Or", g.op1("IsNaN", x), g.op1("IsInf", x))), x.perm)


@converter("Cast", onnx="Cast", layout=True)
def cast_(cx, node, ins):
    x = ins[0]
    to = attr_dtype(node, "DstT")
    if x.dtype.kind == "c" or to.kind == "c":
        raise ExportError("ONNX Cast has no complex types")
    return _keep(cast(cx.g, x, to), x.perm)


# -- binary ---------------------------------------------------------------------------------------

_BINARY = {
    "Add": "Add", "AddV2": "Add", "Sub": "Sub", "Mul": "Mul", "RealDiv": "Div", "Maximum": "Max",
    "Minimum": "Min", "Pow": "Pow", "Equal": "Equal", "Less": "Less", "LessEqual": "LessOrEqual",
    "Greater": "Greater", "GreaterEqual": "GreaterOrEqual", "LogicalAnd": "And", "LogicalOr": "Or",
    "BitwiseAnd": "BitwiseAnd", "BitwiseOr": "BitwiseOr", "BitwiseXor": "BitwiseXor",
}


def _binary(onnx_op: str):
    def convert(cx, node, ins):
        g = cx.g
        a, b = align(g, ins[0], ins[1])
        if onnx_op == "Add" and a.dtype.kind == "O":
            if cx.opset < 20:
                raise ExportError("string concatenation needs ONNX opset 20 (StringConcat)")
            return _keep(g.op1("StringConcat", a, b), a.perm)
        if onnx_op in ("Max", "Min") and a.dtype.kind == "b":
            out = g.op1("Or" if onnx_op == "Max" else "And", a, b)
        else:
            out = g.op1(onnx_op, a, b)
        return _keep(out, a.perm)
    return convert


for _tf, _onnx in _BINARY.items():
    converter(_tf, onnx=_onnx, layout=True)(_binary(_onnx))


@converter("NotEqual", onnx="Equal, Not", layout=True)
def not_equal(cx, node, ins):
    g = cx.g
    a, b = align(g, ins[0], ins[1])
    return _keep(g.op1("Not", g.op1("Equal", a, b)), a.perm)


@converter("Div", onnx="Div", layout=True)
def div(cx, node, ins):
    # tf.raw_ops.Div: integers divide truncating toward zero, as ONNX Div does.
    g = cx.g
    a, b = align(g, ins[0], ins[1])
    return _keep(g.op1("Div", a, b), a.perm)


@converter("TruncateDiv", onnx="Div (+ Floor/Ceil for floats)", layout=True)
def truncate_div(cx, node, ins):
    g = cx.g
    a, b = align(g, ins[0], ins[1])
    q = g.op1("Div", a, b)
    if a.dtype.kind == "f":
        zero = scalar(g, 0, a.dtype)
        q = g.op1("Where", g.op1("Less", q, zero), g.op1("Ceil", q), g.op1("Floor", q))
    return _keep(q, a.perm)


def _floor_mod(g: Graph, a: Val, b: Val) -> Val:
    """x - floor(x / y) * y: the remainder with the divisor's sign (numpy's mod)."""
    if a.dtype.kind in "iu":
        return g.op1("Mod", a, b, fmod=0)
    r = g.op1("Mod", a, b, fmod=1)
    zero = scalar(g, 0, a.dtype)
    fix = g.op1("And", g.op1("Not", g.op1("Equal", r, zero)),
                g.op1("Xor", g.op1("Less", r, zero), g.op1("Less", b, zero)))
    return g.op1("Where", fix, g.op1("Add", r, b), r)


@converter("FloorMod", onnx="Mod", layout=True)
def floor_mod(cx, node, ins):
    g = cx.g
    a, b = align(g, ins[0], ins[1])
    return _keep(_floor_mod(g, a, b), a.perm)


@converter("FloorDiv", onnx="Div, Floor (floats); Mod, Sub, Div (integers)", layout=True)
def floor_div(cx, node, ins):
    g = cx.g
    a, b = align(g, ins[0], ins[1])
    if a.dtype.kind in "iu":
        # (x - floor_mod(x, y)) / y divides exactly, so truncation is floor.
        out = g.op1("Div", g.op1("Sub", a, g.op1("Mod", a, b, fmod=0)), b)
    else:
        out = g.op1("Floor", g.op1("Div", a, b))
    return _keep(out, a.perm)


@converter("TruncateMod", "Mod", onnx="Mod(fmod=1)", layout=True)
def truncate_mod(cx, node, ins):
    g = cx.g
    a, b = align(g, ins[0], ins[1])
    return _keep(g.op1("Mod", a, b, fmod=1), a.perm)


@converter("SquaredDifference", onnx="Sub, Mul", layout=True)
def squared_difference(cx, node, ins):
    g = cx.g
    a, b = align(g, ins[0], ins[1])
    d = g.op1("Sub", a, b)
    return _keep(g.op1("Mul", d, d), a.perm)


def _where_zero(g: Graph, test: Val, value: Val) -> Val:
    return g.op1("Where", g.op1("Equal", test, scalar(g, 0, test.dtype)), scalar(g, 0, value.dtype), value)


@converter("Xdivy", onnx="Div, Equal, Where", layout=True)
def xdivy(cx, node, ins):
    g = cx.g
    a, b = align(g, ins[0], ins[1])
    return _keep(_where_zero(g, a, g.op1("Div", a, b)), a.perm)


@converter("Xlogy", onnx="Log, Mul, Equal, Where", layout=True)
def xlogy(cx, node, ins):
    g = cx.g
    a, b = align(g, ins[0], ins[1])
    return _keep(_where_zero(g, a, g.op1("Mul", a, g.op1("Log", b))), a.perm)


@converter("MulNoNan", onnx="Mul, Equal, Where", layout=True)
def mul_no_nan(cx, node, ins):
    g = cx.g
    a, b = align(g, ins[0], ins[1])
    return _keep(_where_zero(g, b, g.op1("Mul", a, b)), a.perm)


@converter("DivNoNan", onnx="Div, Equal, Where", layout=True)
def div_no_nan(cx, node, ins):
    g = cx.g
    a, b = align(g, ins[0], ins[1])
    zero = g.op1("Equal", b, scalar(g, 0, b.dtype))
    safe = g.op1("Where", zero, scalar(g, 1, b.dtype), b)
    return _keep(g.op1("Where", zero, scalar(g, 0, a.dtype), g.op1("Div", a, safe)), a.perm)


@converter("Atan2", onnx="Atan, Div, Where", layout=True)
def atan2(cx, node, ins):
    """atan2 as C's: atan(|y| / |x|) mirrored into x's and y's quadrant by their sign bits (so
    atan2(+0, -0) = pi and atan2(-0, -1) = -pi), 0 for two zeros, pi / 4 for two infinities; NaN
    in either gives NaN."""
    g = cx.g
    y, x = align(g, ins[0], ins[1])
    dt = y.dtype
    zero = scalar(g, 0, dt)
    a = in_float32(g, "Atan", g.op1("Div", g.op1("Abs", y), g.op1("Abs", x)))
    both = g.op1("And", g.op1("Equal", y, zero), g.op1("Equal", x, zero))
    a = g.op1("Where", both, zero, a)
    infs = g.op1("And", g.op1("IsInf", y), g.op1("IsInf", x))
    a = g.op1("Where", infs, scalar(g, np.pi / 4, dt), a)
    a = g.op1("Where", _sign_bit(g, x), g.op1("Sub", scalar(g, np.pi, dt), a), a)
    return _keep(g.op1("Where", _sign_bit(g, y), g.op1("Neg", a), a), y.perm)


@converter("NextAfter", onnx="Log, Floor, Pow, Where (the step from the exponent)", layout=True)
def next_after(cx, node, ins):
    """The float after x1 toward x2, as C's nextafter, without bit casts (ONNX has none): x1
    plus or minus its unit in the last place, 2^(e - mantissa bits) for the exponent e of |x1|
    (floor(log2 |x1|) in float64, corrected by one where the logarithm rounds across a power of
    two; subnormals use the lowest exponent), half of it going toward zero from a power of two.
    The sum is exact: the result is representable. 0 steps to the smallest subnormal, infinity
    toward a finite x2 to the largest finite float; x2 when x1 == x2, NaN when either is NaN."""
    g = cx.g
    x, y = align(g, ins[0], ins[1])
    dt = x.dtype
    if dt not in (np.float32, np.float64):
        raise ExportError(f"NextAfter of {dt} (TensorFlow's kernel takes float32 and float64)")
    fi = np.finfo(dt)
    f64 = np.dtype(np.float64)
    a = g.op1("Abs", x if dt == f64 else cast(g, x, f64))
    usual = g.op1("And", g.op1("Greater", a, scalar(g, 0, f64)), g.op1("Not", g.op1("IsInf", a)))
    a = g.op1("Where", usual, a, scalar(g, 1, f64))  # 0, inf and NaN are answered below
    two = scalar(g, 2, f64)
    e = g.op1("Floor", g.op1("Div", g.op1("Log", a), scalar(g, np.log(2), f64)))
    p = g.op1("Pow", two, e)
    e = g.op1("Sub", e, cast(g, g.op1("Greater", p, a), f64))
    e = g.op1("Add", e, cast(g, g.op1("LessOrEqual", g.op1("Mul", two, g.op1("Pow", two, e)), a), f64))
    e = g.op1("Max", e, scalar(g, fi.minexp, f64))
    ulp = g.op1("Pow", two, g.op1("Sub", e, scalar(g, fi.nmant, f64)))
    up = g.op1("Greater", y, x)
    away = g.op1("Equal", up, g.op1("Greater", x, scalar(g, 0, dt)))
    at_power = g.op1("And", g.op1("Equal", a, g.op1("Pow", two, e)),
                     g.op1("Greater", e, scalar(g, fi.minexp, f64)))
    half = g.op1("And", g.op1("Not", away), at_power)
    step = g.op1("Where", half, g.op1("Div", ulp, two), ulp)
    step = step if dt == f64 else cast(g, step, dt)
    sign = g.op1("Where", up, scalar(g, 1, dt), scalar(g, -1, dt))
    out = g.op1("Add", x, g.op1("Mul", sign, step))
    z = scalar(g, 0, dt)
    zero = g.op1("Equal", x, z)
    out = g.op1("Where", zero, g.op1("Mul", sign, scalar(g, fi.smallest_subnormal, dt)), out)
    big = g.op1("Mul", g.op1("Sign", x), scalar(g, fi.max, dt))
    out = g.op1("Where", g.op1("IsInf", x), big, out)
    out = g.op1("Where", g.op1("Equal", x, y), y, out)
    nan = g.op1("Or", g.op1("IsNaN", x), g.op1("IsNaN", y))
    out = g.op1("Where", nan, scalar(g, np.nan, dt), out)
    # A zero result is -0 when it is x2 = -0, or x1 stepped up from the negative smallest
    # subnormal; IEEE sums give +0 there, and onnxruntime's Where never gives -0 (it selects
    # arithmetically), so the sign is set last by a multiplication.
    equal = g.op1("Equal", x, y)
    neg = g.op1("Or", g.op1("And", equal, _sign_bit(g, y)), g.op1("And", g.op1("Not", equal), _sign_bit(g, x)))
    flip = g.op1("And", neg, g.op1("Equal", out, z))
    return _keep(g.op1("Mul", out, g.op1("Where", flip, scalar(g, -1, dt), scalar(g, 1, dt))), x.perm)


def _sign_bit(g: Graph, v: Val) -> Val:
    """Whether float ``v`` is negative or -0 (1 / -0 is -inf)."""
    zero = scalar(g, 0, v.dtype)
    neg_zero = g.op1("And", g.op1("Equal", v, zero), g.op1("Less", g.op1("Reciprocal", v), zero))
    return g.op1("Or", g.op1("Less", v, zero), neg_zero)


@converter("LeftShift", "RightShift", onnx="BitShift (unsigned); Mul / floor Div by 2**y (signed)", layout=True)
def shift(cx, node, ins):
    g = cx.g
    a, b = align(g, ins[0], ins[1])
    left = node.op == "LeftShift"
    if a.dtype.kind == "u":
        return _keep(g.op1("BitShift", a, b, direction="LEFT" if left else "RIGHT"), a.perm)
    # Signed: x << y is x * 2**y (wrapping like two's complement); x >> y floors x / 2**y.
    unsigned = np.dtype(f"uint{a.dtype.itemsize * 8}")
    p = cast(g, g.op1("BitShift", scalar(g, 1, unsigned), cast(g, b, unsigned), direction="LEFT"), a.dtype)
    if left:
        return _keep(g.op1("Mul", a, p), a.perm)
    return _keep(g.op1("Div", g.op1("Sub", a, g.op1("Mod", a, p, fmod=0)), p), a.perm)


@converter("AddN", "AccumulateNV2", onnx="Sum", layout=True)
def add_n(cx, node, ins):
    g = cx.g
    perm = next((v.perm for v in ins if v.perm is not None), None)
    vals = [_laid_out(g, v, perm) for v in ins] if perm is not None else ins
    if len(vals) == 1:
        return vals[0]
    if vals[0].dtype.kind != "f":  # ONNX Sum is for floats
        out = vals[0]
        for v in vals[1:]:
            out = g.op1("Add", out, v)
        return _keep(out, perm)
    return _keep(g.op1("Sum", *vals), perm)


@converter("ClipByValue", onnx="Max, Min", layout=True)
def clip_by_value(cx, node, ins):
    g = cx.g
    x, lo = align(g, ins[0], ins[1])
    x, hi = align(g, x, ins[2])
    return _keep(g.op1("Max", g.op1("Min", x, hi), lo), x.perm)


@converter("Select", onnx="Where")
def select(cx, node, ins):
    g = cx.g
    c, a, b = ins
    # tf.raw_ops.Select: a vector condition picks whole rows of higher-rank operands.
    if c.rank == 1 and a.rank is not None and a.rank > 1:
        c = unsqueeze(g, c, list(range(1, a.rank)))
    return g.op1("Where", c, a, b)


@converter("SelectV2", onnx="Where", layout=True)
def select_v2(cx, node, ins):
    g = cx.g
    c, a, b = ins
    perm = a.perm or b.perm or c.perm
    if perm is not None:
        c, a, b = (_laid_out(g, v, perm) for v in (c, a, b))
    return _keep(g.op1("Where", c, a, b), perm)


# -- reductions -----------------------------------------------------------------------------------

_REDUCE = {"Sum": "ReduceSum", "Mean": "ReduceMean", "Max": "ReduceMax", "Min": "ReduceMin",
           "Prod": "ReduceProd", "EuclideanNorm": "ReduceL2"}


def _reduce_axes(x: Val, axes_val: Val) -> tuple[list[int], tuple[int, ...] | None, int]:
    """Physical axes to reduce for logical ``axes``, given ``x``'s pending layout."""
    r = need_rank(x)
    axes = sorted({norm_axis(a, r) for a in const_ints(axes_val, "the reduction axes")})
    if x.perm is None:
        return axes, None, r
    phys = sorted(invert(x.perm)[a] for a in axes)
    return phys, x.perm, r


def _reduce(op: str):
    def convert(cx, node, ins):
        g = cx.g
        x, axes_v = ins
        keep = bool(node.attr.get("keep_dims", False))
        if not axes_v.is_const:
            x = g.plain(x)
            return reduce(g, op, x, axes_v, keep)
        axes, perm, r = _reduce_axes(x, axes_v)
        narrow = x.dtype.kind == "b" or (x.dtype.kind in "iu" and x.dtype.itemsize < 4)
        if narrow:  # ONNX reductions start at 32-bit integers; the cast back wraps like TF's
            y = reduce(g, op, cast(g, x, np.int32), axes, keep)
            return _after_reduce(cast(g, y, x.dtype), axes, perm, keep)
        return _after_reduce(reduce(g, op, x, axes, keep), axes, perm, keep)
    return convert


def _after_reduce(out: Val, phys_axes: list[int], perm: tuple[int, ...] | None, keep: bool) -> Val:
    """The pending layout of a reduction's result."""
    if perm is None or keep:
        out.perm = perm
        return out
    left = [perm[i] for i in range(len(perm)) if i not in phys_axes]  # logical axes, physical order
    order = sorted(left)
    new = tuple(order.index(a) for a in left)
    out.perm = None if new == tuple(range(len(new))) else new
    return out


for _tf, _onnx in _REDUCE.items():
    converter(_tf, onnx=_onnx, layout=True)(_reduce(_onnx))


@converter("All", "Any", onnx="ReduceSum of Cast, Equal/Greater", layout=True)
def all_any(cx, node, ins):
    # Counting (ReduceSum) gives TF's answers on empty inputs too: All -> True, Any -> False.
    g = cx.g
    x, axes_v = ins
    keep = bool(node.attr.get("keep_dims", False))
    if not axes_v.is_const:
        x = g.plain(x)
    src = g.op1("Not", x) if node.op == "All" else x
    src.perm = x.perm
    if axes_v.is_const:
        axes, perm, _ = _reduce_axes(src, axes_v)
    else:
        axes, perm = axes_v, None
    count = reduce(g, "ReduceSum", cast(g, src, np.int32), axes, keep)
    zero = scalar(g, 0, np.int32)
    out = g.op1("Equal", count, zero) if node.op == "All" else g.op1("Greater", count, zero)
    if isinstance(axes, list):
        return _after_reduce(out, axes, perm, keep)
    return out


@converter("L2Loss", onnx="Mul, ReduceSum, Div")
def l2_loss(cx, node, ins):
    g, x = cx.g, ins[0]
    s = reduce(g, "ReduceSum", g.op1("Mul", x, x), None, False)
    return g.op1("Div", s, scalar(g, 2, x.dtype))


@converter("ArgMax", "ArgMin", onnx="ArgMax/ArgMin, Cast")
def arg_max(cx, node, ins):
    g = cx.g
    x, axis_v = ins
    axis = norm_axis(const_ints(axis_v, "the axis")[0], need_rank(x))
    if x.dtype.kind == "b" or (x.dtype.kind in "iu" and x.dtype.itemsize < 4):
        x = cast(g, x, np.int32)
    out = g.op1(node.op, x, axis=axis, keepdims=0)
    return cast(g, out, attr_dtype(node, "output_type", 9))  # DT_INT64 by default


# -- matrix products ------------------------------------------------------------------------------

def _swap_last(g: Graph, x: Val) -> Val:
    r = need_rank(x)
    perm = list(range(r - 2)) + [r - 1, r - 2]
    return g.op1("Transpose", x, perm=perm)


@converter("MatMul", onnx="MatMul (Gemm after fusion)")
def matmul(cx, node, ins):
    g = cx.g
    a, b = ins
    if node.attr.get("transpose_a"):
        a = _swap_last(g, a)
    if node.attr.get("transpose_b"):
        b = _swap_last(g, b)
    out = _matmul(g, a, b)
    src = a.origin[1] if a.origin is not None and a.origin[0] == "reshape" else None
    if src is not None and a.rank == 2 and b.is_const and b.rank == 2 and src.shape is not None \
            and len(src.shape) > 2 and src.shape[-1] == a.shape[-1] == b.shape[0]:
        out.origin = ("flat_matmul", src, b)  # see array.reshape: folded if reshaped back
    return out


def _matmul(g: Graph, a: Val, b: Val) -> Val:
    if a.dtype.kind == "b" or onnx_type(a.dtype) is None:
        raise ExportError(f"ONNX MatMul has no {a.dtype} form")
    if a.dtype.kind in "iu" and a.dtype not in (np.int32, np.int64, np.uint32, np.uint64):
        out = g.op1("MatMul", cast(g, a, np.int32), cast(g, b, np.int32))
        return cast(g, out, a.dtype)
    return g.op1("MatMul", a, b)


@converter("BatchMatMul", "BatchMatMulV2", "BatchMatMulV3", onnx="MatMul")
def batch_matmul(cx, node, ins):
    g = cx.g
    a, b = ins
    if node.attr.get("adj_x"):
        a = _swap_last(g, a)
    if node.attr.get("adj_y"):
        b = _swap_last(g, b)
    if a.dtype != b.dtype:
        out_t = attr_dtype(node, "Tout")
        a, b = cast(g, a, out_t), cast(g, b, out_t)
    out = _matmul(g, a, b)
    if "Tout" in node.attr:
        out = cast(g, out, attr_dtype(node, "Tout"))
    return out


@converter("Einsum", onnx="Einsum")
def einsum(cx, node, ins):
    eq = node.attr["equation"]
    eq = eq.decode() if isinstance(eq, bytes) else eq
    return cx.g.op1("Einsum", *ins, equation=eq.replace(" ", ""))


# -- scans, ranges, sorting ------------------------------------------------------------------------

@converter("Cumsum", onnx="CumSum")
def cumsum(cx, node, ins):
    g = cx.g
    x, axis = ins
    return g.op1("CumSum", x, i64(g, axis), exclusive=int(bool(node.attr.get("exclusive"))),
                 reverse=int(bool(node.attr.get("reverse"))))


@converter("Range", onnx="Range")
def range_(cx, node, ins):
    g = cx.g
    dt = attr_dtype(node, "Tidx")
    start, limit, delta = (cast(g, v, dt) for v in ins)
    return g.op1("Range", *(_scalar_of(g, v) for v in (start, limit, delta)))


def _scalar_of(g: Graph, v: Val) -> Val:
    if v.rank == 0:
        return v
    return g.op1("Reshape", v, g.const(np.zeros(0, np.int64)))


@converter("LinSpace", onnx="Range, Mul, Add")
def linspace(cx, node, ins):
    g = cx.g
    start, stop, num = (_scalar_of(g, v) for v in ins)
    dt = start.dtype
    n = cast(g, num, dt)
    one = scalar(g, 1, dt)
    step = g.op1("Div", g.op1("Sub", stop, start), g.op1("Max", g.op1("Sub", n, one), one))
    idx = g.op1("Range", scalar(g, 0, dt), n, one)
    out = g.op1("Add", start, g.op1("Mul", idx, step))
    # tf.linspace ends exactly on stop when num > 1.
    last = g.op1("Sub", cast(g, num, np.int64), scalar(g, 1, np.int64))
    is_last = g.op1("Equal", g.op1("Range", scalar(g, 0, np.int64), cast(g, num, np.int64),
                                   scalar(g, 1, np.int64)), last)
    return g.op1("Where", g.op1("And", is_last, g.op1("Greater", last, scalar(g, 0, np.int64))),
                 stop, out)


@converter("TopKV2", "TopK", onnx="TopK, Cast")
def top_k(cx, node, ins):
    g = cx.g
    x = ins[0]
    k = g.op1("Reshape", i64(g, ins[1]), g.const(np.asarray([1], np.int64))) if len(ins) > 1 \
        else g.const(np.asarray([node.attr["k"]], np.int64))
    # sorted=False leaves the order to the implementation: ONNX's sorted order is one TF may give.
    values, idx = g.op("TopK", [x, k], outputs=2, axis=-1, largest=1, sorted=1)
    return [values, cast(g, idx, attr_dtype(node, "index_type", 3))]  # DT_INT32 by default


@converter("Unique", "UniqueV2", "UniqueWithCounts", "UniqueWithCountsV2", onnx="Unique, Cast")
def unique(cx, node, ins):
    g, x = cx.g, ins[0]
    attrs = {}
    if node.op.endswith("V2"):
        axes = const_ints(ins[1], "the axis")
        if len(axes) > 1:
            raise ExportError("Unique over several axes")
        if axes:
            attrs["axis"] = norm_axis(axes[0], need_rank(x))
        elif x.rank != 1:
            raise ExportError("Unique without an axis of a tensor that is not 1-D")
    # onnxruntime's Unique takes float, double, int8, int64 and strings.
    wide = x.dtype.kind in "iub" and x.dtype not in (np.dtype(np.int8), np.dtype(np.int64))
    y, _, inverse, counts = g.op("Unique", [cast(g, x, np.int64) if wide else x], outputs=4, sorted=0, **attrs)
    idx = attr_dtype(node, "out_idx", 3)
    outs = [cast(g, y, x.dtype), cast(g, inverse, idx)]
    return outs + [cast(g, counts, idx)] if "WithCounts" in node.op else outs


@converter("Bucketize", onnx="GreaterOrEqual, ReduceSum")
def bucketize(cx, node, ins):
    g, x = cx.g, ins[0]
    bounds = np.asarray(node.attr.get("boundaries") or [], np.float32)
    if bounds.size == 0:
        return g.op1("Mul", cast(g, x, np.int32), scalar(g, 0, np.int32))
    xe = unsqueeze(g, cast(g, x, np.float32), [-1])
    ge = cast(g, g.op1("GreaterOrEqual", xe, g.const(bounds)), np.int32)
    return reduce(g, "ReduceSum", ge, [-1], False)


@converter("InvertPermutation", onnx="ScatterElements")
def invert_permutation(cx, node, ins):
    g, p = cx.g, ins[0]
    n = g.op1("Shape", p)
    ar = cast(g, g.op1("Range", scalar(g, 0, np.int64), g.op1("Squeeze", n, g.const(np.asarray([0], np.int64))),
                       scalar(g, 1, np.int64)), p.dtype)
    return g.op1("ScatterElements", g.op1("Expand", scalar(g, 0, p.dtype), n), i64(g, p), ar, axis=0)


@converter("DenseBincount", "Bincount", onnx="ScatterND(reduction=add/max), Slice")
def bincount(cx, node, ins):
    from savedmodel_io.onnx.ops.counting import count_table

    g = cx.g
    arr, size, weights = ins
    if cx.opset < 18:
        raise ExportError("bincount needs ONNX opset 18 (ScatterND reductions)")
    r = need_rank(arr)
    if r > 2:
        raise ExportError("bincount of a rank-3 or higher input")
    use_w = weights.shape is None or any(d != 0 for d in weights.shape)
    flat = g.const(np.asarray([-1], np.int64))
    values = g.op1("Reshape", arr, flat)
    w = g.op1("Reshape", weights, flat) if use_w else None
    binary = bool(node.attr.get("binary_output", False))
    dt = attr_dtype(node, "T")
    if node.op == "Bincount" or r < 2:  # one row counting every element
        rows = g.op1("Mul", i64(g, values), scalar(g, 0, np.int64))
        table = count_table(g, rows, values, w, g.const(np.asarray(1, np.int64)), size, binary, dt)
        return g.op1("Squeeze", table, g.const(np.asarray([0], np.int64)))
    # One row of counts per input row.
    from savedmodel_io.onnx.ops._util import dim_of

    n = g.op1("Reshape", dim_of(g, arr, 0), g.const(np.zeros(0, np.int64)))
    row_of = g.op1("Expand", unsqueeze(g, g.op1("Range", scalar(g, 0, np.int64), n, scalar(g, 1, np.int64)), [1]),
                   g.op1("Shape", arr))
    return count_table(g, g.op1("Reshape", row_of, flat), values, w, n, size, binary, dt)


@converter("Cumprod", onnx="CumSum of Log, Exp (floats)")
def cumprod(cx, node, ins):
    g = cx.g
    x, axis = ins
    if x.dtype.kind != "f":
        raise ExportError("Cumprod of integers (ONNX has no product scan)")
    ax = i64(g, axis)
    attrs = {"exclusive": int(bool(node.attr.get("exclusive"))), "reverse": int(bool(node.attr.get("reverse")))}
    zero, one = scalar(g, 0, x.dtype), scalar(g, 1, x.dtype)
    is_zero = g.op1("Equal", x, zero)
    # |prod| = exp(sum log|x|); the sign flips with each negative factor; a zero zeroes the rest.
    logs = g.op1("Log", g.op1("Where", is_zero, one, g.op1("Abs", x)))
    mag = g.op1("Exp", g.op1("CumSum", logs, ax, **attrs))
    negs = g.op1("CumSum", cast(g, g.op1("Less", x, zero), np.int32), ax, **attrs)
    odd = cast(g, g.op1("Mod", negs, scalar(g, 2, np.int32), fmod=0), x.dtype)
    sign = g.op1("Sub", one, g.op1("Mul", scalar(g, 2, x.dtype), odd))
    zeros = g.op1("Greater", g.op1("CumSum", cast(g, is_zero, np.int32), ax, **attrs), scalar(g, 0, np.int32))
    return g.op1("Where", zeros, zero, g.op1("Mul", sign, mag))


@converter("ApproximateEqual", onnx="Sub, Abs, Less")
def approximate_equal(cx, node, ins):
    g = cx.g
    x, y = ins
    # cwise_op_approximate_equal.cc: |x - y| < tolerance, the tolerance in x's type.
    tol = np.asarray(node.attr.get("tolerance", 1e-5)).astype(x.dtype)
    return g.op1("Less", g.op1("Abs", g.op1("Sub", x, y)), g.const(tol))


@converter("ToBool", onnx="Size, Greater / Equal, Not")
def to_bool(cx, node, ins):
    g, x = cx.g, ins[0]
    if x.dtype is not None and x.dtype.kind == "O" and x.rank == 0:
        if cx.opset < 19:
            raise ExportError("comparing strings needs ONNX opset 19 (Equal on strings)")
        return g.op1("Not", g.op1("Equal", x, g.const(np.asarray(b"", dtype=object))))  # non-empty string
    return truth(g, x)


@converter("CumulativeLogsumexp", onnx="Scan (logaddexp steps)")
def cumulative_logsumexp(cx, node, ins):
    g = cx.g
    x, axis_v = ins
    r = need_rank(x)
    axis = norm_axis(const_ints(axis_v, "the axis")[0], r)
    dt = x.dtype
    # scan_ops.h: a running log-sum-exp (exclusive scans start from -inf); half types in float32.
    wt = np.dtype(np.float32) if dt.itemsize < 4 else dt
    xw = cast(g, x, wt)
    dims = g.op1("Shape", xw)
    state_dims = g.op1("Concat", g.op1("Slice", dims, g.const(np.asarray([0], np.int64)),
                                       g.const(np.asarray([axis], np.int64))),
                       g.op1("Slice", dims, g.const(np.asarray([axis + 1], np.int64)),
                             g.const(np.asarray([r], np.int64))), axis=0)
    init = g.op1("Expand", scalar(g, -np.inf, wt), state_dims)
    names = (cx.model.fresh(f"{g.hint}/acc"), cx.model.fresh(f"{g.hint}/elem"))
    slice_shape = None if xw.shape is None else tuple(d for i, d in enumerate(xw.shape) if i != axis)
    exclusive = bool(node.attr.get("exclusive"))

    def step(h: Graph) -> list[Val]:
        acc, elem = (Val(n, wt, slice_shape) for n in names)
        new = logaddexp(h, acc, elem)
        return [new, acc if exclusive else new]

    t = tensor_type(wt, slice_shape)
    body, _ = body_graph(g, "logaddexp", step, [(names[0], t), (names[1], t)])
    rev = int(bool(node.attr.get("reverse")))
    _, out = g.op("Scan", [init, xw], outputs=2, types=[t, tensor_type(wt, xw.shape)], body=body,
                  num_scan_inputs=1, scan_input_axes=[axis], scan_output_axes=[axis],
                  scan_input_directions=[rev], scan_output_directions=[rev])
    return cast(g, out, dt)


def logaddexp(g: Graph, a: Val, b: Val) -> Val:
    """log(exp(a) + exp(b)) as numpy computes it: max + log1p(exp(-|a - b|)); equal infinities kept."""
    big = g.op1("Max", a, b)
    e = g.op1("Exp", g.op1("Neg", g.op1("Abs", g.op1("Sub", a, b))))
    # log1p(e) without a log1p op: log(u) * e / (u - 1) with u = 1 + e is exact to rounding (Goldberg).
    one = scalar(g, 1, a.dtype)
    u = g.op1("Add", one, e)
    log1p = g.op1("Where", g.op1("Equal", u, one), e,
                  g.op1("Div", g.op1("Mul", g.op1("Log", u), e), g.op1("Sub", u, one)))
    same_inf = g.op1("And", g.op1("Equal", a, b), g.op1("IsInf", a))
    return g.op1("Where", same_inf, a, g.op1("Add", big, log1p))


# The set bits of each byte value, for PopulationCount's per-byte lookup.
_BYTE_BITS = np.unpackbits(np.arange(256, dtype=np.uint8)[:, None], axis=1).sum(axis=1).astype(np.int64)


@converter("PopulationCount", onnx="Cast, BitShift, Mod, Gather, ReduceSum", layout=True)
def population_count(cx, node, ins):
    """Set bits of each integer, by bytes: a 256-entry table gathered per byte and summed (uint8 out)."""
    # tensorflow/tensorflow tensorflow/core/kernels/population_count_op.cc counts the bits of the
    # value as the unsigned type of its width (two's complement for signed types). ONNX Cast from
    # a signed to the same-width unsigned type keeps the bits on onnxruntime (static_cast, modulo
    # 2**n); BitShift (opset 11) and Mod take every unsigned type there.
    g, x = cx.g, ins[0]
    if x.dtype.kind not in "iu":
        raise ExportError(f"PopulationCount counts the bits of integers, not {x.dtype}")
    width = x.dtype.itemsize
    u = cast(g, x, np.dtype(f"uint{8 * width}"))
    if width == 1:
        bits = g.op1("Gather", g.const(_BYTE_BITS), cast(g, u, np.int64), axis=0)
    else:
        shifts = g.const(np.arange(0, 8 * width, 8, dtype=u.dtype))
        octets = g.op1("Mod", g.op1("BitShift", unsqueeze(g, u, [-1]), shifts, direction="RIGHT"),
                       scalar(g, 256, u.dtype), fmod=0)
        counts = g.op1("Gather", g.const(_BYTE_BITS), cast(g, octets, np.int64), axis=0)
        bits = reduce(g, "ReduceSum", counts, [-1], keepdims=False)
    return _keep(cast(g, bits, np.uint8), x.perm)


inexpressible("random numbers: ONNX's generators do not reproduce TensorFlow's", "RandomUniform",
              "RandomUniformInt", "RandomStandardNormal", "TruncatedNormal", "Multinomial", "RandomShuffle",
              "StatelessMultinomial", "StatelessRandomGetAlg", "StatelessRandomGetKeyCounter",
              "StatelessRandomGetKeyCounterAlg", "StatelessRandomNormal", "StatelessRandomNormalV2",
              "StatelessRandomUniform", "StatelessRandomUniformFullInt", "StatelessRandomUniformFullIntV2",
              "StatelessRandomUniformInt", "StatelessRandomUniformIntV2", "StatelessRandomUniformV2",
              "StatelessShuffle", "StatelessTruncatedNormal", "StatelessTruncatedNormalV2")
