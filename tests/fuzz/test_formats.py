"""Fuzz the checkpoint formats (LevelDB table, TensorBundle incl. string tensors) and .cpb/Riegeli."""

from __future__ import annotations

import pytest

from . import seeds
from .harness import fuzz
from .targets import TARGETS, available, pack_bundle

SHARED_BUNDLE = "chunked_saved_model/non_chunked_model/variables/variables"


def _need(name: str) -> None:
    why = available(name)
    if why:
        pytest.skip(why)


@pytest.fixture(scope="module")
def bundle_seeds(seed_models, tmp_path_factory, request) -> list[tuple[bytes, bytes]]:
    _need("bundle")
    out = seeds.bundles(tmp_path_factory.mktemp("bundles"))
    dirs = [m / "variables" for m in seed_models]
    from conftest import CPB_DATA

    dirs.append((CPB_DATA / SHARED_BUNDLE).parent)
    for d in dirs:
        index, data = d / "variables.index", d / "variables.data-00000-of-00001"
        if index.is_file() and data.is_file():
            out.append((index.read_bytes(), data.read_bytes()))
    return out


def test_fuzz_sstable(fuzz_mode, bundle_seeds):
    _need("sstable")
    fuzz("sstable", TARGETS["sstable"], [i for i, _ in bundle_seeds], fuzz_mode)


def test_fuzz_bundle(fuzz_mode, bundle_seeds):
    fuzz("bundle", TARGETS["bundle"], [pack_bundle(i, d) for i, d in bundle_seeds], fuzz_mode)


def _cpb_files(cpb_data, limit: int = 8192) -> list[bytes]:
    files = sorted(cpb_data.rglob("*.cpb"))
    return [p.read_bytes() for p in files if p.stat().st_size <= limit]


def test_fuzz_riegeli(fuzz_mode, cpb_data, tmp_path):
    _need("riegeli")
    corpus = seeds.riegeli_files(tmp_path) + _cpb_files(cpb_data)
    fuzz("riegeli", TARGETS["riegeli"], corpus, fuzz_mode)


def test_fuzz_cpb(fuzz_mode, cpb_data):
    _need("cpb")
    fuzz("cpb", TARGETS["cpb"], _cpb_files(cpb_data), fuzz_mode)
