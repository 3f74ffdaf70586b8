"""YOLO labels (Ultralytics, Roboflow, CVAT exports): ``images/`` + ``labels/``.

Each ``labels/NAME.txt`` line is a polygon ``class x1 y1 x2 y2 …`` or a box ``class cx cy w h``
(a box-only instance, e.g. a face box), normalised to the image size; class names come from
``data.yaml`` (``names``), ``classes.txt`` or ``obj.names`` in the folder or up to two folders
above it. An image without a label file has no instances.
Two layouts: ``FOLDER/images`` + ``FOLDER/labels`` (Roboflow's ``train/images``…) and
``ROOT/images/SPLIT`` + ``ROOT/labels/SPLIT`` (Ultralytics).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .boxes import face_box
from .checks import Problem, clean_polygon, locate_image, resolve_label
from .faceboxes import yolo_class_names, yolo_image, yolo_lines
from .images import IMAGE_SUFFIXES
from .layout import SPLIT_ALIASES
from .records import ImageRecord, Instance


def yolo_folders(folder: Path, split: str | None = None) -> tuple[Path, Path] | None:
    """(images, labels) folders of a YOLO dataset at ``folder`` (for ``split``), or None."""
    pairs = [(folder / "images", folder / "labels")]
    for name in SPLIT_ALIASES.get(split, (split,)) if split else ():
        pairs.append((folder / "images" / name, folder / "labels" / name))
    for images, labels in reversed(pairs):  # the split's own folders first
        if images.is_dir() and labels.is_dir() and any(labels.glob("*.txt")):
            return images, labels
    return None


def read_yolo_seg(
    images: Path,
    labels: Path,
    class_names: list[str] | None = None,
    keep_empty: bool = False,
) -> tuple[list[ImageRecord], list[Problem]]:
    """Read YOLO polygon labels; malformed lines and files are problems, never exceptions."""
    problems: list[Problem] = []
    names = None
    for folder in (labels, labels.parent, labels.parent.parent, images.parent.parent):
        names = yolo_class_names(folder, problems)
        if names is not None:
            break
    records = []
    for file in sorted(labels.glob("*.txt")):
        found = yolo_image(file, images, problems)
        if found is None:
            continue
        path, width, height = found
        instances = []
        for item, numbers in yolo_lines(file, problems):
            instance = _instance(numbers, names, class_names, (width, height), file, item, problems)
            if instance is not None:
                instances.append(instance)
        if instances or keep_empty:
            records.append(ImageRecord(path, width, height, instances, str(file)))
    if keep_empty:  # background images: no label file
        for path in sorted(images.iterdir()):
            if path.suffix.lower() in IMAGE_SUFFIXES and not (labels / f"{path.stem}.txt").exists():
                found = locate_image(images, path.name, str(images), problems)
                if found is not None:
                    records.append(ImageRecord(*found, [], str(labels)))
    return records, problems


def _instance(
    numbers: list[float],
    names: list[str] | None,
    class_names: list[str] | None,
    size: tuple[int, int],
    file: Path,
    item: str,
    problems: list[Problem],
) -> Instance | None:
    """One label line as an Instance (a polygon, or a box-only one for ``class cx cy w h``), or
    None with the problem appended."""
    src = str(file)
    if len(numbers) != 5 and (len(numbers) < 7 or len(numbers) % 2 == 0):
        problems.append(
            Problem(src, item, "expected: class x1 y1 x2 y2 x3 y3 … or class cx cy w h")
        )
        return None
    index = int(numbers[0])
    if names is not None and not 0 <= index < len(names):
        problems.append(Problem(src, item, f"class {index} is not in the {len(names)} names"))
        return None
    raw = names[index] if names is not None else str(index)
    label = resolve_label(raw, class_names, src, item, problems)
    if label is None:
        return None
    scale = np.array(size, dtype=float)
    if len(numbers) == 5:  # a box without an outline: trains detection only
        cx, cy, w, h = numbers[1:]
        x0, y0 = (cx - w / 2) * size[0], (cy - h / 2) * size[1]
        try:
            box = face_box(
                max(0.0, x0),
                max(0.0, y0),
                min(size[0], x0 + w * size[0]),
                min(size[1], y0 + h * size[1]),
                label,
            )
        except ValueError as err:
            problems.append(Problem(src, item, str(err)))
            return None
        return Instance(label, bbox=box.box)
    points = np.asarray(numbers[1:], dtype=float).reshape(-1, 2) * scale
    points = clean_polygon(points, *size, src, item, problems)
    return None if points is None else Instance(label, [points])
