"""BLAS threads are set for each run without threadpoolctl (graph/_threads.py)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from savedmodel_io.graph import _threads

SRC = str(Path(__file__).resolve().parents[2] / "src")


def _openblas() -> list:
    libs = [lib for lib in _threads.blas_libraries() if lib.family == "openblas"]
    if not libs:
        pytest.skip("numpy's BLAS is not an OpenBLAS this platform lets us find")
    return libs


def test_numpy_blas_is_found_and_limited_then_restored():
    libs = _openblas()
    before = [lib.get() for lib in libs]
    with _threads._ctypes_limit(1):
        assert [lib.get() for lib in libs] == [1] * len(libs)
    assert [lib.get() for lib in libs] == before


def test_auto_uses_between_one_and_the_usable_cores():
    n = _threads.auto_threads()
    assert 1 <= n <= _threads.usable_cores()
    assert _threads.auto_threads() == n  # decided at most once a second


def test_a_default_install_limits_blas_without_threadpoolctl():
    _openblas()
    script = textwrap.dedent("""
        import sys
        sys.modules["threadpoolctl"] = None  # as without the fast extra
        import numpy as np
        from savedmodel_io.graph import _threads, runtime
        from savedmodel_io.proto import DataType, MetaGraphDef, NodeDef

        mg = MetaGraphDef()
        x = mg.graph_def.node.add(name="x", op="Placeholder")
        x.attr["dtype"].type = DataType.DT_FLOAT
        mg.graph_def.node.add(name="y", op="MatMul", input=["x", "x"])
        sig = mg.signature_def["s"]
        sig.inputs["x"].name, sig.inputs["x"].dtype = "x:0", DataType.DT_FLOAT
        sig.inputs["x"].tensor_shape.unknown_rank = True
        sig.outputs["y"].name, sig.outputs["y"].dtype = "y:0", DataType.DT_FLOAT
        libs = _threads.blas_libraries()
        for lib in libs:
            lib.set(2)
        seen = []
        sess = runtime.Session(mg)
        sess.blas_threads = 1
        sess.run_signature("s", {"x": np.eye(4, dtype=np.float32)},
                           trace=lambda e: seen.extend(lib.get() for lib in libs))
        print(sorted(set(seen)), [lib.get() for lib in libs])
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         env={**os.environ, "PYTHONPATH": SRC}, check=True).stdout.split("\n")[0]
    assert out == "[1] [2]", out


def test_none_leaves_blas_alone():
    assert _threads.blas_limit(None).__enter__() is None
    np.testing.assert_array_equal(np.eye(2) @ np.eye(2), np.eye(2))
