"""What inference returns: a Prediction per image, and its one serialised form (COCO results).

``result_entry`` is the only place an instance becomes JSON: ``predictions.json``, the server's
answer and the COCO evaluation all use it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..data.records import ImageRecord, Instance, mask_to_rle


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

    def results(self, class_names: list[str], image_id: int = 1) -> list[dict[str, Any]]:
        """COCO results entries, one per instance (see :func:`result_entry`)."""
        return [
            result_entry(image_id, label, class_names, box, score, mask_to_rle(mask))
            for box, score, label, mask in zip(
                self.boxes, self.scores, self.labels, self.masks, strict=True
            )
        ]


def result_entry(
    image_id: int,
    label: str,
    class_names: list[str],
    box: Any,
    score: float | None,
    rle: dict[str, Any],
) -> dict[str, Any]:
    """One instance in COCO results form: ids, ``category_name``, ``score``, ``bbox`` as
    [x, y, w, h], ``area`` in pixels and ``segmentation`` as a COCO RLE."""
    from pycocotools import mask as mask_utils

    x0, y0, x1, y1 = (float(v) for v in box)
    return {
        "image_id": image_id,
        "category_id": class_names.index(label) + 1,
        "category_name": label,
        "score": round(float(1.0 if score is None else score), 5),
        "bbox": [round(x0, 2), round(y0, 2), round(x1 - x0, 2), round(y1 - y0, 2)],
        "area": int(mask_utils.area(rle)),
        "segmentation": rle,
    }
