import numpy as np
import pytest
from PIL import Image

from facemask_rcnn.data.boxes import FaceBox
from facemask_rcnn.data.faces import inside_fraction
from facemask_rcnn.evaluation.faces import face_metrics
from facemask_rcnn.evaluation.results import WidthRecall
from facemask_rcnn.inference import Prediction
from tests.conftest import EXTREME_SHAPES


def test_inside_fraction_is_the_share_of_the_box_inside_the_face():
    assert inside_fraction(np.array([0, 0, 10, 10]), (0, 0, 10, 10)) == 1.0
    assert inside_fraction(np.array([5, 0, 15, 10]), (0, 0, 10, 10)) == pytest.approx(0.5)
    assert inside_fraction(np.array([20, 20, 30, 30]), (0, 0, 10, 10)) == 0.0


def _photo(path, white_boxes):
    """Black 100x100 photo with white rectangles (x0, y0, x1, y1): BrightEngine's detections."""
    array = np.zeros((100, 100, 3), np.uint8)
    for x0, y0, x1, y1 in white_boxes:
        array[y0:y1, x0:x1] = 255
    Image.fromarray(array).save(path)
    return path


def test_face_metrics_count_hits_per_width_and_false_alarms(tmp_path, bright_predictor):
    first = _photo(tmp_path / "a.png", [(15, 20, 25, 28), (70, 20, 80, 30), (40, 85, 50, 95)])
    second = _photo(tmp_path / "b.png", [(5, 70, 30, 90)])
    faces = {
        first: [
            FaceBox((10, 10, 30, 30), "with_mask"),  # 20 px wide, has a mask: hit
            FaceBox((50, 50, 60, 60), "with_mask"),  # 10 px wide, nothing: miss
            FaceBox((60, 10, 100, 50), "without_mask"),  # one mask inside: a false alarm
        ],
        second: [
            FaceBox((0, 60, 40, 100), "mask_weared_incorrect"),  # 40 px wide: hit
            FaceBox((60, 60, 100, 100), "without_mask"),  # nothing
        ],
        tmp_path / "no-faces.png": [],  # skipped without being read
    }
    found = face_metrics(bright_predictor(), faces)
    assert found.images == 2
    assert found.masked_faces == 3 and found.bare_faces == 2
    assert found.masked_recall == pytest.approx(2 / 3)
    assert found.masks_per_bare_face == pytest.approx(0.5)
    assert found.masked_recall_by_width == {
        "<16": WidthRecall(faces=1, recall=0.0),
        "16-32": WidthRecall(faces=1, recall=1.0),
        ">=32": WidthRecall(faces=1, recall=1.0),
    }
    # every mask scores 0.9, and the one false alarm is already 0.5 per bare face: no threshold
    # keeps within 0.10 but one above every score, which finds nothing
    assert found.at_limit.min_score is None
    assert found.at_limit.masked_recall == 0.0
    assert found.at_limit.masks_per_bare_face == 0.0


def test_extreme_photo_shapes_are_scored_like_any_photo(tmp_path, bright_predictor):
    faces = {}
    for width, height in EXTREME_SHAPES:  # white: the stand-in model masks the whole strip
        path = tmp_path / f"{width}x{height}.png"
        Image.fromarray(np.full((height, width, 3), 255, np.uint8)).save(path)
        faces[path] = [FaceBox((0, 0, width, height), "with_mask")]
    found = face_metrics(bright_predictor(), faces)
    assert (found.images, found.masked_faces, found.bare_faces) == (5, 5, 0)
    assert found.masked_recall == 1.0 and found.stray_masks_per_image == 0.0


class _Scored:
    """Returns the given Predictions in order: one per photo, with chosen scores."""

    def __init__(self, predictions):
        self.queue = list(predictions)

    def predict(self, image):
        return self.queue.pop(0)


