"""tf.train.Example and SequenceExample parsing: dense, sparse and ragged features, feature lists.

Feature semantics follow tf.io.parse_example / parse_sequence_example
(tensorflow/tensorflow tensorflow/core/util/example_proto_fast_parsing.cc): a dense
feature takes its default when absent (an error when it has none) and must hold exactly
as many values as its shape; a dense feature whose first dimension is unknown
(``FixedLenSequenceFeature``) holds any whole number of rows, padded with the default to
the longest example; sparse and ragged features collect each example's values. Feature
lists hold one Feature per time step: dense ones are padded with zeros (empty strings) to
the longest sequence and come with each sequence's length.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from savedmodel_io.errors import CorruptFileError
from savedmodel_io.graph.ops._registry import kernel
from savedmodel_io.graph.ops._util import bad, np_dtype
from savedmodel_io.proto import Example, SequenceExample, parse_message

_KIND = {"f": "float_list", "i": "int64_list", "u": "int64_list", "O": "bytes_list"}
_EMPTY: dict = {}


def _values(node, feature, key: str, dtype: np.dtype, where: str) -> np.ndarray | None:
    """A Feature's values as ``dtype`` (None for an absent feature or one with no list set)."""
    if feature is None:
        return None
    kind = feature.WhichOneof("kind")
    if kind is None:
        return None
    want = _KIND[dtype.kind]
    if kind != want:
        raise bad(node, f"{where}, feature {key!r}: data type {kind} does not match {want}")
    vals = getattr(feature, kind).value
    if dtype == object:
        out = np.empty(len(vals), dtype=object)
        out[:] = [bytes(v) for v in vals]
        return out
    return np.array(vals, dtype=dtype)


def _lookup(entries, key: str):
    """``entries[key]`` of a protobuf map, or None (indexing would insert an empty entry)."""
    return entries[key] if key in entries else None


def _names(values) -> list[str]:
    """Feature names from a string tensor, a list of string tensors, or a list(string) attr."""
    if isinstance(values, list):
        return [k for v in values for k in _names(v)]
    if isinstance(values, (bytes, str)):
        return [values.decode() if isinstance(values, bytes) else values]
    return [bytes(k).decode() for k in np.asarray(values, dtype=object).reshape(-1)]


def _types(node, name: str) -> list[np.dtype]:
    return [np_dtype(t) for t in node.attr.get(name) or []]


@dataclass
class _Spec:
    """The features to read from a Features map, and their output types."""

    sparse: list[tuple[str, np.dtype]] = field(default_factory=list)
    dense: list[tuple[str, np.dtype, Any, np.ndarray]] = field(default_factory=list)
    ragged: list[tuple[str, np.dtype, np.dtype]] = field(default_factory=list)

    @classmethod
    def of(cls, node, sparse_keys, sparse_types, dense_keys, dense_types, shapes, defaults,
           ragged_keys=(), ragged_types=(), split_types=()) -> _Spec:
        if len(sparse_keys) != len(sparse_types):
            raise bad(node, f"{len(sparse_keys)} sparse keys for {len(sparse_types)} sparse types")
        if not len(dense_keys) == len(dense_types) == len(shapes) == len(defaults):
            raise bad(node, f"dense keys ({len(dense_keys)}), types ({len(dense_types)}), shapes "
                            f"({len(shapes)}) and defaults ({len(defaults)}) must be as many")
        if not len(ragged_keys) == len(ragged_types) == len(split_types):
            raise bad(node, "ragged keys, value types and split types must be as many")
        # TF refuses a key asked for twice in SequenceExamples; in Examples its output is garbage.
        names = [*sparse_keys, *dense_keys, *ragged_keys]
        for key in {k for k in names if names.count(k) > 1}:
            raise bad(node, f"feature {key!r} is requested twice (as sparse, dense or ragged)")
        return cls(list(zip(sparse_keys, sparse_types)),
                   [(k, t, s, np.asarray(d)) for k, t, s, d in zip(dense_keys, dense_types, shapes,
                                                                   defaults)],
                   list(zip(ragged_keys, ragged_types, split_types)))


