"""Metrics: the original's per-image mAP (seed_ap), COCO metrics, reports, evaluate()."""

from .evaluate import evaluate
from .seed_ap import mean_seed_ap, seed_ap

__all__ = ["evaluate", "mean_seed_ap", "seed_ap"]
