#!/usr/bin/env python3
"""TensorFlow oracle for the ecosystem tests: run signatures of SavedModels with TF.

Reads a JSON list of {"dir", "signature", "inputs": {name: nested list}, "dtype"} on stdin
and writes a JSON list of {output name: nested list} on stdout. Not cached: callers
compare models whose saved_model.pb is identical and whose variables differ.
"""

from __future__ import annotations

import json
import sys


def main() -> None:
    import numpy as np
    import tensorflow as tf

    out = []
    for req in json.load(sys.stdin):
        fn = tf.saved_model.load(req["dir"]).signatures[req.get("signature", "serving_default")]
        feeds = {k: tf.constant(np.asarray(v, dtype=req.get("dtype", "float32"))) for k, v in req["inputs"].items()}
        result = fn(**feeds)
        out.append({k: v.numpy().tolist() for k, v in result.items()})
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
