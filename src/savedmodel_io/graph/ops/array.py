"""Shape and indexing ops: Reshape, Transpose, Concat, Pack, Split, StridedSlice, Gather, Pad..."""

from __future__ import annotations

import math

import numpy as np

from savedmodel_io.graph.ops._registry import kernel
from savedmodel_io.graph.ops._util import attr_str, bad, check_size, ints, np_dtype, pad_constant
from savedmodel_io.proto import DataType


def _a(x) -> np.ndarray:
    return x if isinstance(x, np.ndarray) else np.asarray(x)


def _axis(node, a, ndim: int) -> int:
    a = int(np.asarray(a))
    if not -ndim <= a < ndim:
        raise bad(node, f"axis {a} is out of range for a rank-{ndim} tensor")
    return a % ndim


@kernel("Reshape")
def reshape(node, inputs, ctx):
    x = _a(inputs[0])
    shape = ints(inputs[1])
    if shape.count(-1) > 1:
        raise bad(node, f"only one dimension of {shape} can be -1")
    known = math.prod(d for d in shape if d != -1)
    if -1 in shape:
        if known == 0 or x.size % known:
            if not (known == 0 and x.size == 0):
                raise bad(node, f"cannot reshape a tensor of {x.size} elements to {shape}")
            shape = [0 if d == -1 else d for d in shape]
    elif known != x.size:
        raise bad(node, f"cannot reshape a tensor of {x.size} elements to {shape}")
    return x.reshape(shape)


@kernel("Transpose", "ConjugateTranspose")
def transpose(node, inputs, ctx):
    # tensorflow/tensorflow tensorflow/core/kernels/transpose_op.cc: perm is a vector of rank
    # entries; a negative entry counts from the end; each dimension exactly once.
    x = _a(inputs[0])
    p = _a(inputs[1])
    if p.ndim != 1:
        raise bad(node, f"perm must be rank 1, got shape {list(p.shape)}")
    if p.size != x.ndim:
        raise bad(node, f"transpose expects a vector of size {x.ndim}. But input(1) is a vector "
                        f"of size {p.size}")
    perm = [d + x.ndim if d < 0 else d for d in ints(p)]
    for d in perm:
        if not 0 <= d < x.ndim:
            raise bad(node, f"{d} is out of range [0 .. {x.ndim})")
    if sorted(perm) != list(range(x.ndim)):
        raise bad(node, f"{perm} is not a permutation of {x.ndim} dimensions")
    y = np.transpose(x, perm)
    return np.conj(y) if node.op == "ConjugateTranspose" else y


def _concat(node, values, axis):
    vals = [_a(v) for v in values]
    ndim = vals[0].ndim
    if ndim == 0:
        raise bad(node, "cannot concatenate scalars")
    return np.concatenate(vals, axis=_axis(node, axis, ndim))


@kernel("ConcatV2")
def concat_v2(node, inputs, ctx):
    return _concat(node, inputs[:-1], inputs[-1])


@kernel("Concat")
def concat(node, inputs, ctx):
    return _concat(node, inputs[1:], inputs[0])


@kernel("Pack")
def pack(node, inputs, ctx):
    vals = [_a(v) for v in inputs]
    axis = int(node.attr["axis"])
    nd = vals[0].ndim + 1
    if not -nd <= axis < nd:
        raise bad(node, f"axis {axis} is out of range")
    return np.stack(vals, axis=axis % nd)


@kernel("Unpack")
def unpack(node, inputs, ctx):
    x = _a(inputs[0])
    axis = _axis(node, node.attr["axis"], x.ndim)
    return [np.take(x, i, axis=axis) for i in range(x.shape[axis])]


@kernel("Split")
def split(node, inputs, ctx):
    x = _a(inputs[1])
    axis = _axis(node, inputs[0], x.ndim)
    n = int(node.attr["num_split"])
    if x.shape[axis] % n:
        raise bad(node, f"dimension {x.shape[axis]} is not divisible by num_split {n}")
    k = x.shape[axis] // n  # slices (views), without np.split's per-call overhead
    lead = (slice(None),) * axis
    return [x[lead + (slice(i * k, (i + 1) * k),)] for i in range(n)]


