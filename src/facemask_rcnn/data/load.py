"""Find and read a dataset in any supported layout: one entry point for CLI, API and notebook."""

from __future__ import annotations

import json
from pathlib import Path

from .checks import Problem
from .formats.coco import is_coco, read_coco
from .formats.faceboxes import face_box_records, read_voc_faces, voc_folders
from .formats.labelpng import pair_folders, read_label_pngs
from .formats.via import is_via, read_via
from .formats.yolo import read_yolo_seg, yolo_folders
from .layout import SPLIT_ALIASES
from .records import ImageRecord


class DatasetError(ValueError):
    """A path that holds no dataset we can read."""


class MissingSplit(DatasetError):
    """A dataset folder without the asked-for split sub-folder."""


def split_folder(root: Path, split: str) -> Path:
    """``root/split`` under any usual spelling (train/training, val/validation/testing…)."""
    for name in SPLIT_ALIASES.get(split, (split,)):
        if (root / name).is_dir():
            return root / name
    raise MissingSplit(f"{root}: no '{split}' split folder (tried {SPLIT_ALIASES.get(split)})")


def _annotation_file(folder: Path) -> Path | None:
    preferred = folder / "via_region_data.json"
    if preferred.is_file():
        return preferred
    files = sorted(folder.glob("*.json")) + sorted(folder.glob("annotations/*.json"))
    return files[0] if files else None


def load_records(
    path: str | Path,
    split: str | None = None,
    class_attribute: str | None = None,
    class_names: list[str] | None = None,
    keep_empty: bool = False,
) -> tuple[list[ImageRecord], list[Problem]]:
    """Read VIA 1.x/2.x, COCO, label-PNG, YOLO (polygons or boxes) or PASCAL VOC (face boxes)
    annotations at ``path`` (a file or a dataset folder).

    ``split`` picks ``path/<split>`` first (the original ``DATASET/train``, ``DATASET/val``).
    ``class_attribute`` names the VIA region attribute holding the class; for label PNGs any
    value (e.g. ``folder``) takes the class from the sub-category folder (CWM/IWM).
    """
    path = Path(path)
    if not path.exists():
        raise DatasetError(f"{path}: no such file or folder")
    yolo = yolo_folders(path, split) if path.is_dir() else None
    if yolo is not None and (split is None or yolo[0].name != "images"):
        return read_yolo_seg(*yolo, class_names=class_names, keep_empty=keep_empty)
    if path.is_dir() and split:
        path = split_folder(path, split)
        yolo = yolo_folders(path)
        if yolo is not None:
            return read_yolo_seg(*yolo, class_names=class_names, keep_empty=keep_empty)
    voc = voc_folders(path) if path.is_dir() else None
    if voc is not None or path.suffix.lower() == ".xml":
        files, images = voc if voc is not None else ([path], path.parent)
        faces, problems = read_voc_faces(files, images)
        records = face_box_records(faces, str(path))
        return [r for r in records if r.instances or keep_empty], problems
    if path.is_dir():
        if pair_folders(path):
            return read_label_pngs(
                path, class_from_folder=bool(class_attribute), keep_empty=keep_empty
            )
        annotation = _annotation_file(path)
        if annotation is None:
            raise DatasetError(
                f"{path}: no VIA/COCO JSON, no images/ + masks/ (label PNGs) and no "
                f"images/ + labels/ (YOLO) folders"
            )
        path = annotation
    try:
        data = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise DatasetError(f"{path}: cannot read JSON: {err}") from err
    if is_coco(data):
        return read_coco(path, class_names, keep_empty, data=data)
    if is_via(data):
        return read_via(path, class_attribute, class_names, keep_empty, data=data)
    raise DatasetError(f"{path}: neither a VIA nor a COCO annotation file")


def available_splits(root: str | Path) -> list[str | None]:
    """The split names a dataset folder has (each folder once), or [None] for a flat dataset."""
    root = Path(root)
    if not root.is_dir():
        return [None]
    found: dict[Path, str] = {}
    for split in SPLIT_ALIASES:
        yolo = yolo_folders(root, split)
        if yolo is not None and yolo[0].name != "images":  # Ultralytics: images/SPLIT
            found.setdefault(yolo[0], split)
            continue
        try:
            found.setdefault(split_folder(root, split), split)
        except MissingSplit:
            continue
    return list(found.values()) or [None]
