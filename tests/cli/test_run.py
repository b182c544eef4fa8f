"""``savedmodel-io run``: saved_model_cli's output format, every input form, clear errors."""

from __future__ import annotations

import argparse
import json
import pickle
import re

import numpy as np
import pytest

from savedmodel_io.cli.main import main
from savedmodel_io.cli.run import _output_paths
from savedmodel_io.cli.run_inputs import MAX_ELEMENTS, evaluate, make_example, parse_inputs
from savedmodel_io.errors import InvalidArgumentError
from savedmodel_io.proto import Example


_NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*(?:e[-+]?\d+)?|nan|inf)")


def same_printout(ours: str, theirs: str) -> None:
    """Equal text apart from the last digits of floats (kernels differ from TF's by an ulp)."""
    assert _NUMBER.sub("#", ours).split() == _NUMBER.sub("#", theirs).split()
    a = [float(v) for v in _NUMBER.findall(ours)]
    b = [float(v) for v in _NUMBER.findall(theirs)]
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


def cli(capsys, *argv):
    code = main(["run", *map(str, argv)])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def module_dir(fixture_model):
    return fixture_model("runtime_module")


@pytest.fixture(scope="module")
def tf1_dir(fixture_model):
    return fixture_model("runtime_tf1")


# -- parity with saved_model_cli ---------------------------------------------------------

@pytest.mark.tf
@pytest.mark.parametrize("name,case", [("runtime_module", "call"), ("runtime_tf1", "exprs"),
                                       ("runtime_tf1", "examples"),
                                       ("serving_half_plus_three", "any_shape")])
def test_stdout_matches_saved_model_cli(name, case, fixture_model, capsys):
    path = fixture_model(name)
    ref = json.loads((path / f"cli_{case}.json").read_text())
    assert ref["returncode"] == 0, ref
    code, out, _ = cli(capsys, "--dir", path, *ref["args"])
    assert code == 0
    same_printout(out, ref["stdout"])
    assert out.splitlines()[0] == ref["stdout"].splitlines()[0]


@pytest.mark.tf
def test_stateful_signature_starts_from_the_checkpoint_each_run(fixture_model, capsys):
    # Each `run` loads the model afresh: the counter (5 in the checkpoint) is incremented once.
    path = fixture_model("serving_counter")
    for _ in range(2):
        code, out, _ = cli(capsys, "--dir", path, "--tag_set", "serve", "--signature_def",
                           "incr_counter")
        assert (code, out) == (0, "Result for output key output:\n6.0\n")


# -- input forms ---------------------------------------------------------------------------

X = np.array([[1.0, 2.0, 3.0], [-1.0, 0.5, 0.0]], np.float32)


@pytest.mark.tf
def test_inputs_npy_npz_and_variables(tf1_dir, tmp_path, capsys):
    np.save(tmp_path / "x.npy", X)
    np.savez(tmp_path / "one.npz", only=X)
    np.savez(tmp_path / "many.npz", a=X, b=X * 0)
    base = ("--dir", tf1_dir, "--tag_set", "serve", "--signature_def", "serving_default")
    want = cli(capsys, *base, "--input_exprs", f"x={X.tolist()}")[1]
    assert "Result for output key probs:" in want
    for spec in (f"x={tmp_path / 'x.npy'}", f"x={tmp_path / 'one.npz'}",
                 f"x={tmp_path / 'many.npz'}[a]", f";x={tmp_path / 'x.npy'};"):
        code, out, _ = cli(capsys, *base, "--inputs", spec)
        assert code == 0 and out == want, spec
    # A variable name on a .npy file is ignored with a warning, as in TensorFlow.
    code, out, err = cli(capsys, *base, "--inputs", f"x={tmp_path / 'x.npy'}[whatever]")
    assert code == 0 and out == want and "ignored" in err
    # --input_exprs overrides --inputs for the same key.
    code, out, err = cli(capsys, *base, "--inputs", f"x={tmp_path / 'many.npz'}[b]",
                         "--input_exprs", f"x={X.tolist()}")
    assert code == 0 and out == want and "--input_exprs will be used" in err


