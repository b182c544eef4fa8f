"""A numpy interpreter of TensorFlow graphs: run a SignatureDef without TensorFlow.

The interpreter compiles each graph body (the MetaGraph's GraphDef, or one
FunctionDef of its library) once into :class:`Body`: nodes with decoded attrs,
inputs resolved to ``(producer, output index)`` pairs and a kernel bound to each.
For a set of requested tensors it computes (and caches) a :class:`Plan`: the
nodes those tensors need, in dependency order, data and control edges both.
Running a plan is a flat loop over that list; values are dropped once their last
consumer ran.

Ops without a kernel are found while planning, before any kernel runs, and raise
UnsupportedOpError naming the op, node and function; :func:`check_signature`
lists all of them at once.

Function-internal tensor names (``node:out_arg:index``) follow
tensorflow/tensorflow tensorflow/core/framework/function.proto; the output arg
layout of each op, and the defaults of the attrs a node leaves out (filled in while
compiling, so kernels read every attr directly), come from the op's OpDef
(:mod:`savedmodel_io.graph.opdefs`).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np

from savedmodel_io import dtypes, tensors
from savedmodel_io.errors import (
    InvalidArgumentError,
    NotFoundError,
    RuntimeFailure,
    SavedModelError,
    UnsupportedOpError,
)
from savedmodel_io.graph import frames, opdefs
from savedmodel_io.graph import variables as _vars
from savedmodel_io.graph._threads import blas_limit, thread_count, usable_cores
from savedmodel_io.graph.attrs import FuncRef
from savedmodel_io.graph.budget import Budget
from savedmodel_io.graph.program import (
    Body,
    Context,
    Missing,
    Node,
    Plan,
    TraceEvent,
    _called_functions,
    _Fed,
    _output,
)
from savedmodel_io.proto import DataType, FunctionDef, MetaGraphDef, SignatureDef

__all__ = [
    "Body",
    "Context",
    "FuncRef",
    "Missing",
    "Node",
    "OwnsSession",
    "Session",
    "TraceEvent",
    "check_signature",
    "run_signature",
]

class Session:
    """Everything needed to run one MetaGraph: compiled bodies, variables, resources."""

    def __init__(
        self,
        meta_graph: MetaGraphDef,
        *,
        export_dir: str | os.PathLike[str] | None = None,
        variables: Mapping[str, Any] | Callable[[str], Any] | None = None,
        allow_external_links: bool = False,
    ) -> None:
        self.meta_graph = meta_graph
        self.export_dir = os.fspath(export_dir) if export_dir is not None else None
        # Files of export_dir (variables, vocabularies) are read only inside it unless this is set.
        self.allow_external_links = allow_external_links
        self.library: dict[str, FunctionDef] = {
            f.signature.name: f for f in meta_graph.graph_def.library.function
        }
        self.graph = Body("the graph", meta_graph.graph_def.node, self.library)
        self._bodies: dict[str, Body] = {}
        self.resources: dict[Any, Any] = {}
        self.store = _vars.VariableStore(self, variables)
        self._initialized = False
        self._checked: set[tuple[Any, ...]] = set()
        # Work limits of each run (time, loop iterations, Python per-element work).
        self.budget = Budget()
        # Threads: ops run one at a time; a big convolution or matmul splits its GEMM into
        # blocks over ``threads`` threads (default: the usable cores; "auto": those other
        # processes leave free), each block's BLAS call on ``blas_threads`` (default 1;
        # None leaves BLAS alone). See graph/_threads.py and docs/performance.md.
        self.threads: int | str = usable_cores()
        self.blas_threads: int | str | None = 1
        # Run signatures through the graph optimiser (graph/optimize.py); False runs the
        # saved graph node by node, for debugging.
        self.optimize = True
        self._programs: dict[tuple[Any, ...], _Program] = {}  # optimised graph runs
        self._functions: dict[str, _Program] = {}  # optimised function bodies, by name
        # Functions the optimiser specialised: name -> (function, {arg index: value}).
        self._specialized: dict[str, tuple[str, dict[int, Any]]] = {}
        self._specialized_names: dict[tuple[Any, ...], str] = {}

    # -- compiled bodies -------------------------------------------------------------

    def function(self, name: str, where: str = "") -> Body:
        """The compiled Body of library function ``name`` (of the function it specialises, for
        a name the optimiser made)."""
        if name in self._specialized:
            name = self._specialized[name][0]
        body = self._bodies.get(name)
        if body is None:
            fdef = self.library.get(name)
            if fdef is None:
                raise NotFoundError(f"function {name!r} is not in the graph's library", where=where)
            body = Body(
                f"function {name!r}",
                fdef.node_def,
                self.library,
                args=[a.name for a in fdef.signature.input_arg],
                is_function=True,
            )
            for a in fdef.signature.output_arg:
                if a.name not in fdef.ret:
                    raise RuntimeFailure(f"output {a.name!r} has no ret entry", where=body.name)
                body.rets.append(body.resolve(fdef.ret[a.name]))
            body.control_rets = [body._lookup(v, None) for v in fdef.control_ret.values()]
            self._bodies[name] = body
        return body

    def function_plan(self, body: Body) -> Plan:
        """The plan computing all of a function's outputs and control outputs (its args fed)."""
        return body.plan(body.rets, body.control_rets, frozenset(range(len(body.args))))

    def specialize(self, name: str, constants: Mapping[int, Any]) -> str:
        """A name for function ``name`` with the args ``constants`` (index -> value) known:
        calls by that name run ``name`` optimised with those args folded in."""
        key = (name, tuple(sorted((k, id(v)) for k, v in constants.items())))
        made = self._specialized_names.get(key)
        if made is None:
            made = f"{name}/specialized_{len(self._specialized)}"
            self._specialized[made] = (name, dict(constants))
            self._specialized_names[key] = made
        return made

    def callee(self, name: str, where: str = "", optimized: bool = True,
               meter: Any = None) -> tuple[Body, Plan]:
        """The body and plan a call of function ``name`` runs: optimised (cached, and made
        again when a variable folded into it was assigned since) unless ``optimized`` is off;
        making it counts against the run's budget ``meter``."""
        if not optimized and name not in self._specialized:
            body = self.function(name, where)
            return body, self.function_plan(body)
        prog = self._functions.get(name)
        if prog is not None and prog.current(self.store):
            return prog.body, prog.plan
        from savedmodel_io.graph.optimize import optimize

        base, constants = self._specialized.get(name, (name, {}))
        fb = self.function(base, where)
        body, env = optimize(fb, fb.rets, controls=fb.control_rets,
                             feeds=list(range(len(fb.args))), constants=constants, session=self,
                             meter=meter)
        plan = body.plan(body.rets, body.control_rets, frozenset(range(len(body.args))))
        prog = _Program(body, plan, {}, self.store.version, env.variables)
        self._functions[name] = prog
        return body, plan

    # -- static checks ---------------------------------------------------------------

    def missing_ops(self, targets: list[str], controls: Sequence[str] = (),
                    feeds: Iterable[str] = ()) -> list[Missing]:
        """Every op without a kernel that running ``targets`` would reach (functions included)."""
        fed = frozenset(self.graph.resolve(f)[0] for f in feeds)
        plan = self.graph.plan([self.graph.resolve(t) for t in targets],
                               [self.graph._lookup(c.lstrip("^"), None) for c in controls], fed)
        missing: list[Missing] = []
        seen: set[str] = set()
        todo: list[tuple[Body, Plan]] = [(self.graph, plan)]
        while todo:
            body, p = todo.pop()
            missing.extend(body.missing_in(p))
            for i in p.order:
                loop = body.nodes[i].attr.get("loop") if body.nodes[i].op == frames.LOOP_OP else None
                if isinstance(loop, frames.Loop):
                    todo.append((loop.body, loop.step_plan))
                    todo.append((loop.body, loop.entry_plan))
                for fname in _called_functions(body.nodes[i]):
                    if fname in seen:
                        continue
                    seen.add(fname)
                    fb = self.function(fname, body.nodes[i].where)
                    todo.append((fb, self.function_plan(fb)))
        return missing

    def require_kernels(self, targets: list[str], controls: Sequence[str] = (),
                        feeds: Iterable[str] = ()) -> None:
        """Raise UnsupportedOpError (naming op, node, function) if anything lacks a kernel."""
        missing = self.missing_ops(targets, controls, feeds)
        if missing:
            first = missing[0]
            others = sorted({m.op for m in missing} - {first.op})
            more = f" (and {len(others)} more: {', '.join(others)})" if others else ""
            raise UnsupportedOpError(f"no kernel for op {first}{more}", path=self.export_dir)

    # -- running ---------------------------------------------------------------------

    def run(
        self,
        fetches: list[str],
        feeds: Mapping[str, Any],
        *,
        controls: Sequence[str] = (),
        trace: Callable[[TraceEvent], None] | None = None,
        budget: Budget | None = None,
        optimize: bool | None = None,
    ) -> list[Any]:
        """Values of tensor names ``fetches`` given ``feeds`` (tensor name -> value).

        ``budget`` limits this run's work (default: ``self.budget``); ``optimize`` (default:
        the Session's ``optimize``) runs the optimised program.
        """
        self.initialize()
        return self._run(fetches, feeds, controls, trace, budget, optimize)

    def _run(self, fetches: list[str], feeds: Mapping[str, Any], controls: Sequence[str] = (),
             trace: Callable[[TraceEvent], None] | None = None, budget: Budget | None = None,
             optimize: bool | None = None) -> list[Any]:
        graph = self.graph
        fed_vals: dict[int, _Fed] = {}
        for name, value in feeds.items():
            idx, out = graph.resolve(name)
            fed_vals.setdefault(idx, _Fed())[out] = value
        check_key = (tuple(fetches), tuple(controls), tuple(sorted(feeds)))
        if check_key not in self._checked:
            self.require_kernels(list(fetches), list(controls), feeds.keys())
            self._checked.add(check_key)
        optimize = self.optimize if optimize is None else optimize
        ctx = Context(self, trace, budget or self.budget, optimize)
        ctx.threads = thread_count(self.threads)
        if optimize and not controls and fetches:
            prog = self._program(tuple(fetches), tuple(sorted(fed_vals)), ctx.meter)
            fed = {k: fed_vals[i] for i, k in prog.feeds.items()}
            with blas_limit(self.blas_threads), np.errstate(all="ignore"):
                values = self._execute(ctx, prog.body, prog.plan, fed)
                return [self._fetched(_output(values, prog.body, t)) for t in prog.body.rets]
        targets = [graph.resolve(f) for f in fetches]
        plan = graph.plan(targets, [graph._lookup(c.lstrip("^"), None) for c in controls],
                          frozenset(fed_vals))
        with blas_limit(self.blas_threads), np.errstate(all="ignore"):
            values = self._execute(ctx, graph, plan, fed_vals)
            return [self._fetched(_output(values, graph, t)) for t in targets]

    def _execute(self, ctx: Context, body: Body, plan: Plan, fed: Mapping[int, Any]) -> list[Any]:
        """``ctx.execute``; an error names the model (kernels name the node)."""
        try:
            return ctx.execute(body, plan, fed)
        except SavedModelError as exc:
            exc.locate(self.export_dir)
            raise

    def _fetched(self, value: Any) -> Any:
        """A fetched value; a fetched TF1 reference is read (a copy: later updates don't change it)."""
        if isinstance(value, _vars.Ref):
            return np.array(self.store.read(value.handle), copy=True)
        return value

    def _program(self, fetches: tuple[str, ...], fed: tuple[int, ...], meter: Any) -> _Program:
        """The optimised program computing ``fetches`` from the fed nodes ``fed`` (cached;
        made again when a variable folded into it was assigned since). Making it counts
        against the run's budget ``meter``."""
        key = (fetches, fed)
        prog = self._programs.get(key)
        if prog is not None and prog.current(self.store):
            return prog
        from savedmodel_io.graph.optimize import optimize

        graph = self.graph
        body, env = optimize(graph, [graph.resolve(f) for f in fetches], feeds=list(fed),
                             session=self, meter=meter)
        plan = body.plan(body.rets, body.control_rets, frozenset(range(len(fed))))
        prog = _Program(body, plan, {i: k for k, i in enumerate(fed)}, self.store.version,
                        env.variables)
        self._programs[key] = prog
        return prog

    def initialize(self) -> None:
        """Run the MetaGraph's init op once, before the first signature, as TF's loader does.

        Variables are restored first (lazily: a checkpoint value is read on first use), then
        the init op (``__saved_model_init_op``, main_op or legacy_init_op) runs with the asset
        paths fed: what it assigns overrides the checkpoint, tables get filled. An init op that
        fails is run again on the next call (and fails again), never skipped.
        """
        if self._initialized:
            return
        init = _vars.init_op_name(self.meta_graph)
        feeds = _vars.asset_feeds(self.meta_graph, self.export_dir)
        if init:
            self._run([], feeds, [init])
        self._asset_feeds = feeds
        self._initialized = True

    def run_signature(
        self,
        key: str,
        inputs: Mapping[str, Any],
        *,
        trace: Callable[[TraceEvent], None] | None = None,
        strict: bool = False,
        partial: bool = False,
        budget: Budget | None = None,
        optimize: bool | None = None,
    ) -> dict[str, np.ndarray]:
        """Run SignatureDef ``key`` on ``inputs`` (input key -> value); output key -> array.

        Inputs are converted by :func:`convert_input`'s rule (``strict``: no dtype changes).
        ``partial=True`` feeds only the inputs given, as a TF1 session (and
        ``saved_model_cli run``) does: an input that no output needs, or one with a
        default (PlaceholderWithDefault), may be left out. ``budget`` limits the run's
        work (default: ``self.budget``). ``optimize=False`` runs the saved graph node by
        node instead of the optimised program (default: the Session's ``optimize``).
        """
        sig = self.signature(key)
        feeds = self.signature_feeds(key, inputs, strict=strict, partial=partial)
        names = sorted(sig.outputs)
        self.initialize()
        feeds.update({k: v for k, v in getattr(self, "_asset_feeds", {}).items() if k not in feeds})
        fetches, controls = [], []
        for k in names:
            t = sig.outputs[k].name
            if not t:
                raise RuntimeFailure(f"output {k!r} is not a dense tensor (sparse/composite outputs are not supported)",
                                     path=self.export_dir, where=f"signature {key!r}")
            # An output naming an op without ":n" (the init-op signature) is a control target.
            node = self.graph.nodes[self.graph._lookup(t.split(":")[0], None)]
            if ":" not in t and opdefs.no_outputs(node.op):
                controls.append(t)
            else:
                fetches.append(t)
        try:
            values = self._run(fetches, feeds, controls, trace, budget, optimize)
        except InvalidArgumentError as exc:
            # A left-out input that an output needs: name the input key, not its placeholder.
            for k in sorted(set(sig.inputs) - set(inputs)):
                node = sig.inputs[k].name.split(":")[0]
                if f"placeholder {node!r} needs a value" in exc.message:
                    raise InvalidArgumentError(
                        f"no value for input {k!r} (tensor {sig.inputs[k].name}), which the "
                        "outputs need", path=self.export_dir, where=f"signature {key!r}",
                    ) from None
            raise
        out: dict[str, np.ndarray] = {}
        it = iter(values)
        for k in names:
            t = sig.outputs[k].name
            if t in controls:
                continue
            out[k] = _signature_output(next(it), k, t, self.export_dir, key)
        return out

    def signature(self, key: str) -> SignatureDef:
        """The SignatureDef named ``key`` (NotFoundError listing the keys otherwise)."""
        sigs = self.meta_graph.signature_def
        if key not in sigs:
            keys = ", ".join(sorted(sigs)) or "none"
            raise NotFoundError(f"no signature {key!r} (signatures: {keys})", path=self.export_dir)
        sig: SignatureDef = sigs[key]
        return sig

    def signature_feeds(
        self, key: str, inputs: Mapping[str, Any], *, strict: bool = False, partial: bool = False
    ) -> dict[str, Any]:
        """Validate ``inputs`` against a signature; returns tensor name -> numpy array.

        Every input must be given unless ``partial`` (then only the given ones are fed).
        """
        sig = self.signature(key)
        want = set(sig.inputs)
        given = set(inputs)
        where = f"signature {key!r}"
        unknown = sorted(given - want)
        if unknown:
            raise InvalidArgumentError(
                f"unknown input {', '.join(repr(u) for u in unknown)}; the inputs are "
                f"{', '.join(repr(w) for w in sorted(want)) or 'none'}",
                path=self.export_dir, where=where,
            )
        absent = sorted(want - given)
        if absent and not partial:
            raise InvalidArgumentError(
                f"missing input {', '.join(repr(a) for a in absent)}", path=self.export_dir,
                where=where,
            )
        feeds = {}
        for k in sorted(want & given):
            info = sig.inputs[k]
            if not info.name:
                raise InvalidArgumentError(
                    f"input {k!r} is a sparse or composite tensor, which run does not support",
                    path=self.export_dir, where=where,
                )
            feeds[info.name] = convert_input(
                inputs[k], info.dtype, tensors.tensor_info_shape(info), k,
                strict=strict, path=self.export_dir, where=where,
            )
        return feeds


