"""RaggedTensor ops. A ragged tensor is ``nested_splits`` (one row-splits vector per ragged
dimension, outermost first) over ``dense_values`` (its flat values, of any inner shape).

A row-splits vector ``s`` partitions ``len(s) - 1`` rows: row i holds children
``s[i]:s[i + 1]`` of the next level. Facts from tensorflow/tensorflow
tensorflow/core/kernels/ragged_*.cc and tensorflow/core/ops/ragged_*_ops.cc.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from savedmodel_io.graph.ops._registry import kernel
from savedmodel_io.graph.ops._util import bad, check_size, np_dtype
from savedmodel_io.graph.ops.sparse import fill_empty_rows

__all__ = ["RaggedVariant", "check_splits", "ranges"]


def _a(x) -> np.ndarray:
    return x if isinstance(x, np.ndarray) else np.asarray(x)


def check_splits(node, splits: np.ndarray, children: int, what: str = "row_splits") -> None:
    """Valid row splits: a non-empty vector from 0, never decreasing, ending at ``children``."""
    if splits.ndim != 1 or splits.size == 0:
        raise bad(node, f"Ragged splits must be a non-empty vector ({what})")
    if splits[0] != 0:
        raise bad(node, f"Ragged splits must start with 0 ({what})")
    if (np.diff(splits) < 0).any():
        raise bad(node, f"Ragged splits must be sorted in ascending order ({what})")
    if splits[-1] != children:
        raise bad(node, f"Final value of ragged splits must match the length the corresponding "
                        f"ragged values ({what}: {int(splits[-1])} vs {children})")


def _nested(node, splits_list, values: np.ndarray) -> list[np.ndarray]:
    """The nested splits as int64, each checked against the size of the level below it."""
    out = [_a(s).astype(np.int64) for s in splits_list]
    for k, s in enumerate(out):
        children = out[k + 1].size - 1 if k + 1 < len(out) else values.shape[0]
        check_splits(node, s, children, f"splits[{k}]")
    return out


def ranges(starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """concat(arange(s, s + n) for s, n in zip(starts, lengths)), vectorised."""
    lengths = lengths.astype(np.int64)
    total = int(lengths.sum())
    if total == 0:
        return np.zeros(0, np.int64)
    offsets = np.repeat(starts.astype(np.int64) - (np.cumsum(lengths) - lengths), lengths)
    return np.arange(total, dtype=np.int64) + offsets


def _splits_of(lengths: np.ndarray) -> np.ndarray:
    return np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)


# -- building ragged tensors ------------------------------------------------------------

@kernel("RaggedRange")
def ragged_range(node, inputs, ctx):
    """One range(start, limit, delta) per row (scalars broadcast against vectors)."""
    starts, limits, deltas = (_a(v) for v in inputs[:3])
    for name, v in (("starts", starts), ("limits", limits), ("deltas", deltas)):
        if v.ndim > 1:
            raise bad(node, f"{name} must be a scalar or vector")
    sizes = {v.size for v in (starts, limits, deltas) if v.ndim == 1}
    if len(sizes) > 1:
        raise bad(node, "starts, limits, and deltas must have the same shape")
    n = sizes.pop() if sizes else 1
    s, lim, d = (np.broadcast_to(v.reshape(-1) if v.ndim else v, (n,)) for v in
                 (starts, limits, deltas))
    if (d == 0).any():
        raise bad(node, "Requires delta != 0")
    empty = ((d > 0) & (lim < s)) | ((d < 0) & (lim > s))
    dtype = starts.dtype
    with np.errstate(all="ignore"):
        if dtype.kind in "iu":
            # |limit - start| exactly, in uint64 (an int64 difference can wrap around).
            lo, hi = np.minimum(lim, s).astype(np.int64), np.maximum(lim, s).astype(np.int64)
            span = hi.astype(np.uint64) - lo.astype(np.uint64)
            step = np.abs(d.astype(np.int64)).astype(np.uint64)  # |-2^63| stays 2^63 here
            size = np.where(span == 0, 0, (span - 1) // step + 1)
        else:  # ragged_range_op.cc: ceil(|(limit - start) / delta|) in the values' type
            size = np.ceil(np.abs((lim - s) / d))
            size = np.where(np.isnan(size), np.inf, size)
    size = np.where(empty, 0, size)
    # ragged_range_op.cc: Requires ((limit - start) / delta) <= the splits type's maximum.
    top = np.iinfo(np_dtype(node.attr["Tsplits"])).max
    if (size > top).any():
        raise bad(node, f"Requires ((limit - start) / delta) <= {top}")
    size = size.astype(np.int64)
    total = int(size.sum(dtype=object)) if n else 0  # Python ints: the int64 sum can wrap
    # The values, and on the way three int64 arrays as long (row of each value, its place in the
    # row, the repeated row starts): the working memory is what must stay in bounds.
    check_size(node, [total], dtype.itemsize + 24)
    rows = np.repeat(np.arange(n), size)
    j = np.arange(total) - np.repeat(np.cumsum(size) - size, size)
    with np.errstate(all="ignore"):
        values = (s[rows] + j.astype(dtype) * d[rows]).astype(dtype)
    return [_splits_of(size).astype(np_dtype(node.attr["Tsplits"])), values]


@kernel("RaggedGather")
def ragged_gather(node, inputs, ctx):
    """Rows of a ragged tensor picked by ``indices``; the indices' own dims become uniform
    ragged dims of the result."""
    n = int(node.attr["PARAMS_RAGGED_RANK"])
    values = _a(inputs[n])
    indices = _a(inputs[n + 1])
    nested = _nested(node, inputs[:n], values)
    if indices.ndim < 1:
        raise bad(node, "indices must have rank >= 1")
    nrows = nested[0].size - 1
    flat = indices.reshape(-1).astype(np.int64)
    wrong = np.flatnonzero((flat < 0) | (flat >= nrows))
    if wrong.size:
        i = int(wrong[0])
        raise bad(node, f"indices[{i}] = {int(flat[i])} is not in [0, {nrows})")
    out = []
    for k in range(1, indices.ndim):  # one uniform level per extra dimension of indices
        rows = int(np.prod(indices.shape[:k]))
        out.append(np.arange(rows + 1, dtype=np.int64) * indices.shape[k])
    picked = flat
    for s in nested:
        lengths = s[picked + 1] - s[picked]
        check_size(node, [int(lengths.sum())], values.dtype.itemsize)
        out.append(_splits_of(lengths))
        picked = ranges(s[picked], lengths)
    splits_type = np_dtype(node.attr["Tsplits"])
    return [o.astype(splits_type) for o in out] + [values[picked]]


@kernel("RaggedTensorToSparse")
def ragged_to_sparse(node, inputs, ctx):
    """One sparse entry per scalar of the flat values: [row, ragged positions..., inner...]."""
    n = int(node.attr["RAGGED_RANK"])
    values = _a(inputs[n])
    nested = _nested(node, inputs[:n], values)
    # Coordinates of each flat-values row, built from the innermost level outward.
    count = values.shape[0]
    coords = np.zeros((count, 0), np.int64)
    shape = []
    child = np.arange(count)
    for s in reversed(nested):
        parent = np.searchsorted(s, child, side="right") - 1
        coords = np.concatenate([(child - s[parent])[:, None], coords], axis=1)
        shape.insert(0, int(np.diff(s).max()) if s.size > 1 else 0)
        child = parent
    coords = np.concatenate([child[:, None], coords], axis=1)
    shape.insert(0, nested[0].size - 1)
    inner = values.shape[1:]
    per = int(np.prod(inner, dtype=np.int64))
    inner_coords = np.array(list(np.ndindex(*inner)), np.int64).reshape(per, len(inner))
    full = np.concatenate([np.repeat(coords, per, axis=0), np.tile(inner_coords, (count, 1))], 1)
    return [full, values.reshape(-1), np.array(shape + list(inner), np.int64)]


# -- RaggedTensorToTensor: tensorflow/tensorflow
# tensorflow/core/kernels/ragged_tensor_to_tensor_op.cc

def _run_positions(rowids: np.ndarray) -> np.ndarray:
    """Each entry's position within its run of equal consecutive row ids."""
    if rowids.size == 0:
        return np.zeros(0, np.int64)
    starts = np.flatnonzero(np.concatenate([[True], rowids[1:] != rowids[:-1]]))
    lengths = np.diff(np.append(starts, rowids.size))
    return np.arange(rowids.size) - np.repeat(starts, lengths)


