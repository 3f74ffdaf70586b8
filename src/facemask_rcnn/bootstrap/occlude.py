"""Occlusion synthesis: paste a synthetic face mask over the lower half of each bare face.

The occluder's polygon is the label, and its rasterisation (pycocotools, as every reader uses)
is the paste stencil, so the instance mask equals the pasted pixels exactly. An image that holds
a masked face is used only when ``labels`` (e.g. ``bootstrap pseudo``'s dataset) outlines every
masked face in it; otherwise it is skipped, since its real masks, unlabelled, would teach the
model that masks are background.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter

from ..data.boxes import FaceBox, Faces
from ..data.formats.via import write_via
from ..data.images import read_image
from ..data.records import ImageRecord, Instance
from ..fileio import save_image
from ..synth.people import MASK_TYPES, clip_polygon, mask_colour, mask_polygon, mask_texture
from .output import free_name, output_folder

MIN_FACE = 8  # pixels: smaller faces get no occluder (too few pixels to draw a mask on)


@dataclass
class Occluded:
    """What :func:`occlude_faces` wrote: the dataset folder, its images and pasted occluders,
    the images skipped (masked faces without outlines, unreadable files) and their problems."""

    folder: Path
    images: int = 0
    occluders: int = 0
    skipped_masked: int = 0
    skipped_unreadable: int = 0
    problems: list[str] = field(default_factory=list)


def occluder_polygon(
    rng: np.random.Generator, face: tuple[float, float, float, float], kind: str, low: bool
) -> np.ndarray:
    """A worn-mask outline over the lower face of ``face`` (x0, y0, x1, y1), clipped to the box.

    The synthesiser's outline (nose to chin, cheek to cheek) is stretched onto the box, then
    turned and sheared a little (head roll and yaw) about the box centre.
    """
    x0, y0, x1, y1 = face
    width, height = x1 - x0, y1 - y0
    outline = mask_polygon(kind, 0.0, 0.0, 1.0, False)  # x in ±0.33, y from 0 (nose) to ~0.55
    spread = outline.max(axis=0) - outline.min(axis=0)
    top = y0 + height * (rng.uniform(0.38, 0.5) + (0.12 if low else 0.0))  # low: under the nose
    bottom = y1 + height * rng.uniform(-0.06, 0.04)
    scale_x = width * rng.uniform(0.8, 1.0) / spread[0]
    scale_y = (bottom - top) / spread[1]
    points = (outline - outline.min(axis=0)) * (scale_x, scale_y)
    points += (x0 + (width - spread[0] * scale_x) / 2, top)
    angle = math.radians(rng.uniform(-12, 12))
    shear = rng.uniform(-0.12, 0.12)
    turn = np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
    turn = turn @ np.array([[1.0, shear], [0.0, 1.0]])
    centre = np.array([(x0 + x1) / 2, (y0 + y1) / 2])
    points = (points - centre) @ turn.T + centre
    return clip_polygon(points - (x0, y0), width, height) + (x0, y0)


def paste_occluder(
    image: Image.Image, face: FaceBox, rng: np.random.Generator, label: str = "face_mask"
) -> Instance | None:
    """Draw a synthetic mask onto ``image`` (in place) over ``face``; its Instance, or None.

    Kind, colour and texture are drawn at random; brightness follows the face's own so the
    occluder sits in the photo's light; faces under ``MIN_FACE`` pixels are left alone.
    """
    x0, y0, x1, y1 = face.box
    if min(x1 - x0, y1 - y0) < MIN_FACE:
        return None
    kind = MASK_TYPES[int(rng.integers(len(MASK_TYPES)))]
    low = bool(rng.random() < 0.15)
    polygon = occluder_polygon(rng, face.box, kind, low)
    if len(polygon) < 3:
        return None
    instance = Instance(label, [polygon], attributes={"type": kind, "source": "occluder"})
    stencil = instance.to_mask(image.height, image.width)
    ys, xs = np.nonzero(stencil)
    if len(ys) < 4:
        return None
    top, left = ys.min(), xs.min()
    texture = mask_texture(
        rng, kind, mask_colour(rng, kind), int(xs.max() - left + 1), int(ys.max() - top + 1)
    )
    region = np.asarray(image.crop((x0, y0, x1, y1)).convert("L"), dtype=np.float32)
    light = float(np.clip(region.mean() / 140, 0.45, 1.15)) if region.size else 1.0
    texture = texture.point(lambda v: min(255, int(v * (0.4 + 0.6 * light))))
    if max(texture.size) < 40:  # small faces in photos are soft; so should their masks be
        texture = texture.filter(ImageFilter.GaussianBlur(0.6))
    alpha = Image.fromarray(stencil[top : ys.max() + 1, left : xs.max() + 1] * 255)
    image.paste(texture, (int(left), int(top)), alpha)
    return instance


def occlude_faces(
    faces: Faces,
    out: str | Path,
    seed: int = 0,
    share: float = 1.0,
    labels: list[ImageRecord] | None = None,
    label: str = "face_mask",
) -> Occluded:
    """Occlude a ``share`` of the bare faces (the rest stay negatives); write images + VIA 2.x.

    ``labels`` are outlined records (matched by file name) whose instances are kept: with them,
    an image with masked faces is used when its record has an outline per masked face.
    ``out`` is a new dataset folder (``out-2``… if taken): JPEGs and ``via_region_data.json``,
    ready for ``facemask train --data``.
    """
    if not 0 <= share <= 1:
        raise ValueError(f"share: {share} is not between 0 and 1")
    report = Occluded(output_folder(out))
    rng = np.random.default_rng(seed)
    known = {record.path.name: record for record in labels or []}
    records: list[ImageRecord] = []
    for path, boxes in faces.items():
        masked = sum(face.masked for face in boxes)
        outlined = known.get(Path(path).name)
        if masked and (outlined is None or len(outlined.instances) < masked):
            report.skipped_masked += 1
            continue
        try:
            image = read_image(outlined.path if masked else path)
        except ValueError as err:
            report.skipped_unreadable += 1
            report.problems.append(str(err))
            continue
        bare = [face for face in boxes if not face.masked and rng.random() < share]
        pasted = [paste_occluder(image, face, rng, label) for face in bare]
        pasted = [i for i in pasted if i is not None]
        instances = (list(outlined.instances) if masked else []) + pasted
        if not instances:
            continue
        target = free_name(report.folder, Path(path).stem + ".jpg")
        save_image(image, target, quality=95)
        records.append(ImageRecord(target, image.width, image.height, instances, "occlude"))
        report.occluders += len(pasted)
    report.images = len(records)
    write_via(records, report.folder / "via_region_data.json")
    return report
