"""Metrics: the original's per-image mAP (matterport_ap), COCO metrics, reports, evaluate()."""

from .evaluate import evaluate
from .matterport_ap import matterport_ap, mean_matterport_ap
from .results import FaceMetrics, MaskMetrics

__all__ = ["FaceMetrics", "MaskMetrics", "evaluate", "mean_matterport_ap", "matterport_ap"]
