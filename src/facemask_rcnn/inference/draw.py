"""Overlays: coloured masks, boxes and ``label score`` tags drawn on the image."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw

from .results import Prediction

PALETTE = [
    (230, 25, 75),
    (60, 180, 75),
    (0, 130, 200),
    (245, 130, 48),
    (145, 30, 180),
    (70, 240, 240),
    (240, 50, 230),
    (210, 245, 60),
]
STATUS_COLOURS = {"masked": (60, 180, 75), "incorrect": (245, 130, 48), "bare": (230, 25, 75)}


def overlay(
    image: Image.Image | np.ndarray, prediction: Prediction, alpha: float = 0.45
) -> Image.Image:
    """Image with coloured masks, boxes and ``label score`` tags drawn on; a faces model's
    colours say the status (green masked, orange incorrect, red bare)."""
    base = np.asarray(image, dtype=np.float32)[..., :3].copy()
    colours = [
        STATUS_COLOURS[label] if prediction.task == "faces" else PALETTE[i % len(PALETTE)]
        for i, label in enumerate(prediction.labels)
    ]
    for mask, colour in zip(prediction.masks, colours, strict=True):
        base[mask] = base[mask] * (1 - alpha) + np.array(colour, dtype=np.float32) * alpha
    result = Image.fromarray(base.clip(0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(result)
    for box, label, score, colour in zip(
        prediction.boxes, prediction.labels, prediction.scores, colours, strict=True
    ):
        draw.rectangle([float(v) for v in box], outline=colour, width=2)
        draw.text((float(box[0]) + 2, float(box[1]) + 1), f"{label} {score:.2f}", fill=colour)
    return result
