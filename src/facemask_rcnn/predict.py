"""Predictor: a checkpoint → typed predictions, overlays, predictions.json, percent masked.

``Predictor.from_checkpoint(path).predict(image)`` is what the CLI, the server, the notebook and
the evaluator all call; predictions convert to ImageRecords, so every writer (VIA for
correction, COCO) takes them as they take ground truth.
"""

from __future__ import annotations

import glob
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageOps, UnidentifiedImageError
from torchvision.ops import batched_nms

from .config import Config
from .data.records import ImageRecord, Instance, mask_to_rle
from .modeling import load_trained
from .modeling.fold import for_inference

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"}
VIDEO_SUFFIXES = {".mp4", ".avi", ".mov", ".mkv"}
PALETTE = [
    (230, 25, 75),
    (60, 180, 75),
    (0, 130, 200),
    (245, 130, 48),
    (145, 30, 180),
    (70, 240, 240),
    (240, 50, 230),
    (210, 245, 60),
]


@dataclass
class Prediction:
    """Instances found in one image, at the image's own resolution."""

    boxes: np.ndarray  # (N, 4) float x0, y0, x1, y1
    scores: np.ndarray  # (N,)
    labels: list[str]
    masks: np.ndarray  # (N, H, W) bool
    seconds: float = 0.0

    @property
    def percent_masked(self) -> float:
        """Share of the image's pixels covered by any predicted mask, in percent."""
        if len(self.masks) == 0:
            return 0.0
        return float(self.masks.any(axis=0).mean() * 100)

    def to_record(self, path: Path, width: int, height: int) -> ImageRecord:
        """The prediction as an ImageRecord (RLE instances with scores)."""
        instances = [
            Instance(label, rle=mask_to_rle(mask), score=float(score))
            for label, mask, score in zip(self.labels, self.masks, self.scores, strict=True)
        ]
        return ImageRecord(Path(path), width, height, instances, "prediction")


def resolve_device(device: str | None) -> torch.device:
    """``device``, or CUDA when there is one, else the CPU."""
    return torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))


class TorchEngine:
    """The PyTorch model as an engine: a float (3, H, W) image in, one detections dict out."""

    def __init__(self, model: torch.nn.Module, device: str | None = None) -> None:
        self.device = resolve_device(device)
        self.model = model.to(self.device).eval()

    @torch.no_grad()
    def __call__(self, image: torch.Tensor) -> dict[str, torch.Tensor]:
        out = self.model([image.to(self.device)])[0]
        return {k: v.cpu() for k, v in out.items()}


