"""TensorFlow's ``saved_model_cli`` through its real entry point, many runs in one process.

Each request is ``{"dir", "argv": [...], "inputs": {arg: array}}``: ``argv`` without
``--dir`` (added here); for ``run``, ``inputs`` (``codec`` arrays) are saved as .npy files
and passed with ``--inputs``, and outputs are written to a scratch ``--outdir``. The answer
is ``{"code": exit status, "stdout": ..., "outputs": {name: array}}``.
"""

from __future__ import annotations

import contextlib
import io
import sys
import tempfile
from pathlib import Path

import numpy as np
from _oracles.codec import decode, encode


def _run(saved_model_cli, argv: list[str]) -> tuple[int, str]:
    sys.argv = ["saved_model_cli", *argv]
    out = io.StringIO()
    code = 0
    with contextlib.redirect_stdout(out):
        try:
            saved_model_cli.main()
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    return code, out.getvalue()


def answer(requests: list[dict]) -> list[dict]:
    from tensorflow.python.tools import saved_model_cli

    results = []
    for req in requests:
        with tempfile.TemporaryDirectory() as scratch:
            argv = [*req["argv"], "--dir", req["dir"]]
            outdir = Path(scratch, "out")
            if req.get("inputs"):
                specs = []
                for arg, value in req["inputs"].items():
                    np.save(Path(scratch, f"{arg}.npy"), decode(value))
                    specs.append(f"{arg}={Path(scratch, f'{arg}.npy')}")
                argv += ["--inputs", ";".join(specs), "--outdir", str(outdir)]
            code, stdout = _run(saved_model_cli, argv)
            outputs = {p.stem: encode(np.load(p)) for p in sorted(outdir.glob("*.npy"))}
        results.append({"code": code, "stdout": stdout, "outputs": outputs})
    return results
