"""SparseTensors as strings or variants (Serialize/Deserialize[Many]Sparse) and the
SparseTensorsMap resource (Add[Many]SparseToTensorsMap, TakeManySparseFromTensorsMap).

A serialized SparseTensor is three TensorProtos (indices, values, dense_shape) written as
TensorFlow's C++ runtime writes them; with ``out_type=variant`` the three tensors are held
as :class:`HeldTensor` payloads instead. Facts from tensorflow/tensorflow
tensorflow/core/kernels/serialize_sparse_op.cc, deserialize_sparse_string_op.cc,
deserialize_sparse_variant_op.cc and sparse_tensors_map_ops.cc.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from savedmodel_io import tensors
from savedmodel_io.errors import SavedModelError
from savedmodel_io.graph.ops._registry import kernel
from savedmodel_io.graph.ops._util import bad, check_size, np_dtype
from savedmodel_io.graph.ops.sparse import Sparse, check_valid, sparse_input
from savedmodel_io.proto import DataType, TensorProto


def _a(x) -> np.ndarray:
    return x if isinstance(x, np.ndarray) else np.asarray(x)


@dataclass(frozen=True)
class HeldTensor:
    """A tensor held in a variant (the payload of SerializeSparse with out_type=variant)."""

    value: np.ndarray


def _encode(node, arr: np.ndarray) -> object:
    if node.attr["out_type"] == DataType.DT_VARIANT:
        return HeldTensor(arr)
    return tensors.to_content_proto(arr).SerializeToString()


def _serialized(parts: list[list[object]]) -> np.ndarray:
    out = np.empty((len(parts), 3), dtype=object)
    for i, row in enumerate(parts):
        out[i, :] = row
    return out


def _pieces(node, sp: Sparse) -> list[object]:
    return [_encode(node, sp.indices), _encode(node, sp.values), _encode(node, sp.shape)]


@kernel("SerializeSparse", per_element=True)
def serialize_sparse(node, inputs, ctx):
    sp = sparse_input(node, *inputs[:3], counts=False)
    return _serialized([_pieces(node, sp)])[0]


def _rows(node, sp: Sparse) -> list[Sparse]:
    """A sorted batch (rank >= 2) split along its first dimension, empty rows included."""
    if sp.rank < 2:
        raise bad(node, f"Rank of input SparseTensor should be > 1, but saw rank: {sp.rank}")
    check_valid(node, sp)
    n = int(sp.shape[0])
    check_size(node, [n, 3], 8)
    first = sp.indices[:, 0]
    out = []
    for b in range(n):
        keep = first == b
        out.append(Sparse(sp.indices[keep][:, 1:], sp.values[keep], sp.shape[1:].copy()))
    return out


@kernel("SerializeManySparse", per_element=True)
def serialize_many_sparse(node, inputs, ctx):
    """One serialized SparseTensor per row of a batch (the first dimension dropped)."""
    sp = sparse_input(node, *inputs[:3])
    return _serialized([_pieces(node, r) for r in _rows(node, sp)])


def _decode(node, item: object) -> np.ndarray:
    if isinstance(item, HeldTensor):
        return item.value
    if not isinstance(item, (bytes, np.bytes_)):
        raise bad(node, f"expected a serialized tensor, got {type(item).__name__}")
    try:
        return tensors.to_array(TensorProto.FromString(bytes(item)), where=node.where)
    except SavedModelError:
        raise
    except Exception:  # noqa: BLE001 (protobuf's DecodeError and friends: all are bad input)
        raise bad(node, "Could not parse serialized proto") from None


def _stack(node, items: list[Sparse], batch: tuple[int, ...]) -> list[np.ndarray]:
    """SparseTensors of one rank as one SparseTensor with ``batch`` leading dimensions.

    Entries keep their order, item after item; the dense shape is the largest of each
    dimension (TF's DeserializeSparse and TakeManySparseFromTensorsMap).
    """
    rank = items[0].rank
    for i, sp in enumerate(items):
        if sp.rank != rank:
            raise bad(node, f"Inconsistent shape across SparseTensors: rank prior to "
                            f"SparseTensor[{i}] was: {rank} but rank of SparseTensor[{i}] "
                            f"is: {sp.rank}")
    coords = np.array(list(np.ndindex(*batch)), np.int64).reshape(len(items), len(batch))
    indices = [np.concatenate([np.repeat(coords[i:i + 1], len(sp.values), 0), sp.indices], 1)
               for i, sp in enumerate(items)]
    shape = np.max(np.stack([sp.shape for sp in items]), axis=0) if rank else \
        np.zeros(0, np.int64)
    return [np.concatenate(indices).astype(np.int64).reshape(-1, len(batch) + rank),
            np.concatenate([sp.values for sp in items]),
            np.concatenate([np.array(batch, np.int64), shape])]


def _deserialize(node, serialized: np.ndarray) -> list[np.ndarray]:
    if serialized.ndim < 1 or serialized.shape[-1] != 3:
        raise bad(node, f"Serialized sparse should have 3 as the last dimension "
                        f"{list(serialized.shape)}")
    batch = serialized.shape[:-1]
    if 0 in batch:
        raise bad(node, "Serialized sparse should have at least 1 serialized tensor, but has "
                        f"a zero dimension {list(serialized.shape)}")
    want = np_dtype(node.attr["dtype"])
    items = []
    for i, row in enumerate(serialized.reshape(-1, 3)):
        ind, vals, shape = (_decode(node, x) for x in row)
        if vals.dtype != want:
            raise bad(node, f"Requested SparseTensor of type {want} but SparseTensor[{i}]"
                            f".values.dtype() == {vals.dtype}")
        if ind.dtype != np.int64 or shape.dtype != np.int64:
            raise bad(node, f"SparseTensor[{i}] indices and shape must be int64")
        items.append(sparse_input(node, ind, vals, shape, f"SparseTensor[{i}]"))
    if not batch:
        return [items[0].indices, items[0].values, items[0].shape]
    return _stack(node, items, batch)


# Both ops run the same kernel in TF (DeserializeManySparse is the older name).
@kernel("DeserializeSparse", "DeserializeManySparse", per_element=True)
def deserialize_sparse(node, inputs, ctx):
    """Serialized tensors of shape [..., 3] as one SparseTensor with those leading dims."""
    return _deserialize(node, _a(inputs[0]))


# -- the SparseTensorsMap resource ----------------------------------------------------------

@dataclass
class SparseTensorsMap:
    """SparseTensors by handle; handles count up from 0 per map."""

    items: dict[int, Sparse] = field(default_factory=dict)
    next_handle: int = 0

    def add(self, sp: Sparse) -> int:
        handle = self.next_handle
        self.items[handle] = sp
        self.next_handle += 1
        return handle


def _map(node, ctx) -> SparseTensorsMap:
    """The map of (container, shared_name); an empty shared_name means the node's name."""
    shared = node.attr["shared_name"]
    container = node.attr["container"]
    shared = shared.decode() if isinstance(shared, bytes) else str(shared)
    container = container.decode() if isinstance(container, bytes) else str(container)
    key = ("SparseTensorsMap", container, shared or node.name)
    res = ctx.session.resources
    if key not in res:
        res[key] = SparseTensorsMap()
    return res[key]


@kernel("AddSparseToTensorsMap")
def add_sparse_to_tensors_map(node, inputs, ctx):
    sp = sparse_input(node, *inputs[:3])
    return np.int64(_map(node, ctx).add(sp))


@kernel("AddManySparseToTensorsMap", per_element=True)
def add_many_sparse_to_tensors_map(node, inputs, ctx):
    """One handle per row of a sorted batch. Rows holding entries are stored first, then
    the empty rows (as TF's kernel numbers them)."""
    sp = sparse_input(node, *inputs[:3])
    rows = _rows(node, sp)
    store = _map(node, ctx)
    handles = np.zeros(len(rows), np.int64)
    present = set(sp.indices[:, 0].tolist())
    for b in sorted(present):
        handles[b] = store.add(rows[b])
    for b in range(len(rows)):
        if b not in present:
            handles[b] = store.add(rows[b])
    return handles


@kernel("TakeManySparseFromTensorsMap", per_element=True)
def take_many_sparse_from_tensors_map(node, inputs, ctx):
    """The SparseTensors of the handles (removed from the map) stacked as one batch."""
    handles = _a(inputs[0])
    if handles.ndim != 1:
        raise bad(node, f"sparse_handles should be a vector but received shape "
                        f"{list(handles.shape)}")
    if handles.size == 0:
        raise bad(node, "Must have at least 1 serialized SparseTensor, but input matrix has "
                        "0 rows")
    store = _map(node, ctx)
    want = np_dtype(node.attr["dtype"])
    items = []
    for h in handles.tolist():
        sp = store.items.pop(h, None)
        if sp is None:
            raise bad(node, f"Unable to find SparseTensor: {h} in map")
        if sp.values.dtype != want:
            raise bad(node, f"Requested SparseTensor of type {want} but SparseTensor "
                            f"{h} has type {sp.values.dtype}")
        items.append(sp)
    return _stack(node, items, (len(items),))
