"""Which backend each accelerated step uses; a one-time warning when big work runs in pure Python.

Five steps have a fast backend and a pure-Python fallback that gives the same results:

* CRC32C (every variable read and written): ``google-crc32c`` (the ``fast`` extra), else
  ``crcmod`` (a runtime dependency, C when its extension was built), else pure Python;
* HighwayHash-64 (every ``saved_model.cpb`` chunk): our C module ``_highwayhash``, built
  when the package is installed with a C compiler (no maintained package exists);
* FarmHash Fingerprint64 (fingerprints): the ``cityhash`` package (the ``fast`` extra);
* deterministic serialisation (fingerprints): our C module ``_deterministic`` re-sorts map
  entries into C++ order;
* field census (every ``saved_model.pb`` read): our C module ``_census`` counts repeated
  parts before parsing.

``savedmodel_io.show_config()`` and ``savedmodel-io --version`` print this table. The first
job of more than ``SLOW_BYTES`` (256 MiB) that a step runs on its pure-Python fallback warns
(``SlowFallbackWarning``, once per step and process) saying how to get the fast backend.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import platform
import sys
import warnings
from typing import Any, TextIO

from savedmodel_io.errors import InvalidArgumentError

__all__ = [
    "SLOW_BYTES",
    "SlowFallbackWarning",
    "backends",
    "config",
    "note_slow",
    "report",
    "show_config",
]

#: A job larger than this (bytes) on a pure-Python fallback warns (once per step and process).
SLOW_BYTES = 256 << 20

_FAST_EXTRA = "pip install 'savedmodel-io[fast]'"
_REBUILD = (
    "reinstall savedmodel-io where a C compiler is available "
    "(`pip install -v` shows why the build failed)"
)
#: How to get the fast backend of each step.
HINTS = {
    "CRC32C": _FAST_EXTRA,
    "HighwayHash": _REBUILD,
    "FarmHash": _FAST_EXTRA,
    "deterministic serialisation": _REBUILD,
    "field census": _REBUILD,
}


class SlowFallbackWarning(RuntimeWarning):
    """A large job is running on a pure-Python fallback: correct, but 10-1000x slower."""


_warned: set[str] = set()


def note_slow(step: str, nbytes: int, detail: str = "") -> None:
    """Warn (once per process and step) that a job of ``nbytes`` > SLOW_BYTES runs on Python."""
    if nbytes <= SLOW_BYTES or step in _warned:
        return
    _warned.add(step)
    extra = f" {detail}" if detail else ""
    warnings.warn(
        f"savedmodel_io: {step} is running in pure Python on {nbytes / (1 << 20):.0f} MiB, "
        f"which is slow;{extra} for the fast backend, {HINTS[step]} "
        "(savedmodel_io.show_config() lists the backends)",
        SlowFallbackWarning,
        stacklevel=3,
    )


def _version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "?"


def backends() -> dict[str, dict[str, Any]]:
    """Each accelerated step -> {"backend": name, "fast": bool, "hint": how to get it fast}."""
    from savedmodel_io.formats import census
    from savedmodel_io.hashing import crc32c, farmhash, highwayhash
    from savedmodel_io.proto import deterministic

    crc_names = {
        "google-crc32c": f"google-crc32c {_version('google-crc32c')}",
        "crcmod": f"crcmod {_version('crcmod')} (C extension)",
        "python": "pure Python",
    }
    hh = f"C accelerator ({highwayhash.SIMD})" if highwayhash.ACCELERATED else "pure Python"
    fh = f"cityhash {_version('cityhash')}" if farmhash.ACCELERATED else "pure Python"
    det = "C accelerator" if deterministic.ACCELERATED else "pure Python"
    counted = census._compiled is not None
    rows = {
        "CRC32C": (crc_names[crc32c.BACKEND], crc32c.BACKEND != "python"),
        "HighwayHash": (hh, highwayhash.ACCELERATED),
        "FarmHash": (fh, farmhash.ACCELERATED),
        "deterministic serialisation": (det, deterministic.ACCELERATED),
        "field census": ("C accelerator" if counted else "pure Python", counted),
    }
    return {
        step: {"backend": name, "fast": fast, "hint": "" if fast else HINTS[step]}
        for step, (name, fast) in rows.items()
    }


def config() -> dict[str, Any]:
    """Versions of savedmodel-io, Python and the runtime dependencies; the accelerator backends."""
    from savedmodel_io import __version__

    proto_impl = importlib.import_module("google.protobuf.internal.api_implementation").Type()
    return {
        "savedmodel-io": __version__,
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
