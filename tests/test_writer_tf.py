"""Acceptance: SavedModels written from numpy weights, checked by TensorFlow itself."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import _writer_models as wm
import numpy as np
import pytest

from savedmodel_io.proto import DataType, SavedModel, parse_message
from savedmodel_io.writer import Model, save

pytestmark = pytest.mark.tf

HERE = Path(__file__).resolve().parent
TF_ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "TF_ENABLE_ONEDNN_OPTS": "0"}
# float32 through several layers against a float64 reference.
RTOL, ATOL = 1e-5, 1e-5


@pytest.fixture(scope="module")
def tf():
    return pytest.importorskip("tensorflow")


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    """name -> (path, inputs, expected) for the MLP, CNN and transformer models."""
    out = {}
    root = tmp_path_factory.mktemp("written")
    for name, build in wm.BUILDERS.items():
        model, inputs, expected = build()
        out[name] = (save(root / name, model), inputs, expected)
    return out


@pytest.mark.parametrize("name", list(wm.BUILDERS))
def test_signatures_give_numpy_reference(tf, written, name):
    path, inputs, expected = written[name]
    loaded = tf.saved_model.load(str(path))
    assert set(loaded.signatures.keys()) == set(expected)
    for key, feeds in inputs.items():
        got = loaded.signatures[key](**{k: tf.constant(v) for k, v in feeds.items()})
        assert set(got) == set(expected[key])
        for out, want in expected[key].items():
            np.testing.assert_allclose(got[out].numpy(), want, rtol=RTOL, atol=ATOL,
                                       err_msg=f"{name}/{key}/{out}")


@pytest.mark.parametrize("name", list(wm.BUILDERS))
def test_signature_tensor_infos_match_tensorflow(tf, written, name):
    """Our static shapes/dtypes in the SignatureDefs are what TF infers for the functions."""
    path, _, _ = written[name]
    loaded = tf.saved_model.load(str(path))
    sm = parse_message(SavedModel, (path / "saved_model.pb").read_bytes())
    sigs = sm.meta_graphs[0].signature_def
    for key, fn in loaded.signatures.items():
        for out, spec in fn.structured_outputs.items():
            info = sigs[key].outputs[out]
            assert info.dtype == spec.dtype.as_datatype_enum
            ours = [d.size if d.size >= 0 else None for d in info.tensor_shape.dim]
            assert ours == spec.shape.as_list(), (key, out)
        for arg, spec in fn.structured_input_signature[1].items():
            info = sigs[key].inputs[arg]
            assert [d.size if d.size >= 0 else None for d in info.tensor_shape.dim] == \
                spec.shape.as_list()


def _without_hints(tf, body):
    """The body as a GraphDef for TF to infer afresh: no _output_shapes, variable reads as
    Placeholders of the variable's shape (TF's importer cannot see through handles)."""
    from tensorflow.core.framework import function_pb2
    from tensorflow.python.framework.function_def_to_graph import function_def_to_graph_def

    body = function_pb2.FunctionDef.FromString(body.SerializeToString())
    gdef, names = function_def_to_graph_def(body)
    handles = {a.name: a.handle_data[0] for a in body.signature.input_arg if a.handle_data}
    for n in gdef.node:
        n.attr.pop("_output_shapes", None)
        if n.op == "ReadVariableOp":
            hd = handles[n.input[0].split(":")[0]]
            n.op = "Placeholder"
            del n.input[:]
            n.attr.clear()
            n.attr["dtype"].type = hd.dtype
            n.attr["shape"].shape.CopyFrom(hd.shape)
    return gdef, names


def _inferred_body_shapes(tf, library, wrapper_name: str) -> dict[int, list | None]:
    """Wrapper output index -> shape TF itself infers for the called body function."""
    fdefs = {f.signature.name: f for f in library.function}
    wrapper = fdefs[wrapper_name]
    (call,) = [n for n in wrapper.node_def if n.op == "StatefulPartitionedCall"]
    body = fdefs[call.attr["f"].func.name]
    gdef, names = _without_hints(tf, body)
    with tf.Graph().as_default() as g:
        tf.graph_util.import_graph_def(gdef, name="")
    idents = {n.name: n for n in wrapper.node_def}
    result = {}
    for k, arg in enumerate(wrapper.signature.output_arg):
        ident = idents[wrapper.ret[arg.name].split(":")[0]]
        j = int(ident.input[0].rsplit(":", 1)[1])
        ret = body.ret[body.signature.output_arg[j].name]
        shape = g.get_tensor_by_name(names[ret]).shape
        result[k] = None if shape.rank is None else shape.as_list()
    return result


@pytest.mark.parametrize("name", list(wm.BUILDERS))
def test_signature_shapes_match_tensorflows_own_inference(tf, written, name):
    """SignatureDef shapes equal TF's inference of our FunctionDefs with our hints stripped.

    The loaded signatures' structured_outputs echo the output_signature and
    _output_shapes we wrote, so they cannot catch a wrong (too specific) shape.
    """
    path, _, _ = written[name]
    mg = parse_message(SavedModel, (path / "saved_model.pb").read_bytes()).meta_graphs[0]
    calls = {n.name: n for n in mg.graph_def.node if n.op == "StatefulPartitionedCall"}
    for key, sd in mg.signature_def.items():
        if key == "__saved_model_init_op":
            continue
        for out, info in sd.outputs.items():
            node, k = info.name.split(":")
            inferred = _inferred_body_shapes(tf, mg.graph_def.library,
                                             calls[node].attr["f"].func.name)
            ours = [d.size if d.size >= 0 else None for d in info.tensor_shape.dim]
            assert ours == inferred[int(k)], (key, out)


def test_restored_objects(tf, written):
    """Root has .variables/.trainable_variables, callable functions, trainable flags kept."""
    path, inputs, expected = written["mlp"]
    loaded = tf.saved_model.load(str(path))
    assert len(loaded.variables) == 4
    assert [v.name for v in loaded.trainable_variables] == [
        "dense/kernel:0", "dense/bias:0", "dense_1/kernel:0"]
    assert not loaded.dense_1.bias.trainable
    x = inputs["serving_default"]["x"]
    out = loaded(tf.constant(x))  # the __call__ function, called positionally
    np.testing.assert_allclose(out["probs"].numpy(), expected["serving_default"]["probs"],
                               rtol=RTOL, atol=ATOL)
    ids = loaded.classify(features=tf.constant(x))["class_ids"].numpy()
    np.testing.assert_array_equal(ids, expected["classify"]["class_ids"])
    with pytest.raises((TypeError, ValueError)):
        loaded(tf.constant(np.ones((2, 5), np.float32)))  # wrong shape: no matching function


def test_fine_tuning_loop_changes_trainable_variables(tf, written, tmp_path):
    """The guide's loop: load, GradientTape, optimizer steps; loss falls, frozen vars stay."""
    src, inputs, _ = written["transformer"]
    path = tmp_path / "m"
    shutil.copytree(src, path)
    loaded = tf.saved_model.load(str(path))
    before = {v.name: v.numpy().copy() for v in loaded.variables}
    optimizer = tf.keras.optimizers.SGD(0.05)
    tokens = tf.constant(inputs["encode"]["tokens"])
    target = tf.zeros((3, 16))

    def train_step():
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean((target - loaded(tokens)["pooled"]) ** 2)
        variables = tape.watched_variables()
        grads = tape.gradient(loss, variables)
        optimizer.apply_gradients(zip(grads, variables))
        return loss

    losses = [float(train_step()) for _ in range(5)]
    assert losses[-1] < losses[0]
    changed = [n for n, v in before.items()
               if not np.array_equal(v, loaded.variables[_index(loaded, n)].numpy())]
    assert len(changed) == len(loaded.trainable_variables) == 16


