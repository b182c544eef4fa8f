"""Fuzz `run`'s input parsing: --input_exprs, --input_examples and --inputs files (.npy/.npz)."""

from __future__ import annotations

import pytest

from . import seeds
from .harness import fuzz
from .targets import TARGETS, available


def _need(name: str) -> None:
    why = available(name)
    if why:
        pytest.skip(why)


@pytest.mark.parametrize("name", ["cli_input_exprs", "cli_input_examples"])
def test_fuzz_expressions(name, fuzz_mode):
    _need(name)
    fuzz(name, TARGETS[name], [s.encode() for s in seeds.cli_input_strings()], fuzz_mode)


def test_fuzz_input_files(fuzz_mode, tmp_path):
    _need("cli_inputs_file")
    fuzz("cli_inputs_file", TARGETS["cli_inputs_file"], seeds.npy_files(tmp_path), fuzz_mode)
