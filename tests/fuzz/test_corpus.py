"""Replay every saved regression input in tests/fuzz/corpus/<target>/ through its target."""

from __future__ import annotations

import pytest

from .harness import CORPUS, check, corpus_files
from .targets import TARGETS, available

CASES = [
    pytest.param(d.name, p, id=f"{d.name}/{p.name}")
    for d in sorted(CORPUS.iterdir()) if d.is_dir()
    for p in corpus_files(d.name)
]


def test_corpus_directories_name_targets():
    unknown = [d.name for d in CORPUS.iterdir() if d.is_dir() and d.name not in TARGETS]
    assert not unknown, f"corpus directories without a target: {unknown}"


@pytest.mark.parametrize("name,path", CASES)
def test_corpus_case(name, path):
    why = available(name)
    if why:
        pytest.skip(why)
    check(name, TARGETS[name], path.read_bytes())
