"""Shapes of the API for the OpenAPI schema (`/openapi.json`, `/docs`); the handlers build plain dicts."""
from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from pipeline.service.options import SAFE_KEYS

OPTIONS_HELP = f"Per-request config overrides, dotted keys as for --set; allowed: {', '.join(SAFE_KEYS)}"


class OcrJsonRequest(BaseModel):
    image_base64: str = Field(description="The image file (PNG, JPEG, TIFF, WebP, BMP, GIF...) in base64; "
                                          "a data URL is accepted")
    options: dict[str, Any] = Field(default_factory=dict, description=OPTIONS_HELP)


class OcrFormRequest(BaseModel):
    image: bytes = Field(description="The image file")
    options: str | None = Field(None, description=f"A JSON object. {OPTIONS_HELP}")


class OcrLine(BaseModel):
    text: str
    confidence: float = Field(ge=0, le=1)
    points: list[list[int]] = Field(description="Polygon in image pixels, clockwise from the top-left")
    angle: int = Field(description="Rotation applied to read the line: 0, 90, 180 or 270")
    vertical: bool


class OcrResponse(BaseModel):
    success: bool = True
    result: list[str] = Field(description="The line texts in reading order")
    lines: list[OcrLine]
    width: int = Field(description="Image width in pixels (after EXIF orientation)")
    height: int
    cost_time_ms: int = Field(description="Time spent reading the image and running the pipeline")
    timings_ms: dict[str, float] = Field(description="Time per stage")


class ErrorDetail(BaseModel):
    code: str = Field(description="e.g. invalid_image, invalid_base64, payload_too_large, image_too_large, busy")
    message: str


class ErrorResponse(BaseModel):
    success: bool = False
    error: ErrorDetail


class Health(BaseModel):
    status: str
    workers: int
    busy: int = Field(description="Requests being read, queued or worked on")
    max_body_bytes: int
    max_pixels: int
    max_side: int
