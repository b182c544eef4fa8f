"""Feature crosses: SparseCross, SparseCrossHashed, SparseCrossV2 and RaggedCross.

Each input is a column of features per batch row: a SparseTensor's values of that row,
a dense matrix's row, or a ragged row. A row's crosses are the cartesian product of its
columns' features (the last column varying fastest), joined as strings or combined as
fingerprints. Facts from tensorflow/tensorflow tensorflow/core/kernels/sparse_cross_op.cc
and ragged_cross_op.cc.
"""

from __future__ import annotations

import itertools
import struct
from collections.abc import Callable, Sequence

import numpy as np

from savedmodel_io.graph.ops._registry import kernel
from savedmodel_io.graph.ops._util import attr_str, bad, check_size, np_dtype, scalar_int
from savedmodel_io.hashing.farmhash import fingerprint64, fingerprint_cat64
from savedmodel_io.hashing.siphash import siphash24
from savedmodel_io.proto import DataType

_M = 0xFFFFFFFFFFFFFFFF
_INT64_MAX = 0x7FFFFFFFFFFFFFFF

# A column: for each batch row, its features (Python ints or bytes).
Column = list[list]


def _a(x) -> np.ndarray:
    return x if isinstance(x, np.ndarray) else np.asarray(x)


def _sparse_column(indices: np.ndarray, values: np.ndarray, batch: int) -> Column:
    """Features per row: the run of entries whose first index is the row, read in order.

    SparseCross counts a row's features while the next entry's first index equals the
    row (entries of other rows in between end the run), as sparse_cross_op.cc does.
    """
    vals = values.tolist()
    first = indices[:, 0].tolist() if indices.size else []
    out: Column = []
    pos = 0
    for b in range(batch):
        start = pos
        while pos < len(first) and first[pos] == b:
            pos += 1
        out.append(vals[start:pos])
    return out


def _dense_column(x: np.ndarray) -> Column:
    return [list(row) for row in x.tolist()]


def _crosses(node, columns: Sequence[Column], batch: int, combine: Callable[[tuple], object]
             ) -> tuple[list[list[object]], int]:
    """Per row, ``combine`` of each product of the columns' features; and the widest row."""
    total = sum(int(np.prod([len(c[b]) for c in columns], dtype=object)) for b in range(batch)) \
        if columns else 0
    check_size(node, [total], 8)
    rows = []
    for b in range(batch):
        feats = [c[b] for c in columns]
        rows.append([combine(p) for p in itertools.product(*feats)] if columns else [])
    return rows, max((len(r) for r in rows), default=0)


def _as_text(v) -> bytes:
    return v if isinstance(v, bytes) else str(int(v)).encode()


def _joiner(sep: bytes) -> Callable[[tuple], bytes]:
    return lambda p: sep.join(_as_text(v) for v in p)


def _fingerprint(v) -> int:
    """A feature as a 64-bit number: strings fingerprinted, integers taken as they are."""
    return fingerprint64(v) if isinstance(v, bytes) else int(v) & _M


def _bucket(h: int, num_buckets: int) -> int:
    return h % num_buckets if num_buckets > 0 else h % _INT64_MAX


def _hasher(key: int, num_buckets: int) -> Callable[[tuple], int]:
    """SparseCross/RaggedCross hashing: fold FingerprintCat64 over the features from ``key``."""
    def combine(p: tuple) -> int:
        h = key & _M
        for v in p:
            h = fingerprint_cat64(h, _fingerprint(v))
        return _bucket(h, num_buckets)
    return combine


def _sparse_inputs(node, inputs, n: int, dense_count: int):
    """(indices, values, shapes, dense) lists, validated as ValidateInput does."""
    indices = [_a(v) for v in inputs[:n]]
    values = [_a(v) for v in inputs[n:2 * n]]
    shapes = [_a(v) for v in inputs[2 * n:3 * n]]
    dense = [_a(v) for v in inputs[3 * n:3 * n + dense_count]]
    for i in range(n):
        if indices[i].ndim != 2 or indices[i].shape[1] != 2:
            raise bad(node, f"Input indices should be an (n, 2) matrix at position {i}")
        if values[i].ndim != 1 or values[i].shape[0] != indices[i].shape[0]:
            raise bad(node, f"Expected size of values to be {indices[i].shape[0]} at position {i}")
        if shapes[i].shape != (2,):
            raise bad(node, f"shape should imply a 2D tensor at position {i}")
    for i, d in enumerate(dense):
        if d.ndim != 2:
            raise bad(node, f"Dense inputs should be a matrix at position {i}")
    batch = int(shapes[0][0]) if n else (dense[0].shape[0] if dense else 0)
    for i in range(n):
        if shapes[i][0] != batch:
            raise bad(node, f"Expected batch size {batch} got {int(shapes[i][0])} at position {i}")
    for i, d in enumerate(dense):
        if d.shape[0] != batch:
            raise bad(node, f"Expected batch size {batch} got {d.shape[0]} at dense tensor {i}")
    columns = [_sparse_column(indices[i], values[i], batch) for i in range(n)]
    return columns + [_dense_column(d) for d in dense], batch


