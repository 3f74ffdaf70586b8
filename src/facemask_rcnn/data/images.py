"""Reading images: the one reader every path uses (training, checks, evaluation, predict, serve).

Photos are read as a person sees them: EXIF orientation applied, so a polygon drawn in VIA (a
browser, which rotates phone photos) lands on the same pixels everywhere. Every Pillow mode
becomes 8-bit RGB (16-bit scaled by its range, alpha flattened onto white), the pixel count is
checked from the header before anything is decoded, and anything unreadable is one
:class:`ImageError` naming the file.
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path
from typing import BinaryIO

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif", ".tif", ".tiff")
MAX_PIXELS = 100_000_000  # a 48 MP phone photo fits twice; a decompression bomb does not
ORIENTATION = 0x0112  # EXIF tag; values 5-8 swap width and height
Source = str | Path | bytes | BinaryIO


class ImageError(ValueError):
    """An image that cannot be read; ``kind`` is ``missing``, ``unsupported``, ``too_large`` or
    ``corrupt`` (the server answers 415 for unsupported, 400 otherwise)."""

    def __init__(self, source: str, reason: str, kind: str = "corrupt") -> None:
        super().__init__(f"{source}: {reason}")
        self.source, self.reason, self.kind = source, reason, kind


def _name(source: Source) -> str:
    return str(source) if isinstance(source, str | Path) else "upload"


def open_image(source: Source, max_pixels: int = MAX_PIXELS) -> Image.Image:
    """Open (header only, pixels not decoded) and check the pixel count; ImageError for anything
    unreadable. Use as a context manager."""
    name = _name(source)
    if isinstance(source, str | Path):
        path = Path(source)
        if path.is_dir():
            raise ImageError(name, "is a folder, not an image", "unsupported")
        if not path.is_file():
            raise ImageError(name, "image file is missing", "missing")
    elif isinstance(source, bytes):
        source = io.BytesIO(source)
    try:
        with warnings.catch_warnings():  # our own limit below replaces Pillow's warning
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(source)
    except Image.DecompressionBombError as err:
        reason = f"over the {max_pixels} pixel limit (Pillow: a decompression bomb)"
        raise ImageError(name, reason, "too_large") from err
    except UnidentifiedImageError as err:
        raise ImageError(name, "not an image Pillow can read", "unsupported") from err
    except (OSError, SyntaxError, ValueError) as err:
        raise ImageError(name, f"truncated or corrupt image ({err})") from err
    if image.width * image.height > max_pixels:
        size = f"{image.width}x{image.height}"
        image.close()
        raise ImageError(name, f"{size} pixels is over the {max_pixels} pixel limit", "too_large")
    return image


def _orientation(image: Image.Image) -> int:
    try:
        return int(image.getexif().get(ORIENTATION, 1))
    except (OSError, SyntaxError, ValueError, TypeError):
        return 1  # a broken EXIF block: the stored pixels are the best guess


def image_size(source: Source, max_pixels: int = MAX_PIXELS) -> tuple[int, int]:
    """(width, height) as displayed (EXIF orientation applied), from the header alone."""
    with open_image(source, max_pixels) as image:
        width, height = image.size
        return (height, width) if _orientation(image) in (5, 6, 7, 8) else (width, height)


def read_image(source: Source, max_pixels: int = MAX_PIXELS) -> Image.Image:
    """The image as an 8-bit RGB PIL image, EXIF orientation applied (first frame of animations)."""
    name = _name(source)
    with open_image(source, max_pixels) as image:
        try:
            image.load()
            upright = ImageOps.exif_transpose(image) if _orientation(image) != 1 else image
            return to_rgb(upright)
        except (OSError, SyntaxError, ValueError, TypeError) as err:
            raise ImageError(name, f"truncated or corrupt image ({err})") from err


def to_rgb(image: Image.Image) -> Image.Image:
    """Any Pillow mode → 8-bit RGB: high bit depths scaled by their range, alpha onto white."""
    if image.mode in ("I;16", "I;16L", "I;16B", "I;16N", "I", "F"):
        values = np.asarray(image, dtype=np.float64)
        top = 65535.0 if image.mode != "F" else 1.0
        if values.size and values.max() > top:  # 32-bit data beyond its nominal range
            top = float(values.max())
        grey = np.clip(values / top * 255.0 + 0.5, 0, 255).astype(np.uint8)
        return Image.fromarray(grey, "L").convert("RGB")
    if image.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in image.info:
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return image.convert("RGB")


def rgb_array(image: Image.Image | np.ndarray | str | Path) -> np.ndarray:
    """An (H, W, 3) uint8 array of a PIL image, an array (grey or with alpha) or a file path
    (read by ``read_image``): what the predictors take."""
    if isinstance(image, str | Path):
        image = read_image(image)
    array = np.asarray(image)
    if array.ndim == 2:
        array = np.stack([array] * 3, axis=-1)
    return array[..., :3]
