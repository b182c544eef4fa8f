"""Run TensorFlow's ``saved_model_cli`` several times in one process (saves a TF import each).

    python _tf_cli.py JOBS.json RESULTS.json

JOBS.json is a list of argument lists (``["show", "--all", "--dir", ...]``); each is run
through the real entry point ``tensorflow.python.tools.saved_model_cli.main`` with
``sys.argv`` set, and RESULTS.json gets ``[{"code": int, "stdout": str}, ...]``.
"""

from __future__ import annotations

import contextlib
import io
import json
import sys


def main(jobs_path: str, results_path: str) -> None:
    from tensorflow.python.tools import saved_model_cli

    results = []
    with open(jobs_path) as fh:
        jobs = json.load(fh)
    for argv in jobs:
        sys.argv = ["saved_model_cli", *argv]
        out = io.StringIO()
        code = 0
        with contextlib.redirect_stdout(out):
            try:
                saved_model_cli.main()
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        results.append({"code": code, "stdout": out.getvalue()})
    with open(results_path, "w") as fh:
        json.dump(results, fh)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
