"""``facemask evaluate`` end to end on a tiny trained model: files written, numbers consistent."""

import json

import numpy as np
import pytest

from facemask_rcnn.cli import main
from facemask_rcnn.config import Config
from facemask_rcnn.engine.logs import read_metrics
from facemask_rcnn.evaluation import evaluate, mean_matterport_ap
from facemask_rcnn.inference import Predictor
from tests.conftest import EXTREME_SHAPES, write_extreme_dataset


def test_evaluate_writes_report_and_numbers_agree(trained, tmp_path, capsys):
    checkpoint, data = trained
    args = f"evaluate --weights {checkpoint} --data {data} --split train --out {tmp_path / 'eval'}"
    code = main([*args.split(), "--min-score", "0.05"])
    assert code == 0
    out = capsys.readouterr().out
    assert "Matterport mAP@0.5" in out and "segm" in out and "bbox" in out
    folder = tmp_path / "eval"
    metrics = json.loads((folder / "eval.json").read_text())
    rows = read_metrics(folder / "per_image.csv")
    per_image = [float(r["matterport_ap50"]) if r["matterport_ap50"] else None for r in rows]
    assert metrics["matterport_map50"] == pytest.approx(mean_matterport_ap(per_image))
    assert (
        0 <= metrics["matterport_map50"] <= 1
        and metrics["matterport_map50"] >= metrics["matterport_map75"]
    )
    assert {"AP", "AP50", "AP75", "APs", "APm", "APl", "AR100", "per_class"} <= set(metrics["segm"])
    assert metrics["latency_ms"] > 0 and metrics["device"] == "cpu"
    assert (folder / "pr_curve.png").stat().st_size > 0
    assert 0 < len(list((folder / "worst").glob("*.png"))) <= 6


@pytest.mark.parametrize("size", [64, 256])
def test_extreme_photo_shapes_are_evaluated_not_skipped(trained, tmp_path, size):
    checkpoint, _ = trained
    data = write_extreme_dataset(tmp_path / "d", ("val",))
    metrics = evaluate(Predictor.from_checkpoint(checkpoint, 0.0, size=size), data, "val")
    assert metrics.images == len(EXTREME_SHAPES) and metrics.problems == []
    assert 0 <= metrics.matterport_map50 <= 1


def test_a_predictor_that_echoes_the_outlines_scores_one_and_a_blind_one_zero(tiny_synth):
    from facemask_rcnn.data import load_records
    from facemask_rcnn.data.images import read_image
    from facemask_rcnn.inference import Prediction

    records, _ = load_records(tiny_synth, "val", "type")
    names = sorted({i.label for r in records for i in r.instances})
    photos = [(np.asarray(read_image(r.path)), r) for r in records]

    class Echo:  # the ground truth as predictions; blind: each mask moved off its object
        def __init__(self, blind: bool) -> None:
            self.blind, self.min_score, self.device = blind, 0.0, "cpu"
            self.config = Config(class_names=names, class_attribute="type")
            self.class_names = names

        def predict(self, image, min_score=None):  # noqa: ANN001, ANN202
            record = next(r for pixels, r in photos if np.array_equal(np.asarray(image), pixels))
            masks = np.stack([i.to_mask(record.height, record.width) for i in record.instances])
            masks = masks.astype(bool)
            if self.blind:
                masks = np.roll(masks, record.width // 2, axis=2)
            boxes = []
            for mask in masks:
                ys, xs = np.nonzero(mask)
                boxes.append([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1])
            scores = np.linspace(0.9, 0.5, len(masks))
            labels = [i.label for i in record.instances]
            return Prediction(np.array(boxes, float), scores, labels, masks)

    perfect = evaluate(Echo(blind=False), tiny_synth, "val")
    assert perfect.images == len(records) == 2
    assert perfect.matterport_map50 == pytest.approx(1.0)
    assert perfect.segm["AP50"] == pytest.approx(1.0)
    assert perfect.mean_top_mask_iou == pytest.approx(1.0)
    blind = evaluate(Echo(blind=True), tiny_synth, "val")
    assert blind.matterport_map50 < 0.5 and blind.segm["AP50"] < 0.5
