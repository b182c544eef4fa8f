"""Differential kernel tests against ``tf.raw_ops``: cases, the cached TF oracle, comparison.

A test module collects :class:`Case` objects in a :class:`Cases` list and exposes
``test_kernel_matches_tensorflow = cases.test()``. TensorFlow (``tests/_oracles/raw_ops.py``)
answers each case once: its NodeDef with every attr and default filled in, and its eager
outputs or error. Answers are recorded per case (``_oracles.Oracle``) keyed by the case, the
oracle's code and TF's version, so adding a case runs TF only for the new one, and all
unrecorded cases of a module run in one TF subprocess. We run a graph of Const inputs feeding
TF's NodeDef through our runtime and require the same dtype, shape and values (float
rtol 1e-5 / atol 1e-6 unless the case says otherwise; ints, bools, strings exact), or an
error naming the node where TF raises one.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest
from _oracles import Oracle
from _oracles.codec import decode, encode

from savedmodel_io import tensors
from savedmodel_io.errors import SavedModelError
from savedmodel_io.graph import runtime
from savedmodel_io.proto import MetaGraphDef, NodeDef

ORACLE = Oracle("raw_ops", paths=())
# TF errors that are CPU-kernel limitations, not semantics: we support more (NCHW convolution
# and pooling, unequal depthwise strides, dilated depthwise/backprop convolutions, grouped
# generic Conv), and a
# dtype TF registers no CPU kernel for cannot occur in a model TF runs.
CPU_LIMITS = ("only supports the NHWC", "only supports NHWC", "supports equal length strides",
              "does not support dilations", "do not yet support dilation",
              "Could not find device for node",
              "Grouped/Depthwise Convolutions are not supported yet")

def DT(name: str) -> dict:
    """A type attr value (``tf.as_dtype(name)`` in the oracle)."""
    return {"dtype": name}


def i32(*values: Any) -> np.ndarray:
    return np.array(values, np.int32)


# numpy dtype of each TensorFlow quantized dtype (the runtime holds them as these).
_QUANTIZED = {"qint8": np.int8, "quint8": np.uint8, "qint16": np.int16, "quint16": np.uint16,
              "qint32": np.int32}


def quantized(name: str, values: Any) -> np.ndarray:
    """An input TensorFlow gets as quantized dtype ``name`` ("qint8"...): its dtype's metadata says so."""
    return np.asarray(values).astype(np.dtype(_QUANTIZED[name], metadata={"tf": name}))


def s(*values: str) -> np.ndarray:
    """A string tensor."""
    arr = np.empty(len(values), dtype=object)
    arr[:] = [v.encode() for v in values]
    return arr


@dataclass
class Case:
    """One op on fixed inputs: ``inputs`` are (arg name, array or list of arrays) in order."""

    id: str
    op: str
    inputs: list[tuple[str, Any]]
    attrs: dict[str, Any] = field(default_factory=dict)
    only: tuple[int, ...] | None = None  # compare just these outputs
    rtol: float | None = None  # float tolerance (default: 1e-5, float16 1e-3)
    spec_only: bool = False  # compare dtype and shape only (random ops: numbers differ by design)

    def request(self) -> dict:
        """JSON request for the oracle."""
        ins = [[k, [encode(a) for a in v] if isinstance(v, list) else encode(v)]
               for k, v in self.inputs]
        return {"op": self.op, "inputs": ins, "attrs": self.attrs}

    def flat_inputs(self) -> list[np.ndarray]:
        """Input arrays in NodeDef input order."""
        out: list[np.ndarray] = []
        for _, v in self.inputs:
            out.extend(np.asarray(a) for a in (v if isinstance(v, list) else [v]))
        return out


class Cases(list[Case]):
    """The cases of one test module, with the module's own seeded random generator.

    Each module has its own generator so that its inputs (and so the oracle's cache keys)
    do not depend on which other test modules were imported first.
    """

    def __init__(self, seed: int = 1234, oracle: Oracle | None = None) -> None:
        super().__init__()
        self.rs = np.random.RandomState(seed)
        self.oracle_of = oracle or ORACLE  # another oracle speaking raw_ops' requests

    def f32(self, *shape: int) -> np.ndarray:
        """Standard-normal float32 array."""
        return self.rs.standard_normal(shape).astype(np.float32)

    def add(self, op: str, tag: str, attrs: dict | None = None, only: tuple[int, ...] | None = None,
            rtol: float | None = None, spec_only: bool = False, **inputs: Any) -> None:
        """Register a case; ``inputs`` keyword order is the op's input order."""
        self.append(Case(f"{op}-{tag}", op, list(inputs.items()), attrs or {}, only, rtol, spec_only))

    def oracle(self) -> dict[str, dict]:
        """TF's answer for every case (see :func:`oracle_results`)."""
        return oracle_results(self, self.oracle_of)

    def test(self) -> Callable[..., None]:
        """A parametrized pytest function comparing every case with TensorFlow."""
        ids = [c.id for c in self]
        assert len(set(ids)) == len(ids), "case ids must be unique"
        answers: dict[str, dict] = {}

        @pytest.mark.tf
        @pytest.mark.parametrize("case", list(self), ids=ids)
        def test_kernel_matches_tensorflow(case: Case) -> None:
            if not answers:
                answers.update(self.oracle())
            check_case(case, answers[case.id])

        return test_kernel_matches_tensorflow


