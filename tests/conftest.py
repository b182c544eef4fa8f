"""Shared test plumbing: TensorFlow-made fixtures, recorded TF answers and the shared test data."""

from __future__ import annotations

import fcntl
import hashlib
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from _oracles.env import CACHE, TF_ENV, has_tensorflow, no_tf_reason
from _oracles.recorded import ANSWERS

_START = time.time()  # the suite's start: what TensorFlow made since is reported at its end
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
#: TensorFlow-built fixtures, committed with the stamp of the builder code that made them: a
#: clean clone builds with TensorFlow only the fixtures above RECORD_CAP bytes, and new ones.
RECORDED = ROOT / "tests" / "_oracles" / "fixtures"
RECORD_CAP = 2 * 1024 * 1024
_checked: set[str] = set()  # fixtures this process has found current (and recorded)

for _k, _v in TF_ENV.items():
    os.environ.setdefault(_k, _v)
# Every process a test starts imports this checkout's package, never an installed one.
os.environ["PYTHONPATH"] = os.pathsep.join(
    [str(ROOT / "src"), *[p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]])

__all__ = ["CACHE", "CPB_DATA", "FIXTURES", "ROOT", "SHARED", "TF_ENV", "build_fixture",
           "has_tensorflow"]

_MODEL = re.compile(r"@model\(\s*[\"']([^\"']+)[\"']\s*\)")


def _area(name: str) -> Path:
    """The ``models_*.py`` module that registers fixture ``name``."""
    for path in sorted(FIXTURES.glob("models_*.py")):
        if name in _MODEL.findall(path.read_text()):
            return path
    raise KeyError(f"no fixture named {name!r} in {FIXTURES}/models_*.py")


def _builder_stamp(area: Path) -> str:
    """Hash of the code that builds an area's fixtures: make.py, registry.py and the module.

    Fixture modules import nothing from each other, so editing one area's builders
    rebuilds only that area's fixtures.
    """
    h = hashlib.sha256()
    for p in [FIXTURES / "make.py", FIXTURES / "registry.py", area]:
        h.update(p.name.encode())
        h.update(p.read_bytes())
    return h.hexdigest()[:16]


def _current(name: str, stamp: str) -> bool:
    stamp_file = CACHE / f"{name}.stamp"
    return (CACHE / name).exists() and stamp_file.exists() and stamp_file.read_text() == stamp


def _recorded(name: str, stamp: str) -> bool:
    """Fixture ``name`` is committed in RECORDED, built by the builder code of ``stamp``."""
    stamp_file = RECORDED / f"{name}.stamp"
    return (RECORDED / name).is_dir() and stamp_file.is_file() and stamp_file.read_text() == stamp


def _size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


def _copy_tree(src: Path, dst: Path) -> None:
    """Copy directory ``src`` to ``dst`` (replacing it) through a temporary sibling, so a reader
    never sees half a fixture."""
    tmp = dst.with_name(f"{dst.name}.{os.getpid()}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.copytree(src, tmp, symlinks=True)
    shutil.rmtree(dst, ignore_errors=True)
    tmp.rename(dst)


def _record(name: str, stamp: str) -> None:
    """Commit-to-be copy of a fixture TensorFlow built in the cache, when it is small enough."""
    if _recorded(name, stamp) or _size(CACHE / name) > RECORD_CAP:
        return
    RECORDED.mkdir(parents=True, exist_ok=True)
    _copy_tree(CACHE / name, RECORDED / name)
    (RECORDED / f"{name}.stamp").write_text(stamp)


def _install(name: str) -> None:
    """Copy a recorded fixture into the cache (a copy: tests may write into a fixture's files).

    The cache's stamp keeps the recorded stamp's time, so the suite's summary counts only
    what TensorFlow built in this run.
    """
    _copy_tree(RECORDED / name, CACHE / name)
    shutil.copy2(RECORDED / f"{name}.stamp", CACHE / f"{name}.stamp")


def build_fixture(name: str) -> Path:
    """Path of the TF-built fixture ``name``: from the cache, else from the recorded fixtures,
    else built by TensorFlow (and recorded when small).

    Under the area's file lock, every recorded fixture of the area is installed; of the rest,
    if the record is current for the area (its builder code has not changed), only ``name`` is
    built, so a fixture too big to record costs TensorFlow only when a test asks for it;
    otherwise every stale fixture of the area is rebuilt together by one ``make.py`` process
    (TensorFlow imported once).
    """
    area = _area(name)
    stamp = _builder_stamp(area)
    if _current(name, stamp) and name in _checked:
        return CACHE / name
    CACHE.mkdir(parents=True, exist_ok=True)
    with open(CACHE / f"{area.stem}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        _checked.add(name)
        if _current(name, stamp):
            _record(name, stamp)  # a warm checkout records what its cache already holds
            return CACHE / name
        names = _MODEL.findall(area.read_text())
        recorded = [n for n in names if _recorded(n, stamp)]
        for n in recorded:
            if not _current(n, stamp):
                _install(n)
        stale = [n for n in names if not _current(n, stamp)]
        if recorded and name in stale:
            stale = [name]
        errors = ""
        if name in stale:
            reason = no_tf_reason(f"fixture {name}")
            if reason is not None:
                (pytest.skip if not has_tensorflow() else pytest.fail)(reason)
            proc = subprocess.run(
                [sys.executable, str(FIXTURES / "make.py"), "--out", str(CACHE), *stale],
                env={**os.environ, **TF_ENV}, capture_output=True, text=True, check=False,
            )
            errors = proc.stderr
            failed = set(re.findall(r"^FAILED (\S+?):?(?: \(|$)", errors, re.MULTILINE))
            if proc.returncode != 0 and not failed:  # make.py itself failed
                failed = set(stale)
            for n in stale:
                if n not in failed and (CACHE / n).exists():
                    (CACHE / f"{n}.stamp").write_text(stamp)
                    _record(n, stamp)
        if not _current(name, stamp):
            raise RuntimeError(f"building fixture {name} failed:\n{errors[-4000:]}")
    return CACHE / name


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


def pytest_terminal_summary(terminalreporter, config):
    """What TensorFlow had to make in this run (CI's guard: a clean clone should only build
    fixtures; a new answer is to be committed)."""
    if hasattr(config, "workerinput"):  # an xdist worker: the controller reports
        return
    answers = [p for p in ANSWERS.rglob("*.json") if p.stat().st_mtime >= _START]
    fixtures = [p for p in CACHE.glob("*.stamp") if p.stat().st_mtime >= _START]
    commit = f" in {ANSWERS}: commit them" if answers else ""
    terminalreporter.write_line(
        f"TensorFlow built {len(fixtures)} fixture(s) and recorded {len(answers)} new "
        f"answer(s){commit}")
