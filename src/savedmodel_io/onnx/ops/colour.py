"""HSV colour conversions and the hue/saturation adjustments as ONNX element-wise arithmetic.

Each converter builds TensorFlow's CPU formula step by step, in the same order and types,
so results round as TensorFlow's do (the runtime's kernels, graph/ops/image_color.py, take
the same steps; facts from tensorflow/tensorflow tensorflow/core/kernels/image/):

* colorspace_op.h (RGBToHSV, HSVToRGB): Eigen expressions in the image's type. Eigen computes
  half and bfloat16 in float and rounds every result back, so those types are computed in
  float32 with a round trip through the type after each rounding operation (float32 holds
  more than twice their significand bits plus two, so that double rounding is exact).
* adjust_hue_op.cc: float32 per pixel; a category 0..5 from the channels' order picks which
  channel is largest, middle and smallest, and the shifted hue is wrapped into [0, 6) by
  repeated +-6.
* adjust_saturation_op.cc: float32 with double hue offsets (``norm * d + 2.0 / 6.0``), a
  category ``int(h * 6)`` (any other value: black) and ``h * 6`` wrapped into (0, 2) by
  repeated +-2.

``1 / x`` is ONNX Reciprocal, not ``Div(1, x)``: onnxruntime's optimizer rewrites
``Mul(Div(1, x), y)`` as ``Div(y, x)`` (its DivMulFusion), which rounds differently.
The per-pixel ``switch`` on a category becomes a GatherElements over the channel axis, its
indices a row of a small table gathered by the category. The repeated +-p wrap is an exact
``fmod`` (C's fmod is exact) and one rounded +p then one exact -p: every step of TensorFlow's
loop but the one that crosses zero is exact while |h| < 2**25, so the results are the same.
"""

from __future__ import annotations

import numpy as np

from savedmodel_io.onnx._graph import ExportError, Graph, Val
from savedmodel_io.onnx.ops._registry import converter
from savedmodel_io.onnx.ops._util import cast, need_rank, scalar, split

_FLOATS = ("float16", "bfloat16", "float32", "float64")

# Category k (adjust_hue_op.cc rgb_to_hv_range) -> channels (r 0, g 1, b 2) holding max, mid, min.
_ORDER = np.asarray([[0, 1, 2], [1, 0, 2], [1, 2, 0], [2, 1, 0], [2, 0, 1], [0, 2, 1]], np.int64)
# Category k (hv_range_to_rgb, adjust_saturation_op.cc hsv_to_rgb) -> (r, g, b) as indices of
# (max, mid, min), resp. (c, x, 0); the inverse permutations of _ORDER's rows. Row 6 is the
# switch's default for a category outside 0..5: case 5 for the hue, black for the saturation.
_SPREAD = np.asarray([[0, 1, 2], [1, 0, 2], [2, 0, 1], [2, 1, 0], [1, 2, 0], [0, 2, 1]], np.int64)
_HUE_SPREAD = np.concatenate([_SPREAD, _SPREAD[5:]])
_SAT_SPREAD = np.concatenate([_SPREAD, [[2, 2, 2]]])


class _Calc:
    """Arithmetic of type ``t`` computed in onnxruntime's type ``w``, rounded to ``t`` after each op."""

    def __init__(self, g: Graph, t: np.dtype) -> None:
        self.g = g
        self.t = np.dtype(t)
        self.w = np.dtype(np.float64 if self.t == np.float64 else np.float32)

    def k(self, value: float) -> Val:
        """A constant of type ``t`` (as the kernel's ``T(value)``), held in ``w``."""
        return scalar(self.g, np.asarray(value, np.float64).astype(self.t).astype(self.w), self.w)

    def ratio(self, a: int, b: int) -> Val:
        """The constant ``T(a) / T(b)``, divided in ``t`` as the kernel divides it."""
        q = np.asarray(a, self.t) / np.asarray(b, self.t)
        return scalar(self.g, np.asarray(q, self.t).astype(self.w), self.w)

    def _round(self, v: Val) -> Val:
        if self.t == self.w:
            return v
        return cast(self.g, cast(self.g, v, self.t), self.w)

    def add(self, a: Val, b: Val) -> Val:
        return self._round(self.g.op1("Add", a, b))

    def sub(self, a: Val, b: Val) -> Val:
        return self._round(self.g.op1("Sub", a, b))

    def mul(self, a: Val, b: Val) -> Val:
        return self._round(self.g.op1("Mul", a, b))

    def div(self, a: Val, b: Val) -> Val:
        return self._round(self.g.op1("Div", a, b))

    def reciprocal(self, a: Val) -> Val:
        return self._round(self.g.op1("Reciprocal", a))


