"""Coverage against tf2onnx: every fixture signature, converted by tf2onnx 1.17 and by us, run on onnxruntime.

For each signature of the default meta graph of every TF-built fixture: TensorFlow's
outputs on fixed inputs (the fixture's stored inputs, else generated from the signature),
tf2onnx's conversion and whether its model gives TensorFlow's outputs on onnxruntime
(``coverage_oracle.py``, one TF subprocess, answers recorded and committed in
``tests/_oracles/answers/onnx_coverage/``), and
the same for our export (which must also pass ``onnx.checker`` with the full check and
strict shape inference). The table in docs/onnx.md must be the one this computes
(``SAVEDMODEL_IO_WRITE_COVERAGE=1`` rewrites it). Our side must agree with TensorFlow
wherever it exports, and export at least as many signatures as tf2onnx converts.
Slow (``-m slow``): it builds every fixture and converts each signature with tf2onnx.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from _oracles.recorded import ANSWERS
from conftest import ROOT, TF_ENV, _area, _builder_stamp

from onnx_export._cases import REFERENCE_FIXTURES, cases, ort_value

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

import savedmodel_io  # noqa: E402
import savedmodel_io.onnx as sx  # noqa: E402
from savedmodel_io import dtypes, tensors  # noqa: E402
from savedmodel_io.errors import SavedModelError  # noqa: E402
from savedmodel_io.onnx._opsets import BFLOAT16_AS_FLOAT32  # noqa: E402
from savedmodel_io.onnx.backend import _keys, complex_pairs, from_pairs, output_keys, ranks_of  # noqa: E402

# Every fixture of the registry (the 186 MB ResNet50 among them) and one tf2onnx conversion per
# signature: minutes even with the answers cached, so it runs with ``-m slow``.
pytestmark = [
    pytest.mark.tf,
    pytest.mark.slow,
    pytest.mark.skipif(importlib.util.find_spec("tf2onnx") is None, reason="tf2onnx is not installed"),
]

ORACLE = Path(__file__).with_name("coverage_oracle.py")
DOC = ROOT / "docs" / "onnx.md"
BEGIN, END = "<!-- BEGIN onnx-coverage -->", "<!-- END onnx-coverage -->"


def _fixtures() -> list[str]:
    sys.path.insert(0, str(ROOT / "tests"))
    from fixtures.make import load_builders

    return sorted(n for n in load_builders() if not n.startswith("writer_"))


def _inputs(path: Path, sig) -> dict[str, np.ndarray]:
    """The fixture's stored inputs of the signature, else fixed ones made from its specs."""
    if path.name in REFERENCE_FIXTURES:
        stored = cases(path).get(sig.key)
        if stored:
            return stored[0][0]
    rs = np.random.RandomState(0)
    out = {}
    for k, info in sorted(sig.proto.inputs.items()):
        if not info.name:  # a sparse or ragged input: nothing to make; TensorFlow is called without it
            continue
        shape = tensors.shape_from_proto(info.tensor_shape)
        dims = (2,) if shape is None else tuple(2 if d is None else d for d in shape)
        if info.dtype == dtypes.DataType.DT_STRING:
            out[k] = np.array([b"ab", b"c d"][: 1] * int(np.prod(dims)), dtype=object).reshape(dims)
            continue
        dt = dtypes.to_numpy(info.dtype)
        if dt.kind == "f":
            out[k] = rs.standard_normal(dims).astype(dt)
        elif dt.kind == "b":
            out[k] = rs.randint(0, 2, dims).astype(dt)
        else:
            out[k] = rs.randint(0, 3, dims).astype(dt)
    return out


def _oracle(name: str, path: Path, mg, sigs: list) -> dict[str, dict]:
    """tf2onnx's and TensorFlow's answers per signature (recorded by builder code, oracle and inputs)."""
    folder = ANSWERS / "onnx_coverage"
    h = hashlib.sha256(ORACLE.read_bytes())
    h.update(_builder_stamp(_area(name)).encode())
    answers: dict[str, dict] = {}
    todo, requests = [], []
    for sig in sigs:
        inputs = _inputs(path, sig)
        k = hashlib.sha256(h.digest() + sig.key.encode())
        for key in sorted(inputs):
            k.update(key.encode() + repr(inputs[key].tolist()).encode())
        work = folder / f"{name}-{k.hexdigest()[:20]}"
        answers[sig.key] = {"work": work, "inputs": inputs}
        if not (work / "answer.json").is_file():
            work.mkdir(parents=True, exist_ok=True)
            np.savez(work / "inputs.npz", **inputs)
            todo.append(sig.key)
            requests.append({"dir": str(path), "tags": sorted(mg.tag_set), "signature": sig.key,
                             "inputs": str(work / "inputs.npz"), "work": str(work)})
    if requests:
        proc = subprocess.run([sys.executable, str(ORACLE)], input=json.dumps(requests), capture_output=True,
                              text=True, env={**os.environ, **TF_ENV}, check=False)
        if proc.returncode != 0:
            raise RuntimeError(f"coverage oracle failed:\n{proc.stderr[-3000:]}")
        for key, ans in zip(todo, json.loads(proc.stdout)):
            work = answers[key]["work"]
            (work / "answer.json").write_text(json.dumps(ans))
            for scratch in ("inputs.npz", "tf2onnx.onnx"):  # the oracle's, not part of the answer
                (work / scratch).unlink(missing_ok=True)
    for key, a in answers.items():
        a.update(json.loads((a["work"] / "answer.json").read_text()))
    return answers


