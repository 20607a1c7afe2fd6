"""The REST service: a real page, per-request options, every kind of bad input (a 4xx JSON error, never a 500),
limits, the bounded worker pool, and settings from the environment. Assertions hold for any recognizer: no exact
OCR text is checked (the labelling decoder of service_helpers gives lines known text where that matters)."""
from __future__ import annotations

import base64
import io
import json
import socket
import struct
import tempfile
import threading
import time
import urllib.error
import urllib.request
import zlib
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from PIL import Image

from pipeline.registry import ConfigError
from pipeline.service import Settings, create_app
from run_pipeline import main
from tests.service_helpers import THREADS, label_config, serving

ROOT = Path(__file__).resolve().parents[1]
PAGE = (ROOT / "examples" / "sample_page.png").read_bytes()
API = "/api/v1/ocr"
LINE_KEYS = {"text", "confidence", "points", "angle", "vertical"}


@pytest.fixture(scope="module")
def real():
    with TestClient(create_app(Settings(sets=tuple(THREADS), workers=1))) as client:
        yield client


@pytest.fixture(scope="module")
def labelled():
    """Labelled lines and small limits: 1 MB bodies, 4 megapixels, sides up to 5000 px."""
    settings = Settings(config=label_config(), sets=("runtime.max_pixels=4000000",), workers=1,
                        max_body_bytes=2**20, max_side=5000)
    with TestClient(create_app(settings)) as client:
        yield client


def png(width: int, height: int, mode: str = "L") -> bytes:
    out = io.BytesIO()
    Image.new(mode, (width, height), 255).save(out, "PNG")
    return out.getvalue()