def _dense(node, key: str, dt: np.dtype, shape, default: np.ndarray, found: list, batched: bool
           ) -> np.ndarray:
    """One dense feature over the batch (``found``: each example's values or None)."""
    if shape is None:
        raise bad(node, f"dense feature {key!r} has an unknown rank")
    shape = list(shape)
    if any(d is None for d in shape[1:]):
        raise bad(node, f"dense feature {key!r}: only the first dimension may be unknown")
    if default.size and default.dtype != dt and not (dt == object and default.dtype.kind in "OS"):
        default = default.astype(dt)
    if shape and shape[0] is None:  # FixedLenSequenceFeature: rows padded with the default
        stride = int(np.prod(shape[1:], dtype=np.int64))
        rows = []
        for i, v in enumerate(found):
            v = np.zeros(0, dt) if v is None else v
            if stride == 0 or v.size % stride:
                raise bad(node, f"example {i}, feature {key!r}: {v.size} values do not make whole "
                                f"rows of {stride}")
            rows.append(v.reshape([-1] + shape[1:]))
        longest = max((r.shape[0] for r in rows), default=0)
        if default.size != 1 and any(r.shape[0] < longest for r in rows):
            raise bad(node, f"feature {key!r} needs a scalar default to pad its rows")
        pad = default.reshape(-1)[0] if default.size == 1 else (b"" if dt == object else 0)
        out = np.full([len(rows), longest] + shape[1:], pad, dtype=dt)
        for i, r in enumerate(rows):
            out[i, :r.shape[0]] = r
        return out if batched else out[0]
    if default.size and list(default.shape) != shape:
        raise bad(node, f"the default of {key!r} has shape {list(default.shape)}, not the "
                        f"feature's {shape}")
    n = int(np.prod(shape, dtype=np.int64))
    rows = []
    for i, v in enumerate(found):
        if v is None:
            if default.size == 0:
                raise bad(node, f"feature {key!r} is required but could not be found in example {i}")
            v = default.reshape(-1)
        if v.size != n:
            raise bad(node, f"example {i}, feature {key!r}: key has {v.size} values, shape "
                            f"{shape} needs {n}")
        rows.append(v.reshape(shape))
    out = np.stack(rows).astype(dt) if rows else np.zeros([0] + shape, dt)
    return out if batched else out[0]


def _features(node, maps: list, batched: bool, spec: _Spec, scalar_splits: bool = False) -> list:
    """Sparse, dense and ragged outputs of ``spec`` over a batch of Features maps.

    For one unbatched example the ragged row splits are empty, or the scalar 0 with
    ``scalar_splits`` (what ParseExampleV2 and ParseSequenceExampleV2 give, each).
    """
    def found(key: str, dt: np.dtype) -> list:
        return [_values(node, _lookup(m, key), key, dt, f"example {i}") for i, m in enumerate(maps)]

    sp_idx, sp_val, sp_shape = [], [], []
    for key, dt in spec.sparse:
        idx, vals, width = [], [], 0
        for i, v in enumerate(found(key, dt)):
            if v is None:
                continue
            idx += [(i, j) if batched else (j,) for j in range(v.size)]
            vals.append(v)
            width = max(width, v.size)
        sp_idx.append(np.array(idx, np.int64).reshape(-1, 2 if batched else 1))
        sp_val.append(np.concatenate(vals).astype(dt) if vals else np.zeros(0, dt))
        sp_shape.append(np.array([len(maps), width] if batched else [width], np.int64))
    dense = [_dense(node, key, dt, shape, default, found(key, dt), batched)
             for key, dt, shape, default in spec.dense]
    rg_val, rg_split = [], []
    for key, dt, st in spec.ragged:
        vals, splits = [], [0]
        for v in found(key, dt):
            if v is not None:
                vals.append(v)
            splits.append(splits[-1] + (0 if v is None else v.size))
        rg_val.append(np.concatenate(vals).astype(dt) if vals else np.zeros(0, dt))
        rg_split.append(np.array(splits, st) if batched else
                        np.array(0, st) if scalar_splits else np.zeros(0, st))
    return sp_idx + sp_val + sp_shape + dense + rg_val + rg_split


