#!/usr/bin/env python3
"""TensorFlow and tf2onnx on fixture signatures: the oracle of test_coverage_tf.py.

Reads ``[{"dir", "tags", "signature", "inputs": npz path, "work": dir}]`` on stdin. Per
request: TensorFlow's outputs on the inputs (written to ``<work>/tf.npz``), then
``tf2onnx.convert`` on the signature (its CLI entry point, in this process), then the
tf2onnx model on onnxruntime (outputs to ``<work>/tf2onnx.npz``). Writes one JSON answer
per request: ``{"tf": "ok" | error, "tf2onnx": "ok" | error, "tf2onnx_run": "ok" | error}``;
the test compares the outputs.
"""

from __future__ import annotations

import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "-1")


def _short(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}".strip().splitlines()
    return text[0][:160] if text else type(exc).__name__


def _tf_outputs(req: dict, inputs: dict) -> dict:
    import numpy as np
    import tensorflow as tf

    loaded = tf.saved_model.load(req["dir"], tags=req["tags"])
    fn = loaded.signatures[req["signature"]]
    specs = fn.structured_input_signature[1]
    out = fn(**{k: tf.constant(v, dtype=specs[k].dtype) for k, v in inputs.items()})
    return {k: np.asarray(v.numpy()) for k, v in out.items()}


def _tf2onnx(req: dict, path: str) -> str:
    import tf2onnx.convert

    argv = sys.argv
    sys.argv = ["tf2onnx.convert", "--saved-model", req["dir"], "--signature_def", req["signature"],
                "--tag", ",".join(req["tags"]), "--output", path, "--opset", "18"]
    try:
        tf2onnx.convert.main()
    except SystemExit as exc:
        if exc.code not in (0, None):
            return f"exit status {exc.code}"
    except Exception as exc:  # noqa: BLE001 - recorded for the table
        return _short(exc)
    finally:
        sys.argv = argv
    return "ok" if os.path.isfile(path) else "no model written"


def _run(path: str, inputs: dict, out: str) -> str:
    """tf2onnx's model on onnxruntime: its outputs by signature key into ``out`` (an .npz)."""
    import numpy as np
    import onnxruntime as ort

    try:
        sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
        feeds = {}
        for i in sess.get_inputs():
            v = inputs[i.name.split(":")[0]]
            feeds[i.name] = np.vectorize(lambda b: b.decode("utf-8", "surrogateescape"), otypes=[object])(v) \
                if v.dtype == object and v.size else v
        got = sess.run(None, feeds)
    except Exception as exc:  # noqa: BLE001 - onnxruntime refused or failed: recorded for the table
        return f"onnxruntime: {_short(exc)}"
    np.savez(out, **{o.name.split(":")[0]: np.asarray(g) for o, g in zip(sess.get_outputs(), got)})
    return "ok"


def main() -> int:
    import numpy as np

    answers = []
    for req in json.load(sys.stdin):
        data = np.load(req["inputs"], allow_pickle=True)
        inputs = {k: data[k] for k in data.files}
        ans: dict = {}
        try:
            want = _tf_outputs(req, inputs)
            np.savez(os.path.join(req["work"], "tf.npz"), **{k: v for k, v in want.items()})
            ans["tf"] = "ok"
        except Exception as exc:  # noqa: BLE001 - recorded for the table
            want = None
            ans["tf"] = _short(exc)
        path = os.path.join(req["work"], "tf2onnx.onnx")
        ans["tf2onnx"] = _tf2onnx(req, path)
        if ans["tf2onnx"] == "ok":
            ans["tf2onnx_run"] = _run(path, inputs, os.path.join(req["work"], "tf2onnx.npz"))
        answers.append(ans)
    json.dump(answers, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
