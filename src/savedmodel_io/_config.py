"""``show_config()``: the version, the runtime dependencies and each accelerator's backend.

The accelerated steps and their fallbacks are described in ``savedmodel_io._accel``; this
module asks each accelerated module (hashes, census, deterministic serialisation, the
runtime's GEMMs) which
backend it loaded, so it sits above them (the bottom layers only import ``_accel``).
"""

from __future__ import annotations

import importlib
import importlib.metadata
import platform
import sys
from typing import Any, TextIO

from savedmodel_io._accel import HINTS
from savedmodel_io._version import version
from savedmodel_io.errors import InvalidArgumentError
from savedmodel_io.formats import census
from savedmodel_io.graph.ops import _gemm
from savedmodel_io.hashing import crc32c, farmhash, highwayhash
from savedmodel_io.proto import deterministic

__all__ = ["backends", "config", "report", "show_config"]


def _version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "?"


def backends() -> dict[str, dict[str, Any]]:
    """Each accelerated step -> {"backend": name, "fast": bool, "hint": how to get it fast}."""
    crc_names = {
        "google-crc32c": f"google-crc32c {_version('google-crc32c')}",
        "crcmod": f"crcmod {_version('crcmod')} (C extension)",
        "python": "pure Python",
    }
    hh = f"C accelerator ({highwayhash.SIMD})" if highwayhash.ACCELERATED else "pure Python"
    fh = f"cityhash {_version('cityhash')}" if farmhash.ACCELERATED else "pure Python"
    det = "C accelerator" if deterministic.ACCELERATED else "pure Python"
    census_backend = "C accelerator" if census.ACCELERATED else "pure Python"
    rows = {
        "CRC32C": (crc_names[crc32c.BACKEND], crc32c.BACKEND != "python"),
        "HighwayHash": (hh, highwayhash.ACCELERATED),
        "FarmHash": (fh, farmhash.ACCELERATED),
        "deterministic serialisation": (det, deterministic.ACCELERATED),
        "field census": (census_backend, census.ACCELERATED),
        "GEMM (float32)": (_gemm.BACKEND, _gemm.ACCELERATED),
    }
    return {
        step: {"backend": name, "fast": fast, "hint": "" if fast else HINTS[step]}
        for step, (name, fast) in rows.items()
    }


def config() -> dict[str, Any]:
    """Versions of savedmodel-io, Python and the runtime dependencies; the accelerator backends."""
    proto_impl = importlib.import_module("google.protobuf.internal.api_implementation").Type()
    return {
        "savedmodel-io": version(),
        "python": platform.python_version(),
        "numpy": _version("numpy"),
        "protobuf": f"{_version('protobuf')} ({proto_impl})",
        "accelerators": backends(),
    }


def report(cfg: dict[str, Any] | None = None) -> str:
    """``config()`` as the text ``savedmodel-io --version`` prints."""
    cfg = cfg or config()
    lines = [
        f"savedmodel-io {cfg['savedmodel-io']}",
        f"python {cfg['python']}, numpy {cfg['numpy']}, protobuf {cfg['protobuf']}",
        "accelerators:",
    ]
    width = max(len(step) for step in cfg["accelerators"])
    for step, row in cfg["accelerators"].items():
        hint = f" (slow: {row['hint']})" if row["hint"] else ""
        lines.append(f"  {step:<{width}}  {row['backend']}{hint}")
    return "\n".join(lines) + "\n"


def show_config(mode: str = "stdout", file: TextIO | None = None) -> dict[str, Any] | None:
    """Print the version and each accelerator's backend (``mode="dicts"``: return them instead)."""
    cfg = config()
    if mode == "dicts":
        return cfg
    if mode != "stdout":
        raise InvalidArgumentError(f"show_config: mode must be 'stdout' or 'dicts', not {mode!r}")
    (file or sys.stdout).write(report(cfg))
    return None
