"""Variables: resource variables (VarHandleOp, ReadVariableOp, AssignVariableOp, ResourceScatter*)
and TF1 reference variables (VariableV2, Assign, AssignAdd, ScatterUpdate...).

A variable's value lives in the Session's VariableStore, so updates persist across
runs of one loaded model, as in a TF1 session. Updates never write into an array in
place: a value handed out earlier (a signature output) keeps what it held.

Semantics and error cases follow tensorflow/tensorflow tensorflow/core/kernels/
assign_op.h, dense_update_ops.cc, scatter_op.cc, scatter_nd_op.cc, variable_ops.cc,
count_up_to_op.cc and resource_variable_ops.cc; checked against TF 2.21 by
tests/graph/test_serving_tf.py.
"""

from __future__ import annotations

import numpy as np

from savedmodel_io.errors import RuntimeFailure
from savedmodel_io.graph.ops._registry import kernel
from savedmodel_io.graph.ops._util import bad, check_size, np_dtype
from savedmodel_io.graph.ops.array import assign_slice
from savedmodel_io.graph.variables import Handle, Ref, variable_name


def _handle(node, value) -> Handle:
    if not isinstance(value, Handle):
        raise bad(node, f"expected a resource handle, got {type(value).__name__}")
    return value


def _ref(node, value) -> Ref:
    if not isinstance(value, Ref):
        raise bad(node, f"expected a variable reference, got {type(value).__name__}")
    return value


def _value(node, ctx, h: Handle) -> np.ndarray:
    """A variable's current value (NotFoundError naming it when it has none)."""
    return ctx.session.store.read(h, node.where)


def _same_shape(node, old: np.ndarray, new: np.ndarray, what: str) -> None:
    if old.shape != new.shape:
        raise bad(node, f"{what}: variable shape {list(old.shape)}, update shape {list(new.shape)}; "
                        "shapes must be equal")


# -- element-wise updates shared by the ref and resource forms ----------------------------