class Predictor:
    """Runs a trained model (PyTorch or ONNX engine) on images.

    ``min_score`` overrides the config's min confidence (an ONNX graph keeps detections down to
    0.05, so any higher threshold works there too). For small faces: ``size`` sets the inference
    size (longest side; PyTorch engine only), and ``tile`` also runs overlapping ``tile``-pixel
    windows of larger images, each enlarged to the model's size, merged with the whole-image pass.
    """

    def __init__(
        self,
        engine: Any,
        config: Config,
        min_score: float | None = None,
        size: int | None = None,
        tile: int | None = None,
    ) -> None:
        self.engine = engine
        self.config = config
        self.class_names = list(config.class_names)
        self.min_score = config.min_confidence if min_score is None else min_score
        self.device = getattr(engine, "device", torch.device("cpu"))
        self.tile = tile
        if tile is not None and tile < 32:
            raise ValueError(f"tile: {tile} pixels is too small (at least 32)")
        if isinstance(engine, TorchEngine):  # keep everything down to min_score
            engine.model.roi_heads.score_thresh = min(self.min_score, config.min_confidence)
            if size is not None:
                engine.model.transform.min_size = (size,)
                engine.model.transform.max_size = size
        elif size is not None:
            raise ValueError("size: an exported graph has its input size built in; use --tile")

    @classmethod
    def from_checkpoint(
        cls,
        path: str | Path,
        min_score: float | None = None,
        device: str | None = None,
        size: int | None = None,
        tile: int | None = None,
        overrides: list[str] | None = None,
    ) -> Predictor:
        """Load a training checkpoint (.pt) or an exported ONNX graph (.onnx).

        ``overrides`` (``key=value``, PyTorch only) change inference settings of the checkpoint's
        config, such as ``rpn_post_nms_test``; settings that change a layer are refused.
        """
        if Path(path).suffix == ".onnx":
            from .export import OnnxEngine

            if overrides:
                raise ValueError(
                    f"{path}: an exported graph has its settings built in; "
                    f"give them to facemask export --set"
                )
            engine = OnnxEngine(path)
            return cls(engine, engine.config, min_score, size, tile)
        model, config = load_trained(path, overrides)
        int8 = config.int8_box_head and resolve_device(device).type == "cpu"
        model = for_inference(model, int8_linear=int8)
        return cls(TorchEngine(model, device), config, min_score, size, tile)

    def predict(self, image: Image.Image | np.ndarray | str | Path) -> Prediction:
        """Instances in one RGB image (PIL, HWC uint8 array, or a file path)."""
        array = np.asarray(load_image(image) if isinstance(image, str | Path) else image)
        if array.ndim == 2:
            array = np.stack([array] * 3, axis=-1)
        array = array[..., :3]
        started = time.perf_counter()
        height, width = array.shape[:2]
        found = [self._detect(array, (0, 0, width, height))]
        if self.tile is not None and max(height, width) > self.tile:
            found += [self._detect(array, w) for w in tile_windows(width, height, self.tile)]
        config = self.config
        boxes, scores, labels, masks = merge_views(
            found, config.detection_nms_threshold, config.max_detections
        )
        return Prediction(
            boxes=boxes.numpy(),
            scores=scores.numpy(),
            labels=[self.class_names[int(i) - 1] for i in labels],
            masks=masks.numpy(),
            seconds=time.perf_counter() - started,
        )

    def _detect(
        self, array: np.ndarray, window: tuple[int, int, int, int]
    ) -> tuple[torch.Tensor, ...]:
        """Detections in ``window`` (x0, y0, x1, y1) of ``array``, in full-image coordinates.

        In a window smaller than the image, detections touching a window edge that is not an
        image edge are dropped: they are cut objects, which a neighbouring window (tiles
        overlap by a quarter) or the whole-image pass sees whole.
        """
        x0, y0, x1, y1 = window
        height, width = array.shape[:2]
        crop = torch.from_numpy(np.array(array[y0:y1, x0:x1])).permute(2, 0, 1)
        out = self.engine(crop.to(torch.float32) / 255)
        keep = out["scores"] >= self.min_score
        boxes = out["boxes"][keep]
        if (x1 - x0, y1 - y0) != (width, height):
            edge = 1.0
            cut = (
                ((boxes[:, 0] < edge) & (x0 > 0))
                | ((boxes[:, 1] < edge) & (y0 > 0))
                | ((boxes[:, 2] > x1 - x0 - edge) & (x1 < width))
                | ((boxes[:, 3] > y1 - y0 - edge) & (y1 < height))
            )
            keep[keep.clone()] = ~cut
            boxes = out["boxes"][keep]
        masks = torch.zeros((int(keep.sum()), height, width), dtype=torch.bool)
        masks[:, y0:y1, x0:x1] = out["masks"][keep, 0] > 0.5
        shift = torch.tensor([x0, y0, x0, y0], dtype=boxes.dtype)
        return boxes + shift, out["scores"][keep], out["labels"][keep], masks


def merge_views(
    found: list[tuple[torch.Tensor, ...]], nms_threshold: float, max_detections: int
) -> tuple[torch.Tensor, ...]:
    """One image's detections (boxes, scores, labels, masks) from several views of it (whole
    image, tiles): an object seen in more than one keeps its highest-scoring detection."""
    boxes, scores, labels, masks = (torch.cat(parts) for parts in zip(*found, strict=True))
    if len(found) == 1:  # one pass: the model has already applied NMS
        return boxes, scores, labels, masks
    keep = batched_nms(boxes, scores, labels, nms_threshold)[:max_detections]
    return boxes[keep], scores[keep], labels[keep], masks[keep]


def tile_windows(width: int, height: int, tile: int) -> list[tuple[int, int, int, int]]:
    """Overlapping ``tile`` x ``tile`` windows (x0, y0, x1, y1) covering the image; a quarter
    overlap, and the last row and column flush with the image's edges."""

    def starts(length: int) -> list[int]:
        if length <= tile:
            return [0]
        step = tile * 3 // 4
        return sorted(set(range(0, length - tile, step)) | {length - tile})

    return [
        (x, y, min(width, x + tile), min(height, y + tile))
        for y in starts(height)
        for x in starts(width)
    ]


def load_image(path: str | Path) -> Image.Image:
    """RGB image with EXIF orientation applied; ValueError naming the file when unreadable."""
    try:
        with Image.open(path) as im:
            return ImageOps.exif_transpose(im).convert("RGB")
    except (UnidentifiedImageError, OSError, SyntaxError) as err:
        raise ValueError(f"{path}: cannot read image ({err})") from err