@kernel("SplitV")
def split_v(node, inputs, ctx):
    x = _a(inputs[0])
    sizes = ints(inputs[1])
    axis = _axis(node, inputs[2], x.ndim)
    if sizes.count(-1) > 1:
        raise bad(node, "only one size_splits entry can be -1")
    if -1 in sizes:
        sizes[sizes.index(-1)] = x.shape[axis] - (sum(sizes) + 1)
    if sum(sizes) != x.shape[axis] or min(sizes, default=0) < 0:
        raise bad(node, f"size_splits {sizes} do not add up to dimension {x.shape[axis]}")
    lead, out, at = (slice(None),) * axis, [], 0
    for k in sizes:  # slices (views), as Split's
        out.append(x[lead + (slice(at, at + k),)])
        at += k
    return out


@kernel("StridedSlice")
def strided_slice(node, inputs, ctx):
    x = _a(inputs[0])
    return np.array(x[strided_index(node, x.shape, inputs[1], inputs[2], inputs[3])])


def strided_index(node, shape: tuple[int, ...], begin, end, strides) -> tuple:
    """The numpy index of a StridedSlice (its masks read from ``node``) on a tensor of ``shape``."""
    begin, end, strides = ints(begin), ints(end), ints(strides)
    ndim = len(shape)
    if not len(begin) == len(end) == len(strides):
        raise bad(node, "begin, end and strides must have the same length")
    bm, em = int(node.attr["begin_mask"]), int(node.attr["end_mask"])
    elm, nam = int(node.attr["ellipsis_mask"]), int(node.attr["new_axis_mask"])
    sam = int(node.attr["shrink_axis_mask"])
    n = len(begin)
    real = [not (nam >> i) & 1 and not (elm >> i) & 1 for i in range(n)]
    if bin(elm & ((1 << n) - 1)).count("1") > 1:
        raise bad(node, "multiple ellipses in a slice spec are not allowed")
    index: list = []
    dim = 0
    for i in range(n):
        if (elm >> i) & 1:
            index.append(Ellipsis)
            dim = ndim - sum(real[i + 1:])
            continue
        if (nam >> i) & 1:
            index.append(None)
            continue
        if strides[i] == 0:
            raise bad(node, "strides must be non-zero")
        if dim >= ndim:
            raise bad(node, f"index of {n} entries is too long for a rank-{ndim} tensor")
        if (sam >> i) & 1:
            b = begin[i]
            size = shape[dim]
            if not -size <= b < size:
                raise bad(node, f"slice index {b} of dimension {dim} out of bounds")
            index.append(b)
        else:
            b = None if (bm >> i) & 1 else begin[i]
            e = None if (em >> i) & 1 else end[i]
            index.append(slice(b, e, strides[i]))
        dim += 1
    return tuple(index)


def assign_slice(node, x: np.ndarray, begin, end, strides, value) -> np.ndarray:
    """``x`` (a copy) with its strided slice set to ``value`` (broadcast to the slice)."""
    index = strided_index(node, x.shape, begin, end, strides)
    out = np.array(x, copy=True)
    value = np.asarray(value)
    try:
        out[index] = value
    except ValueError:
        raise bad(node, f"Cannot update a slice of shape {list(np.shape(out[index]))} with a "
                        f"value of shape {list(value.shape)}") from None
    return out


@kernel("Slice")
def slice_(node, inputs, ctx):
    x = _a(inputs[0])
    begin, size = ints(inputs[1]), ints(inputs[2])
    if len(begin) != x.ndim or len(size) != x.ndim:
        raise bad(node, f"begin and size must have {x.ndim} entries")
    idx = []
    for d, (b, s) in enumerate(zip(begin, size)):
        if s == -1:
            s = x.shape[d] - b
        if b < 0 or s < 0 or b + s > x.shape[d]:
            raise bad(node, f"slice begin {b} size {s} is out of bounds for dimension {d} of size {x.shape[d]}")
        idx.append(slice(b, b + s))
    return x[tuple(idx)]


def _check_indices(node, idx: np.ndarray, limit: int) -> None:
    if idx.size and (idx.min() < 0 or idx.max() >= limit):
        bad_i = idx[(idx < 0) | (idx >= limit)].reshape(-1)[0]
        raise bad(node, f"index {bad_i} is not in [0, {limit})")


