"""TensorFlow side kept in a test module: requests name ``module``, ``from`` and ``function``.

``module.function(request) -> answer`` runs here, in the oracle's subprocess, with the module
imported under its pytest name from ``tests/<from>``; the function imports TensorFlow itself.
See ``recorded.ModuleOracle``.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]


def answer(requests: list[dict]) -> list:
    out = []
    for r in requests:
        where = str(TESTS / r["from"])
        if where not in sys.path:
            sys.path.insert(0, where)
        out.append(getattr(importlib.import_module(r["module"]), r["function"])(r))
    return out
