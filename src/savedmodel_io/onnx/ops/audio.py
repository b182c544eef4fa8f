"""Audio: WAV codecs and spectrograms have no ONNX operator."""

from __future__ import annotations

from savedmodel_io.onnx.ops._registry import inexpressible

inexpressible("audio decoding, encoding and spectrograms: no ONNX operator", "DecodeWav", "EncodeWav",
              "AudioSpectrogram", "Mfcc")
inexpressible("TFLite Micro's fixed-point speech frontend (16-bit FFT, stateful noise reduction across frames, "
              "table-driven PCAN gain and log): no ONNX operator", "AudioMicrofrontend")