def _image(x: Val, op: str, min_rank: int) -> int:
    """The rank of a float image with 3 channels on its static last axis (ExportError otherwise)."""
    if x.dtype is None or x.dtype.name not in _FLOATS:
        raise ExportError(f"{op} takes float16, bfloat16, float32 or float64 images, not {x.dtype}")
    rank = need_rank(x, "image")
    if rank < min_rank:
        raise ExportError(f"{op}: the image must be at least {min_rank}-D, got rank {rank}")
    channels = x.shape[-1]
    if not isinstance(channels, int):
        raise ExportError(f"{op}: the channel axis (the last) must have a static size of 3, its size is "
                          "only known at run time")
    if channels != 3:
        raise ExportError(f"{op}: the image must have 3 channels (the last axis), it has {channels}")
    return rank


def _channels(g: Graph, x: Val) -> list[Val]:
    """The three channels of ``x``, each keeping a last axis of size 1."""
    return split(g, x, -1, [1, 1, 1])


def _factor(g: Graph, v: Val, op: str, what: str) -> Val:
    """A scalar float32 argument (constant or computed at run time)."""
    if v.shape is not None and len(v.shape) != 0:
        raise ExportError(f"{op}: {what} must be a scalar, got shape {list(v.shape)}")
    f = cast(g, v, np.float32)
    if v.shape is None:
        f = g.op1("Reshape", f, g.const(np.zeros(0, np.int64)))
    return f


def _category(g: Graph, h: Val) -> Val:
    """``static_cast<int>(h)`` as an int64 index 0..5, or 6 outside that (NaN too: the switch's default).

    (GreaterOrEqual and LessOrEqual are avoided: before opset 16 they are functions, which ONNX's
    node-level shape inference does not see through.)"""
    zero = scalar(g, 0, h.dtype)
    whole = g.op1("Where", g.op1("Less", h, zero), g.op1("Ceil", h), g.op1("Floor", h))
    inside = g.op1("And", g.op1("Greater", whole, scalar(g, -1, h.dtype)), g.op1("Less", whole, scalar(g, 6, h.dtype)))
    return cast(g, g.op1("Where", inside, whole, scalar(g, 6, h.dtype)), np.int64)


def _pick(g: Graph, values: Val, category: Val, table: np.ndarray, axis: int) -> Val:
    """Per pixel, ``values``' last axis reordered by the table row of the pixel's category ([..., 1])."""
    rows = g.op1("Add", g.op1("Mul", category, scalar(g, 3, np.int64)), g.const(np.arange(3, dtype=np.int64)))
    index = g.op1("Gather", g.const(table.reshape(-1)), rows, axis=0)
    return g.op1("GatherElements", values, index, axis=axis)


def _wrap(g: Graph, h: Val, period: float, low_open: bool) -> Val:
    """``while (h < 0) h += p; while (h >= p) h -= p;`` (``h <= 0`` when ``low_open``), see the module doc."""
    p = scalar(g, period, h.dtype)
    r = g.op1("Mod", h, p, fmod=1)
    zero = scalar(g, 0, h.dtype)
    if low_open:
        r = g.op1("Where", g.op1("Greater", r, zero), r, g.op1("Add", r, p))
    else:
        r = g.op1("Where", g.op1("Less", r, zero), g.op1("Add", r, p), r)
    return g.op1("Where", g.op1("Less", r, p), r, g.op1("Sub", r, p))