def _messages(node, serialized, cls) -> tuple[list, bool]:
    """Parsed messages of a scalar or vector of serialized protos, and whether it was a vector."""
    ser = np.asarray(serialized, dtype=object)
    if ser.ndim > 1:
        raise bad(node, "serialized must be a scalar or a vector")
    out = []
    for i, s in enumerate(ser.reshape(-1)):
        try:
            out.append(parse_message(cls, bytes(s)))
        except CorruptFileError:
            raise bad(node, f"could not parse example input {i}") from None
    return out, ser.ndim == 1


def _example_maps(node, serialized) -> tuple[list, bool]:
    examples, batched = _messages(node, serialized, Example)
    return [ex.features.feature for ex in examples], batched


@kernel("ParseExample", per_element=True)
def parse_example(node, inputs, ctx):
    """The TF1 op: keys are separate scalar inputs (serialized, names, sparse keys, dense keys, defaults)."""
    ns, nd = int(node.attr.get("Nsparse", 0)), int(node.attr.get("Ndense", 0))
    if len(inputs) != 2 + 2 * nd + ns:
        raise bad(node, f"expected {2 + 2 * nd + ns} inputs, got {len(inputs)}")
    maps, batched = _example_maps(node, inputs[0])
    spec = _Spec.of(node, _names(list(inputs[2:2 + ns])), _types(node, "sparse_types"),
                    _names(list(inputs[2 + ns:2 + ns + nd])), _types(node, "Tdense"),
                    node.attr.get("dense_shapes") or [], inputs[2 + ns + nd:])
    return _features(node, maps, batched, spec)


@kernel("ParseExampleV2", per_element=True)
def parse_example_v2(node, inputs, ctx):
    maps, batched = _example_maps(node, inputs[0])
    dense_keys = _names(inputs[3])
    spec = _Spec.of(node, _names(inputs[2]), _types(node, "sparse_types"), dense_keys,
                    _types(node, "Tdense"), node.attr.get("dense_shapes") or [],
                    inputs[5:5 + len(dense_keys)], _names(inputs[4]),
                    _types(node, "ragged_value_types"), _types(node, "ragged_split_types"))
    return _features(node, maps, batched, spec)


@kernel("ParseSingleExample", per_element=True)
def parse_single_example(node, inputs, ctx):
    if np.asarray(inputs[0]).ndim != 0:
        raise bad(node, "serialized must be a scalar")
    maps, _ = _example_maps(node, inputs[0])
    spec = _Spec.of(node, _names(node.attr.get("sparse_keys") or []), _types(node, "sparse_types"),
                    _names(node.attr.get("dense_keys") or []), _types(node, "Tdense"),
                    node.attr.get("dense_shapes") or [], inputs[1:])
    return _features(node, maps, False, spec)


# -- SequenceExample -------------------------------------------------------------------------

@dataclass
class _ListSpec:
    """The feature lists to read: sparse, dense (with shape and whether absence means empty), ragged."""

    sparse: list[tuple[str, np.dtype]]
    dense: list[tuple[str, np.dtype, Any, bool]]
    ragged: list[tuple[str, np.dtype, np.dtype]] = field(default_factory=list)


def _steps(node, lists, key: str, dt: np.dtype, i: int) -> list[np.ndarray] | None:
    """The values of each time step of feature list ``key`` in sequence ``i`` (None: absent)."""
    fl = _lookup(lists, key)
    if fl is None:
        return None
    out = []
    for t, feat in enumerate(fl.feature):
        v = _values(node, feat, key, dt, f"sequence {i}, step {t}")
        out.append(np.zeros(0, dt) if v is None else v)
    return out


