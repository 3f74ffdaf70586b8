"""Batch prediction: expand inputs, read images and video frames, write overlays and JSON.

A batch never dies on one input: each unreadable, oversized, unsupported or missing input is
one line in ``errors`` and one entry in ``summary.json``'s ``skipped``, and the rest completes.
"""

from __future__ import annotations

import glob
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..data.formats.via import write_via
from ..data.images import IMAGE_SUFFIXES, read_image
from ..data.records import ImageRecord
from ..fileio import new_folder, save_image, write_json
from .draw import overlay
from .predictor import Predictor
from .results import Prediction

VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv")


@dataclass(frozen=True)
class PredictionRun:
    """What :func:`predict_to_folder` wrote: the folder, how many images (video frames count
    one each) and instances, and the inputs it skipped (``summary.json``'s ``skipped``)."""

    folder: Path
    images: int
    instances: int
    skipped: list[dict[str, str]] = field(default_factory=list)

    @property
    def errors(self) -> list[str]:
        """One line per skipped input: ``path: reason``."""
        return [f"{s['input']}: {s['reason']}" for s in self.skipped]


def expand_inputs(inputs: list[str]) -> tuple[list[Path], list[dict[str, str]]]:
    """Files, folders and globs → (paths in the order given, skipped inputs with reasons).

    A folder gives its image and video files, sorted; its other entries (sub-folders, other file
    types) are skipped with a reason, never silently.
    """
    paths: list[Path] = []
    skipped: list[dict[str, str]] = []
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            for entry in sorted(path.iterdir()):
                reason = _not_an_input(entry)
                if reason:
                    skipped.append({"input": str(entry), "reason": reason})
                else:
                    paths.append(entry)
        elif not path.exists() and any(c in item for c in "*?["):
            matches = sorted(Path(p) for p in glob.glob(item))
            if not matches:
                skipped.append({"input": item, "reason": "no file matches this pattern"})
            paths += matches
        else:
            paths.append(path)
    return paths, skipped


def _not_an_input(path: Path) -> str | None:
    if path.is_dir():
        return "a folder inside a folder (not searched)"
    if path.suffix.lower() not in IMAGE_SUFFIXES + VIDEO_SUFFIXES:
        return f"not an image or video type ({', '.join(IMAGE_SUFFIXES + VIDEO_SUFFIXES)})"
    return None


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


def image_summary(name: str, size: tuple[int, int], prediction: Prediction) -> dict[str, Any]:
    """One image's line in ``summary.json`` (and the server's answer)."""
    return {
        "file_name": name,
        "width": size[0],
        "height": size[1],
        "instances": len(prediction.labels),
        "percent_masked": round(prediction.percent_masked, 3),
        **prediction.face_counts(),
        "seconds": round(prediction.seconds, 4),
    }


def predict_to_folder(
    predictor: Predictor,
    inputs: list[str],
    out: str | Path,
    every: int = 1,
    via_out: str | Path | None = None,
) -> PredictionRun:
    """Predict on files, folders, globs and videos; write overlays, predictions.json (COCO
    results with ``file_name``) and summary.json (``images`` and ``skipped``).

    ``out`` is a new folder (an existing one gets a numbered sibling); ``via_out`` writes a VIA
    2.x project for correction, which must sit in a folder holding every image.
    """

    paths, skipped = expand_inputs(inputs)
    if via_out:
        _check_via_folder(paths, Path(via_out))
    folder = new_folder(out)
    (folder / "overlays").mkdir()
    results: list[dict[str, Any]] = []
    images: list[dict[str, Any]] = []
    records: list[ImageRecord] = []

    def add(name: str, array: np.ndarray, prediction: Prediction) -> None:
        entries = prediction.results(predictor.class_names, image_id=len(images) + 1)
        results.extend({**entry, "file_name": name} for entry in entries)
        images.append(image_summary(name, array.shape[1::-1], prediction))

    for path in paths:
        try:
            if path.suffix.lower() in VIDEO_SUFFIXES:
                _predict_video(predictor, path, folder, every, add)
                continue
            image = read_image(path)
        except ValueError as err:
            skipped.append({"input": str(path), "reason": str(err).removeprefix(f"{path}: ")})
            continue
        prediction = predictor.predict(image)
        add(str(path), np.asarray(image), prediction)
        save_image(
            overlay(image, prediction), folder / "overlays" / f"{len(images):04d}_{path.stem}.jpg"
        )
        records.append(prediction.to_record(path, image.width, image.height))
    write_json(folder / "predictions.json", results)
    summary = {"images": images, "skipped": skipped}
    write_json(folder / "summary.json", summary, indent=1)
    if via_out:
        write_via(records, via_out, class_attribute=predictor.config.class_attribute or "type")
    return PredictionRun(folder, len(images), len(results), skipped)


def _check_via_folder(paths: list[Path], via_out: Path) -> None:
    """Refuse a VIA file outside the images' folder before any work: readers refuse names that
    leave their folder, so such a project could not be read back."""
    if via_out.exists():
        raise FileExistsError(f"{via_out}: already exists; choose another name")
    folder = via_out.resolve().parent
    for path in paths:
        if not path.resolve().is_relative_to(folder):
            raise ValueError(
                f"--via-out {via_out}: {path} is not inside {folder}; put the VIA file in a "
                f"folder that holds every image"
            )


def _predict_video(
    predictor: Predictor,
    path: Path,
    folder: Path,
    every: int,
    add: Callable[[str, np.ndarray, Prediction], None],
) -> None:
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
