"""Face finders on the held-back crowd photos and the real masked-face crops, by face width.

    .venv/bin/python benchmarks/finders.py [--scales 1 2] [--scales 2] [--min-score 0.2]

For each set of scales: the share of labelled masked and bare faces that a found box matches
(IoU >= 0.4), by face width (<16, 16-32, >=32 px), found boxes matching no labelled face per
photo and milliseconds per photo (one thread); and the share of ``realmask-crops`` (250 px
close-ups) in which a face is found at all.
"""

from __future__ import annotations

import argparse
import json
import time

import cv2
import numpy as np
import torch
from accuracy import SHARED, held_back_scenes

from facemask_rcnn.data.images import read_image
from facemask_rcnn.evaluation.faces import WIDTH_BINS
from facemask_rcnn.faces.crops import match
from facemask_rcnn.faces.finder import YuNetFinder


def width_bin(width: float) -> str:
    return next(label for label, low, high in WIDTH_BINS if low <= width < high)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scales", type=float, nargs="+", action="append")
    parser.add_argument("--min-score", type=float, default=0.2)
    args = parser.parse_args()
    torch.set_num_threads(1)
    cv2.setNumThreads(1)
    held_back = held_back_scenes()
    photos = {path: np.asarray(read_image(path)) for path in held_back}
    crops = [np.asarray(read_image(p)) for p in sorted((SHARED / "realmask-crops/image").glob("*"))]
    for scales in args.scales or [[1.0], [2.0], [1.0, 2.0]]:
        finder = YuNetFinder(scales, args.min_score)
        found, total, unmatched, seconds = {}, {}, 0, 0.0
        for path, faces in held_back.items():
            started = time.perf_counter()
            boxes = finder(photos[path]).boxes
            seconds += time.perf_counter() - started
            labelled = np.array([face.box for face in faces], np.float32).reshape(-1, 4)
            if len(labelled) and len(boxes):
                unmatched += int((match(boxes, labelled, 0.4)[0] < 0).sum())
                hit = match(labelled, boxes, 0.4)[0] >= 0
            else:
                unmatched += len(boxes)
                hit = np.zeros(len(labelled), bool)
            for face, matched in zip(faces, hit, strict=True):
                key = (
                    f"{'masked' if face.masked else 'bare'} {width_bin(face.box[2] - face.box[0])}"
                )
                total[key] = total.get(key, 0) + 1
                found[key] = found.get(key, 0) + int(matched)
        share = {k: f"{found[k]}/{total[k]}" for k in sorted(total)}
        masked = sum(found[k] for k in total if k.startswith("masked"))
        bare = sum(found[k] for k in total if k.startswith("bare"))
        line = {
            "scales": scales,
            "min_score": args.min_score,
            "masked_found": round(
                masked / sum(total[k] for k in total if k.startswith("masked")), 4
            ),
            "bare_found": round(bare / sum(total[k] for k in total if k.startswith("bare")), 4),
            "by_width": share,
            "unmatched_per_photo": round(unmatched / len(held_back), 2),
            "ms_per_photo": round(1000 * seconds / len(held_back), 1),
            "realmask_crops_with_a_face": f"{sum(len(finder(c)) > 0 for c in crops)}/{len(crops)}",
        }
        print(json.dumps(line))


if __name__ == "__main__":
    main()
