"""Subprocess jobs for the > 2 GB .cpb test (a fresh process per job, so peak memory is ours).

    python cpb_large_job.py write DIR N_TENSORS TENSOR_BYTES [cpb]   # build a SavedModel, save
                                                                     # it (cpb: force .cpb)
    python cpb_large_job.py read DIR                            # load DIR/saved_model.cpb

Each prints one JSON line: the model size, the process's memory before the measured call, the
peak resident memory during it (sampled every 2 ms), its duration, and a summary of every
Const (name, bytes, weighted sum -- the checksum cpb_merger_oracle.cc --summary prints).
"""

from __future__ import annotations

import json
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "src"))

import numpy as np  # noqa: E402

from savedmodel_io.formats.cpb import read_saved_model_cpb, write_saved_model_file  # noqa: E402
from savedmodel_io.proto import DataType, SavedModel  # noqa: E402

_PAGE = 4096


def rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * _PAGE


class PeakRSS:
    """Highest resident set size seen while the ``with`` block runs."""

    def __enter__(self) -> PeakRSS:
        self.peak = rss()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(0.002):
            self.peak = max(self.peak, rss())

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, rss())


def weighted_sum(data: bytes) -> int:
    """sum(word_i * (i + 1)) mod 2**64 over little-endian uint64 words (tail zero-padded)."""
    tail = len(data) % 8
    if tail:
        data = data[: len(data) - tail] + data[len(data) - tail :] + b"\0" * (8 - tail)
    words = np.frombuffer(data, "<u8")
    total = 0
    step = 1 << 22
    for start in range(0, len(words), step):
        w = words[start : start + step]
        idx = np.arange(start + 1, start + 1 + len(w), dtype=np.uint64)
        total += int((w * idx).sum(dtype=np.uint64))
    return total % (1 << 64)


def summary(sm: SavedModel) -> list[list]:
    out = []
    for node in sm.meta_graphs[0].graph_def.node:
        if "value" in node.attr and node.attr["value"].HasField("tensor"):
            content = node.attr["value"].tensor.tensor_content
            out.append([node.name, len(content), weighted_sum(content)])
            del content
    return out


def build(n_tensors: int, tensor_bytes: int) -> SavedModel:
    sm = SavedModel(saved_model_schema_version=1)
    mg = sm.meta_graphs.add()
    mg.meta_info_def.tags.append("serve")
    g = mg.graph_def
    words = tensor_bytes // 8
    for k in range(n_tensors):
        node = g.node.add(name=f"weight{k}", op="Const")
        node.attr["dtype"].type = DataType.DT_FLOAT
        t = node.attr["value"].tensor
        t.dtype = DataType.DT_FLOAT
        t.tensor_shape.dim.add(size=words * 2)
        arr = np.arange(words, dtype=np.uint64)
        arr *= 2654435761 * (k + 1)
        data = arr.tobytes()
        del arr
        t.tensor_content = data
        del data
        add = g.node.add(name=f"read{k}", op="Identity", input=[f"weight{k}"])
        add.attr["T"].type = DataType.DT_FLOAT
    sig = mg.signature_def["serving_default"]
    sig.outputs["y"].name = "read0:0"
    return sm


def main(argv: list[str]) -> None:
    job, directory = argv[0], Path(argv[1])
    report: dict = {"rss_base": rss()}
    if job == "write":
        sm = build(int(argv[2]), int(argv[3]))
        report["expected"] = summary(sm)
        report["rss_before"] = rss()
        start = time.perf_counter()
        with PeakRSS() as peak:
            if argv[4:] == ["cpb"]:  # split even a small model: chunks up to one tensor's size
                path = write_saved_model_file(
                    directory, sm, image_format=True, max_size=int(argv[3]) + 4096
                )
            else:
                path = write_saved_model_file(directory, sm)
        report["seconds"] = time.perf_counter() - start
        report["path"] = str(path)
    else:
        report["rss_before"] = rss()
        start = time.perf_counter()
        with PeakRSS() as peak:
            sm = read_saved_model_cpb(directory)
        report["seconds"] = time.perf_counter() - start
        report["summary"] = summary(sm)
    report["peak"] = peak.peak
    report["file_bytes"] = (directory / "saved_model.cpb").stat().st_size
    print(json.dumps(report))


if __name__ == "__main__":
    main(sys.argv[1:])
