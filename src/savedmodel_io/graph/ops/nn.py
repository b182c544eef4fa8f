"""Neural-network ops: convolutions, pooling, batch norm, activations, softmax, BiasAdd.

Convolutions are im2col over a strided view of the padded input followed by one
BLAS matmul; depthwise convolutions and pooling loop over kernel taps only (a
3x3 kernel: nine whole-tensor numpy operations), never over pixels. Padding
geometry (SAME/VALID/EXPLICIT) follows tensorflow/tensorflow
tensorflow/core/framework/kernel_shape_util.cc (GetWindowedOutputSizeVerbose).
"""

from __future__ import annotations

import functools

import numpy as np
from numpy.lib.stride_tricks import as_strided

from savedmodel_io.graph.ops._accel import accel
from savedmodel_io.graph.ops._gemm import matmul as _gemm
from savedmodel_io.graph.ops._parallel import run_pieces
from savedmodel_io.graph.ops._registry import kernel
from savedmodel_io.graph.ops._scratch import scratch as _scratch
from savedmodel_io.graph.ops._winograd import filter_transform, winograd_conv
from savedmodel_io.graph.ops._special import erfc, erfc_fitted
from savedmodel_io.graph.ops._util import attr_str, bad, check_input_rank, check_size, pad_constant
from savedmodel_io.graph.ops.math import matmul_operands, prepare_matmul


def _a(x) -> np.ndarray:
    return x if isinstance(x, np.ndarray) else np.asarray(x)


# -- geometry ---------------------------------------------------------------------------

