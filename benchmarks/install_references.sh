#!/bin/sh
# The reference systems for benchmarks/run_benchmarks.py (never lineocr's default): Debian's Tesseract 5 with the
# Simplified Chinese and English models. Python parts (rapidocr: PP-OCRv6 small ONNX inside the wheel, tesserocr,
# matplotlib) come with `pip install -e '.[bench]'`. Run as root (or with sudo).
set -e
apt-get update
apt-get install -y --no-install-recommends tesseract-ocr tesseract-ocr-chi-sim tesseract-ocr-eng
tesseract --version | head -1
tesseract --list-langs
