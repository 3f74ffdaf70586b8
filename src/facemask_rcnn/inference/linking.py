"""Masks from a masks model on a faces model's faces (``Predictor(masks=...)``).

A faces model predicts each mask on a 28×28 grid over the whole face; a masks model, trained on
outlines alone, predicts it over the mask's own box, which follows real masks' edges more
closely (RESULTS: real crops). Linked, each masked or incorrectly worn face takes the masks
model's best mask lying in it, and keeps its own where that model found none.
"""

from __future__ import annotations

import numpy as np

from ..data.faces import MASKED_STATUSES, inside_fraction
from .results import Prediction

INSIDE = 0.5  # share of a mask's box that lies in the face box for the mask to be the face's


def link_masks(faces: Prediction, masks: Prediction) -> np.ndarray:
    """``faces``' masks with each masked or incorrect face's replaced by the highest-scoring
    mask of ``masks`` whose box lies mostly in the face box; bare faces keep none."""
    linked = faces.masks.copy()
    for i, (box, status) in enumerate(zip(faces.boxes, faces.labels, strict=True)):
        if status not in MASKED_STATUSES:
            continue
        inside = [inside_fraction(b, tuple(box)) >= INSIDE for b in masks.boxes]
        if any(inside):
            best = int(np.argmax(np.where(inside, masks.scores, -np.inf)))
            linked[i] = masks.masks[best]
    return linked