def png_header(width: int, height: int) -> bytes:
    """A PNG that declares width x height and holds no pixel data (a decompression-bomb header)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    header = chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
    return b"\x89PNG\r\n\x1a\n" + header + chunk(b"IEND", b"")


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def assert_error(response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["success"] is False and body["error"]["code"] == code, body
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]


def assert_page(body: dict, width: int = 1000, height: int = 720) -> None:
    assert body["success"] is True
    assert (body["width"], body["height"]) == (width, height)
    assert body["result"] == [line["text"] for line in body["lines"]]
    for line in body["lines"]:
        assert set(line) == LINE_KEYS and line["text"].strip()
        assert 0 <= line["confidence"] <= 1 and line["angle"] in (0, 90, 180, 270)
        assert len(line["points"]) == 4
        assert all(0 <= x <= width and 0 <= y <= height for x, y in line["points"])
    assert isinstance(body["cost_time_ms"], int) and body["cost_time_ms"] >= 0
    assert set(body["timings_ms"]) == {"load", "detect", "orient", "recognize", "decode", "total"}


# ----------------------------------------------------------------------------------------------- real pages


def test_page_as_multipart_file(real):
    response = real.post(API, files={"image": ("page.png", PAGE, "image/png")})
    assert response.status_code == 200, response.text
    assert_page(response.json())
    print("read now:", response.json()["result"])


def test_json_base64_and_data_url_read_the_same_as_multipart(real):
    form = real.post(API, files={"image": ("page.png", PAGE, "image/png")}).json()
    plain = real.post(API, json={"image_base64": b64(PAGE)}).json()
    wrapped = "\n".join(b64(PAGE)[i:i + 76] for i in range(0, len(b64(PAGE)), 76))
    data_url = real.post(API, json={"image_base64": "data:image/png;base64," + wrapped}).json()
    for body in (plain, data_url):
        assert_page(body)
        assert (body["result"], body["lines"]) == (form["result"], form["lines"])


def test_labelled_page_has_a_box_per_line_in_reading_order(labelled):
    body = labelled.post(API, files={"image": ("page.png", PAGE, "image/png")}).json()
    assert_page(body)
    assert len(body["lines"]) >= 8
    assert body["result"] == [f"line {i + 1}" for i in range(len(body["lines"]))]
    tops = [min(y for _, y in line["points"]) for line in body["lines"]]
    assert tops == sorted(tops)


def test_allowed_chars_option_restricts_the_text(real):
    allowed = "0123456789"
    as_json = real.post(API, json={"image_base64": b64(PAGE), "options": {"decode.allowed_chars": allowed}}).json()
    as_form = real.post(API, files={"image": ("page.png", PAGE, "image/png")},
                        data={"options": json.dumps({"decode.allowed_chars": allowed})}).json()
    for body in (as_json, as_form):
        assert_page(body)
        assert set("".join(body["result"])) <= set(allowed)
    assert as_json["result"] == as_form["result"]


def test_min_confidence_option_leaves_out_the_unsure_lines(real):
    every = real.post(API, json={"image_base64": b64(PAGE)}).json()
    confidences = sorted({line["confidence"] for line in every["lines"]})  # rounded to 4 places: cut between two
    floor = (confidences[len(confidences) // 2 - 1] + confidences[len(confidences) // 2]) / 2
    sure = real.post(API, json={"image_base64": b64(PAGE), "options": {"decode.min_confidence": floor}}).json()
    assert_page(sure)
    assert sure["lines"] == [line for line in every["lines"] if line["confidence"] >= floor]
    assert 0 < len(sure["lines"]) < len(every["lines"])


def test_single_line_option_reads_the_whole_image(labelled):
    body = labelled.post(API, json={"image_base64": b64(PAGE), "options": {"detect.type": "whole"}}).json()
    assert_page(body)
    assert [line["points"] for line in body["lines"]] == [[[0, 0], [1000, 0], [1000, 720], [0, 720]]]


# ------------------------------------------------------------------------------------------------ bad input

TRUNCATED = PAGE[: len(PAGE) // 2]
BAD_INPUTS = {
    "broken base64": (dict(json={"image_base64": "iVBORw0KGgo!!not base64"}), 400, "invalid_base64"),
    "bad padding": (dict(json={"image_base64": "iVBORw0KGgoAAA"}), 400, "invalid_base64"),
    "base64 not a string": (dict(json={"image_base64": 12}), 400, "invalid_base64"),
    "bad data url": (dict(json={"image_base64": "data:image/png," + b64(PAGE)}), 400, "invalid_base64"),
    "not an image (json)": (dict(json={"image_base64": b64(b"hello, world")}), 400, "invalid_image"),
    "not an image (form)": (dict(files={"image": ("a.png", b"<html></html>", "image/png")}), 400, "invalid_image"),
    "truncated png (json)": (dict(json={"image_base64": b64(TRUNCATED)}), 400, "invalid_image"),
    "truncated png (form)": (dict(files={"image": ("a.png", TRUNCATED, "image/png")}), 400, "invalid_image"),
    "empty body": (dict(content=b"", headers={"content-type": "application/json"}), 400, "empty_body"),
    "empty base64": (dict(json={"image_base64": ""}), 400, "empty_body"),
    "empty file": (dict(files={"image": ("a.png", b"", "image/png")}), 400, "empty_body"),
    "text/plain": (dict(content=b"hello", headers={"content-type": "text/plain"}), 415, "unsupported_media_type"),
    "raw image/png": (dict(content=PAGE, headers={"content-type": "image/png"}), 415, "unsupported_media_type"),
    "no content type": (dict(content=PAGE), 415, "unsupported_media_type"),
    "form-urlencoded": (dict(data={"image_base64": b64(PAGE)}), 415, "unsupported_media_type"),
    "bad json": (dict(content=b'{"image_base64": ', headers={"content-type": "application/json"}), 400, "invalid_json"),
    "json not an object": (dict(json=[b64(PAGE)]), 400, "invalid_request"),
    "missing image_base64": (dict(json={"image": b64(PAGE)}), 400, "invalid_request"),
    "unknown field": (dict(json={"image_base64": b64(PAGE), "lang": "zh"}), 400, "invalid_request"),
    "form without image": (dict(files={"file": ("a.png", PAGE, "image/png")}), 400, "invalid_request"),
    "two images": (dict(files=[("image", ("a.png", PAGE, "image/png")), ("image", ("b.png", PAGE, "image/png"))]),
                   400, "invalid_request"),
    "multipart without boundary": (dict(content=b"--x\r\n", headers={"content-type": "multipart/form-data"}),
                                   400, "invalid_multipart"),
    "malformed multipart": (dict(content=b"garbage", headers={"content-type": "multipart/form-data; boundary=xyz"}),
                            400, "invalid_multipart"),
    "pdf": (dict(files={"image": ("a.pdf", (ROOT / "tests" / "fixtures" / "doc.pdf").read_bytes(), "application/pdf")}),
            415, "unsupported_format"),
    "declared huge dimensions": (dict(json={"image_base64": b64(png_header(100_000, 100_000))}), 413,
                                 "image_too_large"),
    "unknown option": (dict(json={"image_base64": b64(PAGE), "options": {"recognize.weights": "/etc/passwd"}}),
                       400, "invalid_option"),
    "runtime option": (dict(json={"image_base64": b64(PAGE), "options": {"runtime.max_pixels": 10**12}}),
                       400, "invalid_option"),
    "import path as type": (dict(json={"image_base64": b64(PAGE), "options": {"decode.type": "os:system"}}),
                            400, "invalid_option"),
    "unknown stage type": (dict(json={"image_base64": b64(PAGE), "options": {"detect.type": "magic"}}),
                           400, "invalid_option"),
    "bad confidence": (dict(json={"image_base64": b64(PAGE), "options": {"decode.min_confidence": 2}}),
                       400, "invalid_option"),
    "bad option value": (dict(json={"image_base64": b64(PAGE), "options": {"detect.thresh": 1.5}}),
                         400, "invalid_option"),
    "char outside charset": (dict(json={"image_base64": b64(PAGE), "options": {"decode.allowed_chars": "\x07"}}),
                             400, "invalid_option"),
    "options not an object": (dict(json={"image_base64": b64(PAGE), "options": ["decode.type"]}), 400,
                              "invalid_option"),
    "form options not json": (dict(files={"image": ("a.png", PAGE, "image/png")}, data={"options": "{digits"}),
                              400, "invalid_option"),
}


@pytest.mark.parametrize("request_kwargs,status,code", BAD_INPUTS.values(), ids=BAD_INPUTS.keys())
def test_bad_input_is_a_4xx_json_error(real, request_kwargs, status, code):
    assert_error(real.post(API, **request_kwargs), status, code)


def test_real_decompression_bomb_is_refused_from_its_header(real):
    bomb = png(10_000, 6_000, "1")  # 60 megapixels in a few kilobytes
    assert len(bomb) < 100_000
    assert_error(real.post(API, files={"image": ("bomb.png", bomb, "image/png")}), 413, "image_too_large")


def test_configured_pixel_side_and_body_limits(labelled):
    assert_error(labelled.post(API, files={"image": ("a.png", png(2500, 2000), "image/png")}), 413, "image_too_large")
    assert_error(labelled.post(API, files={"image": ("a.png", png(6000, 8), "image/png")}), 413, "image_too_large")
    assert_error(labelled.post(API, files={"image": ("a.png", PAGE + bytes(2**20), "image/png")}), 413,
                 "payload_too_large")


def test_unknown_path_and_wrong_method_answer_in_the_error_shape(real):
    assert_error(real.get("/api/v1/nothing"), 404, "not_found")
    assert_error(real.get(API), 405, "method_not_allowed")


def test_uploads_are_parsed_in_memory(labelled, monkeypatch):
    def no_disk(*args, **kwargs):
        raise AssertionError("the upload was spooled to a temporary file")

    for name in ("SpooledTemporaryFile", "TemporaryFile", "NamedTemporaryFile", "mkstemp"):
        monkeypatch.setattr(tempfile, name, no_disk)
    padded = PAGE + bytes(900_000)  # data after IEND is ignored; Starlette's own parser would spool this file
    body = labelled.post(API, files={"image": ("page.png", padded, "image/png")}).json()
    assert_page(body)
    assert len(body["lines"]) >= 8


# ------------------------------------------------------------------------------- limits on a real socket


def raw_request(base: str, head: str, body_chunks: list[bytes] = ()) -> tuple[int, dict]:
    """Status and JSON body of a request written by hand (headers, then chunks), read until the server closes."""
    host, port = base.removeprefix("http://").split(":")
    data = b""
    with socket.create_connection((host, int(port)), timeout=10) as conn:
        conn.sendall(head.encode() + b"".join(body_chunks))
        try:
            while piece := conn.recv(65536):
                data += piece
        except ConnectionResetError:  # the server closed with part of the body unread: the answer came first
            pass
    head_bytes, _, body = data.partition(b"\r\n\r\n")
    return int(head_bytes.split()[1]), json.loads(body)


def test_body_limits_apply_before_and_while_reading():
    settings = Settings(config=label_config(), workers=1, max_body_bytes=100_000, body_timeout_s=1.0)
    with serving(create_app(settings)) as base:
        # A declared length over the limit is refused before a byte of the body is sent.
        status, body = raw_request(base, "POST /api/v1/ocr HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                                         "Content-Length: 5000000000\r\nConnection: close\r\n\r\n")
        assert (status, body["error"]["code"]) == (413, "payload_too_large")
        # A chunked body without a length is cut off as soon as it passes the limit.
        chunk = b"%x\r\n%s\r\n" % (50_000, b"A" * 50_000)
        status, body = raw_request(base, "POST /api/v1/ocr HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                                         "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n", [chunk] * 3)
        assert (status, body["error"]["code"]) == (413, "payload_too_large")
        # A body that stops arriving (a slow or stalled client) is given up after body_timeout_s.
        status, body = raw_request(base, "POST /api/v1/ocr HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                                         "Content-Length: 1000\r\nConnection: close\r\n\r\n", [b'{"image_base64": "'])
        assert (status, body["error"]["code"]) == (408, "request_timeout")


def test_pool_is_bounded_and_the_event_loop_stays_free():
    settings = Settings(config=label_config(delay=1.5, detect="whole"), workers=1, max_queue=1)
    line = png(64, 32)
    results: list[tuple[int, dict, dict]] = []

    def post(base: str) -> None:
        request = urllib.request.Request(base + API, data=json.dumps({"image_base64": b64(line)}).encode(),
                                         headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                results.append((response.status, dict(response.headers), json.load(response)))
        except urllib.error.HTTPError as exc:
            results.append((exc.code, dict(exc.headers), json.load(exc)))

    with serving(create_app(settings)) as base:
        clients = [threading.Thread(target=post, args=(base,)) for _ in range(3)]
        for client in clients:
            client.start()
            time.sleep(0.1)
        t0 = time.monotonic()
        with urllib.request.urlopen(base + "/healthz", timeout=5) as response:
            health = json.load(response)
        assert time.monotonic() - t0 < 0.5  # answered while the only worker is busy
        assert health["busy"] == 2 and health["workers"] == 1
        for client in clients:
            client.join(30)
    assert sorted(status for status, _, _ in results) == [200, 200, 503]
    _, headers, busy = next(r for r in results if r[0] == 503)
    assert busy["error"]["code"] == "busy" and headers["retry-after"] == "1"
    assert all(body["result"] == ["line 1"] for status, _, body in results if status == 200)


# ----------------------------------------------------------------------------------- page, schema, health


def test_healthz_openapi_and_page(real):
    health = real.get("/healthz").json()
    assert health["status"] == "ok" and health["workers"] == 1 and health["busy"] == 0
    operation = real.get("/openapi.json").json()["paths"][API]["post"]
    assert set(operation["requestBody"]["content"]) == {"application/json", "multipart/form-data"}
    assert {"200", "400", "413", "415"} <= set(operation["responses"])
    page = real.get("/")
    assert page.status_code == 200 and 'id="drop"' in page.text
    assert "default-src 'self'" in page.headers["content-security-policy"]
    assert real.get("/static/app.js").status_code == 200


# ------------------------------------------------------------------------------- settings and command line


def test_environment_maps_to_the_config():
    settings = Settings.from_env({"DEVICE": "CPU", "MAX_IMAGE_WIDTH": "800", "MAX_IMAGE_PIXELS": "1000000",
                                  "MAX_BODY_MB": "2.5", "WORKERS": "3", "MAX_QUEUE": "4"})
    config = settings.pipeline_config()
    assert (config["recognize"]["max_width"], config["runtime"]["max_pixels"]) == (800, 1_000_000)
    assert (settings.max_body_bytes, settings.workers, settings.max_queue) == (int(2.5 * 2**20), 3, 4)
    explicit = Settings.from_env({"MAX_IMAGE_WIDTH": "800"}, sets=["recognize.max_width=960"])
    assert explicit.pipeline_config()["recognize"]["max_width"] == 960  # --set wins over the environment


@pytest.mark.parametrize("env,match", [
    ({"DEVICE": "cuda"}, "DEVICE='cuda': not supported"),
    ({"MAX_IMAGE_WIDTH": "wide"}, "MAX_IMAGE_WIDTH='wide'"),
    ({"MAX_BODY_MB": "0"}, "MAX_BODY_MB"),
])
def test_bad_environment_fails_at_start(env, match):
    with pytest.raises(ConfigError, match=match):
        Settings.from_env(env)


def test_serve_command_reports_bad_settings_and_exits_2(monkeypatch, capsys):
    monkeypatch.setenv("DEVICE", "gpu")
    assert main(["serve", "--port", "0"]) == 2
    assert "DEVICE='gpu': not supported" in capsys.readouterr().err
    monkeypatch.setenv("DEVICE", "cpu")
    monkeypatch.setenv("MAX_IMAGE_WIDTH", "1001")
    assert main(["serve", "--port", "0", "--set", "runtime.threads=1"]) == 2
    assert "max_width" in capsys.readouterr().err
