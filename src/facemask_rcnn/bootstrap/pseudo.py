"""Pseudo-labels: a model's best mask inside each masked face box, from an enlarged face crop.

Small faces (median ~21 px in crowd photos) are cropped with context and upsampled to the
model's input size, where it sees them as it saw its training faces; the chosen mask is pasted
back into full-image coordinates and clipped to the (slightly grown) face box. Faces too small
for the model can get a shape prior instead (an ellipse over the lower face), so that crowd
photos full of tiny masked faces still make complete training images.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from ..data.boxes import Faces
from ..data.faces import inside_fraction
from ..data.formats.via import write_via
from ..data.images import read_image
from ..data.records import ImageRecord, Instance, mask_to_rle
from ..fileio import save_image
from ..inference import Predictor
from .output import free_name, output_folder


@dataclass
class PseudoLabels:
    """What :func:`pseudo_label` wrote: the folder, the images with masked faces, those faces,
    the masks found (``priors`` of them the shape prior), the images where every masked face
    got one, and the images it could not read."""

    folder: Path
    images: int = 0
    masked_faces: int = 0
    masks: int = 0
    priors: int = 0
    complete_images: int = 0
    problems: list[str] = field(default_factory=list)


def crop_around(
    box: tuple[float, float, float, float], scale: float, width: int, height: int
) -> tuple[int, int, int, int]:
    """Integer square crop, ``scale`` times the face's longer side, centred, within the image."""
    x0, y0, x1, y1 = box
    half = max(x1 - x0, y1 - y0) * scale / 2
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    left, top = max(0, int(np.floor(cx - half))), max(0, int(np.floor(cy - half)))
    right, bottom = min(width, int(np.ceil(cx + half))), min(height, int(np.ceil(cy + half)))
    return left, top, right, bottom


def paste_crop_mask(
    mask: np.ndarray, crop: tuple[int, int, int, int], height: int, width: int
) -> np.ndarray:
    """A (crop height, crop width) mask placed at ``crop``'s offset in a (height, width) image."""
    left, top, right, bottom = crop
    if mask.shape != (bottom - top, right - left):
        raise ValueError(f"mask shape {mask.shape} does not match crop {crop}")
    full = np.zeros((height, width), dtype=bool)
    full[top:bottom, left:right] = mask
    return full


def box_region(
    box: tuple[float, float, float, float], grow: float, height: int, width: int
) -> np.ndarray:
    """Boolean (height, width) image of ``box`` grown by ``grow`` of its size on each side."""
    x0, y0, x1, y1 = box
    dx, dy = (x1 - x0) * grow, (y1 - y0) * grow
    region = np.zeros((height, width), dtype=bool)
    region[
        max(0, int(np.floor(y0 - dy))) : max(0, int(np.ceil(y1 + dy))),
        max(0, int(np.floor(x0 - dx))) : max(0, int(np.ceil(x1 + dx))),
    ] = True
    return region


def face_mask(
    predictor: Predictor,
    image: np.ndarray,
    box: tuple[float, float, float, float],
    scale: float = 2.5,
    inside: float = 0.5,
    grow: float = 0.1,
) -> tuple[np.ndarray, float] | None:
    """The best-scoring predicted mask inside ``box`` (full-image bool mask, score), or None."""
    height, width = image.shape[:2]
    crop = crop_around(box, scale, width, height)
    left, top, right, bottom = crop
    prediction = predictor.predict(image[top:bottom, left:right])
    local = (box[0] - left, box[1] - top, box[2] - left, box[3] - top)
    best = None
    for i in np.argsort(-prediction.scores):
        if inside_fraction(prediction.boxes[i], local) >= inside:
            best = int(i)
            break
    if best is None:
        return None
    full = paste_crop_mask(prediction.masks[best], crop, height, width)
    full &= box_region(box, grow, height, width)
    if not full.any():
        return None
    return full, float(prediction.scores[best])


