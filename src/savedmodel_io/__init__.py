"""Read, inspect, run and write TensorFlow SavedModels without TensorFlow."""

from __future__ import annotations

from savedmodel_io import errors
from savedmodel_io.errors import SavedModelError

__version__ = "0.1.0"

__all__ = ["errors", "SavedModelError", "__version__"]
