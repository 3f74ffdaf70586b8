"""Where the top-mask IoU goes: misses, box IoU, and predicted vs true mask area per image.

    .venv/bin/python benchmarks/mask_extent.py --weights CHECKPOINT [--data DATASET]

For each image of a single-instance set (default ``realmask-crops``), the top-scoring
prediction's mask IoU and box IoU with the best ground truth, and its area over the true
area. Prints one JSON line: means, the area ratio's quartiles, and the IoU histogram with
each bucket's mean box IoU and area ratio. A ratio well below 1 means masks come out too
small (under-segmentation), not misplaced.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch
from torchvision.ops import box_iou

from facemask_rcnn import Predictor
from facemask_rcnn.data.images import read_image
from facemask_rcnn.data.load import load_records
from facemask_rcnn.evaluation.matterport_ap import mask_ious

SHARED = Path(__file__).resolve().parents[2] / "shared" / "datasets"
BUCKETS = [0.0, 0.3, 0.5, 0.7, 0.8, 0.9, 1.01]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", required=True, help="checkpoint to measure")
    parser.add_argument("--data", default=str(SHARED / "realmask-crops"), help="dataset")
    args = parser.parse_args()
    records, _ = load_records(args.data, None)
    predictor = Predictor.from_checkpoint(args.weights, min_score=0.05)
    rows = []  # (top score, mask IoU, box IoU, predicted area / true area)
    for record in records:
        prediction = predictor.predict(read_image(record.path))
        truth = record.masks()
        if not len(prediction.scores) or not len(truth):
            rows.append((0.0, 0.0, 0.0, 0.0))
            continue
        top = int(np.argmax(prediction.scores))
        mask = prediction.masks.reshape(-1, record.height, record.width)[top : top + 1]
        boxes = torch.tensor([i.box() for i in record.instances], dtype=torch.float32)
        box = torch.tensor(prediction.boxes[top : top + 1], dtype=torch.float32)
        rows.append(
            (
                float(prediction.scores[top]),
                float(mask_ious(mask, truth).max()),
                float(box_iou(box, boxes).max()),
                float(mask.sum() / max(1, truth.any(0).sum())),
            )
        )
    score, mask_iou, box, ratio = np.array(rows).T
    buckets = {}
    for low, high in zip(BUCKETS, BUCKETS[1:], strict=False):
        chosen = (mask_iou >= low) & (mask_iou < high)
        buckets[f"{low}-{min(high, 1.0)}"] = {
            "images": int(chosen.sum()),
            "box_iou": round(float(box[chosen].mean()), 3) if chosen.any() else None,
            "area_ratio": round(float(np.median(ratio[chosen])), 3) if chosen.any() else None,
        }
    print(
        json.dumps(
            {
                "images": len(rows),
                "top_score_below_0.5": int((score < 0.5).sum()),
                "mean_mask_iou": round(float(mask_iou.mean()), 4),
                "mean_box_iou": round(float(box.mean()), 4),
                "area_ratio_p10_p50_p90": [
                    round(float(q), 3) for q in np.percentile(ratio, [10, 50, 90])
                ],
                "by_mask_iou": buckets,
            }
        )
    )


if __name__ == "__main__":
    main()