@converter("RGBToHSV", onnx="Split, Max, Min, Sub, Div, Reciprocal, Mul, Add, Where, Concat")
def rgb_to_hsv(cx, node, ins):
    """colorspace_op.h RGBToHSV: V the largest channel, S its range / V, H from the largest channel's neighbours."""
    g, x = cx.g, ins[0]
    _image(x, "RGBToHSV", 1)
    a = _Calc(g, x.dtype)
    r, gr, b = _channels(g, cast(g, x, a.w))
    zero, one = scalar(g, 0, a.w), scalar(g, 1, a.w)
    v = g.op1("Max", g.op1("Max", r, gr), b)
    rng = a.sub(v, g.op1("Min", g.op1("Min", r, gr), b))
    s = g.op1("Where", g.op1("Greater", v, zero), a.div(rng, v), zero)
    norm = a.mul(a.reciprocal(rng), a.ratio(1, 6))
    h = g.op1("Where", g.op1("Equal", r, v), a.mul(norm, a.sub(gr, b)),
              g.op1("Where", g.op1("Equal", gr, v), a.add(a.mul(norm, a.sub(b, r)), a.ratio(2, 6)),
                    a.add(a.mul(norm, a.sub(r, gr)), a.ratio(4, 6))))
    h = g.op1("Where", g.op1("Greater", rng, zero), h, zero)
    h = g.op1("Where", g.op1("Less", h, zero), a.add(h, one), h)
    return cast(g, g.op1("Concat", h, s, v, axis=-1), x.dtype)


@converter("HSVToRGB", onnx="Split, Mul, Sub, Abs, Max, Min, Add, Concat")
def hsv_to_rgb(cx, node, ins):
    """colorspace_op.h HSVToRGB: each channel (1 - S + S * clamp(piecewise-linear of 6H)) * V."""
    g, x = cx.g, ins[0]
    _image(x, "HSVToRGB", 1)
    a = _Calc(g, x.dtype)
    h, s, v = _channels(g, cast(g, x, a.w))
    zero, one, two = a.k(0), a.k(1), a.k(2)
    dh = a.mul(h, a.k(6))

    def clamp(d: Val) -> Val:
        return g.op1("Min", g.op1("Max", d, zero), one)

    dr = clamp(a.sub(g.op1("Abs", a.sub(dh, a.k(3))), one))
    dg = clamp(a.add(g.op1("Neg", g.op1("Abs", a.sub(dh, two))), two))
    db = clamp(a.add(g.op1("Neg", g.op1("Abs", a.sub(dh, a.k(4)))), two))
    one_s = a.add(g.op1("Neg", s), one)
    out = [a.mul(a.add(one_s, a.mul(s, d)), v) for d in (dr, dg, db)]
    return cast(g, g.op1("Concat", *out, axis=-1), x.dtype)


@converter("AdjustHue", onnx="Split, Where, Gather, GatherElements, Sub, Div, Add, Mul, Mod, Floor, Ceil, "
           "Concat")
def adjust_hue(cx, node, ins):
    """adjust_hue_op.cc in float32: hue in [0, 6) from the channels' order, shifted by 6 * delta, wrapped."""
    g, x = cx.g, ins[0]
    axis = _image(x, "AdjustHue", 3) - 1
    delta = _factor(g, ins[1], "AdjustHue", "delta")
    f32 = np.float32
    xf = cast(g, x, f32)
    r, gr, b = _channels(g, xf)

    def const(k: int) -> Val:
        return scalar(g, k, np.int64)

    def odd(cat: Val) -> Val:
        return g.op1("Equal", g.op1("Mod", cat, const(2), fmod=0), const(1))

    one = scalar(g, 1, f32)
    # rgb_to_hv_range: the category from the channels' order (ties count on either side).
    g_max = g.op1("Where", g.op1("Less", b, r), const(1),
                  g.op1("Where", g.op1("Greater", b, gr), const(3), const(2)))  # r < g
    r_over_g = g.op1("Where", g.op1("Less", b, gr), const(0),
                     g.op1("Where", g.op1("Greater", b, r), const(4), const(5)))
    cat = g.op1("Where", g.op1("Less", r, gr), g_max, r_over_g)
    vmax, vmid, vmin = _channels(g, _pick(g, xf, cat, _ORDER, axis))
    span = g.op1("Sub", vmax, vmin)
    ratio = g.op1("Div", g.op1("Sub", vmid, vmin), span)
    h = g.op1("Add", cast(g, cat, f32), g.op1("Where", odd(cat), g.op1("Sub", one, ratio), ratio))
    h = g.op1("Where", g.op1("Equal", vmax, vmin), scalar(g, 0, f32), h)
    h = _wrap(g, g.op1("Add", h, g.op1("Mul", delta, scalar(g, 6, f32))), 6.0, low_open=False)
    # hv_range_to_rgb: the middle channel from the hue's fraction, placed by the hue's category.
    cat = _category(g, h)
    frac = g.op1("Sub", h, cast(g, cat, f32))
    frac = g.op1("Where", odd(cat), g.op1("Sub", one, frac), frac)
    vmid = g.op1("Add", vmin, g.op1("Mul", frac, span))
    out = _pick(g, g.op1("Concat", vmax, vmid, vmin, axis=-1), cat, _HUE_SPREAD, axis)
    return cast(g, out, x.dtype)


