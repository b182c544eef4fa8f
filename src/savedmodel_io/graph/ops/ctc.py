"""CTC decoding: CTCGreedyDecoder (``tf.nn.ctc_greedy_decoder``, speech and OCR models).

The greedy decoder takes each time step's best class (the first on ties), drops blanks
and, with ``merge_repeated``, repeats; its score is the negated sum of those best logits.
Results come back as a SparseTensor (indices, values, dense shape) as
tensorflow/tensorflow tensorflow/core/kernels/ctc_decoder_ops.cc and
tensorflow/core/util/ctc/ctc_decoder.h produce them.
"""

from __future__ import annotations

import numpy as np

from savedmodel_io.graph.ops._registry import kernel
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


@kernel("CTCGreedyDecoder", per_element=True)
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


# -- beam search ----------------------------------------------------------------------------------
# tensorflow/tensorflow tensorflow/core/util/ctc/ctc_beam_search.h, ctc_beam_entry.h and
# ctc_loss_util.h (LogSumExp): prefix beam search over each step's log-softmax of the logits,
# in the logits' precision, keeping the beam_width best prefixes; blank is the last class.

_LOG_ZERO = np.float32(-np.inf)


def _log_sum_exp(a, b):
    if a == _LOG_ZERO:
        return b
    if b == _LOG_ZERO:
        return a
    hi, lo = (a, b) if a > b else (b, a)
    return hi + np.log1p(np.exp(lo - hi))


class _Entry:
    """A prefix: its last label, parent, children and (blank, label, total) log-probabilities."""

    __slots__ = ("label", "parent", "children", "old", "new")

    def __init__(self, parent: _Entry | None, label: int) -> None:
        self.label = label
        self.parent = parent
        self.children: dict[int, _Entry] = {}
        self.old = [_LOG_ZERO, _LOG_ZERO, _LOG_ZERO]  # blank, label, total
        self.new = [_LOG_ZERO, _LOG_ZERO, _LOG_ZERO]

    def active(self) -> bool:
        return self.new[2] != _LOG_ZERO

    def child(self, label: int) -> _Entry:
        c = self.children.get(label)
        if c is None:
            c = self.children[label] = _Entry(self, label)
        return c

    def labels(self, merge_repeated: bool) -> list[int]:
        out: list[int] = []
        prev = -1
        e: _Entry | None = self
        while e is not None and e.parent is not None:
            if not merge_repeated or e.label != prev:
                out.append(e.label)
            prev = e.label
            e = e.parent
        return out[::-1]


