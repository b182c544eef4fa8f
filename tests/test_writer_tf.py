"""Acceptance: SavedModels written from numpy weights, checked by TensorFlow itself.

TensorFlow's side of every check is in tests/_oracles/written_models.py: the module asks it
all questions at once (``answers``), so TF runs once for whatever is not yet recorded, and a
rerun with unchanged models reads TF's recorded answers.
"""

from __future__ import annotations

from pathlib import Path

import _writer_models as wm
import numpy as np
import pytest
from _oracles import Oracle
from _oracles.codec import decode, encode

from savedmodel_io.proto import DataType, SavedModel, parse_message
from savedmodel_io.writer import Model, save

pytestmark = pytest.mark.tf

ORACLE = Oracle("written_models")
# float32 through several layers against a float64 reference.
RTOL, ATOL = 1e-5, 1e-5
VOCAB = b"a\nb\nc\nhello\n"


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    """name -> (path, inputs, expected) for the MLP, CNN and transformer models."""
    out = {}
    root = tmp_path_factory.mktemp("written")
    for name, build in wm.BUILDERS.items():
        model, inputs, expected = build()
        out[name] = (save(root / name, model), inputs, expected)
    return out


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


def _concat_of_one() -> Model:
    """tf.concat([x]) is x: a ConcatV2 with N=1 would be refused by TF's importer (N >= 2)."""
    m = Model()
    f = m.function("cat", {"x": ("float32", (None, 2))})
    f.outputs({"y": f.concat([f.inputs["x"]], 1)})
    m.signature("serving_default", f)
    return m


def _without_variables() -> Model:
    m = Model()
    f = m.function("scale", {"x": ("float32", (None, 2))})
    f.outputs(f.inputs["x"] * np.float32(3) + np.float32(1))
    return m


@pytest.fixture(scope="module")
def others(tmp_path_factory, written) -> dict[str, Path]:
    """More written models: with assets (moved after saving), one-input concat, no variables,
    and the MLP with a replaced weight."""
    from savedmodel_io.replace import replace_weights

    root = tmp_path_factory.mktemp("others")
    path = save(root / "assets", _asset_model(VOCAB), assets_extra={"warmup/req.bin": b"\x01\x02"})
    assert (path / "assets" / "vocab.txt").read_bytes() == VOCAB
    assert (path / "assets.extra" / "warmup" / "req.bin").read_bytes() == b"\x01\x02"
    path.rename(root / "moved")  # the asset path must be resolved at load time, not baked in
    return {
        "moved": root / "moved",
        "concat": save(root / "concat", _concat_of_one()),
        "no_variables": save(root / "no_variables", _without_variables()),
        "replaced": replace_weights(written["mlp"][0], root / "replaced",
                                    {"dense/kernel": np.zeros((4, 8), np.float32)}),
    }


def _feeds(inputs: dict) -> dict:
    return {key: {k: encode(v) for k, v in feeds.items()} for key, feeds in inputs.items()}


@pytest.fixture(scope="module")
def tf(written, others) -> dict[str, dict]:
    """TensorFlow's answer to every question of this module, by question id (recorded)."""
    asks: dict[str, dict] = {}
    for name, (path, inputs, _) in written.items():
        d = str(path)
        asks[f"signatures/{name}"] = {"kind": "signatures", "dir": d, "inputs": _feeds(inputs)}
        asks[f"specs/{name}"] = {"kind": "specs", "dir": d}
        asks[f"inferred/{name}"] = {"kind": "inferred", "dir": d}
        asks[f"show/{name}"] = {"kind": "saved_model_cli", "dir": d, "argv": ["show", "--all"]}
        for key, feeds in _feeds(inputs).items():
            asks[f"run/{name}/{key}"] = {
                "kind": "saved_model_cli", "dir": d, "inputs": feeds,
                "argv": ["run", "--tag_set", "serve", "--signature_def", key]}
            asks[f"c/{name}/{key}"] = {"kind": "c_loader", "dir": d, "signature": key,
                                       "inputs": feeds}
    mlp, cnn, transformer = (str(written[n][0]) for n in ("mlp", "cnn", "transformer"))
    asks["restored"] = {"kind": "restored", "dir": mlp,
                        "x": encode(written["mlp"][1]["serving_default"]["x"])}
    asks["fine_tune"] = {"kind": "fine_tune", "dir": transformer,
                         "tokens": encode(written["transformer"][1]["encode"]["tokens"])}
    asks["frozen"] = {"kind": "frozen", "dir": cnn,
                      "image": encode(written["cnn"][1]["serving_default"]["image"])}
    moved = str(others["moved"])
    asks["assets"] = {"kind": "assets", "dir": moved}
    asks["c/moved"] = {"kind": "c_loader", "dir": moved, "signature": "serving_default",
                       "inputs": {"x": encode(np.float32(2.0))}}
    asks["checkpoint"] = {"kind": "checkpoint", "dir": mlp}
    ones = {"x": encode(np.ones((1, 2), np.float32))}
    asks["concat"] = {"kind": "signatures", "dir": str(others["concat"]),
                      "inputs": {"serving_default": ones}}
    asks["no_variables"] = {"kind": "signatures", "dir": str(others["no_variables"]),
                            "inputs": {"serving_default": ones}}
    asks["no_variables_call"] = {"kind": "call", "dir": str(others["no_variables"]),
                                 "attr": "scale", "args": [ones["x"]]}
    return dict(zip(asks, ORACLE.answers(list(asks.values()))))


