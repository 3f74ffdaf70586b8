"""Face crops at one size, and the mapping from a finder's boxes onto the labels' convention.

Crops are square, centred on the face, ``context`` times its longer side, sampled by
torchvision's RoIAlign in one batched call (parts outside the photo read as black).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torchvision.ops import box_iou, roi_align


def square_windows(boxes: np.ndarray, context: float) -> np.ndarray:
    """Square windows (N, 4) centred on ``boxes``, sides ``context`` times their longer side."""
    boxes = np.asarray(boxes, dtype=np.float32).reshape(-1, 4)
    centre = (boxes[:, :2] + boxes[:, 2:]) / 2
    half = np.maximum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1])[:, None] * context / 2
    half = np.maximum(half, 0.5)
    return np.concatenate([centre - half, centre + half], axis=1)


def crop_windows(image: torch.Tensor, windows: np.ndarray, size: int) -> torch.Tensor:
    """Crops (N, C, size, size) of a (C, H, W) float image at ``windows`` (x0, y0, x1, y1)."""
    rois = torch.as_tensor(np.asarray(windows, dtype=np.float32)).reshape(-1, 4)
    if len(rois) == 0:
        return image.new_zeros((0, image.shape[0], size, size))
    if not torch.isfinite(rois).all():  # RoIAlign reads out of bounds on NaN (a crash)
        raise ValueError("a crop window has a non-finite coordinate")
    rois = torch.cat([torch.zeros(len(rois), 1), rois], dim=1)
    return roi_align(image[None], rois, (size, size), sampling_ratio=2, aligned=True)


@dataclass
class BoxMap:
    """A finder's box onto the labels' convention: centre moved by (dx, dy) of its size, sides
    scaled by (sw, sh). Fitted on matched training pairs (``fit_box_map``)."""

    dx: float = 0.0
    dy: float = 0.0
    sw: float = 1.0
    sh: float = 1.0

    def __call__(self, boxes: np.ndarray) -> np.ndarray:
        boxes = np.asarray(boxes, dtype=np.float32).reshape(-1, 4)
        size = boxes[:, 2:] - boxes[:, :2]
        centre = (boxes[:, :2] + boxes[:, 2:]) / 2 + size * [self.dx, self.dy]
        half = size * [self.sw, self.sh] / 2
        return np.concatenate([centre - half, centre + half], axis=1).astype(np.float32)


def match(found: np.ndarray, labelled: np.ndarray, iou: float) -> tuple[np.ndarray, np.ndarray]:
    """For each found box, the index of the labelled box it overlaps most (-1 below ``iou``),
    and that overlap."""
    if len(found) == 0 or len(labelled) == 0:
        return np.full(len(found), -1), np.zeros(len(found), dtype=np.float32)
    overlaps = box_iou(torch.as_tensor(found), torch.as_tensor(labelled)).numpy()
    best, value = overlaps.argmax(1), overlaps.max(1)
    return np.where(value >= iou, best, -1), value


def fit_box_map(found: np.ndarray, labelled: np.ndarray) -> BoxMap:
    """The median shift and scale that takes each found box onto its labelled twin."""
    found, labelled = np.asarray(found).reshape(-1, 4), np.asarray(labelled).reshape(-1, 4)
    if len(found) == 0:
        return BoxMap()
    size = found[:, 2:] - found[:, :2]
    shift = ((labelled[:, :2] + labelled[:, 2:]) - (found[:, :2] + found[:, 2:])) / 2 / size
    scale = (labelled[:, 2:] - labelled[:, :2]) / size
    dx, dy = np.median(shift, axis=0)
    sw, sh = np.median(scale, axis=0)
    return BoxMap(float(dx), float(dy), float(sw), float(sh))
