"""Accuracy benchmark: train the default recipe within a wall-clock budget, then measure it.

    .venv/bin/python benchmarks/accuracy.py [--minutes 30] [--set key=value ...] [--data DIR ...]
        [--tile PX ...] [--weights CHECKPOINT [--mask-weights MASKS_MODEL]]
        [--config configs/faces.yaml --scenes-train]

Trains on ``maskedface/training`` (plus the config's ``synthetic_scenes`` and any ``--data``
datasets) from ImageNet weights and fresh heads, then prints one JSON line: Matterport
mAP@0.5/0.75, COCO mask AP/AP50/AP75 and mean top-mask IoU on ``maskedface/testing`` and on
``realmask-crops`` (never trained on), and masked-face recall / masks per bare face on a
held-back fifth of ``facemask-scenes``, whole-image and with each ``--tile`` size, at the
model's own score threshold and at the lowest threshold with at most 0.10 masks per bare face,
with stray masks per photo (on no face), seconds per photo end to end (reading included) and,
for a faces model (``task: faces``), the box AP50 of each status.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from facemask_rcnn import Predictor, evaluate, load_config, train
from facemask_rcnn.data.formats.faceboxes import read_coco_faces
from facemask_rcnn.evaluation.faces import face_metrics

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "datasets"
# Scene predictors keep masks down to this score, so that recall can also be read at the
# threshold that keeps masks per bare face within 0.10 (``at_limit``), whatever the calibration.
SCENE_FLOOR = 0.1


def held_back_scenes(every: int = 5) -> dict:
    """Every ``every``-th scene image by name: never used for training by any recipe here."""
    faces, _ = read_coco_faces(SHARED / "facemask-scenes" / "annotations" / "custom_train.json")
    names = sorted(faces, key=lambda p: p.name)
    return {p: faces[p] for p in names[::every]}


def scenes_training_file(folder: Path) -> Path:
    """The four fifths of ``facemask-scenes`` that ``held_back_scenes`` leaves, as a COCO file of
    face boxes in ``folder/annotations`` beside a link to the images: training data for a
    faces model (``--scenes-train``)."""
    source = SHARED / "facemask-scenes" / "annotations" / "custom_train.json"
    data = json.loads(source.read_text())
    held_back = {p.name for p in held_back_scenes()}
    images = [im for im in data["images"] if im["file_name"] not in held_back]
    ids = {im["id"] for im in images}
    kept = [a for a in data["annotations"] if a["image_id"] in ids]
    (folder / "annotations").mkdir(parents=True, exist_ok=True)
    link = folder / "train2017"
    if not link.exists():
        link.symlink_to(SHARED / "facemask-scenes" / "train2017")
    path = folder / "annotations" / "four_fifths.json"
    path.write_text(json.dumps({**data, "images": images, "annotations": kept}))
    return path


def rounded(point: dict) -> dict:
    """A face_metrics operating point with its floats at four decimals."""
    return {k: round(v, 4) if isinstance(v, float) else v for k, v in point.items()}


def summary(metrics: dict) -> dict:
    segm = metrics["segm"]
    return {
        "matterport_map50": round(metrics["matterport_map50"], 4),
        "matterport_map75": round(metrics["matterport_map75"], 4),
        "mask_AP": round(segm["AP"], 4),
        "mask_AP50": round(segm["AP50"], 4),
        "mask_AP75": round(segm["AP75"], 4),
        "mean_top_mask_iou": round(metrics["mean_top_mask_iou"], 4),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=30.0, help="training wall-clock budget")
    parser.add_argument("--config", help="YAML config (default recipe when omitted)")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="config (inference only with --weights)",
    )
    parser.add_argument("--data", action="append", default=[], help="another training dataset")
    parser.add_argument("--out", default="runs/bench", help="run folder (new name if taken)")
    parser.add_argument("--weights", help="skip training: evaluate this checkpoint")
    parser.add_argument("--mask-weights", help="faces model: masks from this masks model")
    parser.add_argument("--runtime", default="onnxruntime", help=".onnx weights: or openvino")
    parser.add_argument("--tile", type=int, action="append", default=[], help="scenes: tile size")
    parser.add_argument(
        "--scenes-train",
        action="store_true",
        help="also train on the face boxes of the scenes not held back (a faces model)",
    )
    args = parser.parse_args()

    started = time.perf_counter()
    config = load_config(args.config, args.set)
    checkpoint = args.weights
    train_minutes = images_per_s = None
    if checkpoint is None:
        data = [SHARED / "maskedface" / "training", *map(Path, args.data)]
        if args.scenes_train:
            data.append(scenes_training_file(Path(args.out + "-scenes")))
        result = train(config, data, args.out, time_budget=args.minutes * 60)
        seconds = sum(r["seconds"] for r in result.metrics)
        train_minutes = round((time.perf_counter() - started) / 60, 2)
        images_per_s = round(sum(r["images"] for r in result.metrics) / seconds, 2)
        checkpoint = result.run_dir / "best.pt"
    inference = args.set if args.weights else []  # with --weights, --set changes inference only
    linked = {"overrides": inference, "mask_weights": args.mask_weights, "runtime": args.runtime}
    predictor = Predictor.from_checkpoint(checkpoint, **linked)
    maskedface = evaluate(predictor, SHARED / "maskedface", "test").to_dict()
    realmask = evaluate(predictor, SHARED / "realmask-crops", None).to_dict()
    held_back = held_back_scenes()
    threshold = predictor.min_score
    started = time.perf_counter()
    scenes = face_metrics(
        Predictor.from_checkpoint(checkpoint, SCENE_FLOOR, **linked),
        held_back,
        min_score=threshold,
    ).to_dict()
    per_photo = (time.perf_counter() - started) / max(1, scenes["images"])
    tiled = {}
    for tile in args.tile:
        tiled_predictor = Predictor.from_checkpoint(checkpoint, SCENE_FLOOR, tile=tile, **linked)
        found = face_metrics(tiled_predictor, held_back, min_score=threshold).to_dict()
        tiled[f"tile{tile}"] = {
            "masked_recall": round(found["masked_recall"], 4),
            "masks_per_bare_face": round(found["masks_per_bare_face"], 4),
            "recall_by_width": found["masked_recall_by_width"],
            "at_limit": rounded(found["at_limit"]),
            "latency_ms": round(found["latency_ms"], 1),
        }
    line = {
        "overrides": args.set,
        "data": args.data,
        "checkpoint": str(checkpoint),
        "mask_weights": args.mask_weights,
        "train_minutes": train_minutes,
        "train_images_per_s": images_per_s,
        "maskedface_test": summary(maskedface),
        "realmask_crops": summary(realmask),
        "scenes_masked_recall": round(scenes["masked_recall"], 4),
        "scenes_masks_per_bare_face": round(scenes["masks_per_bare_face"], 4),
        "scenes_recall_by_width": scenes["masked_recall_by_width"],
        "scenes_stray_masks_per_image": round(scenes["stray_masks_per_image"], 4),
        "scenes_at_limit": rounded(scenes["at_limit"]),
        "scenes_status_ap50": scenes.get("status_ap50"),
        "scenes_seconds_per_photo": round(per_photo, 3),
        "scenes_tiled": tiled,
        "latency_ms": round(realmask["latency_ms"], 1),
    }
    print(json.dumps(line))


if __name__ == "__main__":
    main()