def gather(node, params: np.ndarray, idx: np.ndarray, axis: int, batch_dims: int) -> np.ndarray:
    """GatherV2 semantics (batch_dims included), with TF's bounds check."""
    params = _a(params)
    if batch_dims < 0:
        batch_dims += idx.ndim
    if axis < 0:
        axis += params.ndim
    if not 0 <= axis < params.ndim:
        raise bad(node, f"axis {axis} is out of range")
    _check_indices(node, idx, params.shape[axis])
    if batch_dims == 0:
        return np.take(params, idx, axis=axis)
    bshape = params.shape[:batch_dims]
    if idx.shape[:batch_dims] != bshape:
        raise bad(node, "params and indices batch dimensions differ")
    nb = int(np.prod(bshape, dtype=np.int64))
    p = params.reshape((nb,) + params.shape[batch_dims:])
    i = idx.reshape((nb,) + idx.shape[batch_dims:])
    parts = [np.take(p[k], i[k], axis=axis - batch_dims) for k in range(nb)]
    out = np.stack(parts) if parts else np.zeros((0,), params.dtype)
    return out.reshape(bshape + out.shape[1:])


@kernel("GatherV2")
def gather_v2(node, inputs, ctx):
    return gather(node, inputs[0], _a(inputs[1]), int(np.asarray(inputs[2])),
                  int(node.attr["batch_dims"]))


@kernel("Gather")
def gather_v1(node, inputs, ctx):
    return gather(node, inputs[0], _a(inputs[1]), 0, 0)


