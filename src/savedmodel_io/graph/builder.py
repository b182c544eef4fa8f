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
TensorFlow records them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Union

import numpy as np

from savedmodel_io import dtypes, tensors
from savedmodel_io.errors import InvalidArgumentError
from savedmodel_io.graph import opdefs, shapes
from savedmodel_io.proto import (
    AttrValue,
    DataType,
    FunctionDef,
    GraphDef,
    NameAttrList,
    NodeDef,
    TensorProto,
    VersionDef,
)
from savedmodel_io.tensors import Shape

__all__ = [
    "GRAPH_MIN_CONSUMER",
    "GRAPH_PRODUCER",
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

DTypeLike = Union[int, str, np.dtype, type]  # noqa: UP007 (a runtime alias: py3.10 needs Union)


_ARG_NAME = re.compile(r"[^a-z0-9_]")
_NODE_NAME = re.compile(r"[^A-Za-z0-9_.\-/]")


def as_dtype(dtype: DTypeLike) -> int:
    """DataType enum value of a DataType int, a numpy dtype or a name like ``"float32"``."""
    if isinstance(dtype, (int, np.integer)) and not isinstance(dtype, bool):
        if int(dtype) not in DataType.values():
            raise InvalidArgumentError(f"unknown DataType {int(dtype)}")
        return int(dtype)
    if isinstance(dtype, str):
        name = dtype.upper() if dtype.upper().startswith("DT_") else None
        if name is not None:
            try:
                return int(DataType.Value(name))
            except ValueError:
                raise InvalidArgumentError(f"unknown dtype {dtype!r}") from None
        if dtype == "string":
            return DataType.DT_STRING
        if dtype == "resource":
            return DataType.DT_RESOURCE
    return dtypes.from_numpy(dtype)


def _shape_of(shape: Any) -> Shape:
    if shape is None:
        return None
    try:
        dims = tuple(None if d is None or int(d) < 0 else int(d) for d in shape)
    except (TypeError, ValueError):
        raise InvalidArgumentError(f"not a shape: {shape!r}") from None
    return dims


def make_attr(value: Any) -> AttrValue:
    """AttrValue for a Python value: bool, int, float, str/bytes, DataType, shape, tensor, list.

    Use ``AttrValue`` directly for the ambiguous cases (an int meant as a DataType
    is passed as ``_DType(x)`` internally; shapes as ``_ShapeAttr``).
    """
    av = AttrValue()
    if isinstance(value, AttrValue):
        av.CopyFrom(value)
    elif isinstance(value, _DType):
        av.type = value.value
    elif isinstance(value, _ShapeAttr):
        av.shape.CopyFrom(tensors.shape_to_proto(value.shape))
    elif isinstance(value, _Func):
        av.func.CopyFrom(NameAttrList(name=value.name))
    elif isinstance(value, bool):
        av.b = value
    elif isinstance(value, (int, np.integer)):
        av.i = int(value)
    elif isinstance(value, (float, np.floating)):
        av.f = float(value)
    elif isinstance(value, str):
        av.s = value.encode("utf-8")
    elif isinstance(value, bytes):
        av.s = value
    elif isinstance(value, TensorProto):
        av.tensor.CopyFrom(value)
    elif isinstance(value, np.ndarray):
        av.tensor.CopyFrom(tensors.from_array(value))
    elif isinstance(value, (list, tuple)):
        lst = av.list
        lst.SetInParent()
        for item in value:
            if isinstance(item, _DType):
                lst.type.append(item.value)
            elif isinstance(item, _ShapeAttr):
                lst.shape.add().CopyFrom(tensors.shape_to_proto(item.shape))
            elif isinstance(item, bool):
                lst.b.append(item)
            elif isinstance(item, (int, np.integer)):
                lst.i.append(int(item))
            elif isinstance(item, (float, np.floating)):
                lst.f.append(float(item))
            elif isinstance(item, str):
                lst.s.append(item.encode("utf-8"))
            elif isinstance(item, bytes):
                lst.s.append(item)
            else:
                raise InvalidArgumentError(f"cannot put {type(item).__name__} in a list attr")
    else:
        raise InvalidArgumentError(f"cannot make an attr from {type(value).__name__}")
    return av


@dataclass(frozen=True)
class _DType:
    value: int


@dataclass(frozen=True)
class _ShapeAttr:
    shape: Shape


@dataclass(frozen=True)
class _Func:
    name: str


def _wrap_attr(kind: str, value: Any) -> Any:
    """``value`` marked by its OpDef attr type ``kind``: a plain int meant as a DataType, a shape."""
    if kind == "type" and isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return _DType(int(value))
    if kind == "list(type)" and isinstance(value, (list, tuple)):
        return [_DType(int(v)) if isinstance(v, (int, np.integer)) else v for v in value]
    if kind == "shape" and not isinstance(value, (AttrValue, _ShapeAttr)):
        return _ShapeAttr(_shape_of(value))
    return value


class Tensor:
    """A symbolic tensor in a builder: reference string, dtype and static shape."""

    __slots__ = ("builder", "dtype", "handle", "node", "ref", "shape")

    def __init__(self, builder: _Builder, ref: str, dtype: int, shape: Shape, node: str,
                 handle: tuple[int, Shape] | None = None) -> None:
        self.builder = builder
        self.ref = ref
        self.dtype = dtype
        self.shape = shape
        self.node = node
        # For DT_RESOURCE tensors: (dtype, shape) of the variable behind the handle.
        self.handle = handle

    def __repr__(self) -> str:
        shape = "?" if self.shape is None else list(self.shape)
        return f"Tensor({self.ref!r}, {dtypes.python_name(self.dtype)}, {shape})"

    @property
    def rank(self) -> int | None:
        """Number of dimensions, or None when unknown."""
        return None if self.shape is None else len(self.shape)

    def _other(self, value: Any) -> Tensor:
        return value if isinstance(value, Tensor) else self.builder.const(value, self.dtype)

    def __add__(self, other: Any) -> Tensor:
        return self.builder.add(self, self._other(other))

    def __radd__(self, other: Any) -> Tensor:
        return self.builder.add(self._other(other), self)

    def __sub__(self, other: Any) -> Tensor:
        return self.builder.sub(self, self._other(other))

    def __rsub__(self, other: Any) -> Tensor:
        return self.builder.sub(self._other(other), self)

    def __mul__(self, other: Any) -> Tensor:
        return self.builder.mul(self, self._other(other))

    def __rmul__(self, other: Any) -> Tensor:
        return self.builder.mul(self._other(other), self)

    def __truediv__(self, other: Any) -> Tensor:
        return self.builder.div(self, self._other(other))

    def __rtruediv__(self, other: Any) -> Tensor:
        return self.builder.div(self._other(other), self)

    def __matmul__(self, other: Any) -> Tensor:
        return self.builder.matmul(self, self._other(other))

    def __neg__(self) -> Tensor:
        return self.builder.neg(self)


Operand = Union[Tensor, Any]  # noqa: UP007


class _Builder:
    """Op vocabulary shared by FunctionBuilder and GraphBuilder."""

    def __init__(self) -> None:
        self.nodes: list[NodeDef] = []
        self._used: set[str] = set()
        self._stateful: list[str] = []

    # -- naming -------------------------------------------------------------------------
    def unique_name(self, base: str) -> str:
        """A node name not used yet in this builder: ``base``, ``base_1``, ``base_2``..."""
        base = _NODE_NAME.sub("_", base) or "node"
        if base[0] in "_-/":
            base = "n" + base
        name, i = base, 0
        while name in self._used:
            i += 1
            name = f"{base}_{i}"
        self._used.add(name)
        return name

    def _ref(self, node: str, op: str, out_arg: str, index: int, flat: int) -> str:
        raise NotImplementedError

    # -- generic node -----------------------------------------------------------------------
    def op(
        self,
        op_type: str,
        inputs: Sequence[Tensor | Sequence[Tensor]] = (),
        attrs: Mapping[str, Any] | None = None,
        *,
        out_types: Sequence[int] = (),
        out_shapes: Sequence[Shape] = (),
        name: str | None = None,
        control_inputs: Iterable[Tensor | str] = (),
        device: str = "",
    ) -> list[Tensor]:
        """Add a node and return its outputs.

        ``inputs`` follows the OpDef's input args (a list arg takes a sequence);
        ``attrs`` may be Python values (see :func:`make_attr`; None leaves the attr
        out); missing attrs with OpDef defaults are filled in. ``out_types``/``out_shapes``
        give each output's dtype and static shape (one entry per flattened output). An
        op TensorFlow does not register gets just the attrs given and one list output.
        """
        od = opdefs.get(op_type)
        node = NodeDef(name=self.unique_name(name or op_type), op=op_type, device=device)
        flat_inputs: list[Tensor] = []
        for item in inputs:
            if isinstance(item, Tensor):
                flat_inputs.append(item)
            else:
                flat_inputs.extend(item)
        for t in flat_inputs:
            if not isinstance(t, Tensor):
                raise InvalidArgumentError(f"{op_type}: input {t!r} is not a Tensor")
            if t.builder is not self:
                raise InvalidArgumentError(f"{op_type}: input {t.ref} belongs to another builder")
            node.input.append(t.ref)
        for c in control_inputs:
            node.input.append("^" + (c.node if isinstance(c, Tensor) else c))
        given = dict(attrs or {})
        defaults = {a.name: a for a in od.attrs if a.has_default} if od is not None else {}
        for key in sorted(given.keys() | defaults.keys()):
            if key not in given:
                node.attr[key].CopyFrom(defaults[key].default_value)
                continue
            value = given[key]
            if value is None:
                continue
            ad = od.attr(key) if od is not None else None
            node.attr[key].CopyFrom(make_attr(_wrap_attr(ad.type if ad else "", value)))
        self.nodes.append(node)
        if od is not None and od.is_stateful:
            self._stateful.append(node.name)
        outs = []
        out_names = tuple(a.name for a in od.outputs) if od is not None else ("output",)
        lists = frozenset(a.name for a in od.outputs if a.is_list) if od is not None \
            else frozenset({"output"})
        shapes_ = list(out_shapes) + [None] * (len(out_types) - len(out_shapes))
        for i, (dt, shp) in enumerate(zip(out_types, shapes_)):
            if len(out_names) == 1 and (out_names[0] in lists):
                arg, idx = out_names[0], i
            elif i < len(out_names):
                arg, idx = out_names[i], 0
            else:
                raise InvalidArgumentError(f"{op_type} has only {len(out_names)} outputs")
            outs.append(Tensor(self, self._ref(node.name, op_type, arg, idx, i), dt, shp,
                               node.name))
        return outs

    def _one(self, op_type: str, inputs: Sequence[Any], attrs: Mapping[str, Any], dt: int,
             shape: Shape, name: str | None) -> Tensor:
        return self.op(op_type, inputs, attrs, out_types=[dt], out_shapes=[shape], name=name)[0]

    # -- constants and variables ------------------------------------------------------------------
    def const(self, value: Any, dtype: DTypeLike | None = None, name: str | None = None) -> Tensor:
        """A Const node holding ``value`` (numpy array, scalar, list, or strings)."""
        if isinstance(value, Tensor):
            return value
        dt = as_dtype(dtype) if dtype is not None else None
        if isinstance(value, np.ndarray) or dt is None or dt == DataType.DT_STRING:
            arr = np.asarray(value) if not isinstance(value, np.ndarray) else value
        else:
            arr = np.asarray(value, dtype=dtypes.to_numpy(dt))
        proto = tensors.from_array(arr, dt)
        shape = tuple(arr.shape)
        return self._one("Const", [], {"value": proto, "dtype": proto.dtype}, proto.dtype, shape,
                         name or "Const")

    def _ints(self, values: Sequence[int] | Tensor, name: str) -> Tensor:
        if isinstance(values, Tensor):
            return values
        return self.const(np.asarray(values, dtype=np.int32), name=name)

    def read(self, handle: Any, name: str | None = None) -> Tensor:
        """ReadVariableOp on a resource handle (or on a variable, captured automatically)."""
        h = self._handle(handle)
        assert h.handle is not None
        dt, shp = h.handle
        return self._one("ReadVariableOp", [h], {"dtype": dt}, dt, shp,
                         name or f"{h.node}/Read/ReadVariableOp")

    def value(self, x: Any) -> Tensor:
        """x itself for a value tensor; the variable's value for a handle or variable object."""
        if isinstance(x, Tensor):
            return self.read(x) if x.dtype == DataType.DT_RESOURCE else x
        return self.read(x)

    def assign(self, handle: Any, value: Operand, name: str | None = None) -> str:
        """AssignVariableOp (returns the node name, for control dependencies)."""
        h = self._handle(handle)
        assert h.handle is not None
        v = value if isinstance(value, Tensor) else self.const(value, h.handle[0])
        self._check_dtype("AssignVariableOp", h.handle[0], v)
        self.op("AssignVariableOp", [h, v], {"dtype": h.handle[0]}, name=name or "AssignVariableOp")
        return self.nodes[-1].name

    def _handle(self, handle: Any) -> Tensor:
        if isinstance(handle, Tensor):
            if handle.dtype != DataType.DT_RESOURCE or handle.handle is None:
                raise InvalidArgumentError(f"{handle.ref} is not a variable handle")
            return handle
        return self.capture(handle)

    def capture(self, obj: Any) -> Tensor:
        """The handle tensor of a variable-like object (has name, dtype, shape)."""
        raise InvalidArgumentError(f"{type(self).__name__} cannot capture {obj!r}")

    def no_op(self, control_inputs: Iterable[Tensor | str] = (), name: str = "NoOp") -> str:
        """A NoOp depending on ``control_inputs``; returns its node name."""
        self.op("NoOp", [], name=name, control_inputs=control_inputs)
        return self.nodes[-1].name

    # -- math ----------------------------------------------------------------------------------
    @staticmethod
    def _check_dtype(op_type: str, dt: int, *ts: Tensor) -> None:
        for t in ts:
            if t.dtype != dt:
                raise InvalidArgumentError(
                    f"{op_type}: {t.ref} is {dtypes.python_name(t.dtype)}, "
                    f"expected {dtypes.python_name(dt)}"
                )

    def _binary(self, op_type: str, x: Operand, y: Operand, name: str | None) -> Tensor:
        if not isinstance(x, Tensor) and not isinstance(y, Tensor):
            raise InvalidArgumentError(f"{op_type}: at least one operand must be a Tensor")
        if not isinstance(x, Tensor):
            x = self.const(x, y.dtype)
        if not isinstance(y, Tensor):
            y = self.const(y, x.dtype)
        self._check_dtype(op_type, x.dtype, y)
        shape = shapes.broadcast(x.shape, y.shape, op_type)
        return self._one(op_type, [x, y], {"T": x.dtype}, x.dtype, shape, name)

    def _unary(self, op_type: str, x: Tensor, name: str | None, **attrs: Any) -> Tensor:
        return self._one(op_type, [x], {"T": x.dtype, **attrs}, x.dtype, x.shape, name)

    def add(self, x: Operand, y: Operand, name: str | None = None) -> Tensor:
        """x + y (AddV2, broadcasting)."""
        return self._binary("AddV2", x, y, name or "add")

    def sub(self, x: Operand, y: Operand, name: str | None = None) -> Tensor:
        """x - y (Sub)."""
        return self._binary("Sub", x, y, name or "sub")

    def mul(self, x: Operand, y: Operand, name: str | None = None) -> Tensor:
        """x * y (Mul)."""
        return self._binary("Mul", x, y, name or "mul")

    def div(self, x: Operand, y: Operand, name: str | None = None) -> Tensor:
        """x / y (RealDiv)."""
        return self._binary("RealDiv", x, y, name or "truediv")

    def maximum(self, x: Operand, y: Operand, name: str | None = None) -> Tensor:
        """Elementwise max (Maximum)."""
        return self._binary("Maximum", x, y, name or "Maximum")

    def minimum(self, x: Operand, y: Operand, name: str | None = None) -> Tensor:
        """Elementwise min (Minimum)."""
        return self._binary("Minimum", x, y, name or "Minimum")

    def pow(self, x: Operand, y: Operand, name: str | None = None) -> Tensor:
        """x ** y (Pow)."""
        return self._binary("Pow", x, y, name or "Pow")

    def squared_difference(self, x: Operand, y: Operand, name: str | None = None) -> Tensor:
        """(x - y)^2 (SquaredDifference)."""
        return self._binary("SquaredDifference", x, y, name or "SquaredDifference")

    def neg(self, x: Tensor, name: str | None = None) -> Tensor:
        """-x (Neg)."""
        return self._unary("Neg", x, name)

    def exp(self, x: Tensor, name: str | None = None) -> Tensor:
        """e^x (Exp)."""
        return self._unary("Exp", x, name)

    def log(self, x: Tensor, name: str | None = None) -> Tensor:
        """Natural log (Log)."""
        return self._unary("Log", x, name)

    def sqrt(self, x: Tensor, name: str | None = None) -> Tensor:
        """Square root (Sqrt)."""
        return self._unary("Sqrt", x, name)

    def rsqrt(self, x: Tensor, name: str | None = None) -> Tensor:
        """1 / sqrt(x) (Rsqrt)."""
        return self._unary("Rsqrt", x, name)

    def square(self, x: Tensor, name: str | None = None) -> Tensor:
        """x^2 (Square)."""
        return self._unary("Square", x, name)

    def erf(self, x: Tensor, name: str | None = None) -> Tensor:
        """Error function (Erf)."""
        return self._unary("Erf", x, name)

    def abs(self, x: Tensor, name: str | None = None) -> Tensor:
        """|x| (Abs)."""
        return self._unary("Abs", x, name)

    def identity(self, x: Tensor, name: str | None = None,
                 control_inputs: Iterable[Tensor | str] = ()) -> Tensor:
        """Identity (optionally after control dependencies)."""
        return self.op("Identity", [x], {"T": x.dtype}, out_types=[x.dtype],
                       out_shapes=[x.shape], name=name or "Identity",
                       control_inputs=control_inputs)[0]

    def cast(self, x: Tensor, dtype: DTypeLike, name: str | None = None) -> Tensor:
        """Convert x to ``dtype`` (Cast)."""
        dt = as_dtype(dtype)
        return self._one("Cast", [x], {"SrcT": x.dtype, "DstT": dt}, dt, x.shape, name or "Cast")

    # -- activations ------------------------------------------------------------------------
    def relu(self, x: Tensor, name: str | None = None) -> Tensor:
        """max(x, 0) (Relu)."""
        return self._unary("Relu", x, name)

    def relu6(self, x: Tensor, name: str | None = None) -> Tensor:
        """min(max(x, 0), 6) (Relu6)."""
        return self._unary("Relu6", x, name)

    def elu(self, x: Tensor, name: str | None = None) -> Tensor:
        """Elu."""
        return self._unary("Elu", x, name)

    def selu(self, x: Tensor, name: str | None = None) -> Tensor:
        """Selu."""
        return self._unary("Selu", x, name)

    def softplus(self, x: Tensor, name: str | None = None) -> Tensor:
        """log(1 + e^x) (Softplus)."""
        return self._unary("Softplus", x, name)

    def leaky_relu(self, x: Tensor, alpha: float = 0.2, name: str | None = None) -> Tensor:
        """LeakyRelu with slope ``alpha``."""
        return self._unary("LeakyRelu", x, name, alpha=float(alpha))

    def sigmoid(self, x: Tensor, name: str | None = None) -> Tensor:
        """1 / (1 + e^-x) (Sigmoid)."""
        return self._unary("Sigmoid", x, name)

    def tanh(self, x: Tensor, name: str | None = None) -> Tensor:
        """Hyperbolic tangent (Tanh)."""
        return self._unary("Tanh", x, name)

    def softmax(self, x: Tensor, name: str | None = None) -> Tensor:
        """Softmax over the last axis."""
        return self._unary("Softmax", x, name)

    def log_softmax(self, x: Tensor, name: str | None = None) -> Tensor:
        """Log-softmax over the last axis."""
        return self._unary("LogSoftmax", x, name)

    def gelu(self, x: Tensor, name: str | None = None) -> Tensor:
        """Exact GELU, 0.5 * x * (1 + erf(x / sqrt(2))), as tf.nn.gelu(approximate=False)."""
        prefix = name or "Gelu"
        half = self.mul(x, self.const(0.5, x.dtype, name=f"{prefix}/mul/x"), name=f"{prefix}/mul")
        scaled = self.div(x, self.const(np.sqrt(2.0), x.dtype, name=f"{prefix}/Cast"),
                          name=f"{prefix}/truediv")
        one = self.const(1.0, x.dtype, name=f"{prefix}/add/x")
        return self.mul(half, self.add(one, self.erf(scaled, name=f"{prefix}/Erf"),
                                       name=f"{prefix}/add"), name=f"{prefix}/mul_1")

    # -- linear algebra -------------------------------------------------------------------------
    def matmul(self, a: Tensor, b: Tensor, transpose_a: bool = False, transpose_b: bool = False,
               name: str | None = None) -> Tensor:
        """Matrix product of rank-2 tensors (MatMul); BatchMatMulV2 for higher ranks."""
        if (a.rank is not None and a.rank > 2) or (b.rank is not None and b.rank > 2):
            return self.batch_matmul(a, b, transpose_a, transpose_b, name=name)
        self._check_dtype("MatMul", a.dtype, b)
        shape = shapes.matmul(a.shape, b.shape, transpose_a, transpose_b)
        return self._one("MatMul", [a, b], {"T": a.dtype, "transpose_a": transpose_a,
                                            "transpose_b": transpose_b}, a.dtype, shape,
                         name or "MatMul")

    def batch_matmul(self, x: Tensor, y: Tensor, adj_x: bool = False, adj_y: bool = False,
                     name: str | None = None) -> Tensor:
        """Batched matrix product with broadcasting batch dims (BatchMatMulV2)."""
        self._check_dtype("BatchMatMulV2", x.dtype, y)
        shape = shapes.batch_matmul(x.shape, y.shape, adj_x, adj_y)
        return self._one("BatchMatMulV2", [x, y], {"T": x.dtype, "adj_x": adj_x, "adj_y": adj_y},
                         x.dtype, shape, name or "MatMul")

    def bias_add(self, value: Tensor, bias: Tensor, data_format: str = "NHWC",
                 name: str | None = None) -> Tensor:
        """value + bias along the channel axis (BiasAdd)."""
        self._check_dtype("BiasAdd", value.dtype, bias)
        if bias.rank is not None and bias.rank != 1:
            raise InvalidArgumentError(f"BiasAdd: bias must be rank 1, got {list(bias.shape)}")
        shape = value.shape
        if shape is not None and bias.shape is not None:
            c = 1 if data_format == "NCHW" and len(shape) >= 3 else len(shape) - 1
            merged = list(shape)
            merged[c] = shapes._merge_dim(shape[c], bias.shape[0], "BiasAdd channels")
            shape = tuple(merged)
        return self._one("BiasAdd", [value, bias], {"T": value.dtype, "data_format": data_format},
                         value.dtype, shape, name or "BiasAdd")

    def dense(self, x: Tensor, kernel: Any, bias: Any = None, activation: str | None = None,
              name: str | None = None) -> Tensor:
        """x @ kernel + bias, then an optional activation (``"relu"``, ``"gelu"``...)."""
        prefix = name or "dense"
        k = self.value(kernel)
        if x.rank is not None and x.rank > 2:
            y = self.tensordot_last(x, k, name=f"{prefix}/Tensordot")
        else:
            y = self.matmul(x, k, name=f"{prefix}/MatMul")
        if bias is not None:
            b = self.value(bias)
            y = self.bias_add(y, b, name=f"{prefix}/BiasAdd")
        return self.activation(y, activation, name=prefix)

    def tensordot_last(self, x: Tensor, w: Tensor, name: str | None = None) -> Tensor:
        """Contract the last axis of x (rank >= 2) with the first of a rank-2 w."""
        if x.shape is None or w.shape is None or len(w.shape) != 2:
            raise InvalidArgumentError("tensordot_last needs a known-rank x and a rank-2 w")
        prefix = name or "Tensordot"
        lead = x.shape[:-1]
        flat = self.reshape(x, [-1, x.shape[-1] if x.shape[-1] is not None else -1],
                            name=f"{prefix}/Reshape")
        y = self.matmul(flat, w, name=f"{prefix}/MatMul")
        if all(d is not None for d in lead[1:]):
            target = [-1, *lead[1:], w.shape[1]]
            return self.reshape(y, target, name=f"{prefix}/Reshape_1")  # type: ignore[list-item]
        raise InvalidArgumentError("tensordot_last needs every dimension but the first known")

    def activation(self, x: Tensor, kind: str | None, name: str | None = None) -> Tensor:
        """Apply a named activation (None/"linear" returns x)."""
        if kind in (None, "linear"):
            return x
        fns = {"relu": self.relu, "relu6": self.relu6, "sigmoid": self.sigmoid,
               "tanh": self.tanh, "softmax": self.softmax, "gelu": self.gelu, "elu": self.elu,
               "selu": self.selu, "softplus": self.softplus}
        if kind not in fns:
            raise InvalidArgumentError(f"unknown activation {kind!r}; known: {sorted(fns)}")
        return fns[kind](x, name=f"{name}/{kind.capitalize()}" if name else None)

    # -- convolution and pooling ---------------------------------------------------------------
    @staticmethod
    def _four(v: int | Sequence[int], data_format: str, what: str) -> list[int]:
        if isinstance(v, (int, np.integer)):
            h = w = int(v)
        elif len(v) == 2:
            h, w = (int(v[0]), int(v[1]))
        elif len(v) == 4:
            return [int(x) for x in v]
        else:
            raise InvalidArgumentError(f"{what} must be an int, 2 or 4 ints, not {v!r}")
        return [1, h, w, 1] if data_format == "NHWC" else [1, 1, h, w]

    @staticmethod
    def _padding(padding: str) -> str:
        p = padding.upper()
        if p not in ("SAME", "VALID"):
            raise InvalidArgumentError(f"padding must be 'SAME' or 'VALID', not {padding!r}")
        return p

    def conv2d(self, x: Tensor, filters: Any, strides: int | Sequence[int] = 1,
               padding: str = "VALID", dilations: int | Sequence[int] = 1,
               data_format: str = "NHWC", name: str | None = None) -> Tensor:
        """2-D convolution with an HWIO filter (Conv2D)."""
        f = self.value(filters)
        self._check_dtype("Conv2D", x.dtype, f)
        s = self._four(strides, data_format, "strides")
        d = self._four(dilations, data_format, "dilations")
        p = self._padding(padding)
        shape = shapes.conv2d(x.shape, f.shape, s, d, p, data_format)
        return self._one("Conv2D", [x, f], {"T": x.dtype, "strides": s, "dilations": d,
                                            "padding": p, "data_format": data_format},
                         x.dtype, shape, name or "Conv2D")

    def depthwise_conv2d(self, x: Tensor, filters: Any, strides: int | Sequence[int] = 1,
                         padding: str = "VALID", dilations: int | Sequence[int] = 1,
                         data_format: str = "NHWC", name: str | None = None) -> Tensor:
        """Depthwise 2-D convolution, filter [h, w, in, multiplier] (DepthwiseConv2dNative)."""
        f = self.value(filters)
        self._check_dtype("DepthwiseConv2dNative", x.dtype, f)
        s = self._four(strides, data_format, "strides")
        d = self._four(dilations, data_format, "dilations")
        p = self._padding(padding)
        shape = shapes.conv2d(x.shape, f.shape, s, d, p, data_format, depthwise=True)
        return self._one("DepthwiseConv2dNative", [x, f],
                         {"T": x.dtype, "strides": s, "dilations": d, "padding": p,
                          "data_format": data_format}, x.dtype, shape, name or "depthwise")

    def _pool(self, op_type: str, x: Tensor, ksize: Any, strides: Any, padding: str,
              data_format: str, name: str | None) -> Tensor:
        k = self._four(ksize, data_format, "ksize")
        s = self._four(strides if strides is not None else ksize, data_format, "strides")
        p = self._padding(padding)
        shape = shapes.pool2d(x.shape, k, s, p, data_format)
        return self._one(op_type, [x], {"T": x.dtype, "ksize": k, "strides": s, "padding": p,
                                        "data_format": data_format}, x.dtype, shape,
                         name or op_type)

    def max_pool(self, x: Tensor, ksize: int | Sequence[int], strides: Any = None,
                 padding: str = "VALID", data_format: str = "NHWC",
                 name: str | None = None) -> Tensor:
        """2-D max pooling (MaxPool); strides default to ksize."""
        return self._pool("MaxPool", x, ksize, strides, padding, data_format, name)

    def avg_pool(self, x: Tensor, ksize: int | Sequence[int], strides: Any = None,
                 padding: str = "VALID", data_format: str = "NHWC",
                 name: str | None = None) -> Tensor:
        """2-D average pooling (AvgPool); strides default to ksize."""
        return self._pool("AvgPool", x, ksize, strides, padding, data_format, name)

    def batch_norm(self, x: Tensor, scale: Any, offset: Any, mean: Any, variance: Any,
                   epsilon: float = 1e-3, data_format: str = "NHWC",
                   name: str | None = None) -> Tensor:
        """Inference-mode batch normalization (FusedBatchNormV3, is_training=False)."""
        args = [self.value(v) for v in (scale, offset, mean, variance)]
        u = args[0].dtype
        c = None if x.shape is None else x.shape[_spatial_c(data_format, len(x.shape))]
        outs = self.op("FusedBatchNormV3", [x, *args],
                       {"T": x.dtype, "U": u, "epsilon": float(epsilon),
                        "data_format": data_format, "is_training": False},
                       out_types=[x.dtype, u, u, u, u, u],
                       out_shapes=[x.shape, (c,), (c,), (c,), (c,), None],
                       name=name or "FusedBatchNormV3")
        return outs[0]

    # -- shapes and layout ----------------------------------------------------------------------
    def reshape(self, x: Tensor, shape: Sequence[int], name: str | None = None) -> Tensor:
        """Reshape to a constant ``shape`` (one -1 allowed)."""
        target = [int(d) for d in shape]
        out = shapes.reshape(x.shape, target)
        return self._one("Reshape", [x, self._ints(target, f"{name or 'Reshape'}/shape")],
                         {"T": x.dtype}, x.dtype, out, name or "Reshape")

    def transpose(self, x: Tensor, perm: Sequence[int], name: str | None = None) -> Tensor:
        """Permute dimensions (Transpose)."""
        p = [int(i) for i in perm]
        out = shapes.transpose(x.shape, p)
        return self._one("Transpose", [x, self._ints(p, f"{name or 'transpose'}/perm")],
                         {"T": x.dtype}, x.dtype, out, name or "transpose")

    def concat(self, values: Sequence[Tensor], axis: int, name: str | None = None) -> Tensor:
        """Join tensors along ``axis`` (ConcatV2; a single tensor passes through Identity)."""
        if not values:
            raise InvalidArgumentError("concat needs at least one tensor")
        self._check_dtype("ConcatV2", values[0].dtype, *values)
        out = shapes.concat([v.shape for v in values], axis)
        if len(values) == 1:  # ConcatV2 needs N >= 2; tf.concat([x]) is an Identity too
            return self.identity(values[0], name=name or "concat")
        ax = self.const(np.int32(axis), name=f"{name or 'concat'}/axis")
        return self._one("ConcatV2", [list(values), ax],
                         {"T": values[0].dtype, "N": len(values)}, values[0].dtype, out,
                         name or "concat")

    def stack(self, values: Sequence[Tensor], axis: int = 0, name: str | None = None) -> Tensor:
        """Stack equal-shaped tensors along a new ``axis`` (Pack)."""
        if not values:
            raise InvalidArgumentError("stack needs at least one tensor")
        self._check_dtype("Pack", values[0].dtype, *values)
        base: Shape = values[0].shape
        for v in values[1:]:
            base = _merge_shapes(base, v.shape, "Pack")
        out: Shape = None
        if base is not None:
            (ax,) = shapes._axes([axis], len(base) + 1, "Pack")
            dims = list(base)
            dims.insert(ax, len(values))
            out = tuple(dims)
        return self._one("Pack", [list(values)],
                         {"T": values[0].dtype, "N": len(values), "axis": int(axis)},
                         values[0].dtype, out,
                         name or "stack")

    def squeeze(self, x: Tensor, axis: Sequence[int] = (), name: str | None = None) -> Tensor:
        """Remove size-1 dimensions (Squeeze)."""
        out = shapes.squeeze(x.shape, list(axis))
        return self._one("Squeeze", [x], {"T": x.dtype, "squeeze_dims": [int(a) for a in axis]},
                         x.dtype, out, name or "Squeeze")

    def expand_dims(self, x: Tensor, axis: int, name: str | None = None) -> Tensor:
        """Insert a size-1 dimension (ExpandDims)."""
        out = shapes.expand_dims(x.shape, axis)
        ax = self.const(np.int32(axis), name=f"{name or 'ExpandDims'}/dim")
        return self._one("ExpandDims", [x, ax], {"T": x.dtype}, x.dtype, out,
                         name or "ExpandDims")

    def _reduce(self, op_type: str, x: Tensor, axis: int | Sequence[int] | None, keepdims: bool,
                name: str | None) -> Tensor:
        if axis is None:
            if x.rank is None:
                raise InvalidArgumentError(f"{op_type} over all axes needs a known rank")
            axes = list(range(x.rank))
        else:
            axes = [int(axis)] if isinstance(axis, (int, np.integer)) else [int(a) for a in axis]
        out = shapes.reduce(x.shape, axes, keepdims)
        scalar = isinstance(axis, (int, np.integer))
        idx = self.const(np.int32(axes[0]) if scalar else np.asarray(axes, dtype=np.int32),
                         name=f"{name or op_type}/reduction_indices")
        return self._one(op_type, [x, idx], {"T": x.dtype, "keep_dims": bool(keepdims)}, x.dtype,
                         out, name or op_type)

    def mean(self, x: Tensor, axis: int | Sequence[int] | None = None, keepdims: bool = False,
             name: str | None = None) -> Tensor:
        """Mean over ``axis`` (Mean)."""
        return self._reduce("Mean", x, axis, keepdims, name)

    def reduce_sum(self, x: Tensor, axis: int | Sequence[int] | None = None,
                   keepdims: bool = False, name: str | None = None) -> Tensor:
        """Sum over ``axis`` (Sum)."""
        return self._reduce("Sum", x, axis, keepdims, name)

    def reduce_max(self, x: Tensor, axis: int | Sequence[int] | None = None,
                   keepdims: bool = False, name: str | None = None) -> Tensor:
        """Max over ``axis`` (Max)."""
        return self._reduce("Max", x, axis, keepdims, name)

    def argmax(self, x: Tensor, axis: int = -1, output_type: DTypeLike = "int64",
               name: str | None = None) -> Tensor:
        """Index of the largest value along ``axis`` (ArgMax)."""
        dt = as_dtype(output_type)
        out = shapes.reduce(x.shape, [axis], False)
        ax = self.const(np.int32(axis), name=f"{name or 'ArgMax'}/dimension")
        return self._one("ArgMax", [x, ax], {"T": x.dtype, "output_type": dt}, dt, out,
                         name or "ArgMax")

    def gather(self, params: Any, indices: Tensor, axis: int = 0,
               name: str | None = None) -> Tensor:
        """Take slices of ``params`` at ``indices`` along ``axis`` (GatherV2), e.g. embeddings."""
        p = self.value(params)
        out = shapes.gather(p.shape, indices.shape, axis)
        ax = self.const(np.int32(axis), name=f"{name or 'GatherV2'}/axis")
        return self._one("GatherV2", [p, indices, ax],
                         {"Tparams": p.dtype, "Tindices": indices.dtype,
                          "Taxis": DataType.DT_INT32}, p.dtype, out, name or "GatherV2")

    def pad(self, x: Tensor, paddings: Sequence[Sequence[int]], name: str | None = None) -> Tensor:
        """Zero-pad by constant ``paddings`` (Pad)."""
        pads = np.asarray(paddings, dtype=np.int32)
        out = shapes.pad(x.shape, pads.tolist())
        return self._one("Pad", [x, self.const(pads, name=f"{name or 'Pad'}/paddings")],
                         {"T": x.dtype}, x.dtype, out, name or "Pad")

    def layer_norm(self, x: Tensor, gamma: Any = None, beta: Any = None, epsilon: float = 1e-5,
                   axis: int = -1, name: str | None = None) -> Tensor:
        """Layer normalization from primitives: (x - mean) * rsqrt(var + eps) * gamma + beta."""
        prefix = name or "layer_norm"
        mu = self.mean(x, axis, keepdims=True, name=f"{prefix}/moments/mean")
        var = self.mean(self.squared_difference(x, mu, name=f"{prefix}/moments/SquaredDifference"),
                        axis, keepdims=True, name=f"{prefix}/moments/variance")
        inv = self.rsqrt(self.add(var, self.const(epsilon, x.dtype, name=f"{prefix}/add/y"),
                                  name=f"{prefix}/add"), name=f"{prefix}/Rsqrt")
        if gamma is not None:
            g = self.value(gamma)
            inv = self.mul(inv, g, name=f"{prefix}/mul")
        y = self.mul(self.sub(x, mu, name=f"{prefix}/sub"), inv, name=f"{prefix}/mul_1")
        if beta is not None:
            b = self.value(beta)
            y = self.add(y, b, name=f"{prefix}/add_1")
        return y

    # -- calls ---------------------------------------------------------------------------------
    def call(self, function: str | FunctionBuilder, args: Sequence[Tensor],
             out_types: Sequence[int] | None = None, out_shapes: Sequence[Shape] | None = None,
             name: str | None = None) -> list[Tensor]:
        """Call a library function (StatefulPartitionedCall); outputs typed from the builder."""
        if isinstance(function, FunctionBuilder):
            fname = function.name
            if out_types is None:
                out_types = [t.dtype for t in function.output_tensors]
                out_shapes = [t.shape for t in function.output_tensors]
        else:
            fname = function
        if out_types is None:
            raise InvalidArgumentError(f"call of {fname}: out_types is required")
        read_only = [i for i, a in enumerate(args) if a.dtype == DataType.DT_RESOURCE]
        attrs = {
            "f": _Func(fname),
            "Tin": [_DType(a.dtype) for a in args],
            "Tout": [_DType(t) for t in out_types],
            "config_proto": _CONFIG_PROTO,
            "_read_only_resource_inputs": read_only,
            "_collective_manager_ids": [],
        }
        if out_shapes is not None:
            attrs["_output_shapes"] = [_ShapeAttr(s) for s in out_shapes]
        return self.op("StatefulPartitionedCall", [list(args)], attrs, out_types=out_types,
                       out_shapes=out_shapes or (), name=name or "StatefulPartitionedCall")


# The serialized ConfigProto TensorFlow puts on every call node (CPU and GPU device
# counts, allow_soft_placement...), observed in SavedModels written by TF 2.21.
_CONFIG_PROTO = (b"\n\x07\n\x03CPU\x10\x01\n\x07\n\x03GPU\x10\x002\x02J\x008\x01"
                 b"\x82\x01\x00\x92\x01\x02J\x00")


def _merge_shapes(a: Shape, b: Shape, what: str) -> Shape:
    """The shape two must-be-equal shapes share (Pack inputs): no broadcasting."""
    if a is None or b is None:
        return b if a is None else a
    if len(a) != len(b):
        raise InvalidArgumentError(f"{what}: shapes {list(a)} and {list(b)} differ in rank")
    return tuple(shapes._merge_dim(x, y, what) for x, y in zip(a, b))


def _spatial_c(data_format: str, rank: int) -> int:
    return 1 if data_format.startswith("NC") else rank - 1


def arg_name(name: str) -> str:
    """A valid FunctionDef argument name for ``name`` (lower case, [a-z0-9_], letter first)."""
    s = _ARG_NAME.sub("_", name.lower())
    if not s or not s[0].isalpha():
        s = "arg_" + s
    return s


class FunctionBuilder(_Builder):
    """Build one FunctionDef: typed arguments, captured variables, nodes, named outputs."""

    def __init__(self, name: str) -> None:
        super().__init__()
        self.name = name
        self.args: list[Tensor] = []
        self.arg_user_names: list[str] = []
        self.captures: list[Any] = []  # captured objects, in argument order after args
        self._capture_tensors: dict[int, Tensor] = {}
        self.output_names: list[str] = []
        self.output_tensors: list[Tensor] = []
        self.output_kind = "dict"  # Python structure of the results: "tensor", "list" or "dict"

    def _ref(self, node: str, op: str, out_arg: str, index: int, flat: int) -> str:
        return f"{node}:{out_arg}:{index}"

    def arg(self, name: str, dtype: DTypeLike, shape: Any = None) -> Tensor:
        """Add an input argument (before any capture)."""
        if self.captures:
            raise InvalidArgumentError(f"{self.name}: add arguments before capturing variables")
        dt = as_dtype(dtype)
        aname = self.unique_name(arg_name(name))
        t = Tensor(self, aname, dt, _shape_of(shape), aname)
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
        t = Tensor(self, aname, dt, shape, aname, handle)
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
        for key, t in items:
            if not isinstance(t, Tensor) or t.builder is not self:
                raise InvalidArgumentError(f"{self.name}: output {key!r} is not a Tensor of it")
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
        for n in body:
            fdef.node_def.add().CopyFrom(n)
        for i, t in enumerate(rets):
            ret_name = "identity" if i == 0 else f"identity_{i}"
            sig.output_arg.add(name=ret_name, type=t.dtype)
            fdef.ret[ret_name] = t.ref
        for n in stateful:
            fdef.control_ret[n] = n
            sig.control_output.append(n)
        sig.is_stateful = bool(stateful)
        return fdef


class GraphBuilder(_Builder):
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
        return self._one("Placeholder", [], {"dtype": dt, "shape": _ShapeAttr(shp),
                                             "_output_shapes": [_ShapeAttr(shp)]},
                         dt, shp, name)

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