def _out_shape(node, shape_in: np.ndarray, ragged_rank: int, values: np.ndarray,
               default: np.ndarray) -> list[int | None]:
    """The requested output shape (None where unknown), checked against the values."""
    inner = list(values.shape[1:])
    if default.ndim > len(inner) or any(
            dv not in (1, iv) for dv, iv in zip(default.shape[::-1], inner[::-1])):
        raise bad(node, f"default_value.shape={list(default.shape)} and "
                        f"rt_input.flat_values.shape={list(values.shape)} are incompatible")
    if shape_in.ndim == 0:
        if int(shape_in) != -1:
            raise bad(node, "shape must be a vector, or -1 for an unknown shape")
        return [None] * (ragged_rank + 1) + inner
    want = [None if int(d) == -1 else int(d) for d in shape_in.reshape(-1)]
    if any(d is not None and d < 0 for d in want):
        raise bad(node, f"Invalid dimension size in shape {want}")
    rank = ragged_rank + values.ndim
    if len(want) != rank:
        raise bad(node, f"rt_input.rank = {rank} but shape.rank = {len(want)}")
    for k, iv in enumerate(inner):
        d = want[ragged_rank + 1 + k]
        if d is None:
            want[ragged_rank + 1 + k] = iv
        elif d != iv:
            raise bad(node, f"rt_input.shape[{ragged_rank + 1 + k}] = {iv} but "
                            f"shape[{ragged_rank + 1 + k}] = {d}")
    return want