@dataclass
class _Program:
    """An optimised body for one set of fetches and feeds, and what it was made from."""

    body: Body
    plan: Plan
    feeds: dict[int, int]  # graph node index -> index of the fed node in ``body``
    version: int  # the variable store's version when it was made
    variables: dict[str, Any]  # variables folded in: handle name -> the value used

    def current(self, store: Any) -> bool:
        """Whether every variable folded in still has the value it was made with."""
        if store.version == self.version:
            return True
        if all(store.values.get(name) is value for name, value in self.variables.items()):
            self.version = store.version
            return True
        return False


def _as_array(v: Any) -> Any:
    if isinstance(v, np.ndarray):
        return v
    if isinstance(v, (np.generic, int, float, bool, bytes)):
        return np.asarray(v)
    return v


def _signature_output(v: Any, key: str, tensor: str, path: str | None, sig: str) -> np.ndarray:
    """A signature output as an array; a resource handle, TensorList or other object is refused."""
    arr = _as_array(v)
    if isinstance(arr, np.ndarray) and (arr.dtype != object or _all_bytes(arr)):
        return arr
    what = type(v).__name__ if not isinstance(arr, np.ndarray) else "an array holding non-string objects"
    raise RuntimeFailure(
        f"output {key!r} (tensor {tensor}) is not a tensor value but {what} (resource handles "
        "and TensorLists cannot be returned)", path=path, where=f"signature {sig!r}")


