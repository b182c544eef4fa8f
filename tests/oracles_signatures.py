#!/usr/bin/env python3
"""TensorFlow's view of a model's signatures (the oracle for tests/test_model.py).

Reads ``[{"dir": ..., "tags": [...] or null}]`` on stdin; writes, per request,
``{"signatures": {key: {"args": [...], "kwargs": {...}, "outputs": ...}}}``
or ``{"error": ...}``. TensorSpecs become ``{"name", "dtype", "shape"}``.
"""

from __future__ import annotations

import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "-1")


def encode(x):
    import tensorflow as tf

    if isinstance(x, tf.TensorSpec):
        shape = None if x.shape.rank is None else [d for d in x.shape.as_list()]
        return {"name": x.name, "dtype": x.dtype.name, "shape": shape}
    if isinstance(x, tf.Tensor):  # TF1 signatures: structured_outputs are graph tensors
        shape = None if x.shape.rank is None else x.shape.as_list()
        return {"name": x.name, "dtype": x.dtype.name, "shape": shape}
    if isinstance(x, dict):
        return {str(k): encode(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [encode(v) for v in x]
    if isinstance(x, tf.TypeSpec):
        return {"type_spec": type(x).__name__}
    return repr(x)


def main() -> int:
    import tensorflow as tf

    out = []
    for req in json.load(sys.stdin):
        try:
            m = tf.saved_model.load(req["dir"], tags=req.get("tags"))
            sigs = {}
            for key, fn in m.signatures.items():
                args, kwargs = fn.structured_input_signature
                sigs[key] = {
                    "args": encode(args),
                    "kwargs": encode(kwargs),
                    "outputs": encode(fn.structured_outputs),
                }
            out.append({"signatures": sigs})
        except Exception as exc:  # noqa: BLE001 - recorded for the test to judge
            out.append({"error": f"{type(exc).__name__}: {exc}"})
    json.dump(out, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
