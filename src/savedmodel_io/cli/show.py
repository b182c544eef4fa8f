"""``savedmodel-io show``: saved_model_cli's ``show`` with byte-identical output, plus ``--json``.

Output format facts come from TensorFlow 2.21's saved_model_cli
(tensorflow/tensorflow tensorflow/python/tools/saved_model_cli.py) and were checked
against it on our fixture models. Two deliberate differences: the op list of
``--all`` / ``--list_ops`` is printed sorted (TensorFlow prints a Python set, whose
order changes from run to run), and so are dict-valued function arguments
(TensorFlow prints them in protobuf map order, which also varies).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Iterable
from typing import Any


from savedmodel_io import dtypes
from savedmodel_io.cli._absl import BoolFlag, accept_saved_model_cli_flags
from savedmodel_io.errors import CorruptFileError, InvalidArgumentError, SavedModelError
from savedmodel_io.graph import opdefs
from savedmodel_io.graph.library import called_functions
from savedmodel_io.model import (
    ConcreteFunction,
    MetaGraph,
    SavedModel,
    Signature,
    load,
    normalize_tags,
)
from savedmodel_io.proto import TensorInfo
from savedmodel_io.specs import BoundedTensorSpec, DType, TensorShape, TensorSpec, TypeSpec
from savedmodel_io.cli._links import add_flag as add_links_flag

__all__ = ["register", "render", "render_json", "run"]

_HELP = """\
Usage examples:
To show all tag-sets in a SavedModel:
$savedmodel-io show --dir /tmp/saved_model

To show all available SignatureDef keys in a MetaGraphDef specified by its tag-set:
$savedmodel-io show --dir /tmp/saved_model --tag_set serve

For a MetaGraphDef with multiple tags in the tag-set, all tags must be passed in, separated by ',':
$savedmodel-io show --dir /tmp/saved_model --tag_set serve,gpu

To show all inputs and outputs TensorInfo for a specific SignatureDef specified by the SignatureDef key in a MetaGraph.
$savedmodel-io show --dir /tmp/saved_model --tag_set serve --signature_def serving_default

To show all ops in a MetaGraph.
$savedmodel-io show --dir /tmp/saved_model --tag_set serve --list_ops

To show all available information in the SavedModel:
$savedmodel-io show --dir /tmp/saved_model --all

