"""Fuzz targets: one function per parser, ``target(data: bytes)``; registered by name.

Targets that read files write the bytes into a scratch directory first (one per
process, reused), so the code under test is the same path users hit.
"""

from __future__ import annotations

import importlib
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

from savedmodel_io.proto import SavedModel, TensorProto, parse_message, parse_text
from savedmodel_io.tensors import to_array

TARGETS: dict[str, Callable[[bytes], object]] = {}
# Module each target needs; a target whose module is not importable is skipped.
NEEDS: dict[str, str] = {}


def target(name: str, needs: str | None = None):
    def register(fn):
        TARGETS[name] = fn
        if needs:
            NEEDS[name] = needs
        return fn

    return register


def available(name: str) -> str | None:
    """None when target ``name`` can run, else why not."""
    mod = NEEDS.get(name)
    if mod is None:
        return None
    try:
        importlib.import_module(mod)
    except ImportError as exc:
        return f"{mod} is not importable yet ({exc})"
    return None


_SCRATCH: Path | None = None


def scratch() -> Path:
    """A fresh empty directory for one case (same path every case of this process)."""
    global _SCRATCH
    if _SCRATCH is None:
        _SCRATCH = Path(tempfile.mkdtemp(prefix=f"fuzz-{os.getpid()}-"))
    d = _SCRATCH / "case"
    if d.exists():
        shutil.rmtree(d)
    d.mkdir()
    return d


def _touch_tensors(sm: SavedModel) -> None:
    """Decode every Const tensor, as a reader showing or running the model would."""
    for mg in sm.meta_graphs:
        nodes = list(mg.graph_def.node)
        for fn in mg.graph_def.library.function:
            nodes.extend(fn.node_def)
        for node in nodes:
            if "value" in node.attr and node.attr["value"].HasField("tensor"):
                to_array(node.attr["value"].tensor, where=node.name)


# --- protobuf messages (main) ------------------------------------------------------------------


@target("saved_model_pb")
def saved_model_pb(data: bytes) -> object:
    sm = parse_message(SavedModel, data, path="saved_model.pb")
    _touch_tensors(sm)
    return sm


@target("saved_model_pbtxt")
def saved_model_pbtxt(data: bytes) -> object:
    return parse_text(SavedModel, data.decode("latin-1"), path="saved_model.pbtxt")


@target("tensor_proto")
def tensor_proto(data: bytes) -> object:
    return to_array(parse_message(TensorProto, data, path="tensor.pb"), path="tensor.pb")


# --- the reader: saved_model_file, model.load, read_signatures, show, scan ----------------------


def _model_dir(data: bytes, name: str = "saved_model.pb") -> Path:
    d = scratch()
    (d / name).write_bytes(data)
    return d


def _browse(model) -> None:
    """Touch everything the object model computes lazily, as `show --all` does."""
    repr(model)
    for mg in model:
        repr(mg)
        for sig in mg.signatures.values():
            repr(sig)
            sig.defaults
        mg.functions
        mg.ops
        mg.assets
        og = mg.object_graph
        if og is not None:
            repr(og)
            og.concrete_functions
            if len(og):
                og.functions(0)


def _cli(*argv: str) -> int:
    import contextlib
    import io

    from savedmodel_io.cli.main import main

    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        code = main(list(argv))
    # main turns library errors into exit 1; re-raise anything else it let through.
    return code


@target("load_pb", needs="savedmodel_io.model")
def load_pb(data: bytes) -> object:
    import savedmodel_io

    model = savedmodel_io.load(_model_dir(data))
    _browse(model)
    return model


@target("load_pbtxt", needs="savedmodel_io.model")
def load_pbtxt(data: bytes) -> object:
    import savedmodel_io

    model = savedmodel_io.load(_model_dir(data, "saved_model.pbtxt"))
    _browse(model)
    return model


@target("read_signatures", needs="savedmodel_io.model")
def read_signatures(data: bytes) -> object:
    import savedmodel_io
    from savedmodel_io.errors import NotFoundError

    d = _model_dir(data)
    out = []
    try:
        sigs = savedmodel_io.read_signatures(d)
    except NotFoundError:
        sigs = {}
    for tags in ({"serve"}, {"train", "serve"}):
        try:
            out.append(savedmodel_io.read_signatures(d, tags))
        except NotFoundError:
            pass
    return sigs, out


@target("cli_show", needs="savedmodel_io.cli.show")
def cli_show(data: bytes) -> object:
    d = _model_dir(data)
    return _cli("show", "--dir", str(d), "--all"), _cli("show", "--dir", str(d), "--json", "--all")


@target("scan", needs="savedmodel_io.scan")
def scan(data: bytes) -> object:
    from savedmodel_io.scan import scan_saved_model

    d = _model_dir(data)
    return scan_saved_model(d).to_json(), _cli("scan", "--dir", str(d))
