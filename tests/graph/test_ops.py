"""Kernels against straightforward reference implementations (no TensorFlow needed)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from savedmodel_io.errors import InvalidArgumentError, UnsupportedOpError
from savedmodel_io.graph import ops
from savedmodel_io.graph.runtime import Node


def run_op(op, *inputs, **attrs):
    k = ops.get(op)
    assert k is not None, op
    node = Node("n", op, attrs, 0, "test")
    node.bind({})
    with np.errstate(all="ignore"):  # as the runtime runs every kernel
        return k.fn(node, list(inputs), None)


def naive_conv(x, w, stride, dil, pads):
    """Direct NHWC convolution with explicit zero padding ((top, bottom), (left, right))."""
    x = np.pad(x, ((0, 0), pads[0], pads[1], (0, 0)))
    n, h, wd, c = x.shape
    kh, kw, cin, cout = w.shape
    oh = (h - (kh - 1) * dil[0] - 1) // stride[0] + 1
    ow = (wd - (kw - 1) * dil[1] - 1) // stride[1] + 1
    out = np.zeros((n, oh, ow, cout))
    for i in range(oh):
        for j in range(ow):
            for a in range(kh):
                for b in range(kw):
                    px = x[:, i * stride[0] + a * dil[0], j * stride[1] + b * dil[1], :]
                    out[:, i, j, :] += px @ w[a, b]
    return out


def same_pads(size, k, s, d):
    eff = (k - 1) * d + 1
    out = -(-size // s)
    total = max((out - 1) * s + eff - size, 0)
    return total // 2, total - total // 2


@pytest.mark.parametrize("padding", ["SAME", "VALID", "EXPLICIT"])
@pytest.mark.parametrize("stride,dil", [((1, 1), (1, 1)), ((2, 3), (1, 1)), ((1, 1), (2, 2)), ((2, 2), (1, 1))])
@pytest.mark.parametrize("fmt", ["NHWC", "NCHW"])
def test_conv2d(padding, stride, dil, fmt):
    rs = np.random.RandomState(0)
    x = rs.standard_normal((2, 9, 8, 3)).astype(np.float32)
    w = rs.standard_normal((3, 2, 3, 4)).astype(np.float32)
    if padding == "SAME":
        pads = (same_pads(9, 3, stride[0], dil[0]), same_pads(8, 2, stride[1], dil[1]))
    elif padding == "EXPLICIT":
        pads = ((1, 2), (0, 3))
    else:
        pads = ((0, 0), (0, 0))
    want = naive_conv(x, w, stride, dil, pads)
    s4 = [1, *stride, 1] if fmt == "NHWC" else [1, 1, *stride]
    d4 = [1, *dil, 1] if fmt == "NHWC" else [1, 1, *dil]
    exp = [0, 0, *pads[0], *pads[1], 0, 0] if fmt == "NHWC" else [0, 0, 0, 0, *pads[0], *pads[1]]
    xin = x if fmt == "NHWC" else x.transpose(0, 3, 1, 2)
    got = run_op("Conv2D", xin, w, strides=s4, dilations=d4, padding=padding.encode(),
                 data_format=fmt.encode(), explicit_paddings=exp)
    if fmt == "NCHW":
        got = got.transpose(0, 2, 3, 1)
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)


def test_grouped_conv_and_1x1():
    rs = np.random.RandomState(1)
    x = rs.standard_normal((1, 5, 5, 4)).astype(np.float32)
    w = rs.standard_normal((3, 3, 2, 6)).astype(np.float32)  # 2 groups
    got = run_op("Conv2D", x, w, strides=[1, 1, 1, 1], padding=b"VALID")
    want = np.concatenate([naive_conv(x[..., :2], w[..., :3], (1, 1), (1, 1), ((0, 0), (0, 0))),
                           naive_conv(x[..., 2:], w[..., 3:], (1, 1), (1, 1), ((0, 0), (0, 0)))], -1)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)
    w1 = rs.standard_normal((1, 1, 4, 3)).astype(np.float32)
    np.testing.assert_allclose(run_op("Conv2D", x, w1, strides=[1, 1, 1, 1], padding=b"SAME"),
                               x @ w1[0, 0], rtol=1e-5)


def test_depthwise_matches_per_channel_conv():
    rs = np.random.RandomState(2)
    x = rs.standard_normal((2, 7, 6, 3)).astype(np.float32)
    w = rs.standard_normal((3, 3, 3, 2)).astype(np.float32)
    got = run_op("DepthwiseConv2dNative", x, w, strides=[1, 2, 2, 1], padding=b"SAME")
    pads = (same_pads(7, 3, 2, 1), same_pads(6, 3, 2, 1))
    want = np.stack([naive_conv(x[..., c:c + 1], w[:, :, c:c + 1, :], (2, 2), (1, 1), pads)
                     for c in range(3)], axis=3).reshape(got.shape)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("padding,stride", [("SAME", 2), ("VALID", 2), ("SAME", 1)])
def test_conv2d_backprop_input_is_the_adjoint(padding, stride):
    # <conv(x), dy> == <x, conv_backprop_input(dy)> for every x, dy.
    rs = np.random.RandomState(3)
    x = rs.standard_normal((1, 7, 6, 2))
    w = rs.standard_normal((3, 3, 2, 4))
    attrs = dict(strides=[1, stride, stride, 1], padding=padding.encode())
    y = run_op("Conv2D", x, w, **attrs)
    dy = rs.standard_normal(y.shape)
    dx = run_op("Conv2DBackpropInput", np.array(x.shape, np.int32), w, dy, **attrs)
    assert dx.shape == x.shape
    assert np.isclose((y * dy).sum(), (x * dx).sum())


def test_pooling():
    x = np.arange(2 * 5 * 5 * 1, dtype=np.float32).reshape(2, 5, 5, 1) - 20
    mx = run_op("MaxPool", x, ksize=[1, 2, 2, 1], strides=[1, 2, 2, 1], padding=b"SAME")
    assert mx.shape == (2, 3, 3, 1)
    assert mx[0, 2, 2, 0] == x[0, 4, 4, 0]  # a window of padding plus one real cell
    av = run_op("AvgPool", x, ksize=[1, 2, 2, 1], strides=[1, 2, 2, 1], padding=b"SAME")
    assert av[0, 2, 2, 0] == x[0, 4, 4, 0]  # padding does not count towards the mean
    assert av[0, 0, 0, 0] == x[0, :2, :2, 0].mean()
    v = run_op("AvgPool", x, ksize=[1, 3, 3, 1], strides=[1, 1, 1, 1], padding=b"VALID")
    assert v.shape == (2, 3, 3, 1) and v[1, 1, 1, 0] == x[1, 1:4, 1:4, 0].mean()


def test_fused_batch_norm_inference_and_nchw():
    rs = np.random.RandomState(4)
    x = rs.standard_normal((2, 3, 4, 5)).astype(np.float32)
    scale, offset, mean, var = (rs.uniform(0.5, 2, 5).astype(np.float32) for _ in range(4))
    outs = run_op("FusedBatchNormV3", x, scale, offset, mean, var, epsilon=0.001, is_training=False)
    want = (x - mean) / np.sqrt(var + 0.001) * scale + offset
    np.testing.assert_allclose(outs[0], want, rtol=1e-5, atol=1e-6)
    assert len(outs) == 6
    nchw = run_op("FusedBatchNormV3", x.transpose(0, 3, 1, 2), scale, offset, mean, var,
                  epsilon=0.001, is_training=False, data_format=b"NCHW")[0]
    np.testing.assert_allclose(nchw.transpose(0, 2, 3, 1), want, rtol=1e-5, atol=1e-6)


def test_activations():
    x = np.linspace(-8, 8, 101).astype(np.float32)
    np.testing.assert_allclose(run_op("Erf", x), [math.erf(v) for v in x.astype(float)], rtol=2e-7, atol=1e-7)
    small = np.array([1e-6, -3e-4, 0.3, -0.49, 0.51], np.float64)
    np.testing.assert_allclose(run_op("Erf", small), [math.erf(v) for v in small], rtol=1e-7)
    np.testing.assert_allclose(run_op("Relu6", x), np.clip(x, 0, 6))
    np.testing.assert_allclose(run_op("Elu", x), np.where(x > 0, x, np.expm1(x)), rtol=1e-6)
    np.testing.assert_allclose(run_op("Sigmoid", x), 1 / (1 + np.exp(-x.astype(float))), rtol=1e-6)
    sm = run_op("Softmax", np.stack([x, -x]))
    np.testing.assert_allclose(sm.sum(-1), 1, rtol=1e-6)
    np.testing.assert_allclose(run_op("LogSoftmax", np.stack([x, -x])), np.log(sm), rtol=1e-4, atol=1e-5)
    big = np.array([-1000.0, 0.0, 1000.0], np.float32)
    assert np.all(np.isfinite(run_op("Sigmoid", big))) and np.all(np.isfinite(run_op("Softmax", big)))
    for op in ("Relu", "Relu6", "Elu", "Selu", "Sigmoid", "Tanh", "Softmax", "Erf"):
        assert run_op(op, x).dtype == np.float32, op


def test_integer_division_semantics():
    a = np.array([7, -7, 7, -7], np.int32)
    b = np.array([2, 2, -2, -2], np.int32)
    assert run_op("FloorDiv", a, b).tolist() == [3, -4, -4, 3]
    assert run_op("FloorMod", a, b).tolist() == [1, 1, -1, -1]
    assert run_op("TruncateDiv", a, b).tolist() == [3, -3, -3, 3]
    assert run_op("TruncateMod", a, b).tolist() == [1, -1, 1, -1]
    assert run_op("Div", a, b).tolist() == [3, -3, -3, 3]
    assert run_op("FloorMod", np.float32([-7.5]), np.float32([2])).tolist() == [0.5]
    with pytest.raises(InvalidArgumentError, match="division by zero"):
        run_op("FloorDiv", a, np.zeros(4, np.int32))
    with pytest.raises(InvalidArgumentError, match="Incompatible shapes"):
        run_op("AddV2", np.zeros(3), np.zeros(4))


def test_reductions_keep_dtype():
    x = np.arange(12, dtype=np.int32).reshape(3, 4) - 5
    assert run_op("Sum", x, np.int32(1)).dtype == np.int32
    assert run_op("Mean", x, np.array([0, 1]), keep_dims=True).tolist() == [[0]]  # 6/12 truncated
    assert run_op("Mean", np.array([-3, -4], np.int32), np.int32(0)).item() == -3  # truncation
    assert run_op("Max", x, np.int32(-1)).tolist() == [-2, 2, 6]
    assert run_op("ArgMax", x, np.int32(0), output_type=3).dtype == np.int32


rs = np.random.RandomState(5)
X = rs.standard_normal((3, 4, 5)).astype(np.float32)


@pytest.mark.parametrize("spec,masks,want", [
    ([[0, 1, 0], [3, 3, 5], [1, 1, 2]], {}, X[0:3, 1:3, 0:5:2]),
    ([[0, 0, 0], [0, 0, 0], [1, 1, -1]], {"begin_mask": 7, "end_mask": 7}, X[:, :, ::-1]),
    ([[1], [2], [1]], {"shrink_axis_mask": 1}, X[1]),
    ([[0, 2], [0, 3], [1, 1]], {"ellipsis_mask": 1}, X[..., 2:3]),
    ([[0, 0, 2], [0, 0, 3], [1, 1, 1]], {"ellipsis_mask": 1, "new_axis_mask": 2, "shrink_axis_mask": 4},
     X[..., np.newaxis, 2]),
    ([[-1, 0], [0, 0], [1, 1]], {"shrink_axis_mask": 1, "end_mask": 2}, X[-1, :]),
    ([[1, -2], [100, -100], [1, -1]], {}, X[1:100, -2:-100:-1]),
])
def test_strided_slice(spec, masks, want):
    b, e, s = (np.array(v, np.int32) for v in spec)
    got = run_op("StridedSlice", X, b, e, s, **masks)
    np.testing.assert_array_equal(got, want)


def test_strided_slice_errors():
    one = np.array([1], np.int32)
    with pytest.raises(InvalidArgumentError, match="out of bounds"):
        run_op("StridedSlice", X, np.array([5], np.int32), np.array([6], np.int32), one, shrink_axis_mask=1)
    with pytest.raises(InvalidArgumentError, match="non-zero"):
        run_op("StridedSlice", X, one, one, np.array([0], np.int32))


def test_indexing_ops():
    p = np.arange(20).reshape(4, 5)
    np.testing.assert_array_equal(run_op("GatherV2", p, np.array([3, 0]), np.int32(0)), p[[3, 0]])
    np.testing.assert_array_equal(run_op("GatherV2", p, np.array([[1], [4], [0], [2]]), np.int32(1), batch_dims=1),
                                  p[np.arange(4)[:, None], [[1], [4], [0], [2]]])
    with pytest.raises(InvalidArgumentError, match=r"index 9 is not in \[0, 4\)"):
        run_op("GatherV2", p, np.array([9]), np.int32(0))
    np.testing.assert_array_equal(run_op("GatherNd", p, np.array([[1, 2], [3, 4]])), [7, 19])
    oh = run_op("OneHot", np.array([0, 2, -1, 5]), np.int32(3), np.float32(1), np.float32(0))
    assert oh.tolist() == [[1, 0, 0], [0, 0, 1], [0, 0, 0], [0, 0, 0]]
    np.testing.assert_array_equal(run_op("MirrorPad", p, np.array([[1, 1], [2, 0]]), mode=b"REFLECT"),
                                  np.pad(p, ((1, 1), (2, 0)), mode="reflect"))
    with pytest.raises(InvalidArgumentError, match="too large"):
        run_op("MirrorPad", p, np.array([[4, 0], [0, 0]]), mode=b"REFLECT")
    parts = run_op("SplitV", p, np.array([1, -1, 2]), np.int32(1))
    assert [q.shape for q in parts] == [(4, 1), (4, 2), (4, 2)]
    assert run_op("Range", np.int32(3), np.int32(-4), np.int32(-3)).tolist() == [3, 0, -3]
    vals, idx = run_op("TopKV2", np.array([3, 1, 3, 2]), np.int32(3))
    assert vals.tolist() == [3, 3, 2] and idx.tolist() == [0, 2, 3]
    y, i = run_op("Unique", np.array([5, 3, 5, 1, 3]))
    assert y.tolist() == [5, 3, 1] and i.tolist() == [0, 1, 0, 2, 1]


def test_space_batch_round_trip():
    x = np.arange(2 * 6 * 4 * 3, dtype=np.float32).reshape(2, 6, 4, 3)
    block = np.array([2, 2], np.int32)
    pads = np.array([[1, 1], [0, 0]], np.int32)
    sb = run_op("SpaceToBatchND", x, block, pads)
    assert sb.shape == (8, 4, 2, 3)
    back = run_op("BatchToSpaceND", sb, block, pads)
    np.testing.assert_array_equal(back, x)


def test_hostile_sizes_are_refused():
    from savedmodel_io.errors import LimitExceededError

    with pytest.raises(LimitExceededError):
        run_op("Fill", np.array([1 << 20, 1 << 20], np.int64), np.float32(0))
    with pytest.raises(LimitExceededError):
        run_op("Tile", np.zeros((2, 2), np.float32), np.array([1 << 16, 1 << 16]))
    with pytest.raises(LimitExceededError):
        run_op("Range", np.int64(0), np.int64(1 << 40), np.int64(1))
    with pytest.raises(LimitExceededError):
        run_op("BroadcastTo", np.float32(1), np.array([1 << 30, 64]))


def test_decompression_is_bounded(monkeypatch):
    """A zlib bomb gets LimitExceededError, not its whole output."""
    import zlib

    from savedmodel_io.errors import LimitExceededError
    from savedmodel_io.graph.ops import decoding

    monkeypatch.setattr(decoding, "MAX_RESULT_BYTES", 1 << 20)
    bomb = np.array([zlib.compress(bytes(4 << 20))], dtype=object)
    with pytest.raises(LimitExceededError):
        run_op("DecodeCompressed", bomb, compression_type="ZLIB")


# -- regexes: RE2 semantics; never a hang or a raw re.error --------------------------------

@pytest.fixture(params=["re2", "re"])
def regex_engine(request, monkeypatch):
    """Run a test with google-re2 (skipped if absent) and with the guarded ``re`` fallback."""
    from savedmodel_io.graph.ops import _regex

    if request.param == "re2":
        pytest.importorskip("re2")
    else:
        monkeypatch.setattr(_regex, "_re2_module", None)
    return request.param


def strings(*values):
    return np.array(values, dtype=object)


# Expected values from tf.strings.regex_replace (TensorFlow 2.21).
@pytest.mark.parametrize("pattern,rewrite,glob,want", [
    (rb"(\w)(\w*)", rb"\2\1-\\\0", True, [b"elloh-\\hello  orldw-\\world", b"xa-\\ax"]),
    (rb"x*", b"-", True, [b"-h-e-l-l-o- - -w-o-r-l-d-", b"-a-"]),
    (rb"x*", b"-", False, [b"-hello  world", b"-ax"]),
    (rb"^\s+|\s+$", b"", True, [b"hello  world", b"ax"]),
    (rb"(a)|(o)", rb"[\1\2]", True, [b"hell[o]  w[o]rld", b"[a]x"]),
])
def test_regex_replace_follows_re2(regex_engine, pattern, rewrite, glob, want):
    got = run_op("StaticRegexReplace", strings(b"hello  world", b"ax"), pattern=pattern,
                 rewrite=rewrite, replace_global=glob)
    assert list(got) == want


def test_regex_empty_matches_step_over_utf8_characters(regex_engine):
    got = run_op("StaticRegexReplace", strings("hé".encode()), pattern=rb"x*", rewrite=b"-",
                 replace_global=True)
    assert list(got) == ["-h-é-".encode()]


# RE2 rewrites are not checked by TensorFlow (values from TensorFlow 2.21): a group the
# pattern lacks replaces nothing; a bad escape stops each rewrite of a global replace there
# and cancels a single replace. "\\9" used to let re.error escape, then was refused.
@pytest.mark.parametrize("rewrite,glob,want", [
    (rb"\9", True, b"hello world"), (rb"<\2>", False, b"hello world"),
    (rb"a\xb", True, b"hella warld"), (rb"a\xb", False, b"hello world"),
    (b"a\\", True, b"hella warld"), (rb"\\9", True, b"hell\\9 w\\9rld"),
    (rb"a\x\5", True, b"hello world"),
])
def test_regex_rewrites_as_re2_reads_them(regex_engine, rewrite, glob, want):
    got = run_op("StaticRegexReplace", strings(b"hello world"), pattern=rb"(o)", rewrite=rewrite,
                 replace_global=glob)
    assert list(got) == [want]
    got = run_op("RegexReplace", strings(b"hello world"), strings(b"(o)")[0], strings(rewrite)[0],
                 replace_global=glob)
    assert list(got) == [want]


@pytest.mark.parametrize("pattern", [rb"a\1", rb"(?=a)", rb"a*+", rb"(?>a)"])
def test_non_re2_syntax_is_an_invalid_argument(regex_engine, pattern):
    with pytest.raises(InvalidArgumentError, match="invalid regex"):
        run_op("StaticRegexFullMatch", strings(b"a"), pattern=pattern)


@pytest.mark.parametrize("pattern", [rb"(a|a)*b", rb"(a+)+b", rb"(?:a?)*b", rb"(x|ab)+"])
def test_backtracking_patterns_never_hang(regex_engine, pattern):
    # Python's re takes exponential time on these; TensorFlow's RE2 is linear.
    s = strings(b"a" * 40 + b"!")
    if regex_engine == "re2":
        assert not run_op("StaticRegexFullMatch", s, pattern=pattern)[0]
    else:
        with pytest.raises(UnsupportedOpError, match="google-re2"):
            run_op("StaticRegexFullMatch", s, pattern=pattern)


def test_polynomial_backtracking_is_bounded(regex_engine):
    # "\s+$" searched over a long run of spaces is quadratic with re (minutes at this size).
    s = strings(b" " * 300_000 + b"x")
    if regex_engine == "re2":
        assert run_op("StaticRegexReplace", s, pattern=rb"\s+$", rewrite=b"", replace_global=True)[0] == s[0]
    else:
        with pytest.raises(UnsupportedOpError, match="too long"):
            run_op("StaticRegexReplace", s, pattern=rb"\s+$", rewrite=b"", replace_global=True)
        # Ordinary sizes still run on the fallback.
        assert run_op("StaticRegexReplace", strings(b"a b  "), pattern=rb"\s+$", rewrite=b"",
                      replace_global=True)[0] == b"a b"
