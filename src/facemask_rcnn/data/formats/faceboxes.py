"""Face boxes (no outlines) for detection-level checks and bootstrapping: COCO, VOC, YOLO.

``read_faces`` picks the reader from the path: a ``.json`` file is COCO (``bbox`` only), ``.xml``
files (one, or a folder of them) are PASCAL VOC, ``.txt`` files are YOLO (normalised centre
boxes; class names from ``classes.txt``, ``obj.names`` or ``data.yaml`` beside them).
A face is *masked* when its label names a masked or incorrect status (``data.faces``), such
as with_mask or mask_weared_incorrect; any other label is a bare face.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from ..boxes import Faces, face_box
from ..checks import MALFORMED, Problem, locate_image, malformed, read_json
from ..images import image_size
from ..records import ImageRecord, Instance
from .coco import coco_tables, image_folder
from .yolo import read_yolo_faces


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