def _all_bytes(arr: np.ndarray) -> bool:
    """Whether an object array holds only bytes, i.e. is a TF string tensor."""
    return all(isinstance(x, bytes) for x in arr.reshape(-1))


def convert_input(
    value: Any,
    dt: int,
    shape: tensors.Shape,
    key: str,
    *,
    strict: bool = False,
    path: str | None = None,
    where: str | None = None,
) -> np.ndarray:
    """``value`` as an array of DataType ``dt`` matching ``shape``, or InvalidArgumentError.

    One rule for the Python API and ``savedmodel-io run`` (``dtypes.safe_cast``): a value
    of another dtype is converted when no value changes beyond float rounding (int16 ->
    float32, float64 -> float32, int64 -> int32 when every value fits); float -> int,
    overflow to inf and integers that do not fit are refused. ``strict`` refuses every
    numpy array or scalar of another dtype; Python numbers and lists, which have no dtype
    of their own, always take the input's dtype by the rule.
    """
    want_name = dtypes.python_name(dt)
    if dt == DataType.DT_STRING:
        arr = _string_array(value, key, path, where)
    else:
        try:
            np_dtype = dtypes.to_numpy(dt, path=path, where=where)
        except SavedModelError as exc:
            raise InvalidArgumentError(f"input {key!r} has type {want_name}, which run does not support ({exc.message})",
                                       path=path, where=where) from None
        typed = isinstance(value, (np.ndarray, np.generic))
        try:
            raw = np.asarray(value)
        except (ValueError, TypeError) as exc:
            raise InvalidArgumentError(f"input {key!r} is not a tensor value ({exc})",
                                       path=path, where=where) from None
        got = f"an array of {raw.dtype}" if typed else f"{raw.dtype} values"
        if typed and strict and raw.dtype != np_dtype:
            raise InvalidArgumentError(f"input {key!r} expects {want_name}, got {got} "
                                       "(strict: no conversion)", path=path, where=where)
        try:
            arr = dtypes.safe_cast(raw, np_dtype)
        except InvalidArgumentError as exc:
            raise InvalidArgumentError(f"input {key!r} expects {want_name}, got {got}: {exc.message}",
                                       path=path, where=where) from None
    if shape is not None:
        if arr.ndim != len(shape) or any(d is not None and d != a for d, a in zip(shape, arr.shape)):
            shown = "(" + ", ".join("None" if d is None else str(d) for d in shape) + ("," if len(shape) == 1 else "") + ")"
            raise InvalidArgumentError(
                f"input {key!r} expects shape {shown}, got {tuple(arr.shape)}", path=path, where=where)
    return arr


