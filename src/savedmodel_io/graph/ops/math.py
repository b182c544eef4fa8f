"""Elementwise math, comparisons, casts, reductions and matrix products (TF semantics)."""

from __future__ import annotations

import functools

import numpy as np

from savedmodel_io.graph.ops import kernel
from savedmodel_io.graph.ops._accel import accel
from savedmodel_io.graph.ops._util import attr_str, axis_list, bad, np_dtype


def _a(x) -> np.ndarray:
    return x if isinstance(x, np.ndarray) else np.asarray(x)


# The runtime runs every graph under np.errstate(all="ignore") (TensorFlow's float ops give
# inf/nan silently), so the wrappers below do not enter it for each op.

def _binary(fn):
    def run(node, inputs, ctx):
        x, y = _a(inputs[0]), _a(inputs[1])
        try:
            out = fn(x, y)
        except ValueError:
            if _broadcastable(x.shape, y.shape):
                raise
            raise bad(node, f"Incompatible shapes: {list(x.shape)} vs. {list(y.shape)}") from None
        out = _a(out)
        if out.dtype != x.dtype and out.dtype.kind not in "b" and x.dtype.kind != "O":
            out = out.astype(x.dtype)
        return out
    return run


def _broadcastable(a: tuple[int, ...], b: tuple[int, ...]) -> bool:
    try:
        np.broadcast_shapes(a, b)
    except ValueError:
        return False
    return True


def _unary(fn):
    def run(node, inputs, ctx):
        x = _a(inputs[0])
        out = _a(fn(x))
        if out.dtype != x.dtype and out.dtype.kind != "b":
            out = out.astype(x.dtype)
        return out
    return run


def _int_zero_check(node, y):
    if y.dtype.kind in "iu" and (y == 0).any():
        raise bad(node, "Integer division by zero")


def _trunc_div(x, y):
    """C division: integers round toward zero; floats divide exactly (Div's float case)."""
    if x.dtype.kind in "iu":
        q = np.floor_divide(x, y)
        fix = (np.remainder(x, y) != 0) & ((x < 0) != (y < 0))
        return q + fix.astype(q.dtype)
    return np.true_divide(x, y)


def _trunc_div_float(x, y):
    """TruncateDiv: the quotient rounded toward zero, floats included."""
    q = _trunc_div(x, y)
    return np.trunc(q) if q.dtype.kind in "fc" else q


def _floor_div(x, y):
    if x.dtype.kind in "iu":
        return np.floor_divide(x, y)
    return np.floor(np.true_divide(x, y))


for _op, _fn in {
    "Add": np.add, "AddV2": np.add, "Sub": np.subtract, "Mul": np.multiply,
    "Maximum": np.maximum, "Minimum": np.minimum, "SquaredDifference": lambda x, y: np.square(x - y),
    "Atan2": np.arctan2, "BitwiseAnd": np.bitwise_and, "BitwiseOr": np.bitwise_or,
    "BitwiseXor": np.bitwise_xor, "LeftShift": np.left_shift, "RightShift": np.right_shift,
    "Xdivy": lambda x, y: np.where(x == 0, 0, x / y),
    "Xlogy": lambda x, y: np.where(x == 0, 0, x * np.log(y)),
    "MulNoNan": lambda x, y: np.where(y == 0, 0, x * y),
    "DivNoNan": lambda x, y: np.where(y == 0, 0, x / np.where(y == 0, 1, y)),
}.items():
    kernel(_op)(_binary(_fn))


def _division(fn):
    base = _binary(fn)

    def run(node, inputs, ctx):
        _int_zero_check(node, _a(inputs[1]))
        return base(node, inputs, ctx)
    return run


kernel("RealDiv")(_division(np.true_divide))
kernel("Div")(_division(_trunc_div))
kernel("TruncateDiv")(_division(_trunc_div_float))
kernel("FloorDiv")(_division(_floor_div))