class _TopN:
    """The beam: at most ``limit`` entries; a new one displaces the worst when better."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.items: list[_Entry] = []

    def push(self, e: _Entry) -> None:
        if len(self.items) < self.limit:
            self.items.append(e)
            return
        worst = self.bottom()
        if e.new[2] > worst.new[2]:
            self.items.remove(worst)
            self.items.append(e)

    def bottom(self) -> _Entry:
        return min(self.items, key=lambda e: e.new[2])

    def extract(self) -> list[_Entry]:
        out = sorted(self.items, key=lambda e: e.new[2], reverse=True)
        self.items = []
        return out


def _beam_search(node, ctx, x: np.ndarray, width: int) -> _TopN:
    """The final beam for one sequence of logits ``x`` (time, classes)."""
    blank = x.shape[1] - 1
    root = _Entry(None, -1)
    ft = x.dtype.type if x.dtype == np.float64 else np.float32
    root.new = [ft(0.0), _LOG_ZERO, ft(0.0)]
    leaves = _TopN(width)
    leaves.push(root)
    for row in x.astype(ft):
        top = ft(row.max())
        # log-softmax: subtract the maximum and the log of the shifted exponentials' sum
        top = ft(top + np.log(np.exp(row - top).sum(dtype=ft)))
        branches = leaves.extract()
        # Each step extends every branch by every label: Python work the run's budget pays for.
        ctx.meter.elements(len(branches) * blank, node.where)
        for b in branches:
            b.old = list(b.new)
        for b in branches:
            if b.parent is not None:
                if b.parent.active():
                    prev = b.parent.old[0] if b.label == b.parent.label else b.parent.old[2]
                    b.new[1] = _log_sum_exp(b.new[1], prev)
                b.new[1] = b.new[1] + (row[b.label] - top)
            b.new[0] = b.old[2] + (row[blank] - top)
            b.new[2] = _log_sum_exp(b.new[0], b.new[1])
            leaves.push(b)

        def candidate(total: np.float32) -> bool:
            return bool(total > _LOG_ZERO and (len(leaves.items) < width or
                                               total > leaves.bottom().new[2]))

        for b in branches:
            if not candidate(b.old[2]):
                continue
            for label in range(blank):
                c = b.child(label)
                if c.active():
                    continue
                prev = b.old[0] if c.label == b.label else b.old[2]
                c.new = [_LOG_ZERO, (row[label] - top) + prev, _LOG_ZERO]
                c.new[2] = c.new[1]
                if candidate(c.new[2]):
                    if len(leaves.items) == width:
                        leaves.bottom().new = [_LOG_ZERO, _LOG_ZERO, _LOG_ZERO]
                    leaves.push(c)
                else:
                    c.old = [_LOG_ZERO, _LOG_ZERO, _LOG_ZERO]
                    c.new = [_LOG_ZERO, _LOG_ZERO, _LOG_ZERO]
    return leaves


@kernel("CTCBeamSearchDecoder", per_element=True)
def ctc_beam_search_decoder(node, inputs, ctx):
    x, lengths = np.asarray(inputs[0]), np.asarray(inputs[1]).astype(np.int64)
    _check(node, x, lengths)
    width, top = int(node.attr["beam_width"]), int(node.attr["top_paths"])
    if top > width:
        raise bad(node, "requested more paths than the beam width.")
    merge = bool(node.attr["merge_repeated"])
    paths: list[list[list[int]]] = [[] for _ in range(top)]
    scores = np.zeros((x.shape[1], top), x.dtype)
    for b in range(x.shape[1]):
        leaves = _beam_search(node, ctx, x[:int(lengths[b]), b], width)
        if top > len(leaves.items):
            raise bad(node, "Less leaves in the beam search than requested.")
        best = sorted(leaves.items, key=lambda e: e.new[2], reverse=True)[:top]
        for p, e in enumerate(best):
            paths[p].append(e.labels(merge))
            scores[b, p] = e.new[2]
    sparse = [_sparse(p) for p in paths]
    return [*(s[0] for s in sparse), *(s[1] for s in sparse), *(s[2] for s in sparse), scores]


# -- loss -------------------------------------------------------------------------------------------
# tensorflow/tensorflow tensorflow/core/kernels/ctc_loss_op.cc and
# tensorflow/core/util/ctc/ctc_loss_calculator.{h,cc}: -log p(labels | logits) by the
# forward-backward algorithm over the blank-interleaved labels, and its gradient with
# respect to the logits (softmax minus the posterior occupancy of each class).

def _labels(node, indices: np.ndarray, values: np.ndarray, batch: int) -> list[list[int]]:
    if indices.ndim != 2 or indices.shape[1] != 2:
        raise bad(node, "labels_indices is not a matrix")
    if values.ndim != 1:
        raise bad(node, "labels_values is not a vector")
    if indices.shape[0] != values.shape[0]:
        raise bad(node, "labels_indices and labels_values must contain the same number of rows, "
                        f"but saw shapes: {list(indices.shape)} vs. {list(values.shape)}")
    out: list[list[int]] = [[] for _ in range(batch)]
    last = (-1, -1)
    for (b, i), v in zip(indices.tolist(), values.tolist()):
        if not 0 <= b < batch:
            raise bad(node, f"labels batch index must be between 0 and {batch - 1} but saw: {b}")
        if (b, i) <= last:
            raise bad(node, "Label indices must be in lexicographic order (batch, position)")
        last = (b, i)
        out[b].append(int(v))
    return out


def _extended(labels: list[int], blank: int) -> list[int]:
    ext = [blank]
    for label in labels:
        ext += [label, blank]
    return ext


def _log_softmax(x: np.ndarray) -> np.ndarray:
    top = x.max(axis=1, keepdims=True)
    return x - top - np.log(np.exp(x - top).sum(axis=1, keepdims=True))


def _ctc_one(x: np.ndarray, labels: list[int], merge: bool):
    """(loss, gradient) of one sequence ``x`` (time, classes) of logits."""
    steps, classes = x.shape
    blank = classes - 1
    ext = _extended(labels, blank)
    s_len = len(ext)
    log_y = _log_softmax(x.astype(np.float64))
    skip = np.array([s >= 2 and ext[s] != blank and not (merge and ext[s] == ext[s - 2])
                     for s in range(s_len)])
    # Without merging, a label is emitted by one frame: only blanks may repeat.
    stay = np.array([merge or c == blank for c in ext])
    alpha = np.full((steps, s_len), -np.inf)
    alpha[0, 0] = log_y[0, blank]
    if s_len > 1:
        alpha[0, 1] = log_y[0, ext[1]]
    emit = log_y[:, ext]
    for t in range(1, steps):
        prev = alpha[t - 1]
        acc = np.where(stay, prev, -np.inf)
        acc[1:] = np.logaddexp(acc[1:], prev[:-1])
        acc[2:] = np.where(skip[2:], np.logaddexp(acc[2:], prev[:-2]), acc[2:])
        alpha[t] = acc + emit[t]
    # beta[t, s]: log probability of the rest after being in state s at time t (emission at t excluded)
    beta = np.full((steps, s_len), -np.inf)
    beta[steps - 1, s_len - 1] = 0.0
    if s_len > 1:
        beta[steps - 1, s_len - 2] = 0.0
    for t in range(steps - 2, -1, -1):
        nxt = beta[t + 1] + emit[t + 1]
        acc = np.where(stay, nxt, -np.inf)
        acc[:-1] = np.logaddexp(acc[:-1], nxt[1:])
        acc[:-2] = np.where(skip[2:], np.logaddexp(acc[:-2], nxt[2:]), acc[:-2])
        beta[t] = acc
    ends = alpha[steps - 1, s_len - 1]
    if s_len > 1:
        ends = np.logaddexp(ends, alpha[steps - 1, s_len - 2])
    log_p = float(ends)
    occupancy = np.full((steps, classes), -np.inf)
    both = alpha + beta
    for s, c in enumerate(ext):
        occupancy[:, c] = np.logaddexp(occupancy[:, c], both[:, s])
    grad = np.exp(log_y) - (np.exp(occupancy - log_p) if np.isfinite(log_p) else 0.0)
    return -log_p, grad


def _required_steps(labels: list[int], merge: bool) -> int:
    repeats = sum(1 for a, b in zip(labels, labels[1:]) if a == b) if merge else 0
    return len(labels) + repeats


@kernel("CTCLoss", per_element=True)
def ctc_loss(node, inputs, ctx):
    x = np.asarray(inputs[0])
    indices, values = np.asarray(inputs[1]), np.asarray(inputs[2])
    lengths = np.asarray(inputs[3]).astype(np.int64)
    _check(node, x, lengths)
    batch, classes = x.shape[1], x.shape[2]
    all_labels = _labels(node, indices, values, batch)
    merge = bool(node.attr["ctc_merge_repeated"])
    collapse = bool(node.attr["preprocess_collapse_repeated"])
    ignore_long = bool(node.attr["ignore_longer_outputs_than_inputs"])
    loss = np.zeros(batch, x.dtype)
    grad = np.zeros(x.shape, x.dtype)
    for b, labels in enumerate(all_labels):
        if collapse:
            labels = [v for k, v in enumerate(labels) if k == 0 or v != labels[k - 1]]
        for k, v in enumerate(labels):
            if not 0 <= v < classes - 1:
                raise bad(node, f"Saw a non-null label (index >= num_classes - 1) following a null "
                                f"label, batch: {b} num_classes: {classes} labels: "
                                f"{','.join(map(str, labels))} labels seen so far: "
                                f"{','.join(map(str, labels[:k]))}")
        steps = int(lengths[b])
        need = _required_steps(labels, merge)
        if steps < need:
            if ignore_long:
                continue
            raise bad(node, f"Not enough time for target transition sequence (required: {need}, "
                            f"available: {steps})0You can turn this error into a warning by using "
                            "the flag ignore_longer_outputs_than_inputs")
        if steps == 0:
            continue
        value, g = _ctc_one(x[:steps, b], labels, merge)
        loss[b] = value
        grad[:steps, b] = g
    return [loss, grad]