def _string_array(value: Any, key: str, path: str | None, where: str | None) -> np.ndarray:
    arr = np.asarray(value, dtype=object) if not isinstance(value, np.ndarray) else value
    if arr.dtype.kind in "SU" or arr.dtype == object:
        flat = arr.reshape(-1)
        out = np.empty(flat.shape, dtype=object)
        for i, x in enumerate(flat):
            if isinstance(x, str):
                out[i] = x.encode("utf-8")
            elif isinstance(x, (bytes, np.bytes_)):
                out[i] = bytes(x)
            else:
                raise InvalidArgumentError(
                    f"input {key!r} expects strings, got {type(x).__name__}", path=path, where=where)
        return out.reshape(arr.shape)
    raise InvalidArgumentError(f"input {key!r} expects strings, got an array of {arr.dtype}",
                               path=path, where=where)


# -- entry points --------------------------------------------------------------------

@runtime_checkable
class OwnsSession(Protocol):
    """A loaded meta graph that keeps its own Session (:class:`savedmodel_io.model.MetaGraph`).

    Declared here so that the runtime, which the object model sits on, never imports it.
    """

    def session_for(
        self,
        export_dir: str | os.PathLike[str] | None = None,
        variables: Mapping[str, Any] | Callable[[str], Any] | None = None,
    ) -> Session:
        """Its own Session (no arguments), else a new one on other variables."""


