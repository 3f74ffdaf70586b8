"""A real uvicorn server on a free loopback port, serving the tiny trained model."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest
import uvicorn

from facemask_rcnn.inference import Predictor
from facemask_rcnn.serve import create_app


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(trained, tmp_path_factory) -> Iterator[str]:
    checkpoint, _ = trained
    predictor = Predictor.from_checkpoint(checkpoint, min_score=0.05)
    results = tmp_path_factory.mktemp("results")
    app = create_app(predictor, max_upload_mb=1, max_pixels=4_000_000, keep=100, results=results)
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")
    instance = uvicorn.Server(config)
    thread = threading.Thread(target=instance.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not instance.started:
        assert time.monotonic() < deadline, "server did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    instance.should_exit = True
    thread.join(timeout=10)
