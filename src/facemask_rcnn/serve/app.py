"""FastAPI app: POST an image, get instances, percent masked and an overlay under a random id.

Uploads are bounded (size, pixels), checked by content (not by name), and decoded fully before
the model sees them; the model runs in a worker thread, one request at a time, so the event
loop stays responsive. Overlays expire (newest ``keep`` within ``ttl`` seconds are kept).
"""

from __future__ import annotations

import json
import re
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Annotated, Any

from fastapi import FastAPI, File, Form, UploadFile
from fastapi.responses import FileResponse, JSONResponse
from PIL import Image
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..data.images import ImageError, read_image
from ..fileio import save_image
from ..inference import Prediction, Predictor, overlay

STATIC = Path(__file__).parent / "static"
RESULT_ID = re.compile(r"^[0-9a-f]{32}$")


class UploadError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


def decode_upload(data: bytes, max_pixels: int) -> Image.Image:
    """RGB image from uploaded bytes (the CLI's reader: EXIF orientation, every mode);
    UploadError 415 (not an image) or 400 (over the pixel limit, truncated, corrupt)."""
    try:
        return read_image(data, max_pixels)
    except ImageError as err:
        status = 415 if err.kind == "unsupported" else 400
        reason = "not an image this server can read" if status == 415 else err.reason
        raise UploadError(status, reason) from err


class _TooLarge(Exception):
    """Raised inside the request body stream once it passes the upload limit."""


class UploadLimit:
    """ASGI middleware: refuses a request body over ``limit`` bytes while it streams in.

    A declared Content-Length over the limit is answered before the body is read; a chunked
    body (no length) is counted as it arrives and cut off once past the limit, so neither memory
    nor the multipart spool file ever holds more than about ``limit`` bytes.
    """

    def __init__(self, app: ASGIApp, limit: int, message: str) -> None:
        self.app, self.limit, self.message = app, limit, message

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > self.limit:
            await self._refuse(send)
            return
        received, over, answered = 0, False, False

        async def counted() -> Message:
            nonlocal received, over
            message = await receive()
            received += len(message.get("body", b""))
            if received > self.limit:
                over = True
                raise _TooLarge
            return message

        async def guarded(message: Message) -> None:
            nonlocal answered
            if over:  # the app turned the cut-off body into an answer of its own: ours instead
                if not answered:
                    await self._refuse(send)
                answered = True
                return
            answered = answered or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted, guarded)
        except _TooLarge:
            if not answered:
                await self._refuse(send)

    async def _refuse(self, send: Send) -> None:
        body = json.dumps({"success": False, "error": self.message}).encode()
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"connection", b"close"),
        ]
        await send({"type": "http.response.start", "status": 413, "headers": headers})
        await send({"type": "http.response.body", "body": body})


class ResultStore:
    """Overlay JPEGs under random ids; keeps the newest ``keep`` within ``ttl`` seconds."""

    def __init__(self, folder: Path, keep: int, ttl: float) -> None:
        self.folder, self.keep, self.ttl = folder, keep, ttl
        self.folder.mkdir(parents=True, exist_ok=True)
        self.lock = threading.Lock()

    def add(self, image: Image.Image) -> str:
        result_id = uuid.uuid4().hex
        save_image(image, self.folder / f"{result_id}.jpg", quality=90)
        self.prune()
        return result_id

    def prune(self) -> None:
        with self.lock:
            files = sorted(self.folder.glob("*.jpg"), key=lambda p: p.stat().st_mtime, reverse=True)
            now = time.time()
            for i, path in enumerate(files):
                if i >= self.keep or now - path.stat().st_mtime > self.ttl:
                    path.unlink(missing_ok=True)

    def path(self, result_id: str) -> Path | None:
        path = self.folder / f"{result_id}.jpg"
        return path if RESULT_ID.match(result_id) and path.is_file() else None


def create_app(
    predictor: Predictor,
    max_upload_mb: float = 10.0,
    max_pixels: int = 40_000_000,
    keep: int = 200,
    ttl: float = 3600.0,
    results: str | Path | None = None,
) -> FastAPI:
    """The app; ``results`` is where overlays go (a fresh temporary folder by default)."""
    app = FastAPI(title="facemask-rcnn", description="Segment face masks in uploaded photos.")
    store = ResultStore(Path(results or tempfile.mkdtemp(prefix="facemask-results-")), keep, ttl)
    model_lock = threading.Lock()
    app.add_middleware(
        UploadLimit,
        limit=int(max_upload_mb * 1024 * 1024),
        message=f"upload over the {max_upload_mb:g} MB limit",
    )

    def error(status: int, message: str) -> JSONResponse:
        return JSONResponse({"success": False, "error": message}, status_code=status)

    def run(image: Image.Image, min_score: float | None) -> tuple[Prediction, str]:
        with model_lock:
            prediction = predictor.predict(image, min_score)
        return prediction, store.add(overlay(image, prediction))

    @app.get("/", include_in_schema=False)
    def page() -> FileResponse:
        return FileResponse(STATIC / "index.html")

    @app.get("/health")
    def health() -> dict[str, Any]:
        return {"status": "ok", "classes": predictor.class_names, "device": str(predictor.device)}

    @app.post("/predict")
    async def predict(
        file: Annotated[UploadFile, File()],
        min_score: Annotated[float | None, Form()] = None,
    ) -> JSONResponse:
        data = await file.read()
        try:
            image = await run_in_threadpool(decode_upload, data, max_pixels)
        except UploadError as err:
            return error(err.status, err.message)
        prediction, result_id = await run_in_threadpool(run, image, min_score)
        return JSONResponse(
            {
                "success": True,
                "percent_masked": round(prediction.percent_masked, 3),
                **({"faces": prediction.face_counts()} if prediction.task == "faces" else {}),
                "summary": prediction.face_sentence(),
                "instances": prediction.results(predictor.class_names),
                "result_url": f"/results/{result_id}.jpg",
                "width": image.width,
                "height": image.height,
                "seconds": round(prediction.seconds, 3),
            }
        )

    @app.get("/results/{name}", include_in_schema=False)
    def result(name: str) -> Any:
        path = store.path(name.removesuffix(".jpg")) if name.endswith(".jpg") else None
        if path is None:
            return error(404, "no such result (results expire)")
        return FileResponse(path, media_type="image/jpeg")

    return app
