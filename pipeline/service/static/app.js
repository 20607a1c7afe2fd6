// lineocr web page: send an image to POST /api/v1/ocr, draw each line's polygon over the image, list the text.
"use strict";

const $ = (id) => document.getElementById(id);
const SVG_NS = "http://www.w3.org/2000/svg";
const FORMATS = "PNG, JPEG, TIFF, WebP, BMP or GIF";
let maxBody = null;       // bytes, from /healthz
let pending = null;       // the XMLHttpRequest in flight
let imageUrl = null;      // object URL of the shown image
let last = null;          // {name, response} of the last result
const ERROR_TITLES = {
  invalid_option: "The options were refused",
  busy: "The server is busy",
  payload_too_large: "The file is too large",
  image_too_large: "The image is too large",
};

function setState(state) {
  document.body.dataset.state = state;
}

function showError(message, code, title = "Could not read the image") {
  $("error-title").textContent = title;
  $("error-message").textContent = message;
  $("error-code").textContent = code ? `(${code})` : "";
  $("error").hidden = false;
  $("progress").hidden = true;
  setState("error");
}

function showProgress(text, percent) {
  $("progress").hidden = false;
  $("status").textContent = text;
  if (percent === null) $("bar").removeAttribute("value");
  else $("bar").value = percent;
}

function formatBytes(n) {
  return n >= 1048576 ? `${(n / 1048576).toFixed(1)} MB` : `${Math.ceil(n / 1024)} KB`;
}

function options() {
  const out = {};
  const allowed = $("allowed").value;
  if (allowed) out["decode.allowed_chars"] = allowed;
  if ($("single").checked) out["detect.type"] = "whole";
  return out;
}

function send(file) {
  if (!file) return;
  $("error").hidden = true;
  $("result").hidden = true;
  if (maxBody !== null && file.size > maxBody) {
    showError(`The file is ${formatBytes(file.size)}; this server accepts up to ${formatBytes(maxBody)}.`,
      "payload_too_large", "The file is too large");
    return;
  }
  if (file.type && !file.type.startsWith("image/")) {
    showError(`"${file.name}" is not an image (${file.type}). Send a ${FORMATS} file.`,
      "unsupported_format", "Not an image");
    return;
  }
  if (pending) pending.abort();
  const form = new FormData();
  form.append("image", file, file.name || "pasted-image");
  const opts = options();
  if (Object.keys(opts).length) form.append("options", JSON.stringify(opts));

  const xhr = new XMLHttpRequest();
  pending = xhr;
  const started = performance.now();
  setState("working");
  showProgress("Uploading…", 0);
  xhr.upload.onprogress = (e) => {
    if (e.lengthComputable) showProgress(`Uploading… ${Math.round((100 * e.loaded) / e.total)}%`, (100 * e.loaded) / e.total);
  };
  xhr.upload.onload = () => showProgress("Recognizing text…", null);
  xhr.onerror = () => { pending = null; showError("The server could not be reached. Is it still running?", "network_error"); };
  xhr.onload = () => {
    pending = null;
    let body = null;
    try { body = JSON.parse(xhr.responseText); } catch (_) { /* not JSON: reported below */ }
    if (xhr.status === 200 && body && body.success) {
      show(file, body, performance.now() - started);
    } else if (body && body.error) {
      showError(body.error.message, body.error.code, ERROR_TITLES[body.error.code]);
    } else {
      showError(`The server answered HTTP ${xhr.status} ${xhr.statusText}.`, "http_error");
    }
  };
  xhr.open("POST", "/api/v1/ocr");
  xhr.send(form);
}

function confidenceClass(c) {
  return c >= 0.9 ? "good" : c >= 0.6 ? "fair" : "poor";
}

function setActive(index, scroll) {
  for (const el of document.querySelectorAll(".active")) el.classList.remove("active");
  if (index < 0) return;
  const item = $("lines").children[index];
  $("overlay").children[index].classList.add("active");
  item.classList.add("active");
  if (scroll) item.scrollIntoView({ block: "nearest" });
}

