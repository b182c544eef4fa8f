"""TensorFlow oracle for test_raw_ops_tf.py: runs ``tf.raw_ops.<Op>`` on each request.

Reads a JSON list of requests ``{"op", "inputs": [[arg, array | [array...]]...], "attrs"}``
on stdin (arrays encoded by ``encode``) and writes, per request, TF's NodeDef for the op
(built on shapeless placeholders ``in0, in1, ...`` so TF fills in every attr and default)
and either the flat list of eager outputs or the error TF raised.
"""

from __future__ import annotations

import base64
import json
import sys
from typing import Any

import ml_dtypes
import numpy as np


def decode(d: dict) -> np.ndarray:
    """Array from its JSON form (see ``encode``)."""
    if d["dtype"] == "string":
        items = [base64.b64decode(s) for s in d["items"]]
        arr = np.empty(len(items), dtype=object)
        arr[:] = items
        return arr.reshape(d["shape"])
    raw = base64.b64decode(d["b64"])
    dtype = np.dtype(getattr(ml_dtypes, d["dtype"])) if d["dtype"] == "bfloat16" else d["dtype"]
    return np.frombuffer(raw, dtype=dtype).reshape(d["shape"]).copy()


def encode(a: Any) -> dict:
    """JSON form of an array: dtype, shape and raw bytes (strings: one base64 item each)."""
    a = np.asarray(a)
    if a.dtype.kind in "OSU":
        items = [x if isinstance(x, bytes) else str(x).encode() for x in a.reshape(-1)]
        return {"dtype": "string", "shape": list(a.shape),
                "items": [base64.b64encode(x).decode() for x in items]}
    return {"dtype": a.dtype.name, "shape": list(a.shape),
            "b64": base64.b64encode(np.ascontiguousarray(a).tobytes()).decode()}


def _flat(result: Any) -> list:
    """Flat list of an op's output tensors (namedtuples and list outputs flattened)."""
    if isinstance(result, (list, tuple)):
        return [t for r in result for t in _flat(r)]
    return [result]


def main() -> None:
    import tensorflow as tf

    def attrs_of(req: dict) -> dict:
        return {k: tf.as_dtype(v["dtype"]) if isinstance(v, dict) else v
                for k, v in req["attrs"].items()}

    def tf_dtype(d: dict) -> Any:
        return tf.string if d["dtype"] == "string" else tf.as_dtype(d["dtype"])

    def node_def(req: dict) -> str:
        g = tf.Graph()
        with g.as_default():
            k = 0
            kwargs: dict[str, Any] = {}
            for name, val in req["inputs"]:
                vals = val if isinstance(val, list) else [val]
                phs = []
                for v in vals:
                    phs.append(tf.compat.v1.placeholder(tf_dtype(v), shape=None, name=f"in{k}"))
                    k += 1
                kwargs[name] = phs if isinstance(val, list) else phs[0]
            getattr(tf.raw_ops, req["op"])(**kwargs, **attrs_of(req), name="op")
        nd = g.get_operation_by_name("op").node_def
        return base64.b64encode(nd.SerializeToString()).decode()

    def run(req: dict) -> dict:
        out: dict[str, Any] = {}
        try:
            out["node_def"] = node_def(req)
        except Exception as e:  # noqa: BLE001 (report every TF failure as data)
            out["node_def_error"] = f"{type(e).__name__}: {e}"
        kwargs = {}
        for name, val in req["inputs"]:
            vals = [tf.constant(decode(v), dtype=tf_dtype(v))
                    for v in (val if isinstance(val, list) else [val])]
            kwargs[name] = vals if isinstance(val, list) else vals[0]
        try:
            with tf.device("/CPU:0"):
                result = getattr(tf.raw_ops, req["op"])(**kwargs, **attrs_of(req))
            out["outputs"] = [encode(t.numpy()) for t in _flat(result)]
        except Exception as e:  # noqa: BLE001
            out["error"] = f"{type(e).__name__}: {str(e)[:600]}"
        return out

    requests = json.load(sys.stdin)
    json.dump([run(r) for r in requests], sys.stdout)


if __name__ == "__main__":
    main()
