"""Detection-level checks on photos with face boxes only (no outlines), e.g. crowd scenes.

A predicted mask "belongs" to a face when most of its box lies inside the face box. Recall is
the share of masked faces that get one, also per face width (crowd faces are mostly tiny);
false alarms are masks per bare face.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..data.faceboxes import FaceBox
from ..predict import Predictor, load_image

# Face widths in image pixels: (label, lower bound inclusive, upper bound exclusive).
WIDTH_BINS = (("<16", 0.0, 16.0), ("16-32", 16.0, 32.0), (">=32", 32.0, float("inf")))


def inside_fraction(box: np.ndarray, face: tuple[float, float, float, float]) -> float:
    """Share of ``box``'s area that lies inside ``face``."""
    ix = max(0.0, min(box[2], face[2]) - max(box[0], face[0]))
    iy = max(0.0, min(box[3], face[3]) - max(box[1], face[1]))
    area = max(1e-6, (box[2] - box[0]) * (box[3] - box[1]))
    return float(ix * iy / area)


def face_metrics(
    predictor: Predictor, faces: dict[Path, list[FaceBox]], inside: float = 0.5
) -> dict[str, Any]:
    """``masked_recall`` (overall and by face width) and ``masks_per_bare_face``."""
    masked = hits = bare = false_alarms = 0
    by_width = {label: [0, 0] for label, _, _ in WIDTH_BINS}  # label → [masked faces, hits]
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
                width = face.box[2] - face.box[0]
                label = next(name for name, low, high in WIDTH_BINS if low <= width < high)
                by_width[label][0] += 1
                by_width[label][1] += count > 0
            else:
                bare += 1
                false_alarms += count
    return {
        "images": len(seconds),
        "masked_faces": masked,
        "masked_recall": hits / masked if masked else 0.0,
        "masked_recall_by_width": {
            label: {"faces": n, "recall": round(h / n, 4) if n else 0.0}
            for label, (n, h) in by_width.items()
        },
        "bare_faces": bare,
        "masks_per_bare_face": false_alarms / bare if bare else 0.0,
        "latency_ms": float(np.mean(seconds) * 1000) if seconds else 0.0,
    }
