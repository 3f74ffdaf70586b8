"""Bootstrap round on ``facemask-scenes``: pseudo-label masked faces, occlude bare ones.

    .venv/bin/python benchmarks/bootstrap.py --weights best.pt --out /tmp/round1 [--share 0.5]
    .venv/bin/python benchmarks/bootstrap.py --pseudo /tmp/round1/pseudo --out /tmp/r1q --share 0.25

Uses the scene images that ``accuracy.py`` does not hold back (four fifths). Writes
``OUT/pseudo`` (``bootstrap pseudo``) and ``OUT/dataset`` (``bootstrap occlude`` with the
pseudo-labels, so images with masked faces are used) and prints one JSON line of counts.
``--pseudo`` reuses an earlier round's pseudo-labels (seconds instead of minutes), to vary
only the occlusion.
Train and measure the round with ``accuracy.py --data OUT/dataset``.
"""

from __future__ import annotations

import argparse
import json
import time

from accuracy import SHARED, held_back_scenes

from facemask_rcnn import Predictor
from facemask_rcnn.bootstrap import occlude_faces, pseudo_label
from facemask_rcnn.data import load_records
from facemask_rcnn.data.formats.faceboxes import read_coco_faces


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", help="model that draws the pseudo-labels")
    parser.add_argument("--pseudo", help="or an earlier round's pseudo/ folder to reuse")
    parser.add_argument("--out", required=True, help="new folder for pseudo/ and dataset/")
    parser.add_argument("--share", type=float, default=0.5, help="share of bare faces occluded")
    parser.add_argument("--scale", type=float, default=2.5, help="face crop / face size")
    parser.add_argument("--min-score", type=float, default=0.5)
    parser.add_argument(
        "--prior-below", type=float, default=0.0, help="faces narrower (px): shape prior if missed"
    )
    args = parser.parse_args()
    if (args.weights is None) == (args.pseudo is None):
        parser.error("give one of --weights and --pseudo")
    drawing = ("scale", "min_score", "prior_below")  # used only with --weights
    if args.pseudo and any(getattr(args, k) != parser.get_default(k) for k in drawing):
        parser.error("--scale, --min-score and --prior-below draw pseudo-labels: not with --pseudo")

    started = time.perf_counter()
    faces, _ = read_coco_faces(SHARED / "facemask-scenes" / "annotations" / "custom_train.json")
    held_back = held_back_scenes()
    faces = {path: boxes for path, boxes in faces.items() if path not in held_back}
    line: dict = {"share": args.share, "scene_images": len(faces)}
    if args.pseudo:
        folder = args.pseudo
        line["pseudo_folder"] = folder
    else:
        predictor = Predictor.from_checkpoint(args.weights, args.min_score)
        pseudo = pseudo_label(
            predictor, faces, f"{args.out}/pseudo", args.scale, prior_below=args.prior_below
        )
        folder = pseudo.folder
        counts = ("images", "masked_faces", "masks", "priors", "complete_images")
        line |= {
            "weights": args.weights,
            "scale": args.scale,
            "min_score": args.min_score,
            "prior_below": args.prior_below,
            "pseudo": {k: getattr(pseudo, k) for k in counts},
        }
    labels, _ = load_records(folder)
    occluded = occlude_faces(faces, f"{args.out}/dataset", 0, args.share, labels)
    line |= {
        "dataset": {k: getattr(occluded, k) for k in ("images", "occluders", "skipped_masked")},
        "dataset_folder": str(occluded.folder),
        "minutes": round((time.perf_counter() - started) / 60, 2),
    }
    print(json.dumps(line))


if __name__ == "__main__":
    main()