def prior_mask(
    box: tuple[float, float, float, float],
    height: int,
    width: int,
    top: float = 0.35,
    side: float = 0.1,
) -> np.ndarray:
    """Where a worn mask lies on a face too small to outline: an ellipse from ``top`` of the face
    height down to the chin, ``side`` of its width in from each side (bool, height x width).

    The defaults follow the model's own pseudo-masks on crowd faces (top edge at ~35 % of the
    face height, ~40 % of the face box). A face of a pixel or two gets at least its centre pixel.
    """
    x0, y0, x1, y1 = box
    left, right = x0 + side * (x1 - x0), x1 - side * (x1 - x0)
    upper = y0 + top * (y1 - y0)
    cx, cy = (left + right) / 2, (upper + y1) / 2
    rx, ry = max((right - left) / 2, 0.5), max((y1 - upper) / 2, 0.5)
    mask = np.zeros((height, width), dtype=bool)
    rows = np.arange(max(0, int(np.floor(upper))), min(height, int(np.ceil(y1))))
    cols = np.arange(max(0, int(np.floor(left))), min(width, int(np.ceil(right))))
    if not len(rows) or not len(cols):
        return mask  # the face lies outside the image
    inside = ((cols[None, :] + 0.5 - cx) / rx) ** 2 + ((rows[:, None] + 0.5 - cy) / ry) ** 2 <= 1
    if not inside.any():
        inside[np.abs(rows + 0.5 - cy).argmin(), np.abs(cols + 0.5 - cx).argmin()] = True
    mask[np.ix_(rows, cols)] = inside
    return mask


def pseudo_label(
    predictor: Predictor,
    faces: Faces,
    out: str | Path,
    scale: float = 2.5,
    label: str = "face_mask",
    prior_below: float = 0.0,
) -> PseudoLabels:
    """Pseudo-label the masked faces of every image that has any; write the two projects.

    ``out`` (a new folder) gets copies of those images (EXIF rotation applied),
    ``review_via.json`` (VIA 2.x, every image, for a person to correct and save as the training
    file) and ``via_region_data.json`` (the training dataset: only images where every masked
    face got a mask, since a missed mask would be learned as background). Masks scoring below
    ``predictor.min_score`` are not kept. Masked faces narrower than ``prior_below`` pixels
    that the model leaves without a mask get :func:`prior_mask` (attribute ``source: prior``).
    """
    if scale < 1:
        raise ValueError(f"scale: {scale} is below 1; the crop must hold the whole face")
    result = PseudoLabels(output_folder(out))
    review: list[ImageRecord] = []
    complete: list[ImageRecord] = []
    for path, boxes in faces.items():
        masked = [face for face in boxes if face.masked]
        if not masked:
            continue
        try:
            image = np.asarray(read_image(path))
        except ValueError as err:
            result.problems.append(str(err))
            continue
        height, width = image.shape[:2]
        instances = []
        for face in masked:
            found: tuple[np.ndarray, float | None] | None = face_mask(
                predictor, image, face.box, scale
            )
            source = "pseudo"
            if found is None and face.box[2] - face.box[0] < prior_below:
                prior = prior_mask(face.box, height, width)
                if prior.any():
                    found, source = (prior, None), "prior"
                    result.priors += 1
            if found is not None:
                mask, score = found
                attributes = {"face": face.label, "source": source}
                instances.append(
                    Instance(label, rle=mask_to_rle(mask), score=score, attributes=attributes)
                )
        target = free_name(result.folder, Path(path).name)
        save_image(Image.fromarray(image), target, quality=95)  # upright pixels, as the masks are
        record = ImageRecord(target, width, height, instances, "pseudo")
        review.append(record)
        result.masked_faces += len(masked)
        result.masks += len(instances)
        if len(instances) == len(masked):
            complete.append(record)
    result.images = len(review)
    result.complete_images = len(complete)
    write_via(review, result.folder / "review_via.json")
    write_via(complete, result.folder / "via_region_data.json")
    return result
