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

The graph runtime's float32 GEMMs run on Intel MKL when the ``mkl`` extra is installed, else on
numpy's BLAS (``savedmodel_io.graph.ops._gemm``); that row is listed too, but numpy is only
1.0-1.5x slower there, so it never warns.

``savedmodel_io.show_config()`` and ``savedmodel-io --version`` print this table
(``savedmodel_io._config``, which sits above every layer it inspects). The first
job of more than ``SLOW_BYTES`` (256 MiB) that a step runs on its pure-Python fallback warns
(``SlowFallbackWarning``, once per step and process) saying how to get the fast backend.
"""

from __future__ import annotations

import warnings

__all__ = ["HINTS", "SLOW_BYTES", "SlowFallbackWarning", "note_slow"]

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
    "GEMM (float32)": "pip install 'savedmodel-io[mkl]'",
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
