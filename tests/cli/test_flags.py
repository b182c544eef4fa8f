"""Flag handling of every command: --version, unknown flags, spellings, absl booleans, help."""

from __future__ import annotations

import gc
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import numpy as np
import pytest

import savedmodel_io
from savedmodel_io import _config
from savedmodel_io.cli.main import main
from savedmodel_io.writer import Model, save

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    m = Model()
    w = m.variable("dense/kernel", np.ones((3, 2), np.float32))
    f = m.function("__call__", {"x": ("float32", (None, 3))})
    f.outputs({"y": f.matmul(f.inputs["x"], f.read(w))})
    m.signature("serving_default", f)
    return save(tmp_path_factory.mktemp("flags") / "m", m)


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_version(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0] == f"savedmodel-io {savedmodel_io.__version__}"
    assert out == _config.report()  # then the accelerator backends (tests/test_accel.py)
    assert re.fullmatch(r"\d+\.\d+\.\d+\S*", savedmodel_io.__version__)


def test_version_fallback_is_pyproject_version():
    from savedmodel_io import _version

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert _version.FALLBACK == project["version"]


def test_version_as_a_command():
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    proc = subprocess.run([sys.executable, "-m", "savedmodel_io", "--version"], env=env,
                          capture_output=True, text=True, check=True)
    assert proc.stdout.startswith("savedmodel-io ")


def test_only_the_process_command_line_freezes_the_heap(model, capsys):
    """main() of the process's own command line leaves every object out of the collections at
    exit (gc.freeze); main(argv), as called in-process, leaves the collector alone."""
    before = gc.get_freeze_count()
    assert main(["show", "--dir", str(model)]) == 0
    assert gc.get_freeze_count() == before
    code = ("import gc, sys\n"
            "from savedmodel_io.cli.main import main\n"
            f"sys.argv = ['savedmodel-io', 'show', '--dir', {str(model)!r}]\n"
            "status = main()\n"
            "print(status, gc.get_freeze_count() > 0)\n")
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                          check=True)
    assert proc.stdout.splitlines()[-1] == "0 True"


@pytest.mark.parametrize("argv, usage, hint", [
    (["variables", "--dri", "M"], "usage: savedmodel-io variables", "--dri (did you mean --dir?)"),
    (["show", "--dir", "M", "--signature-deff", "x"], "usage: savedmodel-io show",
     "did you mean --signature_def?"),
    (["graph", "--dir", "M", "--max-node", "3"], "usage: savedmodel-io graph",
     "did you mean --max-nodes?"),
])
def test_unknown_flags_name_the_subcommand_and_near_flags(capsys, model, argv, usage, hint):
    """A typo printed the top-level usage, or only '--dir is required'."""
    argv = [str(model) if a == "M" else a for a in argv]
    code, _, err = run(capsys, *argv)
    assert code == 2
    assert err.startswith(usage) and hint in err and "required" not in err


def test_missing_required_flag_shows_the_subcommand_usage(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["variables"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: savedmodel-io variables") and "--dir" in err


@pytest.mark.parametrize("flag", ["--no-verify", "--no_verify"])
def test_our_flags_take_both_spellings(capsys, model, flag):
    code, out, _ = run(capsys, "variables", "--dir", model, flag)
    assert code == 0 and "dense/kernel" in out


def test_both_spellings_everywhere(capsys, model, tmp_path):
    code, _, _ = run(capsys, "graph", "--dir", model, "--max_nodes", "5", "--no_fold", "--json")
    assert code == 0
    code, out, _ = run(capsys, "show", "--dir", model, "--tag-set", "serve")
    assert code == 0 and "serving_default" in out


@pytest.mark.parametrize("flags, listed", [
    (["--all"], True), (["-all"], True), (["--all=true"], True), (["--all=1"], True),
    (["--all", "--noall"], False), (["-noall"], False), (["--all=false"], False), ([], False),
])
def test_absl_booleans(capsys, model, flags, listed):
    code, out, _ = run(capsys, "show", "--dir", model, "--tag_set", "serve", *flags)
    assert code == 0
    assert ("Concrete Functions" in out) == listed


def test_absl_boolean_with_a_bad_value(capsys, model):
    code, _, err = run(capsys, "show", "--dir", model, "--all=maybe")
    assert code == 2 and "expected true or false, got 'maybe'" in err
    assert err.startswith("usage: savedmodel-io show")


@pytest.mark.parametrize("command, shown, hidden", [
    ("show", ["--[no]all", "--[no]list_ops", "--dir DIR"], ["[ALL]", "-all", "-noall", "-dir"]),
    ("run", ["--[no]overwrite", "--[no]strict", "--tag_set TAG_SET"], ["[OVERWRITE]", "-tag_set"]),
])
def test_help_shows_each_flag_once(capsys, command, shown, hidden):
    with pytest.raises(SystemExit):
        main([command, "--help"])
    text = capsys.readouterr().out
    for s in shown:
        assert s in text, s
    for h in hidden:
        assert not re.search(rf"(^|[\s,\[]){re.escape(h)}([\s,\]]|$)", text), h
