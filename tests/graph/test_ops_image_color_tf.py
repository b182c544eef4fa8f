"""Colour kernels against ``tf.raw_ops``: RGBToHSV, HSVToRGB, AdjustContrastv2, AdjustHue,
AdjustSaturation, on random colours, greys, pure hues, ties between channels, negative and
out-of-range values, every float type TF's CPU kernels register, and TF's shape errors.
"""

from __future__ import annotations

import ml_dtypes
import numpy as np

from .raw_ops_harness import Cases

CASES = Cases(seed=7002)
add = CASES.add
RS = CASES.rs


def _colours() -> np.ndarray:
    """(4, 6, 3) float32: random colours, greys, primaries, ties, zeros and out-of-range."""
    special = np.float32([
        [0, 0, 0], [1, 1, 1], [0.5, 0.5, 0.5], [1, 0, 0], [0, 1, 0], [0, 0, 1],
        [1, 1, 0], [0, 1, 1], [1, 0, 1], [0.2, 0.2, 0.9], [0.9, 0.2, 0.2], [0.2, 0.9, 0.9],
        [0.3, 0.7, 0.3], [0.7, 0.3, 0.7], [-0.2, 0.5, 1.3], [1.5, -0.5, 0.25],
        [0.25, 0.25, 0.5], [0.5, 0.25, 0.25],
    ])
    rand = RS.uniform(0, 1, size=(6, 3)).astype(np.float32)
    return np.concatenate([special, rand]).reshape(4, 6, 3)


COLOURS = _colours()
HSV = np.concatenate([RS.uniform(0, 1, size=(20, 3)),
                      [[0, 0, 0], [1, 1, 1], [0.999, 0.5, 0.5], [1 / 6, 1, 1], [0.5, 0, 0.7],
                       [2 / 6, 0.3, 1], [0.75, 1, 0.2], [5 / 6, 0.5, 0.5]]]).astype(np.float32)


def _cases() -> None:
    for dt in ("float32", "float64", "float16", "bfloat16"):
        conv = (lambda a: a.astype(ml_dtypes.bfloat16)) if dt == "bfloat16" else \
            (lambda a: a.astype(dt))
        tol = 1e-2 if dt in ("float16", "bfloat16") else None
        add("RGBToHSV", dt, images=conv(COLOURS), rtol=tol)
        add("HSVToRGB", dt, images=conv(HSV), rtol=tol)
    add("RGBToHSV", "one_pixel", images=np.float32([0.1, 0.6, 0.3]))
    add("RGBToHSV", "empty", images=np.zeros((0, 3), np.float32))
    add("RGBToHSV", "two_channels", images=np.zeros((2, 2), np.float32))
    add("RGBToHSV", "scalar", images=np.float32(1))
    add("HSVToRGB", "four_channels", images=np.zeros((2, 4), np.float32))

    img = RS.uniform(0, 1, size=(2, 5, 7, 3)).astype(np.float32)
    for f in (0.0, 0.5, 1.0, 2.5, -1.0):
        add("AdjustContrastv2", f"f{f}", images=img, contrast_factor=np.float32(f))
    for h, w in ((1, 1), (1, 2), (3, 3), (5, 1), (8, 8), (13, 7)):
        add("AdjustContrastv2", f"{h}x{w}", images=RS.standard_normal((h, w, 2)).astype(np.float32),
            contrast_factor=np.float32(1.7))
    add("AdjustContrastv2", "batch2d", images=RS.uniform(size=(2, 2, 3, 4, 1)).astype(np.float32),
        contrast_factor=np.float32(0.3))
    add("AdjustContrastv2", "empty", images=np.zeros((0, 3, 3, 3), np.float32),
        contrast_factor=np.float32(2))
    add("AdjustContrastv2", "rank2", images=np.zeros((3, 3), np.float32),
        contrast_factor=np.float32(2))
    add("AdjustContrastv2", "vector_factor", images=img, contrast_factor=np.float32([2]))
    add("AdjustContrastv2", "half", images=img.astype(np.float16), contrast_factor=np.float32(2))

    for d in (0.0, 0.1, 0.5, -0.3, 0.99, -1.0, 1.0, 2.7):
        add("AdjustHue", f"d{d}", images=COLOURS, delta=np.float32(d))
    for s in (0.0, 0.5, 1.0, 1.7, 10.0, -1.0):
        add("AdjustSaturation", f"s{s}", images=COLOURS, scale=np.float32(s))
    for op, arg in (("AdjustHue", "delta"), ("AdjustSaturation", "scale")):
        add(op, "random", images=RS.uniform(0, 1, size=(3, 8, 8, 3)).astype(np.float32),
            **{arg: np.float32(0.37)})
        add(op, "empty", images=np.zeros((0, 2, 3), np.float32), **{arg: np.float32(0.2)})
        add(op, "rank2", images=np.zeros((2, 3), np.float32), **{arg: np.float32(0.2)})
        add(op, "four_channels", images=np.zeros((2, 2, 4), np.float32), **{arg: np.float32(0.2)})
        add(op, "vector_arg", images=COLOURS, **{arg: np.float32([0.2])})


_cases()

test_kernel_matches_tensorflow = CASES.test()
