"""Count a SavedModel's repeated parts on the wire, and refuse too many before parsing.

A MetaGraphDef, SignatureDef or NodeDef may be two bytes on the wire (tag, zero
length) yet costs 50-110 bytes once protobuf (upb) has parsed it, and far more once
Python objects wrap it: 6 MB of empty meta graphs used to take 2.6 GB. So the binary
``saved_model.pb`` is read field by field first, down the paths below, counting what
each level repeats; parsing starts only when every count is within its limit. Text and
chunked files are counted the same way after parsing, before anything wraps them.

The limits are far above what TensorFlow writes (one meta graph per tag-set, a handful
of signatures, thousands of functions and nodes); raise them for unusual trusted files.

Field numbers: tensorflow/tensorflow tensorflow/core/protobuf/{saved_model,meta_graph,
saved_object_graph}.proto and tensorflow/core/framework/{graph,function}.proto.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any, Protocol, Union

from savedmodel_io._accel import note_slow
from savedmodel_io.errors import LimitExceededError
from savedmodel_io.proto import SavedModel

__all__ = [
    "ACCELERATED",
    "MAX_FIELDS",
    "MAX_FUNCTIONS",
    "MAX_META_GRAPHS",
    "MAX_NODES",
    "MAX_SIGNATURES",
    "MAX_SIGNATURE_TENSORS",
    "check_message",
    "check_wire",
]


class _Compiled(Protocol):
    """What the C accelerator (_census.c, typed in _census.pyi) offers."""

    def count(
        self, data: bytes | bytearray | memoryview,
        plans: Sequence[Sequence[tuple[int, int, int]]], left: Sequence[int],
    ) -> tuple[list[int], int]: ...


_compiled: _Compiled | None
try:  # the optional C accelerator (same walk), built by setup.py when a compiler exists
    from savedmodel_io.formats import _census as _compiled
except ImportError:  # pragma: no cover - depends on the build
    _compiled = None

#: True when the C accelerator counts the fields.
ACCELERATED = _compiled is not None

#: Meta graphs in one SavedModel (TensorFlow writes one per tag-set).
MAX_META_GRAPHS = 1_000
#: SignatureDefs in all meta graphs together.
MAX_SIGNATURES = 100_000
#: Inputs and outputs of all signatures together.
MAX_SIGNATURE_TENSORS = 1_000_000
#: FunctionDefs of the function libraries plus concrete functions of the object graphs.
MAX_FUNCTIONS = 500_000
#: NodeDefs of the graphs and of every function, plus objects of the object graphs.
MAX_NODES = 5_000_000
#: Fields read while counting (bounds the time the count itself may take).
MAX_FIELDS = 20_000_000

_LIMITS = {
    "meta graphs": "MAX_META_GRAPHS",
    "signatures": "MAX_SIGNATURES",
    "signature inputs and outputs": "MAX_SIGNATURE_TENSORS",
    "functions": "MAX_FUNCTIONS",
    "nodes": "MAX_NODES",
    "fields": "MAX_FIELDS",
}

# What to count and where to descend: field number -> (what it counts or None, the
# schema of its submessage or None). Map fields are repeated entries whose value is field 2.
Schema = dict[int, tuple[Union[str, None], Union["Schema", None]]]
_SIGNATURE_DEF: Schema = {1: ("signature inputs and outputs", None),
                          2: ("signature inputs and outputs", None)}
_FUNCTION_DEF: Schema = {3: ("nodes", None)}
_LIBRARY: Schema = {1: ("functions", _FUNCTION_DEF)}
_GRAPH_DEF: Schema = {1: ("nodes", None), 2: (None, _LIBRARY)}
_OBJECT_GRAPH: Schema = {1: ("nodes", None), 2: ("functions", None)}
_META_GRAPH: Schema = {
    2: (None, _GRAPH_DEF),
    5: ("signatures", {2: (None, _SIGNATURE_DEF)}),
    7: (None, _OBJECT_GRAPH),
}
_SIGNATURES_ONLY: Schema = {5: ("signatures", {2: (None, _SIGNATURE_DEF)})}
_SAVED_MODEL: Schema = {2: ("meta graphs", _META_GRAPH)}
_SAVED_MODEL_SIGNATURES: Schema = {2: ("meta graphs", _SIGNATURES_ONLY)}

_MAX_GROUP_DEPTH = 100  # protobuf's own nesting limit


class _Malformed(Exception):
    """The wire format is broken here: stop counting, the parser will report it."""


class _Counter:
    """What may still be counted of each kind; LimitExceededError past a limit."""

    def __init__(self, path: str | os.PathLike[str] | None) -> None:
        self.path = path
        self.limits = {kind: globals()[name] for kind, name in _LIMITS.items()}
        self.left = dict(self.limits)

    def counts(self) -> dict[str, int]:
        return {kind: self.limits[kind] - self.left[kind] for kind in _LIMITS}

    def add(self, kind: str, n: int = 1) -> None:
        self.left[kind] -= n
        if self.left[kind] < 0:
            self.exceeded(kind)

    def exceeded(self, kind: str) -> None:
        name = _LIMITS[kind]
        raise LimitExceededError(
            f"more than {globals()[name]} {kind} (savedmodel_io.formats.census.{name}); "
            "raise the limit if this file is trusted",
            path=self.path,
        )


def check_wire(
    data: bytes | memoryview, path: str | os.PathLike[str] | None = None, *,
    signatures_only: bool = False,
) -> dict[str, int]:
    """Refuse a serialized SavedModel that repeats any counted part too often (LimitExceededError).

    Returns the counts. ``signatures_only`` counts meta graphs, signatures and their tensors
    only (for readers that skip the rest). Broken wire format stops the count quietly: the
    parser reports it.
    """
    schema = _SAVED_MODEL_SIGNATURES if signatures_only else _SAVED_MODEL
    counter = _Counter(path)
    if _compiled is not None:
        kinds = list(_LIMITS)
        left, exceeded = _compiled.count(data, _plans(id(schema), schema),
                                         [counter.left[k] for k in kinds])
        counter.left = dict(zip(kinds, left))
        if exceeded >= 0:
            counter.exceeded(kinds[exceeded])
        return counter.counts()
    note_slow("field census", len(data))
    try:
        _walk(bytes(data), 0, len(data), schema, counter, 0)
    except _Malformed:
        pass
    return counter.counts()


_PLANS: dict[int, list[list[tuple[int, int, int]]]] = {}


def _plans(key: int, schema: Schema) -> list[list[tuple[int, int, int]]]:
    """``schema`` as the C walker takes it: plans of (field, kind index, sub plan index) rules."""
    cached = _PLANS.get(key)
    if cached is not None:
        return cached
    kinds = list(_LIMITS)
    plans: list[list[tuple[int, int, int]]] = []

    def add(sch: Schema) -> int:
        index = len(plans)
        plans.append([])
        rules = []
        for field, (kind, sub) in sch.items():
            rules.append((field, -1 if kind is None else kinds.index(kind),
                          -1 if sub is None else add(sub)))
        plans[index] = rules
        return index

    add(schema)
    _PLANS[key] = plans
    return plans


def _varint(buf: bytes, pos: int, end: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= end or shift > 63:
            raise _Malformed
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if b < 0x80:
            return result, pos
        shift += 7


def _walk(
    buf: bytes, pos: int, end: int, schema: Schema, counter: _Counter, group: int
) -> int:
    """Count the fields of one message in ``buf[pos:end]``; returns where it ended.

    Inside a group (``group`` > 0) the message ends at its end-group tag instead.
    The C accelerator (``_census.c``) is this function, compiled: keep them in step.
    """
    left = counter.left
    fields = left["fields"]  # a local copy, written back around calls and at the end
    try:
        while pos < end:
            tag = buf[pos]
            if tag < 0x80:
                pos += 1
            else:
                tag, pos = _varint(buf, pos, end)
            fields -= 1
            wire = tag & 7
            if wire == 2:
                if pos < end and buf[pos] < 0x80:
                    n = buf[pos]
                    pos += 1
                else:
                    n, pos = _varint(buf, pos, end)
                if pos + n > end:
                    raise _Malformed
                rule = schema.get(tag >> 3)
                if rule is not None:
                    kind, sub = rule
                    if kind is not None:
                        left[kind] -= 1
                        if left[kind] < 0:
                            counter.exceeded(kind)
                    if sub is not None:
                        left["fields"] = fields
                        try:
                            _walk(buf, pos, pos + n, sub, counter, 0)
                        finally:
                            fields = left["fields"]
                pos += n
            elif wire == 0:
                _, pos = _varint(buf, pos, end)
            elif wire == 1 or wire == 5:
                pos += 8 if wire == 1 else 4
                if pos > end:
                    raise _Malformed
            elif wire == 3 and group < _MAX_GROUP_DEPTH:
                left["fields"] = fields
                try:
                    pos = _walk(buf, pos, end, {}, counter, group + 1)
                finally:
                    fields = left["fields"]
            elif wire == 4 and group:
                return pos
            else:
                raise _Malformed
            if tag < 8:
                raise _Malformed  # field number 0
            if fields < 0:
                counter.exceeded("fields")
        if group:
            raise _Malformed
        return pos
    finally:
        left["fields"] = fields


def check_message(sm: SavedModel, path: str | os.PathLike[str] | None = None) -> dict[str, int]:
    """The same limits on an already parsed SavedModel (text or chunked files), before wrapping.

    Returns the counts (no fields are read: that count stays 0).
    """
    counter = _Counter(path)
    counter.add("meta graphs", len(sm.meta_graphs))
    for mg in sm.meta_graphs:
        counter.add("signatures", len(mg.signature_def))
    for mg in sm.meta_graphs:
        for sig in mg.signature_def.values():
            counter.add("signature inputs and outputs", len(sig.inputs) + len(sig.outputs))
        library: Any = mg.graph_def.library.function
        og = mg.object_graph_def
        counter.add("functions", len(library) + len(og.concrete_functions))
        counter.add("nodes", len(mg.graph_def.node) + len(og.nodes))
    for mg in sm.meta_graphs:
        for f in mg.graph_def.library.function:
            counter.add("nodes", len(f.node_def))
    return counter.counts()