@pytest.mark.tf
@pytest.mark.parametrize("make,spec,needle", [
    (None, "x", "format is incorrect"),
    (None, "x=a.npy[", "format is incorrect"),
    (None, "x={d}/missing.npy", "input file does not exist"),
    ("many", "x={d}/many.npz", "holds 2 arrays"),
    ("many", "x={d}/many.npz[nope]", 'does not contain variable with name "nope"'),
    ("pickle", "x={d}/data.pkl", "pass --allow_pickle"),
    ("text", "x={d}/data.txt", "not a .npy or .npz"),
    (None, "nokey={d}/x.npy", '"nokey" is not a valid input key. Please choose from "x"'),
])
def test_bad_inputs_give_clear_errors(tf1_dir, tmp_path, capsys, make, spec, needle):
    np.save(tmp_path / "x.npy", X)
    if make == "many":
        np.savez(tmp_path / "many.npz", a=X, b=X)
    elif make == "pickle":
        (tmp_path / "data.pkl").write_bytes(pickle.dumps({"x": X}))
    elif make == "text":
        (tmp_path / "data.txt").write_text("1 2 3")
    code, out, err = cli(capsys, "--dir", tf1_dir, "--tag_set", "serve", "--signature_def",
                         "serving_default", "--inputs", spec.format(d=tmp_path))
    assert code == 1 and out == ""
    assert needle in err and err.startswith("savedmodel-io run: error:") and err.count("\n") == 1


@pytest.mark.tf
def test_pickle_only_with_opt_in(tf1_dir, tmp_path, capsys):
    (tmp_path / "data.pkl").write_bytes(pickle.dumps({"x": X}))
    base = ("--dir", tf1_dir, "--tag_set", "serve", "--signature_def", "serving_default")
    code, out, _ = cli(capsys, *base, "--inputs", f"x={tmp_path / 'data.pkl'}[x]", "--allow_pickle")
    assert code == 0 and "Result for output key y:" in out


@pytest.mark.tf
@pytest.mark.parametrize("exprs,needle", [
    ("x=__import__('os').system('true')", "call is not allowed"),
    ("x=np.load('/etc/passwd')", "call is not allowed"),
    ("x=np.ones((1<<20, 1<<20))", "not allowed"),
    ("x=np.ones((1 << 14, 1 << 14))", "not allowed"),
    (f"x=np.zeros(({MAX_ELEMENTS}, 2))", "limit"),
    ("x=[[1.0, 2.0, 3.0]", "not valid Python syntax"),
    ("x", "format is incorrect"),
    ("x=[[1, 2]]", "expects shape (None, 3), got (1, 2)"),
    ("x=[['a', 'b', 'c']]", "expects float32"),
    ("y=[[1.0, 2.0, 3.0]]", '"y" is not a valid input key'),
])
def test_bad_expressions(tf1_dir, capsys, exprs, needle):
    code, out, err = cli(capsys, "--dir", tf1_dir, "--tag_set", "serve", "--signature_def",
                         "serving_default", "--input_exprs", exprs)
    assert code == 1 and out == "" and needle in err, err


@pytest.mark.tf
def test_numpy_constructors_in_exprs(tf1_dir, capsys):
    base = ("--dir", tf1_dir, "--tag_set", "serve", "--signature_def", "serving_default")
    ones = cli(capsys, *base, "--input_exprs", "x=[[1.0, 1.0, 1.0]]")[1]
    for e in ("x=np.ones((1,3))", "x=np.ones([1, 3], dtype=np.float32)", "x=np.full((1,3), 1.0)",
              "x=np.zeros((1,3)) + 1", "x=np.array([[2, 2, 2]]) / 2"):
        code, out, _ = cli(capsys, *base, "--input_exprs", e)
        assert code == 0 and out == ones, e
    code, out, _ = cli(capsys, *base, "--input_exprs", "x=np.random.rand(4, 3)")
    assert code == 0 and out.count("Result for output key") == 2