def _floor_mod(x, y):
    """Floored remainder; floats as TF computes them (fmod, then + y when signs differ: -0 kept)."""
    if x.dtype.kind in "iu":
        return np.mod(x, y)
    r = np.fmod(x, y)
    return np.where((r != 0) & ((y < 0) != (r < 0)), r + y, r)


kernel("FloorMod")(_division(_floor_mod))
# Mod is TruncateMod under its TF1 name: C's % / fmod (sign of the dividend).
kernel("TruncateMod", "Mod")(_division(np.fmod))


@kernel("Pow")
def pow_(node, inputs, ctx):
    x, y = _a(inputs[0]), _a(inputs[1])
    if x.dtype.kind in "iu" and (y < 0).any():
        raise bad(node, "Integers to negative integer powers are not allowed")
    with np.errstate(all="ignore"):
        return np.power(x, y).astype(x.dtype)


for _op, _fn in {
    "Equal": np.equal, "NotEqual": np.not_equal, "Less": np.less, "LessEqual": np.less_equal,
    "Greater": np.greater, "GreaterEqual": np.greater_equal, "LogicalAnd": np.logical_and,
    "LogicalOr": np.logical_or,
}.items():
    def _cmp(node, inputs, ctx, _fn=_fn):
        x, y = _a(inputs[0]), _a(inputs[1])
        if x.shape != y.shape and not _broadcastable(x.shape, y.shape):
            if node.op in ("Equal", "NotEqual") and not node.attr["incompatible_shape_error"]:
                return np.array(node.op == "NotEqual")
            raise bad(node, f"Incompatible shapes: {list(x.shape)} vs. {list(y.shape)}")
        return np.asarray(_fn(x, y))
    kernel(_op)(_cmp)


def _erfc_far(z: np.ndarray) -> np.ndarray:
    """erfc(z) for z >= 0 (float64), fractional error < 1.2e-7: Numerical Recipes' ``erfcc``
    Chebyshev fit, erfc(z) = t exp(-z^2 + P(t)) with t = 1 / (1 + z/2)."""
    t = 1.0 / (1.0 + 0.5 * z)
    poly = -1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (
        -0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (
            -0.82215223 + t * 0.17087277))))))))
    return t * np.exp(-z * z + poly)


def _erf_numpy(x: np.ndarray) -> np.ndarray:
    """erf to ~1e-7 relative: Taylor series near 0, 1 - erfc elsewhere."""
    xd = x.astype(np.float64)
    z = np.abs(xd)
    far = np.sign(xd) * (1.0 - _erfc_far(z))
    x2 = xd * xd
    near = xd * (2.0 / np.sqrt(np.pi)) * (1 - x2 / 3 * (1 - x2 * 3 / 10 * (1 - x2 * 5 / 21 * (
        1 - x2 * 7 / 36 * (1 - x2 * 9 / 55 * (1 - x2 * 11 / 78 * (1 - x2 * 13 / 105)))))))
    return np.where(z < 0.5, near, far)


def _erfc_numpy(x: np.ndarray) -> np.ndarray:
    """erfc to ~1e-7 relative, tails included (erfc(-z) = 2 - erfc(z))."""
    xd = x.astype(np.float64)
    e = _erfc_far(np.abs(xd))
    return np.where(xd < 0, 2.0 - e, e)


def _float32_accel(name: str, fallback):
    """``fallback`` (numpy), or the C loop of the same math for float32 arrays when built."""
    def run(x: np.ndarray) -> np.ndarray:
        if accel is None or x.dtype != np.float32:
            return fallback(x)
        src = np.ascontiguousarray(x)
        out = np.empty(src.shape, np.float32)
        getattr(accel, name)(src.reshape(-1), out.reshape(-1))
        return out
    return run


_erf = _float32_accel("erf", _erf_numpy)
erfc = _erfc = _float32_accel("erfc", _erfc_numpy)