def _feature_lists(node, seqs: list, batched: bool, spec: _ListSpec, with_lengths: bool) -> list:
    """Sparse, dense (and lengths) and ragged outputs of ``spec`` over a batch of FeatureLists."""
    lists = [s.feature_lists.feature_list for s in seqs]
    sp_idx, sp_val, sp_shape = [], [], []
    for key, dt in spec.sparse:
        idx, vals, steps, width = [], [], 0, 0
        for i, m in enumerate(lists):
            for t, v in enumerate(_steps(node, m, key, dt, i) or []):
                idx += [(i, t, j) if batched else (t, j) for j in range(v.size)]
                vals.append(v)
                steps = max(steps, t + 1)
                width = max(width, v.size)
        sp_idx.append(np.array(idx, np.int64).reshape(-1, 3 if batched else 2))
        sp_val.append(np.concatenate(vals).astype(dt) if vals else np.zeros(0, dt))
        sp_shape.append(np.array([len(lists), steps, width] if batched else [steps, width],
                                 np.int64))
    dense, lengths = [], []
    for key, dt, shape, missing_ok in spec.dense:
        if shape is None or any(d is None for d in shape):
            raise bad(node, f"feature list {key!r} needs a fully defined shape")
        n = int(np.prod(shape, dtype=np.int64))
        seq_steps = []
        for i, m in enumerate(lists):
            steps = _steps(node, m, key, dt, i)
            if steps is None:
                if not missing_ok:
                    raise bad(node, f"Feature list {key!r} is required but could not be found in "
                                    f"sequence {i}")
                steps = []
            for t, v in enumerate(steps):
                if v.size != n:
                    raise bad(node, f"sequence {i}, feature list {key!r}, step {t}: {v.size} "
                                    f"values, shape {list(shape)} needs {n}")
            seq_steps.append(steps)
        longest = max((len(s) for s in seq_steps), default=0)
        out = np.zeros([len(lists), longest] + list(shape), dtype=dt)
        if dt == object:
            out.fill(b"")
        for i, steps in enumerate(seq_steps):
            for t, v in enumerate(steps):
                out[i, t] = v.reshape(shape)
        dense.append(out if batched else out[0])
        lengths.append(np.array([len(s) for s in seq_steps], np.int64).reshape(-1 if batched else ()))
    rg_val, rg_outer, rg_inner = [], [], []
    for key, dt, st in spec.ragged:
        vals, outer, inner = [], [0], [0]
        for i, m in enumerate(lists):
            steps = _steps(node, m, key, dt, i) or []
            for v in steps:
                vals.append(v)
                inner.append(inner[-1] + v.size)
            outer.append(outer[-1] + len(steps))
        rg_val.append(np.concatenate(vals).astype(dt) if vals else np.zeros(0, dt))
        rg_outer.append(np.array(outer if batched else 0, st))  # unbatched: TF gives a scalar 0
        rg_inner.append(np.array(inner, st))
    return (sp_idx + sp_val + sp_shape + dense + (lengths if with_lengths else [])
            + rg_val + rg_outer + rg_inner)


def _sequences(node, serialized) -> tuple[list, bool]:
    return _messages(node, serialized, SequenceExample)


