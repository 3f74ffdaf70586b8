"""Tiled inference for small faces: overlapping windows, one merge of every view's detections."""

from __future__ import annotations

import torch
from torchvision.ops import batched_nms


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


def cut_at_window_edges(
    boxes: torch.Tensor, window: tuple[int, int, int, int], width: int, height: int
) -> torch.Tensor:
    """True for boxes (window coordinates) touching a window edge that is not an image edge:
    cut objects, which a neighbouring window (tiles overlap) or the whole image sees whole."""
    x0, y0, x1, y1 = window
    edge = 1.0
    return (
        ((boxes[:, 0] < edge) & (x0 > 0))
        | ((boxes[:, 1] < edge) & (y0 > 0))
        | ((boxes[:, 2] > x1 - x0 - edge) & (x1 < width))
        | ((boxes[:, 3] > y1 - y0 - edge) & (y1 < height))
    )


def merge_views(
    found: list[tuple[torch.Tensor, ...]],
    nms_threshold: float,
    max_detections: int,
) -> tuple[torch.Tensor, ...]:
    """One image's detections (boxes, scores, labels, masks) from several views of it (whole
    image, tiles): an object seen in more than one keeps its highest-scoring detection."""
    boxes, scores, labels, masks = (torch.cat(parts) for parts in zip(*found, strict=True))
    if len(found) == 1:  # one pass: the model has already applied NMS
        return boxes, scores, labels, masks
    keep = batched_nms(boxes, scores, labels, nms_threshold)[:max_detections]
    return boxes[keep], scores[keep], labels[keep], masks[keep]
