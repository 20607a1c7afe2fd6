"""Reading inputs: image files, bytes, arrays and PIL images into BGR uint8 pages; PDFs into one page each.

Every failure is an `InputError` whose message starts with the input's name and says why, e.g.
``scan.png: truncated image file``. Pixel limits are checked from the header, before anything is decoded.
"""
from __future__ import annotations

import io
import math
import os
from pathlib import Path
from typing import Any, Iterable

import cv2
import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

# lineocr enforces its own limit (runtime.max_pixels, checked from the header in `_check_pixels`) so that an
# oversized image or decompression bomb becomes an InputError naming the input, never a PIL warning or a PIL
# error that hides the limit actually in force. PIL's own bomb check would otherwise warn above ~89 MP and
# refuse above ~179 MP whatever max_pixels says.
Image.MAX_IMAGE_PIXELS = None

IMAGE_EXTENSIONS = frozenset({
    ".png", ".jpg", ".jpeg", ".jpe", ".jfif", ".bmp", ".dib", ".tif", ".tiff", ".webp", ".gif",
    ".pbm", ".pgm", ".ppm", ".pnm", ".jp2", ".j2k", ".jpx",
})
PDF_EXTENSIONS = frozenset({".pdf"})

_PIXEL_LIMIT_KEY = "runtime.max_pixels"


class InputError(Exception):
    """An input that cannot be read; the message names the input and the reason: ``"scan.png: empty file"``.

    `InputError(name, reason)`; `InputError(message)` with a ready message is accepted too.
    """

    def __init__(self, name: str, reason: str | None = None):
        super().__init__(name if reason is None else f"{name}: {reason}")
        self.name = name if reason is not None else str(name).split(": ", 1)[0]
        self.reason = reason if reason is not None else str(name).split(": ", 1)[-1]


def expand_inputs(paths: Iterable[str | os.PathLike]) -> list[str]:
    """Files as given; folders walked recursively (sorted), keeping image and PDF files by extension.

    A path that does not exist raises InputError. Hidden files and folders inside walked folders are skipped.
    """
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    out: list[str] = []
    for raw in paths:
        path = os.fspath(raw)
        if os.path.isdir(path):
            for root, dirs, files in os.walk(path):
                dirs[:] = sorted(d for d in dirs if not d.startswith("."))
                for fname in sorted(files):
                    if fname.startswith("."):
                        continue
                    if os.path.splitext(fname)[1].lower() in IMAGE_EXTENSIONS | PDF_EXTENSIONS:
                        out.append(os.path.join(root, fname))
        elif os.path.exists(path):
            out.append(path)
        else:
            raise InputError(path, "no such file or directory")
    return out


def is_pdf(data: bytes) -> bool:
    """PDF by content: the `%PDF-` header may be preceded by junk within the first 1024 bytes."""
    return b"%PDF-" in data[:1024]


def load_pages(source: Any, name: str | None = None, max_pixels: int | None = 50_000_000,
               pdf_dpi: int = 200) -> list[np.ndarray]:
    """Read one input into a list of pages, each a BGR uint8 HxWx3 array.

    `source`: a path (str / Path), bytes, a numpy array (gray HxW, BGR HxWx3 or BGRA HxWx4; uint8 or uint16)
    or a PIL image. Images give one page (multi-page TIFFs one per frame), PDFs one per page rendered at `pdf_dpi`
    (a page that would exceed `max_pixels` is rendered at a lower resolution instead). `name` is used in error
    messages (default: the path, or a description of the object). `max_pixels` None or 0 disables the limit.
    """
    if max_pixels is not None and max_pixels < 0:
        raise ValueError(f"max_pixels must be >= 0, got {max_pixels}")
    if pdf_dpi <= 0:
        raise ValueError(f"pdf_dpi must be > 0, got {pdf_dpi}")
    if isinstance(source, (str, os.PathLike)):
        name = name or os.fspath(source)
        data = _read_file(source, name)
        return _load_bytes(data, name, max_pixels, pdf_dpi)
    if isinstance(source, (bytes, bytearray, memoryview)):
        name = name or "<bytes>"
        return _load_bytes(bytes(source), name, max_pixels, pdf_dpi)
    if isinstance(source, np.ndarray):
        name = name or "<array>"
        return [_array_to_bgr(source, name, max_pixels)]
    if isinstance(source, Image.Image):
        name = name or "<PIL image>"
        return _load_pil(source, name, max_pixels)
    raise InputError(name or f"<{type(source).__name__}>",
                     f"unsupported input type {type(source).__name__} (expected a path, bytes, numpy array or PIL image)")


# ----------------------------------------------------------------------------------------------------- files


