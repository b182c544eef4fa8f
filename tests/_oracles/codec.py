"""numpy arrays and directories of files as JSON values (base64 bytes), both ways."""

from __future__ import annotations

import base64
import os
from pathlib import Path
from typing import Any

import numpy as np


def encode(a: Any) -> dict:
    """JSON form of an array: dtype, shape and raw bytes (strings: one base64 item each).

    An integer array whose dtype carries ``metadata={"tf": "qint8"}`` (see
    tests/graph/raw_ops_harness.py's ``quantized``) also records that TensorFlow dtype.
    A ``bytes`` or ``str`` scalar (what TensorFlow's ``.numpy()`` gives for a scalar string) is
    kept whole: numpy's fixed-width ``S`` dtype would drop its trailing NUL bytes.
    """
    if isinstance(a, (bytes, str)):
        item = a if isinstance(a, bytes) else a.encode()
        return {"dtype": "string", "shape": [], "items": [base64.b64encode(item).decode()]}
    a = np.asarray(a)
    if a.dtype.kind in "OSU":
        items = [x if isinstance(x, bytes) else str(x).encode() for x in a.reshape(-1)]
        return {"dtype": "string", "shape": list(a.shape),
                "items": [base64.b64encode(x).decode() for x in items]}
    out = {"dtype": a.dtype.name, "shape": list(a.shape),
           "b64": base64.b64encode(np.ascontiguousarray(a).tobytes()).decode()}
    if a.dtype.metadata and "tf" in a.dtype.metadata:
        out["tf_dtype"] = a.dtype.metadata["tf"]
    return out


def decode(d: dict) -> np.ndarray:
    """Array from its JSON form (see ``encode``); strings come back as an object array of bytes."""
    if d["dtype"] == "string":
        items = [base64.b64decode(s) for s in d["items"]]
        arr = np.empty(len(items), dtype=object)
        arr[:] = items
        return arr.reshape(d["shape"])
    raw = base64.b64decode(d["b64"])
    return np.frombuffer(raw, dtype=_dtype(d["dtype"])).reshape(d["shape"]).copy()


def _dtype(name: str) -> np.dtype:
    """numpy's dtype, or ml_dtypes' (bfloat16, float8_*, int4...) for names numpy lacks."""
    try:
        return np.dtype(name)
    except TypeError:
        import ml_dtypes

        return np.dtype(getattr(ml_dtypes, name))


def pack_dir(root: str | os.PathLike[str]) -> dict[str, str]:
    """Every file under ``root`` as {relative path: base64 bytes} (TF-made files in an answer)."""
    base = Path(root)
    return {p.relative_to(base).as_posix(): base64.b64encode(p.read_bytes()).decode()
            for p in sorted(base.rglob("*")) if p.is_file()}


def unpack_dir(files: dict[str, str], root: str | os.PathLike[str]) -> Path:
    """Write ``pack_dir``'s files under ``root``; returns ``root``."""
    base = Path(root)
    for rel, data in files.items():
        path = base / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(data))
    return base