def test_evaluator():
    assert evaluate("[1, -2.5, (3, 4), {'a': b'x'}, None, True]") == [1, -2.5, (3, 4), {"a": b"x"}, None, True]
    np.testing.assert_array_equal(evaluate("np.eye(2)"), np.eye(2))
    np.testing.assert_array_equal(evaluate("numpy.arange(0, 10, 3)"), [0, 3, 6, 9])
    np.testing.assert_array_equal(evaluate("np.linspace(0, 1, 3)"), [0, 0.5, 1])
    assert evaluate("np.random.randint(0, 5, size=(2, 3))").shape == (2, 3)
    assert evaluate("np.array([1, 2], dtype='int8')").dtype == np.int8
    assert np.isnan(evaluate("np.nan"))
    for bad in ("lambda: 1", "[x for x in 'ab']", "np.__class__", "np.ones.__globals__",
                "().__class__.__bases__", "2 ** 1000000", "open('f')", "np.fromfile('x')",
                "np.ones(3, like=1)", "f'{1}'", "np.ones(*[3])", "np.random.seed(1)", "{[1]: 2}",
                "[1] * 10", "'a' * 10", "np.eye(1e9)", "np.linspace(0, 1, 100000000)"):
        with pytest.raises(InvalidArgumentError):
            evaluate(bad)
    with pytest.raises(InvalidArgumentError, match="nested"):
        evaluate("[" * 100000 + "]" * 100000)
    with pytest.raises(InvalidArgumentError, match="limit"):
        evaluate("np.arange(1e12)")


def test_evaluator_keeps_parser_warnings_off_stderr(recwarn):
    # Python's parser warns (SyntaxWarning) about literals run into keywords; the user
    # gets our value or our error, not a stray "<unknown>:1: SyntaxWarning" line.
    with pytest.raises(InvalidArgumentError, match="IfExp is not allowed"):
        evaluate("1if 1 else 2")
    with pytest.raises(InvalidArgumentError, match="not valid Python syntax"):
        evaluate("0x1for")
    assert evaluate("'\\A'") == "\\A"  # an invalid escape: kept, without the parser's warning
    assert not [w for w in recwarn if issubclass(w.category, (SyntaxWarning, DeprecationWarning))]


def test_examples_and_input_parsing():
    ex = Example()
    ex.ParseFromString(make_example({"f": [1.0, 2], "i": [3], "s": ["é"], "b": [b"\x00"]}))
    feats = ex.features.feature
    assert list(feats["f"].float_list.value) == [1.0, 2.0]
    assert list(feats["i"].int64_list.value) == [3]
    assert list(feats["s"].bytes_list.value) == ["é".encode()]
    assert list(feats["b"].bytes_list.value) == [b"\x00"]
    for bad in ({"f": []}, {"f": 1.0}, {"f": [1, "a"]}, {"f": [None]}, [1]):
        with pytest.raises(InvalidArgumentError):
            make_example(bad)
    assert parse_inputs("a=x.npy;b=y.npz[v];") == {"a": ("x.npy", None), "b": ("y.npz", "v")}


@pytest.mark.tf
def test_input_examples(tf1_dir, capsys):
    code, out, _ = cli(capsys, "--dir", tf1_dir, "--tag_set", "serve", "--signature_def", "examples",
                       "--input_examples", "examples=[{'age':[3.0],'n':[1,2]},{'age':[-1.0]}]")
    assert code == 0 and out.startswith("Result for output key scores:\n[[")
    code, _, err = cli(capsys, "--dir", tf1_dir, "--tag_set", "serve", "--signature_def", "examples",
                       "--input_examples", "examples={'age':[3.0]}")
    assert code == 1 and "must be a list of dictionaries" in err
    code, _, err = cli(capsys, "--dir", tf1_dir, "--tag_set", "serve", "--signature_def", "examples",
                       "--input_examples", "examples=[{'n':[1,2]}]")
    assert code == 1 and "'age' is required" in err


# -- outputs, modes ------------------------------------------------------------------------

