"""Faces with a status: what the face head (``faces/``) learns from and is measured on.

Each instance is a face (its box) with a status, ``masked``, ``incorrect`` (nose or chin
uncovered) or ``bare``, and, when the data outlines it, the face mask on it as its shape.
``face_records`` turns any dataset into such records:

- face boxes (COCO ``bbox`` only, e.g. Kaggle's with_mask / without_mask /
  mask_weared_incorrect; VIA ``part: face`` rectangles): box-only faces, their status their
  label; a mask outline lying in one is that face's mask.
- label PNGs that mark the face (MaskedFace: skin 1, mask 2): one face per image, boxed by its
  skin and mask pixels, the mask as its shape; the status from the sub-category folder
  (CWM/IWM) or the label.
- mask outlines alone (VIA, COCO, YOLO polygons): each mask gets a face box derived from it
  (``face_around``); such a dataset says nothing about bare faces, so ``bare`` is not among its
  annotated classes and the finder's other boxes in it are not taken as "not a face".
"""

from __future__ import annotations

import dataclasses
from typing import Any

from ..config import FACE_STATUSES as STATUSES
from .checks import Problem
from .records import ImageRecord, Instance, mask_to_rle

MASKED_STATUSES = ("masked", "incorrect")  # faces whose mask is reported
# Labels of public face-mask datasets and of this package → status.
STATUS_OF = {
    "masked": "masked",
    "with_mask": "masked",
    "mask": "masked",
    "face_mask": "masked",
    "cwm": "masked",
    "correct": "masked",
    "incorrect": "incorrect",
    "mask_weared_incorrect": "incorrect",
    "mask_worn_incorrectly": "incorrect",
    "iwm": "incorrect",
    "low": "incorrect",
    "bare": "bare",
    "without_mask": "bare",
    "no_mask": "bare",
    "nomask": "bare",
    "face": "bare",
}
# Instance attributes that may say the status (label PNG folder; the synthesiser's "worn").
STATUS_ATTRIBUTES = ("folder", "status", "worn")
# A worn mask covers about the lower half of the face, cheek to cheek.
MASK_SHARE_OF_FACE_HEIGHT = 0.5
FACE_MARGIN = 0.1  # of the mask's width, either side; of its height, below


def status_of(label: str) -> str | None:
    """The status a dataset label names (case-insensitive), or None for an unknown label."""
    return STATUS_OF.get(label.strip().lower().replace(" ", "_").replace("-", "_"))


def face_around(
    mask_box: tuple[float, float, float, float], width: int, height: int
) -> tuple[float, float, float, float]:
    """A face box derived from a worn mask's box: as wide plus a margin, extended upwards so the
    mask is the lower ``MASK_SHARE_OF_FACE_HEIGHT`` of the face, clipped to the image."""
    x0, y0, x1, y1 = mask_box
    w, h = x1 - x0, y1 - y0
    top = y1 - h / MASK_SHARE_OF_FACE_HEIGHT
    return (
        max(0.0, x0 - FACE_MARGIN * w),
        max(0.0, top),
        min(float(width), x1 + FACE_MARGIN * w),
        min(float(height), y1 + FACE_MARGIN * h),
    )


def inside_fraction(box: Any, face: tuple[float, float, float, float]) -> float:
    """Share of ``box``'s area (x0, y0, x1, y1) that lies inside ``face``."""
    ix = max(0.0, min(box[2], face[2]) - max(box[0], face[0]))
    iy = max(0.0, min(box[3], face[3]) - max(box[1], face[1]))
    area = max(1e-6, (box[2] - box[0]) * (box[3] - box[1]))
    return float(ix * iy / area)


def face_records(records: list[ImageRecord], problems: list | None = None) -> list[ImageRecord]:
    """The records with faces as instances (see the module docstring); instances whose label
    names no status are left out, with a problem line each when ``problems`` is given.

    Box-only instances are faces. A mask lying mostly inside one of them (a VIA project from
    ``predict --via-out``, corrected) is that face's mask; parts of one mask on one face are one
    mask (a mask split at a seam or by a strap).
    """
    out = []
    for record in records:
        boxes: list[Instance] = []
        masks: list[tuple[Instance, str]] = []
        for inst in record.instances:
            status = _status(inst)
            if status is None:
                if problems is not None:
                    message = f"label {inst.label!r} is no face status"
                    problems.append(Problem(record.source, record.file_name, message))
            elif inst.has_shape:
                masks.append((inst, status))
            else:
                boxes.append(dataclasses.replace(inst, label=status))
        faces = boxes + [_mask_face(mask, status, boxes, record) for mask, status in masks]
        derived = any(f.attributes.get("face") == "derived" for f in faces)
        annotated = list(MASKED_STATUSES) if derived and not boxes else list(STATUSES)
        out.append(
            dataclasses.replace(record, instances=_merged(faces, record), annotated=annotated)
        )
    return out


def _status(inst: Instance) -> str | None:
    """The status an instance says: a sub-category folder (CWM/IWM) or how it is worn says more
    than a generic ``face_mask`` label."""
    said = [inst.attributes.get(k) for k in STATUS_ATTRIBUTES] + [inst.label]
    return next((status_of(v) for v in said if isinstance(v, str) and status_of(v)), None)


def _mask_face(mask: Instance, status: str, boxes: list[Instance], record: ImageRecord) -> Instance:
    """A mask as a face: on the labelled face box it lies in (taking that face's status), on
    the face its label PNG marks, or on a face derived from the mask."""
    box = mask.box()
    inside = [(inside_fraction(box, face.box()), face) for face in boxes]
    share, face = max(inside, key=lambda pair: pair[0], default=(0.0, None))
    if face is not None and share >= 0.5:
        attributes = {**mask.attributes, "face": "labelled"}
        return dataclasses.replace(mask, label=face.label, bbox=face.bbox, attributes=attributes)
    if mask.attributes.get("face_box"):
        face_box = tuple(float(v) for v in mask.attributes["face_box"])
        attributes = {**mask.attributes, "face": "labelled"}
    else:
        face_box = face_around(box, record.width, record.height)
        attributes = {**mask.attributes, "face": "derived"}
    return dataclasses.replace(mask, label=status, bbox=face_box, attributes=attributes)  # type: ignore[arg-type]


def _merged(faces: list[Instance], record: ImageRecord) -> list[Instance]:
    """One instance per labelled face box: its mask parts joined; a face box with a mask
    loses its box-only twin."""
    merged: dict[Any, Instance] = {}
    for face in faces:
        key = face.bbox if face.attributes.get("face") != "derived" else id(face)
        twin = merged.get(key)
        if twin is None or not twin.has_shape:
            merged[key] = face if twin is None or face.has_shape else twin
        elif face.has_shape:
            both = twin.to_mask(record.height, record.width) | face.to_mask(
                record.height, record.width
            )
            twin.rle, twin.polygons = mask_to_rle(both), []
    return list(merged.values())