@kernel("ParseSequenceExampleV2", per_element=True)
def parse_sequence_example_v2(node, inputs, ctx):
    seqs, batched = _sequences(node, inputs[0])
    dense_keys = _names(inputs[3])
    context = _Spec.of(node, _names(inputs[2]), _types(node, "context_sparse_types"), dense_keys,
                       _types(node, "Tcontext_dense"), node.attr.get("context_dense_shapes") or [],
                       inputs[9:9 + len(dense_keys)], _names(inputs[4]),
                       _types(node, "context_ragged_value_types"),
                       _types(node, "context_ragged_split_types"))
    fl_dense = _names(inputs[6])
    missing_ok = np.asarray(inputs[8]).reshape(-1).tolist()
    if len(missing_ok) != len(fl_dense):
        raise bad(node, "feature_list_dense_missing_assumed_empty must have one value per "
                        "dense feature list")
    lists = _ListSpec(
        list(zip(_names(inputs[5]), _types(node, "feature_list_sparse_types"))),
        list(zip(fl_dense, _types(node, "feature_list_dense_types"),
                 node.attr.get("feature_list_dense_shapes") or [], missing_ok)),
        list(zip(_names(inputs[7]), _types(node, "feature_list_ragged_value_types"),
                 _types(node, "feature_list_ragged_split_types"))))
    maps = [s.context.feature for s in seqs]
    return (_features(node, maps, batched, context, scalar_splits=True)
            + _feature_lists(node, seqs, batched, lists, True))


@kernel("ParseSequenceExample", per_element=True)
def parse_sequence_example(node, inputs, ctx):
    """The TF1 batched op: keys in attrs."""
    seqs, batched = _sequences(node, inputs[0])
    a = node.attr
    context = _Spec.of(node, _names(a.get("context_sparse_keys") or []),
                       _types(node, "context_sparse_types"),
                       _names(a.get("context_dense_keys") or []), _types(node, "Tcontext_dense"),
                       a.get("context_dense_shapes") or [], inputs[2:])
    missing_ok = set(_names(a.get("feature_list_dense_missing_assumed_empty") or []))
    fl_dense = _names(a.get("feature_list_dense_keys") or [])
    lists = _ListSpec(
        list(zip(_names(a.get("feature_list_sparse_keys") or []),
                 _types(node, "feature_list_sparse_types"))),
        list(zip(fl_dense, _types(node, "feature_list_dense_types"),
                 a.get("feature_list_dense_shapes") or [], [k in missing_ok for k in fl_dense])))
    maps = [s.context.feature for s in seqs]
    return _features(node, maps, batched, context) + _feature_lists(node, seqs, batched, lists, True)


@kernel("ParseSingleSequenceExample", per_element=True)
def parse_single_sequence_example(node, inputs, ctx):
    """One serialized SequenceExample: keys are separate scalar inputs."""
    if np.asarray(inputs[0]).ndim != 0:
        raise bad(node, "serialized must be a scalar")
    seqs, _ = _sequences(node, inputs[0])
    a = node.attr
    ncs, ncd = int(a["Ncontext_sparse"]), int(a["Ncontext_dense"])
    nfs, nfd = int(a["Nfeature_list_sparse"]), int(a["Nfeature_list_dense"])
    pos = 2
    context_sparse = _names(list(inputs[pos:pos + ncs]))
    context_dense = _names(list(inputs[pos + ncs:pos + ncs + ncd]))
    pos += ncs + ncd
    fl_sparse = _names(list(inputs[pos:pos + nfs]))
    fl_dense = _names(list(inputs[pos + nfs:pos + nfs + nfd]))
    pos += nfs + nfd
    defaults = inputs[pos:pos + ncd]
    missing_ok = set(_names(inputs[1]))
    context = _Spec.of(node, context_sparse, _types(node, "context_sparse_types"), context_dense,
                       _types(node, "Tcontext_dense"), a.get("context_dense_shapes") or [],
                       defaults)
    lists = _ListSpec(
        list(zip(fl_sparse, _types(node, "feature_list_sparse_types"))),
        list(zip(fl_dense, _types(node, "feature_list_dense_types"),
                 a.get("feature_list_dense_shapes") or [], [k in missing_ok for k in fl_dense])))
    maps = [s.context.feature for s in seqs]
    return _features(node, maps, False, context) + _feature_lists(node, seqs, False, lists, False)

