"""Image resize kernels against ``tf.raw_ops`` (Resize*, ScaleAndTranslate, CropAndResize).

Dtypes: every real type TF's CPU kernels register that these cases can hold (bfloat16 through
ml_dtypes); edge geometry: 1-pixel inputs and outputs, up- and down-scaling, odd ratios,
align_corners / half_pixel_centers, and the validation errors TF raises.
"""

from __future__ import annotations

import ml_dtypes
import numpy as np

from .raw_ops_harness import Cases, i32

CASES = Cases(seed=7001)
add = CASES.add
f32 = CASES.f32
RS = CASES.rs

REAL = ("float32", "float64", "float16", "int32", "int64", "uint8", "int8", "int16",
        "uint16")


def _img(dtype: str, *shape: int) -> np.ndarray:
    """A test image of ``dtype``: normal floats, or integers spanning the type's range."""
    if dtype == "bfloat16":
        return f32(*shape).astype(ml_dtypes.bfloat16)
    dt = np.dtype(dtype)
    if dt.kind == "f":
        return (f32(*shape) * 10).astype(dt)
    info = np.iinfo(dt)
    lo, hi = max(info.min, -1000), min(info.max, 1000)
    return RS.randint(lo, hi + 1, size=shape).astype(dt)


def _resize() -> None:
    modes = {"legacy": {}, "align": {"align_corners": True}, "half": {"half_pixel_centers": True}}
    sizes = {"up": (7, 9), "down": (2, 3), "one": (1, 1), "odd": (5, 2)}
    for op in ("ResizeBilinear", "ResizeNearestNeighbor", "ResizeBicubic"):
        for mode, attrs in modes.items():
            for tag, size in sizes.items():
                add(op, f"{mode}-{tag}", attrs, images=f32(2, 4, 5, 3) * 4, size=i32(*size))
            add(op, f"{mode}-from1", attrs, images=f32(1, 1, 1, 2), size=i32(3, 4))
        for dt in REAL + ("bfloat16",):
            add(op, f"dtype-{dt}", {"half_pixel_centers": True}, images=_img(dt, 1, 3, 4, 2),
                size=i32(5, 3), rtol=1e-2 if dt in ("float16", "bfloat16") else None)
        add(op, "empty_batch", images=f32(0, 3, 3, 1), size=i32(4, 4))
        add(op, "both_modes", {"align_corners": True, "half_pixel_centers": True},
            images=f32(1, 3, 3, 1), size=i32(4, 4))
        add(op, "zero_size", images=f32(1, 3, 3, 1), size=i32(0, 4))
        add(op, "rank3", images=f32(3, 3, 1), size=i32(4, 4))
        add(op, "no_channels", images=f32(1, 3, 3, 0), size=i32(4, 4))
        add(op, "empty_image", images=f32(1, 0, 3, 1), size=i32(4, 4))
        add(op, "size3", images=f32(1, 3, 3, 1), size=i32(4, 4, 4))
    # Scales whose float32 products land on pixel boundaries (rounding of the source index).
    for size in ((3, 7), (10, 10), (17, 5)):
        for op in ("ResizeNearestNeighbor", "ResizeBilinear", "ResizeBicubic"):
            for mode, attrs in modes.items():
                add(op, f"grid-{mode}-{size[0]}x{size[1]}", attrs,
                    images=np.arange(7 * 10, dtype=np.float32).reshape(1, 7, 10, 1),
                    size=i32(*size))
    add("ResizeBicubic", "large_up", {"half_pixel_centers": True}, images=f32(1, 6, 6, 1),
        size=i32(40, 33))
    add("ResizeBicubic", "channels3", images=f32(1, 5, 6, 3), size=i32(9, 4))

    for mode, attrs in (("plain", {}), ("align", {"align_corners": True})):
        for tag, size in (("up", (7, 9)), ("down", (2, 3)), ("one", (1, 1)), ("odd", (3, 4)),
                          ("same", (4, 5))):
            add("ResizeArea", f"{mode}-{tag}", attrs, images=f32(2, 4, 5, 3) * 4, size=i32(*size))
    for dt in REAL + ("bfloat16",):
        add("ResizeArea", f"dtype-{dt}", images=_img(dt, 1, 5, 4, 2), size=i32(3, 3),
            rtol=1e-2 if dt in ("float16", "bfloat16") else None)
    add("ResizeArea", "big_down", images=f32(1, 37, 23, 2), size=i32(4, 5))
    add("ResizeArea", "empty_batch", images=f32(0, 3, 3, 1), size=i32(4, 4))
    add("ResizeArea", "zero_size", images=f32(1, 3, 3, 1), size=i32(4, 0))
    # 1-pixel axes: with align_corners TF keeps the scale in / out (a scale of 0 would divide by 0).
    for mode, attrs in (("plain", {}), ("align", {"align_corners": True})):
        add("ResizeArea", f"{mode}-from1", attrs, images=np.arange(1.0, 11.0, dtype=np.float32).reshape(1, 1, 5, 2),
            size=i32(4, 3))
        add("ResizeArea", f"{mode}-from1x1", attrs, images=np.float32([[[[7.0, -2.5]]]]), size=i32(3, 7))


