"""TensorFlow's ``saved_model_cli show`` for many flag combinations in one process.

Each request is ``{"dir": ..., "argv": [...]}``; each answer ``{"stdout": ...,
"error": ...}``. TensorFlow is imported once. ``--all`` loads the model with
TensorFlow, whose global uid counter names the loaded functions (and so orders
the "Concrete Functions" section): each ``--all`` runs in a forked child so it
sees a fresh counter, exactly like a separate ``saved_model_cli`` process.
"""

from __future__ import annotations

import contextlib
import io
import json
import os


def _show(cli, flags, argv: list[str]) -> dict:
    flags.FLAGS.unparse_flags()
    flags.FLAGS(["saved_model_cli", *argv])
    out = io.StringIO()
    err = None
    with contextlib.redirect_stdout(out):
        try:
            cli.show()
        except Exception as exc:  # noqa: BLE001 - the oracle records every failure
            err = f"{type(exc).__name__}: {exc}"
    return {"stdout": out.getvalue(), "error": err}


def _forked(cli, flags, argv: list[str]) -> dict:
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # child
        os.close(r)
        data = json.dumps(_show(cli, flags, argv)).encode()
        with os.fdopen(w, "wb") as f:
            f.write(data)
        os._exit(0)
    os.close(w)
    with os.fdopen(r, "rb") as f:
        data = f.read()
    os.waitpid(pid, 0)
    return json.loads(data) if data else {"stdout": "", "error": "child failed"}


def answer(requests: list[dict]) -> list[dict]:
    from absl import flags
    from tensorflow.python.tools import saved_model_cli as cli

    results = []
    for req in requests:
        argv = ["--dir", req["dir"], *req["argv"]]
        if "--all" in req["argv"]:
            results.append(_forked(cli, flags, argv))
        else:
            results.append(_show(cli, flags, argv))
    return results
