"""Build the scenario suites: held-out synthetic pages and line crops for the seed article's five scenarios plus
vertical text and rotated pages.

    python benchmarks/build_suites.py [--out benchmarks/suites] [--pages 6] [--crops 40] [--seed 8] [--only NAME...]

A second renderer, not the training one (models/synth.py draws lines with PIL): headless Chromium lays out HTML set
in the held-out font families (`HELD_OUT_FAMILIES`) with held-out corpus lines (`TextSampler(held_out=True)`); line
boxes come from the DOM (Range.getClientRects), page images from screenshots, then a scenario's degradation
(noise, JPEG, downscaling, rotation) is applied to image and boxes alike. Per scenario it writes
`<out>/<scenario>/pages/manifest.jsonl` ({"image", "lines": [{"points", "text"}]}) and
`<out>/<scenario>/crops/manifest.jsonl` ({"image", "text"}; crops are cut from other pages than the page set).
Seeded and deterministic for a given Chromium and font set.
"""
from __future__ import annotations

import argparse
import base64
import html
import json
import random
import shutil
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from models.charset import load_charset  # noqa: E402
from models.synth import FontFace, TextSampler, discover_fonts  # noqa: E402

CHARSET = ROOT / "models" / "weights" / "crnn_zh_en.charset.json"

# Lays out, truncates lines that overflow the page (by characters, from the end), drops lines below it, and returns
# each remaining line's text and box (union of its client rects).
LAYOUT_JS = """
const [limitX, limitY] = arguments;
const out = [];
for (const line of [...document.querySelectorAll('.line')]) {
  const vertical = line.classList.contains('v');
  const box = () => { const r = document.createRange(); r.selectNodeContents(line);
    const rs = [...r.getClientRects(), ...[...line.querySelectorAll('span')].map(s => s.getBoundingClientRect())];
    return [Math.min(...rs.map(x => x.left)), Math.min(...rs.map(x => x.top)),
            Math.max(...rs.map(x => x.right)), Math.max(...rs.map(x => x.bottom))]; };
  const over = () => { const b = box(); return vertical ? b[3] > limitY : b[2] > limitX; };
  const chars = line.querySelectorAll('span').length ? null : line;
  while (over() && line.textContent.trim().length > 1) {
    if (chars) chars.textContent = chars.textContent.slice(0, -1).trimEnd(); else line.lastElementChild.remove();
  }
  const b = box();
  if ((vertical ? b[2] < 0 || b[0] < 0 : b[3] > limitY) || over()) { line.style.visibility = 'hidden'; continue; }
  out.push([line.textContent.trim(), b]);
}
return out;
"""


@dataclass
class Spec:
    """One page to lay out: its size, CSS, lines (html, css) and how to degrade the screenshot."""

    width: int
    height: int
    body_css: str
    lines: list[tuple[str, str]] = field(default_factory=list)
    vertical: bool = False
    extra_html: str = ""
    degrade: Callable[[np.ndarray, np.ndarray, random.Random], tuple[np.ndarray, np.ndarray]] | None = None
    ext: str = ".png"


