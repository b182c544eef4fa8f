"""The op and layer vocabulary both graph builders share: math, activations, convolution, shapes, layers.

One method per TensorFlow op (``add`` is AddV2, ``conv2d`` Conv2D...) with its static
output shape (:mod:`savedmodel_io.graph.shapes`), and the layer-level compositions a
Keras export is made of (``dense``, ``layer_norm``, ``gelu``, ``batch_norm``...), node
names following Keras' naming so graphs read like TensorFlow's.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from savedmodel_io.errors import InvalidArgumentError
from savedmodel_io.graph import shapes
from savedmodel_io.graph.builder_core import BuilderCore, DTypeLike, Operand, Tensor, as_dtype
from savedmodel_io.proto import DataType
from savedmodel_io.tensors import Shape

__all__ = ["Layers"]


class Layers(BuilderCore):
    """The op vocabulary (one method per op) and the layer-level vocabulary on top of it."""

    def _operator(self, method: str, *operands: Tensor) -> Tensor:
        return _OPERATORS[method](self, *operands)

    # -- math ----------------------------------------------------------------------------------
    def _binary(self, op_type: str, x: Operand, y: Operand, name: str | None) -> Tensor:
        if not isinstance(x, Tensor) and not isinstance(y, Tensor):
            raise InvalidArgumentError(f"{op_type}: at least one operand must be a Tensor")
        if not isinstance(x, Tensor):
            x = self.const(x, y.dtype)
        if not isinstance(y, Tensor):
            y = self.const(y, x.dtype)
        self._same_dtype(op_type, x, y)
        shape = shapes.broadcast(x.shape, y.shape, op_type)
        return self._one(op_type, [x, y], {"T": x.dtype}, x.dtype, shape, name)

    def _unary(self, op_type: str, x: Tensor, name: str | None, **attrs: Any) -> Tensor:
        return self._one(op_type, [x], {"T": x.dtype, **attrs}, x.dtype, x.shape, name)

    def add(self, x: Operand, y: Operand, name: str | None = None) -> Tensor:
        """x + y (AddV2, broadcasting)."""
        return self._binary("AddV2", x, y, name or "add")

    def sub(self, x: Operand, y: Operand, name: str | None = None) -> Tensor:
        """x - y (Sub)."""
        return self._binary("Sub", x, y, name or "sub")

    def mul(self, x: Operand, y: Operand, name: str | None = None) -> Tensor:
        """x * y (Mul)."""
        return self._binary("Mul", x, y, name or "mul")

    def div(self, x: Operand, y: Operand, name: str | None = None) -> Tensor:
        """x / y (RealDiv)."""
        return self._binary("RealDiv", x, y, name or "truediv")

    def maximum(self, x: Operand, y: Operand, name: str | None = None) -> Tensor:
        """Elementwise max (Maximum)."""
        return self._binary("Maximum", x, y, name or "Maximum")

    def minimum(self, x: Operand, y: Operand, name: str | None = None) -> Tensor:
        """Elementwise min (Minimum)."""
        return self._binary("Minimum", x, y, name or "Minimum")

    def pow(self, x: Operand, y: Operand, name: str | None = None) -> Tensor:
        """x ** y (Pow)."""
        return self._binary("Pow", x, y, name or "Pow")

    def squared_difference(self, x: Operand, y: Operand, name: str | None = None) -> Tensor:
        """(x - y)^2 (SquaredDifference)."""
        return self._binary("SquaredDifference", x, y, name or "SquaredDifference")

    def neg(self, x: Tensor, name: str | None = None) -> Tensor:
        """-x (Neg)."""
        return self._unary("Neg", x, name)

    def exp(self, x: Tensor, name: str | None = None) -> Tensor:
        """e^x (Exp)."""
        return self._unary("Exp", x, name)

    def log(self, x: Tensor, name: str | None = None) -> Tensor:
        """Natural log (Log)."""
        return self._unary("Log", x, name)

    def sqrt(self, x: Tensor, name: str | None = None) -> Tensor:
        """Square root (Sqrt)."""
        return self._unary("Sqrt", x, name)

    def rsqrt(self, x: Tensor, name: str | None = None) -> Tensor:
        """1 / sqrt(x) (Rsqrt)."""
        return self._unary("Rsqrt", x, name)

    def square(self, x: Tensor, name: str | None = None) -> Tensor:
        """x^2 (Square)."""
        return self._unary("Square", x, name)

    def erf(self, x: Tensor, name: str | None = None) -> Tensor:
        """Error function (Erf)."""
        return self._unary("Erf", x, name)

    def abs(self, x: Tensor, name: str | None = None) -> Tensor:
        """|x| (Abs)."""
        return self._unary("Abs", x, name)


    # -- activations ------------------------------------------------------------------------
    def relu(self, x: Tensor, name: str | None = None) -> Tensor:
        """max(x, 0) (Relu)."""
        return self._unary("Relu", x, name)

    def relu6(self, x: Tensor, name: str | None = None) -> Tensor:
        """min(max(x, 0), 6) (Relu6)."""
        return self._unary("Relu6", x, name)

    def elu(self, x: Tensor, name: str | None = None) -> Tensor:
        """Elu."""
        return self._unary("Elu", x, name)

    def selu(self, x: Tensor, name: str | None = None) -> Tensor:
        """Selu."""
        return self._unary("Selu", x, name)

    def softplus(self, x: Tensor, name: str | None = None) -> Tensor:
        """log(1 + e^x) (Softplus)."""
        return self._unary("Softplus", x, name)

    def leaky_relu(self, x: Tensor, alpha: float = 0.2, name: str | None = None) -> Tensor:
        """LeakyRelu with slope ``alpha``."""
        return self._unary("LeakyRelu", x, name, alpha=float(alpha))

    def sigmoid(self, x: Tensor, name: str | None = None) -> Tensor:
        """1 / (1 + e^-x) (Sigmoid)."""
        return self._unary("Sigmoid", x, name)

    def tanh(self, x: Tensor, name: str | None = None) -> Tensor:
        """Hyperbolic tangent (Tanh)."""
        return self._unary("Tanh", x, name)

    def softmax(self, x: Tensor, name: str | None = None) -> Tensor:
        """Softmax over the last axis."""
        return self._unary("Softmax", x, name)

    def log_softmax(self, x: Tensor, name: str | None = None) -> Tensor:
        """Log-softmax over the last axis."""
        return self._unary("LogSoftmax", x, name)

    def gelu(self, x: Tensor, name: str | None = None) -> Tensor:
        """Exact GELU, 0.5 * x * (1 + erf(x / sqrt(2))), as tf.nn.gelu(approximate=False)."""
        prefix = name or "Gelu"
        half = self.mul(x, self.const(0.5, x.dtype, name=f"{prefix}/mul/x"), name=f"{prefix}/mul")
        scaled = self.div(x, self.const(np.sqrt(2.0), x.dtype, name=f"{prefix}/Cast"),
                          name=f"{prefix}/truediv")
        one = self.const(1.0, x.dtype, name=f"{prefix}/add/x")
        return self.mul(half, self.add(one, self.erf(scaled, name=f"{prefix}/Erf"),
                                       name=f"{prefix}/add"), name=f"{prefix}/mul_1")

    # -- linear algebra -------------------------------------------------------------------------
    def matmul(self, a: Tensor, b: Tensor, transpose_a: bool = False, transpose_b: bool = False,
               name: str | None = None) -> Tensor:
        """Matrix product of rank-2 tensors (MatMul); BatchMatMulV2 for higher ranks."""
        if (a.rank is not None and a.rank > 2) or (b.rank is not None and b.rank > 2):
            return self.batch_matmul(a, b, transpose_a, transpose_b, name=name)
        self._same_dtype("MatMul", a, b)
        shape = shapes.matmul(a.shape, b.shape, transpose_a, transpose_b)
        return self._one("MatMul", [a, b], {"T": a.dtype, "transpose_a": transpose_a,
                                            "transpose_b": transpose_b}, a.dtype, shape,
                         name or "MatMul")

    def batch_matmul(self, x: Tensor, y: Tensor, adj_x: bool = False, adj_y: bool = False,
                     name: str | None = None) -> Tensor:
        """Batched matrix product with broadcasting batch dims (BatchMatMulV2)."""
        self._same_dtype("BatchMatMulV2", x, y)
        shape = shapes.batch_matmul(x.shape, y.shape, adj_x, adj_y)
        return self._one("BatchMatMulV2", [x, y], {"T": x.dtype, "adj_x": adj_x, "adj_y": adj_y},
                         x.dtype, shape, name or "MatMul")

    def bias_add(self, value: Tensor, bias: Tensor, data_format: str = "NHWC",
                 name: str | None = None) -> Tensor:
        """value + bias along the channel axis (BiasAdd)."""
        self._same_dtype("BiasAdd", value, bias)
        if bias.rank is not None and bias.rank != 1:
            raise InvalidArgumentError(f"BiasAdd: bias must be rank 1, got {list(bias.shape or ())}")
        shape = value.shape
        if shape is not None and bias.shape is not None:
            c = 1 if data_format == "NCHW" and len(shape) >= 3 else len(shape) - 1
            merged = list(shape)
            merged[c] = shapes._merge_dim(shape[c], bias.shape[0], "BiasAdd channels")
            shape = tuple(merged)
        return self._one("BiasAdd", [value, bias], {"T": value.dtype, "data_format": data_format},
                         value.dtype, shape, name or "BiasAdd")

    def dense(self, x: Tensor, kernel: Any, bias: Any = None, activation: str | None = None,
              name: str | None = None) -> Tensor:
        """x @ kernel + bias, then an optional activation (``"relu"``, ``"gelu"``...)."""
        prefix = name or "dense"
        k = self.value(kernel)
        if x.rank is not None and x.rank > 2:
            y = self.tensordot_last(x, k, name=f"{prefix}/Tensordot")
        else:
            y = self.matmul(x, k, name=f"{prefix}/MatMul")
        if bias is not None:
            b = self.value(bias)
            y = self.bias_add(y, b, name=f"{prefix}/BiasAdd")
        return self.activation(y, activation, name=prefix)

    def tensordot_last(self, x: Tensor, w: Tensor, name: str | None = None) -> Tensor:
        """Contract the last axis of x (rank >= 2) with the first of a rank-2 w."""
        if x.shape is None or w.shape is None or len(w.shape) != 2:
            raise InvalidArgumentError("tensordot_last needs a known-rank x and a rank-2 w")
        prefix = name or "Tensordot"
        lead = x.shape[:-1]
        flat = self.reshape(x, [-1, x.shape[-1] if x.shape[-1] is not None else -1],
                            name=f"{prefix}/Reshape")
        y = self.matmul(flat, w, name=f"{prefix}/MatMul")
        known = [d for d in lead[1:] if d is not None]
        if len(known) == len(lead) - 1:
            target = [-1, *known, -1 if w.shape[1] is None else w.shape[1]]
            return self.reshape(y, target, name=f"{prefix}/Reshape_1")
        raise InvalidArgumentError("tensordot_last needs every dimension but the first known")

    def activation(self, x: Tensor, kind: str | None, name: str | None = None) -> Tensor:
        """Apply a named activation (None/"linear" returns x)."""
        if kind in (None, "linear"):
            return x
        fns = {"relu": self.relu, "relu6": self.relu6, "sigmoid": self.sigmoid,
               "tanh": self.tanh, "softmax": self.softmax, "gelu": self.gelu, "elu": self.elu,
               "selu": self.selu, "softplus": self.softplus}
        if kind not in fns:
            raise InvalidArgumentError(f"unknown activation {kind!r}; known: {sorted(fns)}")
        return fns[kind](x, name=f"{name}/{kind.capitalize()}" if name else None)

    # -- convolution and pooling ---------------------------------------------------------------
    @staticmethod
    def _four(v: int | Sequence[int], data_format: str, what: str) -> list[int]:
        if isinstance(v, (int, np.integer)):
            h = w = int(v)
        elif len(v) == 2:
            h, w = (int(v[0]), int(v[1]))
        elif len(v) == 4:
            return [int(x) for x in v]
        else:
            raise InvalidArgumentError(f"{what} must be an int, 2 or 4 ints, not {v!r}")
        return [1, h, w, 1] if data_format == "NHWC" else [1, 1, h, w]

    @staticmethod
    def _padding(padding: str) -> str:
        p = padding.upper()
        if p not in ("SAME", "VALID"):
            raise InvalidArgumentError(f"padding must be 'SAME' or 'VALID', not {padding!r}")
        return p

    def conv2d(self, x: Tensor, filters: Any, strides: int | Sequence[int] = 1,
               padding: str = "VALID", dilations: int | Sequence[int] = 1,
               data_format: str = "NHWC", name: str | None = None) -> Tensor:
        """2-D convolution with an HWIO filter (Conv2D)."""
        f = self.value(filters)
        self._same_dtype("Conv2D", x, f)
        s = self._four(strides, data_format, "strides")
        d = self._four(dilations, data_format, "dilations")
        p = self._padding(padding)
        shape = shapes.conv2d(x.shape, f.shape, s, d, p, data_format)
        return self._one("Conv2D", [x, f], {"T": x.dtype, "strides": s, "dilations": d,
                                            "padding": p, "data_format": data_format},
                         x.dtype, shape, name or "Conv2D")

    def depthwise_conv2d(self, x: Tensor, filters: Any, strides: int | Sequence[int] = 1,
                         padding: str = "VALID", dilations: int | Sequence[int] = 1,
                         data_format: str = "NHWC", name: str | None = None) -> Tensor:
        """Depthwise 2-D convolution, filter [h, w, in, multiplier] (DepthwiseConv2dNative)."""
        f = self.value(filters)
        self._same_dtype("DepthwiseConv2dNative", x, f)
        s = self._four(strides, data_format, "strides")
        d = self._four(dilations, data_format, "dilations")
        p = self._padding(padding)
        shape = shapes.conv2d(x.shape, f.shape, s, d, p, data_format, depthwise=True)
        return self._one("DepthwiseConv2dNative", [x, f],
                         {"T": x.dtype, "strides": s, "dilations": d, "padding": p,
                          "data_format": data_format}, x.dtype, shape, name or "depthwise")

    def _pool(self, op_type: str, x: Tensor, ksize: Any, strides: Any, padding: str,
              data_format: str, name: str | None) -> Tensor:
        k = self._four(ksize, data_format, "ksize")
        s = self._four(strides if strides is not None else ksize, data_format, "strides")
        p = self._padding(padding)
        shape = shapes.pool2d(x.shape, k, s, p, data_format)
        return self._one(op_type, [x], {"T": x.dtype, "ksize": k, "strides": s, "padding": p,
                                        "data_format": data_format}, x.dtype, shape,
                         name or op_type)

    def max_pool(self, x: Tensor, ksize: int | Sequence[int], strides: Any = None,
                 padding: str = "VALID", data_format: str = "NHWC",
                 name: str | None = None) -> Tensor:
        """2-D max pooling (MaxPool); strides default to ksize."""
        return self._pool("MaxPool", x, ksize, strides, padding, data_format, name)

    def avg_pool(self, x: Tensor, ksize: int | Sequence[int], strides: Any = None,
                 padding: str = "VALID", data_format: str = "NHWC",
                 name: str | None = None) -> Tensor:
        """2-D average pooling (AvgPool); strides default to ksize."""
        return self._pool("AvgPool", x, ksize, strides, padding, data_format, name)

    def batch_norm(self, x: Tensor, scale: Any, offset: Any, mean: Any, variance: Any,
                   epsilon: float = 1e-3, data_format: str = "NHWC",
                   name: str | None = None) -> Tensor:
        """Inference-mode batch normalization (FusedBatchNormV3, is_training=False)."""
        args = [self.value(v) for v in (scale, offset, mean, variance)]
        u = args[0].dtype
        c = None if x.shape is None else x.shape[_spatial_c(data_format, len(x.shape))]
        outs = self.op("FusedBatchNormV3", [x, *args],
                       {"T": x.dtype, "U": u, "epsilon": float(epsilon),
                        "data_format": data_format, "is_training": False},
                       out_types=[x.dtype, u, u, u, u, u],
                       out_shapes=[x.shape, (c,), (c,), (c,), (c,), None],
                       name=name or "FusedBatchNormV3")
        return outs[0]

    # -- shapes and layout ----------------------------------------------------------------------
    def reshape(self, x: Tensor, shape: Sequence[int], name: str | None = None) -> Tensor:
        """Reshape to a constant ``shape`` (one -1 allowed)."""
        target = [int(d) for d in shape]
        out = shapes.reshape(x.shape, target)
        return self._one("Reshape", [x, self._ints(target, f"{name or 'Reshape'}/shape")],
                         {"T": x.dtype}, x.dtype, out, name or "Reshape")

    def transpose(self, x: Tensor, perm: Sequence[int], name: str | None = None) -> Tensor:
        """Permute dimensions (Transpose)."""
        p = [int(i) for i in perm]
        out = shapes.transpose(x.shape, p)
        return self._one("Transpose", [x, self._ints(p, f"{name or 'transpose'}/perm")],
                         {"T": x.dtype}, x.dtype, out, name or "transpose")

    def concat(self, values: Sequence[Tensor], axis: int, name: str | None = None) -> Tensor:
        """Join tensors along ``axis`` (ConcatV2; a single tensor passes through Identity)."""
        if not values:
            raise InvalidArgumentError("concat needs at least one tensor")
        self._same_dtype("ConcatV2", *values)
        out = shapes.concat([v.shape for v in values], axis)
        if len(values) == 1:  # ConcatV2 needs N >= 2; tf.concat([x]) is an Identity too
            return self.identity(values[0], name=name or "concat")
        ax = self.const(np.int32(axis), name=f"{name or 'concat'}/axis")
        return self._one("ConcatV2", [list(values), ax],
                         {"T": values[0].dtype, "N": len(values)}, values[0].dtype, out,
                         name or "concat")

    def stack(self, values: Sequence[Tensor], axis: int = 0, name: str | None = None) -> Tensor:
        """Stack equal-shaped tensors along a new ``axis`` (Pack)."""
        if not values:
            raise InvalidArgumentError("stack needs at least one tensor")
        self._same_dtype("Pack", *values)
        base: Shape = values[0].shape
        for v in values[1:]:
            base = _merge_shapes(base, v.shape, "Pack")
        out: Shape = None
        if base is not None:
            (ax,) = shapes._axes([axis], len(base) + 1, "Pack")
            dims = list(base)
            dims.insert(ax, len(values))
            out = tuple(dims)
        return self._one("Pack", [list(values)],
                         {"T": values[0].dtype, "N": len(values), "axis": int(axis)},
                         values[0].dtype, out,
                         name or "stack")

    def squeeze(self, x: Tensor, axis: Sequence[int] = (), name: str | None = None) -> Tensor:
        """Remove size-1 dimensions (Squeeze)."""
        out = shapes.squeeze(x.shape, list(axis))
        return self._one("Squeeze", [x], {"T": x.dtype, "squeeze_dims": [int(a) for a in axis]},
                         x.dtype, out, name or "Squeeze")

    def expand_dims(self, x: Tensor, axis: int, name: str | None = None) -> Tensor:
        """Insert a size-1 dimension (ExpandDims)."""
        out = shapes.expand_dims(x.shape, axis)
        ax = self.const(np.int32(axis), name=f"{name or 'ExpandDims'}/dim")
        return self._one("ExpandDims", [x, ax], {"T": x.dtype}, x.dtype, out,
                         name or "ExpandDims")

    def _reduce(self, op_type: str, x: Tensor, axis: int | Sequence[int] | None, keepdims: bool,
                name: str | None) -> Tensor:
        if axis is None:
            if x.rank is None:
                raise InvalidArgumentError(f"{op_type} over all axes needs a known rank")
            axes = list(range(x.rank))
        else:
            axes = [int(axis)] if isinstance(axis, (int, np.integer)) else [int(a) for a in axis]
        out = shapes.reduce(x.shape, axes, keepdims)
        scalar = isinstance(axis, (int, np.integer))
        idx = self.const(np.int32(axes[0]) if scalar else np.asarray(axes, dtype=np.int32),
                         name=f"{name or op_type}/reduction_indices")
        return self._one(op_type, [x, idx], {"T": x.dtype, "keep_dims": bool(keepdims)}, x.dtype,
                         out, name or op_type)

    def mean(self, x: Tensor, axis: int | Sequence[int] | None = None, keepdims: bool = False,
             name: str | None = None) -> Tensor:
        """Mean over ``axis`` (Mean)."""
        return self._reduce("Mean", x, axis, keepdims, name)

    def reduce_sum(self, x: Tensor, axis: int | Sequence[int] | None = None,
                   keepdims: bool = False, name: str | None = None) -> Tensor:
        """Sum over ``axis`` (Sum)."""
        return self._reduce("Sum", x, axis, keepdims, name)

    def reduce_max(self, x: Tensor, axis: int | Sequence[int] | None = None,
                   keepdims: bool = False, name: str | None = None) -> Tensor:
        """Max over ``axis`` (Max)."""
        return self._reduce("Max", x, axis, keepdims, name)

    def argmax(self, x: Tensor, axis: int = -1, output_type: DTypeLike = "int64",
               name: str | None = None) -> Tensor:
        """Index of the largest value along ``axis`` (ArgMax)."""
        dt = as_dtype(output_type)
        out = shapes.reduce(x.shape, [axis], False)
        ax = self.const(np.int32(axis), name=f"{name or 'ArgMax'}/dimension")
        return self._one("ArgMax", [x, ax], {"T": x.dtype, "output_type": dt}, dt, out,
                         name or "ArgMax")

    def gather(self, params: Any, indices: Tensor, axis: int = 0,
               name: str | None = None) -> Tensor:
        """Take slices of ``params`` at ``indices`` along ``axis`` (GatherV2), e.g. embeddings."""
        p = self.value(params)
        out = shapes.gather(p.shape, indices.shape, axis)
        ax = self.const(np.int32(axis), name=f"{name or 'GatherV2'}/axis")
        return self._one("GatherV2", [p, indices, ax],
                         {"Tparams": p.dtype, "Tindices": indices.dtype,
                          "Taxis": DataType.DT_INT32}, p.dtype, out, name or "GatherV2")

    def pad(self, x: Tensor, paddings: Sequence[Sequence[int]], name: str | None = None) -> Tensor:
        """Zero-pad by constant ``paddings`` (Pad)."""
        pads = np.asarray(paddings, dtype=np.int32)
        out = shapes.pad(x.shape, pads.tolist())
        return self._one("Pad", [x, self.const(pads, name=f"{name or 'Pad'}/paddings")],
                         {"T": x.dtype}, x.dtype, out, name or "Pad")

    def layer_norm(self, x: Tensor, gamma: Any = None, beta: Any = None, epsilon: float = 1e-5,
                   axis: int = -1, name: str | None = None) -> Tensor:
        """Layer normalization from primitives: (x - mean) * rsqrt(var + eps) * gamma + beta."""
        prefix = name or "layer_norm"
        mu = self.mean(x, axis, keepdims=True, name=f"{prefix}/moments/mean")
        var = self.mean(self.squared_difference(x, mu, name=f"{prefix}/moments/SquaredDifference"),
                        axis, keepdims=True, name=f"{prefix}/moments/variance")
        inv = self.rsqrt(self.add(var, self.const(epsilon, x.dtype, name=f"{prefix}/add/y"),
                                  name=f"{prefix}/add"), name=f"{prefix}/Rsqrt")
        if gamma is not None:
            g = self.value(gamma)
            inv = self.mul(inv, g, name=f"{prefix}/mul")
        y = self.mul(self.sub(x, mu, name=f"{prefix}/sub"), inv, name=f"{prefix}/mul_1")
        if beta is not None:
            b = self.value(beta)
            y = self.add(y, b, name=f"{prefix}/add_1")
        return y


# What Tensor's operators build (see BuilderCore._operator).
_OPERATORS: dict[str, Callable[..., Tensor]] = {
    "add": Layers.add, "sub": Layers.sub, "mul": Layers.mul, "div": Layers.div,
    "matmul": Layers.matmul, "neg": Layers.neg,
}


def _merge_shapes(a: Shape, b: Shape, what: str) -> Shape:
    """The shape two must-be-equal shapes share (Pack inputs): no broadcasting."""
    if a is None or b is None:
        return b if a is None else a
    if len(a) != len(b):
        raise InvalidArgumentError(f"{what}: shapes {list(a)} and {list(b)} differ in rank")
    return tuple(shapes._merge_dim(x, y, what) for x, y in zip(a, b))


def _spatial_c(data_format: str, rank: int) -> int:
    return 1 if data_format.startswith("NC") else rank - 1