def _read_file(path: str | os.PathLike, name: str) -> bytes:
    p = Path(path)
    if not p.exists():
        raise InputError(name, "no such file")
    if p.is_dir():
        raise InputError(name, "is a directory, not a file")
    try:
        return p.read_bytes()
    except OSError as exc:
        raise InputError(name, f"cannot read ({exc.strerror or exc})") from None


def _load_bytes(data: bytes, name: str, max_pixels: int | None, pdf_dpi: int) -> list[np.ndarray]:
    if not data:
        raise InputError(name, "empty file")
    if is_pdf(data):
        return _load_pdf(data, name, max_pixels, pdf_dpi)
    try:
        img = Image.open(io.BytesIO(data))
    except UnidentifiedImageError:
        raise InputError(name, "not an image (unsupported format)") from None
    except Image.DecompressionBombError as exc:  # only if someone re-enabled PIL's own check
        raise InputError(name, f"{exc} ({_PIXEL_LIMIT_KEY})") from None
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise InputError(name, _decode_reason(exc, header=True)) from None
    return _load_pil(img, name, max_pixels)


def _check_pixels(width: int, height: int, name: str, max_pixels: int | None) -> None:
    if width <= 0 or height <= 0:
        raise InputError(name, f"empty image ({width}x{height})")
    if max_pixels and width * height > max_pixels:
        raise InputError(name, f"{width * height} pixels exceeds the limit of {max_pixels} ({_PIXEL_LIMIT_KEY})")


def _decode_reason(exc: BaseException, header: bool = False) -> str:
    msg = str(exc).strip()
    low = msg.lower()
    if "truncated" in low or isinstance(exc, EOFError) or "unexpected end" in low or "broken data stream" in low:
        return "truncated image file"
    if header:
        return f"corrupt image header ({msg or type(exc).__name__})"
    return f"corrupt image data ({msg or type(exc).__name__})"


def _load_pil(img: Image.Image, name: str, max_pixels: int | None) -> list[np.ndarray]:
    """Decode every frame that counts as a page: the first frame, or all frames of a multi-page TIFF."""
    n_frames = int(getattr(img, "n_frames", 1) or 1) if img.format == "TIFF" else 1
    pages = []
    for index in range(n_frames):
        if n_frames > 1:
            try:
                img.seek(index)
            except (OSError, EOFError, ValueError) as exc:
                raise InputError(name, _decode_reason(exc)) from None
        pages.append(_decode_frame(img, name if n_frames == 1 else f"{name} (page {index + 1})", max_pixels))
    return pages


def _decode_frame(img: Image.Image, name: str, max_pixels: int | None) -> np.ndarray:
    _check_pixels(img.width, img.height, name, max_pixels)
    try:
        img.load()  # forces the full decode: truncated or corrupt data fails here, not later
    except Image.DecompressionBombError as exc:
        raise InputError(name, f"{exc} ({_PIXEL_LIMIT_KEY})") from None
    except (OSError, SyntaxError, ValueError, EOFError, MemoryError) as exc:
        if isinstance(exc, MemoryError):
            raise InputError(name, "not enough memory to decode the image") from None
        raise InputError(name, _decode_reason(exc)) from None
    except Exception as exc:  # zlib.error, struct.error and friends from broken streams
        raise InputError(name, _decode_reason(exc)) from None
    try:
        img = ImageOps.exif_transpose(img)
    except Exception:  # unreadable EXIF must not make a readable image fail
        pass
    try:
        return _pil_to_bgr(img)
    except (OSError, ValueError) as exc:
        raise InputError(name, f"unsupported image mode {img.mode} ({exc})") from None


# ------------------------------------------------------------------------------------------- conversions


def _to_uint8(arr: np.ndarray) -> np.ndarray:
    """Scale a deep (16-bit, 32-bit or float) array to uint8 by its actual maximum.

    A 12-bit scan in a 16-bit container (max 4095) keeps its full contrast instead of coming out nearly black as
    it would with a plain `>> 8`. Values already within 0..255 are kept as they are; floats within 0..1 are
    taken as normalized intensities.
    """
    if arr.dtype == np.uint8:
        return arr
    if arr.dtype == np.bool_:
        return arr.astype(np.uint8) * 255
    if arr.size == 0:
        return arr.astype(np.uint8)
    a = arr.astype(np.float32, copy=False)
    if np.issubdtype(arr.dtype, np.floating):
        a = np.nan_to_num(a, nan=0.0, posinf=0.0, neginf=0.0)
    lo = float(a.min())
    hi = float(a.max())
    if lo < 0:  # signed data: shift to zero first
        a = a - lo
        hi -= lo
    if np.issubdtype(arr.dtype, np.floating) and hi <= 1.0:
        a = a * 255.0
    elif hi > 255.0:
        a = a * (255.0 / hi)
    return np.clip(a + 0.5, 0, 255).astype(np.uint8)