# Fixtures whose exports may run but differ from TensorFlow: open bugs, shown in the table as "no".
KNOWN_DIFFERENT: dict[str, str] = {}

# Fixtures computed in half precision: (rtol, atol) for both converters' outputs. TensorFlow's
# Softmax and LSTM kernels round inside in float16 (test_float16.py; the numpy runtime's
# tolerance in tests/graph/test_keras_tf.py).
# bfloat16: a bfloat16 ulp relative (2 ** -7), and two ulps of the outputs' magnitude (2 to 4)
# absolute, for Softmax, Einsum and the LSTM, which round inside (test_bfloat16.py; attention's
# layer norm of those is 1.75 ulps off near 0).
TOLERANCES = {"keras_mixed_float16": (1e-2, 4e-3), "keras_mixed_bfloat16": (2.0 ** -7, 2.0 ** -5)}


def _same(got: dict, want: dict, rtol: float = 1e-4, atol: float = 1e-5) -> bool:
    """The same outputs: TF's dtypes and shapes, floats within rtol / atol (default 1e-4 / 1e-5), the rest
    exact."""
    if sorted(got) != sorted(want):
        return False
    for k, w in want.items():
        if w.dtype.kind == "S":  # a string scalar: numpy kept TensorFlow's bytes as S<n>
            w = w.astype(object)
        g = np.asarray(got[k])
        if w.dtype == object:
            g = np.vectorize(lambda s: s.encode("utf-8", "surrogateescape") if isinstance(s, str) else s,
                             otypes=[object])(g) if g.size else g.astype(object)
        elif g.dtype != w.dtype:
            return False
        if g.shape != w.shape:
            return False
        if w.dtype.name == "bfloat16":
            g, w = g.astype(np.float32), w.astype(np.float32)
        if w.dtype.kind in "fc":
            if not np.allclose(g, w, rtol=rtol, atol=atol, equal_nan=True):
                return False
        elif not np.array_equal(g, w):
            return False
    return True


def _typed(a: np.ndarray) -> np.ndarray:
    """An array as the oracle saved it: npz keeps bfloat16 (ml_dtypes, which numpy does not know) as
    2-byte voids."""
    if a.dtype == np.dtype("V2"):
        import ml_dtypes

        return a.view(ml_dtypes.bfloat16)
    return a


def _ours(mg, key: str, inputs: dict, tf_out: dict | None, tol: tuple[float, float] = (1e-4, 1e-5)
          ) -> tuple[str, str]:
    """(our export status, whether onnxruntime gives TensorFlow's outputs). Complex inputs and
    outputs are exported as (real, imaginary) pairs (``complex_pairs=True``), inputs of unknown
    rank with the rank of the inputs fed (``input_shapes``, as backend="onnxruntime" does); the
    cell says so. bfloat16 inputs and outputs are float32 (``bfloat16_as_float32=True``, as the
    backend exports too)."""
    shapes = ranks_of(mg.signature(key), inputs)
    try:
        proto = sx.export(mg, key, complex_pairs=True, input_shapes=shapes, bfloat16_as_float32=True)
    except SavedModelError as exc:
        return f"refused: {exc.message.removeprefix('cannot export to ONNX: ')[:110]}", "-"
    onnx.checker.check_model(proto, full_check=True)
    onnx.shape_inference.infer_shapes(proto, check_type=True, strict_mode=True)
    try:  # a valid model onnxruntime has no kernels for (bfloat16 MatMul...) is not counted as exported
        sess = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    except Exception as exc:  # noqa: BLE001 - onnxruntime's own error types
        return f"written, but onnxruntime: {_short(f'{type(exc).__name__}: {exc}')}", "-"
    pair_in, pair_out = complex_pairs(sess)
    notes = [*(["complex as pairs"] if pair_in or pair_out else []), *(["ranks of the inputs"] if shapes else [])]
    status = f"ok ({', '.join(notes)})" if notes else "ok"
    if tf_out is None:
        return status, "-"
    wide_in, wide_out = _keys(sess, BFLOAT16_AS_FLOAT32)
    feeds = {k: np.stack([v.real, v.imag], -1) if k in pair_in else v.astype(np.float32) if k in wide_in
             else ort_value(v) for k, v in inputs.items()}
    got = dict(zip(output_keys(sess), sess.run(None, feeds)))
    for k in pair_out:
        got[k] = from_pairs(np.asarray(got[k]))
    for k in wide_out:
        got[k] = np.asarray(got[k]).astype(tf_out[k].dtype)
    return status, "yes" if _same(got, tf_out, *tol) else "no"


