"""Kernel test cases turned hostile: one attr or one input of TensorFlow's recorded NodeDef changed.

A graph is data: a damaged or malicious SavedModel can give any node any attr value (a count of
2**40, a zero stride, an infinite frequency, a dropped attr, the wrong type) and any input shape
or size. The runtime and the ONNX exporter must answer every such node with a library error (or
a result), never a foreign exception, a hang or an unbounded allocation: tests/graph/
test_hostile_nodes.py runs the mutations through the runtime, tests/onnx_export/
test_hostile_export.py through the exporter.
"""

from __future__ import annotations

import base64
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest
from _deadline import deadline

from savedmodel_io.proto import NodeDef

# Big enough to trip every size limit (MAX_RESULT_BYTES, MAX_OUTPUTS), not so big that a
# kernel missing a limit allocates gigabytes before failing: a 2**40-element result fails to
# allocate at once, where 2**30 would succeed and fill memory.
HUGE = 1 << 40
SECONDS = 30  # one mutated node may take this long, at most
# (seed, mutants per case): one of each case by default, three seeds of three when slow.
RUNS = [(0, 1), *(pytest.param(seed, 3, marks=pytest.mark.slow) for seed in (1, 2, 3))]


@dataclass
class Mutant:
    """A case with one change: the NodeDef to run and its inputs, and what was changed."""

    id: str
    op: str
    node_def: bytes
    inputs: list[np.ndarray]
    change: str
    outs: list[np.ndarray]  # TensorFlow's outputs for the unchanged case (their count and types)
    only: Any = None

    def flat_inputs(self) -> list[np.ndarray]:
        return self.inputs


def _attr(rng: random.Random, nd: NodeDef) -> str:
    keys = sorted(k for k in nd.attr if not k.startswith("_"))
    if not keys:
        return "no attrs"
    k = rng.choice(keys)
    a = nd.attr[k]
    kind = a.WhichOneof("value")
    if rng.random() < 0.25:
        del nd.attr[k]
        return f"{k} dropped"
    if kind == "i":
        a.i = rng.choice([0, -1, -7, 3, HUGE])
        return f"{k}={a.i}"
    if kind == "f":
        a.f = rng.choice([float("nan"), float("inf"), -1.0, 0.0])
        return f"{k}={a.f}"
    if kind == "list" and a.list.i:
        v = rng.choice([[], [0, 0, 0, 0], [1, -1, 1, 1], [HUGE] * 4, [1, 2]])
        del a.list.i[:]
        a.list.i.extend(v)
        return f"{k}={v}"
    if kind == "list" and a.list.s:
        del a.list.s[:]
        a.list.s.append(b"bogus")
        return f"{k}=[b'bogus']"
    if kind == "s":
        a.s = rng.choice([b"", b"bogus", b"\xff"])
        return f"{k}={a.s!r}"
    if kind == "b":
        a.b = not a.b
        return f"{k} flipped"
    if kind == "type":
        a.type = rng.choice([1, 2, 3, 7, 9, 10, 19])
        return f"{k}=type {a.type}"
    a.Clear()
    a.s = b"x"
    return f"{k} replaced by a string"


def _input(rng: random.Random, flat: list[np.ndarray]) -> str:
    if not flat:
        return "no inputs"
    i = rng.randrange(len(flat))
    a = flat[i]
    r = rng.random()
    if a.dtype.kind in "iu" and r < 0.5:
        info = np.iinfo(a.dtype)
        v = int(np.clip(rng.choice([-1, 0, HUGE, -HUGE]), info.min, info.max))
        flat[i] = np.full(a.shape, v, a.dtype)
        return f"input {i} all {v}"
    if r < 0.75:
        flat[i] = a.reshape(-1) if a.ndim != 1 else a.reshape(1, -1, 1) if a.size else a.reshape(0, 1)
        return f"input {i} reshaped to {flat[i].shape}"
    flat[i] = np.zeros((0,) + a.shape[1:], a.dtype) if a.ndim else a
    return f"input {i} emptied"


def mutants(cases: list, answers: dict[str, dict], seed: int, per_case: int,
            keep: Callable[[Any, list[np.ndarray]], bool] = lambda case, outs: True) -> Iterator[Mutant]:
    """``per_case`` mutants of each case TF answered, half changing an attr, half an input."""
    from _oracles.codec import decode

    rng = random.Random(seed)
    for case in cases:
        answer = answers[case.id]
        if "error" in answer or "node_def" not in answer:
            continue
        outs = [decode(o) for o in answer["outputs"]]
        if not keep(case, outs):
            continue
        for _ in range(per_case):
            nd = NodeDef.FromString(base64.b64decode(answer["node_def"]))
            flat = [np.asarray(a) for a in case.flat_inputs()]
            change = _attr(rng, nd) if rng.random() < 0.5 else _input(rng, flat)
            yield Mutant(case.id, case.op, nd.SerializeToString(), flat, change, outs, case.only)


class TookTooLong(Exception):
    """A mutant ran past SECONDS."""


def failures(run: Callable[[Mutant], Any], items: Iterator[Mutant]) -> list[str]:
    """Each mutant that raised something other than a library error, or ran too long: one line each."""
    from savedmodel_io.errors import SavedModelError

    bad = []
    for m in items:
        try:
            with deadline(SECONDS, TookTooLong):
                run(m)
        except SavedModelError:
            pass
        except TookTooLong:
            bad.append(f"{m.id} ({m.change}): took over {SECONDS} s")
        except Exception as exc:  # noqa: BLE001 - what the test looks for
            bad.append(f"{m.id} ({m.change}): {type(exc).__name__}: {str(exc)[:160]}")
    return bad
