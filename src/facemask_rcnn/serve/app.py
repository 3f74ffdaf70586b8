"""FastAPI app: POST an image, get instances, percent masked and an overlay under a random id.

Uploads are bounded (size, pixels), checked by content (not by name), and decoded fully before
the model sees them; the model runs in a worker thread, one request at a time, so the event
loop stays responsive. Overlays expire (newest ``keep`` within ``ttl`` seconds are kept).
"""

from __future__ import annotations

import io
import re
import tempfile
import threading
import time
import uuid
import warnings
from pathlib import Path
from typing import Annotated, Any

from fastapi import FastAPI, File, Form, Request, UploadFile
from fastapi.responses import FileResponse, JSONResponse
from PIL import Image, UnidentifiedImageError
from starlette.concurrency import run_in_threadpool

from ..predict import Prediction, Predictor, overlay

STATIC = Path(__file__).parent / "static"
RESULT_ID = re.compile(r"^[0-9a-f]{32}$")


class UploadError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


def decode_upload(data: bytes, max_pixels: int) -> Image.Image:
    """RGB image from uploaded bytes; UploadError 415 (not an image) or 400 (bomb, truncated)."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            image = Image.open(io.BytesIO(data))
            if image.width * image.height > max_pixels:
                size = f"{image.width}x{image.height}"
                raise UploadError(400, f"image of {size} pixels is over the {max_pixels} limit")
            image.load()
            return image.convert("RGB")
        except UploadError:
            raise
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as err:
            raise UploadError(400, f"image too large to decode safely: {err}") from err
        except UnidentifiedImageError as err:
            raise UploadError(
                415, "not an image this server can read (JPEG, PNG, WebP, BMP…)"
            ) from err
        except (OSError, SyntaxError, ValueError) as err:
            raise UploadError(400, f"truncated or corrupt image: {err}") from err


class ResultStore:
    """Overlay JPEGs under random ids; keeps the newest ``keep`` within ``ttl`` seconds."""

    def __init__(self, folder: Path, keep: int, ttl: float) -> None:
        self.folder, self.keep, self.ttl = folder, keep, ttl
        self.folder.mkdir(parents=True, exist_ok=True)
        self.lock = threading.Lock()

    def add(self, image: Image.Image) -> str:
        result_id = uuid.uuid4().hex
        image.save(self.folder / f"{result_id}.jpg", quality=90)
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


def describe(prediction: Prediction) -> list[dict[str, Any]]:
    return [
        {
            "label": label,
            "score": round(float(score), 4),
            "box": [round(float(v), 1) for v in box],
            "area": int(mask.sum()),
        }
        for label, score, box, mask in zip(
            prediction.labels, prediction.scores, prediction.boxes, prediction.masks, strict=True
        )
    ]


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
    limit = int(max_upload_mb * 1024 * 1024)
    default_score = predictor.min_score

    def error(status: int, message: str) -> JSONResponse:
        return JSONResponse({"success": False, "error": message}, status_code=status)

    def run(image: Image.Image, min_score: float) -> tuple[Prediction, str]:
        with model_lock:
            prediction = predictor.predict(image)
        keep_mask = prediction.scores >= min_score
        prediction = Prediction(
            prediction.boxes[keep_mask],
            prediction.scores[keep_mask],
            [label for label, k in zip(prediction.labels, keep_mask, strict=True) if k],
            prediction.masks[keep_mask],
            prediction.seconds,
        )
        return prediction, store.add(overlay(image, prediction))

    @app.get("/", include_in_schema=False)
    def page() -> FileResponse:
        return FileResponse(STATIC / "index.html")

    @app.get("/health")
    def health() -> dict[str, Any]:
        return {"status": "ok", "classes": predictor.class_names, "device": str(predictor.device)}

    @app.post("/predict")
    async def predict(
        request: Request,
        file: Annotated[UploadFile, File()],
        min_score: Annotated[float | None, Form()] = None,
    ) -> JSONResponse:
        declared = int(request.headers.get("content-length") or 0)
        if declared > limit + 64 * 1024:
            return error(413, f"upload over the {max_upload_mb:g} MB limit")
        data = await file.read(limit + 1)
        if len(data) > limit:
            return error(413, f"upload over the {max_upload_mb:g} MB limit")
        try:
            image = await run_in_threadpool(decode_upload, data, max_pixels)
        except UploadError as err:
            return error(err.status, err.message)
        threshold = default_score if min_score is None else max(min_score, default_score)
        prediction, result_id = await run_in_threadpool(run, image, threshold)
        return JSONResponse(
            {
                "success": True,
                "percent_masked": round(prediction.percent_masked, 3),
                "instances": describe(prediction),
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
