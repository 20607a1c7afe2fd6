"""lineocr: modular OCR for Chinese and English documents on the CPU.

    from pipeline import Pipeline
    ocr = Pipeline.from_config("configs/default.yaml")
    doc = ocr("scan.png")

Names are imported on first use, so `pipeline.metrics` and friends load without the inference stack.
"""
import importlib

_EXPORTS = {
    "Pipeline": "pipeline.pipeline",
    "Document": "pipeline.document",
    "Page": "pipeline.document",
    "Line": "pipeline.document",
    "load_config": "pipeline.config",
    "register": "pipeline.registry",
    "ConfigError": "pipeline.registry",
    "InputError": "pipeline.imageio",
}
__all__ = list(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'pipeline' has no attribute {name!r}")
