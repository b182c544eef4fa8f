"""TF1 dataflow while loops (Enter/Merge/Switch/LoopCond/NextIteration/Exit) as structured loops.

``tf.compat.v1.while_loop`` (and ``dynamic_rnn``, ``tf.map_fn`` in TF1 graphs) builds a
cycle: each loop variable enters the loop's *frame* through an ``Enter`` node, meets the
value of the previous iteration at a ``Merge`` (fed back by ``NextIteration``), and a
``Switch`` on the ``LoopCond`` sends it either into the body or out through an ``Exit``.
TensorFlow's executor runs such frames by tagging values with frame and iteration
(tensorflow/tensorflow tensorflow/core/common_runtime/executor.cc, the frame rules of
propagator_state.cc). We compile each top-level frame into one loop node instead:

* the frame's nodes (nested frames included) become a sub-:class:`Body` whose arguments
  are the frame's ``Enter`` nodes;
* each iteration runs that body with the ``Merge`` nodes fed: the entry values first,
  then the values the ``NextIteration`` nodes produced; Switch/Merge dead values do the
  rest, exactly as in TensorFlow, so any cond inside the loop works unchanged;
* the loop ends when every ``NextIteration`` input is dead (the condition was false);
  each ``Exit`` takes the value that reached it.

Outside the frame, each ``Exit`` node stays where it was, now reading one output of the
loop node, so names, fetches and traces are unchanged.
"""

from __future__ import annotations

from collections import defaultdict, deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from savedmodel_io.errors import RuntimeFailure, UnsupportedOpError
from savedmodel_io.graph import variables as _vars
from savedmodel_io.graph.dataflow import DEAD
from savedmodel_io.proto import FunctionDef, NodeDef

if TYPE_CHECKING:
    from savedmodel_io.graph.program import Body, Context

__all__ = ["ENTERS", "LOOP_OP", "Loop", "LoopSpec", "split"]

ENTERS = frozenset({"Enter", "RefEnter"})
_EXITS = frozenset({"Exit", "RefExit"})
_NEXTS = frozenset({"NextIteration", "RefNextIteration"})
_MERGES = frozenset({"Merge", "RefMerge"})
# The op name of the node standing for a whole loop (not a TensorFlow op: TensorFlow's
# internal ops start with an underscore, so no registered op can take the name).
LOOP_OP = "_DataflowLoop"


def _source(ref: str) -> str:
    """The node name of an input reference ("^a", "a:1", "a:out:0" -> "a")."""
    return ref.lstrip("^").split(":", 1)[0]


@dataclass
class LoopSpec:
    """One top-level frame of a graph, split out of it."""

    frame: str
    node_name: str  # name of the loop node that replaces the frame
    enters: list[NodeDef]  # the frame's Enter nodes: the sub-body's arguments, in order
    inner: list[NodeDef]  # every other node of the frame (nested frames included)
    exits: list[str] = field(default_factory=list)  # what each Exit reads, in output order


def _frames(defs: Sequence[NodeDef]) -> dict[str, tuple[str, ...]]:
    """Each node's frame (a path of frame names; () is the top level), as TF's executor assigns it.

    A node is in the frame of its inputs; an Enter's outputs are in the child frame it
    names, an Exit's in its frame's parent. Inputs from outside ``defs`` (a sub-body's
    arguments) count as top level.
    """
    by_name = {nd.name: nd for nd in defs}
    consumers: dict[str, list[str]] = defaultdict(list)
    for nd in defs:
        for ref in nd.input:
            consumers[_source(ref)].append(nd.name)
    frame: dict[str, tuple[str, ...]] = {}
    todo: deque[str] = deque()
    for nd in defs:
        # Sources, and readers of a value from outside ``defs``, are at the top level.
        if not nd.input or any(_source(r) not in by_name for r in nd.input):
            frame[nd.name] = ()
            todo.append(nd.name)
    while todo:
        name = todo.popleft()
        nd = by_name[name]
        out = frame[name]
        if nd.op in ENTERS:
            out = out + (_frame_name(nd),)
        elif nd.op in _EXITS:
            out = out[:-1]
        for user in consumers.get(name, ()):
            if user not in frame:
                frame[user] = out
                todo.append(user)
    return frame


