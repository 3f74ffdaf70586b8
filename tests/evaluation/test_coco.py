"""Our COCO wrapper gives the numbers of a direct pycocotools call on the same tiny fixture."""

import contextlib
import io
import json

import numpy as np
import pytest
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from facemask_rcnn.data.coco import to_coco
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