def _ok(answer: dict) -> dict:
    assert "error" not in answer, answer["error"]
    return answer


@pytest.mark.parametrize("name", list(wm.BUILDERS))
def test_signatures_give_numpy_reference(tf, written, name):
    _, _, expected = written[name]
    got = _ok(tf[f"signatures/{name}"])
    assert set(got["keys"]) == set(expected)
    for key, outs in expected.items():
        assert set(got["outputs"][key]) == set(outs)
        for out, want in outs.items():
            np.testing.assert_allclose(decode(got["outputs"][key][out]), want, rtol=RTOL,
                                       atol=ATOL, err_msg=f"{name}/{key}/{out}")


def _dims(info) -> list:
    return [d.size if d.size >= 0 else None for d in info.tensor_shape.dim]


@pytest.mark.parametrize("name", list(wm.BUILDERS))
def test_signature_tensor_infos_match_tensorflow(tf, written, name):
    """Our static shapes/dtypes in the SignatureDefs are what TF infers for the functions."""
    path, _, _ = written[name]
    sigs = parse_message(SavedModel, (path / "saved_model.pb").read_bytes()).meta_graphs[0]
    sigs = sigs.signature_def
    for key, spec in _ok(tf[f"specs/{name}"]).items():
        for out, theirs in spec["outputs"].items():
            info = sigs[key].outputs[out]
            assert info.dtype == theirs["dtype"]
            assert _dims(info) == theirs["shape"], (key, out)
        for arg, theirs in spec["inputs"].items():
            assert _dims(sigs[key].inputs[arg]) == theirs["shape"], (key, arg)


@pytest.mark.parametrize("name", list(wm.BUILDERS))
def test_signature_shapes_match_tensorflows_own_inference(tf, written, name):
    """SignatureDef shapes equal TF's inference of our FunctionDefs with our hints stripped.

    The loaded signatures' structured_outputs echo the output_signature and
    _output_shapes we wrote, so they cannot catch a wrong (too specific) shape.
    """
    path, _, _ = written[name]
    mg = parse_message(SavedModel, (path / "saved_model.pb").read_bytes()).meta_graphs[0]
    inferred = _ok(tf[f"inferred/{name}"])
    keys = [k for k in mg.signature_def if k != "__saved_model_init_op"]
    assert sorted(inferred) == sorted(keys)
    for key in keys:
        for out, info in mg.signature_def[key].outputs.items():
            assert _dims(info) == inferred[key][out], (key, out)


def test_restored_objects(tf, written):
    """Root has .variables/.trainable_variables, callable functions, trainable flags kept."""
    _, _, expected = written["mlp"]
    got = _ok(tf["restored"])
    assert got["n_variables"] == 4
    assert got["trainable"] == ["dense/kernel:0", "dense/bias:0", "dense_1/kernel:0"]
    assert not got["dense_1_bias_trainable"]
    np.testing.assert_allclose(decode(got["probs"]), expected["serving_default"]["probs"],
                               rtol=RTOL, atol=ATOL)
    np.testing.assert_array_equal(decode(got["class_ids"]), expected["classify"]["class_ids"])
    assert got["wrong_shape_error"] in ("TypeError", "ValueError")  # no matching function