def oracle_results(cases: list[Case], oracle: Oracle | None = None) -> dict[str, dict]:
    """TF's answer for every case: recorded ones, the rest from one TF subprocess."""
    answers = (oracle or ORACLE).answers([c.request() for c in cases])
    return {c.id: a for c, a in zip(cases, answers)}


def _const(name: str, value: np.ndarray) -> NodeDef:
    """A Const node holding ``value``."""
    proto = tensors.from_array(value)
    n = NodeDef(name=name, op="Const")
    n.attr["value"].tensor.CopyFrom(proto)
    n.attr["dtype"].type = proto.dtype
    return n


def run_ours(case: Case, node_def: bytes, n_out: int) -> list[np.ndarray]:
    """Our runtime's outputs for ``case``: Const inputs in0.. feeding TF's NodeDef ``op``."""
    op = NodeDef.FromString(node_def)
    for k in [k for k in op.attr if k.startswith("_")]:
        del op.attr[k]
    mg = MetaGraphDef()
    mg.graph_def.node.extend([_const(f"in{i}", a) for i, a in enumerate(case.flat_inputs())])
    mg.graph_def.node.append(op)
    sd = mg.signature_def["s"]
    for i in range(n_out):
        sd.outputs[f"o{i}"].name = f"op:{i}"
    got = runtime.run_signature(mg, "s", {})
    return [got[f"o{i}"] for i in range(n_out)]


def assert_same(got: Any, want: np.ndarray, what: str, rtol: float | None = None) -> None:
    """Same dtype and shape; floats within tolerance (NaNs alike, signed zeros), others exact."""
    got = np.asarray(got)
    assert got.dtype == want.dtype, (what, got.dtype, want.dtype)
    assert got.shape == want.shape, (what, got.shape, want.shape)
    if want.dtype.kind in "fc":
        tol = rtol if rtol is not None else (1e-3 if want.dtype == np.float16 else 1e-5)
        np.testing.assert_allclose(got, want, rtol=tol, atol=tol / 10, err_msg=what)
        if want.dtype.kind == "f":
            zeros = (got == 0) & (want == 0)
            np.testing.assert_array_equal(np.signbit(got[zeros]), np.signbit(want[zeros]),
                                          err_msg=f"{what}: sign of zero")
    else:
        np.testing.assert_array_equal(got, want, err_msg=what)


def check_case(case: Case, want: dict) -> None:
    """Assert that our runtime agrees with TF's answer ``want`` for ``case``."""
    assert "node_def" in want, f"the case itself is wrong: {want.get('node_def_error')}"
    node_def = base64.b64decode(want["node_def"])
    if "error" in want:
        if any(m in want["error"] for m in CPU_LIMITS):
            pytest.skip(f"TF CPU kernel limitation: {want['error'][:120]}")
        with pytest.raises(SavedModelError) as info:
            run_ours(case, node_def, 1)
        assert "'op'" in str(info.value), str(info.value)
        return
    outs = [decode(o) for o in want["outputs"]]
    got = run_ours(case, node_def, len(outs))
    for i in case.only if case.only is not None else range(len(outs)):
        if case.spec_only:
            got_i = np.asarray(got[i])
            assert (got_i.dtype, got_i.shape) == (outs[i].dtype, outs[i].shape), (case.id, i)
        else:
            assert_same(got[i], outs[i], f"{case.id} output {i}", case.rtol)


def report(cases: list[Case]) -> None:
    """Print every disagreement with TF in detail (a debugging aid for ``python -m``)."""
    res = cases.oracle() if isinstance(cases, Cases) else oracle_results(cases)
    for c in cases:
        try:
            check_case(c, res[c.id])
        except pytest.skip.Exception:
            continue
        except (AssertionError, pytest.fail.Exception) as e:
            print(f"{c.id}: {str(e)[:400]}")
        except Exception as e:  # noqa: BLE001 (a debugging aid reports everything)
            print(f"{c.id}: {type(e).__name__}: {str(e)[:300]}")
