"""Build ONNX graphs node by node: values with known types, constants, per-node shape inference.

A :class:`Val` is one value of the graph being built: an ONNX tensor (or sequence)
name with its element type and (partial) shape, or a constant the exporter still
holds as a numpy array (it becomes an initializer only when an ONNX node uses it).
Every node added through :meth:`Graph.op` is shape-inferred at once with ONNX's own
per-node inference (``onnx.shape_inference.infer_node_outputs``), so converters
downstream know ranks and dtypes. A tensor may also carry a pending layout
permutation (``perm``): its ONNX value holds ``transpose(logical, perm)``, which lets
NHWC graphs run as NCHW convolutions without a Transpose around each one.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import onnx
from onnx import helper, numpy_helper

from savedmodel_io.onnx import _fold, _kernels
from savedmodel_io.onnx._types import OBJECT, Shape, dims_of, onnx_type, sequence_type, tensor_type

__all__ = ["Val", "Graph", "Model", "ListInfo", "ExportError", "invert"]


class ExportError(Exception):
    """A node cannot be expressed in ONNX (the exporter reports it with op, node and function)."""


@dataclass(frozen=True)
class ListInfo:
    """What a TensorList value holds: element dtype and logical element shape."""

    dtype: np.dtype
    shape: Shape  # element shape; None: unknown rank
    reserved: Any = None  # a fresh TensorListReserve's element count (a Val), until it is written


class Val:
    """One value of the graph: an ONNX name, or a constant not written yet."""

    __slots__ = ("name", "dtype", "shape", "const", "perm", "kind", "info", "sym", "origin", "_plain", "_init",
                 "_wide")

    def __init__(self, name: str | None, dtype: np.dtype | None, shape: Shape, *,
                 const: Any = None, perm: tuple[int, ...] | None = None, kind: str = "tensor",
                 info: ListInfo | None = None) -> None:
        self.name = name
        self.dtype = dtype
        self.shape = shape  # the ONNX value's shape (physical when perm is set)
        self.const = const
        self.perm = perm
        # "tensor", "sequence" (a TensorList as an ONNX sequence), "handle", "complex" (a complex
        # tensor as a real one with a trailing (real, imaginary) axis: onnx/ops/complex.py)
        self.kind = kind
        self.info = info
        self.sym: np.ndarray | None = None  # partly known value of a small int tensor (see _sym)
        self.origin: tuple[Any, ...] | None = None  # how a converter made it, for peephole rewrites
        self._plain: list[tuple[Graph, Val]] | None = None
        self._init: str | None = None
        self._wide: list[tuple[Graph, Val]] | None = None  # a bfloat16 value's float32 form (Graph.widened)

    @property
    def rank(self) -> int | None:
        return None if self.shape is None else len(self.shape)

    @property
    def logical_shape(self) -> Shape:
        """The shape TensorFlow sees (the ONNX shape with ``perm`` undone)."""
        if self.perm is None or self.shape is None:
            return self.shape
        out: list[Any] = [None] * len(self.shape)
        for i, p in enumerate(self.perm):
            out[p] = self.shape[i]
        return tuple(out)

    @property
    def is_const(self) -> bool:
        return self.const is not None and isinstance(self.const, np.ndarray)

    def __repr__(self) -> str:
        what = "const" if self.const is not None else self.name
        return f"Val({what}, {self.dtype}, {self.shape}{', perm=' + str(self.perm) if self.perm else ''})"


def const_val(value: Any) -> Val:
    """A constant value (numpy array, or a Python object such as a resource handle)."""
    if isinstance(value, (np.ndarray, np.generic)):
        arr = np.asarray(value)
        return Val(None, arr.dtype, tuple(arr.shape), const=arr)
    return Val(None, None, None, const=value, kind="handle")


def invert(perm: Sequence[int]) -> tuple[int, ...]:
    """The inverse of a permutation."""
    out = [0] * len(perm)
    for i, p in enumerate(perm):
        out[p] = i
    return tuple(out)


class Model:
    """State shared by a model's graphs: opsets, unique names, initializers."""

    def __init__(self, opset: int, ml_opset: int = 3) -> None:
        self.opset = opset
        self.ml_opset = ml_opset
        self.used_ml = False
        self._names: set[str] = set()
        self._counter = itertools.count()
        self.initializers: dict[str, np.ndarray] = {}
        # Every value's ONNX shape and dtype as built (the fusion passes read them).
        self.shapes: dict[str, Shape] = {}
        self.dtypes: dict[str, np.dtype] = {}
        self._by_id: dict[int, tuple[np.ndarray, str]] = {}
        self._small: dict[tuple[str, tuple[int, ...], bytes], str] = {}
        self._schemas: dict[tuple[str, str], Any] = {}

    def fresh(self, hint: str) -> str:
        """A name no other value or node has, close to ``hint``."""
        name = hint or "v"
        while name in self._names:
            name = f"{hint}__{next(self._counter)}"
        self._names.add(name)
        return name

    def initializer(self, arr: np.ndarray, hint: str) -> str:
        """The initializer name holding ``arr`` (one per array object; small equal arrays shared)."""
        hit = self._by_id.get(id(arr))
        if hit is not None and hit[0] is arr:
            return hit[1]
        key = None
        if arr.size <= 64 and arr.dtype != OBJECT:
            key = (arr.dtype.str, arr.shape, arr.tobytes())
            name = self._small.get(key)
            if name is not None:
                return name
        name = self.fresh(hint)
        self.initializers[name] = arr
        self._by_id[id(arr)] = (arr, name)
        if key is not None:
            self._small[key] = name
        return name

    def schema(self, op_type: str, domain: str) -> Any:
        key = (op_type, domain)
        s = self._schemas.get(key)
        if s is None:
            version = self.ml_opset if domain == "ai.onnx.ml" else self.opset
            try:
                s = onnx.defs.get_schema(op_type, version, domain)
            except onnx.defs.SchemaError:
                raise ExportError(f"ONNX opset {version} has no {op_type}") from None
            self._schemas[key] = s
        return s

    def opset_imports(self) -> list[onnx.OperatorSetIdProto]:
        out = [helper.make_opsetid("", self.opset)]
        if self.used_ml:
            out.append(helper.make_opsetid("ai.onnx.ml", self.ml_opset))
        return out


