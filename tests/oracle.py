"""Moved to tests/_oracles: ``run_cached`` stays until every branch has merged that move."""

from __future__ import annotations

from _oracles import Oracle

_MOVED = {"oracles_signatures.py": "signatures", "oracles_smcli.py": "smcli"}


def run_cached(script: str, requests: list[dict]) -> list[dict]:
    """``Oracle(name).answers(requests)`` for the oracle script's old name."""
    return Oracle(_MOVED[script]).answers(requests)
