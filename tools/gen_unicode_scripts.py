#!/usr/bin/env python3
"""Write src/savedmodel_io/graph/ops/_unicode_scripts.py: the Unicode Script of every code point.

    python tools/gen_unicode_scripts.py            # rewrite the table (needs TensorFlow)
    python tools/gen_unicode_scripts.py --check    # exit 1 if it differs from the installed TF

``UnicodeScript`` answers ICU's ``uscript_getScript`` (tensorflow/tensorflow
tensorflow/core/kernels/unicode_script_op.cc): the Script property of the Unicode version
TensorFlow's ICU implements, numbered as ICU's ``UScriptCode``. Both facts are ICU's, so
the table is read from the installed TensorFlow (one call over all 0x110000 code points)
and stored as runs: the first code point of each run and its script code.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from _generated import write_or_check  # tools/_generated.py (this script's folder is on the path)

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "src" / "savedmodel_io" / "graph" / "ops" / "_unicode_scripts.py"


def scripts() -> tuple[str, np.ndarray]:
    """The installed TensorFlow's version and the script code of every code point."""
    import tensorflow as tf

    cps = np.arange(0x110000, dtype=np.int32)
    return tf.__version__, tf.raw_ops.UnicodeScript(input=cps).numpy()


def render(version: str, codes: np.ndarray) -> str:
    """The module's text: run starts and codes, 12 runs a line."""
    starts = np.flatnonzero(np.concatenate([[True], codes[1:] != codes[:-1]]))
    pairs = [f"{int(s):#x},{int(codes[s])}" for s in starts]
    lines = [" ".join(pairs[i:i + 12]) for i in range(0, len(pairs), 12)]
    body = "\n".join(lines)
    return (
        '"""Unicode Script of each code point, as ICU numbers it (UScriptCode): generated.\n\n'
        f"Written by tools/gen_unicode_scripts.py from TensorFlow {version}'s ICU: do not edit.\n"
        "RUNS holds ``start,code`` pairs: code points from ``start`` to the next start have\n"
        '``code``.\n"""\n\n'
        f'RUNS = """\n{body}\n"""\n'
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if the table is stale")
    args = parser.parse_args(argv)
    return write_or_check(OUT, render(*scripts()), __file__, check=args.check)


if __name__ == "__main__":
    sys.exit(main())
