"""Shape and index ops: reshape, slice, gather, concat, pack, split, tile, fill, transpose, scatter...

Semantics: tf.raw_ops docs and graph/ops/array.py; strided-slice mask handling follows
tensorflow/tensorflow tensorflow/core/util/strided_slice_op.cc (sparse spec -> dense
spec: ellipsis, new axes, shrink axes). ONNX: onnx/onnx docs/Operators.md.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from savedmodel_io.onnx._graph import ExportError, Graph, Val, invert
from savedmodel_io.onnx._sym import sym_of
from savedmodel_io.onnx.ops._registry import converter, inexpressible
from savedmodel_io.onnx.ops._util import (
    INT64_MAX,
    INT64_MIN,
    attr_dtype,
    cast,
    const_ints,
    dim_of,
    i64,
    need_rank,
    norm_axis,
    reduce,
    scalar,
    shape_of,
    split,
    squeeze,
    unsqueeze,
    working,
)

# -- pass-through ---------------------------------------------------------------------------------


@converter("Identity", "StopGradient", "PreventGradient", "Snapshot", "PlaceholderWithDefault", "GuaranteeConst",
           "DeepCopy",
           "DebugIdentity", "DebugIdentityV2", "DebugIdentityV3", "RefIdentity", "EnsureShape",
           "CheckNumerics", "CheckNumericsV2", onnx="(none: the input value)", layout=True)
def identity(cx, node, ins):
    return ins[0]


@converter("IdentityN", onnx="(none: the input values)", layout=True)
def identity_n(cx, node, ins):
    return list(ins)


@converter("Placeholder", "PlaceholderV2", onnx="(graph input)")
def placeholder(cx, node, ins):
    raise ExportError("a placeholder that is not a signature input has no value")


# -- shapes ---------------------------------------------------------------------------------------

@converter("Shape", onnx="Shape, Cast", layout=True)
def shape(cx, node, ins):
    return shape_of(cx.g, ins[0], attr_dtype(node, "out_type", 3))


@converter("ShapeN", onnx="Shape, Cast", layout=True)
def shape_n(cx, node, ins):
    dt = attr_dtype(node, "out_type", 3)
    return [shape_of(cx.g, x, dt) for x in ins]


@converter("Size", onnx="Size, Cast", layout=True)
def size(cx, node, ins):
    g = cx.g
    return cast(g, g.op1("Size", ins[0]), attr_dtype(node, "out_type", 3))


@converter("Rank", onnx="(constant), Shape, Size", layout=True)
def rank(cx, node, ins):
    g, x = cx.g, ins[0]
    if x.shape is not None:
        return scalar(g, len(x.shape), np.int32)
    return cast(g, g.op1("Size", g.op1("Shape", x)), np.int32)


@converter("Reshape", onnx="Reshape")
def reshape(cx, node, ins):
    g = cx.g
    x, s = ins
    target = sym_of(s)
    dims = _target_dims(target, x.shape)
    if dims is not None and all(d is not None for d in dims):
        if x.shape is not None and tuple(dims) == tuple(x.shape):
            return x  # the same shape, symbolic dims included: nothing to do
        flat = x.origin
        if flat is not None and flat[0] == "reshape" and flat[1].shape is not None and flat[1].perm is None and \
                tuple(dims) == tuple(flat[1].shape):
            return flat[1]  # reshaped back to the shape it had: the value before the first Reshape
        if flat is not None and flat[0] == "flat_matmul" and flat[1].shape is not None and \
                tuple(dims) == tuple(flat[1].shape[:-1]) + (flat[2].shape[-1],):
            # Keras' tensordot: reshape to 2-D, MatMul, reshape back == one broadcasting MatMul.
            return g.op1("MatMul", flat[1], flat[2])
    s = i64(g, s)
    if s.rank == 0:
        s = g.op1("Reshape", s, g.const(np.asarray([1], np.int64)))
    # allowzero: a 0 in TF's shape is a real zero-sized dimension.
    out = g.op1("Reshape", x, s, allowzero=1 if not s.is_const or 0 in s.const else None)
    g.refine(out, None if dims is None else tuple(dims))
    out.origin = ("reshape", x)
    return out


def _target_dims(target: Any, shape: Any) -> list[Any] | None:
    """The dims a Reshape to partly known ``target`` gives (ints, symbolic names, None unknown)."""
    if target is None or target.ndim != 1:
        return None
    dims: list[Any] = [None if isinstance(t, (int, np.integer)) and t < 0 else
                       int(t) if isinstance(t, (int, np.integer)) else t for t in target]
    minus = [i for i, t in enumerate(target) if isinstance(t, (int, np.integer)) and t == -1]
    others = [d for i, d in enumerate(dims) if not minus or i != minus[0]]
    if len(minus) == 1 and shape is not None and all(isinstance(d, int) for d in others):
        rest = int(np.prod(others, dtype=np.int64))
        sizes = [d for d in shape if isinstance(d, int)]
        names = [d for d in shape if isinstance(d, str)]
        total = int(np.prod(sizes, dtype=np.int64))
        if len(sizes) == len(shape):
            dims[minus[0]] = total // rest if rest else None
        elif len(names) == 1 and len(sizes) + 1 == len(shape) and rest == total:
            dims[minus[0]] = names[0]  # the -1 stands for the one symbolic dim
    return dims


@converter("ExpandDims", onnx="Unsqueeze")
def expand_dims(cx, node, ins):
    return unsqueeze(cx.g, ins[0], const_ints(ins[1], "the axis")[:1])


@converter("Squeeze", onnx="Squeeze")
def squeeze_(cx, node, ins):
    x = ins[0]
    axes = list(node.attr.get("squeeze_dims") or [])
    if axes:
        r = need_rank(x)
        return squeeze(cx.g, x, [norm_axis(a, r) for a in axes])
    if x.shape is not None and all(isinstance(d, int) for d in x.shape):
        ones = [i for i, d in enumerate(x.shape) if d == 1]
        return squeeze(cx.g, x, ones) if ones else x
    return squeeze(cx.g, x, None)


@converter("Transpose", "ConjugateTranspose", onnx="Transpose (merged with pending layouts)", layout=True)
def transpose(cx, node, ins):
    g = cx.g
    x, p = ins
    if x.dtype is not None and x.dtype.kind == "c" and node.op == "ConjugateTranspose":
        raise ExportError("complex tensors")
    perm = const_ints(p, "the permutation")
    r = len(perm)
    perm = [norm_axis(a, r) for a in perm]
    # transpose(transpose(a, q^-1), p) = transpose(a, [q^-1[p[i]]]); kept pending, not emitted.
    base = invert(x.perm) if x.perm is not None else tuple(range(r))
    total = tuple(base[i] for i in perm)
    if x.is_const:
        return g.const(np.ascontiguousarray(np.transpose(x.const, total)))
    out = Val(x.name, x.dtype, x.shape)
    out.perm = None if total == tuple(range(r)) else invert(total)
    return out


@converter("BroadcastTo", onnx="Expand")
def broadcast_to(cx, node, ins):
    g = cx.g
    return g.op1("Expand", ins[0], i64(g, ins[1]))


@converter("BroadcastArgs", onnx="Max, Equal, Where")
def broadcast_args(cx, node, ins):
    g = cx.g
    a, b = ins
    na, nb = a.shape[0] if a.shape else None, b.shape[0] if b.shape else None
    if not isinstance(na, int) or not isinstance(nb, int):
        raise ExportError("BroadcastArgs needs the ranks before running")
    n = max(na, nb)
    one = g.const(np.ones(1, a.dtype))

    def padded(v: Val, k: int) -> Val:
        return v if k == n else g.op1("Concat", g.op1("Expand", one, g.const(np.asarray([n - k], np.int64))),
                                      v, axis=0)
    pa, pb = padded(a, na), padded(b, nb)
    return g.op1("Where", g.op1("Equal", pa, one), pb, pa)


@converter("Fill", onnx="Expand")
def fill(cx, node, ins):
    g = cx.g
    dims, value = ins
    out = g.op1("Expand", value, i64(g, dims))
    if value.is_const and value.const.size == 1 and not value.const.any():
        out.origin = ("zeros",)  # e.g. an RNN's initial state (ONNX LSTM/GRU default to zeros)
    known = sym_of(dims)
    if known is not None and known.ndim == 1:
        g.refine(out, tuple(d if isinstance(d, (int, str)) and not (isinstance(d, int) and d < 0) else None
                            for d in (int(x) if isinstance(x, np.integer) else x for x in known)))
    return out


@converter("ZerosLike", "OnesLike", onnx="Expand of a constant", layout=True)
def zeros_like(cx, node, ins):
    g, x = cx.g, ins[0]
    if x.kind != "tensor":
        raise ExportError(f"{node.op} of a {x.kind}")
    value = 0 if node.op == "ZerosLike" else 1
    c = scalar(g, value if x.dtype.kind != "O" else b"", x.dtype)
    out = g.op1("Expand", c, g.op1("Shape", x))
    out.perm = x.perm
    return out


# -- concat, pack, split ------------------------------------------------------------------------

def _concat(cx: Any, vals: list[Val], axis_v: Val) -> Val:
    g = cx.g
    axis = const_ints(axis_v, "the concat axis")[0]
    perm = next((v.perm for v in vals if v.perm is not None), None)
    if perm is not None and all(v.perm == perm or v.is_const for v in vals):
        from savedmodel_io.onnx.ops.math import _laid_out

        vals = [_laid_out(g, v, perm) for v in vals]
        axis = invert(perm)[norm_axis(axis, len(perm))]
    else:
        vals = [g.plain(v) for v in vals]
        perm = None
    if len(vals) == 1:
        return vals[0]
    out = g.op1("Concat", *vals, axis=axis)
    out.perm = perm
    return out


@converter("ConcatV2", onnx="Concat", layout=True)
def concat_v2(cx, node, ins):
    return _concat(cx, ins[:-1], cx.g.plain(ins[-1]))


@converter("Concat", onnx="Concat", layout=True)
def concat(cx, node, ins):
    return _concat(cx, ins[1:], cx.g.plain(ins[0]))


@converter("Pack", onnx="Unsqueeze, Concat")
def pack(cx, node, ins):
    g = cx.g
    if ins[0].kind in ("list", "sequence"):
        from savedmodel_io.onnx.ops.tensorlist import stack_lists

        return stack_lists(g, ins, int(node.attr.get("axis", 0)))
    r = need_rank(ins[0]) + 1
    axis = norm_axis(int(node.attr.get("axis", 0)), r)
    parts = [unsqueeze(g, v, [axis]) for v in ins]
    return parts[0] if len(parts) == 1 else g.op1("Concat", *parts, axis=axis)


@converter("Unpack", onnx="Split, Squeeze")
def unpack(cx, node, ins):
    g, x = cx.g, ins[0]
    if x.kind == "lists":
        from savedmodel_io.onnx.ops.tensorlist import unstack_lists

        return unstack_lists(g, x, int(node.attr.get("axis", 0)), int(node.attr["num"]))
    r = need_rank(x)
    axis = norm_axis(int(node.attr.get("axis", 0)), r)
    num = int(node.attr["num"])
    parts = [x] if num == 1 else split(g, x, axis, num=num)
    return [squeeze(g, p, [axis]) for p in parts]


@converter("Split", onnx="Split")
def split_(cx, node, ins):
    g = cx.g
    axis_v, x = ins
    axis = norm_axis(const_ints(axis_v, "the split axis")[0], need_rank(x))
    num = int(node.attr["num_split"])
    return [x] if num == 1 else split(g, x, axis, num=num)


@converter("SplitV", onnx="Split")
def split_v(cx, node, ins):
    g = cx.g
    x, sizes_v, axis_v = ins
    axis = norm_axis(const_ints(axis_v, "the split axis")[0], need_rank(x))
    sizes = const_ints(sizes_v, "size_splits")
    if len(sizes) == 1:
        return [x]
    if -1 in sizes:
        known = sum(s for s in sizes if s != -1)
        d = x.shape[axis]
        if isinstance(d, int):
            sizes = [d - known if s == -1 else s for s in sizes]
        else:
            rest = g.op1("Sub", dim_of(g, x, axis), g.const(np.asarray([known], np.int64)))
            parts = [g.const(np.asarray([s], np.int64)) if s != -1 else rest for s in sizes]
            return g.op("Split", [x, g.op1("Concat", *parts, axis=0)], outputs=len(sizes), axis=axis)
    return split(g, x, axis, sizes=sizes)


# -- slicing --------------------------------------------------------------------------------------

@converter("Slice", onnx="Slice")
def slice_(cx, node, ins):
    g = cx.g
    x, begin, size_v = ins
    b = i64(g, begin)
    s = i64(g, size_v)
    if s.is_const:
        sz = s.const
        if b.is_const:
            ends = np.where(sz == -1, INT64_MAX, b.const + sz).astype(np.int64)
            return g.op1("Slice", x, b, g.const(ends))
    minus = g.op1("Equal", s, scalar(g, -1, np.int64))
    ends = g.op1("Where", minus, scalar(g, INT64_MAX, np.int64), g.op1("Add", b, s))
    return g.op1("Slice", x, b, ends)


@converter("StridedSlice", onnx="Slice, Squeeze, Unsqueeze, Gather")
def strided_slice(cx, node, ins):
    g = cx.g
    x, begin, end, strides_v = ins
    strides = const_ints(strides_v, "strides")
    n = len(strides)
    bm, em = int(node.attr.get("begin_mask", 0)), int(node.attr.get("end_mask", 0))
    ell, new, shrink = (int(node.attr.get(k, 0)) for k in ("ellipsis_mask", "new_axis_mask", "shrink_axis_mask"))
    r = need_rank(x)
    # Dense spec: which input dim each sparse entry reads, and where new axes go.
    spec_dims = sum(1 for i in range(n) if not (new >> i) & 1 and not (ell >> i) & 1)
    entries: list[tuple[str, int, int]] = []  # (kind, sparse index, input dim)
    dim = 0
    seen_ellipsis = False
    for i in range(n):
        if (ell >> i) & 1 and not seen_ellipsis:
            seen_ellipsis = True
            dim += r - spec_dims
            entries.append(("ellipsis", i, dim))
        elif (new >> i) & 1:
            entries.append(("new", i, dim))
        else:
            entries.append(("dim", i, dim))
            dim += 1
    if dim > r:
        raise ExportError(f"the slice indexes {dim} dimensions of a rank-{r} tensor")
    b_const = begin.is_const
    e_const = end.is_const
    bvals = np.asarray(begin.const, np.int64).reshape(-1) if b_const else None
    evals = np.asarray(end.const, np.int64).reshape(-1) if e_const else None
    starts: list[Val] = []
    ends: list[Val] = []
    axes: list[int] = []
    steps: list[int] = []
    gathers: list[tuple[int, Val]] = []
    squeezes: list[int] = []
    new_positions: list[int] = []
    out_pos = 0
    for kind, i, d in entries:
        if kind == "ellipsis":
            out_pos += r - spec_dims
            continue
        if kind == "new":
            new_positions.append(out_pos)
            out_pos += 1
            continue
        st = strides[i]
        if st == 0:
            raise ExportError("a stride of 0")
        if (shrink >> i) & 1:
            if b_const:
                bi = int(bvals[i])
                starts.append(g.const(np.asarray([bi], np.int64)))
                ends.append(g.const(np.asarray([bi + 1 if bi != -1 else INT64_MAX], np.int64)))
                axes.append(d)
                steps.append(1)
                squeezes.append(d)
            else:
                idx = g.op1("Gather", i64(g, begin), g.const(np.asarray(i, np.int64)), axis=0)
                gathers.append((d, idx))
            continue
        out_pos += 1
        full_b = (bm >> i) & 1
        full_e = (em >> i) & 1
        if full_b and full_e and st == 1:
            continue
        if full_b:
            s_v = g.const(np.asarray([0 if st > 0 else INT64_MAX], np.int64))
        elif b_const:
            s_v = g.const(bvals[i:i + 1])
        else:
            s_v = g.op1("Slice", i64(g, begin), g.const(np.asarray([i], np.int64)),
                        g.const(np.asarray([i + 1], np.int64)))
        if full_e:
            e_v = g.const(np.asarray([INT64_MAX if st > 0 else INT64_MIN], np.int64))
        elif e_const:
            e_v = g.const(evals[i:i + 1])
        else:
            e_v = g.op1("Slice", i64(g, end), g.const(np.asarray([i], np.int64)),
                        g.const(np.asarray([i + 1], np.int64)))
        starts.append(s_v)
        ends.append(e_v)
        axes.append(d)
        steps.append(st)
    # Trailing dims not named by the spec are kept whole.
    y = x
    if axes:
        y = g.op1("Slice", y, g.op1("Concat", *starts, axis=0), g.op1("Concat", *ends, axis=0),
                  g.const(np.asarray(axes, np.int64)), g.const(np.asarray(steps, np.int64)))
    # Shrunk dims with a run-time index go by Gather, the highest dim first so lower numbers hold.
    gathered = sorted((d for d, _ in gathers), reverse=True)
    for d, idx in sorted(gathers, key=lambda t: -t[0]):
        y = g.op1("Gather", y, idx, axis=d)
    if squeezes:
        y = squeeze(g, y, [d - sum(1 for gd in gathered if gd < d) for d in squeezes])
    if new_positions:
        y = unsqueeze(g, y, new_positions)
    return y


@converter("ReverseV2", onnx="Slice (step -1)")
def reverse_v2(cx, node, ins):
    g = cx.g
    x, axis_v = ins
    r = need_rank(x)
    axes = sorted({norm_axis(a, r) for a in const_ints(axis_v, "the axes")})
    if not axes:
        return x
    k = len(axes)
    return g.op1("Slice", x, g.const(np.full(k, -1, np.int64)), g.const(np.full(k, INT64_MIN, np.int64)),
                 g.const(np.asarray(axes, np.int64)), g.const(np.full(k, -1, np.int64)))


@converter("Roll", onnx="Slice, Concat (a shift known only at run time: Gather, Mod, ReduceSum for the cut)")
def roll(cx, node, ins):
    """Each axis cut at (n - shift) mod n and its two pieces swapped (tensorflow/tensorflow
    tensorflow/core/kernels/roll_op.cc: shifts on one axis add up; an empty axis stays). A shift
    computed at run time gives the cut at run time (each shift reduced mod n before the sum, so
    large shifts cannot overflow it); the axes must be constants."""
    g = cx.g
    x, shift_v, axis_v = ins
    r = need_rank(x)
    axes = const_ints(axis_v, "the axes")
    positions: dict[int, list[int]] = {}
    for i, a in enumerate(axes):
        positions.setdefault(norm_axis(a, r), []).append(i)
    if shift_v.is_const:
        # roll_op.cc reads each shift into an int: int64 shifts wrap to 32 bits (the runtime's rule).
        shifts = [(v + 2**31) % 2**32 - 2**31 for v in const_ints(shift_v, "the shift")]
        if len(shifts) == 1 and len(axes) > 1:
            shifts = shifts * len(axes)
        if len(shifts) != len(axes):
            raise ExportError(f"{len(shifts)} shifts for {len(axes)} axes")
        flat = None
    else:
        n_shifts = None
        if shift_v.shape is not None and all(isinstance(d, int) for d in shift_v.shape):
            n_shifts = int(np.prod(shift_v.shape, dtype=np.int64))
        if n_shifts is not None and n_shifts != len(axes) and not (n_shifts == 1 and len(axes) > 1):
            raise ExportError(f"{n_shifts} shifts for {len(axes)} axes")
        if n_shifts == 1:
            positions = {a: [0] * len(pos) for a, pos in positions.items()}
        flat = g.op1("Reshape", i64(g, g.plain(shift_v)), g.const(np.asarray([-1], np.int64)))
        if shift_v.dtype == np.int64:  # wrapped to 32 bits, as roll_op.cc reads it (see above)
            low = g.op1("Mod", flat, g.const(np.asarray([2**32], np.int64)), fmod=0)
            flat = g.op1("Sub", low, g.op1("Mul", cast(g, g.op1("GreaterOrEqual", low, g.const(
                np.asarray([2**31], np.int64))), np.int64), g.const(np.asarray([2**32], np.int64))))
    y = x
    for a, pos in positions.items():
        n = dim_of(g, y, a)
        if flat is None:
            s = sum(shifts[i] for i in pos)
            k = g.op1("Mod", g.const(np.asarray([s], np.int64)), g.op1("Max", n, g.const(np.asarray([1], np.int64))),
                      fmod=0) if not n.is_const else \
                g.const(np.asarray([s % int(n.const[0]) if int(n.const[0]) else 0], np.int64))
        else:
            n1 = g.op1("Max", n, g.const(np.asarray([1], np.int64)))  # an empty axis: any cut is 0
            mine = g.op1("Mod", g.op1("Gather", flat, g.const(np.asarray(pos, np.int64)), axis=0), n1, fmod=0)
            k = g.op1("Mod", g.op1("ReduceSum", mine, g.const(np.asarray([0], np.int64)), keepdims=1), n1, fmod=0)
        cut = g.op1("Sub", n, k)
        ax = g.const(np.asarray([a], np.int64))
        tail = g.op1("Slice", y, cut, g.const(np.asarray([INT64_MAX], np.int64)), ax)
        head = g.op1("Slice", y, g.const(np.asarray([0], np.int64)), cut, ax)
        y = g.op1("Concat", tail, head, axis=a)
    return y


# -- gathers and scatters -------------------------------------------------------------------------

def gather(g: Graph, params: Val, indices: Val, axis: int, batch_dims: int) -> Val:
    """tf.gather(params, indices, axis, batch_dims) in ONNX."""
    r = need_rank(params)
    axis = norm_axis(axis, r)
    if batch_dims == 0:
        return g.op1("Gather", params, indices, axis=axis)
    ri = need_rank(indices, "indices")
    b = batch_dims % ri if batch_dims < 0 else batch_dims
    if axis < b:
        raise ExportError("gather on an axis inside the batch dims")
    # Move the gathered axis next to the batch dims, GatherND there, then put the
    # dims between the batch dims and the axis back in front of the index dims.
    moved = list(range(b)) + [axis] + [d for d in range(b, r) if d != axis]
    p = params if moved == list(range(r)) else g.op1("Transpose", params, perm=moved)
    out = g.op1("GatherND", p, unsqueeze(g, i64(g, indices), [-1]), batch_dims=b)
    mid = axis - b
    if mid == 0:
        return out
    ni = ri - b
    perm = list(range(b)) + list(range(b + ni, b + ni + mid)) + list(range(b, b + ni)) + \
        list(range(b + ni + mid, r - 1 + ni))
    return g.op1("Transpose", out, perm=perm)


@converter("GatherV2", "Gather", onnx="Gather, GatherND (batch_dims)")
def gather_v2(cx, node, ins):
    axis = const_ints(ins[2], "the axis")[0] if len(ins) > 2 else 0
    return gather(cx.g, ins[0], ins[1], axis, int(node.attr.get("batch_dims", 0)))


@converter("GatherNd", onnx="GatherND")
def gather_nd(cx, node, ins):
    g = cx.g
    return g.op1("GatherND", ins[0], i64(g, ins[1]))


@converter("OneHot", onnx="OneHot")
def one_hot(cx, node, ins):
    g = cx.g
    idx, depth, on, off = ins
    d = g.op1("Reshape", i64(g, depth), g.const(np.asarray([1], np.int64)))
    # TF gives an all-off row for a negative index; ONNX would count it from the end.
    i = i64(g, idx)
    i = g.op1("Where", g.op1("Less", i, scalar(g, 0, np.int64)), d, i)
    dt = on.dtype
    # onnxruntime's OneHot computes in int64, float32 or strings: other types are cast around it.
    via = dt if dt in (np.dtype(np.int64), np.dtype(np.float32), np.dtype(object)) else \
        np.dtype(np.float32) if dt.kind == "f" else np.dtype(np.int64)
    values = g.op1("Concat", unsqueeze(g, cast(g, off, via), [0]), unsqueeze(g, cast(g, on, via), [0]), axis=0)
    return cast(g, g.op1("OneHot", i, d, values, axis=int(node.attr.get("axis", -1))), dt)


@converter("Where", onnx="NonZero, Transpose")
def where(cx, node, ins):
    g = cx.g
    return g.op1("Transpose", g.op1("NonZero", ins[0]), perm=[1, 0])


@converter("ScatterNd", onnx="ScatterND(reduction=add)")
def scatter_nd(cx, node, ins):
    g = cx.g
    idx, updates, shp = ins
    base = g.op1("Expand", scalar(g, 0, updates.dtype), i64(g, shp))
    return g.op1("ScatterND", base, i64(g, idx), updates, reduction="add")


_TENSOR_SCATTER = {"TensorScatterUpdate": "none", "TensorScatterAdd": "add", "TensorScatterSub": "add",
                   "TensorScatterMax": "max", "TensorScatterMin": "min"}


@converter(*_TENSOR_SCATTER, onnx="ScatterND")
def tensor_scatter(cx, node, ins):
    g = cx.g
    x, idx, updates = ins
    red = _TENSOR_SCATTER[node.op]
    if red in ("max", "min") and cx.opset < 18:
        raise ExportError("ScatterND max/min need ONNX opset 18")
    if node.op == "TensorScatterSub":
        updates = g.op1("Neg", updates)
    return g.op1("ScatterND", x, i64(g, idx), updates, reduction=red if red != "none" else None)


@converter("SparseToDense", onnx="Expand, ScatterND")
def sparse_to_dense(cx, node, ins):
    g = cx.g
    idx, shp, values, default = ins
    shape_v = i64(g, shp)
    if shape_v.rank == 0:
        shape_v = unsqueeze(g, shape_v, [0])
    base = g.op1("Expand", default, shape_v)
    i = i64(g, idx)
    if i.rank == 0:
        i = g.op1("Reshape", i, g.const(np.asarray([1, 1], np.int64)))
    elif i.rank == 1:
        i = unsqueeze(g, i, [1])
    n = dim_of(g, i, 0)
    vals = g.op1("Expand", values, n) if values.rank == 0 else values
    return g.op1("ScatterND", base, i, vals)


@converter("MatrixBandPart", "BatchMatrixBandPart", onnx="Trilu")
def matrix_band_part(cx, node, ins):
    g = cx.g
    x, lo, hi = ins
    lower = const_ints(lo, "num_lower")[0]
    upper = const_ints(hi, "num_upper")[0]
    y = x
    if upper >= 0:  # keep j - i <= upper
        y = g.op1("Trilu", y, g.const(np.asarray(upper, np.int64)), upper=0)
    if lower >= 0:  # keep i - j <= lower
        y = g.op1("Trilu", y, g.const(np.asarray(-lower, np.int64)), upper=1)
    return y


@converter("Tile", onnx="Tile")
def tile(cx, node, ins):
    g = cx.g
    return g.op1("Tile", ins[0], i64(g, ins[1]))


@converter("Const", "HostConst", onnx="(initializer)")
def const(cx, node, ins):
    raise ExportError("a Const is always folded")  # reached only if its value cannot be read


@converter("RaggedTensorToTensor", onnx="ScatterND (one ragged dimension)")
def ragged_to_tensor(cx, node, ins):
    g = cx.g
    types = [t.decode() if isinstance(t, bytes) else t for t in node.attr.get("row_partition_types") or []]
    shape_v, values, default = ins[:3]
    parts = [i64(g, p) for p in ins[3:]]
    zero, one = scalar(g, 0, np.int64), scalar(g, 1, np.int64)
    n = g.op1("Reshape", dim_of(g, values, 0), g.const(np.zeros(0, np.int64)))
    pos = g.op1("Range", zero, n, one)
    if types == ["ROW_SPLITS"]:
        splits = parts[0]
        ends = g.op1("Slice", splits, g.const(np.asarray([1], np.int64)), g.const(np.asarray([INT64_MAX], np.int64)))
        nrows = g.op1("Reshape", dim_of(g, ends, 0), g.const(np.zeros(0, np.int64)))
        # The row of value i: how many row ends are <= i.
        row = g.op1("ReduceSum", cast(g, g.op1("GreaterOrEqual", unsqueeze(g, pos, [1]), unsqueeze(g, ends, [0])),
                                      np.int64), g.const(np.asarray([1], np.int64)), keepdims=0)
        starts = splits
    elif types == ["FIRST_DIM_SIZE", "VALUE_ROWIDS"]:
        nrows = g.op1("Reshape", parts[0], g.const(np.zeros(0, np.int64)))
        row = parts[1]
        rows = g.op1("Range", zero, nrows, one)
        starts = g.op1("ReduceSum", cast(g, g.op1("Less", unsqueeze(g, row, [0]), unsqueeze(g, rows, [1])), np.int64),
                       g.const(np.asarray([1], np.int64)), keepdims=0)
    else:
        raise ExportError(f"row_partition_types {types} (one ragged dimension only)")
    col = g.op1("Sub", pos, g.op1("Gather", starts, row, axis=0))
    longest = g.op1("ReduceMax", g.op1("Concat", g.op1("Add", col, one), g.const(np.zeros(1, np.int64)), axis=0),
                    keepdims=0)
    want = None if shape_v.rank == 0 else i64(g, shape_v)
    out_rows, out_cols = nrows, longest
    if want is not None:
        w0 = g.op1("Gather", want, g.const(np.asarray(0, np.int64)), axis=0)
        w1 = g.op1("Gather", want, g.const(np.asarray(1, np.int64)), axis=0)
        out_rows = g.op1("Where", g.op1("Less", w0, zero), nrows, w0)
        out_cols = g.op1("Where", g.op1("Less", w1, zero), longest, w1)
    keep = g.op1("And", g.op1("Less", row, out_rows), g.op1("Less", col, out_cols))
    kept = g.op1("Reshape", g.op1("NonZero", keep), g.const(np.asarray([-1], np.int64)))
    idx = g.op1("Concat", unsqueeze(g, g.op1("Gather", row, kept, axis=0), [1]),
                unsqueeze(g, g.op1("Gather", col, kept, axis=0), [1]), axis=1)
    inner = g.op1("Shape", values, start=1)
    dims = g.op1("Concat", unsqueeze(g, out_rows, [0]), unsqueeze(g, out_cols, [0]), inner, axis=0)
    base = g.op1("Expand", default, dims)
    return g.op1("ScatterND", base, idx, g.op1("Gather", values, kept, axis=0))
inexpressible("ONNX has no bit casts between types", "Bitcast")
inexpressible("serialized TensorProtos: ONNX has no protobuf codec", "SerializeTensor", "ParseTensor")


# -- the remaining layout ops (graph/ops/array_extra.py, array_update.py) -----------------------

@converter("Reverse", onnx="Slice (step -1)")
def reverse(cx, node, ins):
    g = cx.g
    x, dims = ins
    if not dims.is_const:
        raise ExportError("the dims to reverse must be a constant (they are computed at run time)")
    flags = np.asarray(dims.const).reshape(-1)
    if len(flags) != need_rank(x):
        raise ExportError("dims must have one flag per dimension of the input")
    axes = [int(a) for a in np.flatnonzero(flags)]
    return reverse_v2(cx, node, [x, g.const(np.asarray(axes, np.int64))])


@converter("ReverseSequence", onnx="Transpose, ReverseSequence")
def reverse_sequence(cx, node, ins):
    g = cx.g
    x, lengths = ins
    r = need_rank(x)
    seq, batch = norm_axis(int(node.attr["seq_dim"]), r), norm_axis(int(node.attr.get("batch_dim", 0)), r)
    if seq == batch:
        raise ExportError("seq_dim equals batch_dim")
    # ONNX ReverseSequence takes batch and time axes among the first two: move them there and back.
    if {seq, batch} <= {0, 1}:
        return g.op1("ReverseSequence", x, i64(g, lengths), batch_axis=batch, time_axis=seq)
    perm = [batch, seq] + [d for d in range(r) if d not in (batch, seq)]
    y = g.op1("ReverseSequence", g.op1("Transpose", x, perm=perm), i64(g, lengths), batch_axis=0, time_axis=1)
    return g.op1("Transpose", y, perm=list(invert(perm)))


@converter("ConcatOffset", onnx="Gather, Add, Mul")
def concat_offset(cx, node, ins):
    g = cx.g
    axis_v, shapes = ins[0], ins[1:]
    rank = shapes[0].shape[0] if shapes[0].shape and len(shapes[0].shape) == 1 else None
    if not isinstance(rank, int):
        raise ExportError("the rank of the shapes is not known before running")
    cdim = norm_axis(const_ints(axis_v, "the concat axis")[0], rank)
    unit = g.const(np.eye(rank, dtype=shapes[0].dtype)[cdim])
    outs, offset = [], g.const(np.zeros((), shapes[0].dtype))
    for s in shapes:
        outs.append(g.op1("Mul", unit, offset))
        offset = g.op1("Add", offset, g.op1("Gather", s, g.const(np.asarray(cdim, np.int64)), axis=0))
    return outs


@converter("ParallelConcat", onnx="Concat")
def parallel_concat(cx, node, ins):
    return ins[0] if len(ins) == 1 else cx.g.op1("Concat", *ins, axis=0)


@converter("Empty", onnx="Expand of a zero")
def empty(cx, node, ins):
    g = cx.g
    dt = attr_dtype(node, "dtype")
    # TensorFlow leaves the memory uninitialised unless init is set: zeros are one such value.
    zero = np.asarray(b"", dtype=object) if dt.kind == "O" else np.zeros((), dt)
    return g.op1("Expand", g.const(zero), i64(g, ins[0]))


@converter("InplaceUpdate", "InplaceAdd", "InplaceSub", onnx="Mod, ScatterND")
def inplace(cx, node, ins):
    g = cx.g
    if cx.opset < 16:
        raise ExportError("in-place row updates need ONNX opset 16 (ScatterND reductions)")
    x, i, v = ins
    # inplace_ops.cc: row indices wrap around (modulo the row count, floored).
    n = g.op1("Max", dim_of(g, x, 0), g.const(np.asarray([1], np.int64)))
    rows = g.op1("Mod", i64(g, i), n, fmod=0)
    v = cast(g, v, x.dtype)
    if node.op == "InplaceUpdate":
        rows, v = _last_writes(g, rows, v)
        return g.op1("ScatterND", x, unsqueeze(g, rows, [1]), v)
    # onnxruntime's ScatterND adds in 32/64-bit types (and a few 8-bit ones) only.
    xw = working(g, x)
    v = cast(g, v, xw.dtype)
    if node.op == "InplaceSub":
        v = g.op1("Neg", v)
    return cast(g, g.op1("ScatterND", xw, unsqueeze(g, rows, [1]), v, reduction="add"), x.dtype)


def _last_writes(g: Graph, rows: Val, v: Val) -> tuple[Val, Val]:
    """The rows and updates left when later writes to a row replace earlier ones (ONNX leaves
    repeated indices of ScatterND undefined)."""
    n = g.op1("Reshape", dim_of(g, rows, 0), g.const(np.zeros(0, np.int64)))
    pos = g.op1("Range", scalar(g, 0, np.int64), n, scalar(g, 1, np.int64))
    same = g.op1("Equal", unsqueeze(g, rows, [1]), unsqueeze(g, rows, [0]))
    later = g.op1("And", same, g.op1("Less", unsqueeze(g, pos, [1]), unsqueeze(g, pos, [0])))
    overwritten = reduce(g, "ReduceMax", cast(g, later, np.int32), [1], False)
    keep = g.op1("Reshape", g.op1("NonZero", g.op1("Equal", overwritten, scalar(g, 0, np.int32))),
                 g.const(np.asarray([-1], np.int64)))
    return g.op1("Gather", rows, keep, axis=0), g.op1("Gather", v, keep, axis=0)


@converter("ScatterNdNonAliasingAdd", onnx="ScatterND(reduction=add)")
def scatter_nd_non_aliasing_add(cx, node, ins):
    g = cx.g
    if cx.opset < 16:
        raise ExportError("ScatterNdNonAliasingAdd needs ONNX opset 16 (ScatterND reductions)")
    x, idx, updates = ins
    xw = working(g, x)
    return cast(g, g.op1("ScatterND", xw, i64(g, idx), cast(g, updates, xw.dtype), reduction="add"), x.dtype)


@converter("TensorStridedSliceUpdate", onnx="Range, (the StridedSlice mapping), ScatterElements")
def tensor_strided_slice_update(cx, node, ins):
    g = cx.g
    x, begin, end, strides, value = ins
    # The flat positions the slice covers: the same strided slice of an index tensor.
    size = g.op1("Reshape", g.op1("Size", x), g.const(np.zeros(0, np.int64)))
    dims = g.op1("Shape", x)
    pos = g.op1("Reshape", g.op1("Range", scalar(g, 0, np.int64), size, scalar(g, 1, np.int64)), dims)
    picked = strided_slice(cx, node, [pos, begin, end, strides])
    flat = g.const(np.asarray([-1], np.int64))
    vals = g.op1("Expand", cast(g, value, x.dtype), g.op1("Shape", picked))
    out = g.op1("ScatterElements", g.op1("Reshape", x, flat), g.op1("Reshape", picked, flat),
                g.op1("Reshape", vals, flat), axis=0)
    return g.op1("Reshape", out, dims)
