"""Fuzz model directories with symbolic links: nothing outside the model is ever read.

The mutator turns files and directories of a small model (written with the writer) into
links: to the same path of a "secret" model elsewhere (absolute, relative, through a
chain of links, or by linking a parent directory), to a place inside the model, to
nowhere, to themselves or to /dev/zero. Then everything a user does runs: load and
browse, read every variable with and without CRC checks, read assets, fingerprints,
scan and the CLI. The property: each step returns or raises a SavedModelError, and
nothing returned or printed carries the secret model's values. With only links that stay
inside, everything returns the model's own values.
"""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from savedmodel_io.errors import SavedModelError

from .harness import examples, record

pytestmark = pytest.mark.skipif(not hasattr(os, "symlink"), reason="no symlinks")

VALUE, SECRET = 1.5, 7.25
SECRET_TEXT = b"secret-asset"
KINDS = ["out_abs", "out_rel", "out_chain", "out_parent", "inside", "dangling", "loop", "device"]
OUTSIDE = {"out_abs", "out_rel", "out_chain", "out_parent"}


def _save(path: Path, value: float, text: bytes) -> None:
    from savedmodel_io.writer import Model, save

    m = Model()
    w = m.variable("dense/w", np.full((2, 3), value, np.float32))
    m.asset("vocab.txt", text)
    f = m.function("__call__", {"x": ("float32", (None, 3))})
    f.outputs({"y": f.add(f.inputs["x"], f.reduce_sum(f.read(w)))})
    m.signature("serving_default", f)
    save(path, m)


@pytest.fixture(scope="module")
def pair(tmp_path_factory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("linkfuzz")
    _save(root / "model", VALUE, b"a\nb\n")
    _save(root / "elsewhere" / "secret", SECRET, SECRET_TEXT)
    return root / "model", root / "elsewhere" / "secret"


def _entries(model: Path) -> list[str]:
    """Relative names of every file and directory of the model, sorted (the mutator's choices)."""
    return sorted(str(p.relative_to(model)) for p in model.rglob("*"))


def _apply(model: Path, secret: Path, scratch: Path, name: str, kind: str) -> bool:
    """Turn ``model/name`` into a link of ``kind``; False if it no longer exists to be replaced."""
    target = model / name
    if not os.path.lexists(target) or not os.path.realpath(target).startswith(str(model.resolve())):
        return False  # already replaced by an earlier link (or under one)
    if kind == "out_parent" and "/" in name:
        name = name.rsplit("/", 1)[0]
        target = model / name
    # A relative link is resolved from where its directory really is (it may be a link itself).
    real_parent = os.path.realpath(target.parent)
    if kind == "inside":
        store = model / ".store"
        store.mkdir(exist_ok=True)
        moved = store / name.replace("/", "_")
        if os.path.lexists(moved):
            return False
        os.rename(target, moved)
        # Absolute: a later move of a directory holding this link must not break it.
        os.symlink(moved, target)
        return True
    shutil.rmtree(target) if target.is_dir() and not target.is_symlink() else target.unlink()
    if kind in ("out_abs", "out_parent"):
        os.symlink(secret / name, target)
    elif kind == "out_rel":
        os.symlink(os.path.relpath(secret / name, real_parent), target)
    elif kind == "out_chain":
        alias = model / f".alias-{name.replace('/', '_')}"
        os.symlink(secret / name, alias)
        os.symlink(os.path.relpath(alias, real_parent), target)
    elif kind == "dangling":
        os.symlink(scratch / "nowhere" / name, target)
    elif kind == "loop":
        os.symlink(target.name, target)
    else:
        os.symlink("/dev/zero", target)
    return True


def _everything(model: Path) -> list[object]:
    """What users do with a model; each step's result, or the library error it raised."""
    import savedmodel_io
    from savedmodel_io.cli.main import main
    from savedmodel_io.fingerprint import compute_fingerprint, read_fingerprint, verify_fingerprint
    from savedmodel_io.scan import scan_saved_model

    def loaded() -> list[object]:
        m = savedmodel_io.load(model)
        out: list[object] = [repr(m), m.signatures]
        out += [a.read_bytes() for a in m.assets]
        out += [m.variables[k] for k in m.variables]
        out.append(m.signatures["serving_default"](x=np.zeros((1, 3), np.float32)))
        return out

    def checkpoint(verify: bool) -> list[object]:
        r = savedmodel_io.open_checkpoint(model, verify_checksums=verify)
        return [r.read(k) for k in r]

    def cli(*argv: str) -> str:
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main([*argv, "--dir", str(model)])
        return f"{code}\n{out.getvalue()}\n{err.getvalue()}"

    steps = [
        loaded, lambda: checkpoint(True), lambda: checkpoint(False),
        lambda: savedmodel_io.read_signatures(model), lambda: read_fingerprint(model),
        lambda: compute_fingerprint(model, uuid=""), lambda: verify_fingerprint(model),
        lambda: scan_saved_model(model), lambda: savedmodel_io.variable_names(model),
        lambda: cli("show", "--all"), lambda: cli("variables", "--json"),
    ]
    results: list[object] = []
    for step in steps:
        try:
            results.append(step())
        except SavedModelError as exc:
            results.append(exc)
    return results


def _leaks(value: object) -> bool:
    """Whether a result carries the secret model's variable value or asset text."""
    if isinstance(value, np.ndarray):
        return value.dtype.kind == "f" and bool(np.isin(value, [SECRET, SECRET * 6]).any())
    if isinstance(value, (bytes, bytearray)):
        return SECRET_TEXT in value or str(SECRET).encode() in value
    if isinstance(value, str):
        return SECRET_TEXT.decode() in value or str(SECRET) in value
    if isinstance(value, dict):
        return any(_leaks(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return any(_leaks(v) for v in value)
    return _leaks(repr(value)) if isinstance(value, SavedModelError) else False


@st.composite
def mutations(draw, names: list[str]) -> list[tuple[str, str]]:
    return draw(st.lists(st.tuples(st.sampled_from(names), st.sampled_from(KINDS)),
                         min_size=1, max_size=3))


def test_links_never_read_outside_the_model(pair, fuzz_mode):
    model0, secret = pair
    baseline = _everything(model0)
    assert not any(isinstance(r, SavedModelError) for r in baseline), baseline
    names = _entries(model0)
    count = 0

    @settings(max_examples=max(30, examples(fuzz_mode) // 2), deadline=None,
              derandomize=fuzz_mode != "slow", database=None,
              suppress_health_check=list(HealthCheck))
    @given(mutations(names))
    def run(ops: list[tuple[str, str]]) -> None:
        nonlocal count
        count += 1
        with tempfile.TemporaryDirectory() as tmp:
            scratch = Path(tmp)
            model = scratch / "m"
            shutil.copytree(model0, model, symlinks=True)
            applied = [kind for name, kind in ops if _apply(model, secret, scratch, name, kind)]
            results = _everything(model)
            leaked = [r for r in results if _leaks(r)]
            assert not leaked, f"{ops}: the secret model's data came back: {leaked!r}"
            if applied and set(applied) == {"inside"}:
                same = [_leaks(r) or isinstance(r, SavedModelError) for r in results]
                assert not any(same), f"{ops}: links inside the model broke a read: {results!r}"

    try:
        run()
    finally:
        record("links", fuzz_mode, count)
