"""The wheel says what it holds: a platform tag exactly when it carries compiled accelerators.

Each test builds a wheel with ``pip wheel --no-deps --no-build-isolation`` from a copy of the
checkout (so no ``build/`` lands in it): with a compiler; without one (``CC=false``: a
warning, a pure wheel, and compiled modules an earlier build left in ``build/lib*`` are not
shipped); with ``SAVEDMODEL_IO_NO_EXTENSIONS=1``; and with ``SAVEDMODEL_IO_REQUIRE_EXTENSIONS=1``,
which turns a failed compile into an error. About 4 s per build (one compiles, ~8 s).
"""

from __future__ import annotations

import ast
import importlib.util
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from importlib.machinery import EXTENSION_SUFFIXES
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _accelerators() -> list[str]:
    """setup.py's SOURCES (the compiled modules), as paths inside the wheel."""
    tree = ast.parse((ROOT / "setup.py").read_text())
    (value,) = [n.value for n in tree.body if isinstance(n, ast.Assign)
                and any(getattr(t, "id", "") == "SOURCES" for t in n.targets)]
    return sorted(name.replace(".", "/") for name in ast.literal_eval(value))


COMPILED = _accelerators()

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("setuptools.command.bdist_wheel") is None,
    reason="setuptools >= 70.1 is needed to build without isolation (test extra)",
)


@pytest.fixture
def checkout(tmp_path) -> Path:
    """A copy of what a wheel is built from, without compiled files or caches."""
    dst = tmp_path / "src-tree"
    dst.mkdir()
    for name in ("setup.py", "pyproject.toml", "README.md", "LICENSE"):
        shutil.copy2(ROOT / name, dst / name)
    shutil.copytree(ROOT / "src", dst / "src", ignore=shutil.ignore_patterns(
        "__pycache__", *(f"*{s}" for s in EXTENSION_SUFFIXES)))
    return dst


def build(tree: Path, **env: str) -> tuple[Path, str]:
    """Build a wheel of ``tree`` (pip -v, so the build's own warnings show); its path and log."""
    out = tree.parent / "dist"
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-v", "--no-deps", "--no-build-isolation",
         "--no-index", "-w", str(out), str(tree)],
        capture_output=True, text=True, env={**os.environ, **env}, check=False,
    )
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-4000:]
    (wheel,) = out.glob("*.whl")
    return wheel, log


def contents(wheel: Path) -> tuple[str, str, list[str]]:
    """(the WHEEL file's Tag, its Root-Is-Purelib, the compiled modules in the archive)."""
    with zipfile.ZipFile(wheel) as zf:
        meta = next(n for n in zf.namelist() if n.endswith(".dist-info/WHEEL"))
        fields = dict(line.split(": ", 1) for line in zf.read(meta).decode().splitlines() if line)
        compiled = sorted(n for n in zf.namelist() if n.endswith(tuple(EXTENSION_SUFFIXES)))
    return fields["Tag"], fields["Root-Is-Purelib"], compiled


def assert_pure(wheel: Path) -> None:
    tag, purelib, compiled = contents(wheel)
    assert wheel.name.endswith("-py3-none-any.whl"), wheel.name
    assert (tag, purelib, compiled) == ("py3-none-any", "true", [])


def test_with_a_compiler_the_wheel_is_platform_specific(checkout):
    cc = sysconfig.get_config_var("CC") or "cc"
    if shutil.which(cc.split()[0]) is None:
        pytest.skip(f"no C compiler ({cc})")
    wheel, log = build(checkout)
    tag, purelib, compiled = contents(wheel)
    assert "WARNING: savedmodel-io" not in log
    assert [c.split(".")[0] for c in compiled] == COMPILED
    impl = f"cp{sys.version_info.major}{sys.version_info.minor}"
    assert tag.startswith(f"{impl}-{impl}-") and not tag.endswith("-any"), tag
    assert purelib == "false"
    assert wheel.name.endswith(f"-{tag}.whl")


def test_a_failed_compile_warns_and_gives_a_pure_wheel_without_stale_modules(checkout):
    """Compiled files from an earlier build (even of a module that no longer exists) stay out."""
    suffix = EXTENSION_SUFFIXES[0]
    lib = checkout / "build" / f"lib.{sysconfig.get_platform()}-{sys.implementation.cache_tag}"
    stale = [lib / f"savedmodel_io/hashing/_farmhash{suffix}", lib / f"{COMPILED[0]}{suffix}",
             checkout / f"src/savedmodel_io/hashing/_crc32c{suffix}"]
    for path in stale:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"stale")
    wheel, log = build(checkout, CC="false")
    assert_pure(wheel)
    for module in COMPILED:
        name = module.replace("/", ".")
        assert f"WARNING: savedmodel-io: {name} was not built" in log
    assert "savedmodel-io --version" in log
    assert not any(p.exists() for p in stale[:2])  # the build tree starts clean


def test_no_extensions_gives_a_pure_wheel(checkout):
    wheel, log = build(checkout, SAVEDMODEL_IO_NO_EXTENSIONS="1")
    assert_pure(wheel)
    assert "WARNING: savedmodel-io" not in log


def test_require_extensions_makes_a_failed_compile_an_error(checkout):
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index",
         "-w", str(checkout.parent / "dist"), str(checkout)],
        capture_output=True, text=True, check=False,
        env={**os.environ, "CC": "false", "SAVEDMODEL_IO_REQUIRE_EXTENSIONS": "1"},
    )
    assert proc.returncode != 0
    assert "SAVEDMODEL_IO_REQUIRE_EXTENSIONS=1" in proc.stdout + proc.stderr
    assert not list((checkout.parent / "dist").glob("*.whl"))
