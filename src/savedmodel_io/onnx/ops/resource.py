"""Variables: reads become initializers (the walker folds ReadVariableOp); gathers read them."""

from __future__ import annotations

import numpy as np

from savedmodel_io.graph.variables import Handle
from savedmodel_io.onnx._graph import ExportError, Val
from savedmodel_io.onnx.ops._registry import STATE, converter, inexpressible
from savedmodel_io.onnx.ops._util import attr_dtype, i64


def _variable(cx, node, v: Val):
    h = v.const
    if not isinstance(h, Handle) or h.kind != "variable":
        raise ExportError("the resource handle is computed at run time")
    return cx.g.const(cx.session.store.read(h, node.where))


@converter("ResourceGather", onnx="Gather, GatherND (batch_dims)")
def resource_gather(cx, node, ins):
    from savedmodel_io.onnx.ops.array import gather

    params = _variable(cx, node, ins[0])
    return gather(cx.g, params, ins[1], int(node.attr.get("batch_dims", 0)),
                  int(node.attr.get("batch_dims", 0)))


@converter("ResourceGatherNd", onnx="GatherND")
def resource_gather_nd(cx, node, ins):
    g = cx.g
    return g.op1("GatherND", _variable(cx, node, ins[0]), i64(g, ins[1]))


@converter("VarHandleOp", "ReadVariableOp", "VarIsInitializedOp", "Variable", "VariableV2",
           "IsVariableInitialized", onnx="(folded: variable values become initializers)")
def variable(cx, node, ins):
    raise ExportError("reads a variable through a handle computed at run time")


inexpressible(STATE, "AssignVariableOp", "AssignAddVariableOp", "AssignSubVariableOp", "Assign", "AssignAdd",
              "AssignSub", "CountUpTo", "ResourceCountUpTo", "TemporaryVariable", "DestroyTemporaryVariable",
              *(f"{prefix}Scatter{kind}" for prefix in ("", "Resource")
                for kind in ("Add", "Sub", "Mul", "Div", "Max", "Min", "Update", "NdAdd", "NdSub", "NdMax",
                             "NdMin", "NdUpdate")))
inexpressible("destroys a resource (state kept between calls)", "DestroyResourceOp")
inexpressible(STATE, "StridedSliceAssign", "ResourceStridedSliceAssign", "DisableCopyOnRead")


@converter("VariableShape", onnx="(a constant: the checkpoint's variable shape)")
def variable_shape(cx, node, ins):
    value = _variable(cx, node, ins[0]).const
    return cx.g.const(np.asarray(value.shape, attr_dtype(node, "out_type", 3)))  # DT_INT32 by default
