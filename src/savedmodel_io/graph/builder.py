"""Build TensorFlow GraphDefs and FunctionDefs op by op, in the spirit of ``onnx.helper``.

Two builders share one op vocabulary::

    f = FunctionBuilder("mlp")
    x = f.arg("x", "float32", (None, 784))
    h = f.relu(f.bias_add(f.matmul(x, f.read(w1)), f.read(b1)))
    fdef = f.to_function_def({"probs": f.softmax(h)})

``FunctionBuilder`` names tensors ``node:output_arg:index`` (FunctionDef form);
``GraphBuilder`` names them ``node:index`` (GraphDef form). Every node gets all of
its OpDef's attrs (defaults filled in) and every tensor a static shape and dtype,
so SignatureDefs built from the result carry correct TensorInfos.

Op argument names, attr types, defaults and statefulness come from TensorFlow's
OpDefs (:mod:`savedmodel_io.graph.opdefs`); defaults are written exactly as
TensorFlow records them. The builders are made of three rooms: the core (nodes,
attrs, constants, variables, calls: :mod:`savedmodel_io.graph.builder_core`), the op
and layer vocabulary (:mod:`savedmodel_io.graph.layers`), and here, what makes a
FunctionDef or a GraphDef of them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from savedmodel_io import tensors
from savedmodel_io.errors import InvalidArgumentError
from savedmodel_io.graph.builder_core import (
    DTypeLike,
    Tensor,
    _shape_of,
    _ShapeAttr,
    as_dtype,
    make_attr,
)
from savedmodel_io.graph.layers import Layers
from savedmodel_io.proto import DataType, FunctionDef, GraphDef, VersionDef
from savedmodel_io.tensors import Shape

__all__ = [
    "GRAPH_MIN_CONSUMER",
    "GRAPH_PRODUCER",
    "DTypeLike",
    "FunctionBuilder",
    "GraphBuilder",
    "Tensor",
    "arg_name",
    "as_dtype",
    "make_attr",
]

# GraphDef VersionDef written by TensorFlow 2.21 (tensorflow/core/public/version.h:
# TF_GRAPH_DEF_VERSION / TF_GRAPH_DEF_VERSION_MIN_CONSUMER). Every op we emit exists
# at this producer version.
GRAPH_PRODUCER = 2474
GRAPH_MIN_CONSUMER = 12

_ARG_NAME = re.compile(r"[^a-z0-9_]")


def arg_name(name: str) -> str:
    """A valid FunctionDef argument name for ``name`` (lower case, [a-z0-9_], letter first)."""
    s = _ARG_NAME.sub("_", name.lower())
    if not s or not s[0].isalpha():
        s = "arg_" + s
    return s


class FunctionBuilder(Layers):
    """Build one FunctionDef: typed arguments, captured variables, nodes, named outputs."""

    def __init__(self, name: str, label: str | None = None) -> None:
        super().__init__()
        self.name = name
        # What the user calls the function (the writer's "__call__"); name is the FunctionDef's.
        self.label = label or name
        self.args: list[Tensor] = []
        self.arg_user_names: list[str] = []
        self.captures: list[Any] = []  # captured objects, in argument order after args
        self._capture_tensors: dict[int, Tensor] = {}
        self.output_names: list[str] = []
        self.output_tensors: list[Tensor] = []
        self.output_kind = "dict"  # Python structure of the results: "tensor", "list" or "dict"

    def _ref(self, node: str, op: str, out_arg: str, index: int, flat: int) -> str:
        return f"{node}:{out_arg}:{index}"

    def describe(self) -> str:
        return f"function {self.label!r}"

    def arg(self, name: str, dtype: DTypeLike, shape: Any = None) -> Tensor:
        """Add an input argument (before any capture)."""
        if self.captures:
            raise InvalidArgumentError(f"{self.name}: add arguments before capturing variables")
        dt = as_dtype(dtype)
        aname = self.unique_name(arg_name(name))
        t = Tensor(self, aname, dt, _shape_of(shape), aname, label=f"input {name!r}")
        self.args.append(t)
        self.arg_user_names.append(name)
        return t

    def capture(self, obj: Any) -> Tensor:
        """Argument bound to a variable or asset at load time (returns its handle / path)."""
        key = id(obj)
        if key in self._capture_tensors:
            return self._capture_tensors[key]
        dt = as_dtype(getattr(obj, "capture_dtype", DataType.DT_RESOURCE))
        label = str(getattr(obj, "name", "capture"))
        aname = self.unique_name(arg_name(label.replace("/", "_") + "_resource"))
        handle = None
        if dt == DataType.DT_RESOURCE:
            handle = (as_dtype(obj.dtype), _shape_of(obj.shape))
            shape: Shape = ()
        else:
            shape = ()
        kind = "variable" if dt == DataType.DT_RESOURCE else "asset"
        t = Tensor(self, aname, dt, shape, aname, handle, label=f"{kind} {label!r}")
        self.captures.append(obj)
        self._capture_tensors[key] = t
        self.arg_user_names.append(label)
        return t

    @property
    def inputs(self) -> dict[str, Tensor]:
        """Input arguments by the names they were declared with."""
        return dict(zip(self.arg_user_names, self.args))

    @property
    def capture_tensors(self) -> list[Tensor]:
        """Argument tensors of the captures, in order."""
        return [self._capture_tensors[id(o)] for o in self.captures]

    def outputs(self, outputs: Tensor | Sequence[Tensor] | Mapping[str, Tensor]) -> None:
        """Set the function's results (a tensor, a list, or a dict of named tensors)."""
        if isinstance(outputs, Tensor):
            items, kind = [("output_0", outputs)], "tensor"
        elif isinstance(outputs, Mapping):
            items, kind = sorted(outputs.items()), "dict"
        else:
            items, kind = [(f"output_{i}", t) for i, t in enumerate(outputs)], "list"
            if not items:
                raise InvalidArgumentError(f"{self.name}: no outputs given")
        where = f"{self.describe()}: output"
        items = [(k, self._operand(t, f"{where} {k!r}")) for k, t in items]
        for key, t in items:
            if not isinstance(t, Tensor):
                raise InvalidArgumentError(
                    f"{where} {key!r} is a {type(t).__name__}, not a Tensor of this function")
        self.output_kind = kind
        self.output_names = [k for k, _ in items]
        self.output_tensors = [t for _, t in items]

    def to_function_def(self, outputs: Any = None) -> FunctionDef:
        """The FunctionDef: args, captures, nodes, outputs behind Identity, stateful control."""
        if outputs is not None:
            self.outputs(outputs)
        if not self.output_tensors and not self._stateful:
            raise InvalidArgumentError(f"function {self.name} has no outputs")
        fdef = FunctionDef()
        sig = fdef.signature
        sig.name = self.name
        all_args = self.args + self.capture_tensors
        input_shapes = []
        for i, t in enumerate(all_args):
            a = sig.input_arg.add(name=t.ref, type=t.dtype)
            if t.handle is not None:
                hd = a.handle_data.add(dtype=t.handle[0])
                hd.shape.CopyFrom(tensors.shape_to_proto(t.handle[1]))
            attrs = fdef.arg_attr[i].attr
            if t.dtype != DataType.DT_RESOURCE:
                attrs["_output_shapes"].CopyFrom(make_attr([_ShapeAttr(t.shape)]))
            attrs["_user_specified_name"].CopyFrom(make_attr(self.arg_user_names[i]))
            input_shapes.append(_ShapeAttr(t.shape if t.dtype != DataType.DT_RESOURCE else ()))
        fdef.attr["_input_shapes"].CopyFrom(make_attr(input_shapes))
        fdef.attr["_construction_context"].CopyFrom(make_attr("kEagerRuntime"))
        # The closing NoOp/Identity nodes go into a scratch copy: calling this again
        # (saving the same model twice) gives the same FunctionDef.
        body = list(self.nodes)
        stateful = list(self._stateful)
        saved, saved_used = self.nodes, set(self._used)
        self.nodes = body
        done = None
        if stateful:
            done = self.no_op(stateful, name="NoOp")
        rets = []
        for i, t in enumerate(self.output_tensors):
            ident = self.op("Identity", [t], {"T": t.dtype}, out_types=[t.dtype],
                            out_shapes=[t.shape], name="Identity",
                            control_inputs=[done] if done else ())[0]
            rets.append(ident)
        self.nodes, self._used = saved, saved_used
        for nd in body:
            fdef.node_def.add().CopyFrom(nd)
        for i, t in enumerate(rets):
            ret_name = "identity" if i == 0 else f"identity_{i}"
            sig.output_arg.add(name=ret_name, type=t.dtype)
            fdef.ret[ret_name] = t.ref
        for n in stateful:
            fdef.control_ret[n] = n
            sig.control_output.append(n)
        sig.is_stateful = bool(stateful)
        return fdef


