"""TensorFlow side of the kernel differential tests (tests/graph/raw_ops_harness.py).

Each request is ``{"op", "inputs": [[arg, array | [array...]]...], "attrs"}`` (arrays in
``codec`` form). The answer is TF's NodeDef for the op (built on shapeless placeholders
``in0, in1, ...`` so TF fills in every attr and default) and either the flat list of eager
outputs or the error TF raised.
"""

from __future__ import annotations

import base64
from typing import Any

from _oracles.codec import decode, encode


def _flat(result: Any) -> list:
    """Flat list of an op's output tensors (namedtuples and list outputs flattened)."""
    if isinstance(result, (list, tuple)):
        return [t for r in result for t in _flat(r)]
    return [result]


def answer(requests: list[dict]) -> list[dict]:
    import tensorflow as tf

    def attrs_of(req: dict) -> dict:
        return {k: tf.as_dtype(v["dtype"]) if isinstance(v, dict) else v
                for k, v in req["attrs"].items()}

    def tf_dtype(d: dict) -> Any:
        return tf.string if d["dtype"] == "string" else tf.as_dtype(d.get("tf_dtype", d["dtype"]))

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

    return [run(r) for r in requests]
