"""Elementwise math, comparisons, casts, reductions and matrix products (TF semantics)."""

from __future__ import annotations

import functools

import numpy as np

from savedmodel_io.graph.ops._gemm import ACCELERATED as _GEMM_ON_MKL
from savedmodel_io.graph.ops._gemm import matmul as _gemm
from savedmodel_io.graph.ops._parallel import run_pieces
from savedmodel_io.graph.ops._registry import kernel
from savedmodel_io.graph.ops._util import attr_str, axis_list, bad, check_input_rank, np_dtype


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


def _multiply(x, y):
    """x * y; complex products from four real ones, as TF (numpy's complex multiply fuses them
    and leaves e.g. x * conj(x) a tiny imaginary part where TF's is exactly 0)."""
    if x.dtype.kind != "c":
        return np.multiply(x, y)
    xr, xi, yr, yi = x.real, x.imag, np.real(y), np.imag(y)
    out = np.empty(np.broadcast_shapes(x.shape, np.shape(y)), x.dtype)
    out.real = xr * yr - xi * yi
    out.imag = xr * yi + xi * yr
    return out


def _squared_difference(x, y):
    """(x - y)^2; for complex numbers |x - y|^2 as TF defines it ((x - y) * conj(x - y))."""
    d = x - y
    return d * np.conj(d) if d.dtype.kind == "c" else np.square(d)