def _trunc_div(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Integer C division (toward zero), as TF's ScatterDiv computes it on integers."""
    x, y = np.asarray(x), np.asarray(y)
    if np.any(y == 0):
        raise ZeroDivisionError("integer division by zero")
    q = np.abs(x) // np.abs(y)
    return np.where((x < 0) != (y < 0), -q, q).astype(x.dtype)


# How each scatter kind combines the old value with an update (Update replaces).
_UFUNCS = {"Add": np.add, "Sub": np.subtract, "Mul": np.multiply, "Div": np.true_divide,
           "Min": np.minimum, "Max": np.maximum}


def _apply(out: np.ndarray, where: tuple[np.ndarray, ...], upd: np.ndarray, kind: str) -> None:
    """``out[where] op= upd`` in place, repeated indices applied in order (TF's CPU kernels)."""
    if kind == "Update":
        out[where] = upd  # repeated indices: the last update wins
    elif kind == "Div" and out.dtype.kind in "iu":
        rows = np.stack(where, -1).reshape(-1, len(where))
        parts = upd.reshape((rows.shape[0],) + out.shape[len(where):])
        for r, u in zip(rows, parts):
            key = tuple(r)
            out[key] = _trunc_div(out[key], u)
    else:
        with np.errstate(all="ignore"):
            _UFUNCS[kind].at(out, where, upd)


def scatter(node, params: np.ndarray, indices: np.ndarray, updates: np.ndarray, kind: str) -> np.ndarray:
    """``params`` with rows ``indices`` updated (Scatter*/ResourceScatter*); a new array."""
    if params.ndim == 0:
        raise bad(node, "params must be at least 1-D")
    want = indices.shape + params.shape[1:]
    if updates.ndim and updates.shape != want:
        raise bad(node, f"Must have updates.shape = indices.shape + params.shape[1:] or updates.shape "
                        f"= [], got updates.shape {list(updates.shape)}, indices.shape "
                        f"{list(indices.shape)}, params.shape {list(params.shape)}")
    flat = indices.reshape(-1)
    n = params.shape[0]
    if flat.size:
        wrong = np.flatnonzero((flat < 0) | (flat >= n))
        if wrong.size:
            i = int(wrong[0])
            raise bad(node, f"indices[{i}] = {int(flat[i])} is not in [0, {n})")
    out = np.array(params, copy=True)
    upd = np.broadcast_to(np.asarray(updates, dtype=out.dtype), want)
    _apply(out, (indices,), upd, kind)
    return out


def scatter_nd(node, params: np.ndarray, indices: np.ndarray, updates: np.ndarray, kind: str) -> np.ndarray:
    """``params`` with the slices ``indices`` names updated (ScatterNd*/ResourceScatterNd*)."""
    if indices.ndim < 1:
        raise bad(node, "indices must be at least 1-D")
    k = indices.shape[-1]
    if k > params.ndim:
        raise bad(node, f"indices.shape[-1] = {k} must be <= params rank {params.ndim}")
    want = indices.shape[:-1] + params.shape[k:]
    if updates.shape != want:
        raise bad(node, f"updates.shape {list(updates.shape)} must be indices.shape[:-1] + "
                        f"params.shape[indices.shape[-1]:] = {list(want)}")
    rows = indices.reshape(-1, k)
    limit = np.array(params.shape[:k])
    wrong = np.flatnonzero(((rows < 0) | (rows >= limit)).any(axis=1)) if rows.size else []
    if len(wrong):
        i = int(wrong[0])
        shown = ",".join(str(d) for d in params.shape)
        raise bad(node, f"indices[{i}] = [{', '.join(str(int(v)) for v in rows[i])}] does not index "
                        f"into shape [{shown}]")
    out = np.array(params, copy=True)
    _apply(out, tuple(indices[..., d] for d in range(k)), np.asarray(updates, dtype=out.dtype), kind)
    return out


_SCATTER_KINDS = ("Update", "Add", "Sub", "Mul", "Div", "Min", "Max")
_SCATTER_ND_KINDS = ("Update", "Add", "Sub", "Min", "Max")


# -- resource variables -------------------------------------------------------------------

@kernel("VarHandleOp")
def var_handle(node, inputs, ctx):
    return Handle("variable", variable_name(node.name, node.attr["shared_name"]))


@kernel("ReadVariableOp")
def read_variable(node, inputs, ctx):
    return ctx.session.store.read(_handle(node, inputs[0]), node.where)


@kernel("AssignVariableOp")
def assign_variable(node, inputs, ctx):
    h = _handle(node, inputs[0])
    value = np.array(inputs[1], copy=True)
    store = ctx.session.store
    if node.attr["validate_shape"] and store.is_initialized(h):
        _same_shape(node, store.read(h, node.where), value, "AssignVariableOp")
    store.assign(h, value)
    return []


@kernel("AssignAddVariableOp", "AssignSubVariableOp")
def assign_add(node, inputs, ctx):
    h = _handle(node, inputs[0])
    cur = _value(node, ctx, h)
    delta = np.asarray(inputs[1])
    _same_shape(node, cur, delta, node.op)
    fn = np.add if node.op == "AssignAddVariableOp" else np.subtract
    ctx.session.store.assign(h, fn(cur, delta).astype(cur.dtype, copy=False))
    return []


def _resource_scatter(kind: str):
    def run(node, inputs, ctx):
        h = _handle(node, inputs[0])
        cur = _value(node, ctx, h)
        ctx.session.store.assign(h, scatter(node, cur, np.asarray(inputs[1]), np.asarray(inputs[2]), kind))
        return []
    return run


def _resource_scatter_nd(kind: str):
    def run(node, inputs, ctx):
        h = _handle(node, inputs[0])
        cur = _value(node, ctx, h)
        ctx.session.store.assign(h, scatter_nd(node, cur, np.asarray(inputs[1]), np.asarray(inputs[2]), kind))
        return []
    return run


for _kind in _SCATTER_KINDS:
    kernel(f"ResourceScatter{_kind}")(_resource_scatter(_kind))
for _kind in _SCATTER_ND_KINDS:
    kernel(f"ResourceScatterNd{_kind}")(_resource_scatter_nd(_kind))


@kernel("VarIsInitializedOp")
def var_is_initialized(node, inputs, ctx):
    return np.array(ctx.session.store.is_initialized(_handle(node, inputs[0])))


@kernel("DestroyResourceOp")
def destroy(node, inputs, ctx):
    return []


@kernel("ResourceGather")
def resource_gather(node, inputs, ctx):
    params = ctx.session.store.read(_handle(node, inputs[0]), node.where)
    from savedmodel_io.graph.ops.array import gather

    return gather(node, params, np.asarray(inputs[1]), 0, int(node.attr["batch_dims"]))


@kernel("ResourceGatherNd")
def resource_gather_nd(node, inputs, ctx):
    params = ctx.session.store.read(_handle(node, inputs[0]), node.where)
    from savedmodel_io.graph.ops.array import gather_nd

    return gather_nd(node, params, np.asarray(inputs[1]))


def _count_up_to(node, ctx, h: Handle) -> np.ndarray:
    """CountUpTo: the value before incrementing; OutOfRange once it reaches ``limit``."""
    cur = _value(node, ctx, h)
    limit = int(node.attr["limit"])
    if cur.ndim:
        raise bad(node, f"input is not a scalar: {list(cur.shape)}")
    if int(cur) >= limit:
        raise RuntimeFailure(f"reached limit of {limit}", where=node.where)
    ctx.session.store.assign(h, (cur + 1).astype(cur.dtype))
    return cur


@kernel("ResourceCountUpTo")
def resource_count_up_to(node, inputs, ctx):
    return _count_up_to(node, ctx, _handle(node, inputs[0]))


# -- TF1 reference variables ----------------------------------------------------------------

def _declared_shape(node) -> tuple[int, ...]:
    """A VariableV2's shape attr: an unknown rank reads as a scalar, unknown dims are refused."""
    shape = node.attr["shape"]
    if shape is None:
        return ()
    if any(d is None for d in shape):
        shown = ",".join("?" if d is None else str(d) for d in shape)
        raise bad(node, f"Shape [{shown}] is not fully defined")
    return tuple(shape)


@kernel("VariableV2", "Variable")
def ref_variable(node, inputs, ctx):
    name = variable_name(node.name, node.attr["shared_name"])
    return Ref(Handle("variable", name), _declared_shape(node))


@kernel("TemporaryVariable")
def temporary_variable(node, inputs, ctx):
    # A step-local variable: allocated (zero-filled, as TF's allocator leaves it) until
    # DestroyTemporaryVariable hands its value out.
    shape = _declared_shape(node)
    dtype = np_dtype(node.attr["dtype"])
    check_size(node, shape, dtype.itemsize)
    h = Handle("temporary", _temporary_name(node))
    ctx.session.store.assign(h, np.zeros(shape, dtype))
    return Ref(h, shape)


def _temporary_name(node) -> str:
    """Store name of a temporary variable (":" cannot occur in variable names, so none collide)."""
    name = node.attr["var_name"]
    return "temporary:" + (name.decode("utf-8", "replace") or node.name)


@kernel("DestroyTemporaryVariable")
def destroy_temporary_variable(node, inputs, ctx):
    ref = _ref(node, inputs[0])
    if ref.handle.kind != "temporary":
        raise bad(node, f"{ref.handle.name} is not a temporary variable")
    value = ctx.session.store.read(ref.handle, node.where)
    ctx.session.store.forget(ref.handle)
    return value


@kernel("IsVariableInitialized")
def is_variable_initialized(node, inputs, ctx):
    return np.array(ctx.session.store.is_initialized(_ref(node, inputs[0]).handle))


@kernel("Assign")
def assign(node, inputs, ctx):
    ref = _ref(node, inputs[0])
    value = np.array(inputs[1], copy=True)
    store = ctx.session.store
    if node.attr["validate_shape"]:
        # An uninitialized variable has its declared shape (variable_ops.cc sets it on creation).
        old = store.read(ref.handle, node.where).shape if store.is_initialized(ref.handle) else ref.shape
        if tuple(old) != value.shape:
            raise bad(node, f"Assign requires shapes of both tensors to match. lhs shape= "
                            f"{list(old)} rhs shape= {list(value.shape)}")
    store.assign(ref.handle, value)
    return ref


@kernel("AssignAdd", "AssignSub")
def assign_add_ref(node, inputs, ctx):
    ref = _ref(node, inputs[0])
    cur = _value(node, ctx, ref.handle)
    delta = np.asarray(inputs[1])
    if cur.shape != delta.shape:
        raise bad(node, f"Parameters and update must be the same size: {list(cur.shape)} vs "
                        f"{list(delta.shape)}")
    fn = np.add if node.op == "AssignAdd" else np.subtract
    ctx.session.store.assign(ref.handle, fn(cur, delta).astype(cur.dtype, copy=False))
    return ref


def _ref_scatter(kind: str, nd: bool):
    update = scatter_nd if nd else scatter

    def run(node, inputs, ctx):
        ref = _ref(node, inputs[0])
        cur = _value(node, ctx, ref.handle)
        ctx.session.store.assign(ref.handle, update(node, cur, np.asarray(inputs[1]),
                                                    np.asarray(inputs[2]), kind))
        return ref
    return run


for _kind in _SCATTER_KINDS:
    kernel(f"Scatter{_kind}")(_ref_scatter(_kind, nd=False))
for _kind in _SCATTER_ND_KINDS:
    kernel(f"ScatterNd{_kind}")(_ref_scatter(_kind, nd=True))


@kernel("CountUpTo")
def count_up_to(node, inputs, ctx):
    return _count_up_to(node, ctx, _ref(node, inputs[0]).handle)


# -- strided-slice assignment, shape, copy-on-read ------------------------------------------------

@kernel("ResourceStridedSliceAssign")
def resource_strided_slice_assign(node, inputs, ctx):
    h = _handle(node, inputs[0])
    cur = _value(node, ctx, h)
    ctx.session.store.assign(h, assign_slice(node, cur, *inputs[1:5]))
    return []


@kernel("StridedSliceAssign")
def strided_slice_assign(node, inputs, ctx):
    ref = _ref(node, inputs[0])
    cur = _value(node, ctx, ref.handle)
    ctx.session.store.assign(ref.handle, assign_slice(node, cur, *inputs[1:5]))
    return ref


@kernel("VariableShape")
def variable_shape(node, inputs, ctx):
    return np.array(_value(node, ctx, _handle(node, inputs[0])).shape, np_dtype(node.attr["out_type"]))


@kernel("DisableCopyOnRead")
def disable_copy_on_read(node, inputs, ctx):
    # Reads never alias the stored value here (updates replace it): nothing to switch off.
    _handle(node, inputs[0])
    return []


# -- mutexes (tf.CriticalSection) -----------------------------------------------------------------

@kernel("MutexV2")
def mutex(node, inputs, ctx):
    return Handle("mutex", variable_name(node.name, node.attr["shared_name"]))


@kernel("MutexLock")
def mutex_lock(node, inputs, ctx):
    # Kernels run one at a time, so the critical section it guards is already exclusive.
    h = inputs[0]
    if not isinstance(h, Handle) or h.kind != "mutex":
        raise bad(node, f"expected a mutex handle, got {type(h).__name__}")
    return Handle("mutex_lock", h.name)


@kernel("ConsumeMutexLock")
def consume_mutex_lock(node, inputs, ctx):
    lock = inputs[0]
    if not isinstance(lock, Handle) or lock.kind != "mutex_lock":
        raise bad(node, f"expected a mutex lock, got {type(lock).__name__}")
    return []