def _short(text: str) -> str:
    """An error message without file paths (they differ between machines), cut short."""
    text = re.sub(r"Load model from \S+ failed:", "", text)
    text = re.sub(r"/\S+", "<path>", text)
    return text.strip()[:100]


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def test_coverage_table_is_current(fixture_model):
    rows = []
    counts = {"sigs": 0, "theirs": 0, "theirs_eq": 0, "ours": 0, "ours_eq": 0, "ours_no": 0}
    for name in _fixtures():
        path = fixture_model(name)
        if not any((path / f).is_file() for f in ("saved_model.pb", "saved_model.pbtxt")):
            continue
        model = savedmodel_io.load(path)
        try:
            mg = model.default_meta_graph
        except SavedModelError:
            mg = model.meta_graphs[0]
        sigs = [s for k, s in mg.signatures.items() if k != "__saved_model_init_op"]
        if not sigs:
            continue
        answers = _oracle(name, path, mg, sigs)
        for sig in sigs:
            a = answers[sig.key]
            tf_out = None
            if a["tf"] == "ok":
                data = np.load(a["work"] / "tf.npz", allow_pickle=True)
                tf_out = {k: _typed(data[k]) for k in data.files}
            tol = TOLERANCES.get(name, (1e-4, 1e-5))
            ours, equal = _ours(mg, sig.key, a["inputs"], tf_out, tol)
            assert equal != "no" or name in KNOWN_DIFFERENT, f"{name} {sig.key}: our export differs from TensorFlow"
            theirs = _short(a["tf2onnx"])
            theirs_ok = theirs_eq = False
            if theirs == "ok":
                if a.get("tf2onnx_run") != "ok":
                    theirs = f"written, but {_short(a.get('tf2onnx_run', ''))}"
                else:
                    theirs_ok = True
                    if tf_out is not None:
                        data = np.load(a["work"] / "tf2onnx.npz", allow_pickle=True)
                        theirs_eq = _same({k: data[k] for k in data.files}, tf_out, *tol)
                        theirs = "ok" if theirs_eq else "ok, differs from TF"
            counts["sigs"] += 1
            counts["theirs"] += theirs_ok
            counts["theirs_eq"] += theirs_eq
            counts["ours"] += ours.startswith("ok")
            counts["ours_eq"] += equal == "yes"
            counts["ours_no"] += equal == "no"
            tf_cell = "" if a["tf"] == "ok" else f" (TF fails: {_short(a['tf'])[:50]})"
            rows.append(f"| {name} / {sig.key}{_cell(tf_cell)} | {_cell(theirs)} | {_cell(ours)} | {equal} |")
    table = "\n".join([
        BEGIN,
        "",
        f"{counts['sigs']} signatures: tf2onnx converts {counts['theirs']} to models onnxruntime runs "
        f"({counts['theirs_eq']} give TensorFlow's outputs); savedmodel_io exports {counts['ours']} "
        f"({counts['ours_eq']} checked equal to TensorFlow, {counts['ours_no']} known to differ "
        f"(KNOWN_DIFFERENT in the test); TensorFlow itself fails on the generated inputs of the other "
        f"{counts['ours'] - counts['ours_eq'] - counts['ours_no']}).",
        "",
        "| fixture / signature | tf2onnx 1.17 | savedmodel_io | equal to TF |",
        "|---|---|---|---|",
        *rows,
        "",
        END,
    ])
    page = DOC.read_text(encoding="utf-8")
    head, rest = page.split(BEGIN, 1)
    new = head + table + rest.split(END, 1)[1]
    if os.environ.get("SAVEDMODEL_IO_WRITE_COVERAGE"):
        DOC.write_text(new, encoding="utf-8")
    assert new == page, "docs/onnx.md's coverage table is stale: rerun with SAVEDMODEL_IO_WRITE_COVERAGE=1"
    assert counts["ours"] >= counts["theirs"], counts
