#!/usr/bin/env python3
"""Load test of the OCR service on loopback: starts `run_pipeline.py serve` on a free 127.0.0.1 port, runs
`--clients` concurrent clients posting one image for `--seconds` (or until `--requests` answers), then prints
requests/s, p50/p99 latency and the server's RSS after 100 and after 1,000 answers, and stops the server.

    python benchmarks/bench_service.py [--seconds 60] [--clients 8] [--requests N] [--image PATH]
                                       [--workers N] [--set KEY=VALUE]...

Exit status 1 when a request failed or RSS grew by more than 10% between 100 and 1,000 answers.
"""
from __future__ import annotations

import argparse
import http.client
import json
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RSS_MARKS = (100, 1000)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for process {pid}")


def multipart(image: Path) -> tuple[bytes, str]:
    boundary = "lineocr-bench-boundary"
    head = (f'--{boundary}\r\nContent-Disposition: form-data; name="image"; filename="{image.name}"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n")
    body = head.encode() + image.read_bytes() + f"\r\n--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


def wait_ready(port: int, server: subprocess.Popen, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"the server exited with status {server.returncode}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as response:
                if json.load(response)["status"] == "ok":
                    return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"the server did not answer /healthz within {timeout:.0f} s")


class Load:
    """Clients sharing counters; each keeps one connection open and posts until the deadline or the request cap."""

    def __init__(self, port: int, pid: int, body: bytes, content_type: str, deadline: float, cap: int | None) -> None:
        self.port, self.pid, self.body, self.deadline, self.cap = port, pid, body, deadline, cap
        self.headers = {"Content-Type": content_type, "Content-Length": str(len(body))}
        self.lock = threading.Lock()
        self.started = 0
        self.latencies: list[float] = []
        self.failures: dict[str, int] = {}
        self.rss: dict[int, float] = {}

    def take(self) -> bool:
        with self.lock:
            if time.monotonic() >= self.deadline or (self.cap is not None and self.started >= self.cap):
                return False
            self.started += 1
            return True

    def record(self, seconds: float | None, failure: str | None) -> None:
        with self.lock:
            if failure is None:
                self.latencies.append(seconds)
                if len(self.latencies) in RSS_MARKS:
                    self.rss[len(self.latencies)] = rss_mib(self.pid)
            else:
                self.failures[failure] = self.failures.get(failure, 0) + 1

    def client(self) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=300)
        while self.take():
            t0 = time.perf_counter()
            try:
                conn.request("POST", "/api/v1/ocr", self.body, self.headers)
                response = conn.getresponse()
                payload = response.read()
                ok = response.status == 200 and json.loads(payload)["success"]
                self.record(time.perf_counter() - t0, None if ok else f"HTTP {response.status}")
            except (OSError, http.client.HTTPException, ValueError) as exc:
                self.record(None, type(exc).__name__)
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=300)
        conn.close()


def percentile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1] if len(values) > 1 else values[0]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=60.0, help="how long the clients post (default 60)")
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--requests", type=int, default=None, help="stop after this many requests (default: no cap)")
    ap.add_argument("--image", type=Path, default=ROOT / "examples" / "sample_page.png")
    ap.add_argument("--workers", type=int, default=None, help="the server's OCR threads")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="config override for the server")
    args = ap.parse_args()

    port = free_port()
    command = [sys.executable, str(ROOT / "run_pipeline.py"), "serve", "--host", "127.0.0.1", "--port", str(port)]
    command += [f"--set={item}" for item in args.set] + ([f"--workers={args.workers}"] if args.workers else [])
    body, content_type = multipart(args.image)
    with tempfile.TemporaryFile("w+") as log:
        server = subprocess.Popen(command, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
        try:
            wait_ready(port, server)
            rss_start = rss_mib(server.pid)
            t0 = time.monotonic()
            load = Load(port, server.pid, body, content_type, t0 + args.seconds, args.requests)
            clients = [threading.Thread(target=load.client) for _ in range(args.clients)]
            for thread in clients:
                thread.start()
            for thread in clients:
                thread.join()
            elapsed = time.monotonic() - t0
            rss_end = rss_mib(server.pid)
        except RuntimeError as exc:
            log.seek(0)
            print(f"error: {exc}\n{log.read()}", file=sys.stderr)
            return 1
        finally:
            server.terminate()
            try:
                server.wait(15)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()

    done = load.latencies
    print(f"image {args.image.name} ({len(body)} bytes), {args.clients} clients, {elapsed:.1f} s")
    print(f"answers {len(done)}, failures {sum(load.failures.values())} {load.failures or ''}".rstrip())
    if done:
        print(f"requests/s {len(done) / elapsed:.2f}")
        print(f"latency p50 {1000 * percentile(done, 50):.0f} ms, p99 {1000 * percentile(done, 99):.0f} ms, "
              f"max {1000 * max(done):.0f} ms")
    print(f"server RSS at start {rss_start:.1f} MiB; " + ", ".join(
        f"after {n} answers {load.rss[n]:.1f} MiB" if n in load.rss else f"after {n} answers: not reached"
        for n in RSS_MARKS) + f"; at the end {rss_end:.1f} MiB")
    growth_ok = True
    if all(n in load.rss for n in RSS_MARKS):
        growth = load.rss[1000] / load.rss[100] - 1
        growth_ok = growth <= 0.10
        print(f"RSS growth 100 -> 1000 answers {100 * growth:+.1f}% ({'ok' if growth_ok else 'over'} the 10% bound)")
    return 0 if growth_ok and not load.failures else 1


if __name__ == "__main__":
    sys.exit(main())
