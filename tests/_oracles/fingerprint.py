"""TensorFlow's own fingerprints of SavedModel directories (oracle of the fingerprint tests).

Each request is ``{"dir": ...}``; the answer has ``create``, what TF's C++
``CreateFingerprintDef`` computes (or ``{"error": ...}``), and ``read``, what
``tf.saved_model.experimental.read_fingerprint`` returns for its fingerprint.pb (null
without one). The uuid CreateFingerprintDef makes up is not part of the answer.
"""

from __future__ import annotations

import os

FIELDS = (
    "saved_model_checksum",
    "graph_def_program_hash",
    "signature_def_hash",
    "saved_object_graph_hash",
    "checkpoint_hash",
)


def answer(requests: list[dict]) -> list[dict]:
    import tensorflow as tf
    from tensorflow.core.protobuf import fingerprint_pb2
    from tensorflow.python.saved_model import pywrap_saved_model

    out = []
    for req in requests:
        d = req["dir"]
        entry: dict = {}
        try:
            raw = pywrap_saved_model.fingerprinting.CreateFingerprintDef(d)
            fp = fingerprint_pb2.FingerprintDef.FromString(raw)
            entry["create"] = {f: getattr(fp, f) for f in FIELDS}
            entry["create"]["version"] = fp.version.producer
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
        out.append(entry)
    return out