def test_recall_at_a_false_alarm_limit_picks_the_lowest_threshold_within_it(tmp_path):
    photo = _photo(tmp_path / "a.png", [])
    boxes = [(5, 5, 15, 15), (32, 2, 38, 8), (55, 5, 85, 35), (5, 55, 15, 65), (5, 55, 14, 64)]
    boxes.append((35, 55, 45, 65))
    scores = [0.95, 0.4, 0.6, 0.7, 0.5, 0.3]  # faces A, B, C, D, D, E
    prediction = Prediction(
        np.array(boxes, float), np.array(scores), ["face_mask"] * 6, np.zeros((6, 1, 1), bool)
    )
    faces = {
        photo: [
            FaceBox((0, 0, 20, 20), "with_mask"),  # A: 20 px
            FaceBox((30, 0, 40, 10), "with_mask"),  # B: 10 px
            FaceBox((50, 0, 90, 40), "with_mask"),  # C: 40 px
            FaceBox((0, 50, 20, 70), "without_mask"),  # D: two masks
            FaceBox((30, 50, 50, 70), "without_mask"),  # E: one mask
        ]
    }
    everything = face_metrics(_Scored([prediction]), faces, false_alarm_limit=0.5)
    assert everything.masked_recall == 1.0 and everything.masks_per_bare_face == 1.5
    # thresholds 0.3, 0.4, 0.5 leave 3, 2, 2 alarms on 2 bare faces; 0.6 leaves one (0.7)
    at = everything.at_limit
    assert at.min_score == 0.6 and at.masks_per_bare_face == 0.5
    assert at.masked_recall == pytest.approx(2 / 3)
    assert at.masked_recall_by_width["<16"] == WidthRecall(faces=1, recall=0.0)
    strict = face_metrics(_Scored([prediction]), faces, min_score=0.45, false_alarm_limit=0.0)
    assert strict.masked_recall == pytest.approx(2 / 3) and strict.masks_per_bare_face == 1.0
    assert strict.at_limit.min_score == 0.95
    assert strict.at_limit.masked_recall == pytest.approx(1 / 3)
    # the operating point may lie below the reported threshold: it searches every score
    high = face_metrics(_Scored([prediction]), faces, min_score=0.8, false_alarm_limit=0.5)
    assert high.masked_recall == pytest.approx(1 / 3) and high.masks_per_bare_face == 0.0
    assert high.at_limit.min_score == 0.6


def test_a_faces_models_masks_are_its_masked_faces_and_stray_ones_are_counted(tmp_path):
    photo = _photo(tmp_path / "a.png", [])
    detections = [
        ((0, 0, 20, 20), "masked", 0.9),  # face A
        ((30, 0, 50, 20), "bare", 0.8),  # face B as bare: no mask, no false alarm
        ((31, 1, 49, 19), "masked", 0.3),  # a mask on bare face B: a false alarm
        ((60, 0, 80, 20), "masked", 0.7),  # face C (worn incorrectly) found, wrong status
        ((85, 85, 95, 95), "incorrect", 0.6),  # on no face: stray
        ((0, 40, 20, 60), "masked", 0.95),  # on no face: stray
    ]
    boxes, labels, scores = zip(*detections, strict=True)
    prediction = Prediction(
        np.array(boxes, float),
        np.array(scores),
        list(labels),
        np.zeros((6, 100, 100), bool),
        task="faces",
    )
    faces = {
        photo: [
            FaceBox((0, 0, 20, 20), "with_mask"),
            FaceBox((30, 0, 50, 20), "without_mask"),
            FaceBox((60, 0, 80, 20), "mask_weared_incorrect"),
        ]
    }
    found = face_metrics(_Scored([prediction]), faces)
    assert found.masked_faces == 2 and found.bare_faces == 1
    assert found.masked_recall == 1.0 and found.masks_per_bare_face == 1.0
    assert found.stray_masks_per_image == 2.0
    at = found.at_limit  # no alarm allowed on one bare face: the 0.3 mask must go
    assert at.min_score == 0.7 and at.masked_recall == 1.0
    assert at.stray_masks_per_image == 1.0  # the 0.95 one stays
    # masked: a stray 0.95 ranks above the hit, so precision is 1/2 at full recall;
    # bare: its one detection is right; incorrect: its one detection is on no face.
    # face, status aside: stray 0.95, A, B, C: precision 3/4 at full recall, the envelope's best
    assert found.status_ap50 == {"masked": 0.5, "incorrect": 0.0, "bare": 1.0, "face": 0.75}
