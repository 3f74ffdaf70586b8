"""evaluate(): a checkpoint over a split → Matterport mAP, COCO metrics and reports."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from ..data.images import read_image
from ..data.load import load_records
from ..data.records import ImageRecord
from ..fileio import new_folder, save_image, write_csv, write_json
from ..inference import Prediction, Predictor, overlay
from .coco import coco_metrics
from .faces import as_masks, face_metrics, record_faces
from .matterport_ap import mask_ious, matterport_ap, mean_matterport_ap
from .report import plot_pr_curves, side_by_side
from .results import FaceMetrics, MaskMetrics


def truth_prediction(record: ImageRecord) -> Prediction:
    """Ground truth drawn like a prediction (score 1), for the gallery."""
    masks = np.stack([i.to_mask(record.height, record.width) for i in record.instances]).astype(
        bool
    )
    boxes = np.array([i.box() for i in record.instances], dtype=float)
    return Prediction(boxes, np.ones(len(boxes)), [i.label for i in record.instances], masks)


def image_scores(
    record: ImageRecord, prediction: Prediction, class_names: list[str]
) -> dict[str, Any]:
    """Per-image seed AP at IoU 0.5 and 0.75; IoU of the top-scoring mask with its best GT."""
    gt_masks = record.masks()
    gt_labels = np.array([class_names.index(i.label) + 1 for i in record.instances], dtype=int)
    pred_labels = np.array([class_names.index(n) + 1 for n in prediction.labels], dtype=int)
    masks = prediction.masks.reshape(-1, record.height, record.width)
    args = (gt_masks, gt_labels, masks, pred_labels, prediction.scores)
    top_iou = 0.0
    if len(masks) and len(gt_masks):
        top = int(np.argmax(prediction.scores))
        top_iou = float(mask_ious(masks[top : top + 1], gt_masks).max())
    return {
        "matterport_ap50": matterport_ap(*args, iou_threshold=0.5),
        "matterport_ap75": matterport_ap(*args, iou_threshold=0.75),
        "top_mask_iou": top_iou if len(gt_masks) else None,
    }


def evaluate(
    predictor: Predictor,
    data: str | Path,
    split: str | None = "val",
    out: str | Path | None = None,
    worst: int = 6,
) -> MaskMetrics | FaceMetrics:
    """Seed mAP@0.5/0.75, COCO segm/bbox metrics, latency; with ``out``, eval.json and reports.

    On face boxes without outlines (``task: faces`` models and masks models alike) it reports
    face-level metrics instead (``evaluation.faces.face_metrics``). A faces model's masks are
    compared with mask outlines as a masks model's are (``as_masks``).
    """
    faces = predictor.config.task == "faces"
    class_names = ["face_mask"] if faces else predictor.class_names
    records, problems = load_records(
        data,
        split,
        None if faces else predictor.config.class_attribute,
        class_names=None if faces else class_names,
        keep_empty=True,
    )
    if not records:
        raise ValueError(f"{data}: no images to evaluate in split {split!r}")
    notes = {"problems": [str(p) for p in problems], "device": str(predictor.device)}
    if not any(inst.has_shape for record in records for inst in record.instances):
        found = replace(face_metrics(predictor, record_faces(records)), **notes)
        if out is not None:
            found.folder = new_folder(out)
            write_json(found.folder / "eval.json", found.to_dict(), indent=1)
        return found
    if faces:  # mask against mask: the outlines, whatever face they are on
        for record in records:
            shaped = [i for i in record.instances if i.has_shape]
            record.instances = [replace(i, label="face_mask", bbox=None) for i in shaped]
    predictions, rows = [], []
    for record in records:
        prediction = predictor.predict(read_image(record.path))
        prediction = as_masks(prediction) if faces else prediction
        predictions.append(prediction)
        scores = image_scores(record, prediction, class_names)
        rows.append(
            {
                "file_name": str(record.path),
                "ground_truth": len(record.instances),
                "predictions": len(prediction.labels),
                **scores,
                "percent_masked": round(prediction.percent_masked, 3),
                "seconds": round(prediction.seconds, 4),
            }
        )
    coco = coco_metrics(
        records,
        [p.to_record(r.path, r.width, r.height) for p, r in zip(predictions, records, strict=True)],
        class_names,
    )
    ious = [r["top_mask_iou"] for r in rows if r["top_mask_iou"] is not None]
    metrics = MaskMetrics(
        images=len(records),
        min_score=predictor.min_score,
        matterport_map50=mean_matterport_ap([r["matterport_ap50"] for r in rows]),
        matterport_map75=mean_matterport_ap([r["matterport_ap75"] for r in rows]),
        mean_top_mask_iou=float(np.mean(ious)) if ious else 0.0,
        segm={k: v for k, v in coco["segm"].items() if k != "pr50"},
        bbox={k: v for k, v in coco["bbox"].items() if k != "pr50"},
        latency_ms=float(np.mean([p.seconds for p in predictions]) * 1000),
        **notes,
    )
    if out is not None:
        folder = metrics.folder = new_folder(out)
        write_json(folder / "eval.json", metrics.to_dict(), indent=1)
        write_csv(folder / "per_image.csv", rows)
        plot_pr_curves(folder / "pr_curve.png", coco["segm"]["pr50"], coco["recall_thresholds"])
        _gallery(folder / "worst", records, predictions, rows, worst)
    return metrics


def _gallery(folder: Path, records, predictions, rows, count: int) -> None:  # noqa: ANN001
    """Side-by-side PNGs of the ``count`` images with the lowest seed AP50."""
    folder.mkdir()
    scored = [i for i, r in enumerate(rows) if r["matterport_ap50"] is not None]
    scored.sort(key=lambda i: (rows[i]["matterport_ap50"], rows[i]["top_mask_iou"] or 0.0))
    for rank, i in enumerate(scored[:count], start=1):
        image = read_image(records[i].path)
        truth = overlay(image, truth_prediction(records[i]))
        title = f"{records[i].path.name}  AP50 {rows[i]['matterport_ap50']:.2f}"
        sheet = side_by_side(overlay(image, predictions[i]), truth, title)
        save_image(sheet, folder / f"{rank:02d}_{records[i].path.stem}.png")