class GraphBuilder(Layers):
    """Build a GraphDef: placeholders, variable handles, calls, init ops."""

    def __init__(self) -> None:
        super().__init__()
        self._handles: dict[int, Tensor] = {}

    def _ref(self, node: str, op: str, out_arg: str, index: int, flat: int) -> str:
        return node if flat == 0 else f"{node}:{flat}"

    def placeholder(self, name: str, dtype: DTypeLike, shape: Any = None) -> Tensor:
        """A Placeholder (a signature input)."""
        dt = as_dtype(dtype)
        shp = _shape_of(shape)
        t = self._one("Placeholder", [], {"dtype": dt, "shape": _ShapeAttr(shp),
                                          "_output_shapes": [_ShapeAttr(shp)]},
                      dt, shp, name)
        t.label = f"input {name!r}"
        return t

    def var_handle(self, name: str, dtype: DTypeLike, shape: Any,
                   shared_name: str | None = None) -> Tensor:
        """A VarHandleOp for a resource variable."""
        dt = as_dtype(dtype)
        shp = _shape_of(shape)
        t = self.op("VarHandleOp", [], {"dtype": dt, "shape": _ShapeAttr(shp),
                                        "shared_name": shared_name or name,
                                        "debug_name": f"{name}/",
                                        "_output_shapes": [_ShapeAttr(())]},
                    out_types=[DataType.DT_RESOURCE], out_shapes=[()], name=name)[0]
        t.handle = (dt, shp)
        t.label = f"variable {name!r}"
        return t

    def bind(self, obj: Any, tensor: Tensor) -> None:
        """Make ``capture(obj)`` return ``tensor`` (a var handle or asset path read)."""
        self._handles[id(obj)] = tensor

    def capture(self, obj: Any) -> Tensor:
        """The graph tensor standing for a variable or asset bound with :meth:`bind`."""
        if id(obj) not in self._handles:
            raise InvalidArgumentError(f"{getattr(obj, 'name', obj)!r} has no node in this graph")
        return self._handles[id(obj)]

    def to_graph_def(self, functions: Iterable[FunctionDef] = ()) -> GraphDef:
        """The GraphDef with ``functions`` as its library."""
        g = GraphDef()
        for n in self.nodes:
            g.node.add().CopyFrom(n)
        for f in functions:
            g.library.function.add().CopyFrom(f)
        g.versions.CopyFrom(VersionDef(producer=GRAPH_PRODUCER, min_consumer=GRAPH_MIN_CONSUMER))
        return g
