"""Reading an OCR request into memory: the body under a size limit, then JSON or multipart into image bytes and
options. Nothing touches the disk (Starlette's own form parsing spools files over 1 MiB to temporary files)."""
from __future__ import annotations

import asyncio
import base64
import binascii
import json
from dataclasses import dataclass, field
from typing import Any

from fastapi import Request
from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header

from pipeline.service.errors import ApiError

JSON_FIELDS = ("image_base64", "options")
FORM_FIELDS = ("image", "options")


@dataclass
class OcrRequest:
    image: bytes
    options: dict[str, Any] = field(default_factory=dict)


def media_type(request: Request) -> str:
    """The request's media type, checked to be JSON or multipart before anything is read."""
    kind = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if kind not in ("application/json", "multipart/form-data"):
        raise ApiError(415, "unsupported_media_type",
                       f"Content-Type {kind or '(none)'!r} is not accepted; send application/json with "
                       '{"image_base64": ...} or multipart/form-data with an "image" file')
    return kind


def check_length(request: Request, limit: int) -> None:
    """Refuse a declared body over the limit before reading any of it."""
    declared = request.headers.get("content-length")
    if declared is None:
        return
    if not declared.strip().isdigit():
        raise ApiError(400, "invalid_request", f"Content-Length {declared!r} is not a number")
    if int(declared) > limit:
        raise ApiError(413, "payload_too_large", f"the body is {int(declared)} bytes; the limit is {limit} bytes")
    if int(declared) == 0:
        raise ApiError(400, "empty_body", "the request body is empty")


async def read_body(request: Request, limit: int, timeout_s: float) -> bytes:
    """The whole body, stopping as soon as it passes `limit` bytes or takes longer than `timeout_s`."""
    try:
        body = await asyncio.wait_for(_read_limited(request, limit), timeout_s)
    except asyncio.TimeoutError:
        raise ApiError(408, "request_timeout", f"the body took longer than {timeout_s:g} s to arrive") from None
    if not body:
        raise ApiError(400, "empty_body", "the request body is empty")
    return body


async def _read_limited(request: Request, limit: int) -> bytes:
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise ApiError(413, "payload_too_large", f"the body is over the limit of {limit} bytes")
    return bytes(body)


def parse_request(body: bytes, kind: str, content_type: str) -> OcrRequest:
    return parse_json(body) if kind == "application/json" else parse_multipart(body, content_type)


def parse_json(body: bytes) -> OcrRequest:
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ApiError(400, "invalid_json", f"the body is not valid JSON ({exc})") from None
    if not isinstance(data, dict):
        raise ApiError(400, "invalid_request", 'the body must be a JSON object: {"image_base64": "..."}')
    unknown = sorted(set(data) - set(JSON_FIELDS))
    if unknown:
        raise ApiError(400, "invalid_request", f"unknown field {unknown[0]!r}; allowed: {', '.join(JSON_FIELDS)}")
    if "image_base64" not in data:
        raise ApiError(400, "invalid_request", 'missing field "image_base64"')
    options = data.get("options") or {}
    if not isinstance(options, dict):
        raise ApiError(400, "invalid_option",
                       '"options" must be an object such as {"decode.allowed_chars": "0123456789"}')
    return OcrRequest(decode_base64(data["image_base64"]), options)


def decode_base64(text: Any) -> bytes:
    """Standard or URL-safe base64, optionally as a data URL and wrapped over lines."""
    if not isinstance(text, str):
        raise ApiError(400, "invalid_base64", f'"image_base64" must be a string, got {type(text).__name__}')
    if text.startswith("data:"):
        head, sep, text = text.partition(",")
        if not sep or not head.endswith(";base64"):
            raise ApiError(400, "invalid_base64", "a data URL must be of the form data:<type>;base64,<data>")
    compact = "".join(text.split()).replace("-", "+").replace("_", "/")
    if not compact:
        raise ApiError(400, "empty_body", '"image_base64" is empty')
    try:
        return base64.b64decode(compact, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ApiError(400, "invalid_base64", f'"image_base64" is not valid base64 ({exc})') from None


def parse_multipart(body: bytes, content_type: str) -> OcrRequest:
    """A multipart form with one `image` file and an optional `options` field holding a JSON object."""
    _, params = parse_options_header(content_type)
    boundary = params.get(b"boundary")
    if not boundary:
        raise ApiError(400, "invalid_multipart", "multipart/form-data without a boundary")
    parts = _split_parts(body, boundary)
    names = [name for name, _ in parts]
    unknown = sorted(set(names) - set(FORM_FIELDS))
    if unknown:
        raise ApiError(400, "invalid_request", f"unknown form field {unknown[0]!r}; allowed: {', '.join(FORM_FIELDS)}")
    for name in FORM_FIELDS:
        if names.count(name) > 1:
            raise ApiError(400, "invalid_request", f"form field {name!r} is given {names.count(name)} times")
    fields = dict(parts)
    if "image" not in fields:
        raise ApiError(400, "invalid_request", 'missing form field "image" (the image file)')
    if not fields["image"]:
        raise ApiError(400, "empty_body", 'the "image" file is empty')
    options: Any = {}
    if fields.get("options", b"").strip():
        try:
            options = json.loads(fields["options"])
        except (ValueError, UnicodeDecodeError) as exc:
            raise ApiError(400, "invalid_option", f'form field "options" is not valid JSON ({exc})') from None
        if not isinstance(options, dict):
            raise ApiError(400, "invalid_option", 'form field "options" must be a JSON object')
    return OcrRequest(fields["image"], options)


def _split_parts(body: bytes, boundary: bytes) -> list[tuple[str, bytes]]:
    """(field name, content) of every part, parsed in memory."""
    parts: list[tuple[str, bytes]] = []
    headers: dict[bytes, bytes] = {}
    header = [b"", b""]
    data = bytearray()

    def on_part_begin() -> None:
        headers.clear()
        data.clear()

    def on_header_field(buf: bytes, start: int, end: int) -> None:
        header[0] += buf[start:end]

    def on_header_value(buf: bytes, start: int, end: int) -> None:
        header[1] += buf[start:end]

    def on_header_end() -> None:
        headers[header[0].strip().lower()] = header[1].strip()
        header[0] = header[1] = b""

    def on_part_data(buf: bytes, start: int, end: int) -> None:
        data.extend(buf[start:end])

    def on_part_end() -> None:
        _, disposition = parse_options_header(headers.get(b"content-disposition", b""))
        if b"name" not in disposition:
            raise ApiError(400, "invalid_multipart", "a form part has no name in its Content-Disposition")
        parts.append((disposition[b"name"].decode("utf-8", "replace"), bytes(data)))

    callbacks = {"on_part_begin": on_part_begin, "on_header_field": on_header_field,
                 "on_header_value": on_header_value, "on_header_end": on_header_end,
                 "on_part_data": on_part_data, "on_part_end": on_part_end}
    parser = MultipartParser(boundary, callbacks)  # type: ignore[arg-type]
    try:
        parser.write(body)
        parser.finalize()
    except MultipartParseError as exc:
        raise ApiError(400, "invalid_multipart", f"the multipart body is malformed ({exc})") from None
    if not parts:
        raise ApiError(400, "invalid_multipart", "the multipart body has no parts (is the boundary right?)")
    return parts
