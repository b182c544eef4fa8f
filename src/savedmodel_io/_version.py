"""The package version, from one place: the installed distribution's metadata.

A checkout run from ``src/`` without installing has no metadata; then FALLBACK (kept equal
to pyproject.toml's ``version``, which tests/test_cli_flags.py checks) is used.
"""

from __future__ import annotations

FALLBACK = "0.1.0"
DISTRIBUTION = "savedmodel-io"


def version() -> str:
    """The installed distribution's version, else FALLBACK."""
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as installed

    try:
        return installed(DISTRIBUTION)
    except PackageNotFoundError:
        return FALLBACK
