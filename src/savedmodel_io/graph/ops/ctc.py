"""CTC decoding: CTCGreedyDecoder (``tf.nn.ctc_greedy_decoder``, speech and OCR models).

The greedy decoder takes each time step's best class (the first on ties), drops blanks
and, with ``merge_repeated``, repeats; its score is the negated sum of those best logits.
Results come back as a SparseTensor (indices, values, dense shape) as
tensorflow/tensorflow tensorflow/core/kernels/ctc_decoder_ops.cc and
tensorflow/core/util/ctc/ctc_decoder.h produce them.
"""

from __future__ import annotations

import numpy as np

from savedmodel_io.graph.ops import kernel
from savedmodel_io.graph.ops._util import bad


def _check(node, x: np.ndarray, lengths: np.ndarray) -> None:
    if x.ndim != 3:
        raise bad(node, "inputs is not a 3-Tensor")
    if lengths.ndim != 1:
        raise bad(node, "sequence_length is not a vector")
    max_time, batch, classes = x.shape
    if lengths.shape[0] != batch:
        raise bad(node, f"len(sequence_length) != batch_size.  len(sequence_length):  "
                        f"{lengths.shape[0]} batch_size: {batch}")
    if classes == 0:
        raise bad(node, "num_classes cannot be 0.")
    for b, n in enumerate(lengths):
        if n > max_time:
            raise bad(node, f"sequence_length({b}) <= {max_time}")


def _sparse(paths: list[list[int]]) -> list[np.ndarray]:
    """(indices, values, dense shape) of one decoded path per batch entry."""
    total = sum(len(p) for p in paths)
    indices = np.zeros((total, 2), np.int64)
    values = np.zeros(total, np.int64)
    k = 0
    for b, p in enumerate(paths):
        for i, c in enumerate(p):
            indices[k] = (b, i)
            values[k] = c
            k += 1
    longest = max((len(p) for p in paths), default=0)
    return [indices, values, np.array([len(paths), longest], np.int64)]


@kernel("CTCGreedyDecoder")
def ctc_greedy_decoder(node, inputs, ctx):
    x, lengths = np.asarray(inputs[0]), np.asarray(inputs[1]).astype(np.int64)
    _check(node, x, lengths)
    classes = x.shape[2]
    blank = int(node.attr["blank_index"])
    if not -classes <= blank < classes:
        raise bad(node, f"blank_index expected to be between {-classes} and {classes - 1} but was "
                        f"{blank}")
    blank %= classes
    merge = bool(node.attr["merge_repeated"])
    best = x.argmax(axis=2) if x.size else np.zeros(x.shape[:2], np.int64)
    top = x.max(axis=2) if x.size else np.zeros(x.shape[:2], x.dtype)
    paths = []
    scores = np.zeros((x.shape[1], 1), x.dtype)
    for b in range(x.shape[1]):
        path: list[int] = []
        prev = -1
        score = x.dtype.type(0)
        for t in range(int(lengths[b])):
            c = int(best[t, b])
            score = x.dtype.type(score - top[t, b])
            if c != blank and not (merge and c == prev):
                path.append(c)
            prev = c
        scores[b, 0] = score
        paths.append(path)
    return [*_sparse(paths), scores]
