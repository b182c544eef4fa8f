"""TensorFlow side of the AudioMicrofrontend differential tests: the raw_ops oracle's requests
and answers, for an op whose kernel TF's wheel ships outside ``tf.raw_ops`` (in
tensorflow/lite/experimental/microfrontend's ``_audio_microfrontend_op.so``, which the
Python wrapper module loads on import).
"""

from __future__ import annotations

from _oracles import raw_ops


def answer(requests: list[dict]) -> list[dict]:
    import tensorflow as tf
    from tensorflow.lite.experimental.microfrontend.python.ops import audio_microfrontend_op

    gen = audio_microfrontend_op.gen_audio_microfrontend_op
    tf.raw_ops.AudioMicrofrontend = gen.audio_microfrontend  # the generated op function
    return raw_ops.answer(requests)