@kernel("RaggedTensorToTensor")
def ragged_to_tensor(node, inputs, ctx):
    """Pad (with default_value) or cut every ragged dimension to the requested shape."""
    types = [t.decode() if isinstance(t, bytes) else str(t) for t in
             node.attr["row_partition_types"]]
    shape_in, values, default = _a(inputs[0]), _a(inputs[1]), _a(inputs[2])
    parts = [_a(p).astype(np.int64) for p in inputs[3:]]
    if not types or len(types) != len(parts):
        raise bad(node, "row_partition_types must name each row partition tensor")
    if values.ndim < 1:
        raise bad(node, "values must have rank >= 1")
    if types[0] == "FIRST_DIM_SIZE":
        if parts[0].ndim != 0:
            raise bad(node, "FIRST_DIM_SIZE must be a scalar")
        nrows, levels, kinds = int(parts[0]), parts[1:], types[1:]
    elif types[0] == "ROW_SPLITS":
        if parts[0].size == 0:
            raise bad(node, "Invalid first partition input. Tensor requires at least one element.")
        nrows, levels, kinds = parts[0].size - 1, parts, types
    else:
        raise bad(node, f"Cannot handle {types[0]} in first dimension.")
    if any(k not in ("ROW_SPLITS", "VALUE_ROWIDS") for k in kinds) or \
            (types[0] == "ROW_SPLITS" and "VALUE_ROWIDS" in kinds):
        raise bad(node, f"unsupported row_partition_types {types}")
    ragged_rank = len(levels)
    # Each level: the parent row and the position in it of every child of that level.
    # The children of each level: the rows of the next one (value_rowids hold one id per
    # child), the values for the last.
    counts = [p.size if k == "VALUE_ROWIDS" else n.size - 1
              for k, p, n in zip(kinds, levels, levels[1:])] + [values.shape[0]]
    parent_count = nrows
    placement = []
    for kind, part, children in zip(kinds, levels, counts):
        if kind == "ROW_SPLITS":
            if part.size - 1 > parent_count:
                raise bad(node, f"Row partition size is greater than output size: "
                                f"{part.size - 1} > {parent_count}")
            check_splits(node, part, children)
            child = np.arange(children)
            parent = np.searchsorted(part, child, side="right") - 1
            position = child - part[parent]
            width = int(np.diff(part).max()) if part.size > 1 else 0
            parent_count = children
        else:
            if part.size != children or ((part < 0) | (part >= parent_count)).any():
                raise bad(node, f"value_rowids must have one id in [0, {parent_count}) per "
                                "child")
            parent, position = part, _run_positions(part)
            width = int(position.max()) + 1 if position.size else 0
            parent_count = part.size
        placement.append((parent, position, width))
    want = _out_shape(node, shape_in, ragged_rank, values, default)
    dims = [nrows if want[0] is None else want[0]]
    dims += [w if want[k + 1] is None else want[k + 1] for k, (_, _, w) in enumerate(placement)]
    out_shape = dims + list(values.shape[1:])
    check_size(node, out_shape, values.dtype.itemsize)
    # Walk each value up to its row, keeping the ones inside the output.
    coords = np.zeros((values.shape[0], ragged_rank + 1), np.int64)
    child = np.arange(values.shape[0])
    inside = np.ones(values.shape[0], bool)
    for k in range(ragged_rank - 1, -1, -1):
        parent, position, _ = placement[k]
        coords[:, k + 1] = position[child]
        inside &= coords[:, k + 1] < dims[k + 1]
        child = parent[child]
    coords[:, 0] = child
    inside &= coords[:, 0] < dims[0]
    out = np.empty(out_shape, values.dtype)
    out[...] = np.broadcast_to(default, out_shape[ragged_rank + 1:]) if default.ndim else default
    keep = coords[inside]
    out[tuple(keep.T)] = values[inside]
    return out


