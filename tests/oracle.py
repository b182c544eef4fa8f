"""Run a TensorFlow oracle script once for many requests, caching its answers on disk.

An oracle script reads a JSON list of requests on stdin and writes a JSON list of
results. Answers are cached under the fixture cache, keyed by the script's code,
the requests and the bytes of every SavedModel file they name, so a second test
run does not import TensorFlow at all.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import CACHE, TF_ENV, has_tensorflow

HERE = Path(__file__).resolve().parent


def _model_digest(d: str) -> str:
    h = hashlib.sha256()
    for name in ("saved_model.pb", "saved_model.pbtxt", "saved_model.cpb"):
        p = Path(d) / name
        if p.is_file():
            h.update(name.encode())
            h.update(p.read_bytes())
    return h.hexdigest()


def run_cached(script: str, requests: list[dict]) -> list[dict]:
    """Results of ``tests/<script>`` for ``requests`` (each names a SavedModel in "dir")."""
    if not has_tensorflow():
        pytest.skip("tensorflow is not installed (needed as the oracle)")
    path = HERE / script
    h = hashlib.sha256(path.read_bytes())
    h.update(json.dumps(requests, sort_keys=True).encode())
    for d in sorted({r["dir"] for r in requests}):
        h.update(_model_digest(d).encode())
    cache = CACHE / "oracle" / f"{path.stem}-{h.hexdigest()[:24]}.json"
    if cache.is_file():
        return json.loads(cache.read_text())
    env = {**os.environ, **TF_ENV}
    proc = subprocess.run(
        [sys.executable, str(path)],
        input=json.dumps(requests),
        capture_output=True,
        check=False,
        text=True,
        env=env,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"oracle {script} failed:\n{proc.stderr[-4000:]}")
    results = json.loads(proc.stdout)
    cache.parent.mkdir(parents=True, exist_ok=True)
    tmp = cache.with_suffix(".tmp")
    tmp.write_text(json.dumps(results))
    tmp.replace(cache)
    return results
