"""Detection-level checks on photos with face boxes only (no outlines), e.g. crowd scenes.

A predicted mask "belongs" to a face when most of its box lies inside the face box. Recall is
the share of masked faces that get one; false alarms are masks per bare face.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..data.faceboxes import FaceBox
from ..predict import Predictor, load_image


def inside_fraction(box: np.ndarray, face: tuple[float, float, float, float]) -> float:
    """Share of ``box``'s area that lies inside ``face``."""
    ix = max(0.0, min(box[2], face[2]) - max(box[0], face[0]))
    iy = max(0.0, min(box[3], face[3]) - max(box[1], face[1]))
    area = max(1e-6, (box[2] - box[0]) * (box[3] - box[1]))
    return float(ix * iy / area)


def face_metrics(
    predictor: Predictor, faces: dict[Path, list[FaceBox]], inside: float = 0.5
) -> dict[str, Any]:
    """``masked_recall`` and ``masks_per_bare_face`` over the given images."""
    masked = hits = bare = false_alarms = 0
    seconds = []
    for path, boxes in faces.items():
        if not boxes:
            continue
        prediction = predictor.predict(load_image(path))
        seconds.append(prediction.seconds)
        for face in boxes:
            count = sum(inside_fraction(b, face.box) >= inside for b in prediction.boxes)
            if face.masked:
                masked += 1
                hits += count > 0
            else:
                bare += 1
                false_alarms += count
    return {
        "images": len(seconds),
        "masked_faces": masked,
        "masked_recall": hits / masked if masked else 0.0,
        "bare_faces": bare,
        "masks_per_bare_face": false_alarms / bare if bare else 0.0,
        "latency_ms": float(np.mean(seconds) * 1000) if seconds else 0.0,
    }
