"""Detection-level checks on photos with face boxes only (no outlines), e.g. crowd scenes.

A predicted mask "belongs" to a face when most of its box lies inside the face box (a faces
model's masks are its masked and incorrect faces). Recall is the share of masked faces that get
one, also per face width (crowd faces are mostly tiny); false alarms are masks per bare face;
stray masks belong to no labelled face (papers, clothes, signs).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np

from ..data.boxes import FaceBox
from ..data.faces import MASKED_STATUSES, STATUSES, inside_fraction, status_of
from ..data.images import image_size, read_image
from ..data.records import ImageRecord, Instance
from ..inference import Prediction, Predictor
from .coco import coco_metrics
from .results import FaceMetrics, OperatingPoint, WidthRecall

# Face widths in image pixels: (label, lower bound inclusive, upper bound exclusive).
WIDTH_BINS = (("<16", 0.0, 16.0), ("16-32", 16.0, 32.0), (">=32", 32.0, float("inf")))


def mask_detections(prediction: Prediction) -> np.ndarray:
    """Which detections are masks: all of a masks model's; a faces model's masked and incorrect
    faces (a bare face is no mask, whatever its score)."""
    if prediction.task != "faces":
        return np.ones(len(prediction.labels), dtype=bool)
    return np.array([label in MASKED_STATUSES for label in prediction.labels], dtype=bool)


def face_metrics(
    predictor: Predictor,
    faces: dict[Path, list[FaceBox]],
    inside: float = 0.5,
    min_score: float | None = None,
    false_alarm_limit: float = 0.10,
) -> FaceMetrics:
    """``masked_recall`` (overall and by face width), ``masks_per_bare_face`` and
    ``stray_masks_per_image`` (masks on no labelled face at all), and for a faces model the box
    AP50 of each status (``status_ap50``).

    Counted at ``min_score`` (default: every mask the predictor returns), and in ``at_limit`` at
    the lowest score threshold, down to the predictor's own, whose masks per bare face stay
    within ``false_alarm_limit``: models with different calibration compare at equal false alarms.
    """
    best: list[float] = []  # per masked face: its best mask's score (NaN: none)
    widths: list[float] = []
    alarms: list[float] = []  # the score of every mask on a bare face
    strays: list[float] = []  # the score of every mask on no face
    bare = 0
    seconds = []
    predictions: dict[Path, Prediction] = {}
    for path, boxes in faces.items():
        if not boxes:
            continue
        prediction = predictor.predict(read_image(path))
        predictions[path] = prediction
        seconds.append(prediction.seconds)
        masks = mask_detections(prediction)
        mask_boxes, mask_scores = prediction.boxes[masks], prediction.scores[masks]
        on_any = np.zeros(len(mask_boxes), dtype=bool)
        for face in boxes:
            on_face = np.array([inside_fraction(b, face.box) >= inside for b in mask_boxes], bool)
            on_any |= on_face if len(on_face) else on_any
            scores = mask_scores[on_face] if len(on_face) else mask_scores[:0]
            if face.masked:
                best.append(float(scores.max()) if len(scores) else float("nan"))
                widths.append(face.box[2] - face.box[0])
            else:
                bare += 1
                alarms += scores.tolist()
        strays += mask_scores[~on_any].tolist()
    best_scores, face_widths, alarm_scores = np.array(best), np.array(widths), np.array(alarms)
    stray_scores = np.array(strays)

    def counted(threshold: float) -> dict[str, Any]:
        hits = best_scores >= threshold  # NaN (no mask) is never a hit
        by_width = {}
        for label, low, high in WIDTH_BINS:
            chosen = (face_widths >= low) & (face_widths < high)
            n = int(chosen.sum())
            recall = round(float(hits[chosen].mean()), 4) if n else 0.0
            by_width[label] = WidthRecall(faces=n, recall=recall)
        images = max(1, len(seconds))
        return {
            "masked_recall": float(hits.mean()) if len(hits) else 0.0,
            "masked_recall_by_width": by_width,
            "masks_per_bare_face": float((alarm_scores >= threshold).sum() / bare) if bare else 0.0,
            "stray_masks_per_image": float((stray_scores >= threshold).sum() / images),
        }

    scores = np.concatenate([best_scores[~np.isnan(best_scores)], alarm_scores])
    candidates = np.append(np.unique(scores), np.inf)  # every threshold the masks allow
    # false alarms at or above each candidate; the first within the limit is the lowest one
    above = len(alarm_scores) - np.searchsorted(np.sort(alarm_scores), candidates)
    within = above <= false_alarm_limit * bare if bare else np.ones(len(candidates), bool)
    limit_score = float(candidates[np.argmax(within)])  # the last (inf) is always within
    at_limit = OperatingPoint(
        false_alarm_limit=false_alarm_limit,
        min_score=round(limit_score, 4) if np.isfinite(limit_score) else None,
        **counted(limit_score),
    )
    faces_found = any(p.task == "faces" for p in predictions.values())
    return FaceMetrics(
        images=len(seconds),
        masked_faces=len(best),
        bare_faces=bare,
        **counted(-np.inf if min_score is None else min_score),
        at_limit=at_limit,
        latency_ms=float(np.mean(seconds) * 1000) if seconds else 0.0,
        status_ap50=status_ap50(predictions, faces) if faces_found else None,
    )


def status_ap50(
    predictions: dict[Path, Prediction], faces: dict[Path, list[FaceBox]]
) -> dict[str, float]:
    """COCO box AP at IoU 0.5 of each face status (-1 for a status no labelled face has), and
    of ``face``, every face whatever its status: how well faces are found, status aside."""
    truth, found = [], []
    for path, prediction in predictions.items():
        width, height = image_size(path)
        boxes = [Instance(status_of(b.label) or "bare", bbox=b.box) for b in faces[path]]
        truth.append(ImageRecord(path, width, height, boxes))
        found.append(prediction.to_record(path, width, height))
    aps = coco_metrics(truth, found, list(STATUSES), iou_types=("bbox",))["bbox"]["per_class50"]
    anonymous = [[_as_faces(r) for r in records] for records in (truth, found)]
    aps |= coco_metrics(*anonymous, ["face"], iou_types=("bbox",))["bbox"]["per_class50"]
    return {name: round(ap, 4) for name, ap in aps.items()}


def _as_faces(record: ImageRecord) -> ImageRecord:
    """The record with every instance labelled ``face``."""
    return dataclasses.replace(
        record, instances=[dataclasses.replace(i, label="face") for i in record.instances]
    )


def record_faces(records: list[ImageRecord]) -> dict[Path, list[FaceBox]]:
    """Face boxes per image of box-labelled records (the form ``face_metrics`` takes)."""
    return {r.path: [FaceBox(i.box(), i.label) for i in r.instances] for r in records}


def as_masks(prediction: Prediction) -> Prediction:
    """A faces model's prediction as a masks model's: its mask detections, labelled face_mask,
    so mask metrics compare it with mask outlines like any other model."""
    keep = mask_detections(prediction)
    return Prediction(
        prediction.boxes[keep],
        prediction.scores[keep],
        ["face_mask"] * int(keep.sum()),
        prediction.masks[keep],
        prediction.seconds,
    )
