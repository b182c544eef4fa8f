"""Walk a signature through the runtime's compiled graph and emit ONNX nodes.

The exporter reads what the numpy runtime already understands (graph/runtime.py):
each :class:`~savedmodel_io.graph.runtime.Body` with decoded attrs and resolved
inputs, function references and variables. A signature's graph first goes through the
runtime's optimisation stage (:data:`PASSES` of graph/optimize.py: calls inlined, constants
and variables folded, identities removed, batch norms, biases and activations fused into
TensorFlow's fused ops). The exporter then visits the nodes the outputs need, in dependency
order; per node:

* function calls ((Stateful)PartitionedCall, library functions) are inlined: the
  callee's body is walked with its arguments bound to the caller's values;
* a node whose inputs are all constants (Consts, variables read from the checkpoint,
  table handles) is folded with its numpy kernel, so shape computations and weight
  reads become initializers;
* otherwise its converter (``onnx/ops``) emits ONNX nodes.

A node with no mapping, or one whose attrs ONNX cannot express, is recorded as a
:class:`Problem` (op, node, function, reason) and the walk goes on, so every problem
of a signature is reported at once before anything is written.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import onnx

from savedmodel_io import dtypes, tensors
from savedmodel_io.errors import InvalidArgumentError, SavedModelError, UnsupportedOpError
from savedmodel_io.graph import runtime
from savedmodel_io.graph import opdefs
from savedmodel_io.graph import optimize as opt
from savedmodel_io.graph.attrs import FuncRef
from savedmodel_io.graph.ops._util import MAX_OUTPUTS
from savedmodel_io.graph.optimize import optimize
from savedmodel_io.graph.runtime import Body, Node, Session
from savedmodel_io.graph.variables import Handle, Ref
from savedmodel_io.onnx import _kernels, _sym
from savedmodel_io.onnx import ops as converters
from savedmodel_io.onnx._graph import ExportError, Graph, Model, Val, const_val, value_info
from savedmodel_io.onnx._postorder import post_order
from savedmodel_io.onnx.ops import complex as complex_ops
from savedmodel_io.onnx.ops._util import cast as _cast, truncate_bf16
from savedmodel_io.proto import DataType

__all__ = ["Exporter", "Problem", "POISON"]

# Ops never folded with their kernel: placeholders, control flow (walked structurally),
# ops with side effects; and ops that change variables or tables (``converters.writes_state``).
_NO_FOLD = frozenset({
    "Placeholder", "PartitionedCall", "StatefulPartitionedCall", "If", "StatelessIf", "While",
    "StatelessWhile", "Case", "StatelessCase", "PrintV2", "Assert", "NoOp",
})

# The runtime's optimisation passes the graph goes through before it is converted: those that
# keep TensorFlow's ops (inlining, constant folding with the variables read for inference,
# Identity/NoOp removal, batch norms as multiply-adds) and the fusions into TensorFlow's fused
# ops, which map to ONNX's fused forms (Conv with bias, Gemm, LayerNormalization, Gelu). Not
# taken: loop specialisation and Keras RNN fusion (onnx/ops/rnn.py recognises the loops
# itself, to emit ONNX LSTM/GRU) and the numpy kernels' weight layouts.
PASSES = (opt.inline_calls, opt.fold_constants, opt.remove_identities, opt.fold_batch_norms,
          opt.sink_reshapes, opt.fuse_ops, opt.fuse_layer_norms)

# Folded results bigger than this (elements) that grow from smaller inputs stay graph ops.
_MAX_FOLD_GROWTH = 1 << 18

# Deepest function-call nesting followed (real models nest a few levels; each level costs
# several Python frames here).
MAX_DEPTH = 64


@dataclass(frozen=True)
class Problem:
    """A node the exporter cannot express in ONNX, and why."""

    op: str
    node: str
    function: str
    reason: str

    def __str__(self) -> str:
        return f"{self.op} (node {self.node!r} in {self.function}): {self.reason}"


POISON = Val(None, None, None, kind="poison")  # the value of anything downstream of a problem


class _Outputs:
    """Every output of a node that could not be converted: all poison."""

    def __getitem__(self, index: int) -> Val:
        return POISON


_ALL_POISON = _Outputs()


# Shape-only ops that keep a string tensor the decimal text of integers (AsString's): a hash
# bucket of their output replays them on the integers (onnx/ops/hashing.py).
DECIMAL_KEEPING = frozenset({"Identity", "Snapshot", "StopGradient", "Squeeze", "ExpandDims", "Reshape"})


class Exporter:
    """Converts signatures of one Session; ``g`` is the graph nodes are added to."""

    def __init__(self, session: Session, opset: int, *, complex_pairs: bool = False,
                 input_shapes: Mapping[str, Sequence[int | None]] | None = None,
                 bfloat16_as_float32: bool = False) -> None:
        self.session = session
        self.model = Model(opset)
        self.g = Graph(self.model)
        self.problems: list[Problem] = []
        self.output_keys: list[str] = []  # signature output keys, in graph output order
        # Complex graph inputs and outputs as float (real, imaginary) pairs in a trailing axis of 2
        # (onnxruntime has no complex tensors); else they are refused.
        self.complex_pairs = complex_pairs
        self.pair_inputs: list[str] = []
        self.pair_outputs: list[str] = []
        # bfloat16 graph inputs and outputs as float32, cast at the graph's edge (onnxruntime's Python
        # API feeds and returns no bfloat16 arrays).
        self.bfloat16_as_float32 = bfloat16_as_float32
        self.wide_inputs: list[str] = []
        self.wide_outputs: list[str] = []
        # Shapes given for signature inputs: the rank of an input the signature leaves unknown
        # (ONNX graph inputs need one), and any dim it leaves unknown.
        self.input_shapes = dict(input_shapes or {})
        self._ctx = runtime.Context(session, None, session.budget)
        self._depth = 0

    @property
    def opset(self) -> int:
        return self.model.opset

    # -- problems --------------------------------------------------------------------------

    def problem(self, node: Node, reason: str) -> None:
        made = _origins(node)  # a node the optimiser made: which saved nodes it stands for
        p = Problem(node.op, node.name, node.body, f"{reason} ({made})" if made else reason)
        if p not in self.problems:
            self.problems.append(p)

    # -- walking a body --------------------------------------------------------------------

    def walk(self, body: Body, targets: list[tuple[int, int]], bound: Mapping[int, Any],
             controls: Iterable[int] = ()) -> list[Val]:
        """Values of ``targets`` in ``body``, with node index -> output list bound first."""
        if body.dataflow:  # TF1 conds (Switch/Merge): structured into Ifs (onnx/ops/dataflow.py)
            from savedmodel_io.onnx.ops import dataflow

            return dataflow.walk(self, body, targets, bound, controls)
        data, control_only = _needed(body, targets, controls, bound)
        values: dict[int, Any] = dict(bound)
        for i in data:
            node = body.nodes[i]
            try:
                ins = [values[s][o] for s, o in node.inputs]
            except (IndexError, TypeError, KeyError):
                self.problem(node, "an input names an output its producer does not have")
                values[i] = _ALL_POISON
                continue
            values[i] = self.convert(node, ins)
        for i in control_only:
            self._check_writes(body.nodes[i], set())
        out = []
        for s, o in targets:
            try:
                out.append(values[s][o])
            except (IndexError, TypeError):
                self.problem(body.nodes[s], f"has no output {o}")
                out.append(POISON)
        return out

    def _check_writes(self, node: Node, seen: set[str]) -> None:
        """Report a control-only node (or a function it calls) that changes variables or tables."""
        if converters.writes_state(node.op):
            self.problem(node, converters.STATE)
            return
        for fname in _callees(node):
            if fname in seen:
                continue
            seen.add(fname)
            try:
                body = self.session.function(fname, node.where)
            except SavedModelError:
                continue
            for n in body.nodes:
                self._check_writes(n, seen)

    def call(self, name: str, args: list[Val], node: Node) -> list[Val]:
        """Inline library function ``name`` on ``args``: the values of its outputs."""
        if self._depth >= MAX_DEPTH:
            raise ExportError(f"function calls nest deeper than {MAX_DEPTH}")
        body = self.session.function(name, node.where)
        if len(args) != len(body.args):
            raise ExportError(f"function {name!r} takes {len(body.args)} inputs, got {len(args)}")
        # Through the optimisation stage too, with the constant arguments (weights, variable
        # handles) folded in: If branches and loop bodies get the fused forms.
        known = {i: a.const for i, a in enumerate(args) if a.is_const or a.kind == "handle"}
        body, _env = optimize(body, body.rets, controls=body.control_rets, feeds=list(range(len(args))),
                              constants=known, session=self.session, passes=PASSES)
        self._depth += 1
        try:
            return self.walk(body, body.rets, {i: [a] for i, a in enumerate(args)}, body.control_rets)
        finally:
            self._depth -= 1

    # -- one node --------------------------------------------------------------------------

    def convert(self, node: Node, ins: list[Val]) -> Any:
        """The output values of ``node`` given its input values."""
        if any(v.kind == "poison" for v in ins):
            return _ALL_POISON
        g = self.g
        saved_hint, saved_doc = g.hint, g.doc
        g.hint, g.doc = node.name, _origins(node)
        try:
            if node.call is not None:  # a library function used as an op
                return self.call(node.call, ins, node)
            ins = self._deref(node, ins)
            folded = self._fold(node, ins)
            if folded is not None:
                return folded
            counts = _output_counts(node)
            cplx = _complex_involved(node, ins, counts)
            syms = _sym.infer(node, ins, self._ctx) if node.op in _sym.OPS and not cplx else None
            if syms is not None and all(_sym.known(s) for s in syms):
                dt = _sym.out_dtype(node, ins)
                return [const_val(np.asarray(s.astype(np.int64)).astype(dt)) for s in syms]
            conv = converters.get(node.op)
            if conv is None:
                self.problem(node, converters.reason(node.op))
                return _ALL_POISON
            many = sum(n or 0 for n in counts or ())
            if many > MAX_OUTPUTS:
                raise ExportError(f"declares {many} outputs, over the {MAX_OUTPUTS} one node may have")
            if cplx and not conv.complex:
                form = converters.get_complex(node.op)
                if form is None:
                    raise ExportError(complex_ops.refusal(node.op))
                out = form.fn(self, node, ins, conv)
                return out if isinstance(out, list) else [out]
            if not conv.layout:
                ins = [g.plain(v) if v.perm is not None else v for v in ins]
            narrow = _narrow(ins) if conv.family in _ROUNDED else None
            outs = self._half(node, ins, conv, narrow) if narrow is not None else None
            if outs is None:
                out = conv.fn(self, node, ins)
                outs = out if isinstance(out, list) else [out]
            if node.op in DECIMAL_KEEPING and ins and outs and ins[0].origin and ins[0].origin[0] == "decimal" \
                    and outs[0] is not ins[0]:
                outs[0].origin = ("decimal", (conv.fn, node, ins))  # integers' text still (onnx/ops/hashing.py)
            if syms is not None and len(syms) == len(outs):
                for v, s in zip(outs, syms):
                    if v.kind == "tensor" and not v.is_const and v.sym is None:
                        v.sym = s
            return outs
        except ExportError as exc:
            self.problem(node, str(exc))
            return _ALL_POISON
        except (KeyError, IndexError, TypeError, ValueError, AttributeError, ArithmeticError) as exc:
            # Attrs or inputs of a kind the converter does not expect (a damaged or unusual graph:
            # a zero stride, an infinite frequency limit...).
            self.problem(node, f"cannot be converted ({type(exc).__name__}: {exc})")
            return _ALL_POISON
        finally:
            g.hint, g.doc = saved_hint, saved_doc

    def _half(self, node: Node, ins: list[Val], conv: Any, narrow: np.dtype) -> list[Val] | None:
        """The outputs of a float16 or bfloat16 (``narrow``) op computed as TensorFlow does: in float32,
        the narrow results rounded once (None when the float32 form of the node does not convert)."""
        narrow_types = _output_types(node, _NARROW_TYPES[narrow.name])
        if narrow_types is None:
            return None
        g = self.g
        start = len(g.nodes)
        wide = node.clone(node.index, attr={k: _widen(v, narrow) for k, v in node.attr.items()})
        args = [_recast(g, v, np.float32) if v.dtype == narrow and v.kind == "tensor" else v for v in ins]
        exact = {a.name for a, v in zip(args, ins) if a is not v and a.name is not None}
        try:
            out = conv.fn(self, wide, args)
        except (ExportError, KeyError, IndexError, TypeError, ValueError, AttributeError):
            del g.nodes[start:]  # the narrow form is converted instead
            return None
        outs = out if isinstance(out, list) else [out]
        for i, v in enumerate(outs):
            if i < len(narrow_types) and narrow_types[i] and v.kind == "tensor" and v.dtype == np.float32:
                if narrow.name == "bfloat16" and node.op in _TRUNCATED:
                    out_v = truncate_bf16(g, v)
                    out_v.perm = v.perm
                    outs[i] = out_v
                else:
                    outs[i] = _recast(g, v, narrow)
                    if narrow.name == "bfloat16" and _moved_only(g, v, exact, start):
                        outs[i]._wide = [(g, v)]  # the float32 result is that bfloat16 value exactly
        return outs

    def _deref(self, node: Node, ins: list[Val]) -> list[Val]:
        """TF1 variable references read by ``node`` as values (the checkpoint's: initializers)."""
        if not node.deref:
            return ins
        out = list(ins)
        for j in node.deref:
            ref = ins[j].const
            if isinstance(ref, Ref):
                out[j] = const_val(self.session.store.read(ref.handle, node.where))
        return out

    def _fold(self, node: Node, ins: list[Val]) -> list[Val] | None:
        """Outputs computed with the numpy kernel when every input is a constant."""
        if node.op in _NO_FOLD or node.kernel is None or converters.writes_state(node.op) or \
                any(v.const is None or v.kind not in ("tensor", "handle") for v in ins):
            return None
        args = [v.const for v in ins]
        try:
            out = node.kernel.fn(node, args, self._ctx)
        except (SavedModelError, ValueError, TypeError, IndexError, KeyError, ArithmeticError):
            return None  # the converter emits the op; it fails the same way at run time
        outs = out if isinstance(out, list) else [out]
        vals = []
        size_in = sum(a.size for a in args if isinstance(a, np.ndarray))
        for v in outs:
            if isinstance(v, (np.ndarray, np.generic)):
                arr = np.asarray(v)
                if arr.dtype == object and not all(isinstance(x, bytes) for x in arr.reshape(-1)):
                    return None
                if args and arr.size > _MAX_FOLD_GROWTH and arr.size > 2 * size_in and node.op != "ReadVariableOp":
                    return None
                vals.append(const_val(arr))
            elif isinstance(v, (Handle, Ref)):
                vals.append(const_val(v))
            else:
                return None
        return vals

    # -- signatures ------------------------------------------------------------------------

    def signature(self, key: str) -> onnx.GraphProto:
        """The main graph of signature ``key`` (problems are collected in ``self.problems``)."""
        sess = self.session
        sig = sess.signature(key)
        sess.initialize()  # tables and other init-op state the graph reads
        graph = sess.graph
        bound: dict[int, Any] = {}
        inputs = []
        unknown = sorted(set(self.input_shapes) - set(sig.inputs))
        if unknown:
            raise InvalidArgumentError(
                f"input_shapes names {', '.join(map(repr, unknown))}, not an input of signature {key!r} "
                f"(its inputs: {', '.join(map(repr, sorted(sig.inputs))) or 'none'})")
        for k in sorted(sig.inputs):
            info = sig.inputs[k]
            if not info.name:
                raise UnsupportedOpError(f"input {k!r} is a sparse or composite tensor, which ONNX export "
                                         "does not support", path=sess.export_dir, where=f"signature {key!r}")
            dt = dtypes.to_numpy(info.dtype)
            if dt.kind == "c" and not self.complex_pairs:
                node = graph.nodes[graph.resolve(info.name)[0]]
                self.problem(node, f"input {k!r} is {dt}: ONNX graphs onnxruntime runs take no complex tensors "
                                   "(export with complex_pairs=True to take it as (real, imaginary) pairs)")
                _bind(bound, graph, info.name, POISON)
                continue
            shape = tensors.shape_from_proto(info.tensor_shape)
            node = graph.nodes[graph.resolve(info.name)[0]]
            if shape is None:
                # The TensorInfo records no shape: the placeholder's own shape attr may.
                declared = node.attr.get("shape") if node.op in ("Placeholder", "PlaceholderWithDefault") else None
                shape = tuple(declared) if isinstance(declared, (tuple, list)) else None
            if k in self.input_shapes:
                shape = given_shape(k, shape, self.input_shapes[k])
            if shape is None:
                self.problem(node, f"input {k!r} has no known rank (ONNX graph inputs need one: give it "
                                   "with input_shapes / --input_shape)")
                shape = ()
            dims = None if shape is None else tuple(
                d if d is not None else f"{k}_dim{i}" for i, d in enumerate(shape))
            name = self.model.fresh(k)
            pairs = dt.kind == "c"  # a complex input as its (real, imaginary) pairs
            if pairs and dims is not None:
                dims = (*dims, 2)
            wide = self.bfloat16_as_float32 and dt.name == "bfloat16"
            phys = complex_ops.real_dtype(dt) if pairs else np.dtype(np.float32) if wide else dt
            v = Val(name, phys, dims)
            self.model.shapes[name], self.model.dtypes[name] = dims, phys
            inputs.append(value_info(name, self.g.type_of(v)))
            if pairs:
                v = complex_ops.as_complex(v, dt)
                self.pair_inputs.append(k)
            elif wide:
                v = _cast(self.g, v, dt)  # to nearest even; exact for bfloat16 values
                self.wide_inputs.append(k)
            _bind(bound, graph, info.name, v)
        from savedmodel_io.graph.variables import asset_feeds

        assets: dict[int, Any] = {}
        for tname, value in asset_feeds(sess.meta_graph, sess.export_dir).items():
            idx, out = graph.resolve(tname)
            if idx not in bound and out == 0:
                assets[idx] = np.asarray(value)
        names = sorted(sig.outputs)
        reserved = {k: self.model.fresh(k) for k in names}  # outputs keep the signature's keys
        targets = []
        for k in names:
            if not sig.outputs[k].name:
                raise UnsupportedOpError(f"output {k!r} is a sparse or composite tensor, which ONNX export "
                                         "does not support", path=sess.export_dir, where=f"signature {key!r}")
            targets.append(graph.resolve(sig.outputs[k].name))
        body, targets, bound = self._optimized(graph, targets, bound, assets)
        values = self.walk(body, targets, bound)
        outputs = []
        for k, v in zip(names, values):
            info = sig.outputs[k]
            if v.kind == "poison":
                continue
            node = graph.nodes[graph.resolve(info.name)[0]]
            try:
                outputs.append(self._output(reserved[k], v, info))
                self.output_keys.append(k)
                if self.bfloat16_as_float32 and v.dtype is not None and v.dtype.name == "bfloat16" and \
                        v.kind == "tensor":
                    self.wide_outputs.append(k)
                if complex_ops.is_complex(v):
                    self.pair_outputs.append(k)
            except ExportError as exc:
                self.problem(node, f"output {k!r}: {exc}")
        return self.g.to_proto(_graph_name(key), inputs, outputs)

    def _optimized(self, graph: Body, targets: list[tuple[int, int]], bound: dict[int, Any],
                   assets: dict[int, Any]) -> tuple[Body, list[tuple[int, int]], dict[int, Any]]:
        """The part of ``graph`` the targets need, through the runtime's optimisation stage
        (:data:`PASSES`): the body to walk, its targets and its fed nodes' values."""
        feeds = list(bound) + list(assets)
        constants = {len(bound) + k: v for k, v in enumerate(assets.values())}
        body, _env = optimize(graph, targets, feeds=feeds, constants=constants, session=self.session,
                              passes=PASSES)
        return body, list(body.rets), {k: bound[i] for k, i in enumerate(bound)}

    def _output(self, name: str, v: Val, info: Any) -> onnx.ValueInfoProto:
        g = self.g
        want = dtypes.to_numpy(info.dtype)
        pairs = complex_ops.is_complex(v)
        if pairs:
            if not self.complex_pairs:
                raise ExportError(f"is {v.dtype}: ONNX graphs onnxruntime runs give no complex tensors "
                                  "(export with complex_pairs=True to give it as (real, imaginary) pairs)")
            if v.dtype != want:
                raise ExportError(f"converted to {v.dtype}, TensorFlow gives {want}")
            v, want = complex_ops.pair(g, v), complex_ops.real_dtype(want)
        elif v.kind != "tensor":
            raise ExportError("is not a tensor (resource handles and TensorLists cannot be outputs)")
        v = g.plain(v)
        if v.dtype != want:
            raise ExportError(f"converted to {v.dtype}, TensorFlow gives {want}")
        if self.bfloat16_as_float32 and want.name == "bfloat16":
            v = g.widened(v)  # exact
        g.nodes.append(onnx.helper.make_node("Identity", [g.name_of(v)], [name],
                                             name=self.model.fresh(f"{name}/output")))
        shape = tensors.shape_from_proto(info.tensor_shape)
        if pairs:
            shape = None if shape is None else (*shape, 2)
        dims = v.shape
        if shape is not None:
            dims = tuple(d if d is not None else (v.shape[i] if v.shape is not None and i < len(v.shape)
                                                   else None) for i, d in enumerate(shape))
        if dims is None:
            raise ExportError("has no known rank (ONNX graph outputs need one)")
        return value_info(name, g.type_of(Val(name, v.dtype, dims)))


def given_shape(key: str, known: Sequence[int | None] | None, given: Sequence[int | None]
                ) -> tuple[int | None, ...]:
    """An input's shape from ``input_shapes``: ``known`` (the signature's, None for unknown
    rank) with its unknown dims filled from ``given``, which must agree with it."""
    if isinstance(given, (str, bytes)) or not isinstance(given, Sequence):
        raise InvalidArgumentError(f"input_shapes[{key!r}] must be a list of dims, got {given!r}")
    shape = tuple(given)
    if any(d is not None and (not isinstance(d, int) or isinstance(d, bool) or d < 0) for d in shape):
        raise InvalidArgumentError(f"input_shapes[{key!r}]: dims must be integers >= 0 or None, got {list(given)}")
    if known is None:
        return shape
    if len(known) != len(shape):
        raise InvalidArgumentError(f"input_shapes[{key!r}] has rank {len(shape)}; the signature's input has "
                                   f"rank {len(known)} {_dims(known)}")
    for a, b in zip(known, shape):
        if a is not None and b is not None and a != b:
            raise InvalidArgumentError(f"input_shapes[{key!r}] = {_dims(shape)} does not fit the signature's "
                                       f"input shape {_dims(known)}")
    return tuple(a if a is not None else b for a, b in zip(known, shape))


def _dims(shape: Sequence[int | None]) -> str:
    return "[" + ", ".join("?" if d is None else str(d) for d in shape) + "]"


def _callees(node: Node) -> list[str]:
    """The library functions a node calls (as its op, or through function-valued attrs)."""
    names = [node.call] if node.call is not None else []
    for v in node.attr.values():
        if isinstance(v, FuncRef):
            names.append(v.name)
        elif isinstance(v, list):
            names.extend(x.name for x in v if isinstance(x, FuncRef))
    return names


# Families of ops TensorFlow computes on float16 and bfloat16 tensors in float32, rounding each result
# once (Eigen's half and bfloat16 arithmetic works in float per operation; matmuls and convolutions
# accumulate in float). onnxruntime runs float16 ops without float16 kernels in float32 too, but drops
# the rounding between consecutive ops (it removes the Cast pairs it inserted), so outputs drift from
# TensorFlow's by several float16 ulps; it has almost no bfloat16 kernels (onnx/_kernels.py). These ops
# are exported in float32 between Casts that round where TensorFlow does. (Ops of other families on
# bfloat16 that onnxruntime has no kernel for compute in float32 per ONNX node: Graph.op.)
_ROUNDED = frozenset({"math", "nn"})

# bfloat16 ops TensorFlow's CPU kernels compute in float32 and truncate to bfloat16 (FloatToBFloat16:
# the high 16 bits) rather than round: its Eigen matrix products (measured on TensorFlow 2.21 with
# TF_ENABLE_ONEDNN_OPTS=0, the oracle's setting: every element equal to the truncated float32
# product; oneDNN's kernels round instead).
_TRUNCATED = frozenset({"MatMul", "BatchMatMul", "BatchMatMulV2", "BatchMatMulV3"})

# The DataType attr value of each narrow float type, which ``_half`` widens to DT_FLOAT.
_NARROW_TYPES = {"float16": DataType.DT_HALF, "bfloat16": DataType.DT_BFLOAT16}


def _narrow(ins: list[Val]) -> np.dtype | None:
    """The narrow float type (float16, bfloat16) of the first such tensor input (None: none)."""
    for v in ins:
        if v.kind == "tensor" and v.dtype is not None and v.dtype.name in _NARROW_TYPES:
            return v.dtype
    return None


def _widen(value: Any, narrow: np.dtype) -> Any:
    """An attr value with the narrow type's DataType as DT_FLOAT."""
    t = _NARROW_TYPES[narrow.name]
    if isinstance(value, int) and not isinstance(value, bool) and value == t:
        return DataType.DT_FLOAT
    if isinstance(value, list) and value and all(isinstance(x, int) and not isinstance(x, bool) for x in value):
        return [DataType.DT_FLOAT if x == t else x for x in value]
    return value


def _moved_only(g: Graph, v: Val, exact: set[str], start: int) -> bool:
    """Whether float32 ``v`` was made from the widened bfloat16 inputs (names ``exact``) by nodes
    since ``start`` that only move, select or negate elements (``_kernels.EXACT``): a bfloat16
    value already."""
    if v.name is None:
        return False
    made = {o: n for n in g.nodes[start:] for o in n.output}
    todo: list[str] = [v.name]
    seen: set[str] = set()
    while todo:
        name = todo.pop()
        if name in exact or name in seen:
            continue
        seen.add(name)
        n = made.get(name)
        if n is None or n.op_type not in _kernels.EXACT:
            init = g.model.initializers.get(name)
            dt = init.dtype if init is not None else g.model.dtypes.get(name, np.dtype(np.float32))
            if dt.kind == "f":
                return False
            continue  # an integer operand (axes, indices, shapes)
        todo.extend(i for i in n.input if i)
    return True


def _bind(bound: dict[int, Any], graph: Body, tensor: str, v: Val) -> None:
    """Bind graph tensor ``tensor`` (``node:out``) to ``v`` (its node's other outputs poison)."""
    idx, out = graph.resolve(tensor)
    slot = bound.setdefault(idx, [])
    while len(slot) <= out:
        slot.append(POISON)
    slot[out] = v


def _recast(g: Graph, v: Val, dtype: Any) -> Val:
    """``v`` as ``dtype``, in the same layout."""
    if v.dtype is not None and v.dtype.name == "bfloat16" and np.dtype(dtype) == np.float32 and v.kind == "tensor":
        out = g.widened(v)  # one Cast per value (or the float32 value it was exactly rounded from)
    else:
        out = _cast(g, v, dtype)
    if out is not v:
        out.perm = v.perm
    return out


def _output_counts(node: Node) -> list[int | None] | None:
    """How many tensors each output arg of ``node`` stands for, by its attrs (None: not known)."""
    od = node.opdef
    if od is None:
        return None
    try:
        return opdefs.arg_counts(od.outputs, node.attr, od)
    except ValueError:
        return None


def _output_dtypes(node: Node, counts: list[int | None] | None) -> list[int] | None:
    """The DataType of each output tensor of ``node``, given its :func:`_output_counts` (None: not known)."""
    if node.opdef is None or counts is None:
        return None
    od = node.opdef
    out: list[int] = []
    if sum(n or 0 for n in counts) > MAX_OUTPUTS:
        return None  # a hostile count (num_split = 2**40): the converter refuses the node
    for a, n in zip(od.outputs, counts):
        if n is None:
            return None
        if a.type_list_attr:
            out.extend(node.attr.get(a.type_list_attr) or [])
        else:
            t = a.type or node.attr.get(a.type_attr)
            out.extend([t if isinstance(t, int) else DataType.DT_INVALID] * n)
    return out


def _output_types(node: Node, narrow: int) -> list[bool] | None:
    """Per output tensor of ``node``: whether TensorFlow gives it as DataType ``narrow`` (None: not known)."""
    types = _output_dtypes(node, _output_counts(node))
    return None if types is None else [t == narrow for t in types]


def _complex_involved(node: Node, ins: list[Val], counts: list[int | None] | None) -> bool:
    """Whether ``node`` reads or makes complex values (``counts``: its :func:`_output_counts`)."""
    if any(complex_ops.is_complex(v) for v in ins):
        return True
    types = _output_dtypes(node, counts)
    return types is not None and any(t in complex_ops.COMPLEX_TYPES for t in types)


def _origins(node: Node) -> str:
    """The saved graph's nodes an optimiser-made node stands for ("" for a saved node itself),
    for the doc_string of the ONNX nodes it becomes: a fused node can be traced back."""
    if node.origin is None or len(node.origin) == 1 and node.origin[0].op == node.op:
        return ""  # a saved node, or a copy of one (inlined: its name is the call's / the node's)
    return "from TensorFlow " + ", ".join(f"{o.name} ({o.op})" for o in node.origin)


def _graph_name(key: str) -> str:
    return key or "graph"


def _needed(body: Body, targets: list[tuple[int, int]], controls: Iterable[int],
            bound: Mapping[int, Any]) -> tuple[list[int], list[int]]:
    """(nodes the targets' values need, in dependency order; nodes reached only by control edges)."""
    data_order: list[int] = []
    state: dict[int, int] = {}  # 1: visiting, 2: done
    for root, _ in targets:
        _visit(body, root, bound, state, data_order)
    data = set(data_order)
    control_only: list[int] = []
    seen: set[int] = set()
    stack = [c for c in controls] + [c for i in data_order for c in body.nodes[i].controls]
    while stack:
        i = stack.pop()
        if i in seen or i in data or i in bound:
            continue
        seen.add(i)
        control_only.append(i)
        n = body.nodes[i]
        stack.extend(n.controls)
        stack.extend(s for s, _ in n.inputs)
    return data_order, control_only


def _visit(body: Body, root: int, bound: Mapping[int, Any], state: dict[int, int], order: list[int]) -> None:
    """Post-order of the data inputs of ``root``."""
    def cycle(i: int) -> Exception:
        return UnsupportedOpError("the graph has a cycle (TF1 dataflow while loops cannot be exported)",
                                  where=body.nodes[i].where)

    post_order([root], lambda i: [s for s, _ in body.nodes[i].inputs], lambda i: i in bound, state, order, cycle)
