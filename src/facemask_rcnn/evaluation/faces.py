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
from ..data.images import read_image
from ..inference import Predictor

# Face widths in image pixels: (label, lower bound inclusive, upper bound exclusive).
WIDTH_BINS = (("<16", 0.0, 16.0), ("16-32", 16.0, 32.0), (">=32", 32.0, float("inf")))


def inside_fraction(box: np.ndarray, face: tuple[float, float, float, float]) -> float:
    """Share of ``box``'s area that lies inside ``face``."""
    ix = max(0.0, min(box[2], face[2]) - max(box[0], face[0]))
    iy = max(0.0, min(box[3], face[3]) - max(box[1], face[1]))
    area = max(1e-6, (box[2] - box[0]) * (box[3] - box[1]))
    return float(ix * iy / area)


def face_metrics(
    predictor: Predictor,
    faces: dict[Path, list[FaceBox]],
    inside: float = 0.5,
    min_score: float | None = None,
    false_alarm_limit: float = 0.10,
) -> dict[str, Any]:
    """``masked_recall`` (overall and by face width) and ``masks_per_bare_face``.

    Counted at ``min_score`` (default: every mask the predictor returns), and in ``at_limit`` at
    the lowest score threshold, down to the predictor's own, whose masks per bare face stay
    within ``false_alarm_limit``: models with different calibration compare at equal false alarms.
    """
    best: list[float] = []  # per masked face: its best mask's score (NaN: none)
    widths: list[float] = []
    alarms: list[float] = []  # the score of every mask on a bare face
    bare = 0
    seconds = []
    for path, boxes in faces.items():
        if not boxes:
            continue
        prediction = predictor.predict(read_image(path))
        seconds.append(prediction.seconds)
        for face in boxes:
            on_face = [inside_fraction(b, face.box) >= inside for b in prediction.boxes]
            scores = prediction.scores[np.array(on_face, bool)]
            if face.masked:
                best.append(float(scores.max()) if len(scores) else float("nan"))
                widths.append(face.box[2] - face.box[0])
            else:
                bare += 1
                alarms += scores.tolist()
    best_scores, face_widths, alarm_scores = np.array(best), np.array(widths), np.array(alarms)

    def counted(threshold: float) -> dict[str, Any]:
        hits = best_scores >= threshold  # NaN (no mask) is never a hit
        by_width = {}
        for label, low, high in WIDTH_BINS:
            chosen = (face_widths >= low) & (face_widths < high)
            n = int(chosen.sum())
            by_width[label] = {
                "faces": n,
                "recall": round(float(hits[chosen].mean()), 4) if n else 0.0,
            }
        return {
            "masked_recall": float(hits.mean()) if len(hits) else 0.0,
            "masked_recall_by_width": by_width,
            "masks_per_bare_face": float((alarm_scores >= threshold).sum() / bare) if bare else 0.0,
        }

    scores = np.concatenate([best_scores[~np.isnan(best_scores)], alarm_scores])
    candidates = np.append(np.unique(scores), np.inf)  # every threshold the masks allow
    # false alarms at or above each candidate; the first within the limit is the lowest one
    above = len(alarm_scores) - np.searchsorted(np.sort(alarm_scores), candidates)
    within = above <= false_alarm_limit * bare if bare else np.ones(len(candidates), bool)
    limit_score = float(candidates[np.argmax(within)])  # the last (inf) is always within
    return {
        "images": len(seconds),
        "masked_faces": len(best),
        "bare_faces": bare,
        **counted(-np.inf if min_score is None else min_score),
        "at_limit": {
            "false_alarm_limit": false_alarm_limit,
            "min_score": round(float(limit_score), 4) if np.isfinite(limit_score) else None,
            **counted(limit_score),
        },
        "latency_ms": float(np.mean(seconds) * 1000) if seconds else 0.0,
    }
