"""What ``evaluate`` returns: MaskMetrics on mask outlines, FaceMetrics on face boxes.

``to_dict`` is the one JSON form of each (``eval.json``); the CLI and the notebook read fields.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


def _plain(result: object) -> dict[str, Any]:
    """A result as JSON-ready data: nested dataclasses as dicts, paths as strings, None left out."""
    data = dataclasses.asdict(result)  # type: ignore[call-overload]
    return {k: str(v) if isinstance(v, Path) else v for k, v in data.items() if v is not None}


@dataclass(frozen=True)
class WidthRecall:
    """Masked-face recall over faces of one width bin."""

    faces: int
    recall: float


@dataclass(kw_only=True)
class FaceCounts:
    """Counts at one score threshold: the share of masked faces with a mask on them, masks per
    bare face (false alarms on faces) and masks per image on no labelled face at all."""

    masked_recall: float
    masked_recall_by_width: dict[str, WidthRecall]
    masks_per_bare_face: float
    stray_masks_per_image: float


@dataclass(kw_only=True)
class OperatingPoint(FaceCounts):
    """The counts at the lowest score (``min_score``; None: no score qualifies) whose masks per
    bare face stay within ``false_alarm_limit``."""

    false_alarm_limit: float
    min_score: float | None


@dataclass(kw_only=True)
class FaceMetrics(FaceCounts):
    """Face-level results on face boxes without outlines; the inherited counts are at the
    score ``face_metrics`` was given (default: every mask), ``at_limit`` at equal false alarms.
    ``status_ap50``: COCO box AP at IoU 0.5 per status and for ``face`` (face pipelines only)."""

    images: int
    masked_faces: int
    bare_faces: int
    at_limit: OperatingPoint
    latency_ms: float
    status_ap50: dict[str, float] | None = None
    device: str = ""
    problems: list[str] = field(default_factory=list)
    folder: Path | None = None

    def to_dict(self) -> dict[str, Any]:
        return _plain(self)


@dataclass(kw_only=True)
class MaskMetrics:
    """Mask-level results on outlines: the original's per-image mAP (Matterport, at IoU 0.5 and
    0.75), the mean IoU of each image's top mask, and COCO ``segm`` / ``bbox`` statistics
    (``AP``, ``AP50``, ``AP75``, ``APs``, ``APm``, ``APl``, ``AR100``, ``per_class``…)."""

    images: int
    min_score: float
    matterport_map50: float
    matterport_map75: float
    mean_top_mask_iou: float
    segm: dict[str, Any]
    bbox: dict[str, Any]
    latency_ms: float
    device: str = ""
    problems: list[str] = field(default_factory=list)
    folder: Path | None = None

    def to_dict(self) -> dict[str, Any]:
        return _plain(self)