@pytest.mark.tf
def test_outdir_and_overwrite(module_dir, tmp_path, capsys):
    out_dir = tmp_path / "out"
    args = ("--dir", module_dir, "--tag_set", "serve", "--signature_def", "control",
            "--input_exprs", "x=[1.0, -0.5, 2.0];n=4", "--outdir", out_dir)
    code, out, _ = cli(capsys, *args)
    assert code == 0
    for key in ("case", "cond", "loop"):
        assert f"Output {key} is saved to {out_dir / (key + '.npy')}" in out
    np.testing.assert_array_equal(np.load(out_dir / "loop.npy"), np.float32([6, -3, 12]))
    before = (out_dir / "loop.npy").read_bytes()
    code, out, err = cli(capsys, *args)
    assert code == 1 and "already exists" in err and '"--overwrite"' in err and out == ""
    assert (out_dir / "loop.npy").read_bytes() == before
    assert cli(capsys, *args, "--overwrite")[0] == 0
    assert sorted(p.name for p in out_dir.iterdir()) == ["case.npy", "cond.npy", "loop.npy"]


def test_output_keys_must_be_file_names(tmp_path):
    ns = argparse.Namespace(outdir=str(tmp_path), overwrite=False)
    with pytest.raises(InvalidArgumentError, match="cannot be used as a file name"):
        _output_paths(ns, ["ok", "../escape"])
    # "..npy" and "...npy" are plain names inside outdir, as in saved_model_cli.
    assert _output_paths(ns, [".", ".."]) == {".": str(tmp_path / "..npy"),
                                              "..": str(tmp_path / "...npy")}


@pytest.mark.tf
def test_signature_without_inputs_runs(module_dir, capsys):
    code, out, _ = cli(capsys, "--dir", module_dir, "--tag_set", "serve", "--signature_def", "no_inputs")
    assert code == 0 and out.startswith("Result for output key doubled:\n2.0\n")


@pytest.mark.tf
def test_missing_input_value(module_dir, capsys):
    code, _, err = cli(capsys, "--dir", module_dir, "--tag_set", "serve", "--signature_def", "control",
                       "--input_exprs", "x=[1.0]")
    assert code == 1 and "no value for input 'n'" in err


@pytest.mark.tf
@pytest.mark.parametrize("flag,value,needle", [
    ("--tag_set", "nope", "no meta graph with tag-set"),
    ("--signature_def", "nope", "no signature 'nope'"),
])
def test_bad_tag_or_signature(module_dir, capsys, flag, value, needle):
    args = {"--tag_set": "serve", "--signature_def": "array_input", flag: value}
    code, _, err = cli(capsys, "--dir", module_dir, *[x for kv in args.items() for x in kv],
                       "--input_exprs", "x=[1.0]")
    assert code == 1 and needle in err


@pytest.mark.tf
def test_check(module_dir, capsys):
    code, out, _ = cli(capsys, "--dir", module_dir, "--tag_set", "serve", "--signature_def",
                       "indexing", "--check")
    assert code == 0 and "can run without TensorFlow" in out


@pytest.mark.tf
def test_tf_debug_traces_and_stops_at_nan(module_dir, capsys):
    base = ("--dir", module_dir, "--tag_set", "serve", "--signature_def", "array_input")
    code, out, err = cli(capsys, *base, "--input_exprs", "x=[1.0, 2.0]", "--tf_debug")
    assert code == 0 and "Result for output key output_0:\n[1. 2.]" in out
    assert "ReadVariableOp float32[] min=1.0 max=1.0" in err and " Mul float32[2] min=1.0 max=2.0" in err
    code, out, err = cli(capsys, *base, "--input_exprs", "x=[1.0, np.nan]", "--tf_debug")
    assert code == 1 and out == ""
    assert "NaN" in err and "(Mul)" in err


@pytest.mark.tf
def test_backend_tensorflow(module_dir, capsys):
    args = ("--dir", module_dir, "--tag_set", "serve", "--signature_def", "control",
            "--input_exprs", "x=[1.0, -0.5, 2.0];n=4")
    ours = cli(capsys, *args)[1]
    code, theirs, _ = cli(capsys, *args, "--backend", "tensorflow")
    assert code == 0 and theirs == ours


# -- saved_model_cli's TF1-session behaviour, checked against its recorded stdout ------------

@pytest.fixture(scope="module")
def tf1_cli_dir(fixture_model):
    return fixture_model("runtime_tf1_cli")