def _sigmoid(x):
    """1 / (1 + exp(-x)), in place on one temporary (exp overflowing to inf gives 0)."""
    if x.dtype.kind not in "fc":
        return 1 / (1 + np.exp(-x))
    t = np.negative(x)
    np.exp(t, out=t)
    t += 1
    return np.reciprocal(t, out=t)


def _round_half_even(x):
    return np.round(x) if x.dtype.kind == "f" else x


for _op, _fn in {
    "Neg": np.negative, "Abs": np.abs, "Exp": np.exp, "Log": np.log, "Log1p": np.log1p,
    "Expm1": np.expm1, "Sqrt": np.sqrt, "Rsqrt": lambda x: 1 / np.sqrt(x), "Square": np.square,
    "Reciprocal": lambda x: 1 / x, "Inv": lambda x: 1 / x, "Sign": np.sign, "Floor": np.floor,
    "Ceil": np.ceil, "Round": _round_half_even, "Rint": np.rint, "Sin": np.sin, "Cos": np.cos,
    "Tan": np.tan, "Asin": np.arcsin, "Acos": np.arccos, "Atan": np.arctan, "Sinh": np.sinh,
    "Cosh": np.cosh, "Tanh": np.tanh, "Asinh": np.arcsinh, "Acosh": np.arccosh,
    "Atanh": np.arctanh, "Sigmoid": _sigmoid, "Erf": _erf, "Erfc": _erfc,
    "Softplus": lambda x: np.logaddexp(0, x), "Softsign": lambda x: x / (1 + np.abs(x)),
    "Invert": np.invert, "Real": np.real, "Imag": np.imag, "Conj": np.conj,
}.items():
    kernel(_op)(_unary(_fn))


@kernel("LogicalNot")
def logical_not(node, inputs, ctx):
    return np.logical_not(inputs[0])


@kernel("IsNan", "IsInf", "IsFinite")
def is_nan(node, inputs, ctx):
    return {"IsNan": np.isnan, "IsInf": np.isinf, "IsFinite": np.isfinite}[node.op](_a(inputs[0]))


@kernel("AddN")
def add_n(node, inputs, ctx):
    out = _a(inputs[0]).copy()
    for v in inputs[1:]:
        out = out + v
    return out.astype(_a(inputs[0]).dtype)


@kernel("ClipByValue")
def clip_by_value(node, inputs, ctx):
    x = _a(inputs[0])
    for bound in (_a(inputs[1]), _a(inputs[2])):
        if bound.shape != () and bound.shape != x.shape:
            raise bad(node, "clip_value_min and clip_value_max must be either scalars or have the "
                      f"same shape as the input: {list(bound.shape)} vs {list(x.shape)}")
    return np.minimum(np.maximum(x, inputs[1]), inputs[2]).astype(x.dtype)


@kernel("Cast")
def cast(node, inputs, ctx):
    x = _a(inputs[0])
    to = np_dtype(node.attr["DstT"])
    if x.dtype == to:
        return x
    if to.kind == "b":
        return x != 0
    with np.errstate(all="ignore"):
        if x.dtype.kind in "fc" and to.kind in "iu":
            return _float_to_int(np.real(x) if x.dtype.kind == "c" else x, to)
        return x.astype(to)


def _float_to_int(x: np.ndarray, to: np.dtype) -> np.ndarray:
    """Float -> integer as TF's CPU kernel does it (x86 cvtt): truncate toward zero; NaN and
    out-of-range values become the 32/64-bit minimum; narrower types wrap that 32-bit value."""
    wide = np.dtype(np.int64) if to.itemsize == 8 or to == np.uint32 else np.dtype(np.int32)
    info = np.iinfo(wide)
    t = np.trunc(x.astype(np.float64))
    ok = np.isfinite(t) & (t >= info.min) & (t <= info.max)
    return np.where(ok, t, info.min).astype(wide).astype(to)


def _reduce(fn):
    def run(node, inputs, ctx):
        x = _a(inputs[0])
        axes = axis_list(inputs[1], x.ndim, node) if x.ndim else ()
        if len(axes) != np.asarray(inputs[1]).size:
            raise bad(node, "Invalid reduction arguments: Axes contains duplicate dimension")
        keep = bool(node.attr["keep_dims"])
        out = fn(node, x, axes, keep)
        return _a(out)
    return run