def _frame_name(nd: NodeDef) -> str:
    value = nd.attr["frame_name"].s
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def split(defs: Sequence[NodeDef], body_name: str) -> tuple[list[NodeDef], list[LoopSpec]]:
    """The top-level nodes of ``defs`` (Exits rewired to their loop node) and the loops split off."""
    frame = _frames(defs)
    loops: dict[str, LoopSpec] = {}
    taken = {nd.name for nd in defs}

    def spec(name: str) -> LoopSpec:
        if name not in loops:
            node_name = f"{name}/{LOOP_OP}"
            while node_name in taken:
                node_name += "_"
            taken.add(node_name)
            loops[name] = LoopSpec(name, node_name, [], [])
        return loops[name]

    outer: list[NodeDef] = []
    for nd in defs:
        where = frame.get(nd.name)
        if where is None:
            raise UnsupportedOpError(f"node {nd.name!r} ({nd.op}) is on a cycle no Enter node "
                                     "leads into (not a TF1 while loop)", where=body_name)
        if nd.op in ENTERS and where == ():
            spec(_frame_name(nd)).enters.append(nd)
        elif where == ():
            outer.append(nd)
        elif nd.op in _EXITS and len(where) == 1:
            loop = spec(where[0])
            data = [r for r in nd.input if not r.startswith("^")]
            if len(data) != 1:
                raise RuntimeFailure(f"Exit node {nd.name!r} needs one input", where=body_name)
            rewired = NodeDef()
            rewired.CopyFrom(nd)
            del rewired.input[:]
            rewired.input.append(f"{loop.node_name}:{len(loop.exits)}")
            loop.exits.append(data[0])
            outer.append(rewired)
        else:
            spec(where[0]).inner.append(nd)
    sources = {nd.name: nd for nd in outer if not nd.input}
    for loop in loops.values():
        if not loop.enters:
            raise UnsupportedOpError(f"TF1 loop frame {loop.frame!r} has no Enter node",
                                     where=body_name)
        # A constant the loop reads without a control edge from inside is copied in.
        own = {nd.name for nd in loop.inner} | {nd.name for nd in loop.enters}
        needed = {_source(r) for nd in loop.inner for r in nd.input} - own
        loop.inner.extend(sources[name] for name in sorted(needed) if name in sources)
    return outer, list(loops.values())


class Loop:
    """A compiled TF1 loop frame: its body, the Merge nodes it feeds, what it hands out."""

    def __init__(self, spec: LoopSpec, body: Body) -> None:
        self.spec = spec
        self.body = body
        self.args = list(range(len(spec.enters)))
        # Enter nodes that pass a TF1 reference in (RefEnter) keep it a reference.
        self.reads_value = [nd.op not in ("RefEnter",) for nd in spec.enters]
        self.merges: list[tuple[int, tuple[int, int], tuple[int, int], int]] = []
        for node in body.nodes:
            if node.op not in _MERGES:
                continue
            srcs = [body.nodes[s] for s, _ in node.inputs]
            backs = [k for k, n in enumerate(srcs) if n.op in _NEXTS]
            if not backs:
                continue  # a Merge of a cond inside the loop
            if len(backs) != 1 or len(node.inputs) != 2:
                raise UnsupportedOpError("a loop Merge must join one entry and one NextIteration",
                                         where=node.where)
            back = backs[0]
            nxt = body.nodes[node.inputs[back][0]]
            if not nxt.inputs:
                raise RuntimeFailure("NextIteration has no input", where=nxt.where)
            self.merges.append((node.index, node.inputs[1 - back], nxt.inputs[0], back))
        if not self.merges:
            raise UnsupportedOpError(f"TF1 loop frame {spec.frame!r} has no loop Merge",
                                     where=body.name)
        self.exits = [body.resolve(ref) for ref in spec.exits]
        fed = frozenset(self.args)
        self.entry_plan = body.plan([m[1] for m in self.merges], (), fed)
        self.step_plan = body.plan(self.exits + [m[2] for m in self.merges], (),
                                   fed | {m[0] for m in self.merges})

    def run(self, node: Any, inputs: list[Any], ctx: Context) -> list[Any]:
        """Run the loop on the Enter nodes' values; returns the Exit nodes' values."""
        args = []
        for value, read in zip(inputs, self.reads_value):
            if read and isinstance(value, _vars.Ref):
                value = ctx.session.store.read(value.handle, node.where)
            args.append(value)
        fed: dict[int, Any] = {i: [v] for i, v in zip(self.args, args)}
        first = ctx.execute(self.body, self.entry_plan, fed)
        state = [first[src][out] for _, (src, out), _, _ in self.merges]
        came_from = [1 - back for _, _, _, back in self.merges]
        results: list[Any] = [DEAD] * len(self.exits)
        n = 0
        while True:
            n += 1
            ctx.meter.iteration(n, node.where)
            step = dict(fed)
            for (merge, _, _, _), value, k in zip(self.merges, state, came_from):
                step[merge] = [value, _index(k)]
            values = ctx.execute(self.body, self.step_plan, step)
            for k, (src, out) in enumerate(self.exits):
                v = values[src][out]
                if v is not DEAD:
                    results[k] = v
            state = [values[src][out] for _, _, (src, out), _ in self.merges]
            if all(v is DEAD for v in state):
                return results
            came_from = [back for _, _, _, back in self.merges]


def _index(k: int) -> Any:
    import numpy as np

    return np.array(k, np.int32)


def compile_loops(specs: list[LoopSpec], body_name: str,
                  library: Mapping[str, FunctionDef], make_body: Any) -> list[Loop]:
    """A :class:`Loop` for each spec; ``make_body(name, defs, args, ref_args)`` builds a Body."""
    loops = []
    for spec in specs:
        ref_args = {i for i, nd in enumerate(spec.enters) if nd.op == "RefEnter"}
        body = make_body(f"TF1 loop {spec.frame!r} in {body_name}", spec.inner,
                         [nd.name for nd in spec.enters], ref_args)
        loops.append(Loop(spec, body))
    return loops
