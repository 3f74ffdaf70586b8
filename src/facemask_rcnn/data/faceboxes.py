"""Face boxes (no outlines), for detection-level checks and bootstrapping: COCO bbox JSON."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from .checks import Problem

MASKED = ("with_mask", "mask_weared_incorrect")


@dataclass(frozen=True)
class FaceBox:
    box: tuple[float, float, float, float]  # x0, y0, x1, y1
    label: str  # e.g. with_mask, mask_weared_incorrect, without_mask

    @property
    def masked(self) -> bool:
        return self.label in MASKED


def read_coco_faces(path: str | Path) -> tuple[dict[Path, list[FaceBox]], list[Problem]]:
    """Image path → its face boxes, from a COCO JSON whose annotations carry ``bbox`` only."""
    from .coco import _image_folder

    path = Path(path)
    data = json.loads(path.read_text())
    folder = _image_folder(path, data["images"])
    names = {c["id"]: c["name"] for c in data["categories"]}
    images = {im["id"]: folder / im["file_name"] for im in data["images"]}
    faces: dict[Path, list[FaceBox]] = {p: [] for p in images.values()}
    problems = []
    for ann in data["annotations"]:
        x, y, w, h = ann.get("bbox") or (0, 0, 0, 0)
        image = images.get(ann.get("image_id"))
        if image is None or w <= 0 or h <= 0:
            problems.append(
                Problem(str(path), f"annotation {ann.get('id')}", "no image or empty bbox")
            )
            continue
        faces[image].append(FaceBox((x, y, x + w, y + h), names.get(ann["category_id"], "?")))
    return faces, problems
