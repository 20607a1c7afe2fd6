"""The OCR service: `POST /api/v1/ocr`, `GET /healthz` and the web page at `/`, on FastAPI (the `serve` extra).

    from pipeline.service import Settings, create_app
    app = create_app(Settings.from_env(sets=["runtime.threads=1"]))
"""
from pipeline.service.app import create_app
from pipeline.service.settings import Settings

__all__ = ["Settings", "create_app"]