function show(file, response, elapsedMs) {
  last = { name: (file.name || "pasted-image").replace(/\.[^.]*$/, ""), response };
  if (imageUrl) URL.revokeObjectURL(imageUrl);
  imageUrl = URL.createObjectURL(file);
  const img = $("image");
  img.hidden = false;
  img.onerror = () => { img.hidden = true; };  // e.g. TIFF: the boxes are still drawn on a blank page
  img.src = imageUrl;
  $("figure").style.aspectRatio = `${response.width} / ${response.height}`;

  const svg = $("overlay");
  svg.setAttribute("viewBox", `0 0 ${response.width} ${response.height}`);
  svg.replaceChildren();
  const list = $("lines");
  list.replaceChildren();
  response.lines.forEach((line, i) => {
    const poly = document.createElementNS(SVG_NS, "polygon");
    poly.setAttribute("points", line.points.map((p) => p.join(",")).join(" "));
    const title = document.createElementNS(SVG_NS, "title");
    title.textContent = `${line.text} (${(100 * line.confidence).toFixed(0)}%)`;
    poly.append(title);
    poly.addEventListener("mouseenter", () => setActive(i, true));
    poly.addEventListener("mouseleave", () => setActive(-1));
    svg.append(poly);

    const item = document.createElement("li");
    const text = document.createElement("span");
    text.className = "text";
    text.textContent = line.text;
    const conf = document.createElement("span");
    conf.className = `conf ${confidenceClass(line.confidence)}`;
    conf.textContent = `${(100 * line.confidence).toFixed(1)}%`;
    conf.title = "confidence";
    item.append(text, conf);
    item.addEventListener("mouseenter", () => setActive(i, false));
    item.addEventListener("mouseleave", () => setActive(-1));
    list.append(item);
  });
  $("empty").hidden = response.lines.length > 0;
  const n = response.lines.length;
  $("summary").textContent = `${n} line${n === 1 ? "" : "s"} · ${response.width}×${response.height} px · ` +
    `OCR ${response.cost_time_ms} ms (round trip ${Math.round(elapsedMs)} ms)`;
  $("progress").hidden = true;
  $("result").hidden = false;
  setState("done");
}

async function copyText() {
  if (!last) return;
  const text = last.response.result.join("\n");
  const button = $("copy");
  try {
    await navigator.clipboard.writeText(text);
  } catch (_) {  // no clipboard API (plain http on another host): copy through a selection
    const area = document.createElement("textarea");
    area.value = text;
    document.body.append(area);
    area.select();
    const ok = document.execCommand("copy");
    area.remove();
    if (!ok) { showError("The browser refused to copy; select the text and copy it by hand.", null, "Copy failed"); return; }
  }
  button.textContent = "Copied ✓";
  setTimeout(() => { button.textContent = "Copy text"; }, 1500);
}

function downloadJson() {
  if (!last) return;
  const blob = new Blob([JSON.stringify(last.response, null, 2)], { type: "application/json" });
  const link = document.createElement("a");
  link.href = URL.createObjectURL(blob);
  link.download = `${last.name}.ocr.json`;
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(link.href), 1000);
}

function firstImage(items) {
  for (const item of items || []) {
    if (item.kind === "file") {
      const file = item.getAsFile();
      if (file && (!file.type || file.type.startsWith("image/"))) return file;
    }
  }
  return null;
}

function init() {
  const drop = $("drop");
  const input = $("file");
  drop.addEventListener("click", (e) => { if (!e.target.closest("label, input")) input.click(); });
  drop.addEventListener("keydown", (e) => { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); input.click(); } });
  input.addEventListener("change", () => { send(input.files[0]); input.value = ""; });
  for (const type of ["dragenter", "dragover"]) {
    drop.addEventListener(type, (e) => { e.preventDefault(); drop.classList.add("over"); });
  }
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (e) => {
    e.preventDefault();
    drop.classList.remove("over");
    const files = e.dataTransfer && e.dataTransfer.files;
    if (files && files.length) send(files[0]);
  });
  window.addEventListener("dragover", (e) => e.preventDefault());  // a missed drop must not navigate away
  window.addEventListener("drop", (e) => e.preventDefault());
  document.addEventListener("paste", (e) => {
    const file = firstImage(e.clipboardData && e.clipboardData.items);
    if (file) { e.preventDefault(); send(file); }
    else if (!e.target.closest("input")) {
      showError("The clipboard holds no image. Copy an image (or a screenshot) and paste again.", null, "Nothing to read");
    }
  });
  $("copy").addEventListener("click", copyText);
  $("download").addEventListener("click", downloadJson);
  fetch("/healthz").then((r) => r.json()).then((h) => {
    maxBody = h.max_body_bytes;
    $("limits").textContent = `${FORMATS} · up to ${formatBytes(h.max_body_bytes)} and ` +
      `${(h.max_pixels / 1e6).toFixed(0)} megapixels`;
  }).catch(() => { /* the limits line keeps its default text; the server still enforces them */ });
}

init();
