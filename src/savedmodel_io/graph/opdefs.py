"""TensorFlow's op definitions as small typed records: args, attrs and defaults of every op.

The facts come from the tensorflow/tensorflow op registry of TensorFlow 2.21.0
(``TF_GetAllOpList``), written to ``opdefs.jsonl`` next to this module by
``tools/gen_opdefs.py`` (one op per line, sorted; descriptions are not kept) and
checked against the installed TensorFlow by tests/graph/test_opdefs.py. The file is
read once, on first use.

Attr defaults are kept twice over: as the AttrValue TensorFlow records (the graph
builder writes it unchanged) and decoded like any node attr by
:func:`savedmodel_io.graph.attrs.decode_attr` (the runtime fills missing attrs with it).
Which family an op belongs to, and which ops the runtime leaves out, are our own
facts: see :mod:`savedmodel_io.graph.families`.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from savedmodel_io import tensors
from savedmodel_io.errors import InvalidArgumentError, SavedModelError
from savedmodel_io.graph.attrs import decode_attr
from savedmodel_io.proto import AttrValue, DataType, NameAttrList, TensorProto
from savedmodel_io.proto import OpDef as OpDefProto

__all__ = [
    "ArgDef",
    "AttrDef",
    "OpDef",
    "arg_counts",
    "from_proto",
    "get",
    "header",
    "input_layout",
    "is_registered",
    "names",
    "no_outputs",
    "output_count",
    "output_layout",
    "output_offset",
    "to_record",
]

FACT_FILE = Path(__file__).with_name("opdefs.jsonl")


@dataclass(frozen=True)
class ArgDef:
    """One input or output arg: a fixed DataType, or the attr(s) giving its type and count."""

    name: str
    type: int = 0  # DataType when fixed, else 0 (DT_INVALID)
    type_attr: str = ""
    number_attr: str = ""  # the arg is a list of this many tensors of one type
    type_list_attr: str = ""  # the arg is a list with one tensor per listed type
    is_ref: bool = False

    @property
    def is_list(self) -> bool:
        """Whether the arg stands for a list of tensors (its count comes from an attr)."""
        return bool(self.number_attr or self.type_list_attr)


@dataclass(frozen=True)
class AttrDef:
    """One attr: its type ("int", "list(type)", ...), default and constraints."""

    name: str
    type: str
    default_value: AttrValue | None = field(default=None, repr=False)  # TensorFlow's default, as recorded (do not mutate)
    default: Any = None  # default_value decoded like a node attr (None: no default)
    allowed_values: tuple[Any, ...] | None = None  # DataType ints or bytes
    minimum: int | None = None

    @property
    def has_default(self) -> bool:
        """Whether a node may leave the attr out."""
        return self.default_value is not None


@dataclass(frozen=True)
class OpDef:
    """One op: its args, attrs and flags."""

    name: str
    inputs: tuple[ArgDef, ...] = ()
    outputs: tuple[ArgDef, ...] = ()
    attrs: tuple[AttrDef, ...] = ()
    is_stateful: bool = False
    is_commutative: bool = False
    is_aggregate: bool = False
    allows_uninitialized_input: bool = False
    is_distributed_communication: bool = False
    deprecated_at: int | None = None  # GraphDef version from which TensorFlow refuses the op
    defaults: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "defaults",
                           {a.name: a.default for a in self.attrs if a.has_default})

    def attr(self, name: str) -> AttrDef | None:
        """The attr called ``name``, or None."""
        for a in self.attrs:
            if a.name == name:
                return a
        return None


# -- the fact file ----------------------------------------------------------------------

_lines: dict[str, str] | None = None  # op name -> its JSON line, decoded on first get()
_parsed: dict[str, OpDef] = {}
_NAME_START = len('{"name":"')


def _load() -> dict[str, str]:
    global _lines
    if _lines is None:
        lines: dict[str, str] = {}
        with open(FACT_FILE, encoding="utf-8") as f:
            f.readline()  # the header: where the facts come from
            for line in f:  # each line starts {"name":"<op>", (op names hold no quotes)
                lines[line[_NAME_START:line.index('"', _NAME_START)]] = line
        _lines = lines
    return _lines


def header() -> dict[str, Any]:
    """The fact file's first line: source, TensorFlow version, generator, op count."""
    with open(FACT_FILE, encoding="utf-8") as f:
        head: dict[str, Any] = json.loads(f.readline())
    return head


def get(op: str) -> OpDef | None:
    """TensorFlow's definition of ``op``, or None for an op TensorFlow does not register."""
    found = _parsed.get(op)
    if found is None:
        line = _load().get(op)
        if line is None:
            return None
        found = _parsed[op] = from_record(json.loads(line))
    return found


def is_registered(op: str) -> bool:
    """Whether TensorFlow 2.21 registers ``op`` (custom ops such as tensorflow-text's do not)."""
    return op in _load()


def names() -> list[str]:
    """Every registered op name, sorted."""
    return sorted(_load())


def no_outputs(op: str) -> bool:
    """Whether ``op`` is registered and has no outputs at all (NoOp, AssignVariableOp, SaveV2...)."""
    od = get(op)
    return od is not None and not od.outputs


