"""VGG Image Annotator: read VIA 1.x region files and VIA 2.x projects; write VIA 2.x projects.

VIA 1.x (``via_region_data.json``) maps keys to {filename, regions} where regions is a dict or a
list; VIA 2.x keeps the same entries under ``_via_img_metadata``. Shapes: polygon, polyline,
rect, circle, ellipse (curves become 32-point polygons).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from ...fileio import write_json_new
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
from ..records import ImageRecord, Instance, mask_to_polygons

DEFAULT_CLASS = "face_mask"
CURVE_POINTS = 32


def shape_to_polygon(shape: dict[str, Any]) -> np.ndarray:
    """VIA ``shape_attributes`` → (N, 2) polygon; raises ValueError for unknown/broken shapes."""
    name = shape.get("name")
    try:
        if name in ("polygon", "polyline"):
            return np.stack(
                [
                    np.asarray(shape["all_points_x"], float),
                    np.asarray(shape["all_points_y"], float),
                ],
                axis=1,
            ).reshape(-1, 2)
        if name == "rect":
            x, y, w, h = (float(shape[k]) for k in ("x", "y", "width", "height"))
            return np.array([[x, y], [x + w, y], [x + w, y + h], [x, y + h]])
        if name in ("circle", "ellipse"):
            cx, cy = float(shape["cx"]), float(shape["cy"])
            rx = float(shape["r"] if name == "circle" else shape["rx"])
            ry = float(shape["r"] if name == "circle" else shape["ry"])
            theta = float(shape.get("theta", 0.0))
            t = np.linspace(0, 2 * math.pi, CURVE_POINTS, endpoint=False)
            ex, ey = rx * np.cos(t), ry * np.sin(t)
            c, s = math.cos(theta), math.sin(theta)
            return np.stack([cx + c * ex - s * ey, cy + s * ex + c * ey], axis=1)
    except (KeyError, TypeError, ValueError) as err:
        raise ValueError(f"{name} shape is missing or has bad field {err}") from err
    raise ValueError(f"unsupported shape {name!r}")


def _entries(data: Any) -> list[dict[str, Any]]:
    if isinstance(data, dict) and "_via_img_metadata" in data:
        data = data["_via_img_metadata"]
    if not isinstance(data, dict):
        raise ValueError("not a VIA file: expected a mapping of image entries")
    return [e for e in data.values() if isinstance(e, dict) and "filename" in e]


def is_via(data: Any) -> bool:
    """True when parsed JSON looks like a VIA 1.x or 2.x file (``{}`` is an empty VIA 1.x file)."""
    try:
        return bool(_entries(data)) or data == {} or "_via_img_metadata" in data
    except ValueError:
        return False


def read_via(
    path: str | Path,
    class_attribute: str | None = None,
    class_names: list[str] | None = None,
    keep_empty: bool = False,
    image_dir: str | Path | None = None,
    data: Any = None,
) -> tuple[list[ImageRecord], list[Problem]]:
    """Read a VIA 1.x/2.x JSON; images are looked up in ``image_dir`` (default: the file's folder).

    ``data`` is the already parsed JSON, when the caller has it (saves a second parse).
    Without ``class_attribute`` every region is ``face_mask``; with it the region attribute's
    value is the class (checked against ``class_names`` when given). A region with the
    attribute ``part: face`` is a face's box (a box-only instance; see ``data.faces``).
    Malformed entries and regions are reported as problems and skipped; nothing in the file's
    content raises.
    """
    path = Path(path)
    src = str(path)
    problems: list[Problem] = []
    data = read_json(path, problems) if data is None else data
    if data is None:
        return [], problems
    try:
        entries = _entries(data)
    except ValueError as err:
        return [], [*problems, Problem(src, "file", str(err))]
    folder = Path(image_dir) if image_dir else path.parent
    names = [str(e["filename"]) for e in entries]
    records = []
    for index in first_of_each_name(names, src, problems):
        found = locate_image(folder, entries[index]["filename"], src, problems)
        if found is None:
            continue
        image_path, width, height = found
        regions = entries[index].get("regions") or []
        if isinstance(regions, dict):
            regions = list(regions.values())
        if not isinstance(regions, list):
            problems.append(Problem(src, names[index], "regions is not a list or mapping"))
            continue
        instances = []
        for r, region in enumerate(regions):
            item = f"{names[index]} region {r}"
            try:
                instance = _region(
                    region, class_attribute, class_names, (width, height), src, item, problems
                )
            except MALFORMED as err:
                problems.append(Problem(src, item, malformed(err)))
                continue
            if instance is not None:
                instances.append(instance)
        if instances or keep_empty:
            records.append(ImageRecord(image_path, width, height, instances, src))
    return records, problems


def _region(
    region: dict[str, Any],
    class_attribute: str | None,
    class_names: list[str] | None,
    size: tuple[int, int],
    src: str,
    item: str,
    problems: list[Problem],
) -> Instance | None:
    """One VIA region → Instance, or None with its problems; malformed fields raise MALFORMED."""
    if not isinstance(region, dict):
        raise ValueError("region is not an object")
    shape, attributes = region.get("shape_attributes"), region.get("region_attributes") or {}
    for field, value in (("shape_attributes", shape), ("region_attributes", attributes)):
        if not isinstance(value, dict):
            raise ValueError(f"{field} is not an object")
    points = clean_polygon(shape_to_polygon(shape), *size, src, item, problems)
    if points is None:
        return None
    attributes = dict(attributes)
    label = DEFAULT_CLASS
    if class_attribute:
        label = resolve_label(attributes.get(class_attribute), class_names, src, item, problems)
    if label is None:
        return None
    if attributes.get("part") == "face":  # a face's box, as predict --via-out writes it
        box = (*points.min(axis=0).tolist(), *points.max(axis=0).tolist())
        return Instance(label, bbox=box, attributes=attributes)  # type: ignore[arg-type]
    return Instance(label, [points], attributes=attributes)


def _rect_region(box: tuple[float, ...], attributes: dict[str, Any]) -> dict[str, Any]:
    x0, y0, x1, y1 = (round(float(v), 2) for v in box)
    shape = {
        "name": "rect",
        "x": x0,
        "y": y0,
        "width": round(x1 - x0, 2),
        "height": round(y1 - y0, 2),
    }
    return {"shape_attributes": shape, "region_attributes": attributes}


def write_via(
    records: list[ImageRecord], path: str | Path, class_attribute: str = "type"
) -> dict[str, Any]:
    """Write a VIA 2.x project (polygons; RLE instances are traced) and return it.

    An instance with a box of its own (a face) is also written as a ``rect`` region with
    ``part: face``; its mask's polygons then carry ``part: mask``.

    Image file names are written relative to the project's folder when the images lie under it,
    so VIA and ``read_via`` find them; a person opens the file in VIA, corrects it and saves.
    """
    path = Path(path)
    metadata: dict[str, Any] = {}
    options: set[str] = set()
    for rec in records:
        filename = rec.name_relative_to(path.parent)
        size = rec.path.stat().st_size if rec.path.exists() else -1
        regions = []
        for inst in rec.instances:
            polys = inst.polygons
            if not polys and inst.has_shape:
                polys = mask_to_polygons(inst.to_mask(rec.height, rec.width))
            attrs = {k: v for k, v in inst.attributes.items() if isinstance(v, str | int | float)}
            attrs[class_attribute] = inst.label
            if inst.score is not None:
                attrs["score"] = f"{inst.score:.3f}"
            options.add(inst.label)
            if inst.bbox is not None:  # a face: its box as a rectangle, its mask as polygons
                regions.append(_rect_region(inst.bbox, {**attrs, "part": "face"}))
                attrs["part"] = "mask"
            for poly in polys:
                shape = {
                    "name": "polygon",
                    "all_points_x": [round(float(x), 2) for x in poly[:, 0]],
                    "all_points_y": [round(float(y), 2) for y in poly[:, 1]],
                }
                regions.append({"shape_attributes": shape, "region_attributes": dict(attrs)})
        metadata[f"{filename}{size}"] = {
            "filename": filename,
            "size": size,
            "regions": regions,
            "file_attributes": {},
        }
    project = {
        "_via_settings": {"project": {"name": path.stem}},
        "_via_img_metadata": metadata,
        "_via_attributes": {
            "region": {
                class_attribute: {
                    "type": "dropdown",
                    "description": "face-mask class",
                    "options": {name: "" for name in sorted(options)},
                    "default_options": {},
                }
            },
            "file": {},
        },
        "_via_data_format_version": "2.0.10",
        "_via_image_id_list": list(metadata),
    }
    write_json_new(path, project)
    return project