def _sum(node, x, axes, keep):
    return np.sum(x, axis=axes, keepdims=keep, dtype=x.dtype if x.dtype.kind != "b" else None)


def _mean(node, x, axes, keep):
    if x.dtype.kind in "iu":
        n = int(np.prod([x.shape[a] for a in axes], dtype=np.int64)) if axes else 1
        s = np.sum(x, axis=axes, keepdims=keep, dtype=np.int64)
        return _trunc_div(s, np.int64(max(n, 1))).astype(x.dtype)
    if x.size == 0:  # TF: the mean of nothing is NaN (0/0), without numpy's warning
        with np.errstate(all="ignore"):
            return np.sum(x, axis=axes, keepdims=keep, dtype=x.dtype) / np.asarray(0, x.dtype)
    return np.mean(x, axis=axes, keepdims=keep, dtype=x.dtype)


def _extreme(fn, name):
    def run(node, x, axes, keep):
        if x.size == 0:
            if x.dtype.kind == "f":
                init = -np.inf if name == "max" else np.inf
            else:
                info = np.iinfo(x.dtype)
                init = info.min if name == "max" else info.max
            return fn(x, axis=axes, keepdims=keep, initial=init)
        return fn(x, axis=axes, keepdims=keep)
    return run


kernel("Sum")(_reduce(_sum))
kernel("Mean")(_reduce(_mean))
kernel("Max")(_reduce(_extreme(np.max, "max")))
kernel("Min")(_reduce(_extreme(np.min, "min")))
kernel("Prod")(_reduce(lambda n, x, a, k: np.prod(x, axis=a, keepdims=k, dtype=x.dtype)))
kernel("All")(_reduce(lambda n, x, a, k: np.all(x, axis=a, keepdims=k)))
kernel("Any")(_reduce(lambda n, x, a, k: np.any(x, axis=a, keepdims=k)))
kernel("EuclideanNorm")(_reduce(lambda n, x, a, k: np.sqrt(np.sum(x * x, axis=a, keepdims=k)).astype(x.dtype)))


@kernel("ArgMax", "ArgMin")
def arg_max(node, inputs, ctx):
    x = _a(inputs[0])
    axis = int(np.asarray(inputs[1]))
    if not -x.ndim <= axis < x.ndim:
        raise bad(node, f"axis {axis} is out of range for a rank-{x.ndim} tensor")
    if x.shape[axis] == 0:
        raise bad(node, "Reduction axis is empty")
    fn = np.argmax if node.op == "ArgMax" else np.argmin
    if x.dtype.kind == "f":  # TF's comparisons never pick a NaN over a number
        x = np.where(np.isnan(x), -np.inf if node.op == "ArgMax" else np.inf, x)
    return fn(x, axis=axis).astype(np_dtype(node.attr["output_type"]))


@kernel("Cumsum", "Cumprod")
def cumulative(node, inputs, ctx):
    x = _a(inputs[0])
    axis = int(np.asarray(inputs[1]))
    if not -x.ndim <= axis < x.ndim:
        raise bad(node, f"ScanOp: Expected scan axis in the range [{-x.ndim}, {x.ndim}), "
                  f"but got {axis}")
    axis %= x.ndim
    exclusive = bool(node.attr["exclusive"])
    reverse = bool(node.attr["reverse"])
    fn, ident = (np.cumsum, 0) if node.op == "Cumsum" else (np.cumprod, 1)
    y = np.flip(x, axis) if reverse else x
    out = fn(y, axis=axis, dtype=x.dtype)
    if exclusive:
        pad = np.full_like(np.take(out, [0], axis=axis), ident)
        out = np.concatenate([pad, np.delete(out, -1, axis=axis)], axis=axis)
    return np.flip(out, axis) if reverse else out


