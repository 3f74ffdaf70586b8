"""Procedural people-in-masks scenes with exact polygons: the embedded default dataset.

No external assets: each person (``people.draw_face``) is rolled and pasted into a cluttered
background; the mask's polygon goes through the same transform and is clipped to the image, so
labels are exact. ``synthesize`` writes scenes as JPEGs and VIA projects.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from ..data.formats.via import read_via, write_via
from ..data.records import ImageRecord, Instance, polygon_area
from ..fileio import save_image
from .people import MASK_TYPES, Face, clip_polygon, draw_face, random_colour


def _background(rng: np.random.Generator, size: int) -> Image.Image:
    top, bottom = np.array(random_colour(rng)), np.array(random_colour(rng))
    ramp = np.linspace(0, 1, size)[:, None, None]
    grad = (top * (1 - ramp) + bottom * ramp) * np.ones((1, size, 1))
    image = Image.fromarray(grad.astype(np.uint8))
    draw = ImageDraw.Draw(image)
    for _ in range(int(rng.integers(4, 16))):
        x0, y0 = rng.integers(-size // 4, size, 2)
        w, h = rng.integers(size // 20, size // 2, 2)
        box = [int(x0), int(y0), int(x0 + w), int(y0 + h)]
        fill = random_colour(rng)
        [draw.rectangle, draw.ellipse][int(rng.integers(2))](box, fill=fill)
    return image.filter(ImageFilter.GaussianBlur(rng.uniform(0, 2)))


def render_scene(rng: np.random.Generator, size: int = 320) -> tuple[Image.Image, list[Instance]]:
    """One image with 1-5 people; instances are the visible masks (exact, clipped polygons)."""
    image = _background(rng, size)
    count = 1 if rng.random() < 0.35 else int(rng.integers(2, 6))
    lo, hi = (0.35, 0.95) if count == 1 else (0.08, 0.32)
    taken: list[tuple[float, float, float, float]] = []
    instances: list[Instance] = []
    for _ in range(count):
        for _attempt in range(30):
            face = Face(
                height=float(size * rng.uniform(lo, hi)),
                roll=float(rng.uniform(-25, 25)),
                yaw=float(rng.uniform(-1, 1)),
                kind=None if rng.random() < 0.15 else MASK_TYPES[int(rng.integers(4))],
                low=bool(rng.random() < 0.2),
            )
            cx = float(rng.uniform(0.1, 0.9) * size)
            cy = float(rng.uniform(0.15, 0.85) * size)
            half = face.height * 1.42  # half-diagonal of the rolled 2h canvas
            footprint = (cx - half, cy - half, cx + half, cy + half)
            if not any(_overlaps(footprint, t) for t in taken):
                break
        else:
            continue
        canvas, polygon = draw_face(rng, face)
        rolled = canvas.rotate(face.roll, resample=Image.BICUBIC, expand=True)
        ox, oy = cx - rolled.width / 2, cy - rolled.height / 2
        image.paste(rolled, (round(ox), round(oy)), rolled)
        taken.append(footprint)
        if polygon is None:
            continue
        theta = math.radians(-face.roll)  # PIL rotates counter-clockwise on screen
        centre = np.array([canvas.width / 2, canvas.height / 2])
        rot = np.array([[math.cos(theta), -math.sin(theta)], [math.sin(theta), math.cos(theta)]])
        moved = (polygon - centre) @ rot.T + np.array([rolled.width / 2, rolled.height / 2])
        moved += np.array([round(ox), round(oy)])
        clipped = clip_polygon(moved, size, size)
        if len(clipped) >= 3 and polygon_area(clipped) >= 4:
            attrs = {"type": face.kind, "worn": "low" if face.low else "correct"}
            instances.append(Instance(face.kind, [clipped], attributes=attrs))
    return image, instances


def _overlaps(a: tuple[float, ...], b: tuple[float, ...]) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def synthesize(
    out: str | Path, n: int = 200, seed: int = 0, size: int = 320, val_fraction: float = 0.2
) -> dict[str, list[ImageRecord]]:
    """Render ``n`` scenes into ``out/train`` and ``out/val`` as JPEGs + VIA 2.x projects.

    Deterministic per ``seed``; refuses to write into an existing non-empty split folder.
    """

    out = Path(out)
    n_val = max(1, round(n * val_fraction)) if n > 1 and val_fraction > 0 else 0
    splits = {k: v for k, v in {"train": n - n_val, "val": n_val}.items() if v}
    for split in splits:
        folder = out / split
        if folder.exists() and any(folder.iterdir()):
            raise FileExistsError(f"{folder}: not empty; choose another output folder")
    rng = np.random.default_rng(seed)
    result: dict[str, list[ImageRecord]] = {}
    for split, count in splits.items():
        folder = out / split
        folder.mkdir(parents=True, exist_ok=True)
        records = []
        for i in range(count):
            image, instances = render_scene(rng, size)
            path = folder / f"synth_{split}_{i:04d}.jpg"
            save_image(image, path, quality=92)
            records.append(ImageRecord(path, size, size, instances, "synth"))
        write_via(records, folder / "via_region_data.json", class_attribute="type")
        result[split] = records
    return result


def training_scenes(
    folder: str | Path, n: int, seed: int, size: int, label: str
) -> list[ImageRecord]:
    """``n`` scenes in ``folder/train``, every mask labelled ``label``, to mix into training.

    Rendered on first use; a folder that already holds them (a resumed run) is read back.
    """

    project = Path(folder) / "train" / "via_region_data.json"
    if project.is_file():
        records, _ = read_via(project)
    else:
        records = synthesize(folder, n=n, seed=seed, size=size, val_fraction=0)["train"]
    for record in records:
        record.instances = [dataclasses.replace(i, label=label) for i in record.instances]
    return records


def contact_sheet(
    records: list[ImageRecord], path: str | Path, columns: int = 6, tile: int = 160
) -> None:
    """Grid of images with mask outlines drawn in, to look at what the synthesiser made."""
    rows = max(1, math.ceil(len(records) / columns))
    sheet = Image.new("RGB", (columns * tile, rows * tile), (255, 255, 255))
    for i, rec in enumerate(records):
        with Image.open(rec.path) as im:
            image = im.convert("RGB")
        draw = ImageDraw.Draw(image)
        for inst in rec.instances:
            for poly in inst.polygons:
                draw.line(
                    [tuple(p) for p in np.vstack([poly, poly[:1]])], fill=(255, 0, 0), width=2
                )
        image.thumbnail((tile, tile))
        sheet.paste(image, ((i % columns) * tile, (i // columns) * tile))
    save_image(sheet, path)
