#!/usr/bin/env python3
"""What counting a saved_model.pb's parts before parsing costs (formats/census.py).

    python bench/bench_census.py [--repeat 3] [--pure]

Synthetic graphs of N realistic NodeDefs (names, an op, two inputs, a dtype attr) and
the same graph split into functions. For each: the census, our parse
(``parse_message``), and TensorFlow's own ``saved_model_pb2.SavedModel.FromString``
in the same process (imported last); best of ``--repeat``. "census / TF parse" is the
ratio to report. ``--pure`` times the pure-Python walk instead of the C accelerator.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from savedmodel_io.formats import census  # noqa: E402
from savedmodel_io.proto import SavedModel, parse_message  # noqa: E402


def graph_model(nodes: int, functions: int) -> bytes:
    """One meta graph; ``nodes`` NodeDefs spread over the graph and ``functions`` functions."""
    sm = SavedModel()
    mg = sm.meta_graphs.add()
    mg.meta_info_def.tags.append("serve")
    per = nodes // (functions + 1)
    targets = [mg.graph_def.node] + [
        mg.graph_def.library.function.add(signature={"name": f"f{k}"}).node_def
        for k in range(functions)
    ]
    for t in targets:
        for i in range(per):
            n = t.add(name=f"model/layer_{i // 8}/dense/op_{i}", op="MatMul",
                      input=[f"model/layer_{i // 8}/x", f"model/layer_{i // 8}/kernel"])
            n.attr["T"].type = 1
    return sm.SerializeToString()


def best(fn, data: bytes, repeat: int) -> float:
    out = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn(data)
        out = min(out, time.perf_counter() - t0)
    return out


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--pure", action="store_true", help="without the C accelerator")
    args = ap.parse_args()
    if args.pure:
        census._compiled = None
    cases = [(10_000, 0), (100_000, 0), (1_000_000, 0), (100_000, 1_000)]
    blobs = {c: graph_model(*c) for c in cases}
    rows = []
    for c, data in blobs.items():
        rows.append([c, len(data), best(census.check_wire, data, args.repeat),
                     best(lambda d: parse_message(SavedModel, d), data, args.repeat)])
    from tensorflow.core.protobuf import saved_model_pb2

    for row in rows:
        row.append(best(saved_model_pb2.SavedModel.FromString, blobs[row[0]], args.repeat))
    print("| nodes / functions | file | census | our parse | TF parse | census / TF parse |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for (n, f), size, c, ours, tf in rows:
        print(f"| {n:,} / {f:,} | {size / 1e6:.1f} MB | {c * 1e3:.0f} ms | {ours * 1e3:.0f} ms "
              f"| {tf * 1e3:.0f} ms | {c / tf:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
