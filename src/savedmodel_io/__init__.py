"""Read, inspect, run and write TensorFlow SavedModels without TensorFlow.

Reading: ``load``, ``read_signatures``, ``open_checkpoint``, ``read_fingerprint``, ``verify``.
Writing: ``save`` (with ``Model`` and the graph builders), ``replace_weights``,
``write_checkpoint``. Every error raised on purpose is a ``SavedModelError``.
``show_config()`` prints the version and which backend each accelerator uses.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from savedmodel_io import errors
from savedmodel_io.errors import SavedModelError
from savedmodel_io.model import (
    Asset,
    ConcreteFunction,
    Function,
    MetaGraph,
    ObjectGraph,
    SavedModel,
    SavedObjectNode,
    Signature,
    Variables,
    load,
    read_signatures,
)
from savedmodel_io.specs import TensorSpec

if TYPE_CHECKING:
    __version__: str
    from savedmodel_io._accel import SlowFallbackWarning
    from savedmodel_io._config import show_config
    from savedmodel_io.fingerprint import Fingerprint, compute_fingerprint, read_fingerprint
    from savedmodel_io.formats.bundle import (
        CheckpointReader,
        list_variables,
        load_variables,
        open_checkpoint,
    )
    from savedmodel_io.formats.bundle_writer import write_checkpoint
    from savedmodel_io.graph.budget import Budget
    from savedmodel_io.graph.builder import FunctionBuilder, GraphBuilder
    from savedmodel_io.replace import replace_weights, variable_names
    from savedmodel_io.integrity import VerifyReport, verify
    from savedmodel_io.writer import Model, save

# Imported on first use, so `import savedmodel_io` + `load` stays light.
_LAZY = {
    "show_config": "savedmodel_io._config",
    "SlowFallbackWarning": "savedmodel_io._accel",
    "Fingerprint": "savedmodel_io.fingerprint",
    "compute_fingerprint": "savedmodel_io.fingerprint",
    "read_fingerprint": "savedmodel_io.fingerprint",
    "CheckpointReader": "savedmodel_io.formats.bundle",
    "list_variables": "savedmodel_io.formats.bundle",
    "load_variables": "savedmodel_io.formats.bundle",
    "open_checkpoint": "savedmodel_io.formats.bundle",
    "write_checkpoint": "savedmodel_io.formats.bundle_writer",
    "Budget": "savedmodel_io.graph.budget",
    "FunctionBuilder": "savedmodel_io.graph.builder",
    "GraphBuilder": "savedmodel_io.graph.builder",
    "replace_weights": "savedmodel_io.replace",
    "variable_names": "savedmodel_io.replace",
    "verify": "savedmodel_io.integrity",
    "VerifyReport": "savedmodel_io.integrity",
    "Model": "savedmodel_io.writer",
    "save": "savedmodel_io.writer",
}


def __getattr__(name: str) -> Any:
    if name == "__version__":  # importlib.metadata is read on first use only
        from savedmodel_io._version import version

        globals()[name] = version()
        return globals()[name]
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'savedmodel_io' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


__all__ = [
    "__version__",
    "show_config",
    "SlowFallbackWarning",
    "errors",
    "SavedModelError",
    # reading
    "load",
    "read_signatures",
    "open_checkpoint",
    "list_variables",
    "load_variables",
    "read_fingerprint",
    "compute_fingerprint",
    "verify",
    "VerifyReport",
    "Asset",
    "CheckpointReader",
    "ConcreteFunction",
    "Fingerprint",
    "Function",
    "MetaGraph",
    "ObjectGraph",
    "SavedModel",
    "SavedObjectNode",
    "Signature",
    "TensorSpec",
    "Variables",
    # running
    "Budget",
    # writing
    "save",
    "Model",
    "FunctionBuilder",
    "GraphBuilder",
    "replace_weights",
    "variable_names",
    "write_checkpoint",
]