KERNELS = ("lanczos1", "lanczos3", "lanczos5", "gaussian", "box", "triangle", "keyscubic",
           "mitchellcubic")


def _scale_and_translate() -> None:
    img = f32(2, 6, 7, 2)
    for k in KERNELS:
        for aa in (False, True):
            attrs = {"kernel_type": k, "antialias": aa}
            tag = f"{k}-{'aa' if aa else 'plain'}"
            add("ScaleAndTranslate", f"{tag}-up", attrs, images=img, size=i32(11, 13),
                scale=np.float32([11 / 6, 13 / 7]), translation=np.float32([0, 0]))
            add("ScaleAndTranslate", f"{tag}-down", attrs, images=img, size=i32(3, 2),
                scale=np.float32([0.5, 2 / 7]), translation=np.float32([0, 0]))
            add("ScaleAndTranslate", f"{tag}-shift", attrs, images=img, size=i32(6, 9),
                scale=np.float32([1.0, 1.3]), translation=np.float32([1.5, -2.25]), rtol=1e-4)
    for dt in REAL:
        add("ScaleAndTranslate", f"dtype-{dt}", {"kernel_type": "lanczos3", "antialias": True},
            images=_img(dt, 1, 5, 5, 1), size=i32(3, 7), scale=np.float32([0.6, 1.4]),
            translation=np.float32([0, 0]), rtol=1e-3 if dt == "float16" else 1e-4)
    add("ScaleAndTranslate", "outside", {"kernel_type": "triangle"}, images=img, size=i32(5, 5),
        scale=np.float32([1, 1]), translation=np.float32([4, -9]))
    add("ScaleAndTranslate", "zero_scale", images=img, size=i32(5, 5),
        scale=np.float32([0, 1]), translation=np.float32([0, 0]))
    add("ScaleAndTranslate", "bad_kernel", {"kernel_type": "cubic"}, images=img, size=i32(5, 5),
        scale=np.float32([1, 1]), translation=np.float32([0, 0]))
    add("ScaleAndTranslate", "bad_scale_shape", images=img, size=i32(5, 5),
        scale=np.float32([1, 1, 1]), translation=np.float32([0, 0]))
    add("ScaleAndTranslate", "empty_batch", images=f32(0, 3, 3, 1), size=i32(5, 5),
        scale=np.float32([1, 1]), translation=np.float32([0, 0]))


def _crop_and_resize() -> None:
    img = f32(2, 6, 7, 3)
    boxes = np.float32([[0, 0, 1, 1], [0.1, 0.2, 0.7, 0.9], [-0.3, 0.5, 1.2, 0.2],
                        [0.5, 0.5, 0.5, 0.5], [1, 1, 0, 0]])
    idx = i32(0, 1, 1, 0, 1)
    for method in ("bilinear", "nearest"):
        for tag, crop in (("4x5", (4, 5)), ("1x1", (1, 1)), ("1x3", (1, 3)), ("9x2", (9, 2))):
            add("CropAndResize", f"{method}-{tag}", {"method": method, "extrapolation_value": -1.5},
                image=img, boxes=boxes, box_ind=idx, crop_size=i32(*crop))
    for dt in REAL:
        add("CropAndResize", f"dtype-{dt}", image=_img(dt, 2, 4, 4, 1), boxes=boxes, box_ind=idx,
            crop_size=i32(3, 3), rtol=1e-3 if dt == "float16" else None)
    add("CropAndResize", "no_boxes", image=img, boxes=np.zeros((0, 4), np.float32),
        box_ind=np.zeros(0, np.int32), crop_size=i32(3, 3))
    add("CropAndResize", "bad_index", image=img, boxes=boxes, box_ind=i32(0, 1, 2, 0, 1),
        crop_size=i32(3, 3))
    add("CropAndResize", "nan_box", image=img, boxes=np.float32([[0, 0, np.nan, 1]]),
        box_ind=i32(0), crop_size=i32(3, 3))
    add("CropAndResize", "three_columns", image=img, boxes=np.float32([[0, 0, 1]]),
        box_ind=i32(0), crop_size=i32(3, 3))
    add("CropAndResize", "index_mismatch", image=img, boxes=boxes, box_ind=i32(0, 1),
        crop_size=i32(3, 3))
    add("CropAndResize", "zero_crop", image=img, boxes=boxes, box_ind=idx, crop_size=i32(0, 3))


_resize()
_scale_and_translate()
_crop_and_resize()

test_kernel_matches_tensorflow = CASES.test()
