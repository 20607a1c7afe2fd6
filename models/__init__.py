"""Network definitions, synthetic data, training and ONNX export (needs the `train` extra)."""
