"""Render DOT text to SVG or PNG with Graphviz's ``dot`` program (a subprocess, no shell)."""

from __future__ import annotations

import os
import shutil
import subprocess

from savedmodel_io.errors import InvalidArgumentError, MissingDependencyError, RuntimeFailure

__all__ = ["FORMATS", "dot_binary", "render"]

FORMATS = ("dot", "svg", "png")


def dot_binary() -> str | None:
    """Path of Graphviz's ``dot`` (``$SAVEDMODEL_IO_DOT`` overrides), or None."""
    override = os.environ.get("SAVEDMODEL_IO_DOT")
    if override:
        return override if os.path.isfile(override) and os.access(override, os.X_OK) else None
    return shutil.which("dot")


def render(dot_text: str, fmt: str, *, timeout: float | None = 600.0) -> bytes:
    """Render DOT text to ``svg`` or ``png`` bytes with Graphviz's ``dot`` program."""
    if fmt == "dot":
        return dot_text.encode("utf-8")
    if fmt not in FORMATS:
        raise InvalidArgumentError(f"unknown picture format {fmt!r} (choose from {', '.join(FORMATS)})")
    exe = dot_binary()
    if exe is None:
        raise MissingDependencyError(
            f"{fmt.upper()} output needs Graphviz's 'dot' program, which is not installed "
            "(Debian/Ubuntu: apt-get install graphviz; macOS: brew install graphviz; "
            "conda: conda install graphviz); --format dot needs nothing"
        )
    try:
        proc = subprocess.run(
            [exe, f"-T{fmt}"], input=dot_text.encode("utf-8"), capture_output=True, timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise RuntimeFailure(
            f"Graphviz took more than {timeout:g} s; try collapsing name scopes (--collapse) "
            "or --format dot"
        ) from None
    except OSError as exc:
        raise RuntimeFailure(f"could not run Graphviz ({exe}): {exc}") from None
    if proc.returncode != 0:
        err = proc.stderr.decode("utf-8", "replace").strip().splitlines()
        raise RuntimeFailure(f"Graphviz failed: {err[-1] if err else f'exit status {proc.returncode}'}")
    return proc.stdout
