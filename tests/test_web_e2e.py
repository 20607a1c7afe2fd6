"""The web page in headless Chromium (Debian's chromium + chromium-driver, driven by Selenium): upload by file
picker, paste and drop; the boxes and text shown are the API's answer; hovering links a box and its line; copy,
download JSON and error messages. Skipped only when Chromium or its driver is not installed."""
from __future__ import annotations

import base64
import json
import shutil
import time
import urllib.request
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import WebDriverWait

from pipeline.service import Settings, create_app
from tests.service_helpers import THREADS, label_config, serving

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "examples" / "sample_page.png"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync", "--window-size=1400,1000")

pytestmark = pytest.mark.skipif(not (CHROMIUM and CHROMEDRIVER),
                                reason="needs Debian's chromium and chromium-driver (installed by .ci/run)")


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}")
    driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
    yield driver
    driver.quit()


@pytest.fixture(scope="module")
def real_server():
    with serving(create_app(Settings(sets=tuple(THREADS), workers=1))) as base:
        yield base


@pytest.fixture(scope="module")
def labelled_server():
    with serving(create_app(Settings(config=label_config(), workers=1))) as base:
        yield base


def api(base: str, image: bytes) -> dict:
    data = json.dumps({"image_base64": base64.b64encode(image).decode()}).encode()
    request = urllib.request.Request(base + "/api/v1/ocr", data=data, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.load(response)


def open_page(driver: WebDriver, base: str) -> None:
    driver.get(base + "/")
    WebDriverWait(driver, 10).until(lambda d: "megapixels" in d.find_element(By.ID, "limits").text)


def finished(driver: WebDriver) -> str:
    WebDriverWait(driver, 60).until(lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-state")
                                    in ("done", "error"))
    return driver.find_element(By.TAG_NAME, "body").get_attribute("data-state")


def upload(driver: WebDriver, path: Path) -> str:
    driver.execute_script("document.body.dataset.state = 'idle'")  # so the previous answer is not taken for this one
    driver.find_element(By.ID, "file").send_keys(str(path))
    return finished(driver)


def to_fixed(x: float, digits: int = 1) -> str:
    """`x.toFixed(digits)` as JavaScript writes it: the double's exact value rounded, a tie upwards (98.25 -> 98.3,
    where Python's format rounds a tie to even: 98.2)."""
    return str(Decimal(x).quantize(Decimal(1).scaleb(-digits), rounding=ROUND_HALF_UP))


def shown(driver: WebDriver) -> tuple[list[str], list[str], list[str]]:
    """(polygon points, line texts, confidences) as the page shows them."""
    polygons = [p.get_attribute("points") for p in driver.find_elements(By.CSS_SELECTOR, "#overlay polygon")]
    texts = [e.text for e in driver.find_elements(By.CSS_SELECTOR, "#lines li .text")]
    confidences = [e.text for e in driver.find_elements(By.CSS_SELECTOR, "#lines li .conf")]
    return polygons, texts, confidences


def test_upload_shows_the_boxes_and_text_of_the_answer(browser, real_server, tmp_path):
    open_page(browser, real_server)
    assert upload(browser, PAGE) == "done"
    browser.save_screenshot(str(tmp_path / "page.png"))
    expected = api(real_server, PAGE.read_bytes())
    polygons, texts, confidences = shown(browser)
    assert polygons == [" ".join(f"{x},{y}" for x, y in line["points"]) for line in expected["lines"]]
    assert texts == expected["result"]
    assert confidences == [f"{to_fixed(100 * line['confidence'])}%" for line in expected["lines"]]
    assert browser.find_element(By.ID, "empty").is_displayed() == (not expected["lines"])
    assert browser.find_element(By.ID, "summary").text.startswith(f"{len(expected['lines'])} line")
    assert browser.find_element(By.ID, "overlay").get_dom_attribute("viewBox") == "0 0 1000 720"
    natural_width = "return document.getElementById('image').naturalWidth"
    WebDriverWait(browser, 10).until(lambda d: d.execute_script(natural_width) == 1000)


def test_hovering_a_box_or_a_line_highlights_both(browser, labelled_server):
    open_page(browser, labelled_server)
    assert upload(browser, PAGE) == "done"
    polygons = browser.find_elements(By.CSS_SELECTOR, "#overlay polygon")
    items = browser.find_elements(By.CSS_SELECTOR, "#lines li")
    assert len(polygons) == len(items) >= 8
    texts = [item.find_element(By.CLASS_NAME, "text").text for item in items]
    assert texts == [f"line {i + 1}" for i in range(len(items))]

    def active() -> tuple[list[int], list[int]]:
        return ([i for i, p in enumerate(polygons) if "active" in (p.get_attribute("class") or "")],
                [i for i, li in enumerate(items) if "active" in (li.get_attribute("class") or "")])

    ActionChains(browser).move_to_element(polygons[2]).perform()
    assert active() == ([2], [2])
    ActionChains(browser).move_to_element(items[5]).perform()
    assert active() == ([5], [5])
    ActionChains(browser).move_to_element(browser.find_element(By.TAG_NAME, "h1")).perform()
    assert active() == ([], [])


SEND_GENERATED_IMAGE = """
const [eventType, done] = [arguments[0], arguments[arguments.length - 1]];
const canvas = document.createElement("canvas");
canvas.width = 480; canvas.height = 120;
const ctx = canvas.getContext("2d");
ctx.fillStyle = "#fff"; ctx.fillRect(0, 0, 480, 120);
ctx.fillStyle = "#000"; ctx.font = "40px sans-serif"; ctx.fillText("Invoice 2026", 20, 75);
canvas.toBlob((blob) => {
  const data = new DataTransfer();
  data.items.add(new File([blob], "generated.png", {type: "image/png"}));
  if (eventType === "paste") document.dispatchEvent(new ClipboardEvent("paste", {clipboardData: data, bubbles: true}));
  else document.getElementById("drop").dispatchEvent(
    new DragEvent("drop", {dataTransfer: data, bubbles: true, cancelable: true}));
  done();
}, "image/png");
"""


@pytest.mark.parametrize("event", ["paste", "drop"])
def test_paste_and_drop_send_the_image(browser, labelled_server, event):
    open_page(browser, labelled_server)
    browser.execute_async_script(SEND_GENERATED_IMAGE, event)
    assert finished(browser) == "done"
    assert browser.find_element(By.ID, "overlay").get_dom_attribute("viewBox") == "0 0 480 120"
    polygons, texts, _ = shown(browser)
    assert len(polygons) == len(texts) >= 1


def test_copy_text_and_download_json(browser, labelled_server, tmp_path):
    browser.execute_cdp_cmd("Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(tmp_path)})
    browser.execute_cdp_cmd("Browser.grantPermissions", {
        "origin": labelled_server, "permissions": ["clipboardReadWrite", "clipboardSanitizedWrite"]})
    open_page(browser, labelled_server)
    assert upload(browser, PAGE) == "done"
    browser.find_element(By.ID, "copy").click()
    WebDriverWait(browser, 5).until(lambda d: d.find_element(By.ID, "copy").text == "Copied ✓")
    copied = browser.execute_async_script(
        "navigator.clipboard.readText().then(arguments[0], (e) => arguments[0](String(e)))")
    expected = api(labelled_server, PAGE.read_bytes())
    assert copied == "\n".join(expected["result"])
    browser.find_element(By.ID, "download").click()
    target = tmp_path / "sample_page.ocr.json"
    deadline = time.monotonic() + 10
    while not target.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    saved = json.loads(target.read_text(encoding="utf-8"))
    assert (saved["result"], saved["lines"], saved["width"]) == (expected["result"], expected["lines"], 1000)


def test_errors_are_shown_in_plain_words(browser, real_server, tmp_path):
    open_page(browser, real_server)
    broken = tmp_path / "broken.png"
    broken.write_bytes(PAGE.read_bytes()[:4000])
    assert upload(browser, broken) == "error"
    error = browser.find_element(By.ID, "error")
    assert error.is_displayed() and "truncated" in error.text and "invalid_image" in error.text
    browser.save_screenshot(str(tmp_path / "error.png"))
    text = tmp_path / "notes.txt"
    text.write_text("not an image")
    assert upload(browser, text) == "error"
    assert "not an image" in browser.find_element(By.ID, "error").text.lower()
    assert upload(browser, PAGE) == "done"
    assert not browser.find_element(By.ID, "error").is_displayed()
