"""Face-pipeline benchmark: the targets of the faces design, through ``load_predictor``.

    .venv/bin/python benchmarks/faces.py [--weights HEAD.pt] [--mask-weights MASKS] [--runtime R]

Prints one JSON line: on the held-back fifth of ``facemask-scenes`` (``accuracy.py``'s), masked-
face recall, masks per bare face and stray masks per photo at the pipeline's threshold and at
the lowest threshold with at most 0.10 masks per bare face, box AP50 per status, and the median
seconds per photo end to end (reading included); on ``realmask-crops`` and the MaskedFace test
split, Matterport mAP@0.5 and mean top-mask IoU (each crop a photo with one face).
Default weights: the shipped ones.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

from accuracy import SCENE_FLOOR, SHARED, held_back_scenes, rounded

from facemask_rcnn.evaluation import evaluate
from facemask_rcnn.evaluation.faces import face_metrics
from facemask_rcnn.shipped import load_predictor

TIMED_PHOTOS = 40


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", help="face head (default: shipped)")
    parser.add_argument("--mask-weights", help="masks model (default: shipped)")
    parser.add_argument("--runtime", default="onnxruntime", help=".onnx masks: or openvino")
    parser.add_argument("--skip-crops", action="store_true", help="crowd photos only")
    args = parser.parse_args()
    linked = {"mask_weights": args.mask_weights, "runtime": args.runtime}
    pipeline = load_predictor(args.weights, **linked)
    held_back = held_back_scenes()
    scenes = face_metrics(
        load_predictor(args.weights, min_score=SCENE_FLOOR, **linked),
        held_back,
        min_score=pipeline.min_score,
    ).to_dict()
    seconds = []
    for path in list(held_back)[:TIMED_PHOTOS]:
        started = time.perf_counter()
        pipeline.predict(path)
        seconds.append(time.perf_counter() - started)
    line = {
        "weights": args.weights or "shipped",
        "mask_weights": args.mask_weights or "shipped",
        "min_score": pipeline.min_score,
        "scenes_masked_recall": round(scenes["masked_recall"], 4),
        "scenes_masks_per_bare_face": round(scenes["masks_per_bare_face"], 4),
        "scenes_stray_masks_per_photo": round(scenes["stray_masks_per_image"], 4),
        "scenes_recall_by_width": scenes["masked_recall_by_width"],
        "scenes_at_limit": rounded(scenes["at_limit"]),
        "scenes_status_ap50": scenes.get("status_ap50"),
        "scenes_median_seconds_per_photo": round(statistics.median(seconds), 3),
    }
    if not args.skip_crops:
        for name, data, split in (
            ("realmask_crops", SHARED / "realmask-crops", None),
            ("maskedface_test", SHARED / "maskedface", "test"),
        ):
            metrics = evaluate(pipeline, data, split).to_dict()
            line[name] = {
                "matterport_map50": round(metrics["matterport_map50"], 4),
                "mean_top_mask_iou": round(metrics["mean_top_mask_iou"], 4),
            }
    print(json.dumps(line))


if __name__ == "__main__":
    main()
