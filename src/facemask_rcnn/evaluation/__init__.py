"""Metrics: the original's per-image mAP (matterport_ap), COCO metrics, reports, evaluate()."""

from .evaluate import evaluate
from .matterport_ap import matterport_ap, mean_matterport_ap

__all__ = ["evaluate", "mean_matterport_ap", "matterport_ap"]
