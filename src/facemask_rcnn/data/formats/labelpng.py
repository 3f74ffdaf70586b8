"""Per-pixel label images: pixel value → class, connected components → instances.

Layout: ``FOLDER/images/NAME.jpg`` with ``FOLDER/masks/NAME_gt.png`` (or ``NAME.png``), or one
such pair of folders per sub-category (``FOLDER/CWM/images``…), as in MaskedFace. ``image/``
and ``mask/`` are accepted too, and grayscale JPEG masks (hand-traced, lossy) are thresholded
at 127: white is face mask.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from ..checks import Problem
from ..images import IMAGE_SUFFIXES, ImageError, image_size, open_image
from ..records import ImageRecord, Instance, mask_to_rle

MASKEDFACE_VALUES = {2: "face_mask"}  # 0 background, 1 face skin/hair, 2 face mask
MASKEDFACE_OTHER = (0, 1)
MASKEDFACE_FACE = (1, 2)  # the face: skin and hair, and the mask on it


def _pair(folder: Path) -> tuple[Path, Path] | None:
    for images, masks in (("images", "masks"), ("image", "mask")):
        if (folder / images).is_dir() and (folder / masks).is_dir():
            return folder / images, folder / masks
    return None


def pair_folders(folder: Path) -> list[Path]:
    """Folders holding an images/masks pair: the folder itself or its sub-folders."""
    if _pair(folder):
        return [folder]
    return sorted(p for p in folder.iterdir() if p.is_dir() and _pair(p))


def _mask_file(masks: Path, stem: str) -> Path | None:
    for name in (f"{stem}_gt.png", f"{stem}.png", f"{stem}.jpg", f"{stem}.jpeg"):
        if (masks / name).is_file():
            return masks / name
    return None


def face_extent(labels: np.ndarray, values: tuple[int, ...] = MASKEDFACE_FACE) -> list[float]:
    """Box [x0, y0, x1, y1] of the face pixels (skin and mask), or [] when the labels have no
    skin value: then they outline masks only and say nothing about the face."""
    if not (labels == values[0]).any():
        return []
    ys, xs = np.nonzero(np.isin(labels, values))
    return [float(xs.min()), float(ys.min()), float(xs.max() + 1), float(ys.max() + 1)]


def read_labels(path: Path, mask_value: int) -> np.ndarray:
    """Label array of a mask file; a JPEG mask becomes ``mask_value`` where brighter than 127."""
    with open_image(path) as im:
        if path.suffix.lower() in (".jpg", ".jpeg"):
            return np.where(np.asarray(im.convert("L")) > 127, mask_value, 0).astype(np.uint8)
        return np.asarray(im)


def read_label_pngs(
    folder: str | Path,
    value_classes: dict[int, str] | None = None,
    other_values: tuple[int, ...] = MASKEDFACE_OTHER,
    class_from_folder: bool = False,
    keep_empty: bool = False,
    min_area_fraction: float = 2e-4,
) -> tuple[list[ImageRecord], list[Problem]]:
    """Read label PNGs; components smaller than ``min_area_fraction`` of the image are specks.

    ``value_classes`` maps pixel values to class names (default: MaskedFace's 2 → face_mask);
    ``other_values`` are known non-mask values; any other value is reported as unknown.
    With ``class_from_folder`` the sub-category folder name (e.g. CWM, IWM) is the class.
    Each instance's ``face_box`` attribute is the extent of the face's pixels (MaskedFace's
    skin and mask values), when the labels mark the face.
    """
    folder = Path(folder)
    value_classes = value_classes or MASKEDFACE_VALUES
    problems: list[Problem] = []
    records = []
    seen: set[str] = set()
    for pair in pair_folders(folder):
        image_dir, mask_dir = _pair(pair)  # type: ignore[misc]
        for image_path in sorted(image_dir.iterdir()):
            if image_path.suffix.lower() not in IMAGE_SUFFIXES:
                continue
            rel = str(image_path.relative_to(folder))
            mask_path = _mask_file(mask_dir, image_path.stem)
            if mask_path is None:
                problems.append(Problem(rel, image_path.name, "no label PNG in masks/"))
                continue
            try:
                width, height = image_size(image_path)
            except ImageError as err:
                problems.append(Problem(rel, image_path.name, err.reason))
                continue
            try:
                labels = read_labels(mask_path, next(iter(value_classes)))
            except (ValueError, OSError, SyntaxError) as err:
                problems.append(Problem(str(mask_path), image_path.name, f"cannot read ({err})"))
                continue
            if labels.shape[:2] != (height, width):
                problems.append(
                    Problem(
                        str(mask_path), image_path.name, f"label size {labels.shape[:2]} != image"
                    )
                )
                continue
            if labels.ndim == 3:
                labels = labels[..., 0]
            unknown = sorted(
                set(np.unique(labels).tolist()) - set(value_classes) - set(other_values)
            )
            if unknown:
                problems.append(
                    Problem(str(mask_path), image_path.name, f"unknown class value(s) {unknown}")
                )
            instances = []
            face = face_extent(labels)
            for value, name in value_classes.items():
                label = pair.name if class_from_folder else name
                count, comp, stats, _ = cv2.connectedComponentsWithStats(
                    (labels == value).astype(np.uint8), connectivity=8
                )
                for c in range(1, count):
                    if stats[c, cv2.CC_STAT_AREA] < min_area_fraction * width * height:
                        continue
                    rle = mask_to_rle(comp == c)
                    attributes = {"folder": pair.name, **({"face_box": face} if face else {})}
                    instances.append(Instance(label, rle=rle, attributes=attributes))
            if image_path.name in seen:
                problems.append(Problem(rel, image_path.name, "duplicate file name"))
            seen.add(image_path.name)
            if instances or keep_empty:
                records.append(ImageRecord(image_path, width, height, instances, str(mask_path)))
    return records, problems
