"""Real HTTP against a real server: good uploads, each bad-input class, concurrency, expiry."""

import io
from concurrent.futures import ThreadPoolExecutor

import httpx
import numpy as np
import pytest
from PIL import Image

from facemask_rcnn.serve.app import ResultStore


def jpeg(width=96, height=80, colour=(120, 140, 160)):
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), colour).save(buffer, "JPEG", quality=95)
    return buffer.getvalue()


def post(base, data, name="photo.jpg", **form):
    return httpx.post(f"{base}/predict", files={"file": (name, data)}, data=form, timeout=60)


def healthy(base):
    return httpx.get(f"{base}/health", timeout=10).json()["status"] == "ok"


def test_good_image_gives_instances_and_an_overlay(server, trained):
    _, data = trained
    photo = sorted((data / "val").glob("*.jpg"))[0].read_bytes()
    response = post(server, photo, min_score="0.05")
    assert response.status_code == 200
    body = response.json()
    assert body["success"] is True and 0 <= body["percent_masked"] <= 100
    assert isinstance(body["instances"], list)
    for inst in body["instances"]:
        assert set(inst) >= {"category_name", "score", "bbox", "area", "segmentation"}
        assert inst["score"] >= 0.05
    overlay = httpx.get(server + body["result_url"], timeout=10)
    assert overlay.status_code == 200 and overlay.headers["content-type"] == "image/jpeg"
    assert Image.open(io.BytesIO(overlay.content)).size == (96, 96)


def _bomb():
    buffer = io.BytesIO()
    Image.new("1", (5000, 5000)).save(buffer, "PNG")  # 25 MP in a few kB
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("make", "name", "status", "message"),
    [
        (lambda: b"\xff" * (1024 * 1024 + 10), "big.jpg", 413, "over the 1 MB limit"),
        (_bomb, "bomb.png", 400, "over the 4000000 pixel limit"),
        (lambda: b"hello, this is plain text", "fake.jpg", 415, "not an image"),
        (lambda: jpeg()[:400], "cut.jpg", 400, "truncated or corrupt image"),
        (lambda: b"%PDF-1.4 plain text pretending", "photo.png", 415, "not an image"),
    ],
)
def test_bad_uploads_get_their_status_and_server_stays_healthy(server, make, name, status, message):
    response = post(server, make(), name)
    assert response.status_code == status
    body = response.json()
    assert body["success"] is False and message in body["error"] and "\n" not in body["error"]
    assert healthy(server)


def test_twenty_concurrent_uploads_get_their_own_results(server):
    colours = [(10 * i, 255 - 10 * i, 128) for i in range(20)]
    sizes = [(64 + 4 * i, 48 + 2 * i) for i in range(20)]

    def one(i):
        return post(server, jpeg(*sizes[i], colours[i]), min_score="0.99").json()

    with ThreadPoolExecutor(max_workers=20) as pool:
        results = list(pool.map(one, range(20)))
    ids = [r["result_url"] for r in results]
    assert all(r["success"] for r in results) and len(set(ids)) == 20
    for i, url in enumerate(ids):
        image = Image.open(io.BytesIO(httpx.get(server + url, timeout=10).content))
        assert image.size == sizes[i]
        assert np.abs(np.asarray(image, float).mean(axis=(0, 1)) - colours[i]).max() < 12


def test_results_are_only_served_by_id(server):
    assert httpx.get(f"{server}/results/{'0' * 32}.jpg").status_code == 404
    assert httpx.get(f"{server}/results/..%2F..%2Fetc%2Fpasswd").status_code == 404
    assert httpx.get(f"{server}/docs").status_code == 200
    page = httpx.get(f"{server}/")
    assert page.status_code == 200 and 'type="file"' in page.text


def test_result_store_keeps_newest_and_expires(tmp_path):
    store = ResultStore(tmp_path, keep=2, ttl=3600)
    ids = [store.add(Image.new("RGB", (4, 4))) for _ in range(3)]
    assert store.path(ids[0]) is None and store.path(ids[2]) is not None
    assert store.path("../../x") is None
    ResultStore(tmp_path, keep=2, ttl=-1).prune()
    assert list(tmp_path.glob("*.jpg")) == []