def overlay(
    image: Image.Image | np.ndarray, prediction: Prediction, alpha: float = 0.45
) -> Image.Image:
    """Image with coloured masks, boxes and ``label score`` tags drawn on."""
    base = np.asarray(image, dtype=np.float32)[..., :3].copy()
    for i, mask in enumerate(prediction.masks):
        colour = np.array(PALETTE[i % len(PALETTE)], dtype=np.float32)
        base[mask] = base[mask] * (1 - alpha) + colour * alpha
    result = Image.fromarray(base.clip(0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(result)
    for i, (box, label, score) in enumerate(
        zip(prediction.boxes, prediction.labels, prediction.scores, strict=True)
    ):
        colour = PALETTE[i % len(PALETTE)]
        draw.rectangle([float(v) for v in box], outline=colour, width=2)
        draw.text((float(box[0]) + 2, float(box[1]) + 1), f"{label} {score:.2f}", fill=colour)
    return result


def expand_inputs(inputs: list[str]) -> list[Path]:
    """Files, folders (their images and videos, sorted) and globs → paths, in the order given."""
    paths: list[Path] = []
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            paths += sorted(
                p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES | VIDEO_SUFFIXES
            )
        elif any(c in item for c in "*?["):
            paths += sorted(Path(p) for p in glob.glob(item))
        else:
            paths.append(path)
    return paths


def video_frames(path: Path, every: int = 1) -> Iterator[tuple[int, np.ndarray, float]]:
    """(frame index, RGB frame, fps) for every ``every``-th frame; ValueError if unreadable."""
    import cv2

    capture = cv2.VideoCapture(str(path))
    if not capture.isOpened():
        raise ValueError(f"{path}: cannot open video")
    fps = capture.get(cv2.CAP_PROP_FPS) or 25.0
    index = 0
    try:
        while True:
            ok, frame = capture.read()
            if not ok:
                break
            if index % every == 0:
                yield index, cv2.cvtColor(frame, cv2.COLOR_BGR2RGB), fps
            index += 1
    finally:
        capture.release()
    if index == 0:
        raise ValueError(f"{path}: no frames could be read")


def coco_results(
    name: str, prediction: Prediction, class_names: list[str], image_id: int
) -> list[dict[str, Any]]:
    """COCO results entries (one per instance) with file_name and the image's percent masked."""
    results = []
    for box, score, label, mask in zip(
        prediction.boxes, prediction.scores, prediction.labels, prediction.masks, strict=True
    ):
        x0, y0, x1, y1 = (float(v) for v in box)
        results.append(
            {
                "image_id": image_id,
                "file_name": name,
                "category_id": class_names.index(label) + 1,
                "category_name": label,
                "score": round(float(score), 5),
                "bbox": [round(x0, 2), round(y0, 2), round(x1 - x0, 2), round(y1 - y0, 2)],
                "segmentation": mask_to_rle(mask),
                "percent_masked": round(prediction.percent_masked, 3),
            }
        )
    return results


def predict_to_folder(
    predictor: Predictor,
    inputs: list[str],
    out: str | Path,
    every: int = 1,
    via_out: str | Path | None = None,
) -> dict[str, Any]:
    """Predict on files, folders, globs and videos; write overlays, predictions.json, summary.json.

    Unreadable inputs are reported one line each and skipped. ``out`` is a new folder (an
    existing one gets a numbered sibling); ``via_out`` writes a VIA 2.x project for correction.
    """
    from .data.via import write_via
    from .fileio import new_folder

    folder = new_folder(out)
    (folder / "overlays").mkdir()
    results: list[dict[str, Any]] = []
    summary: list[dict[str, Any]] = []
    records: list[ImageRecord] = []
    errors: list[str] = []

    def add(name: str, array: np.ndarray, prediction: Prediction) -> None:
        height, width = array.shape[:2]
        results.extend(coco_results(name, prediction, predictor.class_names, len(summary) + 1))
        summary.append(
            {
                "file_name": name,
                "width": width,
                "height": height,
                "instances": len(prediction.labels),
                "percent_masked": round(prediction.percent_masked, 3),
                "seconds": round(prediction.seconds, 4),
            }
        )

    for path in expand_inputs(inputs):
        try:
            if path.suffix.lower() in VIDEO_SUFFIXES:
                _predict_video(predictor, path, folder, every, add)
                continue
            image = load_image(path)
        except ValueError as err:
            errors.append(str(err))
            continue
        array = np.asarray(image)
        prediction = predictor.predict(array)
        add(str(path), array, prediction)
        overlay(image, prediction).save(folder / "overlays" / f"{len(summary):04d}_{path.stem}.jpg")
        records.append(prediction.to_record(path, image.width, image.height))
    (folder / "predictions.json").write_text(json.dumps(results))
    (folder / "summary.json").write_text(json.dumps(summary, indent=1))
    if via_out:
        write_via(records, via_out, class_attribute=predictor.config.class_attribute or "type")
    return {"folder": folder, "images": len(summary), "instances": len(results), "errors": errors}


def _predict_video(predictor: Predictor, path: Path, folder: Path, every: int, add) -> None:  # noqa: ANN001
    """Predict every ``every``-th frame; write an overlay video beside the image overlays."""
    import cv2

    writer = None
    try:
        for index, frame, fps in video_frames(path, every):
            prediction = predictor.predict(frame)
            add(f"{path}#frame={index}", frame, prediction)
            drawn = cv2.cvtColor(np.asarray(overlay(frame, prediction)), cv2.COLOR_RGB2BGR)
            if writer is None:
                target = str(folder / "overlays" / f"{path.stem}.mp4")
                fourcc = cv2.VideoWriter_fourcc(*"mp4v")
                writer = cv2.VideoWriter(target, fourcc, fps / every, drawn.shape[1::-1])
            writer.write(drawn)
    finally:
        if writer is not None:
            writer.release()
