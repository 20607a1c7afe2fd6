# lineocr OCR service: REST API + web page on port 5000, onnxruntime on the CPU (README, "Service").
FROM python:3.11-slim

# kenlm builds from source during the install and needs a C++ compiler (README, "The two commands").
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends build-essential \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /app
COPY . .
RUN pip install --no-cache-dir -e '.[serve]' \
    && useradd --system --no-create-home lineocr

ENV DEVICE=cpu \
    MAX_IMAGE_WIDTH=1200 \
    PYTHONUNBUFFERED=1
USER lineocr
EXPOSE 5000
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:5000/healthz', timeout=4)"]
CMD ["python", "run_pipeline.py", "serve", "--host", "0.0.0.0", "--port", "5000"]
