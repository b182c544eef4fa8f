"""StringNGrams (onnx/ops/ngrams.py) and IsotonicRegression (onnx/ops/isotonic.py) beyond TensorFlow's kernel
cases: every padding and short-sequence option on rows of every length (empty ones too), several widths,
separators; random rows with ties and long pooled runs, every input type, ranks 0 to 3 and empty rows; compared
on onnxruntime with the numpy runtime's kernels (checked against TensorFlow in tests/graph/test_ops_ragged_tf.py
and tests/graph/test_ops_array_extra_tf.py)."""

from __future__ import annotations

import numpy as np
import pytest

from graph.test_runtime_core import node, placeholder
from onnx_export.test_fused_ops import export_and_compare

from savedmodel_io import dtypes
from savedmodel_io.onnx.ops import _util
from savedmodel_io.proto import DataType

pytest.importorskip("onnxruntime")

S, I32, I64 = DataType.DT_STRING, DataType.DT_INT32, DataType.DT_INT64
WORDS = np.array([w.encode() for w in "the quick brown fox jumps over a lazy dog é ü".split()], dtype=object)


def _ngrams(data, splits, widths, pad_width=0, preserve=False, sep=b" ", left=b"<s>", right=b"</s>"):
    t = dtypes.from_numpy(splits.dtype)
    n = node("g", "StringNGrams", ["d", "s"], separator=sep, left_pad=left, right_pad=right, pad_width=pad_width,
             preserve_short_sequences=preserve, Tsplits=("type", t))
    n.attr["ngram_widths"].list.i.extend(widths)
    return export_and_compare([placeholder("d", S), placeholder("s", t), n], {"d": data, "s": splits},
                              ["g:0", "g:1"], shapes={"d": (None,), "s": (None,)})


@pytest.mark.parametrize("preserve", [False, True])
@pytest.mark.parametrize("pad_width", [-1, 0, 1, 2, 6])
@pytest.mark.parametrize("widths", [[1], [2], [3], [1, 2, 3], [4, 2], [5]])
def test_ngrams_options(widths, pad_width, preserve):
    splits = np.array([0, 0, 1, 3, 3, 7, 11], np.int64)  # rows of 0, 1, 2, 0, 4 and 4 words
    _ngrams(WORDS, splits, widths, pad_width, preserve)


@pytest.mark.parametrize("sep", [b"", b"_", b" :: "])
def test_ngrams_separators_and_int32_splits(sep):
    _ngrams(WORDS, np.array([0, 5, 5, 11], np.int32), [2, 3], pad_width=1, preserve=True, sep=sep, left=b"", right=b"#")


def test_ngrams_edges():
    _ngrams(WORDS, np.array([0, 11], np.int64), [2])  # one row
    _ngrams(WORDS[:0], np.array([0, 0, 0], np.int64), [2], pad_width=-1)  # no data: no n-grams, zero splits
    _ngrams(WORDS[:3], np.zeros(0, np.int64), [2])  # no splits: one empty string per word
    _ngrams(WORDS[:0], np.array([0], np.int64), [1, 2])  # no rows


def test_ngrams_widths_are_bounded():
    from onnx_export._cases import exported, signature

    n = node("g", "StringNGrams", ["d", "s"], separator=b" ", left_pad=b"", right_pad=b"", pad_width=0,
             preserve_short_sequences=False, Tsplits=("type", I64))
    n.attr["ngram_widths"].list.i.extend([_util.MAX_UNROLLED + 1])
    _, problems = exported(signature([placeholder("d", S), placeholder("s", I64), n],
                                     {"d": (S, (None,)), "s": (I64, (None,))}, {"o": ("g:0", S, (None,))}), 20)
    assert problems and "over the exporter's limit" in problems[0].reason


def _isotonic(x: np.ndarray, out=np.float32, dynamic=True):
    t = dtypes.from_numpy(x.dtype)
    n = node("r", "IsotonicRegression", ["x"], T=("type", t), output_dtype=("type", dtypes.from_numpy(np.dtype(out))))
    shapes = {"x": (None,) * x.ndim} if dynamic else None
    return export_and_compare([placeholder("x", t), n], {"x": x}, ["r:0", "r:1"], shapes=shapes)


@pytest.mark.parametrize("shape", [(1, 1), (5, 9), (3, 2, 17), (40,), (2, 64)])
def test_isotonic_random_rows(shape):
    rs = np.random.RandomState(int(np.prod(shape)))
    x = rs.randint(-3, 4, shape).astype(np.float32)  # many ties
    _isotonic(x)
    _isotonic(rs.standard_normal(shape).astype(np.float32) + np.linspace(-3, 3, shape[-1], dtype=np.float32))


def test_isotonic_long_pooled_runs():
    """Increasing rows pool into one block; decreasing ones keep every element apart; a late large value
    pools back across earlier blocks."""
    up = np.arange(30, dtype=np.float64)
    down = up[::-1].copy()
    late = np.concatenate([down[:29], [100.0]])
    _isotonic(np.stack([up, down, late]), out=np.float64)


@pytest.mark.parametrize("dt", [np.float16, np.float64, np.int8, np.uint8, np.int32, np.int64, np.uint16])
def test_isotonic_types(dt):
    rs = np.random.RandomState(4)
    x = rs.randint(0, 100, (4, 11)).astype(dt)
    _isotonic(x, out=np.float64 if dt in (np.float64, np.int32, np.int64) else np.float32)


def test_isotonic_shapes():
    _isotonic(np.array(2.5, np.float32), dynamic=False)
    _isotonic(np.zeros((0, 4), np.float32))
    _isotonic(np.array([[1, np.nan, 2, 0]], np.float32))
