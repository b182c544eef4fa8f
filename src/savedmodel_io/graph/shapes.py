"""Static output-shape rules for the ops the graph builder emits.

A shape is a tuple of ints with ``None`` for an unknown dimension, or ``None``
for an unknown rank (see :mod:`savedmodel_io.tensors`). The rules follow the
shape functions TensorFlow registers with each op
(tensorflow/tensorflow tensorflow/core/ops/{math,nn,array}_ops.cc): the builder
uses them so SignatureDef TensorInfos and ``_output_shapes`` carry real shapes.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from savedmodel_io.errors import InvalidArgumentError
from savedmodel_io.tensors import Shape

__all__ = [
    "batch_matmul",
    "broadcast",
    "concat",
    "conv2d",
    "expand_dims",
    "gather",
    "matmul",
    "pad",
    "pool2d",
    "reduce",
    "reshape",
    "squeeze",
    "transpose",
]


def _merge_dim(a: int | None, b: int | None, what: str) -> int | None:
    if a is None:
        return b
    if b is None or a == b:
        return a
    raise InvalidArgumentError(f"{what}: dimensions {a} and {b} do not match")


def broadcast(a: Shape, b: Shape, what: str = "broadcast") -> Shape:
    """numpy broadcasting of two shapes; a None dim against 1 stays None."""
    if a is None or b is None:
        return None
    n = max(len(a), len(b))
    pa = (1,) * (n - len(a)) + tuple(a)
    pb = (1,) * (n - len(b)) + tuple(b)
    out: list[int | None] = []
    for x, y in zip(pa, pb):
        if x == 1:
            out.append(y)
        elif y == 1:
            out.append(x)
        elif x is None or y is None:
            out.append(_broadcast_unknown(x, y))
        elif x == y:
            out.append(x)
        else:
            raise InvalidArgumentError(f"{what}: shapes {list(a)} and {list(b)} do not broadcast")
    return tuple(out)


def _broadcast_unknown(x: int | None, y: int | None) -> int | None:
    """An unknown dim against another: a known size > 1 wins; TF leaves 0 (or ?) unknown."""
    known = y if x is None else x
    return known if known is not None and known > 1 else None


def matmul(a: Shape, b: Shape, transpose_a: bool, transpose_b: bool) -> Shape:
    """Shape of MatMul (both operands rank 2)."""
    for s, side in ((a, "a"), (b, "b")):
        if s is not None and len(s) != 2:
            raise InvalidArgumentError(f"MatMul: {side} must be rank 2, got shape {list(s)}")
    # An unknown-rank operand is a rank-2 one of unknown dims (TF's WithRank(2)).
    a = (None, None) if a is None else a
    b = (None, None) if b is None else b
    m, ka = (a[1], a[0]) if transpose_a else (a[0], a[1])
    kb, n = (b[1], b[0]) if transpose_b else (b[0], b[1])
    _merge_dim(ka, kb, "MatMul inner dimension")
    return (m, n)


def batch_matmul(a: Shape, b: Shape, adj_x: bool, adj_y: bool) -> Shape:
    """Shape of BatchMatMulV2: batch dims broadcast, last two multiply."""
    if a is None or b is None:
        return None
    if len(a) < 2 or len(b) < 2:
        raise InvalidArgumentError("BatchMatMulV2: operands must have rank >= 2")
    m, ka = (a[-1], a[-2]) if adj_x else (a[-2], a[-1])
    kb, n = (b[-1], b[-2]) if adj_y else (b[-2], b[-1])
    _merge_dim(ka, kb, "BatchMatMulV2 inner dimension")
    batch = broadcast(a[:-2], b[:-2], "BatchMatMulV2 batch dimensions")
    assert batch is not None
    return batch + (m, n)


def _window(size: int | None, k: int, stride: int, dilation: int, padding: str) -> int | None:
    if size is None:
        return None
    eff = (k - 1) * dilation + 1
    if padding == "SAME":
        return -(-size // stride)
    out = (size - eff) // stride + 1
    if out < 0:
        raise InvalidArgumentError(f"window of {eff} does not fit in dimension of size {size}")
    return out


def _spatial(data_format: str) -> tuple[int, int, int]:
    if data_format == "NHWC":
        return 1, 2, 3
    if data_format == "NCHW":
        return 2, 3, 1
    raise InvalidArgumentError(f"data_format must be NHWC or NCHW, not {data_format!r}")


def conv2d(
    x: Shape,
    filt: Shape,
    strides: Sequence[int],
    dilations: Sequence[int],
    padding: str,
    data_format: str,
    depthwise: bool = False,
) -> Shape:
    """Shape of Conv2D / DepthwiseConv2dNative (filter is HWIO / HW,in,multiplier)."""
    if x is not None and len(x) != 4:
        raise InvalidArgumentError(f"conv2d input must be rank 4, got {list(x)}")
    kh, kw = (filt[0], filt[1]) if filt is not None and len(filt) == 4 else (None, None)
    if filt is None or kh is None or kw is None:
        raise InvalidArgumentError("conv2d filter must be rank 4 with known spatial size")
    h, w, c = _spatial(data_format)
    out_c = filt[3] if not depthwise else (
        None if filt[2] is None or filt[3] is None else filt[2] * filt[3]
    )
    if x is None:
        # Unknown rank is rank 4 of unknown dims; the output depth comes from the filter.
        return tuple(out_c if i == c else None for i in range(4))
    _merge_dim(x[c], filt[2], "conv2d input channels")
    out = list(x)
    out[h] = _window(x[h], kh, strides[h], dilations[h], padding)
    out[w] = _window(x[w], kw, strides[w], dilations[w], padding)
    out[c] = out_c
    return tuple(out)


def pool2d(x: Shape, ksize: Sequence[int], strides: Sequence[int], padding: str,
           data_format: str) -> Shape:
    """Shape of MaxPool / AvgPool."""
    if x is None:
        return (None, None, None, None)
    if len(x) != 4:
        raise InvalidArgumentError(f"pooling input must be rank 4, got {list(x)}")
    h, w, _ = _spatial(data_format)
    out = list(x)
    out[h] = _window(x[h], ksize[h], strides[h], 1, padding)
    out[w] = _window(x[w], ksize[w], strides[w], 1, padding)
    return tuple(out)


def _axes(axes: Sequence[int], rank: int, what: str) -> list[int]:
    out = []
    for a in axes:
        if not -rank <= a < rank:
            raise InvalidArgumentError(f"{what}: axis {a} is out of range for rank {rank}")
        out.append(a % rank)
    return out


def reduce(x: Shape, axes: Sequence[int] | None, keep_dims: bool) -> Shape:
    """Shape of Mean/Sum/Max/Min/Prod over ``axes`` (None: all axes)."""
    if x is None:
        return None
    idx = set(range(len(x))) if axes is None else set(_axes(axes, len(x), "reduce"))
    if keep_dims:
        return tuple(1 if i in idx else d for i, d in enumerate(x))
    return tuple(d for i, d in enumerate(x) if i not in idx)


def reshape(x: Shape, target: Sequence[int]) -> Shape:
    """Shape of Reshape to ``target`` (one -1 allowed, resolved when the size is known)."""
    if list(target).count(-1) > 1:
        raise InvalidArgumentError(f"Reshape: at most one -1 in {list(target)}")
    if any(d < -1 for d in target):
        raise InvalidArgumentError(f"Reshape: bad target shape {list(target)}")
    known = 1
    for d in target:
        if d != -1:
            known *= d
    total = None
    if x is not None:
        dims = [d for d in x if d is not None]
        if len(dims) == len(x):
            total = math.prod(dims)
    if -1 not in target:
        if total is not None and total != known:
            raise InvalidArgumentError(
                f"Reshape: cannot reshape {list(x or ())} ({total} elements) to {list(target)}"
            )
        return tuple(target)
    fill: int | None = None
    if total is not None:
        if known == 0 or total % known:
            raise InvalidArgumentError(
                f"Reshape: cannot reshape {list(x or ())} ({total} elements) to {list(target)}"
            )
        fill = total // known
    return tuple(fill if d == -1 else d for d in target)


def transpose(x: Shape, perm: Sequence[int]) -> Shape:
    """Shape of Transpose by ``perm``."""
    if x is None:
        return tuple(None for _ in perm)
    if sorted(perm) != list(range(len(x))):
        raise InvalidArgumentError(f"Transpose: {list(perm)} is not a permutation of rank {len(x)}")
    return tuple(x[p] for p in perm)


def concat(shapes: Sequence[Shape], axis: int) -> Shape:
    """Shape of ConcatV2 along ``axis``."""
    known = [s for s in shapes if s is not None]
    if not known:
        return None
    rank = len(known[0])
    (ax,) = _axes([axis], rank, "ConcatV2")
    out: list[int | None] = list(known[0])
    total: int | None = 0
    for s in shapes:
        if s is None:
            total = None
            continue
        if len(s) != rank:
            raise InvalidArgumentError("ConcatV2: inputs have different ranks")
        for i in range(rank):
            if i != ax:
                out[i] = _merge_dim(out[i], s[i], "ConcatV2")
        d = s[ax]
        total = None if total is None or d is None else total + d
    out[ax] = total
    return tuple(out)


def squeeze(x: Shape, axes: Sequence[int]) -> Shape:
    """Shape of Squeeze (empty ``axes``: every known size-1 dim)."""
    if x is None:
        return None
    if not axes:
        if any(d is None for d in x):
            return None
        return tuple(d for d in x if d != 1)
    idx = set(_axes(axes, len(x), "Squeeze"))
    for i in idx:
        if x[i] not in (1, None):
            raise InvalidArgumentError(f"Squeeze: dimension {i} has size {x[i]}, not 1")
    return tuple(d for i, d in enumerate(x) if i not in idx)


def expand_dims(x: Shape, axis: int) -> Shape:
    """Shape of ExpandDims at ``axis``."""
    if x is None:
        return None
    (ax,) = _axes([axis], len(x) + 1, "ExpandDims")
    out = list(x)
    out.insert(ax, 1)
    return tuple(out)


def gather(params: Shape, indices: Shape, axis: int) -> Shape:
    """Shape of GatherV2 with batch_dims 0."""
    if params is None or indices is None:
        return None
    (ax,) = _axes([axis], len(params), "GatherV2")
    return tuple(params[:ax]) + tuple(indices) + tuple(params[ax + 1 :])


def pad(x: Shape, paddings: Sequence[Sequence[int]]) -> Shape:
    """Shape of Pad with constant ``paddings`` ([[before, after], ...])."""
    if x is None:
        return tuple(None for _ in paddings)
    if len(paddings) != len(x):
        raise InvalidArgumentError(f"Pad: {len(paddings)} paddings for rank {len(x)}")
    return tuple(None if d is None else d + int(p[0]) + int(p[1]) for d, p in zip(x, paddings))
