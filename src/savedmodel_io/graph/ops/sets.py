"""Set operations over the last dimension: SetSize and {Dense,Sparse}To{Dense,Sparse}SetOperation.

A set is what the last dimension holds at one position of the leading ("group")
dimensions; duplicates count once. Results are SparseTensors whose values are sorted
within each group and whose last dimension is the largest result set. Facts from
tensorflow/tensorflow tensorflow/core/kernels/set_kernels.cc.
"""

from __future__ import annotations

import itertools

import numpy as np

from savedmodel_io.graph.ops._registry import kernel
from savedmodel_io.graph.ops._util import bad, check_size
from savedmodel_io.graph.ops.sparse import Sparse, check_valid, sparse_input


def _a(x) -> np.ndarray:
    return x if isinstance(x, np.ndarray) else np.asarray(x)


Run = tuple[tuple[int, ...], set]


def _group_shape(node, shape: list[int], name: str) -> list[int]:
    if len(shape) < 2:
        raise bad(node, f"Invalid input rank {len(shape)} for {name}: sets need rank >= 2")
    return shape[:-1]


def _dense_sets(x: np.ndarray) -> list[Run]:
    """Every position of the leading dimensions with the set of its last-dimension values."""
    return [(key, set(x[key].tolist()))
            for key in itertools.product(*(range(d) for d in x.shape[:-1]))]


def _sparse_runs(node, sp: Sparse, validate: bool) -> list[Run]:
    """Consecutive entries sharing their leading indices, in input order, as TF groups them.

    Sorted input gives one run per group; unsorted input (validate_indices off) can give
    several, which TF's walks below treat as separate groups.
    """
    if validate:
        check_valid(node, sp)
    shape = sp.shape.tolist()
    if sp.indices.shape[0] and (any(d <= 0 for d in shape) or
                                (sp.indices >= sp.shape[None, :]).any()):
        raise bad(node, f"a set index is outside the shape {shape}")
    runs: list[Run] = []
    for idx, v in zip(sp.indices[:, :-1].tolist(), sp.values.tolist()):
        key = tuple(idx)
        if runs and runs[-1][0] == key:
            runs[-1][1].add(v)
        else:
            runs.append((key, {v}))
    return runs


def _operation(node):
    how = node.attr["set_operation"]
    how = how.decode() if isinstance(how, bytes) else str(how)
    fn = {"a-b": lambda x, y: x - y, "b-a": lambda x, y: y - x,
          "intersection": lambda x, y: x & y, "union": lambda x, y: x | y}.get(how.lower())
    if fn is None:
        raise bad(node, f"Invalid set_operation {how}.")
    return fn


def _result(pairs: list[tuple[tuple[int, ...], set]], shape: list[int],
            dtype: np.dtype) -> list[np.ndarray]:
    """A SparseTensor of the non-empty result sets, each sorted, in the order given."""
    rows: list[list[int]] = []
    vals: list = []
    widest = 0
    for key, result in pairs:
        members = sorted(result)
        widest = max(widest, len(members))
        rows += [list(key) + [k] for k in range(len(members))]
        vals += members
    indices = np.array(rows, np.int64).reshape(-1, len(shape) + 1)
    if dtype == object:
        values = np.empty(len(vals), dtype=object)
        values[:] = vals
    else:
        values = np.array(vals, dtype=dtype)
    return [indices, values, np.array(shape + [widest], np.int64)]


def _same_groups(node, a: list[int], b: list[int]) -> None:
    if a != b:
        raise bad(node, f"Mismatched shapes {a} vs {b}")


@kernel("SetSize", per_element=True)
def set_size(node, inputs, ctx):
    """Number of distinct values per group, as a dense int32 tensor of the group shape."""
    sp = sparse_input(node, *inputs[:3], name="set")
    shape = _group_shape(node, sp.shape.tolist(), "set")
    runs = _sparse_runs(node, sp, node.attr["validate_indices"])
    check_size(node, shape, 4)
    out = np.zeros(shape, np.int32)
    for key, members in runs:
        out[key] = len(members)
    return out


@kernel("DenseToDenseSetOperation", per_element=True)
def dense_to_dense(node, inputs, ctx):
    a, b = _a(inputs[0]), _a(inputs[1])
    shape = _group_shape(node, list(a.shape), "set1")
    _same_groups(node, shape, _group_shape(node, list(b.shape), "set2"))
    fn = _operation(node)
    pairs = [(key, fn(x, y)) for (key, x), (_, y) in zip(_dense_sets(a), _dense_sets(b))]
    return _result([p for p in pairs if p[1]], shape, a.dtype)


@kernel("DenseToSparseSetOperation", per_element=True)
def dense_to_sparse(node, inputs, ctx):
    """Dense groups in order; the sparse runs are consumed as their keys come up."""
    a = _a(inputs[0])
    sp = sparse_input(node, *inputs[1:4], name="set2")
    fn = _operation(node)
    shape = _group_shape(node, list(a.shape), "set1")
    _same_groups(node, shape, _group_shape(node, sp.shape.tolist(), "set2"))
    runs = _sparse_runs(node, sp, node.attr["validate_indices"])
    pairs, k = [], 0
    for key, x in _dense_sets(a):
        y: set = set()
        if k < len(runs) and runs[k][0] == key:
            y = runs[k][1]
            k += 1
        pairs.append((key, fn(x, y)))
    return _result([p for p in pairs if p[1]], shape, a.dtype)


@kernel("SparseToSparseSetOperation", per_element=True)
def sparse_to_sparse(node, inputs, ctx):
    """Both sides' runs merged by key, as TF walks them."""
    spa = sparse_input(node, *inputs[:3], name="set1")
    spb = sparse_input(node, *inputs[3:6], name="set2")
    fn = _operation(node)
    validate = node.attr["validate_indices"]
    shape = _group_shape(node, spa.shape.tolist(), "set1")
    _same_groups(node, shape, _group_shape(node, spb.shape.tolist(), "set2"))
    ra, rb = _sparse_runs(node, spa, validate), _sparse_runs(node, spb, validate)
    pairs, i, j = [], 0, 0
    while i < len(ra) or j < len(rb):
        if j >= len(rb) or (i < len(ra) and ra[i][0] < rb[j][0]):
            pairs.append((ra[i][0], fn(ra[i][1], set())))
            i += 1
        elif i >= len(ra) or rb[j][0] < ra[i][0]:
            pairs.append((rb[j][0], fn(set(), rb[j][1])))
            j += 1
        else:
            pairs.append((ra[i][0], fn(ra[i][1], rb[j][1])))
            i += 1
            j += 1
    return _result([p for p in pairs if p[1]], shape, spa.values.dtype)