@converter("AdjustSaturation", onnx="Split, Max, Min, Div, Reciprocal, Mul, Add, Where, Mod, Floor, Ceil, Gather, "
           "GatherElements, Concat")
def adjust_saturation(cx, node, ins):
    """adjust_saturation_op.cc in float32: to HSV, S scaled and clamped to [0, 1], back to RGB."""
    g, x = cx.g, ins[0]
    axis = _image(x, "AdjustSaturation", 3) - 1
    scale = _factor(g, ins[1], "AdjustSaturation", "scale")
    f32, f64 = np.float32, np.float64
    r, gr, b = _channels(g, cast(g, x, f32))
    zero, one = scalar(g, 0, f32), scalar(g, 1, f32)

    def plus_double(v: Val, offset: float) -> Val:
        # float + double constant: computed in double, rounded to the float it is stored in.
        return cast(g, g.op1("Add", cast(g, v, f64), scalar(g, offset, f64)), f32)

    # rgb_to_hsv (this file's own: norm = 1 / (6 * range)).
    vv = g.op1("Max", r, g.op1("Max", gr, b))
    rng = g.op1("Sub", vv, g.op1("Min", r, g.op1("Min", gr, b)))
    s = g.op1("Where", g.op1("Greater", vv, zero), g.op1("Div", rng, vv), zero)
    norm = g.op1("Reciprocal", g.op1("Mul", scalar(g, 6, f32), rng))
    hh = g.op1("Where", g.op1("Equal", r, vv), g.op1("Mul", norm, g.op1("Sub", gr, b)),
               g.op1("Where", g.op1("Equal", gr, vv), plus_double(g.op1("Mul", norm, g.op1("Sub", b, r)), 2.0 / 6.0),
                     plus_double(g.op1("Mul", norm, g.op1("Sub", r, gr)), 4.0 / 6.0)))
    hh = g.op1("Where", g.op1("Or", g.op1("Less", rng, zero), g.op1("Equal", rng, zero)), zero, hh)
    hh = g.op1("Where", g.op1("Less", hh, zero), g.op1("Add", hh, one), hh)
    s = g.op1("Min", one, g.op1("Max", zero, g.op1("Mul", s, scale)))
    # hsv_to_rgb: chroma c, the second-largest channel's share x, placed by int(6h); plus m.
    c = g.op1("Mul", s, vv)
    m = g.op1("Sub", vv, c)
    dh = g.op1("Mul", hh, scalar(g, 6, f32))
    fm = _wrap(g, dh, 2.0, low_open=True)
    xx = g.op1("Mul", c, g.op1("Sub", one, g.op1("Abs", g.op1("Sub", fm, one))))
    black = g.op1("Expand", zero, g.op1("Shape", c))
    out = _pick(g, g.op1("Concat", c, xx, black, axis=-1), _category(g, dh), _SAT_SPREAD, axis)
    return cast(g, g.op1("Add", out, m), x.dtype)
