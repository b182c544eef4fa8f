"""TensorFlow's kernel cases with one attr or input made hostile, through the ONNX exporter.

The exporter must record a problem or build a model for every mutant (tests/graph/
hostile_nodes.py) within 30 s, never raise anything else: converters read attrs and constant
inputs to size what they build (one node per output, per tap, constant grids and matrices).
The default run takes one mutant of each case of an op with a mapping; the slow run three of
each, under three more seeds.
"""

from __future__ import annotations

import pytest

from graph.hostile_nodes import RUNS, failures, mutants
from graph.raw_ops_harness import oracle_results

pytest.importorskip("onnx")

from onnx_export.test_ops_tf import _SETS, _export  # noqa: E402


def _run(m) -> None:
    _export(m, m.node_def, m.outs)


@pytest.mark.parametrize("name", sorted(_SETS))
@pytest.mark.parametrize("seed,per_case", RUNS)
def test_hostile_nodes_are_refused_or_exported(name, seed, per_case):
    cases = _SETS[name]
    bad = failures(_run, mutants(cases, oracle_results(cases), seed, per_case))
    assert not bad, "\n".join(bad)