for _op, _fn in {
    "Add": np.add, "AddV2": np.add, "Sub": np.subtract, "Mul": _multiply,
    "Maximum": np.maximum, "Minimum": np.minimum, "SquaredDifference": _squared_difference,
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
        if x.dtype.kind == "c":
            # std::pow of complex numbers is exp(y log x) with C's special values (TF 2.21:
            # 0 ** 2 = 0, 0 ** 0 = nan, 0 ** (-60 + 0.5j) = inf + nan j); numpy's power special-cases 0.
            return np.exp(y * np.log(x)).astype(x.dtype)
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
    "Atanh": np.arctanh, "Sigmoid": _sigmoid,
    "Softplus": lambda x: np.logaddexp(0, x), "Softsign": lambda x: x / (1 + np.abs(x)),
    "Invert": np.invert,
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
        return (np.real(x) if x.dtype.kind == "c" and to.kind != "c" else x).astype(to)


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
    if exclusive and out.shape[axis]:  # an empty axis has nothing to shift
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
    return _gemm(*matmul_operands(node, inputs))


@kernel("BatchMatMul", "BatchMatMulV2", "BatchMatMulV3")
def batch_matmul(node, inputs, ctx):
    a, b = _a(inputs[0]), _a(inputs[1])
    check_input_rank(node, a)
    if node.attr["adj_x"]:
        a = np.conj(np.swapaxes(a, -1, -2))
    if node.attr["adj_y"]:
        b = np.conj(np.swapaxes(b, -1, -2))
    if a.shape[-1] != b.shape[-2]:
        raise bad(node, f"Matrix size-incompatible: In[0]: {list(a.shape)}, In[1]: {list(b.shape)}")
    out = _gemm(a, b)
    t = node.attr.get("Tout")
    return out.astype(np_dtype(t)) if t is not None else out


@kernel("Einsum")
def einsum(node, inputs, ctx):
    # _scale: a scalar the optimiser folded in (attention's 1 / sqrt(depth) after the scores)
    eq = attr_str(node, "equation").replace(" ", "")
    try:
        return einsum_value(eq, [_a(v) for v in inputs], node.attr.get("_scale"),
                            getattr(ctx, "threads", 1))
    except ValueError as exc:
        raise bad(node, f"einsum {eq!r}: {exc}") from None


def einsum_value(eq: str, arrays: list[np.ndarray], scale: np.ndarray | None = None,
                 threads: int = 1) -> np.ndarray:
    """``np.einsum(eq, *arrays)`` (times ``scale`` when given), two-operand products on BLAS;
    ValueError for operands that do not fit the equation."""
    if len(arrays) == 2:
        plan = _einsum_plan(eq)
        if plan is not None:
            out = _einsum_matmul(plan, arrays[0], arrays[1], threads)
            if out is not None:  # a new array: scaled in place
                return out if scale is None else np.multiply(out, scale, out=out)
    out = np.asarray(np.einsum(eq, *arrays, optimize=len(arrays) > 2))
    return out if scale is None else np.multiply(out, scale)  # may be a view of an input


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


# A batched einsum is split over the runtime's threads from this many multiply-adds on.
_PARALLEL_MACS = 1 << 22
# With MKL, a stack of attention heads smaller than this (multiply-adds per thread) runs on
# one thread: MKL's batched call does 12 heads of BERT at batch 1 in about 230 us, and waking a
# pool thread for half of them costs more than it saves (BERT batch 1: 144 vs 149 ms per
# inference, interleaved). numpy's per-head products are slower and still gain from the split.
_HEADS_ALONE = 1 << 24 if _GEMM_ON_MKL else 0


def label_sizes(*operands: tuple[str, tuple[int, ...]]) -> dict[str, int] | None:
    """Each einsum label's size over ``operands`` (labels, shape), or None when a shape's rank
    is not its label count or two operands give one label different sizes."""
    size: dict[str, int] = {}
    for labels, shape in operands:
        if len(labels) != len(shape):
            return None
        for c, d in zip(labels, shape):
            if size.setdefault(c, d) != d:
                return None
    return size


def _einsum_matmul(plan, x: np.ndarray, y: np.ndarray, threads: int = 1) -> np.ndarray | None:
    """A two-operand einsum as one (batched) BLAS matmul: operands transposed to
    (batch, left, contracted) and (batch, contracted, right). None if sizes disagree.

    With one left, one contracted and one right label (attention's einsums) the transposed
    views go to matmul as they are, batch labels kept apart, and the product is written into
    an output already in the einsum's order: BLAS reads and writes strided matrices, so
    nothing is copied before or after; the slices of the first batch label longer than 1 go
    to the threads."""
    a, b, out, batch, left, contracted, right = plan
    size = label_sizes((a, x.shape), (b, y.shape))
    if size is None:
        return None
    xt = x.transpose([a.index(c) for c in batch + left + contracted])
    yt = y.transpose([b.index(c) for c in batch + contracted + right])
    order = batch + left + right
    if len(left) == len(contracted) == len(right) == 1:
        z = np.empty([size[c] for c in out], np.result_type(x.dtype, y.dtype))
        if z.size == 0:  # an empty batch label: nothing to index, nothing to compute
            return z
        zt = z.transpose([out.index(c) for c in order])
        split = next((k for k, c in enumerate(batch) if size[c] > 1), None)
        lead = (0,) * (len(batch) - 1 if split is None else split)  # batch labels of size 1
        count = size[batch[split]] if split is not None else 1
        per_thread = z.size * size[contracted] // max(1, min(threads, count))
        if threads > 1 and split is not None and z.size * size[contracted] >= _PARALLEL_MACS \
                and (split < len(batch) - 1 or per_thread >= _HEADS_ALONE):
            if split == len(batch) - 1:
                # the last batch label (heads at batch 1): one stack of matrices per thread
                ends = [i * count // min(threads, count) for i in range(min(threads, count) + 1)]

                def block(piece: tuple[int, int]) -> None:
                    at = lead + (slice(*piece),)
                    _gemm(xt[at], yt[at], zt[at])
                run_pieces(list(zip(ends, ends[1:])), block, threads)
            else:
                def part(i: int) -> None:
                    at = lead + (i,)
                    _gemm(xt[at], yt[at], zt[at])
                run_pieces(range(count), part, threads)
        else:
            _gemm(xt[lead], yt[lead], zt[lead])
        return z

    def prod(labels: str) -> int:
        n = 1
        for c in labels:
            n *= size[c]
        return n
    nb, nl, nk, nr = prod(batch), prod(left), prod(contracted), prod(right)
    z = np.matmul(xt.reshape(nb, nl, nk), yt.reshape(nb, nk, nr))
    z = z.reshape([size[c] for c in order])
    return z.transpose([order.index(c) for c in out])


@kernel("Bucketize")
def bucketize(node, inputs, ctx):
    return np.searchsorted(np.asarray(node.attr["boundaries"]), _a(inputs[0]), side="right").astype(np.int32)


@kernel("L2Loss")
def l2_loss(node, inputs, ctx):
    x = _a(inputs[0])
    return (np.sum(np.square(x)) / 2).astype(x.dtype)
