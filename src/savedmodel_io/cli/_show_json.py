"""``savedmodel-io show --json``: the information of the text output as one JSON document.

The document is described lazily (:class:`Members` and :class:`Elements` produce their
contents on demand), so :func:`write_json` prints it as it goes, one signature or function
at a time, and never holds the whole text; :func:`render_json` builds the same document as
plain data. The text is exactly ``json.dumps(doc, indent=2)``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from savedmodel_io.cli._load_order import in_load_order
from savedmodel_io.cli._show_text import custom_ops, is_array, tags_arg
from savedmodel_io.model import MetaGraph, SavedModel, Signature
from savedmodel_io.specs import BoundedTensorSpec, DType, TensorShape, TensorSpec, TypeSpec

__all__ = ["render_json", "write_json"]

_INDENT = "  "


class Members:
    """A JSON object whose (key, value) members are produced when it is written."""

    def __init__(self, members: Callable[[], Iterable[tuple[str, Any]]]) -> None:
        self.members = members


class Elements:
    """A JSON array whose elements are produced when it is written."""

    def __init__(self, elements: Callable[[], Iterable[Any]]) -> None:
        self.elements = elements


def render_json(
    model: SavedModel,
    *,
    all: bool = False,
    tag_set: str | None = None,
    signature_def: str | None = None,
    list_ops: bool = False,
) -> dict[str, Any]:
    """The information of the matching text output, as JSON-ready data."""
    doc = _document(model, all=all, tag_set=tag_set, signature_def=signature_def, list_ops=list_ops)
    out: dict[str, Any] = _plain(doc)
    return out


def write_json(
    write: Callable[[str], object],
    model: SavedModel,
    *,
    all: bool = False,
    tag_set: str | None = None,
    signature_def: str | None = None,
    list_ops: bool = False,
) -> None:
    """Write ``json.dumps(render_json(...), indent=2)`` and a newline, piece by piece."""
    doc = _document(model, all=all, tag_set=tag_set, signature_def=signature_def, list_ops=list_ops)
    _write(doc, write, 0)
    write("\n")


def _plain(value: Any) -> Any:
    """``value`` with every lazy object and list inside it built."""
    if isinstance(value, Members):
        return {k: _plain(v) for k, v in value.members()}
    if isinstance(value, Elements):
        return [_plain(v) for v in value.elements()]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _write(value: Any, write: Callable[[str], object], level: int) -> None:
    """Write ``value`` as ``json.dumps(..., indent=2)`` would, nested ``level`` deep."""
    if isinstance(value, (Members, dict)):
        items: Iterable[tuple[str, Any]] = (
            value.members() if isinstance(value, Members) else value.items()
        )
        _write_seq(
            ((json.dumps(k) + ": ", v) for k, v in items), "{", "}", write, level
        )
    elif isinstance(value, (Elements, list)):
        elements = value.elements() if isinstance(value, Elements) else value
        _write_seq((("", v) for v in elements), "[", "]", write, level)
    else:
        write(json.dumps(value, indent=2).replace("\n", "\n" + _INDENT * level))


def _write_seq(
    entries: Iterator[tuple[str, Any]], open_: str, close: str,
    write: Callable[[str], object], level: int,
) -> None:
    pad = "\n" + _INDENT * (level + 1)
    first = True
    for prefix, value in entries:
        write((open_ if first else ",") + pad + prefix)
        _write(value, write, level + 1)
        first = False
    write(open_ + close if first else "\n" + _INDENT * level + close)


def _document(
    model: SavedModel,
    *,
    all: bool,
    tag_set: str | None,
    signature_def: str | None,
    list_ops: bool,
) -> dict[str, Any]:
    if all:
        doc: dict[str, Any] = {
            "meta_graphs": Elements(
                lambda: (_meta_graph(mg) for mg in sorted(model.meta_graphs, key=lambda m: list(m.tags)))
            )
        }
        fns = _functions(model)
        if fns is not None:
            doc["concrete_functions"] = fns
            custom = sorted({op for mg in model.meta_graphs for op in custom_ops(mg)})
            if custom:  # the text says N/A here, as saved_model_cli does
                doc["custom_ops"] = custom
        return doc
    if tag_set is None:
        return {"tag_sets": [sorted(t) for t in sorted(list(t) for t in model.tag_sets)]}
    mg = model.meta_graph(tags_arg(tag_set))
    doc = {"tags": list(mg.tags)}
    if list_ops:
        doc["ops"] = mg.ops
    if signature_def is None:
        doc["signature_keys"] = sorted(mg.proto.signature_def)
    else:
        doc["signature"] = {"key": signature_def, **_sig_json(mg.signature(signature_def))}
    return doc


def _meta_graph(mg: MetaGraph) -> dict[str, Any]:
    # One Signature at a time, not kept (mg.signatures would keep them all).
    sd = mg.proto.signature_def
    return {
        "tags": list(mg.tags),
        "signatures": Members(lambda: ((k, _sig_json(Signature(k, sd[k], mg))) for k in sorted(sd))),
        "ops": mg.ops,
    }


def _sig_json(sig: Signature) -> dict[str, Any]:
    return {
        "inputs": {k: _spec_json(s) for k, s in sig.inputs.items()},
        "outputs": {k: _spec_json(s) for k, s in sig.outputs.items()},
        "method_name": sig.method_name,
    }


def _spec_json(s: TensorSpec) -> dict[str, Any]:
    d: dict[str, Any] = {
        "name": s.name,
        "dtype": s.dtype_name,
        "shape": None if s.shape is None else list(s.shape),
        "encoding": s.encoding,
    }
    if s.coo_sparse is not None:
        c = s.coo_sparse
        d["coo_sparse"] = {
            "values_tensor_name": c.values_tensor_name,
            "indices_tensor_name": c.indices_tensor_name,
            "dense_shape_tensor_name": c.dense_shape_tensor_name,
        }
    if s.type_spec is not None:
        d["type_spec"] = _value_json(s.type_spec)
        d["components"] = [_spec_json(c) for c in s.components]
    return d


def _functions(model: SavedModel) -> Members | None:
    graphs = [mg for mg in model.meta_graphs if mg.object_graph is not None]
    if not graphs:
        return None
    mg = graphs[0]
    og = mg.object_graph
    assert og is not None

    def members() -> Iterator[tuple[str, Any]]:
        for name, cfs in og.functions().items():
            yield name, [
                {
                    "concrete_function": cf.name,
                    "input_signature": _value_json(cf.input_signature),
                    "output_signature": _value_json(cf.output_signature),
                }
                for cf in in_load_order(mg, cfs)
            ]

    return Members(members)


def _value_json(x: Any) -> Any:
    if x is None or isinstance(x, (bool, int, float, str)):
        return x
    if isinstance(x, TensorSpec):
        d = {
            "tensor_spec": {
                "name": x.name,
                "dtype": x.tf_dtype,
                "shape": None if x.shape is None else list(x.shape),
            }
        }
        if isinstance(x, BoundedTensorSpec):
            d["tensor_spec"]["minimum"] = _value_json(x.minimum)
            d["tensor_spec"]["maximum"] = _value_json(x.maximum)
        return d
    if isinstance(x, TypeSpec):
        return {"type_spec": x.type_name, "state": _value_json(x.state)}
    if isinstance(x, DType):
        return {"dtype": x.name}
    if isinstance(x, TensorShape):
        return {"shape": None if x.dims is None else list(x.dims)}
    if isinstance(x, tuple) and hasattr(x, "_fields"):
        return {"namedtuple": type(x).__name__, "fields": {f: _value_json(v) for f, v in zip(x._fields, x)}}
    if isinstance(x, dict):
        return {str(k): _value_json(v) for k, v in x.items()}
    if is_array(x):
        return {"tensor": _value_json(x.tolist()) if x.dtype != object else [
            v.decode("utf-8", "replace") if isinstance(v, bytes) else v for v in x.ravel().tolist()
        ]}
    if isinstance(x, bytes):
        return x.decode("utf-8", "replace")
    if isinstance(x, Iterable):
        return [_value_json(v) for v in x]
    return str(x)