Add --json for the same information as one JSON document."""

def register(subparsers: Any) -> None:
    """Add the ``show`` parser (same flags as ``saved_model_cli show``)."""
    p = subparsers.add_parser(
        "show",
        help="show tag-sets, signatures, ops and functions (saved_model_cli show)",
        description=_HELP,
        formatter_class=argparse.RawTextHelpFormatter,
    )
    p.add_argument("--dir", "-dir", required=True, help="Directory containing the SavedModel.")
    p.add_argument(
        "--all", "-all", "--noall", "-noall", action=BoolFlag,
        help="If set, outputs all available information in the given SavedModel.",
    )
    p.add_argument(
        "--tag_set", "-tag_set", default=None,
        help="Comma-separated set of tags that identify variant graphs in the SavedModel.",
    )
    p.add_argument(
        "--signature_def", "-signature_def", default=None,
        help="Specifies a SignatureDef (by key) within the SavedModel to display input(s) and "
        "output(s) for.",
    )
    p.add_argument(
        "--list_ops", "-list_ops", "--nolist_ops", "-nolist_ops", action=BoolFlag,
        help="If set, will output ops used by a MetaGraphDef specified by tag_set.",
    )
    p.add_argument(
        "--json", action="store_true", help="print the same information as one JSON document"
    )
    accept_saved_model_cli_flags(p)
    add_links_flag(p)
    p.set_defaults(_run=run)


def run(args: argparse.Namespace) -> int:
    """Print what saved_model_cli show would print for these flags (or JSON)."""
    model = load(args.dir, allow_external_links=args.allow_external_links)
    if args.json:
        doc = render_json(
            model, all=args.all, tag_set=args.tag_set, signature_def=args.signature_def,
            list_ops=args.list_ops,
        )
        sys.stdout.write(json.dumps(doc, indent=2) + "\n")
    else:
        # What was rendered before an error is printed too, as saved_model_cli does (e.g. the
        # --list_ops line before an unknown --signature_def).
        out: list[str] = []
        try:
            _render(
                out, model, all=args.all, tag_set=args.tag_set,
                signature_def=args.signature_def, list_ops=args.list_ops,
            )
        finally:
            sys.stdout.write("".join(out))
    sys.stdout.flush()
    return 0


# --- text (saved_model_cli's format) ------------------------------------------------------


def render(
    model: SavedModel,
    *,
    all: bool = False,
    tag_set: str | None = None,
    signature_def: str | None = None,
    list_ops: bool = False,
) -> str:
    """The exact stdout of ``saved_model_cli show`` for these flags."""
    out: list[str] = []
    _render(out, model, all=all, tag_set=tag_set, signature_def=signature_def, list_ops=list_ops)
    return "".join(out)


def _render(
    out: list[str],
    model: SavedModel,
    *,
    all: bool,
    tag_set: str | None,
    signature_def: str | None,
    list_ops: bool,
) -> None:
    if all:
        _all(model, out)
    elif tag_set is None:
        if list_ops:
            out.append("--list_ops must be paired with a tag-set or with --all.\n")
        _tag_sets(model, out)
    else:
        # Listing the keys takes any tag-set, even an empty one (a meta graph saved without
        # tags); --list_ops and --signature_def need a tag.
        listing = signature_def is None and not list_ops
        mg = model.meta_graph(normalize_tags(tag_set) if listing else _tags_arg(tag_set))
        if list_ops:
            _ops_line(mg, out)
        if signature_def is None:
            out.append("The given SavedModel MetaGraphDef contains SignatureDefs with the "
                       "following keys:\n")
            for key in sorted(mg.proto.signature_def):
                out.append(f'SignatureDef key: "{key}"\n')
        else:
            _signature(mg, signature_def, 0, out)


def _tags_arg(tag_set: str) -> frozenset[str]:
    tags = normalize_tags(tag_set)
    if not tags:
        raise InvalidArgumentError("--tag_set must contain at least one non-empty tag")
    return tags


def _tag_sets(model: SavedModel, out: list[str]) -> None:
    out.append("The given SavedModel contains the following tag-sets:\n")
    # saved_model_cli sorts the tag-sets as stored, then each tag-set's tags for printing.
    for tags in sorted(list(t) for t in model.tag_sets):
        out.append(repr(", ".join(sorted(tags))) + "\n")


def _ops_line(mg: MetaGraph, out: list[str]) -> None:
    ops = mg.ops
    body = "{" + ", ".join(repr(o) for o in ops) + "}" if ops else "set()"
    tags = "[" + ", ".join(repr(t) for t in mg.tags) + "]"
    out.append(f"The MetaGraph with tag set {tags} contains the following ops: {body}\n")


def _signature(mg: MetaGraph, key: str, indent: int, out: list[str]) -> None:
    sig = mg.signature(key).proto
    pad = "  " * indent
    out.append(f"{pad}The given SavedModel SignatureDef contains the following input(s):\n")
    for k in sorted(sig.inputs):
        out.append(f"{pad}  inputs['{k}'] tensor_info:\n")
        _tensor_info(sig.inputs[k], indent + 1, out)
    out.append(f"{pad}The given SavedModel SignatureDef contains the following output(s):\n")
    for k in sorted(sig.outputs):
        out.append(f"{pad}  outputs['{k}'] tensor_info:\n")
        _tensor_info(sig.outputs[k], indent + 1, out)
    out.append(f"{pad}Method name is: {sig.method_name}\n")


def _tensor_info(info: TensorInfo, indent: int, out: list[str]) -> None:
    pad = "  " * indent
    shape = info.tensor_shape
    if shape.unknown_rank:
        text = "unknown_rank"
    else:
        text = "(" + ", ".join(str(d.size) for d in shape.dim) + ")"
    out.append(f"{pad}    dtype: {dtypes.dtype_name(info.dtype)}\n")
    out.append(f"{pad}    shape: {text}\n")
    out.append(f"{pad}    name: {info.name}\n")


def _all(model: SavedModel, out: list[str]) -> None:
    for mg in sorted(model.meta_graphs, key=lambda m: list(m.tags)):
        out.append(
            f"\nMetaGraphDef with tag-set: '{', '.join(mg.tags)}' "
            "contains the following SignatureDefs:\n"
        )
        for key in sorted(mg.proto.signature_def):
            out.append(f"\nsignature_def['{key}']:\n")
            _signature(mg, key, 1, out)
        _ops_line(mg, out)
    _functions(model, out)


# Concrete Functions: the root object's tf.functions, as TensorFlow's loader would list them.


def _functions(model: SavedModel, out: list[str]) -> None:
    graphs = [mg for mg in model.meta_graphs if mg.object_graph is not None]
    if not graphs:
        return
    out.append("\nConcrete Functions:")
    if len(model.meta_graphs) > 1:
        # saved_model_cli loads the model with tf.saved_model.load, which refuses a
        # SavedModel of several meta graphs without tags, and reports it like this.
        out.append(" N/A (could not be listed due to unknown reasons)\n")
        return
    mg = graphs[0]
    if custom_ops(mg):
        # Its loader fails with "Op type not registered"; --json still lists the functions.
        out.append(" N/A (could not be listed due to the existence of custom ops in the SavedModel)\n")
        return
    og = mg.object_graph
    assert og is not None
    for name, cfs in og.functions().items():
        out.append(f"\n  Function Name: '{name}'\n")
        bare = og.node(og.root.children[name]).kind == "bare_concrete_function"
        for index, cf in enumerate(_in_load_order(mg, cfs), 1):
            args, kwargs = _call_args(og, name, cf, bare)
            if args:
                out.append(f"    Option #{index}\n")
                out.append("      Callable with:\n")
                _args(args, "Argument", out)
            if kwargs:
                _args(kwargs, "Named Argument", out)


def custom_ops(mg: MetaGraph) -> list[str]:
    """Ops of the function library that TensorFlow does not register (tensorflow-text's...).

    saved_model_cli lists functions by loading the model with TensorFlow, whose loader
    imports every library function (called or not) and fails on such an op; ops of the
    top-level graph alone do not matter, as the loader does not import it (checked
    against TensorFlow 2.21's saved_model_cli in tests/cli/test_show_custom_ops.py).
    """
    library = mg.proto.graph_def.library.function
    names = {f.signature.name for f in library}
    used = {n.op for f in library for n in f.node_def}
    return sorted(op for op in used - names if not opdefs.is_registered(op))


def _call_args(og, name: str, cf: ConcreteFunction, bare: bool) -> tuple[Any, Any]:
    sig = cf.input_signature
    if sig is not None and _truthy(sig):
        args, kwargs = (sig[0], sig[1]) if isinstance(sig, tuple) and len(sig) == 2 else (sig, None)
        for part in (args, kwargs):
            if part is not None and not isinstance(part, (list, tuple, dict)):
                raise CorruptFileError(
                    f"concrete function {cf.name!r} has an input signature that is not "
                    f"(args, kwargs): {type(part).__name__}",
                    path=og._path,
                )
        return args, kwargs
    if bare:
        # A concrete function saved without its Python signature: TensorFlow falls back to
        # the argument keywords.
        return list(og.node(og.root.children[name]).proto.bare_concrete_function.argument_keywords), None
    return None, None


def _in_load_order(mg: MetaGraph, cfs: list[ConcreteFunction]) -> list[ConcreteFunction]:
    """Concrete functions sorted as saved_model_cli sorts them (by their name after loading)."""
    if len(cfs) < 2:
        return list(cfs)
    order = mg.__dict__.get("_load_names")
    if order is None:  # computed once per meta graph, and only when needed
        order = mg.__dict__["_load_names"] = _load_names(mg)
    return sorted(cfs, key=lambda c: order.get(c.name, c.name))


def _truthy(x: Any) -> bool:
    try:
        return bool(x)
    except ValueError:  # numpy arrays
        return True


_INFERENCE = re.compile(r"^__inference_(.*)_\d+$")

def _num_outputs(node: Any, lib: dict[str, Any], stripped: dict[str, Any]) -> int:
    """How many output tensors a node has (TensorFlow gives each one a uid when loading).

    The op's OpDef says (TensorFlow's registry; for a custom op, the meta graph's
    stripped_op_list); a list whose length attr is missing counts 1, an unknown op 1.
    """
    if node.op in lib:
        return len(lib[node.op].signature.output_arg)
    od = opdefs.get(node.op)
    if od is None and node.op in stripped:
        try:
            od = opdefs.from_proto(stripped[node.op])
        except SavedModelError:  # a malformed OpDef: count the node like an unknown op
            od = None
    if od is None:
        return 1
    attrs: dict[str, Any] = {}
    for arg in od.outputs:
        if arg.number_attr in node.attr:
            attrs[arg.number_attr] = node.attr[arg.number_attr].i
        if arg.type_list_attr in node.attr:
            attrs[arg.type_list_attr] = list(node.attr[arg.type_list_attr].list.type)
    return sum(1 if n is None else n for n in opdefs.arg_counts(od.outputs, attrs, od))


def _load_names(mg: MetaGraph) -> dict[str, str]:
    """The names TensorFlow's loader gives the library's concrete functions.

    saved_model_cli sorts a function's concrete functions by these names. The
    loader (tensorflow/python/saved_model/function_deserialization.py,
    ``load_function_def_library``) visits the library in a topological order
    (Kahn's algorithm, LIFO), strips ``__inference_`` and the numeric suffix and
    renames each function ``__inference_<name>_<uid>``. Its global uid counter
    starts at 2 (the load's graph and shared-name suffix) and, per function, takes
    one uid for the function graph, one per output tensor (inputs and every node's
    outputs), one per old-style HashTableV2 node, then one for the name itself.
    """
    lib = {f.signature.name: f for f in mg.proto.graph_def.library.function}
    names = list(lib)
    deps: dict[str, list[str]] = {}
    for fname, f in lib.items():
        d: list[str] = []
        for node in f.node_def:
            # Like TF's loader: a call by op type hides the node's func-valued attrs.
            d.extend([node.op] if node.op in lib else called_functions(node, lib))
        deps[fname] = list(dict.fromkeys(d))
    edges: dict[str, list[str]] = {}
    count: dict[str, int] = {}
    for fname, ds in deps.items():
        for dep in ds:
            edges.setdefault(dep, []).append(fname)
            count[fname] = count.get(fname, 0) + 1
    ready = [n for n in names if count.get(n, 0) == 0]
    order: list[str] = []
    while ready:
        n = ready.pop()
        order.append(n)
        for dest in edges.get(n, ()):
            count[dest] -= 1
            if not count[dest]:
                ready.append(dest)
    stripped = {o.name: o for o in mg.proto.meta_info_def.stripped_op_list.op}
    uid = 2
    out = {}
    for n in order:
        f = lib[n]
        uid += 1 + len(f.signature.input_arg)
        for node in f.node_def:
            uid += _num_outputs(node, lib, stripped)
            if node.op == "HashTableV2" and not (
                "use_node_name_sharing" in node.attr and node.attr["use_node_name_sharing"].b
            ):
                uid += 1
        m = _INFERENCE.match(n)
        out[n] = f"__inference_{m.group(1) if m else n}_{uid}"
        uid += 1
    return out


def _args(arguments: Any, kind: str, out: list[str]) -> None:
    # saved_model_cli iterates its argument container: a dict yields its keys.
    for index, el in enumerate(arguments, 1):
        out.append(f"        {kind} #{index}\n")
        if isinstance(el, str):
            out.append(f"          {el}\n")
        elif isinstance(el, TensorSpec):
            out.append(f"          {el.name}: {_repr(el)}\n")
        elif isinstance(el, dict):
            out.append("          DType: dict\n")
            items = "".join(f"'{k}': {_quoted(v)}, " for k, v in el.items())
            out.append("          Value: {" + items + "\b\b}\n")
        elif _iterable(el):
            out.append(f"          DType: {_type_name(el)}\n")
            items = "".join(f"{_quoted(v)}, " for v in el)
            out.append("          Value: [" + items + "\b\b]\n")
        else:
            out.append(f"          DType: {_type_name(el)}\n")
            out.append(f"          Value: {_str(el)}\n")


def _is_array(x: Any) -> bool:
    """A numpy array (a decoded tensor value); numpy is not imported just to ask."""
    np = sys.modules.get("numpy")
    return np is not None and isinstance(x, np.ndarray)


def _iterable(x: Any) -> bool:
    return (isinstance(x, (list, tuple, TensorShape)) or _is_array(x)) and not (
        isinstance(x, TensorShape) and x.dims is None
    )


def _type_name(x: Any) -> str:
    if isinstance(x, BoundedTensorSpec):
        return "BoundedTensorSpec"
    if isinstance(x, TypeSpec):
        return x.type_name
    if isinstance(x, DType):
        return "DType"
    if _is_array(x):
        return "EagerTensor"
    return type(x).__name__


def _quoted(x: Any) -> str:
    return f"'{x}'" if isinstance(x, str) else _str(x)


def _str(x: Any) -> str:
    """Python ``str()`` of the value TensorFlow would have decoded."""
    if isinstance(x, str):
        return x
    if isinstance(x, DType):
        return f"<dtype: '{x.name}'>"
    if isinstance(x, TensorShape):
        return _shape_str(x.dims)
    return _repr(x)


def _repr(x: Any) -> str:
    """Python ``repr()`` of the value TensorFlow would have decoded."""
    if isinstance(x, BoundedTensorSpec):
        return (
            f"BoundedTensorSpec(shape={_shape_str(x.shape)}, dtype=tf.{x.tf_dtype}, "
            f"name={x.name!r}, minimum={x.minimum!r}, maximum={x.maximum!r})"
        )
    if isinstance(x, TensorSpec):
        return f"TensorSpec(shape={_shape_str(x.shape)}, dtype=tf.{x.tf_dtype}, name={x.name!r})"
    if isinstance(x, TypeSpec):
        return f"{x.type_name}{_repr(x.state)}"
    if isinstance(x, DType):
        return f"tf.{x.name}"
    if isinstance(x, TensorShape):
        return "TensorShape(None)" if x.dims is None else f"TensorShape({list(x.dims)!r})"
    if isinstance(x, tuple) and hasattr(x, "_fields"):
        body = ", ".join(f"{f}={_repr(v)}" for f, v in zip(x._fields, x))
        return f"{type(x).__name__}({body})"
    if isinstance(x, tuple):
        inner = ", ".join(_repr(v) for v in x)
        return f"({inner},)" if len(x) == 1 else f"({inner})"
    if isinstance(x, list):
        return "[" + ", ".join(_repr(v) for v in x) + "]"
    if isinstance(x, dict):
        return "{" + ", ".join(f"{k!r}: {_repr(v)}" for k, v in x.items()) + "}"
    return repr(x)


def _shape_str(dims: Any) -> str:
    """str() of a TF2 TensorShape."""
    if dims is None:
        return "<unknown>"
    if len(dims) == 1:
        return f"({dims[0]},)"
    return "(" + ", ".join(str(d) for d in dims) + ")"


# --- JSON ---------------------------------------------------------------------------------


def render_json(
    model: SavedModel,
    *,
    all: bool = False,
    tag_set: str | None = None,
    signature_def: str | None = None,
    list_ops: bool = False,
) -> dict[str, Any]:
    """The information of the matching text output, as JSON-ready data."""
    if all:
        doc: dict[str, Any] = {
            "meta_graphs": [
                {
                    "tags": list(mg.tags),
                    "signatures": {k: _sig_json(s) for k, s in mg.signatures.items()},
                    "ops": mg.ops,
                }
                for mg in sorted(model.meta_graphs, key=lambda m: list(m.tags))
            ]
        }
        fns = _functions_json(model)
        if fns is not None:
            doc["concrete_functions"] = fns
            custom = sorted({op for mg in model.meta_graphs for op in custom_ops(mg)})
            if custom:  # the text says N/A here, as saved_model_cli does
                doc["custom_ops"] = custom
        return doc
    if tag_set is None:
        return {"tag_sets": [sorted(t) for t in sorted(list(t) for t in model.tag_sets)]}
    mg = model.meta_graph(_tags_arg(tag_set))
    doc = {"tags": list(mg.tags)}
    if list_ops:
        doc["ops"] = mg.ops
    if signature_def is None:
        doc["signature_keys"] = sorted(mg.proto.signature_def)
    else:
        doc["signature"] = {"key": signature_def, **_sig_json(mg.signature(signature_def))}
    return doc


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


def _functions_json(model: SavedModel) -> dict[str, Any] | None:
    graphs = [mg for mg in model.meta_graphs if mg.object_graph is not None]
    if not graphs:
        return None
    og = graphs[0].object_graph
    assert og is not None
    out = {}
    for name, cfs in og.functions().items():
        out[name] = [
            {
                "concrete_function": cf.name,
                "input_signature": _value_json(cf.input_signature),
                "output_signature": _value_json(cf.output_signature),
            }
            for cf in _in_load_order(graphs[0], cfs)
        ]
    return out


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
    if _is_array(x):
        return {"tensor": _value_json(x.tolist()) if x.dtype != object else [
            v.decode("utf-8", "replace") if isinstance(v, bytes) else v for v in x.ravel().tolist()
        ]}
    if isinstance(x, bytes):
        return x.decode("utf-8", "replace")
    if isinstance(x, Iterable):
        return [_value_json(v) for v in x]
    return str(x)