def _values(rows: list[list[object]]) -> np.ndarray:
    """The crosses of all rows in one vector: strings, or int64 hashes (all below 2**63)."""
    flat = [v for r in rows for v in r]
    if flat and isinstance(flat[0], bytes):
        out = np.empty(len(flat), dtype=object)
        out[:] = flat
        return out
    return np.array(flat, np.int64)


def _sparse_output(rows: list[list[object]], width: int, batch: int,
                   strings: bool) -> list[np.ndarray]:
    idx = [[b, k] for b, r in enumerate(rows) for k in range(len(r))]
    vals = _values(rows) if any(rows) else np.zeros(0, object if strings else np.int64)
    return [np.array(idx, np.int64).reshape(-1, 2), vals, np.array([batch, width], np.int64)]


@kernel("SparseCross", per_element=True)
def sparse_cross(node, inputs, ctx):
    """Strings joined with "_X_", or (hashed_output) fingerprints folded from hash_key."""
    n = int(node.attr["N"])
    dense_count = len(inputs) - 3 * n
    internal_string = node.attr["internal_type"] == DataType.DT_STRING
    values = inputs[n:2 * n]
    if internal_string and any(_a(v).dtype != object for v in
                               list(values) + list(inputs[3 * n:])):
        raise bad(node, "Input values should be of internal type string but received int64")
    columns, batch = _sparse_inputs(node, inputs, n, dense_count)
    if node.attr["hashed_output"]:
        combine = _hasher(int(node.attr["hash_key"]), int(node.attr["num_buckets"]))
        rows, width = _crosses(node, columns, batch, combine)
        return _sparse_output(rows, width, batch, False)
    rows, width = _crosses(node, columns, batch, _joiner(b"_X_"))
    return _sparse_output(rows, width, batch, True)


@kernel("SparseCrossV2", per_element=True)
def sparse_cross_v2(node, inputs, ctx):
    n = int(node.attr["N"])
    sep = _a(inputs[-1])
    if sep.ndim != 0:
        raise bad(node, "Input separator should be a scalar.")
    columns, batch = _sparse_inputs(node, inputs[:-1], n, len(inputs) - 1 - 3 * n)
    rows, width = _crosses(node, columns, batch, _joiner(bytes(sep.item())))
    return _sparse_output(rows, width, batch, True)


# sparse_cross_op.cc (Keyed*Column): an int64 feature is hashed as 4 bytes (the code passes
# sizeof(DataType), the size of the dtype enum); a dense int64 feature is used as it is
# unless strong_hash.
_INT64 = struct.Struct("<q")


def _keyed(v, key: tuple[int, int], strong: bool, dense: bool) -> int:
    if isinstance(v, bytes):
        return siphash24(*key, v) if strong else fingerprint64(v)
    raw = _INT64.pack(int(v))[:4]
    if strong:
        return siphash24(*key, raw)
    return int(v) & _M if dense else fingerprint64(raw)


@kernel("SparseCrossHashed", per_element=True)
def sparse_cross_hashed(node, inputs, ctx):
    """FingerprintCat64 folded over the features, starting from the first feature's hash."""
    n = int(node.attr["N"])
    num_buckets = scalar_int(node, inputs[-3], "num_buckets")
    strong = bool(_a(inputs[-2]))
    salt = _a(inputs[-1]).reshape(-1)
    if salt.size != 2:
        raise bad(node, f'Input "salt" must have length 2 but has length {salt.size}')
    key = (int(salt[0]) & _M, int(salt[1]) & _M)
    dense_count = len(inputs) - 3 - 3 * n
    columns, batch = _sparse_inputs(node, inputs[:-3], n, dense_count)
    is_dense = [False] * n + [True] * dense_count

    def combine(p: tuple) -> int:
        h = _keyed(p[0], key, strong, is_dense[0])
        for v, dense in zip(p[1:], is_dense[1:]):
            h = fingerprint_cat64(h, _keyed(v, key, strong, dense))
        return _bucket(h, num_buckets)

    rows, width = _crosses(node, columns, batch, combine)
    return _sparse_output(rows, width, batch, False)


