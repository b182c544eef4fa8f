#!/usr/bin/env python3
"""Bytes transferred when reading a SavedModel over HTTP (Range requests), against what is needed.

    python bench/bench_remote.py [--mb 300] [--variables 300]

Writes a model of about --mb megabytes (one big variable, a small one, and --variables more
small ones so that the checkpoint's object graph entry has a realistic size) with the writer,
serves it from 127.0.0.1 with the counting Range-capable server of tests/test_remote.py, and
reports, for `show`, one small variable read by checkpoint key (API and CLI) and by object
path (API and CLI): the bytes of every request (HEAD requests send none) and the total
against the bytes the operation needs. No TensorFlow needed.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "tests"))


def _measure(server, run: Callable[[], object]) -> tuple[int, list[str]]:
    """(bytes sent, one "METHOD file [range]: N B" line per request) for ``run()``."""
    server.reset()
    with contextlib.redirect_stdout(io.StringIO()):
        run()
    lines = []
    for (method, path, rng), sent in zip(server.requests, server.request_bytes):
        if method == "GET":
            part = f" {rng.split('=', 1)[1]}" if rng else ""
            lines.append(f"GET {path.rsplit('/', 1)[-1]}{part}: {sent} B")
    heads = sum(1 for m, _p, _r in server.requests if m == "HEAD")
    if heads:
        lines.append(f"{heads} HEAD")
    return server.sent, lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mb", type=int, default=300)
    ap.add_argument("--variables", type=int, default=300,
                    help="extra small variables (they make the object graph entry bigger)")
    args = ap.parse_args()
    from test_remote import _Server

    import savedmodel_io
    from savedmodel_io.cli.main import main as cli
    from savedmodel_io.formats.bundle import OBJECT_GRAPH_KEY
    from savedmodel_io.writer import Model, save

    key = "head/bias/.ATTRIBUTES/VARIABLE_VALUE"
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        m = Model()
        rows = args.mb * (1 << 20) // (4 * 1024)
        big = m.variable("embedding/table", np.ones((rows, 1024), np.float32), copy=False)
        small = m.variable("head/bias", np.arange(10, dtype=np.float32))
        for i in range(args.variables):
            m.variable(f"blocks/block_{i}/scale", np.ones(4, np.float32))
        f = m.function("__call__", {"x": ("float32", (None, 10))})
        f.outputs({"y": f.add(f.mul(f.inputs["x"], f.reduce_sum(f.read(big))), f.read(small))})
        m.signature("serving_default", f)
        save(root / "model", m)
        shard = (root / "model/variables/variables.data-00000-of-00001").stat().st_size
        pb = (root / "model/saved_model.pb").stat().st_size
        index = (root / "model/variables/variables.index").stat().st_size
        local = savedmodel_io.load(root / "model").checkpoint
        tensor, graph = local.entry(key).size, local.entry(OBJECT_GRAPH_KEY).size
        server = _Server(root)
        url = server.url + "/model"
        try:
            # load() fetches saved_model.pb; the API rows measure the variable read alone.
            by_key, by_path = savedmodel_io.load(url), savedmodel_io.load(url)
            cases = [
                ("`show --all`", pb, lambda: cli(["show", "--dir", url, "--all"])),
                ("one variable by checkpoint key, API (`model.checkpoint.read`)", index + tensor,
                 lambda: by_key.checkpoint.read(key)),
                ("one variable by checkpoint key, CLI (`variables --name KEY`)", index + tensor,
                 lambda: cli(["variables", "--dir", url, "--name", key])),
                ("one variable by object path, API (`model.variables[path]`)",
                 index + tensor + graph, lambda: by_path.variables["head/bias"]),
                ("one variable by object path, CLI (`variables --name PATH`)",
                 index + tensor + graph,
                 lambda: cli(["variables", "--dir", url, "--name", "head/bias"])),
            ]
            results = [(name, *_measure(server, run), need) for name, need, run in cases]
        finally:
            server.close()
    print(f"model: shard {shard / 1e6:.1f} MB, saved_model.pb {pb} B, variables.index {index} B, "
          f"{OBJECT_GRAPH_KEY} {graph} B, the variable read {tensor} B")
    print()
    print("| read | bytes sent | bytes needed | ratio | requests (bytes each) |")
    print("| --- | ---: | ---: | ---: | --- |")
    for name, sent, lines, need in results:
        print(f"| {name} | {sent} | {need} | {sent / need:.2f} | {'; '.join(lines)} |")


if __name__ == "__main__":
    main()
