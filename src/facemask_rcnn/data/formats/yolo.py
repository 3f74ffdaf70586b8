"""YOLO labels (Ultralytics, Roboflow, CVAT exports): ``images/`` + ``labels/``.

Each ``labels/NAME.txt`` line is a polygon ``class x1 y1 x2 y2 …`` or a box ``class cx cy w h``
(a box-only instance, e.g. a face box), normalised to the image size; class names come from
``data.yaml`` (``names``), ``classes.txt`` or ``obj.names`` in the folder or up to two folders
above it. An image without a label file has no instances.
Two layouts: ``FOLDER/images`` + ``FOLDER/labels`` (Roboflow's ``train/images``…) and
``ROOT/images/SPLIT`` + ``ROOT/labels/SPLIT`` (Ultralytics).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import yaml

from ..boxes import FaceBox, Faces, face_box
from ..checks import MALFORMED, Problem, clean_polygon, locate_image, resolve_label
from ..images import IMAGE_SUFFIXES
from ..layout import SPLIT_ALIASES
from ..records import ImageRecord, Instance


def yolo_folders(folder: Path, split: str | None = None) -> tuple[Path, Path] | None:
    """(images, labels) folders of a YOLO dataset at ``folder`` (for ``split``), or None."""
    pairs = [(folder / "images", folder / "labels")]
    for name in SPLIT_ALIASES.get(split, (split,)) if split else ():
        pairs.append((folder / "images" / name, folder / "labels" / name))
    for images, labels in reversed(pairs):  # the split's own folders first
        if images.is_dir() and labels.is_dir() and any(labels.glob("*.txt")):
            return images, labels
    return None


def yolo_class_names(folder: Path, problems: list[Problem] | None = None) -> list[str] | None:
    """Class names from ``classes.txt`` / ``obj.names`` (one per line) or ``data.yaml`` names
    (a list, or a mapping of index to name); an unreadable file is a problem."""
    problems = [] if problems is None else problems
    for name in ("classes.txt", "obj.names", "data.yaml"):
        path = folder / name
        if not path.is_file():
            continue
        try:
            text = path.read_bytes().decode("utf-8")
            if name != "data.yaml":
                return [n.strip() for n in text.splitlines() if n.strip()]
            names = (yaml.safe_load(text) or {}).get("names")
            if isinstance(names, dict):
                names = [names[k] for k in sorted(names)]
            if isinstance(names, list):
                return [str(n) for n in names]
            problems.append(Problem(str(path), "names", "missing, or not a list or mapping"))
        except (UnicodeDecodeError, yaml.YAMLError, OSError, *MALFORMED) as err:
            problems.append(Problem(str(path), "file", f"cannot read class names ({err})"))
        return None
    return None


def yolo_lines(file: Path, problems: list[Problem]) -> list[tuple[str, list[float]]]:
    """(item, numbers) per non-empty line of a YOLO txt file; bad lines and files are problems."""
    try:
        text = file.read_bytes().decode("utf-8")
    except (OSError, UnicodeDecodeError) as err:
        problems.append(Problem(str(file), "file", f"cannot read ({err})"))
        return []
    rows = []
    for i, line in enumerate(text.splitlines()):
        if not line.strip():
            continue
        try:
            numbers = [float(v) for v in line.split()]
        except ValueError:
            problems.append(Problem(str(file), f"line {i + 1}", "a value is not a number"))
            continue
        if not all(math.isfinite(v) for v in numbers) or numbers[0] != int(numbers[0]):
            problems.append(Problem(str(file), f"line {i + 1}", "class or coordinate not finite"))
            continue
        rows.append((f"line {i + 1}", numbers))
    return rows


def yolo_image(file: Path, images: Path, problems: list[Problem]) -> tuple[Path, int, int] | None:
    """The image a YOLO label file belongs to (same stem, any image suffix) and its size."""
    for suffix in IMAGE_SUFFIXES:
        if (images / (file.stem + suffix)).is_file():
            return locate_image(images, file.stem + suffix, str(file), problems)
    problems.append(Problem(str(file), "image", f"no image named {file.stem}.* in {images}"))
    return None


def read_yolo_faces(files: list[Path], images: Path) -> tuple[Faces, list[Problem]]:
    """YOLO txt files (``class cx cy w h``, normalised) → face boxes, in image pixels."""
    problems: list[Problem] = []
    names = yolo_class_names(files[0].parent, problems) if files else None
    faces: Faces = {}
    for file in files:
        found = yolo_image(file, images, problems)
        if found is None:
            continue
        image, width, height = found
        boxes = []
        for item, numbers in yolo_lines(file, problems):
            if len(numbers) != 5:
                problems.append(Problem(str(file), item, "expected: class cx cy w h"))
                continue
            index = numbers[0]
            label = names[int(index)] if names and 0 <= index < len(names) else str(int(index))
            try:
                boxes.append(yolo_box(numbers[1:], width, height, label))
            except ValueError as err:
                problems.append(Problem(str(file), item, str(err)))
        faces[image] = boxes
    return faces, problems


def yolo_box(centre_box: list[float], width: int, height: int, label: str) -> FaceBox:
    """A normalised ``cx cy w h`` as a box in pixels, clipped to the image; ValueError when
    nothing of it is left."""
    cx, cy, w, h = centre_box
    x0, y0 = (cx - w / 2) * width, (cy - h / 2) * height
    return face_box(
        max(0.0, x0), max(0.0, y0), min(width, x0 + w * width), min(height, y0 + h * height), label
    )


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
        try:
            box = yolo_box(numbers[1:], *size, label)
        except ValueError as err:
            problems.append(Problem(src, item, str(err)))
            return None
        return Instance(label, bbox=box.box)
    points = np.asarray(numbers[1:], dtype=float).reshape(-1, 2) * scale
    points = clean_polygon(points, *size, src, item, problems)
    return None if points is None else Instance(label, [points])
