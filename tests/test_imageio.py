"""Input loading: every image mode, every kind of source, PDFs, and clear errors that name the input."""
from __future__ import annotations

import io
import shutil
import struct
import warnings
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

from pipeline.imageio import IMAGE_EXTENSIONS, InputError, expand_inputs, load_pages

FIXTURES = Path(__file__).parent / "fixtures"


def one_page(source, **kwargs) -> np.ndarray:
    pages = load_pages(source, **kwargs)
    assert len(pages) == 1
    page = pages[0]
    assert page.dtype == np.uint8 and page.ndim == 3 and page.shape[2] == 3 and page.flags["C_CONTIGUOUS"]
    return page


def encode(img: Image.Image, fmt: str = "PNG", **kwargs) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **kwargs)
    return buf.getvalue()


def png_header_only(width: int, height: int) -> bytes:
    """A valid PNG signature and IHDR claiming width x height, with one tiny IDAT: a decompression bomb's header."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)  # 1-bit gray
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b"")


# ------------------------------------------------------------------------------------------------ modes


def test_fixture_page_gray_png():
    page = one_page(FIXTURES / "page_zh_en.png")
    assert page.shape == (700, 1000, 3)
    assert (page[..., 0] == page[..., 1]).all() and (page[..., 1] == page[..., 2]).all()
    assert np.median(page) == 255 and page.min() < 60


def test_rgb_becomes_bgr_from_bytes_path_and_pil(tmp_path):
    img = Image.new("RGB", (40, 20), (255, 0, 0))
    img.paste((0, 0, 255), (20, 0, 40, 20))
    expected = np.zeros((20, 40, 3), np.uint8)
    expected[:, :20] = (0, 0, 255)
    expected[:, 20:] = (255, 0, 0)
    path = tmp_path / "red_blue.png"
    img.save(path)
    assert np.array_equal(one_page(encode(img)), expected)
    assert np.array_equal(one_page(str(path)), expected)
    assert np.array_equal(one_page(path), expected)
    assert np.array_equal(one_page(img), expected)


def test_rgba_and_la_composited_on_white():
    arr = np.zeros((10, 30, 4), np.uint8)
    arr[:, :10] = (0, 0, 0, 0)  # transparent black -> white
    arr[:, 10:20] = (0, 0, 0, 255)  # opaque black
    arr[:, 20:] = (0, 0, 0, 128)  # half transparent black -> mid gray
    rgba = Image.fromarray(arr, "RGBA")
    for source in (encode(rgba), rgba, encode(rgba.convert("LA"))):
        page = one_page(source)
        assert (page[:, :10] == 255).all()
        assert (page[:, 10:20] == 0).all()
        assert np.all(np.abs(page[:, 20:].astype(int) - 127) <= 2)


def test_palette_with_and_without_transparency():
    img = Image.new("RGB", (20, 10), (255, 255, 255))
    img.paste((0, 128, 0), (0, 0, 10, 10))
    pal = img.convert("P", palette=Image.Palette.ADAPTIVE, colors=4)
    page = one_page(encode(pal))
    assert tuple(page[5, 2]) == (0, 128, 0) and tuple(page[5, 15]) == (255, 255, 255)

    pal_t = pal.copy()
    green_index = pal.getpixel((2, 5))
    pal_t.info["transparency"] = green_index
    page = one_page(encode(pal_t, transparency=green_index))
    assert tuple(page[5, 2]) == (255, 255, 255)  # the transparent entry shows the white page


def test_sixteen_bit_scaled_by_actual_max():
    ramp = np.tile(np.linspace(0, 4095, 64).astype(np.uint16), (8, 1))  # a 12-bit scan in a 16-bit container
    img = Image.fromarray(ramp)
    assert img.mode.startswith("I")
    for source in (encode(img), img, ramp):
        page = one_page(source)
        row = page[0, :, 0].astype(int)
        assert row[0] == 0 and row[-1] == 255  # full contrast, not 0..15 as with >> 8
        assert abs(row[32] - 4095 * 32 / 63 * 255 / 4095) <= 1
        assert np.all(np.diff(row) >= 0)


def test_sixteen_bit_bgr_array_and_bool_and_float():
    arr = np.zeros((4, 4, 3), np.uint16)
    arr[..., 2] = 60000
    assert tuple(one_page(arr)[0, 0]) == (0, 0, 255)
    assert one_page(np.eye(4, dtype=bool))[0, 0, 0] == 255
    assert one_page(np.full((4, 4), 0.5, np.float32))[0, 0, 0] in (127, 128)


def test_one_bit_and_gray():
    img = Image.new("1", (16, 8), 1)
    img.paste(0, (0, 0, 8, 8))
    page = one_page(encode(img))
    assert (page[:, :8] == 0).all() and (page[:, 8:] == 255).all()
    gray = Image.new("L", (5, 5), 77)
    assert (one_page(encode(gray)) == 77).all()


def test_cmyk_jpeg_and_tiff():
    cmyk = Image.new("CMYK", (32, 16), (0, 255, 255, 0))  # red
    cmyk.paste((0, 0, 0, 255), (16, 0, 32, 16))  # black
    for data in (encode(cmyk, "JPEG", quality=95), encode(cmyk, "TIFF")):
        page = one_page(data).astype(int)
        b, g, r = page[8, 4]
        assert r > 200 and g < 60 and b < 60
        assert page[8, 24].max() < 60


def test_exif_orientation_applied():
    img = Image.new("RGB", (200, 100), (255, 255, 255))
    ImageDraw.Draw(img).rectangle([0, 0, 49, 99], fill=(0, 0, 0))  # dark band on the stored left edge
    exif = Image.Exif()
    exif[0x0112] = 6  # display = stored turned 90 degrees clockwise
    page = one_page(encode(img, "JPEG", exif=exif, quality=95))
    assert page.shape == (200, 100, 3)
    assert page[:50].mean() < 40 and page[60:].mean() > 215  # the stored left edge is now on top


def test_multipage_tiff_gives_every_page():
    frames = [Image.new("L", (20, 10), v) for v in (0, 128, 255)]
    data = encode(frames[0], "TIFF", save_all=True, append_images=frames[1:])
    pages = load_pages(data)
    assert [int(p[0, 0, 0]) for p in pages] == [0, 128, 255]


def test_array_inputs():
    gray = np.full((6, 7), 90, np.uint8)
    page = one_page(gray)
    assert page.shape == (6, 7, 3) and (page == 90).all()
    bgr = np.random.default_rng(0).integers(0, 256, (6, 7, 3), dtype=np.uint8)
    page = one_page(bgr)
    assert np.array_equal(page, bgr) and page is not bgr
    bgra = np.zeros((2, 2, 4), np.uint8)
    bgra[..., 3] = 0
    assert (one_page(bgra) == 255).all()
    with pytest.raises(InputError, match=r"^<array>: unsupported array shape"):
        load_pages(np.zeros((2, 2, 2), np.uint8))
    with pytest.raises(InputError, match=r"^frame: unsupported array shape"):
        load_pages(np.zeros((2, 2, 5), np.uint8), name="frame")
    with pytest.raises(InputError, match="empty image"):
        load_pages(np.zeros((0, 5), np.uint8))


# ----------------------------------------------------------------------------------------------- errors


def test_truncated_png_fixture_names_input():
    path = str(FIXTURES / "corrupt.png")
    with pytest.raises(InputError) as exc:
        load_pages(path)
    assert str(exc.value) == f"{path}: truncated image file"
    assert exc.value.name == path and exc.value.reason == "truncated image file"


def test_truncated_jpeg_bytes_with_name():
    img = Image.fromarray(np.random.default_rng(1).integers(0, 256, (64, 64, 3), dtype=np.uint8))
    data = encode(img, "JPEG")
    with pytest.raises(InputError, match=r"^scan\.jpg: truncated image file$"):
        load_pages(data[: len(data) // 2], name="scan.jpg")


def test_corrupt_image_data():
    img = Image.fromarray(np.random.default_rng(2).integers(0, 256, (64, 64), dtype=np.uint8))
    data = bytearray(encode(img))
    start = data.index(b"IDAT") + 8
    data[start:start + 200] = b"\xff" * 200  # garbage inside the compressed stream
    with pytest.raises(InputError, match=r"^bad\.png: (corrupt image|truncated)"):
        load_pages(bytes(data), name="bad.png")


def test_empty_file_non_image_missing_and_directory(tmp_path):
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    with pytest.raises(InputError, match=r"empty\.png: empty file$"):
        load_pages(empty)
    text = tmp_path / "x.txt"
    text.write_text("hello, not a picture\n")
    with pytest.raises(InputError) as exc:
        load_pages(str(text))
    assert str(exc.value) == f"{text}: not an image (unsupported format)"
    with pytest.raises(InputError, match=r"nope\.png: no such file"):
        load_pages(str(tmp_path / "nope.png"))
    with pytest.raises(InputError, match="is a directory"):
        load_pages(str(tmp_path))
    with pytest.raises(InputError, match=r"^<bytes>: empty file$"):
        load_pages(b"")
    with pytest.raises(InputError, match="unsupported input type int"):
        load_pages(42)


def test_pixel_limit_checked_from_header():
    with pytest.raises(InputError) as exc:
        load_pages(FIXTURES / "page_zh_en.png", max_pixels=100_000)
    assert str(exc.value).endswith(
        "page_zh_en.png: 700000 pixels exceeds the limit of 100000 (runtime.max_pixels)")
    with pytest.raises(InputError, match=r"^<array>: 700000 pixels exceeds the limit of 100000"):
        load_pages(np.zeros((700, 1000), np.uint8), max_pixels=100_000)
    assert len(load_pages(FIXTURES / "page_zh_en.png", max_pixels=700_000)) == 1


@pytest.mark.parametrize("side", [10_000, 20_000])  # above PIL's warning level, above its error level
def test_decompression_bomb_is_an_input_error_not_a_pil_warning(side):
    data = png_header_only(side, side)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(InputError) as exc:
            load_pages(data, name="big.png")
    assert str(exc.value) == (f"big.png: {side * side} pixels exceeds the limit of 50000000 (runtime.max_pixels)")


# ------------------------------------------------------------------------------------------------- PDFs


def test_pdf_pages_rendered_at_dpi():
    pages = load_pages(FIXTURES / "doc.pdf")
    assert len(pages) == 2
    for page in pages:
        assert page.dtype == np.uint8 and page.shape == (800, 1200, 3)  # 6 x 4 inches at 200 dpi
        assert page.min() < 80 and np.median(page) > 240  # dark text on white
    assert not np.array_equal(pages[0], pages[1])
    small = load_pages(FIXTURES / "doc.pdf", pdf_dpi=100)
    assert [p.shape for p in small] == [(400, 600, 3)] * 2


def test_pdf_found_by_magic_not_extension(tmp_path):
    data = (FIXTURES / "doc.pdf").read_bytes()
    assert len(load_pages(data)) == 2
    renamed = tmp_path / "scan.bin"
    shutil.copy(FIXTURES / "doc.pdf", renamed)
    assert len(load_pages(renamed)) == 2


def test_pdf_page_over_pixel_limit_rendered_smaller():
    pages = load_pages(FIXTURES / "doc.pdf", max_pixels=200_000)
    assert len(pages) == 2
    for page in pages:
        h, w = page.shape[:2]
        assert 150_000 < h * w <= 200_000
        assert abs(w / h - 1.5) < 0.02


def test_corrupt_pdf():
    with pytest.raises(InputError, match=r"^broken\.pdf: corrupt PDF"):
        load_pages(b"%PDF-1.7\nthis is not really a pdf\n", name="broken.pdf")


# ----------------------------------------------------------------------------------------------- inputs


def test_expand_inputs(tmp_path):
    (tmp_path / "b" / "deep").mkdir(parents=True)
    (tmp_path / "a.png").write_bytes(b"x")
    (tmp_path / "b" / "c.JPG").write_bytes(b"x")
    (tmp_path / "b" / "deep" / "d.pdf").write_bytes(b"x")
    (tmp_path / "b" / "notes.txt").write_text("x")
    (tmp_path / ".hidden.png").write_bytes(b"x")
    single = tmp_path / "b" / "notes.txt"
    found = expand_inputs([str(tmp_path), str(single)])
    assert found == [str(tmp_path / "a.png"), str(tmp_path / "b" / "c.JPG"), str(tmp_path / "b" / "deep" / "d.pdf"),
                     str(single)]  # a file given by name is kept whatever its extension
    with pytest.raises(InputError, match=r"missing\.png: no such file or directory"):
        expand_inputs([str(tmp_path / "missing.png")])
    assert {".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".webp"} <= IMAGE_EXTENSIONS


def test_input_error_forms():
    assert str(InputError("a.png", "empty file")) == "a.png: empty file"
    err = InputError("b.png: not an image (unsupported format)")
    assert str(err) == "b.png: not an image (unsupported format)" and err.name == "b.png"
