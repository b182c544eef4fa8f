"""docs/architecture.md names only modules and files that exist, and draws test_layers' layers."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "src" / "savedmodel_io"
DOC = ROOT / "docs" / "architecture.md"
# Paths starting with one of these are relative to the repository root; others are looked up
# in src/savedmodel_io/ first (``formats/bundle.py``), then at the root (``setup.py``).
REPO_DIRS = ("tests/", "tools/", "docs/", "bench/", "src/")
# The ONNX exporter is being written on its own branch: its paths are checked once it lands.
PENDING = "onnx/"

_CODE = re.compile(r"`([^`\s]+)`")
_PATH = re.compile(r"^[\w.<>/-]+$")


def named_paths(text: str) -> list[str]:
    """The file and directory paths written in backticks in ``text``."""
    return sorted({m for m in _CODE.findall(text)
                   if _PATH.match(m) and ("/" in m or m.endswith((".py", ".jsonl", ".toml")))})


def resolve(name: str) -> list[Path]:
    """The files or directories ``name`` stands for (``<family>`` matches any name)."""
    bases = (ROOT,) if name.startswith(REPO_DIRS) else (PACKAGE, ROOT)
    pattern = name.rstrip("/").replace("<family>", "*")
    want_dir = name.endswith("/")
    return [p for base in bases for p in base.glob(pattern)
            if (p.is_dir() if want_dir else p.is_file())]


def test_named_paths_are_found():
    names = named_paths(DOC.read_text())
    assert "formats/bundle.py" in names and "graph/ops/<family>.py" in names
    missing = [n for n in names if not resolve(n)
               and not (n.startswith(PENDING) and not (PACKAGE / PENDING).is_dir())]
    assert missing == []


def test_path_finder_finds_what_is_named():
    text = ("see `tests/README.md`, `graph/ops/<family>.py`, `formats/` and `setup.py`; "
            "not `x = 1`, `model.load` or `tf`")
    assert named_paths(text) == ["formats/", "graph/ops/<family>.py", "setup.py",
                                 "tests/README.md"]
    assert resolve("graph/ops/<family>.py") and resolve("tests/README.md")
    assert resolve("setup.py") and resolve("errors.py")
    assert resolve("formats/") and not resolve("formats/bundle.py/")
    assert not resolve("formats/no_such_module.py") and not resolve("no_such_dir/")


@pytest.mark.parametrize("layer", ["bytes", "protos and numpy", "formats", "graph",
                                   "object model", "writer and tools"])
def test_layers_of_test_layers_are_drawn(layer):
    from test_layers import LAYERS

    rows = {line.split("|")[1].strip().lower(): line for line in DOC.read_text().splitlines()
            if line.startswith("| ") and line.count("|") == 4}
    entries = dict(LAYERS)[layer]
    assert layer in rows
    drawn = set(_CODE.findall(rows[layer]))
    for entry in entries:
        module = PACKAGE / entry.replace(".", "/")
        shown = f"{entry.replace('.', '/')}/" if module.is_dir() else f"{entry.replace('.', '/')}.py"
        assert shown in drawn, (layer, shown)
