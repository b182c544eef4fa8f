"""Hash functions of TensorFlow's file formats: pure Python with optional compiled accelerators."""