class Scenes:
    """Page specs per scenario, drawing held-out text and fonts from one seeded generator."""

    NAMES = ("clean_print", "complex_background", "handwriting_zh", "lowres_screenshot", "english_math",
             "vertical_zh", "rotated_pages")

    def __init__(self, fonts: list[FontFace], sampler: TextSampler) -> None:
        self.fonts = fonts
        self.sampler = sampler
        self.css_names = {face: f"h{i}" for i, face in enumerate(fonts)}

    def font_face_css(self) -> str:
        rules = []
        for face, name in self.css_names.items():
            src = f"local('{face.family}')" if face.path.endswith(".ttc") else f"url('file://{face.path}')"
            rules.append(f"@font-face {{ font-family: '{name}'; src: {src}; }}")
        return "\n".join(rules)

    def _text(self, rng: random.Random, kinds: tuple[str, ...], faces: list[FontFace]) -> tuple[str, FontFace]:
        for _ in range(50):
            text = self.sampler.sample(rng, rng.choice(kinds)).strip()
            covering = [f for f in faces if set(text) - {" "} <= f.chars]
            if len(text) >= 2 and covering:
                return text, rng.choice(covering)
        raise RuntimeError(f"no held-out face covers the sampled texts of kinds {kinds}")

    def _family(self, face: FontFace) -> str:
        return f"font-family: '{self.css_names[face]}'"

    def _flow(self, rng: random.Random, kinds: tuple[str, ...], faces: list[FontFace], sizes: tuple[int, int],
              color: Callable[[], str] = lambda: "#000", n: int = 16) -> list[tuple[str, str]]:
        lines = []
        for _ in range(n):
            text, face = self._text(rng, kinds, faces)
            size = rng.randint(*sizes)
            css = (f"{self._family(face)}; font-size: {size}px; color: {color()}; "
                   f"margin: {rng.randint(size // 3, size)}px 0 0 {rng.randint(0, 4) * size}px")
            lines.append((html.escape(text), css))
        return lines

    def clean_print(self, rng: random.Random) -> Spec:
        return Spec(680, 860, "background: #fff; padding: 30px 40px",
                    self._flow(rng, ("zh", "zh", "en", "mixed", "numeric"), self.fonts, (16, 30)))

    def complex_background(self, rng: random.Random) -> Spec:
        hue = lambda: rng.randint(0, 359)  # noqa: E731
        bg = rng.choice([
            f"linear-gradient({rng.randint(0, 180)}deg, hsl({hue()},60%,75%), hsl({hue()},70%,35%))",
            f"radial-gradient(circle at {rng.randint(0, 100)}% {rng.randint(0, 100)}%, "
            f"hsl({hue()},80%,85%), hsl({hue()},50%,30%))",
            f"repeating-linear-gradient({rng.randint(0, 180)}deg, "
            f"hsl({hue()},50%,80%) 0 14px, hsl({hue()},50%,60%) 14px 30px)"])
        shapes = "".join(
            f"<div style='position:absolute; left:{rng.randint(0, 600)}px; top:{rng.randint(0, 800)}px; "
            f"width:{rng.randint(40, 260)}px; height:{rng.randint(40, 260)}px; border-radius:{rng.choice([0, 50])}%; "
            f"background:hsla({hue()},70%,{rng.randint(20, 90)}%,0.55); z-index:0'></div>" for _ in range(8))

        def color() -> str:
            light = rng.random() < 0.5
            shadow = f"; text-shadow: 2px 2px 2px hsl(0,0%,{90 if not light else 5}%)" if rng.random() < 0.5 else ""
            lightness = rng.randint(88, 100) if light else rng.randint(0, 18)
            return f"hsl({hue()},80%,{lightness}%){shadow}; position: relative; z-index: 1"
        return Spec(680, 860, f"background: {bg}; padding: 30px 40px", self._flow(
            rng, ("zh", "zh", "en", "mixed", "numeric"), self.fonts, (22, 44), color, n=12),
            extra_html=shapes, degrade=_noise_jpeg, ext=".jpg")

    def handwriting_zh(self, rng: random.Random) -> Spec:
        kai = [f for f in self.fonts if "WenKai" in f.family]
        lines = []
        for _ in range(14):
            text, face = self._text(rng, ("zh",), kai)
            size = rng.randint(24, 34)
            spans = "".join(
                f"<span style='display:inline-block; transform: translateY({rng.uniform(-0.08, 0.08) * size:.1f}px) "
                f"rotate({rng.uniform(-5, 5):.1f}deg); font-size:{size * rng.uniform(0.88, 1.12):.1f}px; "
                f"margin-right:{rng.uniform(0, 0.18) * size:.1f}px'>{html.escape(ch) if ch != ' ' else '&nbsp;'}</span>"
                for ch in text)
            ink = rng.choice(["#10205a", "#1a1a1a", "#202c80", "#3a2a2a"])
            lines.append((spans, f"{self._family(face)}; font-size: {size}px; color: {ink}; "
                                 f"margin: {rng.randint(10, 22)}px 0 0 {rng.randint(0, 40)}px"))
        paper = "repeating-linear-gradient(180deg, #fbf8ee 0 45px, #b8c8e0 45px 46px)"
        return Spec(680, 860, f"background: {paper}; padding: 30px 40px", lines, degrade=_blur_jpeg, ext=".jpg")

    def lowres_screenshot(self, rng: random.Random) -> Spec:
        def color() -> str:
            box = f"; background: hsl({rng.randint(0, 359)},40%,92%); padding: 3px 8px" if rng.random() < 0.3 else ""
            return f"hsl(0,0%,{rng.randint(0, 35)}%){box}"
        return Spec(900, 1000, "background: #fff; padding: 20px 30px", self._flow(
            rng, ("zh", "en", "mixed", "numeric"), self.fonts, (13, 17), color, n=30), degrade=_downscale, ext=".jpg")

    def english_math(self, rng: random.Random) -> Spec:
        latin = [f for f in self.fonts if not f.cjk]
        lines = []
        for _ in range(14):
            face = rng.choice(latin)
            words = self.sampler.sample(rng, "en")
            text = rng.choice([f"{words} {_formula(rng)}", _formula(rng), f"{_formula(rng)}, {words}"])
            size = rng.randint(18, 28)
            lines.append((html.escape(text), f"{self._family(face)}; font-size: {size}px; color: #000; "
                                             f"margin: {rng.randint(6, 20)}px 0 0 {rng.randint(0, 3) * 20}px"))
        return Spec(680, 860, "background: #fff; padding: 30px 40px", lines)

    def vertical_zh(self, rng: random.Random) -> Spec:
        cjk = [f for f in self.fonts if f.cjk]
        lines = []
        for _ in range(16):
            text, face = self._text(rng, ("zh",), cjk)
            size = rng.randint(20, 30)
            margin = f"{rng.randint(0, 3) * size}px {rng.randint(size // 3, size)}px 0 0"
            lines.append((html.escape(text), f"{self._family(face)}; font-size: {size}px; color: #000; margin: {margin}"))
        return Spec(860, 640, "background: #fff; padding: 30px 40px", lines, vertical=True)

    def rotated_pages(self, rng: random.Random) -> Spec:
        spec = self.clean_print(rng)
        spec.degrade = _rotate
        return spec


