"""Kernels against ``tf.raw_ops`` on small random and edge-case inputs (differential test).

Each case is one op on fixed inputs; ``raw_ops_harness`` runs TensorFlow once per new case
(cached) and compares our runtime's outputs or error with TF's.
"""

from __future__ import annotations

import numpy as np

from .raw_ops_harness import DT, Cases, i32, s

CASES = Cases()
add = CASES.add
RS = CASES.rs
f32 = CASES.f32

NEG_INTS = np.array([-7, -6, -1, 0, 1, 5, 7, -8], np.int32)
DIVISORS = np.array([2, -2, 3, -3, -4, 3, -2, 3], np.int32)
SPECIAL = np.array([-np.inf, -2.5, -1.5, -0.5, -0.0, 0.0, 0.5, 1.5, 2.5, 3.7, np.inf, np.nan],
                   np.float32)


def _elementwise() -> None:
    """Binary and unary math, comparisons, activations."""
    for op in ("FloorDiv", "FloorMod", "TruncateDiv", "TruncateMod", "Mod", "Div"):
        add(op, "neg_int32", x=NEG_INTS, y=DIVISORS)
        add(op, "neg_int64", x=NEG_INTS.astype(np.int64), y=np.int64(-3))
        add(op, "float", x=f32(3, 4) * 5, y=np.array([1.5, -2.0, 0.7, -0.3], np.float32))
        add(op, "int_div_zero", x=i32(1, 2), y=i32(1, 0))
    add("FloorMod", "float_zero", x=np.float32([1, -1, 0]), y=np.float32([0, 0, 0]))
    add("FloorDiv", "float_zero", x=np.float32([1, -1, 0]), y=np.float32([0, 0, 0]))
    add("FloorDiv", "uint8", x=np.uint8([7, 200]), y=np.uint8([2, 3]))
    add("RealDiv", "bcast", x=f32(2, 1, 3), y=f32(4, 1))
    add("RealDiv", "zero", x=np.float32([1, -1, 0]), y=np.float32([0, 0, 0]))
    for op in ("AddV2", "Sub", "Mul", "Maximum", "Minimum", "SquaredDifference"):
        add(op, "bcast", x=f32(2, 1, 3), y=f32(4, 1))
        add(op, "int32", x=NEG_INTS, y=DIVISORS)
        add(op, "scalar_empty", x=np.float32(2), y=np.zeros((0, 3), np.float32))
    add("Maximum", "nan", x=np.float32([np.nan, 1, np.nan]), y=np.float32([1, np.nan, np.nan]))
    add("Minimum", "nan", x=np.float32([np.nan, 1, np.nan]), y=np.float32([1, np.nan, np.nan]))
    add("AddV2", "bad_bcast", x=f32(2, 3), y=f32(4))
    add("Add", "string", x=s("a", "b"), y=s("c", "d"))
    add("Pow", "float", x=np.abs(f32(3, 4)), y=f32(4))
    add("Pow", "neg_base", x=np.float32([-2, -2, 0, 0]), y=np.float32([2, 0.5, -1, 0]))
    add("Pow", "int", x=i32(2, -3, 0, 5), y=i32(3, 3, 0, 2))
    add("Pow", "int_neg_exp", x=i32(2, 3), y=i32(-1, 2))
    add("Pow", "int64_scalar", x=np.int64(3), y=np.int64(4))
    for op in ("Equal", "NotEqual", "Less", "LessEqual", "Greater", "GreaterEqual"):
        add(op, "bcast", x=f32(3, 1), y=f32(1, 4))
        add(op, "int_scalar", x=NEG_INTS, y=np.int32(0))
    add("Equal", "nan", x=np.float32([np.nan, 1]), y=np.float32([np.nan, 1]))
    add("NotEqual", "nan", x=np.float32([np.nan, 1]), y=np.float32([np.nan, 1]))
    add("Equal", "string", x=s("a", "b", ""), y=s("a"))
    add("Equal", "bad_bcast", x=f32(2), y=f32(3))
    add("Atan2", "signs", x=np.float32([1, -1, 0, -0.0, 1]), y=np.float32([-1, -1, -0.0, -1, 0]))
    add("Xdivy", "zero", x=np.float32([0, 1, 0]), y=np.float32([0, 0, 2]))
    add("Xlogy", "zero", x=np.float32([0, 1, 2]), y=np.float32([0, 0, 3]))
    add("DivNoNan", "zero", x=np.float32([1, 0, 3]), y=np.float32([0, 0, 2]))
    add("MulNoNan", "inf", x=np.float32([np.inf, 0, 3]), y=np.float32([0, np.nan, 2]))
    add("LogicalAnd", "bcast", x=np.array([[True], [False]]), y=np.array([True, False, True]))
    add("LogicalOr", "bcast", x=np.array([[True], [False]]), y=np.array([True, False, True]))
    for op in ("BitwiseAnd", "BitwiseOr", "BitwiseXor"):
        add(op, "neg", x=NEG_INTS, y=DIVISORS)
    add("LeftShift", "basic", x=i32(1, -1, 3), y=i32(2, 3, 31))
    add("RightShift", "neg", x=i32(-8, 8, -1), y=i32(1, 2, 5))
    add("Invert", "int8", x=np.int8([0, -1, 5]))
    add("Invert", "uint8", x=np.uint8([0, 255, 5]))
    unary = ["Abs", "Neg", "Exp", "Log", "Log1p", "Sqrt", "Rsqrt", "Square", "Erf", "Erfc",
             "Sigmoid", "Tanh", "Sign", "Floor", "Ceil", "Round", "Rint", "Reciprocal", "Sin",
             "Cos", "Tan", "Expm1", "Atan", "Asinh", "Sinh", "Cosh", "IsNan",
             "IsFinite", "IsInf", "ZerosLike", "OnesLike", "Acos", "Asin", "Atanh", "Acosh",
             "Inv"]
    acts = ["Relu", "Relu6", "Elu", "Selu", "Softplus", "LeakyRelu", "Softsign"]
    for op in unary:
        add(op, "special", x=SPECIAL)
        add(op, "random", x=f32(2, 5) * 3)
    for op in acts:
        add(op, "special", features=SPECIAL)
        add(op, "random", features=f32(2, 5) * 8)
    add("Softplus", "large", features=np.float32([-100, -20, 20, 30, 100]))
    add("LeakyRelu", "alpha", {"alpha": 0.01}, features=f32(6))
    add("Relu", "int32", features=NEG_INTS)
    add("Relu6", "int32", features=i32(-3, 2, 9))
    for op in ("Abs", "Neg", "Sign", "Square", "ZerosLike", "OnesLike"):
        add(op, "int32", x=NEG_INTS)
    add("Round", "half_even", x=np.float32([0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 2.4999, 1e8 + 1]))
    # Not Round on int32: TF 2.21's CPU kernel returns zeros for it (a TF bug; we return x).
    add("Round", "float64", x=np.float64([0.5, 1.5, 2.5, -2.5]))
    add("Sign", "int64", x=np.int64([-5, 0, 3]))
    add("Sqrt", "neg", x=np.float32([-1, 4]))
    add("Reciprocal", "int", x=i32(1, 2, -1))
    add("Erf", "float64", x=np.float64([-3, -0.5, 0, 0.5, 3]))
    add("Tanh", "large", x=np.float32([-50, -10, 10, 50]))
    add("Sigmoid", "large", x=np.float32([-100, -20, 20, 100]))
    add("ClipByValue", "scalar", t=f32(3, 4), clip_value_min=np.float32(-0.5),
        clip_value_max=np.float32(0.5))
    add("ClipByValue", "tensor", t=f32(2, 3), clip_value_min=f32(2, 3) - 1,
        clip_value_max=np.ones((2, 3), np.float32))
    add("ClipByValue", "int", t=NEG_INTS, clip_value_min=np.int32(-2), clip_value_max=np.int32(3))
    add("ClipByValue", "bad_shape", t=f32(2, 3), clip_value_min=f32(3),
        clip_value_max=np.float32(1))
    add("AddN", "three", inputs=[f32(2, 3), f32(2, 3), f32(2, 3)])
    add("AddN", "int", inputs=[i32(1, 2), i32(3, 4)])
    add("BiasAdd", "nhwc", value=f32(2, 3, 4), bias=f32(4))
    add("BiasAdd", "nchw", {"data_format": "NCHW"}, value=f32(2, 3, 4, 5), bias=f32(3))
    add("BiasAdd", "bad", value=f32(2, 3), bias=f32(4))
    add("L2Loss", "basic", t=f32(3, 4))


