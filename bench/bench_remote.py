#!/usr/bin/env python3
"""Bytes transferred when reading a SavedModel over HTTP (Range requests), against what is needed.

    python bench/bench_remote.py [--mb 300]

Writes a model of about --mb megabytes (one big variable plus a small one) with the writer,
serves it from 127.0.0.1 with the counting Range-capable server of tests/test_remote.py, and
reports the bytes sent for `show` (saved_model.pb) and for one small variable read by
checkpoint key and by object path. No TensorFlow needed.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "tests"))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mb", type=int, default=300)
    args = ap.parse_args()
    from test_remote import _Server

    import savedmodel_io
    from savedmodel_io.cli.main import main as cli
    from savedmodel_io.formats.bundle import OBJECT_GRAPH_KEY
    from savedmodel_io.writer import Model, save

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        m = Model()
        rows = args.mb * (1 << 20) // (4 * 1024)
        big = m.variable("embedding/table", np.ones((rows, 1024), np.float32), copy=False)
        small = m.variable("head/bias", np.arange(10, dtype=np.float32))
        f = m.function("__call__", {"x": ("float32", (None, 10))})
        f.outputs({"y": f.add(f.mul(f.inputs["x"], f.reduce_sum(f.read(big))), f.read(small))})
        m.signature("serving_default", f)
        save(root / "model", m)
        shard = (root / "model/variables/variables.data-00000-of-00001").stat().st_size
        pb = (root / "model/saved_model.pb").stat().st_size
        index = (root / "model/variables/variables.index").stat().st_size
        server = _Server(root)
        try:
            url = server.url + "/model"
            server.reset()
            with contextlib.redirect_stdout(io.StringIO()):
                cli(["show", "--dir", url, "--all"])
            show = server.sent
            model = savedmodel_io.load(url)
            key = "head/bias/.ATTRIBUTES/VARIABLE_VALUE"
            server.reset()
            model.checkpoint.read(key)
            by_key, need_key = server.sent, index + model.checkpoint.entry(key).size
            model = savedmodel_io.load(url)
            server.reset()
            model.variables["head/bias"]
            by_path = server.sent
            need_path = need_key + model.checkpoint.entry(OBJECT_GRAPH_KEY).size
        finally:
            server.close()
    print(f"model: shard {shard / 1e6:.1f} MB, saved_model.pb {pb} B, variables.index {index} B")
    print("| read | bytes sent | bytes needed | ratio |")
    print("| --- | ---: | ---: | ---: |")
    print(f"| `show --all` | {show} | {pb} | {show / pb:.2f} |")
    print(f"| one variable by checkpoint key | {by_key} | {need_key} | {by_key / need_key:.2f} |")
    print(f"| one variable by object path | {by_path} | {need_path} | {by_path / need_path:.2f} |")


if __name__ == "__main__":
    main()
