"""Accelerator backends are visible (show_config, --version); a big pure-Python job warns once."""

from __future__ import annotations

import os
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

import savedmodel_io
from savedmodel_io import _accel, _config
from savedmodel_io.cli.main import main
from savedmodel_io.formats import census
from savedmodel_io.hashing import crc32c, farmhash, highwayhash
from savedmodel_io.proto import deterministic

SRC = Path(__file__).resolve().parent.parent / "src"
STEPS = ["CRC32C", "HighwayHash", "FarmHash", "deterministic serialisation", "field census",
         "GEMM (float32)"]


def test_show_config_prints_version_and_every_backend(capsys):
    assert savedmodel_io.show_config() is None
    text = capsys.readouterr().out
    assert text.startswith(f"savedmodel-io {savedmodel_io.__version__}\n")
    for step, row in _config.backends().items():
        assert f"  {step}" in text and row["backend"] in text
    cfg = savedmodel_io.show_config("dicts")
    assert cfg["savedmodel-io"] == savedmodel_io.__version__
    assert list(cfg["accelerators"]) == STEPS
    with pytest.raises(savedmodel_io.errors.InvalidArgumentError, match="mode"):
        savedmodel_io.show_config("yaml")


def test_backends_name_what_is_in_use():
    rows = _config.backends()
    assert rows["CRC32C"]["fast"] == (crc32c.BACKEND != "python")
    assert rows["CRC32C"]["backend"].startswith(crc32c.BACKEND.replace("python", "pure Python"))
    assert rows["FarmHash"]["fast"] == farmhash.ACCELERATED
    assert rows["HighwayHash"]["fast"] == highwayhash.ACCELERATED
    assert rows["deterministic serialisation"]["fast"] == deterministic.ACCELERATED
    assert rows["field census"]["fast"] == (census._compiled is not None)
    for row in rows.values():
        assert bool(row["hint"]) != row["fast"]


def test_cli_version_prints_the_same(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out == _config.report()


def test_pure_python_everywhere_says_so_and_how_to_fix():
    """Without any accelerator (no compiler, no `fast` extra, crcmod without its C extension)."""
    blocked = ["farmhash", "google_crc32c", "crcmod._crcfunext", "savedmodel_io.hashing._highwayhash",
               "savedmodel_io.proto._deterministic", "savedmodel_io.formats._census"]
    code = ("import sys\n"
            f"for name in {blocked!r}:\n"
            "    sys.modules[name] = None  # as if not installed / not built\n"
            "from savedmodel_io.cli.main import main\n"
            "main(['--version'])\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(SRC), "SAVEDMODEL_IO_GEMM": "numpy"},
                          check=False)
    assert proc.returncode == 0, proc.stderr
    rows = proc.stdout.splitlines()[3:]
    assert len(rows) == len(STEPS)
    for step, row in zip(STEPS, rows):
        assert row.split()[0] == step.split()[0]
        if step.startswith("GEMM"):  # no pure Python here: numpy's BLAS, MKL with the extra
            assert "numpy's BLAS (SAVEDMODEL_IO_GEMM=numpy) (slow: " in row
            assert "savedmodel-io[mkl]" in row
            continue
        assert "pure Python (slow: " in row
    assert "savedmodel-io[fast]" in rows[0] and "savedmodel-io[fast]" in rows[2]
    assert "C compiler" in rows[1] and "C compiler" in rows[3] and "C compiler" in rows[4]


@pytest.fixture
def small_threshold(monkeypatch):
    monkeypatch.setattr(_accel, "SLOW_BYTES", 1000)
    monkeypatch.setattr(_accel, "_warned", set())


@pytest.mark.parametrize("step", STEPS[:5])  # GEMM's fallback is numpy's BLAS: no warning
def test_large_pure_python_job_warns_once_per_step(step, small_threshold, monkeypatch):
    runs = {
        "CRC32C": lambda n: crc32c.extend(0, bytes(n)),
        "FarmHash": lambda n: farmhash.fingerprint64(bytes(n)),
        "HighwayHash": lambda n: highwayhash.highwayhash64(bytes(n)),
        "deterministic serialisation":
            lambda n: deterministic.deterministic_buffer(_map_message(n)),
        "field census": lambda n: census.check_wire(bytes(n)),
    }
    monkeypatch.setattr(crc32c, "BACKEND", "python")
    monkeypatch.setattr(crc32c, "_extend", crc32c._python_extend)
    monkeypatch.setattr(farmhash, "_fast", None)
    monkeypatch.setattr(deterministic, "_compiled", None)
    monkeypatch.setattr(census, "_compiled", None)
    if step == "HighwayHash":
        monkeypatch.setattr(highwayhash, "ACCELERATED", False)
        monkeypatch.setattr(highwayhash, "highwayhash64", highwayhash.py_highwayhash64)
    run = runs[step]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        run(900)  # a small job: silent
    with pytest.warns(_accel.SlowFallbackWarning, match=f"{step} is running in pure Python") as rec:
        run(5000)
    assert _accel.HINTS[step] in str(rec[0].message)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        run(5000)  # once per process
    assert _accel._warned == {step}


def test_fast_backends_never_warn(small_threshold):
    if not (farmhash.ACCELERATED and crc32c.BACKEND != "python"):
        pytest.skip("the fast extra is not installed")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        farmhash.fingerprint64(bytes(5000))
        crc32c.extend(0, bytes(5000))


def _map_message(n: int):
    """A message with a map whose serialisation is about ``n`` bytes."""
    from savedmodel_io.proto import SignatureDef

    sig = SignatureDef(method_name="x" * n)
    sig.inputs["b"].name = "b:0"
    sig.inputs["a"].name = "a:0"
    return sig