def _reductions() -> None:
    """Reductions, arg-max, cumulative ops."""
    x = f32(2, 3, 4)
    xi = RS.randint(-9, 9, (2, 3, 4)).astype(np.int32)
    for op in ("Sum", "Mean", "Max", "Min", "Prod", "EuclideanNorm"):
        add(op, "axis1", input=x, axis=np.int32(1))
        add(op, "keep_neg", {"keep_dims": True}, input=x, axis=i32(-1, 0))
        add(op, "empty_axes", input=x, axis=np.zeros(0, np.int32))
        add(op, "all_axes_int64", input=x, axis=np.int64([0, 1, 2]))
        add(op, "int", input=xi, axis=np.int32(-2))
        add(op, "empty_tensor", input=np.zeros((0, 3), np.float32), axis=np.int32(0))
        add(op, "scalar", input=np.float32(3), axis=np.zeros(0, np.int32))
        add(op, "bad_axis", input=x, axis=np.int32(3))
    add("Mean", "int_neg_trunc", input=i32(-1, -2, -2), axis=np.int32(0))
    add("Mean", "int_keep", {"keep_dims": True}, input=xi, axis=i32(0, 2))
    add("Mean", "uint8", input=np.uint8([250, 251, 3]), axis=np.int32(0))
    add("Sum", "dup_axes", input=x, axis=i32(1, 1))
    add("Max", "nan", input=np.float32([1, np.nan, 3]), axis=np.int32(0))
    add("Max", "empty_int", input=np.zeros((0,), np.int32), axis=np.int32(0))
    add("All", "keep", {"keep_dims": True}, input=np.array([[True, False], [True, True]]),
        axis=np.int32(-1))
    add("Any", "empty", input=np.zeros((0, 2), bool), axis=np.int32(0))
    for op in ("ArgMax", "ArgMin"):
        add(op, "ties", input=np.float32([[1, 3, 3], [2, 2, 1]]), dimension=np.int32(1))
        add(op, "neg_axis_i32", {"output_type": DT("int32")}, input=x, dimension=np.int32(-3))
        add(op, "nan", input=np.float32([1, np.nan, 3, np.nan]), dimension=np.int32(0))
        add(op, "int", input=xi, dimension=np.int64(2))
        add(op, "empty", input=np.zeros((0,), np.float32), dimension=np.int32(0))
        add(op, "bad_axis", input=x, dimension=np.int32(3))
    for op in ("Cumsum", "Cumprod"):
        for ex in (False, True):
            for rev in (False, True):
                add(op, f"ex{int(ex)}_rev{int(rev)}", {"exclusive": ex, "reverse": rev},
                    x=x, axis=np.int32(-1))
        add(op, "int_axis0", x=xi, axis=np.int32(0))
        add(op, "bad_axis", x=x, axis=np.int32(3))
        for ex, rev in ((True, False), (True, True), (False, False)):  # an empty scan axis
            add(op, f"empty_axis_ex{int(ex)}_rev{int(rev)}", {"exclusive": ex, "reverse": rev},
                x=np.zeros((0, 3), np.float32), axis=np.int32(0))


def _linalg() -> None:
    """MatMul, BatchMatMulV2, Einsum."""
    for ta in (False, True):
        for tb in (False, True):
            a = f32(3, 4) if not ta else f32(4, 3)
            b = f32(4, 5) if not tb else f32(5, 4)
            add("MatMul", f"t{int(ta)}{int(tb)}", {"transpose_a": ta, "transpose_b": tb}, a=a, b=b)
    add("MatMul", "int32", a=RS.randint(-5, 5, (2, 3)).astype(np.int32),
        b=RS.randint(-5, 5, (3, 2)).astype(np.int32))
    add("MatMul", "bad", a=f32(2, 3), b=f32(2, 3))
    add("MatMul", "empty", a=f32(2, 0), b=f32(0, 3))
    add("BatchMatMulV2", "bcast", x=f32(2, 1, 3, 4), y=f32(5, 4, 2))
    add("BatchMatMulV2", "adj", {"adj_x": True, "adj_y": True}, x=f32(2, 4, 3), y=f32(1, 5, 4))
    add("BatchMatMulV2", "rank2", x=f32(3, 4), y=f32(4, 2))
    add("BatchMatMulV2", "bad_bcast", x=f32(2, 3, 4), y=f32(3, 4, 2))
    add("BatchMatMul", "adj", {"adj_y": True}, x=f32(2, 3, 4), y=f32(2, 5, 4))
    add("BatchMatMulV3", "i8", {"Tout": DT("int32")}, x=np.int8([[[1, 2], [3, 4]]]),
        y=np.int8([[[1, -1], [2, 0]]]))
    for eq, shapes in [("ij,jk->ik", [(3, 4), (4, 5)]), ("bij,bjk->bik", [(2, 3, 4), (2, 4, 5)]),
                       ("...ij,...jk->...ik", [(2, 3, 4), (4, 5)]), ("ij->ji", [(3, 4)]),
                       ("ij->", [(3, 4)]), ("bhqd,bhkd->bhqk", [(2, 2, 3, 4), (2, 2, 5, 4)]),
                       ("ii->i", [(3, 3)]), ("i,j->ij", [(3,), (4,)]),
                       ("abc,cd->abd", [(2, 3, 4), (4, 5)]), ("bi,bi->b", [(3, 4), (3, 4)])]:
        add("Einsum", eq, {"equation": eq}, inputs=[f32(*sh) for sh in shapes])
    # Attention's einsums (Keras MultiHeadAttention), output in another label order; inputs
    # from their own generator so the cases after these keep theirs.
    own = np.random.RandomState(17)
    for eq, shapes in [("BTNH,BSNH->BNTS", [(2, 3, 2, 4), (2, 5, 2, 4)]),
                       ("BNTS,BSNH->BTNH", [(2, 2, 3, 5), (2, 5, 2, 4)]), ("ij,jk->ki", [(3, 4), (4, 5)])]:
        add("Einsum", eq, {"equation": eq},
            inputs=[own.uniform(-1, 1, sh).astype(np.float32) for sh in shapes])


