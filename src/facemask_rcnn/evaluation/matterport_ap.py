"""The original's number: Matterport ``compute_ap`` per image (mask IoU), averaged over images.

Matterport matched predictions in score order to the highest-IoU unmatched ground truth of the
same class (a higher-IoU GT of another class is skipped, not a stop), then took the area under
the interpolated precision/recall curve. We reproduce that exactly.
"""

from __future__ import annotations

import numpy as np


def mask_ious(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """IoU matrix [n_pred, n_gt] of binary masks shaped (N, H, W)."""
    if len(pred) == 0 or len(gt) == 0:
        return np.zeros((len(pred), len(gt)))
    p = pred.reshape(len(pred), -1).astype(np.float64)
    g = gt.reshape(len(gt), -1).astype(np.float64)
    inter = p @ g.T
    union = p.sum(1)[:, None] + g.sum(1)[None, :] - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-9), 0.0)


def match(
    gt_labels: np.ndarray,
    pred_labels: np.ndarray,
    ious: np.ndarray,
    iou_threshold: float = 0.5,
) -> tuple[np.ndarray, np.ndarray]:
    """Matterport ``compute_matches``: (pred_match, gt_match) index arrays, -1 where unmatched.

    Predictions must already be sorted by descending score (``matterport_ap`` does it).
    """
    pred_match = -np.ones(len(pred_labels), dtype=int)
    gt_match = -np.ones(len(gt_labels), dtype=int)
    for i in range(len(pred_labels)):
        for j in np.argsort(ious[i])[::-1]:
            if gt_match[j] > -1:
                continue
            if ious[i, j] < iou_threshold:
                break
            if pred_labels[i] == gt_labels[j]:
                gt_match[j], pred_match[i] = i, j
                break
    return pred_match, gt_match


def matterport_ap(
    gt_masks: np.ndarray,
    gt_labels: np.ndarray,
    pred_masks: np.ndarray,
    pred_labels: np.ndarray,
    pred_scores: np.ndarray,
    iou_threshold: float = 0.5,
) -> float | None:
    """AP of one image as Matterport ``compute_ap``; None when the image has no ground truth."""
    if len(gt_labels) == 0:
        return None
    order = np.argsort(pred_scores, kind="stable")[::-1]
    pred_masks, pred_labels = pred_masks[order], pred_labels[order]
    ious = mask_ious(pred_masks, gt_masks)
    pred_match, gt_match = match(gt_labels, pred_labels, ious, iou_threshold)
    hits = np.cumsum(pred_match > -1)
    precisions = np.concatenate([[0.0], hits / (np.arange(len(pred_match)) + 1), [0.0]])
    recalls = np.concatenate([[0.0], hits / len(gt_match), [1.0]])
    for i in range(len(precisions) - 2, -1, -1):
        precisions[i] = max(precisions[i], precisions[i + 1])
    steps = np.where(recalls[:-1] != recalls[1:])[0] + 1
    return float(np.sum((recalls[steps] - recalls[steps - 1]) * precisions[steps]))


def mean_matterport_ap(per_image: list[float | None]) -> float:
    """Mean over images that have ground truth (the original's mAP)."""
    values = [v for v in per_image if v is not None]
    return float(np.mean(values)) if values else 0.0
