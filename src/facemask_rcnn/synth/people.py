"""Drawn people: a head and torso on its own canvas, wearing a mask of one of four kinds.

Each face is drawn whole (torso, neck, hair, ears, eyes, brows, nose, the mask) so that the
mask's polygon is known exactly; ``clip_polygon`` keeps it inside an image once pasted.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

MASK_TYPES = ("surgical", "n95", "cloth", "fashion")
SKIN_TONES = [
    (255, 224, 196),
    (241, 194, 150),
    (224, 172, 125),
    (198, 134, 90),
    (161, 102, 62),
    (117, 72, 42),
    (84, 52, 32),
]
HAIR_COLOURS = [
    (20, 15, 10),
    (60, 40, 25),
    (110, 75, 40),
    (180, 140, 80),
    (200, 200, 195),
    (120, 30, 20),
]


@dataclass
class Face:
    """What to draw for one person: head height in pixels, roll in degrees, yaw shift, mask kind."""

    height: float
    roll: float
    yaw: float
    kind: str | None  # None: a bare face (a negative)
    low: bool  # worn below the nose (MaskedFace's "IWM")


def _colour(rng: np.random.Generator, base: tuple[int, ...], spread: int = 20) -> tuple[int, ...]:
    return tuple(int(np.clip(c + rng.integers(-spread, spread + 1), 0, 255)) for c in base)


def random_colour(rng: np.random.Generator) -> tuple[int, int, int]:
    return tuple(int(v) for v in rng.integers(0, 256, 3))  # type: ignore[return-value]


def mask_colour(rng: np.random.Generator, kind: str) -> tuple[int, int, int]:
    """Typical colours per kind, with a share of anything-goes so colour never identifies a mask."""
    if rng.random() < 0.25:
        return random_colour(rng)
    palettes = {
        "surgical": [
            (160, 200, 230),
            (235, 240, 245),
            (150, 210, 190),
            (30, 30, 35),
            (240, 180, 200),
        ],
        "n95": [(240, 240, 235), (225, 225, 215), (200, 200, 200), (40, 40, 40)],
        "cloth": [(30, 30, 35), (90, 90, 95), (20, 40, 90), (120, 20, 30), (200, 190, 170)],
        "fashion": [(200, 40, 60), (40, 120, 200), (240, 200, 40), (120, 60, 160), (20, 20, 20)],
    }
    choices = palettes[kind]
    return _colour(rng, choices[rng.integers(len(choices))], 15)  # type: ignore[return-value]


def _pattern(rng: np.random.Generator, size: int, base: tuple[int, ...], kind: str) -> Image.Image:
    """Texture for a mask: pleats, seams, stripes, dots, checks or printed shapes."""
    tile = Image.new("RGB", (size, size), base)
    draw = ImageDraw.Draw(tile)
    other = random_colour(rng)
    step = max(3, int(size * rng.uniform(0.06, 0.14)))
    if kind == "cloth":
        style = rng.integers(3)
        for i in range(-size, 2 * size, step):
            if style == 0:
                draw.line([(i, 0), (i + size, size)], fill=other, width=max(1, step // 3))
            elif style == 1:
                for j in range(0, size, step):
                    draw.ellipse([i, j, i + step // 2, j + step // 2], fill=other)
            else:
                draw.rectangle([i, 0, i + step // 2, size], fill=other)
                draw.rectangle([0, i, size, i + step // 2], fill=other)
    elif kind == "fashion":
        for _ in range(int(rng.integers(6, 20))):
            x, y = rng.integers(0, size, 2)
            r = int(rng.integers(step // 2 + 1, step * 2 + 2))
            shape = [x - r, y - r, x + r, y + r]
            fill = random_colour(rng)
            if rng.random() < 0.5:
                draw.ellipse(shape, fill=fill)
            else:
                draw.regular_polygon((int(x), int(y), r), int(rng.integers(3, 7)), fill=fill)
    return tile


def mask_texture(
    rng: np.random.Generator, kind: str, colour: tuple[int, ...], width: int, height: int
) -> Image.Image:
    """Shaded RGB texture filling a mask's ``width`` x ``height`` bounding box.

    Colour and pattern, pleats (surgical) or a seam and sometimes a valve (N95), then light from
    above and one side, so the mask reads as a curved surface on the face.
    """
    width, height = max(1, width), max(1, height)
    size = max(width, height)
    texture = _pattern(rng, size, colour, kind)
    draw = ImageDraw.Draw(texture)
    darker = tuple(int(v * 0.8) for v in colour)
    line = max(1, int(height * 0.03))
    if kind == "surgical":
        for k in (0.3, 0.5, 0.7):
            draw.line([0, k * height, size, k * height], fill=darker, width=line)
    elif kind == "n95":
        draw.line([width / 2, 0, width / 2, size], fill=darker, width=line)
        if rng.random() < 0.4:
            vx, vy, r = width * 0.7, height * 0.6, height * 0.12
            draw.ellipse([vx - r, vy - r, vx + r, vy + r], fill=random_colour(rng))
    ys, xs = np.mgrid[0:height, 0:width]
    side = 0.15 * rng.uniform(-1, 1)
    light = 1.0 - 0.3 * ys / height - side * (xs / width - 0.5)
    array = np.asarray(texture, dtype=np.float32)[:height, :width] * light[..., None]
    return Image.fromarray(array.clip(0, 255).astype(np.uint8))


def mask_polygon(kind: str, cx: float, cy: float, h: float, low: bool) -> np.ndarray:
    """Outline of a worn mask in face-canvas coordinates (head centre cx, cy; head height h)."""
    top = cy + (0.12 if low else 0.0) * h
    bottom = cy + 0.47 * h
    half = 0.33 * h
    t = np.linspace(0, 1, 9)
    if kind == "n95":  # cupped: pointed nose, round chin
        upper = np.stack([cx - half + 2 * half * t, top + 0.06 * h * np.abs(2 * t - 1) ** 1.5], 1)
        angle = np.linspace(0, math.pi, 13)
        lower = np.stack(
            [cx + half * np.cos(angle), bottom - 0.2 * h + 0.22 * h * np.sin(angle)], 1
        )
        return np.concatenate([upper, lower])
    # surgical / cloth / fashion: a band over nose and cheeks, flatter bottom for surgical
    depth = 0.06 if kind == "surgical" else 0.14
    upper = np.stack([cx - half + 2 * half * t, top + 0.03 * h * np.sin(math.pi * t) * -1], 1)
    right = np.array(
        [[cx + half * 0.98, (top + bottom) / 2], [cx + half * 0.85, bottom - depth * h]]
    )
    lower = np.stack(
        [cx + half * 0.8 * (1 - 2 * t), bottom + depth * h * np.sin(math.pi * t) * 0.6], 1
    )
    left = np.array(
        [[cx - half * 0.85, bottom - depth * h], [cx - half * 0.98, (top + bottom) / 2]]
    )
    return np.concatenate([upper, right, lower, left])


def draw_face(rng: np.random.Generator, face: Face) -> tuple[Image.Image, np.ndarray | None]:
    """RGBA canvas (2h x 2h) with the person, and the mask polygon in canvas coordinates."""
    h = face.height
    size = int(2 * h)
    cx, cy = size / 2 + face.yaw * 0.08 * h, size / 2
    canvas = Image.new("RGBA", (size, size), (0, 0, 0, 0))
    draw = ImageDraw.Draw(canvas)
    skin = _colour(rng, SKIN_TONES[rng.integers(len(SKIN_TONES))])
    shade = tuple(int(c * 0.85) for c in skin)
    hair = _colour(rng, HAIR_COLOURS[rng.integers(len(HAIR_COLOURS))], 10)
    shirt = random_colour(rng)
    c = size / 2
    draw.ellipse([c - 0.8 * h, c + 0.62 * h, c + 0.8 * h, c + 1.6 * h], fill=shirt)
    draw.rectangle([c - 0.14 * h, c + 0.25 * h, c + 0.14 * h, c + 0.75 * h], fill=shade)
    long_hair = rng.random() < 0.4
    draw.ellipse(
        [c - 0.4 * h, c - 0.53 * h, c + 0.4 * h, c + (0.42 if long_hair else 0.2) * h], fill=hair
    )
    for side in (-1, 1):
        draw.ellipse(
            [
                c + side * 0.31 * h - 0.06 * h,
                c - 0.08 * h,
                c + side * 0.31 * h + 0.06 * h,
                c + 0.12 * h,
            ],
            fill=shade,
        )
    draw.ellipse([c - 0.3 * h, c - 0.42 * h, c + 0.3 * h, c + 0.48 * h], fill=skin)
    draw.chord([c - 0.32 * h, c - 0.5 * h, c + 0.32 * h, c - 0.05 * h], 180, 360, fill=hair)
    eye_r = 0.045 * h
    for side in (-1, 1):
        ex, ey = cx + side * 0.12 * h, cy - 0.02 * h
        draw.ellipse(
            [ex - eye_r * 1.4, ey - eye_r, ex + eye_r * 1.4, ey + eye_r], fill=(245, 245, 240)
        )
        iris = _colour(rng, (60, 40, 30), 30)
        draw.ellipse(
            [ex - eye_r * 0.7, ey - eye_r * 0.7, ex + eye_r * 0.7, ey + eye_r * 0.7], fill=iris
        )
        draw.line(
            [ex - eye_r * 1.6, ey - eye_r * 2.2, ex + eye_r * 1.6, ey - eye_r * 2.4],
            fill=hair,
            width=max(1, int(eye_r * 0.6)),
        )
    draw.line(
        [cx, cy + 0.02 * h, cx + 0.03 * h, cy + 0.16 * h], fill=shade, width=max(1, int(h * 0.02))
    )
    draw.line(
        [cx - 0.08 * h, cy + 0.28 * h, cx + 0.08 * h, cy + 0.28 * h],
        fill=(150, 60, 60),
        width=max(1, int(h * 0.025)),
    )
    if face.kind is None:
        return canvas, None
    polygon = mask_polygon(face.kind, cx, cy, h, face.low)
    colour = mask_colour(rng, face.kind)
    x0, y0 = np.floor(polygon.min(axis=0)).astype(int)
    x1, y1 = np.ceil(polygon.max(axis=0)).astype(int)
    texture = mask_texture(rng, face.kind, colour, int(x1 - x0), int(y1 - y0))
    stencil = Image.new("L", texture.size, 0)
    ImageDraw.Draw(stencil).polygon([tuple(p) for p in polygon - (x0, y0)], fill=255)
    canvas.paste(texture, (int(x0), int(y0)), stencil)
    loop = tuple(int(v * 0.9) for v in colour)
    for side in (-1, 1):
        corner = polygon[0] if side < 0 else polygon[8]
        draw.line(
            [tuple(corner), (c + side * 0.31 * h, c + 0.02 * h)],
            fill=loop,
            width=max(1, int(h * 0.012)),
        )
    return canvas, polygon


def clip_polygon(poly: np.ndarray, width: float, height: float) -> np.ndarray:
    """Sutherland-Hodgman clip of a polygon to the image rectangle [0, width] x [0, height]."""
    edges = [(0, 0.0, 1), (0, width, -1), (1, 0.0, 1), (1, height, -1)]
    points = [tuple(p) for p in poly]
    for axis, bound, sign in edges:
        if not points:
            break
        result = []
        for i, cur in enumerate(points):
            prev = points[i - 1]
            cur_in = sign * (cur[axis] - bound) >= 0
            prev_in = sign * (prev[axis] - bound) >= 0
            if cur_in != prev_in:
                t = (bound - prev[axis]) / (cur[axis] - prev[axis])
                result.append(tuple(prev[k] + t * (cur[k] - prev[k]) for k in range(2)))
            if cur_in:
                result.append(cur)
        points = result
    return np.asarray(points, dtype=np.float64).reshape(-1, 2)