def prepare_matmul(node, consts: dict) -> np.ndarray | None:
    """A constant right-hand matrix as BLAS wants it: transposed once for transpose_b, and
    contiguous (a strided view would be copied, or multiplied without BLAS, at every call)."""
    b = consts.get(1)
    if isinstance(b, np.ndarray) and b.ndim == 2:
        return np.ascontiguousarray(b.T if node.attr.get("transpose_b") else b)
    return None


def matmul_operands(node, inputs) -> tuple[np.ndarray, np.ndarray]:
    """MatMul's (a, b) with the transposes applied, shapes checked."""
    a, b = _a(inputs[0]), _a(inputs[1])
    if a.ndim != 2 or b.ndim != 2:
        raise bad(node, f"MatMul needs matrices, got shapes {a.shape} and {b.shape}")
    if node.attr["transpose_a"]:
        a = a.T
    if node.prepared is not None:
        b = node.prepared
    elif node.attr["transpose_b"]:
        b = b.T
    if a.shape[1] != b.shape[0]:
        raise bad(node, f"Matrix size-incompatible: In[0]: {list(a.shape)}, In[1]: {list(b.shape)}")
    return a, b


@kernel("MatMul", prepare=prepare_matmul)
def matmul(node, inputs, ctx):
    return np.matmul(*matmul_operands(node, inputs))


@kernel("BatchMatMul", "BatchMatMulV2", "BatchMatMulV3")
def batch_matmul(node, inputs, ctx):
    a, b = _a(inputs[0]), _a(inputs[1])
    if node.attr["adj_x"]:
        a = np.conj(np.swapaxes(a, -1, -2))
    if node.attr["adj_y"]:
        b = np.conj(np.swapaxes(b, -1, -2))
    if a.shape[-1] != b.shape[-2]:
        raise bad(node, f"Matrix size-incompatible: In[0]: {list(a.shape)}, In[1]: {list(b.shape)}")
    out = np.matmul(a, b)
    t = node.attr.get("Tout")
    return out.astype(np_dtype(t)) if t is not None else out


@kernel("Einsum")
def einsum(node, inputs, ctx):
    eq = attr_str(node, "equation").replace(" ", "")
    arrays = [_a(v) for v in inputs]
    try:
        if len(arrays) == 2:
            plan = _einsum_plan(eq)
            if plan is not None:
                out = _einsum_matmul(plan, arrays[0], arrays[1])
                if out is not None:
                    return out
        return np.asarray(np.einsum(eq, *arrays, optimize=len(arrays) > 2))
    except ValueError as exc:
        raise bad(node, f"einsum {eq!r}: {exc}") from None


@functools.lru_cache(maxsize=256)
def _einsum_plan(eq: str) -> tuple[str, str, str, str, str, str, str] | None:
    """Labels of a two-operand einsum as (a, b, out, batch, left, contracted, right), or None
    when numpy's einsum should run it (ellipsis, repeated labels, labels summed in one operand)."""
    if "->" not in eq or "." in eq:
        return None
    lhs, out = eq.split("->")
    if lhs.count(",") != 1:
        return None
    a, b = lhs.split(",")
    if any(len(set(t)) != len(t) for t in (a, b, out)) or not set(out) <= set(a) | set(b):
        return None
    if (set(a) ^ set(b)) - set(out):
        return None
    batch = "".join(c for c in out if c in a and c in b)
    left = "".join(c for c in out if c in a and c not in b)
    right = "".join(c for c in out if c in b and c not in a)
    contracted = "".join(c for c in a if c in b and c not in out)
    return a, b, out, batch, left, contracted, right