# -- arity ------------------------------------------------------------------------------

def arg_counts(args: Sequence[ArgDef], attrs: Mapping[str, Any],
               od: OpDef | None = None) -> list[int | None]:
    """How many tensors each arg stands for, given a node's decoded attrs.

    A missing count attr falls back to the OpDef's default; None when neither says.
    ValueError when a count attr holds the wrong kind of value (a hostile graph).
    """
    defaults = od.defaults if od is not None else {}
    out: list[int | None] = []
    for a in args:
        if a.number_attr:
            n = attrs.get(a.number_attr, defaults.get(a.number_attr))
            if n is not None and (not isinstance(n, int) or isinstance(n, bool) or n < 0):
                raise ValueError(f"{a.number_attr} must be a non-negative int, got {n!r}")
            out.append(n)
        elif a.type_list_attr:
            types = attrs.get(a.type_list_attr, defaults.get(a.type_list_attr))
            if types is not None and not isinstance(types, list):
                raise ValueError(f"{a.type_list_attr} must be a list of types, got {types!r}")
            out.append(None if types is None else len(types))
        else:
            out.append(1)
    return out


def output_layout(od: OpDef, attrs: Mapping[str, Any]) -> list[tuple[str, int | None]]:
    """``[(output arg name, tensor count)]`` of a node of ``od`` (count None: not known)."""
    return list(zip([a.name for a in od.outputs], arg_counts(od.outputs, attrs, od)))


def input_layout(od: OpDef, attrs: Mapping[str, Any]) -> list[tuple[str, int | None]]:
    """``[(input arg name, tensor count)]`` of a node of ``od`` (count None: not known)."""
    return list(zip([a.name for a in od.inputs], arg_counts(od.inputs, attrs, od)))


def output_count(od: OpDef, attrs: Mapping[str, Any]) -> int | None:
    """How many output tensors a node of ``od`` has (None: a count attr is missing)."""
    counts = arg_counts(od.outputs, attrs, od)
    return None if None in counts else sum(c for c in counts if c is not None)


def output_offset(od: OpDef, attrs: Mapping[str, Any], arg: str) -> int | None:
    """Flat index of the first tensor of output arg ``arg`` (for ``node:arg:i`` names).

    None when the op has no such output, or an earlier list's length is not known.
    """
    offset = 0
    for (name, count) in output_layout(od, attrs):
        if name == arg:
            return offset
        if count is None:
            return None
        offset += count
    return None


# -- records: OpDef protos <-> JSON-able dicts <-> OpDef ----------------------------------
#
# A record keeps only facts (no summaries or descriptions). DataTypes are written by
# name ("DT_FLOAT"), floats as the shortest text that gives the same float32, strings as
# text (bytes that are not UTF-8 survive through surrogate escapes), shapes as lists with
# null for an unknown dim (null alone: unknown rank), tensors as base64 TensorProto bytes.

_FLAGS = (("is_stateful", "stateful"), ("is_commutative", "commutative"),
          ("is_aggregate", "aggregate"), ("allows_uninitialized_input", "uninitialized_input"),
          ("is_distributed_communication", "distributed"))


def to_record(proto: OpDefProto) -> dict[str, Any]:
    """The facts of an OpDef proto as a JSON-able dict (the fact file's line format)."""
    rec: dict[str, Any] = {"name": proto.name}
    if proto.input_arg:
        rec["input"] = [_arg_record(a) for a in proto.input_arg]
    if proto.output_arg:
        rec["output"] = [_arg_record(a) for a in proto.output_arg]
    if proto.attr:
        rec["attr"] = [_attr_record(a) for a in proto.attr]
    for field_name, key in _FLAGS:
        if getattr(proto, field_name):
            rec[key] = True
    if proto.HasField("deprecation"):
        rec["deprecated"] = proto.deprecation.version
    return rec


def from_record(rec: Mapping[str, Any]) -> OpDef:
    """An OpDef from a fact-file record."""
    return OpDef(
        name=rec["name"],
        inputs=tuple(_arg(a) for a in rec.get("input", ())),
        outputs=tuple(_arg(a) for a in rec.get("output", ())),
        attrs=tuple(_attr(a, rec["name"]) for a in rec.get("attr", ())),
        is_stateful=bool(rec.get("stateful")),
        is_commutative=bool(rec.get("commutative")),
        is_aggregate=bool(rec.get("aggregate")),
        allows_uninitialized_input=bool(rec.get("uninitialized_input")),
        is_distributed_communication=bool(rec.get("distributed")),
        deprecated_at=rec.get("deprecated"),
    )


def from_proto(proto: OpDefProto) -> OpDef:
    """An OpDef from an OpDef proto (e.g. a custom op in a MetaGraph's stripped_op_list).

    InvalidArgumentError for an OpDef TensorFlow could not have made (unknown attr types,
    DataTypes or default kinds).
    """
    try:
        return from_record(to_record(proto))
    except SavedModelError:
        raise
    except (ValueError, KeyError, TypeError) as exc:
        raise InvalidArgumentError(f"malformed OpDef {proto.name!r}: {type(exc).__name__}: {exc}",
                                   where="stripped_op_list") from None


