"""``facemask evaluate`` end to end on a tiny trained model: files written, numbers consistent."""

import json

import pytest

from facemask_rcnn.cli import main
from facemask_rcnn.engine.logs import read_metrics
from facemask_rcnn.evaluation import evaluate, mean_matterport_ap
from facemask_rcnn.inference import Predictor


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


def test_learning_happened_on_the_training_images(trained):
    checkpoint, data = trained
    metrics = evaluate(Predictor.from_checkpoint(checkpoint, min_score=0.05), data, "train")
    assert metrics["matterport_map50"] > 0.0 and metrics["segm"]["AP50"] > 0.0


def test_empty_split_is_a_clear_error(trained, tmp_path):
    checkpoint, _ = trained
    (tmp_path / "val").mkdir()
    (tmp_path / "val" / "via_region_data.json").write_text("{}")
    with pytest.raises(ValueError, match="no images to evaluate"):
        evaluate(Predictor.from_checkpoint(checkpoint), tmp_path, "val")
