"""Matterport compute_ap reproduced on hand-computed cases (1 x 100 pixel strips)."""

import numpy as np
import pytest

from facemask_rcnn.evaluation.matterport_ap import mask_ious, matterport_ap, mean_matterport_ap


def strip(start, stop):
    mask = np.zeros((1, 1, 100), bool)
    mask[0, 0, start:stop] = True
    return mask


GT = strip(0, 50)
A = strip(0, 40)  # IoU 0.8 with GT
B = strip(0, 30)  # IoU 0.6
C = strip(35, 65)  # IoU 15 / 65 = 0.23


def ap(gt, gt_labels, preds, labels, scores, iou=0.5):
    masks = np.concatenate(preds) if preds else np.zeros((0, 1, 100), bool)
    return matterport_ap(gt, np.array(gt_labels), masks, np.array(labels), np.array(scores), iou)


def test_ious():
    assert mask_ious(np.concatenate([A, B, C]), GT)[:, 0] == pytest.approx([0.8, 0.6, 15 / 65])


def test_one_gt_two_detections_the_duplicate_is_a_false_positive_after_the_hit():
    # precision [1, 1/2], recall [1, 1] -> AP 1.0
    assert ap(GT, [1], [A, B], [1, 1], [0.9, 0.8]) == 1.0


def test_a_miss_ranked_first_halves_the_ap():
    # C (IoU 0.23) first: precision [0, 1/2], recall [0, 1] -> AP 0.5
    assert ap(GT, [1], [C, A], [1, 1], [0.9, 0.8]) == 0.5
    # scores decide the order, not the input order
    assert ap(GT, [1], [A, C], [1, 1], [0.8, 0.9]) == 0.5


def test_no_detections_is_zero_and_no_ground_truth_is_skipped():
    assert ap(GT, [1], [], [], []) == 0.0
    assert ap(np.zeros((0, 1, 100), bool), [], [A], [1], [0.9]) is None
    assert mean_matterport_ap([1.0, None, 0.5]) == 0.75


def test_threshold_075_rejects_iou_06():
    assert ap(GT, [1], [B], [1], [0.9], iou=0.75) == 0.0
    assert ap(GT, [1], [A], [1], [0.9], iou=0.75) == 1.0


def test_multi_class_needs_the_right_class():
    gt = np.concatenate([strip(0, 50), strip(50, 100)])
    # wrong class on the first GT: a false positive; right class on the second: a hit
    # precision [0, 1/2], recall [0, 1/2] -> AP 0.5 * 0.5 = 0.25
    assert ap(gt, [1, 2], [A, strip(50, 95)], [2, 2], [0.9, 0.8]) == 0.25


def test_one_of_two_objects_found():
    gt = np.concatenate([strip(0, 50), strip(60, 100)])
    # precision [1], recall [1/2] -> AP 0.5
    assert ap(gt, [1, 1], [A], [1], [0.9]) == 0.5


def test_a_lower_iou_other_class_gt_is_skipped_not_a_stop():
    # The prediction overlaps GT1 (class 1, IoU 0.82) most, GT2 (class 2, IoU 0.62) next:
    # Matterport moves on to GT2 and matches it, because the class differs, not the IoU.
    gt = np.concatenate([strip(0, 50), strip(15, 70)])
    pred = strip(5, 55)
    ious = mask_ious(pred, gt)[0]
    assert ious[0] > ious[1] >= 0.5
    assert ap(gt, [1, 2], [pred], [2], [0.9]) == 0.5
