#!/usr/bin/env python3
"""Build ``examples/mlp``: a tiny Keras MLP saved as a SavedModel (needs TensorFlow).

    python examples/make_example.py            # writes examples/mlp next to this file

The committed copy is what the README's first command inspects
(``savedmodel-io show --dir examples/mlp --all``); rerun this script to regenerate it.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")

OUT = Path(__file__).resolve().parent / "mlp"


def build(out: Path) -> None:
    import tensorflow as tf

    keras = tf.keras
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input(shape=(4,), name="features"),
            keras.layers.Dense(16, activation="relu", name="hidden"),
            keras.layers.Dense(3, activation="softmax", name="probs"),
        ],
        name="mlp",
    )
    tmp = Path(tempfile.mkdtemp(dir=out.parent)) / "mlp"
    model.export(str(tmp))
    if out.exists():
        shutil.rmtree(out)
    tmp.rename(out)
    tmp.parent.rmdir()


def main() -> int:
    build(OUT)
    size = sum(p.stat().st_size for p in OUT.rglob("*") if p.is_file())
    print(f"wrote {OUT} ({size} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