def _window(node, size: int, k: int, stride: int, dil: int, padding: str,
            explicit: tuple[int, int] = (0, 0)) -> tuple[int, int, int]:
    """(output size, pad before, pad after) of one spatial dimension."""
    if stride < 1 or dil < 1:
        raise bad(node, "strides and dilations must be positive")
    eff = (k - 1) * dil + 1
    if padding == "VALID":
        out = (size - eff) // stride + 1 if size >= eff else 0
        return max(out, 0), 0, 0
    if padding == "SAME":
        out = -(-size // stride)
        total = max((out - 1) * stride + eff - size, 0)
        return out, total // 2, total - total // 2
    if padding == "EXPLICIT":
        before, after = explicit
        span = size + before + after
        out = (span - eff) // stride + 1 if span >= eff else 0
        return out, before, after
    raise bad(node, f"unknown padding {padding!r}")


def _layout(node) -> str:
    fmt = attr_str(node, "data_format")
    if fmt not in ("NHWC", "NCHW"):
        raise bad(node, f"data_format {fmt} is not supported")
    return fmt


def _hw(values, fmt: str) -> tuple[int, int]:
    v = list(values)
    return (v[1], v[2]) if fmt == "NHWC" else (v[2], v[3])


def _explicit(node, fmt: str) -> list[tuple[int, int]]:
    p = list(node.attr["explicit_paddings"])
    if len(p) != 8:
        raise bad(node, f"explicit_paddings must have 8 values, got {len(p)}")
    pairs = [(p[2 * i], p[2 * i + 1]) for i in range(4)]
    return [pairs[1], pairs[2]] if fmt == "NHWC" else [pairs[2], pairs[3]]


def _geometry(node, x_shape, kh, kw, fmt):
    strides = _hw(node.attr.get("strides") or [1, 1, 1, 1], fmt)
    dil = _hw(node.attr["dilations"], fmt)
    padding = attr_str(node, "padding", "VALID")
    exp = _explicit(node, fmt) if padding == "EXPLICIT" else [(0, 0), (0, 0)]
    oh, pt, pb = _window(node, x_shape[1], kh, strides[0], dil[0], padding, exp[0])
    ow, pl, pr = _window(node, x_shape[2], kw, strides[1], dil[1], padding, exp[1])
    return strides, dil, (oh, ow), ((pt, pb), (pl, pr))


def _to_nhwc(x, fmt):
    return x if fmt == "NHWC" else x.transpose(0, 2, 3, 1)


def _from_nhwc(y, fmt):
    return y if fmt == "NHWC" else np.ascontiguousarray(y.transpose(0, 3, 1, 2))


def _pad(x, pads, value=0):
    (pt, pb), (pl, pr) = pads
    if pt == pb == pl == pr == 0:
        return x
    return pad_constant(x, [(0, 0), (pt, pb), (pl, pr), (0, 0)], value)


def _patches(xp, out_hw, k_hw, strides, dil):
    """Strided view (N, OH, OW, KH, KW, C) of a padded NHWC input (no copy)."""
    n, _, _, c = xp.shape
    sn, sh, sw, sc = xp.strides
    return as_strided(
        xp,
        (n, out_hw[0], out_hw[1], k_hw[0], k_hw[1], c),
        (sn, sh * strides[0], sw * strides[1], sh * dil[0], sw * dil[1], sc),
        writeable=False,
    )


def _tap(xp, i, j, out_hw, strides, dil):
    """The input pixels kernel tap (i, j) sees, for every output position."""
    r0, c0 = i * dil[0], j * dil[1]
    return xp[:, r0:r0 + (out_hw[0] - 1) * strides[0] + 1:strides[0],
              c0:c0 + (out_hw[1] - 1) * strides[1] + 1:strides[1], :]


# Rows of output computed per GEMM: the im2col chunk (rows x K) is sized to stay in cache,
# and the bias/activation run on each chunk while it is still there. Fewer rows would make
# BLAS repack the weights too often.
_CHUNK_BYTES = 1 << 20
_MIN_ROWS = 256


def _row_chunk(rows_per_unit: int, k: int, itemsize: int) -> int:
    """How many units (output image rows) one GEMM chunk takes."""
    want = max(_CHUNK_BYTES // max(k * itemsize, 1), _MIN_ROWS)
    return max(1, want // max(rows_per_unit, 1))


# -- fused epilogues (TensorFlow's _FusedConv2D / _FusedMatMul "fused_ops") ----------------

class _Epilogue:
    """What runs on a convolution's or matmul's output in place: scale, bias, residual, activation.

    The ``fused_ops`` forms of tensorflow/tensorflow tensorflow/core/kernels/
    conv_ops_fused_impl.h and matmul_op_fused.cc: BiasAdd [, Add] [, activation] with
    args (bias [, residual]), or FusedBatchNorm [, activation] with args (scale, offset,
    mean, variance) and attr epsilon.
    """

    __slots__ = ("scale", "bias", "residual", "act", "alpha")

    def __init__(self, node, args: list, channels: int, dtype: np.dtype) -> None:
        self.scale = self.bias = self.residual = self.act = None
        self.alpha = 0.2
        ops = _fused_ops(tuple(node.attr.get("fused_ops", ())))
        if not ops:
            return
        if ops[0] == "BiasAdd":
            self.bias = _vector(node, args, 0, channels, dtype, "bias")
            rest = ops[1:]
            if rest[:1] == ["Add"]:
                if len(args) < 2:
                    raise bad(node, "fused Add needs a second argument")
                self.residual = _a(args[1])
                rest = rest[1:]
        elif ops[0] == "FusedBatchNorm":
            scale, offset, mean, var = (_vector(node, args, k, channels, np.float32, "batch norm")
                                        for k in range(4))
            s = scale / np.sqrt(var + np.float32(node.attr.get("epsilon", 1e-4)))
            self.scale = s.astype(dtype)
            self.bias = (offset - mean * s).astype(dtype)
            rest = ops[1:]
        else:
            raise bad(node, f"fused ops {ops} are not supported")
        if len(rest) > 1 or (rest and rest[0] not in _IN_PLACE):
            raise bad(node, f"fused ops {ops} are not supported")
        self.act = rest[0] if rest else None
        self.alpha = float(node.attr.get("leakyrelu_alpha", 0.2))

    def chunkable(self, shape: tuple[int, ...]) -> bool:
        """Whether it can run on row chunks of an output of ``shape`` (residual of that shape)."""
        return self.residual is None or self.residual.shape == shape

    def columns(self, c0: int, c1: int) -> _Epilogue:
        """The same epilogue for output channels ``c0:c1`` (its residual given per call)."""
        part = _Epilogue.__new__(_Epilogue)
        part.scale = self.scale[c0:c1] if self.scale is not None else None
        part.bias = self.bias[c0:c1] if self.bias is not None else None
        part.residual, part.act, part.alpha = None, self.act, self.alpha
        return part

    def apply(self, y: np.ndarray, residual: np.ndarray | None) -> np.ndarray:
        """Run on ``y`` (in place when shapes allow; returns the result)."""
        if y.ndim and self._in_c(y, residual, y.shape[-1]):
            flat = y.reshape(-1, y.shape[-1])
            self._c(flat, 0, flat.shape[1],
                    None if residual is None else residual.reshape(flat.shape))
            return y
        if self.scale is not None:
            np.multiply(y, self.scale, out=y)
        if self.bias is not None:
            np.add(y, self.bias, out=y)
        if residual is not None:
            if np.broadcast_shapes(y.shape, residual.shape) == y.shape:
                np.add(y, residual, out=y)
            else:
                y = y + residual
        if self.act is not None:
            _IN_PLACE[self.act](y, self.alpha)
        return y

    def apply_columns(self, flat: np.ndarray, c0: int, c1: int,
                      residual: np.ndarray | None) -> None:
        """Run in place on the columns ``c0:c1`` of ``flat`` (a 2-D output; ``residual``: None
        or of flat's shape), reading only that part of the residual."""
        part = self.columns(c0, c1)
        if part._in_c(flat, residual, c1 - c0):
            part._c(flat, c0, c1, residual)
        else:
            part.apply(flat[:, c0:c1], None if residual is None else residual[:, c0:c1])

    def _in_c(self, y: np.ndarray, residual: np.ndarray | None, cols: int) -> bool:
        """Whether the C loop can run on ``cols`` columns of ``y``: float32, contiguous, the
        residual of y's shape, scale and bias float32 vectors of ``cols``."""
        return accel is not None and y.size > 0 and _c_block(y) and all(
            v is None or (_c_block(v) and v.shape == (cols,)) for v in (self.scale, self.bias)) \
            and (residual is None or (residual.shape == y.shape and _c_block(residual)))

    def _c(self, flat: np.ndarray, c0: int, c1: int, residual: np.ndarray | None) -> None:
        """The C loop on the columns ``c0:c1`` of the 2-D ``flat`` (residual alike), then an
        activation it does not run itself."""
        rows, width = flat.shape
        accel.epilogue(flat.reshape(-1), _EMPTY if self.scale is None else self.scale,
                       _EMPTY if self.bias is None else self.bias,
                       _EMPTY if residual is None else residual.reshape(-1), rows, c1 - c0, c0,
                       width, c0, width, _C_ACT.get(self.act, 0))
        if self.act is not None and self.act not in _C_ACT:
            _IN_PLACE[self.act](flat[:, c0:c1], self.alpha)


def _c_block(a: np.ndarray) -> bool:
    return a.dtype == np.float32 and a.flags.c_contiguous


# The activations the C epilogue runs itself (_nnaccel.c's codes); the others run after it.
_C_ACT = {"Relu": 1, "Relu6": 2, "GeluExact": 3}
_EMPTY = np.empty(0, np.float32)


@functools.lru_cache(maxsize=64)
def _fused_ops(ops: tuple) -> list[str]:
    return [o.decode() if isinstance(o, bytes) else str(o) for o in ops]


def _vector(node, args: list, k: int, channels: int, dtype, what: str) -> np.ndarray:
    if len(args) <= k:
        raise bad(node, f"fused op needs {k + 1} arguments, got {len(args)}")
    v = _a(args[k])
    if v.shape != (channels,):
        raise bad(node, f"{what} must have shape ({channels},), got {v.shape}")
    return v.astype(dtype, copy=False)


def _relu_(y, alpha):
    np.maximum(y, 0, out=y)


def _relu6_(y, alpha):
    np.clip(y, 0, 6, out=y)


def _elu_(y, alpha):
    neg = y < 0
    y[neg] = np.expm1(y[neg])


def _leaky_relu_(y, alpha):
    if 0 <= alpha <= 1:
        np.maximum(y, y * np.asarray(alpha, y.dtype), out=y)
    else:
        np.copyto(y, np.where(y > 0, y, y * np.asarray(alpha, y.dtype)))


def _sigmoid_(y, alpha):
    with np.errstate(all="ignore"):
        np.negative(y, out=y)
        np.exp(y, out=y)
        np.add(y, 1, out=y)
        np.reciprocal(y, out=y)


def _tanh_(y, alpha):
    np.tanh(y, out=y)


def _gelu_exact_(y, alpha):
    """0.5 * y * erfc(-y / sqrt 2), as tf.nn.gelu(approximate=False) computes it."""
    if accel is not None and y.dtype == np.float32 and y.flags.c_contiguous:
        flat = y.reshape(-1)
        accel.gelu(flat, flat)  # one pass, in place
        return
    t = np.multiply(y, y.dtype.type(-0.7071067811865476))
    if accel is not None and t.dtype == np.float32:
        accel.erfc(t.reshape(-1), t.reshape(-1))
    else:
        t = (erfc if t.dtype == np.float64 else erfc_fitted)(t).astype(y.dtype, copy=False)
    np.multiply(y, t, out=y)
    np.multiply(y, y.dtype.type(0.5), out=y)


_IN_PLACE = {"Relu": _relu_, "Relu6": _relu6_, "Elu": _elu_, "LeakyRelu": _leaky_relu_,
             "Sigmoid": _sigmoid_, "Tanh": _tanh_, "GeluExact": _gelu_exact_}


# -- convolutions -----------------------------------------------------------------------

class _ConvWeights:
    """A constant filter laid out once: the (KH*KW*Cin, Cout) GEMM matrix and, for 3x3 float32
    filters, the Winograd-transformed one (16, Cin, Cout)."""

    __slots__ = ("gemm", "winograd")

    def __init__(self, w: np.ndarray) -> None:
        self.gemm = np.ascontiguousarray(w).reshape(-1, w.shape[3])
        self.winograd = filter_transform(w) if w.shape[:2] == (3, 3) and \
            w.dtype == np.float32 and w.shape[2] >= _WINOGRAD_MIN_CIN else None


def _prepare_conv(node, consts: dict) -> _ConvWeights | None:
    """The filter's layouts for the kernel (see _ConvWeights)."""
    w = consts.get(1)
    if not isinstance(w, np.ndarray) or w.ndim != 4:
        return None
    return _ConvWeights(w)


def _threads(ctx) -> int:
    """How many threads the run lets one kernel use (1 outside a run)."""
    return getattr(ctx, "threads", 1)


@kernel("Conv2D", prepare=_prepare_conv)
def conv2d(node, inputs, ctx):
    return _conv2d(node, _a(inputs[0]), _a(inputs[1]), None, _threads(ctx))


def _nhwc_residual(node, epi: _Epilogue) -> _Epilogue:
    """The epilogue runs on NHWC results: an NCHW node's residual is laid out NHWC too."""
    if epi.residual is not None and epi.residual.ndim == 4 and _layout(node) == "NCHW":
        epi.residual = epi.residual.transpose(0, 2, 3, 1)
    return epi


@kernel("_FusedConv2D", prepare=_prepare_conv)
def fused_conv2d(node, inputs, ctx):
    w = _a(inputs[1])
    epi = _Epilogue(node, inputs[2:], w.shape[3] if w.ndim == 4 else 0, _a(inputs[0]).dtype)
    return _conv2d(node, _a(inputs[0]), w, _nhwc_residual(node, epi), _threads(ctx))


def _conv2d(node, x, w, epi: _Epilogue | None, threads: int = 1):
    fmt = _layout(node)
    x = _to_nhwc(x, fmt)
    if x.ndim != 4 or w.ndim != 4:
        raise bad(node, f"Conv2D needs rank-4 input and filter, got {x.shape} and {w.shape}")
    kh, kw, cin, cout = w.shape
    c = x.shape[3]
    if cin == 0 or c % cin:
        raise bad(node, f"input depth {c} is not a multiple of filter depth {cin}")
    groups = c // cin
    strides, dil, out_hw, pads = _geometry(node, x.shape, kh, kw, fmt)
    n = x.shape[0]
    if groups == c and groups > 1:  # one input channel per group: a depthwise convolution
        y = _depthwise_nhwc(x, w.reshape(kh, kw, c, cout // c), strides, dil, out_hw, pads,
                            threads)
        return _from_nhwc(epi.apply(y, epi.residual) if epi is not None else y, fmt)
    if groups != 1:
        y = _grouped_conv(x, w, groups, strides, dil, out_hw, pads)
        return _from_nhwc(epi.apply(y, epi.residual) if epi is not None else y, fmt)
    dtype = np.result_type(x.dtype, w.dtype)
    plan = node.prepared if isinstance(node.prepared, _ConvWeights) else None
    y = np.empty((n, out_hw[0], out_hw[1], cout), dtype)
    if y.size == 0:
        return _from_nhwc(y, fmt)
    if (kh, kw, strides, dil) == (3, 3, (1, 1), (1, 1)) and dtype == np.float32 and \
            cin >= _WINOGRAD_MIN_CIN:
        u = plan.winograd if plan is not None and plan.winograd is not None \
            else filter_transform(w)
        return _from_nhwc(_winograd(x, u, y, pads, epi, threads), fmt)
    w2 = plan.gemm if plan is not None and plan.gemm.dtype == dtype \
        else w.reshape(kh * kw * cin, cout).astype(dtype, copy=False)
    k = kh * kw * cin
    if kh == kw == 1 and pads == ((0, 0), (0, 0)):
        if strides != (1, 1):
            x = x[:, ::strides[0], ::strides[1], :][:, :out_hw[0], :out_hw[1], :]
        return _from_nhwc(_gemm_rows(x.reshape(-1, c), w2, y, epi, threads), fmt)
    xp = _pad(x, pads)
    p = _patches(xp, out_hw, (kh, kw), strides, dil)
    oh, ow = out_hw
    step = _row_chunk(ow, k, dtype.itemsize)
    if threads > 1 and y.size * k >= _PARALLEL_MACS:
        step = min(step, max(-(-n * oh // threads), 1))
    if step >= n * oh or (epi is not None and not epi.chunkable(y.shape)):
        # One block: im2col once, then the GEMM (split by columns over the threads).
        a = _scratch("im2col", n * oh * ow * k, dtype).reshape(n * oh * ow, k)
        np.copyto(a.reshape(p.shape), p)
        return _from_nhwc(_gemm_rows(a, w2, y, epi, threads), fmt)
    res = epi.residual.reshape(n, oh, ow, cout) if epi is not None and \
        epi.residual is not None else None
    # Blocks of whole images when an image is smaller than a block, else of image rows; each
    # thread copies its patches into its own buffer.
    if step >= oh:
        per = step // oh
        pieces = [(slice(b, min(n, b + per)), slice(None)) for b in range(0, n, per)]
    else:
        pieces = [(slice(b, b + 1), slice(r, min(oh, r + step)))
                  for b in range(n) for r in range(0, oh, step)]

    def block(piece) -> None:
        bs, rs = piece
        src = p[bs, rs]
        rows = src.shape[0] * src.shape[1] * ow
        a = _scratch("im2col", rows * k, dtype).reshape(rows, k)
        np.copyto(a.reshape(src.shape), src)
        yc = y[bs, rs].reshape(rows, cout)
        _gemm(a, w2, yc)
        if epi is not None:
            epi.apply(yc, res[bs, rs].reshape(rows, cout) if res is not None else None)
    run_pieces(pieces, block, threads if y.size * k >= _PARALLEL_MACS else 1)
    return _from_nhwc(y, fmt)


# 3x3 stride-1 float32 convolutions with at least this many input channels run as Winograd
# F(2x2, 3x3) (graph/ops/_winograd.py); fewer make its GEMMs too thin to pay (VGG16's first
# layer, 3 channels, stays im2col).
_WINOGRAD_MIN_CIN = 16


def _winograd(x, u, y, pads, epi: _Epilogue | None, threads: int) -> np.ndarray:
    """y = the 3x3 stride-1 convolution of NHWC x by the transformed filter u, epilogue run on
    each block as it is finished; returns the result."""
    x = x.astype(np.float32, copy=False)
    origin = (pads[0][0], pads[1][0])
    if epi is not None and not epi.chunkable(y.shape):
        winograd_conv(x, origin, u, y, None, None, threads)
        return epi.apply(y, epi.residual)
    res = epi.residual.reshape(y.shape) if epi is not None and epi.residual is not None \
        else None
    winograd_conv(x, origin, u, y, epi, res, threads)
    return y


# A GEMM is split over the runtime's threads from this many multiply-adds on (below, the
# hand-over costs more than it saves).
_PARALLEL_MACS = 1 << 21


def _row_blocks(rows: int, step: int, threads: int) -> list[tuple[int, int]]:
    """Row blocks of at most ``step`` rows; for several threads, a multiple of ``threads`` of
    them, as even as rows allow, so that dealt round-robin each thread gets the same share
    (1,024 rows in blocks of 341 would give one thread two blocks and the other one and a
    bit; in four blocks of 256, two each)."""
    if threads <= 1:
        return [(r, min(rows, r + step)) for r in range(0, rows, max(step, 1))]
    n = -(-rows // max(1, min(step, -(-rows // threads))))
    n = max(1, -(-n // threads)) * threads
    ends = [i * rows // n for i in range(n + 1)]
    return [(r0, r1) for r0, r1 in zip(ends, ends[1:]) if r0 < r1]


def _gemm_rows(a: np.ndarray, w2: np.ndarray, y: np.ndarray, epi: _Epilogue | None,
               threads: int = 1) -> np.ndarray:
    """y = a @ w2 (y: the output, any shape holding a.shape[0] rows) with the epilogue run on
    each block while it is in cache; returns the result. Blocks of rows (or, for few rows, of
    output columns, so each thread packs only its part of the weights) go to the threads."""
    rows, k = a.shape
    cols = w2.shape[1]
    flat = y.reshape(rows, cols)
    if epi is not None and not epi.chunkable(y.shape):
        _gemm(a, w2, flat)
        return epi.apply(y, epi.residual)
    res = epi.residual.reshape(rows, cols) if epi is not None and epi.residual is not None \
        else None
    parallel = threads > 1 and rows * k * cols >= _PARALLEL_MACS
    step = _row_chunk(1, k, y.itemsize)
    if parallel and rows < _MIN_ROWS * threads and cols >= 32 * threads:
        width = -(-cols // threads)
        width = -(-width // 16) * 16

        def column_block(c0: int) -> None:
            c1 = min(cols, c0 + width)
            _gemm(a, w2[:, c0:c1], flat[:, c0:c1])
            if epi is not None:
                epi.apply_columns(flat, c0, c1, res)
        run_pieces(range(0, cols, width), column_block, threads)
        return y
    threads = threads if parallel else 1

    def row_block(piece: tuple[int, int]) -> None:
        r0, r1 = piece
        _gemm(a[r0:r1], w2, flat[r0:r1])
        if epi is not None:
            epi.apply(flat[r0:r1], res[r0:r1] if res is not None else None)
    run_pieces(_row_blocks(rows, step, threads), row_block, threads)
    return y


def _grouped_conv(x, w, groups, strides, dil, out_hw, pads):
    """Grouped convolution: one GEMM per group over the patch view."""
    kh, kw, cin, cout = w.shape
    n = x.shape[0]
    p = _patches(_pad(x, pads), out_hw, (kh, kw), strides, dil)
    rows = n * out_hw[0] * out_hw[1]
    og = cout // groups
    parts = []
    for g in range(groups):
        pg = p[..., g * cin:(g + 1) * cin].reshape(rows, kh * kw * cin)
        parts.append(pg @ w[..., g * og:(g + 1) * og].reshape(kh * kw * cin, og))
    y = np.concatenate(parts, axis=1)
    return y.reshape(n, out_hw[0], out_hw[1], cout).astype(x.dtype, copy=False)


@kernel("DepthwiseConv2dNative")
def depthwise_conv2d(node, inputs, ctx):
    return _depthwise(node, _a(inputs[0]), _a(inputs[1]), None, _threads(ctx))


@kernel("_FusedDepthwiseConv2dNative")
def fused_depthwise_conv2d(node, inputs, ctx):
    w = _a(inputs[1])
    channels = w.shape[2] * w.shape[3] if w.ndim == 4 else 0
    epi = _Epilogue(node, inputs[2:], channels, _a(inputs[0]).dtype)
    return _depthwise(node, _a(inputs[0]), w, _nhwc_residual(node, epi), _threads(ctx))


def _depthwise(node, x, w, epi: _Epilogue | None, threads: int = 1):
    fmt = _layout(node)
    x = _to_nhwc(x, fmt)
    if x.ndim != 4 or w.ndim != 4 or w.shape[2] != x.shape[3]:
        raise bad(node, f"input {x.shape} and depthwise filter {w.shape} do not match")
    kh, kw = w.shape[:2]
    strides, dil, out_hw, pads = _geometry(node, x.shape, kh, kw, fmt)
    y = _depthwise_nhwc(x, w, strides, dil, out_hw, pads, threads)
    if epi is not None:
        y = epi.apply(y, epi.residual)
    return _from_nhwc(y, fmt)


def _depthwise_nhwc(x, w, strides, dil, out_hw, pads, threads: int = 1):
    """Depthwise convolution of NHWC ``x`` by a (KH, KW, C, M) filter: (N, OH, OW, C*M)."""
    kh, kw, c, m = w.shape
    n = x.shape[0]
    xp = _pad(x, pads)
    dtype = np.result_type(x.dtype, w.dtype)
    if accel is not None and m == 1 and dtype == np.float32:
        # The C loop (graph/ops/_nnaccel.c): 2-5x faster than the einsum below; blocks of
        # output rows of each image go to the threads.
        xp = np.ascontiguousarray(xp, np.float32)
        w1 = np.ascontiguousarray(w[..., 0], np.float32)
        y = np.empty((n, *out_hw, c), np.float32)
        oh, ow = out_hw
        parts = threads if threads > 1 and y.size * kh * kw >= _PARALLEL_MACS else 1
        step = max(-(-oh // parts), 1)

        def rows(piece) -> None:
            b, r0 = piece
            r1 = min(oh, r0 + step)
            src = xp[b:b + 1, r0 * strides[0]:]
            accel.depthwise(src, w1, y[b:b + 1, r0:r1], 1, src.shape[1], xp.shape[2], c,
                            r1 - r0, ow, kh, kw, *strides, *dil)
        run_pieces([(b, r) for b in range(n) for r in range(0, oh, step)], rows, parts)
        return y
    # One einsum over the strided patch view: a single pass, no per-tap temporaries
    # (measured faster than k*k multiply-adds over shifted views with numpy 2.x).
    p = _patches(xp, out_hw, (kh, kw), strides, dil)
    if m == 1:
        y = np.einsum("nhwijc,ijc->nhwc", p, w[..., 0], out=np.empty((n, *out_hw, c), dtype))
    else:
        y = np.einsum("nhwijc,ijcm->nhwcm", p, w).reshape(n, out_hw[0], out_hw[1], c * m)
    return y.astype(x.dtype, copy=False)


@kernel("_FusedMatMul", prepare=prepare_matmul)
def fused_matmul(node, inputs, ctx):
    a, b = matmul_operands(node, inputs)
    dtype = np.result_type(a.dtype, b.dtype)
    y = np.empty((a.shape[0], b.shape[1]), dtype)
    return _gemm_rows(a, b, y, _Epilogue(node, inputs[2:], b.shape[1], dtype), _threads(ctx))


def _prepare_batch_matmul(node, consts: dict) -> np.ndarray | None:
    """A constant 2-D right-hand matrix, contiguous, as the rows of x meet it."""
    b = consts.get(1)
    if isinstance(b, np.ndarray) and b.ndim == 2 and not node.attr.get("adj_y"):
        return np.ascontiguousarray(b)
    return None


@kernel("_MklFusedBatchMatMulV2", prepare=_prepare_batch_matmul)
def fused_batch_matmul(node, inputs, ctx):
    """BatchMatMulV2 and a fused epilogue (TF's _MklFusedBatchMatMulV2): x (..., K) by one
    (K, N) matrix is a single GEMM over x's rows; batched right-hand sides use np.matmul."""
    x, y = _a(inputs[0]), _a(inputs[1])
    check_input_rank(node, x)
    if node.attr.get("adj_x") or node.attr.get("adj_y") or y.ndim != 2 or x.ndim < 2:
        from savedmodel_io.graph.ops.math import batch_matmul

        out = _a(batch_matmul(node, inputs[:2], ctx))
        epi = _Epilogue(node, inputs[2:], out.shape[-1] if out.ndim else 0, out.dtype)
        return epi.apply(out, epi.residual)
    if x.shape[-1] != y.shape[0]:
        raise bad(node, f"Matrix size-incompatible: In[0]: {list(x.shape)}, In[1]: {list(y.shape)}")
    w = node.prepared if node.prepared is not None else y
    dtype = np.result_type(x.dtype, y.dtype)
    out = np.empty((*x.shape[:-1], y.shape[1]), dtype)
    return _gemm_rows(x.reshape(-1, x.shape[-1]), w, out,
                      _Epilogue(node, inputs[2:], y.shape[1], dtype), _threads(ctx))


@kernel("Conv2DBackpropInput")
def conv2d_backprop_input(node, inputs, ctx):
    fmt = _layout(node)
    sizes = [int(v) for v in np.asarray(inputs[0]).reshape(-1)]
    w = _a(inputs[1])
    dy = _to_nhwc(_a(inputs[2]), fmt)
    if len(sizes) != 4 or w.ndim != 4 or dy.ndim != 4:
        raise bad(node, "Conv2DBackpropInput needs 4-D input_sizes, filter and out_backprop")
    in_shape = sizes if fmt == "NHWC" else [sizes[0], sizes[2], sizes[3], sizes[1]]
    kh, kw, cin, cout = w.shape
    if dy.shape[3] != cout or in_shape[3] != cin:
        raise bad(node, f"filter {w.shape} does not match input {in_shape} / out_backprop {dy.shape}")
    strides, dil, out_hw, pads = _geometry(node, in_shape, kh, kw, fmt)
    if tuple(dy.shape[1:3]) != out_hw:
        raise bad(node, f"out_backprop spatial shape {dy.shape[1:3]} != {out_hw} computed from input_sizes")
    n, h, wd = in_shape[0], in_shape[1], in_shape[2]
    cols = (dy.reshape(-1, cout) @ w.reshape(kh * kw * cin, cout).T).reshape(
        n, out_hw[0], out_hw[1], kh, kw, cin)
    (pt, pb), (pl, pr) = pads
    hp = max(h + pt + pb, (out_hw[0] - 1) * strides[0] + (kh - 1) * dil[0] + 1)
    wp = max(wd + pl + pr, (out_hw[1] - 1) * strides[1] + (kw - 1) * dil[1] + 1)
    buf = np.zeros((n, hp, wp, cin), dtype=dy.dtype)
    for i in range(kh):
        for j in range(kw):
            r0, c0 = i * dil[0], j * dil[1]
            buf[:, r0:r0 + (out_hw[0] - 1) * strides[0] + 1:strides[0],
                c0:c0 + (out_hw[1] - 1) * strides[1] + 1:strides[1], :] += cols[:, :, :, i, j, :]
    return _from_nhwc(np.ascontiguousarray(buf[:, pt:pt + h, pl:pl + wd, :]), fmt)


# -- pooling ----------------------------------------------------------------------------

def _pool(node, x, ksize, strides, fmt, kind):
    x = _to_nhwc(x, fmt)
    if x.ndim != 4:
        raise bad(node, f"pooling needs a rank-4 input, got {x.shape}")
    kh, kw = _hw(ksize, fmt)
    sh, sw = _hw(strides, fmt)
    padding = attr_str(node, "padding", "VALID")
    oh, pt, pb = _window(node, x.shape[1], kh, sh, 1, padding)
    ow, pl, pr = _window(node, x.shape[2], kw, sw, 1, padding)
    pads = ((pt, pb), (pl, pr))
    out_hw = (oh, ow)
    if kind == "max":
        low = -np.inf if x.dtype.kind == "f" else np.iinfo(x.dtype).min
        xp = _pad(x, pads, low)
        y = None
        for i in range(kh):
            for j in range(kw):
                t = _tap(xp, i, j, out_hw, (sh, sw), (1, 1))
                y = t.copy() if y is None else np.maximum(y, t, out=y)
        return _from_nhwc(y, fmt)
    xp = _pad(x, pads)
    y = np.zeros((x.shape[0], oh, ow, x.shape[3]), dtype=x.dtype)
    for i in range(kh):
        for j in range(kw):
            y += _tap(xp, i, j, out_hw, (sh, sw), (1, 1))
    # Padding cells do not count towards the average (TF's AvgPool).
    ones = _pad(np.ones((1, x.shape[1], x.shape[2], 1), dtype=x.dtype), pads)
    cnt = np.zeros((1, oh, ow, 1), dtype=x.dtype)
    for i in range(kh):
        for j in range(kw):
            cnt += _tap(ones, i, j, out_hw, (sh, sw), (1, 1))
    return _from_nhwc(y / cnt, fmt)


@kernel("MaxPool")
def max_pool(node, inputs, ctx):
    return _pool(node, _a(inputs[0]), node.attr["ksize"], node.attr["strides"], _layout(node), "max")


@kernel("MaxPoolV2")
def max_pool_v2(node, inputs, ctx):
    return _pool(node, _a(inputs[0]), np.asarray(inputs[1]).tolist(), np.asarray(inputs[2]).tolist(),
                 _layout(node), "max")


@kernel("AvgPool")
def avg_pool(node, inputs, ctx):
    return _pool(node, _a(inputs[0]), node.attr["ksize"], node.attr["strides"], _layout(node), "avg")


# -- normalisation --------------------------------------------------------------------

def _batch_norm(node, inputs, n_out):
    x = _a(inputs[0])
    scale, offset, mean, var = (_a(v).astype(np.float32, copy=False) for v in inputs[1:5])
    eps = float(node.attr["epsilon"])
    fmt = _layout(node) if x.ndim == 4 else "NHWC"
    xf = _to_nhwc(x, fmt).astype(np.float32, copy=False)
    c = xf.shape[-1]
    if scale.shape != (c,) or offset.shape != (c,):
        raise bad(node, f"scale/offset must have shape ({c},)")
    if node.attr["is_training"]:
        axes = tuple(range(xf.ndim - 1))
        bmean = xf.mean(axis=axes)
        bvar = xf.var(axis=axes)
        count = xf.size // max(c, 1)
        unbiased = bvar * count / max(count - 1, 1)
        factor = float(node.attr["exponential_avg_factor"])
        if factor != 1.0 and mean.size:
            out_mean = (1 - factor) * mean + factor * bmean
            out_var = (1 - factor) * var + factor * unbiased
        else:
            out_mean, out_var = bmean, unbiased
        use_mean, use_var = bmean, bvar
    else:
        if mean.shape != (c,) or var.shape != (c,):
            raise bad(node, f"mean/variance must have shape ({c},)")
        use_mean, use_var = mean, var
        out_mean, out_var = mean, var
    inv = (1.0 / np.sqrt(use_var + np.float32(eps))).astype(np.float32) * scale
    y = (xf - use_mean) * inv + offset
    y = _from_nhwc(y.astype(x.dtype, copy=False), fmt)
    outs = [y, out_mean, out_var, use_mean, use_var]
    if n_out == 6:
        outs.append(np.zeros((0,), np.float32))
    return outs


@kernel("FusedBatchNorm", "FusedBatchNormV2")
def fused_batch_norm(node, inputs, ctx):
    return _batch_norm(node, inputs, 5)


@kernel("FusedBatchNormV3")
def fused_batch_norm_v3(node, inputs, ctx):
    return _batch_norm(node, inputs, 6)


@kernel("_MklLayerNorm")
def layer_norm(node, inputs, ctx):
    """Normalise over the last axis: (x - mean) / sqrt(var + epsilon) * scale + offset (TF's
    fused layer norm, which the optimiser makes of Keras' LayerNormalization); row blocks
    small enough to stay in cache."""
    x, scale, offset = _a(inputs[0]), _a(inputs[1]), _a(inputs[2])
    c = x.shape[-1] if x.ndim else 0
    if x.ndim == 0 or scale.shape != (c,) or offset.shape != (c,):
        raise bad(node, f"scale and offset must have shape ({c},) for input {x.shape}")
    dtype = np.result_type(x.dtype, scale.dtype)
    eps = dtype.type(node.attr.get("epsilon", 1e-3))
    rows = x.reshape(-1, c) if c else x.reshape(0, 0)
    y = np.empty(rows.shape, dtype)
    if accel is not None and c and x.dtype == scale.dtype == offset.dtype == np.float32:
        src, sc, off = (np.ascontiguousarray(v) for v in (rows, scale, offset))
        _by_rows(lambda r0, r1: accel.layer_norm(src[r0:r1], sc, off, y[r0:r1], c, eps),
                 rows.shape[0], rows.size, _threads(ctx))
        return y.reshape(x.shape)
    step = max(1, (1 << 16) // max(c, 1))
    for r0 in range(0, rows.shape[0], step):
        xr, yr = rows[r0:r0 + step], y[r0:r0 + step]
        np.subtract(xr, xr.mean(axis=1, keepdims=True, dtype=dtype), out=yr)
        var = np.einsum("ij,ij->i", yr, yr)[:, None] / dtype.type(c)
        np.multiply(yr, 1 / np.sqrt(var + eps), out=yr)
        np.multiply(yr, scale, out=yr)
        np.add(yr, offset, out=yr)
    return y.reshape(x.shape)


@kernel("LRN")
def lrn(node, inputs, ctx):
    x = _a(inputs[0])
    r = int(node.attr["depth_radius"])
    bias = float(node.attr["bias"])
    alpha = float(node.attr["alpha"])
    beta = float(node.attr["beta"])
    sq = np.pad(np.square(x), [(0, 0)] * (x.ndim - 1) + [(r, r)])
    c = x.shape[-1]
    acc = np.zeros_like(x)
    for k in range(2 * r + 1):
        acc += sq[..., k:k + c]
    return (x / np.power(bias + alpha * acc, beta)).astype(x.dtype)


# -- activations -------------------------------------------------------------------------

def _act(fn):
    # No np.errstate here: the runtime runs graphs under np.errstate(all="ignore").
    def run(node, inputs, ctx):
        x = _a(inputs[0])
        return np.asarray(fn(node, x)).astype(x.dtype, copy=False)
    return run


_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946

kernel("Relu")(_act(lambda n, x: np.maximum(x, np.zeros((), x.dtype))))
# "+ 0" turns -0.0 into 0.0 as TF's min(max(x, 0), 6) does; Elu/Selu keep -0.0 (x < 0 is false).
kernel("Relu6")(_act(lambda n, x: np.clip(x, np.zeros((), x.dtype), np.asarray(6, x.dtype)) + np.zeros((), x.dtype)))
kernel("Elu")(_act(lambda n, x: np.where(x < 0, np.expm1(np.minimum(x, 0)), x)))
kernel("Selu")(_act(lambda n, x: _SELU_SCALE * np.where(x < 0, _SELU_ALPHA * np.expm1(np.minimum(x, 0)), x)))
kernel("LeakyRelu")(_act(lambda n, x: np.where(x > 0, x, x * np.asarray(n.attr["alpha"], x.dtype))))


# A row-wise C loop (softmax, layer norm) is split over the run's threads from this many
# values on (below, handing rows to a pool thread costs more than it saves).
_PARALLEL_ROWS_VALUES = 1 << 16


def _by_rows(fn, rows: int, values: int, threads: int) -> None:
    """``fn(r0, r1)`` over row blocks ``[r0, r1)`` covering ``rows`` rows: one block per thread
    when there are ``values`` enough to share (rows are independent), else one block."""
    n = min(threads, rows) if values >= _PARALLEL_ROWS_VALUES else 1
    if n <= 1:
        fn(0, rows)
        return
    ends = [i * rows // n for i in range(n + 1)]
    run_pieces(list(zip(ends, ends[1:])), lambda piece: fn(*piece), n)


def _softmax(x, log, threads: int = 1):
    """Softmax (or log-softmax) over the last axis, in place on one output buffer."""
    if x.dtype.kind not in "fc":
        x = x.astype(np.float64)
    if accel is not None and not log and x.dtype == np.float32 and x.size:
        n = x.shape[-1]
        src = np.ascontiguousarray(x).reshape(-1, n)
        out = np.empty(src.shape, np.float32)
        _by_rows(lambda r0, r1: accel.softmax(src[r0:r1], out[r0:r1], n), src.shape[0],
                 src.size, threads)
        return out.reshape(x.shape)
    z = np.subtract(x, np.max(x, axis=-1, keepdims=True))
    if log:
        return np.subtract(z, np.log(np.sum(np.exp(z), axis=-1, keepdims=True)), out=z)
    np.exp(z, out=z)
    return np.divide(z, np.sum(z, axis=-1, keepdims=True), out=z)


def _softmax_kernel(log: bool):
    """Softmax/LogSoftmax over the last axis; TF refuses scalars."""
    def run(node, inputs, ctx):
        x = _a(inputs[0])
        if x.ndim == 0:
            raise bad(node, "logits must have >= 1 dimension, got []")
        return np.asarray(_softmax(x, log, _threads(ctx))).astype(x.dtype, copy=False)
    return run


kernel("Softmax")(_softmax_kernel(False))
kernel("LogSoftmax")(_softmax_kernel(True))


@kernel("BiasAdd", "BiasAddV1")
def bias_add(node, inputs, ctx):
    x, b = _a(inputs[0]), _a(inputs[1])
    if b.ndim != 1:
        raise bad(node, f"bias must be 1-D, got shape {b.shape}")
    if attr_str(node, "data_format", "NHWC") == "NCHW" and x.ndim > 2:  # BiasAddV1: no attr, NHWC
        if x.shape[1] != b.shape[0]:
            raise bad(node, f"bias of size {b.shape[0]} does not match channel dimension {x.shape[1]}")
        return x + b.reshape((-1,) + (1,) * (x.ndim - 2))
    if x.shape[-1] != b.shape[0]:
        raise bad(node, f"bias of size {b.shape[0]} does not match last dimension {x.shape[-1]}")
    return x + b


# -- 3-D convolution and pooling ------------------------------------------------------------

def _layout3d(node) -> str:
    fmt = attr_str(node, "data_format", "NDHWC")  # Conv3DBackpropInput (v1): no attr, NDHWC
    if fmt not in ("NDHWC", "NCDHW"):
        raise bad(node, f"data_format {fmt} is not supported")
    return fmt


def _dhw(values, fmt: str) -> tuple[int, int, int]:
    v = list(values)
    return (v[1], v[2], v[3]) if fmt == "NDHWC" else (v[2], v[3], v[4])


def _geometry3d(node, x, k, fmt, strides, dil):
    padding = attr_str(node, "padding", "VALID")
    outs, pads = [], []
    for i in range(3):
        o, a, b = _window(node, x.shape[1 + i], k[i], strides[i], dil[i], padding)
        outs.append(o)
        pads.append((a, b))
    return tuple(outs), pads


@kernel("Conv3D")
def conv3d(node, inputs, ctx):
    fmt = _layout3d(node)
    x = _a(inputs[0])
    if fmt == "NCDHW":
        x = x.transpose(0, 2, 3, 4, 1)
    w = _a(inputs[1])
    if x.ndim != 5 or w.ndim != 5 or w.shape[3] != x.shape[4]:
        raise bad(node, f"Conv3D input {x.shape} and filter {w.shape} do not match")
    k = w.shape[:3]
    strides = _dhw(node.attr.get("strides") or [1] * 5, fmt)
    dil = _dhw(node.attr["dilations"], fmt)
    out, pads = _geometry3d(node, x, k, fmt, strides, dil)
    xp = np.pad(x, [(0, 0)] + pads + [(0, 0)])
    n, c = x.shape[0], x.shape[4]
    s = xp.strides
    view = as_strided(
        xp, (n, *out, *k, c),
        (s[0], s[1] * strides[0], s[2] * strides[1], s[3] * strides[2],
         s[1] * dil[0], s[2] * dil[1], s[3] * dil[2], s[4]), writeable=False)
    rows = n * out[0] * out[1] * out[2]
    y = (view.reshape(rows, -1) @ w.reshape(-1, w.shape[4])).reshape(n, *out, w.shape[4])
    y = y.astype(x.dtype, copy=False)
    return np.ascontiguousarray(y.transpose(0, 4, 1, 2, 3)) if fmt == "NCDHW" else y


@kernel("Conv3DBackpropInputV2", "Conv3DBackpropInput")
def conv3d_backprop_input(node, inputs, ctx):
    """conv3d_transpose: scatter out_backprop @ filter^T back onto the input grid, tap by tap."""
    fmt = _layout3d(node)
    if node.op == "Conv3DBackpropInput":  # v1 takes the input tensor itself, NDHWC only
        sizes = list(np.shape(inputs[0]))
    else:
        sizes = [int(v) for v in np.asarray(inputs[0]).reshape(-1)]
    w = _a(inputs[1])
    dy = _a(inputs[2])
    if len(sizes) != 5 or w.ndim != 5 or dy.ndim != 5:
        raise bad(node, f"{node.op} needs 5-D input_sizes, filter and out_backprop")
    if fmt == "NCDHW":
        sizes = [sizes[0], *sizes[2:], sizes[1]]
        dy = dy.transpose(0, 2, 3, 4, 1)
    k, cin, cout = w.shape[:3], w.shape[3], w.shape[4]
    if dy.shape[4] != cout or sizes[4] != cin:
        raise bad(node, f"filter {w.shape} does not match input {sizes} / out_backprop {dy.shape}")
    strides = _dhw(node.attr.get("strides") or [1] * 5, fmt)
    dil = _dhw(node.attr["dilations"], fmt)
    shape_only = np.broadcast_to(np.zeros((), dy.dtype), sizes)
    out, pads = _geometry3d(node, shape_only, k, fmt, strides, dil)
    if tuple(dy.shape[1:4]) != tuple(out):
        raise bad(node, f"out_backprop spatial shape {dy.shape[1:4]} != {tuple(out)} computed from input_sizes")
    check_size(node, sizes, dy.itemsize)
    cols = (dy.reshape(-1, cout) @ w.reshape(-1, cout).T).reshape(sizes[0], *out, *k, cin)
    full = [max(sizes[1 + i] + sum(pads[i]), (out[i] - 1) * strides[i] + (k[i] - 1) * dil[i] + 1)
            for i in range(3)]
    buf = np.zeros((sizes[0], *full, cin), dtype=dy.dtype)
    for a in range(k[0]):
        for b in range(k[1]):
            for c in range(k[2]):
                sl = tuple(slice(t * dil[i], t * dil[i] + (out[i] - 1) * strides[i] + 1, strides[i])
                           for i, t in enumerate((a, b, c)))
                buf[(slice(None), *sl)] += cols[:, :, :, :, a, b, c, :]
    y = buf[:, pads[0][0]:pads[0][0] + sizes[1], pads[1][0]:pads[1][0] + sizes[2],
            pads[2][0]:pads[2][0] + sizes[3], :]
    y = y.astype(dy.dtype, copy=False)
    return np.ascontiguousarray(y.transpose(0, 4, 1, 2, 3) if fmt == "NCDHW" else y)


def _pool3d(node, inputs, kind):
    fmt = _layout3d(node)
    x = _a(inputs[0])
    if fmt == "NCDHW":
        x = x.transpose(0, 2, 3, 4, 1)
    if x.ndim != 5:
        raise bad(node, f"3-D pooling needs a rank-5 input, got {x.shape}")
    k = _dhw(node.attr["ksize"], fmt)
    st = _dhw(node.attr["strides"], fmt)
    out, pads = _geometry3d(node, x, k, fmt, st, (1, 1, 1))
    fill = (-np.inf if x.dtype.kind == "f" else np.iinfo(x.dtype).min) if kind == "max" else 0
    xp = np.pad(x, [(0, 0)] + pads + [(0, 0)], constant_values=fill)
    ones = np.pad(np.ones((1, *x.shape[1:4], 1), x.dtype), [(0, 0)] + pads + [(0, 0)])
    y = None
    cnt = np.zeros((1, *out, 1), x.dtype)
    for a in range(k[0]):
        for b in range(k[1]):
            for c in range(k[2]):
                sl = (slice(None), slice(a, a + (out[0] - 1) * st[0] + 1, st[0]),
                      slice(b, b + (out[1] - 1) * st[1] + 1, st[1]),
                      slice(c, c + (out[2] - 1) * st[2] + 1, st[2]), slice(None))
                t = xp[sl]
                if kind == "max":
                    y = t.copy() if y is None else np.maximum(y, t, out=y)
                else:
                    y = t.astype(x.dtype, copy=True) if y is None else y + t
                    cnt += ones[sl]
    if kind == "avg":
        y = y / cnt
    return np.ascontiguousarray(y.transpose(0, 4, 1, 2, 3)) if fmt == "NCDHW" else y


@kernel("MaxPool3D")
def max_pool3d(node, inputs, ctx):
    return _pool3d(node, inputs, "max")


@kernel("AvgPool3D")
def avg_pool3d(node, inputs, ctx):
    return _pool3d(node, inputs, "avg")
