"""COCO metrics through pycocotools: segm and bbox AP/AR, per-class AP, PR curves at IoU 0.5."""

from __future__ import annotations

import contextlib
import io
from typing import Any

import numpy as np
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from ..data.formats.coco import to_coco
from ..data.records import ImageRecord
from ..inference.results import result_entry

STAT_NAMES = (
    "AP",
    "AP50",
    "AP75",
    "APs",
    "APm",
    "APl",
    "AR1",
    "AR10",
    "AR100",
    "ARs",
    "ARm",
    "ARl",
)


def detections(predictions: list[ImageRecord], class_names: list[str]) -> list[dict[str, Any]]:
    """COCO results list; ``image_id`` is the record's position + 1, as in ``to_coco``."""
    return [
        result_entry(image_id, inst.label, class_names, inst.box(), inst.score, inst.rle)
        for image_id, rec in enumerate(predictions, start=1)
        for inst in rec.instances
    ]


def coco_metrics(
    ground_truth: list[ImageRecord],
    predictions: list[ImageRecord],
    class_names: list[str],
    iou_types: tuple[str, ...] = ("segm", "bbox"),
) -> dict[str, Any]:
    """``{"segm": {...}, "bbox": {...}}`` with STAT_NAMES, ``per_class`` AP (IoU 0.5:0.95),
    ``per_class50`` AP (IoU 0.5) and ``pr50`` curves.

    ``predictions[i]`` belongs to ``ground_truth[i]``; prediction instances need scores, and RLE
    for ``segm`` (box-only ground truth: ``iou_types=("bbox",)``).
    """
    gt = COCO()
    gt.dataset = to_coco(ground_truth, class_names)
    with contextlib.redirect_stdout(io.StringIO()):
        gt.createIndex()
    dets = detections(predictions, class_names)
    result: dict[str, Any] = {}
    for iou_type in iou_types:
        if not dets:
            result[iou_type] = {name: 0.0 for name in STAT_NAMES}
            result[iou_type]["per_class"] = dict.fromkeys(class_names, 0.0)
            result[iou_type]["per_class50"] = dict.fromkeys(class_names, 0.0)
            result[iou_type]["pr50"] = {}
            continue
        with contextlib.redirect_stdout(io.StringIO()):
            dt = gt.loadRes(dets)
            run = COCOeval(gt, dt, iou_type)
            run.evaluate()
            run.accumulate()
            run.summarize()
        stats = {name: float(v) for name, v in zip(STAT_NAMES, run.stats, strict=True)}
        precision = run.eval["precision"]  # [IoU, recall, class, area, maxDets]
        per_class, per_class50, curves = {}, {}, {}
        for k, name in enumerate(class_names):
            per_class[name] = _mean_precision(precision[:, :, k, 0, -1])
            per_class50[name] = _mean_precision(precision[0, :, k, 0, -1])
            curves[name] = precision[0, :, k, 0, -1].tolist()
        result[iou_type] = {
            **stats,
            "per_class": per_class,
            "per_class50": per_class50,
            "pr50": curves,
        }
    result["recall_thresholds"] = np.linspace(0, 1, 101).tolist()
    return result


def _mean_precision(p: np.ndarray) -> float:
    """Mean of the defined precisions (pycocotools marks a class without ground truth -1)."""
    return float(p[p > -1].mean()) if (p > -1).any() else -1.0
