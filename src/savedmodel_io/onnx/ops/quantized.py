"""Quantized ops: TensorFlow's quantized types and fixed-point arithmetic have no ONNX mapping here.

TF's qint8/quint8/qint32 tensors carry float [min, max] ranges beside them and round as
Eigen's fixed-point code does (graph/ops/quantized*.py, uniform_quant.py); ONNX's
QuantizeLinear / QLinear* ops use a scale and zero point with their own rounding.
"""

from __future__ import annotations

from savedmodel_io.onnx.ops._registry import inexpressible

inexpressible("TensorFlow's quantized types (float ranges beside qint/quint tensors, Eigen's fixed-point "
              "rounding): ONNX's scale/zero-point quantization does not reproduce them",
              "Dequantize", "QuantizeV2", "QuantizeDownAndShrinkRange", "RequantizationRange",
              "RequantizationRangePerChannel", "Requantize", "RequantizePerChannel", "QuantizedAdd", "QuantizedMul",
              "QuantizedAvgPool", "QuantizedMaxPool", "QuantizedBatchNormWithGlobalNormalization", "QuantizedBiasAdd",
              "QuantizedConcat", "QuantizedConcatV2", "QuantizedInstanceNorm", "QuantizedRelu", "QuantizedRelu6",
              "QuantizedReshape", "QuantizedResizeBilinear",
              *(f"QuantizedConv2D{s}" for s in ("", "AndRelu", "AndReluAndRequantize", "AndRequantize", "PerChannel",
                                                 "WithBias", "WithBiasAndRelu", "WithBiasAndReluAndRequantize",
                                                 "WithBiasAndRequantize")),
              *(f"QuantizedDepthwiseConv2D{s}" for s in ("", "WithBias", "WithBiasAndRelu",
                                                          "WithBiasAndReluAndRequantize")),
              *(f"QuantizedMatMul{s}" for s in ("", "WithBias", "WithBiasAndDequantize", "WithBiasAndRelu",
                                                 "WithBiasAndReluAndRequantize", "WithBiasAndRequantize")),
              "UniformQuantize", "UniformDequantize", "UniformRequantize", "UniformQuantizedAdd",
              "UniformQuantizedClipByValue", "UniformQuantizedConvolution", "UniformQuantizedConvolutionHybrid",
              "UniformQuantizedDot", "UniformQuantizedDotHybrid")
inexpressible("not mapped yet: fake quantization in float (ONNX could express it with Clip, Div, Round, Mul)",
              "FakeQuantWithMinMaxArgs", "FakeQuantWithMinMaxVars", "FakeQuantWithMinMaxVarsPerChannel",
              "QuantizeAndDequantize", "QuantizeAndDequantizeV2", "QuantizeAndDequantizeV3",
              "QuantizeAndDequantizeV4")