def _einsum_matmul(plan, x: np.ndarray, y: np.ndarray) -> np.ndarray | None:
    """A two-operand einsum as one (batched) BLAS matmul: operands transposed to
    (batch, left, contracted) and (batch, contracted, right). None if sizes disagree."""
    a, b, out, batch, left, contracted, right = plan
    if x.ndim != len(a) or y.ndim != len(b):
        return None
    size = dict(zip(a, x.shape))
    for c, d in zip(b, y.shape):
        if size.setdefault(c, d) != d:
            return None
    xt = x.transpose([a.index(c) for c in batch + left + contracted])
    yt = y.transpose([b.index(c) for c in batch + contracted + right])

    def prod(labels: str) -> int:
        n = 1
        for c in labels:
            n *= size[c]
        return n
    nb, nl, nk, nr = prod(batch), prod(left), prod(contracted), prod(right)
    z = np.matmul(xt.reshape(nb, nl, nk), yt.reshape(nb, nk, nr))
    z = z.reshape([size[c] for c in batch + left + right])
    order = batch + left + right
    return z.transpose([order.index(c) for c in out])


@kernel("Bucketize")
def bucketize(node, inputs, ctx):
    return np.searchsorted(np.asarray(node.attr["boundaries"]), _a(inputs[0]), side="right").astype(np.int32)


@kernel("UnsortedSegmentSum", "UnsortedSegmentMax", "UnsortedSegmentMin", "UnsortedSegmentProd")
def unsorted_segment(node, inputs, ctx):
    data, ids = _a(inputs[0]), _a(inputs[1])
    n = int(np.asarray(inputs[2]))
    shape = (n,) + data.shape[ids.ndim:]
    red = {"UnsortedSegmentSum": (np.add, 0), "UnsortedSegmentProd": (np.multiply, 1),
           "UnsortedSegmentMax": (np.maximum, None), "UnsortedSegmentMin": (np.minimum, None)}[node.op]
    fn, ident = red
    if ident is None:
        ident = (np.finfo(data.dtype).min if fn is np.maximum else np.finfo(data.dtype).max) \
            if data.dtype.kind == "f" else (np.iinfo(data.dtype).min if fn is np.maximum else np.iinfo(data.dtype).max)
    out = np.full(shape, ident, dtype=data.dtype)
    flat = ids.reshape(-1)
    if (flat >= n).any():
        i = int(np.argmax(flat >= n))
        raise bad(node, f"segment_ids[{i}] = {int(flat[i])} is out of range [0, {n})")
    ok = flat >= 0
    fn.at(out, flat[ok], data.reshape((-1,) + data.shape[ids.ndim:])[ok])
    return out


@kernel("L2Loss")
def l2_loss(node, inputs, ctx):
    x = _a(inputs[0])
    return (np.sum(np.square(x)) / 2).astype(x.dtype)


@kernel("DenseBincount", "Bincount")
def dense_bincount(node, inputs, ctx):
    if node.op == "Bincount":  # (arr, size, weights)
        arr, size, weights = _a(inputs[0]), int(np.asarray(inputs[1])), _a(inputs[2])
    else:  # (input, size, weights)
        arr, size, weights = _a(inputs[0]), int(np.asarray(inputs[1])), _a(inputs[2])
    if size < 0:
        raise bad(node, f"size {size} must be non-negative")
    if arr.ndim > 2:
        raise bad(node, "bincount input must be 1-D or 2-D")
    binary = bool(node.attr.get("binary_output", False))  # Bincount (v1) has no such attr
    use_w = weights.size > 0
    dtype = weights.dtype if use_w else np.dtype(np_dtype(node.attr["T"])) if "T" in node.attr else np.int32
    rows = arr.reshape(1, -1) if arr.ndim <= 1 else arr
    w = weights.reshape(rows.shape) if use_w else None
    out = np.zeros((rows.shape[0], size), dtype=dtype)
    if (rows < 0).any():
        raise bad(node, "bincount input must be non-negative")
    for r in range(rows.shape[0]):
        keep = rows[r] < size
        idx = rows[r][keep]
        if binary:
            out[r, idx] = 1
        elif use_w:
            np.add.at(out[r], idx, w[r][keep])
        else:
            np.add.at(out[r], idx, 1)
    return out[0] if arr.ndim <= 1 else out
