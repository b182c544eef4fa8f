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
