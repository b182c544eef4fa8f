"""Einsum as MatMul: a two-operand Einsum that is a batched matrix product becomes Transpose/MatMul.

Keras' attention writes its score and context products as Einsum
(``BTNH,BSNH->BNTS``, ``BNTS,BSNH->BTNH``). onnxruntime's Einsum kernel runs them
up to twice as slowly as Transposes around one MatMul (bench/README.md, ONNX section),
and onnxruntime's MatMul fusions then apply (the scores' scaling Mul folds into a
FusedMatMul). The same products are computed: the measured outputs were bit-identical.

An equation qualifies when every label is a batch label (both operands and the output),
or one of exactly three others: ``m`` (first operand and output), ``n`` (second operand
and output), ``k`` (both operands, summed). Ellipses, repeated labels and labels summed
within one operand keep the Einsum.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from onnx import helper

__all__ = ["einsum_as_matmul"]

# onnxruntime's CPU MatMul kernels: the float types an Einsum here would run in.
_TYPES = (np.dtype(np.float32), np.dtype(np.float64))


def _plan(equation: str) -> tuple[list[int], list[int], list[int]] | None:
    """Permutations for (operand 1, operand 2, MatMul's output), or None when not a batched product."""
    if "..." in equation or "->" not in equation:
        return None
    lhs, out = equation.split("->")
    operands = lhs.split(",")
    if len(operands) != 2:
        return None
    a, b = operands
    if any(len(set(s)) != len(s) for s in (a, b, out)):
        return None
    batch = [c for c in out if c in a and c in b]
    m = [c for c in out if c in a and c not in b]
    n = [c for c in out if c in b and c not in a]
    k = [c for c in a if c in b and c not in out]
    if len(m) != 1 or len(n) != 1 or len(k) != 1 or len(batch) + 3 != len(set(a + b)):
        return None
    prod = batch + m + n
    return ([a.index(c) for c in batch + m + k], [b.index(c) for c in batch + k + n],
            [prod.index(c) for c in out])


def einsum_as_matmul(net: Any) -> bool:
    """Rewrite each qualifying float Einsum of the main graph (``net``: ``_fuse._Net``)."""
    changed = False
    for node in list(net.nodes):
        if id(node) in net.removed or node.op_type != "Einsum" or node.domain not in ("", "ai.onnx"):
            continue
        eq = next((a.s for a in node.attribute if a.name == "equation"), b"")
        plan = _plan(eq.decode() if isinstance(eq, bytes) else eq)
        if plan is None or len(node.input) != 2 or any(net.model.dtypes.get(x) not in _TYPES for x in node.input):
            continue
        pa, pb, po = plan
        new = []
        ins = list(node.input)
        for i, perm in enumerate((pa, pb)):
            if perm != sorted(perm):
                t = net.model.fresh(f"{node.name}/T{i}")
                new.append(helper.make_node("Transpose", [ins[i]], [t], name=t, perm=perm))
                ins[i] = t
        out = node.output[0]
        prod = out if po == sorted(po) else net.model.fresh(f"{node.name}/MatMul")
        new.append(helper.make_node("MatMul", ins, [prod], name=net.model.fresh(f"{node.name}/MatMul")))
        if prod != out:
            new.append(helper.make_node("Transpose", [prod], [out], name=net.model.fresh(f"{node.name}/T"), perm=po))
        i = net.nodes.index(node)
        net.nodes[i:i + 1] = new
        for n in new:
            for o in n.output:
                net.producer[o] = n
        changed = True
    return changed
