"""TensorFlow's recorded answers for a fixture (``reference.npz``) and the one comparison rule.

Fixture builders (tests/fixtures/models_*.py) store ``in/<sig>/<case>/<key>`` and
``out/<sig>/<case>/<key>`` arrays (the oldest, models_runtime.py, has no ``<case>`` part:
one case per signature, read as case 0). String arrays come back as objects; builders that
end each stored string with a closing byte (``closing=True``, see models_sparse._stored) keep
trailing NULs, which numpy's fixed-width bytes would drop.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np

Case = tuple[dict[str, np.ndarray], dict[str, np.ndarray]]
Cases = dict[str, dict[int, Case]]


def load_cases(path: Path, *, closing: bool = False) -> Cases:
    """{signature: {case: (inputs, outputs)}} from ``path/reference.npz``."""
    data = np.load(path / "reference.npz")
    out: Cases = {}
    for name in data.files:
        parts = name.split("/")
        kind, sig, key = parts[0], parts[1], parts[-1]
        case = int(parts[2]) if len(parts) == 4 else 0
        arr = data[name]
        if arr.dtype.kind == "S":
            items = arr.reshape(-1).tolist()
            if closing:
                items = [x[:-1] for x in items]
            arr = np.array(items, dtype=object).reshape(arr.shape)
        pair = out.setdefault(sig, {}).setdefault(case, ({}, {}))
        pair[0 if kind == "in" else 1][key] = arr
    return out


def assert_same(got: object, want: np.ndarray, what: str, *, rtol: float = 1e-4,
                atol: float = 1e-5) -> None:
    """Same shape and dtype; floats and complex close, everything else equal."""
    got = np.asarray(got)
    assert got.shape == want.shape, (what, got.shape, want.shape)
    assert got.dtype == want.dtype, (what, got.dtype, want.dtype)
    if want.dtype.kind in "fc":
        np.testing.assert_allclose(got, want, rtol=rtol, atol=atol, err_msg=what)
    else:
        np.testing.assert_array_equal(got, want, err_msg=what)


def assert_outputs(got: Mapping[str, object], want: dict[str, np.ndarray], what: str, *,
                   rtol: float = 1e-4, atol: float = 1e-5) -> None:
    """The same output keys, each output as ``assert_same`` says."""
    assert sorted(got) == sorted(want), (what, sorted(got), sorted(want))
    for k in want:
        assert_same(got[k], want[k], f"{what} {k}", rtol=rtol, atol=atol)


def check_cases(fn: Callable[..., Mapping[str, object]], cases: dict[int, Case], what: str, *,
                rtol: float = 1e-4, atol: float = 1e-5) -> None:
    """Call ``fn`` on every recorded case's inputs and compare with TensorFlow's outputs."""
    for i in sorted(cases):
        inputs, want = cases[i]
        assert_outputs(fn(**inputs), want, f"{what} case {i}", rtol=rtol, atol=atol)
