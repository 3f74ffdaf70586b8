"""Crowd recall at the false-alarm limit for other ways of combining tiled views.

    .venv/bin/python benchmarks/tile_views.py --weights CHECKPOINT [--tile 96]

Runs the model once per view of each held-back ``facemask-scenes`` photo (the whole image; the
tiles ``predict --tile`` uses; the same tiles mirrored; tiles shifted by half a step), then
scores combinations of those views with the crowd metric of ``accuracy.py`` (masked-face recall
at <= 0.10 masks per bare face). Prints one JSON line per combination. About 7 s a photo on
2 cores, 16 minutes in all.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable

import numpy as np
import torch
from accuracy import SCENE_FLOOR, held_back_scenes, rounded
from torchvision.ops import box_iou

from facemask_rcnn import Predictor
from facemask_rcnn.data.images import read_image
from facemask_rcnn.evaluation.faces import face_metrics
from facemask_rcnn.inference import Prediction
from facemask_rcnn.inference.tiling import merge_views, tile_windows

Views = dict[str, list[tuple[torch.Tensor, ...]]]


def mirrored(predictor: Predictor, array: np.ndarray, window: tuple[int, ...]) -> tuple:
    """Detections in ``window`` of the mirrored image, mapped back (masks left out)."""
    width = array.shape[1]
    x0, y0, x1, y1 = window
    boxes, scores, labels, _ = predictor._detect(
        np.ascontiguousarray(array[:, ::-1]), (width - x1, y0, width - x0, y1)
    )
    boxes = torch.stack([width - boxes[:, 2], boxes[:, 1], width - boxes[:, 0], boxes[:, 3]], 1)
    return boxes, scores, labels


def views_of(predictor: Predictor, array: np.ndarray, tile: int) -> Views:
    """Each view's detections (boxes, scores, labels) in full-image coordinates."""
    height, width = array.shape[:2]
    tiles = tile_windows(width, height, tile)
    half = tile * 3 // 8  # half the step between tiles
    shifted = [
        (x + half, y + half, x + half + tile, y + half + tile)
        for x, y, _, _ in tiles
        if x + half + tile <= width and y + half + tile <= height
    ]

    def plain(window: tuple[int, ...]) -> tuple:
        return predictor._detect(array, window)[:3]

    return {
        "whole": [plain((0, 0, width, height))],
        "tiles": [plain(w) for w in tiles],
        "mirrored": [mirrored(predictor, array, w) for w in tiles],
        "shifted": [plain(w) for w in shifted],
    }


def narrower(view: tuple, limit: float) -> tuple:
    """The detections of ``view`` narrower than ``limit`` pixels."""
    keep = (view[0][:, 2] - view[0][:, 0]) < limit
    return tuple(part[keep] for part in view)


def mirror_mean(view: tuple, mirror: tuple) -> tuple:
    """Each detection's score averaged with its mirror view's best match (IoU >= 0.5; else 0)."""
    boxes, scores, labels = view
    matched = torch.zeros_like(scores)
    if len(boxes) and len(mirror[0]):
        overlap = box_iou(boxes, mirror[0]) >= 0.5
        matched = torch.where(overlap, mirror[1][None, :], 0).amax(dim=1)
    return boxes, (scores + matched) / 2, labels


COMBINATIONS: dict[str, Callable[[Views], list[tuple]]] = {
    "whole + tiles (predict --tile)": lambda v: v["whole"] + v["tiles"],
    "whole only": lambda v: v["whole"],
    "tiles only": lambda v: v["tiles"],
    "whole + tiles + mirrored tiles": lambda v: v["whole"] + v["tiles"] + v["mirrored"],
    "whole + tiles + shifted tiles": lambda v: v["whole"] + v["tiles"] + v["shifted"],
    **{
        f"whole + tile detections narrower than {limit} px": (
            lambda v, limit=limit: v["whole"] + [narrower(t, limit) for t in v["tiles"]]
        )
        for limit in (32, 48, 64)
    },
    "whole + tiles scored with their mirror (mean)": lambda v: (
        v["whole"] + [mirror_mean(t, m) for t, m in zip(v["tiles"], v["mirrored"], strict=True)]
    ),
}


class Replay:
    """Stands in for a Predictor: returns precomputed predictions in the order asked."""

    def __init__(self, predictions: list[Prediction]) -> None:
        self._next = iter(predictions)

    def predict(self, image: object) -> Prediction:
        return next(self._next)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", required=True)
    parser.add_argument("--tile", type=int, default=96)
    args = parser.parse_args()

    predictor = Predictor.from_checkpoint(args.weights, SCENE_FLOOR)
    config = predictor.config
    faces = {path: boxes for path, boxes in held_back_scenes().items() if boxes}
    views = [
        views_of(predictor, np.asarray(read_image(path))[..., :3], args.tile) for path in faces
    ]
    for name, combine in COMBINATIONS.items():
        predictions = []
        for seen in views:
            parts = [
                (*view, torch.zeros((len(view[0]), 0, 0), dtype=torch.bool))
                for view in combine(seen)
            ]
            boxes, scores, _, _ = merge_views(
                parts, config.detection_nms_threshold, config.max_detections
            )
            predictions.append(Prediction(boxes.numpy(), scores.numpy(), [], np.zeros(0)))
        found = face_metrics(Replay(predictions), faces).to_dict()
        line = {"views": name, "tile": args.tile, "at_limit": rounded(found["at_limit"])}
        print(json.dumps({**line, "recall_floor": round(found["masked_recall"], 4)}), flush=True)


if __name__ == "__main__":
    main()
