"""Patch and sampling kernels against ``tf.raw_ops``: ExtractImagePatches, ExtractVolumePatches,
ImageProjectiveTransformV2/V3 (every fill mode and interpolation, integer and float types,
degenerate and NaN transforms) and ExtractGlimpse/V2 (zero noise compared exactly, random
noise by dtype and shape only).
"""

from __future__ import annotations

import numpy as np

from .raw_ops_harness import Cases, i32

CASES = Cases(seed=7004)
add = CASES.add
f32 = CASES.f32
RS = CASES.rs


def _patches() -> None:
    x = f32(2, 7, 8, 3)
    for pad in ("SAME", "VALID"):
        for k, st, r in (((2, 2), (1, 1), (1, 1)), ((3, 2), (2, 3), (1, 1)),
                         ((3, 3), (1, 2), (2, 1)), ((1, 1), (3, 3), (1, 1)),
                         ((8, 9), (1, 1), (1, 1))):
            add("ExtractImagePatches", f"{pad}-k{k}-s{st}-r{r}",
                {"ksizes": [1, *k, 1], "strides": [1, *st, 1], "rates": [1, *r, 1],
                 "padding": pad}, images=x)
    for dt in ("int32", "uint8", "float64", "float16", "int64", "complex64"):
        add("ExtractImagePatches", f"dtype-{dt}",
            {"ksizes": [1, 2, 3, 1], "strides": [1, 2, 1, 1], "rates": [1, 1, 1, 1],
             "padding": "SAME"}, images=(x * 10).astype(dt))
    add("ExtractImagePatches", "empty", {"ksizes": [1, 2, 2, 1], "strides": [1, 1, 1, 1],
                                         "rates": [1, 1, 1, 1], "padding": "VALID"},
        images=f32(0, 3, 3, 2))
    add("ExtractImagePatches", "rank3", {"ksizes": [1, 2, 2, 1], "strides": [1, 1, 1, 1],
                                         "rates": [1, 1, 1, 1], "padding": "VALID"},
        images=f32(3, 3, 2))
    v = f32(2, 4, 5, 6, 2)
    for pad in ("SAME", "VALID"):
        for k, st in (((2, 2, 2), (1, 1, 1)), ((1, 3, 2), (2, 2, 3)), ((3, 1, 1), (1, 2, 1))):
            add("ExtractVolumePatches", f"{pad}-k{k}-s{st}",
                {"ksizes": [1, *k, 1], "strides": [1, *st, 1], "padding": pad}, input=v)
    add("ExtractVolumePatches", "int32", {"ksizes": [1, 2, 2, 2, 1], "strides": [1, 1, 2, 1, 1],
                                          "padding": "SAME"}, input=(v * 10).astype(np.int32))


def _transforms() -> None:
    img = RS.uniform(0, 10, (2, 6, 7, 2)).astype(np.float32)
    rot = np.float32([[0.8, -0.6, 2.5, 0.6, 0.8, -1.2, 0, 0]])
    shear = np.float32([[1, 0.5, -3, 0.2, 1.1, 1, 0.01, -0.02], [1.3, 0, 0.5, 0, 0.7, 0.5, 0, 0]])
    zoom_out = np.float32([[2.5, 0, -4, 0, 2.5, -3, 0, 0]])
    for mode in ("REFLECT", "WRAP", "CONSTANT", "NEAREST"):
        for interp in ("NEAREST", "BILINEAR"):
            for tag, t in (("rot", rot), ("shear", shear), ("zoom_out", zoom_out)):
                attrs = {"interpolation": interp, "fill_mode": mode}
                add("ImageProjectiveTransformV3", f"{mode}-{interp}-{tag}", attrs, images=img,
                    transforms=t, output_shape=i32(5, 9), fill_value=np.float32(-2.5))
            add("ImageProjectiveTransformV2", f"{mode}-{interp}", {"interpolation": interp,
                "fill_mode": mode}, images=img, transforms=zoom_out,
                output_shape=i32(6, 7))
    for dt in ("uint8", "int32", "int64", "float16", "float64"):
        add("ImageProjectiveTransformV3", f"dtype-{dt}", {"interpolation": "BILINEAR",
            "fill_mode": "CONSTANT"}, images=img.astype(dt),
            transforms=shear, output_shape=i32(6, 7), fill_value=np.float32(3.7),
            rtol=1e-3 if dt == "float16" else None)
    one_px = RS.uniform(0, 1, (1, 1, 1, 1)).astype(np.float32)
    for mode in ("REFLECT", "WRAP"):
        add("ImageProjectiveTransformV3", f"one_pixel-{mode}", {"interpolation": "BILINEAR",
            "fill_mode": mode}, images=one_px, transforms=rot,
            output_shape=i32(3, 3), fill_value=np.float32(0))
    degenerate = np.float32([[1, 0, 0, 0, 1, 0, -0.25, 0]])  # projection 0 on column 4
    nan = np.float32([[np.nan, 0, 0, 0, 1, 0, 0, 0]])
    for tag, t in (("degenerate", degenerate), ("nan", nan)):
        add("ImageProjectiveTransformV3", tag, {"interpolation": "BILINEAR",
                                                "fill_mode": "CONSTANT"},
            images=img, transforms=t, output_shape=i32(6, 7), fill_value=np.float32(9))
    add("ImageProjectiveTransformV3", "bad_transform", {"interpolation": "NEAREST",
        "fill_mode": "CONSTANT"}, images=img,
        transforms=np.zeros((1, 6), np.float32), output_shape=i32(6, 7), fill_value=np.float32(0))
    add("ImageProjectiveTransformV3", "zero_shape", {"interpolation": "NEAREST",
        "fill_mode": "CONSTANT"}, images=img, transforms=rot,
        output_shape=i32(0, 7), fill_value=np.float32(0))


def _glimpses() -> None:
    img = f32(3, 8, 9, 2)
    offs = np.float32([[0.1, -0.3], [-0.9, 0.95], [0.5, 0.5]])
    px = np.float32([[2, 3], [-3, 6], [6.5, -1.5]])
    for op in ("ExtractGlimpse", "ExtractGlimpseV2"):
        for norm in (False, True):
            for cen in (False, True):
                o = offs if norm else (px - (4 if cen else 0))
                add(op, f"zero-n{norm}-c{cen}", {"normalized": norm, "centered": cen,
                    "uniform_noise": False, "noise": "zero"}, input=img, size=i32(4, 3), offsets=o)
        add(op, "uniform", {"noise": "uniform"}, input=img, size=i32(4, 5), offsets=offs,
            spec_only=True)
        add(op, "gaussian", {"uniform_noise": False, "noise": "gaussian"}, input=img,
            size=i32(4, 5), offsets=offs, spec_only=True)
        add(op, "inside", {"normalized": False, "centered": False, "uniform_noise": True},
            input=img, size=i32(3, 3), offsets=np.float32([[1, 1], [2, 3], [4, 5]]))
        add(op, "big", {"noise": "zero", "uniform_noise": False}, input=img, size=i32(12, 11),
            offsets=offs)
        add(op, "bad_offsets", {"noise": "zero", "uniform_noise": False}, input=img,
            size=i32(3, 3), offsets=offs[:2])


_patches()
_transforms()
_glimpses()

test_kernel_matches_tensorflow = CASES.test()
