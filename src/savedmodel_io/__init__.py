"""Read, inspect, run and write TensorFlow SavedModels without TensorFlow."""

from __future__ import annotations

from savedmodel_io import errors
from savedmodel_io.errors import SavedModelError
from savedmodel_io.fingerprint import Fingerprint, read_fingerprint
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

__version__ = "0.1.0"

__all__ = [
    "errors",
    "SavedModelError",
    "__version__",
    "load",
    "read_signatures",
    "read_fingerprint",
    "Fingerprint",
    "Asset",
    "ConcreteFunction",
    "Function",
    "MetaGraph",
    "ObjectGraph",
    "SavedModel",
    "SavedObjectNode",
    "Signature",
    "TensorSpec",
    "Variables",
]
