"""TensorFlow's kernel cases with one attr or input made hostile, through the runtime.

Every mutant (tests/graph/hostile_nodes.py: a count of 2**40, a zero stride, an infinite
frequency, a dropped or mistyped attr, a reshaped, emptied or huge-valued input) must give a
result or a library error within 30 s, never a foreign exception. The default run takes one
mutant of each case; the slow run three of each, under three more seeds.
"""

from __future__ import annotations

import pytest

from graph.case_sets import SETS
from graph.hostile_nodes import RUNS, failures, mutants
from graph.raw_ops_harness import oracle_results, run_ours


def _run(m) -> None:
    run_ours(m, m.node_def, len(m.outs))


@pytest.mark.parametrize("name", sorted(SETS))
@pytest.mark.parametrize("seed,per_case", RUNS)
def test_hostile_nodes_fail_cleanly(name, seed, per_case):
    cases = SETS[name]
    bad = failures(_run, mutants(cases, oracle_results(cases), seed, per_case))
    assert not bad, "\n".join(bad)
