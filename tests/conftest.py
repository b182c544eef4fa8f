"""Shared test plumbing: the TensorFlow fixture cache and the shared test data."""

from __future__ import annotations

import fcntl
import hashlib
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _shared() -> Path:
    """../shared beside the checkout (CI, /work/main) or beside a git worktree's parent."""
    for base in (ROOT.parent, ROOT.parent.parent):
        if (base / "shared" / "testdata").is_dir():
            return (base / "shared").resolve()
    return (ROOT / ".." / "shared").resolve()


SHARED = _shared()
CPB_DATA = SHARED / "testdata" / "cpb"
FIXTURES = ROOT / "tests" / "fixtures"
CACHE = Path(os.environ.get("SAVEDMODEL_IO_FIXTURES", ROOT / "tests" / ".cache" / "fixtures"))

TF_ENV = {"TF_CPP_MIN_LOG_LEVEL": "3", "TF_ENABLE_ONEDNN_OPTS": "0", "CUDA_VISIBLE_DEVICES": "-1"}
for _k, _v in TF_ENV.items():
    os.environ.setdefault(_k, _v)


def has_tensorflow() -> bool:
    try:
        import importlib.util

        return importlib.util.find_spec("tensorflow") is not None
    except (ImportError, ValueError):
        return False


def _builder_stamp(name: str) -> str:
    """Hash of the code that builds fixture ``name``: make.py, registry.py and its own module.

    Fixture modules import nothing from each other, so editing one area's builders
    rebuilds only that area's fixtures.
    """
    pattern = re.compile(rf"@model\(\s*[\"']{re.escape(name)}[\"']\s*\)")
    own = [p for p in sorted(FIXTURES.glob("models_*.py")) if pattern.search(p.read_text())]
    h = hashlib.sha256()
    for p in [FIXTURES / "make.py", FIXTURES / "registry.py", *own]:
        h.update(p.name.encode())
        h.update(p.read_bytes())
    return h.hexdigest()[:16]


def build_fixture(name: str) -> Path:
    """Path of the TF-built fixture ``name``, building it (once, under a file lock) if needed."""
    if not has_tensorflow():
        pytest.skip("tensorflow is not installed (needed to build fixtures)")
    CACHE.mkdir(parents=True, exist_ok=True)
    stamp = _builder_stamp(name)
    target = CACHE / name
    stamp_file = CACHE / f"{name}.stamp"
    with open(CACHE / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if target.exists() and stamp_file.exists() and stamp_file.read_text() == stamp:
            return target
        env = {**os.environ, **TF_ENV}
        proc = subprocess.run(
            [sys.executable, str(FIXTURES / "make.py"), "--out", str(CACHE), name],
            env=env,
            capture_output=True,
            text=True,
        )
        if proc.returncode != 0:
            raise RuntimeError(f"building fixture {name} failed:\n{proc.stderr[-4000:]}")
        stamp_file.write_text(stamp)
    return target


@pytest.fixture(scope="session")
def fixture_model():
    """``fixture_model("name")`` -> Path of a TF-built fixture (see tests/fixtures/)."""
    return build_fixture


@pytest.fixture(scope="session")
def cpb_data() -> Path:
    """The real .cpb files of ../shared/testdata/cpb (skips when absent)."""
    if not CPB_DATA.is_dir():
        pytest.skip("../shared/testdata/cpb is not present")
    return CPB_DATA


def pytest_collection_modifyitems(config, items):
    """Skip `tf` tests without TensorFlow; skip `slow` tests unless asked for with -m slow."""
    tf_ok = has_tensorflow()
    want_slow = "slow" in (config.getoption("-m") or "")
    skip_tf = pytest.mark.skip(reason="tensorflow is not installed")
    skip_slow = pytest.mark.skip(reason="slow test: run with -m slow")
    for item in items:
        if "tf" in item.keywords and not tf_ok:
            item.add_marker(skip_tf)
        if "slow" in item.keywords and not want_slow:
            item.add_marker(skip_slow)