def gather_nd(node, params: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """GatherNd: the last index dimension addresses the leading params dimensions."""
    params = _a(params)
    k = idx.shape[-1]
    if k > params.ndim:
        raise bad(node, f"index depth {k} is larger than params rank {params.ndim}")
    for d in range(k):
        _check_indices(node, idx[..., d], params.shape[d])
    return params[tuple(idx[..., d] for d in range(k))]


@kernel("GatherNd")
def gather_nd_k(node, inputs, ctx):
    return gather_nd(node, inputs[0], _a(inputs[1]))


@kernel("ExpandDims")
def expand_dims(node, inputs, ctx):
    x = _a(inputs[0])
    a = int(np.asarray(inputs[1]).reshape(-1)[0])
    if not -x.ndim - 1 <= a <= x.ndim:
        raise bad(node, f"axis {a} is out of range for a rank-{x.ndim} tensor")
    return np.expand_dims(x, a % (x.ndim + 1))


@kernel("Squeeze")
def squeeze(node, inputs, ctx):
    x = _a(inputs[0])
    dims = node.attr["squeeze_dims"]
    if not dims:
        return x.reshape([d for d in x.shape if d != 1])
    axes = tuple(sorted({d % x.ndim for d in dims}))
    for d in axes:
        if x.shape[d] != 1:
            raise bad(node, f"cannot squeeze dimension {d} of size {x.shape[d]}")
    return np.squeeze(x, axis=axes)


@kernel("Tile")
def tile(node, inputs, ctx):
    x = _a(inputs[0])
    m = ints(inputs[1])
    if len(m) != x.ndim:
        raise bad(node, f"multiples has {len(m)} entries for a rank-{x.ndim} tensor")
    check_size(node, [a * b for a, b in zip(x.shape, m)], x.dtype.itemsize)
    return np.tile(x, m)


def _paddings(node, x, p):
    p = np.asarray(p).reshape(-1, 2)
    if p.shape[0] != x.ndim or (p < 0).any():
        raise bad(node, f"paddings must be {x.ndim}x2 non-negative integers")
    check_size(node, [d + a + b for d, (a, b) in zip(x.shape, p.tolist())], x.dtype.itemsize)
    return [tuple(int(v) for v in row) for row in p]


@kernel("Pad")
def pad(node, inputs, ctx):
    x = _a(inputs[0])
    return pad_constant(x, _paddings(node, x, inputs[1]), b"" if x.dtype == object else 0)


@kernel("PadV2")
def pad_v2(node, inputs, ctx):
    x = _a(inputs[0])
    return pad_constant(x, _paddings(node, x, inputs[1]), np.asarray(inputs[2]).item())


@kernel("MirrorPad")
def mirror_pad(node, inputs, ctx):
    x = _a(inputs[0])
    mode = attr_str(node, "mode", "REFLECT").upper()
    pads = _paddings(node, x, inputs[1])
    limit = 0 if mode == "REFLECT" else 1
    for d, (a, b) in enumerate(pads):
        if max(a, b) > x.shape[d] - 1 + limit:
            raise bad(node, f"paddings {a, b} too large for dimension {d} of size {x.shape[d]} in {mode} mode")
    return np.pad(x, pads, mode="reflect" if mode == "REFLECT" else "symmetric")


def _out_type(node):
    return np_dtype(node.attr["out_type"])


@kernel("Shape")
def shape(node, inputs, ctx):
    return np.array(np.shape(inputs[0]), dtype=_out_type(node))


@kernel("ShapeN")
def shape_n(node, inputs, ctx):
    return [np.array(np.shape(x), dtype=_out_type(node)) for x in inputs]


@kernel("Size")
def size(node, inputs, ctx):
    return np.array(np.size(inputs[0]), dtype=_out_type(node))


@kernel("Rank")
def rank(node, inputs, ctx):
    return np.array(np.ndim(inputs[0]), dtype=np.int32)


@kernel("Fill")
def fill(node, inputs, ctx):
    dims = ints(inputs[0])
    if any(d < 0 for d in dims):
        raise bad(node, f"dims {dims} must be non-negative")
    v = np.asarray(inputs[1])
    check_size(node, dims, v.dtype.itemsize)
    return np.full(dims, v, dtype=v.dtype)


@kernel("Range")
def range_(node, inputs, ctx):
    start, limit, delta = (np.asarray(v) for v in inputs[:3])
    if delta == 0:
        raise bad(node, "Requires delta != 0")
    if (delta > 0 and start > limit) or (delta < 0 and start < limit):
        raise bad(node, f"Requires start <= limit when delta > 0 (start {start}, limit {limit}, delta {delta})")
    dt = np_dtype(node.attr["Tidx"])
    if dt.kind in "iu":
        n = -(-(int(limit) - int(start)) // int(delta))
        check_size(node, [n], dt.itemsize)
        return (int(start) + int(delta) * np.arange(max(n, 0), dtype=np.int64)).astype(dt)
    n = int(np.ceil((float(limit) - float(start)) / float(delta)))
    check_size(node, [n], dt.itemsize)
    return (np.asarray(start, dt) + np.asarray(delta, dt) * np.arange(max(n, 0), dtype=dt)).astype(dt)


@kernel("LinSpace")
def linspace(node, inputs, ctx):
    start, stop = np.asarray(inputs[0]), np.asarray(inputs[1])
    return np.linspace(start, stop, int(np.asarray(inputs[2]))).astype(start.dtype)


@kernel("Select")
def select(node, inputs, ctx):
    c, x, y = (_a(v) for v in inputs)
    if c.ndim == 1 and x.ndim > 1:
        if c.shape[0] != x.shape[0]:
            raise bad(node, "condition vector must match the first dimension")
        c = c.reshape((-1,) + (1,) * (x.ndim - 1))
    elif c.shape != x.shape and c.ndim != 0:
        raise bad(node, f"condition shape {c.shape} does not match {x.shape}")
    if x.shape != y.shape:
        raise bad(node, f"then and else shapes differ: {x.shape} vs {y.shape}")
    return np.where(c, x, y)


@kernel("SelectV2")
def select_v2(node, inputs, ctx):
    c, x, y = (_a(v) for v in inputs)
    return np.where(c, x, y)


@kernel("OneHot")
def one_hot(node, inputs, ctx):
    idx = _a(inputs[0])
    depth = int(np.asarray(inputs[1]))
    on, off = np.asarray(inputs[2]), np.asarray(inputs[3])
    if depth < 0:
        raise bad(node, f"depth {depth} must be non-negative")
    axis = int(node.attr["axis"])
    check_size(node, list(idx.shape) + [depth], on.dtype.itemsize)
    hot = idx[..., None] == np.arange(depth, dtype=np.int64)
    out = np.where(hot, on, off).astype(on.dtype)
    if axis != -1:
        out = np.moveaxis(out, -1, axis)
    return out


@kernel("BroadcastTo")
def broadcast_to(node, inputs, ctx):
    x = _a(inputs[0])
    shape = ints(inputs[1])
    check_size(node, shape, x.dtype.itemsize)
    try:
        return np.array(np.broadcast_to(x, shape))
    except ValueError:
        raise bad(node, f"cannot broadcast shape {list(x.shape)} to {shape}") from None


@kernel("BroadcastArgs")
def broadcast_args(node, inputs, ctx):
    a, b = _a(inputs[0]), _a(inputs[1])
    return np.array(np.broadcast_shapes(tuple(ints(a)), tuple(ints(b))), dtype=a.dtype)


@kernel("ReverseV2")
def reverse_v2(node, inputs, ctx):
    x = _a(inputs[0])
    axes = tuple(a % x.ndim for a in ints(inputs[1]))
    return np.flip(x, axis=axes) if axes else x


@kernel("Where")
def where(node, inputs, ctx):
    x = _a(inputs[0])
    if x.ndim == 0:
        raise bad(node, "WhereOp : Unhandled input dimensions: 0")
    return np.argwhere(x).astype(np.int64)


def _distinct(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct elements of 1-D ``x`` by first appearance: (first index of each, group of each).

    As TF's Unique (a hash map on values): 0.0 and -0.0 are one value, every NaN its own.
    """
    nan = np.isnan(x) if x.dtype.kind in "fc" else np.zeros(x.shape, bool)
    keep = np.flatnonzero(~nan)
    nans = np.flatnonzero(nan)
    _, first, inv = np.unique(x[keep], return_index=True, return_inverse=True)
    group = np.empty(x.size, np.int64)
    group[keep] = inv.reshape(-1)
    group[nans] = len(first) + np.arange(nans.size)
    first = np.concatenate([keep[first], nans])
    order = np.argsort(first, kind="stable")
    rank = np.empty_like(order)
    rank[order] = np.arange(order.size)
    return first[order], rank[group]


def _distinct_slices(x: np.ndarray, axis: int) -> tuple[np.ndarray, np.ndarray]:
    """:func:`_distinct` over the slices of ``x`` along ``axis`` (a NaN makes a slice distinct)."""
    moved = np.moveaxis(x, axis, 0)
    rows = moved.reshape(len(moved), int(np.prod(moved.shape[1:], dtype=np.int64)))
    groups: dict[tuple, int] = {}
    first: list[int] = []
    inv = np.empty(len(rows), np.int64)
    for i, row in enumerate(rows):
        # Python floats: NaN != NaN and hashes by identity; 0.0 == -0.0 hashes alike.
        g = groups.setdefault(tuple(row.tolist()), len(groups))
        if g == len(first):
            first.append(i)
        inv[i] = g
    return np.array(first, np.int64), inv


def _unique_axis(node, x: np.ndarray, axis) -> int | None:
    """UniqueV2's axis: None (x must be 1-D) or one dimension, negative counting from the end."""
    a = _a(axis)
    if a.ndim != 1:
        raise bad(node, "axis expects a 1D vector.")
    if a.size > 1:
        raise bad(node, "axis does not support input tensors larger than 1 elements")
    if a.size == 0:
        return None
    d = int(a[0])
    d = d + x.ndim if d < 0 else d
    if not 0 <= d < x.ndim:
        raise bad(node, f"axis has to be between [0, {x.ndim})")
    return d


@kernel("Unique", "UniqueV2", "UniqueWithCounts", "UniqueWithCountsV2")
def unique(node, inputs, ctx):
    # tensorflow/tensorflow tensorflow/core/kernels/unique_op.cc
    x = _a(inputs[0])
    axis = _unique_axis(node, x, inputs[1]) if node.op.endswith("V2") else None
    if axis is None:
        if x.ndim != 1:
            raise bad(node, "unique expects a 1D vector.")
        first, inv = _distinct(x)
        y = x[first]
    else:
        first, inv = _distinct_slices(x, axis)
        y = np.take(x, first, axis=axis)
    idx_type = np_dtype(node.attr["out_idx"])
    out = [y, inv.astype(idx_type)]
    if "Counts" in node.op:
        out.append(np.bincount(inv, minlength=len(first)).astype(idx_type))
    return out


def _descending(x: np.ndarray) -> np.ndarray:
    """Indices sorting the last axis largest first, ties by index; NaN counts as largest (TF)."""
    if x.dtype.kind == "f":
        return np.lexsort((-np.nan_to_num(x, nan=0.0), ~np.isnan(x)), axis=-1)
    if x.dtype.kind == "b" or x.dtype.itemsize < 8:
        return np.argsort(-x.astype(np.int64), axis=-1, kind="stable")
    return np.argsort(x.max() - x if x.dtype.kind == "u" else ~x, axis=-1, kind="stable")


@kernel("TopKV2", "TopK")
def top_k(node, inputs, ctx):
    x = _a(inputs[0])
    k = int(np.asarray(inputs[1])) if node.op == "TopKV2" else int(node.attr["k"])
    if k < 0 or k > x.shape[-1]:
        raise bad(node, f"k {k} must be in [0, {x.shape[-1]}]")
    order = _descending(x)[..., :k]
    index_type = node.attr.get("index_type", DataType.DT_INT32)  # TopK (v1): always int32
    return [np.take_along_axis(x, order, axis=-1), order.astype(np_dtype(index_type))]


@kernel("ScatterNd")
def scatter_nd(node, inputs, ctx):
    idx, upd = _a(inputs[0]), _a(inputs[1])
    shape = ints(inputs[2])
    check_size(node, shape, upd.dtype.itemsize)
    out = np.zeros(shape, dtype=upd.dtype)
    k = idx.shape[-1]
    for d in range(k):
        _check_indices(node, idx[..., d], shape[d])
    np.add.at(out, tuple(idx[..., d] for d in range(k)), upd)
    return out


@kernel("TensorScatterUpdate", "TensorScatterAdd", "TensorScatterSub", "TensorScatterMax",
        "TensorScatterMin")
def tensor_scatter(node, inputs, ctx):
    t, idx, upd = _a(inputs[0]).copy(), _a(inputs[1]), _a(inputs[2])
    k = idx.shape[-1]
    for d in range(k):
        _check_indices(node, idx[..., d], t.shape[d])
    key = tuple(idx[..., d] for d in range(k))
    op = {"TensorScatterUpdate": None, "TensorScatterAdd": np.add, "TensorScatterSub": np.subtract,
          "TensorScatterMax": np.maximum, "TensorScatterMin": np.minimum}[node.op]
    if op is None:
        t[key] = upd
    else:
        op.at(t, key, upd)
    return t


@kernel("InvertPermutation")
def invert_permutation(node, inputs, ctx):
    p = _a(inputs[0])
    if sorted(p.tolist()) != list(range(p.size)):
        raise bad(node, f"{p.tolist()} is not a permutation")
    out = np.empty_like(p)
    out[p] = np.arange(p.size, dtype=p.dtype)
    return out


@kernel("DepthToSpace", "SpaceToDepth")
def depth_space(node, inputs, ctx):
    x = _a(inputs[0])
    b = int(node.attr["block_size"])
    if x.ndim != 4 or b < 2:
        raise bad(node, f"{node.op} needs a rank-4 input and block_size >= 2")
    nchw = attr_str(node, "data_format") == "NCHW"
    if nchw:
        x = x.transpose(0, 2, 3, 1)
    n, h, w, c = x.shape
    if node.op == "DepthToSpace":
        if c % (b * b):
            raise bad(node, f"depth {c} is not divisible by block_size^2 = {b * b}")
        y = x.reshape(n, h, w, b, b, c // (b * b)).transpose(0, 1, 3, 2, 4, 5)
        y = y.reshape(n, h * b, w * b, c // (b * b))
    else:
        if h % b or w % b:
            raise bad(node, f"height {h} and width {w} must be divisible by block_size {b}")
        y = x.reshape(n, h // b, b, w // b, b, c).transpose(0, 1, 3, 2, 4, 5)
        y = y.reshape(n, h // b, w // b, b * b * c)
    return y.transpose(0, 3, 1, 2) if nchw else y


@kernel("SpaceToBatchND")
def space_to_batch_nd(node, inputs, ctx):
    x = _a(inputs[0])
    block = ints(inputs[1])
    pads = np.asarray(inputs[2]).reshape(-1, 2)
    m = len(block)
    if pads.shape[0] != m or x.ndim < m + 1 or (pads < 0).any() or min(block, default=1) < 1:
        raise bad(node, "block_shape and paddings do not fit the input")
    full = [(0, 0)] + [tuple(int(v) for v in p) for p in pads] + [(0, 0)] * (x.ndim - 1 - m)
    xp = np.pad(x, full)
    n = xp.shape[0]
    spatial = xp.shape[1:1 + m]
    if any(s % b for s, b in zip(spatial, block)):
        raise bad(node, f"padded spatial shape {spatial} is not divisible by block_shape {block}")
    rest = xp.shape[1 + m:]
    shape = [n]
    for s, b in zip(spatial, block):
        shape += [s // b, b]
    y = xp.reshape(shape + list(rest))
    perm = [2 + 2 * i for i in range(m)] + [0] + [1 + 2 * i for i in range(m)] + \
        list(range(1 + 2 * m, 1 + 2 * m + len(rest)))
    y = y.transpose(perm)
    return np.ascontiguousarray(y).reshape([n * int(np.prod(block))] + [s // b for s, b in zip(spatial, block)] + list(rest))


@kernel("BatchToSpaceND")
def batch_to_space_nd(node, inputs, ctx):
    x = _a(inputs[0])
    block = ints(inputs[1])
    crops = np.asarray(inputs[2]).reshape(-1, 2)
    m = len(block)
    prod = int(np.prod(block))
    if crops.shape[0] != m or x.ndim < m + 1 or x.shape[0] % max(prod, 1) or (crops < 0).any():
        raise bad(node, "block_shape and crops do not fit the input")
    n = x.shape[0] // prod
    spatial = x.shape[1:1 + m]
    rest = x.shape[1 + m:]
    y = x.reshape(list(block) + [n] + list(spatial) + list(rest))
    perm = [m]
    for i in range(m):
        perm += [m + 1 + i, i]
    perm += list(range(2 * m + 1, 2 * m + 1 + len(rest)))
    y = np.ascontiguousarray(y.transpose(perm)).reshape([n] + [s * b for s, b in zip(spatial, block)] + list(rest))
    idx = [slice(None)] + [slice(int(c0), y.shape[1 + i] - int(c1)) for i, (c0, c1) in enumerate(crops)]
    return np.ascontiguousarray(y[tuple(idx)])


@kernel("SpaceToBatch")
def space_to_batch(node, inputs, ctx):
    """SpaceToBatchND of a 4-D input with the same block size on both spatial dimensions."""
    if np.ndim(inputs[0]) != 4:
        raise bad(node, f"input must be 4-D, got shape {list(np.shape(inputs[0]))}")
    block = np.full(2, int(node.attr["block_size"]), np.int64)
    return space_to_batch_nd(node, [inputs[0], block, inputs[1]], ctx)


@kernel("BatchToSpace")
def batch_to_space(node, inputs, ctx):
    """BatchToSpaceND of a 4-D input with the same block size on both spatial dimensions."""
    if np.ndim(inputs[0]) != 4:
        raise bad(node, f"input must be 4-D, got shape {list(np.shape(inputs[0]))}")
    block = np.full(2, int(node.attr["block_size"]), np.int64)
    return batch_to_space_nd(node, [inputs[0], block, inputs[1]], ctx)


@kernel("Roll")
def roll(node, inputs, ctx):
    # tensorflow/tensorflow tensorflow/core/kernels/roll_op.cc: input at least 1-D; shift and
    # axis scalars or vectors of one size; each axis in [-rank, rank); repeated axes add up.
    x = _a(inputs[0])
    if x.ndim < 1:
        raise bad(node, "input must be 1-D or higher")
    sh, ax = _a(inputs[1]), _a(inputs[2])
    for name, v in (("shift", sh), ("axis", ax)):
        if v.ndim > 1:
            raise bad(node, f"{name} must be a scalar or a 1-D vector. Found: {list(v.shape)}")
    if sh.shape != ax.shape:
        raise bad(node, "shift and axis must have the same size")
    axes = []
    for a in ints(ax):
        d = a + x.ndim if a < 0 else a
        if not 0 <= d < x.ndim:
            raise bad(node, f"axis {d} is out of range")
        axes.append(d)
    # roll_op.cc reads each shift into an int: int64 shifts wrap to 32 bits (2**40 + 1 rolls by 1).
    return np.roll(x, ints(sh.astype(np.int64).astype(np.int32)), axis=axes) if axes else x
