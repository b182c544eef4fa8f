"""TensorFlow side kept in a test module: each request names ``module`` and ``function``.

``module.function(request) -> answer`` runs here, in the oracle's subprocess; it imports
TensorFlow itself. See ``recorded.ModuleOracle``.
"""

from __future__ import annotations

import importlib


def answer(requests: list[dict]) -> list:
    return [getattr(importlib.import_module(r["module"]), r["function"])(r) for r in requests]
