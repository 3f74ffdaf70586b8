"""Faces with a status: the instances of a ``task: faces`` model.

Each instance is a face (its box) with a status, ``masked``, ``incorrect`` (nose or chin
uncovered) or ``bare``, and, when the data outlines it, the face mask on it as its shape.
``face_records`` turns any dataset into such records:

- face boxes (COCO ``bbox`` only, e.g. Kaggle's with_mask / without_mask /
  mask_weared_incorrect): box-only faces; their status is their label.
- label PNGs that mark the face (MaskedFace: skin 1, mask 2): one face per image, boxed by its
  skin and mask pixels, the mask as its shape; the status from the sub-category folder
  (CWM/IWM) or the label.
- mask outlines alone (VIA, COCO, YOLO polygons): each mask gets a face box derived from it
  (``face_around``); such a dataset says nothing about bare faces, so ``bare`` is not among its
  annotated classes and the model is not taught that its unlabelled faces are background.
"""

from __future__ import annotations

import dataclasses

from ..config import FACE_STATUSES as STATUSES
from .records import ImageRecord, Instance

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


def face_records(records: list[ImageRecord], problems: list | None = None) -> list[ImageRecord]:
    """The records with faces as instances (see the module docstring); instances whose label
    names no status are left out, with a problem line each when ``problems`` is given."""
    from .checks import Problem

    out = []
    for record in records:
        faces, skipped = [], set()
        for inst in record.instances:
            # a sub-category folder (CWM/IWM) or how it is worn says more than a "face_mask" label
            said = [inst.attributes.get(k) for k in STATUS_ATTRIBUTES] + [inst.label]
            status = next((status_of(v) for v in said if isinstance(v, str) and status_of(v)), None)
            if status is None:
                skipped.add(inst.label)
                continue
            faces.append(_face(inst, status, record))
        if problems is not None:
            for label in sorted(skipped):
                problems.append(
                    Problem(record.source, record.file_name, f"label {label!r} is no face status")
                )
        face_boxes = all(f.attributes.get("face") != "derived" for f in faces)
        annotated = list(STATUSES) if face_boxes else list(MASKED_STATUSES)
        out.append(dataclasses.replace(record, instances=_merged(faces), annotated=annotated))
    return out


def _face(inst: Instance, status: str, record: ImageRecord) -> Instance:
    """One face instance from a box-only face, or a mask with (or without) a known face box."""
    if not inst.has_shape:
        return dataclasses.replace(inst, label=status)
    if inst.attributes.get("face_box"):
        box = tuple(float(v) for v in inst.attributes["face_box"])
        attributes = {**inst.attributes, "face": "labelled"}
    else:
        box = face_around(inst.box(), record.width, record.height)
        attributes = {**inst.attributes, "face": "derived"}
    return dataclasses.replace(inst, label=status, bbox=box, attributes=attributes)  # type: ignore[arg-type]


def _merged(faces: list[Instance]) -> list[Instance]:
    """Mask parts that share one labelled face box become one face (a mask split by a strap or
    a seam is one mask on one face)."""
    from pycocotools import mask as mask_utils

    merged: list[Instance] = []
    for face in faces:
        twin = next(
            (
                m
                for m in merged
                if face.rle is not None
                and m.rle is not None
                and face.attributes.get("face") == "labelled"
                and m.bbox == face.bbox
            ),
            None,
        )
        if twin is None:
            merged.append(face)
        else:
            twin.rle = mask_utils.merge([twin.rle, face.rle])
            if isinstance(twin.rle["counts"], bytes):
                twin.rle["counts"] = twin.rle["counts"].decode("ascii")
    return merged
