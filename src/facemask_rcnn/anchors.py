"""RPN anchors fitted to the data: k-means on 1 - IoU, mapped onto torchvision's anchor layout.

torchvision's AnchorGenerator takes one size per FPN level and one set of aspect ratios (height
/ width) shared by all levels. So sizes come from k-means over the boxes (one cluster per
level) and ratios from k-means over the boxes scaled to unit area (shape only); best possible
recall (BPR) is the share of boxes whose best anchor reaches the RPN's positive IoU.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .data.records import ImageRecord

RPN_POSITIVE_IOU = 0.7  # torchvision's rpn_fg_iou_thresh


def box_sizes(records: list[ImageRecord], image_size: int) -> np.ndarray:
    """(N, 2) widths and heights of every instance box after the model's resize."""
    sizes = []
    for rec in records:
        scale = image_size / max(rec.width, rec.height)
        for inst in rec.instances:
            x0, y0, x1, y1 = inst.box()
            sizes.append(((x1 - x0) * scale, (y1 - y0) * scale))
    return np.asarray(sizes, dtype=np.float64).reshape(-1, 2)


def wh_iou(boxes: np.ndarray, anchors: np.ndarray) -> np.ndarray:
    """IoU [N, K] of centred boxes given as (w, h): the shape match alone."""
    inter = np.minimum(boxes[:, None, 0], anchors[None, :, 0]) * np.minimum(
        boxes[:, None, 1], anchors[None, :, 1]
    )
    area_b = boxes[:, 0] * boxes[:, 1]
    area_a = anchors[:, 0] * anchors[:, 1]
    return inter / (area_b[:, None] + area_a[None, :] - inter)


def kmeans_iou(boxes: np.ndarray, k: int, seed: int = 0, iters: int = 100) -> np.ndarray:
    """k cluster centres (w, h) minimising 1 - IoU, sorted by area; medians as centres."""
    rng = np.random.default_rng(seed)
    k = min(k, len(np.unique(boxes, axis=0)))
    centres = boxes[rng.choice(len(boxes), k, replace=False)]
    for _ in range(iters):
        nearest = np.argmax(wh_iou(boxes, centres), axis=1)
        updated = np.array(
            [
                np.median(boxes[nearest == j], axis=0) if (nearest == j).any() else centres[j]
                for j in range(k)
            ]
        )
        if np.allclose(updated, centres):
            break
        centres = updated
    return centres[np.argsort(centres[:, 0] * centres[:, 1])]


def anchor_shapes(sizes: list[float], ratios: list[float]) -> np.ndarray:
    """(w, h) of every anchor torchvision makes from ``sizes`` x ``ratios`` (ratio = h / w)."""
    return np.array([(s / np.sqrt(r), s * np.sqrt(r)) for s in sizes for r in ratios])


@dataclass
class AnchorFit:
    sizes: list[int]
    ratios: list[float]
    bpr: float
    mean_best_iou: float


def score(boxes: np.ndarray, sizes: list[float], ratios: list[float]) -> tuple[float, float]:
    """(best possible recall at the RPN positive IoU, mean best IoU) of an anchor set."""
    if len(boxes) == 0:
        return 0.0, 0.0
    best = wh_iou(boxes, anchor_shapes(sizes, ratios)).max(axis=1)
    return float((best >= RPN_POSITIVE_IOU).mean()), float(best.mean())


def propose(boxes: np.ndarray, levels: int, n_ratios: int, seed: int = 0) -> AnchorFit:
    """Sizes (one per level, ascending) and shared ratios fitted to ``boxes``."""
    size_centres = kmeans_iou(boxes, levels, seed)
    sizes = sorted(int(round(np.sqrt(w * h))) for w, h in size_centres)
    while len(sizes) < levels:  # fewer distinct boxes than levels: extend geometrically
        sizes.append(sizes[-1] * 2)
    unit = boxes / np.sqrt(boxes[:, :1] * boxes[:, 1:])  # same area, shape kept
    shape_centres = kmeans_iou(unit, n_ratios, seed)
    ratios = sorted(round(float(h / w), 3) for w, h in shape_centres)
    bpr, mean_iou = score(boxes, sizes, ratios)
    return AnchorFit(sizes, ratios, bpr, mean_iou)


def compare(
    boxes: np.ndarray, sizes: list[int], ratios: list[float], seed: int = 0
) -> tuple[AnchorFit, AnchorFit]:
    """(the given anchors scored, the proposal fitted to ``boxes`` in the same layout)."""
    bpr, mean_iou = score(boxes, sizes, ratios)
    current = AnchorFit(list(sizes), list(ratios), bpr, mean_iou)
    return current, propose(boxes, len(sizes), len(ratios), seed)