def _conv_pool() -> None:
    """Convolutions, pooling, batch norm, softmax."""
    x = f32(2, 7, 6, 3)
    w = f32(3, 2, 3, 4)
    for pad in ("SAME", "VALID"):
        for st, dl in [((1, 1), (1, 1)), ((2, 3), (1, 1)), ((1, 1), (2, 2))]:
            tag = f"{pad}_s{st[0]}{st[1]}_d{dl[0]}{dl[1]}"
            add("Conv2D", tag, {"strides": [1, *st, 1], "dilations": [1, *dl, 1],
                                "padding": pad}, input=x, filter=w)
            add("Conv2D", tag + "_nchw", {"strides": [1, 1, *st], "dilations": [1, 1, *dl],
                                          "padding": pad, "data_format": "NCHW"},
                input=x.transpose(0, 3, 1, 2), filter=w)
            add("DepthwiseConv2dNative", tag, {"strides": [1, *st, 1], "dilations": [1, *dl, 1],
                                               "padding": pad}, input=x, filter=f32(3, 3, 3, 2))
            for k, st2 in [((2, 2), (2, 2)), ((3, 3), (1, 2))] if st == dl == (1, 1) else []:
                for op in ("MaxPool", "AvgPool"):
                    add(op, f"{pad}_k{k[0]}_s{st2[1]}", {"ksize": [1, *k, 1],
                                                         "strides": [1, *st2, 1], "padding": pad},
                        **({"input": x} if op == "MaxPool" else {"value": x}))
        add("MaxPool", f"{pad}_nchw", {"ksize": [1, 1, 2, 2], "strides": [1, 1, 2, 2],
                                       "padding": pad, "data_format": "NCHW"},
            input=x.transpose(0, 3, 1, 2))
        for st in (1, 2):
            y_shape = {"SAME": (2, -(-7 // st), -(-6 // st), 4),
                       "VALID": (2, (7 - 3) // st + 1, (6 - 2) // st + 1, 4)}[pad]
            add("Conv2DBackpropInput", f"{pad}_s{st}", {"strides": [1, st, st, 1], "padding": pad},
                input_sizes=i32(2, 7, 6, 3), filter=w, out_backprop=f32(*y_shape))
    add("Conv2D", "explicit", {"strides": [1, 1, 1, 1], "padding": "EXPLICIT",
                               "explicit_paddings": [0, 0, 1, 2, 0, 1, 0, 0]}, input=x, filter=w)
    add("Conv2D", "groups", {"strides": [1, 1, 1, 1], "padding": "VALID"},
        input=f32(1, 5, 5, 4), filter=f32(3, 3, 2, 6))
    add("Conv2D", "bad_channels", {"strides": [1, 1, 1, 1], "padding": "VALID"},
        input=f32(1, 5, 5, 4), filter=f32(3, 3, 3, 6))
    add("Conv2D", "kernel_too_big", {"strides": [1, 1, 1, 1], "padding": "VALID"},
        input=f32(1, 2, 2, 3), filter=w)
    add("MaxPool", "int32", {"ksize": [1, 2, 2, 1], "strides": [1, 2, 2, 1], "padding": "SAME"},
        input=RS.randint(-9, 9, (1, 3, 3, 2)).astype(np.int32))
    add("Conv2DBackpropInput", "dilated", {"strides": [1, 1, 1, 1], "padding": "SAME",
                                            "dilations": [1, 2, 2, 1]},
        input_sizes=i32(1, 6, 6, 3), filter=w, out_backprop=f32(1, 6, 6, 4))
    for fmt in ("NHWC", "NCHW"):
        xs = x if fmt == "NHWC" else x.transpose(0, 3, 1, 2)
        add("FusedBatchNormV3", f"infer_{fmt}", {"is_training": False, "epsilon": 0.001,
                                                 "data_format": fmt}, only=(0,),
            x=xs, scale=f32(3), offset=f32(3), mean=f32(3), variance=np.abs(f32(3)))
    add("FusedBatchNormV3", "train", {"is_training": True}, only=(0, 1, 2),
        x=x, scale=f32(3), offset=f32(3), mean=np.zeros(0, np.float32),
        variance=np.zeros(0, np.float32))
    add("FusedBatchNorm", "infer", {"is_training": False}, only=(0,),
        x=x, scale=f32(3), offset=f32(3), mean=f32(3), variance=np.abs(f32(3)))
    for op in ("Softmax", "LogSoftmax"):
        add(op, "rank3", logits=f32(2, 3, 4) * 10)
        add(op, "large", logits=np.float32([[1000, 0, -1000], [-np.inf, 0, 1]]))
        add(op, "rank1", logits=f32(5))
        add(op, "scalar", logits=np.float32(1))
    add("LRN", "basic", {"depth_radius": 2, "bias": 1.0, "alpha": 0.1, "beta": 0.75},
        input=f32(1, 2, 2, 6))
    add("ResizeBilinear", "half_pixel", {"half_pixel_centers": True},
        images=f32(1, 3, 4, 2), size=i32(5, 7))
    add("ResizeBilinear", "align", {"align_corners": True}, images=f32(1, 3, 4, 2), size=i32(5, 7))
    add("ResizeBilinear", "legacy", images=f32(1, 3, 4, 2), size=i32(2, 3))
    add("ResizeNearestNeighbor", "half_pixel", {"half_pixel_centers": True},
        images=f32(1, 3, 4, 2), size=i32(5, 7))
    add("ResizeNearestNeighbor", "legacy", images=f32(1, 3, 4, 2), size=i32(6, 2))
    add("ResizeNearestNeighbor", "align", {"align_corners": True},
        images=f32(1, 3, 4, 2), size=i32(5, 7))


def _arrays() -> None:
    """Shape manipulation, slicing, gathering, padding."""
    x = f32(3, 4, 5)
    for tag, b, e, st, masks in [
        ("basic", (0, 1, 0), (2, 3, 5), (1, 1, 2), {}),
        ("neg_stride", (-1, 0, 0), (0, 4, 5), (-1, 1, -2), {"end_mask": 4}),
        ("rev_all", (0, 0, 0), (0, 0, 0), (-1, -1, -1), {"begin_mask": 7, "end_mask": 7}),
        ("shrink", (1, 0, 2), (2, 4, 3), (1, 1, 1), {"shrink_axis_mask": 5}),
        ("new_axis", (0, 0, 1), (0, 3, 4), (1, 1, 1), {"new_axis_mask": 1}),
        ("ellipsis", (0, 1), (0, 3), (1, 1), {"ellipsis_mask": 1}),
        ("ellipsis_newaxis", (0, 0, -1), (0, 0, 0), (1, 1, 1),
         {"ellipsis_mask": 1, "new_axis_mask": 2, "shrink_axis_mask": 4}),
        ("clamp", (-10, 2, 0), (10, 100, -1), (1, 1, 1), {}),
        ("empty", (2, 0, 0), (1, 4, 5), (1, 1, 1), {}),
        ("shrink_neg", (-1,), (0,), (1,), {"shrink_axis_mask": 1}),
        ("shrink_oob", (3,), (4,), (1,), {"shrink_axis_mask": 1}),
    ]:
        add("StridedSlice", tag, masks, input=x, begin=i32(*b), end=i32(*e), strides=i32(*st))
    add("StridedSlice", "zero_stride", input=x, begin=i32(0), end=i32(1), strides=i32(0))
    add("Slice", "minus1", input=x, begin=i32(1, 0, 2), size=i32(-1, 2, -1))
    add("Slice", "oob", input=x, begin=i32(2, 0, 0), size=i32(2, 1, 1))
    params = f32(4, 3)
    add("GatherV2", "axis0", params=params, indices=i32(3, 0, 0), axis=np.int32(0))
    add("GatherV2", "neg_axis", params=params, indices=np.int64([[2, 1], [0, 0]]),
        axis=np.int32(-1))
    add("GatherV2", "batch_dims", {"batch_dims": 1}, params=f32(2, 5, 3),
        indices=i32([4, 0], [1, 1]), axis=np.int32(1))
    add("GatherV2", "batch_dims_neg", {"batch_dims": -1}, params=f32(2, 5, 3),
        indices=i32([4, 0], [1, 1]), axis=np.int32(1))
    add("GatherV2", "oob", params=params, indices=i32(4), axis=np.int32(0))
    add("GatherV2", "negative_index", params=params, indices=i32(-1), axis=np.int32(0))
    add("GatherV2", "scalar_index", params=params, indices=np.int32(2), axis=np.int32(1))
    add("GatherV2", "strings", params=s("a", "b", "c"), indices=i32(2, 0), axis=np.int32(0))
    add("Gather", "basic", params=params, indices=i32(1, 3))
    add("GatherNd", "basic", params=params, indices=i32([1, 2], [3, 0]))
    add("GatherNd", "slices", params=f32(2, 3, 4), indices=i32([1], [0]))
    add("GatherNd", "oob", params=params, indices=i32([4, 0]))
    pads = i32([1, 2], [0, 1], [2, 0])
    add("Pad", "basic", input=x, paddings=pads)
    add("Pad", "int64_pads", input=i32(1, 2), paddings=np.int64([[2, 1]]))
    add("Pad", "neg", input=x, paddings=i32([-1, 0], [0, 0], [0, 0]))
    add("PadV2", "value", input=x, paddings=pads, constant_values=np.float32(-3))
    for mode in ("REFLECT", "SYMMETRIC"):
        add("MirrorPad", mode.lower(), {"mode": mode}, input=x, paddings=i32([1, 2], [3, 0], [2, 2]))
        add("MirrorPad", mode.lower() + "_too_big", {"mode": mode}, input=x,
            paddings=i32([3, 0], [0, 0], [0, 0]))
    add("Tile", "basic", input=x, multiples=i32(2, 1, 3))
    add("Tile", "zero", input=x, multiples=i32(0, 1, 1))
    add("Tile", "bad_len", input=x, multiples=i32(2, 1))
    add("Tile", "string", input=s("a", "b"), multiples=i32(2))
    for axis in (-1, 0, 1):
        add("OneHot", f"axis{axis}", {"axis": axis}, indices=i32([0, -1, 3], [2, 5, 1]),
            depth=np.int32(4), on_value=np.float32(5), off_value=np.float32(-1))
    add("OneHot", "int_values", indices=np.int64([0, 2]), depth=np.int32(3),
        on_value=np.int32(1), off_value=np.int32(0))
    add("OneHot", "neg_depth", indices=i32(0), depth=np.int32(-1), on_value=np.float32(1),
        off_value=np.float32(0))
    add("Range", "neg_delta", start=np.int32(10), limit=np.int32(1), delta=np.int32(-3))
    add("Range", "float", start=np.float32(0.5), limit=np.float32(2.2), delta=np.float32(0.3))
    add("Range", "empty", start=np.int32(5), limit=np.int32(1), delta=np.int32(1))
    add("Range", "zero_delta", start=np.int32(0), limit=np.int32(3), delta=np.int32(0))
    add("Range", "int64", start=np.int64(-3), limit=np.int64(4), delta=np.int64(2))
    add("LinSpace", "basic", start=np.float32(-1), stop=np.float32(2), num=np.int32(7))
    add("LinSpace", "one", start=np.float32(-1), stop=np.float32(2), num=np.int32(1))
    for dst in ("int32", "uint8", "int64", "bool", "float16", "int8"):
        add("Cast", f"f32_to_{dst}", {"DstT": DT(dst)},
            x=np.float32([-2.7, -0.5, 0.5, 2.7, 300.0, -300.0, 0.0]))
    add("Cast", "nan_to_int32", {"DstT": DT("int32")}, x=np.float32([np.nan, np.inf, -np.inf]))
    add("Cast", "int_to_bool", {"DstT": DT("bool")}, x=i32(0, 3, -1))
    add("Cast", "bool_to_float", {"DstT": DT("float32")}, x=np.array([True, False]))
    add("Cast", "int64_to_int32", {"DstT": DT("int32")}, x=np.int64([2**40 + 5, -1]))
    add("Cast", "f64_to_f32", {"DstT": DT("float32")}, x=np.float64([1e300, 1 / 3]))
    add("Select", "rank1_cond", condition=np.array([True, False]), x=f32(2, 3), y=f32(2, 3))
    add("Select", "same", condition=np.array([[True, False]]), x=f32(1, 2), y=f32(1, 2))
    add("Select", "bad", condition=np.array([True, False, True]), x=f32(2, 3), y=f32(2, 3))
    add("SelectV2", "bcast", condition=np.array([[True], [False]]), t=f32(1, 3), e=np.float32(0))
    add("SelectV2", "bad", condition=np.array([True, False]), t=f32(3), e=f32(3))
    add("TopKV2", "ties", k=np.int32(3), input=np.float32([[1, 3, 3, 2, 3], [0, 0, 0, 0, 1]]))
    add("TopKV2", "k0", k=np.int32(0), input=f32(2, 4))
    add("TopKV2", "k_too_big", k=np.int32(5), input=f32(4))
    add("TopKV2", "int", k=np.int32(2), input=i32(5, -1, 5, 7))
    add("TopKV2", "unsorted", {"sorted": False}, k=np.int32(4), input=np.float32([4, 1, 3, 2]))
    add("Unique", "int", x=i32(3, 1, 3, -2, 1, 0))
    add("Unique", "idx64", {"out_idx": DT("int64")}, x=np.float32([2, 2, 1]))
    add("Unique", "string", x=s("b", "a", "b"))
    add("Unique", "empty", x=np.zeros(0, np.int32))
    add("Where", "bool2d", condition=np.array([[True, False], [False, True]]))
    add("Where", "float", condition=np.float32([0, 1.5, -0.0, np.nan]))
    add("Where", "empty", condition=np.zeros((0, 3), bool))
    add("Where", "scalar", condition=np.array(True))
    add("Split", "three", {"num_split": 3}, axis=np.int32(-1), value=f32(2, 6))
    add("Split", "uneven", {"num_split": 4}, axis=np.int32(-1), value=f32(2, 6))
    add("SplitV", "minus1", {"num_split": 3}, value=f32(2, 7), size_splits=i32(2, -1, 1),
        axis=np.int32(-1))
    add("SplitV", "bad", {"num_split": 2}, value=f32(2, 7), size_splits=i32(2, 2),
        axis=np.int32(1))
    add("SplitV", "two_minus1", {"num_split": 2}, value=f32(2, 7), size_splits=i32(-1, -1),
        axis=np.int32(1))
    add("Squeeze", "all", input=f32(1, 3, 1, 2))
    add("Squeeze", "neg", {"axis": [-2]}, input=f32(1, 3, 1, 2))
    add("Squeeze", "not_one", {"axis": [1]}, input=f32(1, 3, 1, 2))
    for d in (-1, -3, 0, 2):
        add("ExpandDims", f"dim{d}", input=f32(2, 3), axis=np.int32(d))
    add("ExpandDims", "bad", input=f32(2, 3), axis=np.int32(3))
    add("ExpandDims", "vector_dim", input=f32(2, 3), axis=i32(1))
    add("Transpose", "basic", x=x, perm=i32(2, 0, 1))
    add("Transpose", "int64_perm", x=x, perm=np.int64([1, 2, 0]))
    add("Transpose", "bad", x=x, perm=i32(0, 0, 1))
    add("InvertPermutation", "basic", x=i32(2, 0, 3, 1))
    add("Reshape", "minus1", tensor=x, shape=i32(-1, 10))
    add("Reshape", "scalar", tensor=np.float32([7]), shape=np.zeros(0, np.int32))
    add("Reshape", "bad", tensor=x, shape=i32(7, -1))
    add("Reshape", "two_minus1", tensor=x, shape=i32(-1, -1))
    add("Reshape", "empty_minus1", tensor=np.zeros((0, 4), np.float32), shape=i32(-1, 2))
    add("ConcatV2", "neg_axis", values=[f32(2, 3), f32(2, 1)], axis=np.int32(-1))
    add("ConcatV2", "empty", values=[f32(0, 3), f32(2, 3)], axis=np.int32(0))
    add("ConcatV2", "bad", values=[f32(2, 3), f32(3, 1)], axis=np.int32(0))
    add("ConcatV2", "strings", values=[s("a"), s("b", "c")], axis=np.int32(0))
    add("Pack", "neg_axis", {"axis": -1}, values=[f32(2, 3), f32(2, 3)])
    add("Unpack", "axis1", {"num": 3, "axis": 1}, value=f32(2, 3))
    add("Fill", "basic", dims=i32(2, 3), value=np.float32(1.5))
    add("Fill", "neg", dims=i32(-1, 3), value=np.float32(1.5))
    add("Shape", "int64", {"out_type": DT("int64")}, input=x)
    add("Size", "basic", input=x)
    add("Rank", "basic", input=x)
    add("ReverseV2", "neg", tensor=x, axis=i32(-1, 0))
    add("Roll", "basic", input=x, shift=i32(2, -1), axis=i32(2, 0))
    add("BroadcastTo", "basic", input=f32(3, 1), shape=i32(2, 3, 4))
    add("BroadcastTo", "bad", input=f32(3, 2), shape=i32(3, 4))
    add("BroadcastArgs", "basic", s0=i32(3, 1), s1=i32(2, 1, 4))
    add("DepthToSpace", "basic", {"block_size": 2}, input=f32(1, 2, 3, 8))
    add("SpaceToDepth", "basic", {"block_size": 2}, input=f32(1, 4, 6, 2))
    add("MatrixBandPart", "basic", input=f32(4, 5), num_lower=np.int64(1), num_upper=np.int64(-1))
    add("Bucketize", "basic", {"boundaries": [0.0, 1.0, 2.5]},
        input=np.float32([-1, 0, 0.5, 1, 3, 2.5]))
    add("UnsortedSegmentSum", "basic", data=f32(5, 2), segment_ids=i32(0, 2, 0, -1, 1),
        num_segments=np.int32(3))
    add("UnsortedSegmentMax", "empty_segment", data=f32(3), segment_ids=i32(0, 0, 2),
        num_segments=np.int32(3))
    add("UnsortedSegmentSum", "oob", data=f32(3), segment_ids=i32(0, 3, 1),
        num_segments=np.int32(3))
    for op in ("UnsortedSegmentSum", "UnsortedSegmentProd", "UnsortedSegmentMax"):  # empty rows
        add(op, "empty_inner", data=np.zeros((2, 0, 3), np.float32), segment_ids=i32(0, 1),
            num_segments=np.int32(3))
    add("ScatterNd", "dup", indices=i32([0], [2], [0]), updates=f32(3, 2), shape=i32(4, 2))
    add("ScatterNd", "oob", indices=i32([4]), updates=f32(1, 2), shape=i32(4, 2))
    add("TensorScatterUpdate", "basic", tensor=f32(4, 2), indices=i32([1], [3]),
        updates=f32(2, 2))


def _strings() -> None:
    """String ops Keras text layers use."""
    words = s("Hello", "wörld", "", "a b  c")
    add("StringJoin", "bcast", {"separator": "-"}, inputs=[words, s("x")])
    add("StringJoin", "bad", inputs=[s("a", "b"), s("x", "y", "z")])
    add("Substr", "basic", input=words, pos=i32(1, 1, 0, 2), len=i32(2, 10, 0, 3))
    add("Substr", "neg_pos", input=s("hello"), pos=np.int32(-3), len=np.int32(2))
    add("Substr", "oob", input=s("hello"), pos=np.int32(6), len=np.int32(1))
    add("Substr", "utf8", {"unit": "UTF8_CHAR"}, input=s("wörld"), pos=np.int32(1), len=np.int32(2))
    add("Substr", "utf8_neg", {"unit": "UTF8_CHAR"}, input=s("wörld"), pos=np.int32(-4),
        len=np.int32(3))
    add("Substr", "scalar_pos_bcast", input=words[:2], pos=np.int32(0), len=np.int32(3))
    add("StringSplitV2", "default", input=s("a b  c", " x ", ""), sep=np.array(b"", object))
    add("StringSplitV2", "sep", input=s("a,,b", ",c", ""), sep=np.array(b",", object))
    add("StringSplitV2", "maxsplit", {"maxsplit": 1}, input=s("a,b,c"), sep=np.array(b",", object))
    add("RegexReplace", "global", input=words, pattern=np.array(b"[lo]", object),
        rewrite=np.array(b"_", object))
    add("RegexReplace", "first", {"replace_global": False}, input=words,
        pattern=np.array(b"[lo]", object), rewrite=np.array(b"<\\0>", object))
    add("RegexReplace", "punct", input=s("Hi, there! [ok]"),
        pattern=np.array(b"[!\"#$%&()\\*\\+,-\\./:;<=>?@\\[\\\\\\]^_`{|}~']", object),
        rewrite=np.array(b"", object))
    add("StaticRegexReplace", "basic", {"pattern": "a+", "rewrite": "X"}, input=s("caaat", "b"))
    add("RegexFullMatch", "basic", input=s("abc", "abd"), pattern=np.array(b"ab[c]", object))
    add("StringToNumber", "float", string_tensor=s("1.5", "-2", "1e3", " 3", "inf", "nan"))
    add("StringToNumber", "int32", {"out_type": DT("int32")}, string_tensor=s("12", "-7", "+3"))
    add("StringToNumber", "bad_int", {"out_type": DT("int32")}, string_tensor=s("1.5"))
    add("StringToNumber", "bad", string_tensor=s("abc"))
    add("StringToNumber", "int_overflow", {"out_type": DT("int32")}, string_tensor=s("3000000000"))
    floats = np.float32([1.5, -0.0, 1e-7, 123456789.0, np.nan, -np.inf, 1 / 3])
    add("AsString", "float", input=floats)
    add("AsString", "precision", {"precision": 2}, input=floats)
    add("AsString", "scientific", {"scientific": True, "precision": 3}, input=floats)
    add("AsString", "shortest", {"shortest": True}, input=floats)
    add("AsString", "width_fill", {"width": 6, "fill": "0"}, input=i32(5, -12, 1234567))
    add("AsString", "width_space", {"width": 5}, input=floats[:3])
    for fill in ("-", "+", " ", "#"):
        add("AsString", f"fill{fill!r}", {"width": 5, "fill": fill}, input=i32(5, -12))
    add("AsString", "fill_x", {"fill": "x"}, input=i32(5))
    add("AsString", "sci_and_shortest", {"scientific": True, "shortest": True}, input=floats)
    add("AsString", "int64", input=np.int64([-(2**62), 0]))
    add("AsString", "bool", input=np.array([True, False]))
    add("AsString", "float64", input=np.float64([1 / 3, 1e20]))
    add("StringLength", "bytes", input=words)
    add("StringLength", "utf8", {"unit": "UTF8_CHAR"}, input=words)
    add("StringLower", "basic", input=s("HeLLo", "ÄB"))
    add("StringUpper", "basic", input=s("HeLLo", "äb"))
    add("StringStrip", "basic", input=s("  a b \t\n", ""))
    add("StringToHashBucketFast", "basic", {"num_buckets": 7}, input=words)
    add("ReduceJoin", "axis", {"separator": "|"}, inputs=np.array([[b"a", b"b"], [b"c", b"d"]],
                                                                 object),
        reduction_indices=np.int32(-1))
    add("ReduceJoin", "keep", {"keep_dims": True}, inputs=np.array([[b"a", b"b"], [b"c", b"d"]],
                                                                   object),
        reduction_indices=np.int32(0))


def _dtypes_and_corners() -> None:
    """Dtype preservation (float16/float64/narrow ints) and more corner cases."""
    h, d = f32(2, 3).astype(np.float16), f32(2, 3).astype(np.float64)
    for op in ("Exp", "Sigmoid", "Tanh", "Erf", "Rsqrt", "Floor", "Round", "Sign"):
        add(op, "f16", x=h)
        add(op, "f64", x=d)
    for op in ("Softmax", "LogSoftmax"):
        add(op, "float64", logits=d)
        add(op, "float16", logits=h)
    for op in ("Relu6", "Elu", "Selu", "LeakyRelu", "Softplus"):
        add(op, "float64", features=d)
    add("Sum", "int8_wrap", input=np.int8([100, 100, -3]), axis=np.int32(0))
    add("Mean", "float16", input=h, axis=np.int32(1))
    add("Mean", "int64_neg", input=np.int64([-7, 2]), axis=np.int32(0))
    add("Prod", "int_keep", {"keep_dims": True}, input=i32([2, -3], [4, 5]), axis=np.int32(0))
    add("FloorMod", "neg_zero", x=np.float32([-4, 4, -0.0]), y=np.float32([2, -2, 3]))
    add("FloorDiv", "neg_zero", x=np.float32([-0.0, 0.0, -1]), y=np.float32([3, -3, 4]))
    add("FloorDiv", "int8_min", x=np.int8([-128, -128]), y=np.int8([-1, 2]))
    add("TruncateDiv", "int64_min", x=np.int64([-(2**63)]), y=np.int64([-1]))
    add("Pow", "float16", x=np.abs(h), y=np.float16(2))
    add("Pow", "zero_zero", x=np.float32([0, 0, np.nan, 1]), y=np.float32([0, -1, 0, np.nan]))
    add("Conv2D", "float64", {"strides": [1, 1, 1, 1], "padding": "SAME"},
        input=f32(1, 4, 4, 2).astype(np.float64), filter=f32(3, 3, 2, 2).astype(np.float64))
    add("Einsum", "int32", {"equation": "ij,jk->ik"}, inputs=[i32([1, 2], [3, 4]), i32([5], [6])])
    add("Range", "float_neg", start=np.float32(1), limit=np.float32(-1), delta=np.float32(-0.5))
    add("Range", "float64", start=np.float64(0), limit=np.float64(1), delta=np.float64(0.25))
    add("MirrorPad", "int_zero", {"mode": "REFLECT"}, input=i32([1, 2, 3], [4, 5, 6]),
        paddings=i32([0, 0], [2, 2]))
    add("MirrorPad", "symmetric_full", {"mode": "SYMMETRIC"}, input=i32(1, 2, 3),
        paddings=i32([3, 3]))
    add("Tile", "int64_mult", input=i32([1, 2]), multiples=np.int64([3, 2]))
    add("TopKV2", "nan", k=np.int32(2), input=np.float32([1, np.nan, 3]))
    add("TopKV2", "neg_k", k=np.int32(-1), input=f32(3))
    add("Cast", "f32_to_f16_overflow", {"DstT": DT("float16")}, x=np.float32([70000, -1e9, 1e-9]))
    add("Cast", "f16_to_int32", {"DstT": DT("int32")}, x=np.float16([1.5, -2.5, 65504]))
    add("Cast", "f32_to_int64_big", {"DstT": DT("int64")}, x=np.float32([1e19, -3.9, np.nan]))
    add("Cast", "f32_to_uint32", {"DstT": DT("uint32")}, x=np.float32([-1, 3e9, 5.5]))
    add("Cast", "int32_to_uint8", {"DstT": DT("uint8")}, x=i32(-1, 256, 300))
    add("Cast", "truncate_attr", {"DstT": DT("int32"), "Truncate": True}, x=np.float32([2.7]))
    add("Select", "scalar_cond", condition=np.array(False), x=f32(2, 3), y=f32(2, 3))
    add("SelectV2", "strings", condition=np.array([True, False]), t=s("a", "b"), e=s("c"))
    add("Squeeze", "bad_axis", {"axis": [-5]}, input=f32(1, 3, 1, 2))
    add("StringSplitV2", "multichar", input=s("a<>b<><>c"), sep=np.array(b"<>", object))
    add("Substr", "neg_len", input=s("hello"), pos=np.int32(1), len=np.int32(-1))
    add("StringToNumber", "int64", {"out_type": DT("int64")}, string_tensor=s("-9000000000"))
    add("StringToNumber", "float64", {"out_type": DT("float64")}, string_tensor=s("0.1", "1e-320"))
    add("StringToNumber", "hex", string_tensor=s("0x10"))
    add("StringToNumber", "float_overflow", string_tensor=s("1e40"))
    add("BiasAdd", "rank2_nchw", {"data_format": "NCHW"}, value=f32(2, 3), bias=f32(3))
    add("Reshape", "int64_shape", tensor=f32(2, 3), shape=np.int64([3, -1]))
    add("ConcatV2", "int64_axis", values=[i32([1]), i32([2, 3])], axis=np.int64(-1))
    add("ConcatV2", "scalars", values=[np.float32(1), np.float32(2)], axis=np.int32(0))
    add("ConcatV2", "axis_oob", values=[f32(2), f32(2)], axis=np.int32(1))
    add("Pack", "scalars", values=[np.int32(1), np.int32(2)])
    add("Fill", "string", dims=i32(2), value=np.array(b"x", object))
    add("OneHot", "depth0", indices=i32(0, 1), depth=np.int32(0), on_value=np.float32(1),
        off_value=np.float32(0))
    add("AddN", "one", inputs=[f32(2)])
    add("Equal", "bool", x=np.array([True, False]), y=np.array(True))
    add("GatherV2", "axis_int64", params=f32(2, 3, 4), indices=np.int64([[1, 0]]),
        axis=np.int64(-2))
    add("GatherV2", "empty_indices", params=f32(3, 2), indices=np.zeros((0,), np.int32),
        axis=np.int32(0))
    add("StridedSlice", "strings", input=s("a", "b", "c", "d"), begin=i32(-1), end=i32(0),
        strides=i32(-2))
    add("AvgPool", "float64", {"ksize": [1, 2, 2, 1], "strides": [1, 1, 1, 1], "padding": "SAME"},
        value=f32(1, 3, 3, 1).astype(np.float64))
    add("Unique", "neg_zero", x=np.float32([0.0, -0.0, 1]))
    add("ArgMax", "bool", input=np.array([False, True, True]), dimension=np.int32(0))
    add("ArgMax", "uint8_out", {"output_type": DT("int16")}, input=f32(3), dimension=np.int32(0))


def _validation() -> None:
    """Kernels that once validated inputs differently from TF: each edge case, error or value."""
    # StringToNumber: one string per case (one bad element fails the whole tensor).
    texts = ["12", "-7", "+3", " 3", "3 ", "\t5\n", "\x0b5\x0c", "1_000", "1_0", "1_0.5", "\u0663",
             "\uff10", "\u0661.\u0665", "\u00a05", "0x10", "0X1A", "0x1p3", "-0x.8", "010", "", " ",
             "1e3", "1e+3", "1e", "3000000000", "-2147483648", "2147483648", "9223372036854775808",
             "+-1", "--1", "1 2", "1.5", ".5", "5.", "-0", "1,5", "1.5f", "1d", "0b11", "inf",
             "-inf", "+inf", "Infinity", "INF", "nan", "NaN", "-nan", "nan(123)", "nan(", "1e400",
             "1e-400", "  -1.25e-3  ", "\xff"]
    for out in ("int32", "int64", "float32", "float64"):
        for i, text in enumerate(texts):
            add("StringToNumber", f"{out}_{i}", {"out_type": DT(out)}, string_tensor=s(text))
    # Unique and its V2/WithCounts forms: NaNs stay apart, 0.0 == -0.0, 1-D only without axis.
    nans = np.float32([1, np.nan, 1, np.nan, -0.0, 0.0])
    for op in ("Unique", "UniqueWithCounts"):
        add(op, "nans", x=nans)
        add(op, "all_nan", x=np.float32([np.nan, np.nan]))
        add(op, "rank2", x=f32(2, 2))
        add(op, "scalar", x=np.float32(1))
        add(op, "bool", x=np.array([True, False, True]))
        add(op, "strings_idx64", {"out_idx": DT("int64")}, x=s("b", "a", "b", ""))
    rows = np.float32([[3, 0], [1, 0], [3, 0], [np.nan, 1], [np.nan, 1], [-0.0, 0]])
    for op in ("UniqueV2", "UniqueWithCountsV2"):
        for tag, axis in [("axis0", [0]), ("axis1", [1]), ("neg", [-1]), ("neg2", [-2]),
                          ("out", [2]), ("two", [0, 1]), ("none_rank2", [])]:
            add(op, tag, x=rows, axis=np.int64(axis))
        add(op, "none_rank1", x=np.float32([3, 1, 3, np.nan]), axis=np.zeros(0, np.int64))
        add(op, "scalar_axis", x=rows, axis=np.int64(0))
        add(op, "int32_axis_3d", x=np.float32([[[1], [1]], [[2], [2]]]), axis=np.int32([1]))
        add(op, "empty_rows", x=np.zeros((0, 2), np.float32), axis=np.int64([0]))
        add(op, "strings", x=np.array([[b"a", b"b"], [b"a", b"b"]], object), axis=np.int64([1]))
    # Roll: axes in [-rank, rank), shift/axis scalar or vector of one size, input at least 1-D.
    m = f32(2, 3)
    for tag, sh, ax in [("neg_axis", 1, -1), ("neg_axis2", 1, -2), ("axis_oob", 1, 2),
                        ("axis_neg_oob", 1, -3), ("sizes", [1, 2], [0]), ("repeat", [1, 1], [1, 1]),
                        ("big_shift", 7, 1), ("neg_shift", -4, 0), ("empty", [], []),
                        ("matrix_shift", [[1]], [[1]])]:
        add("Roll", tag, input=m, shift=i32(*np.atleast_1d(sh)) if np.ndim(sh) < 2 else np.int32(sh),
            axis=i32(*np.atleast_1d(ax)) if np.ndim(ax) < 2 else np.int32(ax))
    add("Roll", "scalars", input=m, shift=np.int32(1), axis=np.int32(0))
    add("Roll", "scalar_input", input=np.float32(3), shift=np.int32(1), axis=np.int32(0))
    add("Roll", "empty_dim", input=np.zeros((0, 3), np.float32), shift=np.int32(1), axis=np.int32(0))
    add("Roll", "int64", input=m, shift=np.int64([5]), axis=np.int64([1]))
    # int64 shifts wrap to 32 bits in roll_op.cc (2**40 + 1 rolls by 1), each before they add up.
    v6 = np.arange(6, dtype=np.float32)
    for tag, sh in [("wrap", [2**40 + 1]), ("wrap_min", [2**31]), ("wrap_neg", [-2**31 - 1]),
                    ("wrap_pair", [2**32 + 1, 2**32 - 1])]:
        add("Roll", f"int64_{tag}", input=v6, shift=np.int64(sh), axis=np.int64([0] * len(sh)))
    # MatrixBandPart: widths negative or at most rows / columns, scalars, input at least 2-D.
    band = f32(3, 4)
    for lo, hi in [(0, 0), (1, 1), (-1, 0), (3, 4), (4, 0), (0, 5), (-5, -1), (2, -7), (3, -1)]:
        add("MatrixBandPart", f"w{lo}_{hi}", input=band, num_lower=np.int64(lo), num_upper=np.int64(hi))
    add("MatrixBandPart", "rank1", input=f32(3), num_lower=np.int64(0), num_upper=np.int64(0))
    add("MatrixBandPart", "vector_width", input=band, num_lower=np.int64([0]), num_upper=np.int64(0))
    add("MatrixBandPart", "batch_int32", input=f32(2, 2, 3), num_lower=np.int32(0),
        num_upper=np.int32(1))
    add("MatrixBandPart", "empty", input=np.zeros((2, 0, 3), np.float32), num_lower=np.int64(0),
        num_upper=np.int64(1))
    # Transpose: a negative entry counts from the end; rank-many entries, each dimension once.
    t = f32(2, 3)
    for tag, perm in [("neg", [-1, 0]), ("neg_both", [-1, -2]), ("neg_dup", [0, -2]),
                      ("neg_oob", [-3, 0]), ("oob", [2, 0]), ("dup", [0, 0]), ("short", [1]),
                      ("long", [1, 0, 2])]:
        add("Transpose", tag, x=t, perm=i32(*perm))
    add("Transpose", "scalar", x=np.float32(1), perm=np.zeros(0, np.int32))
    add("Transpose", "neg_int64", x=f32(2, 3, 4), perm=np.int64([-1, 0, -2]))
    add("Transpose", "matrix_perm", x=t, perm=i32([1, 0]))
    add("ConjugateTranspose", "neg", x=np.complex64([[1 + 2j, 3], [4j, -1]]), perm=i32(-1, 0))
    # RegexReplace rewrites as RE2 reads them: a missing group replaces nothing; a bad escape
    # cuts a global replace's rewrite short and cancels a single replace.
    text = s("hello world", "zzz", "")
    for i, rw in enumerate([b"\\9", b"<\\1>", b"<\\2>", b"a\\xb", b"a\\", b"\\\\9", b"x\\0y",
                            b"a\\x\\5", b"\\\\", b"\\1\\1"]):
        for glob in (True, False):
            add("RegexReplace", f"rewrite{i}_{glob}", {"replace_global": glob}, input=text,
                pattern=np.array(b"(o)", object), rewrite=np.array(rw, object))
            add("StaticRegexReplace", f"rewrite{i}_{glob}",
                {"pattern": "(o)", "rewrite": rw.decode(), "replace_global": glob}, input=text)
    add("RegexReplace", "empty_match_rewrite", input=s("abc"), pattern=np.array(b"x*", object),
        rewrite=np.array(b"\\0-", object))
    add("RegexReplace", "bad_pattern", input=s("abc"), pattern=np.array(b"(", object),
        rewrite=np.array(b"x", object))


_elementwise()
_dtypes_and_corners()
_validation()
_reductions()
_linalg()
_conv_pool()
_arrays()
_strings()


test_kernel_matches_tensorflow = CASES.test()


def test_cases_cover_many_ops() -> None:
    assert len({c.op for c in CASES}) >= 150


if __name__ == "__main__":  # debugging aid: print every disagreement with TF in detail
    from .raw_ops_harness import report

    report(CASES)
