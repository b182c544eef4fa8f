"""The object model of a SavedModel: what a user browses without knowing the protos.

    >>> m = savedmodel_io.load("path/to/model")
    >>> m.tag_sets                        # [('serve',)]
    >>> sig = m.signatures["serving_default"]
    >>> sig.inputs["x"].dtype, sig.inputs["x"].shape
    (dtype('float32'), (None, 3))

Every object keeps its protobuf message in ``.proto`` for anything not wrapped here.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any, overload

from savedmodel_io._lookup import Lookup
from savedmodel_io.errors import CorruptFileError, NotFoundError, SavedModelError
from savedmodel_io.formats import layout, saved_model_file
from savedmodel_io.formats.source import LocalFiles, ModelFiles, open_files
from savedmodel_io.graph.library import asset_file_defs, ops_used
from savedmodel_io.proto import (
    AssetFileDef,
    FunctionDef,
    GraphDef,
    MetaGraphDef,
    SavedObject,
    SavedObjectGraph,
    SignatureDef,
)
from savedmodel_io.proto import SavedModel as SavedModelProto
from savedmodel_io.specs import TensorSpec, decode_structure, spec_from_tensor_info

if TYPE_CHECKING:  # numpy is imported on first use: inspecting a model never needs it
    import numpy as np

    from savedmodel_io.formats.bundle import CheckpointReader
    from savedmodel_io.formats.names import NameTable, TensorName
    from savedmodel_io.graph.budget import Budget
    from savedmodel_io.graph.runtime import Session

__all__ = [
    "Asset",
    "ConcreteFunction",
    "Function",
    "MetaGraph",
    "ObjectGraph",
    "SavedModel",
    "SavedObjectNode",
    "Signature",
    "Variables",
    "load",
    "normalize_tags",
    "read_signatures",
]

SERVE = "serve"

Tags = str | Iterable[str]


def normalize_tags(tags: Tags) -> frozenset[str]:
    """A tag-set from ``"serve,gpu"``, ``["serve", "gpu"]`` or ``{"serve", "gpu"}``."""
    if isinstance(tags, str):
        items = tags.split(",")
    else:
        items = list(tags)
    out = frozenset(t.strip() for t in items if t is not None and str(t).strip())
    return out


def _tag_text(tags: Iterable[str]) -> str:
    return "'" + ", ".join(tags) + "'"


# --- signatures ---------------------------------------------------------------------------


class Signature:
    """One SignatureDef: named inputs and outputs (TensorSpec) and a method name."""

    def __init__(self, key: str, proto: SignatureDef, meta_graph: MetaGraph | None = None) -> None:
        self.key = key
        self.proto = proto
        self.meta_graph = meta_graph
        self.method_name: str = proto.method_name
        path = meta_graph._path if meta_graph is not None else None
        self.inputs: dict[str, TensorSpec] = Lookup(
            ((k, spec_from_tensor_info(k, proto.inputs[k])) for k in sorted(proto.inputs)),
            what="input", where=f"signature {key!r}", path=path,
        )
        self.outputs: dict[str, TensorSpec] = Lookup(
            ((k, spec_from_tensor_info(k, proto.outputs[k])) for k in sorted(proto.outputs)),
            what="output", where=f"signature {key!r}", path=path,
        )
        # backend="onnxruntime": per input ranks (onnx.backend.session), the InferenceSession or why it failed
        self._onnx: Any = None

    @property
    def defaults(self) -> dict[str, np.ndarray]:
        """Default values of inputs (SignatureDef.defaults), as numpy arrays."""
        from savedmodel_io.tensors import to_array

        path = self.meta_graph._path if self.meta_graph is not None else None
        return Lookup(
            ((k, to_array(self.proto.defaults[k], path=path,
                          where=f"signature {self.key!r} default {k!r}"))
             for k in sorted(self.proto.defaults)),
            what="default", where=f"signature {self.key!r}", path=path,
        )

    def __call__(self, **inputs: Any) -> dict[str, np.ndarray]:
        """Run the signature without TensorFlow; returns outputs by key.

        ``backend=`` picks the engine: ``"numpy"`` (default: the graph runtime),
        ``"onnxruntime"`` (the signature exported to ONNX once, then run on onnxruntime;
        the ``onnxruntime`` extra) or ``"auto"`` (onnxruntime when installed and the
        signature exports, else numpy). A signature input named ``backend`` takes
        precedence; pick the engine with :meth:`run` then. Inputs of another dtype are
        converted when no value changes beyond float rounding
        (``graph.runtime.convert_input``); ``run(inputs, strict=True)`` refuses them.
        """
        backend = "numpy"
        if "backend" in inputs and "backend" not in self.inputs:
            backend = inputs.pop("backend")
        return self.run(inputs, backend=backend)

    def run(
        self, inputs: Mapping[str, Any], *, backend: str = "numpy", strict: bool = False,
        budget: Budget | None = None,
    ) -> dict[str, np.ndarray]:
        """Run the signature on ``inputs`` (input key -> value) with ``backend`` (see ``__call__``);
        ``strict``: no dtype changes; ``budget``: the numpy runtime's work limits for this run
        (default: the session's ``budget``)."""
        if self.meta_graph is None:
            raise NotFoundError(
                f"signature {self.key!r} has no graph to run (read_signatures() reads only "
                "signatures): call it through savedmodel_io.load(path).signatures"
            )
        if backend not in ("numpy", "onnxruntime", "auto"):
            from savedmodel_io.errors import InvalidArgumentError

            raise InvalidArgumentError(f"backend must be 'numpy', 'onnxruntime' or 'auto', got {backend!r}")
        if backend != "numpy":
            from savedmodel_io.onnx import backend as ort_backend

            if backend == "onnxruntime" or ort_backend.usable(self, inputs):
                return ort_backend.run(self, inputs, strict=strict)
        return self.meta_graph.session.run_signature(self.key, inputs, strict=strict,
                                                     budget=budget)

    def __repr__(self) -> str:
        ins = ", ".join(_spec_brief(s) for s in self.inputs.values())
        outs = ", ".join(_spec_brief(s) for s in self.outputs.values())
        method = f", method_name={self.method_name!r}" if self.method_name else ""
        return f"Signature({self.key!r}, inputs=[{ins}], outputs=[{outs}]{method})"


def _spec_brief(s: TensorSpec) -> str:
    if s.encoding == "dense" and s.dtype_enum == 0:  # an op to run, not a tensor (init ops)
        return f"{s.key}: op {s.name}"
    dims = "[...]" if s.shape is None else "[" + ",".join("?" if d is None else str(d) for d in s.shape) + "]"
    kind = "" if s.encoding == "dense" else f" {s.encoding}"
    return f"{s.key}: {s.tf_dtype}{dims}{kind}"


# --- function library and object graph ----------------------------------------------------


class Function:
    """A FunctionDef of the graph's function library (a traced tf.function body)."""

    def __init__(self, proto: FunctionDef) -> None:
        self.proto = proto
        self.name: str = proto.signature.name

    @property
    def input_names(self) -> list[str]:
        return [a.name for a in self.proto.signature.input_arg]

    @property
    def output_names(self) -> list[str]:
        return [a.name for a in self.proto.signature.output_arg]

    @property
    def ops(self) -> list[str]:
        """Sorted op types of this function's own nodes (function calls included)."""
        return sorted({n.op for n in self.proto.node_def})

    def __len__(self) -> int:
        return len(self.proto.node_def)

    def __repr__(self) -> str:
        return (
            f"Function({self.name!r}, inputs={len(self.input_names)}, "
            f"outputs={len(self.output_names)}, nodes={len(self)})"
        )


@dataclass
class ConcreteFunction:
    """A traced function of the object graph with its decoded Python signature.

    ``input_signature`` is ``(args, kwargs)`` as TensorFlow's
    ``structured_input_signature``; ``output_signature`` is ``structured_outputs``.
    """

    name: str
    input_signature: Any
    output_signature: Any
    bound_inputs: tuple[int, ...]
    proto: Any = field(repr=False)

    @property
    def args(self) -> tuple[Any, ...]:
        sig = self.input_signature
        return tuple(sig[0]) if isinstance(sig, tuple) and sig else ()

    @property
    def kwargs(self) -> dict[str, Any]:
        sig = self.input_signature
        return dict(sig[1]) if isinstance(sig, tuple) and len(sig) > 1 and sig[1] else {}


@dataclass
class SavedObjectNode:
    """One node of the object graph: its kind, its named children and its proto."""

    index: int
    kind: str | None
    children: dict[str, int]
    proto: SavedObject = field(repr=False)

    @property
    def identifier(self) -> str | None:
        """For user objects, the class identifier (``_generic_user_object``, ...)."""
        return self.proto.user_object.identifier if self.kind == "user_object" else None


class _ObjectNodes(Sequence[SavedObjectNode]):
    """The nodes of an object graph, each wrapped when first asked for (graphs may be huge)."""

    def __init__(self, proto: SavedObjectGraph, path: str | None) -> None:
        self._proto = proto
        self._path = path
        self._made: dict[int, SavedObjectNode] = {}

    def __len__(self) -> int:
        return len(self._proto.nodes)

    @overload
    def __getitem__(self, index: int) -> SavedObjectNode: ...
    @overload
    def __getitem__(self, index: slice) -> list[SavedObjectNode]: ...
    def __getitem__(self, index: int | slice) -> SavedObjectNode | list[SavedObjectNode]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        i = range(len(self))[index]  # IndexError like a list's
        node = self._made.get(i)
        if node is None:
            o = self._proto.nodes[i]
            node = self._made[i] = SavedObjectNode(
                index=i,
                kind=o.WhichOneof("kind"),
                children=Lookup(
                    ((c.local_name, c.node_id) for c in o.children),
                    what="child", where=f"object graph node {i}", path=self._path,
                ),
                proto=o,
            )
        return node


class ObjectGraph:
    """The SavedObjectGraph of a TF2 SavedModel: objects, functions, variables, assets."""

    def __init__(self, proto: SavedObjectGraph, path: str | None = None) -> None:
        self.proto = proto
        self._path = path
        self.nodes: Sequence[SavedObjectNode] = _ObjectNodes(proto, path)

    @property
    def root(self) -> SavedObjectNode:
        if not self.nodes:
            raise CorruptFileError("the object graph has no nodes", path=self._path)
        return self.nodes[0]

    def node(self, index: int) -> SavedObjectNode:
        if not 0 <= index < len(self.nodes):
            raise CorruptFileError(
                f"object graph refers to node {index} of {len(self.nodes)}", path=self._path
            )
        return self.nodes[index]

    @cached_property
    def concrete_functions(self) -> dict[str, ConcreteFunction]:
        """Every concrete function of the object graph by name, signatures decoded."""
        out: dict[str, ConcreteFunction] = Lookup(
            what="concrete function", where="the object graph", path=self._path
        )
        for name in sorted(self.proto.concrete_functions):
            cf = self.proto.concrete_functions[name]
            out[name] = ConcreteFunction(
                name=name,
                input_signature=decode_structure(cf.canonicalized_input_signature, path=self._path)
                if cf.HasField("canonicalized_input_signature")
                else None,
                output_signature=decode_structure(cf.output_signature, path=self._path)
                if cf.HasField("output_signature")
                else None,
                bound_inputs=tuple(cf.bound_inputs),
                proto=cf,
            )
        return out

    def functions(self, node: int = 0) -> dict[str, list[ConcreteFunction]]:
        """tf.functions (and bare concrete functions) that are children of ``node``, by name."""
        out: dict[str, list[ConcreteFunction]] = Lookup(
            what="function", where=f"object graph node {node}", path=self._path
        )
        cfs = self.concrete_functions
        for name, idx in sorted(self.node(node).children.items()):
            child = self.node(idx)
            if child.kind == "function":
                names = list(child.proto.function.concrete_functions)
            elif child.kind == "bare_concrete_function":
                names = [child.proto.bare_concrete_function.concrete_function_name]
            else:
                continue
            missing = [n for n in names if n not in cfs]
            if missing:
                raise CorruptFileError(
                    f"object graph function {name!r} names unknown concrete function "
                    f"{missing[0]!r}",
                    path=self._path,
                )
            out[name] = [cfs[n] for n in names]
        return out

    def __len__(self) -> int:
        return len(self.nodes)

    def __repr__(self) -> str:
        kinds: dict[str, int] = {}
        for o in self.proto.nodes:
            kind = o.WhichOneof("kind") or "none"
            kinds[kind] = kinds.get(kind, 0) + 1
        body = ", ".join(f"{k}={v}" for k, v in sorted(kinds.items()))
        return f"ObjectGraph({len(self.nodes)} nodes: {body})"


@dataclass(frozen=True)
class Asset:
    """An asset file: the file name under ``assets/``, the graph tensor that receives its path."""

    filename: str
    tensor_name: str | None
    path: Path
    files: ModelFiles | None = field(default=None, repr=False, compare=False)

    def read_bytes(self) -> bytes:
        """The asset's contents; a symlink leading out of the model directory is refused."""
        files = self.files
        if files is None:
            model_dir = self.path.parent  # assets/ (or a subdirectory of it) ...
            # Count the components pathlib kept: "./x.txt" is assets/x.txt, one level, not two.
            for _ in PurePosixPath(self.filename.replace("\\", "/")).parts:
                model_dir = model_dir.parent  # ... up to the model directory
            files = LocalFiles(model_dir)
        # A link out of the model, a FIFO or a device is refused.
        name = f"{layout.ASSETS_DIR}/{self.filename}"
        try:
            return files.read_all(name, what=f"asset file {self.filename!r}")
        except NotFoundError as exc:
            if exc.errno != errno.ENOENT:
                raise
        raise NotFoundError("asset file is missing", path=self.path)


def _asset_path(base: Path, filename: str, where: str | None) -> Path:
    """``base / filename`` for a relative asset name; absolute or ``..`` names are refused."""
    parts = filename.replace("\\", "/").split("/")
    if (
        not filename
        or "\0" in filename
        or filename.startswith(("/", "\\"))
        or (len(filename) > 1 and filename[1] == ":")  # C:\...
        or any(p in ("..", "") for p in parts)
    ):
        raise CorruptFileError(
            f"asset file name {filename!r} is not a plain relative path inside assets/",
            path=where,
        )
    return base / filename


# --- meta graphs --------------------------------------------------------------------------


class MetaGraph:
    """One MetaGraphDef: a tag-set's graph, signatures, function library and object graph."""

    def __init__(self, proto: MetaGraphDef, model: SavedModel | None = None) -> None:
        self.proto = proto
        self.model = model
        self.tags: tuple[str, ...] = tuple(proto.meta_info_def.tags)

    @property
    def tag_set(self) -> frozenset[str]:
        return frozenset(self.tags)

    @property
    def graph_def(self) -> GraphDef:
        return self.proto.graph_def

    @property
    def tensorflow_version(self) -> str:
        return self.proto.meta_info_def.tensorflow_version

    @cached_property
    def signatures(self) -> dict[str, Signature]:
        """SignatureDefs by key, in sorted key order; a missing key raises NotFoundError."""
        sd = self.proto.signature_def
        return Lookup(
            ((k, Signature(k, sd[k], self)) for k in sorted(sd)),
            what="signature", where=f"the meta graph with tag-set {_tag_text(self.tags)}",
            path=self._path,
        )

    def signature(self, key: str) -> Signature:
        """The signature ``key``; NotFoundError naming the available keys otherwise."""
        return self.signatures[key]

    @property
    def _path(self) -> str | None:
        return str(self.model.path) if self.model is not None else None

    @cached_property
    def session(self) -> Session:
        """The graph runtime's Session for this meta graph: compiled on first use, then kept.

        Variables are read from the model's checkpoint (by byte range for a model loaded
        from a URL) and keep their values across calls, as in a TensorFlow session.
        """
        return self._new_session(None, None)

    def session_for(
        self,
        export_dir: str | os.PathLike[str] | None = None,
        variables: Mapping[str, Any] | Callable[[str], Any] | None = None,
    ) -> Session:
        """:attr:`session`, or (given either argument) a new Session whose variables are
        ``variables`` (checkpoint key -> array, or a callable) or ``export_dir``'s checkpoint
        (default: the model's directory)."""
        if export_dir is None and variables is None:
            return self.session
        return self._new_session(export_dir, variables)

    def _new_session(
        self,
        export_dir: str | os.PathLike[str] | None,
        variables: Mapping[str, Any] | Callable[[str], Any] | None,
    ) -> Session:
        try:  # imported on first use: inspecting a model never needs the runtime
            from savedmodel_io.graph.runtime import Session
        except ModuleNotFoundError as exc:  # pragma: no cover - only in partial builds
            if not (exc.name or "").startswith("savedmodel_io"):
                raise
            raise SavedModelError("this build of savedmodel_io has no graph runtime") from None
        model = self.model
        if model is None:
            return Session(self.proto, export_dir=export_dir, variables=variables)
        if export_dir is None:
            export_dir = os.fspath(model.path)
            if variables is None:
                variables = model.checkpoint_entry
        return Session(self.proto, export_dir=export_dir, variables=variables,
                       allow_external_links=model.allow_external_links)

    @cached_property
    def functions(self) -> dict[str, Function]:
        """The graph's function library by function name."""
        return Lookup(
            ((f.signature.name, Function(f)) for f in self.proto.graph_def.library.function),
            what="function", where="the function library", path=self._path,
        )

    @cached_property
    def ops(self) -> list[str]:
        """Sorted op types used by the graph, following function calls into the library.

        Same rule as ``saved_model_cli show --list_ops`` (TensorFlow's
        ``ops_used_by_graph_def``): nodes of the graph and of every function reached
        by calling it as an op or through a (Stateful)PartitionedCall's ``f``.
        """
        return sorted(ops_used(self.proto.graph_def))

    @cached_property
    def all_ops(self) -> list[str]:
        """Sorted op types of the graph and of every library function, called or not."""
        lib = self.proto.graph_def.library.function
        names = {f.signature.name for f in lib}
        ops = {n.op for n in self.proto.graph_def.node}
        for f in lib:
            ops.update(n.op for n in f.node_def)
        return sorted(ops - names)

    @cached_property
    def object_graph(self) -> ObjectGraph | None:
        """The SavedObjectGraph (TF2 models), or None (TF1 models)."""
        if not self.proto.HasField("object_graph_def"):
            return None
        return ObjectGraph(self.proto.object_graph_def, self._path)

    @property
    def asset_file_defs(self) -> list[AssetFileDef]:
        """The AssetFileDefs TensorFlow's loader uses (see :func:`asset_file_defs`)."""
        return asset_file_defs(self.proto, self._path)

    @cached_property
    def assets(self) -> list[Asset]:
        """Asset files this meta graph uses (AssetFileDefs), paths under ``assets/``."""
        base = (self.model.path if self.model is not None else Path(".")) / layout.ASSETS_DIR
        files = self.model.files if self.model is not None else None
        out = []
        for a in self.asset_file_defs:
            info = a.tensor_info
            tname = info.name if info.WhichOneof("encoding") == "name" else None
            out.append(Asset(a.filename, tname, _asset_path(base, a.filename, self._path), files))
        return out

    def __repr__(self) -> str:
        return (
            f"MetaGraph(tags={list(self.tags)}, signatures={list(self.signatures)}, "
            f"nodes={len(self.proto.graph_def.node)}, functions={len(self.proto.graph_def.library.function)})"
        )


# --- variables ----------------------------------------------------------------------------


class Variables(Mapping[str, "np.ndarray"]):
    """Read-only mapping: variable name -> numpy array, each read from the bundle on access.

    Iteration lists each variable once under its natural name (see
    ``savedmodel_io.formats.names``: the variable's own name, else its object path as
    written, else the checkpoint key); indexing also accepts every other object path,
    variable name (``conv1/kernel:0``) and checkpoint key, and a miss raises NotFoundError
    (a KeyError) suggesting near names.
    """

    def __init__(self, reader: Any, table: NameTable | None) -> None:
        self.reader = reader
        self._table = table
        entries = [e for e in table.entries if e.is_variable] if table is not None else []
        self._entries: dict[str, TensorName] = {e.name: e for e in entries}
        self._by_key = {k: e for e in entries for k in e.keys}

    def _entry(self, name: str) -> TensorName:
        found = self._entries.get(name)
        if found is not None:
            return found
        if self._table is None:
            raise NotFoundError(f"no variable {name!r}: the model has no variables")
        keys = self._table.resolve(name)
        entry = self._by_key.get(keys[0])
        if entry is None:
            raise NotFoundError(f"{name!r} is a checkpoint tensor but not a variable",
                                path=self._table.where)
        return entry

    def __getitem__(self, name: str) -> np.ndarray:
        value: np.ndarray = self.reader.read(self._entry(name).key)
        return value

    def __contains__(self, name: object) -> bool:
        if not isinstance(name, str):
            return False
        try:
            self._entry(name)
        except SavedModelError:
            return False
        return True

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def checkpoint_key(self, name: str) -> str:
        """The key under which ``variables.index`` stores this variable (the first copy's)."""
        return self._entry(name).key

    def names(self, name: str) -> tuple[str, ...]:
        """Every name of the variable ``name`` means, its natural name first."""
        return self._entry(name).aliases

    def spec(self, name: str) -> tuple[str, tuple[int, ...]]:
        """(TF dtype name, shape) from the index, without reading the data."""
        e = self.reader.entry(self.checkpoint_key(name))
        return e.dtype_name, tuple(e.shape)

    def __repr__(self) -> str:
        body = ", ".join(
            f"{n}: {dt}{list(shape)}" for n, (dt, shape) in ((n, self.spec(n)) for n in list(self)[:8])
        )
        more = ", ..." if len(self) > 8 else ""
        return f"Variables({len(self)}: {body}{more})"


# --- the model ----------------------------------------------------------------------------


class SavedModel:
    """A SavedModel directory: its meta graphs (one per tag-set), assets and variables.

    ``path`` is the directory (or URL), or the ModelFiles to read it through. Files are
    read only where they resolve inside the directory, unless ``allow_external_links``
    (see :func:`load`).
    """

    def __init__(
        self,
        proto: SavedModelProto,
        path: str | os.PathLike[str] | ModelFiles | None = None,
        *,
        allow_external_links: bool = False,
    ) -> None:
        self.proto = proto
        if not isinstance(path, ModelFiles):
            path = open_files("." if path is None else path,
                              allow_external_links=allow_external_links)
        self.files: ModelFiles = path
        self.path: Path = path.root  # for a URL, a str that joins with "/" like a Path
        self.meta_graphs: list[MetaGraph] = [MetaGraph(mg, self) for mg in proto.meta_graphs]

    @property
    def tag_sets(self) -> list[tuple[str, ...]]:
        """The tag-set of every meta graph, tags in stored order."""
        return [mg.tags for mg in self.meta_graphs]

    def meta_graph(self, tags: Tags | None = None) -> MetaGraph:
        """The meta graph with exactly this tag-set (order-free); default: ``serve`` or the only one."""
        if tags is None:
            return self.default_meta_graph
        want = normalize_tags(tags)
        for mg in self.meta_graphs:
            if mg.tag_set == want:
                return mg
        avail = "; ".join(_tag_text(sorted(t)) for t in self.tag_sets) or "none"
        raise NotFoundError(
            f"no meta graph with tag-set {_tag_text(sorted(want))} (available tag-sets: {avail})",
            path=self.path,
        )

    __getitem__ = meta_graph

    def __iter__(self) -> Iterator[MetaGraph]:
        return iter(self.meta_graphs)

    def __len__(self) -> int:
        return len(self.meta_graphs)

    @property
    def default_meta_graph(self) -> MetaGraph:
        """The only meta graph, or the one tagged exactly ``serve``."""
        if len(self.meta_graphs) == 1:
            return self.meta_graphs[0]
        for mg in self.meta_graphs:
            if mg.tag_set == {SERVE}:
                return mg
        if not self.meta_graphs:
            raise NotFoundError("the SavedModel holds no meta graphs", path=self.path)
        avail = "; ".join(_tag_text(sorted(t)) for t in self.tag_sets)
        raise NotFoundError(
            f"no meta graph tagged 'serve' and several to choose from (tag-sets: {avail}); "
            "pick one with model.meta_graph(tags)",
            path=self.path,
        )

    @property
    def signatures(self) -> dict[str, Signature]:
        """Signatures of the default meta graph (see ``default_meta_graph``)."""
        return self.default_meta_graph.signatures

    @property
    def assets_dir(self) -> Path:
        return self.path / layout.ASSETS_DIR

    @property
    def assets(self) -> list[Asset]:
        """Asset files of the default meta graph."""
        return self.default_meta_graph.assets

    @property
    def assets_extra(self) -> list[Path]:
        """Files under ``assets.extra/`` (written by users, not read by TensorFlow), sorted.

        Not listed for a model at a URL (HTTP cannot list directories).
        """
        if self.files.remote or not self.files.is_dir(layout.ASSETS_EXTRA_DIR):
            return []
        return sorted(p for p in (self.path / layout.ASSETS_EXTRA_DIR).rglob("*") if p.is_file())

    @property
    def allow_external_links(self) -> bool:
        """Whether files that symlinks lead to outside the model directory are read."""
        return self.files.allow_external_links

    @property
    def variables_prefix(self) -> Any:
        """Checkpoint prefix of the variables (``variables/variables``)."""
        return self.path / layout.VARIABLES_PREFIX

    @property
    def has_variables(self) -> bool:
        """Whether the model has variables (a ``variables/variables.index``)."""
        return self.files.exists(layout.VARIABLES_INDEX)

    @cached_property
    def checkpoint(self) -> CheckpointReader:
        """The TensorBundle of ``variables/`` (a CheckpointReader), opened on first use."""
        from savedmodel_io.formats.bundle import CheckpointReader

        if not self.has_variables:
            raise NotFoundError("this SavedModel has no variables (no variables.index)",
                                path=self.files.path(layout.VARIABLES_INDEX))
        return CheckpointReader.from_files(self.files, layout.VARIABLES_PREFIX)

    def checkpoint_entry(self, key: str) -> np.ndarray:
        """The value stored under checkpoint ``key`` in ``variables/`` (NotFoundError if none)."""
        reader = self.checkpoint
        if key not in reader:
            raise NotFoundError(f"no checkpoint entry {key!r}", path=self.variables_prefix)
        return reader.read(key)

    @cached_property
    def variables(self) -> Variables:
        """Variable values by name, read lazily from ``variables/`` (see ``Variables``).

        Listed under natural names: ``conv1/kernel`` (Keras), ``attn/q/kernel`` (object
        paths as written), checkpoint keys for TF1 models; empty without variables.
        """
        if not self.has_variables:
            return Variables(None, None)
        from savedmodel_io.formats.names import NameTable

        return Variables(self.checkpoint, NameTable(self.checkpoint, self.proto))

    def summary(self) -> dict[str, Any]:
        """Tag-sets, signatures and the variables' count and bytes, as plain data (JSON-able)."""
        from savedmodel_io._display import model_summary

        return model_summary(self)

    def __repr__(self) -> str:
        from savedmodel_io._display import model_text

        return model_text(self)

    def _repr_html_(self) -> str:
        from savedmodel_io._display import model_html

        return model_html(self)


def load(path: str | os.PathLike[str], *, allow_external_links: bool = False) -> SavedModel:
    """Read the SavedModel directory ``path`` (its saved_model.pb or .pbtxt) into an object model.

    ``path`` may be a URL (``https://``, ``gs://``, ``s3://``...; the ``remote`` extra): then
    only ``saved_model.pb`` is fetched, and variables are read by byte range on access.

    Every file is read only if it resolves inside ``path``: a symlink leading out of the
    model (to ``/etc/passwd``, another user's files...) raises OutsideModelError.
    ``allow_external_links=True`` follows such links, for trusted layouts that keep the
    files elsewhere, e.g. a Hugging Face cache (``snapshots/<rev>/`` links to ``blobs/``).
    """
    files = open_files(path, allow_external_links=allow_external_links)
    return SavedModel(saved_model_file.read(files), files)


def read_signatures(
    path: str | os.PathLike[str], tags: Tags | None = None, *, allow_external_links: bool = False
) -> dict[str, Signature]:
    """What the model takes and returns: signatures of one meta graph, parsing nothing else.

    Reads only the meta info and signature defs from ``saved_model.pb`` (the graph
    and function library are skipped unparsed). ``tags`` defaults like
    ``SavedModel.meta_graph``; ``allow_external_links`` as for :func:`load`.
    """
    files = open_files(path, allow_external_links=allow_external_links)
    small = SavedModelProto()
    small.meta_graphs.extend(saved_model_file.read_signature_defs(files))
    model = SavedModel(small, files)
    mg = model.meta_graph(tags)
    # Detach from the stripped meta graph: calling these needs the full model.
    return Lookup(
        ((k, Signature(k, s.proto, None)) for k, s in mg.signatures.items()),
        what="signature", where=f"the meta graph with tag-set {_tag_text(mg.tags)}", path=path,
    )

