"""Face boxes (no outlines) for detection-level checks and bootstrapping: COCO, VOC, YOLO.

``read_faces`` picks the reader from the path: a ``.json`` file is COCO (``bbox`` only), ``.xml``
files (one, or a folder of them) are PASCAL VOC, ``.txt`` files are YOLO (normalised centre
boxes; class names from ``classes.txt``, ``obj.names`` or ``data.yaml`` beside them).
A face is *masked* when its label names a masked or incorrect status (``data.faces``), such
as with_mask or mask_weared_incorrect; any other label is a bare face.
"""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from pathlib import Path

import yaml

from .boxes import FaceBox, face_box
from .checks import MALFORMED, Problem, locate_image, malformed, read_json
from .coco import coco_tables, image_folder
from .images import IMAGE_SUFFIXES, image_size
from .records import ImageRecord, Instance

Faces = dict[Path, list["FaceBox"]]


def read_faces(annotations: str | Path, images: str | Path | None = None) -> tuple[Faces, list]:
    """Image path → face boxes, from COCO JSON, VOC XML or YOLO txt; problems are listed.

    ``images`` is the image folder (COCO: default is found next to the JSON; VOC: default is
    the XML's folder; YOLO: required unless the images sit beside the txt files).
    """
    path = Path(annotations)
    if not path.exists():
        raise ValueError(f"{path}: no such face-box file or folder")
    folder = Path(images) if images else None
    if path.is_file() and path.suffix.lower() == ".json":
        return read_coco_faces(path, folder)
    files = [path] if path.is_file() else sorted(path.iterdir())
    if any(f.suffix.lower() == ".xml" for f in files):
        return read_voc_faces([f for f in files if f.suffix.lower() == ".xml"], folder)
    labels = [f for f in files if f.suffix.lower() == ".txt" and f.name != "classes.txt"]
    if labels:
        return read_yolo_faces(labels, folder or labels[0].parent)
    raise ValueError(f"{path}: not a COCO .json, nor VOC .xml or YOLO .txt face boxes")


def read_coco_faces(path: str | Path, images: Path | None = None) -> tuple[Faces, list]:
    """Image path → its face boxes, from a COCO JSON whose annotations carry ``bbox`` only."""
    path = Path(path)
    src = str(path)
    problems: list[Problem] = []
    data = read_json(path, problems)
    tables = None if data is None else coco_tables(path, data, problems)
    if tables is None:
        return {}, problems
    entries, by_image, names = tables
    folder = images or image_folder(path, entries)
    faces: Faces = {}
    for im in entries:
        found = locate_image(folder, im.get("file_name"), src, problems)
        if found is None:
            continue
        boxes = faces.setdefault(found[0], [])
        for ann in by_image.get(im.get("id"), []):
            try:
                x, y, w, h = ann["bbox"]
                boxes.append(face_box(x, y, x + w, y + h, names.get(ann.get("category_id"), "?")))
            except MALFORMED as err:
                problems.append(Problem(src, f"annotation {ann.get('id')} bbox", malformed(err)))
    return faces, problems


def read_voc_faces(files: list[Path], images: Path | None = None) -> tuple[Faces, list]:
    """PASCAL VOC XML files (``<object><name>`` + ``<bndbox>``) → face boxes per image."""
    faces: Faces = {}
    problems: list[Problem] = []
    for file in files:
        try:
            root = ET.parse(file).getroot()
        except (ET.ParseError, OSError, ValueError) as err:
            problems.append(Problem(str(file), "file", f"not valid XML ({err})"))
            continue
        found = locate_image(images or file.parent, root.findtext("filename"), str(file), problems)
        if found is None:
            continue
        boxes = []
        for i, obj in enumerate(root.iter("object")):
            try:
                bnd = obj.find("bndbox")
                corners = (float(bnd.findtext(k)) for k in ("xmin", "ymin", "xmax", "ymax"))
                boxes.append(face_box(*corners, (obj.findtext("name") or "?").strip()))
            except MALFORMED as err:
                problems.append(Problem(str(file), f"object {i} bndbox", malformed(err)))
        faces[found[0]] = boxes
    return faces, problems


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


def read_yolo_faces(files: list[Path], images: Path) -> tuple[Faces, list]:
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
            index, cx, cy, w, h = numbers
            label = names[int(index)] if names and 0 <= index < len(names) else str(int(index))
            try:
                box = ((cx - w / 2) * width, (cy - h / 2) * height)
                boxes.append(face_box(*box, box[0] + w * width, box[1] + h * height, label))
            except ValueError as err:
                problems.append(Problem(str(file), item, str(err)))
        faces[image] = boxes
    return faces, problems


def face_box_records(faces: Faces, source: str) -> list[ImageRecord]:
    """Face boxes as records of box-only instances (training data for a faces model)."""
    records = []
    for path, boxes in faces.items():
        width, height = image_size(path)  # the readers have read the header: it is readable
        instances = [Instance(face.label, bbox=face.box) for face in boxes]
        records.append(ImageRecord(path, width, height, instances, source))
    return records


def voc_folders(path: Path) -> tuple[list[Path], Path] | None:
    """(XML files, image folder) of a PASCAL VOC dataset: a folder of XML files, or one with
    ``annotations/`` (or ``Annotations/``) beside ``images/`` (or ``JPEGImages/``); else None."""
    for folder in (path, path / "annotations", path / "Annotations"):
        files = sorted(folder.glob("*.xml")) if folder.is_dir() else []
        if files:
            root = folder.parent if folder != path else path.parent
            images = next(
                (root / n for n in ("images", "JPEGImages") if (root / n).is_dir()), folder
            )
            return files, images
    return None