def _composite_on_white(bgr: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    a = alpha.astype(np.float32)[..., None] * (1.0 / 255.0)
    out = bgr.astype(np.float32) * a + 255.0 * (1.0 - a)
    return (out + 0.5).astype(np.uint8)


def _pil_to_bgr(img: Image.Image) -> np.ndarray:
    mode = img.mode
    if mode == "1":
        img = img.convert("L")
        mode = "L"
    elif mode in ("P", "PA"):
        img = img.convert("RGBA" if (mode == "PA" or "transparency" in img.info) else "RGB")
        mode = img.mode
    elif mode in ("CMYK", "YCbCr", "LAB", "HSV", "RGBX"):
        img = img.convert("RGB")
        mode = "RGB"
    elif mode in ("La", "RGBa"):
        img = img.convert("RGBA" if mode == "RGBa" else "LA")
        mode = img.mode

    if mode == "L":
        return cv2.cvtColor(np.asarray(img), cv2.COLOR_GRAY2BGR)
    if mode == "LA":
        arr = np.asarray(img)
        gray = np.repeat(arr[..., :1], 3, axis=2)
        return _composite_on_white(gray, arr[..., 1])
    if mode == "RGB":
        return cv2.cvtColor(np.asarray(img), cv2.COLOR_RGB2BGR)
    if mode == "RGBA":
        arr = np.asarray(img)
        return _composite_on_white(cv2.cvtColor(arr[..., :3], cv2.COLOR_RGB2BGR), arr[..., 3])
    if mode.startswith("I") or mode == "F":
        arr = np.asarray(img)
        if arr.ndim == 3:  # e.g. I;16 RGB variants
            arr = arr[..., :3][..., ::-1]
            return np.ascontiguousarray(_to_uint8(arr))
        return cv2.cvtColor(_to_uint8(arr), cv2.COLOR_GRAY2BGR)
    return cv2.cvtColor(np.asarray(img.convert("RGB")), cv2.COLOR_RGB2BGR)


def _array_to_bgr(arr: np.ndarray, name: str, max_pixels: int | None) -> np.ndarray:
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[..., 0]
    if arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[2] not in (3, 4)):
        raise InputError(name, f"unsupported array shape {arr.shape} (expected HxW, HxWx3 BGR or HxWx4 BGRA)")
    if arr.dtype.kind not in "uifb":
        raise InputError(name, f"unsupported array dtype {arr.dtype}")
    _check_pixels(arr.shape[1], arr.shape[0], name, max_pixels)
    arr8 = _to_uint8(arr)
    if arr8.ndim == 2:
        return cv2.cvtColor(np.ascontiguousarray(arr8), cv2.COLOR_GRAY2BGR)
    if arr8.shape[2] == 4:
        return _composite_on_white(arr8[..., :3], arr8[..., 3])
    return np.array(arr8, dtype=np.uint8, order="C", copy=True)


# ------------------------------------------------------------------------------------------------- PDF


def _load_pdf(data: bytes, name: str, max_pixels: int | None, pdf_dpi: int) -> list[np.ndarray]:
    import pypdfium2 as pdfium

    try:
        pdf = pdfium.PdfDocument(data)
    except pdfium.PdfiumError as exc:
        reason = str(exc)
        if "password" in reason.lower():
            raise InputError(name, "encrypted PDF (password required)") from None
        raise InputError(name, f"corrupt PDF ({reason})") from None
    try:
        n_pages = len(pdf)
        if n_pages == 0:
            raise InputError(name, "PDF has no pages")
        pages = []
        for index in range(n_pages):
            page = pdf[index]
            try:
                width_pt, height_pt = page.get_size()
                scale = pdf_dpi / 72.0
                pixels = math.ceil(width_pt * scale) * math.ceil(height_pt * scale)
                if max_pixels and pixels > max_pixels:
                    # Render big pages smaller rather than failing: the limit guards memory, not the page.
                    scale *= math.sqrt(max_pixels / pixels) * 0.999
                    while max_pixels and math.ceil(width_pt * scale) * math.ceil(height_pt * scale) > max_pixels:
                        scale *= 0.99
                if math.ceil(width_pt * scale) < 1 or math.ceil(height_pt * scale) < 1:
                    raise InputError(f"{name} (page {index + 1})", "empty PDF page")
                bitmap = page.render(scale=scale)
                arr = bitmap.to_numpy()
                if arr.ndim == 2:
                    bgr = cv2.cvtColor(arr, cv2.COLOR_GRAY2BGR)
                else:
                    bgr = np.array(arr[..., :3], dtype=np.uint8, order="C", copy=True)
                bitmap.close()
            except pdfium.PdfiumError as exc:
                raise InputError(f"{name} (page {index + 1})", f"cannot render PDF page ({exc})") from None
            finally:
                page.close()
            pages.append(bgr)
        return pages
    finally:
        pdf.close()
