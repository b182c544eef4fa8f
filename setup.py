"""Build hook: compile the optional C accelerators when a compiler is available.

The package is complete without them (pure-Python fallbacks exist for every
hash); a failed compile only prints a warning and installation goes on.
"""

import os
import sys

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

_SOURCES = {
    "savedmodel_io.hashing._highwayhash": ["src/savedmodel_io/hashing/_highwayhash.c"],
    "savedmodel_io.hashing._farmhash": ["src/savedmodel_io/hashing/_farmhash.c"],
    "savedmodel_io.hashing._crc32c": ["src/savedmodel_io/hashing/_crc32c.c"],
    "savedmodel_io.proto._deterministic": ["src/savedmodel_io/proto/_deterministic.c"],
    "savedmodel_io.formats._census": ["src/savedmodel_io/formats/_census.c"],
    "savedmodel_io.graph.ops._nnaccel": ["src/savedmodel_io/graph/ops/_nnaccel.c"],
}


class OptionalBuildExt(build_ext):
    """build_ext that never fails the install: extensions are accelerators only."""

    def run(self):
        try:
            super().run()
        except Exception as exc:  # no compiler at all
            self._warn(f"C accelerators not built ({exc}); pure-Python fallbacks will be used")

    def build_extension(self, ext):
        try:
            super().build_extension(ext)
        except Exception as exc:
            self._warn(f"{ext.name} not built ({exc}); pure-Python fallback will be used")

    @staticmethod
    def _warn(text):
        sys.stderr.write(f"WARNING: savedmodel-io: {text}\n")


ext_modules = []
if os.environ.get("SAVEDMODEL_IO_NO_EXTENSIONS") != "1":
    for name, sources in _SOURCES.items():
        if all(os.path.exists(s) for s in sources):
            ext_modules.append(
                Extension(name, sources=sources, extra_compile_args=["-O3"], optional=True)
            )

setup(ext_modules=ext_modules, cmdclass={"build_ext": OptionalBuildExt})
