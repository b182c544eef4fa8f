"""A SavedModel over protobuf's 2 GB limit: written by us as saved_model.cpb, read back by us and
by TensorFlow's C++ Merger and fingerprinting, with peak memory within 1.5x the model size."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from cpb_helpers import TF_ENV, build_oracle, run_oracle

pytestmark = pytest.mark.slow

JOB = Path(__file__).resolve().parent / "cpb_large_job.py"
N_TENSORS, TENSOR_BYTES = 3, 800_000_000  # 2.4 GB of constants


def job(*args) -> dict:
    proc = subprocess.run(
        [sys.executable, str(JOB), *map(str, args)], capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def big_model(tmp_path_factory):
    directory = tmp_path_factory.mktemp("big")
    written = job("write", directory, N_TENSORS, TENSOR_BYTES)
    yield directory, written
    for p in directory.iterdir():
        p.unlink()


def test_write_and_read_over_2gb(big_model):
    directory, written = big_model
    size = written["file_bytes"]
    assert size > 2**31  # over protobuf's limit: only a .cpb can hold it
    assert Path(written["path"]).name == "saved_model.cpb"
    assert not (directory / "saved_model.pb").exists()
    # Writing: the model itself is in memory; we add at most about one tensor on top of it.
    write_extra = written["peak"] - written["rss_base"]
    assert write_extra <= 1.5 * size, (write_extra, size)

    read = job("read", directory)
    assert read["summary"] == written["expected"]
    read_extra = read["peak"] - read["rss_base"]
    assert read_extra <= 1.5 * size, (read_extra, size)


def test_tensorflow_reads_it(big_model):
    directory, written = big_model
    binary = build_oracle()
    result = run_oracle(binary, "savedmodel", directory / "saved_model.cpb", summary=True)
    assert not isinstance(result, str), result
    _, lines = result
    got = [[name, int(n), int(s)] for name, n, s in (ln.split("\t") for ln in lines.splitlines())]
    assert got == written["expected"]


def test_tensorflow_fingerprints_it(big_model):
    directory, _ = big_model
    code = (
        "import sys, tensorflow as tf\n"
        "from tensorflow.core.protobuf import fingerprint_pb2\n"
        "from tensorflow.python.saved_model import pywrap_saved_model as p\n"
        "fp = fingerprint_pb2.FingerprintDef.FromString(\n"
        "    p.fingerprinting.CreateFingerprintDef(sys.argv[1]))\n"
        "print(fp.version.producer, fp.saved_model_checksum)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code, str(directory)], capture_output=True, text=True,
        env={**os.environ, **TF_ENV}, check=False,
    )
    if "No module named 'tensorflow'" in proc.stderr:
        pytest.skip("tensorflow is not installed")
    assert proc.returncode == 0, proc.stderr[-3000:]
    producer, checksum = proc.stdout.split()
    assert producer == "2" and int(checksum) != 0
