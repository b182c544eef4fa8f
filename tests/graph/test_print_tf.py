"""The TF1 Print op against TensorFlow: the text it writes to stderr, first_n, pass-through.

TensorFlow's Print writes with C++ ``std::cerr``; the oracle runs the ops in a child process
and records its stderr lines. Our kernel's lines come from ``sys.stderr``.
"""

from __future__ import annotations

import base64
from pathlib import Path

import ml_dtypes
import numpy as np
import pytest
from _oracles import ModuleOracle
from _oracles.codec import decode, encode

from savedmodel_io.graph import runtime
from savedmodel_io.proto import MetaGraphDef, NodeDef

from .raw_ops_harness import Cases, _const, oracle_results

pytestmark = pytest.mark.tf
TESTS = Path(__file__).resolve().parent.parent

DATA = [np.arange(10, dtype=np.float32).reshape(2, 5), np.array([b"a\n\"b", "é\x01'\\".encode()], object),
        np.array(True), np.array([[1, 2], [3, 4]], np.int32), np.zeros((2, 0, 3)),
        np.arange(24, dtype=np.int64).reshape(2, 3, 4), np.float32([0.1, 1e20, -np.nan, np.inf]),
        np.complex64([1 + 2j]), np.array([True, False]), np.float16(0.1), np.float64(1 / 3),
        np.int8([-1, 65]), np.uint8([200, 65]), np.array([1.5, 0.1], ml_dtypes.bfloat16),
        np.array(b"sc", object), np.uint64([2**63]), np.float32([-0.0, 1e-7, 123456789.0])]
SUMMARIZE = (3, -1, 0, 7)


def _cases() -> Cases:
    cases = Cases(seed=7119)
    for n in SUMMARIZE:
        cases.add("Print", f"summarize{n}", {"message": f"m{n}: ", "summarize": n},
                  input=np.float32([1.0, 2.0]), data=DATA)
    cases.add("Print", "first_n", {"message": "once", "first_n": 1}, input=np.int32(5),
              data=[np.int32(7)])
    return cases


CASES = _cases()


def tf_printed(request: dict) -> list[str]:
    """TensorFlow's stderr lines for each case run ``runs`` times (a child process each)."""
    import json
    import os
    import subprocess
    import sys

    script = (
        "import sys, json, numpy as np, tensorflow as tf\n"
        "sys.path.insert(0, %r)\n"
        "from _oracles.codec import decode\n"
        "req = json.loads(sys.stdin.read())\n"
        "for _ in range(req['runs']):\n"
        "    tf.raw_ops.Print(input=tf.constant(decode(req['input'])),\n"
        "                     data=[tf.constant(decode(d)) for d in req['data']], **req['attrs'])\n"
    ) % str(TESTS)
    proc = subprocess.run([sys.executable, "-c", script], input=json.dumps(request), text=True,
                          capture_output=True, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    if proc.returncode:
        raise RuntimeError(proc.stderr[-2000:])
    marker = request["attrs"]["message"]
    return [line for line in proc.stderr.splitlines() if line.startswith(marker)]


def _request(case, runs: int) -> dict:
    data = dict(case.inputs)["data"]
    return {"function": "tf_printed", "input": encode(dict(case.inputs)["input"]),
            "data": [encode(d) for d in data], "attrs": case.attrs, "runs": runs}


@pytest.fixture(scope="module")
def answers() -> dict:
    runs = {c.id: 3 if c.id.endswith("first_n") else 1 for c in CASES}
    printed = ModuleOracle(__name__).answers([_request(c, runs[c.id]) for c in CASES])
    return {"printed": dict(zip((c.id for c in CASES), printed)), "ops": oracle_results(CASES),
            "runs": runs}


def _session(case, node_def: bytes) -> runtime.Session:
    """One Session over Const inputs feeding TF's NodeDef (first_n counts per session)."""
    op = NodeDef.FromString(node_def)
    mg = MetaGraphDef()
    mg.graph_def.node.extend([_const(f"in{i}", a) for i, a in enumerate(case.flat_inputs())])
    mg.graph_def.node.append(op)
    mg.signature_def["s"].outputs["o"].name = "op:0"
    return runtime.Session(mg)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_print_writes_what_tensorflow_writes(case, answers, capsys):
    want = answers["ops"][case.id]
    sess = _session(case, base64.b64decode(want["node_def"]))
    for _ in range(answers["runs"][case.id]):
        got = sess.run_signature("s", {})["o"]
        np.testing.assert_array_equal(got, decode(want["outputs"][0]))
    lines = [line for line in capsys.readouterr().err.splitlines()
             if line.startswith(case.attrs["message"])]
    assert lines == answers["printed"][case.id]
