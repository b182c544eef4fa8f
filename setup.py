"""Build hook: compile the optional C accelerators (SOURCES) when a C compiler is available.

``_highwayhash`` (HighwayHash-64 of ``saved_model.cpb`` chunks; no maintained package exists),
``_deterministic`` (map re-sorting for fingerprints, 10-100x the Python pass) and ``_census``
(counting a ``saved_model.pb``'s repeated parts before parsing). The package is complete
without them: pure-Python fallbacks give the same results, slowly, and
``savedmodel-io --version`` shows which backend is in use. So that a wheel says what it holds:

* the wheel is tagged for this platform (``cp311-cp311-linux_x86_64``) only when it carries a
  compiled module; otherwise it is ``py3-none-any``;
* every build compiles afresh, after deleting compiled modules an earlier build left in the
  output tree (``build/lib*`` or, in place, ``src/``), so nothing stale is reused or shipped;
* a failed compile prints a warning and the build goes on (pip shows it with ``-v``);
  ``SAVEDMODEL_IO_REQUIRE_EXTENSIONS=1`` makes it an error (release builds of binary wheels);
* ``SAVEDMODEL_IO_NO_EXTENSIONS=1`` compiles nothing (the pure wheel).
"""

import os
import shutil
import sys
from importlib.machinery import EXTENSION_SUFFIXES
from pathlib import Path

from setuptools import Extension, setup
from setuptools.command.bdist_wheel import bdist_wheel
from setuptools.command.build_ext import build_ext
from setuptools.command.build_py import build_py

PACKAGE = "savedmodel_io"
SOURCES = {
    "savedmodel_io.hashing._highwayhash": ["src/savedmodel_io/hashing/_highwayhash.c"],
    "savedmodel_io.proto._deterministic": ["src/savedmodel_io/proto/_deterministic.c"],
    "savedmodel_io.formats._census": ["src/savedmodel_io/formats/_census.c"],
    "savedmodel_io.graph.ops._nnaccel": ["src/savedmodel_io/graph/ops/_nnaccel.c"],
}
REQUIRE = os.environ.get("SAVEDMODEL_IO_REQUIRE_EXTENSIONS") == "1"
SKIP = os.environ.get("SAVEDMODEL_IO_NO_EXTENSIONS") == "1"


def _warn(text: str) -> None:
    sys.stderr.write(f"WARNING: savedmodel-io: {text}\n")


def _remove_compiled(package_dir: Path) -> None:
    """Delete every compiled module under ``package_dir`` (left by an earlier build)."""
    if not package_dir.is_dir():
        return
    for path in package_dir.rglob("*"):
        if path.is_file() and any(path.name.endswith(s) for s in EXTENSION_SUFFIXES):
            path.unlink()


class CleanBuildPy(build_py):
    """build_py that starts from an empty package in ``build/lib*`` (no stale modules)."""

    def run(self) -> None:
        shutil.rmtree(Path(self.build_lib) / PACKAGE, ignore_errors=True)
        super().run()


class OptionalBuildExt(build_ext):
    """build_ext that rebuilds every accelerator from source and never fails the install."""

    def run(self) -> None:
        self.force = True
        _remove_compiled(Path(self.build_lib) / PACKAGE)
        if self.inplace:  # also `pip install -e`, which builds in place
            _remove_compiled(Path(self.get_finalized_command("build_py").get_package_dir(PACKAGE)))
        if SKIP:
            return
        try:
            super().run()
        except Exception as exc:  # no compiler at all (DistutilsPlatformError and kin)
            self._failed(f"no C accelerator was built ({exc})")

    def build_extension(self, ext: Extension) -> None:
        try:
            super().build_extension(ext)
        except Exception as exc:  # CompileError, LinkError, ...
            self._failed(f"{ext.name} was not built ({exc})")

    @staticmethod
    def _failed(text: str) -> None:
        if REQUIRE:
            raise SystemExit(f"savedmodel-io: {text}; SAVEDMODEL_IO_REQUIRE_EXTENSIONS=1 is set")
        _warn(f"{text}; the pure-Python fallback will be used (same results, much slower). "
              "`savedmodel-io --version` shows the backends in use.")


class TaggedBdistWheel(bdist_wheel):
    """A wheel is platform-specific exactly when it carries a compiled module."""

    def get_tag(self) -> tuple[str, str, str]:
        built = self.get_finalized_command("build_ext").get_outputs()
        self.root_is_pure = not any(os.path.exists(p) for p in built)
        return super().get_tag()


setup(
    ext_modules=[
        Extension(name, sources=sources, extra_compile_args=["-O3"])
        for name, sources in SOURCES.items()
    ],
    cmdclass={"build_py": CleanBuildPy, "build_ext": OptionalBuildExt,
              "bdist_wheel": TaggedBdistWheel},
)