def test_fine_tuning_loop_changes_trainable_variables(tf):
    """The guide's loop: load, GradientTape, optimizer steps; loss falls, frozen vars stay."""
    got = _ok(tf["fine_tune"])
    assert got["losses"][-1] < got["losses"][0]
    assert got["changed"] == got["trainable"] == 16


def test_fine_tuning_respects_non_trainable(tf):
    got = _ok(tf["frozen"])
    assert got["frozen"] == ["bn/moving_mean:0", "bn/moving_variance:0"]
    assert got["all_grads"]


def test_saved_model_cli_show_and_run(tf, written):
    """saved_model_cli's real entry point: show --all and run on every model and signature."""
    for name, (_, inputs, expected) in written.items():
        show = tf[f"show/{name}"]
        assert show["code"] == 0, show["stdout"][-2000:]
        for key in inputs:
            assert f"signature_def['{key}']" in show["stdout"]
        assert "Concrete Functions:" in show["stdout"]
        for key in inputs:
            run = tf[f"run/{name}/{key}"]
            assert run["code"] == 0, (name, key, run["stdout"][-2000:])
            for out, value in expected[key].items():
                np.testing.assert_allclose(decode(run["outputs"][out]), value, rtol=RTOL,
                                           atol=ATOL, err_msg=f"{name} {out}")


def test_cpp_loader_accepts_and_runs(tf, written):
    """C++ LoadSavedModel via the C API (TF_LoadSessionFromSavedModel), then TF_SessionRun.

    Also the asset model, moved after saving: the C++ loader must feed the asset's
    new path to the init op.
    """
    checks = [(f"c/{name}/{key}", expected[key])
              for name, (_, inputs, expected) in written.items() for key in inputs]
    checks.append(("c/moved", {"vocab_bytes": len(VOCAB), "y": 6.0}))
    for ask, want in checks:
        got = _ok(tf[ask])["outputs"]
        for out, value in want.items():
            np.testing.assert_allclose(decode(got[out]), value, rtol=RTOL, atol=ATOL,
                                       err_msg=f"{ask} {out}")


def test_assets_are_found_by_both_loaders(tf):
    got = _ok(tf["assets"])
    assert got["vocab_bytes"] == len(VOCAB)
    assert got["y"] == 6.0
    assert got["asset_path"].endswith("assets/vocab.txt")


def test_checkpoint_readable_by_tf_train(tf):
    """variables/ is a normal TF2 checkpoint: tf.train.Checkpoint restores it into a tf.Module."""
    got = _ok(tf["checkpoint"])
    assert got["shapes"]["dense/kernel/.ATTRIBUTES/VARIABLE_VALUE"] == [4, 8]
    np.testing.assert_array_equal(decode(got["restored"]), decode(got["stored"]))


def test_concat_of_one_tensor_loads(tf):
    got = _ok(tf["concat"])["outputs"]["serving_default"]["y"]
    np.testing.assert_array_equal(decode(got), [[1.0, 1.0]])


def test_model_without_variables(tf):
    got = _ok(tf["no_variables"])["outputs"]["serving_default"]["output_0"]
    np.testing.assert_array_equal(decode(got), [[4.0, 4.0]])
    call = _ok(tf["no_variables_call"])
    np.testing.assert_array_equal(decode(call["result"]), [[4.0, 4.0]])
    assert call["n_variables"] == 0


def test_fingerprints_equal_tensorflows(written, others):
    """fingerprint.pb of written and of weight-replaced models = TF's CreateFingerprintDef."""
    from savedmodel_io.fingerprint import HASH_FIELDS, read_fingerprint

    paths = [p for p, _, _ in written.values()] + [others["replaced"]]
    answers = Oracle("fingerprint").answers([{"dir": str(p)} for p in paths])
    for path, answer in zip(paths, answers):
        theirs = _ok(answer["create"])
        ours = read_fingerprint(path)
        for name in HASH_FIELDS:
            assert getattr(ours, name) == theirs[name], (path.name, name)
