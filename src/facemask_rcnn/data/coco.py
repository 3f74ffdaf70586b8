"""COCO instance JSON: read polygons and RLE through pycocotools; write polygons or RLE."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
from pycocotools import mask as mask_utils

from ..fileio import write_json_new
from .checks import Problem, clean_polygon, first_of_each_name, image_size, resolve_label
from .records import ImageRecord, Instance


def is_coco(data: Any) -> bool:
    """True when parsed JSON has COCO's images/annotations/categories lists."""
    return isinstance(data, dict) and all(
        isinstance(data.get(k), list) for k in ("images", "annotations", "categories")
    )


def _segmentation(
    seg: Any, width: int, height: int, src: str, item: str, problems: list[Problem]
) -> Instance | None:
    if isinstance(seg, dict):  # RLE, compressed or not
        rle = (
            seg if isinstance(seg.get("counts"), str) else mask_utils.frPyObjects(seg, *seg["size"])
        )
        if isinstance(rle.get("counts"), bytes):
            rle = {"size": rle["size"], "counts": rle["counts"].decode("ascii")}
        if list(rle["size"]) != [height, width]:
            problems.append(Problem(src, item, f"RLE size {rle['size']} != image {height}x{width}"))
            return None
        if mask_utils.area(rle) < 1:
            problems.append(Problem(src, item, "region has zero area"))
            return None
        return Instance("", rle=rle)
    polygons = []
    for k, flat in enumerate(seg or []):
        points = np.asarray(flat, dtype=float)
        if points.size % 2:
            problems.append(Problem(src, f"{item} polygon {k}", "odd number of coordinates"))
            continue
        clean = clean_polygon(points.reshape(-1, 2), width, height, src, item, problems)
        if clean is not None:
            polygons.append(clean)
    if not polygons:
        if not seg:
            problems.append(Problem(src, item, "annotation has no segmentation"))
        return None
    return Instance("", polygons)


def _image_folder(path: Path, images: list[dict[str, Any]]) -> Path:
    """The JSON's folder, or (for ``annotations/x.json``) the sibling folder holding the images."""
    candidates = [path.parent]
    if path.parent.name == "annotations":
        candidates += sorted(p for p in path.parent.parent.iterdir() if p.is_dir())
    first = str(images[0]["file_name"]) if images else ""
    return next((c for c in candidates if (c / first).is_file()), path.parent)


def read_coco(
    path: str | Path,
    class_names: list[str] | None = None,
    keep_empty: bool = False,
    image_dir: str | Path | None = None,
    data: Any = None,
) -> tuple[list[ImageRecord], list[Problem]]:
    """Read a COCO instance file; category names become labels, images resolved from ``image_dir``.

    ``image_dir`` defaults to the JSON's folder, or the folder beside ``annotations/`` that holds
    the images (``images/``, ``train2017/``…).
    """
    path = Path(path)
    src = str(path)
    problems: list[Problem] = []
    data = json.loads(path.read_text()) if data is None else data
    folder = Path(image_dir) if image_dir else _image_folder(path, data["images"])
    categories = {c["id"]: c["name"] for c in data["categories"]}
    by_image: dict[Any, list[dict[str, Any]]] = {}
    for ann in data["annotations"]:
        by_image.setdefault(ann.get("image_id"), []).append(ann)
    images = data["images"]
    records = []
    for index in first_of_each_name([str(im["file_name"]) for im in images], src, problems):
        im = images[index]
        name = str(im["file_name"])
        image_path = folder / name
        try:
            width, height = image_size(image_path)
        except ValueError as err:
            problems.append(Problem(src, name, str(err)))
            continue
        instances = []
        for ann in by_image.get(im["id"], []):
            item = f"{name} annotation {ann.get('id')}"
            label = resolve_label(
                categories.get(ann.get("category_id")), class_names, src, item, problems
            )
            if label is None or ann.get("iscrowd", 0):
                continue
            inst = _segmentation(ann.get("segmentation"), width, height, src, item, problems)
            if inst is not None:
                inst.label = label
                instances.append(inst)
        if instances or keep_empty:
            records.append(ImageRecord(image_path, width, height, instances, src))
    return records, problems


def to_coco(
    records: list[ImageRecord], class_names: list[str], folder: Path | None = None
) -> dict[str, Any]:
    """COCO instance dict (RLE stays RLE, polygons stay polygons); ids count from 1.

    ``file_name`` is relative to ``folder`` (where the JSON goes) when the image lies inside it.
    """
    cat_id = {name: i + 1 for i, name in enumerate(class_names)}
    images, annotations = [], []
    for image_id, rec in enumerate(records, start=1):
        images.append(
            {
                "id": image_id,
                "file_name": rec.name_relative_to(folder) if folder else rec.file_name,
                "width": rec.width,
                "height": rec.height,
            }
        )
        for inst in rec.instances:
            if inst.rle is not None:
                seg: Any = inst.rle
            else:
                seg = [[round(float(v), 2) for v in p.ravel()] for p in inst.polygons]
            x0, y0, x1, y1 = inst.box()
            ann = {
                "id": len(annotations) + 1,
                "image_id": image_id,
                "category_id": cat_id[inst.label],
                "segmentation": seg,
                "area": inst.area(),
                "bbox": [x0, y0, x1 - x0, y1 - y0],
                "iscrowd": 0,
            }
            if inst.score is not None:
                ann["score"] = inst.score
            annotations.append(ann)
    categories = [{"id": i, "name": n, "supercategory": "face_mask"} for n, i in cat_id.items()]
    return {"images": images, "annotations": annotations, "categories": categories}


def write_coco(records: list[ImageRecord], path: str | Path, class_names: list[str]) -> None:
    """Write a new COCO file (refuses to overwrite)."""
    write_json_new(path, to_coco(records, class_names, Path(path).parent))
