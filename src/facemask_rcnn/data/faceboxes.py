"""Face boxes (no outlines) for detection-level checks and bootstrapping: COCO, VOC, YOLO.

``read_faces`` picks the reader from the path: a ``.json`` file is COCO (``bbox`` only), ``.xml``
files (one, or a folder of them) are PASCAL VOC, ``.txt`` files are YOLO (normalised centre
boxes; class names from ``classes.txt``, ``obj.names`` or ``data.yaml`` beside them).
A face is *masked* when its label is one of ``MASKED``; any other label is a bare face.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import yaml

from .checks import Problem, image_size

MASKED = ("with_mask", "mask_weared_incorrect", "mask", "masked")
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp")
Faces = dict[Path, list["FaceBox"]]


@dataclass(frozen=True)
class FaceBox:
    box: tuple[float, float, float, float]  # x0, y0, x1, y1 in image pixels
    label: str  # e.g. with_mask, mask_weared_incorrect, without_mask, face

    @property
    def masked(self) -> bool:
        return self.label in MASKED


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
    from .coco import _image_folder

    path = Path(path)
    data = json.loads(path.read_text())
    folder = images or _image_folder(path, data["images"])
    names = {c["id"]: c["name"] for c in data["categories"]}
    by_id = {im["id"]: folder / im["file_name"] for im in data["images"]}
    faces: Faces = {p: [] for p in by_id.values()}
    problems = []
    for ann in data["annotations"]:
        x, y, w, h = ann.get("bbox") or (0, 0, 0, 0)
        image = by_id.get(ann.get("image_id"))
        if image is None or w <= 0 or h <= 0:
            problems.append(
                Problem(str(path), f"annotation {ann.get('id')}", "no image or empty bbox")
            )
            continue
        faces[image].append(FaceBox((x, y, x + w, y + h), names.get(ann["category_id"], "?")))
    return faces, problems


def read_voc_faces(files: list[Path], images: Path | None = None) -> tuple[Faces, list]:
    """PASCAL VOC XML files (``<object><name>`` + ``<bndbox>``) → face boxes per image."""
    faces: Faces = {}
    problems = []
    for file in files:
        try:
            root = ET.parse(file).getroot()
        except ET.ParseError as err:
            problems.append(Problem(str(file), "file", f"not valid XML ({err})"))
            continue
        name = root.findtext("filename")
        if not name:
            problems.append(Problem(str(file), "filename", "missing <filename>"))
            continue
        boxes = []
        for i, obj in enumerate(root.iter("object")):
            try:
                bnd = obj.find("bndbox")
                x0, y0, x1, y1 = (float(bnd.findtext(k)) for k in ("xmin", "ymin", "xmax", "ymax"))
            except (AttributeError, TypeError, ValueError):
                problems.append(Problem(str(file), f"object {i}", "bndbox is missing a number"))
                continue
            if x1 <= x0 or y1 <= y0:
                problems.append(Problem(str(file), f"object {i}", "empty bndbox"))
                continue
            boxes.append(FaceBox((x0, y0, x1, y1), (obj.findtext("name") or "?").strip()))
        faces[(images or file.parent) / name] = boxes
    return faces, problems


def yolo_class_names(folder: Path) -> list[str] | None:
    """Class names from ``classes.txt`` / ``obj.names`` (one per line) or ``data.yaml`` names."""
    for name in ("classes.txt", "obj.names"):
        if (folder / name).is_file():
            return [n.strip() for n in (folder / name).read_text().splitlines() if n.strip()]
    if (folder / "data.yaml").is_file():
        names = (yaml.safe_load((folder / "data.yaml").read_text()) or {}).get("names")
        return list(names.values()) if isinstance(names, dict) else names
    return None


def read_yolo_faces(files: list[Path], images: Path) -> tuple[Faces, list]:
    """YOLO txt files (``class cx cy w h``, normalised) → face boxes, in image pixels."""
    names = yolo_class_names(files[0].parent) if files else None
    faces: Faces = {}
    problems = []
    for file in files:
        image = next(
            (
                images / (file.stem + s)
                for s in IMAGE_SUFFIXES
                if (images / (file.stem + s)).is_file()
            ),
            None,
        )
        if image is None:
            problems.append(
                Problem(str(file), "image", f"no image named {file.stem}.* in {images}")
            )
            continue
        try:
            width, height = image_size(image)
        except ValueError as err:
            problems.append(Problem(str(image), "image", str(err)))
            continue
        boxes = []
        for i, line in enumerate(file.read_text().splitlines()):
            if not line.strip():
                continue
            try:
                cls, cx, cy, w, h = line.split()[:5]
                index, cx, cy, w, h = int(cls), float(cx), float(cy), float(w), float(h)
            except ValueError:
                problems.append(Problem(str(file), f"line {i + 1}", "expected: class cx cy w h"))
                continue
            if w <= 0 or h <= 0:
                problems.append(Problem(str(file), f"line {i + 1}", "empty box"))
                continue
            label = names[index] if names and 0 <= index < len(names) else str(index)
            box = (
                (cx - w / 2) * width,
                (cy - h / 2) * height,
                (cx + w / 2) * width,
                (cy + h / 2) * height,
            )
            boxes.append(FaceBox(box, label))
        faces[image] = boxes
    return faces, problems
