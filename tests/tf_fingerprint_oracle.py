#!/usr/bin/env python3
"""TensorFlow's own fingerprints of SavedModel directories, as JSON (test oracle; needs TF).

    python tests/tf_fingerprint_oracle.py DIR [DIR ...]

For each directory prints, under its path: ``create``, what TF's C++
``CreateFingerprintDef`` computes (or ``{"error": ...}``), and ``read``, what
``tf.saved_model.experimental.read_fingerprint`` returns for its fingerprint.pb
(null without one). Run once per test session: importing TF costs seconds.
"""

from __future__ import annotations

import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "-1")

FIELDS = (
    "saved_model_checksum",
    "graph_def_program_hash",
    "signature_def_hash",
    "saved_object_graph_hash",
    "checkpoint_hash",
)


def main(dirs: list[str]) -> int:
    import tensorflow as tf
    from tensorflow.core.protobuf import fingerprint_pb2
    from tensorflow.python.saved_model import pywrap_saved_model

    out = {}
    for d in dirs:
        entry: dict = {}
        try:
            raw = pywrap_saved_model.fingerprinting.CreateFingerprintDef(d)
            fp = fingerprint_pb2.FingerprintDef.FromString(raw)
            entry["create"] = {f: getattr(fp, f) for f in FIELDS}
            entry["create"]["version"] = fp.version.producer
            entry["create"]["uuid"] = fp.uuid
        except Exception as exc:  # noqa: BLE001 - reported to the test
            entry["create"] = {"error": f"{type(exc).__name__}: {exc}"}
        if os.path.exists(os.path.join(d, "fingerprint.pb")):
            try:
                read = tf.saved_model.experimental.read_fingerprint(d)
                entry["read"] = {f: getattr(read, f) for f in FIELDS}
                entry["read"]["version"] = read.version.producer
            except Exception as exc:  # noqa: BLE001
                entry["read"] = {"error": f"{type(exc).__name__}: {exc}"}
        else:
            entry["read"] = None
        out[d] = entry
    json.dump(out, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