# -- variants --------------------------------------------------------------------------

@dataclass(frozen=True)
class RaggedVariant:
    """A ragged tensor held in a variant (RaggedTensorToVariant's payload)."""

    splits: tuple[np.ndarray, ...]
    values: np.ndarray

    @property
    def ragged_rank(self) -> int:
        return len(self.splits)


def _row(splits: list[np.ndarray], values: np.ndarray, i: int) -> RaggedVariant:
    """Row i of a ragged tensor, as a ragged tensor of one ragged rank less."""
    lo, hi = int(splits[0][i]), int(splits[0][i + 1])
    inner = []
    for s in splits[1:]:
        inner.append(s[lo:hi + 1] - s[lo])
        lo, hi = int(s[lo]), int(s[hi])
    return RaggedVariant(tuple(inner), values[lo:hi])


@kernel("RaggedTensorToVariant", per_element=True)
def ragged_to_variant(node, inputs, ctx):
    """One variant holding the ragged tensor, or (batched_input) one per row."""
    n = int(node.attr["RAGGED_RANK"])
    values = _a(inputs[n])
    splits = _nested(node, inputs[:n], values)
    dtype = np_dtype(node.attr["Tsplits"])
    splits = [s.astype(dtype) for s in splits]
    if not node.attr["batched_input"]:
        out = np.empty((), dtype=object)
        out[()] = RaggedVariant(tuple(splits), values)
        return out
    if n == 0:
        raise bad(node, "batched_input needs a ragged rank of at least 1")
    rows = splits[0].size - 1
    out = np.empty(rows, dtype=object)
    for i in range(rows):
        out[i] = _row(splits, values, i)
    return out


