"""A zero Pad before a MaxPool of non-negative values becomes the MaxPool's own pads.

Keras' ResNets write ``ZeroPadding2D`` then a valid ``MaxPool2D`` after a ReLU. A MaxPool's
own pads are never the maximum, and a zero pad is not either where every window holds at
least one real value and the values are ReLU outputs (>= 0), so the results are the same.
onnxruntime runs MaxPool in its NCHWc layout but not Pad: with the Pad in between it
converts the tensor out of NCHWc and back (bench/README.md, ONNX section).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from onnx import helper

__all__ = ["fold_pad_into_max_pool"]


def _attr(node: Any, name: str, default: Any = None) -> Any:
    for a in node.attribute:
        if a.name == name:
            return helper.get_attribute_value(a)
    return default


def _non_negative(net: Any, name: str) -> bool:
    """Whether ``name`` is made by an op whose outputs are never below zero (NaN aside)."""
    n = net.producer.get(name)
    if n is None or n.domain not in ("", "ai.onnx"):
        return False
    if n.op_type == "Relu":
        return True
    if n.op_type == "Clip" and len(n.input) > 1 and n.input[1]:
        low = net.const(n.input[1])
        return low is not None and low.size == 1 and float(low.reshape(-1)[0]) >= 0
    return False


def fold_pad_into_max_pool(net: Any) -> bool:
    """Fold each qualifying Pad into the MaxPool that is its only reader (``net``: ``_fuse._Net``)."""
    changed = False
    for pool in net.nodes:
        if id(pool) in net.removed or pool.op_type != "MaxPool" or pool.domain not in ("", "ai.onnx"):
            continue
        if len(pool.output) > 1 and pool.output[1] or _attr(pool, "auto_pad", b"NOTSET") not in (b"NOTSET", "NOTSET"):
            continue  # Indices would count the pad; auto_pad would override explicit pads
        if _attr(pool, "ceil_mode", 0) or any(d != 1 for d in _attr(pool, "dilations", [])):
            continue  # windows that could hold pad only
        pad = net.made_by(pool.input[0], "Pad")
        if pad is None or not net.only_reader(pad.output[0]) or not _non_negative(net, pad.input[0]):
            continue
        if _attr(pad, "mode", b"constant") not in (b"constant", "constant") or len(pad.input) > 3 and pad.input[3]:
            continue
        pads = net.const(pad.input[1])
        value = net.const(pad.input[2]) if len(pad.input) > 2 and pad.input[2] else np.zeros(1)
        kernel = _attr(pool, "kernel_shape")
        if pads is None or value is None or np.any(value != 0) or kernel is None or pads.size != 2 * (len(kernel) + 2):
            continue
        r = pads.size // 2
        begin, end = pads[:r], pads[r:]
        if begin[:2].any() or end[:2].any() or (pads < 0).any():
            continue
        own = list(_attr(pool, "pads", [0] * (2 * (r - 2))))
        new = [int(a) + int(b) for a, b in zip(own, list(begin[2:]) + list(end[2:]))]
        # Each window must still hold a real value: pads smaller than the kernel (onnxruntime checks it too).
        if any(p >= k for p, k in zip(new, list(kernel) * 2)):
            continue
        for i, a in enumerate(pool.attribute):
            if a.name == "pads":
                del pool.attribute[i]
                break
        pool.attribute.append(helper.make_attribute("pads", new))
        pool.input[0] = pad.input[0]
        net.drop(pad)
        changed = True
    return changed