def _formula(rng: random.Random) -> str:
    r, v = rng.randint, lambda: rng.choice("abcnxyz")  # noqa: E731
    return rng.choice([
        lambda: f"{v()}² + {v()}² = {r(2, 99)}",
        lambda: f"E = mc², m = {r(1, 99)}.{r(0, 9)} kg",
        lambda: f"∑ x{r(1, 9)} ≤ {r(10, 999)}",
        lambda: f"∫ f(x) dx = {r(1, 9)}/{r(2, 9)}",
        lambda: f"√{r(2, 99)} ≈ {r(1, 9)}.{r(100, 999)}",
        lambda: "sin²θ + cos²θ = 1",
        lambda: f"{v()} ∈ [0, {r(1, 9)}]",
        lambda: f"Δt = {r(1, 99)}.{r(0, 9)} ms ± {r(1, 9)}%",
        lambda: f"{r(2, 99)} × {r(2, 99)} ÷ {r(2, 9)} = {v()}",
        lambda: f"σ² = {r(1, 9)}.{r(10, 99)}, μ = {r(0, 99)}",
        lambda: f"f(x) = {r(2, 9)}x³ - {r(2, 9)}x + {r(1, 9)}",
        lambda: f"α + β ≥ {r(10, 90)}°",
        lambda: f"lim x→∞ {r(1, 9)}/x = 0",
    ])()


