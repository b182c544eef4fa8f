"""``_Attention``: scaled dot-product attention (Einsum -> Softmax -> Einsum) as one node.

Keras' MultiHeadAttention without a mask builds scores = einsum(query, key) (times
1 / sqrt(depth)), probabilities = softmax(scores) over the keys, and context =
einsum(probabilities, value). The optimiser (graph/optimize.py, ``fuse_attention``) puts one
``_Attention`` node in place of the three and binds it to :data:`ATTENTION` itself: like
``_KerasLSTM`` it is this library's own internal op, not registered, so a saved graph naming
it has no kernel for it (TensorFlow has no such op).

The node computes what the three kernels compute, in blocks of (batch, head) matrices: each
block's scores product, softmax and context product run one after the other on one thread
while the scores are in cache, and the blocks are shared among ``Session.threads`` threads:
one hand-off to the pool per layer instead of three, and no (batch, heads, tokens, tokens)
array. Other dtypes, empty sizes and builds without the C loops take the three kernels' own
path.
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np

from savedmodel_io.graph.ops._accel import accel
from savedmodel_io.graph.ops._gemm import matmul as _gemm
from savedmodel_io.graph.ops._parallel import run_pieces
from savedmodel_io.graph.ops._registry import Kernel
from savedmodel_io.graph.ops._util import bad, check_size
from savedmodel_io.graph.ops.math import _einsum_plan, einsum_value, label_sizes
from savedmodel_io.graph.ops.nn import _softmax

__all__ = ["ATTENTION", "attention_plan"]

# Below this many multiply-adds (both products) the blocks run on the calling thread alone.
_PARALLEL_MACS = 1 << 22
# A block's scores stay under this many bytes (more heads per block than fit are split off):
# 64 heads of 128 x 128 tokens, 4 of 512 x 512.
_BLOCK_BYTES = 1 << 22


def attention_plan(scores: str, context: str) -> tuple[Any, Any] | None:
    """The einsum plans of (scores, context) when they form attention, else None.

    ``scores`` has one query, one depth (contracted) and one key label and puts the key label
    last (the softmax axis); ``context``'s first operand is the probabilities (the scores'
    output labels, renamed positionally), contracted over the key label, keeps the query
    label, the same batch labels and one depth label of the value."""
    p1, p2 = _einsum_plan(scores), _einsum_plan(context)
    if p1 is None or p2 is None:
        return None
    _, _, o1, batch1, left1, con1, right1 = p1
    a2, _, _, batch2, left2, con2, right2 = p2
    if not (len(left1) == len(con1) == len(right1) == 1 and o1[-1] == right1) or \
            len(a2) != len(o1):
        return None
    ren = dict(zip(o1, a2))
    if con2 != ren[right1] or left2 != ren[left1] or len(right2) != 1 or \
            sorted(batch2) != sorted(ren[c] for c in batch1):
        return None
    return p1, p2


def attention(node: Any, inputs: list[Any], ctx: Any) -> np.ndarray:
    """The _Attention kernel: context = softmax(scale * q k^T) v over the einsums' labels."""
    q, k, v = (np.asarray(x) for x in inputs)
    scores, context = node.attr["scores"], node.attr["context"]
    scale = node.attr.get("_scale")
    threads = getattr(ctx, "threads", 1)
    try:
        out = _blocked(node, scores, context, q, k, v, scale, threads)
        if out is not None:
            return out
        s = einsum_value(scores, [q, k], scale, threads)
        p = np.asarray(_softmax(s, False, threads)).astype(s.dtype, copy=False)
        return einsum_value(context, [p, v], None, threads)
    except ValueError as exc:
        raise bad(node, f"attention einsums {scores!r}, {context!r}: {exc}") from None


ATTENTION = Kernel("_Attention", attention)


def _blocked(node: Any, scores: str, context: str, q: np.ndarray, k: np.ndarray,
             v: np.ndarray, scale: Any, threads: int) -> np.ndarray | None:
    """Attention in blocks of heads (float32 with the C softmax), or None to take the
    three kernels' path (another dtype, sizes that do not fit, an empty axis)."""
    plan = attention_plan(scores, context)
    if plan is None or accel is None or not q.dtype == k.dtype == v.dtype == np.float32 or \
            (scale is not None and np.asarray(scale).dtype != np.float32):
        return None
    (a1, b1, o1, batch1, left1, con1, right1), (a2, b2, o2, batch2, left2, con2, right2) = plan
    size = label_sizes((a1, q.shape), (b1, k.shape))
    if size is None:
        return None
    size2 = label_sizes((a2, tuple(size[c] for c in o1)), (b2, v.shape))  # probs: the scores'
    if size2 is None or 0 in size.values() or 0 in size2.values():
        return None
    ren = dict(zip(o1, a2))
    batch = "".join(ren[c] for c in batch1)  # the context's batch labels in the scores' order
    qt = q.transpose([a1.index(c) for c in batch1 + left1 + con1])  # (..., T, H) views
    kt = k.transpose([b1.index(c) for c in batch1 + con1 + right1])  # (..., H, S)
    vt = v.transpose([b2.index(c) for c in batch + con2 + right2])  # (..., S, D)
    z = np.empty([size2[c] for c in o2], np.float32)
    zt = z.transpose([o2.index(c) for c in batch + left2 + right2])  # (..., T, D)
    t, s = size[left1], size[right1]
    dims = [size[c] for c in batch1]
    heads = dims[-1] if dims else 1
    count = int(np.prod(dims, dtype=np.int64)) if dims else 1
    lead = list(itertools.product(*(range(d) for d in dims[:-1])))
    if count * t * s * (size[con1] + size2[right2]) < _PARALLEL_MACS:
        threads = 1
    check_size(node, (t, s))  # one head's scores: the least a block holds
    # each leading index (the batch) is a piece; its heads are split further when there are
    # fewer of them than threads, and so that a block's scores stay under _BLOCK_BYTES
    per_block = max(1, _BLOCK_BYTES // (4 * t * s))
    parts = max(1, min(heads, max(-(-threads // len(lead)), -(-heads // per_block))))
    ends = [i * heads // parts for i in range(parts + 1)]
    pieces = [(p, h0, h1) for p in lead for h0, h1 in zip(ends, ends[1:])]
    if not dims:
        qt, kt, vt, zt = qt[None], kt[None], vt[None], zt[None]

    def block(piece: tuple[tuple[int, ...], int, int]) -> None:
        prefix, h0, h1 = piece
        at = prefix + (slice(h0, h1),)
        w = np.empty((h1 - h0, t, s), np.float32)
        _gemm(qt[at], kt[at], w)
        if scale is not None:
            np.multiply(w, scale, out=w)
        rows = w.reshape(-1, s)
        accel.softmax(rows, rows, s)
        _gemm(w, vt[at], zt[at])

    run_pieces(pieces, block, threads)
    return z
