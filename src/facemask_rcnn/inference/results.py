"""What inference returns: a Prediction per image, and its one serialised form (COCO results).

``result_entry`` is the only place an instance becomes JSON: ``predictions.json``, the server's
answer and the COCO evaluation all use it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..data.faces import MASKED_STATUSES, STATUSES
from ..data.records import ImageRecord, Instance, mask_to_rle


@dataclass
class Prediction:
    """Instances found in one image, at the image's own resolution."""

    boxes: np.ndarray  # (N, 4) float x0, y0, x1, y1
    scores: np.ndarray  # (N,)
    labels: list[str]
    masks: np.ndarray  # (N, H, W) bool
    seconds: float = 0.0
    task: str = "masks"  # faces: each instance is a face, its label its status

    def face_counts(self) -> dict[str, Any]:
        """A faces model's per-image counts: ``faces``, each status, and ``share_masked``, the
        share of faces wearing a mask (correctly or not); {} for a masks model."""
        if self.task != "faces":
            return {}
        counts: dict[str, Any] = {"faces": len(self.labels)}
        counts.update({status: self.labels.count(status) for status in STATUSES})
        wearing = sum(counts[status] for status in MASKED_STATUSES)
        counts["share_masked"] = round(wearing / len(self.labels), 4) if self.labels else None
        return counts

    def face_sentence(self) -> str:
        """The counts in words, e.g. "4 of 5 faces masked, 1 worn incorrectly"; "" for masks."""
        counts = self.face_counts()
        if not counts:
            return ""
        wearing = counts["masked"] + counts["incorrect"]
        text = f"{wearing} of {counts['faces']} face{'s' * (counts['faces'] != 1)} masked"
        return text + (f", {counts['incorrect']} worn incorrectly" if counts["incorrect"] else "")

    @property
    def percent_masked(self) -> float:
        """Share of the image's pixels covered by any predicted mask, in percent."""
        if len(self.masks) == 0:
            return 0.0
        return float(self.masks.any(axis=0).mean() * 100)

    def to_record(self, path: Path, width: int, height: int) -> ImageRecord:
        """The prediction as an ImageRecord: RLE instances with scores; a faces model's carry
        their face box, and a bare face is its box alone."""
        return ImageRecord(Path(path), width, height, self.instances(), "prediction")

    def instances(self) -> list[Instance]:
        """One Instance per detection (see :meth:`to_record`)."""
        faces = self.task == "faces"
        return [
            Instance(
                label,
                rle=None if faces and label not in MASKED_STATUSES else mask_to_rle(mask),
                score=float(score),
                bbox=tuple(float(v) for v in box) if faces else None,  # type: ignore[arg-type]
            )
            for box, label, mask, score in zip(
                self.boxes, self.labels, self.masks, self.scores, strict=True
            )
        ]

    def results(self, class_names: list[str], image_id: int = 1) -> list[dict[str, Any]]:
        """COCO results entries, one per instance (see :func:`result_entry`); a faces model's
        also name the ``status``."""
        entries = []
        for box, inst in zip(self.boxes, self.instances(), strict=True):
            entry = result_entry(image_id, inst.label, class_names, box, inst.score, inst.rle)
            entries.append({**entry, "status": inst.label} if self.task == "faces" else entry)
        return entries


def result_entry(
    image_id: int,
    label: str,
    class_names: list[str],
    box: Any,
    score: float | None,
    rle: dict[str, Any] | None,
) -> dict[str, Any]:
    """One instance in COCO results form: ids, ``category_name``, ``score``, ``bbox`` as
    [x, y, w, h], ``area`` in pixels and ``segmentation`` as a COCO RLE (None for a face
    without a mask: a faces model's bare face)."""
    from pycocotools import mask as mask_utils

    x0, y0, x1, y1 = (float(v) for v in box)
    return {
        "image_id": image_id,
        "category_id": class_names.index(label) + 1,
        "category_name": label,
        "score": round(float(1.0 if score is None else score), 5),
        "bbox": [round(x0, 2), round(y0, 2), round(x1 - x0, 2), round(y1 - y0, 2)],
        "area": int(mask_utils.area(rle)) if rle is not None else 0,
        "segmentation": rle,
    }
