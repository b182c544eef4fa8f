"""The documentation cannot rot: its Python examples run, the CLI page is current, the site builds.

Every fenced ``python`` block of ``docs/*.md`` and ``README.md`` runs, in order, one
namespace per file, in a scratch directory holding a small model written with the
writer (``examples/mlp``, ``my_model`` and ``model``: inputs ``features`` float32 [None, 4]). A block
is left out only when the line before its fence says why:

* ``<!-- docs-test: skip (reason) -->``: a fragment that cannot run (placeholders, paths
  on someone else's machine);
* ``<!-- docs-test: tensorflow -->``: runs only when TensorFlow is installed.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
DOC_FILES = sorted((ROOT / "docs").glob("*.md")) + [ROOT / "README.md"]
_FENCE = re.compile(r"^```(\S*)\s*$")
_MARK = re.compile(r"^<!--\s*docs-test:\s*(skip|tensorflow)\b(.*?)-->\s*$")


@dataclass
class Block:
    path: Path
    line: int
    code: str
    mark: str | None


def python_blocks(path: Path) -> list[Block]:
    """The ``python`` fenced blocks of a Markdown file, with the marker preceding each."""
    lines = path.read_text().splitlines()
    out: list[Block] = []
    i = 0
    while i < len(lines):
        m = _FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        lang, start = m.group(1), i
        j = i + 1
        while j < len(lines) and not lines[j].startswith("```"):
            j += 1
        if lang == "python":
            prev = lines[start - 1].strip() if start else ""
            mark = _MARK.match(prev)
            out.append(Block(path, start + 1, "\n".join(lines[start + 1:j]) + "\n",
                             mark.group(1) if mark else None))
        i = j + 1
    return out


def _write_mlp(path: str) -> None:
    from savedmodel_io.writer import Model, save

    rng = np.random.default_rng(0)
    m = Model()
    k1 = m.variable("dense/kernel", rng.normal(size=(4, 8)).astype(np.float32))
    b1 = m.variable("dense/bias", np.zeros(8, np.float32))
    k2 = m.variable("head/kernel", rng.normal(size=(8, 3)).astype(np.float32))
    b2 = m.variable("head/bias", np.zeros(3, np.float32))
    f = m.function("__call__", {"features": ("float32", (None, 4))})
    h = f.dense(f.inputs["features"], k1, b1, activation="relu", name="dense")
    logits = f.dense(h, k2, b2, name="head")
    f.outputs({"probabilities": f.softmax(logits), "logits": logits})
    m.signature("serving_default", f)
    save(path, m)


@pytest.fixture()
def sandbox(tmp_path, monkeypatch):
    if importlib.util.find_spec("savedmodel_io.writer") is None:
        pytest.skip("the writer is not available")
    monkeypatch.chdir(tmp_path)
    (tmp_path / "examples").mkdir()
    _write_mlp("examples/mlp")
    shutil.copytree("examples/mlp", "my_model")
    shutil.copytree("examples/mlp", "model")
    return tmp_path


@pytest.mark.parametrize("path", DOC_FILES, ids=lambda p: p.name)
def test_python_examples_run(path, sandbox):
    has_tf = importlib.util.find_spec("tensorflow") is not None
    namespace = {"__name__": "__docs__", "np": np, "x": np.ones((2, 4), np.float32)}
    ran = 0
    for block in python_blocks(path):
        if block.mark == "skip" or (block.mark == "tensorflow" and not has_tf):
            continue
        try:
            exec(compile(block.code, f"{block.path.name}:{block.line}", "exec"), namespace)  # noqa: S102 (our own docs)
        except Exception as exc:  # noqa: BLE001 (report any failure with its block)
            pytest.fail(f"{path.name}, block at line {block.line}: {type(exc).__name__}: {exc}")
        ran += 1
    assert ran or not python_blocks(path) or all(b.mark for b in python_blocks(path))


def test_every_skip_says_why():
    for path in DOC_FILES:
        for line in path.read_text().splitlines():
            m = _MARK.match(line.strip())
            if m and m.group(1) == "skip":
                assert m.group(2).strip(), f"{path.name}: '{line.strip()}' needs a reason"


def test_block_extraction(tmp_path):
    md = tmp_path / "x.md"
    md.write_text("text\n```python\na = 1\n```\n<!-- docs-test: skip (placeholder) -->\n"
                  "```python\nb = undefined\n```\n```sh\nls\n```\n")
    blocks = python_blocks(md)
    assert [(b.line, b.code, b.mark) for b in blocks] == [(2, "a = 1\n", None),
                                                         (6, "b = undefined\n", "skip")]


def test_cli_reference_is_current():
    proc = subprocess.run([sys.executable, str(ROOT / "tools" / "gen_cli_docs.py"), "--check"],
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr


def test_op_coverage_page_is_current():
    """docs/ops.md matches the op table, the families and the kernels."""
    proc = subprocess.run([sys.executable, str(ROOT / "tools" / "gen_ops_doc.py"), "--check"],
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr


@pytest.mark.skipif(
    importlib.util.find_spec("mkdocs") is None or importlib.util.find_spec("mkdocstrings") is None,
    reason="mkdocs / mkdocstrings are not installed",
)
def test_site_builds_strict(tmp_path):
    """No warning at all (``--quiet`` would hide them from strict mode, so it is not used)."""
    start = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
        cwd=ROOT, capture_output=True, text=True, check=False,
        env={**os.environ, "PYTHONPATH": str(ROOT / "src")},
    )
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log
    warnings = [line for line in log.splitlines() if line.startswith(("WARNING", "ERROR"))]
    assert warnings == [], "\n".join(warnings)
    assert (tmp_path / "site" / "api" / "index.html").is_file()
    print(f"mkdocs build --strict: {time.monotonic() - start:.1f} s")


def test_docs_link_only_inside_docs():
    """Relative links from docs/ must stay in docs/ (mkdocs cannot serve other repository files)."""
    link = re.compile(r"\]\((?!https?://|mailto:|#)([^)\s]+)\)")
    for path in sorted((ROOT / "docs").glob("*.md")):
        for target in link.findall(path.read_text()):
            resolved = (path.parent / target.split("#")[0]).resolve()
            assert resolved.is_relative_to(ROOT / "docs"), f"{path.name} links to {target}"