def _noise_jpeg(img: np.ndarray, pts: np.ndarray, rng: random.Random) -> tuple[np.ndarray, np.ndarray]:
    gen = np.random.default_rng(rng.getrandbits(32))
    tex = cv2.GaussianBlur(gen.normal(0, 30, img.shape).astype(np.float32), (0, 0), rng.uniform(1.0, 3.0))
    return np.clip(img + tex + gen.normal(0, 6, img.shape), 0, 255).astype(np.uint8), pts


def _blur_jpeg(img: np.ndarray, pts: np.ndarray, rng: random.Random) -> tuple[np.ndarray, np.ndarray]:
    return cv2.GaussianBlur(img, (0, 0), rng.uniform(0.4, 0.9)), pts


def _downscale(img: np.ndarray, pts: np.ndarray, rng: random.Random) -> tuple[np.ndarray, np.ndarray]:
    f = rng.uniform(0.55, 0.7)
    h, w = img.shape[:2]
    small = cv2.resize(img, (round(w * f), round(h * f)), interpolation=cv2.INTER_AREA)
    return small, pts * np.array([small.shape[1] / w, small.shape[0] / h])


def _rotate(img: np.ndarray, pts: np.ndarray, rng: random.Random) -> tuple[np.ndarray, np.ndarray]:
    """Rotate the page by 90, 180 or 270 degrees clockwise; every point follows (a box's first point stays the
    text's top-left corner, as in ICDAR-style labels)."""
    k = rng.choice([1, 2, 3])
    h, w = img.shape[:2]
    out = np.rot90(img, -k).copy()
    x, y = pts[..., 0], pts[..., 1]
    moved = {1: (h - y, x), 2: (w - x, h - y), 3: (y, w - x)}[k]
    return out, np.stack(moved, axis=-1)


class Browser:
    """Headless Chromium through chromedriver (no network: the driver path is given, Selenium Manager is not used)."""

    def __init__(self, font_css: str) -> None:
        from selenium import webdriver
        from selenium.webdriver.chrome.options import Options
        from selenium.webdriver.chrome.service import Service

        options = Options()
        for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--disable-dev-shm-usage",
                    "--allow-file-access-from-files", "--force-device-scale-factor=1", "--font-render-hinting=none"):
            options.add_argument(arg)
        driver = shutil.which("chromedriver")
        if not driver:
            raise SystemExit("chromedriver not found: the suites need headless Chromium and chromedriver")
        self.driver = webdriver.Chrome(options=options, service=Service(executable_path=driver))
        self.font_css = font_css
        self.tmp = Path(tempfile.mkdtemp(prefix="suites_"))

    def render(self, spec: Spec) -> tuple[np.ndarray, list[tuple[str, np.ndarray]]]:
        """The page screenshot (BGR) and its lines as (text, 4x2 points clockwise from top-left)."""
        mode = "writing-mode: vertical-rl;" if spec.vertical else ""
        cls = "line v" if spec.vertical else "line"
        body = "".join(f"<div class='{cls}' style=\"white-space: nowrap; {css}\">{text}</div>" for text, css in spec.lines)
        page = (f"<html><head><meta charset='utf-8'><style>{self.font_css}\nhtml, body {{ margin: 0 }}\n"
                f"body {{ width: {spec.width}px; height: {spec.height}px; box-sizing: border-box; overflow: hidden; "
                f"position: relative; {mode} {spec.body_css} }}\n.line {{ line-height: 1.25 }}</style></head>"
                f"<body>{spec.extra_html}{body}</body></html>")
        path = self.tmp / "page.html"
        path.write_text(page, encoding="utf-8")
        self.driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
            "width": spec.width, "height": spec.height, "deviceScaleFactor": 1, "mobile": False})
        self.driver.get(path.as_uri())
        self.driver.execute_async_script(
            "const done = arguments[arguments.length - 1]; document.fonts.ready.then(() => done())")
        margin = 30 if spec.vertical else 40
        laid = self.driver.execute_script(LAYOUT_JS, spec.width - margin, spec.height - 30)
        shot = self.driver.execute_cdp_cmd("Page.captureScreenshot", {"format": "png", "clip": {
            "x": 0, "y": 0, "width": spec.width, "height": spec.height, "scale": 1}})
        img = cv2.imdecode(np.frombuffer(base64.b64decode(shot["data"]), np.uint8), cv2.IMREAD_COLOR)
        lines = []
        for text, (x0, y0, x1, y1) in laid:
            text = " ".join(text.replace("\u00a0", " ").split())
            if text:
                lines.append((text, np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], dtype=np.float64)))
        return img, lines

    def close(self) -> None:
        self.driver.quit()
        shutil.rmtree(self.tmp, ignore_errors=True)


