"""tf.train.Example parsing: ParseExampleV2 (dense, sparse and ragged features).

Feature semantics follow tf.io.parse_example: a dense feature takes its default
when absent (an error when it has none) and must have exactly as many values as
its shape holds; sparse and ragged features collect each example's values.
"""

from __future__ import annotations

import numpy as np

from savedmodel_io.errors import CorruptFileError
from savedmodel_io.graph.ops._registry import kernel
from savedmodel_io.graph.ops._util import bad, np_dtype
from savedmodel_io.proto import Example, parse_message

_KIND = {"f": "float_list", "i": "int64_list", "u": "int64_list", "O": "bytes_list"}


def _values(node, ex: Example, key: str, dtype: np.dtype, i: int):
    feats = ex.features.feature
    if key not in feats:
        return None
    f = feats[key]
    kind = f.WhichOneof("kind")
    if kind is None:
        return None
    want = _KIND[dtype.kind]
    if kind != want:
        raise bad(node, f"example {i}, feature {key!r}: data type {kind} does not match {want}")
    vals = getattr(f, kind).value
    if dtype == object:
        out = np.empty(len(vals), dtype=object)
        out[:] = [bytes(v) for v in vals]
        return out
    return np.array(vals, dtype=dtype)


def _keys(values) -> list[str]:
    """Feature names from a string tensor, or from a list of scalar string tensors (ParseExample)."""
    if isinstance(values, list):
        return [k for v in values for k in _keys(v)]
    return [bytes(k).decode() for k in np.asarray(values, dtype=object).reshape(-1)]


@kernel("ParseExample", per_element=True)
def parse_example(node, inputs, ctx):
    """The TF1 op: keys are separate scalar inputs (serialized, names, sparse keys, dense keys, defaults)."""
    ns, nd = int(node.attr.get("Nsparse", 0)), int(node.attr.get("Ndense", 0))
    if len(inputs) != 2 + 2 * nd + ns:
        raise bad(node, f"expected {2 + 2 * nd + ns} inputs, got {len(inputs)}")
    sparse_keys = _keys(list(inputs[2:2 + ns]))
    dense_keys = _keys(list(inputs[2 + ns:2 + ns + nd]))
    return _parse(node, inputs[0], sparse_keys, dense_keys, [], inputs[2 + ns + nd:])


@kernel("ParseExampleV2", per_element=True)
def parse_example_v2(node, inputs, ctx):
    dense_keys = _keys(inputs[3])
    return _parse(node, inputs[0], _keys(inputs[2]), dense_keys, _keys(inputs[4]),
                  inputs[5:5 + len(dense_keys)])


def _parse(node, serialized, sparse_keys, dense_keys, ragged_keys, defaults) -> list:
    """Parse a scalar or vector of serialized Examples into sparse, dense and ragged outputs."""
    ser = np.asarray(serialized, dtype=object)
    batch_shape = ser.shape
    flat = ser.reshape(-1)
    sparse_types = [np_dtype(t) for t in node.attr.get("sparse_types") or []]
    dense_types = [np_dtype(t) for t in node.attr.get("Tdense") or []]
    dense_shapes = node.attr.get("dense_shapes") or []
    ragged_types = [np_dtype(t) for t in node.attr.get("ragged_value_types") or []]
    split_types = [np_dtype(t) for t in node.attr.get("ragged_split_types") or []]
    if len(batch_shape) > 1:
        raise bad(node, "serialized must be a scalar or a vector")
    examples = []
    for i, s in enumerate(flat):
        try:
            examples.append(parse_message(Example, bytes(s)))
        except CorruptFileError:
            raise bad(node, f"could not parse example input {i}") from None

    dense_out = []
    for key, dt, shape, default in zip(dense_keys, dense_types, dense_shapes, defaults):
        if shape is None or any(d is None for d in shape):
            raise bad(node, f"dense feature {key!r} has a variable shape, which is not supported")
        n = int(np.prod(shape, dtype=np.int64))
        default = np.asarray(default)
        rows = []
        for i, ex in enumerate(examples):
            v = _values(node, ex, key, dt, i)
            if v is None:
                if default.size == 0:
                    raise bad(node, f"feature {key!r} is required but could not be found in example {i}")
                v = np.broadcast_to(default, shape).reshape(-1)
            if v.size != n:
                raise bad(node, f"example {i}, feature {key!r}: key has {v.size} values, shape {list(shape)} needs {n}")
            rows.append(v.reshape(shape))
        out = np.stack(rows).astype(dt) if rows else np.zeros((0,) + tuple(shape), dt)
        dense_out.append(out.reshape(batch_shape + tuple(shape)))

    sp_idx, sp_val, sp_shape = [], [], []
    for key, dt in zip(sparse_keys, sparse_types):
        idx, vals, width = [], [], 0
        for i, ex in enumerate(examples):
            v = _values(node, ex, key, dt, i)
            if v is None:
                continue
            for j in range(v.size):
                idx.append((i, j) if batch_shape else (j,))
            vals.append(v)
            width = max(width, v.size)
        sp_idx.append(np.array(idx, np.int64).reshape(-1, 2 if batch_shape else 1))
        sp_val.append(np.concatenate(vals).astype(dt) if vals else np.zeros((0,), dt))
        sp_shape.append(np.array([len(examples), width] if batch_shape else [width], np.int64))

    rg_val, rg_split = [], []
    for key, dt, st in zip(ragged_keys, ragged_types, split_types):
        vals, splits = [], [0]
        for i, ex in enumerate(examples):
            v = _values(node, ex, key, dt, i)
            if v is not None:
                vals.append(v)
            splits.append(splits[-1] + (0 if v is None else v.size))
        rg_val.append(np.concatenate(vals).astype(dt) if vals else np.zeros((0,), dt))
        rg_split.append(np.array(splits, st))
    return sp_idx + sp_val + sp_shape + dense_out + rg_val + rg_split[:len(split_types)]
