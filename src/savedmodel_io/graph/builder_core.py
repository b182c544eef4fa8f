"""The graph builder's core: attrs, symbolic tensors, nodes with their OpDef attrs, variables, calls.

:class:`BuilderCore` adds nodes (:meth:`BuilderCore.op` fills attrs from TensorFlow's
OpDefs, :mod:`savedmodel_io.graph.opdefs`), constants, variable reads and writes and
function calls; :mod:`savedmodel_io.graph.layers` builds the op and layer vocabulary on
it, and :mod:`savedmodel_io.graph.builder` the two concrete builders.
"""

from __future__ import annotations

import functools
import inspect
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Union

import numpy as np

from savedmodel_io import dtypes, tensors
from savedmodel_io.errors import InvalidArgumentError
from savedmodel_io.graph import opdefs
from savedmodel_io.proto import AttrValue, DataType, NameAttrList, NodeDef, TensorProto
from savedmodel_io.tensors import Shape

if TYPE_CHECKING:
    from savedmodel_io.graph.builder import FunctionBuilder

__all__ = ["BuilderCore", "DTypeLike", "Operand", "Tensor", "as_dtype", "make_attr"]

DTypeLike = Union[int, str, np.dtype, type]  # noqa: UP007 (a runtime alias: py3.10 needs Union)

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
        av.type = DataType.ValueType(value.value)
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

    __slots__ = ("builder", "dtype", "handle", "label", "node", "ref", "shape")

    def __init__(self, builder: BuilderCore, ref: str, dtype: int, shape: Shape, node: str,
                 handle: tuple[int, Shape] | None = None, label: str | None = None) -> None:
        self.builder = builder
        self.ref = ref
        self.dtype = dtype
        self.shape = shape
        self.node = node
        # For DT_RESOURCE tensors: (dtype, shape) of the variable behind the handle.
        self.handle = handle
        # What the user calls it (input 'x', variable 'l1/kernel'), for error messages.
        self.label = label

    def describe(self) -> str:
        """The tensor as error messages name it: the user's input or variable, else its node."""
        return self.label or f"the output of {self.node}"

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
        return self.builder._operator("add", self, self._other(other))

    def __radd__(self, other: Any) -> Tensor:
        return self.builder._operator("add", self._other(other), self)

    def __sub__(self, other: Any) -> Tensor:
        return self.builder._operator("sub", self, self._other(other))

    def __rsub__(self, other: Any) -> Tensor:
        return self.builder._operator("sub", self._other(other), self)

    def __mul__(self, other: Any) -> Tensor:
        return self.builder._operator("mul", self, self._other(other))

    def __rmul__(self, other: Any) -> Tensor:
        return self.builder._operator("mul", self._other(other), self)

    def __truediv__(self, other: Any) -> Tensor:
        return self.builder._operator("div", self, self._other(other))

    def __rtruediv__(self, other: Any) -> Tensor:
        return self.builder._operator("div", self._other(other), self)

    def __matmul__(self, other: Any) -> Tensor:
        return self.builder._operator("matmul", self, self._other(other))

    def __neg__(self) -> Tensor:
        return self.builder._operator("neg", self)


Operand = Union[Tensor, Any]  # noqa: UP007

# Parameters annotated with these take tensors (True: a sequence of them); the others
# (shapes, attrs, names) do not.
_TENSOR_PARAMS = {"Tensor": False, "Operand": False, "Sequence[Tensor]": True}


def _is_variable_like(x: Any) -> bool:
    """A writer Variable or Asset (any object with a name and a dtype), not an array."""
    return (hasattr(x, "name") and hasattr(x, "dtype")
            and not isinstance(x, (Tensor, np.ndarray, np.generic, str, bytes)))


def _accept_variables(cls: type) -> None:
    """Route every tensor parameter of ``cls``'s own public methods through ``_operand``."""
    for name, fn in list(vars(cls).items()):
        if name.startswith("_") or name == "call" or not inspect.isfunction(fn):
            continue
        sig = inspect.signature(fn)
        params = {p: _TENSOR_PARAMS[str(a.annotation)] for p, a in sig.parameters.items()
                  if str(a.annotation) in _TENSOR_PARAMS}
        if params:
            setattr(cls, name, _coercing(fn, sig, params))


