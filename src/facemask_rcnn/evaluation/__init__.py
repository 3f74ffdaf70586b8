"""Metrics: the original's per-image mAP (seed_ap) and COCO metrics."""

from .seed_ap import mean_seed_ap, seed_ap

__all__ = ["mean_seed_ap", "seed_ap"]
