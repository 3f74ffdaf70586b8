"""The format-neutral hub: every reader yields ImageRecords, every writer consumes them.

An Instance holds its shape as polygons (from VIA, COCO polygons, the synthesiser) or as a COCO
RLE (from label PNGs, COCO RLE, predictions); ``to_mask`` rasterises either at any image size.
An instance may also carry only a box (face-box datasets): it teaches detection, not masks.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image
from pycocotools import mask as mask_utils


@dataclass
class Instance:
    """One object: a class label, its shape and/or box, an optional score and attributes.

    ``bbox`` is an explicit box (x0, y0, x1, y1) in source pixels: a face box around its mask, or
    the only label of a box-only instance; without it the box is the shape's extent.
    """

    label: str
    polygons: list[np.ndarray] = field(default_factory=list)  # each (N, 2) float x, y in pixels
    rle: dict[str, Any] | None = None  # COCO RLE {"size": [h, w], "counts": ...}
    score: float | None = None
    attributes: dict[str, Any] = field(default_factory=dict)
    bbox: tuple[float, float, float, float] | None = None

    @property
    def has_shape(self) -> bool:
        """True when the instance has an outline (polygons or RLE), False for a box only."""
        return self.rle is not None or bool(self.polygons)

    def to_mask(self, height: int, width: int, scale: float = 1.0) -> np.ndarray:
        """Binary uint8 mask of shape (height, width); ``scale`` maps source pixels to it."""
        if self.rle is not None:
            mask = mask_utils.decode(self.rle)
            if mask.shape != (height, width):
                pil = Image.fromarray(mask * 255).resize((width, height), Image.NEAREST)
                mask = (np.asarray(pil) > 127).astype(np.uint8)
            return mask
        flat = [(np.asarray(p, dtype=np.float64) * scale).ravel().tolist() for p in self.polygons]
        if not flat:
            return np.zeros((height, width), dtype=np.uint8)
        rles = mask_utils.frPyObjects(flat, height, width)
        return mask_utils.decode(mask_utils.merge(rles))

    @property
    def is_prior(self) -> bool:
        """A placeholder shape (``bootstrap pseudo --prior-below``), not an outline of the mask."""
        return self.attributes.get("source") == "prior"

    def box(self) -> tuple[float, float, float, float]:
        """The explicit box, else the shape's tight box (x0, y0, x1, y1), in source pixels."""
        if self.bbox is not None:
            return self.bbox
        if self.rle is not None:
            x, y, w, h = mask_utils.toBbox(self.rle).tolist()
            return x, y, x + w, y + h
        pts = np.concatenate(self.polygons)
        return (*pts.min(axis=0).tolist(), *pts.max(axis=0).tolist())

    def area(self) -> float:
        """Area in source pixels (polygon shoelace or RLE pixel count; a box-only one's box)."""
        if not self.has_shape and self.bbox is not None:
            x0, y0, x1, y1 = self.bbox
            return float((x1 - x0) * (y1 - y0))
        if self.rle is not None:
            return float(mask_utils.area(self.rle))
        return float(sum(polygon_area(p) for p in self.polygons))


@dataclass
class ImageRecord:
    """One image and its instances; ``source`` names the annotation file it came from."""

    path: Path
    width: int
    height: int
    instances: list[Instance] = field(default_factory=list)
    source: str = ""
    # The classes its annotation covers (None: all); others may be present, unlabelled
    annotated: list[str] | None = None

    @property
    def file_name(self) -> str:
        return self.path.name

    def masks(self) -> np.ndarray:
        """(N, height, width) bool masks of all instances at the image's resolution."""
        if not self.instances:
            return np.zeros((0, self.height, self.width), dtype=bool)
        return np.stack([i.to_mask(self.height, self.width) for i in self.instances]).astype(bool)

    def name_relative_to(self, folder: Path) -> str:
        """Image path as an annotation file in ``folder`` stores it: relative, since readers
        refuse names that leave their folder; ValueError for an image outside ``folder``."""
        try:
            return self.path.resolve().relative_to(folder.resolve()).as_posix()
        except ValueError:
            raise ValueError(
                f"{self.path}: not inside {folder}; write the annotation file into a folder that "
                f"holds the images"
            ) from None


def polygon_area(poly: np.ndarray) -> float:
    """Shoelace area of an (N, 2) polygon."""
    x, y = poly[:, 0], poly[:, 1]
    return float(abs(np.dot(x, np.roll(y, 1)) - np.dot(y, np.roll(x, 1))) / 2)


def mask_to_rle(mask: np.ndarray) -> dict[str, Any]:
    """COCO RLE of a binary (H, W) mask with ``counts`` as a str (JSON-ready)."""
    rle = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
    rle["counts"] = rle["counts"].decode("ascii")
    return rle


def mask_to_polygons(
    mask: np.ndarray, tolerance: float = 0.5, min_part: float = 0.1
) -> list[np.ndarray]:
    """Outlines of a binary mask as polygons in pixel-edge coordinates, largest part first.

    Traced on a 4x upsampled crop so vertices sit on pixel edges, not centres (a 15 px mask keeps
    IoU >= 0.98 through polygon and back), then simplified to ``tolerance`` pixels. Parts smaller
    than ``min_part`` of the largest are dropped as specks; holes are filled.
    """
    import cv2

    ys, xs = np.nonzero(mask)
    if len(ys) == 0:
        return []
    y0, x0 = ys.min(), xs.min()
    crop = mask[y0 : ys.max() + 1, x0 : xs.max() + 1].astype(np.uint8)
    scale = 4
    up = np.pad(np.kron(crop, np.ones((scale, scale), np.uint8)), 1)
    contours, _ = cv2.findContours(up, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    contours = sorted(contours, key=cv2.contourArea, reverse=True)
    largest = cv2.contourArea(contours[0]) if contours else 0.0
    polygons = []
    for contour in contours:
        if cv2.contourArea(contour) < min_part * largest:
            break
        points = cv2.approxPolyDP(contour, tolerance * scale, True)[:, 0, :].astype(np.float64)
        if len(points) >= 3:
            polygons.append((points - 1 + 0.5) / scale + np.array([x0, y0]))
    return polygons


def class_names_of(records: list[ImageRecord]) -> list[str]:
    """Sorted distinct labels across records."""
    return sorted({inst.label for rec in records for inst in rec.instances})