def _session(
    meta_graph: OwnsSession | MetaGraphDef,
    export_dir: str | os.PathLike[str] | None,
    variables: Mapping[str, Any] | Callable[[str], Any] | None,
) -> Session:
    """A loaded MetaGraph's own Session, or a new one (a bare MetaGraphDef, other variables)."""
    if isinstance(meta_graph, MetaGraphDef):
        return Session(meta_graph, export_dir=export_dir, variables=variables)
    if isinstance(meta_graph, OwnsSession):
        return meta_graph.session_for(export_dir, variables)
    raise InvalidArgumentError(f"expected a MetaGraph or a MetaGraphDef, got {type(meta_graph).__name__}")


def run_signature(
    meta_graph: OwnsSession | MetaGraphDef,
    key: str,
    inputs: Mapping[str, Any],
    *,
    export_dir: str | os.PathLike[str] | None = None,
    variables: Mapping[str, Any] | Callable[[str], Any] | None = None,
    trace: Callable[[TraceEvent], None] | None = None,
    strict: bool = False,
    budget: Budget | None = None,
    optimize: bool | None = None,
) -> dict[str, np.ndarray]:
    """Run SignatureDef ``key`` of a MetaGraph on ``inputs``; returns output key -> array.

    A loaded :class:`~savedmodel_io.model.MetaGraph` runs in its own Session (kept, with
    its variables' state). A bare MetaGraphDef, or other ``variables`` (checkpoint key ->
    array, or a callable), get a new Session for this call; without ``variables`` they
    are read from ``export_dir``'s ``variables/`` checkpoint. ``strict`` refuses inputs
    of another dtype (see :func:`convert_input`). ``budget`` limits the run's work
    (default: the session's ``budget``, see :mod:`savedmodel_io.graph.budget`).
    ``optimize=False`` runs the saved graph node by node (no inlining, folding or fusion),
    for debugging.
    """
    sess = _session(meta_graph, export_dir, variables)
    return sess.run_signature(key, inputs, trace=trace, strict=strict, budget=budget,
                              optimize=optimize)


def check_signature(meta_graph: OwnsSession | MetaGraphDef, key: str, *,
                    export_dir: str | os.PathLike[str] | None = None) -> list[Missing]:
    """Every op a signature needs that the runtime has no kernel for (empty list: runnable)."""
    sess = _session(meta_graph, export_dir, None)
    sig = sess.signature(key)
    fetches = [t.name for t in sig.outputs.values() if t.name]
    feeds = [t.name for t in sig.inputs.values() if t.name]
    missing = sess.missing_ops(fetches, [], feeds)
    init = _vars.init_op_name(sess.meta_graph)
    if init:
        missing += [m for m in sess.missing_ops([], [init], _vars.asset_feeds(sess.meta_graph, None).keys())
                    if m not in missing]
    return missing