def _ragged_column(node, values: np.ndarray, splits: np.ndarray) -> tuple[Column, int]:
    if values.ndim != 1 or splits.ndim != 1:
        raise bad(node, "tf.ragged.cross only supports inputs with rank=2.")
    s = splits.astype(np.int64)
    if s.size == 0 or s[0] != 0 or s[-1] != values.size or (np.diff(s) < 0).any():
        raise bad(node, "Invalid ragged splits")
    vals = values.tolist()
    return [vals[s[b]:s[b + 1]] for b in range(s.size - 1)], s.size - 1


def _sparse_rows(indices: np.ndarray, values: np.ndarray, batch: int) -> Column:
    """RaggedCross's reading of a SparseTensor: row b ends before the first index > b."""
    vals = values.tolist()
    first = indices[:, 0].tolist()
    out: Column = []
    pos = 0
    for b in range(batch):
        start = pos
        while pos < len(first) and first[pos] <= b:
            pos += 1
        out.append(vals[start:pos])
    return out


@kernel("RaggedCross", per_element=True)
def ragged_cross(node, inputs, ctx):
    """Crosses of ragged, sparse and dense rank-2 inputs in ``input_order`` (R, S, D)."""
    order = attr_str(node, "input_order")
    nr = len(node.attr["ragged_values_types"])
    ns = int(node.attr["Nsparse"])
    nd = len(node.attr["dense_types"])
    rv, rs = inputs[:nr], inputs[nr:2 * nr]
    si, sv, ss = (inputs[2 * nr + k * ns:2 * nr + (k + 1) * ns] for k in range(3))
    dense = inputs[2 * nr + 3 * ns:2 * nr + 3 * ns + nd]
    if len(order) != nr + ns + nd or sorted(order) != sorted("R" * nr + "S" * ns + "D" * nd):
        raise bad(node, f"Invalid input_order {order!r}")
    ragged = [_ragged_column(node, _a(v), _a(s)) for v, s in zip(rv, rs)]
    for i in range(ns):
        ind, val, shp = _a(si[i]), _a(sv[i]), _a(ss[i])
        if ind.ndim != 2 or val.ndim != 1 or shp.ndim != 1:
            raise bad(node, f"Invalid SparseTensor {i}")
        if shp.size != 2:
            raise bad(node, "tf.ragged.cross only supports inputs with rank=2.")
    for d in dense:
        if _a(d).ndim != 2:
            raise bad(node, "tf.ragged.cross only supports inputs with rank=2.")
    if nr:
        batch = ragged[0][1]
    elif nd:
        batch = _a(dense[0]).shape[0]
    else:
        batch = int(_a(ss[0])[0]) if ns else 0
    if any(b != batch for _, b in ragged) or any(int(_a(s)[0]) != batch for s in ss) or \
            any(_a(d).shape[0] != batch for d in dense):
        raise bad(node, "inputs must all have the same batch dimension size.")
    columns: list[Column] = []
    k = {"R": 0, "S": 0, "D": 0}
    for c in order:
        i = k[c]
        k[c] += 1
        if c == "R":
            columns.append(ragged[i][0])
        elif c == "S":
            columns.append(_sparse_rows(_a(si[i]), _a(sv[i]), batch))
        else:
            columns.append(_dense_column(_a(dense[i])))
    hashed = node.attr["hashed_output"]
    combine = _hasher(int(node.attr["hash_key"]), int(node.attr["num_buckets"])) if hashed \
        else _joiner(b"_X_")
    rows, _ = _crosses(node, columns, batch, combine)
    splits = np.concatenate([[0], np.cumsum([len(r) for r in rows])])
    values = _values(rows) if any(rows) else np.zeros(0, np.int64 if hashed else object)
    return [values, splits.astype(np_dtype(node.attr["out_row_splits_type"]))]
