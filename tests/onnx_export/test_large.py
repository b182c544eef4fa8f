"""A model past protobuf's 2 GiB limit: export, save with external data, run on onnxruntime (slow: ~2.5 GB)."""

from __future__ import annotations

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

import savedmodel_io  # noqa: E402
import savedmodel_io.onnx as sx  # noqa: E402
from savedmodel_io.cli import main as cli  # noqa: E402
from savedmodel_io.onnx.backend import output_keys  # noqa: E402
from savedmodel_io.writer import Model, save  # noqa: E402

pytestmark = pytest.mark.slow

ROWS, WIDTH = 640_000, 1024  # 2.6 GB of float32


def test_external_data_past_2gib(tmp_path):
    table = np.empty((ROWS, WIDTH), np.float32)
    table[:] = np.arange(WIDTH, dtype=np.float32)
    table += np.arange(ROWS, dtype=np.float32)[:, None]
    m = Model()
    var = m.variable("embedding/table", table)
    f = m.function("__call__", {"ids": ("int32", (None,))})
    f.outputs({"rows": f.gather(var, f.inputs["ids"], name="lookup")})
    m.signature("serving_default", f)
    save(tmp_path / "model", m)
    del table

    proto = sx.export(savedmodel_io.load(tmp_path / "model"))
    out = tmp_path / "big.onnx"
    sx.save(proto, out)
    del proto
    data = tmp_path / "big.onnx.data"
    assert data.is_file() and data.stat().st_size >= ROWS * WIDTH * 4
    assert out.stat().st_size < 1 << 20  # the graph alone; the tensor is in the .data file
    onnx.checker.check_model(str(out), full_check=True)

    sess = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    ids = np.array([0, ROWS - 1, 12345], np.int32)
    got = dict(zip(output_keys(sess), sess.run(None, {"ids": ids})))["rows"]
    want = np.arange(WIDTH, dtype=np.float32)[None, :] + ids.astype(np.float32)[:, None]
    np.testing.assert_array_equal(got, want)


def test_cli_export_past_2gib_writes_what_save_writes(tmp_path):
    """The CLI streams the weights (onnx/_model.write_parts); past 2 GiB it writes external data
    as save does."""
    m = Model()
    var = m.variable("embedding/table", np.full((ROWS, WIDTH), 0.5, np.float32))
    f = m.function("__call__", {"ids": ("int32", (None,))})
    f.outputs({"rows": f.gather(var, f.inputs["ids"], name="lookup")})
    m.signature("serving_default", f)
    save(tmp_path / "model", m)
    del var, m, f

    (tmp_path / "cli").mkdir()
    (tmp_path / "api").mkdir()
    assert cli.main(["export", "--dir", str(tmp_path / "model"), "--format", "onnx",
                     "--output", str(tmp_path / "cli" / "big.onnx")]) == 0
    sx.save(sx.export(tmp_path / "model"), tmp_path / "api" / "big.onnx")
    for name in ("big.onnx", "big.onnx.data"):
        cli_file, api_file = tmp_path / "cli" / name, tmp_path / "api" / name
        assert cli_file.read_bytes() == api_file.read_bytes(), name
