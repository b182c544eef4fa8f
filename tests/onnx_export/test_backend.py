"""backend="onnxruntime" / "auto" for signature calls, ``run --backend``, ``export --format onnx``, and the disk cache."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from onnx_export._cases import assert_same, cases

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

import savedmodel_io  # noqa: E402
import savedmodel_io.onnx as sx  # noqa: E402
from savedmodel_io.cli import main as cli  # noqa: E402
from savedmodel_io.errors import InvalidArgumentError, UnsupportedOpError  # noqa: E402
from savedmodel_io.onnx import cache as onnx_cache  # noqa: E402
from savedmodel_io.onnx._opsets import EXPORTER_VERSION  # noqa: E402

pytestmark = pytest.mark.tf


@pytest.fixture
def cnn(fixture_model):
    path = fixture_model("runtime_cnn")
    return path, cases(path)["serving_default"][0]


def test_backends_agree_with_tensorflow(cnn):
    path, (inputs, want) = cnn
    sig = savedmodel_io.load(path).signatures["serving_default"]
    for backend in ("numpy", "onnxruntime", "auto"):
        got = sig(**inputs, backend=backend)
        assert_same(got["output_0"], want["output_0"], backend)
    assert sig.run(inputs, backend="onnxruntime").keys() == want.keys()


def test_the_session_is_made_once(cnn, monkeypatch):
    path, (inputs, _) = cnn
    sig = savedmodel_io.load(path).signatures["serving_default"]
    sig(**inputs, backend="onnxruntime")
    first = sig._onnx[None]

    def no_export(*a, **k):
        raise AssertionError("exported twice")

    monkeypatch.setattr(sx, "export", no_export)
    sig(**inputs, backend="onnxruntime")
    assert sig._onnx == {None: first}


def test_sessions_do_not_spin(cnn):
    # Spinning pool threads take the cores other processes need (bench/README.md, ONNX section).
    from savedmodel_io.onnx.backend import session_options

    path, (inputs, _) = cnn
    sig = savedmodel_io.load(path).signatures["serving_default"]
    sig(**inputs, backend="onnxruntime")
    opts = sig._onnx[None].get_session_options()
    assert opts.get_session_config_entry("session.intra_op.allow_spinning") == "0"
    assert opts.graph_optimization_level == ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    mine = session_options({"session.intra_op.allow_spinning": "1"})
    assert mine.get_session_config_entry("session.intra_op.allow_spinning") == "1"


def test_auto_falls_back_to_numpy(fixture_model):
    path = fixture_model("module_signatures")
    sig = savedmodel_io.load(path).signatures["lengths"]  # StringLength: no ONNX operator
    text = np.array([b"ab", b"cde"], dtype=object)
    got, want = sig(text=text, backend="auto"), sig(text=text)
    assert got.keys() == want.keys()
    for k in want:
        np.testing.assert_array_equal(got[k], want[k])
    assert isinstance(sig._onnx[None], UnsupportedOpError)
    with pytest.raises(UnsupportedOpError, match="StringLength"):
        sig(text=text, backend="onnxruntime")


def test_inputs_of_unknown_rank_take_the_fed_rank(fixture_model, monkeypatch):
    # The signature's input has no rank (tf.TensorSpec(None)): ONNX graph inputs need one, so
    # each rank fed gets its own export, with every dim left unknown.
    sig = savedmodel_io.load(fixture_model("runtime_module")).signatures["serving_default"]
    feeds = [np.float32(2.5), np.arange(6, dtype=np.float32).reshape(2, 3),
             np.arange(24, dtype=np.float32).reshape(2, 3, 4), np.ones((5, 1), np.float32)]
    for x in feeds:
        for backend in ("onnxruntime", "auto"):
            np.testing.assert_array_equal(sig(x=x, backend=backend)["output_0"], sig(x=x)["output_0"])
    assert sorted(sig._onnx) == [(("x", 0),), (("x", 2),), (("x", 3),)]
    from savedmodel_io.onnx import _export

    monkeypatch.setattr(_export, "export_parts", lambda *a, **k: pytest.fail("exported again"))
    sig(x=np.zeros((7, 2), np.float32), backend="onnxruntime")  # rank 2 again: the same session
    with pytest.raises(InvalidArgumentError, match="missing input 'x'"):
        sig.run({}, backend="auto")


def test_export_input_shapes(fixture_model):
    path = fixture_model("module_one_signature")  # x: float32 of unknown rank
    with pytest.raises(UnsupportedOpError, match="input 'x' has no known rank.*input_shapes"):
        sx.export(path)
    model = sx.export(path, input_shapes={"x": [None, 3]})
    dims = model.graph.input[0].type.tensor_type.shape.dim
    assert [d.dim_param or d.dim_value for d in dims] == ["x_dim0", 3]
    onnx.checker.check_model(model, full_check=True)
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    want = savedmodel_io.load(path).signatures["serving_default"](x=x)
    np.testing.assert_array_equal(sess.run(None, {"x": x})[0], next(iter(want.values())))
    assert sx.check(path, input_shapes={"x": []}) == []


def test_export_input_shapes_must_fit_the_signature(fixture_model):
    path = fixture_model("runtime_cnn")  # input: float32 [?, 8, 8, 3] or similar, rank known
    sig = savedmodel_io.load(path).signatures["serving_default"]
    (key, spec), = sig.inputs.items()
    rank = len(spec.shape)
    bad = {
        "not an input of signature": {"nope": [1]},
        f"has rank {rank + 1}; the signature's input has rank {rank}": {key: [None] * (rank + 1)},
        "does not fit the signature's input shape": {key: [None] + [10_000] * (rank - 1)},
        "dims must be integers >= 0 or None": {key: [-1] * rank},
        "must be a list of dims": {key: "1,2"},
    }
    for message, shapes in bad.items():
        with pytest.raises(InvalidArgumentError, match=message):
            sx.export(path, input_shapes=shapes)
    fixed = sx.export(path, input_shapes={key: [4] + [None] * (rank - 1)})
    dims = fixed.graph.input[0].type.tensor_type.shape.dim
    assert [d.dim_value for d in dims] == [4, *spec.shape[1:]]


def test_inputs_are_checked_like_numpy(cnn):
    path, (inputs, _) = cnn
    sig = savedmodel_io.load(path).signatures["serving_default"]
    with pytest.raises(InvalidArgumentError, match="missing input 'x'"):
        sig(backend="onnxruntime")
    with pytest.raises(InvalidArgumentError, match="expects shape"):
        sig(x=inputs["x"][0], backend="onnxruntime")
    with pytest.raises(InvalidArgumentError, match="backend must be"):
        sig(**inputs, backend="tensorflow")


def test_strings_round_trip_as_bytes(fixture_model):
    path = fixture_model("runtime_module")
    inputs, want = cases(path)["strings"][0]
    sig = savedmodel_io.load(path).signatures["strings"]
    got = sig(**inputs, backend="auto")
    for k in want:
        assert_same(got[k], want[k], k)


# -- CLI ------------------------------------------------------------------------------------------

def test_cli_export_and_check(cnn, tmp_path, capsys):
    path, (inputs, want) = cnn
    out = tmp_path / "m.onnx"
    assert cli.main(["export", "--dir", str(path), "--format", "onnx", "--output", str(out)]) == 0
    assert "Wrote signature 'serving_default'" in capsys.readouterr().out
    sess = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    assert_same(sess.run(None, inputs)[0], want["output_0"], "cli export")
    assert cli.main(["export", "--dir", str(path), "--format", "onnx", "--check"]) == 0
    assert "can be exported" in capsys.readouterr().out


def test_cli_check_lists_what_onnx_cannot_express(fixture_model, tmp_path, capsys):
    path = fixture_model("control_misc")
    out = tmp_path / "m.onnx"
    assert cli.main(["export", "--dir", str(path), "--format", "onnx", "--signature_def", "fmt",
                     "--check", "--json"]) == 1
    doc = json.loads(capsys.readouterr().out)
    assert {p["op"] for p in doc["unsupported"]} == {"StringFormat"}
    assert all(p["node"] and p["function"] and p["reason"] for p in doc["unsupported"])
    assert cli.main(["export", "--dir", str(path), "--format", "onnx", "--signature_def", "fmt",
                     "--output", str(out)]) == 1
    assert "StringFormat" in capsys.readouterr().err
    assert not out.exists()


def test_cli_export_flags(cnn, tmp_path, capsys):
    path, _ = cnn
    assert cli.main(["export", "--dir", str(path), "--format", "onnx"]) == 1
    assert "needs --output" in capsys.readouterr().err
    assert cli.main(["export", "--dir", str(path), "--npz", str(tmp_path / "a.npz"),
                     "--format", "onnx"]) == 1
    assert cli.main(["export", "--dir", str(path), "--format", "npz", "--output",
                     str(tmp_path / "w.npz"), "-q"]) == 0
    assert (tmp_path / "w.npz").is_file()


def test_cli_export_input_shape(fixture_model, tmp_path, capsys):
    path = fixture_model("module_one_signature")  # x: float32 of unknown rank
    out = tmp_path / "m.onnx"
    base = ["export", "--dir", str(path), "--format", "onnx"]
    assert cli.main([*base, "--check"]) == 1
    assert "--input_shape" in capsys.readouterr().out
    assert cli.main([*base, "--output", str(out), "--input_shape", "x=?,3"]) == 0
    capsys.readouterr()
    dims = onnx.load(str(out)).graph.input[0].type.tensor_type.shape.dim
    assert [d.dim_param or d.dim_value for d in dims] == ["x_dim0", 3]
    assert cli.main([*base, "--check", "--input_shape", "x="]) == 0  # a scalar
    capsys.readouterr()
    for flags, message in [(["--input_shape", "x"], "takes KEY=DIMS"),
                           (["--input_shape", "x=2,b"], "a dim is an integer >= 0 or ?"),
                           (["--input_shape", "x=1", "--input_shape", "x=2"], "gives input 'x' twice"),
                           (["--input_shape", "y=1"], "'y', not an input of signature")]:
        assert cli.main([*base, "--check", *flags]) == 1
        assert message in capsys.readouterr().err
    assert cli.main(["export", "--dir", str(path), "--npz", str(tmp_path / "w.npz"), "--input_shape", "x=1"]) == 1
    assert "--input_shape applies to --format onnx" in capsys.readouterr().err


def test_cli_run_caches_each_rank(fixture_model, tmp_path, monkeypatch, capsys):
    path = fixture_model("runtime_module")  # serving_default: x of unknown rank
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    for shape in [(), (2, 3), (4, 3)]:
        x_file = tmp_path / "x.npy"
        x = np.arange(int(np.prod(shape)), dtype=np.float32).reshape(shape)
        np.save(x_file, x)
        np.testing.assert_array_equal(_run(path, "onnxruntime", x_file, capsys), x)
    names = sorted(f.name for f in (tmp_path / "cache" / "savedmodel_io" / "onnx").glob("*.onnx"))
    assert len(names) == 2 and "-serving_default-x%3D-20-" in names[0] + names[1]
    assert any("-serving_default-x%3D%3F%2C%3F-20-" in n for n in names)


def _run(path, backend, x_file, capsys):
    assert cli.main(["run", "--dir", str(path), "--tag_set", "serve", "--signature_def",
                     "serving_default", "--inputs", f"x={x_file}", "--backend", backend, "--json"]) == 0
    return np.asarray(json.loads(capsys.readouterr().out)["outputs"]["output_0"]["value"], np.float32)


def test_cli_run_uses_the_disk_cache(cnn, tmp_path, monkeypatch, capsys):
    path, (inputs, want) = cnn
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    x_file = tmp_path / "x.npy"
    np.save(x_file, inputs["x"])
    first = _run(path, "onnxruntime", x_file, capsys)
    np.testing.assert_allclose(first, want["output_0"], rtol=1e-4, atol=1e-5)
    files = list((tmp_path / "cache" / "savedmodel_io" / "onnx").glob("*.onnx"))
    assert len(files) == 1 and files[0].name.endswith(f"-serve-serving_default-20-{EXPORTER_VERSION}.onnx")

    def no_export(*a, **k):
        raise AssertionError("exported again")

    monkeypatch.setattr(sx, "export", no_export)
    np.testing.assert_array_equal(_run(path, "auto", x_file, capsys), first)
    monkeypatch.undo()
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    files[0].write_bytes(b"not onnx")  # a damaged entry is exported again
    np.testing.assert_array_equal(_run(path, "onnxruntime", x_file, capsys), first)
    onnx.checker.check_model(str(files[0]))


def test_cache_key_follows_the_model(cnn, fixture_model, tmp_path):
    path, _ = cnn
    copy = tmp_path / "copy"
    shutil.copytree(path, copy)
    assert onnx_cache.model_key(copy) == onnx_cache.model_key(path)
    assert onnx_cache.model_key(fixture_model("runtime_mlp")) != onnx_cache.model_key(path)
    index = copy / "variables" / "variables.index"
    index.write_bytes(index.read_bytes()[:-1] + b"\0")
    assert onnx_cache.model_key(copy) != onnx_cache.model_key(path)



def test_a_cache_hit_does_not_import_onnx(cnn, tmp_path):
    """Running from the disk cache needs onnxruntime only (importing onnx costs about a second)."""
    path, (inputs, _) = cnn
    x_file = tmp_path / "x.npy"
    np.save(x_file, inputs["x"])
    argv = ["run", "--dir", str(path), "--tag_set", "serve", "--signature_def", "serving_default",
            "--inputs", f"x={x_file}", "--backend", "onnxruntime"]
    script = ("import sys\n"
              "from savedmodel_io.cli.main import main\n"
              f"assert main({argv!r}) == 0\n"
              "print('onnx imported:', 'onnx' in sys.modules)\n")
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache")}
    runs = [subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, check=False)
            for _ in range(2)]
    assert [r.returncode for r in runs] == [0, 0], runs[-1].stderr[-2000:]
    assert "onnx imported: True" in runs[0].stdout  # the first run exports
    assert "onnx imported: False" in runs[1].stdout, runs[1].stdout
