"""COCO instance JSON: read polygons and RLE through pycocotools; write polygons or RLE."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from pycocotools import mask as mask_utils

from ...fileio import write_json_new
from ..boxes import face_box
from ..checks import (
    MALFORMED,
    Problem,
    clean_polygon,
    first_of_each_name,
    locate_image,
    malformed,
    read_json,
    resolve_label,
)
from ..records import ImageRecord, Instance


def is_coco(data: Any) -> bool:
    """True when parsed JSON has COCO's images/annotations/categories lists."""
    return isinstance(data, dict) and all(
        isinstance(data.get(k), list) for k in ("images", "annotations", "categories")
    )


def _segmentation(
    seg: Any, width: int, height: int, src: str, item: str, problems: list[Problem]
) -> Instance | None:
    if isinstance(seg, dict):  # RLE, compressed or not
        rle = _checked_rle(seg, height, width)
        if mask_utils.area(rle) < 1:
            problems.append(Problem(src, item, "region covers no pixel"))
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
        return None
    return Instance("", polygons)


def _box_only(bbox: Any, width: int, height: int) -> Instance:
    """A box-only instance from a COCO ``bbox`` [x, y, w, h], clipped to the image; ValueError
    for a missing, non-finite or empty box."""
    x, y, w, h = (float(v) for v in bbox)
    x0, y0, x1, y1 = max(0.0, x), max(0.0, y), min(float(width), x + w), min(float(height), y + h)
    return Instance("", bbox=face_box(x0, y0, x1, y1, "").box)


def _checked_rle(seg: dict[str, Any], height: int, width: int) -> dict[str, Any]:
    """A COCO RLE (compressed or a list of counts) as a compressed one, checked to cover exactly
    ``height`` x ``width`` pixels: pycocotools decodes without bounds checks."""
    if [int(v) for v in seg["size"]] != [height, width]:
        raise ValueError(f"RLE size {seg['size']} != image {height}x{width}")
    counts = seg["counts"]
    if isinstance(counts, list):
        if not all(isinstance(c, int) and c >= 0 for c in counts):
            raise ValueError("RLE counts must be non-negative integers")
        total = sum(counts)
        rle = mask_utils.frPyObjects({"size": [height, width], "counts": counts}, height, width)
        counts = rle["counts"].decode("ascii")
    elif isinstance(counts, str):
        total = compressed_rle_length(counts)
    else:
        raise TypeError("RLE counts must be a string or a list")
    if total != height * width:
        raise ValueError(f"RLE counts cover {total} pixels, the image has {height * width}")
    return {"size": [height, width], "counts": counts}


def compressed_rle_length(counts: str) -> int:
    """Pixels covered by a compressed COCO RLE string (its run lengths summed); ValueError when
    the string is not one (bad characters, a cut-off number, a negative run)."""
    runs: list[int] = []
    position = 0
    while position < len(counts):
        value, shift, more = 0, 0, True
        while more:
            if position >= len(counts):
                raise ValueError("RLE counts string is cut off")
            code = ord(counts[position]) - 48
            if not 0 <= code < 64:
                raise ValueError("RLE counts string has characters outside its alphabet")
            value |= (code & 0x1F) << shift
            more = bool(code & 0x20)
            position, shift = position + 1, shift + 5
            if not more and code & 0x10:
                value |= -1 << shift
        if len(runs) > 2:
            value += runs[-2]
        if value < 0:
            raise ValueError("RLE counts string has a negative run")
        runs.append(value)
    return sum(runs)


def image_folder(path: Path, images: list[Any]) -> Path:
    """The JSON's folder, or (for ``annotations/x.json``) the sibling folder holding the images."""
    candidates = [path.parent]
    if path.parent.name == "annotations":
        candidates += sorted(p for p in path.parent.parent.iterdir() if p.is_dir())
    first = images[0].get("file_name") if images and isinstance(images[0], dict) else None
    if not isinstance(first, str):
        return path.parent
    return next((c for c in candidates if (c / first).is_file()), path.parent)


def coco_tables(
    path: Path, data: Any, problems: list[Problem]
) -> tuple[list[dict], dict[Any, list[dict]], dict[Any, str]] | None:
    """(images, annotations by image id, category names by id) of a COCO dict; entries that are
    not objects, annotations of no listed image, and a file without the three lists are problems."""
    src = str(path)
    if not is_coco(data):
        problems.append(Problem(src, "file", "not COCO: needs images, annotations, categories"))
        return None
    images = []
    for k, im in enumerate(data["images"]):
        if isinstance(im, dict) and _hashable(im.get("id")):
            images.append(im)
        else:
            problems.append(Problem(src, f"image #{k}", "not an object with an id"))
    categories = {}
    for c in data["categories"]:
        if isinstance(c, dict) and isinstance(c.get("name"), str) and _hashable(c.get("id")):
            categories[c["id"]] = c["name"]
        else:
            problems.append(Problem(src, f"category {c!r:.40}", "needs an id and a text name"))
    ids = {im["id"] for im in images}
    by_image: dict[Any, list[dict[str, Any]]] = {}
    for k, ann in enumerate(data["annotations"]):
        if not isinstance(ann, dict) or not _hashable(ann.get("image_id")):
            problems.append(Problem(src, f"annotation #{k}", "not an object with an image_id"))
        elif ann["image_id"] not in ids:
            item = f"annotation {ann.get('id')}"
            problems.append(Problem(src, item, f"image_id {ann['image_id']!r} is not in images"))
        else:
            by_image.setdefault(ann["image_id"], []).append(ann)
    return images, by_image, categories


def _hashable(value: Any) -> bool:
    return isinstance(value, int | str | float) and value == value  # NaN is no id


def read_coco(
    path: str | Path,
    class_names: list[str] | None = None,
    keep_empty: bool = False,
    image_dir: str | Path | None = None,
    data: Any = None,
) -> tuple[list[ImageRecord], list[Problem]]:
    """Read a COCO instance file; category names become labels, images resolved from ``image_dir``.

    ``image_dir`` defaults to the JSON's folder, or the folder beside ``annotations/`` that holds
    the images (``images/``, ``train2017/``…). An annotation with ``bbox`` but no
    ``segmentation`` is a box-only instance. Malformed entries are problems, never exceptions.
    """
    path = Path(path)
    src = str(path)
    problems: list[Problem] = []
    data = read_json(path, problems) if data is None else data
    tables = None if data is None else coco_tables(path, data, problems)
    if tables is None:
        return [], problems
    images, by_image, categories = tables
    folder = Path(image_dir) if image_dir else image_folder(path, images)
    records = []
    for index in first_of_each_name([str(im.get("file_name")) for im in images], src, problems):
        im = images[index]
        found = locate_image(folder, im.get("file_name"), src, problems)
        if found is None:
            continue
        image_path, width, height = found
        instances = []
        for ann in by_image.get(im.get("id"), []):
            item = f"{im['file_name']} annotation {ann.get('id')}"
            try:
                label = resolve_label(
                    categories.get(ann.get("category_id")), class_names, src, item, problems
                )
                if label is None or ann.get("iscrowd", 0):
                    continue
                seg = ann.get("segmentation")
                if seg:
                    inst = _segmentation(seg, width, height, src, item, problems)
                else:  # a box without an outline: trains detection only
                    inst = _box_only(ann.get("bbox"), width, height)
            except MALFORMED as err:
                problems.append(Problem(src, item, malformed(err)))
                continue
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
            elif not inst.polygons:
                seg = []
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