@pytest.mark.tf
@pytest.mark.parametrize("case", ["withdefault", "partial", "scalars"])
def test_partial_feeds_and_scalars_print_exactly_like_saved_model_cli(tf1_cli_dir, capsys, case):
    # Inputs with a default or that no output needs may be left out (TF feeds only what it
    # is given); 0-d outputs print with their own precision ("-0.23", not float64 digits).
    ref = json.loads((tf1_cli_dir / f"cli_{case}.json").read_text())
    assert ref["returncode"] == 0, ref
    code, out, _ = cli(capsys, "--dir", tf1_cli_dir, *ref["args"])
    assert code == 0
    assert out == ref["stdout"]


@pytest.mark.tf
def test_left_out_input_that_an_output_needs(tf1_cli_dir, capsys):
    code, out, err = cli(capsys, "--dir", tf1_cli_dir, "--tag_set", "serve",
                         "--signature_def", "partial", "--input_exprs", "unused=[1.0]")
    assert code == 1 and out == ""
    assert "no value for input 'a' (tensor a:0)" in err and err.count("\n") == 1


@pytest.mark.tf
def test_outdir_files_equal_saved_model_clis(tf1_cli_dir, tmp_path, capsys):
    # A scalar string output is saved as numpy's fixed-width bytes ("S5"), loadable without
    # pickle, like TensorFlow's; every file is byte-identical to saved_model_cli's.
    ref = json.loads((tf1_cli_dir / "cli_scalars_outdir.json").read_text())
    assert ref["returncode"] == 0, ref
    theirs = tf1_cli_dir / "scalars_outdir"
    args = list(ref["args"])
    recorded = args[args.index("--outdir") + 1]  # where the fixture builder ran it
    args[args.index("--outdir") + 1] = str(tmp_path / "out")
    code, out, _ = cli(capsys, "--dir", tf1_cli_dir, *args)
    assert code == 0
    assert out == ref["stdout"].replace(recorded, str(tmp_path / "out"))
    files = sorted(p.name for p in theirs.iterdir())
    assert files == sorted(p.name for p in (tmp_path / "out").iterdir())
    for name in files:
        assert (tmp_path / "out" / name).read_bytes() == (theirs / name).read_bytes(), name
    assert np.load(tmp_path / "out" / "word.npy").dtype == np.dtype("S5")


def test_outdir_is_made_only_after_a_successful_run(module_dir, tmp_path, capsys):
    out = tmp_path / "new"
    code, _, err = cli(capsys, "--dir", module_dir, "--tag_set", "serve", "--signature_def",
                       "array_input", "--input_exprs", "x=['a']", "--outdir", out)
    assert code == 1 and err
    assert not out.exists()


def _handle_output_model(tmp_path, op):
    """A SavedModel whose one output is a resource handle or a TensorList, built without TF."""
    from savedmodel_io.proto import SavedModel

    sm = SavedModel()
    mg = sm.meta_graphs.add()
    mg.meta_info_def.tags.append("serve")
    g = mg.graph_def
    if op == "VarHandleOp":
        n = g.node.add(name="y", op="VarHandleOp")
        n.attr["dtype"].type = 1
        n.attr["shared_name"].s = b"v"
    else:
        for name, value in (("shape", -1), ("n", 2)):
            c = g.node.add(name=name, op="Const")
            c.attr["dtype"].type = 3
            c.attr["value"].tensor.dtype = 3
            c.attr["value"].tensor.int_val.append(value)
        n = g.node.add(name="y", op="TensorListReserve", input=["shape", "n"])
        n.attr["element_dtype"].type = 1
    out = mg.signature_def["serving_default"].outputs["o0"]
    out.name, out.dtype = "y:0", 20
    d = tmp_path / "model"
    d.mkdir()
    (d / "saved_model.pb").write_bytes(sm.SerializeToString())
    return d


@pytest.mark.parametrize("op", ["VarHandleOp", "TensorListReserve"])
@pytest.mark.parametrize("extra", [[], ["--json"], ["--outdir", "out"], ["--outdir", "out", "--json"]])
def test_non_tensor_outputs_are_refused(tmp_path, capsys, op, extra):
    # --json raised a raw AttributeError on a handle; --outdir pickled it into a .npy file.
    d = _handle_output_model(tmp_path, op)
    extra = [str(tmp_path / e) if e == "out" else e for e in extra]
    code, out, err = cli(capsys, "--dir", d, "--tag_set", "serve", "--signature_def",
                         "serving_default", *extra)
    assert code != 0
    assert "output 'o0' (tensor y:0) is not a tensor value" in err
    assert not (tmp_path / "out").exists()


