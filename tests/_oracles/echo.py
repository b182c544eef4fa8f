"""An oracle without TensorFlow, for the recorder's own tests: answers with what it was asked.

Each answer is ``{"request": the request, "files": sorted names under its "dir", "pid": the
answering process}``.
"""

from __future__ import annotations

import os


def answer(requests: list[dict]) -> list[dict]:
    return [{"request": r, "files": sorted(os.listdir(r["dir"])) if "dir" in r else [],
             "pid": os.getpid()} for r in requests]
