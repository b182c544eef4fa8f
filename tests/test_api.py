"""The public API: everything in __all__ resolves, and import stays light."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import savedmodel_io


def test_every_public_name_resolves():
    for name in savedmodel_io.__all__:
        assert getattr(savedmodel_io, name) is not None, name
    assert savedmodel_io.save.__module__ == "savedmodel_io.writer"
    assert savedmodel_io.open_checkpoint.__module__ == "savedmodel_io.formats.bundle"


def test_unknown_attribute():
    try:
        savedmodel_io.no_such_thing  # noqa: B018
    except AttributeError as exc:
        assert "no_such_thing" in str(exc)
    else:
        raise AssertionError("expected AttributeError")


def _python(code: str) -> str:
    """stdout of ``code`` run in a fresh interpreter that imports this checkout's package."""
    src = str(Path(savedmodel_io.__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONPATH": src}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env
    )
    return out.stdout


def test_import_does_not_load_writer_or_runtime():
    code = (
        "import sys, savedmodel_io\n"
        "heavy = [m for m in ('savedmodel_io.writer', 'savedmodel_io.graph.runtime',"
        " 'savedmodel_io.graph.builder', 'tensorflow') if m in sys.modules]\n"
        "print(heavy)\n"
    )
    assert _python(code).strip() == "[]"


def test_inspecting_does_not_import_numpy():
    # numpy's import is most of a `show`'s cost: load, read_signatures and show --all
    # on a model whose signatures hold no tensor values must not pay it.
    example = Path(__file__).resolve().parents[1] / "examples" / "mlp"
    code = (
        "import contextlib, io, sys, savedmodel_io\n"
        "from savedmodel_io.cli.main import main\n"
        f"p = {str(example)!r}\n"
        "m = savedmodel_io.load(p)\n"
        "sig = m.signatures['serving_default']\n"
        "print(sig.inputs['features'].shape, savedmodel_io.read_signatures(p).keys())\n"
        "with contextlib.redirect_stdout(io.StringIO()) as out:\n"
        "    main(['show', '--dir', p, '--all'])\n"
        "assert 'Concrete Functions' in out.getvalue()\n"
        "print('numpy' in sys.modules)\n"
    )
    out = _python(code)
    assert out.strip().splitlines()[-1] == "False", out
