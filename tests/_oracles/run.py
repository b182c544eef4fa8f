#!/usr/bin/env python3
"""Answer one oracle's requests with TensorFlow: ``python run.py NAME OUT.json < requests.json``.

Imports ``_oracles.NAME`` and writes ``NAME.answer(requests)`` to OUT.json (not stdout, which
TensorFlow and the tools it runs may print to). The test process starts this, once per batch
of requests without a recorded answer (``recorded.Oracle``).
"""

from __future__ import annotations

import importlib
import json
import os
import sys
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(TESTS), str(TESTS.parent / "src")]  # _oracles, and our package if needed

from _oracles.env import TF_ENV  # noqa: E402 (after the path is set)

for _key, _value in TF_ENV.items():
    os.environ.setdefault(_key, _value)


def main(name: str, out: str) -> int:
    requests = json.load(sys.stdin)
    answers = importlib.import_module(f"_oracles.{name}").answer(requests)
    if len(answers) != len(requests):
        raise RuntimeError(f"oracle {name} gave {len(answers)} answers to {len(requests)} requests")
    Path(out).write_text(json.dumps(answers))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