def _write(path: Path, img: np.ndarray) -> None:
    params = [cv2.IMWRITE_JPEG_QUALITY, 80] if path.suffix == ".jpg" else [cv2.IMWRITE_PNG_COMPRESSION, 9]
    if not cv2.imwrite(str(path), img, params):
        raise OSError(f"cannot write {path}")


def _crop(img: np.ndarray, pts: np.ndarray) -> np.ndarray:
    x0, y0 = pts.min(0)
    x1, y1 = pts.max(0)
    pad = 0.12 * min(x1 - x0, y1 - y0)
    h, w = img.shape[:2]
    top, bottom = max(0, int(y0 - pad)), min(h, int(np.ceil(y1 + pad)))
    return img[top:bottom, max(0, int(x0 - pad)):min(w, int(np.ceil(x1 + pad)))]


def build_scenario(browser: Browser, scenes: Scenes, name: str, out: Path, pages: int, crops: int, seed: int) -> dict:
    """Render one scenario's page set and crop set under out/name; returns counts."""
    rng = random.Random(f"{seed}-{name}")
    page_dir, crop_dir = out / name / "pages", out / name / "crops"
    for folder in (page_dir, crop_dir):
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
    page_rows, crop_rows = [], []
    n = 0
    while len(page_rows) < pages or len(crop_rows) < crops:
        spec = getattr(scenes, name)(rng)
        img, lines = browser.render(spec)
        pts = np.stack([p for _, p in lines]) if lines else np.zeros((0, 4, 2))
        if spec.degrade:
            img, pts = spec.degrade(img, pts, rng)
        texts = [t for t, _ in lines]
        if len(page_rows) < pages:
            image = f"p{n:03d}{spec.ext}"
            _write(page_dir / image, img)
            page_rows.append({"image": image, "lines": [
                {"points": np.round(p, 1).tolist(), "text": t} for t, p in zip(texts, pts)]})
        else:
            for t, p in zip(texts, pts):
                if len(crop_rows) < crops:
                    image = f"c{len(crop_rows):03d}.png"
                    _write(crop_dir / image, _crop(img, p))
                    crop_rows.append({"image": image, "text": t})
        n += 1
    for folder, rows in ((page_dir, page_rows), (crop_dir, crop_rows)):
        (folder / "manifest.jsonl").write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows),
                                               encoding="utf-8")
    return {"scenario": name, "pages": len(page_rows), "page_lines": sum(len(r["lines"]) for r in page_rows),
            "crops": len(crop_rows)}


def build(out: Path, pages: int, crops: int, seed: int, only: list[str] | None = None) -> list[dict]:
    fonts = discover_fonts(held_out=True)
    scenes = Scenes(fonts, TextSampler(load_charset(CHARSET), held_out=True))
    browser = Browser(scenes.font_face_css())
    try:
        return [build_scenario(browser, scenes, name, out, pages, crops, seed) for name in (only or Scenes.NAMES)]
    finally:
        browser.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "suites")
    ap.add_argument("--pages", type=int, default=6, help="pages per scenario")
    ap.add_argument("--crops", type=int, default=40, help="line crops per scenario")
    ap.add_argument("--seed", type=int, default=8)
    ap.add_argument("--only", nargs="+", choices=Scenes.NAMES)
    args = ap.parse_args()
    for row in build(args.out, args.pages, args.crops, args.seed, args.only):
        print(json.dumps(row))


if __name__ == "__main__":
    main()
