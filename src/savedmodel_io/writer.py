"""Write TF2-style SavedModels from numpy weights, without TensorFlow.

A :class:`Model` collects variables (numpy arrays), assets and functions built
with :class:`~savedmodel_io.graph.builder.FunctionBuilder`; :func:`save` turns it
into the directory ``tf.saved_model.save`` would write for an equivalent
``tf.Module``: ``saved_model.pb`` (a ``serve`` MetaGraphDef with a function
library, SignatureDefs, a saver and a SavedObjectGraph), ``variables/`` (a
TensorBundle with the ``_CHECKPOINTABLE_OBJECT_GRAPH``), ``assets/``,
``assets.extra/`` and ``fingerprint.pb``.

The layout (node names, call attrs, the save/restore functions, the object graph
and checkpoint-key rules) follows what TensorFlow 2.21's ``tf.saved_model.save``
writes (tensorflow/tensorflow tensorflow/python/saved_model/save.py,
tensorflow/python/checkpoint/*), observed on its output.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Union

import numpy as np

from savedmodel_io import dtypes, tensors
from savedmodel_io._fsutil import atomic_directory
from savedmodel_io.errors import InvalidArgumentError, NotFoundError
from savedmodel_io.formats import cpb, layout
from savedmodel_io.formats.bundle_writer import write_checkpoint
from savedmodel_io.formats.object_paths import OBJECT_GRAPH_KEY, VALUE_ATTRIBUTE, escape_local_name
from savedmodel_io.graph.builder import (
    DTypeLike,
    FunctionBuilder,
    GraphBuilder,
    Tensor,
    as_dtype,
)
from savedmodel_io.proto import (
    CollectionDef,
    DataType,
    FunctionDef,
    MetaGraphDef,
    SavedModel,
    SavedObject,
    SaverDef,
    SignatureDef,
    StructuredValue,
    TensorInfo,
    TrackableObjectGraph,
)

__all__ = [
    "OBJECT_GRAPH_KEY",
    "PREDICT_METHOD",
    "Asset",
    "Model",
    "Variable",
    "build_meta_graph",
    "checkpoint_key",
    "escape_local_name",
    "save",
]

PathLike = Union[str, "os.PathLike[str]"]

PREDICT_METHOD = "tensorflow/serving/predict"
INIT_OP_KEY = "__saved_model_init_op"
MAIN_OP_COLLECTION = "saved_model_main_op"

_RESERVED_ROOT = {"variables", "trainable_variables", "signatures"}


@dataclass(eq=False)
class Variable:
    """A resource variable: object path (``"dense/kernel"``), numpy value, trainable flag."""

    name: str
    value: np.ndarray
    trainable: bool = True

    @property
    def dtype(self) -> int:
        """DataType of the value."""
        return dtypes.from_numpy(self.value.dtype)

    @property
    def shape(self) -> tuple[int, ...]:
        """Static shape of the value."""
        return tuple(self.value.shape)


@dataclass(eq=False)
class Asset:
    """A file copied into ``assets/``; functions that capture it see its path (a string)."""

    filename: str
    source: bytes | PathLike
    name: str
    capture_dtype: int = DataType.DT_STRING


@dataclass
class _Signature:
    function: FunctionBuilder
    method_name: str


@dataclass
class _Function:
    builder: FunctionBuilder
    user_name: str
    input_names: list[str]


class Model:
    """What :func:`save` writes: variables, assets, functions and signatures.

    ::

        m = Model()
        w = m.variable("dense/kernel", np.ones((3, 2), np.float32))
        f = m.function("__call__", {"x": ("float32", (None, 3))})
        f.outputs({"y": f.relu(f.matmul(f.inputs["x"], f.read(w)))})
        m.signature("serving_default", f)
        save("/tmp/model", m)
    """

    def __init__(self) -> None:
        self.variables: list[Variable] = []
        self.assets: list[Asset] = []
        self.functions: dict[str, _Function] = {}
        self.signatures: dict[str, _Signature] = {}
        self._paths: dict[str, Any] = {}
        self._counter = 0

    def _claim(self, path: str, obj: Any) -> None:
        parts = path.split("/")
        if not path or any(not p for p in parts):
            raise InvalidArgumentError(f"bad object path {path!r}")
        if parts[0] in _RESERVED_ROOT:
            raise InvalidArgumentError(f"{path!r}: {parts[0]!r} is reserved at the model root")
        for i in range(1, len(parts)):
            prefix = "/".join(parts[:i])
            if prefix in self._paths:
                raise InvalidArgumentError(f"{path!r}: {prefix!r} is already a leaf object")
        if path in self._paths or any(k.startswith(path + "/") for k in self._paths):
            raise InvalidArgumentError(f"object path {path!r} is already used")
        self._paths[path] = obj

    def variable(self, name: str, value: Any, trainable: bool = True,
                 dtype: DTypeLike | None = None, copy: bool = True) -> Variable:
        """Add a variable at object path ``name`` holding ``value``.

        The value is copied (later changes to the caller's array do not leak into
        the save); ``copy=False`` keeps a reference when it already is a numpy array
        of the right dtype, saving memory for big models.
        """
        want = dtypes.to_numpy(as_dtype(dtype)) if dtype is not None else None
        arr = np.array(value, dtype=want, copy=True) if copy else np.asarray(value, dtype=want)
        if arr.dtype.kind in "OSU":
            raise InvalidArgumentError(f"variable {name!r}: string variables are not supported")
        dtypes.from_numpy(arr.dtype)  # raises for dtypes TensorFlow has no name for
        var = Variable(name, arr, bool(trainable))
        self._claim(name, var)
        self.variables.append(var)
        return var

    def asset(self, filename: str, source: bytes | PathLike, name: str | None = None) -> Asset:
        """Add a file to ``assets/`` as ``filename`` (from bytes or a path) at object ``name``."""
        if not filename or "/" in filename or "\\" in filename or filename in (".", ".."):
            raise InvalidArgumentError(f"asset filename {filename!r} must be a plain file name")
        if any(a.filename == filename for a in self.assets):
            raise InvalidArgumentError(f"asset {filename!r} added twice")
        if not isinstance(source, bytes) and not Path(source).is_file():
            raise NotFoundError("asset source file does not exist", path=source)
        asset = Asset(filename, source, name or f"asset_{len(self.assets)}")
        self._claim(asset.name, asset)
        self.assets.append(asset)
        return asset

    def function(self, name: str, inputs: Mapping[str, tuple[DTypeLike, Any]] | None = None
                 ) -> FunctionBuilder:
        """Start a function exposed as attribute ``name`` of the loaded object.

        ``inputs`` maps argument names to ``(dtype, shape)``; the arguments are in
        ``builder.inputs``. Set its results with ``builder.outputs(...)``.
        """
        if name in self.functions:
            raise InvalidArgumentError(f"function {name!r} defined twice")
        self._counter += 1
        fb = FunctionBuilder(f"__inference_{_ident(name)}_{self._counter}", label=name)
        names = []
        for arg, (dt, shape) in (inputs or {}).items():
            if shape is None:
                raise InvalidArgumentError(f"{name}: input {arg!r} needs a shape (use None dims)")
            fb.arg(arg, dt, shape)
            names.append(arg)
        self._claim(name, fb)
        self.functions[name] = _Function(fb, name, names)
        return fb

    def signature(self, key: str, function: FunctionBuilder | str,
                  method_name: str = PREDICT_METHOD) -> None:
        """Export ``function`` as SignatureDef ``key`` (e.g. ``"serving_default"``)."""
        if key in self.signatures or key == INIT_OP_KEY:
            raise InvalidArgumentError(f"signature {key!r} defined twice or reserved")
        fn = self._find(function)
        self.signatures[key] = _Signature(fn.builder, method_name)

    def _find(self, function: FunctionBuilder | str) -> _Function:
        for f in self.functions.values():
            if f.builder is function or f.user_name == function:
                return f
        raise NotFoundError(f"function {function!r} is not part of this model")


def _ident(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_]", "_", name)


def checkpoint_key(path: Sequence[str], attribute: str = VALUE_ATTRIBUTE) -> str:
    """Checkpoint key of an attribute reached by object path ``path``."""
    return "/".join(escape_local_name(p) for p in path) + f"/.ATTRIBUTES/{attribute}"


# --------------------------------------------------------------------------------------
# object graph

@dataclass
class _Node:
    proto: SavedObject
    obj: Any = None
    children: list[tuple[str, int]] = field(default_factory=list)


class _ObjectGraph:
    """The SavedObjectGraph being built: nodes, the object tree, concrete functions."""

    def __init__(self) -> None:
        self.nodes: list[_Node] = []
        self.ids: dict[int, int] = {}
        self.concrete: dict[str, Any] = {}  # function name -> SavedConcreteFunction
        self.root = self.add()
        self.user_object(self.root, "_generic_user_object")
        self._dirs: dict[str, int] = {"": self.root}

    def add(self, obj: Any = None, parent: int | None = None, local: str | None = None) -> int:
        node_id = len(self.nodes)
        self.nodes.append(_Node(SavedObject(), obj))
        if obj is not None:
            self.ids[id(obj)] = node_id
        if parent is not None and local is not None:
            self.link(parent, local, node_id)
        return node_id

    def link(self, parent: int, local: str, child: int) -> None:
        self.nodes[parent].children.append((local, child))

    def user_object(self, node_id: int, identifier: str) -> None:
        uo = self.nodes[node_id].proto.user_object
        uo.identifier = identifier
        uo.version.producer = 1
        uo.version.min_consumer = 1

    def parent_of(self, path: str) -> tuple[int, str]:
        """(parent node, local name) of object ``path``, adding missing intermediate objects."""
        parts = path.split("/")
        cur = ""
        pid = self.root
        for p in parts[:-1]:
            cur = f"{cur}/{p}" if cur else p
            if cur not in self._dirs:
                self._dirs[cur] = self.add(None, pid, p)
                self.user_object(self._dirs[cur], "_generic_user_object")
            pid = self._dirs[cur]
        return pid, parts[-1]

    def concrete_fn(self, fb: FunctionBuilder, input_sig: StructuredValue,
                    output_sig: StructuredValue) -> None:
        """Record ``fb`` as a concrete function bound to the objects it captures."""
        from savedmodel_io.proto import SavedConcreteFunction

        scf = SavedConcreteFunction()
        for obj in fb.captures:
            scf.bound_inputs.append(self.ids[id(obj)])
        scf.canonicalized_input_signature.CopyFrom(input_sig)
        scf.output_signature.CopyFrom(output_sig)
        self.concrete[fb.name] = scf


def _spec_value(name: str | None, dtype: int, shape: Any) -> StructuredValue:
    sv = StructuredValue()
    ts = sv.tensor_spec_value
    if name is not None:
        ts.name = name
    ts.dtype = dtypes.as_enum(dtype)
    ts.shape.CopyFrom(tensors.shape_to_proto(shape))
    return sv


def _fullargspec(args: Sequence[str], kwonly: Sequence[str]) -> StructuredValue:
    sv = StructuredValue()
    nt = sv.named_tuple_value
    nt.name = "FullArgSpec"

    def field_(key: str) -> StructuredValue:
        pair = nt.values.add()
        pair.key = key
        value: StructuredValue = pair.value
        return value

    lst = field_("args").list_value
    lst.SetInParent()
    for a in args:
        lst.values.add().string_value = a
    field_("varargs").none_value.SetInParent()
    field_("varkw").none_value.SetInParent()
    field_("defaults").none_value.SetInParent()
    kw = field_("kwonlyargs").list_value
    kw.SetInParent()
    for a in kwonly:
        kw.values.add().string_value = a
    field_("kwonlydefaults").none_value.SetInParent()
    field_("annotations").dict_value.SetInParent()
    return sv


def _output_structure(fn: FunctionBuilder, kind: str) -> StructuredValue:
    sv = StructuredValue()
    if kind == "tensor":
        t = fn.output_tensors[0]
        sv.CopyFrom(_spec_value(fn.output_names[0], t.dtype, t.shape))
    elif kind == "list":
        sv.list_value.SetInParent()
        for n, t in zip(fn.output_names, fn.output_tensors):
            sv.list_value.values.add().CopyFrom(_spec_value(n, t.dtype, t.shape))
    else:
        sv.dict_value.SetInParent()
        for n, t in zip(fn.output_names, fn.output_tensors):
            sv.dict_value.fields[n].CopyFrom(_spec_value(n, t.dtype, t.shape))
    return sv


# --------------------------------------------------------------------------------------
# assembling the MetaGraphDef

@dataclass
class _Plan:
    meta_graph: MetaGraphDef
    tensors: dict[str, np.ndarray]


def _signature_wrapper(key: str, fn: _Function, uid: int) -> FunctionBuilder:
    body = fn.builder
    w = FunctionBuilder(f"__inference_signature_wrapper_{_ident(key)}_{uid}")
    by_name = {n: t for n, t in zip(fn.input_names, body.args)}
    sorted_args = {n: w.arg(n, by_name[n].dtype, by_name[n].shape) for n in sorted(by_name)}
    captured = [w.capture(obj) for obj in body.captures]
    outs = w.call(body, [sorted_args[n] for n in fn.input_names] + captured)
    w.outputs(dict(zip(body.output_names, outs)))
    return w


def _save_function(variables: Sequence[Variable], uid: int) -> FunctionBuilder:
    """``__inference__traced_save``: write every variable and the object graph to a prefix."""
    f = FunctionBuilder(f"__inference__traced_save_{uid}")
    prefix = f.arg("file_prefix", "string", ())
    handles = [f.capture(v) for v in variables]
    graph_const = f.capture(_TrailingArg("savev2_const"))
    temp = f.op("StringJoin", [[prefix, f.const(b"_temp/part", name="Const")]],
                {"N": 2}, out_types=[DataType.DT_STRING], out_shapes=[()],
                name="StringJoin", device="/device:CPU:*")[0]
    shard = f.op("ShardedFilename", [temp, f.const(np.int32(0), name="ShardedFilename/shard"),
                                     f.const(np.int32(1), name="num_shards")],
                 out_types=[DataType.DT_STRING], out_shapes=[()], name="ShardedFilename",
                 device="/device:CPU:0")[0]
    values = [f.read(h, name=f"Read_{i}/ReadVariableOp") for i, h in enumerate(handles)]
    names = [checkpoint_key(v.name.split("/")) for v in variables] + [OBJECT_GRAPH_KEY]
    save_tensors = values + [graph_const]
    f.op("SaveV2", [shard, f.const(np.asarray(names, dtype=object), name="SaveV2/tensor_names"),
                    f.const(np.asarray([b""] * len(names), dtype=object),
                            name="SaveV2/shape_and_slices"), save_tensors],
         {"dtypes": [t.dtype for t in save_tensors]}, name="SaveV2", device="/device:CPU:0")
    packed = f.op("Pack", [[shard]], {"N": 1, "T": DataType.DT_STRING, "axis": 0},
                  out_types=[DataType.DT_STRING], out_shapes=[(1,)],
                  name="MergeV2Checkpoints/checkpoint_prefixes", control_inputs=["SaveV2"],
                  device="/device:CPU:0")[0]
    f.op("MergeV2Checkpoints", [packed, prefix], {"delete_old_dirs": True,
                                                   "allow_missing_files": False},
         name="MergeV2Checkpoints", device="/device:CPU:0")
    f.outputs(f.identity(prefix, control_inputs=["MergeV2Checkpoints"]))
    return f


def _restore_function(variables: Sequence[Variable], keys: Sequence[str],
                      uid: int) -> FunctionBuilder:
    """``__inference__traced_restore``: RestoreV2 every variable and assign it."""
    f = FunctionBuilder(f"__inference__traced_restore_{uid}")
    prefix = f.arg("file_prefix", "string", ())
    handles = [f.capture(v) for v in variables]
    if variables:
        restored = f.op(
            "RestoreV2",
            [prefix, f.const(np.asarray(list(keys), dtype=object), name="RestoreV2/tensor_names"),
             f.const(np.asarray([b""] * len(keys), dtype=object),
                     name="RestoreV2/shape_and_slices")],
            {"dtypes": [v.dtype for v in variables]},
            out_types=[v.dtype for v in variables], out_shapes=[None] * len(variables),
            name="RestoreV2", device="/device:CPU:0")
        assigns = [f.assign(h, f.identity(r, name="Identity"), name="AssignVariableOp")
                   for h, r in zip(handles, restored)]
    else:
        assigns = []
    f.outputs(f.identity(prefix, name="Identity", control_inputs=assigns))
    return f


@dataclass(eq=False)
class _TrailingArg:
    """A string argument after the captures (the save function's object-graph input)."""

    name: str
    capture_dtype: int = DataType.DT_STRING


# Function names are numbered from here, in the order TensorFlow's tracing would give them.
_UID_BASE = 1000


def build_meta_graph(model: Model, tags: Sequence[str] = ("serve",),
                     signatures: Mapping[str, FunctionBuilder | str] | None = None) -> _Plan:
    """The MetaGraphDef and the checkpoint tensors for ``model`` (no files written).

    ``signatures`` adds SignatureDefs (key -> function) to the model's own, for this
    call only.
    """
    sigs = _all_signatures(model, signatures)
    og = _ObjectGraph()
    _add_variables_and_assets(model, og)
    fdefs = _add_functions(model, og)
    _add_variable_lists(model, og)
    wrappers = _add_signature_wrappers(model, og, sigs, fdefs)
    # Keys follow each variable's own object path. (TensorFlow's saver would take the
    # breadth-first path, which for deep variables runs through the root's
    # ``variables`` list; the loader only needs keys that match the graph's attributes.)
    keys = {id(v): checkpoint_key(v.name.split("/")) for v in model.variables}
    object_graph_bytes = _trackable_object_graph(og, keys).SerializeToString()
    mg = _meta_graph(model, tags, sigs, wrappers, fdefs, keys, object_graph_bytes)
    _add_saved_object_graph(mg, og)
    values = {keys[id(v)]: v.value for v in model.variables}
    values[OBJECT_GRAPH_KEY] = np.asarray(object_graph_bytes, dtype=object)
    return _Plan(mg, values)


def _all_signatures(model: Model, extra: Mapping[str, FunctionBuilder | str] | None
                    ) -> dict[str, _Signature]:
    """The model's signatures plus ``extra``; ``serving_default`` for a lone function."""
    for name, fn in model.functions.items():
        if not fn.builder.output_tensors:
            raise InvalidArgumentError(f"function {name!r} has no outputs; call .outputs(...)")
    signatures = dict(model.signatures)
    for key, function in (extra or {}).items():
        if key in signatures or key == INIT_OP_KEY:
            raise InvalidArgumentError(f"signature {key!r} defined twice or reserved")
        signatures[key] = _Signature(model._find(function).builder, PREDICT_METHOD)
    if not signatures and len(model.functions) == 1:
        only = next(iter(model.functions.values()))
        signatures["serving_default"] = _Signature(only.builder, PREDICT_METHOD)
    return signatures


def _add_variables_and_assets(model: Model, og: _ObjectGraph) -> None:
    """Variable and asset objects at their paths (nested paths first: checkpoint keys are the
    plain paths)."""
    for var in model.variables:
        pid, local = og.parent_of(var.name)
        nid = og.add(var, pid, local)
        sv = og.nodes[nid].proto.variable
        sv.dtype = dtypes.as_enum(var.dtype)
        sv.shape.CopyFrom(tensors.shape_to_proto(var.shape))
        sv.trainable = var.trainable
        sv.name = var.name
    for i, asset in enumerate(model.assets):
        pid, local = og.parent_of(asset.name)
        nid = og.add(asset, pid, local)
        og.nodes[nid].proto.asset.asset_file_def_index = i


def _add_functions(model: Model, og: _ObjectGraph) -> list[FunctionDef]:
    """Each function's body as a FunctionDef and a function object; returns the FunctionDefs."""
    fdefs: list[FunctionDef] = []
    for name, fn in model.functions.items():
        fb = fn.builder
        for obj in fb.captures:
            if id(obj) not in og.ids:
                raise InvalidArgumentError(
                    f"function {name!r} captures {getattr(obj, 'name', obj)!r}, "
                    "which is not a variable or asset of this model"
                )
        fdefs.append(fb.to_function_def())
        pid, local = og.parent_of(name)
        nid = og.add(fb, pid, local)
        sf = og.nodes[nid].proto.function
        sf.concrete_functions.append(fb.name)
        spec = sf.function_spec
        spec.fullargspec.CopyFrom(_fullargspec(fn.input_names, []))
        spec.input_signature.tuple_value.SetInParent()
        for n, t in zip(fn.input_names, fb.args):
            spec.input_signature.tuple_value.values.add().CopyFrom(_spec_value(n, t.dtype, t.shape))
        in_sig = StructuredValue()
        inner = in_sig.tuple_value.values.add().tuple_value
        inner.SetInParent()
        for n, t in zip(fn.input_names, fb.args):
            inner.values.add().CopyFrom(_spec_value(n, t.dtype, t.shape))
        in_sig.tuple_value.values.add().dict_value.SetInParent()
        og.concrete_fn(fb, in_sig, _output_structure(fb, fb.output_kind))
    return fdefs


def _add_variable_lists(model: Model, og: _ObjectGraph) -> None:
    """``variables`` / ``trainable_variables`` lists on the root (tf.Module-like attributes)."""
    for list_name, members in (("variables", model.variables),
                               ("trainable_variables", [v for v in model.variables
                                                        if v.trainable])):
        lid = og.add(None, og.root, list_name)
        og.user_object(lid, "trackable_list_wrapper")
        for i, v in enumerate(members):
            og.link(lid, str(i), og.ids[id(v)])


def _add_signature_wrappers(model: Model, og: _ObjectGraph, signatures: dict[str, _Signature],
                            fdefs: list[FunctionDef]) -> dict[str, FunctionBuilder]:
    """A keyword-argument wrapper per signature, under the root's ``signatures`` map."""
    sig_map = og.add(None, og.root, "signatures")
    og.user_object(sig_map, "signature_map")
    wrappers: dict[str, FunctionBuilder] = {}
    for uid, (key, sig) in enumerate(signatures.items(), _UID_BASE + 1):
        fn = model._find(sig.function)
        w = _signature_wrapper(key, fn, uid)
        wrappers[key] = w
        fdefs.append(w.to_function_def())
        nid = og.add(w, sig_map, key)
        bare = og.nodes[nid].proto.bare_concrete_function
        bare.concrete_function_name = w.name
        names = sorted(fn.input_names)
        bare.argument_keywords.extend(names)
        bare.allowed_positional_arguments = len(names)
        bare.function_spec.fullargspec.CopyFrom(_fullargspec([], names))
        bare.function_spec.input_signature.none_value.SetInParent()
        in_sig = StructuredValue()
        in_sig.tuple_value.values.add().tuple_value.SetInParent()
        d = in_sig.tuple_value.values.add().dict_value
        d.SetInParent()
        for n, t in zip(names, w.args):
            d.fields[n].CopyFrom(_spec_value(n, t.dtype, t.shape))
        og.concrete_fn(w, in_sig, _output_structure(w, "dict"))
    return wrappers


def _trackable_object_graph(og: _ObjectGraph, keys: Mapping[int, str]) -> TrackableObjectGraph:
    """The TrackableObjectGraph stored in the checkpoint (``_CHECKPOINTABLE_OBJECT_GRAPH``)."""
    tog = TrackableObjectGraph()
    has_values: dict[int, bool] = {}

    def subtree_has_values(nid: int, seen: set[int]) -> bool:
        if nid in has_values:
            return has_values[nid]
        if nid in seen:
            return False
        seen.add(nid)
        node = og.nodes[nid]
        result = isinstance(node.obj, Variable) or any(
            subtree_has_values(c, seen) for _, c in node.children)
        has_values[nid] = result
        return result

    for nid, node in enumerate(og.nodes):
        tnode = tog.nodes.add()
        for local, child in node.children:
            ref = tnode.children.add()
            ref.node_id = child
            ref.local_name = local
        if isinstance(node.obj, Variable):
            attr = tnode.attributes.add()
            attr.name = VALUE_ATTRIBUTE
            attr.full_name = node.obj.name
            attr.checkpoint_key = keys[id(node.obj)]
        tnode.has_checkpoint_values.value = subtree_has_values(nid, set())
    return tog


def _meta_graph(model: Model, tags: Sequence[str], signatures: dict[str, _Signature],
                wrappers: Mapping[str, FunctionBuilder], fdefs: list[FunctionDef],
                keys: Mapping[int, str], object_graph_bytes: bytes) -> MetaGraphDef:
    """The MetaGraphDef but its object graph: GraphDef, saver, signatures, init op, assets."""
    g = GraphBuilder()
    init_deps, asset_inputs = _variable_and_asset_nodes(g, model)
    sig_defs = _signature_defs(g, model, signatures, wrappers)
    init_name = g.no_op(init_deps, name="NoOp")
    saver_def = _saver(g, model, keys, object_graph_bytes, fdefs, _UID_BASE + len(signatures))

    mg = MetaGraphDef()
    mg.meta_info_def.tags.extend(tags)
    mg.graph_def.CopyFrom(g.to_graph_def(fdefs))
    mg.saver_def.CopyFrom(saver_def)
    for key in sorted(sig_defs):
        mg.signature_def[key].CopyFrom(sig_defs[key])
    init_sig = mg.signature_def[INIT_OP_KEY]
    init_sig.outputs[INIT_OP_KEY].name = init_name
    init_sig.outputs[INIT_OP_KEY].tensor_shape.unknown_rank = True
    mg.collection_def[MAIN_OP_COLLECTION].CopyFrom(CollectionDef())
    mg.collection_def[MAIN_OP_COLLECTION].node_list.value.append(init_name)
    for a, ph in zip(model.assets, asset_inputs):
        afd = mg.asset_file_def.add()
        afd.tensor_info.name = f"{ph.node}:0"
        afd.filename = a.filename
    return mg


def _variable_and_asset_nodes(g: GraphBuilder, model: Model) -> tuple[list[Any], list[Tensor]]:
    """Variable handles, and each asset's path placeholder assigned to its own variable.

    Returns the assignments (the init op's dependencies) and the placeholders.
    """
    for v in model.variables:
        g.bind(v, g.var_handle(v.name, v.dtype, v.shape))
    init_deps = []
    asset_inputs = []
    for i, a in enumerate(model.assets):
        init = g.placeholder("asset_path_initializer" + (f"_{i}" if i else ""), "string", ())
        handle = g.var_handle(f"asset_{i}_path", "string", (), shared_name=f"asset_{i}_path")
        init_deps.append(g.assign(handle, init, name=f"asset_{i}_path/Assign"))
        g.bind(a, g.read(handle, name=f"asset_{i}_path/Read/ReadVariableOp"))
        asset_inputs.append(init)
    return init_deps, asset_inputs


def _signature_defs(g: GraphBuilder, model: Model, signatures: dict[str, _Signature],
                    wrappers: Mapping[str, FunctionBuilder]) -> dict[str, SignatureDef]:
    """Per signature: input placeholders, a call of its wrapper, and the SignatureDef."""
    sig_defs: dict[str, SignatureDef] = {}
    for key, sig in signatures.items():
        fn = model._find(sig.function)
        w = wrappers[key]
        sd = SignatureDef(method_name=sig.method_name)
        placeholders = []
        for n, t in zip(sorted(fn.input_names), w.args):
            ph = g.placeholder(f"{key}_{n}", t.dtype, t.shape)
            placeholders.append(ph)
            sd.inputs[n].CopyFrom(_tensor_info(ph))
        outs = g.call(w, placeholders + [g.capture(o) for o in w.captures])
        for n, t in zip(w.output_names, outs):
            sd.outputs[n].CopyFrom(_tensor_info(t))
        sig_defs[key] = sd
    return sig_defs


def _saver(g: GraphBuilder, model: Model, keys: Mapping[int, str], object_graph_bytes: bytes,
           fdefs: list[FunctionDef], uid: int) -> SaverDef:
    """The save and restore functions, their calls in the graph, and the SaverDef naming them."""
    graph_const = g.const(np.asarray(object_graph_bytes, dtype=object), name="Const")
    filename = g.placeholder("saver_filename", "string", ())
    save_fn = _save_function(model.variables, uid + 1)
    restore_fn = _restore_function(model.variables, [keys[id(v)] for v in model.variables],
                                   uid + 2)
    fdefs.append(save_fn.to_function_def())
    fdefs.append(restore_fn.to_function_def())
    saved = g.call(save_fn, [filename] + [g.capture(v) for v in model.variables] + [graph_const],
                   name="StatefulPartitionedCall")
    g.call(restore_fn, [filename] + [g.capture(v) for v in model.variables],
           name="StatefulPartitionedCall")
    return SaverDef(filename_tensor_name=f"{filename.node}:0",
                    save_tensor_name=f"{saved[0].node}:0",
                    restore_op_name=g.nodes[-1].name, version=SaverDef.V2)


def _add_saved_object_graph(mg: MetaGraphDef, og: _ObjectGraph) -> None:
    """Copy the object graph (nodes with their children, concrete functions) into ``mg``."""
    sog = mg.object_graph_def
    for node in og.nodes:
        proto = sog.nodes.add()
        proto.CopyFrom(node.proto)
        for local, child in node.children:
            ref = proto.children.add()
            ref.node_id = child
            ref.local_name = local
    for name in sorted(og.concrete):
        sog.concrete_functions[name].CopyFrom(og.concrete[name])


def _tensor_info(t: Tensor) -> TensorInfo:
    ref = t.ref if ":" in t.ref else f"{t.ref}:0"
    info = TensorInfo(name=ref, dtype=dtypes.as_enum(t.dtype))
    info.tensor_shape.CopyFrom(tensors.shape_to_proto(t.shape))
    return info


# --------------------------------------------------------------------------------------
# files

def _write_bytes(path: Path, data: bytes) -> None:
    with open(path, "wb") as fh:
        fh.write(data)


def write_variables(directory: Path, values: Mapping[str, np.ndarray]) -> None:
    """Write ``variables/variables.{index,data-00000-of-00001}`` with the TensorBundle writer."""
    directory.mkdir(exist_ok=True)
    write_checkpoint(str(directory / layout.VARIABLES_FILENAME), values)


def write_fingerprint(export_dir: Path, saved_model: SavedModel | None = None) -> None:
    """Write ``fingerprint.pb`` for the finished directory (TF 2.21's hashes, fresh uuid).

    ``saved_model`` is the proto just written as ``saved_model.pb``: fingerprinting it
    in memory saves reading the file back. Without it (or for a ``.cpb``, whose
    fingerprint comes from its chunks) the directory is read.
    """
    from savedmodel_io import fingerprint

    fp = None
    if saved_model is not None:
        fp = fingerprint.fingerprint_saved_model(saved_model, export_dir)
    fingerprint.write_fingerprint(export_dir, fp)


def _copy_asset(src: bytes | PathLike, dst: Path) -> None:
    if isinstance(src, bytes):
        _write_bytes(dst, src)
    else:
        shutil.copyfile(src, dst)


def save(
    path: PathLike,
    model: Model,
    *,
    signatures: Mapping[str, FunctionBuilder | str] | None = None,
    tags: Sequence[str] = ("serve",),
    assets_extra: Mapping[str, bytes | PathLike] | None = None,
    overwrite: bool = False,
    image_format: bool | None = None,
) -> Path:
    """Write ``model`` as a SavedModel directory at ``path`` (atomically); return the path.

    ``signatures`` adds SignatureDefs (key -> function) to those declared with
    :meth:`Model.signature`; with none at all and a single function, it is
    exported as ``serving_default``. ``assets_extra`` maps relative names to file
    contents or paths for ``assets.extra/`` (not read by TensorFlow; for serving
    warm-up data and the like). Missing parent directories are created, as
    ``tf.saved_model.save`` does. An existing ``path`` raises ModelExistsError unless
    ``overwrite=True``. ``image_format`` chooses ``saved_model.pb`` (False),
    the chunked ``saved_model.cpb`` (True) or ``.cpb`` only when the proto would pass
    protobuf's 2 GiB limit (None, the default); see
    :func:`savedmodel_io.formats.cpb.write_saved_model_file`.
    """
    if not isinstance(model, Model):
        raise InvalidArgumentError(f"save() needs a Model, not {type(model).__name__}")
    plan = build_meta_graph(model, tags, signatures)
    sm = SavedModel(saved_model_schema_version=1)
    sm.meta_graphs.add().CopyFrom(plan.meta_graph)
    extra = dict(assets_extra or {})
    for name in extra:
        parts = Path(name).parts
        if not parts or Path(name).is_absolute() or ".." in parts:
            raise InvalidArgumentError(f"assets_extra name {name!r} must be a relative path")
    with atomic_directory(path, overwrite=overwrite, parents=True) as tmp:
        written = cpb.write_saved_model_file(tmp, sm, image_format=image_format)
        write_variables(tmp / layout.VARIABLES_DIR, plan.tensors)
        (tmp / layout.ASSETS_DIR).mkdir()
        for a in model.assets:
            _copy_asset(a.source, tmp / layout.ASSETS_DIR / a.filename)
        if extra:
            for name, src in extra.items():
                dst = tmp / layout.ASSETS_EXTRA_DIR / name
                dst.parent.mkdir(parents=True, exist_ok=True)
                _copy_asset(src, dst)
        write_fingerprint(tmp, sm if written.suffix == ".pb" else None)
    return Path(path)
