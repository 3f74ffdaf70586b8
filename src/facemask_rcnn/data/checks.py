"""Problems found while reading annotations: one line each, naming the file and the item.

Readers never raise on bad items; they append a Problem and keep the rest of the dataset.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from pycocotools import mask as mask_utils

from .images import ImageError, image_size
from .records import polygon_area

# What malformed content raises inside a reader's per-item code: caught there, named, skipped.
MALFORMED = (KeyError, TypeError, ValueError, AttributeError, IndexError, OverflowError)


@dataclass(frozen=True)
class Problem:
    """One bad item: ``file`` (annotation or image), ``item`` (image / region), ``message``."""

    file: str
    item: str
    message: str
    severity: str = "error"  # "error": item dropped; "warning": item kept after a fix

    def __str__(self) -> str:
        message = " ".join(self.message.split())  # one line, whatever a library's error said
        return f"{self.severity}: {self.file}: {self.item}: {message}"


def malformed(err: Exception) -> str:
    """A one-line reason for a MALFORMED exception (``missing field 'x'`` for a KeyError)."""
    if isinstance(err, KeyError):
        return f"missing field {err}"
    if type(err) is ValueError:
        return str(err)
    return f"malformed field ({type(err).__name__}: {err})"


def read_json(path: Path, problems: list[Problem]) -> Any:
    """Parsed JSON of an annotation file, or None with a Problem (unreadable, not UTF-8…)."""
    try:
        return json.loads(path.read_bytes().decode("utf-8"))
    except UnicodeDecodeError as err:
        problems.append(Problem(str(path), "file", f"not UTF-8 text ({err.reason})"))
    except (OSError, json.JSONDecodeError, RecursionError) as err:
        problems.append(Problem(str(path), "file", f"cannot read JSON ({err})"))
    return None


def locate_image(
    folder: Path, name: Any, src: str, problems: list[Problem]
) -> tuple[Path, int, int] | None:
    """``folder/name`` with its displayed (width, height), or None with a Problem: a name that is
    not text, that leaves the dataset folder (absolute, or ``..``), or an unreadable image."""
    if not isinstance(name, str) or not name.strip():
        problems.append(Problem(src, repr(name), "file name is missing or not text"))
        return None
    normal = os.path.normpath(name)
    if os.path.isabs(normal) or normal == ".." or normal.startswith(".." + os.sep):
        problems.append(Problem(src, name, f"path leaves the dataset folder {folder}, refused"))
        return None
    path = folder / normal
    try:
        width, height = image_size(path)
    except ImageError as err:
        problems.append(Problem(src, name, err.reason))
        return None
    return path, width, height


def clean_polygon(
    points: np.ndarray, width: int, height: int, file: str, item: str, problems: list[Problem]
) -> np.ndarray | None:
    """Validate one polygon: < 3 points or no pixel covered drop it; points outside are
    clipped. A polygon under 1 px² is kept when it covers a pixel centre (a one-pixel mask's
    outline), so every mask a writer outlines reads back."""
    if len(points) < 3:
        problems.append(Problem(file, item, f"polygon has {len(points)} point(s), needs >= 3"))
        return None
    if not np.isfinite(points).all():
        problems.append(Problem(file, item, "polygon has non-numeric coordinates"))
        return None
    inside = (points[:, 0] >= 0) & (points[:, 0] <= width) & (points[:, 1] >= 0)
    inside &= points[:, 1] <= height
    if not inside.all():
        problems.append(
            Problem(
                file,
                item,
                f"{int((~inside).sum())} point(s) outside the {width}x{height} image, clipped",
                "warning",
            )
        )
        points = np.stack([points[:, 0].clip(0, width), points[:, 1].clip(0, height)], axis=1)
    if polygon_area(points) < 1.0 and not _covers_a_pixel(points, width, height):
        problems.append(Problem(file, item, "region covers no pixel"))
        return None
    return points


def _covers_a_pixel(points: np.ndarray, width: int, height: int) -> bool:
    """True when pycocotools, which rasterises every reader's polygons, fills any pixel."""
    rle = mask_utils.frPyObjects([points.ravel().tolist()], height, width)
    return bool(mask_utils.area(rle).sum())


def resolve_label(
    raw: object, class_names: list[str] | None, file: str, item: str, problems: list[Problem]
) -> str | None:
    """Check a class value against the known names (None = accept any non-empty value)."""
    label = str(raw).strip() if raw is not None else ""
    if not label:
        problems.append(Problem(file, item, "class value is missing"))
        return None
    if class_names is not None and label not in class_names:
        problems.append(Problem(file, item, f"unknown class value {label!r}; known {class_names}"))
        return None
    return label


def first_of_each_name(names: list[str], file: str, problems: list[Problem]) -> list[int]:
    """Indices to keep: the first entry of each file name; later duplicates are reported."""
    seen: set[str] = set()
    keep = []
    for i, name in enumerate(names):
        if name in seen:
            problems.append(Problem(file, name, "duplicate file name, later entry ignored"))
        else:
            seen.add(name)
            keep.append(i)
    return keep


def summarize(records: list, problems: list[Problem], title: str = "") -> str:
    """Text table: images, instances per class, box-size percentiles, problems (one per line)."""
    counts: dict[str, int] = {}
    sides = []
    for rec in records:
        for inst in rec.instances:
            counts[inst.label] = counts.get(inst.label, 0) + 1
            x0, y0, x1, y1 = inst.box()
            sides.append(math.sqrt(max(x1 - x0, 0) * max(y1 - y0, 0)))
    negatives = sum(1 for rec in records if not rec.instances)
    lines = [title] if title else []
    lines.append(f"  images           {len(records)}  (without instances: {negatives})")
    lines.append(f"  instances        {sum(counts.values())}")
    for label in sorted(counts):
        lines.append(f"    {label:<14} {counts[label]}")
    if sides:
        p = np.percentile(sides, [5, 25, 50, 75, 95])
        lines.append(
            "  box side px      p5 {:.0f}  p25 {:.0f}  p50 {:.0f}  p75 {:.0f}  p95 {:.0f}".format(
                *p
            )
        )
    errors = sum(1 for p in problems if p.severity == "error")
    lines.append(f"  problems         {errors} error(s), {len(problems) - errors} warning(s)")
    lines += [f"    {p}" for p in problems]
    return "\n".join(lines)