class Graph:
    """One ONNX graph being built (the main graph, or an If/Loop body)."""

    def __init__(self, model: Model, parent: Graph | None = None) -> None:
        self.model = model
        self.parent = parent
        self.nodes: list[onnx.NodeProto] = []
        self.hint = "n"  # name stem for what is added next (the TF node being converted)
        self.doc = ""  # doc_string of what is added next (the saved nodes a fused node stands for)

    # -- values --------------------------------------------------------------------------

    def const(self, value: Any, dtype: Any = None) -> Val:
        """A constant Val (not written until a node uses it)."""
        arr = np.asarray(value, dtype=dtype)
        return const_val(arr)

    def name_of(self, v: Val) -> str:
        """The ONNX name of ``v`` (writes a constant as an initializer on first use)."""
        if v.name is not None:
            return v.name
        if not v.is_const:
            raise ExportError(f"a {type(v.const).__name__} value cannot be an ONNX tensor")
        if v._init is None:
            arr = v.const
            if onnx_type(arr.dtype) is None:
                raise ExportError(f"ONNX has no {arr.dtype} tensors")
            v._init = self.model.initializer(arr, f"{self.hint}/const")
        return v._init

    def type_of(self, v: Val) -> onnx.TypeProto:
        if v.kind == "sequence":
            assert v.info is not None
            return sequence_type(_kernels.storage(v.info.dtype), v.shape)  # bfloat16 lists hold float32
        if v.kind == "complex":
            assert v.dtype is not None
            return tensor_type(np.dtype(np.float32 if v.dtype == np.complex64 else np.float64), v.shape)
        if v.dtype is None or onnx_type(v.dtype) is None:
            raise ExportError(f"ONNX has no {v.dtype} tensors")
        return tensor_type(v.dtype, v.shape)

    def value(self, name: str, t: onnx.TypeProto, *, perm: tuple[int, ...] | None = None) -> Val:
        """A Val for an ONNX name of TypeProto ``t``."""
        from savedmodel_io.onnx._types import np_type

        if t.HasField("sequence_type"):
            et = t.sequence_type.elem_type
            dt = np_type(et.tensor_type.elem_type)
            return Val(name, dt, None, kind="sequence", info=ListInfo(dt, dims_of(et)))
        dt = np_type(t.tensor_type.elem_type)
        v = Val(name, dt, dims_of(t), perm=perm)
        self.model.shapes[name] = v.shape
        self.model.dtypes[name] = dt
        return v

    # -- nodes -----------------------------------------------------------------------------

    def op(self, op_type: str, inputs: Sequence[Val | None], *, outputs: int = 1, domain: str = "",
           types: Sequence[onnx.TypeProto] | None = None, fold: bool = True, **attrs: Any) -> list[Val]:
        """Add one node; returns its outputs with inferred (or given) types.

        Constant inputs to a small set of shape-moving ops are folded into a constant
        instead (see :mod:`._fold`), so converters may always emit ONNX ops.
        """
        if fold and types is None and all(v is None or v.is_const for v in inputs):
            got = _fold.fold(op_type, [None if v is None else v.const for v in inputs], attrs)
            if got is not None:
                return [const_val(a) for a in got]
        if not domain and _kernels.BF16 is not None and not _kernels.has_bf16_kernel(op_type, self.model.opset, attrs) \
                and any(v is not None and v.kind == "tensor" and v.dtype == _kernels.BF16 for v in inputs):
            return self._in_float32(op_type, inputs, outputs, types, fold, attrs)
        if domain == "ai.onnx.ml":
            self.model.used_ml = True
        names = ["" if v is None else self.name_of(v) for v in inputs]
        outs = [self.model.fresh(f"{self.hint}/{op_type}" + (f":{i}" if i else ""))
                for i in range(outputs)]
        node = helper.make_node(op_type, names, outs, name=self.model.fresh(f"{self.hint}/{op_type}"),
                                domain=domain or None,
                                **{k: v for k, v in attrs.items() if v is not None})
        if self.doc:
            node.doc_string = self.doc
        if types is None:
            types = self._infer(node, inputs, domain)
        self.nodes.append(node)
        return [self.value(n, t) for n, t in zip(outs, types)]

    def _in_float32(self, op_type: str, inputs: Sequence[Val | None], outputs: int,
                    types: Sequence[onnx.TypeProto] | None, fold: bool, attrs: dict[str, Any]) -> list[Val]:
        """An op onnxruntime has no bfloat16 kernel for (``_kernels.BF16_KERNELS``; ONNX's Conv, MatMul...
        take no bfloat16 at all) on bfloat16 inputs: computed in float32 (exact widening), and each
        float32 result rounded to bfloat16 once, as TensorFlow's Eigen bfloat16 arithmetic rounds
        each operation's result. Outputs whose type an attr sets (``to``, ``dtype``) are left alone."""
        bf16, f32 = _kernels.BF16, np.dtype(np.float32)
        wide_in = [self.widened(v) if v is not None and v.kind == "tensor" and v.dtype == bf16 else v
                   for v in inputs]
        if types is not None:
            types = [_widen_type(t) for t in types]
        outs = self.op(op_type, wide_in, outputs=outputs, types=types, fold=fold, **attrs)
        if "to" in attrs or "dtype" in attrs:
            return outs
        back = []
        for o in outs:
            if o.kind == "tensor" and o.dtype == f32:
                narrow = self.op1("Cast", o, to=onnx.TensorProto.BFLOAT16)
                if op_type in _kernels.EXACT:  # the float32 result is that bfloat16 value exactly
                    narrow._wide = [(self, o)]
                o = narrow
            back.append(o)
        return back

    def widened(self, v: Val) -> Val:
        """A bfloat16 value as float32 (exact): one Cast per value and graph, or the float32 value it
        was exactly rounded from."""
        for graph, out in v._wide or []:
            if self.sees(graph):
                return out
        if v.is_const:
            return const_val(v.const.astype(np.float32))
        bare = Val(v.name, v.dtype, v.shape)
        out = self.op1("Cast", bare, to=onnx.TensorProto.FLOAT)
        v._wide = (v._wide or []) + [(self, out)]
        return out

    def op1(self, op_type: str, *inputs: Val | None, **attrs: Any) -> Val:
        """:meth:`op` for a single-output node."""
        return self.op(op_type, inputs, **attrs)[0]

    def _infer(self, node: onnx.NodeProto, inputs: Sequence[Val | None], domain: str) -> list[onnx.TypeProto]:
        schema = self.model.schema(node.op_type, domain)
        types: dict[str, onnx.TypeProto] = {}
        data: dict[str, onnx.TensorProto] = {}
        for v, name in zip(inputs, node.input):
            if v is None:
                continue
            types[name] = self.type_of(v)
            if v.is_const and v.const.size <= 64 and v.const.dtype.kind in "iub":
                data[name] = numpy_helper.from_array(v.const, name)
        try:
            got = onnx.shape_inference.infer_node_outputs(
                schema, node, types, data or None, opset_imports=self.model.opset_imports())
        except (onnx.shape_inference.InferenceError, onnx.checker.ValidationError, RuntimeError) as exc:
            raise ExportError(f"ONNX {node.op_type}: {str(exc).strip().splitlines()[-1]}") from None
        out = []
        for name in node.output:
            t = got.get(name)
            if t is None:
                raise ExportError(f"ONNX could not infer the type of {node.op_type}'s output")
            out.append(t)
        return out

    def refine(self, v: Val, shape: Shape) -> None:
        """Record a shape known from elsewhere (partly known shape values) where inference found less."""
        if v.name is None or shape is None:
            return
        if v.shape is None or (len(v.shape) == len(shape) and any(d is None for d in v.shape)):
            merged = shape if v.shape is None else tuple(a if a is not None else b for a, b in zip(v.shape, shape))
            v.shape = merged
            self.model.shapes[v.name] = merged

    def plain(self, v: Val) -> Val:
        """``v`` in its logical layout (a Transpose when it carries a pending permutation)."""
        if v.perm is None:
            return v
        # One Transpose per value and graph (a value made in an If/Loop body is not visible outside).
        cached = v._plain or []
        for graph, out in cached:
            if self.sees(graph):
                return out
        bare = Val(v.name, v.dtype, v.shape)  # the physical value, for the Transpose's input type
        out = self.op1("Transpose", bare, perm=list(invert(v.perm)))
        v._plain = cached + [(self, out)]
        return out

    def sees(self, other: Graph) -> bool:
        """Whether values made in ``other`` are visible here (it is this graph or an enclosing one)."""
        g: Graph | None = self
        while g is not None:
            if g is other:
                return True
            g = g.parent
        return False

    def with_perm(self, v: Val, perm: tuple[int, ...]) -> Val:
        """``v`` laid out as ``transpose(logical, perm)`` (Val.perm == perm, or None if identity)."""
        if v.perm == perm:
            return v
        ident = tuple(range(len(perm)))
        if perm == ident:
            return self.plain(v)
        # transpose(transpose(P, q^-1), perm) = transpose(P, [q^-1[perm[i]]]): one Transpose.
        base = invert(v.perm) if v.perm is not None else ident
        total = [base[i] for i in perm]
        out = self.op1("Transpose", v, perm=total)
        out.perm = perm
        return out

    def subgraph(self) -> Graph:
        return Graph(self.model, self)

    def to_proto(self, name: str, inputs: list[onnx.ValueInfoProto],
                 outputs: list[onnx.ValueInfoProto], initializers: list[onnx.TensorProto] | None = None
                 ) -> onnx.GraphProto:
        return helper.make_graph(self.nodes, name, inputs, outputs, initializer=initializers or [])


def _widen_type(t: onnx.TypeProto) -> onnx.TypeProto:
    """A TypeProto with bfloat16 elements as float32 (tensors, and sequences of them)."""
    out = onnx.TypeProto()
    out.CopyFrom(t)
    inner = out.sequence_type.elem_type if out.HasField("sequence_type") else out
    if inner.tensor_type.elem_type == onnx.TensorProto.BFLOAT16:
        inner.tensor_type.elem_type = onnx.TensorProto.FLOAT
    return out


def value_info(name: str, t: onnx.TypeProto) -> onnx.ValueInfoProto:
    vi = onnx.ValueInfoProto()
    vi.name = name
    vi.type.CopyFrom(t)
    return vi
