"""An ONNX Loop whose body is built by a Python callable (shared by the CTC, isotonic and n-gram converters)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from savedmodel_io.onnx._graph import Graph, Val
from savedmodel_io.onnx._types import tensor_type
from savedmodel_io.onnx.ops._subgraph import body_graph

__all__ = ["loop"]

Body = Callable[[Graph, Val, list[Val]], tuple[Val | None, list[Val], list[Val]]]


def loop(g: Graph, name: str, trips: Val | None, cond: Val | None, carried: Sequence[Val], build: Body,
         scans: Sequence[tuple[np.dtype, int]] = ()) -> tuple[list[Val], list[Val]]:
    """``Loop(trips, cond, *carried)``: ``build(body, i, values)`` gives (the condition to go on, None for
    always; the next carried values; this iteration's scan outputs). ``scans`` are the (dtype, rank) of each
    scan output per iteration. Returns (final carried values, stacked scan outputs). Carried values keep
    their rank; their dims are left unknown (they may change between iterations)."""
    it, go = g.model.fresh(f"{g.hint}/{name}_i"), g.model.fresh(f"{g.hint}/{name}_cond")
    names = [g.model.fresh(f"{g.hint}/{name}_v{k}") for k in range(len(carried))]
    types = [tensor_type(v.dtype, tuple(None for _ in v.shape)) for v in carried]

    def run(gg: Graph) -> list[Val]:
        i = Val(it, np.dtype(np.int64), ())
        vals = [Val(n, v.dtype, tuple(None for _ in v.shape)) for n, v in zip(names, carried)]
        keep, nxt, outs = build(gg, i, vals)
        return [gg.const(np.asarray(True)) if keep is None else keep, *nxt, *outs]

    body, _ = body_graph(g, name, run, [(it, tensor_type(np.dtype(np.int64), ())),
                                        (go, tensor_type(np.dtype(bool), ())), *zip(names, types)])
    out_types = types + [tensor_type(np.dtype(dt), (None,) * (rank + 1)) for dt, rank in scans]
    outs = g.op("Loop", [trips, cond, *carried], outputs=len(out_types), types=out_types, body=body)
    return outs[:len(carried)], outs[len(carried):]