def _coercing(fn: Callable[..., Any], sig: inspect.Signature,
              params: dict[str, bool]) -> Callable[..., Any]:
    @functools.wraps(fn)
    def wrapper(self: BuilderCore, *args: Any, **kwargs: Any) -> Any:
        bound = sig.bind(self, *args, **kwargs)
        for p, many in params.items():
            if p in bound.arguments:
                v, where = bound.arguments[p], f"{fn.__name__}({p})"
                bound.arguments[p] = ([self._operand(x, where) for x in v] if many
                                      else self._operand(v, where))
        return fn(*bound.args, **bound.kwargs)

    return wrapper


class BuilderCore:
    """What both builders are made of: unique node names, nodes with OpDef attrs, constants,
    variables and function calls. The op vocabulary on top is :class:`~savedmodel_io.graph.layers.Layers`.

    Every public method's tensor parameters (annotated ``Tensor``, ``Operand`` or
    ``Sequence[Tensor]``), here and in subclasses, go through one coercion point,
    :meth:`_operand`: a variable or asset object is read where a tensor goes.
    """

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        _accept_variables(cls)

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

    def _operator(self, method: str, *operands: Tensor) -> Tensor:
        """What a Tensor operator (``+ - * / @``, unary ``-``) builds: the vocabulary's
        ``add``, ``sub``, ``mul``, ``div``, ``matmul`` or ``neg``, which Layers supplies."""
        raise InvalidArgumentError("arithmetic on tensors needs a FunctionBuilder or GraphBuilder")

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
        t = self._one("ReadVariableOp", [h], {"dtype": dt}, dt, shp,
                      name or f"{h.node}/Read/ReadVariableOp")
        t.label = h.label
        return t

    def value(self, x: Any) -> Tensor:
        """x itself for a value tensor; the variable's value for a handle or variable object
        (an asset object gives its path tensor)."""
        t = x if isinstance(x, Tensor) else self.capture(x)
        return self.read(t) if t.dtype == DataType.DT_RESOURCE else t

    def describe(self) -> str:
        """This builder as error messages name it."""
        return type(self).__name__

    def _operand(self, x: Any, where: str) -> Any:
        """The one coercion point for tensor arguments of every op method: a variable (or
        asset) object is read (captured), a tensor of another builder is refused by name,
        anything else (constants) is left to the op."""
        if isinstance(x, Tensor):
            if x.builder is not self:
                raise InvalidArgumentError(
                    f"{where}: {x.describe()} ({x.ref}) belongs to {x.builder.describe()}, "
                    f"not to {self.describe()}")
            return x
        if _is_variable_like(x):
            return self.value(x)
        return x

    def assign(self, handle: Any, value: Operand, name: str | None = None) -> str:
        """AssignVariableOp (returns the node name, for control dependencies)."""
        h = self._handle(handle)
        assert h.handle is not None
        v = value if isinstance(value, Tensor) else self.const(value, h.handle[0])
        if v.dtype != h.handle[0]:
            raise InvalidArgumentError(
                f"AssignVariableOp: the new value ({v.describe()}) is "
                f"{dtypes.python_name(v.dtype)}, {h.describe()} is {dtypes.python_name(h.handle[0])}")
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

    @staticmethod
    def _same_dtype(op_type: str, first: Tensor, *others: Tensor) -> None:
        """Refuse operands of differing dtypes, naming both (the user's inputs and variables)."""
        for t in others:
            if t.dtype != first.dtype:
                raise InvalidArgumentError(
                    f"{op_type}: operands differ in dtype: {first.describe()} is "
                    f"{dtypes.python_name(first.dtype)}, {t.describe()} is "
                    f"{dtypes.python_name(t.dtype)} (cast one of them)"
                )

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

    # -- calls ---------------------------------------------------------------------------------
    def call(self, function: str | FunctionBuilder, args: Sequence[Tensor],
             out_types: Sequence[int] | None = None, out_shapes: Sequence[Shape] | None = None,
             name: str | None = None) -> list[Tensor]:
        """Call a library function (StatefulPartitionedCall); outputs typed from the builder."""
        if isinstance(function, str):
            fname = function
        else:  # a FunctionBuilder
            fname = function.name
            if out_types is None:
                out_types = [t.dtype for t in function.output_tensors]
                out_shapes = [t.shape for t in function.output_tensors]
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


_accept_variables(BuilderCore)
