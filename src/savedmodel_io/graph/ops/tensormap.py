"""TensorMaps (``tf.raw_ops.EmptyTensorMap`` / ``TensorMapInsert`` ...): immutable tensor-keyed maps.

A TensorMap is a value, like a TensorList: every op that changes one returns a new map.
Keys compare by dtype, shape and contents, as TensorFlow's TensorKey does
(tensorflow/tensorflow tensorflow/core/kernels/tensor_map.h, map_kernels.h).
TensorMapStackKeys stacks the keys in insertion order; TensorFlow's order is its hash
table's, which is unspecified.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from savedmodel_io.graph.ops._registry import kernel
from savedmodel_io.graph.ops._util import bad


class TensorMap:
    """Tensor-keyed entries: {key identity: (key array, value)}, in insertion order."""

    __slots__ = ("entries",)

    def __init__(self, entries: dict[Any, tuple[np.ndarray, Any]] | None = None) -> None:
        self.entries = dict(entries or {})

    def __repr__(self) -> str:
        return f"TensorMap(size={len(self.entries)})"


def _identity(key: np.ndarray) -> tuple:
    """What two keys must share to be equal: dtype, shape and elements."""
    return (key.dtype.str, key.shape, tuple(key.reshape(-1).tolist()))


def _map(node, value) -> TensorMap:
    if not isinstance(value, TensorMap):
        raise bad(node, f"expected a TensorMap, got {type(value).__name__}")
    return value


def _shown(key: np.ndarray) -> str:
    flat = key.reshape(-1).tolist()
    return " ".join(v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v) for v in flat)


@kernel("EmptyTensorMap")
def empty(node, inputs, ctx):
    return TensorMap()


@kernel("TensorMapSize")
def size(node, inputs, ctx):
    return np.array(len(_map(node, inputs[0]).entries), np.int32)


@kernel("TensorMapInsert")
def insert(node, inputs, ctx):
    m = TensorMap(_map(node, inputs[0]).entries)
    key = np.asarray(inputs[1])
    m.entries[_identity(key)] = (key, inputs[2])
    return m


@kernel("TensorMapLookup")
def lookup(node, inputs, ctx):
    key = np.asarray(inputs[1])
    entry = _map(node, inputs[0]).entries.get(_identity(key))
    if entry is None:
        raise bad(node, f'Trying to lookup non-existent key. Could not find key "{_shown(key)}".')
    return entry[1]


@kernel("TensorMapErase")
def erase(node, inputs, ctx):
    m = TensorMap(_map(node, inputs[0]).entries)
    key = np.asarray(inputs[1])
    if m.entries.pop(_identity(key), None) is None:
        raise bad(node, "Trying to erase non-existent item.")
    return m


@kernel("TensorMapHasKey")
def has_key(node, inputs, ctx):
    return np.array(_identity(np.asarray(inputs[1])) in _map(node, inputs[0]).entries)


@kernel("TensorMapStackKeys")
def stack_keys(node, inputs, ctx):
    keys = [k for k, _ in _map(node, inputs[0]).entries.values()]
    if not keys:
        raise bad(node, "TensorMapStackKeys cannot stack keys of an empty map")
    if any(k.shape != keys[0].shape for k in keys):
        raise bad(node, "TensorMapStackKeys: keys have different shapes")
    return np.stack(keys)