def _index(loaded, name):
    return [v.name for v in loaded.variables].index(name)


def test_fine_tuning_respects_non_trainable(tf, written):
    path, inputs, _ = written["cnn"]
    loaded = tf.saved_model.load(str(path))
    frozen = {v.name for v in loaded.variables} - {v.name for v in loaded.trainable_variables}
    assert frozen == {"bn/moving_mean:0", "bn/moving_variance:0"}
    image = tf.constant(inputs["serving_default"]["image"])
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(loaded(image)["scores"][:, 0])
    grads = tape.gradient(loss, loaded.trainable_variables)
    assert all(g is not None for g in grads)


def _run_json_tool(tool: str, jobs: list, tmp_path: Path) -> list:
    (tmp_path / "jobs.json").write_text(json.dumps(jobs))
    proc = subprocess.run([sys.executable, str(HERE / tool), str(tmp_path / "jobs.json"),
                           str(tmp_path / "results.json")], check=False, env=TF_ENV,
                          capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = tmp_path / "results.json"
    return json.loads(results.read_text()) if results.exists() else []


def test_saved_model_cli_show_and_run(written, tmp_path):
    """saved_model_cli's real entry point: show --all and run on every model and signature."""
    jobs, checks = [], []
    for name, (path, inputs, expected) in written.items():
        jobs.append(["show", "--all", "--dir", str(path)])
        checks.append((name, None, list(inputs)))
        for key, feeds in inputs.items():
            args = []
            for arg, value in feeds.items():
                np.save(tmp_path / f"{name}_{key}_{arg}.npy", value)
                args.append(f"{arg}={tmp_path / f'{name}_{key}_{arg}.npy'}")
            outdir = tmp_path / f"out_{name}_{key}"
            jobs.append(["run", "--dir", str(path), "--tag_set", "serve", "--signature_def", key,
                         "--inputs", ";".join(args), "--outdir", str(outdir)])
            checks.append((name, outdir, expected[key]))
    results = _run_json_tool("_tf_cli.py", jobs, tmp_path)
    assert len(results) == len(jobs)
    for (name, outdir, want), res, job in zip(checks, results, jobs):
        assert res["code"] == 0, (job, res["stdout"][-2000:])
        if outdir is None:
            for key in want:
                assert f"signature_def['{key}']" in res["stdout"]
            assert "Concrete Functions:" in res["stdout"]
            continue
        for out, value in want.items():
            np.testing.assert_allclose(np.load(outdir / f"{out}.npy"), value, rtol=RTOL,
                                       atol=ATOL, err_msg=f"{name} {out}")


def _c_load(jobs: list, tmp_path: Path) -> list:
    """Run [export_dir, key, feeds] jobs through the C++ loader; outputs or error text."""
    specs = []
    for i, (path, key, feeds) in enumerate(jobs):
        np.savez(tmp_path / f"in{i}.npz", **feeds)
        specs.append([str(path), key, str(tmp_path / f"in{i}.npz"), str(tmp_path / f"out{i}.npz")])
    (tmp_path / "c_jobs.json").write_text(json.dumps(specs))
    proc = subprocess.run([sys.executable, str(HERE / "_c_loader.py"),
                           str(tmp_path / "c_jobs.json")], check=False, env=TF_ENV,
                          capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = []
    for _, _, _, result in specs:
        err = Path(result + ".error")
        out.append(err.read_text() if err.exists() else dict(np.load(result)))
    return out


def test_cpp_loader_accepts_and_runs(written, tmp_path):
    """C++ LoadSavedModel via the C API (TF_LoadSessionFromSavedModel), then TF_SessionRun.

    Also the asset model, moved after saving: the C++ loader must feed the asset's
    new path to the init op.
    """
    jobs, wants = [], []
    for path, inputs, expected in written.values():
        for key, feeds in inputs.items():
            jobs.append((path, key, feeds))
            wants.append(expected[key])
    vocab = b"a\nb\nc\nhello\n"
    save(tmp_path / "assets_model", _asset_model(vocab))
    (tmp_path / "assets_model").rename(tmp_path / "moved")
    jobs.append((tmp_path / "moved", "serving_default", {"x": np.float32(2.0)}))
    wants.append({"vocab_bytes": len(vocab), "y": 6.0})
    for job, got, want in zip(jobs, _c_load(jobs, tmp_path), wants):
        assert not isinstance(got, str), (job[0], got)
        for out, value in want.items():
            np.testing.assert_allclose(got[out], value, rtol=RTOL, atol=ATOL)


def _asset_model(vocab: bytes) -> Model:
    m = Model()
    scale = m.variable("scale", np.float32(3.0))
    vocab_asset = m.asset("vocab.txt", vocab, name="vocab")
    f = m.function("__call__", {"x": ("float32", ())})
    contents = f.op("ReadFile", [f.capture(vocab_asset)], out_types=[DataType.DT_STRING],
                    out_shapes=[()])[0]
    size = f.op("StringLength", [contents], {"unit": "BYTE"}, out_types=[DataType.DT_INT32],
                out_shapes=[()])[0]
    f.outputs({"vocab_bytes": size, "y": f.mul(f.inputs["x"], f.read(scale))})
    m.signature("serving_default", f)
    return m


def test_assets_are_found_by_both_loaders(tf, tmp_path):
    vocab = b"a\nb\nc\nhello\n"
    path = save(tmp_path / "m", _asset_model(vocab), assets_extra={"warmup/req.bin": b"\x01\x02"})
    assert (path / "assets" / "vocab.txt").read_bytes() == vocab
    assert (path / "assets.extra" / "warmup" / "req.bin").read_bytes() == b"\x01\x02"
    # Move the model: the asset path must be resolved at load time, not baked in.
    moved = tmp_path / "moved"
    path.rename(moved)
    loaded = tf.saved_model.load(str(moved))
    out = loaded.signatures["serving_default"](x=tf.constant(2.0))
    assert int(out["vocab_bytes"]) == len(vocab)
    assert float(out["y"]) == 6.0
    assert loaded.vocab.asset_path.numpy().decode().endswith("assets/vocab.txt")


def test_checkpoint_readable_by_tf_train(tf, written):
    """variables/ is a normal TF2 checkpoint: tf.train.Checkpoint restores it into a tf.Module."""
    path, _, _ = written["mlp"]
    reader = tf.train.load_checkpoint(str(path / "variables" / "variables"))
    shapes = reader.get_variable_to_shape_map()
    assert shapes["dense/kernel/.ATTRIBUTES/VARIABLE_VALUE"] == [4, 8]
    mod = tf.Module()
    mod.dense = tf.Module()
    mod.dense.kernel = tf.Variable(tf.zeros((4, 8)))
    tf.train.Checkpoint(mod).read(str(path / "variables" / "variables")).expect_partial()
    np.testing.assert_array_equal(mod.dense.kernel.numpy(),
                                  reader.get_tensor("dense/kernel/.ATTRIBUTES/VARIABLE_VALUE"))


def test_concat_of_one_tensor_loads(tf, tmp_path):
    """tf.concat([x]) is x: a ConcatV2 with N=1 would be refused by TF's importer (N >= 2)."""
    m = Model()
    f = m.function("cat", {"x": ("float32", (None, 2))})
    f.outputs({"y": f.concat([f.inputs["x"]], 1)})
    m.signature("serving_default", f)
    loaded = tf.saved_model.load(str(save(tmp_path / "m", m)))
    got = loaded.signatures["serving_default"](x=tf.ones((1, 2)))["y"]
    np.testing.assert_array_equal(got.numpy(), [[1.0, 1.0]])


def test_model_without_variables(tf, tmp_path):
    m = Model()
    f = m.function("scale", {"x": ("float32", (None, 2))})
    f.outputs(f.inputs["x"] * np.float32(3) + np.float32(1))
    path = save(tmp_path / "m", m)
    loaded = tf.saved_model.load(str(path))
    got = loaded.signatures["serving_default"](x=tf.ones((1, 2)))["output_0"]
    np.testing.assert_array_equal(got.numpy(), [[4.0, 4.0]])
    np.testing.assert_array_equal(loaded.scale(tf.ones((1, 2))).numpy(), [[4.0, 4.0]])
    assert list(loaded.variables) == []


def test_fingerprints_equal_tensorflows(tf, written, tmp_path):
    """fingerprint.pb of written and of weight-replaced models = TF's CreateFingerprintDef."""
    from tensorflow.core.protobuf import fingerprint_pb2
    from tensorflow.python.saved_model import pywrap_saved_model

    from savedmodel_io.fingerprint import read_fingerprint
    from savedmodel_io.replace import replace_weights

    fields = ("saved_model_checksum", "graph_def_program_hash", "signature_def_hash",
              "saved_object_graph_hash", "checkpoint_hash")
    mlp = written["mlp"][0]
    replaced = replace_weights(mlp, tmp_path / "replaced",
                               {"dense/kernel": np.zeros((4, 8), np.float32)})
    for path in [p for p, _, _ in written.values()] + [replaced]:
        theirs = fingerprint_pb2.FingerprintDef()
        theirs.ParseFromString(pywrap_saved_model.fingerprinting.CreateFingerprintDef(str(path)))
        ours = read_fingerprint(path)
        for name in fields:
            assert getattr(ours, name) == getattr(theirs, name), (path.name, name)
