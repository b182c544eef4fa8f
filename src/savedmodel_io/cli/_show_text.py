"""saved_model_cli ``show``'s text, byte for byte (TensorFlow 2.21's format).

Output format facts come from TensorFlow 2.21's saved_model_cli
(tensorflow/tensorflow tensorflow/python/tools/saved_model_cli.py) and were checked
against it on our fixture models. Two deliberate differences: the op list of
``--all`` / ``--list_ops`` is printed sorted (TensorFlow prints a Python set, whose
order changes from run to run), and so are dict-valued function arguments
(TensorFlow prints them in protobuf map order, which also varies).

Text is appended piece by piece to ``out`` (anything with an ``append`` method), so the
command line can write it as it goes instead of joining it first.
"""

from __future__ import annotations

import sys
from typing import Any, Protocol

from savedmodel_io import dtypes
from savedmodel_io.cli._load_order import in_load_order
from savedmodel_io.errors import CorruptFileError, InvalidArgumentError
from savedmodel_io.graph import opdefs
from savedmodel_io.model import ConcreteFunction, MetaGraph, ObjectGraph, SavedModel, normalize_tags
from savedmodel_io.proto import SignatureDef, TensorInfo
from savedmodel_io.specs import BoundedTensorSpec, DType, TensorShape, TensorSpec, TypeSpec

__all__ = ["Out", "custom_ops", "is_array", "render", "render_into", "tags_arg"]


class Out(Protocol):
    """Where text goes: a list, or a writer that prints each piece."""

    def append(self, text: str, /) -> None: ...


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
    render_into(out, model, all=all, tag_set=tag_set, signature_def=signature_def, list_ops=list_ops)
    return "".join(out)


def render_into(
    out: Out,
    model: SavedModel,
    *,
    all: bool,
    tag_set: str | None,
    signature_def: str | None,
    list_ops: bool,
) -> None:
    """Append the text of ``render`` to ``out`` piece by piece."""
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
        mg = model.meta_graph(normalize_tags(tag_set) if listing else tags_arg(tag_set))
        if list_ops:
            _ops_line(mg, out)
        if signature_def is None:
            out.append("The given SavedModel MetaGraphDef contains SignatureDefs with the "
                       "following keys:\n")
            for key in sorted(mg.proto.signature_def):
                out.append(f'SignatureDef key: "{key}"\n')
        else:
            _signature(mg.signature(signature_def).proto, 0, out)


def tags_arg(tag_set: str) -> frozenset[str]:
    tags = normalize_tags(tag_set)
    if not tags:
        raise InvalidArgumentError("--tag_set must contain at least one non-empty tag")
    return tags


def _tag_sets(model: SavedModel, out: Out) -> None:
    out.append("The given SavedModel contains the following tag-sets:\n")
    # saved_model_cli sorts the tag-sets as stored, then each tag-set's tags for printing.
    for tags in sorted(list(t) for t in model.tag_sets):
        out.append(repr(", ".join(sorted(tags))) + "\n")


def _ops_line(mg: MetaGraph, out: Out) -> None:
    ops = mg.ops
    body = "{" + ", ".join(repr(o) for o in ops) + "}" if ops else "set()"
    tags = "[" + ", ".join(repr(t) for t in mg.tags) + "]"
    out.append(f"The MetaGraph with tag set {tags} contains the following ops: {body}\n")


def _signature(sig: SignatureDef, indent: int, out: Out) -> None:
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


def _tensor_info(info: TensorInfo, indent: int, out: Out) -> None:
    pad = "  " * indent
    shape = info.tensor_shape
    if shape.unknown_rank:
        text = "unknown_rank"
    else:
        text = "(" + ", ".join(str(d.size) for d in shape.dim) + ")"
    out.append(f"{pad}    dtype: {dtypes.dtype_name(info.dtype)}\n")
    out.append(f"{pad}    shape: {text}\n")
    out.append(f"{pad}    name: {info.name}\n")


def _all(model: SavedModel, out: Out) -> None:
    for mg in sorted(model.meta_graphs, key=lambda m: list(m.tags)):
        out.append(
            f"\nMetaGraphDef with tag-set: '{', '.join(mg.tags)}' "
            "contains the following SignatureDefs:\n"
        )
        for key in sorted(mg.proto.signature_def):
            out.append(f"\nsignature_def['{key}']:\n")
            _signature(mg.proto.signature_def[key], 1, out)
        _ops_line(mg, out)
    _functions(model, out)


# Concrete Functions: the root object's tf.functions, as TensorFlow's loader would list them.


def _functions(model: SavedModel, out: Out) -> None:
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
        for index, cf in enumerate(in_load_order(mg, cfs), 1):
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


def _call_args(og: ObjectGraph, name: str, cf: ConcreteFunction, bare: bool) -> tuple[Any, Any]:
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


def _truthy(x: Any) -> bool:
    try:
        return bool(x)
    except ValueError:  # numpy arrays
        return True


def _args(arguments: Any, kind: str, out: Out) -> None:
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


def is_array(x: Any) -> bool:
    """A numpy array (a decoded tensor value); numpy is not imported just to ask."""
    np = sys.modules.get("numpy")
    return np is not None and isinstance(x, np.ndarray)


def _iterable(x: Any) -> bool:
    return (isinstance(x, (list, tuple, TensorShape)) or is_array(x)) and not (
        isinstance(x, TensorShape) and x.dims is None
    )


def _type_name(x: Any) -> str:
    if isinstance(x, BoundedTensorSpec):
        return "BoundedTensorSpec"
    if isinstance(x, TypeSpec):
        return x.type_name
    if isinstance(x, DType):
        return "DType"
    if is_array(x):
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
