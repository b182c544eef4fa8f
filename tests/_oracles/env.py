"""Where TensorFlow's recorded answers and fixtures live, and whether TensorFlow may run."""

from __future__ import annotations

import functools
import importlib.metadata
import importlib.util
import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CACHE = Path(os.environ.get("SAVEDMODEL_IO_FIXTURES", ROOT / "tests" / ".cache" / "fixtures"))
TF_ENV = {"TF_CPP_MIN_LOG_LEVEL": "3", "TF_ENABLE_ONEDNN_OPTS": "0", "CUDA_VISIBLE_DEVICES": "-1"}
#: Set to 1 to fail, instead of starting TensorFlow, when an answer or fixture is not recorded.
NO_TF = "SAVEDMODEL_IO_TESTS_NO_TF"


@functools.cache
def has_tensorflow() -> bool:
    """TensorFlow is installed (looked up without importing it)."""
    try:
        return importlib.util.find_spec("tensorflow") is not None
    except (ImportError, ValueError):
        return False


@functools.cache
def tf_version() -> str:
    """The installed TensorFlow's version (part of every recorded answer's key)."""
    for dist in ("tensorflow", "tensorflow-cpu", "tensorflow-intel", "tf-nightly"):
        try:
            return f"{dist} {importlib.metadata.version(dist)}"
        except importlib.metadata.PackageNotFoundError:
            continue
    return "none"


def no_tf_reason(what: str) -> str | None:
    """Why TensorFlow may not start to make ``what`` (None: it may)."""
    if os.environ.get(NO_TF) == "1":
        return f"{NO_TF}=1 but {what} is not recorded in {CACHE}"
    if not has_tensorflow():
        return f"tensorflow is not installed (needed for {what})"
    return None
