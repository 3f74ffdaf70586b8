"""Masks on bare faces in the held-back crowd photos, as a contact sheet to look at.

    .venv/bin/python benchmarks/false_alarms.py --weights CHECKPOINT --out sheet.png
        [--tile 96] [--min-score 0.5]

For each bare face of the held-back fifth of ``facemask-scenes`` (the photos ``accuracy.py``
measures) that gets a mask at ``--min-score`` or more, one 128-pixel tile: the face with three
times its size of context, its highest-scoring mask in red, the score and the face's width.
Prints one JSON line per face (photo, width, score), highest score first; the ones above the
threshold at the false-alarm limit are what limits crowd recall.
"""

from __future__ import annotations

import argparse
import json

import numpy as np
from accuracy import held_back_scenes
from PIL import Image, ImageDraw

from facemask_rcnn import Predictor
from facemask_rcnn.data.faces import inside_fraction
from facemask_rcnn.data.images import read_image

TILE, COLUMNS = 128, 8


def face_tile(
    image: np.ndarray, box: tuple[float, ...], mask: np.ndarray, label: str
) -> Image.Image:
    """The face with context, ``mask`` tinted red, ``label`` written in the corner."""
    x0, y0, x1, y1 = box
    half = 1.5 * max(x1 - x0, y1 - y0)
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    height, width = image.shape[:2]
    left, top = int(max(0, cx - half)), int(max(0, cy - half))
    right, bottom = int(min(width, cx + half)), int(min(height, cy + half))
    tinted = image.copy()
    tinted[mask] = (0.5 * tinted[mask] + [127, 0, 0]).astype(np.uint8)
    tile = Image.fromarray(tinted[top:bottom, left:right]).resize((TILE, TILE))
    ImageDraw.Draw(tile).text((2, 2), label, fill=(255, 255, 0))
    return tile


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", required=True)
    parser.add_argument("--out", required=True, help="contact sheet (PNG)")
    parser.add_argument("--tile", type=int, default=96, help="tiled inference (0: whole image)")
    parser.add_argument("--min-score", type=float, default=0.5)
    args = parser.parse_args()

    predictor = Predictor.from_checkpoint(args.weights, args.min_score, tile=args.tile or None)
    found = []
    for path, faces in held_back_scenes().items():
        bare = [face for face in faces if not face.masked]
        if not bare:
            continue
        image = np.asarray(read_image(path))
        prediction = predictor.predict(image)
        for face in bare:
            on_face = [inside_fraction(b, face.box) >= 0.5 for b in prediction.boxes]
            if not any(on_face):
                continue
            best = int(np.argmax(np.where(on_face, prediction.scores, -1.0)))
            score, width = float(prediction.scores[best]), face.box[2] - face.box[0]
            tile = face_tile(image, face.box, prediction.masks[best], f"{score:.2f} w{width:.0f}")
            found.append((score, {"photo": path.name, "width": round(width)}, tile))
    found.sort(key=lambda item: -item[0])
    rows = max(1, -(-len(found) // COLUMNS))
    sheet = Image.new("RGB", (TILE * COLUMNS, TILE * rows))
    for k, (score, record, tile) in enumerate(found):
        sheet.paste(tile, (TILE * (k % COLUMNS), TILE * (k // COLUMNS)))
        print(json.dumps({**record, "score": round(score, 3)}))
    sheet.save(args.out)


if __name__ == "__main__":
    main()
