"""Variables: resource handles (VarHandleOp/ReadVariableOp...) and TF1 reference variables."""

from __future__ import annotations

import numpy as np

from savedmodel_io.graph.ops import kernel
from savedmodel_io.graph.ops._util import bad
from savedmodel_io.graph.variables import Handle


def _handle(node, value) -> Handle:
    if not isinstance(value, Handle):
        raise bad(node, f"expected a resource handle, got {type(value).__name__}")
    return value


@kernel("VarHandleOp")
def var_handle(node, inputs, ctx):
    name = node.attr["shared_name"].decode("utf-8", "replace") or node.name
    return Handle("variable", name)


@kernel("ReadVariableOp")
def read_variable(node, inputs, ctx):
    return ctx.session.store.read(_handle(node, inputs[0]), node.where)


@kernel("AssignVariableOp")
def assign_variable(node, inputs, ctx):
    ctx.session.store.assign(_handle(node, inputs[0]), np.asarray(inputs[1]))
    return []


@kernel("AssignAddVariableOp", "AssignSubVariableOp")
def assign_add(node, inputs, ctx):
    h = _handle(node, inputs[0])
    cur = ctx.session.store.read(h, node.where)
    delta = np.asarray(inputs[1])
    ctx.session.store.assign(h, cur + delta if node.op == "AssignAddVariableOp" else cur - delta)
    return []


@kernel("VarIsInitializedOp")
def var_is_initialized(node, inputs, ctx):
    h = _handle(node, inputs[0])
    store = ctx.session.store
    if h.name in store.values:
        return np.array(True)
    return np.array(store.has_checkpoint_key(store.key_for(h.name)))


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


@kernel("VariableV2", "Variable")
def ref_variable(node, inputs, ctx):
    # TF1 reference variables: the value is read where the variable is used.
    return ctx.session.store.read(Handle("variable", node.name), node.where)


@kernel("Assign")
def assign(node, inputs, ctx):
    # Inputs are (ref, value): the ref arrives as the variable's value, so bind by name.
    return np.asarray(inputs[1])


@kernel("IsVariableInitialized")
def is_variable_initialized(node, inputs, ctx):
    return np.array(True)
