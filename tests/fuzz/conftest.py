"""Fuzz-suite fixtures: the run mode (normal / slow) and the seed files."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import build_fixture, has_tensorflow

# TF-built fixtures whose files seed the fuzzers (built once per session, cached).
SEED_MODELS = ["robust_clean", "robust_file_ops", "robust_tf1"]


@pytest.fixture(params=["ci", pytest.param("slow", marks=pytest.mark.slow)])
def fuzz_mode(request) -> str:
    """"ci": a bounded, repeatable number of cases; "slow" (-m slow): many fresh ones."""
    return request.param


@pytest.fixture(scope="session")
def seed_models() -> list[Path]:
    """Directories of real TF-made SavedModels (empty without TensorFlow: generated seeds only)."""
    if not has_tensorflow():
        return []
    return [build_fixture(name) for name in SEED_MODELS]


@pytest.fixture(scope="session")
def seed_files(seed_models):
    """``seed_files("variables/variables.index")`` -> bytes of that file in every seed model."""

    def files(relative: str) -> list[bytes]:
        return [(m / relative).read_bytes() for m in seed_models if (m / relative).is_file()]

    return files


@pytest.fixture(autouse=True)
def _small_expansion_limit(monkeypatch):
    """Keep each fuzz case's tensors small: the real limit (4 GiB) is for test_bounded.py."""
    monkeypatch.setattr("savedmodel_io.tensors.MAX_EXPANDED_BYTES", 1 << 26)