def test_the_shipped_pipeline_serves_a_bare_face_and_any_photo_shape(tmp_path):
    from fastapi.testclient import TestClient
    from skimage import data

    from facemask_rcnn.serve import create_app
    from facemask_rcnn.shipped import load_predictor

    buffer = io.BytesIO()
    Image.fromarray(data.astronaut()).save(buffer, "JPEG")
    app = create_app(load_predictor(), max_upload_mb=2, results=tmp_path)
    with TestClient(app) as client:
        response = client.post("/predict", files={"file": ("astronaut.jpg", buffer.getvalue())})
        assert response.status_code == 200
        assert response.json()["faces"]["faces"] == response.json()["faces"]["bare"] == 1
        for width, height in ((4000, 3), (3, 4000), (1, 1)):
            strip = client.post("/predict", files={"file": ("s.jpg", jpeg(width, height))})
            assert strip.status_code == 200 and strip.json()["faces"]["faces"] == 0


def _multipart_head(boundary: bytes) -> bytes:
    return (
        b"--" + boundary + b'\r\nContent-Disposition: form-data; name="file"; filename="x.jpg"'
        b"\r\nContent-Type: image/jpeg\r\n\r\n"
    )


def test_a_1gb_chunked_upload_is_cut_off_after_the_limit(tmp_path):
    """The ASGI app itself, fed a 1 GB body without Content-Length, 64 KiB at a time: it pulls
    about the limit's worth, answers 413, and never sees the rest."""
    import asyncio

    from facemask_rcnn.config import Config
    from facemask_rcnn.inference import Predictor
    from facemask_rcnn.serve import create_app
    from tests.conftest import BrightEngine

    app = create_app(Predictor(BrightEngine(), Config()), max_upload_mb=1, results=tmp_path)
    chunk, total = 64 * 1024, 1024**3
    boundary = b"x" * 16
    pulled, sent = 0, []

    async def receive():
        nonlocal pulled
        body = _multipart_head(boundary) if pulled == 0 else b"\xff" * chunk
        pulled += len(body)
        return {"type": "http.request", "body": body, "more_body": pulled < total}

    async def send(message):
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/predict",
        "raw_path": b"/predict",
        "query_string": b"",
        "root_path": "",
        "headers": [
            (b"content-type", b"multipart/form-data; boundary=" + boundary),
            (b"transfer-encoding", b"chunked"),
        ],
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 80),
    }
    asyncio.run(app(scope, receive, send))
    assert sent[0]["type"] == "http.response.start" and sent[0]["status"] == 413
    assert b"over the 1 MB limit" in sent[1]["body"]
    assert 1024**2 < pulled <= 1024**2 + 2 * chunk  # about the limit, not the gigabyte


def test_a_declared_1gb_upload_is_refused_before_its_body(server):
    import socket

    host, port = server.removeprefix("http://").split(":")
    boundary = b"y" * 16
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(
            b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Length: 1073741824\r\n"
            b"Content-Type: multipart/form-data; boundary=" + boundary + b"\r\n\r\n"
            + _multipart_head(boundary)
        )  # fmt: skip
        reply = b""
        while chunk := sock.recv(4096):  # the server closes the connection after its answer
            reply += chunk
    assert reply.startswith(b"HTTP/1.1 413") and b"over the 1 MB limit" in reply
    assert healthy(server)


def test_a_faces_model_answers_with_face_counts_and_a_sentence(tmp_path):
    from fastapi.testclient import TestClient

    from facemask_rcnn.serve import create_app
    from tests.conftest import faces_photo, faces_predictor

    app = create_app(faces_predictor(), max_upload_mb=1, max_pixels=4_000_000, results=tmp_path)
    photo = io.BytesIO()
    Image.fromarray(faces_photo()).save(photo, "PNG")
    with TestClient(app) as client:
        response = client.post("/predict", files={"file": ("group.png", photo.getvalue())})
    body = response.json()
    assert response.status_code == 200 and body["summary"] == "1 of 2 faces masked"
    assert body["faces"] == {
        "faces": 2,
        "masked": 1,
        "incorrect": 0,
        "bare": 1,
        "share_masked": 0.5,
    }
    assert [i["status"] for i in body["instances"]] == ["masked", "bare"]
    assert body["instances"][1]["segmentation"] is None
