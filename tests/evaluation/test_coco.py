"""Our COCO wrapper gives the numbers of a direct pycocotools call on the same tiny fixture."""

import contextlib
import io
import json

import numpy as np
import pytest
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from facemask_rcnn.data.formats.coco import to_coco
from facemask_rcnn.data.records import ImageRecord, Instance, mask_to_rle
from facemask_rcnn.evaluation.coco import STAT_NAMES, coco_metrics, detections


def _mask(y0, y1, x0, x1):
    mask = np.zeros((64, 80), np.uint8)
    mask[y0:y1, x0:x1] = 1
    return mask


def _fixture(tmp_path):
    names = ["surgical", "cloth"]
    gt = [
        ImageRecord(
            tmp_path / "a.jpg",
            80,
            64,
            [
                Instance("surgical", rle=mask_to_rle(_mask(5, 30, 5, 40))),
                Instance("cloth", rle=mask_to_rle(_mask(35, 60, 40, 75))),
            ],
        ),
        ImageRecord(
            tmp_path / "b.jpg",
            80,
            64,
            [Instance("surgical", rle=mask_to_rle(_mask(10, 50, 10, 50)))],
        ),
    ]
    pred = [
        ImageRecord(
            tmp_path / "a.jpg",
            80,
            64,
            [
                Instance("surgical", rle=mask_to_rle(_mask(6, 30, 5, 38)), score=0.9),
                Instance("cloth", rle=mask_to_rle(_mask(40, 60, 50, 75)), score=0.7),
                Instance("surgical", rle=mask_to_rle(_mask(35, 60, 40, 75)), score=0.3),
            ],
        ),
        ImageRecord(
            tmp_path / "b.jpg",
            80,
            64,
            [Instance("surgical", rle=mask_to_rle(_mask(12, 48, 12, 49)), score=0.8)],
        ),
    ]
    return names, gt, pred


def test_wrapper_matches_direct_pycocotools(tmp_path):
    names, gt, pred = _fixture(tmp_path)
    ours = coco_metrics(gt, pred, names)
    (tmp_path / "gt.json").write_text(json.dumps(to_coco(gt, names)))
    (tmp_path / "dt.json").write_text(json.dumps(detections(pred, names)))
    with contextlib.redirect_stdout(io.StringIO()):
        coco_gt = COCO(str(tmp_path / "gt.json"))
        for iou_type in ("segm", "bbox"):
            run = COCOeval(coco_gt, coco_gt.loadRes(str(tmp_path / "dt.json")), iou_type)
            run.evaluate()
            run.accumulate()
            run.summarize()
            assert [ours[iou_type][k] for k in STAT_NAMES] == pytest.approx(list(run.stats))
    assert set(ours["segm"]["per_class"]) == {"surgical", "cloth"}
    assert ours["segm"]["AP50"] > ours["segm"]["AP75"] >= 0


def test_no_detections_gives_zeros(tmp_path):
    names, gt, _ = _fixture(tmp_path)
    empty = [ImageRecord(r.path, r.width, r.height, []) for r in gt]
    assert coco_metrics(gt, empty, names)["segm"]["AP"] == 0.0


def test_hand_computed_ap_per_class_and_pr_points(tmp_path):
    """Mask IoUs of the fixture: surgical 792/875 = 0.905 (image a) and 1332/1600 = 0.833
    (image b); cloth 500/875 = 0.571. A surgical false positive (score 0.85) sits between the
    two surgical hits, so at IoU 0.5 surgical precision is 1 up to recall 0.5, then 2/3."""
    names, gt, pred = _fixture(tmp_path)
    pred[0].instances[2].score = 0.85  # the false positive now outranks the second hit
    ours = coco_metrics(gt, pred, names)["segm"]
    low = 51 / 101  # COCO's 101 recall points: 0.00 ... 0.50 keep precision 1, the rest 0
    surgical50 = (51 + 50 * 2 / 3) / 101
    # IoU thresholds 0.50 ... 0.95: the 0.833 hit counts up to 0.80 (7), the 0.905 one to 0.90
    surgical = (7 * surgical50 + 2 * low + 0) / 10
    cloth = 2 / 10  # 0.571 is a hit at 0.50 and 0.55 only
    assert ours["per_class"] == pytest.approx({"surgical": surgical, "cloth": cloth})
    assert ours["AP"] == pytest.approx((surgical + cloth) / 2)
    assert ours["AP50"] == pytest.approx((surgical50 + 1.0) / 2)
    assert ours["AP75"] == pytest.approx((surgical50 + 0.0) / 2)
    curve = ours["pr50"]["surgical"]
    assert curve[:51] == pytest.approx([1.0] * 51) and curve[51:] == pytest.approx([2 / 3] * 50)
    assert ours["pr50"]["cloth"] == pytest.approx([1.0] * 101)
