"""The FastAPI app: one pipeline loaded at start, requests worked on by a bounded pool of threads, the web page.

A request is checked (media type, declared length), admitted (at most workers + max_queue at once, else 503),
read into memory under the body limit, then parsed, decoded and read by the pipeline in a pool thread, so the
event loop only moves bytes.
"""
from __future__ import annotations

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any, AsyncIterator, Iterator

import numpy as np
from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles

from pipeline.imageio import InputError, is_pdf, load_pages
from pipeline.pipeline import Pipeline
from pipeline.service.body import check_length, media_type, parse_request, read_body
from pipeline.service.errors import ApiError, install_handlers
from pipeline.service.options import Variants, check_options
from pipeline.service.schema import ErrorResponse, Health, OcrFormRequest, OcrJsonRequest, OcrResponse
from pipeline.service.settings import Settings

STATIC = Path(__file__).with_name("static")
PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' blob: data:; object-src 'none'; base-uri 'none'; "
                               "frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
}
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorResponse} for status in (400, 408, 413, 415, 500, 503)
}
REQUEST_BODY = {"requestBody": {"required": True, "content": {
    "application/json": {"schema": OcrJsonRequest.model_json_schema()},
    "multipart/form-data": {"schema": OcrFormRequest.model_json_schema()},
}}}


class OcrService:
    """The loaded pipeline, the pool that runs it and the count of admitted requests."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        pipeline = Pipeline(settings.pipeline_config())
        self.variants = Variants(pipeline)
        threads = pipeline.config["runtime"]["threads"]
        self.max_pixels: int = pipeline.config["runtime"]["max_pixels"]
        self.workers = settings.worker_count(threads)
        self.capacity = self.workers + settings.max_queue
        self.busy = 0  # only touched on the event loop
        self.executor = ThreadPoolExecutor(self.workers, thread_name_prefix="lineocr")

    @contextmanager
    def admitted(self) -> Iterator[None]:
        if self.busy >= self.capacity:
            raise ApiError(503, "busy", f"the server is busy ({self.busy} requests in progress); retry shortly",
                           {"Retry-After": "1"})
        self.busy += 1
        try:
            yield
        finally:
            self.busy -= 1

    async def submit(self, body: bytes, kind: str, content_type: str) -> dict[str, Any]:
        return await asyncio.get_running_loop().run_in_executor(self.executor, self.run, body, kind, content_type)

    def run(self, body: bytes, kind: str, content_type: str) -> dict[str, Any]:
        """Parse, decode and read one request (in a pool thread); ApiError for anything the client got wrong."""
        request = parse_request(body, kind, content_type)
        pipeline = self.variants.get(check_options(request.options))
        t0 = time.perf_counter()
        image = self.load(request.image)
        load_ms = (time.perf_counter() - t0) * 1000
        doc = pipeline(image, name="image")
        doc.timings_ms["load"] += load_ms
        doc.timings_ms["total"] += load_ms
        page = doc.pages[0]
        lines = [line.to_dict() for line in page.lines]
        return {"success": True, "result": [line["text"] for line in lines], "lines": lines,
                "width": page.width, "height": page.height,
                "cost_time_ms": round((time.perf_counter() - t0) * 1000),
                "timings_ms": doc.to_dict()["timings_ms"]}

    def load(self, data: bytes) -> np.ndarray:
        """One BGR image from the uploaded bytes, within the pixel and side limits."""
        if is_pdf(data):
            raise ApiError(415, "unsupported_format", "PDF files are not read by the service; send one page as an "
                           "image, or use `run_pipeline.py FILE.pdf`")
        try:
            pages = load_pages(data, name="image", max_pixels=self.max_pixels)
        except InputError as exc:
            if "runtime.max_pixels" in exc.reason:
                raise ApiError(413, "image_too_large", f"the image is too large: {exc.reason}") from None
            raise ApiError(400, "invalid_image", f"the file cannot be read as an image: {exc.reason}") from None
        if len(pages) != 1:
            raise ApiError(400, "invalid_image", f"the file holds {len(pages)} pages; send one image per request")
        height, width = pages[0].shape[:2]
        if max(width, height) > self.settings.max_side:
            raise ApiError(413, "image_too_large", f"the image is {width}x{height} pixels; its longer side may be "
                           f"at most {self.settings.max_side} pixels")
        return pages[0]


def create_app(settings: Settings | None = None) -> FastAPI:
    """The app, with its pipeline loaded now (a bad config or DEVICE raises ConfigError here, before serving)."""
    settings = settings or Settings.from_env()
    service = OcrService(settings)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        service.executor.shutdown(wait=False, cancel_futures=True)

    app = FastAPI(title="lineocr", summary="OCR for Chinese and English documents on the CPU", lifespan=lifespan)
    install_handlers(app)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.post("/api/v1/ocr", response_model=OcrResponse, responses=ERROR_RESPONSES, openapi_extra=REQUEST_BODY)
    async def ocr(request: Request) -> JSONResponse:
        """Read the text lines of one image sent as JSON `{"image_base64": ...}` or as a multipart `image` file."""
        kind = media_type(request)
        check_length(request, settings.max_body_bytes)
        with service.admitted():
            body = await read_body(request, settings.max_body_bytes, settings.body_timeout_s)
            return JSONResponse(await service.submit(body, kind, request.headers["content-type"]))

    @app.get("/healthz", response_model=Health)
    async def healthz() -> dict[str, Any]:
        return {"status": "ok", "workers": service.workers, "busy": service.busy,
                "max_body_bytes": settings.max_body_bytes, "max_pixels": service.max_pixels,
                "max_side": settings.max_side}

    @app.get("/", include_in_schema=False)
    async def index() -> FileResponse:
        return FileResponse(STATIC / "index.html", headers=PAGE_HEADERS)

    return app
