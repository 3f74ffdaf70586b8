"""Anchor fitting: known shapes are recovered; best possible recall checked by hand."""

import numpy as np
import pytest

from facemask_rcnn.anchors import anchor_shapes, box_sizes, kmeans_iou, propose, score, wh_iou
from facemask_rcnn.cli import main
from facemask_rcnn.config import load_config
from facemask_rcnn.data.records import ImageRecord, Instance


def test_anchor_shapes_follow_torchvision_ratio_convention():
    # ratio = height / width, area = size**2
    w, h = anchor_shapes([20], [4.0])[0]
    assert (w, h) == (10.0, 40.0)


def test_bpr_by_hand():
    boxes = np.array([[10.0, 10.0], [10.0, 20.0], [40.0, 40.0]])
    # anchors 10x10 and 40x40: IoUs 1.0, 0.5 (10x20 vs 10x10), 1.0 -> BPR 2/3, mean IoU 2.5/3
    bpr, mean_iou = score(boxes, [10, 40], [1.0])
    assert bpr == pytest.approx(2 / 3) and mean_iou == pytest.approx(2.5 / 3)
    assert wh_iou(boxes[1:2], np.array([[10.0, 10.0]]))[0, 0] == 0.5


def test_known_shapes_are_recovered():
    rng = np.random.default_rng(0)
    sizes, ratio = [20, 40, 80, 160, 320], 1.5
    boxes = np.concatenate(
        [
            np.tile([[s / np.sqrt(ratio), s * np.sqrt(ratio)]], (50, 1))
            * rng.uniform(0.95, 1.05, (50, 1))
            for s in sizes
        ]
    )
    fit = propose(boxes, levels=5, n_ratios=1)
    assert fit.sizes == pytest.approx(sizes, rel=0.05)
    assert fit.ratios[0] == pytest.approx(ratio, rel=0.02)
    assert fit.bpr == 1.0
    assert len(kmeans_iou(boxes, 5)) == 5


def test_box_sizes_apply_the_model_resize(tmp_path):
    square = np.array([[0, 0], [100, 0], [100, 50], [0, 50]], float)
    record = ImageRecord(tmp_path / "x.jpg", 1000, 500, [Instance("face_mask", [square])])
    assert box_sizes([record], 384).tolist() == [[38.4, 19.2]]


def test_anchors_command_writes_only_an_improvement(tiny_synth, tmp_path, capsys):
    out = tmp_path / "anchors.yaml"
    bad = ["--set", "anchor_sizes=[400, 500, 600, 700, 800]", "--set", "image_size=128"]
    assert main(["anchors", "--data", str(tiny_synth), *bad, "--write", str(out)]) == 0
    text = capsys.readouterr().out
    assert "current : sizes [400, 500, 600, 700, 800]" in text and "proposal:" in text
    written = load_config(out)
    assert written.anchor_sizes != [400, 500, 600, 700, 800] and written.image_size == 128
    assert (
        main(
            [
                "anchors",
                "--data",
                str(tiny_synth),
                "--config",
                str(out),
                "--write",
                str(tmp_path / "again.yaml"),
            ]
        )
        == 0
    )
    assert "not written" in capsys.readouterr().out
    assert not (tmp_path / "again.yaml").exists()
