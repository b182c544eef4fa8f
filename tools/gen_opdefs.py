#!/usr/bin/env python3
"""Write src/savedmodel_io/graph/opdefs.jsonl, the op facts, from TensorFlow's op registry.

    python tools/gen_opdefs.py            # rewrite the fact file (needs TensorFlow)
    python tools/gen_opdefs.py --check    # exit 1 if the file differs from the installed TF

The registry is read through TensorFlow's C API (``TF_GetAllOpList``: every op the
installed TensorFlow registers). Each op becomes one JSON line of facts (args, attrs,
defaults, constraints, flags; see ``savedmodel_io.graph.opdefs.to_record``), sorted by
name; summaries and descriptions are dropped. tests/graph/test_opdefs.py runs the check.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from _generated import write_or_check  # tools/_generated.py (this script's folder is on the path)

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from savedmodel_io.graph import opdefs  # noqa: E402
from savedmodel_io.proto import OpList  # noqa: E402


def registry() -> tuple[str, OpList]:
    """The installed TensorFlow's version and its registered ops (as our OpList message)."""
    import tensorflow as tf
    from tensorflow.python.client import pywrap_tf_session as c_api

    buf = c_api.TF_GetAllOpList()
    try:
        data = c_api.TF_GetBuffer(buf)
    finally:
        c_api.TF_DeleteBuffer(buf)
    return tf.__version__, OpList.FromString(data)


def render(version: str, op_list: OpList) -> str:
    """The fact file's text: a header line, then one sorted JSON line per op."""
    ops = sorted(op_list.op, key=lambda o: o.name)
    head = {
        "source": "tensorflow/tensorflow op registry (TF_GetAllOpList)",
        "tensorflow": version,
        "generator": "tools/gen_opdefs.py",
        "ops": len(ops),
    }
    lines = [json.dumps(head, sort_keys=True)]
    lines += [json.dumps(opdefs.to_record(op), separators=(",", ":")) for op in ops]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if the file is stale")
    args = parser.parse_args(argv)
    text = render(*registry())
    return write_or_check(opdefs.FACT_FILE, text, __file__, check=args.check,
                          wrote=f" ({text.count(chr(10)) - 1} ops)")


if __name__ == "__main__":
    sys.exit(main())