def _arg_record(a: Any) -> dict[str, Any]:
    rec: dict[str, Any] = {"name": a.name}
    if a.type:
        rec["type"] = DataType.Name(a.type)
    for key in ("type_attr", "number_attr", "type_list_attr"):
        if getattr(a, key):
            rec[key] = getattr(a, key)
    if a.is_ref:
        rec["ref"] = True
    return rec


def _arg(rec: Mapping[str, Any]) -> ArgDef:
    return ArgDef(rec["name"], DataType.Value(rec["type"]) if "type" in rec else 0,
                  rec.get("type_attr", ""), rec.get("number_attr", ""),
                  rec.get("type_list_attr", ""), bool(rec.get("ref")))


def _attr_record(a: Any) -> dict[str, Any]:
    rec: dict[str, Any] = {"name": a.name, "type": a.type}
    if a.HasField("default_value"):
        rec["default"] = _value_json(a.type, a.default_value)
    if a.HasField("allowed_values"):
        rec["allowed"] = _value_json(_list_of(a.type), a.allowed_values)
    if a.has_minimum:
        rec["minimum"] = a.minimum
    return rec


def _attr(rec: Mapping[str, Any], op: str) -> AttrDef:
    kind = rec["type"]
    default_value = _value_proto(kind, rec["default"]) if "default" in rec else None
    allowed = None
    if "allowed" in rec:
        allowed = tuple(decode_attr(_value_proto(_list_of(kind), rec["allowed"])))
    return AttrDef(
        name=rec["name"],
        type=kind,
        default_value=default_value,
        default=None if default_value is None else decode_attr(
            default_value, where=f"default of attr {rec['name']!r} of {op}"),
        allowed_values=allowed,
        minimum=rec.get("minimum"),
    )


def _list_of(kind: str) -> str:
    """allowed_values of a "type" attr is a list of types (of "list(type)" too)."""
    return kind if kind.startswith("list(") else f"list({kind})"


def _element(kind: str) -> str:
    return kind[5:-1] if kind.startswith("list(") else kind


def _value_json(kind: str, av: AttrValue) -> Any:
    """An AttrValue of attr type ``kind`` as JSON."""
    if kind.startswith("list("):
        elem = _element(kind)
        field_name = _LIST_FIELD.get(elem)
        if field_name is None:
            raise ValueError(f"unknown attr type {kind!r}")
        return [_one_json(elem, x) for x in getattr(av.list, field_name)]
    return _one_json(kind, getattr(av, _ONE_FIELD[kind]))


def _value_proto(kind: str, value: Any) -> AttrValue:
    """The AttrValue of attr type ``kind`` that :func:`_value_json` wrote as ``value``."""
    av = AttrValue()
    if kind.startswith("list("):
        elem = _element(kind)
        lst = av.list
        lst.SetInParent()
        target = getattr(lst, _LIST_FIELD[elem])
        for v in value:
            if elem in ("shape", "tensor", "func"):
                target.add().CopyFrom(_one_proto(elem, v))
            else:
                target.append(_one_proto(elem, v))
        return av
    one = _one_proto(kind, value)
    field_name = _ONE_FIELD[kind]
    if field_name in ("shape", "tensor", "func"):
        getattr(av, field_name).CopyFrom(one)
    else:
        setattr(av, field_name, one)
    return av


_ONE_FIELD = {"string": "s", "int": "i", "float": "f", "bool": "b", "type": "type",
              "shape": "shape", "tensor": "tensor", "func": "func"}
_LIST_FIELD = _ONE_FIELD


def _one_json(kind: str, x: Any) -> Any:
    if kind == "string":
        return bytes(x).decode("utf-8", "surrogateescape")
    if kind == "type":
        return DataType.Name(x)
    if kind == "float":
        return _float32_text(x)
    if kind == "shape":
        shape = tensors.shape_from_proto(x)
        return None if shape is None else list(shape)
    if kind == "tensor":
        return base64.b64encode(x.SerializeToString(deterministic=True)).decode("ascii")
    if kind == "func":
        if x.attr:
            raise ValueError("func defaults with attrs are not kept")
        return x.name
    return x  # int, bool


def _one_proto(kind: str, v: Any) -> Any:
    if kind == "string":
        return str(v).encode("utf-8", "surrogateescape")
    if kind == "type":
        return DataType.Value(v)
    if kind == "float":
        return float(v)
    if kind == "shape":
        return tensors.shape_to_proto(None if v is None else tuple(v))
    if kind == "tensor":
        return TensorProto.FromString(base64.b64decode(v))
    if kind == "func":
        return NameAttrList(name=v)
    return v


def _float32_text(x: float) -> float:
    """The shortest decimal that reads back as the same float32 (0.0001, not 9.99999974e-05)."""
    import struct

    bits = struct.pack("<f", x)
    for digits in range(1, 18):
        short = float(f"{x:.{digits}g}")
        if struct.pack("<f", short) == bits:
            return short
    return x