@pytest.fixture(scope="module")
def typed_dir(tmp_path_factory):
    """A writer-made model with a float32 input x and an int32 input i."""
    from savedmodel_io.writer import Model, save

    m = Model()
    f = m.function("__call__", {"x": ("float32", (None,)), "i": ("int32", (None,))})
    f.outputs({"y": f.identity(f.inputs["x"]), "j": f.identity(f.inputs["i"])})
    m.signature("serving_default", f)
    return save(tmp_path_factory.mktemp("typed") / "m", m)


@pytest.mark.parametrize("x, i, error", [
    (np.array([1.5]), np.array([2], np.int64), None),            # float64 -> float32, int64 -> int32
    (np.array([1.5], np.float32), np.array([2.0]), "got an array of float64"),  # float -> int
    (np.array([1e300]), np.array([2], np.int32), "overflow float32"),
    (np.array([1.5], np.float32), np.array([2**40]), "do not fit int32"),
])
def test_cli_and_api_convert_inputs_by_one_rule(typed_dir, tmp_path, capsys, x, i, error):
    """The API refused float64 for float32 while the CLI cast anything (float -> int truncated)."""
    import savedmodel_io

    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "i.npy", i)
    code, out, err = cli(capsys, "--dir", typed_dir, "--tag_set", "serve", "--signature_def",
                         "serving_default", "--inputs", f"x={tmp_path / 'x.npy'};i={tmp_path / 'i.npy'}")
    sig = savedmodel_io.load(typed_dir).signatures["serving_default"]
    if error is None:
        assert code == 0
        got = sig(x=x, i=i)
        assert got["y"].dtype == np.float32 and got["j"].dtype == np.int32
        assert f"Result for output key y:\n{got['y']}" in out
    else:
        assert code == 1 and error in err
        with pytest.raises(InvalidArgumentError, match=error):
            sig(x=x, i=i)


def test_strict_refuses_any_conversion(typed_dir, tmp_path, capsys):
    import savedmodel_io

    np.save(tmp_path / "x.npy", np.array([1.5]))
    code, _, err = cli(capsys, "--dir", typed_dir, "--tag_set", "serve", "--signature_def",
                       "serving_default", "--strict", "--inputs", f"x={tmp_path / 'x.npy'}",
                       "--input_exprs", "i=[1]")
    assert code == 1 and "strict: no conversion" in err
    sig = savedmodel_io.load(typed_dir).signatures["serving_default"]
    with pytest.raises(InvalidArgumentError, match="strict: no conversion"):
        sig.run({"x": np.array([1.5]), "i": [1]}, strict=True)
    assert sig.run({"x": np.array([1.5], np.float32), "i": [1]}, strict=True)["j"].tolist() == [1]


@pytest.mark.parametrize("expr", [
    "np.zeros(67108864, dtype='V1000')",  # 64 GiB from a count under MAX_ELEMENTS
    "np.ones(60000000, 'U30')",  # the dtype given positionally
    "np.full(1000000, '" + "a" * 2000 + "')",  # a string fill value sets the width
    "np.full_like(np.ones(60000000, dtype=np.int8), 1, dtype='U50')",
    "np.linspace(0, 1, 60000000, dtype='U40')",
    "np.array([1, 2, 3], dtype='U100000000')",  # a short literal, 400 MB elements
])
def test_wide_dtypes_are_bounded_in_bytes(expr):
    with pytest.raises(InvalidArgumentError, match=r"bytes \(limit"):
        evaluate(expr)


def test_ordinary_dtypes_stay_allowed():
    assert evaluate("np.full((2, 2), 'abc')").dtype == np.dtype("U3")
    assert evaluate("np.ones(3, dtype=np.complex128)").shape == (3,)
    assert evaluate("np.array(['ab', 'c'])").tolist() == ["ab", "c"]