@kernel("RaggedTensorFromVariant", per_element=True)
def ragged_from_variant(node, inputs, ctx):
    """Decode variants; a batch of them is stacked, its dimensions becoming ragged ones."""
    encoded = _a(inputs[0])
    out_rank = int(node.attr["output_ragged_rank"])
    in_rank = int(node.attr["input_ragged_rank"])
    if in_rank == -1:
        in_rank = out_rank - encoded.ndim
    if out_rank != in_rank + encoded.ndim:
        raise bad(node, f"output_ragged_rank ({out_rank}) must be input_ragged_rank "
                        f"({in_rank}) + encoded_ragged.dims ({encoded.ndim})")
    want_values = np_dtype(node.attr["Tvalues"])
    want_splits = np_dtype(node.attr["Tsplits"])
    items = []
    for item in encoded.reshape(-1):
        if not isinstance(item, RaggedVariant):
            raise bad(node, f"expected a RaggedTensorVariant, got {type(item).__name__}")
        if item.values.dtype != want_values:
            raise bad(node, f"Expected values Tensor dtype: {want_values}, found: "
                            f"{item.values.dtype}")
        if item.ragged_rank != in_rank:
            raise bad(node, f"Encoded input RaggedTensorVariant has ragged_rank="
                            f"{item.ragged_rank}.  Expected ragged_rank={in_rank}.")
        if any(s.dtype != want_splits for s in item.splits):
            raise bad(node, f"Expected row_splits Tensor dtype: {want_splits}")
        items.append(item)
    if encoded.ndim == 0:
        return list(items[0].splits) + [items[0].values]
    if not items:
        raise bad(node, "cannot stack an empty batch of ragged variants")
    inner = {it.values.shape[1:] for it in items}
    if len(inner) > 1:
        raise bad(node, "ragged variants to stack have values of different inner shapes")
    out = []
    for k in range(1, encoded.ndim):  # the batch's own dimensions, as uniform splits
        rows = int(np.prod(encoded.shape[:k]))
        out.append(np.arange(rows + 1, dtype=np.int64) * encoded.shape[k])
    sizes = [it.splits[0].size - 1 if in_rank else it.values.shape[0] for it in items]
    out.append(_splits_of(np.array(sizes, np.int64)))
    for level in range(in_rank):
        out.append(_splits_of(np.concatenate([np.diff(it.splits[level].astype(np.int64))
                                              for it in items])))
    values = np.concatenate([it.values for it in items])
    return [o.astype(want_splits) for o in out] + [values]


@kernel("RaggedFillEmptyRows")
def ragged_fill_empty_rows(node, inputs, ctx):
    """SparseFillEmptyRows in ragged terms: value_rowids instead of sparse indices."""
    rowids, values, nrows_in, default = (_a(v) for v in inputs[:4])
    if rowids.ndim != 1:
        raise bad(node, f"value_rowids must be a vector, saw: {list(rowids.shape)}")
    if values.ndim != 1:
        raise bad(node, f"values must be a vector, saw: {list(values.shape)}")
    if rowids.size != values.size:
        raise bad(node, "value_rowids and values must have the same length")
    if nrows_in.ndim != 0:
        raise bad(node, "nrows must be a scalar")
    if default.ndim != 0:
        raise bad(node, "default_value must be a scalar")
    rows = rowids.astype(np.int64)
    position, empty, row_start, total = fill_empty_rows(node, rows, int(nrows_in))
    out_rows = np.zeros(total, np.int64)
    out_vals = np.empty(total, values.dtype)
    out_rows[position] = rows
    out_vals[position] = values
    empty_rows = np.flatnonzero(empty)
    out_rows[row_start[empty_rows]] = empty_rows
    out_vals[row_start[empty_rows]] = default
    return [out_rows, out_vals, empty, position]

