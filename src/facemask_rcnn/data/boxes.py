"""A face box from a box-only annotation file: corners in image pixels and the file's label."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from .faces import MASKED_STATUSES, status_of


@dataclass(frozen=True)
class FaceBox:
    box: tuple[float, float, float, float]  # x0, y0, x1, y1 in image pixels
    label: str  # e.g. with_mask, mask_weared_incorrect, without_mask, face

    @property
    def masked(self) -> bool:
        """Wearing a mask, correctly or not (``data.faces.status_of`` reads the label)."""
        return status_of(self.label) in MASKED_STATUSES


def face_box(x0: float, y0: float, x1: float, y1: float, label: str) -> FaceBox:
    """A FaceBox from corner coordinates; ValueError for a non-finite or empty box."""
    box = tuple(float(v) for v in (x0, y0, x1, y1))
    if not all(math.isfinite(v) for v in box):
        raise ValueError("box has a non-finite coordinate")
    if box[2] <= box[0] or box[3] <= box[1]:
        raise ValueError("empty box")
    return FaceBox(box, label)  # type: ignore[arg-type]


Faces = dict[Path, list[FaceBox]]  # image -> its face boxes, as the face-box readers return them
