"""AttrValue protos as Python values: the one decoding the runtime, kernels and OpDef defaults share."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from savedmodel_io import tensors
from savedmodel_io.proto import AttrValue

__all__ = ["FuncRef", "decode_attr"]

# AttrValue.list fields, in the order a non-empty one is looked for.
_LIST_KINDS = ("s", "i", "f", "b", "type", "shape", "tensor", "func")


@dataclass(frozen=True)
class FuncRef:
    """A function-valued attr: the library function's name and its instantiation attrs."""

    name: str
    attr: dict[str, Any] = field(default_factory=dict)


def decode_attr(value: AttrValue, *, where: str = "") -> Any:
    """Python value of an AttrValue (bytes, int, float, bool, DataType, shape, array, FuncRef, list)."""
    kind = value.WhichOneof("value")
    if kind is None:
        return None
    if kind == "list":
        lv = value.list
        for name in _LIST_KINDS:
            items = getattr(lv, name)
            if len(items):
                return [_decode_one(name, x, where) for x in items]
        return []
    return _decode_one(kind, getattr(value, kind), where)


def _decode_one(kind: str, x: Any, where: str) -> Any:
    if kind in ("s", "i", "b", "type", "placeholder"):
        return x
    if kind == "f":
        return float(x)
    if kind == "shape":
        return tensors.shape_from_proto(x)
    if kind == "tensor":
        return tensors.to_array(x, where=where)
    if kind == "func":
        return FuncRef(x.name, {k: decode_attr(v, where=where) for k, v in x.attr.items()})
    return x
