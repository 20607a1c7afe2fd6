"""Helpers for the service tests: a decoder that names every detected line ("line 1", "line 2", ...), so boxes and
text show whatever the shipped recognizer reads (`delay` makes it slow, to fill the worker pool), configs using
it, and a real uvicorn server on a free loopback port in a thread."""
from __future__ import annotations

import socket
import threading
import time
from contextlib import contextmanager
from typing import Any, Iterator

import numpy as np
import uvicorn

from pipeline.config import load_config

THREADS = ["runtime.threads=1"]


class LabelDecoder:
    def __init__(self, delay: float = 0.0) -> None:
        self.delay = delay

    def __call__(self, log_probs: list[np.ndarray]) -> list[tuple[str, float]]:
        time.sleep(self.delay)
        return [(f"line {i + 1}", (0.5, 0.75, 0.99)[i % 3]) for i in range(len(log_probs))]


def label_config(delay: float = 0.0, detect: str = "contour") -> dict[str, Any]:
    """The default config with the labelling decoder (and `detect` type)."""
    config = load_config(None, THREADS)
    config["decode"] = {"type": "tests.service_helpers:LabelDecoder", "delay": delay}
    config["detect"] = {"type": detect}
    return config


@contextmanager
def serving(app: Any) -> Iterator[str]:
    """Serve `app` on 127.0.0.1 (a free port) in a thread; yields the base URL, stops the server on exit."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the test server did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(15)
        sock.close()
