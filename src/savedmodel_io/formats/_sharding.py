"""Split tensors over shards of a maximum size, as ``tf.train.experimental.MaxShardSizePolicy`` does.

Reproducing TF's choices (facts: tensorflow/tensorflow
``tensorflow/python/checkpoint/sharding/sharding_policies.py``) makes our sharded
bundles byte-identical to TensorFlow's for the same tensors in the same order:

* tensors are visited in order; a tensor that does not fit in the room left in
  the current shard is cut along the axis needing the fewest pieces (ties: the
  lowest axis), into pieces that fit the room left; when not even one slab fits,
  a new shard starts;
* a shard that fills up exactly starts a new one;
* scalars are never cut; one larger than the limit gets a shard of its own after
  all the others; the object graph counts as size 0;
* a string tensor counts the sum of its lengths, its "element size" being the
  longest string.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np

from savedmodel_io.errors import InvalidArgumentError
from savedmodel_io.formats.object_paths import OBJECT_GRAPH_KEY
from savedmodel_io.formats.slices import Sliced, parse_slice_spec

# (key, full_shape, extents or None for a plain tensor, array)
Part = tuple[str, tuple[int, ...], "list[tuple[int, int]] | None", np.ndarray]

def _sizes(key: str, arr: np.ndarray) -> tuple[int, int]:
    """(total bytes, bytes per element) as TF's policy estimates them."""
    if key == OBJECT_GRAPH_KEY:
        return 0, 0
    if arr.dtype.kind in ("O", "S", "U"):
        lens = [len(v.encode("utf-8")) if isinstance(v, str) else len(v) for v in arr.reshape(-1).tolist()]
        return sum(lens), max(lens, default=0)
    return arr.size * arr.dtype.itemsize, arr.dtype.itemsize


def plan_shards(tensors: Mapping[str, np.ndarray | Sliced], max_shard_size: int) -> list[list[Part]]:
    """Shards, each a list of parts in write order (values: arrays, or Sliced of arrays)."""
    if max_shard_size <= 0:
        raise InvalidArgumentError(f"max_shard_size must be positive, got {max_shard_size}")
    items: list[tuple[str, tuple[int, ...], list[int] | None, np.ndarray]] = []
    for key, value in tensors.items():
        if isinstance(value, Sliced):
            full = tuple(int(d) for d in value.full_shape)
            for spec, arr in value.parts:
                extents = parse_slice_spec(spec, full)
                items.append((key, full, [0 if length == -1 else s for s, length in extents], arr))
        else:
            items.append((key, tuple(value.shape), None, value))

    shards: list[list[Part]] = [[]]
    large: list[list[Part]] = []
    room = max_shard_size

    def new_shard() -> None:
        nonlocal room
        shards.append([])
        room = max_shard_size

    for key, full, root_offset, root in items:
        total, elem = _sizes(key, root)
        root_shape = tuple(root.shape)
        if root.ndim == 0:
            scalar_spec = None if root_offset is None else list(zip(root_offset, root_shape))
            if total > max_shard_size:
                large.append([(key, full, scalar_spec, root)])
                continue
            if total > room:
                new_shard()
            shards[-1].append((key, full, scalar_spec, root))
            room -= total
            continue
        base = list(root_offset) if root_offset is not None else [0] * root.ndim
        offset = list(base)  # absolute offset of the part not yet placed
        shape = list(root_shape)
        size = total
        placed = False
        while size > room:
            n = math.prod(shape)

            def pieces(axis: int) -> float:
                per_slab = (n // shape[axis]) * elem
                slabs = room // per_slab
                return math.inf if slabs == 0 else math.ceil(shape[axis] / slabs)

            best_axis, best = 0, pieces(0)
            for axis in range(1, len(shape)):
                p = pieces(axis)
                if p < best and n * elem / p <= room:
                    best_axis, best = axis, p
            step = 0 if best == math.inf else math.ceil(shape[best_axis] / best)
            if step == 0:
                if room == max_shard_size:
                    raise InvalidArgumentError(
                        f"tensor {key!r}: even one slice along any axis is larger than "
                        f"max_shard_size={max_shard_size}"
                    )
                new_shard()
                continue
            rel = [o - b for o, b in zip(offset, base)]
            part_shape = [r - x for r, x in zip(root_shape, rel)]
            part_shape[best_axis] = step
            part_bytes = math.prod(part_shape) * elem
            view = root[tuple(slice(r, r + s) for r, s in zip(rel, part_shape))]
            extents = list(zip(offset, part_shape))
            placed = True
            if part_bytes > max_shard_size:
                large.append([(key, full, extents, view)])
            else:
                shards[-1].append((key, full, extents, view))
                room -= part_bytes
                if room == 0:
                    new_shard()
            offset[best_axis] += step
            rel[best_axis] += step
            shape = [r - x for r, x in zip(root_shape, rel)]
            size = math.prod(shape) * elem
        # TF drops zero-size tensors here (it only adds a non-empty remainder); we keep them.
        if math.prod(shape) > 0 or not placed:
            rel = [o - b for o, b in zip(offset, base)]
            view = root[tuple(slice(r, r + s) for r, s in zip(rel, shape))]
            shards[-1].append((key, full, list(zip(offset, shape)), view))
        room -= size
    out = [s for s in shards if s] + large
    return out or [[]]
